'use strict';
// The kernel-module planner on fixture hosts: test-built .ko files (plain, .xz, .zst) with crafted
// .modinfo sections, fake /proc/modules, /sys/module, kernel trees with and without depmod's
// indexes, kernel configs and symbol tables.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { NvcError } = require('../dist/index.js');
const kmod = require('../dist/kmod/index.js');
const t = require('../dist/testing/index.js');

const FULL_CONFIG = { CONFIG_MODULES: 'y', CONFIG_DRM: 'm', CONFIG_DRM_KMS_HELPER: 'm' };
const NO_DRM_CONFIG = { CONFIG_MODULES: 'y', CONFIG_DRM: 'not set' };

function before(list, a, b) {
  assert.ok(list.includes(a), `${a} is in ${list.join(', ')}`);
  assert.ok(list.includes(b), `${b} is in ${list.join(', ')}`);
  assert.ok(list.indexOf(a) < list.indexOf(b), `${a} comes before ${b} in ${list.join(', ')}`);
}

function hostOptions(h, extra = {}) {
  return { root: h.root, procRoot: h.procRoot, sysRoot: h.sysRoot, devRoot: h.devRoot, ...extra };
}

describe('kmod: reading a module file (.modinfo, symbols, signature)', function () {
  let dir;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-modinfo-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const compression of ['none', 'xz', 'zstd']) {
    it(`reads name, depends, vermagic, parameters, symbols and the signature of a ${compression === 'none' ? 'plain' : compression} module`, async () => {
      const drm = t.nvidiaModules({ compression, signed: true }).find((m) => m.file === 'nvidia-drm');
      const file = await t.writeKernelModule(dir, drm);
      assert.match(file, compression === 'xz' ? /nvidia-drm\.ko\.xz$/ : compression === 'zstd' ? /nvidia-drm\.ko\.zst$/ : /nvidia-drm\.ko$/);
      if (compression !== 'none') assert.notEqual(fs.readFileSync(file).subarray(0, 4).toString('hex'), '7f454c46', 'stored compressed');
      const info = await kmod.readModuleInfo(file);
      assert.equal(info.name, 'nvidia_drm');
      assert.equal(info.compression, compression);
      assert.deepEqual(info.depends, ['drm', 'drm_kms_helper', 'nvidia_modeset']);
      assert.equal(info.vermagic.split(' ')[0], '6.18.44');
      assert.deepEqual(
        info.params.map((p) => p.name),
        ['modeset', 'fbdev'],
      );
      assert.equal(info.signed, true);
      assert.deepEqual(info.undefinedSymbols, [
        '_printk',
        'nvKmsKapiGetFunctionsTable',
        'drm_dev_alloc',
        'drm_dev_register',
        'drm_atomic_helper_check',
        'drm_kms_helper_poll_init',
      ]);
    });
  }

  it('an unsigned module has no signature; exported symbols come from __ksymtab_strings; weak undefined symbols are not needed', async () => {
    const file = await t.writeKernelModule(dir, { ...t.nvidiaModules()[0], weakSymbols: ['optional_hook'] });
    const info = await kmod.readModuleInfo(file);
    assert.deepEqual(info.undefinedSymbols, ['_printk', 'pci_register_driver', 'kfree']);
    assert.equal(info.signed, false);
    assert.deepEqual(info.depends, []);
    assert.ok(info.exportedSymbols.includes('nvUvmInterfaceRegisterGpu'));
  });

  it('a file that is not a module is an error naming it', async () => {
    const file = path.join(dir, 'junk.ko');
    fs.writeFileSync(file, 'not an ELF file at all, but long enough to have a header................');
    await assert.rejects(kmod.readModuleInfo(file), (e) => e instanceof NvcError && e.code === 'ERR_NVC_KERNEL_MODULE' && e.message.includes(file));
  });

  it('a damaged .xz file is an error naming it', async () => {
    const file = await t.writeKernelModule(dir, { file: 'broken', compression: 'xz' });
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 20));
    await assert.rejects(
      kmod.readModuleInfo(file),
      (e) => e.code === 'ERR_NVC_KERNEL_MODULE' && /cannot decompress/.test(e.message) && e.message.includes(file),
    );
  });
});

describe('kmod: planning the load order', function () {
  this.timeout(60000);
  const hosts = [];
  async function host(spec) {
    const h = await t.createKmodHost(spec);
    hosts.push(h);
    return h;
  }
  after(async () => Promise.all(hosts.map((h) => h.cleanup())));

  it('clean kernel: every module in dependency order, drm and drm_kms_helper before nvidia-drm, nvidia-modeset before nvidia-drm', async () => {
    const h = await host({ config: FULL_CONFIG, driverModules: t.nvidiaModules(), kernelTree: { modules: t.drmModules() }, kallsyms: t.BASE_KERNEL_SYMBOLS });
    const plan = await kmod.planKernelModules(hostOptions(h));
    assert.equal(plan.ok, true, JSON.stringify(plan.problems));
    assert.deepEqual(plan.load, ['nvidia', 'nvidia_uvm', 'nvidia_modeset', 'drm', 'drm_kms_helper', 'nvidia_drm']);
    before(plan.load, 'drm', 'nvidia_drm');
    before(plan.load, 'drm_kms_helper', 'nvidia_drm');
    before(plan.load, 'nvidia_modeset', 'nvidia_drm');
    before(plan.load, 'nvidia', 'nvidia_uvm');
    assert.deepEqual(plan.alreadyLoaded, []);
    const drm = plan.modules.find((m) => m.name === 'drm');
    assert.equal(drm.from, 'kernel');
    assert.equal(drm.path, path.join(h.kernelDir, 'kernel/drivers/gpu/drm/drm.ko'));
    assert.equal(plan.modules.find((m) => m.name === 'nvidia_drm').path, path.join(h.driverDir, 'nvidia-drm.ko'));
  });

  it('names given with dashes are module names with underscores; only what they need is planned', async () => {
    const h = await host({ config: FULL_CONFIG, driverModules: t.nvidiaModules(), kernelTree: { modules: t.drmModules() } });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-uvm'] }));
    assert.deepEqual(plan.targets, ['nvidia_uvm']);
    assert.deepEqual(plan.load, ['nvidia', 'nvidia_uvm']);
  });

  it('some loaded: what /proc/modules lists is skipped and reported', async () => {
    const h = await host({
      config: FULL_CONFIG,
      loaded: [{ name: 'nvidia_uvm' }, { name: 'drm' }, { name: 'nvidia', refcount: 1, usedBy: ['nvidia_uvm'] }],
      driverModules: t.nvidiaModules(),
      kernelTree: { modules: t.drmModules() },
    });
    const plan = await kmod.planKernelModules(hostOptions(h));
    assert.equal(plan.ok, true, JSON.stringify(plan.problems));
    assert.deepEqual(plan.load, ['nvidia_modeset', 'drm_kms_helper', 'nvidia_drm']);
    assert.deepEqual([...plan.alreadyLoaded].sort(), ['drm', 'nvidia', 'nvidia_uvm']);
  });

  it('a dependency built in (modules.builtin, modules.builtin.modinfo) is not loaded', async () => {
    const h = await host({
      config: { ...FULL_CONFIG, CONFIG_DRM: 'y', CONFIG_DRM_KMS_HELPER: 'y' },
      driverModules: t.nvidiaModules(),
      kernelTree: {
        modules: [],
        builtin: ['kernel/drivers/gpu/drm/drm.ko'],
        builtinModinfo: ['drm_kms_helper.file=drivers/gpu/drm/drm_kms_helper', 'drm_kms_helper.license=GPL'],
      },
    });
    const plan = await kmod.planKernelModules(hostOptions(h));
    assert.equal(plan.ok, true, JSON.stringify(plan.problems));
    assert.deepEqual(plan.load, ['nvidia', 'nvidia_uvm', 'nvidia_modeset', 'nvidia_drm']);
    assert.deepEqual([...plan.builtin].sort(), ['drm', 'drm_kms_helper']);
  });

  it('a dependency built in with parameters (/sys/module/X without a /proc/modules line) is not loaded', async () => {
    const h = await host({ driverModules: t.nvidiaModules(), sysBuiltin: ['drm', 'drm_kms_helper'] });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'] }));
    assert.equal(plan.ok, true, JSON.stringify(plan.problems));
    assert.deepEqual(plan.load, ['nvidia', 'nvidia_modeset', 'nvidia_drm']);
    assert.deepEqual([...plan.builtin].sort(), ['drm', 'drm_kms_helper']);
  });

  it('a dependency missing: refused, naming it, who needs it and the config option (/proc/config.gz)', async () => {
    const h = await host({ config: NO_DRM_CONFIG, driverModules: t.nvidiaModules(), kernelTree: { modules: [] } });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'] }));
    assert.equal(plan.ok, false);
    assert.deepEqual(plan.missing, ['drm', 'drm_kms_helper']);
    const drm = plan.problems.find((p) => p.kind === 'missing' && p.module === 'drm');
    assert.deepEqual(drm.neededBy, ['nvidia_drm']);
    assert.equal(drm.configOption, 'CONFIG_DRM');
    assert.equal(drm.configValue, 'not set');
    assert.match(drm.message, /drm \(needed by nvidia_drm\) is not available in this kernel/);
    assert.match(drm.message, /must be provided by the kernel, built in or as a module/);
    assert.match(drm.message, new RegExp(`CONFIG_DRM is not set in ${h.procRoot}/config\\.gz`));
    const helper = plan.problems.find((p) => p.kind === 'missing' && p.module === 'drm_kms_helper');
    assert.equal(helper.configOption, 'CONFIG_DRM_KMS_HELPER');
    assert.deepEqual(helper.neededBy, ['nvidia_drm']);
    // The order is still given for what could be loaded.
    before(plan.load, 'nvidia_modeset', 'nvidia_drm');
    assert.throws(
      () => kmod.assertPlanOk(plan),
      (e) =>
        e instanceof NvcError &&
        e.code === 'ERR_NVC_KERNEL_MODULE' &&
        /drm \(needed by nvidia_drm\)/.test(e.message) &&
        /drm_kms_helper \(needed by nvidia_drm\)/.test(e.message),
    );
  });

  it("a dependency missing: the option is read from the kernel's config file when /proc/config.gz is absent", async () => {
    const h = await host({ config: NO_DRM_CONFIG, configAt: 'boot', driverModules: t.nvidiaModules() });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'] }));
    const drm = plan.problems.find((p) => p.module === 'drm');
    assert.match(drm.message, new RegExp(`CONFIG_DRM is not set in ${h.root}/boot/config-6\\.18\\.44`));
    const other = path.join(h.base, 'my-config');
    fs.writeFileSync(other, 'CONFIG_DRM=m\n');
    const named = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'], kernelConfig: other }));
    assert.match(
      named.problems.find((p) => p.module === 'drm').message,
      /CONFIG_DRM=m in .*my-config, but drm\.ko is missing; install the kernel's modules package/,
    );
  });

  it('a dependency missing without any kernel config: still refused, naming the option', async () => {
    const h = await host({ driverModules: t.nvidiaModules() });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'] }));
    const drm = plan.problems.find((p) => p.module === 'drm');
    assert.match(drm.message, /kernel option CONFIG_DRM; the kernel's configuration could not be read/);
  });

  it('vermagic mismatch: refused, naming the module, the release it was built for and the running one', async () => {
    const h = await host({ release: '6.18.44', driverModules: t.nvidiaModules({ release: '6.1.0-13-amd64' }) });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-uvm'] }));
    assert.equal(plan.ok, false);
    assert.deepEqual(
      plan.problems.map((p) => [p.kind, p.module]),
      [
        ['vermagic', 'nvidia'],
        ['vermagic', 'nvidia_uvm'],
      ],
    );
    assert.match(plan.problems[0].message, /built for kernel 6\.1\.0-13-amd64 .* but the running kernel is 6\.18\.44/);
  });

  it('without modules.dep, dependencies come from depends= of each module (kernel tree scanned)', async () => {
    const h = await host({ config: FULL_CONFIG, driverModules: t.nvidiaModules(), kernelTree: { modules: t.drmModules(), dep: false } });
    assert.equal(fs.existsSync(path.join(h.kernelDir, 'modules.dep')), false);
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'] }));
    assert.equal(plan.ok, true, JSON.stringify(plan.problems));
    // depends= of nvidia-drm lists drm, drm_kms_helper, nvidia-modeset: depth first in that order.
    assert.deepEqual(plan.load, ['drm', 'drm_kms_helper', 'nvidia', 'nvidia_modeset', 'nvidia_drm']);
  });

  it('compressed modules (.ko.xz driver, .ko.zst kernel tree) plan like plain ones', async () => {
    const h = await host({
      config: FULL_CONFIG,
      driverModules: t.nvidiaModules({ compression: 'xz' }),
      kernelTree: { modules: t.drmModules({ compression: 'zstd' }) },
    });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'] }));
    assert.equal(plan.ok, true, JSON.stringify(plan.problems));
    assert.deepEqual(plan.load, ['drm', 'drm_kms_helper', 'nvidia', 'nvidia_modeset', 'nvidia_drm']);
    assert.deepEqual(
      plan.modules.map((m) => m.compression),
      ['zstd', 'zstd', 'xz', 'xz', 'xz'],
    );
  });

  it('the modules directory is found in the kernel tree (extra/) when the driver root has none', async () => {
    const h = await host({ config: FULL_CONFIG, driverModules: t.nvidiaModules(), driverDir: 'lib/modules/6.18.44/extra' });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-uvm'] }));
    assert.deepEqual(plan.load, ['nvidia', 'nvidia_uvm']);
    assert.deepEqual(plan.searched.driver, [path.join(h.root, 'lib/modules/6.18.44/extra')]);
    const nowhere = path.join(h.base, 'nowhere');
    const explicit = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-uvm'], modulesDir: nowhere, kernelModulesDir: nowhere }));
    assert.deepEqual(explicit.missing, ['nvidia_uvm']);
    assert.match(
      explicit.problems[0].message,
      /nvidia_uvm \(requested\) is not loaded and none of the driver's module files was found for it \(looked in .*nowhere.*\): install the driver's kernel modules, or name their directory with --modules-dir/,
    );
  });

  it('symbols the kernel lacks are named with their likely provider and config option', async () => {
    // drm is built in, but this kernel was built without the KMS helpers.
    const h = await host({
      config: { CONFIG_DRM: 'y', CONFIG_DRM_KMS_HELPER: 'not set' },
      sysBuiltin: ['drm', 'drm_kms_helper'],
      kallsyms: [...t.BASE_KERNEL_SYMBOLS, 'drm_dev_alloc', 'drm_dev_register'],
      driverModules: t.nvidiaModules(),
    });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'] }));
    assert.equal(plan.ok, false);
    const p = plan.problems.find((x) => x.kind === 'symbols');
    assert.equal(p.module, 'nvidia_drm');
    assert.deepEqual(p.symbols, [
      { symbol: 'drm_atomic_helper_check', provider: 'drm_kms_helper', configOption: 'CONFIG_DRM_KMS_HELPER' },
      { symbol: 'drm_kms_helper_poll_init', provider: 'drm_kms_helper', configOption: 'CONFIG_DRM_KMS_HELPER' },
    ]);
    assert.match(
      p.message,
      /nvidia_drm needs 2 symbols the running kernel does not have: drm_atomic_helper_check, drm_kms_helper_poll_init from drm_kms_helper \(CONFIG_DRM_KMS_HELPER\)/,
    );
  });

  it("a missing symbol's provider comes from the kernel tree's modules.symbols when it has one", async () => {
    const ib = { dir: 'kernel/drivers/infiniband/core', file: 'ib_core', depends: [], exportedSymbols: ['ib_register_peer_memory_client'] };
    const peermem = { ...t.nvidiaModules().find((m) => m.file === 'nvidia-peermem'), depends: ['nvidia'] };
    const h = await host({
      loaded: [{ name: 'nvidia' }],
      kallsyms: t.BASE_KERNEL_SYMBOLS,
      driverModules: [peermem],
      kernelTree: { modules: [ib], symbols: true },
    });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-peermem'] }));
    const p = plan.problems.find((x) => x.kind === 'symbols');
    assert.deepEqual(p.symbols, [{ symbol: 'ib_register_peer_memory_client', provider: 'ib_core', configOption: 'CONFIG_INFINIBAND' }]);
  });

  it("without modules.symbols, a missing symbol's provider is found in the kernel tree's modules' exports", async () => {
    const ib = { dir: 'kernel/drivers/infiniband/core', file: 'ib_core', depends: [], exportedSymbols: ['ib_register_peer_memory_client'] };
    const other = { dir: 'kernel/drivers/net', file: 'peer_helper', depends: [], exportedSymbols: ['peer_helper_fn'] };
    const peermem = {
      ...t.nvidiaModules().find((m) => m.file === 'nvidia-peermem'),
      depends: ['nvidia'],
      undefinedSymbols: ['_printk', 'peer_helper_fn', 'ib_register_peer_memory_client'],
    };
    const h = await host({
      loaded: [{ name: 'nvidia' }],
      kallsyms: t.BASE_KERNEL_SYMBOLS,
      driverModules: [peermem],
      kernelTree: { modules: [ib, other], symbols: false },
    });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-peermem'] }));
    assert.deepEqual(plan.problems.find((x) => x.kind === 'symbols').symbols, [
      { symbol: 'peer_helper_fn', provider: 'peer_helper' },
      { symbol: 'ib_register_peer_memory_client', provider: 'ib_core', configOption: 'CONFIG_INFINIBAND' },
    ]);
  });

  it('symbols exported by a module earlier in the plan, or by a loaded module (kallsyms), are satisfied', async () => {
    const h = await host({
      loaded: [{ name: 'nvidia' }],
      kallsyms: [...t.BASE_KERNEL_SYMBOLS, { symbol: 'nvidia_get_rm_ops', module: 'nvidia' }],
      driverModules: t.nvidiaModules(),
      sysBuiltin: ['drm', 'drm_kms_helper'],
    });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'] }));
    const p = plan.problems.find((x) => x.kind === 'symbols');
    // nvKmsKapiGetFunctionsTable comes from nvidia_modeset (in the plan): only DRM's are missing.
    assert.deepEqual(
      p.symbols.map((s) => s.symbol),
      ['drm_dev_alloc', 'drm_dev_register', 'drm_atomic_helper_check', 'drm_kms_helper_poll_init'],
    );
  });

  it('without data symbols in kallsyms (no CONFIG_KALLSYMS_ALL) only symbols with a known provider are reported', async () => {
    const uvm = { ...t.nvidiaModules().find((m) => m.file === 'nvidia-uvm'), undefinedSymbols: ['_printk', 'system_wq', 'drm_dev_alloc'] };
    const spec = { loaded: [{ name: 'nvidia' }], driverModules: [uvm] };
    const partial = await host({ ...spec, kallsyms: t.BASE_KERNEL_SYMBOLS });
    const p1 = (await kmod.planKernelModules(hostOptions(partial, { modules: ['nvidia-uvm'] }))).problems.find((x) => x.kind === 'symbols');
    // system_wq is a variable: a functions-only symbol table cannot tell whether the kernel has it.
    assert.deepEqual(
      p1.symbols.map((s) => s.symbol),
      ['drm_dev_alloc'],
    );
    const complete = await host({ ...spec, kallsyms: [...t.BASE_KERNEL_SYMBOLS, 'jiffies'] });
    const plan2 = await kmod.planKernelModules(hostOptions(complete, { modules: ['nvidia-uvm'] }));
    // With data symbols listed, one without a known provider is a warning (loading will tell), not a refusal.
    assert.deepEqual(plan2.problems.find((x) => x.kind === 'symbols').symbols, [{ symbol: 'drm_dev_alloc', provider: 'drm', configOption: 'CONFIG_DRM' }]);
    assert.equal(plan2.warnings.length, 1);
    assert.match(plan2.warnings[0], /nvidia_uvm needs symbol not in .*kallsyms: system_wq \(if the kernel lacks it, the load will fail\)/);
    const onlyUnknown = await host({ loaded: [{ name: 'nvidia' }], driverModules: [{ ...uvm, undefinedSymbols: ['system_wq'] }], kallsyms: ['jiffies'] });
    const plan3 = await kmod.planKernelModules(hostOptions(onlyUnknown, { modules: ['nvidia-uvm'] }));
    assert.equal(plan3.ok, true);
    assert.equal(plan3.warnings.length, 1);
  });

  it('no symbol check without a readable kallsyms', async () => {
    const h = await host({ driverModules: t.nvidiaModules(), sysBuiltin: ['drm', 'drm_kms_helper'] });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'] }));
    assert.equal(plan.ok, true, JSON.stringify(plan.problems));
  });

  it('softdep pre: modules are loaded first when the kernel tree has them, and skipped when it does not', async () => {
    const nvidia = { ...t.nvidiaModules()[0], softdep: 'pre: ecdh_generic,ecc' };
    const ecc = { dir: 'kernel/crypto', file: 'ecc', depends: [] };
    const h = await host({ driverModules: [nvidia], kernelTree: { modules: [ecc] } });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia'] }));
    assert.equal(plan.ok, true, JSON.stringify(plan.problems));
    assert.deepEqual(plan.load, ['ecc', 'nvidia']);
  });

  it('parameters are attached to their module', async () => {
    const h = await host({ sysBuiltin: ['drm', 'drm_kms_helper'], driverModules: t.nvidiaModules() });
    const plan = await kmod.planKernelModules(hostOptions(h, { modules: ['nvidia-drm'], params: { 'nvidia-drm': ['modeset=1', 'fbdev=1'] } }));
    assert.deepEqual(plan.modules.find((m) => m.name === 'nvidia_drm').params, ['modeset=1', 'fbdev=1']);
    assert.deepEqual(plan.modules.find((m) => m.name === 'nvidia').params, []);
  });

  it('bad options are refused naming the field', async () => {
    await assert.rejects(kmod.planKernelModules({ modules: ['bad name'] }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && /modules\.0/.test(e.message));
    await assert.rejects(kmod.planKernelModules({ procRoot: 'relative' }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && /procRoot/.test(e.message));
    await assert.rejects(kmod.planKernelModules({ params: { nvidia: ['a b'] } }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT');
  });
});
