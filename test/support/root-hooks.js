'use strict';
// Loaded by mocha before every spec (package.json "mocha.require"): after the run, every
// pending test must be one that requireFeature() skipped with NVC_TEST_ABSENT naming the
// missing feature. A bare this.skip(), it.skip or a test without a body fails the run.
const { allowedSkips } = require('./features');

function pendingTests(suite, out = []) {
  for (const t of suite.tests) if (t.isPending()) out.push(t.fullTitle());
  for (const s of suite.suites) pendingTests(s, out);
  return out;
}

exports.mochaHooks = {
  afterAll() {
    // Only the root suite's afterAll sees the whole tree.
    let root = this.test.parent;
    while (root.parent) root = root.parent;
    const pending = pendingTests(root);
    const allowed = new Set(allowedSkips.map((s) => s.where));
    const unexplained = pending.filter((title) => ![...allowed].some((w) => title.startsWith(w)));
    if (allowedSkips.length > 0) {
      const features = [...new Set(allowedSkips.map((s) => s.feature))].join(', ');
      process.stdout.write(`\n  ${pending.length} test(s) skipped because NVC_TEST_ABSENT declares absent: ${features}\n`);
    }
    if (unexplained.length > 0) {
      throw new Error(`tests were skipped without NVC_TEST_ABSENT naming a missing feature:\n  ${unexplained.join('\n  ')}`);
    }
  },
};
