'use strict';
// The README's blocks marked `<!-- runnable -->` run as written: shell blocks with `nvc-ts` on the
// PATH, JavaScript blocks with `require('nvc-ts')` resolving to this package; each in a private
// mount namespace (a guide may configure its own), and each must exit 0.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { requireFeature, isRoot } = require('./support/features');

const ROOT = path.resolve(__dirname, '..');

function runnableBlocks(markdown) {
  const out = [];
  const re = /<!-- runnable -->\n```(sh|js)\n([\s\S]*?)\n```/g;
  let m;
  while ((m = re.exec(markdown)) !== null) {
    const heading =
      markdown
        .slice(0, m.index)
        .match(/^#{2,3} .*$/gm)
        ?.pop() ?? '(top)';
    out.push({ lang: m[1], code: m[2], heading: heading.replace(/^#+ /, '') });
  }
  return out;
}

describe('README: the runnable blocks run as written', function () {
  this.timeout(120000);
  let tmp;
  before(function () {
    requireFeature(this, 'root', isRoot(), 'the guides configure containers and need root');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-readme-'));
    // `nvc-ts` on the PATH, and `require('nvc-ts')` / `nvc-ts/testing` from a project next to it.
    fs.mkdirSync(path.join(tmp, 'bin'));
    fs.writeFileSync(path.join(tmp, 'bin/nvc-ts'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'bin/nvc-ts.js')}" "$@"\n`, { mode: 0o755 });
    fs.mkdirSync(path.join(tmp, 'project/node_modules'), { recursive: true });
    fs.symlinkSync(ROOT, path.join(tmp, 'project/node_modules/nvc-ts'));
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const blocks = runnableBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));

  it('has runnable blocks for the guides', () => {
    assert.ok(blocks.length >= 3, `found ${blocks.length}`);
  });

  blocks.forEach((b, i) => {
    it(`${b.heading} (block ${i + 1}, ${b.lang})`, () => {
      const file = path.join(tmp, 'project', `block${i}.${b.lang === 'js' ? 'js' : 'sh'}`);
      fs.writeFileSync(file, b.code + '\n');
      const argv = b.lang === 'js' ? [process.execPath, file] : ['bash', '-euo', 'pipefail', file];
      const r = spawnSync('unshare', ['-m', '--propagation', 'private', ...argv], {
        cwd: path.join(tmp, 'project'),
        encoding: 'utf8',
        env: { ...process.env, PATH: `${path.join(tmp, 'bin')}:${process.env.PATH}` },
        timeout: 110000,
      });
      assert.equal(r.status, 0, `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    });
  });
});
