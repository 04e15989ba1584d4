/**
 * Notes on the driver binaries for the debug log: discovery (native/core/discovery/driver_bins.c)
 * takes only ELF executables, so a wrapper script named like a driver binary in a standard bin
 * directory (the GPU machine's /usr/bin/nvidia-smi, which execs /usr/local/nvidia/bin/nvidia-smi)
 * is passed over. Saying so explains why the container's binary comes from elsewhere.
 */
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { resolveInRoot } from './root-resolve';
import type { DriverFile } from './types';
import type { PathWitness } from './path-witness';

/** The directories a hook's standard PATH names. */
const STANDARD_BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

async function startsWithElfMagic(file: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(file, 'r');
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return bytesRead === 4 && head.equals(ELF_MAGIC);
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}

export async function binaryNotes(root: string, binaries: DriverFile[], witness?: PathWitness): Promise<string[]> {
  const notes: string[] = [];
  for (const bin of binaries) {
    const name = path.posix.basename(bin.path);
    for (const dir of STANDARD_BIN_DIRS) {
      const candidate = path.posix.join(dir, name);
      if (candidate === bin.path) continue;
      const r = await resolveInRoot(root, candidate, witness);
      if (r === null || r.kind !== 'file' || r.path === bin.path) continue;
      if (await startsWithElfMagic(root === '/' ? r.path : path.join(root, r.path))) continue;
      notes.push(`${candidate} is not an ELF executable (a wrapper script?): passed over, the driver's ${bin.path} is given instead`);
    }
  }
  return notes;
}
