#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI lives in dist/cli/main.js (built from lib/cli/main.ts).

// Output piped into `head` and the like: stop quietly instead of crashing on EPIPE.
// A full disk or a broken device: one line naming it, not a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    if (stream === process.stdout) {
      try {
        process.stderr.write(
          `nvc-ts: error: cannot write the output (${err && err.code ? err.code : err}${err && err.code === 'ENOSPC' ? ': no space left on the device' : ''})\n`,
        );
      } catch {
        // stderr is gone too
      }
    }
    process.exit(1);
  });
}

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
