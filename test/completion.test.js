'use strict';
// Completion scripts and the man page come from the parser's own option tables: every command and
// every option the CLI accepts is offered, and the page renders without warnings.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { COMMANDS } = require('../dist/cli/registry.js');
const { GLOBAL_OPTIONS } = require('../dist/cli/args.js');
const { requireFeature } = require('./support/features');
// man runs groff, not ours: under test:asan it gets no sanitizer runtime (see support/sanitizer.js).
const { withoutSanitizer } = require('./support/sanitizer');

const CLI = path.join(__dirname, '..', 'bin', 'nvc-ts.js');
const out = (what) => {
  const r = spawnSync(process.execPath, [CLI, 'completion', what], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

describe('completion and man page', function () {
  this.timeout(30000);

  it('bash: the commands at the first word, and each command its own options and the global ones', () => {
    const file = path.join(os.tmpdir(), `nvc-completion-${process.pid}.bash`);
    fs.writeFileSync(file, out('bash'));
    try {
      const complete = (words) => {
        const r = spawnSync(
          'bash',
          [
            '-c',
            `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _nvc_ts; printf '%s\\n' "\${COMPREPLY[@]}"`,
          ],
          { encoding: 'utf8' },
        );
        assert.equal(r.status, 0, r.stderr);
        return r.stdout.split('\n').filter(Boolean).sort();
      };
      assert.deepEqual(
        complete(['nvc-ts', '']).filter((w) => !w.startsWith('-')),
        COMMANDS.map((c) => c.spec.name).sort(),
      );
      for (const c of COMMANDS) {
        const offered = complete(['nvc-ts', c.spec.name, '--']);
        for (const name of [...Object.keys(c.spec.options), ...Object.keys(GLOBAL_OPTIONS)])
          assert.ok(offered.includes(`--${name}`), `${c.spec.name}: --${name}`);
      }
      assert.deepEqual(complete(['nvc-ts', 'doc']), ['doctor']);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('zsh: every command with its summary', () => {
    const text = out('zsh');
    assert.match(text, /^#compdef nvc-ts/);
    for (const c of COMMANDS) assert.match(text, new RegExp(`'${c.spec.name}:`));
  });

  it('man: renders without warnings and lists every command and global option', function () {
    requireFeature(this, 'man', spawnSync('sh', ['-c', 'command -v man']).status === 0, 'man-db (man) to render the page');
    const file = path.join(os.tmpdir(), `nvc-ts-${process.pid}.1`);
    fs.writeFileSync(file, out('man'));
    try {
      const r = spawnSync('man', ['--warnings', '-l', file], {
        encoding: 'utf8',
        env: { ...withoutSanitizer(), MANWIDTH: '100', MANPAGER: 'cat', PAGER: 'cat' },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', 'no groff warnings');
      for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^\\s+${c.spec.name}$`, 'm'), c.spec.name);
      for (const name of Object.keys(GLOBAL_OPTIONS)) assert.ok(r.stdout.includes(`--${name}`), `--${name}`);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
