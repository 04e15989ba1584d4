#!/bin/sh
# The driver service (nvc-ts-driver) and the executor (nvc-ts-exec) under valgrind's
# memcheck, driven by a few test files through the existing overrides (NVC_TS_DRIVER,
# NVC_TS_EXEC name wrappers that exec valgrind on the real binaries of build/Release):
#   npm run test:valgrind [-- test/x.test.js ...]
# Each helper process writes one log; the run fails when mocha fails, when a log shows an
# invalid access or a definite or indirect leak, or when no helper ran at all.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build-valgrind"
logs="$out/logs"
real="$root/build/Release"
rm -rf "$out"
mkdir -p "$logs"
for b in nvc-ts-driver nvc-ts-exec; do
  [ -x "$real/$b" ] || { echo "test:valgrind: $real/$b is missing: run npm run build:native" >&2; exit 1; }
  # Copied: the package test moves build/Release's files into prebuilds/ during a run.
  cp "$real/$b" "$out/$b.real"
  cat >"$out/$b" <<WRAP
#!/bin/sh
exec valgrind --vgdb=no --suppressions="$root/scripts/valgrind.supp" --leak-check=full --show-leak-kinds=definite,indirect \\
  --errors-for-leak-kinds=definite,indirect --child-silent-after-fork=yes \\
  --log-file="$logs/$b.%p.log" "$out/$b.real" "\$@"
WRAP
  chmod +x "$out/$b"
done

if [ "$#" -eq 0 ]; then
  # Without the tests that time the service in hundreds of milliseconds or check its argv
  # and environment: under valgrind it is slower, and a valgrind process.
  set -- --grep 'a hang|confined process while the context is open' --invert test/service.test.js test/configure.test.js
fi
status=0
(cd "$root" && NVC_TS_DRIVER="$out/nvc-ts-driver" NVC_TS_EXEC="$out/nvc-ts-exec" \
  npx mocha --no-package -r test/support/root-hooks.js --timeout 300000 "$@") || status=$?

n=$(ls "$logs" | wc -l)
bad=0
for f in "$logs"/*.log; do
  [ -e "$f" ] || continue
  if grep -q -E "Invalid (read|write|free)|uninitialised|Mismatched free|definitely lost: [1-9]|indirectly lost: [1-9]|ERROR SUMMARY: [1-9]" "$f"; then
    echo "---- $f"
    head -80 "$f"
    bad=$((bad + 1))
  fi
done
drivers=$(ls "$logs" | grep -c '^nvc-ts-driver' || true)
execs=$(ls "$logs" | grep -c '^nvc-ts-exec' || true)
echo "test:valgrind: $drivers driver service and $execs executor runs under memcheck, $bad with errors or leaks"
[ "$drivers" -gt 0 ] && [ "$execs" -gt 0 ] || { echo "test:valgrind: a helper never ran under valgrind" >&2; exit 1; }
[ "$bad" -eq 0 ] || exit 1
[ "$status" -eq 0 ] || { echo "test:valgrind: mocha failed (exit $status)" >&2; exit "$status"; }
