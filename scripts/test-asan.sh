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
for f in binding.gyp native deps node_modules package.json; do
  ln -sfn "$root/$f" "$out/$f"
done

logs="$out/logs"

# The helpers start with an empty environment (child.c, on purpose) and stderr on
# /dev/null, so their sanitizer options are linked in: reports go to files under logs/.
# LeakSanitizer cannot work in the confined ldconfig helper (its own pid namespace,
# seccomp): leaks are checked in the driver service and the executor, and by valgrind.
cat >"$out/sanitizer-defaults.c" <<EOF
#include <sys/syscall.h>
#include <unistd.h>
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
/* Called before libc is set up: only a raw system call and plain loops. */
static int is_ldconfig_helper(void)
{
    static const char name[] = "nvc-ts-ldconfig";
    char exe[4096];
    long n = syscall(SYS_readlink, "/proc/self/exe", exe, sizeof(exe) - 1);
    for (long i = 0; n > 0 && i + (long)sizeof(name) - 1 <= n; i++) {
        long j = 0;
        while (name[j] != '\\0' && exe[i + j] == name[j])
            j++;
        if (name[j] == '\\0')
            return 1;
    }
    return 0;
}
const char *__asan_default_options(void)
{
    return is_ldconfig_helper() ? "detect_leaks=0:halt_on_error=1:log_path=$logs/asan:log_exe_name=1"
                                : "detect_leaks=1:halt_on_error=1:log_path=$logs/asan:log_exe_name=1";
}
const char *__ubsan_default_options(void)
{
    return "print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan:log_exe_name=1";
}
EOF
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
if [ "${NVC_ASAN_SKIP_BUILD:-}" != 1 ]; then
  gcc -std=gnu11 -fPIC -c "$out/sanitizer-defaults.c" -o "$out/sanitizer-defaults.o"
  (cd "$out" && CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined $out/sanitizer-defaults.o" \
    npm run --silent build:native >"$out/build.log" 2>&1) || {
    tail -40 "$out/build.log"
    echo "test:asan: the sanitized build failed (log: $out/build.log)" >&2
    exit 1
  }
fi
(cd "$root" && npm run --silent build:ts)

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
