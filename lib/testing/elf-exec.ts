/**
 * A tiny static x86-64 ELF executable standing for a driver binary of a simulated host: a real
 * ELF (so discovery, which skips wrapper scripts, takes it) that runs anywhere without a libc.
 * It prints one text when its first argument is exactly "-L" and another otherwise, then exits 0.
 */

const BASE = 0x400000;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;

/**
 * The program (assembled from, Intel syntax):
 *   mov rax,[rsp]; cmp rax,2; jl other            ; argc < 2
 *   mov rsi,[rsp+16]; cmp byte [rsi],'-'; jne other
 *   cmp byte [rsi+1],'L'; jne other; cmp byte [rsi+2],0; jne other
 *   mov esi,LIST; mov edx,LIST_LEN; jmp out
 * other: mov esi,OTHER; mov edx,OTHER_LEN
 * out: mov eax,1; mov edi,1; syscall             ; write(1, ...)
 *   mov eax,60; xor edi,edi; syscall             ; exit(0)
 */
const CODE = Buffer.from(
  '488b04244883f8027c22488b742410803e2d7518807e014c7512807e0200750cbe11111111ba22222222eb0abe33333333ba44444444b801000000bf010000000f05b83c00000031ff0f05',
  'hex',
);
/** Offsets of the four 32-bit immediates in CODE: list address, list length, other address, other length. */
const IMM = { list: 0x21, listLen: 0x26, other: 0x2d, otherLen: 0x32 } as const;

export interface ElfExecutableOptions {
  /** Printed for `-L`. */
  listOutput: string;
  /** Printed for anything else. */
  otherOutput: string;
}

export function buildElfExecutable(opts: ElfExecutableOptions): Buffer {
  const list = Buffer.from(opts.listOutput, 'utf8');
  const other = Buffer.from(opts.otherOutput, 'utf8');
  const codeOff = EHDR_SIZE + PHDR_SIZE;
  const listOff = codeOff + CODE.length;
  const otherOff = listOff + list.length;
  const size = otherOff + other.length;
  const out = Buffer.alloc(size);

  // ELF header: ELFCLASS64, little endian, ET_EXEC, EM_X86_64.
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(out, 0);
  out.writeUInt16LE(2, 16);
  out.writeUInt16LE(62, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(BASE + codeOff), 24);
  out.writeBigUInt64LE(BigInt(EHDR_SIZE), 32);
  out.writeUInt16LE(EHDR_SIZE, 52);
  out.writeUInt16LE(PHDR_SIZE, 54);
  out.writeUInt16LE(1, 56);
  out.writeUInt16LE(64, 58);

  // One PT_LOAD, read + execute, mapping the whole file at BASE.
  const ph = EHDR_SIZE;
  out.writeUInt32LE(1, ph);
  out.writeUInt32LE(5, ph + 4);
  out.writeBigUInt64LE(0n, ph + 8);
  out.writeBigUInt64LE(BigInt(BASE), ph + 16);
  out.writeBigUInt64LE(BigInt(BASE), ph + 24);
  out.writeBigUInt64LE(BigInt(size), ph + 32);
  out.writeBigUInt64LE(BigInt(size), ph + 40);
  out.writeBigUInt64LE(0x1000n, ph + 48);

  const code = Buffer.from(CODE);
  code.writeUInt32LE(BASE + listOff, IMM.list);
  code.writeUInt32LE(list.length, IMM.listLen);
  code.writeUInt32LE(BASE + otherOff, IMM.other);
  code.writeUInt32LE(other.length, IMM.otherLen);
  code.copy(out, codeOff);
  list.copy(out, listOff);
  other.copy(out, otherOff);
  return out;
}
