#!/bin/bash
# On the GPU host, from the project root after `source .gpu/enter.sh`: nvc-ts doctor as text and
# JSON, then doctor --container on a runc container configured by `nvc-ts hook` (GPU 1).
set -u
source "$(dirname "$0")/lib.sh"
GPU=${GPU:-1}
echo "=== nvc-ts doctor"
node bin/nvc-ts.js doctor; echo "doctor rc=$?"
echo "=== nvc-ts doctor --json"
node bin/nvc-ts.js doctor --json > "${OUT:-/tmp}/doctor.json"; echo "doctor --json rc=$?"
node -e 'for (const c of require(process.argv[1]).checks) console.log(c.status.padEnd(5), c.id.padEnd(18), c.summary)' "${OUT:-/tmp}/doctor.json"

work=${WORK:-/tmp/nvc-doctor}
rm -rf "$work"; mkdir -p "$work"
bundle=$work/bundle
r=$bundle/rootfs
min_rootfs "$r"
cp .gpu/rt/busybox "$r/bin/busybox"; ln -s busybox "$r/bin/sh"; ln -s busybox "$r/bin/sleep"
(cd "$bundle" && runc spec)
node - "$bundle" "$(command -v node)" "$PWD/bin/nvc-ts.js" "$GPU" <<'JS'
const fs = require('fs');
const [bundle, node, cli, gpu] = process.argv.slice(2);
const file = `${bundle}/config.json`;
const c = JSON.parse(fs.readFileSync(file, 'utf8'));
c.process.terminal = false;
c.process.env.push(`NVIDIA_VISIBLE_DEVICES=${gpu}`, 'NVIDIA_DRIVER_CAPABILITIES=compute,utility');
c.process.args = ['/bin/sleep', '120'];
c.root = { path: 'rootfs', readonly: false };
c.hooks = { prestart: [{ path: node, args: ['node', cli, 'hook', '--ldconfig', '@/sbin/ldconfig.real'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] }] };
fs.writeFileSync(file, JSON.stringify(c, null, 2));
JS
id=nvc-doctor-$$
runc run -d --bundle "$bundle" "$id" </dev/null >/dev/null 2>&1; echo "runc run -d rc=$?"
pid=$(runc state "$id" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).pid))')
echo "=== nvc-ts doctor --container $pid"
node bin/nvc-ts.js doctor --container "$pid" --only container-devices,container-driver; echo "doctor --container rc=$?"
runc kill "$id" KILL; sleep 0.5; runc delete -f "$id"
