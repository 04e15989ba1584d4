/**
 * The host facts that stay the same from one container to the next, kept by a context: what the
 * driver root holds beside the driver's own files (vendor files, X modules, wrappers passed over).
 * Reading them costs milliseconds (tens of lookups inside the root); checking that nothing they
 * came from changed costs one lstat per path examined (path-witness.ts). A different driver (other
 * libraries or binaries) or any change to a path examined means a fresh read.
 */
import { binaryNotes } from './host-binaries';
import { readGraphicsFacts, type GraphicsFacts } from './host-graphics';
import { PathWitness } from './path-witness';
import type { DriverInfo } from './types';

export interface DriverRootFacts {
  graphics: GraphicsFacts;
  notes: string[];
}

/** What the driver root's lookups depend on besides the filesystem: the root and the driver's files. */
function keyOf(root: string, driver: Pick<DriverInfo, 'libraries' | 'binaries'>): string {
  return JSON.stringify([root, driver.libraries, driver.binaries]);
}

export async function readDriverRootFacts(root: string, driver: Pick<DriverInfo, 'libraries' | 'binaries'>, witness?: PathWitness): Promise<DriverRootFacts> {
  const [graphics, notes] = await Promise.all([readGraphicsFacts(root, driver, witness), binaryNotes(root, driver.binaries, witness)]);
  return { graphics, notes };
}

export class HostFactsCache {
  #entry: { key: string; witness: PathWitness; facts: DriverRootFacts } | undefined;
  /** Reads and reuses, for tests and the debug log. */
  readonly stats = { reads: 0, reuses: 0 };

  async driverRootFacts(root: string, driver: Pick<DriverInfo, 'libraries' | 'binaries'>): Promise<DriverRootFacts> {
    const key = keyOf(root, driver);
    const entry = this.#entry;
    if (entry !== undefined && entry.key === key && (await entry.witness.unchanged())) {
      this.stats.reuses++;
      // A copy: plans carry these objects to callers, who may edit them.
      return structuredClone(entry.facts);
    }
    const witness = new PathWitness();
    const facts = await readDriverRootFacts(root, driver, witness);
    this.stats.reads++;
    this.#entry = { key, witness, facts: structuredClone(facts) };
    return facts;
  }

  /** Forget everything (the next read is fresh). */
  clear(): void {
    this.#entry = undefined;
  }
}
