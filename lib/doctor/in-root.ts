/**
 * Resolving a path inside a root filesystem the way the kernel's RESOLVE_IN_ROOT does, for
 * read-only diagnostics of images and containers: every symlink (absolute or relative, at any
 * component) is followed against the root, and `..` never climbs above it. An image's symlink
 * can therefore never point a doctor read at a host file.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

const MAX_LINKS = 40;

/** The host path of `inside` (absolute, as the container sees it) within `root`, or null if a component is missing. */
export async function resolveInRoot(root: string, inside: string): Promise<string | null> {
  const pending = inside.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = path.join(root, ...done, part);
    let st;
    try {
      st = await fsp.lstat(host);
    } catch {
      return null;
    }
    if (!st.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) return null;
    const target = await fsp.readlink(host);
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
  }
  return path.join(root, ...done);
}
