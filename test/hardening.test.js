'use strict';
// Issue 11: what a hostile image (or runtime input) can make the hook do. Each block is one
// finding of the review; every bound is checked for the whole class of input, not one value.
const assert = require('node:assert/strict');
const { interpretContainerEnv } = require('../dist/hook-env.js');
const { parseImexChannels, IMEX_CHANNELS_PER_REQUEST_MAX } = require('../dist/select.js');

const ids = (n, from = 0) => Array.from({ length: n }, (_, i) => String(from + i));

describe('hardening: IMEX channel requests are bounded (finding 1)', () => {
  it('an image asking for 20,000 channels is refused naming NVIDIA_IMEX_CHANNELS, before any probe', () => {
    assert.throws(
      () => interpretContainerEnv({ env: ['NVIDIA_VISIBLE_DEVICES=all', `NVIDIA_IMEX_CHANNELS=${ids(20000).join(',')}`], privileged: false }),
      (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && e.field === 'NVIDIA_IMEX_CHANNELS' && /at most \d+/.test(e.message),
    );
  });

  it('the bound applies to distinct ids wherever they come from (hook env or --imex-channel)', () => {
    const max = IMEX_CHANNELS_PER_REQUEST_MAX;
    assert.ok(Number.isInteger(max) && max >= 1 && max < 4096);
    assert.equal(parseImexChannels(ids(max, 1000).join(',')).length, max);
    // Repeats do not count: the limit is on what would be probed and bound.
    assert.equal(parseImexChannels([...ids(max), ...ids(max)]).length, 2 * max);
    for (const spec of [ids(max + 1).join(','), [ids(max).join(','), String(1 << 19)]]) {
      assert.throws(
        () => parseImexChannels(spec),
        (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && e.field === 'imex-channel' && /too many IMEX channels/.test(e.message),
      );
    }
    const r = interpretContainerEnv({ env: ['NVIDIA_VISIBLE_DEVICES=all', `NVIDIA_IMEX_CHANNELS=${ids(max).join(',')}`], privileged: false });
    assert.equal(r.imexChannels.split(',').length, max);
  });
});
