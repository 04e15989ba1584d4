/**
 * Path resolution inside the driver root: symlinks are followed as the driver root itself sees
 * them (an absolute link target is taken inside the root), so no host path outside it is read.
 */
import { lstat, readlink } from 'node:fs/promises';
import * as path from 'node:path';
import type { BigIntStats } from 'node:fs';
import type { PathWitness } from './path-witness';

const MAX_LINKS = 40;

const inRoot = (root: string, p: string): string => (root === '/' ? p : path.join(root, p));

/**
 * The path inside the root that `inside` names once every symlink is followed, and what it is;
 * null when it does not exist (or loops).
 */
export async function resolveInRoot(root: string, inside: string, witness?: PathWitness): Promise<{ path: string; kind: 'file' | 'dir' | 'other' } | null> {
  let pending = path.posix.normalize(inside).split('/').filter(Boolean);
  let done = '/';
  let links = 0;
  while (pending.length > 0) {
    const [name, ...rest] = pending as [string, ...string[]];
    pending = rest;
    if (name === '..') {
      done = path.posix.dirname(done);
      continue;
    }
    const next = path.posix.join(done, name);
    let st;
    try {
      // With a witness, the full identity (nanosecond times) of every entry examined is kept.
      st = witness === undefined ? await lstat(inRoot(root, next)) : await lstat(inRoot(root, next), { bigint: true });
      witness?.record(inRoot(root, next), st as BigIntStats | undefined);
    } catch {
      witness?.record(inRoot(root, next), undefined);
      return null;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return null;
      const target = await readlink(inRoot(root, next));
      if (target.startsWith('/')) done = '/';
      pending = [...target.split('/').filter(Boolean), ...pending];
      continue;
    }
    done = next;
    if (pending.length === 0) return { path: done, kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other' };
  }
  return { path: done, kind: 'dir' };
}

/** The host path of `inside` within `root`, every link resolved inside the root; null when it does not exist. */
export async function hostPathInRoot(root: string, inside: string): Promise<string | null> {
  const r = await resolveInRoot(root, inside);
  return r === null ? null : inRoot(root, r.path);
}
