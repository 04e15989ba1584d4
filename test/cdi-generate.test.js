'use strict';
// `cdi generate` / ctx.cdiSpec: specs valid against the CDI schema for every naming strategy,
// profile and capability set, with and without MIG; cdiVersion per feature; YAML = JSON.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const Ajv = require('ajv');
const YAML = require('yaml');
const { init } = require('../dist/index.js');
const { createSimulatedHost, defaultSimulatedHostSpec } = require('../dist/testing/index.js');
const { minimumVersion, settleVersion } = require('../dist/cdi/version.js');
const { lowestCeiling, parseEngineVersion } = require('../dist/cdi/engines.js');
const { hostArgs, cli, tmpdir } = require('./support/cdi');
const { requireFeature, isRoot } = require('./support/features');

const SCHEMA_DIR = path.join(__dirname, 'fixtures/cdi-schema');

function validator() {
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addSchema(JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, 'defs.json'), 'utf8')), 'defs.json');
  return ajv.compile(JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, 'schema.json'), 'utf8')));
}

const noEngines = { probeEngines: async () => [], onWarning: () => undefined };

for (const mig of [true, false]) {
  describe(`cdi generate (simulated host, ${mig ? 'with' : 'without'} MIG)`, function () {
    let host;
    let ctx;
    const validate = validator();
    before(async function () {
      const spec = defaultSimulatedHostSpec();
      if (!mig) for (const g of spec.gpus) if (g.mig === 'enabled') Object.assign(g, { mig: 'disabled', migDevices: [] });
      host = await createSimulatedHost(spec);
      requireFeature(this, 'mknod', host.deviceNodesCreated, "a spec lists the host's device nodes, which the simulated host makes with mknod");
      ctx = await init(host.options);
    });
    after(async () => {
      if (ctx) await ctx.shutdown();
      if (host) await host.cleanup();
    });

    const cases = [];
    for (const strategy of ['index', 'uuid', 'type-index']) {
      for (const profile of ['default', 'gvisor']) {
        for (const caps of [undefined, ['utility'], ['compute', 'utility'], ['graphics', 'display']]) cases.push({ strategy, profile, caps });
      }
    }
    for (const { strategy, profile, caps } of cases) {
      it(`is schema-valid: strategy ${strategy}, profile ${profile}, capabilities ${caps ? caps.join(',') : 'all'}`, async function () {
        const spec = await ctx.cdiSpec({ deviceNameStrategies: [strategy], profile, ...(caps && { capabilities: caps }) }, noEngines);
        assert.ok(validate(spec), JSON.stringify(validate.errors));
        const names = spec.devices.map((d) => d.name);
        const devices = await ctx.deviceInfo();
        for (const gpu of devices) {
          const name = strategy === 'uuid' ? gpu.uuid : strategy === 'index' ? String(gpu.index) : `gpu${gpu.index}`;
          const d = spec.devices.find((x) => x.name === name);
          assert.ok(d, `device ${name} in ${names}`);
          assert.deepEqual(
            d.containerEdits.deviceNodes.filter((n) => /^\/dev\/nvidia\d+$/.test(n.path)).map((n) => [n.path, n.major, n.minor]),
            [[`/dev/nvidia${gpu.minor}`, 195, gpu.minor]],
          );
          for (const m of gpu.mig.devices) {
            const mname = strategy === 'uuid' ? m.uuid : strategy === 'index' ? `${gpu.index}:${m.index}` : `mig${gpu.index}:${m.index}`;
            const md = spec.devices.find((x) => x.name === mname);
            assert.ok(md, `MIG device ${mname}`);
            const caps = md.containerEdits.deviceNodes.filter((n) => n.path.startsWith('/dev/nvidia-caps/'));
            assert.equal(caps.length, profile === 'gvisor' ? 0 : 2, 'gi and ci access nodes (none under gVisor)');
          }
        }
        assert.equal(
          mig,
          names.some((n) => n.includes(':') || n.startsWith('MIG-')),
          'MIG devices exactly where MIG is on',
        );
        assert.ok(names.includes('all'));
        const common = spec.containerEdits;
        const allNodes = [...(common.deviceNodes ?? []), ...spec.devices.flatMap((d) => d.containerEdits.deviceNodes ?? [])].map((n) => n.path);
        if (profile === 'gvisor') {
          for (const p of allNodes) assert.match(p, /^\/dev\/(nvidiactl|nvidia-uvm|nvidia\d+)$/);
          assert.ok(
            !common.mounts.some(
              (m) => m.containerPath.startsWith('/proc') || /nvidia-persistenced\/socket|nvidia-fabricmanager\/socket|\/tmp\/nvidia-mps/.test(m.containerPath),
            ),
            'no IPC, nothing under /proc',
          );
          assert.ok(!common.hooks.some((h) => h.args.includes('disable-device-node-modification')));
        } else {
          for (const m of common.mounts.filter((x) => /socket$/.test(x.containerPath))) assert.deepEqual(m.options, ['nosuid', 'nodev', 'noexec', 'bind']);
        }
        const libs = common.mounts.filter((m) => m.containerPath.includes('/lib/x86_64-linux-gnu/')).map((m) => path.basename(m.containerPath));
        const wantsCompute = !caps || caps.includes('compute');
        assert.equal(libs.includes('libcuda.so.1'), wantsCompute, `libcuda.so.1 (at its SONAME path) iff compute: ${libs}`);
        assert.equal(libs.includes('libnvidia-ml.so.1'), !caps || caps.includes('utility'));
        assert.equal(libs.includes('libGLX_nvidia.so.0'), !caps || caps.includes('graphics'));
        for (const m of common.mounts) assert.ok(m.hostPath.startsWith(host.root), `host path under the driver root: ${m.hostPath}`);
        assert.equal(spec.cdiVersion, minimumVersion(spec));
      });
    }
  });
}

describe('cdi generate: compat32', function () {
  let host;
  let ctx;
  before(async () => {
    host = await createSimulatedHost();
    ctx = await init(host.options);
  });
  after(async () => {
    if (ctx) await ctx.shutdown();
    if (host) await host.cleanup();
  });
  it('adds the 32-bit libraries (at their SONAME paths) and their directory to update-ldcache only when asked', async function () {
    const i386 = (spec) => spec.containerEdits.mounts.filter((m) => m.containerPath.includes('/i386-linux-gnu/')).map((m) => path.basename(m.containerPath));
    const without = await ctx.cdiSpec({ capabilities: ['compute'] }, noEngines);
    assert.deepEqual(i386(without), []);
    const withIt = await ctx.cdiSpec({ capabilities: ['compute'], compat32: true }, noEngines);
    assert.ok(i386(withIt).includes('libcuda.so.1'), i386(withIt).join(' '));
    const ld = withIt.containerEdits.hooks.find((h) => h.args[1] === 'update-ldcache');
    assert.ok(ld.args.includes('/usr/lib/i386-linux-gnu'), ld.args.join(' '));
  });
});

describe('cdi generate: cdiVersion', function () {
  const base = () => ({
    cdiVersion: '0.3.0',
    kind: 'nvidia.com/gpu',
    devices: [{ name: 'gpu0', containerEdits: { deviceNodes: [{ path: '/dev/nvidia0' }] } }],
  });
  const cases = [
    ['nothing beyond the first version', (s) => s, '0.3.0'],
    ['mounts[].type', (s) => ((s.containerEdits = { mounts: [{ hostPath: '/a', containerPath: '/a', type: 'bind' }] }), s), '0.4.0'],
    ['deviceNodes[].hostPath', (s) => ((s.devices[0].containerEdits.deviceNodes[0].hostPath = '/x/dev/nvidia0'), s), '0.5.0'],
    ['a device name starting with a digit', (s) => ((s.devices[0].name = '0'), s), '0.5.0'],
    ['annotations', (s) => ((s.annotations = { a: 'b' }), s), '0.6.0'],
    ['device annotations', (s) => ((s.devices[0].annotations = { a: 'b' }), s), '0.6.0'],
    ['a dotted class', (s) => ((s.kind = 'nvidia.com/gpu.coherent'), s), '0.6.0'],
    ['additionalGids', (s) => ((s.devices[0].containerEdits.additionalGids = [44]), s), '0.7.0'],
    ['intelRdt', (s) => ((s.containerEdits = { intelRdt: { closID: 'x' } }), s), '0.7.0'],
    ['netDevices', (s) => ((s.containerEdits = { netDevices: [{ hostInterfaceName: 'eth0', name: 'eth1' }] }), s), '1.1.0'],
  ];
  for (const [what, edit, version] of cases) {
    it(`${what} needs ${version}`, function () {
      assert.equal(minimumVersion(edit(base())), version);
    });
  }
  it('auto leaves out additionalGids (warning) for podman 4.3, and keeps them for podman 5.1', function () {
    const s = base();
    s.devices[0].containerEdits.additionalGids = [44];
    const old = settleVersion(structuredClone(s), 'auto', lowestCeiling([{ engine: 'podman', version: '4.3.1' }]));
    assert.equal(old.version, '0.3.0');
    assert.match(old.warnings.join('\n'), /additionalGids.*podman 4\.3\.1 reads CDI specs up to 0\.5\.0/);
    const s2 = structuredClone(s);
    const recent = settleVersion(
      s2,
      'auto',
      lowestCeiling([
        { engine: 'podman', version: '5.1.0' },
        { engine: 'containerd', version: '1.7.16' },
      ]),
    );
    assert.equal(recent.version, '0.7.0');
    assert.deepEqual(s2.devices[0].containerEdits.additionalGids, [44]);
  });
  it('an explicit version below what the content needs is refused, a higher one is kept', function () {
    const s = base();
    s.devices[0].name = '0';
    assert.throws(() => settleVersion(structuredClone(s), '0.4.0', null), /cdiVersion 0\.4\.0 cannot carry this spec: it uses device name 0/);
    assert.equal(settleVersion(structuredClone(s), '0.6.0', null).version, '0.6.0');
  });
  it('reads engine versions', function () {
    assert.equal(parseEngineVersion('podman', 'podman version 4.3.1\n'), '4.3.1');
    assert.equal(parseEngineVersion('containerd', 'containerd containerd.io 1.7.16 83031836b2cf55637d7abf847b17134c51b38e53\n'), '1.7.16');
    assert.equal(parseEngineVersion('crio', 'crio version 1.30.2\nVersion:  1.30.2\n'), '1.30.2');
    assert.equal(parseEngineVersion('docker', 'Docker version 26.1.0, build 9714adc\n'), '26.1.0');
  });
});

describe('cdi generate: device nodes that are not world-rw', function () {
  let host;
  let ctx;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'real device nodes need root');
    host = await createSimulatedHost();
    ctx = await init(host.options);
    const node = path.join(host.devRoot, 'nvidia0');
    fs.chmodSync(node, 0o660);
    fs.chownSync(node, 0, 44);
  });
  after(async () => {
    if (ctx) await ctx.shutdown();
    if (host) await host.cleanup();
  });
  it("get the node's group in additionalGids (0.7.0), left out with a warning where podman 4.3 is installed", async function () {
    const spec = await ctx.cdiSpec({}, noEngines);
    const dev0 = spec.devices.find((d) => d.name === '0');
    assert.deepEqual(dev0.containerEdits.additionalGids, [44]);
    assert.equal(spec.cdiVersion, '0.7.0');
    assert.ok(validator()(spec));
    const warnings = [];
    const old = await ctx.cdiSpec({}, { probeEngines: async () => [{ engine: 'podman', version: '4.3.1' }], onWarning: (w) => warnings.push(w) });
    assert.equal(old.cdiVersion, '0.5.0');
    assert.ok(old.devices.every((d) => d.containerEdits.additionalGids === undefined));
    assert.match(warnings.join('\n'), /left out additionalGids .*podman 4\.3\.1 reads CDI specs up to 0\.5\.0/);
  });
});

describe('cdi generate (CLI)', function () {
  let host;
  let dir;
  before(async () => {
    host = await createSimulatedHost();
    dir = tmpdir('nvc-cdi-gen-');
  });
  after(async () => {
    if (host) await host.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  it('writes the same spec as YAML and as JSON, mode 0644, with the installed podman taken into account', function () {
    const y = path.join(dir, 'nvidia.yaml');
    const j = path.join(dir, 'nvidia.json');
    for (const [file, extra] of [
      [y, []],
      [j, ['--format', 'json']],
    ]) {
      const r = cli([...hostArgs(host), 'cdi', 'generate', '--output', file, '--hook-path', '/opt/hook', ...extra]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(fs.statSync(file).mode & 0o777, 0o644);
    }
    const fromYaml = YAML.parse(fs.readFileSync(y, 'utf8'));
    const fromJson = JSON.parse(fs.readFileSync(j, 'utf8'));
    assert.deepEqual(fromYaml, fromJson);
    assert.ok(validator()(fromJson));
    assert.ok(fromJson.containerEdits.hooks.every((h) => h.path === '/opt/hook'));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['nvidia.json', 'nvidia.yaml'], 'no temporary file left');
  });
  it('refuses an unknown option value with a usage error', function () {
    const r = cli([...hostArgs(host), 'cdi', 'generate', '--profile', 'kata']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--profile: use default or gvisor/);
  });
});

describe('cdi lowering: items of roles it does not know', function () {
  const { lowerToCdi } = require('../dist/cdi/lower.js');
  it('a node with a device goes to that device (and all), a common file to the common mounts, read-only', function () {
    const gpu = { index: 0, minor: 0, uuid: 'GPU-x', mig: { devices: [] } };
    const device = { kind: 'gpu', uuid: 'GPU-x', index: 0 };
    const items = [
      { role: 'gpu-device', step: 'device', path: '/dev/nvidia0', hostPath: '/dev/nvidia0', device, node: { major: 195, minor: 0, exists: true } },
      {
        role: 'drm-render',
        step: 'device',
        path: '/dev/dri/renderD128',
        hostPath: '/h/dev/dri/renderD128',
        device,
        node: { major: 226, minor: 128, exists: true },
      },
      {
        role: 'graphics-config',
        step: 'driver',
        path: '/usr/share/vulkan/icd.d/nvidia_icd.json',
        hostPath: '/h/usr/share/vulkan/icd.d/nvidia_icd.json',
        device: null,
      },
    ];
    const out = lowerToCdi({ items, gpus: [gpu], capabilities: ['graphics'], compat32: false }, [gpu], {
      kind: 'nvidia.com/gpu',
      strategies: ['index'],
      profile: 'default',
      hookPath: '/h',
      procRoot: '/proc',
      nodeAccess: () => null,
    });
    const dev0 = out.devices.find((d) => d.name === '0');
    assert.deepEqual(
      dev0.containerEdits.deviceNodes.map((n) => n.path),
      ['/dev/nvidia0', '/dev/dri/renderD128'],
    );
    assert.equal(dev0.containerEdits.deviceNodes[1].hostPath, '/h/dev/dri/renderD128');
    assert.deepEqual(out.devices.find((d) => d.name === 'all').containerEdits.deviceNodes.length, 2);
    assert.deepEqual(out.containerEdits.mounts, [
      {
        hostPath: '/h/usr/share/vulkan/icd.d/nvidia_icd.json',
        containerPath: '/usr/share/vulkan/icd.d/nvidia_icd.json',
        type: 'bind',
        options: ['ro', 'nosuid', 'nodev', 'bind'],
      },
    ]);
    const gv = lowerToCdi({ items, gpus: [gpu], capabilities: ['graphics'], compat32: false }, [gpu], {
      kind: 'nvidia.com/gpu',
      strategies: ['index'],
      profile: 'gvisor',
      hookPath: '/h',
      procRoot: '/proc',
      nodeAccess: () => null,
    });
    assert.deepEqual(
      gv.devices.find((d) => d.name === '0').containerEdits.deviceNodes.map((n) => n.path),
      ['/dev/nvidia0'],
      'no DRM node under gVisor',
    );
  });
});

describe('cdi generate: each GPU carries its own DRM nodes', function () {
  let host;
  let ctx;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mknod of the DRM nodes needs CAP_MKNOD');
    const spec = defaultSimulatedHostSpec();
    // Card numbers that do not follow the GPU order, as on hosts with another display adapter.
    spec.gpus[0].drm = { card: 3, render: 130 };
    spec.gpus[1].drm = { card: 1, render: 128 };
    spec.gpus[2].drm = { card: 2, render: 129 };
    host = await createSimulatedHost({ ...spec, nvidiaDrm: true });
    ctx = await init(host.options);
  });
  after(async () => {
    if (ctx) await ctx.shutdown();
    if (host) await host.cleanup();
  });

  it('graphics: /dev/dri/cardN and renderDN of GPU i in device i only, with DRM numbers', async () => {
    const spec = await ctx.cdiSpec({ capabilities: ['graphics', 'utility'] }, noEngines);
    const drmOf = (name) =>
      (spec.devices.find((d) => d.name === name).containerEdits.deviceNodes ?? [])
        .filter((n) => n.path.startsWith('/dev/dri/'))
        .map((n) => `${n.path} ${n.type} ${n.major}:${n.minor}`);
    assert.deepEqual(drmOf('0'), ['/dev/dri/card3 c 226:3', '/dev/dri/renderD130 c 226:130']);
    assert.deepEqual(drmOf('1'), ['/dev/dri/card1 c 226:1', '/dev/dri/renderD128 c 226:128']);
    assert.deepEqual(drmOf('2'), ['/dev/dri/card2 c 226:2', '/dev/dri/renderD129 c 226:129']);
    assert.deepEqual(
      (spec.containerEdits.deviceNodes ?? []).filter((n) => n.path.startsWith('/dev/dri/')),
      [],
      'no DRM node is common',
    );
    assert.equal(drmOf('all').length, 6);
  });
});
