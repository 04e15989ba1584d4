'use strict';
// What a test needs from the machine. Under CI (root, the packages .ci/run installs) every
// feature is present, so a missing one is a failure, never a quiet skip. A machine that truly
// lacks one says so in NVC_TEST_ABSENT (comma-separated feature names); the tests that need
// it are then skipped and named in the output, and the root hook counts them.

const allowedSkips = [];

// What a run as an ordinary user cannot have: these are absent without being declared, and the
// root hook says at the top how many tests need them.
const PRIVILEGED_FEATURES = ['root', 'mknod'];

function absentByEnv(feature) {
  if (PRIVILEGED_FEATURES.includes(feature) && !isRoot()) return true;
  return (process.env.NVC_TEST_ABSENT || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .includes(feature);
}

/**
 * In a mocha hook or test: return when `present`; skip (naming the feature) when
 * NVC_TEST_ABSENT lists it; otherwise fail, saying how to install it or declare it absent.
 */
function requireFeature(mochaContext, feature, present, what) {
  if (present) return;
  if (absentByEnv(feature)) {
    const t = mochaContext.test;
    const where = t.type === 'hook' ? t.parent.fullTitle() : t.fullTitle();
    allowedSkips.push({ feature, where });
    const why = PRIVILEGED_FEATURES.includes(feature) && !isRoot() ? `needs ${feature}, not running as root` : `${feature} absent (NVC_TEST_ABSENT)`;
    process.stdout.write(`      skipped: ${why}: ${where}\n`);
    mochaContext.skip();
  }
  throw new Error(`this test needs ${feature}: ${what}. Install it (.ci/run does), or set NVC_TEST_ABSENT=${feature} on a machine that cannot have it`);
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

module.exports = { requireFeature, allowedSkips, absentByEnv, isRoot, PRIVILEGED_FEATURES };
