#!/bin/bash
# On the GPU host, from the project root after `source .gpu/enter.sh`: run the same CLI
# commands with an earlier build (unpacked from .gpu/base.tgz: dist, build/Release, bin,
# node_modules, package.json) and with this one, and show whether their outputs are
# byte-identical. Used to check that a restructuring changed no output on a real driver.
set -u
base=/tmp/nvc-base
rm -rf "$base"; mkdir -p "$base"; tar -xzf .gpu/base.tgz -C "$base"
rootfs=/tmp/nvc-compare-rootfs
rm -rf "$rootfs"; mkdir -p "$rootfs/etc"; echo 12 > "$rootfs/etc/debian_version"
sleep 600 & holder=$!
commands=(
  "info"
  "info --csv"
  "info --json"
  "list"
  "list --json"
  "list --libraries --compat32"
  "list --device=1 --binaries"
  "list --device=all --mig-config=all"
  "list --device=all --mig-monitor=all --json"
  "configure --pid=$holder --device=all --compute --utility --dry-run --json $rootfs"
  "configure --pid=$holder --device=1 --capabilities=all --no-persistenced --dry-run --json $rootfs"
  "configure --pid=$holder --device=0 --mig-config=all --dry-run $rootfs"
)
same=0 differ=0
for c in "${commands[@]}"; do
  # shellcheck disable=SC2086
  node "$base/bin/nvc-ts.js" $c > /tmp/before.out 2>&1; b=$?
  # shellcheck disable=SC2086
  node bin/nvc-ts.js $c > /tmp/after.out 2>&1; a=$?
  if [[ $a == "$b" ]] && cmp -s /tmp/before.out /tmp/after.out; then
    same=$((same + 1)); echo "identical (rc $a, $(wc -l < /tmp/after.out) lines): nvc-ts $c"
  else
    differ=$((differ + 1)); echo "DIFFERENT (rc $b -> $a): nvc-ts $c"; diff /tmp/before.out /tmp/after.out | head -20
  fi
done
kill "$holder"
echo "$same identical, $differ different"
