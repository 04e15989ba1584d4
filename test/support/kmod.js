'use strict';
// A KmodSyscalls layer that loads nothing: it records every call and keeps the fixture host's
// <proc>/modules (and <sys>/module) in step, as the kernel would.
const fs = require('node:fs');
const path = require('node:path');
const { NvcError } = require('../../dist/index.js');
const { moduleInfoFromImage } = require('../../dist/kmod/modinfo.js');
const { decompressModule } = require('../../dist/kmod/decompress.js');
const { parseProcModules } = require('../../dist/kmod/kernel-state.js');

/**
 * host: a createKmodHost() result. refuse: { moduleName: errno } makes the "kernel" refuse it.
 * nodes: 'record' (default) only records mknod/symlink/chown/chmod; 'real' also performs them.
 */
function fakeSyscalls(host, { refuse = {}, nodes = 'record' } = {}) {
  const calls = [];
  const procModules = path.join(host.procRoot, 'modules');
  const readLoaded = () => [...parseProcModules(fs.readFileSync(procModules, 'utf8')).values()];
  const writeLoaded = (list) => host.setLoaded(list);

  async function insert(image, label, params, call) {
    const { image: elf } = await decompressModule(image, label);
    const info = moduleInfoFromImage(elf, label, 'none', path.basename(label));
    calls.push({ ...call, module: info.name, params });
    if (refuse[info.name]) throw new NvcError('ERR_NVC_SYSTEM', 'the kernel refused the module', { errno: refuse[info.name], syscall: call.call, path: label });
    const loaded = readLoaded();
    if (loaded.some((m) => m.name === info.name)) throw new NvcError('ERR_NVC_SYSTEM', 'exists', { errno: 'EEXIST', syscall: call.call });
    for (const dep of info.depends) {
      const d = loaded.find((m) => m.name === dep);
      if (d === undefined) throw new NvcError('ERR_NVC_SYSTEM', `unknown symbol (needs ${dep})`, { errno: 'ENOENT', syscall: call.call });
      d.usedBy = [...d.usedBy, info.name];
      d.refcount += 1;
    }
    await writeLoaded([{ name: info.name, refcount: 0, usedBy: [] }, ...loaded]);
  }

  return {
    calls,
    async finitModule(file, params, flags) {
      await insert(fs.readFileSync(file), file, params, { call: 'finit_module', path: file, flags });
    },
    async initModule(image, params, label) {
      await insert(Buffer.from(image), label, params, { call: 'init_module', path: label, size: image.length });
    },
    async deleteModule(name) {
      calls.push({ call: 'delete_module', module: name });
      const loaded = readLoaded();
      const m = loaded.find((x) => x.name === name);
      if (m === undefined) throw new NvcError('ERR_NVC_SYSTEM', 'not loaded', { errno: 'ENOENT', syscall: 'delete_module' });
      if (m.refcount > 0) throw new NvcError('ERR_NVC_SYSTEM', 'in use', { errno: 'EWOULDBLOCK', syscall: 'delete_module' });
      const rest = loaded.filter((x) => x.name !== name);
      for (const other of rest) {
        if (other.usedBy.includes(name)) {
          other.usedBy = other.usedBy.filter((u) => u !== name);
          other.refcount -= 1;
        }
      }
      await writeLoaded(rest);
    },
    async mknod(p, mode, major, minor) {
      calls.push({ call: 'mknod', path: p, mode, major, minor });
      if (nodes === 'real') throw new Error('use the native layer for real nodes');
    },
    async symlink(target, p) {
      calls.push({ call: 'symlink', target, path: p });
    },
    async chown(p, uid, gid) {
      calls.push({ call: 'chown', path: p, uid, gid });
    },
    async chmod(p, mode) {
      calls.push({ call: 'chmod', path: p, mode });
    },
  };
}

module.exports = { fakeSyscalls };
