/**
 * The few parts of an ELF relocatable object (a kernel module) the planner reads: sections by name,
 * and the symbol table's undefined symbols. Both ELF classes, little and big endian.
 */
import { NvcError } from '../errors';

export interface ElfSection {
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface ElfObject {
  sections: ElfSection[];
  bytes: Buffer;
  is64: boolean;
  littleEndian: boolean;
}

const SHT_SYMTAB = 2;
const SHN_UNDEF = 0;
const STB_GLOBAL = 1;

function bad(label: string, why: string): NvcError {
  return new NvcError('ERR_NVC_KERNEL_MODULE', `${label} is not a kernel module: ${why}`, { path: label, hint: 'check the file, or reinstall the driver' });
}

export function parseElf(bytes: Buffer, label: string): ElfObject {
  if (bytes.length < 52 || bytes.readUInt32BE(0) !== 0x7f454c46) throw bad(label, 'no ELF header');
  if ((bytes[4] !== 1 && bytes[4] !== 2) || (bytes[5] !== 1 && bytes[5] !== 2)) throw bad(label, 'unknown ELF class or byte order');
  const is64 = bytes[4] === 2;
  const littleEndian = bytes[5] === 1;
  // Every field read below must lie inside the file: a cut or forged header is refused here,
  // never left to a Buffer read that throws a RangeError (found by test/fuzz-properties.test.js).
  if (is64 && bytes.length < 64) throw bad(label, 'truncated ELF header');
  const u16 = (o: number): number => (littleEndian ? bytes.readUInt16LE(o) : bytes.readUInt16BE(o));
  const u32 = (o: number): number => (littleEndian ? bytes.readUInt32LE(o) : bytes.readUInt32BE(o));
  const word = (o: number): number => (is64 ? Number(littleEndian ? bytes.readBigUInt64LE(o) : bytes.readBigUInt64BE(o)) : u32(o));
  if (u16(16) !== 1) throw bad(label, 'not a relocatable object (ET_REL)');
  const shoff = word(is64 ? 0x28 : 0x20);
  const shentsize = u16(is64 ? 0x3a : 0x2e);
  const shnum = u16(is64 ? 0x3c : 0x30);
  const shstrndx = u16(is64 ? 0x3e : 0x32);
  if (shentsize < (is64 ? 64 : 40)) throw bad(label, `section header entries of ${shentsize} bytes are too small`);
  if (shoff === 0 || shnum === 0 || shoff + shnum * shentsize > bytes.length) throw bad(label, 'section header table out of range');
  const raw: Array<Omit<ElfSection, 'name'> & { nameOff: number }> = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * shentsize;
    raw.push(
      is64
        ? { nameOff: u32(at), type: u32(at + 4), offset: word(at + 0x18), size: word(at + 0x20), link: u32(at + 0x28), entsize: word(at + 0x38) }
        : { nameOff: u32(at), type: u32(at + 4), offset: u32(at + 0x10), size: u32(at + 0x14), link: u32(at + 0x18), entsize: u32(at + 0x24) },
    );
  }
  const names = raw[shstrndx];
  if (names === undefined) throw bad(label, 'no section name table');
  const sections = raw.map(({ nameOff, ...s }) => {
    if (s.type !== 8 /* SHT_NOBITS */ && s.offset + s.size > bytes.length) throw bad(label, `a section lies beyond the end of the file`);
    return { ...s, name: cString(bytes, names.offset + nameOff) };
  });
  return { sections, bytes, is64, littleEndian };
}

export function cString(bytes: Buffer, at: number): string {
  const end = bytes.indexOf(0, at);
  return bytes.toString('latin1', at, end < 0 ? bytes.length : end);
}

export function sectionBytes(elf: ElfObject, name: string): Buffer | undefined {
  const s = elf.sections.find((x) => x.name === name);
  return s === undefined ? undefined : elf.bytes.subarray(s.offset, s.offset + s.size);
}

/** Global symbols without a definition: what the kernel must resolve when it links the module (a weak one may stay unresolved). */
export function undefinedSymbols(elf: ElfObject): string[] {
  const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB);
  const strtab = symtab === undefined ? undefined : elf.sections[symtab.link];
  if (symtab === undefined || strtab === undefined) return [];
  const { bytes, is64, littleEndian } = elf;
  const entsize = symtab.entsize || (is64 ? 24 : 16);
  // Each entry's fields are read at fixed offsets: entries smaller than a symbol are not a symbol table.
  if (entsize < (is64 ? 24 : 16)) return [];
  const out: string[] = [];
  for (let at = symtab.offset + entsize; at + entsize <= symtab.offset + symtab.size; at += entsize) {
    const name = littleEndian ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at);
    const info = bytes[at + (is64 ? 4 : 12)] ?? 0;
    const shndxAt = at + (is64 ? 6 : 14);
    const shndx = littleEndian ? bytes.readUInt16LE(shndxAt) : bytes.readUInt16BE(shndxAt);
    const bind = info >> 4;
    if (shndx !== SHN_UNDEF || bind !== STB_GLOBAL || name === 0) continue;
    out.push(cString(bytes, strtab.offset + name));
  }
  return out;
}
