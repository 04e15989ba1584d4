#!/bin/bash
# On the two-GPU host (see ../shared/gpu/README.md), from the project root after
# `source .gpu/enter.sh`: a real runc container (cgroup v2, runc's own device program) with
# `nvc-ts hook` as its prestart hook and NVIDIA_VISIBLE_DEVICES=1. Inside: the nodes it was
# given open read-write, GPU 0's node (made in the image) is refused, nvidia-smi lists one
# GPU, a CUDA kernel runs, and /proc/driver/nvidia is nvc-ts's sealed copy with only GPU 1's
# directory. What test/runc.test.js checks on a simulated host, on the real driver.
set -u
source "$(dirname "$0")/lib.sh"
# GPU: the one given (default 1, on the two-GPU host); the other's node is made inside and must be refused.
GPU=${GPU:-1}; OTHER=$((1 - GPU))
work=${WORK:-/tmp/nvc-runc}
rm -rf "$work"; mkdir -p "$work"
gcc -static -O2 -o "$work/opencheck" bench/gpu/opencheck.c || exit 1
/usr/local/cuda/bin/nvcc -O2 -cudart static -o "$work/cudacheck" .gpu/cudacheck.cu || exit 1

bundle=$work/bundle
r=$bundle/rootfs
min_rootfs "$r"
cp "$work/opencheck" "$work/cudacheck" "$r/bin/"
cp .gpu/rt/busybox "$r/bin/busybox"
for t in sh cat ls grep sed touch; do ln -s busybox "$r/bin/$t"; done
mknod -m 666 "$r/nodes/nvidia$OTHER" c 195 $OTHER

(cd "$bundle" && runc spec)
# The hook gets a standard PATH, as runc passes hooks: /usr/bin/nvidia-* are wrapper scripts on that
# host, and nvc-ts must mount the driver's ELF binaries from beside its libraries instead.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$(dirname "$(command -v node)") node - "$bundle" "$(command -v node)" "$PWD/bin/nvc-ts.js" "$GPU" "$OTHER" <<'EOF'
const fs = require('fs');
const [bundle, node, cli, gpu, other] = process.argv.slice(2);
const file = `${bundle}/config.json`;
const c = JSON.parse(fs.readFileSync(file, 'utf8'));
c.process.terminal = false;
c.process.env.push(`NVIDIA_VISIBLE_DEVICES=${gpu}`, 'NVIDIA_DRIVER_CAPABILITIES=compute,utility');
c.process.args = ['/bin/sh', '-c', [
  `opencheck /dev/nvidia${gpu} /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools /nodes/nvidia${other}`,
  'ls /dev | grep nvidia | sed "s/^/dev /"',
  'nvidia-smi -L',
  'cudacheck',
  'grep " /proc/driver/nvidia " /proc/self/mountinfo | sed "s/^/procmount /"',
  'grep ModifyDeviceFiles /proc/driver/nvidia/params',
  'ls /proc/driver/nvidia/gpus | sed "s/^/procgpu /"',
  '(touch /proc/driver/nvidia/x) 2>&1 | sed "s/^/procwrite /"',
].join('; ')];
c.root = { path: 'rootfs', readonly: false };
c.hooks = { prestart: [{ path: node, args: ['node', cli, 'hook', '--ldconfig', '@/sbin/ldconfig.real'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] }] };
fs.writeFileSync(file, JSON.stringify(c, null, 2));
EOF
echo "=== runc run (cgroup $(stat -fc %T /sys/fs/cgroup)), NVIDIA_VISIBLE_DEVICES=$GPU"
runc run --bundle "$bundle" "nvc-runc-check-$$" 2>&1
echo "runc rc=$?"
