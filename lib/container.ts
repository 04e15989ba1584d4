/**
 * A container to configure: its init process, rootfs, owner ids, library layout and default
 * ldconfig, probed once when it is opened.
 */
import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { NvcError } from './errors';
import type { ContainerLayout } from './plan/mount-plan';
import { binding } from './native';
import { fromNative } from './native-errors';
import { shorten } from './quote';
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
    /** ldconfig enters the rootfs by MS_MOVE + chroot instead of pivot_root (ContainerOptions.noPivot). */
    readonly noPivot: boolean = false,
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

/** What a probe of a container path found (see probeContainerPaths). */
export interface ContainerPathProbe {
  exists: boolean;
  isDirectory: boolean;
  /** statfs f_type of what was found (0 when nothing was). */
  fsType: number;
  errno?: string;
}

/**
 * Paths of a container's tree as the executor will see them: from the container process's
 * root (its mount namespace), each resolved inside the rootfs by the native in-root resolver,
 * so that an image's absolute link leads into the rootfs and never to a host file.
 * `follow`: follow a link in the last component (inside the rootfs); otherwise a link is an
 * entry that exists.
 */
export async function probeContainerPaths(
  target: { pid: number; pidStart?: number; rootfs: string },
  paths: readonly { path: string; follow: boolean }[],
): Promise<ContainerPathProbe[]> {
  try {
    return await binding().probeContainer({ pid: target.pid, pidStart: target.pidStart ?? 0, rootfs: target.rootfs, paths: [...paths] });
  } catch (e) {
    throw fromNative(e);
  }
}

/**
 * Inspect a container: owner ids from its init process (or the rootfs), library directories
 * from its layout (Debian-like multiarch dirs, else lib64/lib32), and the default ldconfig.
 * The layout probes see the container's mount namespace and resolve inside the rootfs
 * (probeContainerPaths); they only choose defaults, every path used later is resolved inside
 * the rootfs by the executor.
 */
export async function openContainer(options: ContainerOptions): Promise<Container> {
  const o = parseWith(containerOptionsSchema, options, 'container option');
  const pid = o.pid ?? 0;
  let owner;
  let pidStart = 0;
  let debian: ContainerPathProbe;
  let lib32: ContainerPathProbe;
  try {
    if (pid) pidStart = await processStartTime(pid);
    owner = await stat(pid ? `/proc/${pid}` : o.rootfs);
    [debian, lib32] = (await probeContainerPaths({ pid, pidStart, rootfs: o.rootfs }, [
      { path: '/etc/debian_version', follow: false },
      { path: '/usr/lib32', follow: false },
    ])) as [ContainerPathProbe, ContainerPathProbe];
  } catch (e) {
    if (e instanceof NvcError && e.code === 'ERR_NVC_NATIVE_MISSING') throw e;
    const err = e as NodeJS.ErrnoException & { errno?: string };
    const errno = typeof err.errno === 'string' ? err.errno : err.code;
    // Only a process or rootfs that is not there is the caller's mistake; EMFILE, EIO, ENOMEM
    // while looking are this host's trouble, said as such (fault-injection-client).
    if (errno !== undefined && !['ENOENT', 'ESRCH', 'ENOTDIR'].includes(errno)) {
      if (e instanceof NvcError) throw e;
      throw new NvcError('ERR_NVC_SYSTEM', `cannot inspect ${pid ? `container process ${pid} and ` : ''}its rootfs ${shorten(o.rootfs, 256)}: ${err.message}`, {
        errno,
        path: err.path ?? o.rootfs,
        cause: e,
      });
    }
    throw new NvcError(
      'ERR_NVC_INVALID_ARGUMENT',
      pid ? `container process ${pid} or its rootfs ${shorten(o.rootfs, 256)} is not there` : `rootfs ${shorten(o.rootfs, 256)} is not there`,
      {
        field: pid ? 'pid' : 'rootfs',
        ...(errno !== undefined && { errno }),
        path: err.path ?? o.rootfs,
        hint: 'pass the pid of the container init (before pivot_root) and the host path of its rootfs',
      },
    );
  }
  const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  let libsDir = `/usr/lib/${arch}-linux-gnu`;
  let libs32Dir = arch === 'x86_64' ? '/usr/lib/i386-linux-gnu' : '/var/empty';
  if (!debian.exists) {
    libsDir = '/usr/lib64';
    libs32Dir = lib32.exists ? '/usr/lib32' : '/usr/lib';
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
    o.noPivot === true,
  );
}
