#!/bin/bash
# Why does a CUDA program fail in a configured container? Run from the project root on the GPU host.
set -u
work=/tmp/nvc-dbg; rm -rf $work; mkdir -p $work
/usr/local/cuda/bin/nvcc -O2 -cudart static -o $work/cudaerr bench/gpu/cudaerr.cu || exit 1
echo "--- on the host"; $work/cudaerr
r=$work/rootfs
mkdir -p "$r"/{bin,etc/ld.so.conf.d,proc,sys,dev,tmp,run,usr/bin,usr/lib/x86_64-linux-gnu,lib/x86_64-linux-gnu,lib64}
echo 12.0 > "$r/etc/debian_version"
printf 'include /etc/ld.so.conf.d/*.conf\n/lib/x86_64-linux-gnu\n' > "$r/etc/ld.so.conf"
for l in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libstdc++.so.6 libgcc_s.so.1; do cp -L /lib/x86_64-linux-gnu/$l $r/lib/x86_64-linux-gnu/; done
cp -L /lib64/ld-linux-x86-64.so.2 $r/lib64/; cp $work/cudaerr $r/bin/
unshare -m --propagation private sleep 300 </dev/null >/dev/null 2>&1 &
P=$!; sleep 0.2
node bin/nvc-ts.js configure --pid $P --device=0 --compute --utility --no-cgroups --ldconfig=@/sbin/ldconfig.real $r; echo "configure rc=$?"
echo "--- in the container (no device filter)"; nsenter -t $P -m chroot $r /bin/cudaerr
echo "--- mounts"; grep " $r" /proc/$P/mountinfo | awk '{print $5, $6}' | sed "s#$r##" | head -60
if command -v strace >/dev/null; then
  strace -f -e trace=openat,open,stat,newfstatat,access,readlink,ioctl -o $work/strace.txt nsenter -t $P -m chroot $r /bin/cudaerr >/dev/null 2>&1
  echo "--- failing calls"; grep -E "= -1" $work/strace.txt | grep -v "ENOENT.*(ld\.so|tls|haswell|x86_64/|glibc-hwcaps)" | head -60
else echo "no strace"; fi
kill -9 $P
