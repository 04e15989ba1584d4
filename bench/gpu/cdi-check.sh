#!/bin/bash
# On the two-GPU host, from the project root after `source .gpu/enter.sh`: CDI end to end. A spec is
# generated for both H200s, `nvidia.com/gpu=1` is injected into a runc bundle by `nvc-ts cdi inject`,
# and inside: nvidia-smi -L lists GPU 1 only, a CUDA kernel runs, a node for GPU 0 made inside is
# refused. Then container start times (runc run to exit) with no GPU, with the CDI spec, and with
# `nvc-ts hook`, side by side in one run.
set -u
source "$(dirname "$0")/lib.sh"
# GPU: the device injected (default 1, on the two-GPU host); the other's node is made inside and must be refused.
GPU=${GPU:-1}; OTHER=$((1 - GPU))
work=${WORK:-/tmp/nvc-cdi}
rm -rf "$work"; mkdir -p "$work/cdi"
gcc -static -O2 -o "$work/opencheck" bench/gpu/opencheck.c || exit 1
/usr/local/cuda/bin/nvcc -O2 -cudart static -o "$work/cudacheck" .gpu/cudacheck.cu || exit 1

echo "=== nvc-ts cdi generate (both GPUs)"
node bin/nvc-ts.js cdi generate --format yaml --output "$work/cdi/nvidia.yaml"; echo "generate rc=$?"
node bin/nvc-ts.js cdi list --spec-dir "$work/cdi"
node bin/nvc-ts.js cdi check --spec-dir "$work/cdi"; echo "check rc=$?"
cp "$work/cdi/nvidia.yaml" "${OUT:-/tmp}/nvidia-cdi.yaml"
node -e '
const y=require("yaml"),s=y.parse(require("fs").readFileSync(process.argv[1],"utf8"));
console.log(`cdiVersion ${s.cdiVersion}, kind ${s.kind}, devices: ${s.devices.map(d=>d.name).join(" ")}`);
for (const d of s.devices.filter(d=>/^[01]$/.test(d.name))) console.log(`  ${d.name}: nodes ${(d.containerEdits.deviceNodes||[]).map(n=>`${n.path} ${n.major}:${n.minor}`).join(", ")}`);
const c=s.containerEdits; console.log(`  common: ${(c.deviceNodes||[]).length} nodes (${(c.deviceNodes||[]).map(n=>n.path).join(" ")}), ${(c.mounts||[]).length} mounts, hooks: ${(c.hooks||[]).map(h=>h.args.slice(1,2).join(" ")).join(", ")}`);
for (const m of (c.mounts||[]).filter(m=>/libcuda|nvidia-smi|libnvidia-ml/.test(m.containerPath))) console.log(`    ${m.hostPath} -> ${m.containerPath} [${(m.options||[]).join(",")}]`);
' "$work/cdi/nvidia.yaml"

make_bundle() {
  local bundle=$1 args=$2
  local r=$bundle/rootfs
  min_rootfs "$r"
  cp "$work/opencheck" "$work/cudacheck" "$r/bin/"
  cp .gpu/rt/busybox "$r/bin/busybox"
  for t in sh cat ls grep sed true; do ln -sf busybox "$r/bin/$t"; done
  mknod -m 666 "$r/nodes/nvidia$OTHER" c 195 $OTHER
  (cd "$bundle" && runc spec)
  node -e '
const fs=require("fs"),[file,args]=process.argv.slice(1);const c=JSON.parse(fs.readFileSync(file,"utf8"));
c.process.terminal=false; c.process.args=JSON.parse(args); c.root={path:"rootfs",readonly:false};
fs.writeFileSync(file,JSON.stringify(c,null,2));' "$bundle/config.json" "$args"
}

echo "=== runc with nvidia.com/gpu=$GPU injected by nvc-ts cdi inject"
make_bundle "$work/gpu1" "[\"/bin/sh\",\"-c\",\"opencheck /dev/nvidia$GPU /dev/nvidiactl /dev/nvidia-uvm /nodes/nvidia$OTHER; ls /dev | grep nvidia | sed 's/^/dev /'; nvidia-smi -L; cudacheck\"]"
node bin/nvc-ts.js cdi inject --device nvidia.com/gpu=$GPU --spec-dir "$work/cdi" "$work/gpu1/config.json"; echo "inject rc=$?"
node -e 'const c=require(process.argv[1]);console.log("linux.devices:",c.linux.devices.map(d=>`${d.path} ${d.major}:${d.minor}`).join(", "));console.log("allow rules:",c.linux.resources.devices.filter(r=>r.allow).map(r=>`${r.type} ${r.major}:${r.minor} ${r.access}`).join(", "));console.log("hooks:",Object.entries(c.hooks||{}).map(([k,v])=>`${k}: ${v.map(h=>h.args.slice(1,2)).join(",")}`).join("; "))' "$work/gpu1/config.json"
runc run --bundle "$work/gpu1" "nvc-cdi-$$" 2>&1; echo "runc rc=$?"

echo "=== start times: runc run to exit of /bin/true (no GPU, CDI gpu=1, nvc-ts hook gpu=1)"
make_bundle "$work/plain" '["/bin/true"]'
make_bundle "$work/cdi1" '["/bin/true"]'
node bin/nvc-ts.js cdi inject --device nvidia.com/gpu=$GPU --spec-dir "$work/cdi" "$work/cdi1/config.json" >/dev/null
make_bundle "$work/hook1" '["/bin/true"]'
node -e '
const fs=require("fs"),[file,node,cli]=process.argv.slice(1);const c=JSON.parse(fs.readFileSync(file,"utf8"));
c.process.env.push(`NVIDIA_VISIBLE_DEVICES=${process.argv[4]}`,"NVIDIA_DRIVER_CAPABILITIES=compute,utility");
c.hooks={prestart:[{path:node,args:["node",cli,"hook","--ldconfig","@/sbin/ldconfig.real"],env:["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}]};
fs.writeFileSync(file,JSON.stringify(c,null,2));' "$work/hook1/config.json" "$(command -v node)" "$PWD/bin/nvc-ts.js" "$GPU"
for kind in plain cdi1 hook1; do time_starts "$work" "$kind"; done
