/**
 * Minimal ELF shared objects for simulated driver roots.
 *
 * The files carry no code. They hold what `ldconfig` and our own readers look at:
 * an ELF header for the wanted class and machine, a PT_LOAD that covers the file,
 * a PT_DYNAMIC with DT_NEEDED / DT_SONAME / DT_STRTAB (plus an empty symbol table
 * and hash table so the dynamic loader would accept them too), a PT_GNU_STACK
 * (non-executable stack) and, on request, a PT_NOTE with an NT_GNU_ABI_TAG note.
 * A small section header table names the same ranges for readelf and friends.
 */

export type ElfMachine = 'x86_64' | 'i386' | 'aarch64';

export interface ElfSharedObjectOptions {
  machine: ElfMachine;
  /** DT_SONAME; omitted when undefined. */
  soname?: string;
  /** DT_NEEDED entries, in order. Defaults to ["libc.so.6"], which makes ldconfig file 32-bit libraries as libc6. */
  needed?: string[];
  /** NT_GNU_ABI_TAG (OS Linux) version, e.g. [2, 3, 99]. */
  abiTag?: [number, number, number];
}

const EM: Record<ElfMachine, number> = { x86_64: 62, i386: 3, aarch64: 183 };
const CLASS64: Record<ElfMachine, boolean> = { x86_64: true, i386: false, aarch64: true };

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_NOTE = 4;
const PT_GNU_STACK = 0x6474e551;
const PF_W = 2;
const PF_R = 4;

const SHT_STRTAB = 3;
const SHT_HASH = 5;
const SHT_DYNAMIC = 6;
const SHT_NOTE = 7;
const SHT_DYNSYM = 11;
const SHF_WRITE = 1;
const SHF_ALLOC = 2;

const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_HASH = 4;
const DT_STRTAB = 5;
const DT_SYMTAB = 6;
const DT_STRSZ = 10;
const DT_SYMENT = 11;
const DT_SONAME = 14;

const NT_GNU_ABI_TAG = 1;
const ELF_NOTE_OS_LINUX = 0;

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** A string table that hands out offsets, with the leading NUL every ELF string table has. */
class StringTable {
  private readonly parts: Buffer[] = [Buffer.alloc(1)];
  private size = 1;
  private readonly index = new Map<string, number>();

  add(s: string): number {
    const known = this.index.get(s);
    if (known !== undefined) return known;
    const bytes = Buffer.from(`${s}\0`, 'utf8');
    const off = this.size;
    this.parts.push(bytes);
    this.size += bytes.length;
    this.index.set(s, off);
    return off;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

interface Section {
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  align: number;
  entsize: number;
}

/** Builds the bytes of a minimal ELF shared object (ET_DYN, little endian). */
export function buildElfSharedObject(opts: ElfSharedObjectOptions): Buffer {
  const is64 = CLASS64[opts.machine];
  const needed = opts.needed ?? ['libc.so.6'];
  const word = is64 ? 8 : 4;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const shentsize = is64 ? 64 : 40;
  const dynsize = is64 ? 16 : 8;
  const symsize = is64 ? 24 : 16;

  const dynstr = new StringTable();
  const neededOffsets = needed.map((n) => dynstr.add(n));
  const sonameOffset = opts.soname === undefined ? undefined : dynstr.add(opts.soname);
  const dynstrBytes = dynstr.bytes();

  for (const part of opts.abiTag ?? []) {
    if (!Number.isInteger(part) || part < 0 || part > 0xffffffff) throw new RangeError(`bad ABI tag part ${part}`);
  }
  const phnum = opts.abiTag ? 4 : 3;

  // Layout: ehdr, phdrs, note, hash, dynsym, dynstr, dynamic, shstrtab, shdrs.
  let off = ehsize + phnum * phentsize;
  const noteOff = align(off, 4);
  const noteSize = opts.abiTag ? 16 + 16 : 0;
  off = noteOff + noteSize;
  const hashOff = align(off, 4);
  const hashSize = 16; // nbucket=1, nchain=1, bucket[0]=0, chain[0]=0
  off = hashOff + hashSize;
  const symOff = align(off, word);
  off = symOff + symsize; // only the null symbol
  const strOff = off;
  off = strOff + dynstrBytes.length;
  const dynOff = align(off, word);
  const dynEntries: [number, number][] = [
    ...neededOffsets.map((o): [number, number] => [DT_NEEDED, o]),
    ...(sonameOffset === undefined ? [] : [[DT_SONAME, sonameOffset] as [number, number]]),
    [DT_HASH, hashOff],
    [DT_STRTAB, strOff],
    [DT_SYMTAB, symOff],
    [DT_STRSZ, dynstrBytes.length],
    [DT_SYMENT, symsize],
    [DT_NULL, 0],
  ];
  const dynSize = dynEntries.length * dynsize;
  off = dynOff + dynSize;
  const loadEnd = off;

  const sections: Section[] = [];
  const shstr = new StringTable();
  const sec = (s: Section): number => {
    shstr.add(s.name);
    sections.push(s);
    return sections.length; // index, counting the null section at 0
  };
  if (opts.abiTag) {
    sec({ name: '.note.ABI-tag', type: SHT_NOTE, flags: SHF_ALLOC, offset: noteOff, size: noteSize, link: 0, info: 0, align: 4, entsize: 0 });
  }
  const hashIdx = sec({ name: '.hash', type: SHT_HASH, flags: SHF_ALLOC, offset: hashOff, size: hashSize, link: 0, info: 0, align: 4, entsize: 4 });
  const symIdx = sec({ name: '.dynsym', type: SHT_DYNSYM, flags: SHF_ALLOC, offset: symOff, size: symsize, link: 0, info: 1, align: word, entsize: symsize });
  const strIdx = sec({ name: '.dynstr', type: SHT_STRTAB, flags: SHF_ALLOC, offset: strOff, size: dynstrBytes.length, link: 0, info: 0, align: 1, entsize: 0 });
  sec({
    name: '.dynamic',
    type: SHT_DYNAMIC,
    flags: SHF_ALLOC | SHF_WRITE,
    offset: dynOff,
    size: dynSize,
    link: strIdx,
    info: 0,
    align: word,
    entsize: dynsize,
  });
  const hashSec = sections[hashIdx - 1];
  const symSec = sections[symIdx - 1];
  if (hashSec) hashSec.link = symIdx;
  if (symSec) symSec.link = strIdx;
  shstr.add('.shstrtab');
  const shstrBytes = shstr.bytes(); // every section name is in by now
  const shstrOff = off;
  sections.push({ name: '.shstrtab', type: SHT_STRTAB, flags: 0, offset: shstrOff, size: shstrBytes.length, link: 0, info: 0, align: 1, entsize: 0 });
  off = shstrOff + shstrBytes.length;
  const shoff = align(off, word);
  const shnum = sections.length + 1;
  const total = shoff + shnum * shentsize;

  const b = Buffer.alloc(total);
  // Writers for the class-dependent "address/offset" width.
  const wAddr = (pos: number, v: number): void => {
    if (is64) b.writeBigUInt64LE(BigInt(v), pos);
    else b.writeUInt32LE(v, pos);
  };

  // ELF header.
  b.write('\x7fELF', 0, 'latin1');
  b[4] = is64 ? 2 : 1; // EI_CLASS
  b[5] = 1; // EI_DATA: little endian
  b[6] = 1; // EI_VERSION
  b[7] = 0; // EI_OSABI: System V
  b.writeUInt16LE(3, 16); // e_type: ET_DYN
  b.writeUInt16LE(EM[opts.machine], 18);
  b.writeUInt32LE(1, 20); // e_version
  if (is64) {
    wAddr(24, 0); // e_entry
    wAddr(32, ehsize); // e_phoff
    wAddr(40, shoff); // e_shoff
    b.writeUInt32LE(0, 48); // e_flags
    b.writeUInt16LE(ehsize, 52);
    b.writeUInt16LE(phentsize, 54);
    b.writeUInt16LE(phnum, 56);
    b.writeUInt16LE(shentsize, 58);
    b.writeUInt16LE(shnum, 60);
    b.writeUInt16LE(shnum - 1, 62); // e_shstrndx: .shstrtab is last
  } else {
    wAddr(24, 0);
    wAddr(28, ehsize);
    wAddr(32, shoff);
    b.writeUInt32LE(0, 36);
    b.writeUInt16LE(ehsize, 40);
    b.writeUInt16LE(phentsize, 42);
    b.writeUInt16LE(phnum, 44);
    b.writeUInt16LE(shentsize, 46);
    b.writeUInt16LE(shnum, 48);
    b.writeUInt16LE(shnum - 1, 50);
  }

  // Program headers. Virtual addresses equal file offsets (load bias 0).
  let ph = ehsize;
  const phdr = (type: number, flags: number, offset: number, size: number, palign: number): void => {
    if (is64) {
      b.writeUInt32LE(type, ph);
      b.writeUInt32LE(flags, ph + 4);
      wAddr(ph + 8, offset);
      wAddr(ph + 16, offset); // p_vaddr
      wAddr(ph + 24, offset); // p_paddr
      wAddr(ph + 32, size); // p_filesz
      wAddr(ph + 40, size); // p_memsz
      wAddr(ph + 48, palign);
    } else {
      b.writeUInt32LE(type, ph);
      wAddr(ph + 4, offset);
      wAddr(ph + 8, offset);
      wAddr(ph + 12, offset);
      wAddr(ph + 16, size);
      wAddr(ph + 20, size);
      b.writeUInt32LE(flags, ph + 24);
      wAddr(ph + 28, palign);
    }
    ph += phentsize;
  };
  phdr(PT_LOAD, PF_R | PF_W, 0, loadEnd, 0x1000);
  phdr(PT_DYNAMIC, PF_R | PF_W, dynOff, dynSize, word);
  if (opts.abiTag) phdr(PT_NOTE, PF_R, noteOff, noteSize, 4);
  phdr(PT_GNU_STACK, PF_R | PF_W, 0, 0, 16);

  // NT_GNU_ABI_TAG: namesz 4, descsz 16, type 1, "GNU\0", then os, major, minor, patch.
  if (opts.abiTag) {
    b.writeUInt32LE(4, noteOff);
    b.writeUInt32LE(16, noteOff + 4);
    b.writeUInt32LE(NT_GNU_ABI_TAG, noteOff + 8);
    b.write('GNU\0', noteOff + 12, 'latin1');
    b.writeUInt32LE(ELF_NOTE_OS_LINUX, noteOff + 16);
    b.writeUInt32LE(opts.abiTag[0], noteOff + 20);
    b.writeUInt32LE(opts.abiTag[1], noteOff + 24);
    b.writeUInt32LE(opts.abiTag[2], noteOff + 28);
  }

  // Hash table with one empty bucket and the null symbol's chain slot; the symbol itself is all zeros.
  b.writeUInt32LE(1, hashOff);
  b.writeUInt32LE(1, hashOff + 4);

  dynstrBytes.copy(b, strOff);

  let d = dynOff;
  for (const [tag, val] of dynEntries) {
    wAddr(d, tag);
    wAddr(d + word, val);
    d += dynsize;
  }

  shstrBytes.copy(b, shstrOff);

  // Section headers; index 0 stays all zeros.
  let sh = shoff + shentsize;
  for (const s of sections) {
    const nameOff = shstr.add(s.name);
    b.writeUInt32LE(nameOff, sh);
    b.writeUInt32LE(s.type, sh + 4);
    if (is64) {
      wAddr(sh + 8, s.flags);
      wAddr(sh + 16, s.flags & SHF_ALLOC ? s.offset : 0); // sh_addr
      wAddr(sh + 24, s.offset);
      wAddr(sh + 32, s.size);
      b.writeUInt32LE(s.link, sh + 40);
      b.writeUInt32LE(s.info, sh + 44);
      wAddr(sh + 48, s.align);
      wAddr(sh + 56, s.entsize);
    } else {
      wAddr(sh + 8, s.flags);
      wAddr(sh + 12, s.flags & SHF_ALLOC ? s.offset : 0);
      wAddr(sh + 16, s.offset);
      wAddr(sh + 20, s.size);
      b.writeUInt32LE(s.link, sh + 24);
      b.writeUInt32LE(s.info, sh + 28);
      wAddr(sh + 32, s.align);
      wAddr(sh + 36, s.entsize);
    }
    sh += shentsize;
  }
  return b;
}
