#!/bin/sh
# Builds nvc-ts-exec and its tests, then runs them (as root: they need mount namespaces).
#
#   native/test/exec/build.sh [--build-only] [--asan] [TEST-NAME-FILTER]
#
# Output goes to $NVC_EXEC_BUILD (default /tmp/nvc-exec-build). The executor is also
# built at -O3 once, warnings as errors, to catch what only the optimiser sees.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
native=$(cd "$here/../.." && pwd)
out=${NVC_EXEC_BUILD:-/tmp/nvc-exec-build}
cc=${CC:-cc}
build_only=0
san=""
filter=""
for arg in "$@"; do
    case "$arg" in
    --build-only) build_only=1 ;;
    --asan) san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" ;;
    *) filter=$arg ;;
    esac
done

mkdir -p "$out"
warn="-std=gnu11 -Wall -Wextra -Werror"
inc="-I$native/include -I$native/core/discovery -I$native/core/driver-client -I$native/core/wire -I$native/core/setup -I$native/core/util -I$native/exec -I$native/test -I$here"
exec_src="$native/exec/*.c $native/core/wire/plan_codec.c $native/core/wire/wire.c $native/core/util/path.c $native/core/util/error.c $native/core/util/fdutil.c $native/core/util/pidref.c"

# shellcheck disable=SC2086
$cc $warn -O3 -D_FORTIFY_SOURCE=2 -fstack-protector-strong $inc $exec_src -o "$out/nvc-ts-exec.O3"
# shellcheck disable=SC2086
$cc $warn -O2 -g $san $inc $exec_src -o "$out/nvc-ts-exec"
# shellcheck disable=SC2086
$cc $warn -O1 -g $san $inc "$here"/*.c "$native/core/setup/plan_client.c" "$native/core/util/child.c" \
    "$native/core/wire/plan_codec.c" "$native/core/wire/wire.c" "$native/core/util/path.c" "$native/core/util/error.c" -lpthread -o "$out/test_exec"

# Variants: the userspace resolver walk, and the walk plus mount(2) instead of the
# fd-based mount API; each also slowed down for the race and cancellation tests.
wrap() {
    printf '#!/bin/sh\nexec %s/nvc-ts-exec %s "$@"\n' "$out" "$2" >"$out/$1"
    chmod 755 "$out/$1"
}
wrap nvc-ts-exec-walk "--test-no-openat2"
wrap nvc-ts-exec-legacy "--test-no-openat2 --test-no-mount-api"
wrap nvc-ts-exec-slow "--test-delay-us 100000"
wrap nvc-ts-exec-walk-slow "--test-no-openat2 --test-delay-us 100000"
wrap nvc-ts-exec-legacy-slow "--test-no-openat2 --test-no-mount-api --test-delay-us 100000"

[ "$build_only" = 1 ] && exit 0
rc=0
# shellcheck disable=SC2086
NVC_EXEC_BUILD="$out" "$out/test_exec" $filter || rc=$?
# 77: skipped as a whole, which test_exec allows only for a feature named in
# NVC_TEST_ABSENT (native/test/harness.h); anything else but 0 fails.
if [ $rc -eq 77 ] && [ -n "${NVC_TEST_ABSENT:-}" ]; then
    echo "## test_exec skipped (NVC_TEST_ABSENT=$NVC_TEST_ABSENT)"
    exit 0
fi
exit $rc
