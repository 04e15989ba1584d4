#!/bin/bash
# On the GPU host, from the project root after `source .gpu/enter.sh`: the phases of a runc start
# with a prestart hook, from timestamps: runc start -> hook start, the hook, hook end -> runc exit.
# The hook is a shell wrapper that stamps the time around the real hook (the native client, or
# /bin/true for the floor); the wrapper's own cost is in both. RUNS each (default 10).
set -u
source "$(dirname "$0")/lib.sh"
GPU=${GPU:-0}
RUNS=${RUNS:-10}
work=${WORK:-/tmp/nvc-hook-phases}
rm -rf "$work"; mkdir -p "$work"
start_service "$work"
cat > "$work/wrap" <<WRAP
#!/bin/sh
echo "hook-start \$(date +%s%N)" >> "$work/stamps"
"\$@"; rc=\$?
echo "hook-end \$(date +%s%N)" >> "$work/stamps"
exit \$rc
WRAP
chmod +x "$work/wrap"
for kind in noop native; do
  b=$work/$kind
  min_rootfs "$b/rootfs"; cp .gpu/rt/busybox "$b/rootfs/bin/busybox"; ln -sf busybox "$b/rootfs/bin/true"
  (cd "$b" && runc spec)
  node -e '
const fs=require("fs"),[file,kind,gpu,client,sock,wrap]=process.argv.slice(1);const c=JSON.parse(fs.readFileSync(file,"utf8"));
c.process.terminal=false; c.process.args=["/bin/true"]; c.root={path:"rootfs",readonly:false};
c.process.env.push(`NVIDIA_VISIBLE_DEVICES=${gpu}`,"NVIDIA_DRIVER_CAPABILITIES=compute,utility");
const env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",`NVC_TS_SOCKET=${sock}`];
const real = kind==="noop" ? ["/bin/true"] : [client,"hook","--ldconfig","@/sbin/ldconfig.real"];
c.hooks={prestart:[{path:wrap,args:["wrap",...real],env}]};
fs.writeFileSync(file,JSON.stringify(c));' "$b/config.json" "$kind" "$GPU" "$client" "$NVC_TS_SOCKET" "$work/wrap"
done
for i in $(seq 1 "$RUNS"); do
  for kind in noop native; do
    rm -rf "$work/run"; cp -a "$work/$kind" "$work/run"
    echo "runc-start $(date +%s%N)" >> "$work/stamps"
    runc run --bundle "$work/run" "nvc-p-$kind-$i" > /dev/null 2>&1 || echo "  $kind run $i failed"
    echo "runc-end $(date +%s%N) $kind" >> "$work/stamps"
  done
done
kill $serve; wait $serve 2>/dev/null
echo "=== medians over $RUNS runs (ms): runc start -> hook start, hook, hook end -> runc exit, total"
awk '
  $1=="runc-start"{s=$2} $1=="hook-start"{hs=$2} $1=="hook-end"{he=$2}
  $1=="runc-end"{k=$3; n[k]++; a[k,n[k]]=(hs-s)/1e6; b[k,n[k]]=(he-hs)/1e6; c[k,n[k]]=($2-he)/1e6; t[k,n[k]]=($2-s)/1e6}
  function med(arr,k,m,   i,j,x,v){for(i=1;i<=m;i++)v[i]=arr[k,i]; for(i=1;i<=m;i++)for(j=i+1;j<=m;j++)if(v[j]<v[i]){x=v[i];v[i]=v[j];v[j]=x}; return v[int((m+1)/2)]}
  END{for(k in n) printf "  %-7s %7.1f %7.1f %7.1f %7.1f\n", k, med(a,k,n[k]), med(b,k,n[k]), med(c,k,n[k]), med(t,k,n[k])}' "$work/stamps"
