'use strict';
// Loaded by mocha before every spec (package.json "mocha.require"): after the run, every
// pending test must be one that requireFeature() skipped with NVC_TEST_ABSENT naming the
// missing feature. A bare this.skip(), it.skip or a test without a body fails the run.
// Run as an ordinary user, the tests that need root are skipped: the run says how many at the
// top and checks at the end that exactly those were skipped.
const { allowedSkips, isRoot, PRIVILEGED_FEATURES } = require('./features');

function pendingTests(suite, out = []) {
  for (const t of suite.tests) if (t.isPending()) out.push(t.fullTitle());
  for (const s of suite.suites) pendingTests(s, out);
  return out;
}

// A test needs root when it, or a before/beforeEach hook of a suite around it, calls
// requireFeature(this, 'root' | 'mknod', ...): that call is the declaration, read from the source
// before anything runs so that the count can be given first.
const DECLARES = new RegExp(`requireFeature\\(this, '(${PRIVILEGED_FEATURES.join('|')})'`);
function privilegedTests(suite, inherited = false, out = []) {
  const hooks = [...suite._beforeAll, ...suite._beforeEach];
  const here = inherited || hooks.some((h) => DECLARES.test(String(h.fn)));
  for (const t of suite.tests) if (here || DECLARES.test(String(t.fn))) out.push(t.fullTitle());
  for (const s of suite.suites) privilegedTests(s, here, out);
  return out;
}

function rootSuite(ctx) {
  let root = ctx.test.parent;
  while (root.parent) root = root.parent;
  return root;
}

let announced = null;

exports.mochaHooks = {
  beforeAll() {
    if (isRoot()) return;
    announced = privilegedTests(rootSuite(this));
    process.stdout.write(
      `\n  Not running as root: ${announced.length} test(s) need root (mount namespaces, device nodes, cgroups, ` +
        `runc) and will be skipped. Run the tests as root (sudo npm test) to run them all.\n`,
    );
  },
  afterAll() {
    // Only the root suite's afterAll sees the whole tree.
    const pending = pendingTests(rootSuite(this));
    const allowed = new Set(allowedSkips.map((s) => s.where));
    const unexplained = pending.filter((title) => ![...allowed].some((w) => title.startsWith(w)));
    const notRoot = (s) => !isRoot() && PRIVILEGED_FEATURES.includes(s.feature);
    const skippedBy = (skips) => pending.filter((t) => skips.some((s) => t.startsWith(s.where)));
    const forRoot = skippedBy(allowedSkips.filter(notRoot));
    const declared = allowedSkips.filter((s) => !notRoot(s));
    if (forRoot.length > 0) process.stdout.write(`\n  ${forRoot.length} test(s) skipped because they need root\n`);
    if (declared.length > 0) {
      const features = [...new Set(declared.map((s) => s.feature))].join(', ');
      const count = skippedBy(declared).filter((t) => !forRoot.includes(t)).length;
      process.stdout.write(`\n  ${count} test(s) skipped because NVC_TEST_ABSENT declares absent: ${features}\n`);
    }
    if (announced !== null) {
      const privileged = new Set(announced);
      const unannounced = pending.filter(
        (t) => !privileged.has(t) && allowedSkips.some((s) => PRIVILEGED_FEATURES.includes(s.feature) && t.startsWith(s.where)),
      );
      const ran = announced.filter((t) => !pending.includes(t));
      if (ran.length > 0)
        process.stdout.write(`  counted as needing root but run all the same (their declaration is conditional):\n    ${ran.join('\n    ')}\n`);
      if (unannounced.length > 0) {
        throw new Error(
          `tests skipped for root that the count at the top missed (declare root with requireFeature(this, 'root', ...)):\n  ${unannounced.join('\n  ')}`,
        );
      }
    }
    if (unexplained.length > 0) {
      throw new Error(`tests were skipped without NVC_TEST_ABSENT naming a missing feature:\n  ${unexplained.join('\n  ')}`);
    }
  },
};
