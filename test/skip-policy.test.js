'use strict';
// No silent skips: a test skips only where NVC_TEST_ABSENT names the missing feature, and a
// bare this.skip() fails the run (test/support/root-hooks.js).
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const MOCHA = require.resolve('mocha/bin/mocha.js');
const ROOT = path.resolve(__dirname, '..');

function runFixture(env) {
  const r = spawnSync(process.execPath, [MOCHA, '--no-package', '-r', 'test/support/root-hooks.js', 'test/fixtures/skip-policy.spec.js'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('skip policy', () => {
  it('a missing feature fails, naming it and the variable that declares it absent', () => {
    const r = runFixture({});
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /this test needs widget: a widget\. Install it \(\.ci\/run does\), or set NVC_TEST_ABSENT=widget/);
  });
  it('declared absent, it is skipped and named', () => {
    const r = runFixture({ NVC_TEST_ABSENT: 'gadget, widget' });
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /skipped: widget absent \(NVC_TEST_ABSENT\): skip policy fixture needs a widget/);
    assert.match(r.out, /1 test\(s\) skipped because NVC_TEST_ABSENT declares absent: widget/);
  });
  it('a bare this.skip() fails the run', () => {
    const r = runFixture({ NVC_TEST_ABSENT: 'widget', BARE: '1' });
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /tests were skipped without NVC_TEST_ABSENT naming a missing feature:\s+skip policy fixture bare skip/);
  });
});
