#!/bin/bash
# On the GPU host, from the project root after `source .gpu/enter.sh`: the module planner and the node
# creator on the real host (nothing is loaded or unloaded there), then the wrapper-script case through a
# real runc container whose hook has a standard PATH (bench/gpu/runc-check.sh).
set -u
echo "=== nvc-ts modules plan --json nvidia-drm"
node bin/nvc-ts.js modules plan --json nvidia-drm; echo "plan rc=$?"
echo "=== nvc-ts modules plan (default targets)"
node bin/nvc-ts.js modules plan; echo "plan rc=$?"
echo "=== nvc-ts modules nodes --dev-root /tmp/devtest"
rm -rf /tmp/devtest
node bin/nvc-ts.js modules nodes --dev-root /tmp/devtest; echo "nodes rc=$?"
echo "--- the host's nodes"
ls -l /dev/nvidia* /dev/nvidia-caps 2>&1 | sed 's/^/  /'
echo "--- the recreated nodes"
ls -l /tmp/devtest/nvidia* /tmp/devtest/nvidia-caps 2>&1 | sed 's/^/  /'
ls -l /tmp/devtest/char 2>&1 | sed 's/^/  /'
echo "--- second run"
node bin/nvc-ts.js modules nodes --dev-root /tmp/devtest; echo "nodes rc=$?"
echo "=== --load-kmods where everything is loaded"
node bin/nvc-ts.js --load-kmods info | head -3; echo "info rc=$?"
echo "=== list --binaries with a standard PATH"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$(dirname "$(command -v node)") node bin/nvc-ts.js list --binaries
