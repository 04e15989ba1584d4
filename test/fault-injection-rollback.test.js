'use strict';
// Second faults (issue 11): the executor's rollback is an error path that only a first
// fault reaches. A first fault fails the last call at each site where the executor changes
// the container (the mount, the directory, the link, the flags: the most left to undo);
// a run with that fault alone records the sites the rollback meets after it (the shim logs
// them after its "!fault" mark); then each of those sites fails in its turn during the
// rollback (NVC_FAULT_CALL2/SITE2/NTH2), with each errno it can meet, at its first call
// (every call with NVC_FAULT_FULL=1). Each case must end in an NvcError, never a crash, a hang or a success;
// whatever is left in the container (a mount, a created path) must come with
// ERR_NVC_ROLLBACK_INCOMPLETE naming what could not be undone, and that code only when
// something was indeed left; no executor may outlive the call.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { NvcError } = require('../dist/index.js');
const { requireFeature, isRoot } = require('./support/features');
const { readSites, sitesAfterFault, errnoNumber } = require('./support/fault');
const { ExecutorFaultBench } = require('./support/fault-exec');

const REQUEST = { devices: '0', capabilities: ['compute', 'utility'], noCgroups: true, noLdconfig: true };

// The first faults: the calls that change the container, and the errno each can meet.
const FIRST = {
  sys_move_mount: 'ENOSPC',
  mkdirat: 'ENOSPC',
  symlinkat: 'EROFS',
  sys_mount_setattr: 'EPERM',
  mount: 'EPERM',
};

// What each call of the rollback can meet.
const SECOND = {
  umount2: ['EBUSY', 'ENOMEM'],
  unlinkat: ['EBUSY', 'EROFS', 'EACCES'],
  fstatat: ['EACCES', 'ENOMEM'],
  sys_mount_setattr: ['EPERM', 'ENOMEM'],
  mount: ['EPERM', 'ENOMEM'],
  sys_open_tree: ['ENOMEM', 'EMFILE'],
  sys_openat2: ['EMFILE', 'ENOMEM'],
  openat: ['EMFILE'],
  open: ['EMFILE'],
  sys_move_mount: ['ENOMEM'],
};

describe('fault injection: a second fault in the executor rollback that a first fault starts', function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), 'the executor enters mount namespaces and mounts');
    requireFeature(
      this,
      'fault-shim',
      process.env.NVC_TEST_SANITIZED !== '1',
      'the fault shim works without the sanitizer runtimes in front of it (npm test runs it)',
    );
  });
  this.timeout(900000);
  const bench = new ExecutorFaultBench(REQUEST);
  const configureOnce = (env) => bench.configureOnce(env);
  const executors = () => bench.executors();
  before(() => bench.open('nvc-fault-rb-'));
  after(() => bench.close());

  it('covers the matrix: every rollback site x its faults ends typed, and names what it left', async () => {
    const full = process.env.NVC_FAULT_FULL === '1';
    const clean = await configureOnce({});
    assert.equal(clean.error, null, `clean run: ${clean.error && clean.error.stack}`);
    const sites = readSites(clean.log);
    const firsts = sites.filter((s) => FIRST[s.call] !== undefined);
    assert.ok(firsts.length > 0, `no call that changes the container was seen: ${JSON.stringify(sites)}`);

    const failures = [];
    const codes = new Map();
    let cases = 0;
    let rollbackSites = 0;
    let conservative = 0;
    for (const first of firsts) {
      const firstEnv = {
        NVC_FAULT_CALL: first.call,
        NVC_FAULT_SITE: first.site,
        NVC_FAULT_NTH: String(first.count),
        NVC_FAULT_ERRNO: String(errnoNumber(FIRST[first.call])),
      };
      const firstLabel = `${first.call} at ${first.site} #${first.count}: ${FIRST[first.call]}`;
      const alone = await configureOnce(firstEnv);
      // Worked around (a fallback took over): no rollback to fail. The executor matrix
      // (fault-injection.test.js) checks that such a success is the clean run's.
      if (alone.error === null) continue;
      // The first fault alone is rolled back completely: the base line for the second.
      if (alone.mounts.length || alone.changed) failures.push(`${firstLabel}: alone, left ${alone.mounts.concat(alone.added).join(', ')}`);
      const after = sitesAfterFault(alone.log).filter((s) => SECOND[s.call] !== undefined);
      rollbackSites += after.length;
      for (const second of after) {
        for (const errno of SECOND[second.call]) {
          for (let nth = 1; nth <= (full ? second.count : 1); nth++) {
            cases++;
            const label = `${firstLabel}, then ${second.call} at ${second.site} #${nth}: ${errno}`;
            const fail = (why) => failures.push(`${label}: ${why}`);
            const ran = await configureOnce({
              ...firstEnv,
              NVC_FAULT_CALL2: second.call,
              NVC_FAULT_SITE2: second.site,
              NVC_FAULT_NTH2: String(nth),
              NVC_FAULT_ERRNO2: String(errnoNumber(errno)),
            });
            const log = fs.readFileSync(ran.log, 'utf8');
            if (!log.includes('!fault2 ')) {
              fail('the second fault was never met');
              continue;
            }
            if (ran.error === null) {
              fail('configure succeeded');
              continue;
            }
            const e = ran.error;
            codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
            if (!(e instanceof NvcError)) fail(`not an NvcError: ${e.stack}`);
            const left = ran.mounts.concat(ran.added);
            // Every word of it readable: an undo step once named its path from freed stack.
            if (/[^\x20-\x7e]/.test(e.message)) fail(`unreadable bytes in the message: ${JSON.stringify(e.message)}`);
            if (left.length && e.code !== 'ERR_NVC_ROLLBACK_INCOMPLETE') fail(`left ${left.slice(0, 5).join(', ')} with ${e.code}: ${e.message}`);
            if (e.code === 'ERR_NVC_ROLLBACK_INCOMPLETE') {
              if (!/undoing the plan failed too/.test(e.message)) fail(`ROLLBACK_INCOMPLETE without what failed: ${e.message}`);
              // A step that failed may have been made moot by a later one (a directory made
              // inside a tmpfs that was then unmounted): a false alarm, never a silent loss.
              if (!left.length) conservative++;
              // It names (one of) the things it left, by their path in the container.
              if (left.length && !left.some((p) => e.message.includes(p.replace(/^\/?/, '/')) || e.message.includes(p))) {
                fail(`ROLLBACK_INCOMPLETE names none of what was left (${left.slice(0, 5).join(', ')}): ${e.message}`);
              }
            }
            if (!ran.settled) fail(`executor processes left: ${executors().join(',')}`);
            if (process.env.NVC_FAULT_VERBOSE) console.log(`      ${label}: ${e.code} ${e.message.slice(0, 200)}`);
          }
        }
      }
    }
    console.log(
      `      ${cases} cases: ${firsts.length} first faults, ${rollbackSites} rollback sites; codes: ${JSON.stringify([...codes])}; ROLLBACK_INCOMPLETE over a clean container (moot step): ${conservative}`,
    );
    if (failures.length) console.log(failures.map((f) => `      FAILED ${f}`).join('\n'));
    assert.ok(cases > 0, 'no rollback site was met');
    assert.deepEqual(failures, []);
  });
});
