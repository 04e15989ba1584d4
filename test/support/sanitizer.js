'use strict';
// The suite under `npm run test:asan` (scripts/test-asan.sh sets NVC_TEST_SANITIZED=1): the addon
// and every helper are built with ASan+UBSan, and node, which is not, gets their runtimes through
// LD_PRELOAD, the sanitized build through NVC_TS_PREBUILD and the report options through
// ASAN_OPTIONS/UBSAN_OPTIONS. A few tests start processes outside that inherited environment;
// they use these helpers, which change nothing in the normal run.

const sanitized = process.env.NVC_TEST_SANITIZED === '1';

// What a process that loads the sanitized addon needs from its environment.
const CARRIED = ['LD_PRELOAD', 'NVC_TS_PREBUILD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS'];

/**
 * `NAME=value` entries to append to the env of an OCI hook: runc gives a hook only the env its
 * config names, so a Node hook would load the ordinary build without the runtimes, and the
 * native client's NVC_TS_* would not match the service's. Empty in the normal run.
 */
function sanitizerEnv() {
  if (!sanitized) return [];
  return CARRIED.filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
}

/** The preloaded runtimes, to put first in a test's own LD_PRELOAD (ASan must come first). */
function sanitizerPreload() {
  if (!sanitized || !process.env.LD_PRELOAD) return [];
  return process.env.LD_PRELOAD.split(':').filter(Boolean);
}

/**
 * `env` without the preloaded runtimes, for a program that is not ours and that the test only
 * uses (man's troff has its own new[]/free mismatch, which ASan would report as ours). The same
 * object in the normal run.
 */
function withoutSanitizer(env = process.env) {
  if (!sanitized) return env;
  const out = { ...env };
  delete out.LD_PRELOAD;
  return out;
}

module.exports = { sanitized, sanitizerEnv, sanitizerPreload, withoutSanitizer };
