/**
 * What `cdi refresh --watch` watches: a fingerprint of the driver's state (its version, the
 * kernel modules loaded, the device nodes, the MIG instances, the daemons' sockets, the driver
 * root's ld.so.cache that package installs rewrite), taken by polling because
 * procfs and sysfs do not notify, and taken at once when the dev directories change
 * (fs.watch where it works). A change of fingerprint, or SIGHUP, asks for a refresh.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';

export interface DriverStatePaths {
  /** The driver root: its IPC sockets and its ld.so.cache (rewritten when driver packages change). */
  root: string;
  /** The ld cache's path inside the root. */
  ldcache: string;
  procRoot: string;
  devRoot: string;
  sysRoot: string;
}

async function list(dir: string, pattern?: RegExp): Promise<string[]> {
  try {
    const names = await readdir(dir);
    return names.filter((n) => pattern === undefined || pattern.test(n)).sort();
  } catch {
    return [];
  }
}

async function text(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

/** MIG instances: the gi/ci directories under each GPU's capabilities. */
async function migInstances(procRoot: string): Promise<string[]> {
  const caps = path.join(procRoot, 'driver/nvidia/capabilities');
  const out: string[] = [];
  for (const gpu of await list(caps, /^gpu\d+$/)) {
    for (const gi of await list(path.join(caps, gpu, 'mig'), /^gi\d+$/)) {
      out.push(`${gpu}/${gi}`, ...(await list(path.join(caps, gpu, 'mig', gi), /^ci\d+$/)).map((ci) => `${gpu}/${gi}/${ci}`));
    }
  }
  return out;
}

/** Whether each path exists, and for files their size and modification time. */
async function presence(paths: string[]): Promise<string[]> {
  return Promise.all(
    paths.map(async (p) => {
      try {
        const st = await stat(p);
        return `${p} ${st.isFile() ? `${st.size}@${st.mtimeMs}` : 'present'}`;
      } catch {
        return `${p} absent`;
      }
    }),
  );
}

export async function driverFingerprint(p: DriverStatePaths): Promise<string> {
  const [files, version, modules, nodes, caps, dri, mig, migMinors] = await Promise.all([
    presence([
      path.join(p.root, p.ldcache),
      path.join(p.root, 'run/nvidia-persistenced/socket'),
      path.join(p.root, 'run/nvidia-fabricmanager/socket'),
      path.join(p.root, 'tmp/nvidia-mps'),
    ]),
    text(path.join(p.procRoot, 'driver/nvidia/version')),
    list(path.join(p.sysRoot, 'module'), /^nvidia/),
    list(p.devRoot, /^nvidia/),
    list(path.join(p.devRoot, 'nvidia-caps')),
    list(path.join(p.devRoot, 'dri')),
    migInstances(p.procRoot),
    text(path.join(p.procRoot, 'driver/nvidia-caps/mig-minors')),
  ]);
  return JSON.stringify({ files, version, modules, nodes, caps, dri, mig, migMinors: migMinors.length });
}

export interface DriverWatch {
  /** Resolves when the state changed (or a refresh was asked for), with the reason. */
  next(): Promise<string>;
  close(): void;
}

/** Starts watching; the fingerprint at start is the baseline. */
export async function watchDriver(p: DriverStatePaths, pollMs: number): Promise<DriverWatch> {
  let last = await driverFingerprint(p);
  let wake: ((reason: string) => void) | null = null;
  let pending: string | null = null;
  const fire = (reason: string): void => {
    if (wake !== null) {
      const w = wake;
      wake = null;
      w(reason);
    } else pending ??= reason;
  };
  let checking = false;
  const check = async (why: string): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      const now = await driverFingerprint(p);
      if (now !== last) {
        last = now;
        fire(why);
      }
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check('the driver state changed'), pollMs);
  const watchers: FSWatcher[] = [];
  for (const dir of [p.devRoot, path.join(p.devRoot, 'nvidia-caps'), path.join(p.devRoot, 'dri')]) {
    try {
      const w = watch(dir, { persistent: false }, () => void check(`${dir} changed`));
      w.on('error', () => w.close());
      watchers.push(w);
    } catch {
      // Not there (yet) or not watchable: polling covers it.
    }
  }
  const onHup = (): void => fire('SIGHUP');
  process.on('SIGHUP', onHup);
  return {
    next(): Promise<string> {
      if (pending !== null) {
        const r = pending;
        pending = null;
        return Promise.resolve(r);
      }
      return new Promise((resolve) => {
        wake = resolve;
      });
    },
    close(): void {
      clearInterval(timer);
      for (const w of watchers) w.close();
      process.off('SIGHUP', onHup);
      if (wake !== null) wake('closed');
    },
  };
}
