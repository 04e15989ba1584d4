'use strict';
// injectCdiDevices / `cdi inject` on hand-written specs: the CDI reference's semantics.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { injectCdiDevices, NvcError } = require('../dist/index.js');
const { cli, tmpdir } = require('./support/cdi');

function write(dir, name, spec) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), typeof spec === 'string' ? spec : JSON.stringify(spec));
}

const gpuSpec = (name, minor, extra = {}) => ({
  cdiVersion: '0.5.0',
  kind: 'nvidia.com/gpu',
  devices: [{ name, containerEdits: { deviceNodes: [{ path: `/dev/nvidia${minor}`, type: 'c', major: 195, minor }] } }],
  containerEdits: {
    env: ['NVIDIA_VISIBLE_DEVICES=void', 'A=1'],
    deviceNodes: [{ path: '/dev/nvidiactl', type: 'c', major: 195, minor: 255 }],
    mounts: [
      { hostPath: '/h/lib/libcuda.so.1', containerPath: '/usr/lib/libcuda.so.1', type: 'bind', options: ['ro', 'bind'] },
      { hostPath: '/h/usr', containerPath: '/usr', options: ['bind'] },
    ],
    hooks: [{ hookName: 'createContainer', path: '/bin/hook', args: ['hook', 'update-ldcache'] }],
  },
  ...extra,
});

describe('cdi inject', function () {
  let dir;
  beforeEach(() => {
    dir = tmpdir('nvc-cdi-inject-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('applies common edits once and each device: nodes with allow rules, env replaced, mounts parents first, hooks by name', async function () {
    write(path.join(dir, 'etc'), 'nvidia.json', { ...gpuSpec('0', 0), devices: [...gpuSpec('0', 0).devices, ...gpuSpec('1', 1).devices] });
    const config = {
      process: { env: ['PATH=/bin', 'A=0'] },
      mounts: [{ destination: '/usr/lib/libcuda.so.1', source: '/elsewhere', type: 'bind' }],
      linux: { resources: { devices: [{ allow: false, access: 'rwm' }] } },
    };
    const out = await injectCdiDevices(config, ['nvidia.com/gpu=0', 'nvidia.com/gpu=1'], { specDirs: [path.join(dir, 'etc')] });
    assert.equal(out, config, 'edited in place');
    assert.deepEqual(config.process.env, ['PATH=/bin', 'A=1', 'NVIDIA_VISIBLE_DEVICES=void']);
    assert.deepEqual(
      config.linux.devices.map((d) => `${d.path} ${d.type} ${d.major}:${d.minor}`),
      ['/dev/nvidiactl c 195:255', '/dev/nvidia0 c 195:0', '/dev/nvidia1 c 195:1'],
    );
    assert.deepEqual(config.linux.resources.devices.slice(1), [
      { allow: true, type: 'c', major: 195, minor: 255, access: 'rwm' },
      { allow: true, type: 'c', major: 195, minor: 0, access: 'rwm' },
      { allow: true, type: 'c', major: 195, minor: 1, access: 'rwm' },
    ]);
    assert.deepEqual(
      config.mounts.map((m) => `${m.destination} ${m.source}`),
      ['/usr /h/usr', '/usr/lib/libcuda.so.1 /h/lib/libcuda.so.1'],
      'the same destination replaced, parents before children',
    );
    assert.deepEqual(config.hooks.createContainer, [{ path: '/bin/hook', args: ['hook', 'update-ldcache'] }], 'common hooks once');
  });

  it('fills in node numbers from the host where the spec leaves them out', async function () {
    write(
      dir,
      'null.yaml',
      'cdiVersion: 0.5.0\nkind: example.com/null\ndevices:\n  - name: x\n    containerEdits:\n      deviceNodes:\n        - path: /dev/xnull\n          hostPath: /dev/null\n',
    );
    const config = {};
    await injectCdiDevices(config, ['example.com/null=x'], { specDirs: [dir] });
    assert.deepEqual(config.linux.devices, [{ path: '/dev/xnull', type: 'c', major: 1, minor: 3, fileMode: 0o666 }]);
  });

  it('refuses unknown, unqualified and ambiguous names, changing nothing; a later spec dir overrides an earlier one', async function () {
    write(path.join(dir, 'a'), 'one.json', gpuSpec('0', 0));
    write(path.join(dir, 'a'), 'two.json', gpuSpec('0', 5));
    write(path.join(dir, 'b'), 'three.json', gpuSpec('0', 7));
    const config = { process: { env: [] } };
    const before = JSON.stringify(config);
    await assert.rejects(
      injectCdiDevices(config, ['nvidia.com/gpu=9'], { specDirs: [path.join(dir, 'a')] }),
      (e) => e instanceof NvcError && e.code === 'ERR_NVC_UNKNOWN_DEVICE',
    );
    await assert.rejects(injectCdiDevices(config, ['0'], { specDirs: [path.join(dir, 'a')] }), /not a fully qualified CDI device name/);
    await assert.rejects(
      injectCdiDevices(config, ['nvidia.com/gpu=0'], { specDirs: [path.join(dir, 'a')] }),
      /ambiguous CDI device, defined in .*one\.json and .*two\.json/,
    );
    assert.equal(JSON.stringify(config), before);
    await injectCdiDevices(config, ['nvidia.com/gpu=0'], { specDirs: [path.join(dir, 'a'), path.join(dir, 'b')] });
    assert.ok(
      config.linux.devices.some((d) => d.path === '/dev/nvidia7'),
      'the later directory wins',
    );
  });

  it('skips a broken spec file and says so when a name is unknown', async function () {
    write(dir, 'bad.yaml', 'cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: []\nbogus: 1\n');
    await assert.rejects(injectCdiDevices({}, ['nvidia.com/gpu=0'], { specDirs: [dir] }), /unknown CDI device .*bad\.yaml: not a CDI spec/);
  });

  it('CLI: writes to --output and leaves the input alone; usage errors exit 2', function () {
    write(dir, 'nvidia.json', gpuSpec('0', 0));
    const input = path.join(dir, 'config.json');
    fs.writeFileSync(input, '{"ociVersion":"1.0.2"}');
    const output = path.join(dir, 'out.json');
    const r = cli(['cdi', 'inject', '--device', 'nvidia.com/gpu=0', '--spec-dir', dir, '--output', output, input]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(input, 'utf8'), '{"ociVersion":"1.0.2"}');
    assert.equal(JSON.parse(fs.readFileSync(output, 'utf8')).linux.devices.length, 2);
    const u = cli(['cdi', 'inject', input]);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /needs at least one --device/);
  });
});
