#!/bin/bash
# On the GPU host, from the project root after `source .gpu/enter.sh`: where a runc start through
# the native hook spends its time. Interleaved runs (RUNS each, default 15) of the same /bin/true
# container with no hook, a no-op hook, a C hook making only the mounts configure makes, and the
# native client as hook; then the service's own account of each hook request (its phases and
# metrics lines), to set against the runc figures.
set -u
source "$(dirname "$0")/lib.sh"
GPU=${GPU:-0}
RUNS=${RUNS:-15}
work=${WORK:-/tmp/nvc-hook-profile}
rm -rf "$work"; mkdir -p "$work"
client=$(node bin/nvc-ts.js paths --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).cli))')
export NVC_TS_SOCKET=$work/nvc-ts.sock
HOOK_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PATH=$HOOK_PATH "$(command -v node)" bin/nvc-ts.js --debug "$work/serve-debug.log" serve --socket "$NVC_TS_SOCKET" > "$work/serve.log" 2>&1 &
serve=$!
for i in $(seq 1 50); do [ -S "$NVC_TS_SOCKET" ] && break; sleep 0.1; done
gcc -O2 -o "$work/mount-hook" bench/gpu/mount-hook.c || exit 1

bundle() {
  local b=$work/$1 hook=$1
  min_rootfs "$b/rootfs"
  cp .gpu/rt/busybox "$b/rootfs/bin/busybox"; ln -sf busybox "$b/rootfs/bin/true"
  (cd "$b" && runc spec)
  node -e '
const fs=require("fs"),[file,hook,gpu,client,sock,mh]=process.argv.slice(1);const c=JSON.parse(fs.readFileSync(file,"utf8"));
c.process.terminal=false; c.process.args=["/bin/true"]; c.root={path:"rootfs",readonly:false};
c.process.env.push(`NVIDIA_VISIBLE_DEVICES=${gpu}`,"NVIDIA_DRIVER_CAPABILITIES=compute,utility");
const env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",`NVC_TS_SOCKET=${sock}`];
if (hook==="noop") c.hooks={prestart:[{path:"/bin/true",args:["true"]}]};
if (hook==="mounts") c.hooks={prestart:[{path:mh,args:["mount-hook","23","/etc/hostname"]}]};
if (hook==="native") c.hooks={prestart:[{path:client,args:["nvidia-container-cli","hook","--ldconfig","@/sbin/ldconfig.real"],env}]};
if (hook==="nocg") c.hooks={prestart:[{path:client,args:["nvidia-container-cli","hook","--no-cgroups","--ldconfig","@/sbin/ldconfig.real"],env}]};
fs.writeFileSync(file,JSON.stringify(c));' "$b/config.json" "$hook" "$GPU" "$client" "$NVC_TS_SOCKET" "$work/mount-hook"
}
kinds=${KINDS:-plain noop mounts native nocg}
for k in $kinds; do bundle "$k"; done
# Warm the service (its first request reads the host facts).
RUNS=2 time_starts "$work" native > /dev/null
echo "=== runc run to exit of /bin/true, $RUNS runs each, interleaved in rounds"
for round in 1 2 3; do
  for k in $kinds; do RUNS=$(( RUNS / 3 )) time_starts "$work" "$k"; done
done
kill $serve; wait $serve 2>/dev/null
echo "=== the service's account of the hook requests (last 10)"
grep -h -e "argv \[\"hook\"" -e metrics "$work/serve-debug.log" | tail -${TAIL:-20} | sed 's/.*request #/request #/; s/ uid 0 argv \[\"hook\"\(,\"--no-cgroups\"\)\?[^]]*\]/ hook\1/'
