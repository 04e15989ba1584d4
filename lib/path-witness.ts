/**
 * What a lookup saw of the filesystem, to tell later whether it would see the same: every path it
 * examined with the identity it had, or its absence. A file written, replaced, created where there
 * was none, removed or renamed, a link retargeted, a listed directory gaining or losing an entry:
 * each changes a recorded identity, and a cached result of the lookup is then stale.
 *
 * A directory passed through keeps only device, inode and type: an entry added beside the one
 * looked up changes nothing the lookup saw (the entry it did look up is recorded on its own). A
 * directory whose entries were listed, and every other file, keep size and nanosecond times too.
 *
 * File times tick coarsely (a kernel clock tick, a second on some file systems): a file changed
 * again within the tick it was read in, to the same size, would keep its identity. So an entry
 * changed less than RACY_NS before it was examined is never taken as unchanged (a fresh lookup
 * each time, until it has settled), as git does with racily clean files.
 */
import { promises as fsp, type BigIntStats } from 'node:fs';
import { binding, type NativeLstat } from './native';

const ABSENT = '-';
/** Never equal to an identity: what an entry too recently changed to be trusted records. */
const RACY = '!racy';
const RACY_NS = 2_000_000_000n;

/** What an lstat answered: through node:fs while looking up, or the addon's batch when checking. */
type Identity = Pick<BigIntStats, 'dev' | 'ino' | 'mode' | 'size' | 'mtimeNs' | 'ctimeNs'> | NativeLstat;

function identity(st: Identity | undefined | null, full: boolean): string {
  if (st === undefined || st === null) return ABSENT;
  const id = `${st.dev}:${st.ino}:${st.mode}`;
  return full ? `${id}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : id;
}

async function lstatOrUndefined(p: string): Promise<BigIntStats | undefined> {
  try {
    return await fsp.lstat(p, { bigint: true });
  } catch {
    return undefined;
  }
}

export class PathWitness {
  readonly #seen = new Map<string, { id: string; full: boolean }>();
  readonly #racyNs: bigint;

  /** options.racyMs: the settling time (default 2000); tests of the other rules pass 0. */
  constructor(options: { racyMs?: number } = {}) {
    this.#racyNs = options.racyMs === undefined ? RACY_NS : BigInt(Math.round(options.racyMs * 1e6));
  }

  #changedRecently(st: BigIntStats | undefined): boolean {
    return st !== undefined && this.#racyNs > 0n && BigInt(Date.now()) * 1_000_000n - st.ctimeNs < this.#racyNs;
  }

  /** A host path examined with lstat, and what that lstat answered (undefined: it failed). */
  record(hostPath: string, st: BigIntStats | undefined): void {
    this.#put(hostPath, st, st !== undefined && !st.isDirectory());
  }

  /** A directory whose entries the lookup listed: any entry added, removed or renamed there counts. */
  async recordListing(hostPath: string): Promise<void> {
    this.#put(hostPath, await lstatOrUndefined(hostPath), true);
  }

  #put(hostPath: string, st: BigIntStats | undefined, full: boolean): void {
    const before = this.#seen.get(hostPath);
    const id = full && this.#changedRecently(st) ? RACY : identity(st, full);
    if (before === undefined) {
      this.#seen.set(hostPath, { id, full });
      return;
    }
    // Two different answers for one path: it changed during the lookup, and the result is stale at once.
    if (before.id !== identity(st, before.full)) {
      this.#seen.set(hostPath, { id: `${ABSENT}changed`, full: true });
      return;
    }
    if (full && !before.full) this.#seen.set(hostPath, { id, full: true });
  }

  get size(): number {
    return this.#seen.size;
  }

  /**
   * Whether every recorded path is as it was: one lstat per path one lookup examined (tens of
   * them), all on one pool thread, off the event loop, far cheaper than the lookup itself. A
   * path that cannot be examined now (absent, or any error) counts as absent: a change, unless
   * it was absent before.
   */
  async unchanged(): Promise<boolean> {
    const seen = [...this.#seen];
    const now = await binding().lstatIdentities(seen.map(([p]) => p));
    return seen.every(([, { id, full }], i) => identity(now[i], full) === id);
  }
}
