/**
 * Device numbering of the simulated kernel driver, and the character devices made for it under dev/ when the
 * process may mknod.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { gpuDrmNumbers, type SimulatedHostSpec } from './spec';

/** Device numbers the simulated kernel driver uses (those of the GPU machine). */
export const SIMULATED_MAJORS = {
  nvidia: 195,
  nvidiaUvm: 238,
  nvidiaNvswitch: 239,
  nvidiaNvlink: 240,
  nvidiaCaps: 241,
  nvidiaCapsImexChannels: 242,
  drm: 226,
} as const;
export const NVIDIACTL_MINOR = 255;
export const MIG_CONFIG_MINOR = 1;
export const MIG_MONITOR_MINOR = 2;

/**
 * The nvidia-caps minor of a MIG capability, as the driver numbers them in
 * /proc/driver/nvidia-caps/mig-minors: config 1, monitor 2, then per GPU minor (0-31) 15 GPU
 * instances of 9 entries (the GI's access, then its 8 compute instances). Null when out of range.
 */
export function migCapabilityMinor(gpuMinor: number, gpuInstance: number, computeInstance?: number): number | null {
  if (gpuMinor < 0 || gpuMinor > 31 || gpuInstance < 0 || gpuInstance > 14) return null;
  const gi = 3 + gpuMinor * 135 + gpuInstance * 9;
  if (computeInstance === undefined) return gi;
  if (computeInstance < 0 || computeInstance > 7) return null;
  return gi + 1 + computeInstance;
}

function pExecFile(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, _stdout, stderr) => {
      if (err) {
        reject(Object.assign(err, { stderr: String(stderr) }));
      } else {
        resolve();
      }
    });
  });
}

interface DeviceNode {
  rel: string;
  major: number;
  minor: number;
  mode: number;
}

function deviceNodeList(spec: SimulatedHostSpec): DeviceNode[] {
  const M = SIMULATED_MAJORS;
  const nodes: DeviceNode[] = [{ rel: 'nvidiactl', major: M.nvidia, minor: NVIDIACTL_MINOR, mode: 0o666 }];
  for (const g of spec.gpus) nodes.push({ rel: `nvidia${g.minor}`, major: M.nvidia, minor: g.minor, mode: 0o666 });
  nodes.push(
    { rel: 'nvidia-uvm', major: M.nvidiaUvm, minor: 0, mode: 0o666 },
    { rel: 'nvidia-uvm-tools', major: M.nvidiaUvm, minor: 1, mode: 0o666 },
    { rel: `nvidia-caps/nvidia-cap${MIG_CONFIG_MINOR}`, major: M.nvidiaCaps, minor: MIG_CONFIG_MINOR, mode: 0o400 },
    { rel: `nvidia-caps/nvidia-cap${MIG_MONITOR_MINOR}`, major: M.nvidiaCaps, minor: MIG_MONITOR_MINOR, mode: 0o444 },
  );
  if (spec.nvidiaDrm) {
    spec.gpus.forEach((_g, i) => {
      const { card, render } = gpuDrmNumbers(spec, i);
      nodes.push({ rel: `dri/card${card}`, major: M.drm, minor: card, mode: 0o660 }, { rel: `dri/renderD${render}`, major: M.drm, minor: render, mode: 0o666 });
    });
  }
  const seen = new Set<number>();
  for (const g of spec.gpus) {
    for (const m of g.migDevices ?? []) {
      for (const minor of [migCapabilityMinor(g.minor, m.gpuInstance), migCapabilityMinor(g.minor, m.gpuInstance, m.computeInstance)]) {
        if (minor === null || seen.has(minor)) continue;
        seen.add(minor);
        nodes.push({ rel: `nvidia-caps/nvidia-cap${minor}`, major: M.nvidiaCaps, minor, mode: 0o444 });
      }
    }
  }
  return nodes;
}

async function makeDeviceNodes(devRoot: string, nodes: DeviceNode[]): Promise<boolean> {
  await fsp.mkdir(path.join(devRoot, 'nvidia-caps'), { recursive: true });
  if (nodes.some((n) => n.rel.startsWith('dri/'))) await fsp.mkdir(path.join(devRoot, 'dri'), { recursive: true });
  const mk = (n: DeviceNode): Promise<void> => pExecFile('mknod', ['-m', n.mode.toString(8), path.join(devRoot, n.rel), 'c', String(n.major), String(n.minor)]);
  const [first, ...rest] = nodes;
  if (!first) return true;
  try {
    await mk(first);
  } catch {
    // No CAP_MKNOD (user namespace, unprivileged container): leave dev/ without nodes.
    await fsp.rm(path.join(devRoot, 'nvidia-caps'), { recursive: true, force: true });
    await fsp.rm(path.join(devRoot, 'dri'), { recursive: true, force: true });
    return false;
  }
  await Promise.all(rest.map(mk));
  return true;
}

/** Makes the driver's device nodes under devRoot when the spec asks and we are root; true when it did. */
export async function createDeviceNodes(devRoot: string, spec: SimulatedHostSpec): Promise<boolean> {
  if (!(spec.deviceNodes && typeof process.getuid === 'function' && process.getuid() === 0)) return false;
  return makeDeviceNodes(devRoot, deviceNodeList(spec));
}
