#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI lives in dist/cli/main.js (built from lib/cli/main.ts).

// Output piped into `head` and the like: stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (err) => {
  if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const { main } = require('../dist/cli/main.js');

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (err) => {
    process.stderr.write(`nvc-ts: internal error: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);
