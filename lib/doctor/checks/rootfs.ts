/**
 * `--rootfs DIR`: the user-space driver an image carries against the running kernel module, before
 * a guest or container starts. The copy-mode stamp is the authority when present (and every file
 * it lists is checked against its size and SHA-256); otherwise the versioned files that the image's
 * ld.so.cache, or its library directories, hold.
 */
import { promises as fsp } from 'node:fs';
import { sha256File } from '../../file-hash';
import * as path from 'node:path';
import { result, type Check } from '../check';
import { DRIVER_STAMP_PATH, driverStampSchema } from '../../driver-stamp';
import { hostPathInRoot } from '../../root-resolve';
import { readRegularText } from '../../bounded-read';
import { versionOfFile } from '../host-view';
import { cachedVersions } from './container';
import type { EvidenceValue } from '../types';

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64', '/usr/local/nvidia/lib64'];
const MAX_STAMP = 16 << 20;

async function changedFiles(root: string, files: Array<{ path: string; size: number; sha256: string }>): Promise<string[]> {
  const changed: string[] = [];
  for (const f of files) {
    // The image's own ldconfig rewrites its cache whenever it installs something: not a change to report.
    if (f.path === '/etc/ld.so.cache') continue;
    const host = await hostPathInRoot(root, f.path);
    const st = host === null ? null : await fsp.lstat(host).catch(() => null);
    if (host === null || st === null || !st.isFile()) changed.push(`${f.path} (missing)`);
    else if (st.size !== f.size) changed.push(`${f.path} (size ${st.size}, stamped ${f.size})`);
    else if ((await sha256File(host)) !== f.sha256) changed.push(`${f.path} (content)`);
  }
  return changed;
}

export const rootfsDriverCheck: Check = {
  id: 'rootfs-driver',
  scope: 'rootfs',
  async run(view) {
    const root = path.resolve(view.options.rootfs as string);
    const kernel = await view.kernelVersion();
    const evidence: Record<string, EvidenceValue> = { 'host kernel module': kernel };
    const stampFile = await hostPathInRoot(root, DRIVER_STAMP_PATH);
    let version: string | null = null;
    let source = '';
    const findings: string[] = [];
    if (stampFile !== null) {
      let stamp;
      try {
        stamp = driverStampSchema.parse(JSON.parse(await readRegularText(stampFile, MAX_STAMP)));
      } catch (e) {
        return result(
          'rootfs-driver',
          'fail',
          `${path.join(root, DRIVER_STAMP_PATH)} is not a valid stamp: ${(e as Error).message.split('\n')[0]}`,
          evidence,
          'reinstall the driver into the image with `nvc-ts install --into`.',
        );
      }
      version = stamp.driverVersion;
      source = DRIVER_STAMP_PATH;
      evidence[DRIVER_STAMP_PATH] = `driver ${stamp.driverVersion}, ${stamp.files.length} files`;
      const changed = await changedFiles(root, stamp.files);
      if (changed.length) {
        evidence['changed since installation'] = changed.slice(0, 50);
        findings.push(`${changed.length} installed file(s) changed since installation`);
      }
    } else {
      const { found } = await cachedVersions(root);
      const fromCache = Object.values(found)
        .filter((f): f is string => typeof f === 'string')
        .map((f) => versionOfFile(f))
        .filter((v): v is string => v !== null);
      evidence['/etc/ld.so.cache'] = Object.entries(found).map(([k, v]) => `${k} -> ${v ?? 'does not resolve'}`);
      const fromDirs = new Set<string>();
      for (const dir of LIB_DIRS) {
        const host = await hostPathInRoot(root, dir);
        if (host === null) continue;
        for (const name of await fsp.readdir(host).catch(() => [] as string[])) {
          const v = /^lib(?:cuda|nvidia-ml)\.so\./.test(name) ? versionOfFile(name) : null;
          if (v !== null) fromDirs.add(v);
        }
      }
      evidence['versioned libcuda/libnvidia-ml in library directories'] = [...fromDirs].sort();
      const all = [...new Set([...fromCache, ...fromDirs])].sort();
      if (all.length === 0)
        return result('rootfs-driver', 'skip', `${root} carries no NVIDIA user-space driver (a container runtime mounts the host's at start)`, evidence);
      if (all.length > 1) findings.push(`several driver versions in the image: ${all.join(', ')}`);
      version = fromCache[0] ?? all[0] ?? null;
      source = fromCache.length ? 'its ld.so.cache' : 'its library file names';
    }
    if (kernel === null) {
      return result(
        'rootfs-driver',
        'warn',
        `the image carries driver ${version} (from ${source}), but this host has no nvidia kernel module loaded to compare with`,
        evidence,
        'run the check on the host that will run the image.',
      );
    }
    if (version !== kernel) {
      return result(
        'rootfs-driver',
        'fail',
        `the image's user-space driver is ${version} (from ${source}) but the running kernel module is ${kernel}: NVML and CUDA will refuse to start in it`,
        evidence,
        `install driver ${kernel} into the image (\`nvc-ts install --into ${root}\` on this host), or run the image where the kernel module is ${version}.`,
      );
    }
    if (findings.length)
      return result(
        'rootfs-driver',
        'fail',
        `driver ${version} matches the kernel module, but ${findings.join('; ')}`,
        evidence,
        'reinstall the driver into the image (`nvc-ts uninstall --from` then `nvc-ts install --into`).',
      );
    return result('rootfs-driver', 'pass', `the image's user-space driver ${version} (from ${source}) matches the kernel module`, evidence);
  },
};
