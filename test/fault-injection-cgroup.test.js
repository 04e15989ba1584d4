'use strict';
// Fault injection in the device-cgroup code (issue 11): native/test/cgroup/fault_cgroup.c
// builds the same sources the addon ships (core/setup/cgroup*.c) into a runner that sets up
// a real cgroup as a runtime would, and arms the fault shim (native/fault/fault.c) only for
// its one nvc_cgroup_allow_version call. The runner goes once recording every call site,
// then once per site and per errno that call can meet. Each case must meet its fault, and
// either succeed with the clean run's result, or fail with a typed error carrying that errno
// and leave the cgroup as it was: v1 devices.list unchanged (a deny-all cgroup that already
// allows "c 1:3 r", and rules that widen it and add two more); v2 the same programs attached
// with the same flags and no pin left, for a runtime program that is copied and for one that
// is chained by tail call (its array pinned in a private BPF file system). Real cgroups,
// real BPF: this machine's hybrid hierarchy has v1 devices and cgroup2 at /sys/fs/cgroup/unified.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { requireFeature, isRoot } = require('./support/features');
const { cgroupMounts } = require('./support/cgroup');
const { buildShim, readSites, sitesAfterFault, faultCases, errnoNumber } = require('./support/fault');

const NATIVE = path.join(__dirname, '../native');
const FAULTS = {
  fopen: ['ENOENT', 'EACCES', 'EMFILE', 'ENOMEM'],
  getline: ['EIO', 'ENOMEM'],
  open: ['ENOENT', 'EACCES', 'EMFILE', 'ENOMEM'],
  openat: ['ENOENT', 'EACCES', 'EPERM', 'ELOOP', 'EMFILE', 'ENOMEM'],
  read: ['EIO', 'ENOMEM', 'EINTR'],
  fstatfs: ['EIO', 'ENOSYS'],
  write: ['EPERM', 'EINVAL', 'ENOMEM', 'ENOSPC', 'EINTR'],
  close: ['EINTR', 'EIO'],
  mkdirat: ['EACCES', 'ENOSPC', 'EROFS'],
  unlinkat: ['EACCES', 'EBUSY'],
  unlink: ['EACCES', 'EBUSY'],
  fdopendir: ['ENOMEM'],
  sys_bpf: ['EPERM', 'ENOMEM', 'EINVAL', 'ENOSPC', 'EAGAIN', 'EINTR'],
};
// Retried where met, so these must be worked around.
const RETRIED = new Set(['sys_bpf EINTR', 'read EINTR']);
const TYPED = ['ERR_NVC_CGROUP', 'ERR_NVC_PERMISSION', 'ERR_NVC_SYSTEM', 'ERR_NVC_NO_MEMORY', 'ERR_NVC_PATH_ESCAPE'];

// v2 programs get new ids each run: the state compared is the flags and each program's maps.
const shape = (state) => state.replace(/ \d+\//g, ' #/');

describe('fault injection: every device-cgroup call site x every errno it can meet', function () {
  this.timeout(600000);
  let dir;
  let shim;
  let runner;

  before(function () {
    requireFeature(this, 'root', isRoot(), 'cgroups and BPF programs need root');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-fault-cg-'));
    shim = buildShim(dir);
    runner = path.join(dir, 'fault_cgroup');
    const sources = [
      'core/setup/cgroup.c',
      'core/setup/cgroup_v1.c',
      'core/setup/cgroup_v2.c',
      'core/setup/cgroup_bpf.c',
      'core/util/error.c',
      'test/cgroup/cgtest.c',
      'test/cgroup/fault_cgroup.c',
    ];
    const includes = ['include', 'core/setup', 'core/util', 'test', 'test/cgroup'].map((d) => `-I${path.join(NATIVE, d)}`);
    execFileSync('cc', [
      '-std=gnu11',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-Wno-format-truncation',
      '-g',
      '-O1',
      '-pthread',
      ...includes,
      '-o',
      runner,
      ...sources.map((s) => path.join(NATIVE, s)),
      '-ldl',
    ]);
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  function run(mode, env) {
    const r = spawnSync(runner, [mode], {
      env: { LD_PRELOAD: shim, NVC_FAULT_ARMED: '0', NVC_FAULT_MODULE: 'exe', NVC_FAULT_SITES: '1', ...env },
      encoding: 'utf8',
      timeout: 30000,
    });
    assert.equal(r.status, 0, `fault_cgroup ${mode}: exit ${r.status} ${r.signal ?? ''} ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  const modes = [
    ['v1', 'a v1 devices cgroup: devices.list as it was', () => cgroupMounts().v1],
    ['v2copy', 'a cgroup2 with a program that is copied: the same programs attached', () => cgroupMounts().v2],
    ['v2tail', 'a cgroup2 with a program chained by tail call: the same programs, no pin left', () => cgroupMounts().v2],
  ];
  for (const [mode, title, mounted] of modes) {
    it(`${title}, after any failure`, function () {
      requireFeature(
        this,
        mode === 'v1' ? 'cgroup-v1-devices' : 'cgroup-v2',
        Boolean(mounted()),
        `no ${mode === 'v1' ? 'v1 devices hierarchy' : 'cgroup2'} mounted`,
      );
      const countLog = path.join(dir, `${mode}.log`);
      const clean = run(mode, { NVC_FAULT_LOG: countLog });
      assert.equal(clean.rc, 0, `clean run: ${JSON.stringify(clean)}`);
      assert.notEqual(clean.after, clean.before, 'the clean run changed the cgroup');
      if (mode === 'v1') assert.equal(clean.after, 'c 1:3 rw\nc 1:5 rwm\nc 240:0 r\n');
      const sites = readSites(countLog);
      for (const call of mode === 'v1' ? ['fopen', 'getline', 'openat', 'write'] : ['fopen', 'getline', 'sys_bpf']) {
        assert.ok(
          sites.some((s) => s.call === call),
          `no ${call} call seen: ${JSON.stringify(sites)}`,
        );
      }
      assert.deepEqual(
        sites.filter((s) => FAULTS[s.call] === undefined),
        [],
        'a call the shim wraps but the matrix does not list',
      );
      const cases = faultCases(sites, (call) => FAULTS[call]);
      const failures = [];
      const codes = new Map();
      // The error paths each first fault led to (take-back writes, restores): site -> the
      // first faults that reach it.
      const rollbackSites = new Map();
      for (const c of cases) {
        const log = path.join(dir, 'case.log');
        fs.rmSync(log, { force: true });
        const r = run(mode, { ...c.env, NVC_FAULT_LOG: log });
        if (r.rc !== 0) {
          for (const s of sitesAfterFault(log).filter((x) => FAULTS[x.call] !== undefined)) {
            const key = `${s.call} ${s.site}`;
            if (!rollbackSites.has(key)) rollbackSites.set(key, { ...s, firsts: [] });
            rollbackSites.get(key).firsts.push(c);
          }
        }
        const fail = (why) => failures.push(`${c.label}: ${why} (${JSON.stringify(r)})`);
        if (!fs.readFileSync(log, 'utf8').includes('!fault ')) fail('the fault was never met');
        const outcome = r.rc === 0 ? 'ok' : r.code;
        codes.set(outcome, (codes.get(outcome) ?? 0) + 1);
        if (r.rc === 0) {
          if (shape(r.after) !== shape(clean.after) || r.pinsAfter !== clean.pinsAfter) fail('succeeded with another result than the clean run');
          continue;
        }
        if (RETRIED.has(`${c.call} ${c.fault}`)) fail('not retried');
        if (!TYPED.includes(r.code)) fail(`untyped or unexpected code ${r.code}`);
        if (r.errno !== os.constants.errno[c.fault]) fail(`the error does not carry ${c.fault}`);
        if (r.after !== r.before) fail(`the cgroup changed: ${JSON.stringify(r.before)} -> ${JSON.stringify(r.after)}`);
        if (r.pinsAfter !== r.pinsBefore) fail(`pins left: ${r.pinsBefore} -> ${r.pinsAfter}`);
      }
      console.log(`      ${mode}: ${cases.length} cases over ${sites.length} sites; outcomes: ${JSON.stringify([...codes])}`);

      // Second faults: each site of an error path, with each errno its call can meet, after
      // a first fault that reaches it (every such first fault with NVC_FAULT_FULL=1). The
      // call must fail, never succeed; a cgroup left changed must come with
      // ERR_NVC_ROLLBACK_INCOMPLETE saying what could not be taken back, and that code only
      // when something was left.
      const full = process.env.NVC_FAULT_FULL === '1';
      const codes2 = new Map();
      let cases2 = 0;
      for (const rb of rollbackSites.values()) {
        for (const first of full ? rb.firsts : rb.firsts.slice(0, 1)) {
          for (const errno of FAULTS[rb.call]) {
            cases2++;
            const label = `${first.label}, then ${rb.call} at ${rb.site}: ${errno}`;
            const log = path.join(dir, 'case2.log');
            fs.rmSync(log, { force: true });
            const r = run(mode, {
              ...first.env,
              NVC_FAULT_LOG: log,
              NVC_FAULT_CALL2: rb.call,
              NVC_FAULT_SITE2: rb.site,
              NVC_FAULT_NTH2: '1',
              NVC_FAULT_ERRNO2: String(errnoNumber(errno)),
            });
            const fail = (why) => failures.push(`${label}: ${why} (${JSON.stringify(r)})`);
            if (!fs.readFileSync(log, 'utf8').includes('!fault2 ')) {
              // The first fault's error path may take another turn when its own first call
              // fails differently; the site was met after this first fault, once.
              fail('the second fault was never met');
              continue;
            }
            codes2.set(r.rc === 0 ? 'ok' : r.code, (codes2.get(r.rc === 0 ? 'ok' : r.code) ?? 0) + 1);
            if (r.rc === 0) {
              fail('succeeded after a failure');
              continue;
            }
            const left = r.after !== r.before || r.pinsAfter !== r.pinsBefore;
            if (/[^\x20-\x7e]/.test(r.message)) fail('unreadable bytes in the message');
            if (left && r.code !== 'ERR_NVC_ROLLBACK_INCOMPLETE') fail(`the cgroup was left changed with ${r.code}`);
            if (r.code === 'ERR_NVC_ROLLBACK_INCOMPLETE' && !left) fail('ROLLBACK_INCOMPLETE, but the cgroup is as it was');
            if (!left && !TYPED.includes(r.code)) fail(`untyped or unexpected code ${r.code}`);
          }
        }
      }
      console.log(`      ${mode}: ${cases2} second-fault cases over ${rollbackSites.size} error-path sites; outcomes: ${JSON.stringify([...codes2])}`);
      assert.deepEqual(failures, []);
    });
  }
});
