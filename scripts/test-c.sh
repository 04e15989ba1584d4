#!/bin/sh
# The C tests (npm run test:c): the unit tests under ctest, then the cgroup, ldconfig and
# executor suites, which work on real cgroups, namespaces and mounts and so need root. As an
# ordinary user the unit tests run (their root-only parts are named as skipped) and the three
# suites are announced as skipped, so that npm test fails only for real failures.
set -e
# Under ASan and UBSan: a unit test is cheap to sanitize, and an overlap or an overflow shows there
# that an ordinary build lets pass.
cmake -S native -B build/ctest -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-Wno-format-truncation -DNVC_SANITIZE=ON >/dev/null
cmake --build build/ctest -j 2
if [ "$(id -u)" != 0 ]; then
  echo "Not running as root: the cgroup, ldconfig and executor C suites need root and are skipped; the unit tests run."
fi
ctest --test-dir build/ctest --output-on-failure
[ "$(id -u)" = 0 ] || exit 0
OUT=build/cgroup-test sh native/test/cgroup/build.sh
sh native/test/ldconfig/build.sh build/ldconfig-test run
sh native/test/exec/build.sh
