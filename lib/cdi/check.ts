/**
 * `cdi check`: specs against the live host, read-only. Every host path a spec names exists
 * with the right type (device nodes with the right numbers, libraries of the running driver
 * version, hooks executable); every GPU and MIG device of the host has its device; the
 * control and uvm nodes are there; DRM nodes where nvidia-drm is loaded; the cdiVersion
 * carries the content and is readable by the installed engines. One line per problem.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { HostFacts } from '../host-facts';
import { lowestCeiling, type EngineVersion } from './engines';
import type { LoadedSpec } from './registry';
import type { CdiContainerEdits } from './spec';
import { compareVersions, minimumVersion } from './version';

/** A library file name's driver version: libcuda.so.580.159.04 -> 580.159.04. */
const LIB_VERSION = /\.so\.(\d+\.\d+(?:\.\d+)?)$/;

function rdevNumbers(rdev: number): { major: number; minor: number } {
  return { major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | (Math.floor(rdev / 4096) & ~0xff) };
}

function checkEdits(edits: CdiContainerEdits | undefined, where: string, driverVersion: string, out: string[]): void {
  if (edits === undefined) return;
  for (const n of edits.deviceNodes ?? []) {
    const hostPath = n.hostPath ?? n.path;
    let st;
    try {
      st = statSync(hostPath);
    } catch {
      out.push(`${where}: ${hostPath}: device node missing`);
      continue;
    }
    const want = n.type ?? 'c';
    const is = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 'not a device';
    if ((want === 'u' ? 'c' : want) !== is) {
      out.push(`${where}: ${hostPath}: expected a ${want} device node, found ${is}`);
      continue;
    }
    const nums = rdevNumbers(st.rdev);
    if ((n.major !== undefined && n.major !== nums.major) || (n.minor !== undefined && n.minor !== nums.minor)) {
      out.push(`${where}: ${hostPath}: device ${n.major}:${n.minor} in the spec, ${nums.major}:${nums.minor} on the host`);
    }
  }
  for (const m of edits.mounts ?? []) {
    let st;
    try {
      st = statSync(m.hostPath);
    } catch {
      out.push(`${where}: ${m.hostPath}: missing (mounted at ${m.containerPath})`);
      continue;
    }
    // A library or binary must be a file (a directory there would shadow the image's path).
    if (/\.so(\.|$)|\/bin\//.test(m.containerPath) && !st.isFile()) {
      out.push(`${where}: ${m.hostPath}: expected a regular file (mounted at ${m.containerPath})`);
      continue;
    }
    const v = LIB_VERSION.exec(path.basename(m.hostPath))?.[1];
    // Only a full x.y.z with a driver branch (three digits and more) names a driver release: not
    // libnvidia-nvvm.so.4, nor the EGL platform libraries' own versions (libnvidia-egl-wayland.so.1.1.19).
    if (v !== undefined && /^\d{3,}\.\d+\.\d+$/.test(v) && v !== driverVersion) {
      out.push(`${where}: ${m.hostPath}: library of driver ${v}, the running driver is ${driverVersion}`);
    }
  }
  for (const h of edits.hooks ?? []) {
    try {
      accessSync(h.path, constants.X_OK);
    } catch {
      out.push(`${where}: ${h.path}: ${h.hookName} hook not executable or missing`);
    }
  }
}

export interface CheckInput {
  specs: LoadedSpec[];
  facts: Pick<HostFacts, 'driver' | 'devices' | 'paths'>;
  engines: EngineVersion[];
  /**
   * What the host's devices must find in the specs (default: all of it). A gVisor profile
   * names no MIG capability node, and a selection without DRM items names no DRM node: a
   * refresh checks its own spec against what its profile can give.
   */
  expect?: { migCaps: boolean; drm: boolean };
}

export function checkSpecs({ specs, facts, engines, expect = { migCaps: true, drm: true } }: CheckInput): string[] {
  const out: string[] = [];
  if (specs.length === 0) return ['no CDI spec found'];
  const ceiling = lowestCeiling(engines);
  const nodesOf = (s: LoadedSpec): Set<string> =>
    new Set([...(s.spec.containerEdits?.deviceNodes ?? []), ...s.spec.devices.flatMap((d) => d.containerEdits.deviceNodes ?? [])].map((n) => n.path));
  const allNodes = new Set(specs.flatMap((s) => [...nodesOf(s)]));
  for (const s of specs) {
    const needed = minimumVersion(s.spec);
    if (compareVersions(s.spec.cdiVersion, needed) < 0)
      out.push(`${s.file}: cdiVersion ${s.spec.cdiVersion} is below the ${needed} its content needs: engines refuse it`);
    if (ceiling !== null && compareVersions(s.spec.cdiVersion, ceiling.version) > 0) {
      out.push(`${s.file}: cdiVersion ${s.spec.cdiVersion} cannot be read by ${ceiling.why} (it reads up to ${ceiling.version})`);
    }
    checkEdits(s.spec.containerEdits, `${s.file}: common edits`, facts.driver.version, out);
    for (const d of s.spec.devices) {
      checkEdits(d.containerEdits, `${s.file}: device ${s.spec.kind}=${d.name}`, facts.driver.version, out);
      if ((d.containerEdits.deviceNodes ?? []).length === 0 && d.containerEdits.mounts === undefined)
        out.push(`${s.file}: device ${s.spec.kind}=${d.name}: no edits`);
    }
  }
  const where = specs.map((s) => s.file).join(', ');
  for (const gpu of facts.devices) {
    if (!allNodes.has(gpu.deviceNode.path)) out.push(`${where}: GPU ${gpu.index} (${gpu.uuid}): no device with ${gpu.deviceNode.path}`);
    for (const mig of expect.migCaps ? gpu.mig.devices : []) {
      for (const minor of [mig.giCapMinor, mig.ciCapMinor]) {
        const p = minor === null ? null : `/dev/nvidia-caps/nvidia-cap${minor}`;
        if (p !== null && !allNodes.has(p)) out.push(`${where}: MIG device ${gpu.index}:${mig.index} (${mig.uuid}): no device with ${p}`);
      }
    }
  }
  if (facts.devices.length > 0) {
    for (const control of ['/dev/nvidiactl', '/dev/nvidia-uvm']) if (!allNodes.has(control)) out.push(`${where}: ${control}: not in any spec`);
  }
  if (expect.drm && existsSync(path.join(facts.paths.sysRoot, 'module/nvidia_drm')) && ![...allNodes].some((n) => n.startsWith('/dev/dri/'))) {
    out.push(`${where}: nvidia-drm is loaded but no spec names a /dev/dri node`);
  }
  return out;
}
