/**
 * Writer for glibc's ld.so.cache, new format ("glibc-ld.so.cache" + "1.1"), little endian,
 * optionally preceded by the old libc5 table ("ld.so-1.7.0") as ldconfig wrote it for years.
 *
 * New format layout (all offsets in the file are relative to the start of the new header):
 *   header, 48 bytes: magic "glibc-ld.so.cache" (17) + version "1.1" (3), u32 nlibs,
 *     u32 len_strings, u8 flags (2 = little endian), 3 pad bytes, u32 extension_offset (0 = none),
 *     3 x u32 unused
 *   nlibs entries, 24 bytes each: i32 flags, u32 key, u32 value, u32 osversion, u64 hwcap
 *   the string table (len_strings bytes of NUL-terminated strings)
 * Old format prefix: magic "ld.so-1.7.0" (11) + 1 pad byte, u32 nlibs, then nlibs entries of
 *   12 bytes (i32 flags, u32 key, u32 value) whose offsets count from the end of that table,
 *   which is where the new header starts, so they point at the same strings.
 */
import { promises as fsp } from 'node:fs';

/** ld.so.cache entry flags: bits 0-7 the library type, bits 8-15 the architecture. */
export const LDCACHE_FLAGS = {
  /** libc6 (ELF) x86-64, shown by ldconfig as "libc6,x86-64". */
  X86_64: 0x0303,
  /** libc6 i386 (no architecture bits), shown as "libc6". */
  I386: 0x0003,
  /** libc6 AArch64, shown as "libc6,AArch64". */
  AARCH64: 0x0a03,
  /** Plain ELF with no libc information. */
  ELF: 0x0001,
  /** libc5: never an ELF libc6 library. */
  LIBC5: 0x0002,
} as const;

export interface LdCacheEntry {
  /** The name the dynamic loader looks up (the soname), e.g. "libcuda.so.1". */
  key: string;
  /** The absolute path of the library, e.g. "/usr/lib/x86_64-linux-gnu/libcuda.so.1". */
  value: string;
  flags: number;
  /** From an NT_GNU_ABI_TAG note: (os << 24) | (major << 16) | (minor << 8) | patch. Default 0. */
  osVersion?: number;
  hwcap?: bigint;
}

export interface LdCacheOptions {
  /** Prepend the old "ld.so-1.7.0" table describing the same entries (default false). */
  withOldFormat?: boolean;
  /**
   * Keep the given order instead of sorting as ldconfig does (descending library names, then
   * higher flags first, then the given order). Useful to build deliberately odd caches.
   */
  keepOrder?: boolean;
}

const NEW_MAGIC = 'glibc-ld.so.cache1.1';
const OLD_MAGIC = 'ld.so-1.7.0';
const NEW_HEADER_SIZE = 48;
const NEW_ENTRY_SIZE = 24;
const OLD_HEADER_SIZE = 16;
const OLD_ENTRY_SIZE = 12;
const FLAGS_LITTLE_ENDIAN = 2;

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/**
 * Orders library names the way the dynamic loader's cache lookup expects: byte by byte, except
 * that runs of digits compare by numeric value and a digit sorts after any other byte
 * ("libfoo.so.10" > "libfoo.so.9"). Returns <0, 0 or >0.
 */
export function compareLibraryNames(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const c = x[i];
    const d = y[j];
    if (isDigit(c) && isDigit(d)) {
      const si = i;
      const sj = j;
      while (isDigit(x[i])) i++;
      while (isDigit(y[j])) j++;
      const m = BigInt(x.toString('latin1', si, i));
      const n = BigInt(y.toString('latin1', sj, j));
      if (m !== n) return m < n ? -1 : 1;
      continue;
    }
    if (isDigit(c)) return 1;
    if (isDigit(d)) return -1;
    if (c !== d) return (c ?? 0) < (d ?? 0) ? -1 : 1;
    i++;
    j++;
  }
  const restA = x.length - i;
  const restB = y.length - j;
  return restA === restB ? 0 : restA > restB ? 1 : -1;
}

/** Sorts entries in cache order (a copy; the input is left alone). */
export function sortLdCacheEntries(entries: readonly LdCacheEntry[]): LdCacheEntry[] {
  return [...entries].sort((e1, e2) => {
    const byName = compareLibraryNames(e2.key, e1.key);
    if (byName !== 0) return byName;
    if (e1.flags !== e2.flags) return e2.flags - e1.flags;
    const h1 = e1.hwcap ?? 0n;
    const h2 = e2.hwcap ?? 0n;
    return h1 === h2 ? 0 : h2 > h1 ? 1 : -1;
  });
}

/** Builds the bytes of an ld.so.cache holding `entries`. */
export function buildLdCache(entries: readonly LdCacheEntry[], opts: LdCacheOptions = {}): Buffer {
  const list = opts.keepOrder ? [...entries] : sortLdCacheEntries(entries);
  for (const e of list) {
    if (e.key.length === 0 || e.value.length === 0 || e.key.includes('\0') || e.value.includes('\0')) {
      throw new RangeError(`invalid ld.so.cache entry ${JSON.stringify(e.key)} => ${JSON.stringify(e.value)}`);
    }
    if (!Number.isInteger(e.flags) || e.flags < -0x80000000 || e.flags > 0x7fffffff) {
      throw new RangeError(`invalid ld.so.cache flags ${e.flags}`);
    }
  }

  // String table, each distinct string once, right after the entries.
  const stringsStart = NEW_HEADER_SIZE + list.length * NEW_ENTRY_SIZE;
  const parts: Buffer[] = [];
  const offsets = new Map<string, number>();
  let len = 0;
  const str = (s: string): number => {
    let o = offsets.get(s);
    if (o === undefined) {
      const bytes = Buffer.from(`${s}\0`, 'utf8');
      o = stringsStart + len;
      offsets.set(s, o);
      parts.push(bytes);
      len += bytes.length;
    }
    return o;
  };
  const refs = list.map((e) => ({ key: str(e.key), value: str(e.value) }));
  const strings = Buffer.concat(parts);

  const fresh = Buffer.alloc(stringsStart + strings.length);
  fresh.write(NEW_MAGIC, 0, 'latin1');
  fresh.writeUInt32LE(list.length, 20);
  fresh.writeUInt32LE(strings.length, 24);
  fresh.writeUInt8(FLAGS_LITTLE_ENDIAN, 28);
  fresh.writeUInt32LE(0, 32); // extension_offset
  list.forEach((e, i) => {
    const at = NEW_HEADER_SIZE + i * NEW_ENTRY_SIZE;
    const ref = refs[i];
    if (!ref) return;
    fresh.writeInt32LE(e.flags, at);
    fresh.writeUInt32LE(ref.key, at + 4);
    fresh.writeUInt32LE(ref.value, at + 8);
    fresh.writeUInt32LE((e.osVersion ?? 0) >>> 0, at + 12);
    fresh.writeBigUInt64LE(BigInt.asUintN(64, e.hwcap ?? 0n), at + 16);
  });
  strings.copy(fresh, stringsStart);

  if (!opts.withOldFormat) return fresh;

  // The old table ends on a 4-byte boundary (16 + 12n), which is the new header's alignment.
  const old = Buffer.alloc(OLD_HEADER_SIZE + list.length * OLD_ENTRY_SIZE);
  old.write(OLD_MAGIC, 0, 'latin1');
  old.writeUInt32LE(list.length, 12);
  list.forEach((e, i) => {
    const at = OLD_HEADER_SIZE + i * OLD_ENTRY_SIZE;
    const ref = refs[i];
    if (!ref) return;
    old.writeInt32LE(e.flags, at);
    old.writeUInt32LE(ref.key, at + 4);
    old.writeUInt32LE(ref.value, at + 8);
  });
  return Buffer.concat([old, fresh]);
}

/** Writes an ld.so.cache file (mode 0644). */
export async function writeLdCache(file: string, entries: readonly LdCacheEntry[], opts: LdCacheOptions = {}): Promise<void> {
  await fsp.writeFile(file, buildLdCache(entries, opts), { mode: 0o644 });
}

/** The osversion value ldconfig derives from an NT_GNU_ABI_TAG note for Linux x.y.z. */
export function abiTagOsVersion(tag: readonly [number, number, number]): number {
  return (((tag[0] & 0xff) << 16) | ((tag[1] & 0xff) << 8) | (tag[2] & 0xff)) >>> 0;
}
