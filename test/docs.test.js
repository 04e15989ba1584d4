'use strict';
// The API reference in docs/api is generated from the TypeScript sources (typedoc): it must be the
// one the sources give now, so that it never describes an API that has changed.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');

function files(dir, base = dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))]));
}

describe('docs/api', function () {
  this.timeout(180000);
  it('is what typedoc makes of the sources now (regenerate with `npm run docs`)', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-docs-'));
    try {
      const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--out', out, '--logLevel', 'Error'], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const committed = files(path.join(ROOT, 'docs/api')).sort();
      assert.deepEqual(files(out).sort(), committed);
      for (const f of committed) assert.equal(fs.readFileSync(path.join(out, f), 'utf8'), fs.readFileSync(path.join(ROOT, 'docs/api', f), 'utf8'), f);
      const index = fs.readFileSync(path.join(ROOT, 'docs/api/index/README.md'), 'utf8');
      for (const name of ['init', 'runDoctor', 'injectCdiDevices', 'planKernelModules']) assert.ok(index.includes(name), name);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
