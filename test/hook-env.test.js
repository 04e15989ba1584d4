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
    invalidArg(() => interpret(['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_MIG_CONFIG_DEVICES=all'], false), 'NVIDIA_MIG_CONFIG_DEVICES', /non-privileged/);
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
    assert.deepEqual(
      interpret(['CUDA_VERSION=11.0']).capabilities,
      DRIVER_CAPABILITIES.filter((c) => c !== 'compat32'),
    );
    assert.deepEqual(interpret(['CUDA_VERSION=11.0', 'NVIDIA_DRIVER_CAPABILITIES=utility']).capabilities, ['utility']);
    assert.deepEqual(interpret(['CUDA_VERSION=11.0'], false, { supportedCapabilities: 'compute,utility' }).capabilities, ['compute', 'utility']);
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
    assert.deepEqual(interpret(['CUDA_VERSION=10.0.130', 'NVIDIA_REQUIRE_DRIVER=driver>=410']).requirements, ['driver>=410', 'cuda>=10.0']);
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
    assert.throws(
      () => parseOciState(JSON.stringify({ ...state, bundle: undefined })),
      (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && /bundle/.test(e.message),
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
    assert.throws(
      () => parseOciConfig(JSON.stringify({ process: { env: 'x' } })),
      (e) => /process\.env/.test(e.message),
    );
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

/** The whole NvcError, as JSON, for exact comparison. */
function errorOf(fn) {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof NvcError, `expected NvcError, got ${err}`);
    return err.toJSON();
  }
  assert.fail('expected an error');
}

describe('hook-env: constants', () => {
  it('the capability lists', () => {
    const { DEFAULT_DRIVER_CAPABILITIES } = require('../dist/hook-env.js');
    assert.deepEqual(DRIVER_CAPABILITIES, ['compat32', 'compute', 'display', 'graphics', 'ngx', 'utility', 'video']);
    assert.deepEqual(DEFAULT_DRIVER_CAPABILITIES, ['compute', 'utility']);
  });
});

describe('hook-env: exact errors', () => {
  const devs = 'NVIDIA_VISIBLE_DEVICES=all';
  const ALLOWED = '(allowed: all, compat32, compute, display, graphics, ngx, utility, video)';

  it('input that is not {env: string[]}', () => {
    const expected = {
      name: 'NvcError',
      code: 'ERR_NVC_INVALID_ARGUMENT',
      message: 'input.env must be an array of "NAME=value" strings',
      field: 'env',
    };
    assert.deepEqual(
      errorOf(() => interpretContainerEnv(null)),
      expected,
    );
    assert.deepEqual(
      errorOf(() => interpretContainerEnv({ env: 'NVIDIA_VISIBLE_DEVICES=all' })),
      expected,
    );
    assert.deepEqual(
      errorOf(() => interpretContainerEnv({})),
      expected,
    );
  });

  it('unknown capabilities: all of them listed, with the allowed words and the hint', () => {
    assert.deepEqual(
      errorOf(() => interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=foo,compute,bar'])),
      {
        name: 'NvcError',
        code: 'ERR_NVC_INVALID_ARGUMENT',
        message: `NVIDIA_DRIVER_CAPABILITIES=foo,compute,bar: unsupported capabilities found: "foo", "bar" ${ALLOWED}`,
        field: 'NVIDIA_DRIVER_CAPABILITIES',
        hint: 'fix NVIDIA_DRIVER_CAPABILITIES in the image or container environment',
      },
    );
  });

  it('unknown words are reported before unsupported ones', () => {
    const e = errorOf(() => interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=video,foo'], false, { supportedCapabilities: 'utility' }));
    assert.equal(e.message, `NVIDIA_DRIVER_CAPABILITIES=video,foo: unsupported capabilities found: "foo" ${ALLOWED}`);
  });

  it('capabilities not enabled on the host: listed, with the supported set (sorted) and the hint', () => {
    assert.deepEqual(
      errorOf(() => interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=video,compute,utility'], false, { supportedCapabilities: 'utility,graphics' })),
      {
        name: 'NvcError',
        code: 'ERR_NVC_INVALID_ARGUMENT',
        message:
          'NVIDIA_DRIVER_CAPABILITIES=video,compute,utility: unsupported capabilities found: "video", "compute" ' +
          'are not enabled on this host (supported: graphics, utility)',
        field: 'NVIDIA_DRIVER_CAPABILITIES',
        hint: 'remove them from the container environment, or add them to supported-driver-capabilities in the host configuration',
      },
    );
  });

  it('with nothing supported the message says none', () => {
    const e = errorOf(() => interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=compute'], false, { supportedCapabilities: '' }));
    assert.equal(e.message, 'NVIDIA_DRIVER_CAPABILITIES=compute: unsupported capabilities found: "compute" are not enabled on this host (supported: none)');
  });

  it('bad configuration words name the option', () => {
    assert.deepEqual(
      errorOf(() => interpret([devs], false, { supportedCapabilities: 'compute,bogus' })),
      {
        name: 'NvcError',
        code: 'ERR_NVC_INVALID_ARGUMENT',
        message: `config supported-driver-capabilities: unknown driver capability "bogus" ${ALLOWED}`,
        field: 'supported-driver-capabilities',
      },
    );
    assert.deepEqual(
      errorOf(() => interpret([devs], false, { defaultCapabilities: ['utility', 'Compute'] })),
      {
        name: 'NvcError',
        code: 'ERR_NVC_INVALID_ARGUMENT',
        message: `config default-driver-capabilities: unknown driver capability "Compute" ${ALLOWED}`,
        field: 'default-driver-capabilities',
      },
    );
  });

  it('MIG variables in unprivileged containers: message with the value, and the hint', () => {
    for (const v of ['NVIDIA_MIG_CONFIG_DEVICES', 'NVIDIA_MIG_MONITOR_DEVICES']) {
      assert.deepEqual(
        errorOf(() => interpret([devs, `${v}=0,1`], false)),
        {
          name: 'NvcError',
          code: 'ERR_NVC_INVALID_ARGUMENT',
          message: `cannot set ${v} in a non-privileged container (${v}=0,1)`,
          field: v,
          hint: 'run the container privileged (with CAP_SYS_ADMIN) or unset the variable',
        },
      );
    }
  });

  it('privileged means exactly true', () => {
    assert.throws(() => interpretContainerEnv({ env: [devs, 'NVIDIA_MIG_CONFIG_DEVICES=all'], privileged: 1 }), { field: 'NVIDIA_MIG_CONFIG_DEVICES' });
    assert.equal(interpretContainerEnv({ env: [devs, 'NVIDIA_MIG_CONFIG_DEVICES=all'], privileged: true }).migConfig, 'all');
    assert.equal(interpretContainerEnv({ env: [devs] }, { acceptEnvvarUnprivileged: false }), null);
  });

  it('malformed CUDA_VERSION: message and hint', () => {
    assert.deepEqual(
      errorOf(() => interpret(['CUDA_VERSION=twelve'])),
      {
        name: 'NvcError',
        code: 'ERR_NVC_INVALID_ARGUMENT',
        message:
          'CUDA_VERSION=twelve: not a version (expected major.minor.patch, e.g. 11.2.1); ' +
          'it is needed to derive the implicit cuda>= requirement of images without NVIDIA_REQUIRE_CUDA',
        field: 'CUDA_VERSION',
        hint: 'set NVIDIA_REQUIRE_CUDA or NVIDIA_DISABLE_REQUIRE=true, or fix CUDA_VERSION',
      },
    );
  });
});

describe('hook-env: CUDA_VERSION forms (semantic versions)', () => {
  const req = (v) => interpret([`CUDA_VERSION=${v}`]).requirements;
  const ok = {
    0: 'cuda>=0.0',
    '0.0.0': 'cuda>=0.0',
    '10.20.30': 'cuda>=10.20',
    '1.10.0': 'cuda>=1.10',
    'v1.2.3': 'cuda>=1.2',
    '12.4.1+build.5': 'cuda>=12.4',
    '12.4.1-rc.1+b-2': 'cuda>=12.4',
    '12.4.1-RC.1-x': 'cuda>=12.4',
    '12.4.1-0A.z': 'cuda>=12.4',
    4294967295: 'cuda>=4294967295.0',
    1.4294967295: 'cuda>=1.4294967295',
    99: 'cuda>=99.0',
  };
  for (const [v, r] of Object.entries(ok)) {
    it(`${v} → ${r}`, () => assert.deepEqual(req(v), [r]));
  }
  const bad = [
    '012',
    '12.04',
    '12.4.01',
    'V12',
    'vv12',
    'v',
    '12.',
    '.12',
    '12.4-rc1',
    '12.4.1-',
    '12.4.1+',
    '12.4.1-rc_1',
    '12.4.1+b_1',
    '4294967296',
    '1.4294967296',
    ' 12.4',
    '12.4 ',
    'x12',
    '12x',
    '-12',
    '1a.2',
    '12.4.1-rc!',
  ];
  for (const v of bad) {
    it(`${JSON.stringify(v)} is rejected`, () => {
      const e = errorOf(() => interpret([`CUDA_VERSION=${v}`]));
      assert.equal(e.field, 'CUDA_VERSION');
      assert.ok(e.message.startsWith(`CUDA_VERSION=${v}: not a version`), e.message);
    });
  }

  it('CUDA_VERSION is checked even when requirements are disabled, but not on non-legacy images', () => {
    assert.throws(() => interpret(['CUDA_VERSION=bad', 'NVIDIA_DISABLE_REQUIRE=true']), { field: 'CUDA_VERSION' });
    assert.throws(() => interpret(['CUDA_VERSION=bad'], false, { disableRequire: true }), { field: 'CUDA_VERSION' });
    assert.deepEqual(interpret(['CUDA_VERSION=bad', 'NVIDIA_REQUIRE_CUDA=cuda>=12', 'NVIDIA_VISIBLE_DEVICES=0']).requirements, ['cuda>=12']);
  });
});

describe('hook-env: environment details', () => {
  const devs = 'NVIDIA_VISIBLE_DEVICES=all';

  it('non-string entries and entries starting with = are ignored', () => {
    assert.equal(interpretContainerEnv({ env: [42, null, devs, { a: 1 }], privileged: false }).devices, 'all');
    assert.equal(interpret(['=NVIDIA_VISIBLE_DEVICES=all']), null);
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICESX']), null, 'an entry without = names no variable');
    assert.deepEqual(interpret([devs, '=x', 'NVIDIA_REQUIRE_A=cuda>=1']).requirements, ['cuda>=1']);
  });

  it('NVIDIA_REQUIRE_CUDA set but empty still makes CUDA_VERSION images legacy', () => {
    const r = interpret(['CUDA_VERSION=11.8.0', 'NVIDIA_REQUIRE_CUDA=']);
    assert.equal(r.devices, 'all');
    assert.deepEqual(r.requirements, ['cuda>=11.8']);
    assert.equal(r.compat32, true);
  });

  it('whitespace-only requirements are dropped; values are passed as written', () => {
    assert.deepEqual(interpret([devs, 'NVIDIA_REQUIRE_A=  ', 'NVIDIA_REQUIRE_B= cuda>=12 ']).requirements, [' cuda>=12 ']);
  });

  it('NVIDIA_REQUIRE_JETPACK and anything after it is skipped; other prefixes are not requirements', () => {
    const r = interpret([
      devs,
      'NVIDIA_REQUIRE_JETPACK_HOST_MOUNTS=x',
      'NVIDIA_REQUIRE_JETPACK=csv',
      'NVIDIA_REQUIRE_JET=driver>=1',
      'XNVIDIA_REQUIRE_CUDA=cuda>=99',
      'NVIDIA_REQUIRE=cuda>=98',
      'NVIDIA_REQUIRE_=cuda>=97',
    ]);
    assert.deepEqual(r.requirements, ['cuda>=97', 'driver>=1']);
  });

  it('disable-require in the config means exactly true', () => {
    assert.deepEqual(interpret([devs, 'NVIDIA_REQUIRE_CUDA=cuda>=12'], false, { disableRequire: 'yes' }).requirements, ['cuda>=12']);
    assert.deepEqual(interpret([devs, 'NVIDIA_REQUIRE_CUDA=cuda>=12'], false, { disableRequire: false }).requirements, ['cuda>=12']);
  });

  it('capability configuration: arrays, strings, "all", defaults narrowed by what is supported', () => {
    assert.deepEqual(interpret([devs], false, { defaultCapabilities: 'all' }).capabilities, ['compute', 'display', 'graphics', 'ngx', 'utility', 'video']);
    assert.equal(interpret([devs], false, { defaultCapabilities: 'all' }).compat32, true);
    assert.deepEqual(interpret([devs], false, { defaultCapabilities: ['video', 'compat32'], supportedCapabilities: ['video'] }).capabilities, ['video']);
    assert.equal(interpret([devs], false, { defaultCapabilities: ['video', 'compat32'], supportedCapabilities: ['video'] }).compat32, false);
    assert.deepEqual(interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=all'], false, { supportedCapabilities: ['all'] }).capabilities, [
      'compute',
      'display',
      'graphics',
      'ngx',
      'utility',
      'video',
    ]);
    assert.deepEqual(interpret([devs], false, { supportedCapabilities: ' utility , compute ' }).capabilities, ['compute', 'utility']);
    assert.deepEqual(interpret([devs], false, { defaultCapabilities: '' }).capabilities, []);
  });

  it('a legacy image without NVIDIA_DRIVER_CAPABILITIES gets exactly the supported set', () => {
    const r = interpret(['CUDA_VERSION=12.0'], false, { supportedCapabilities: ['compat32', 'video'] });
    assert.deepEqual(r.capabilities, ['video']);
    assert.equal(r.compat32, true);
    const blank = interpret(['CUDA_VERSION=12.0', 'NVIDIA_DRIVER_CAPABILITIES= , '], false, { supportedCapabilities: ['compat32', 'video', 'utility'] });
    assert.deepEqual(blank.capabilities, ['utility'], 'set but blank: the defaults (narrowed), even on a legacy image');
  });

  it('all together with explicit words; compat32 only through the flag', () => {
    const r = interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=utility,all'], false, { supportedCapabilities: 'utility,compat32' });
    assert.deepEqual(r.capabilities, ['utility']);
    assert.equal(r.compat32, true);
    const only = interpret([devs, 'NVIDIA_DRIVER_CAPABILITIES=compat32']);
    assert.deepEqual(only.capabilities, []);
    assert.equal(only.compat32, true);
  });

  it('none as devices keeps the rest of the request', () => {
    const r = interpret(['NVIDIA_VISIBLE_DEVICES=none', 'NVIDIA_IMEX_CHANNELS=1', 'NVIDIA_REQUIRE_CUDA=cuda>=12', 'NVIDIA_MIG_CONFIG_DEVICES=all'], true);
    assert.deepEqual(r, {
      devices: null,
      capabilities: ['compute', 'utility'],
      compat32: false,
      requirements: ['cuda>=12'],
      migConfig: 'all',
      migMonitor: null,
      imexChannels: '1',
    });
  });

  it('void anywhere in the list, even after all, makes a no-op; none before all wins', () => {
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=all,void']), null);
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=0,none,all']).devices, null);
    assert.equal(interpret(['NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b,GPU-a']).devices, 'GPU-a,GPU-b');
  });

  it('IMEX channels: void or none anywhere means none', () => {
    assert.equal(interpret([devs, 'NVIDIA_IMEX_CHANNELS=1,void']).imexChannels, null);
    assert.equal(interpret([devs, 'NVIDIA_IMEX_CHANNELS=1,none']).imexChannels, null);
    assert.equal(interpret([devs, 'NVIDIA_IMEX_CHANNELS=2, 1']).imexChannels, '2,1');
  });
});

describe('hook-env: OCI schemas reject what the hook cannot use', () => {
  const state = { ociVersion: '1.2.0', id: 'c1', status: 'created', pid: 4242, bundle: '/run/c1' };

  it('OCI state: each required field, its type and its bounds', () => {
    const rejects = (s) => assert.equal(OciStateSchema.safeParse(s).success, false, JSON.stringify(s));
    assert.equal(OciStateSchema.safeParse(state).success, true);
    for (const key of Object.keys(state)) {
      const { [key]: _, ...rest } = state;
      rejects(rest);
    }
    rejects({ ...state, ociVersion: 1 });
    rejects({ ...state, id: '' });
    rejects({ ...state, status: 2 });
    rejects({ ...state, pid: 1.5 });
    rejects({ ...state, pid: -1 });
    rejects({ ...state, bundle: '' });
    rejects({ ...state, annotations: { a: 1 } });
    rejects({ ...state, annotations: 'x' });
  });

  it("parse errors name the state, the paths and zod's reasons", () => {
    assert.deepEqual(
      errorOf(() => parseOciState('[]')),
      {
        name: 'NvcError',
        code: 'ERR_NVC_INVALID_ARGUMENT',
        message: 'OCI state is malformed: (root): Invalid input: expected object, received array',
        field: 'OCI state',
      },
    );
    assert.deepEqual(
      errorOf(() => parseOciState(JSON.stringify({ ...state, id: '', pid: 'x' }))),
      {
        name: 'NvcError',
        code: 'ERR_NVC_INVALID_ARGUMENT',
        message: 'OCI state is malformed: id: Too small: expected string to have >=1 characters; pid: Invalid input: expected number, received string',
        field: 'OCI state',
      },
    );
    const e = errorOf(() => parseOciState(Buffer.from('{"a":')));
    assert.equal(e.field, 'OCI state');
    assert.match(e.message, /^OCI state is not valid JSON: \S/);
    assert.equal(errorOf(() => parseOciConfig('nope')).field, 'config.json');
    assert.match(errorOf(() => parseOciConfig('nope')).message, /^config\.json is not valid JSON: /);
    assert.deepEqual(
      errorOf(() => parseOciConfig(JSON.stringify({ root: { path: '' } }))),
      {
        name: 'NvcError',
        code: 'ERR_NVC_INVALID_ARGUMENT',
        message: 'config.json is malformed: root.path: Too small: expected string to have >=1 characters',
        field: 'config.json',
      },
    );
  });

  it("the errors keep zod's error, or the JSON error, as cause", () => {
    try {
      parseOciState('{');
    } catch (err) {
      assert.ok(err.cause instanceof SyntaxError);
    }
    try {
      parseOciState('[]');
    } catch (err) {
      assert.ok(Array.isArray(err.cause.issues));
    }
  });

  it('config.json: types of the parts the hook reads', () => {
    const ok = (c) => assert.equal(OciConfigSchema.safeParse(c).success, true, JSON.stringify(c));
    const rejects = (c) => assert.equal(OciConfigSchema.safeParse(c).success, false, JSON.stringify(c));
    ok({ ociVersion: '1.0.0', root: { path: 'rootfs', readonly: true }, process: { env: [], capabilities: [] } });
    rejects({ ociVersion: 1 });
    rejects({ root: {} });
    rejects({ root: { path: '' } });
    rejects({ root: { path: 'r', readonly: 'yes' } });
    rejects({ process: { env: [1] } });
    rejects({ process: { capabilities: 'CAP_SYS_ADMIN' } });
    rejects({ process: { capabilities: [1] } });
    for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient']) {
      ok({ process: { capabilities: { [set]: ['CAP_CHOWN'] } } });
      rejects({ process: { capabilities: { [set]: 'CAP_CHOWN' } } });
    }
    for (const hook of ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']) {
      ok({ hooks: { [hook]: [{ path: '/bin/true', args: ['true'], env: ['A=1'], timeout: 5 }] } });
      rejects({ hooks: { [hook]: [{ path: '' }] } });
      rejects({ hooks: { [hook]: {} } });
    }
  });

  it('hooks: path required and non-empty; args, env string arrays; timeout an integer; extra fields kept', () => {
    const { OciHookSchema } = require('../dist/hook-env.js');
    assert.equal(OciHookSchema.safeParse({ path: '/x' }).success, true);
    assert.equal(OciHookSchema.safeParse({}).success, false);
    assert.equal(OciHookSchema.safeParse({ path: '' }).success, false);
    assert.equal(OciHookSchema.safeParse({ path: '/x', args: 'a' }).success, false);
    assert.equal(OciHookSchema.safeParse({ path: '/x', args: [1] }).success, false);
    assert.equal(OciHookSchema.safeParse({ path: '/x', env: 'A=1' }).success, false);
    assert.equal(OciHookSchema.safeParse({ path: '/x', env: [1] }).success, false);
    assert.equal(OciHookSchema.safeParse({ path: '/x', timeout: 1.5 }).success, false);
    assert.equal(OciHookSchema.safeParse({ path: '/x', timeout: '1' }).success, false);
    assert.deepEqual(OciHookSchema.parse({ path: '/x', extra: 1 }), { path: '/x', extra: 1 });
  });

  it('isPrivileged needs an array bounding set (or the old list form) with CAP_SYS_ADMIN', () => {
    assert.equal(isPrivileged({ process: { capabilities: null } }), false);
    assert.equal(isPrivileged({ process: { capabilities: { bounding: 'CAP_SYS_ADMIN' } } }), false);
    assert.equal(isPrivileged({ process: { capabilities: { bounding: ['CAP_SYS_ADMIN_X'] } } }), false);
    assert.equal(isPrivileged({ process: { capabilities: {} } }), false);
    assert.equal(isPrivileged({ process: { capabilities: ['CAP_CHOWN'] } }), false);
    assert.equal(isPrivileged({ process: null }), false);
    assert.equal(isPrivileged(null), false);
  });
});
