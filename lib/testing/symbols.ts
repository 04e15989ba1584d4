/**
 * Hiding symbols of the mock NVML library, to simulate drivers that lack some of NVML's exports (an old one
 * without nvmlDeviceGetPciInfo_v3, a broken one without nvmlDeviceGetName...).
 *
 * The installed copy of the library gets the hidden names altered in place in its dynamic string table. The
 * symbol's hash-table entry still holds the hash of the original name, so a dlsym of the original name finds
 * the entry, compares the strings, and misses; the altered name is unreachable too (its hash differs). Nothing
 * moves, so the file stays a valid shared object.
 */

/** The functions the mock exports (native/mock-nvml/mock_nvml.c), all of which may be hidden. */
export const MOCK_NVML_EXPORTS: readonly string[] = [
  'nvmlInit_v2',
  'nvmlInit',
  'nvmlShutdown',
  'nvmlErrorString',
  'nvmlSystemGetDriverVersion',
  'nvmlSystemGetCudaDriverVersion',
  'nvmlDeviceGetCount_v2',
  'nvmlDeviceGetCount',
  'nvmlDeviceGetHandleByIndex_v2',
  'nvmlDeviceGetHandleByIndex',
  'nvmlDeviceGetName',
  'nvmlDeviceGetUUID',
  'nvmlDeviceGetPciInfo_v3',
  'nvmlDeviceGetPciInfo_v2',
  'nvmlDeviceGetPciInfo',
  'nvmlDeviceGetCudaComputeCapability',
  'nvmlDeviceGetBrand',
  'nvmlDeviceGetMinorNumber',
  'nvmlDeviceGetPersistenceMode',
  'nvmlDeviceGetMigMode',
  'nvmlDeviceGetMaxMigDeviceCount',
  'nvmlDeviceGetMigDeviceHandleByIndex',
  'nvmlDeviceGetGpuInstanceId',
  'nvmlDeviceGetComputeInstanceId',
];

const SHT_RELA = 4;
const SHT_REL = 9;
const SHT_DYNSYM = 11;
const SHN_UNDEF = 0;

interface Section {
  type: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

function fail(message: string): never {
  throw new Error(`hiding NVML symbols: ${message}`);
}

function sections(buf: Buffer): Section[] {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) fail('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) fail('only 64-bit little-endian libraries are supported');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  if (shentsize < 64 || shoff + shnum * shentsize > buf.length) fail('section headers out of bounds');
  const out: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * shentsize;
    const s: Section = {
      type: buf.readUInt32LE(h + 4),
      offset: Number(buf.readBigUInt64LE(h + 0x18)),
      size: Number(buf.readBigUInt64LE(h + 0x20)),
      link: buf.readUInt32LE(h + 0x28),
      entsize: Number(buf.readBigUInt64LE(h + 0x38)),
    };
    if (s.type !== 8 /* SHT_NOBITS */ && s.offset + s.size > buf.length) fail(`section ${i} out of bounds`);
    out.push(s);
  }
  return out;
}

function cString(buf: Buffer, start: number, end: number): string {
  const nul = buf.indexOf(0, start);
  if (nul < 0 || nul >= end) fail('unterminated symbol name');
  return buf.toString('latin1', start, nul);
}

/**
 * A copy of the shared object `lib` in which dlsym finds none of `names`. Throws when a name is not a symbol
 * the library defines, or when the library itself refers to it (hiding it would then break loading).
 */
export function hideDynamicSymbols(lib: Buffer, names: readonly string[]): Buffer {
  if (names.length === 0) return lib;
  const out = Buffer.from(lib);
  const all = sections(out);
  const dynsymIndex = all.findIndex((s) => s.type === SHT_DYNSYM);
  const dynsym = all[dynsymIndex];
  const dynstr = dynsym ? all[dynsym.link] : undefined;
  if (!dynsym || !dynstr || dynsym.entsize !== 24) fail('no dynamic symbol table');

  const symbols: { index: number; name: string; nameAt: number; defined: boolean }[] = [];
  for (let i = 0; i * 24 < dynsym.size; i++) {
    const e = dynsym.offset + i * 24;
    const nameOff = out.readUInt32LE(e);
    if (nameOff >= dynstr.size) fail('symbol name out of bounds');
    const nameAt = dynstr.offset + nameOff;
    symbols.push({ index: i, name: cString(out, nameAt, dynstr.offset + dynstr.size), nameAt, defined: out.readUInt16LE(e + 6) !== SHN_UNDEF });
  }

  // Relocations against the dynamic symbols: a hidden symbol must have none, or loading would fail.
  const referenced = new Set<number>();
  for (const s of all) {
    if ((s.type !== SHT_RELA && s.type !== SHT_REL) || s.link !== dynsymIndex || s.entsize === 0) continue;
    for (let r = s.offset; r + s.entsize <= s.offset + s.size; r += s.entsize) referenced.add(Number(out.readBigUInt64LE(r + 8) >> 32n));
  }

  for (const name of new Set(names)) {
    const sym = symbols.find((s) => s.defined && s.name === name);
    if (sym === undefined) fail(`the library does not define ${name}`);
    if (referenced.has(sym.index)) fail(`the library refers to ${name} itself`);
    // The string must be this symbol's alone: the linker may store one name as the tail of another.
    const end = sym.nameAt + name.length;
    if (symbols.some((o) => o !== sym && o.nameAt + o.name.length === end)) fail(`${name} shares its string with another symbol`);
    // "nvml..." becomes "xvml...": same length, so no offset moves.
    out[sym.nameAt] = 0x78;
  }
  return out;
}
