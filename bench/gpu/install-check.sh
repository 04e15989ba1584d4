#!/bin/bash
# On the GPU host, from the project root after `source .gpu/enter.sh`: copy mode. The driver is
# installed into a minimal rootfs by `nvc-ts install` (files, no mounts of driver files); the
# rootfs is then run with `unshare -m` + chroot with only the device nodes bound in (and its own
# /proc): nvidia-smi -L and a CUDA kernel must run. doctor --rootfs passes it, and fails it once
# its stamp names another driver version.
set -u
source "$(dirname "$0")/lib.sh"
work=${WORK:-/tmp/nvc-install}
rm -rf "$work"; mkdir -p "$work"
r=$work/rootfs
min_rootfs "$r"
/usr/local/cuda/bin/nvcc -O2 -cudart static -o "$r/bin/cudacheck" .gpu/cudacheck.cu || exit 1

echo "=== nvc-ts install --into ROOTFS --compute --utility"
start=$(date +%s%N)
node bin/nvc-ts.js install --into "$r" --compute --utility --ldconfig @/sbin/ldconfig.real; echo "install rc=$? in $(( ($(date +%s%N) - start) / 1000000 )) ms"
echo "mounts under the rootfs after install: $(grep -c " $r" /proc/self/mountinfo)"
node -e 'const s=require(process.argv[1]);console.log(`stamp: driver ${s.driverVersion}, CUDA ${s.cudaVersion}, ${s.files.length} files, ${s.links.length} links; e.g.`, s.files.filter(f=>/libcuda|nvidia-smi/.test(f.path)).map(f=>`${f.path} ${f.size} ${f.sha256.slice(0,12)}`))' "$r/etc/nvc-ts/driver.json"
file "$r/usr/bin/nvidia-smi" 2>/dev/null | cut -c1-120 || head -c 64 "$r/usr/bin/nvidia-smi" | od -c | head -2

echo "=== unshare -m + chroot, only the device nodes bound in"
unshare -m --propagation private bash -c '
  r=$1
  for n in nvidiactl nvidia-uvm nvidia-uvm-tools nvidia0 nvidia1; do
    [ -e /dev/$n ] || continue
    touch "$r/dev/$n" && mount --bind /dev/$n "$r/dev/$n"
  done
  mount -t proc proc "$r/proc"
  echo "mounts in the guest namespace under the rootfs:"; grep " $r" /proc/self/mountinfo | awk "{print \"  \" \$5}"
  chroot "$r" /usr/bin/nvidia-smi -L; echo "nvidia-smi rc=$?"
  chroot "$r" /bin/cudacheck; echo "cudacheck rc=$?"
' _ "$r"

echo "=== doctor --rootfs (installed)"
node bin/nvc-ts.js doctor --rootfs "$r" --only rootfs-driver; echo "doctor rc=$?"
sed -i 's/"driverVersion": "[0-9.]*"/"driverVersion": "575.51.03"/' "$r/etc/nvc-ts/driver.json"
echo "=== doctor --rootfs (stamp edited to 575.51.03)"
node bin/nvc-ts.js doctor --rootfs "$r" --only rootfs-driver; echo "doctor rc=$?"
