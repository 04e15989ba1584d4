'use strict';
// Output of `nvc-ts info` and `nvc-ts list`, fed with hand-made DriverInfo/Device objects (no native addon needed).
const assert = require('node:assert/strict');
const { formatInfoText, formatInfoCsv, formatInfoJson } = require('../dist/cli/commands/info.js');
const { buildListing, formatListText, formatListJson, parseListFlags, countListWords } = require('../dist/cli/commands/list.js');
const { parseMigMinors } = require('../dist/host-facts.js');
const { formatError, formatUsageError, UsageError } = require('../dist/cli/format-error.js');
const { NvcError } = require('../dist/errors.js');
const { main } = require('../dist/cli/main.js');

const CAPS = '/proc/driver/nvidia/capabilities';
const VER = '580.159.04';
const LIB = '/usr/lib/x86_64-linux-gnu';
const LIB32 = '/usr/lib/i386-linux-gnu';

const file = (path) => ({ path, capabilities: ['utility'] });

function driver(overrides = {}) {
  return {
    version: VER,
    cudaVersion: '13.0',
    libraries: [file(`${LIB}/libnvidia-ml.so.${VER}`), file(`${LIB}/libcuda.so.${VER}`)],
    libraries32: [file(`${LIB32}/libcuda.so.${VER}`)],
    binaries: [file('/usr/bin/nvidia-smi'), file('/usr/bin/nvidia-persistenced')],
    ipcs: [file('/run/nvidia-persistenced/socket'), file('/run/nvidia-fabricmanager/socket'), file('/tmp/nvidia-mps')],
    firmware: [file(`/lib/firmware/nvidia/${VER}/gsp_ga10x.bin`), file(`/lib/firmware/nvidia/${VER}/gsp_tu10x.bin`)],
    deviceNodes: [
      { path: '/dev/nvidiactl', major: 195, minor: 255, exists: true },
      { path: '/dev/nvidia-uvm', major: 509, minor: 0, exists: true },
      { path: '/dev/nvidia-uvm-tools', major: 509, minor: 1, exists: false },
      { path: '/dev/nvidia-modeset', major: 195, minor: 254, exists: false },
    ],
    nvcapsMajor: 511,
    imexMajor: 234,
    migConfigMinor: 1,
    migMonitorMinor: 2,
    ...overrides,
  };
}

function mig(gpuMinor, index, gi, ci, uuid, giCapMinor, ciCapMinor) {
  return {
    index,
    uuid,
    gpuInstance: gi,
    computeInstance: ci,
    giCapsPath: `${CAPS}/gpu${gpuMinor}/mig/gi${gi}`,
    ciCapsPath: `${CAPS}/gpu${gpuMinor}/mig/gi${gi}/ci${ci}`,
    giCapMinor,
    ciCapMinor,
  };
}

function gpu(index, minor, extra) {
  return {
    index,
    minor,
    model: 'NVIDIA H100 80GB HBM3',
    brand: 'Nvidia',
    uuid: `GPU-0000000${index}-1111-2222-3333-444444444444`,
    busId: `00000000:${(0x18 + index).toString(16)}:00.0`,
    architecture: '9.0',
    deviceNode: { path: `/dev/nvidia${minor}`, major: 195, minor },
    mig: { capable: false, enabled: false, capsPath: `${CAPS}/gpu${minor}`, devices: [] },
    ...extra,
  };
}

function devices() {
  const migs = [mig(0, 0, 1, 0, 'MIG-aaaaaaaa-0000-0000-0000-000000000000', 21, 22), mig(0, 1, 2, 0, 'MIG-bbbbbbbb-0000-0000-0000-000000000000', 30, null)];
  return [gpu(0, 0, { mig: { capable: true, enabled: true, capsPath: `${CAPS}/gpu0`, devices: migs } }), gpu(1, 2)];
}

const MIG_MINORS = ['config 1', 'monitor 2', 'gpu0/gi0/access 3', 'gpu0/gi0/ci0/access 4', 'gpu2/gi0/access 66', 'gpu20/gi0/access 300', ''].join('\n');

/** Flags as main() would pass them: values plus the option tokens of the words given after `list`. */
function flagsOf(words) {
  const values = {};
  const tokens = [];
  const multiple = new Set(['device', 'mig-config', 'mig-monitor', 'imex-channel']);
  for (let i = 0; i < words.length; i++) {
    const [raw, inline] = words[i].split('=');
    const name = raw.replace(/^--/, '');
    const takesValue = multiple.has(name);
    let value = true;
    if (takesValue) value = inline !== undefined ? inline : words[i + 1];
    tokens.push({ name, index: i, inlineValue: takesValue ? inline !== undefined : undefined });
    if (takesValue && inline === undefined) i++;
    values[name] = multiple.has(name) ? [...(values[name] || []), value] : value;
  }
  return parseListFlags(values, tokens);
}

function listText(words, overrides = {}) {
  const input = {
    driver: driver(overrides.driver),
    devices: overrides.devices || devices(),
    flags: flagsOf(words),
    migMinors: parseMigMinors(MIG_MINORS),
    nodeExists: (p) => p !== '/dev/nvidia2',
  };
  return formatListText(buildListing(input));
}

const lines = (text) => text.split('\n');

describe('info formatting', () => {
  it('text output matches nvidia-container-cli info line for line', () => {
    assert.deepEqual(lines(formatInfoText(driver(), devices())), [
      'NVRM version:   580.159.04',
      'CUDA version:   13.0',
      '',
      'Device Index:   0',
      'Device Minor:   0',
      'Model:          NVIDIA H100 80GB HBM3',
      'Brand:          Nvidia',
      'GPU UUID:       GPU-00000000-1111-2222-3333-444444444444',
      'Bus Location:   00000000:18:00.0',
      'Architecture:   9.0',
      '',
      'Device Index:   1',
      'Device Minor:   2',
      'Model:          NVIDIA H100 80GB HBM3',
      'Brand:          Nvidia',
      'GPU UUID:       GPU-00000001-1111-2222-3333-444444444444',
      'Bus Location:   00000000:19:00.0',
      'Architecture:   9.0',
      '',
    ]);
  });

  it('text output without GPUs has only the driver lines', () => {
    assert.equal(formatInfoText(driver(), []), 'NVRM version:   580.159.04\nCUDA version:   13.0\n');
  });

  it('CSV output matches nvidia-container-cli info --csv', () => {
    assert.deepEqual(lines(formatInfoCsv(driver(), devices())), [
      'NVRM version,CUDA version',
      '580.159.04,13.0',
      '',
      'Device Index,Device Minor,Model,Brand,GPU UUID,Bus Location,Architecture',
      '0,0,NVIDIA H100 80GB HBM3,Nvidia,GPU-00000000-1111-2222-3333-444444444444,00000000:18:00.0,9.0',
      '1,2,NVIDIA H100 80GB HBM3,Nvidia,GPU-00000001-1111-2222-3333-444444444444,00000000:19:00.0,9.0',
      '',
    ]);
  });

  it('JSON output has the documented shape, 2-space indented', () => {
    const text = formatInfoJson(driver(), devices());
    assert.ok(text.startsWith('{\n  "schemaVersion": 1,\n  "driver": {\n    "version": "580.159.04",\n    "cudaVersion": "13.0"\n  },'));
    const json = JSON.parse(text);
    assert.deepEqual(Object.keys(json.devices[0]), ['index', 'minor', 'model', 'brand', 'uuid', 'busId', 'architecture', 'deviceNode', 'mig']);
    assert.equal(json.devices[1].deviceNode, '/dev/nvidia2');
    assert.deepEqual(json.devices[0].mig.devices[1], {
      index: 1,
      uuid: 'MIG-bbbbbbbb-0000-0000-0000-000000000000',
      gpuInstance: 2,
      computeInstance: 0,
      giCapsPath: `${CAPS}/gpu0/mig/gi2`,
      ciCapsPath: `${CAPS}/gpu0/mig/gi2/ci0`,
    });
    assert.deepEqual(json.devices[1].mig, { capable: false, enabled: false, devices: [] });
  });
});

const DRIVER_NODES = ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-modeset'];
const BINARIES = ['/usr/bin/nvidia-smi', '/usr/bin/nvidia-persistenced'];
const LIBRARIES = [`${LIB}/libnvidia-ml.so.${VER}`, `${LIB}/libcuda.so.${VER}`];
const LIBRARIES32 = [`${LIB32}/libcuda.so.${VER}`];
const IPCS = ['/run/nvidia-persistenced/socket', '/run/nvidia-fabricmanager/socket', '/tmp/nvidia-mps'];
const FIRMWARE = [`/lib/firmware/nvidia/${VER}/gsp_ga10x.bin`, `/lib/firmware/nvidia/${VER}/gsp_tu10x.bin`];
const MIG_ACCESS = [
  `${CAPS}/gpu0/mig/gi1/access`,
  `${CAPS}/gpu0/mig/gi1/ci0/access`,
  '/dev/nvidia-caps/nvidia-cap21',
  '/dev/nvidia-caps/nvidia-cap22',
  `${CAPS}/gpu0/mig/gi2/access`,
  `${CAPS}/gpu0/mig/gi2/ci0/access`,
  '/dev/nvidia-caps/nvidia-cap30',
];
const text = (...groups) => `${groups.flat().join('\n')}\n`;

describe('list selection rules and order', () => {
  it('no options: devices (all), MIG access caps, binaries, libraries, 32-bit libraries, IPCs, firmware', () => {
    assert.equal(listText([]), text(DRIVER_NODES, '/dev/nvidia0', '/dev/nvidia2', MIG_ACCESS, BINARIES, LIBRARIES, LIBRARIES32, IPCS, FIRMWARE));
  });

  it('absent uvm-tools is left out, absent nvidia-modeset is printed (the reference synthesises it)', () => {
    const out = lines(listText(['--device=0']));
    assert.ok(out.includes('/dev/nvidia-modeset'));
    assert.ok(!out.includes('/dev/nvidia-uvm-tools'));
  });

  it('only --imex-channel=IDS (one word) keeps the defaults and adds the channels after the MIG caps', () => {
    assert.equal(
      listText(['--imex-channel=0,7']),
      text(
        DRIVER_NODES,
        '/dev/nvidia0',
        '/dev/nvidia2',
        MIG_ACCESS,
        '/dev/nvidia-caps-imex-channels/channel0',
        '/dev/nvidia-caps-imex-channels/channel7',
        BINARIES,
        LIBRARIES,
        LIBRARIES32,
        IPCS,
        FIRMWARE,
      ),
    );
  });

  it('--imex-channel IDS (two words) does not get the defaults, like the reference', () => {
    assert.equal(listText(['--imex-channel', '3']), '/dev/nvidia-caps-imex-channels/channel3\n');
  });

  it('--json alone keeps the defaults', () => {
    assert.equal(flagsOf(['--json']).devices[0], 'all');
    assert.equal(flagsOf(['--json']).compat32, true);
  });

  it('--libraries alone: 64-bit libraries only', () => {
    assert.equal(listText(['--libraries']), text(LIBRARIES));
  });

  it('--libraries --compat32', () => {
    assert.equal(listText(['--libraries', '--compat32']), text(LIBRARIES, LIBRARIES32));
  });

  it('--compat32 without --libraries prints nothing', () => {
    assert.equal(listText(['--compat32']), '');
  });

  it('--binaries --ipcs --firmwares keep the reference order whatever the flag order', () => {
    assert.equal(listText(['--firmwares', '--ipcs', '--binaries']), text(BINARIES, IPCS, FIRMWARE));
  });

  it('--no-persistenced / --no-fabricmanager drop their sockets', () => {
    assert.equal(listText(['--ipcs', '--no-persistenced']), text(IPCS.slice(1)));
    assert.equal(listText(['--ipcs', '--no-fabricmanager']), text(IPCS[0], IPCS[2]));
  });

  it('--no-gsp-firmware drops firmware even with --firmwares', () => {
    assert.equal(listText(['--firmwares', '--no-gsp-firmware']), '');
  });

  it('a lone --no-persistenced prints nothing (it is an option, so no defaults)', () => {
    assert.equal(listText(['--no-persistenced']), '');
  });

  it('--device 1: driver nodes then /dev/nvidia2 only', () => {
    assert.equal(listText(['--device', '1']), text(DRIVER_NODES, '/dev/nvidia2'));
  });

  it('--device=0:1: parent GPU node, gi/ci access files, the gi cap node (ci minor unreadable)', () => {
    assert.equal(
      listText(['--device=0:1']),
      text(DRIVER_NODES, '/dev/nvidia0', `${CAPS}/gpu0/mig/gi2/access`, `${CAPS}/gpu0/mig/gi2/ci0/access`, '/dev/nvidia-caps/nvidia-cap30'),
    );
  });

  it('without /dev/nvidia-caps (proc-style caps) only the proc access files are listed', () => {
    assert.equal(
      listText(['--device=0:0'], { driver: { nvcapsMajor: null } }),
      text(DRIVER_NODES, '/dev/nvidia0', `${CAPS}/gpu0/mig/gi1/access`, `${CAPS}/gpu0/mig/gi1/ci0/access`),
    );
  });

  it('--device=all --mig-config=all: global config cap, its node, GPU caps dir, /dev/nvidia-caps, its MIG minors', () => {
    assert.equal(
      listText(['--device=all', '--mig-config=all']),
      text(
        DRIVER_NODES,
        '/dev/nvidia0',
        '/dev/nvidia2',
        `${CAPS}/mig/config`,
        '/dev/nvidia-caps/nvidia-cap1',
        `${CAPS}/gpu0`,
        '/dev/nvidia-caps',
        '/dev/nvidia-caps/nvidia-cap3',
        '/dev/nvidia-caps/nvidia-cap4',
      ),
    );
  });

  it('--mig-config and --mig-monitor both: config block then monitor block', () => {
    assert.equal(
      listText(['--device=0', '--mig-monitor=all', '--mig-config=all'], { driver: { nvcapsMajor: null } }),
      text(DRIVER_NODES, '/dev/nvidia0', `${CAPS}/mig/config`, `${CAPS}/gpu0`, `${CAPS}/mig/monitor`, `${CAPS}/gpu0`),
    );
  });

  it('--mig-config=all without --device lists nothing (no visible GPU)', () => {
    assert.equal(listText(['--mig-config=all']), '');
  });

  it('--mig-config=all with a MIG device selected fails like the reference', () => {
    assert.throws(() => listText(['--device=0:1', '--mig-config=all']), {
      message: 'all: cannot enable mig-config with specific MIG devices selected',
    });
  });

  it('--device=2 → 2: unknown device', () => {
    assert.throws(() => listText(['--device=2']), { code: 'ERR_NVC_UNKNOWN_DEVICE', message: '2: unknown device' });
  });

  it('a host without GPUs accepts any --device value, like the reference', () => {
    assert.equal(listText(['--device=foo'], { devices: [] }), text(DRIVER_NODES));
  });

  it('--mig-config other than all is rejected while parsing', () => {
    assert.throws(() => flagsOf(['--mig-config=0']), { message: "0: only 'all' devices are currently supported" });
  });

  it('bad --imex-channel values are rejected while parsing', () => {
    assert.throws(() => flagsOf(['--imex-channel=1048576']), { message: 'unsupported IMEX channel value: 1048576' });
  });
});

describe('list --json', () => {
  it('groups paths, device nodes as objects with existence', () => {
    const input = {
      driver: driver(),
      devices: devices(),
      flags: flagsOf(['--device=all', '--mig-monitor=all', '--imex-channel=5', '--libraries', '--json']),
      migMinors: parseMigMinors(MIG_MINORS),
      nodeExists: (p) => p !== '/dev/nvidia2' && !p.includes('imex'),
    };
    const json = JSON.parse(formatListJson(buildListing(input)));
    assert.deepEqual(json.deviceNodes, [
      { path: '/dev/nvidiactl', major: 195, minor: 255, exists: true },
      { path: '/dev/nvidia-uvm', major: 509, minor: 0, exists: true },
      { path: '/dev/nvidia-modeset', major: 195, minor: 254, exists: false },
      { path: '/dev/nvidia0', major: 195, minor: 0, exists: true },
      { path: '/dev/nvidia2', major: 195, minor: 2, exists: false },
      { path: '/dev/nvidia-caps-imex-channels/channel5', major: 234, minor: 5, exists: false },
      { path: '/dev/nvidia-caps/nvidia-cap2', major: 511, minor: 2, exists: true },
      { path: '/dev/nvidia-caps/nvidia-cap3', major: 511, minor: 3, exists: true },
      { path: '/dev/nvidia-caps/nvidia-cap4', major: 511, minor: 4, exists: true },
    ]);
    assert.deepEqual(json.migCaps, [`${CAPS}/mig/monitor`, `${CAPS}/gpu0`]);
    assert.deepEqual(json.libraries, LIBRARIES);
    assert.deepEqual(json.libraries32, []);
    assert.deepEqual(json.binaries, []);
    assert.deepEqual(json.ipcs, []);
    assert.deepEqual(json.firmware, []);
  });

  it('default selection in JSON lists every group', () => {
    const input = { driver: driver(), devices: devices(), flags: flagsOf(['--json']), migMinors: [], nodeExists: () => true };
    const json = JSON.parse(formatListJson(buildListing(input)));
    assert.deepEqual(
      json.migCaps,
      MIG_ACCESS.filter((p) => p.startsWith('/proc')),
    );
    assert.deepEqual(json.libraries32, LIBRARIES32);
    assert.deepEqual(json.firmware, FIRMWARE);
  });
});

describe('list helpers', () => {
  it('parseMigMinors reads gpu lines only, like sscanf("gpu%u%s %u")', () => {
    assert.deepEqual(parseMigMinors(MIG_MINORS), [
      { gpuMinor: 0, capMinor: 3 },
      { gpuMinor: 0, capMinor: 4 },
      { gpuMinor: 2, capMinor: 66 },
      { gpuMinor: 20, capMinor: 300 },
    ]);
    assert.deepEqual(parseMigMinors('gpu12 5\n'), []);
  });

  it('countListWords counts argv words of list options, --json aside', () => {
    assert.equal(countListWords([]), 0);
    assert.equal(countListWords([{ name: 'imex-channel', index: 0, inlineValue: true }]), 1);
    assert.equal(countListWords([{ name: 'imex-channel', index: 0, inlineValue: false }]), 2);
    assert.equal(countListWords([{ name: 'json', index: 0, inlineValue: undefined }]), 0);
    // `-lb` is one word holding two options
    assert.equal(
      countListWords([
        { name: 'libraries', index: 0, inlineValue: undefined },
        { name: 'binaries', index: 0, inlineValue: undefined },
      ]),
      1,
    );
  });
});

describe('error formatting', () => {
  const ctx = { root: '/run/nvidia/driver', ldcache: '/etc/ld.so.cache', simulate: false, debug: false };

  it('missing driver names the ld cache and root and suggests flags and --simulate', () => {
    const err = new NvcError('ERR_NVC_DRIVER_NOT_FOUND', 'libnvidia-ml.so.1 not found in ldcache');
    const out = formatError(err, { ...ctx, phase: 'initialization' });
    assert.match(
      out,
      /^nvc-ts: initialization error: libnvidia-ml\.so\.1 was not found, looking in the ld cache \/etc\/ld\.so\.cache under the driver root \/run\/nvidia\/driver\./,
    );
    assert.match(out, /--root/);
    assert.match(out, /--ldcache/);
    assert.match(out, /--nvml/);
    assert.match(out, /--simulate/);
    assert.equal(out.split('\n').length, 2, 'one paragraph, one line');
  });

  it("keeps the library's own not-found message when it names the root, then its hint", () => {
    const err = new NvcError('ERR_NVC_DRIVER_NOT_FOUND', 'libnvidia-ml.so.1 was not found in /etc/ld.so.cache under the driver root /run/nvidia/driver', {
      syscall: 'ldcache',
      path: '/run/nvidia/driver/etc/ld.so.cache',
      hint: 'install the NVIDIA driver, or use --root',
    });
    assert.equal(
      formatError(err, { ...ctx, phase: 'initialization' }),
      'nvc-ts: initialization error: libnvidia-ml.so.1 was not found in /etc/ld.so.cache under the driver root ' +
        '/run/nvidia/driver. Install the NVIDIA driver, or use --root. [ERR_NVC_DRIVER_NOT_FOUND]\n',
    );
  });

  it('names path, call and errno, then the hint; no stack without --debug', () => {
    const err = new NvcError('ERR_NVC_SYSTEM', 'cannot read the ld cache', {
      syscall: 'open',
      path: '/x/etc/ld.so.cache',
      errno: 'EACCES',
      hint: 'run as root',
    });
    assert.equal(
      formatError(err, { ...ctx, phase: 'initialization' }),
      'nvc-ts: initialization error: cannot read the ld cache (open /x/etc/ld.so.cache: EACCES). Run as root. [ERR_NVC_SYSTEM]\n',
    );
  });

  it('selection errors carry their own phase, as the reference prints them', () => {
    const err = new NvcError('ERR_NVC_UNKNOWN_DEVICE', '2: unknown device');
    assert.match(formatError(err, { ...ctx, phase: 'detection' }), /^nvc-ts: device error: 2: unknown device\./);
    const mig = new NvcError('ERR_NVC_INVALID_ARGUMENT', 'all: cannot enable mig-config with specific MIG devices selected', { field: 'mig-config' });
    assert.match(formatError(mig, ctx), /^nvc-ts: mig-config error: all: cannot enable mig-config/);
  });

  it('--debug appends the stack', () => {
    const out = formatError(new Error('boom'), { ...ctx, debug: true });
    assert.match(out, /^nvc-ts: error: boom\.\nError: boom\n\s+at /);
  });

  it('usage errors are one line pointing at --help', () => {
    assert.equal(formatUsageError(new UsageError("unknown option '--foo'")), "nvc-ts: unknown option '--foo'; see `nvc-ts --help`\n");
  });
});

describe('main() without a driver', () => {
  function capture() {
    const out = { stdout: '', stderr: '' };
    return {
      out,
      io: {
        stdout: {
          write: (s) => {
            out.stdout += s;
          },
        },
        stderr: {
          write: (s) => {
            out.stderr += s;
          },
        },
      },
    };
  }

  const usage = [
    [['list', '--foo'], /^nvc-ts: unknown option '--foo'; see `nvc-ts --help`\n$/],
    [['frobnicate'], /^nvc-ts: unknown command 'frobnicate'/],
    [[], /missing command/],
    [['--timeout', '0', 'info'], /--timeout/],
    [['info', '--csv', '--json'], /--csv and --json/],
    [['info', 'extra'], /unexpected argument 'extra'/],
    [['list', '--imex-channel=x'], /^nvc-ts: --imex-channel: unsupported IMEX channel value: x; see/],
    [['list', '--mig-monitor=0'], /^nvc-ts: --mig-monitor: 0: only 'all'/],
    [['--simulate', '--root', '/x', 'info'], /--simulate cannot be combined with --root/],
    [['info', '-r', '/x'], /unknown option '-r'/],
  ];
  for (const [argv, pattern] of usage) {
    it(`exits 2 on: nvc-ts ${argv.join(' ')}`, async () => {
      const { out, io } = capture();
      assert.equal(await main(argv, io), 2);
      assert.match(out.stderr, pattern);
      assert.equal(out.stderr.split('\n').length, 2);
      if (argv.includes('--json')) {
        // --json: the same failure as JSON on stdout, for programs.
        const json = JSON.parse(out.stdout);
        assert.equal(json.schemaVersion, 1);
        assert.equal(json.error.code, 'ERR_NVC_USAGE');
        assert.match(json.error.message, pattern.source.startsWith('^') ? /./ : pattern);
      } else {
        assert.equal(out.stdout, '');
      }
    });
  }

  const suggestions = [
    [['confgure'], /unknown command 'confgure' \(did you mean 'configure'\?\)/],
    [['info', '--jsn'], /unknown option '--jsn' \(did you mean --json\?\)/],
    [['configure', '--devcie', '0', '/x'], /did you mean --device\?/],
    [['--timeout', '-3', 'info'], /option --timeout needs a positive number of seconds, not '-3'/],
    [['-d', '0', 'list'], /option --debug takes a log file, and '0' looks like a device list/],
  ];
  for (const [argv, pattern] of suggestions) {
    it(`says what was meant: nvc-ts ${argv.join(' ')}`, async () => {
      const { out, io } = capture();
      assert.equal(await main(argv, io), 2);
      assert.match(out.stderr, pattern);
    });
  }

  it('--help and COMMAND --help exit 0', async () => {
    let c = capture();
    assert.equal(await main(['--help'], c.io), 0);
    assert.match(c.out.stdout, /^Usage: nvc-ts/);
    c = capture();
    assert.equal(await main(['list', '--help'], c.io), 0);
    assert.match(c.out.stdout, /--mig-config all/);
  });

  it('--version prints cli-version', async () => {
    const c = capture();
    assert.equal(await main(['--version'], c.io), 0);
    assert.match(c.out.stdout, /^cli-version: \d+\.\d+\.\d+/);
  });
});

describe('hints: library option names, CLI flags', () => {
  const { hintForCli } = require('../dist/option-names.js');
  it('the CLI shows a library hint with its flags and phrases', () => {
    assert.equal(
      hintForCli(
        'point `root` and `ldcache` at the driver root, or `nvmlPath` at the library; createSimulatedHost() from nvc-ts/testing builds a working host',
      ),
      'point `--root` and `--ldcache` at the driver root, or `--nvml` at the library; `nvc-ts info --simulate` shows a working host',
    );
    assert.equal(hintForCli('a longer `timeoutMs`; `all` stays'), 'a longer `--timeout (seconds)`; `all` stays');
  });
  it('the driver-not-found error of the library names options, the CLI paragraph names flags', async () => {
    const { init, NvcError } = require('../dist/index.js');
    const dir = require('node:fs').mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'nvc-empty-'));
    try {
      await assert.rejects(init({ root: dir }), (e) => e instanceof NvcError && /`root` and `ldcache`/.test(e.hint) && !/--root/.test(e.hint));
      let stderr = '';
      const io = { stdout: { write: () => undefined }, stderr: { write: (t) => (stderr += t) } };
      assert.equal(await main(['info', '--root', dir], io), 1);
      assert.match(stderr, /--root/);
      assert.doesNotMatch(stderr, /createSimulatedHost/);
    } finally {
      require('node:fs').rmSync(dir, { recursive: true, force: true });
    }
  });
});
