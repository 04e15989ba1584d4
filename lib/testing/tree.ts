/** One base directory written to by relative path, so that each builder reads like the host layout it makes. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export class Tree {
  constructor(readonly base: string) {}

  abs(rel: string): string {
    return path.join(this.base, rel);
  }

  async mkdir(rel: string, mode?: number): Promise<void> {
    await fsp.mkdir(this.abs(rel), { recursive: true });
    if (mode !== undefined) await fsp.chmod(this.abs(rel), mode);
  }

  async write(rel: string, data: string | Buffer, mode = 0o644): Promise<void> {
    await fsp.mkdir(path.dirname(this.abs(rel)), { recursive: true });
    // Replaced rather than rewritten: a read-only file (as procfs has) is rewritten by root only,
    // and fixtures are built by ordinary users too.
    await fsp.rm(this.abs(rel), { force: true });
    await fsp.writeFile(this.abs(rel), data, { mode });
    await fsp.chmod(this.abs(rel), mode); // the umask must not change what tests check
  }

  async symlink(rel: string, target: string): Promise<void> {
    await fsp.mkdir(path.dirname(this.abs(rel)), { recursive: true });
    await fsp.symlink(target, this.abs(rel));
  }
}
