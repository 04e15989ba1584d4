#!/bin/bash
# On the GPU host, from the project root after `source .gpu/enter.sh`: the resident service and the
# native client. `nvc-ts serve` runs in the background; a runc container whose prestart hook is the
# native client (`nvc-ts-cli hook`, no Node start per container) runs nvidia-smi -L and a CUDA
# kernel; then container start times side by side (no GPU, the native hook, the Node hook), the
# client's configure as a whole process, and the benchmark suite on the real driver.
set -u
source "$(dirname "$0")/lib.sh"
GPU=${GPU:-0}
work=${WORK:-/tmp/nvc-native}
rm -rf "$work"; mkdir -p "$work"
/usr/local/cuda/bin/nvcc -O2 -cudart static -o "$work/cudacheck" .gpu/cudacheck.cu || exit 1
start_service "$work" --debug "$work/serve-debug.log"
echo "client: $client"
node bin/nvc-ts.js serve --check --socket "$NVC_TS_SOCKET"; echo "serve --check rc=$?"
echo "=== nvidia-container-cli argv through the client: info"
"$client" info | head -4

make_bundle() {
  local bundle=$1 args=$2 hook=$3
  local r=$bundle/rootfs
  min_rootfs "$r"
  cp "$work/cudacheck" "$r/bin/"
  cp .gpu/rt/busybox "$r/bin/busybox"
  for t in sh true ls; do ln -sf busybox "$r/bin/$t"; done
  (cd "$bundle" && runc spec)
  node -e '
const fs=require("fs"),[file,args,hook,gpu,node,cli,client,sock]=process.argv.slice(1);const c=JSON.parse(fs.readFileSync(file,"utf8"));
c.process.terminal=false; c.process.args=JSON.parse(args); c.root={path:"rootfs",readonly:false};
c.process.env.push(`NVIDIA_VISIBLE_DEVICES=${gpu}`,"NVIDIA_DRIVER_CAPABILITIES=compute,utility");
const env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",`NVC_TS_SOCKET=${sock}`,`NVC_TS_NODE=${node}`];
if (hook==="native") c.hooks={prestart:[{path:client,args:["nvidia-container-cli","hook","--ldconfig","@/sbin/ldconfig.real"],env}]};
if (hook==="node") c.hooks={prestart:[{path:node,args:["node",cli,"hook","--ldconfig","@/sbin/ldconfig.real"],env}]};
if (hook==="noop") c.hooks={prestart:[{path:"/bin/true",args:["true"]}]};
if (hook==="mounts") c.hooks={prestart:[{path:process.env.MOUNT_HOOK,args:["mount-hook",process.env.MOUNTS,"/etc/hostname"]}]};
fs.writeFileSync(file,JSON.stringify(c,null,2));' "$bundle/config.json" "$args" "$hook" "$GPU" "$(command -v node)" "$PWD/bin/nvc-ts.js" "$client" "$NVC_TS_SOCKET"
}

echo "=== runc with the native client as prestart hook (NVIDIA_VISIBLE_DEVICES=$GPU)"
make_bundle "$work/gpu" '["/bin/sh","-c","nvidia-smi -L; cudacheck"]' native
runc run --bundle "$work/gpu" "nvc-native-$$" 2>&1; echo "runc rc=$?"

echo "=== start times: runc run to exit of /bin/true"
for kind in plain native node; do
  make_bundle "$work/$kind" '["/bin/true"]' "$kind"
  time_starts "$work" "$kind"
done

echo "=== the client's configure as a whole process (service running), 10 containers"
times=()
for i in $(seq 1 10); do
  r=$work/c$i; mkdir -p "$r"/{etc,proc,dev,sys,tmp,usr/lib/x86_64-linux-gnu,usr/bin}; echo 12 > "$r/etc/debian_version"
  unshare -m --propagation private sleep 30 & p=$!; sleep 0.05
  s=$(date +%s%N); PATH=$HOOK_PATH "$client" configure --pid "$p" --device=$GPU --compute --utility --no-cgroups --ldconfig=@/sbin/ldconfig.real "$r"; rc=$?; e=$(date +%s%N)
  times+=($(( (e - s) / 1000 ))); kill $p
  [ $rc -eq 0 ] || echo "  configure $i rc=$rc"
done
med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 5p)
echo "  nvc-ts-cli configure: median $((med / 1000)).$(( (med % 1000) / 100 )) ms (us: $(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' '))"
echo "=== configure --json, then teardown: the container's mount table as before"
r=$work/td; mkdir -p "$r"/{etc,proc,dev,sys,tmp,usr/lib/x86_64-linux-gnu,usr/bin}; echo 12 > "$r/etc/debian_version"
unshare -m --propagation private sleep 60 & p=$!; sleep 0.05
before=$(wc -l < /proc/$p/mountinfo); (cd "$r" && find . | sort) > "$work/td.before"
PATH=$HOOK_PATH "$client" configure --json --pid "$p" --device=$GPU --compute --utility --no-cgroups --ldconfig=@/sbin/ldconfig.real "$r" > "$work/td.json"; echo "  configure rc=$?"
echo "  mounts: $before before, $(wc -l < /proc/$p/mountinfo) configured"
node bin/nvc-ts.js teardown --pid "$p" --result "$work/td.json" "$r"; echo "  teardown rc=$?"
echo "  mounts after teardown: $(wc -l < /proc/$p/mountinfo); entries left in the rootfs that were not there before:"
(cd "$r" && find . | sort) | comm -13 "$work/td.before" - | sed 's/^/    /'
kill $p
# As many mounts as that configure made (its change record).
mounts=$(node -e 'let n=0;const walk=(v)=>{if(Array.isArray(v))v.forEach(walk);else if(v&&typeof v==="object"){if(v.kind==="mount")n++;Object.values(v).forEach(walk);}};walk(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")));console.log(n)' "$work/td.json")
echo "=== the floor of a mounting hook: runc start with a no-op hook, and with a C hook making only $mounts read-only bind mounts"
gcc -O2 -o "$work/mount-hook" bench/gpu/mount-hook.c || exit 1
for kind in noop mounts; do
  MOUNT_HOOK=$work/mount-hook MOUNTS=$mounts make_bundle "$work/$kind" '["/bin/true"]' "$kind"
  time_starts "$work" "$kind"
done
echo "=== the service's metrics lines"
grep -h -m3 "metrics" "$work/serve.log" "$work/serve-debug.log"
kill $serve; wait $serve 2>/dev/null

echo "=== npm run bench -- --real --quick (the suite on this driver)"
node bench/suite.js --real --quick --json > "${OUT:-/tmp}/bench-real.json" 2>&1; node bench/suite.js --real --quick 2>&1 | grep -v "^$"
