/**
 * Changes to a root filesystem that can be undone: every step records its inverse, and a failure
 * anywhere replays them newest first, so that the root is left exactly as it was.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { RootDir } from './root-dir';

type Undo = () => Promise<void>;

export class Transaction {
  readonly #undo: Undo[] = [];

  constructor(readonly root: RootDir) {}

  record(undo: Undo): void {
    this.#undo.push(undo);
  }

  /** Undo everything recorded; returns what could not be undone (each a message). */
  async rollback(): Promise<string[]> {
    const failed: string[] = [];
    while (this.#undo.length > 0) {
      const undo = this.#undo.pop() as Undo;
      try {
        await undo();
      } catch (e) {
        failed.push(e instanceof Error ? e.message : String(e));
      }
    }
    return failed;
  }

  /** Forget the undo steps once the change is complete. */
  commit(): void {
    this.#undo.length = 0;
  }

  /** Remove `inside` (a file or link) if it is there. */
  async unlink(inside: string): Promise<void> {
    const dir = await this.root.dir(path.posix.dirname(inside));
    if (dir === null) return;
    try {
      await fsp.unlink(dir.at(path.posix.basename(inside)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    } finally {
      await dir.close();
    }
  }

  /** Remove the directory `inside` if it is there and empty. */
  async rmdir(inside: string): Promise<void> {
    const dir = await this.root.dir(path.posix.dirname(inside));
    if (dir === null) return;
    try {
      await fsp.rmdir(dir.at(path.posix.basename(inside)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    } finally {
      await dir.close();
    }
  }
}
