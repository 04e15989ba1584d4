/**
 * Copy mode: the user-space driver installed into a root filesystem as files (for VM guests and
 * image builders, where bind mounts do not reach). Everything is staged in a directory of our own
 * inside the root, then renamed into place; what was in the way is moved aside and kept for
 * uninstall; a failure at any step undoes every earlier one. The stamp at /etc/nvc-ts/driver.json
 * records the driver version and every file written with its SHA-256.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { sha256File } from '../file-hash';
import * as path from 'node:path';
import { NvcError } from '../errors';
import type { Container } from '../container';
import type { Selection } from '../plan/items';
import { lowerToInstallPlan, type InstallCopy, type InstallEntry, type InstallPlan } from '../plan/install-plan';
import { DRIVER_STAMP_DIR, DRIVER_STAMP_PATH, DRIVER_STAMP_REPLACED_DIR, type DriverStamp } from '../driver-stamp';
import { fdPath, RootDir, type InRootDir } from './root-dir';
import { Transaction } from './transaction';

export interface InstallOutcome {
  rootfs: string;
  plan: InstallPlan;
  /** False for a dry run. */
  applied: boolean;
  stamp: DriverStamp | null;
  warnings: string[];
}

export interface InstallInputs {
  container: Container;
  selection: Selection;
  driverRoot: string;
  driverVersion: string;
  cudaVersion: string;
  dryRun: boolean;
  /** Runs ldconfig over the library directories of the root (null: skip). */
  ldconfig: ((dirs: string[]) => Promise<{ ran: boolean; warning: string }>) | null;
  /** A guest kernel's modules (copies into lib/modules/<release>/extra), indexed by depmod after. */
  guestModules: { release: string; copies: InstallCopy[]; depmod: (rootfs: string, release: string) => Promise<void> } | null;
}

const LDCACHE = '/etc/ld.so.cache';

function within(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The real file behind a driver file, or why it is not copied: a link that leaves the driver root
 * (it would copy a host file the driver does not own), or anything but a regular file.
 */
async function usableSource(driverRoot: string, source: string): Promise<{ file: string } | { skip: string }> {
  let real: string;
  try {
    real = await fsp.realpath(source);
  } catch (e) {
    return { skip: `${source} cannot be resolved (${(e as NodeJS.ErrnoException).code ?? e})` };
  }
  const root = await fsp.realpath(driverRoot);
  if (!within(root, real)) return { skip: `${source} is a link to ${real}, outside the driver root ${driverRoot}` };
  const st = await fsp.lstat(real);
  if (!st.isFile()) return { skip: `${source} is not a regular file` };
  return { file: real };
}

/** Drop copies whose source is unusable, and the links that would point at them. */
async function checkSources(plan: InstallPlan, driverRoot: string): Promise<{ entries: Array<InstallEntry & { file?: string }>; warnings: string[] }> {
  const warnings: string[] = [];
  const dropped = new Set<string>();
  const kept: Array<InstallEntry & { file?: string }> = [];
  for (const e of plan.entries) {
    if (e.kind !== 'copy') continue;
    const s = await usableSource(driverRoot, e.source);
    if ('skip' in s) {
      warnings.push(`not copied: ${s.skip}`);
      dropped.add(path.posix.basename(e.path));
    } else {
      kept.push({ ...e, file: s.file });
    }
  }
  const out: Array<InstallEntry & { file?: string }> = [];
  for (const e of plan.entries) {
    if (e.kind === 'copy') {
      const k = kept.find((x) => x.path === e.path);
      if (k) out.push(k);
    } else if (e.kind === 'symlink') {
      if (!dropped.has(e.target)) out.push(e);
    } else {
      out.push(e);
    }
  }
  // A development link to a SONAME link whose library was dropped goes too.
  const present = new Set(out.map((e) => path.posix.basename(e.path)));
  return { entries: out.filter((e) => e.kind !== 'symlink' || present.has(e.target)), warnings };
}

async function withDir<T>(root: RootDir, inside: string, created: string[] | undefined, fn: (dir: InRootDir) => Promise<T>): Promise<T> {
  const dir = await root.dir(inside, created);
  if (dir === null) throw new NvcError('ERR_NVC_SYSTEM', `${inside} is missing in ${root.root}`, { path: inside });
  try {
    return await fn(dir);
  } finally {
    await dir.close();
  }
}

/** The entries of `dirs` (inside the root), with the targets of the links, to tell what ldconfig changed. */
async function listDirs(root: RootDir, dirs: string[]): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  for (const d of dirs) {
    const dir = await root.dir(d);
    if (dir === null) continue;
    try {
      for (const name of await fsp.readdir(fdPath(dir.fd))) out.set(path.posix.join(d, name), await fsp.readlink(dir.at(name)).catch(() => null));
    } finally {
      await dir.close();
    }
  }
  return out;
}

/** Put back a link of the image that ldconfig removed or repointed. */
async function restoreLink(root: RootDir, link: { path: string; target: string }): Promise<void> {
  await withDir(root, path.posix.dirname(link.path), undefined, async (d) => {
    const name = path.posix.basename(link.path);
    await fsp.unlink(d.at(name)).catch(() => undefined);
    await fsp.symlink(link.target, d.at(name));
  });
}

export async function installDriver(rootfs: string, inputs: InstallInputs): Promise<InstallOutcome> {
  const plan = lowerToInstallPlan(inputs.selection, inputs.container.layout);
  const { entries, warnings } = await checkSources(plan, inputs.driverRoot);
  // The guest's modules come from a directory named for them (maybe outside the driver root): they
  // must be regular files where they are, and are copied as they are.
  for (const c of inputs.guestModules?.copies ?? []) {
    const s = await usableSource(path.dirname(c.source), c.source);
    if ('skip' in s) throw new NvcError('ERR_NVC_KERNEL_MODULE', `the guest module ${s.skip}`, { path: c.source });
    entries.push({ ...c, file: s.file });
  }
  plan.entries.push(...(inputs.guestModules?.copies ?? []));
  const checked: InstallPlan = { ...plan, entries, warnings: [...plan.warnings, ...warnings] };
  if (inputs.dryRun) return { rootfs, plan: checked, applied: false, stamp: null, warnings: checked.warnings };

  const root = await RootDir.open(rootfs);
  const tx = new Transaction(root);
  const stagingName = `.nvc-ts-install-${randomBytes(6).toString('hex')}`;
  let staging: InRootDir | null = null;
  try {
    await withDir(root, '/', undefined, (top) => fsp.mkdir(top.at(stagingName), 0o700));
    const removeStaging = () => withDir(root, '/', undefined, (top) => fsp.rm(top.at(stagingName), { recursive: true, force: true }));
    tx.record(removeStaging);
    staging = await root.dir(`/${stagingName}`);
    if (staging === null) throw new NvcError('ERR_NVC_SYSTEM', `the staging directory in ${rootfs} vanished`);
    const stage = staging;

    // 1. Stage every file and link under names of our own. Owned by root when installing as root; a
    // rootless image build keeps its own ids (root inside its user namespace).
    const asRoot = typeof process.geteuid !== 'function' || process.geteuid() === 0;
    const staged: string[] = [];
    for (const [i, e] of entries.entries()) {
      const name = `f${i}`;
      staged.push(name);
      if (e.kind === 'copy') {
        await fsp.copyFile(e.file as string, stage.at(name), constants.COPYFILE_EXCL);
        const mode = (await fsp.stat(e.file as string)).mode & 0o777;
        if (asRoot) await fsp.chown(stage.at(name), 0, 0);
        await fsp.chmod(stage.at(name), mode);
      } else if (e.kind === 'symlink') {
        await fsp.symlink(e.target, stage.at(name));
        if (asRoot) await fsp.lchown(stage.at(name), 0, 0);
      } else {
        await fsp.writeFile(stage.at(name), e.data, { mode: e.mode, flag: 'wx' });
        if (asRoot) await fsp.chown(stage.at(name), 0, 0);
        await fsp.chmod(stage.at(name), e.mode);
      }
    }

    // 2. Move them into place; whatever is in the way goes aside (kept), a directory stops it.
    const createdDirs: string[] = [];
    const replaced: Array<{ path: string; backup: string }> = [];
    let backups = 0;
    for (const [i, e] of entries.entries()) {
      const before = createdDirs.length;
      const dir = await root.dir(path.posix.dirname(e.path), createdDirs);
      // Recorded outermost first, so that the rollback (newest first) removes the innermost first.
      for (const made of createdDirs.slice(before)) tx.record(() => tx.rmdir(made));
      if (dir === null) throw new NvcError('ERR_NVC_SYSTEM', `cannot reach ${path.posix.dirname(e.path)} in ${rootfs}`);
      try {
        const name = path.posix.basename(e.path);
        const existing = await fsp.lstat(dir.at(name)).catch(() => null);
        if (existing?.isDirectory()) {
          throw new NvcError(
            'ERR_NVC_FILE_EXISTS',
            `${e.path} in ${rootfs} is a directory, where the driver's ${e.kind === 'symlink' ? 'link' : 'file'} goes`,
            {
              path: e.path,
              hint: 'remove or rename that directory in the image, or install into another library directory (libsDir)',
            },
          );
        }
        if (existing !== null) {
          const backup = String(backups++);
          await fsp.rename(dir.at(name), stage.at(`b${backup}`));
          tx.record(() => withDir(root, path.posix.dirname(e.path), undefined, (d) => fsp.rename(stage.at(`b${backup}`), d.at(name))));
          replaced.push({ path: e.path, backup });
        }
        await fsp.rename(stage.at(staged[i] as string), dir.at(name));
        tx.record(() => tx.unlink(e.path));
      } finally {
        await dir.close();
      }
    }

    // 3. The image's ld.so.cache, kept, then rebuilt by ldconfig; what ldconfig links is recorded.
    let ldcacheBackup: string | null = null;
    const ldconfigLinks: Array<{ path: string; target: string }> = [];
    const ldconfigChanged: Array<{ path: string; target: string }> = [];
    if (inputs.ldconfig !== null) {
      const etcCreated: string[] = [];
      await withDir(root, '/etc', etcCreated, async (etc) => {
        const existing = await fsp.lstat(etc.at('ld.so.cache')).catch(() => null);
        if (existing?.isFile()) {
          const backup = String(backups++);
          await fsp.copyFile(etc.at('ld.so.cache'), stage.at(`b${backup}`));
          ldcacheBackup = backup;
          tx.record(() => withDir(root, '/etc', undefined, (d) => fsp.copyFile(stage.at(`b${backup}`), d.at('ld.so.cache'))));
        } else if (existing === null) {
          tx.record(() => tx.unlink(LDCACHE));
        } else {
          throw new NvcError('ERR_NVC_FILE_EXISTS', `${LDCACHE} in ${rootfs} is not a regular file`, { path: LDCACHE });
        }
      });
      for (const made of etcCreated) tx.record(() => tx.rmdir(made));
      createdDirs.push(...etcCreated);
      const before = await listDirs(root, plan.ldconfigDirs);
      const r = await inputs.ldconfig(plan.ldconfigDirs);
      const after = await listDirs(root, plan.ldconfigDirs);
      const ours = new Set(entries.map((e) => e.path));
      // ldconfig makes SONAME links for the image's own libraries too, and drops or repoints links
      // it finds stale: each change is recorded, to be undone now on failure or later by uninstall.
      for (const [p, target] of after) {
        if (before.has(p) || ours.has(p)) continue;
        ldconfigLinks.push({ path: p, target: target ?? '' });
        tx.record(() => tx.unlink(p));
      }
      for (const [p, target] of before) {
        if (target === null || ours.has(p) || after.get(p) === target) continue;
        ldconfigChanged.push({ path: p, target });
        tx.record(() => restoreLink(root, { path: p, target }));
      }
      if (!r.ran && r.warning) warnings.push(r.warning);
    }

    // 3b. A guest kernel's module index: depmod writes it under ROOTFS itself, so the path it will
    // follow must be the one the in-root walk finds (no link of the image leading it elsewhere).
    const depmodFiles: string[] = [];
    if (inputs.guestModules != null) {
      const release = inputs.guestModules.release;
      const treeInside = `/lib/modules/${release}`;
      const tree = await root.dir(treeInside);
      if (tree === null) throw new NvcError('ERR_NVC_SYSTEM', `${treeInside} vanished in ${rootfs}`);
      const resolvedInside = tree.path;
      await tree.close();
      const followed = await fsp.realpath(path.join(rootfs, treeInside)).catch(() => 'a path that does not exist');
      if (followed !== path.join(await fsp.realpath(rootfs), resolvedInside)) {
        throw new NvcError(
          'ERR_NVC_PATH_ESCAPE',
          `${treeInside} in ${rootfs} leads, through the image's links, to ${followed}, not into the image: depmod is not run over it`,
          {
            path: treeInside,
            hint: "make the image's /lib (or /lib/modules) a relative link or a directory",
          },
        );
      }
      const before = await listDirs(root, [treeInside]);
      // The index files the image had are kept for uninstall, as any file install replaces.
      for (const [p, target] of before) {
        if (target !== null || !/^modules\./.test(path.posix.basename(p))) continue;
        const backup = String(backups++);
        await withDir(root, treeInside, undefined, (d) => fsp.copyFile(d.at(path.posix.basename(p)), stage.at(`b${backup}`)));
        replaced.push({ path: p, backup });
        tx.record(() => withDir(root, treeInside, undefined, (d) => fsp.copyFile(stage.at(`b${backup}`), d.at(path.posix.basename(p)))));
      }
      await inputs.guestModules.depmod(rootfs, release);
      const after = await listDirs(root, [treeInside]);
      for (const [p, target] of after) {
        if (target !== null || !/^modules\./.test(path.posix.basename(p))) continue;
        depmodFiles.push(p);
        if (!before.has(p)) tx.record(() => tx.unlink(p));
      }
    }

    // 4. The stamp, and what was replaced moved under /etc/nvc-ts/replaced.
    const stampDirs: string[] = [];
    await withDir(root, DRIVER_STAMP_REPLACED_DIR, stampDirs, async (keep) => {
      for (const made of stampDirs) tx.record(() => tx.rmdir(made));
      const backupNames = [...replaced.map((r) => r.backup), ...(ldcacheBackup === null ? [] : [ldcacheBackup])];
      for (const b of backupNames) {
        await fsp.rename(stage.at(`b${b}`), keep.at(b));
        tx.record(() => withDir(root, DRIVER_STAMP_REPLACED_DIR, undefined, (d) => fsp.rename(d.at(b), stage.at(`b${b}`))));
      }
    });
    createdDirs.push(...stampDirs);
    const files: DriverStamp['files'] = [];
    for (const e of entries) {
      if (e.kind === 'symlink') continue;
      const host = await withDir(root, path.posix.dirname(e.path), undefined, async (d) => {
        const name = path.posix.basename(e.path);
        return { size: (await fsp.lstat(d.at(name))).size, sha256: await sha256File(d.at(name)) };
      });
      files.push({ path: e.path, ...host });
    }
    for (const p of depmodFiles) {
      const host = await withDir(root, path.posix.dirname(p), undefined, async (d) => {
        const name = path.posix.basename(p);
        return { size: (await fsp.lstat(d.at(name))).size, sha256: await sha256File(d.at(name)) };
      });
      files.push({ path: p, ...host });
    }
    if (inputs.ldconfig !== null) {
      const cache = await withDir(root, '/etc', undefined, async (d) =>
        (await fsp.lstat(d.at('ld.so.cache')).catch(() => null)) === null
          ? null
          : { size: (await fsp.lstat(d.at('ld.so.cache'))).size, sha256: await sha256File(d.at('ld.so.cache')) },
      );
      if (cache !== null) files.push({ path: LDCACHE, ...cache });
    }
    const stamp: DriverStamp = {
      schemaVersion: 1,
      driverVersion: inputs.driverVersion,
      cudaVersion: inputs.cudaVersion,
      capabilities: inputs.selection.capabilities,
      kernelRelease: inputs.guestModules?.release ?? null,
      files,
      links: [
        ...entries.filter((e): e is Extract<InstallEntry, { kind: 'symlink' }> => e.kind === 'symlink').map((e) => ({ path: e.path, target: e.target })),
        ...ldconfigLinks,
      ],
      createdDirs,
      replaced,
      ldcacheBackup,
      ldconfigChanged,
    };
    await fsp.writeFile(stage.at('stamp'), `${JSON.stringify(stamp, null, 2)}\n`, { mode: 0o644, flag: 'wx' });
    await withDir(root, DRIVER_STAMP_DIR, undefined, (d) => fsp.rename(stage.at('stamp'), d.at('driver.json')));
    tx.record(() => tx.unlink(DRIVER_STAMP_PATH));

    await staging.close();
    staging = null;
    await removeStaging();
    tx.commit();
    return { rootfs, plan: checked, applied: true, stamp, warnings };
  } catch (e) {
    // The rollback moves the backups back out of the staging directory through its descriptor:
    // closed only after it (closed first, every undo of a replaced file named /proc/self/fd/-1).
    const left = await tx.rollback();
    if (staging) await staging.close().catch(() => undefined);
    if (left.length > 0) {
      throw new NvcError('ERR_NVC_ROLLBACK_INCOMPLETE', `install into ${rootfs} failed and could not be fully undone: ${left.join('; ')}`, { cause: e });
    }
    throw e;
  } finally {
    await root.close();
  }
}
