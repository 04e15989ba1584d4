/**
 * Uninstall what a copy-mode install wrote, by its stamp: files and links removed, what install
 * moved aside put back, the image's ld.so.cache restored, the directories it created removed.
 * Files changed since installation are refused (named) unless forced. Needs no NVML.
 */
import { constants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NvcError } from '../errors';
import { DRIVER_STAMP_PATH, DRIVER_STAMP_REPLACED_DIR, driverStampSchema, type DriverStamp } from '../driver-stamp';
import { RootDir, type InRootDir } from './root-dir';
import { sha256File } from '../file-hash';

const MAX_STAMP = 16 << 20;
const LDCACHE = '/etc/ld.so.cache';

export interface UninstallOutcome {
  rootfs: string;
  removed: string[];
  restored: string[];
  warnings: string[];
}

async function inDir<T>(root: RootDir, inside: string, fn: (dir: InRootDir, name: string) => Promise<T>): Promise<T | null> {
  const dir = await root.dir(path.posix.dirname(inside));
  if (dir === null) return null;
  try {
    return await fn(dir, path.posix.basename(inside));
  } finally {
    await dir.close();
  }
}

export async function readStamp(root: RootDir): Promise<DriverStamp> {
  const text = await inDir(root, DRIVER_STAMP_PATH, async (dir, name) => {
    let handle;
    try {
      handle = await fsp.open(dir.at(name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return null;
    }
    try {
      const st = await handle.stat();
      if (!st.isFile() || st.size > MAX_STAMP)
        throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${DRIVER_STAMP_PATH} in ${root.root} is not a regular file of at most ${MAX_STAMP} bytes`);
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  });
  if (text === null) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${root.root} has no ${DRIVER_STAMP_PATH}: nvc-ts did not install a driver there`, {
      field: 'rootfs',
      hint: 'uninstall removes only what `nvc-ts install --into` wrote',
    });
  }
  try {
    return driverStampSchema.parse(JSON.parse(text));
  } catch (e) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${DRIVER_STAMP_PATH} in ${root.root} is not a valid stamp: ${(e as Error).message.split('\n')[0]}`, {
      cause: e,
    });
  }
}

/** Files of the stamp that are missing or differ from what install wrote (the ld.so.cache aside). */
async function changedFiles(root: RootDir, stamp: DriverStamp): Promise<string[]> {
  const changed: string[] = [];
  for (const f of stamp.files) {
    if (f.path === LDCACHE) continue;
    const verdict = await inDir(root, f.path, async (dir, name) => {
      const st = await fsp.lstat(dir.at(name)).catch(() => null);
      if (st === null || !st.isFile()) return 'missing';
      if (st.size !== f.size || (await sha256File(dir.at(name))) !== f.sha256) return 'changed';
      return null;
    });
    if (verdict !== null) changed.push(`${f.path} (${verdict ?? 'missing'})`);
  }
  for (const l of stamp.links ?? []) {
    const target = await inDir(root, l.path, (dir, name) => fsp.readlink(dir.at(name)).catch(() => null));
    if (target !== l.target) changed.push(`${l.path} (${target === null ? 'missing' : `now -> ${target}`})`);
  }
  return changed;
}

export async function uninstallDriver(rootfs: string, options: { force?: boolean } = {}): Promise<UninstallOutcome> {
  const root = await RootDir.open(rootfs);
  const out: UninstallOutcome = { rootfs, removed: [], restored: [], warnings: [] };
  try {
    const stamp = await readStamp(root);
    const changed = await changedFiles(root, stamp);
    if (changed.length > 0 && !options.force) {
      throw new NvcError(
        'ERR_NVC_FILE_EXISTS',
        `${changed.length} installed file(s) in ${rootfs} changed since installation: ${changed.slice(0, 10).join(', ')}${changed.length > 10 ? ', ...' : ''}`,
        {
          hint: 'keep them by not uninstalling, or remove them anyway with `force`',
        },
      );
    }
    const remove = async (p: string) => {
      const gone = await inDir(root, p, async (dir, name) => {
        try {
          await fsp.unlink(dir.at(name));
          return true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
          throw e;
        }
      });
      if (gone) out.removed.push(p);
    };
    for (const l of [...(stamp.links ?? [])].reverse()) await remove(l.path);
    for (const f of [...stamp.files].reverse()) if (f.path !== LDCACHE) await remove(f.path);

    // The ld.so.cache: back to the image's own, unless something rebuilt it since (then left, said).
    const cacheEntry = stamp.files.find((f) => f.path === LDCACHE);
    if (cacheEntry !== undefined) {
      const current = await inDir(root, LDCACHE, async (dir, name) =>
        (await fsp.lstat(dir.at(name)).catch(() => null))?.isFile() ? sha256File(dir.at(name)) : null,
      );
      if (current !== cacheEntry.sha256 && !options.force) {
        out.warnings.push(`${LDCACHE} changed since installation and was left as it is: run the image's ldconfig to drop the driver's entries`);
      } else if (stamp.ldcacheBackup != null) {
        const b = stamp.ldcacheBackup;
        await inDir(root, LDCACHE, (etc, name) => inDir(root, `${DRIVER_STAMP_REPLACED_DIR}/${b}`, (keep, kname) => fsp.rename(keep.at(kname), etc.at(name))));
        out.restored.push(LDCACHE);
      } else {
        await remove(LDCACHE);
      }
    }
    for (const l of stamp.ldconfigChanged ?? []) {
      await inDir(root, l.path, async (dir, name) => {
        await fsp.unlink(dir.at(name)).catch(() => undefined);
        await fsp.symlink(l.target, dir.at(name));
      });
      out.restored.push(l.path);
    }
    for (const r of stamp.replaced ?? []) {
      await inDir(root, r.path, (dir, name) =>
        inDir(root, `${DRIVER_STAMP_REPLACED_DIR}/${r.backup}`, (keep, kname) => fsp.rename(keep.at(kname), dir.at(name))),
      );
      out.restored.push(r.path);
    }
    await remove(DRIVER_STAMP_PATH);
    // Whatever is left in replaced/ (a cache backup not restored) goes with it.
    await inDir(root, DRIVER_STAMP_REPLACED_DIR, (dir, name) => fsp.rm(dir.at(name), { recursive: true, force: true }));
    for (const d of [...(stamp.createdDirs ?? [])].reverse()) {
      await inDir(root, d, async (dir, name) => {
        try {
          await fsp.rmdir(dir.at(name));
        } catch (e) {
          const c = (e as NodeJS.ErrnoException).code;
          if (c === 'ENOTEMPTY' || c === 'EEXIST') out.warnings.push(`${d} was created by install but is not empty now: left in place`);
          else if (c !== 'ENOENT') throw e;
        }
      });
    }
    return out;
  } finally {
    await root.close();
  }
}
