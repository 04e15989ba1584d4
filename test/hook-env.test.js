'use strict';
// Legacy hook environment interpretation: study §5.2 and every vector of §10.7.

const assert = require('node:assert/strict');
const {
  interpretContainerEnv,
  isPrivileged,
  parseOciState,
  parseOciConfig,
  OciStateSchema,
  OciConfigSchema,
  DRIVER_CAPABILITIES,
} = require('../dist/hook-env.js');
const { NvcError } = require('../dist/errors.js');

const interpret = (env, privileged = false, config) => interpretContainerEnv({ env, privileged }, config);

/** The configure argv fragment the hook would build from a result (§10.7 notation). */
function argv(r) {
  if (r === null) return null;
  const out = [];
  if (r.devices !== null) out.push(`--device=${r.devices}`);
  if (r.migConfig !== null) out.push(`--mig-config=${r.migConfig}`);
  if (r.migMonitor !== null) out.push(`--mig-monitor=${r.migMonitor}`);
  if (r.imexChannels !== null) out.push(`--imex-channel=${r.imexChannels}`);
  const caps = [...r.capabilities, ...(r.compat32 ? ['compat32'] : [])].sort();
  for (const c of caps) out.push(`--${c}`);
  for (const q of r.requirements) out.push(`--require=${q}`);
  return out.join(' ');
}

function invalidArg(fn, variable, pattern) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof NvcError);
    assert.equal(err.code, 'ERR_NVC_INVALID_ARGUMENT');
    assert.equal(err.field, variable);
    assert.ok(err.message.includes(variable), err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

const ALL_CAPS = '--compat32 --compute --display --graphics --ngx --utility --video';

describe('hook-env: §10.7 vectors (default config)', () => {
  it('(no env) → hook no-op', () => {
    assert.equal(interpret([]), null);
    assert.equal(interpret(['PATH=/usr/bin', 'HOME=/root']), null);
  });

  it('NVIDIA_VISIBLE_DEVICES=all → --device=all --compute --utility', () => {
    assert.equal(argv(interpret(['NVIDIA_VISIBLE_DEVICES=all'])), '--device=all --compute --utility');
    const r = interpret(['NVIDIA_VISIBLE_DEVICES=all']);
    assert.deepEqual(r, {
      devices: 'all',
      capabilities: ['compute', 'utility'],
      compat32: false,
      requirements: [],
      migConfig: null,
      migMonitor: null,
      imexChannels: null,
    });
  });

  it('NVIDIA_VISIBLE_DEVICES=none → no --device, capability flags present', () => {
    assert.equal(argv(interpret(['NVIDIA_VISIBLE_DEVICES=none'])), '--compute --utility');
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=none']).devices, null);
  });

  it('NVIDIA_VISIBLE_DEVICES=void or empty → no-op', () => {
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=void']), null);
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=']), null);
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES= , ,']), null);
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=0,void']), null);
  });

  it('CUDA_VERSION=11.2.1 only → --device=all + all 7 caps + --require=cuda>=11.2', () => {
    assert.equal(argv(interpret(['CUDA_VERSION=11.2.1'])), `--device=all ${ALL_CAPS} --require=cuda>=11.2`);
  });

  it('NVIDIA_DRIVER_CAPABILITIES=all → all seven flags', () => {
    const r = interpret(['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=all']);
    assert.equal(argv(r), `--device=all ${ALL_CAPS}`);
    assert.deepEqual(r.capabilities, ['compute', 'display', 'graphics', 'ngx', 'utility', 'video']);
    assert.equal(r.compat32, true);
  });

  it('NVIDIA_DRIVER_CAPABILITIES=compute,foo → fails naming the word', () => {
    invalidArg(
      () => interpret(['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=compute,foo']),
      'NVIDIA_DRIVER_CAPABILITIES',
      /unsupported capabilities found: "foo" \(allowed: all, compat32, compute, display, graphics, ngx, utility, video\)/,
    );
  });

  it('NVIDIA_REQUIRE_CUDA=cuda>=12.0 with NVIDIA_DISABLE_REQUIRE=true → no --require', () => {
    const r = interpret(['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_REQUIRE_CUDA=cuda>=12.0', 'NVIDIA_DISABLE_REQUIRE=true']);
    assert.deepEqual(r.requirements, []);
    assert.equal(argv(r), '--device=all --compute --utility');
  });

  it('NVIDIA_MIG_CONFIG_DEVICES=all in an unprivileged container → fails', () => {
    invalidArg(
      () => interpret(['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_MIG_CONFIG_DEVICES=all'], false),
      'NVIDIA_MIG_CONFIG_DEVICES',
      /non-privileged/,
    );
  });

  it('NVIDIA_IMEX_CHANNELS=all → no --imex-channel', () => {
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_IMEX_CHANNELS=all']).imexChannels, null);
    assert.equal(interpret(['CUDA_VERSION=12.4.1']).imexChannels, null, 'legacy images do not request all channels');
  });
});

describe('hook-env: NVIDIA_VISIBLE_DEVICES (§5.2)', () => {
  it('trims items and drops empty ones; duplicates removed', () => {
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES= 0, ,GPU-abc,0 ,MIG-1']).devices, '0,GPU-abc,MIG-1');
  });

  it('all or none anywhere in the list decides (first one wins)', () => {
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=0,all']).devices, 'all');
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=none,all']).devices, null);
  });

  it('legacy image: unset → all, but set-and-empty stays a no-op', () => {
    assert.equal(interpret(['CUDA_VERSION=12.4.1']).devices, 'all');
    assert.equal(interpret(['CUDA_VERSION=12.4.1', 'NVIDIA_VISIBLE_DEVICES=']), null);
    assert.equal(interpret(['CUDA_VERSION=12.4.1', 'NVIDIA_VISIBLE_DEVICES=1']).devices, '1');
  });

  it('an image with NVIDIA_REQUIRE_CUDA is not legacy', () => {
    assert.equal(interpret(['CUDA_VERSION=12.4.1', 'NVIDIA_REQUIRE_CUDA=cuda>=12.4']), null);
    const r = interpret(['CUDA_VERSION=12.4.1', 'NVIDIA_REQUIRE_CUDA=cuda>=12.4', 'NVIDIA_VISIBLE_DEVICES=all']);
    assert.equal(argv(r), '--device=all --compute --utility --require=cuda>=12.4');
  });

  it('empty CUDA_VERSION does not make an image legacy', () => {
    assert.equal(interpret(['CUDA_VERSION=']), null);
  });

  it('later env entries win; entries without "=" are ignored', () => {
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_VISIBLE_DEVICES=void']), null);
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES', 'NVIDIA_VISIBLE_DEVICES=1']).devices, '1');
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=a=b']).devices, 'a=b');
  });

  it('unprivileged containers are honoured by default, not when configured off', () => {
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=all'], false).devices, 'all');
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=all'], false, { acceptEnvvarUnprivileged: false }), null);
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=all'], true, { acceptEnvvarUnprivileged: false }).devices, 'all');
  });
});

describe('hook-env: NVIDIA_DRIVER_CAPABILITIES (§5.2)', () => {
  const devs = 'NVIDIA_VISIBLE_DEVICES=all';

  it('set but empty → default compute,utility', () => {
    assert.deepEqual(interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=']).capabilities, ['compute', 'utility']);
  });

  it('sorted, deduplicated, trimmed', () => {
    const r = interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=video, graphics,compat32,video']);
    assert.deepEqual(r.capabilities, ['graphics', 'video']);
    assert.equal(r.compat32, true);
  });

  it('legacy image: unset → all supported; set → as given', () => {
    assert.deepEqual(interpret(['CUDA_VERSION=11.0']).capabilities, DRIVER_CAPABILITIES.filter((c) => c !== 'compat32'));
    assert.deepEqual(interpret(['CUDA_VERSION=11.0', 'NVIDIA_DRIVER_CAPABILITIES=utility']).capabilities, ['utility']);
    assert.deepEqual(
      interpret(['CUDA_VERSION=11.0'], false, { supportedCapabilities: 'compute,utility' }).capabilities,
      ['compute', 'utility'],
    );
  });

  it('capability names are case-sensitive', () => {
    invalidArg(() => interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=Compute']), 'NVIDIA_DRIVER_CAPABILITIES', /"Compute"/);
  });

  it('supported-driver-capabilities narrows defaults and "all"; asking for more fails', () => {
    const config = { supportedCapabilities: ['utility', 'graphics'] };
    assert.deepEqual(interpret([devs], false, config).capabilities, ['utility']);
    assert.deepEqual(interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=all'], false, config).capabilities, ['graphics', 'utility']);
    invalidArg(
      () => interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=compute'], false, config),
      'NVIDIA_DRIVER_CAPABILITIES',
      /"compute" are not enabled on this host \(supported: graphics, utility\)/,
    );
  });

  it('configurable defaults; bad config values are rejected', () => {
    assert.deepEqual(interpret([devs], false, { defaultCapabilities: 'utility' }).capabilities, ['utility']);
    assert.throws(() => interpret([devs], false, { supportedCapabilities: 'compute,bogus' }), {
      code: 'ERR_NVC_INVALID_ARGUMENT',
      field: 'supported-driver-capabilities',
    });
  });
});

describe('hook-env: requirements (§5.2)', () => {
  const devs = 'NVIDIA_VISIBLE_DEVICES=all';

  it('every NVIDIA_REQUIRE_* but NVIDIA_REQUIRE_JETPACK, sorted by variable name', () => {
    const r = interpret([
      devs,
      'NVIDIA_REQUIRE_ZED=driver>=500',
      'NVIDIA_REQUIRE_CUDA=cuda>=12.1 brand=tesla,driver>=470,driver<471',
      'NVIDIA_REQUIRE_JETPACK=csv-mounts=all',
      'NVIDIA_REQUIRE_ARCH=arch>=7.0',
      'NVIDIA_REQUIRE_EMPTY=',
    ]);
    assert.deepEqual(r.requirements, ['arch>=7.0', 'cuda>=12.1 brand=tesla,driver>=470,driver<471', 'driver>=500']);
  });

  it('legacy images get cuda>=<major.minor> after their own requirements', () => {
    assert.deepEqual(interpret(['CUDA_VERSION=10.0.130', 'NVIDIA_REQUIRE_DRIVER=driver>=410']).requirements, [
      'driver>=410',
      'cuda>=10.0',
    ]);
    assert.deepEqual(interpret(['CUDA_VERSION=v12']).requirements, ['cuda>=12.0']);
    assert.deepEqual(interpret(['CUDA_VERSION=12.4']).requirements, ['cuda>=12.4']);
    assert.deepEqual(interpret(['CUDA_VERSION=12.4.1-rc1']).requirements, ['cuda>=12.4']);
  });

  it('a malformed CUDA_VERSION on a legacy image is an error naming it', () => {
    invalidArg(() => interpret(['CUDA_VERSION=12.4.1.2']), 'CUDA_VERSION');
    invalidArg(() => interpret(['CUDA_VERSION=twelve']), 'CUDA_VERSION');
  });

  it('NVIDIA_DISABLE_REQUIRE takes Go ParseBool truth values', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) {
      assert.deepEqual(interpret([devs, 'NVIDIA_REQUIRE_CUDA=cuda>=12', `NVIDIA_DISABLE_REQUIRE=${t}`]).requirements, [], t);
    }
    for (const f of ['0', 'false', 'yes', 'on', 'tRUE', '']) {
      assert.deepEqual(interpret([devs, 'NVIDIA_REQUIRE_CUDA=cuda>=12', `NVIDIA_DISABLE_REQUIRE=${f}`]).requirements, ['cuda>=12'], f);
    }
    assert.deepEqual(interpret(['CUDA_VERSION=11.2.1', 'NVIDIA_DISABLE_REQUIRE=1']).requirements, []);
  });

  it('config disable-require has the same effect', () => {
    assert.deepEqual(interpret([devs, 'NVIDIA_REQUIRE_CUDA=cuda>=12'], false, { disableRequire: true }).requirements, []);
  });
});

describe('hook-env: MIG and IMEX (§5.2)', () => {
  const devs = 'NVIDIA_VISIBLE_DEVICES=all';

  it('MIG config/monitor pass verbatim in privileged containers', () => {
    const r = interpret([devs, 'NVIDIA_MIG_CONFIG_DEVICES=all', 'NVIDIA_MIG_MONITOR_DEVICES=0,1'], true);
    assert.equal(r.migConfig, 'all');
    assert.equal(r.migMonitor, '0,1');
    assert.equal(argv(r), '--device=all --mig-config=all --mig-monitor=0,1 --compute --utility');
  });

  it('empty MIG variables are ignored, even unprivileged', () => {
    const r = interpret([devs, 'NVIDIA_MIG_CONFIG_DEVICES=', 'NVIDIA_MIG_MONITOR_DEVICES='], false);
    assert.equal(r.migConfig, null);
    assert.equal(r.migMonitor, null);
  });

  it('MIG monitor in an unprivileged container fails naming the variable', () => {
    invalidArg(() => interpret([devs, 'NVIDIA_MIG_MONITOR_DEVICES=all'], false), 'NVIDIA_MIG_MONITOR_DEVICES');
  });

  it('MIG variables do not matter for a non-GPU container', () => {
    assert.equal(interpret(['NVIDIA_MIG_CONFIG_DEVICES=all'], false), null);
  });

  it('IMEX channels: comma list trimmed; void/none/empty → none', () => {
    assert.equal(interpret([devs, 'NVIDIA_IMEX_CHANNELS= 0, 3,,0']).imexChannels, '0,3');
    assert.equal(argv(interpret([devs, 'NVIDIA_IMEX_CHANNELS=0,3'])), '--device=all --imex-channel=0,3 --compute --utility');
    for (const v of ['', 'void', 'none', '0,all']) {
      assert.equal(interpret([devs, `NVIDIA_IMEX_CHANNELS=${v}`]).imexChannels, null, v);
    }
  });
});

describe('hook-env: OCI state and config.json', () => {
  const state = { ociVersion: '1.2.0', id: 'c1', status: 'created', pid: 4242, bundle: '/run/c1', annotations: { a: 'b' } };

  it('parses the OCI state', () => {
    assert.deepEqual(parseOciState(JSON.stringify(state)), state);
    assert.deepEqual(parseOciState(Buffer.from(JSON.stringify({ ...state, extra: 1 }))).extra, 1);
    assert.equal(OciStateSchema.safeParse({ ...state, pid: 0 }).success, false);
    assert.throws(() => parseOciState('{'), { code: 'ERR_NVC_INVALID_ARGUMENT' });
    assert.throws(() => parseOciState(JSON.stringify({ ...state, bundle: undefined })), (e) =>
      e.code === 'ERR_NVC_INVALID_ARGUMENT' && /bundle/.test(e.message),
    );
  });

  const config = {
    ociVersion: '1.0.2',
    root: { path: 'rootfs' },
    process: {
      env: ['PATH=/bin', 'NVIDIA_VISIBLE_DEVICES=all'],
      capabilities: { bounding: ['CAP_CHOWN', 'CAP_SYS_ADMIN'], effective: ['CAP_CHOWN'] },
      args: ['sh'],
    },
    hooks: { prestart: [{ path: '/usr/bin/nvidia-container-runtime-hook', args: ['hook', 'prestart'] }] },
    linux: { namespaces: [{ type: 'pid' }] },
  };

  it('parses the parts of config.json we read and keeps the rest', () => {
    const c = parseOciConfig(JSON.stringify(config));
    assert.deepEqual(c, config);
    assert.ok(OciConfigSchema.safeParse({}).success);
    assert.throws(() => parseOciConfig(JSON.stringify({ process: { env: 'x' } })), (e) => /process\.env/.test(e.message));
    assert.throws(() => parseOciConfig(JSON.stringify({ hooks: { prestart: [{}] } })), { code: 'ERR_NVC_INVALID_ARGUMENT' });
  });

  it('isPrivileged looks for CAP_SYS_ADMIN in the bounding set', () => {
    assert.equal(isPrivileged(config), true);
    assert.equal(isPrivileged({ process: { capabilities: { bounding: ['CAP_CHOWN'], effective: ['CAP_SYS_ADMIN'] } } }), false);
    assert.equal(isPrivileged({ process: { capabilities: ['CAP_SYS_ADMIN'] } }), true, 'pre-rc5 list form');
    assert.equal(isPrivileged({ process: {} }), false);
    assert.equal(isPrivileged({}), false);
    assert.equal(isPrivileged(undefined), false);
  });

  it('end to end: config.json → request', () => {
    const c = parseOciConfig(JSON.stringify(config));
    const r = interpretContainerEnv({ env: c.process.env, privileged: isPrivileged(c) });
    assert.equal(argv(r), '--device=all --compute --utility');
  });
});
