/** Existence probes that never follow the last symlink (a link is an entry that exists). */
import { lstat } from 'node:fs/promises';

export async function pathExists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
