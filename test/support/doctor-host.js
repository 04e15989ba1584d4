'use strict';
// A simulated host made whole for doctor: the kernel modules loaded (in /proc/modules and
// /sys/module), nvidia-modeset and the DRM nodes of every GPU, a systemd PID 1 with the
// /dev/char links, an ELF nvidia-smi. Tests then break one thing each.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { createSimulatedHost } = require('../../dist/testing/index.js');
const { createNvidiaDeviceNodes, init } = require('../../dist/index.js');

const DRM_MAJOR = 226;

function mknod(file, major, minor, mode = 0o666) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  execFileSync('mknod', ['-m', mode.toString(8), file, 'c', String(major), String(minor)]);
}

function write(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

function procModules(names) {
  return names.map((n) => `${n} 1000 0 - Live 0x0000000000000000`).join('\n') + '\n';
}

const ALL_MODULES = ['nvidia_drm', 'nvidia_modeset', 'nvidia_uvm', 'nvidia'];

async function healthyHost(partial = {}) {
  const host = await createSimulatedHost({ decoys: false, ...partial });
  const { root, procRoot, devRoot, sysRoot } = host;
  write(path.join(procRoot, 'modules'), procModules(ALL_MODULES));
  for (const m of ALL_MODULES) fs.mkdirSync(path.join(sysRoot, 'module', m), { recursive: true });
  write(path.join(sysRoot, 'module/nvidia_drm/parameters/modeset'), 'Y\n');
  mknod(path.join(devRoot, 'nvidia-modeset'), 195, 254);
  host.spec.gpus.forEach((gpu, i) => {
    const bus = `${gpu.pci.domain.toString(16).padStart(4, '0')}:${gpu.pci.bus.toString(16).padStart(2, '0')}:${gpu.pci.device.toString(16).padStart(2, '0')}.0`;
    const drm = path.join(sysRoot, 'bus/pci/devices', bus, 'drm');
    write(path.join(drm, `card${i + 1}`, 'dev'), `${DRM_MAJOR}:${i + 1}\n`);
    write(path.join(drm, `renderD${128 + i}`, 'dev'), `${DRM_MAJOR}:${128 + i}\n`);
    mknod(path.join(devRoot, 'dri', `card${i + 1}`), DRM_MAJOR, i + 1);
    mknod(path.join(devRoot, 'dri', `renderD${128 + i}`), DRM_MAJOR, 128 + i);
  });
  write(path.join(procRoot, '1/comm'), 'systemd\n');
  // Every node and /dev/char link the driver's state calls for, as `nvc-ts modules nodes` makes them.
  await createNvidiaDeviceNodes({ root, procRoot, devRoot, sysRoot });
  // A fresh CDI spec where engines look for one (/etc/cdi under the driver root), on hosts whose NVML answers.
  if (!(partial.faults ?? []).length) {
    const ctx = await init(host.options);
    try {
      const spec = await ctx.cdiSpec({}, { onWarning: () => undefined });
      write(path.join(root, 'etc/cdi/nvidia.json'), JSON.stringify(spec, null, 2));
    } finally {
      await ctx.shutdown();
    }
  }
  fs.rmSync(path.join(root, 'usr/bin/nvidia-smi'), { force: true });
  fs.copyFileSync('/bin/true', path.join(root, 'usr/bin/nvidia-smi'));
  fs.chmodSync(path.join(root, 'usr/bin/nvidia-smi'), 0o755);
  // Libraries written after the cache would make it look stale: date them before it.
  const cacheTime = fs.statSync(path.join(root, 'etc/ld.so.cache')).mtime;
  const older = new Date(cacheTime.getTime() - 60000);
  for (const dir of ['usr/lib/x86_64-linux-gnu', 'usr/lib/i386-linux-gnu']) {
    const full = path.join(root, dir);
    if (!fs.existsSync(full)) continue;
    for (const f of fs.readdirSync(full)) {
      const st = fs.lstatSync(path.join(full, f));
      if (st.isFile()) fs.utimesSync(path.join(full, f), older, older);
    }
  }
  return host;
}

module.exports = { healthyHost, procModules, mknod, write, ALL_MODULES };
