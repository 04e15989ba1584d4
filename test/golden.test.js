'use strict';
// The CLI's output on the embedded simulated host, byte for byte: info, every list form and
// configure --dry-run. The files in test/golden were recorded before the planner was split
// into selection and lowering stages; the split must not change a byte. Paths of the
// per-run simulated host and rootfs are replaced by <SIM> and <ROOTFS>.
// NVC_UPDATE_GOLDEN=1 rewrites the files (only for an intended change of output).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { requireFeature, isRoot } = require('./support/features');

const CLI = path.resolve(__dirname, '../bin/nvc-ts.js');
const GOLDEN = path.join(__dirname, 'golden');

const COMMANDS = [
  ['info', ['info']],
  ['info-csv', ['info', '--csv']],
  ['info-json', ['info', '--json']],
  ['list', ['list']],
  ['list-json', ['list', '--json']],
  ['list-libraries-compat32', ['list', '--libraries', '--compat32']],
  ['list-device1-binaries', ['list', '--device=1', '--binaries']],
  ['list-mig-device', ['list', '--device=1:1']],
  ['list-mig-config', ['list', '--device=all', '--mig-config=all']],
  ['list-mig-monitor-json', ['list', '--device=1', '--mig-monitor=all', '--json']],
  ['list-imex', ['list', '--imex-channel=7,3']],
  ['list-no-ipc-firmware', ['list', '--ipcs', '--firmwares', '--no-persistenced', '--no-gsp-firmware']],
  ['configure-compute-utility-json', ['configure', '--pid=@', '--device=0', '--compute', '--utility', '--dry-run', '--json', '@rootfs']],
  [
    'configure-all-json',
    ['configure', '--pid=@', '--device=all', '--capabilities=utility,compute,video,graphics,ngx', '--compat32', '--dry-run', '--json', '@rootfs'],
  ],
  ['configure-mig-json', ['configure', '--pid=@', '--device=1:0,2', '--compute', '--dry-run', '--json', '@rootfs']],
  ['configure-mig-config-json', ['configure', '--pid=@', '--device=1', '--mig-config=all', '--mig-monitor=all', '--dry-run', '--json', '@rootfs']],
  [
    'configure-options-json',
    [
      'configure',
      '--pid=@',
      '--device=0',
      '--utility',
      '--no-persistenced',
      '--no-fabricmanager',
      '--no-gsp-firmware',
      '--no-devbind',
      '--no-ldconfig',
      '--dry-run',
      '--json',
      '@rootfs',
    ],
  ],
  ['configure-no-pid-json', ['configure', '--device=2', '--graphics', '--dry-run', '--json', '@rootfs']],
  ['configure-text', ['configure', '--pid=@', '--device=0,1:1', '--compute', '--utility', '--graphics', '--dry-run', '@rootfs']],
];

describe('CLI output on the simulated host is unchanged (golden files)', function () {
  let rootfs;
  before(function () {
    requireFeature(this, 'root', isRoot(), 'the simulated host makes device nodes with mknod');
    rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-golden-rootfs-'));
    fs.mkdirSync(path.join(rootfs, 'etc'));
    fs.writeFileSync(path.join(rootfs, 'etc/debian_version'), '12\n');
  });
  after(() => {
    if (rootfs) fs.rmSync(rootfs, { recursive: true, force: true });
  });

  for (const [name, args] of COMMANDS) {
    it(`nvc-ts --simulate ${args.join(' ')}`, () => {
      const argv = args.map((a) => (a === '@rootfs' ? rootfs : a === '--pid=@' ? `--pid=${process.pid}` : a));
      const r = spawnSync(process.execPath, [CLI, '--simulate', ...argv], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const out = r.stdout
        .replace(/\/tmp\/nvc-sim-[A-Za-z0-9]+(\/nvc-sim-[A-Za-z0-9]+)?/g, '<SIM>')
        .split(rootfs)
        .join('<ROOTFS>')
        .split(`--pid=${process.pid}`)
        .join('--pid=<PID>');
      const file = path.join(GOLDEN, `${name}.txt`);
      if (process.env.NVC_UPDATE_GOLDEN === '1') {
        fs.mkdirSync(GOLDEN, { recursive: true });
        fs.writeFileSync(file, out);
      }
      assert.equal(out, fs.readFileSync(file, 'utf8'));
    });
  }
});
