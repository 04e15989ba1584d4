#!/bin/bash
# CUDA in a configured container, with the container's /proc mounted before configure as a
# runtime does (runc mounts /proc, then runs its hooks), and without.
set -u
work=/tmp/nvc-proc; rm -rf $work; mkdir -p $work
/usr/local/cuda/bin/nvcc -O2 -cudart static -o $work/cudaerr bench/gpu/cudaerr.cu || exit 1
mk() {
  local r=$1
  mkdir -p "$r"/{bin,etc/ld.so.conf.d,proc,sys,dev/shm,tmp,run,usr/bin,usr/lib/x86_64-linux-gnu,lib/x86_64-linux-gnu,lib64}
  echo 12.0 > "$r/etc/debian_version"
  printf 'include /etc/ld.so.conf.d/*.conf\n/lib/x86_64-linux-gnu\n' > "$r/etc/ld.so.conf"
  for l in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libstdc++.so.6 libgcc_s.so.1; do cp -L /lib/x86_64-linux-gnu/$l $r/lib/x86_64-linux-gnu/; done
  cp -L /lib64/ld-linux-x86-64.so.2 $r/lib64/; cp $work/cudaerr $r/bin/
}
for variant in proc-first shm-only; do
  r=$work/$variant; mk $r
  unshare -m --propagation private sleep 300 </dev/null >/dev/null 2>&1 &
  P=$!; sleep 0.2
  [ $variant = proc-first ] && nsenter -t $P -m mount -t proc proc $r/proc
  node bin/nvc-ts.js configure --pid $P --device=0 --compute --utility --no-cgroups --ldconfig=@/sbin/ldconfig.real $r; echo "$variant configure rc=$?"
  echo "--- $variant: cudaerr"; nsenter -t $P -m chroot $r /bin/cudaerr
  echo "--- $variant: params"; nsenter -t $P -m chroot $r /bin/cudaerr >/dev/null; nsenter -t $P -m cat $r/proc/driver/nvidia/params | grep ModifyDevice
  kill -9 $P
done
