/**
 * A container to configure: its init process, rootfs, owner ids, library layout and default
 * ldconfig, probed once when it is opened.
 */
import { constants as fsConstants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { NvcError } from './errors';
import type { ContainerLayout } from './plan/mount-plan';
import { containerOptionsSchema, parseWith, type ContainerOptions } from './schema';
import { pathExists } from './fs-probe';

/** A container to configure: where its rootfs is, whose files it holds, where libraries go. */
export class Container {
  constructor(
    readonly pid: number,
    readonly rootfs: string,
    readonly uid: number,
    readonly gid: number,
    readonly layout: ContainerLayout,
    readonly ldconfig: string,
    /**
     * The init process's start time (field 22 of /proc/<pid>/stat) when the container was
     * opened; the helpers refuse a pid that names another process by then (0: unchecked).
     */
    readonly pidStart: number = 0,
  ) {}
}

/** Field 22 of /proc/<pid>/stat (the process's start time in clock ticks after boot). */
export async function processStartTime(pid: number, procRoot = '/proc'): Promise<number> {
  const text = await readFile(path.join(procRoot, String(pid), 'stat'), 'utf8');
  // The command name may hold spaces and parentheses: fields are counted after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[19]);
  if (!Number.isSafeInteger(start)) throw new Error(`unexpected /proc/${pid}/stat`);
  return start;
}

/**
 * Inspect a container: owner ids from its init process (or the rootfs), library directories
 * from its layout (Debian-like multiarch dirs, else lib64/lib32), and the default ldconfig.
 * Probes go through /proc/<pid>/root so that they see the container's mount namespace; they
 * only choose defaults, every path used later is resolved inside the rootfs by the executor.
 */
export async function openContainer(options: ContainerOptions): Promise<Container> {
  const o = parseWith(containerOptionsSchema, options, 'container option');
  const pid = o.pid ?? 0;
  const seen = pid ? path.join('/proc', String(pid), 'root', o.rootfs) : o.rootfs;
  let owner;
  let pidStart = 0;
  try {
    if (pid) pidStart = await processStartTime(pid);
    owner = await stat(pid ? `/proc/${pid}` : o.rootfs);
    await access(seen, fsConstants.F_OK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new NvcError(
      'ERR_NVC_INVALID_ARGUMENT',
      pid ? `container process ${pid} or its rootfs ${o.rootfs} is not there` : `rootfs ${o.rootfs} is not there`,
      {
        field: pid ? 'pid' : 'rootfs',
        ...(err.code !== undefined && { errno: err.code }),
        path: err.path ?? seen,
        hint: 'pass the pid of the container init (before pivot_root) and the host path of its rootfs',
      },
    );
  }
  const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  const debian = await pathExists(path.join(seen, 'etc/debian_version'));
  let libsDir = `/usr/lib/${arch}-linux-gnu`;
  let libs32Dir = arch === 'x86_64' ? '/usr/lib/i386-linux-gnu' : '/var/empty';
  if (!debian) {
    libsDir = '/usr/lib64';
    libs32Dir = (await pathExists(path.join(seen, 'usr/lib32'))) ? '/usr/lib32' : '/usr/lib';
  }
  const ldconfig = o.ldconfig ?? ((await pathExists('/sbin/ldconfig.real')) ? '@/sbin/ldconfig.real' : '@/sbin/ldconfig');
  return new Container(
    pid,
    o.rootfs,
    owner.uid,
    owner.gid,
    { libsDir: o.libsDir ?? libsDir, libs32Dir: o.libs32Dir ?? libs32Dir, binsDir: o.binsDir ?? '/usr/bin' },
    ldconfig,
    pidStart,
  );
}
