#!/bin/sh
# The mocha suite (or the test files given) against the addon and every helper built with
# AddressSanitizer and UndefinedBehaviorSanitizer (issue 11):
#   npm run test:asan [-- test/x.test.js ...]
# The sanitized build lives in build-asan/ (its own node-gyp tree: binding.gyp, native/,
# deps/ and node_modules/ linked in), found through NVC_TS_PREBUILD, so the ordinary
# build/ stays as it is. node itself is not sanitized: the runtimes are preloaded, and
# leak detection is off (node and V8 keep memory to the end by design; the helpers' leaks
# are covered by npm run test:valgrind). Every report, of node or of any helper, goes to
# a log file under build-asan/logs; the run fails when mocha fails or when any log holds a
# report.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build-asan"
mkdir -p "$out"
for f in binding.gyp native deps node_modules package.json; do
  ln -sfn "$root/$f" "$out/$f"
done

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
if [ "${NVC_ASAN_SKIP_BUILD:-}" != 1 ]; then
  (cd "$out" && CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" npm run --silent build:native >"$out/build.log" 2>&1) || {
    tail -40 "$out/build.log"
    echo "test:asan: the sanitized build failed (log: $out/build.log)" >&2
    exit 1
  }
fi
(cd "$root" && npm run --silent build:ts)

logs="$out/logs"
rm -rf "$logs"
mkdir -p "$logs"
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)

status=0
(
  cd "$root"
  NVC_TS_PREBUILD="$out" \
    LD_PRELOAD="$asan:$ubsan" \
    ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:log_path=$logs/asan:log_exe_name=1:handle_segv=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan:log_exe_name=1" \
    sh -c 'if [ "$#" -gt 0 ]; then
      exec npx mocha --no-package -r test/support/root-hooks.js --timeout 180000 "$@"
    fi
    # package.test.js rebuilds build/ and prebuilds/ with prebuildify: not a test of the
    # sanitized build, and it would rebuild under the preloaded runtimes.
    exec npx mocha --timeout 180000 --exclude test/package.test.js' asan-mocha "$@"
) || status=$?

reports=$(grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$logs"/* 2>/dev/null || true)
if [ -n "$reports" ]; then
  for r in $reports; do
    echo "---- $r"
    head -60 "$r"
  done
  echo "test:asan: sanitizer reports in $logs" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "test:asan: mocha failed (exit $status) under the sanitizers" >&2
  exit "$status"
fi
echo "test:asan: clean (no sanitizer report in $logs)"
