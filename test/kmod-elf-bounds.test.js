'use strict';
// Regression cases found by test/fuzz-properties.test.js: a kernel module cut short or with a
// forged header gave a RangeError from a Buffer read instead of ERR_NVC_KERNEL_MODULE.
const assert = require('node:assert/strict');
const { moduleInfoFromImage } = require('../dist/kmod/modinfo.js');
const { buildKernelModule } = require('../dist/testing/index.js');

const read = (image) => moduleInfoFromImage(image, '/lib/modules/6.1.0/nvidia-drm.ko', 'none', 'nvidia-drm.ko');
const refused = (e) => e.code === 'ERR_NVC_KERNEL_MODULE' && e.path === '/lib/modules/6.1.0/nvidia-drm.ko';

describe('kernel module ELF reader: forged or cut headers are refused with ERR_NVC_KERNEL_MODULE', () => {
  const base = buildKernelModule({ file: 'nvidia-drm', depends: ['nvidia'], exportedSymbols: ['a'], undefinedSymbols: ['b'] });

  it('the untouched fixture reads', () => {
    assert.equal(read(base).name, 'nvidia_drm');
  });

  it('a 64-bit header cut anywhere between 52 and 64 bytes', () => {
    for (let n = 52; n < 64; n++) assert.throws(() => read(base.subarray(0, n)), refused, `cut at ${n}`);
  });

  it('section header entries smaller than a section header', () => {
    const image = Buffer.from(base);
    image.writeUInt16LE(1, 0x3a); // e_shentsize
    assert.throws(() => read(image), refused);
  });

  it('an unknown ELF class or byte order', () => {
    for (const [at, v] of [
      [4, 0],
      [4, 3],
      [5, 0],
      [5, 7],
    ]) {
      const image = Buffer.from(base);
      image[at] = v;
      assert.throws(() => read(image), refused, `byte ${at} = ${v}`);
    }
  });

  it('a symbol table whose entries are smaller than a symbol gives no symbols rather than a stray read', () => {
    const image = Buffer.from(base);
    const shoff = Number(image.readBigUInt64LE(0x28));
    const shnum = image.readUInt16LE(0x3c);
    let patched = false;
    for (let i = 0; i < shnum; i++) {
      const at = shoff + i * 64;
      if (image.readUInt32LE(at + 4) === 2 /* SHT_SYMTAB */) {
        image.writeBigUInt64LE(1n, at + 0x38);
        patched = true;
      }
    }
    assert.ok(patched, 'the fixture has a symbol table');
    assert.deepEqual(read(image).undefinedSymbols, []);
  });
});
