'use strict';
// Device selection grammar (lib/select.ts), vectors of the study's §10.4 plus the reference's parsing corners.
const assert = require('node:assert/strict');
const { selectDevices, selectMigCapsDevices, parseMigCapsSpec, parseImexChannels } = require('../dist/select.js');
const { NvcError } = require('../dist/errors.js');

const CAPS = '/proc/driver/nvidia/capabilities';

function mig(gpuMinor, index, gi, ci, uuid) {
  return {
    index,
    uuid,
    gpuInstance: gi,
    computeInstance: ci,
    giCapsPath: `${CAPS}/gpu${gpuMinor}/mig/gi${gi}`,
    ciCapsPath: `${CAPS}/gpu${gpuMinor}/mig/gi${gi}/ci${ci}`,
    giCapMinor: 10 + index * 2,
    ciCapMinor: 11 + index * 2,
  };
}

function gpu(index, minor, busId, uuid, migs, capable = migs.length > 0) {
  return {
    index,
    minor,
    model: `NVIDIA Test GPU ${index}`,
    brand: 'Nvidia',
    uuid,
    busId,
    architecture: '9.0',
    deviceNode: { path: `/dev/nvidia${minor}`, major: 195, minor },
    mig: { capable, enabled: migs.length > 0, capsPath: `${CAPS}/gpu${minor}`, devices: migs },
  };
}

const GPU0_UUID = 'GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c';
const GPU1_UUID = 'GPU-aaaabbbb-cccc-dddd-eeee-ffff00001111';
const MIG00_UUID = 'MIG-11111111-2222-3333-4444-555555555555';
const MIG01_UUID = 'MIG-66666666-7777-8888-9999-aaaaaaaaaaaa';

function host() {
  return [
    gpu(0, 0, '00000000:01:00.0', GPU0_UUID, [mig(0, 0, 1, 0, MIG00_UUID), mig(0, 1, 2, 0, MIG01_UUID)]),
    gpu(1, 1, '00000000:3b:00.0', GPU1_UUID, [], false),
  ];
}

const uuids = (sel) => ({ gpus: sel.gpus.map((g) => g.uuid), migs: sel.migs.map((m) => m.mig.uuid), all: sel.all });

function expectError(fn, code, message) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof NvcError, `expected NvcError, got ${err}`);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  });
}

describe('selectDevices (study §10.4)', () => {
  it('0 → GPU0', () => {
    assert.deepEqual(uuids(selectDevices(host(), '0')), { gpus: [GPU0_UUID], migs: [], all: false });
  });

  it('1,0,1 → GPU1, GPU0 (duplicates ignored, order kept)', () => {
    assert.deepEqual(uuids(selectDevices(host(), '1,0,1')), { gpus: [GPU1_UUID, GPU0_UUID], migs: [], all: false });
  });

  it('lower-case full GPU UUID matches', () => {
    assert.deepEqual(uuids(selectDevices(host(), GPU1_UUID.toLowerCase())).gpus, [GPU1_UUID]);
  });

  it('a GPU UUID prefix does not match', () => {
    expectError(() => selectDevices(host(), 'GPU-4cf8'), 'ERR_NVC_UNKNOWN_DEVICE', 'GPU-4cf8: unknown device');
  });

  it('0000:01:00.0 → the GPU whose bus id is 00000000:01:00.0', () => {
    assert.deepEqual(uuids(selectDevices(host(), '0000:01:00.0')).gpus, [GPU0_UUID]);
  });

  it('PCI ids are normalised (no leading zeros, upper-case hex)', () => {
    assert.deepEqual(uuids(selectDevices(host(), '0:3B:0.0')).gpus, [GPU1_UUID]);
    assert.deepEqual(uuids(selectDevices(host(), '00000000:3b:00.0')).gpus, [GPU1_UUID]);
  });

  it('1:0.0 is neither PCI nor index; as MIG pair 1:0 it is unknown', () => {
    expectError(() => selectDevices(host(), '1:0.0'), 'ERR_NVC_UNKNOWN_DEVICE', '1:0.0: unknown device');
  });

  it('0:1 → MIG 0:1 and its parent GPU0', () => {
    assert.deepEqual(uuids(selectDevices(host(), '0:1')), { gpus: [GPU0_UUID], migs: [MIG01_UUID], all: false });
  });

  it('MIG-… UUID (any case) → that MIG and its parent', () => {
    const sel = selectDevices(host(), MIG00_UUID.toLowerCase());
    assert.deepEqual(uuids(sel), { gpus: [GPU0_UUID], migs: [MIG00_UUID], all: false });
    assert.equal(sel.migs[0].gpu.uuid, GPU0_UUID);
  });

  it('all,7 → everything; parsing stops at all', () => {
    assert.deepEqual(uuids(selectDevices(host(), 'all,7')), {
      gpus: [GPU0_UUID, GPU1_UUID],
      migs: [MIG00_UUID, MIG01_UUID],
      all: true,
    });
  });

  it('ALL is case-insensitive', () => {
    assert.equal(selectDevices(host(), 'ALL').all, true);
  });

  it('2 → 2: unknown device, with a hint', () => {
    assert.throws(
      () => selectDevices(host(), '2'),
      (err) => err.code === 'ERR_NVC_UNKNOWN_DEVICE' && err.message === '2: unknown device' && /nvc-ts info/.test(err.hint),
    );
  });

  it(',,0, → GPU0 (empty tokens skipped)', () => {
    assert.deepEqual(uuids(selectDevices(host(), ',,0,')), { gpus: [GPU0_UUID], migs: [], all: false });
  });

  it('accepts repeated --device values as an array', () => {
    assert.deepEqual(uuids(selectDevices(host(), ['1', '0:0'])), {
      gpus: [GPU1_UUID, GPU0_UUID],
      migs: [MIG00_UUID],
      all: false,
    });
  });

  it('a MIG then its parent keeps one GPU entry', () => {
    assert.deepEqual(uuids(selectDevices(host(), '0:1,0,0:1')), { gpus: [GPU0_UUID], migs: [MIG01_UUID], all: false });
  });

  it('the first unknown token is reported even after valid ones', () => {
    expectError(() => selectDevices(host(), '0,foo,1'), 'ERR_NVC_UNKNOWN_DEVICE', 'foo: unknown device');
  });

  it('empty spec selects nothing', () => {
    assert.deepEqual(uuids(selectDevices(host(), '')), { gpus: [], migs: [], all: false });
  });

  it('GPU- alone is not a UUID', () => {
    expectError(() => selectDevices(host(), 'GPU-'), 'ERR_NVC_UNKNOWN_DEVICE', 'GPU-: unknown device');
  });
});

describe('selectMigCapsDevices', () => {
  it('--mig-config=all with --device=0:1 → cannot enable mig-config with specific MIG devices selected', () => {
    const visible = selectDevices(host(), '0:1');
    assert.throws(
      () => selectMigCapsDevices('mig-config', 'all', visible),
      (err) =>
        err.code === 'ERR_NVC_INVALID_ARGUMENT' &&
        err.message === 'all: cannot enable mig-config with specific MIG devices selected' &&
        err.field === 'mig-config',
    );
  });

  it('--mig-monitor has its own message', () => {
    const visible = selectDevices(host(), '0:1');
    assert.throws(() => selectMigCapsDevices('mig-monitor', 'all', visible), /cannot enable mig-monitor with specific MIG devices selected/);
  });

  it('with --device=all selects the MIG-capable GPUs only', () => {
    const sel = selectMigCapsDevices('mig-config', 'all', selectDevices(host(), 'all'));
    assert.equal(sel.all, true);
    assert.deepEqual(
      sel.gpus.map((g) => g.uuid),
      [GPU0_UUID],
    );
  });

  it('with whole GPUs selected', () => {
    const sel = selectMigCapsDevices('mig-monitor', 'all', selectDevices(host(), '1,0'));
    assert.deepEqual(
      sel.gpus.map((g) => g.uuid),
      [GPU0_UUID],
    );
  });

  it('not given → nothing', () => {
    assert.deepEqual(selectMigCapsDevices('mig-config', undefined, selectDevices(host(), 'all')), { gpus: [], all: false });
  });

  it('only all is accepted', () => {
    expectError(() => parseMigCapsSpec('mig-config', '0'), 'ERR_NVC_INVALID_ARGUMENT', "0: only 'all' devices are currently supported");
    assert.throws(
      () => parseMigCapsSpec('mig-monitor', ',gpu0'),
      (err) => err.message === "gpu0: only 'all' devices are currently supported" && err.field === 'mig-monitor',
    );
    assert.equal(parseMigCapsSpec('mig-config', ',All,0'), 'All');
  });
});

describe('parseImexChannels', () => {
  it('0,1048575 → ok', () => {
    assert.deepEqual(parseImexChannels('0,1048575'), [0, 1048575]);
  });

  it('1048576 → unsupported IMEX channel value', () => {
    expectError(() => parseImexChannels('1048576'), 'ERR_NVC_INVALID_ARGUMENT', 'unsupported IMEX channel value: 1048576');
  });

  it('x → unsupported IMEX channel value', () => {
    expectError(() => parseImexChannels('1,x'), 'ERR_NVC_INVALID_ARGUMENT', 'unsupported IMEX channel value: x');
  });

  it('skips empty tokens and joins repeated options', () => {
    assert.deepEqual(parseImexChannels([',3,', '7']), [3, 7]);
  });

  it('rejects negative and signed values', () => {
    assert.throws(() => parseImexChannels('-1'), /unsupported IMEX channel value: -1/);
    assert.throws(() => parseImexChannels('+1'), /unsupported IMEX channel value: \+1/);
  });
});

describe('selectDevices: parsing corners of the reference (sscanf/strtoumax)', () => {
  // A host where domain and index matter: GPU 2 sits in PCI domain 0x10 on the same bus as GPU 1.
  function wide() {
    return [...host(), gpu(2, 7, '00000010:3b:00.0', 'GPU-22222222-3333-4444-5555-666666666666', [], false)];
  }
  const pick = (spec, devices = wide()) => selectDevices(devices, spec).gpus.map((g) => g.index);
  const unknown = (spec, token = spec, devices = wide()) =>
    expectError(() => selectDevices(devices, spec), 'ERR_NVC_UNKNOWN_DEVICE', `${token}: unknown device`);

  it('indices: leading blanks, a plus sign, leading zeros and -0 are accepted', () => {
    assert.deepEqual(pick(' 1'), [1]);
    assert.deepEqual(pick('\t2'), [2]);
    assert.deepEqual(pick('+1'), [1]);
    assert.deepEqual(pick('01'), [1]);
    assert.deepEqual(pick('-0'), [0]);
  });

  it('indices: negative, trailing text, blanks after, or too large are unknown', () => {
    unknown('-1');
    unknown('1x');
    unknown('1 ');
    unknown('3');
    unknown('99999999999999999999');
  });

  it('PCI ids: 0x prefix, plus signs, blanks after colons, one- or two-digit bus/device, trailing text ignored', () => {
    assert.deepEqual(pick('0x10:3b:0'), [2]);
    assert.deepEqual(pick('0X10:3B:00.0'), [2]);
    assert.deepEqual(pick(' +10:3b:00.0'), [2]);
    assert.deepEqual(pick('10: +3b: +0.0'), [2]);
    assert.deepEqual(pick('0:1:0'), [0]);
    assert.deepEqual(pick('0:01:00.0garbage'), [0]);
    assert.deepEqual(pick('00000000:3b:00.0'), [1]);
    assert.deepEqual(pick('10:3b:00.0'), [2]);
  });

  it('PCI ids: the domain is read in full, never just its last digits', () => {
    assert.deepEqual(pick('10:3b:00.0,0:3b:00.0'), [2, 1]);
  });

  it('PCI ids: text before the domain, or three-digit bus fields, do not parse', () => {
    unknown('x0:3b:00.0');
    unknown('0:3b0:00.0');
  });

  it('a PCI id matching no GPU is unknown', () => {
    unknown('0:3c:00.0');
    unknown('0:3b:01.0');
  });

  it('MIG pairs: blanks, plus signs and leading zeros accepted, trailing text ignored', () => {
    const migOf = (spec) => selectDevices(host(), spec).migs.map((m) => m.mig.uuid);
    assert.deepEqual(migOf(' 0:1'), [MIG01_UUID]);
    assert.deepEqual(migOf('+0:+1'), [MIG01_UUID]);
    assert.deepEqual(migOf('0: 0'), [MIG00_UUID]);
    assert.deepEqual(migOf('00:01'), [MIG01_UUID]);
    assert.deepEqual(migOf('0:1.5'), [MIG01_UUID]);
  });

  it('MIG pairs: out of range GPU or MIG, or text before, are unknown', () => {
    unknown('2:0', '2:0', host());
    unknown('0:2', '0:2', host());
    unknown('1:0', '1:0', host());
    unknown('x0:1', 'x0:1', host());
  });

  it('two MIG devices of one GPU: both, the parent once; the parent comes first', () => {
    const sel = selectDevices(host(), '0:1,0:0,0:1');
    assert.deepEqual(uuids(sel), { gpus: [GPU0_UUID], migs: [MIG01_UUID, MIG00_UUID], all: false });
    assert.equal(sel.migs[1].gpu, sel.gpus[0]);
  });

  it('UUIDs: GPU- and MIG- prefixes in any case; a MIG UUID of no device is unknown', () => {
    assert.deepEqual(uuids(selectDevices(host(), `gpu-${GPU1_UUID.slice(4)}`)).gpus, [GPU1_UUID]);
    assert.deepEqual(uuids(selectDevices(host(), `mig-${MIG01_UUID.slice(4).toUpperCase()}`)).migs, [MIG01_UUID]);
    unknown('MIG-00000000-0000-0000-0000-000000000000', undefined, host());
    unknown('MIG-', undefined, host());
  });

  it('the first all wins even after other tokens; the selection keeps GPU order, then MIGs per GPU', () => {
    const sel = selectDevices(host(), '1,all,nonsense');
    assert.deepEqual(uuids(sel), { gpus: [GPU1_UUID, GPU0_UUID], migs: [MIG00_UUID, MIG01_UUID], all: true });
    assert.deepEqual(uuids(selectDevices(host(), ['', 'aLl'])).all, true);
  });

  it('the unknown-device error carries the grammar hint', () => {
    assert.throws(
      () => selectDevices(host(), 'nope'),
      (err) => {
        assert.equal(
          err.hint,
          'Use `all`, a GPU index, a GPU-/MIG- UUID, a PCI bus id (domain:bus:device.0) or a <gpu>:<mig> index pair; ' +
            '`nvc-ts info` lists the GPUs of this host.',
        );
        assert.equal(err.field, undefined);
        return true;
      },
    );
  });

  it('a host without GPUs: all selects nothing, an index is unknown', () => {
    assert.deepEqual(uuids(selectDevices([], 'all')), { gpus: [], migs: [], all: true });
    unknown('0', '0', []);
  });
});

describe('selectMigCapsDevices / parseMigCapsSpec: details', () => {
  it('the specific-MIG error names the option in its field and hint', () => {
    const visible = selectDevices(host(), '0:0');
    for (const kind of ['mig-config', 'mig-monitor']) {
      assert.throws(
        () => selectMigCapsDevices(kind, 'ALL', visible),
        (err) => {
          assert.ok(err instanceof NvcError);
          assert.deepEqual(err.toJSON(), {
            name: 'NvcError',
            code: 'ERR_NVC_INVALID_ARGUMENT',
            message: `ALL: cannot enable ${kind} with specific MIG devices selected`,
            field: kind,
            // The library names its options; the CLI shows the same hint with its flags.
            hint: `Select whole GPUs (or \`all\`) with \`devices\` when using \`${kind === 'mig-config' ? 'migConfig' : 'migMonitor'}\`.`,
          });
          return true;
        },
      );
    }
  });

  it('a bad --mig-config/--mig-monitor value names the option in field and hint', () => {
    for (const kind of ['mig-config', 'mig-monitor']) {
      assert.throws(
        () => selectMigCapsDevices(kind, '0', selectDevices(host(), 'all')),
        (err) => {
          assert.deepEqual(err.toJSON(), {
            name: 'NvcError',
            code: 'ERR_NVC_INVALID_ARGUMENT',
            message: "0: only 'all' devices are currently supported",
            field: kind,
            hint: `--${kind} accepts only \`all\`.`,
          });
          return true;
        },
      );
    }
  });

  it('empty or blank-token specs select nothing; arrays are joined', () => {
    assert.equal(parseMigCapsSpec('mig-config', undefined), null);
    assert.equal(parseMigCapsSpec('mig-config', ''), null);
    assert.equal(parseMigCapsSpec('mig-config', ',,'), null);
    assert.equal(parseMigCapsSpec('mig-config', ['', 'all']), 'all');
    assert.deepEqual(selectMigCapsDevices('mig-monitor', ',', selectDevices(host(), '0:0')), { gpus: [], all: false });
  });

  it('with no visible GPU, all is still all but lists no GPU', () => {
    assert.deepEqual(selectMigCapsDevices('mig-config', 'all', selectDevices(host(), '')), { gpus: [], all: true });
  });

  it('MIG parents of an `all` selection count even when not listed among the GPUs', () => {
    const [g0] = host();
    const visible = { gpus: [], migs: g0.mig.devices.map((m) => ({ gpu: g0, mig: m })), all: true };
    const sel = selectMigCapsDevices('mig-config', 'all', visible);
    assert.deepEqual(
      sel.gpus.map((g) => g.uuid),
      [GPU0_UUID],
    );
    assert.equal(sel.all, true);
  });

  it('only MIG-capable GPUs, in selection order, each once', () => {
    const devices = [...host(), gpu(2, 2, '00000000:5e:00.0', 'GPU-2', [], true)];
    const sel = selectMigCapsDevices('mig-monitor', 'all', selectDevices(devices, '2,1,0,2'));
    assert.deepEqual(
      sel.gpus.map((g) => g.index),
      [2, 0],
    );
  });
});

describe('parseImexChannels: details', () => {
  it('blanks around a channel id are not accepted', () => {
    expectError(() => parseImexChannels(' 1'), 'ERR_NVC_INVALID_ARGUMENT', 'unsupported IMEX channel value:  1');
    expectError(() => parseImexChannels('1 '), 'ERR_NVC_INVALID_ARGUMENT', 'unsupported IMEX channel value: 1 ');
    expectError(() => parseImexChannels('1.0'), 'ERR_NVC_INVALID_ARGUMENT', 'unsupported IMEX channel value: 1.0');
    expectError(() => parseImexChannels('0x1'), 'ERR_NVC_INVALID_ARGUMENT', 'unsupported IMEX channel value: 0x1');
  });

  it('leading zeros and multi-digit ids are decimal', () => {
    assert.deepEqual(parseImexChannels('007,12,1048575'), [7, 12, 1048575]);
  });

  it('the error names the option and the range', () => {
    assert.throws(
      () => parseImexChannels('99999999'),
      (err) => {
        assert.deepEqual(err.toJSON(), {
          name: 'NvcError',
          code: 'ERR_NVC_INVALID_ARGUMENT',
          message: 'unsupported IMEX channel value: 99999999',
          field: 'imex-channel',
          hint: 'IMEX channel ids are decimal numbers from 0 to 1048575.',
        });
        return true;
      },
    );
  });

  it('nothing given → no channel', () => {
    assert.deepEqual(parseImexChannels(undefined), []);
    assert.deepEqual(parseImexChannels(''), []);
    assert.deepEqual(parseImexChannels([]), []);
  });

  it('IMEX_CHANNEL_LIMIT is 2^20', () => {
    assert.equal(require('../dist/select.js').IMEX_CHANNEL_LIMIT, 1048576);
  });
});
