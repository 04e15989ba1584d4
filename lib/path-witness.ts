/**
 * What a lookup saw of the filesystem, to tell later whether it would see the same: every path it
 * examined with the identity it had, or its absence. A file written, replaced, created where there
 * was none, removed or renamed, a link retargeted, a listed directory gaining or losing an entry:
 * each changes a recorded identity, and a cached result of the lookup is then stale.
 *
 * A directory passed through keeps only device, inode and type: an entry added beside the one
 * looked up changes nothing the lookup saw (the entry it did look up is recorded on its own). A
 * directory whose entries were listed, and every other file, keep size and nanosecond times too.
 */
import { lstatSync, type BigIntStats } from 'node:fs';

const ABSENT = '-';

function identity(st: BigIntStats | undefined, full: boolean): string {
  if (st === undefined) return ABSENT;
  const id = `${st.dev}:${st.ino}:${st.mode}`;
  return full ? `${id}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : id;
}

function lstatOrUndefined(p: string): BigIntStats | undefined {
  try {
    return lstatSync(p, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

export class PathWitness {
  readonly #seen = new Map<string, { id: string; full: boolean }>();

  /** A host path examined with lstat, and what that lstat answered (undefined: it failed). */
  record(hostPath: string, st: BigIntStats | undefined): void {
    this.#put(hostPath, st, st !== undefined && !st.isDirectory());
  }

  /** A directory whose entries the lookup listed: any entry added, removed or renamed there counts. */
  recordListing(hostPath: string): void {
    this.#put(hostPath, lstatOrUndefined(hostPath), true);
  }

  #put(hostPath: string, st: BigIntStats | undefined, full: boolean): void {
    const before = this.#seen.get(hostPath);
    if (before === undefined) {
      this.#seen.set(hostPath, { id: identity(st, full), full });
      return;
    }
    // Two different answers for one path: it changed during the lookup, and the result is stale at once.
    if (before.id !== identity(st, before.full)) {
      this.#seen.set(hostPath, { id: `${ABSENT}changed`, full: true });
      return;
    }
    if (full && !before.full) this.#seen.set(hostPath, { id: identity(st, true), full: true });
  }

  get size(): number {
    return this.#seen.size;
  }

  /**
   * Whether every recorded path is as it was: synchronous lstat calls on the paths one lookup
   * examined (tens of them), far cheaper than the lookup's awaited calls.
   */
  unchanged(): boolean {
    for (const [p, { id, full }] of this.#seen) if (identity(lstatOrUndefined(p), full) !== id) return false;
    return true;
  }
}
