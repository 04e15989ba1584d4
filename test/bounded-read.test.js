'use strict';
// The one reader of files others control: whole procfs files however long (they say size 0),
// exact limits, refusals by type.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { readBounded, UnreadableFile } = require('../dist/bounded-read.js');

describe('bounded reads', () => {
  it('a procfs file longer than one buffer is read whole (procfs says size 0)', async () => {
    const expected = fs.readFileSync('/proc/self/maps', 'utf8');
    assert.ok(expected.length > 8192, 'the test needs a long proc file');
    const got = (await readBounded('/proc/self/maps', 1 << 20)).toString('utf8');
    // The maps of this process change as it runs; the first lines stay.
    assert.equal(got.split('\n')[0], expected.split('\n')[0]);
    assert.ok(got.length > 8192);
  });

  it('a file of exactly the limit is read; one byte more is refused; a FIFO is refused by type', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-bounded-'));
    try {
      fs.writeFileSync(path.join(dir, 'exact'), Buffer.alloc(10000, 97));
      fs.writeFileSync(path.join(dir, 'over'), Buffer.alloc(10001, 97));
      assert.equal((await readBounded(path.join(dir, 'exact'), 10000)).length, 10000);
      await assert.rejects(readBounded(path.join(dir, 'over'), 10000), (e) => e instanceof UnreadableFile && e.reason === 'size');
      require('node:child_process').execFileSync('mkfifo', [path.join(dir, 'fifo')]);
      await assert.rejects(readBounded(path.join(dir, 'fifo'), 10000), (e) => e instanceof UnreadableFile && e.reason === 'type' && /a FIFO/.test(e.why));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
