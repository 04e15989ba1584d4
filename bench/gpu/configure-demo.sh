#!/bin/bash
# On the GPU host (see ../shared/gpu/README.md), from the project root after
# `source .gpu/enter.sh`: configure two minimal containers with `nvc-ts configure` (compute,
# utility, ldconfig, cgroups on; the host is cgroup v2, a runtime-style device filter stands in
# for runc's, and /proc is mounted in the container first, as runc does before its hooks), then run nvidia-smi -L and a CUDA kernel in the one given GPU 0, and show that
# the one given no GPU cannot open /dev/nvidia0.
set -u
source "$(dirname "$0")/lib.sh"
work=${WORK:-/tmp/nvc-demo}
rm -rf "$work"; mkdir -p "$work"
core="native/core/setup/cgroup_bpf.c native/core/setup/cgroup.c native/core/setup/cgroup_v1.c native/core/setup/cgroup_v2.c native/core/util/error.c"
gcc -std=gnu11 -O2 -Inative/include -Inative/core/discovery -Inative/core/driver-client -Inative/core/wire -Inative/core/setup -Inative/core/util -Wno-format-truncation -o "$work/devfilter" bench/gpu/devfilter.c $core || exit 1
gcc -static -O2 -o "$work/opencheck" bench/gpu/opencheck.c || exit 1
/usr/local/cuda/bin/nvcc -O2 -cudart static -o "$work/cudacheck" .gpu/cudacheck.cu || exit 1

make_rootfs() {
  local r=$1
  min_rootfs "$r"
  cp "$work/opencheck" "$work/cudacheck" "$r/bin/"
}

# container NAME: a process in its own mount namespace, in its own cgroup with a runtime's device filter
container() {
  local name=$1
  make_rootfs "$work/$name"
  mkdir -p "/sys/fs/cgroup/nvc-$name"
  unshare -m --propagation private sleep 600 </dev/null >/dev/null 2>&1 &
  local pid=$!
  sleep 0.2
  # As a runtime does before its hooks: the container's own /proc (CUDA needs it).
  nsenter -t "$pid" -m mount -t proc proc "$work/$name/proc"
  echo "$pid" > "/sys/fs/cgroup/nvc-$name/cgroup.procs"
  "$work/devfilter" "/sys/fs/cgroup/nvc-$name" >&2
  echo "$pid"
}

# inside NAME PID CMD...: run CMD in the container's cgroup, mount namespace and root
inside() {
  local name=$1 pid=$2
  shift 2
  bash -c 'echo $$ > "$0"; exec nsenter -t "$1" -m chroot "$2" "${@:3}"' \
    "/sys/fs/cgroup/nvc-$name/cgroup.procs" "$pid" "$work/$name" "$@" 2>&1
}

echo "=== container gpu0: nvc-ts configure --device=0 --compute --utility (cgroups on, ldconfig @/sbin/ldconfig.real)"
P1=$(container gpu0)
/usr/bin/time -f "configure took %e s" node bin/nvc-ts.js configure --pid "$P1" --device=0 --compute --utility \
  --ldconfig=@/sbin/ldconfig.real "$work/gpu0"
echo "configure rc=$?"
echo "--- nvidia-smi -L inside"; inside gpu0 "$P1" /usr/bin/nvidia-smi -L
echo "--- cudacheck inside"; inside gpu0 "$P1" /bin/cudacheck
echo "--- device access inside"; inside gpu0 "$P1" /bin/opencheck /dev/nvidiactl /dev/nvidia0 /dev/nvidia-uvm
echo "--- ld.so.cache of the container"; ldconfig -p -C "$work/gpu0/etc/ld.so.cache" | grep -E "libcuda.so.1|libnvidia-ml.so.1"

echo "=== container nogpu: nvc-ts configure --compute --utility (no --device)"
P2=$(container nogpu)
node bin/nvc-ts.js configure --pid "$P2" --compute --utility --ldconfig=@/sbin/ldconfig.real "$work/nogpu"
echo "configure rc=$?"
echo "--- device nodes inside"; inside nogpu "$P2" /bin/opencheck /dev/nvidia0 /dev/nvidiactl
mknod "$work/nogpu/dev/nvidia0-made-by-hand" c 195 0
echo "--- a hand-made 195:0 node inside (the cgroup must refuse it)"; inside nogpu "$P2" /bin/opencheck /dev/nvidia0-made-by-hand
echo "--- nvidia-smi -L inside"; inside nogpu "$P2" /usr/bin/nvidia-smi -L

kill -9 "$P1" "$P2" 2>/dev/null; sleep 0.3
rmdir /sys/fs/cgroup/nvc-gpu0 /sys/fs/cgroup/nvc-nogpu 2>/dev/null
