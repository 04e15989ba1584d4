#!/bin/sh
# The mocha suite (or the test files given) against the addon and every helper built with
# AddressSanitizer and UndefinedBehaviorSanitizer (issue 11):
#   npm run test:asan [-- test/x.test.js ...]
# The sanitized build lives in build-asan/ (its own node-gyp tree: binding.gyp, native/,
# deps/ and node_modules/ linked in), found through NVC_TS_PREBUILD, so the ordinary
# build/ stays as it is. node itself is not sanitized: the runtimes are preloaded, and
# leak detection is off in node (node and V8 keep memory to the end by design). Every
# report, of node or of any helper, goes to a log file under build-asan/logs; the run fails
# when mocha fails or when any log holds a report.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build-asan"
mkdir -p "$out"
# bin/: nvc-ts-cli runs the Node CLI at ../../bin/nvc-ts.js from its own directory.
for f in binding.gyp native deps node_modules package.json bin; do
  ln -sfn "$root/$f" "$out/$f"
done

logs="$out/logs"

# The helpers' own sanitizer options (they start with an empty environment) are linked in:
# scripts/sanitizer-defaults.c says which and why.
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
if [ "${NVC_ASAN_SKIP_BUILD:-}" != 1 ]; then
  gcc -std=gnu11 -fPIC -Wall -Wextra -Werror -DNVC_SAN_LOGS="\"$logs\"" -c "$root/scripts/sanitizer-defaults.c" \
    -o "$out/sanitizer-defaults.o"
  (cd "$out" && CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined $out/sanitizer-defaults.o" \
    npm run --silent build:native >"$out/build.log" 2>&1) || {
    tail -40 "$out/build.log"
    echo "test:asan: the sanitized build failed (log: $out/build.log)" >&2
    exit 1
  }
fi
(cd "$root" && npm run --silent build:ts)

# Every helper, the addon and the mock NVML are the sanitized ones, and each helper carries the
# options above (a helper built without them would report nowhere, or not at all).
rel="$out/build/Release"
for f in nvc_ts.node libnvc-mock-nvml.so nvc-ts-driver nvc-ts-exec nvc-ts-ldconfig nvc-ts-cli nvc-ts-cdi-hook; do
  needed=$(readelf -d "$rel/$f" 2>/dev/null | grep NEEDED || true)
  case "$needed" in *libasan.so*) ;; *) echo "test:asan: $rel/$f is not linked with ASan" >&2; exit 1 ;; esac
  case "$needed" in *libubsan.so*) ;; *) echo "test:asan: $rel/$f is not linked with UBSan" >&2; exit 1 ;; esac
  case "$f" in
    nvc-ts-*)
      nm -D --defined-only "$rel/$f" | grep -q " __asan_default_options$" || {
        echo "test:asan: $rel/$f lacks the linked-in sanitizer options" >&2
        exit 1
      }
      ;;
  esac
done

rm -rf "$logs"
mkdir -p "$logs"
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)

status=0
(
  cd "$root"
  # NVC_TEST_SANITIZED: the few tests that start processes outside this environment (runc
  # hooks, wrappers with their own LD_PRELOAD, programs not ours) read it through
  # test/support/sanitizer.js.
  # fault-shim: the fault matrices preload their own libc shim; with the sanitizer runtimes
  # (which interpose the same calls) in front of it the executor dies before its first
  # report, so those matrices run in the ordinary suite only (declared absent here, and
  # listed as skipped).
  NVC_TEST_SANITIZED=1 \
    NVC_TEST_ABSENT="${NVC_TEST_ABSENT:+$NVC_TEST_ABSENT,}fault-shim" \
    NVC_TS_PREBUILD="$out" \
    LD_PRELOAD="$asan:$ubsan" \
    ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$logs/asan:log_exe_name=1:handle_segv=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=$logs/ubsan:log_exe_name=1" \
    sh -c 'if [ "$#" -gt 0 ]; then
      exec npx mocha --no-package -r test/support/root-hooks.js --timeout 180000 "$@"
    fi
    # package.test.js rebuilds build/ and prebuilds/ with prebuildify: not a test of the
    # sanitized build, and it would rebuild under the preloaded runtimes.
    exec npx mocha --timeout 180000 --exclude test/package.test.js' asan-mocha "$@"
) || status=$?

# Any file there is a report: an error, a leak, or a sanitizer that could not do its work
# (LeakSanitizer's "fatal error") in node or any helper.
reports=$(find "$logs" -type f -size +0 | sort)
if [ -n "$reports" ]; then
  for r in $reports; do
    echo "---- $r"
    head -60 "$r"
  done
  echo "test:asan: $(echo "$reports" | wc -l) sanitizer report(s) in $logs" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "test:asan: mocha failed (exit $status) under the sanitizers" >&2
  exit "$status"
fi
echo "test:asan: clean (no sanitizer report in $logs)"
