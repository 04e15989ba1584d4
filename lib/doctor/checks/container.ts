/**
 * `--container PID`: a running container against the host. Its device cgroup is probed by a
 * short-lived child that joins the container's cgroups and opens the host's NVIDIA nodes (EPERM
 * is the cgroup's refusal; any other outcome means access is allowed), and its own view of the
 * driver is read through /proc/PID/root with every symlink resolved inside that root.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { result, type Check } from '../check';
import { parseCgroupMounts } from './cgroups';
import { parseLdCache } from '../../ldcache-reader';
import { hostPathInRoot } from '../../root-resolve';
import { devMajor, devMinor, lstatOrNull, readOptionalText, readRegularText } from '../../bounded-read';
import { versionOfFile, VERSION_SONAMES, type HostView } from '../host-view';
import { parseKeyValues } from '../../kmod/nodes';
import type { CheckStatus, EvidenceValue } from '../types';

const PROBE = `
const fs = require('node:fs');
const [procsFiles, nodes] = JSON.parse(process.argv[1]);
for (const f of procsFiles) fs.writeFileSync(f, String(process.pid));
const out = {};
for (const n of nodes) {
  try { fs.closeSync(fs.openSync(n, fs.constants.O_RDWR | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY)); out[n] = 'ok'; }
  catch (e) { out[n] = e.code || String(e); }
}
process.stdout.write(JSON.stringify(out));
`;

function probe(procsFiles: string[], nodes: string[], timeoutMs: number): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', PROBE, JSON.stringify([procsFiles, nodes])], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`));
      else resolve(JSON.parse(stdout) as Record<string, string>);
    });
  });
}

const PROC = '/proc';

/** The container's pid and its root as this machine's /proc shows it (container pids are this kernel's). */
function containerOf(view: HostView): { pid: number; root: string } {
  const pid = view.options.container as number;
  return { pid, root: path.join(PROC, String(pid), 'root') };
}

interface ContainerNode {
  name: string;
  major: number;
  minor: number;
}

async function containerNodes(root: string): Promise<ContainerNode[]> {
  const dev = await hostPathInRoot(root, '/dev');
  if (dev === null) return [];
  const names = (await fsp.readdir(dev).catch(() => [] as string[])).filter((n) => /^nvidia/.test(n)).sort();
  const out: ContainerNode[] = [];
  for (const name of names) {
    const st = await lstatOrNull(path.join(dev, name));
    if (st?.isCharacterDevice()) out.push({ name, major: devMajor(st.rdev), minor: devMinor(st.rdev) });
  }
  return out;
}

export const containerDevicesCheck: Check = {
  id: 'container-devices',
  scope: 'container',
  async run(view) {
    const { pid, root } = containerOf(view);
    const evidence: Record<string, EvidenceValue> = {};
    const cgroupText = await readRegularText(path.join(PROC, String(pid), 'cgroup'));
    const mounts = parseCgroupMounts(await readRegularText(path.join(PROC, 'self/mountinfo')));
    evidence[path.join(PROC, String(pid), 'cgroup')] = cgroupText.trim().split('\n');
    const procsFiles: string[] = [];
    const v1 = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('devices'));
    const v1Path = /^\d+:(?:[^:]*,)?devices(?:,[^:]*)?:(.*)$/m.exec(cgroupText)?.[1];
    if (v1 && v1Path && v1Path !== '/') {
      procsFiles.push(path.join(v1.mountPoint, v1Path, 'cgroup.procs'));
      const list = await readOptionalText(path.join(v1.mountPoint, v1Path, 'devices.list')).catch(() => null);
      if (list !== null) evidence[path.join(v1.mountPoint, v1Path, 'devices.list')] = list.trim().split('\n');
    }
    const v2 = mounts.find((m) => m.fsType === 'cgroup2');
    const v2Path = /^0::(.*)$/m.exec(cgroupText)?.[1];
    if (v2 && v2Path && v2Path !== '/') procsFiles.push(path.join(v2.mountPoint, v2Path, 'cgroup.procs'));
    const inside = await containerNodes(root);
    evidence['nodes in the container'] = inside.map((n) => `/dev/${n.name} ${n.major}:${n.minor}`);
    const gpuNodes = inside.filter((n) => /^nvidia\d+$/.test(n.name));
    if (gpuNodes.length === 0) return result('container-devices', 'skip', `container ${pid} has no GPU node in its /dev`, evidence);
    // Every node a CUDA program opens, inside or not: nvidia-uvm is the one most often forgotten.
    const wanted = new Map<string, ContainerNode>(inside.map((n) => [n.name, n]));
    const majors = await view.devices();
    const uvmMajor = majors.get('nvidia-uvm');
    if (!wanted.has('nvidia-uvm') && uvmMajor !== undefined) wanted.set('nvidia-uvm', { name: 'nvidia-uvm', major: uvmMajor, minor: 0 });
    const probeNodes: string[] = [];
    const hostOf = new Map<string, string>();
    for (const n of wanted.values()) {
      const host = view.dev(n.name);
      const st = await lstatOrNull(host);
      if (st?.isCharacterDevice() && devMajor(st.rdev) === n.major && devMinor(st.rdev) === n.minor) {
        probeNodes.push(host);
        hostOf.set(host, n.name);
      }
    }
    if (procsFiles.length === 0) {
      return result(
        'container-devices',
        'warn',
        `container ${pid} shares the root cgroup: its device access is not confined`,
        evidence,
        'run the container in its own cgroup (every OCI runtime does by default).',
      );
    }
    let outcome: Record<string, string>;
    try {
      outcome = await probe(procsFiles, probeNodes, view.timeoutMs);
    } catch (e) {
      return result(
        'container-devices',
        'fail',
        `could not probe the cgroup of container ${pid}: ${(e as Error).message}`,
        evidence,
        'run doctor --container as root.',
      );
    }
    const denied: string[] = [];
    for (const [host, verdict] of Object.entries(outcome)) {
      const name = hostOf.get(host) as string;
      evidence[`open /dev/${name} in the container's cgroup`] = verdict === 'EPERM' ? 'denied (EPERM)' : `allowed (${verdict})`;
      if (verdict === 'EPERM') denied.push(name);
    }
    const statuses: CheckStatus[] = [];
    const findings: string[] = [];
    if (denied.length) {
      statuses.push('fail');
      findings.push(
        `the device cgroup denies ${denied.map((d) => `/dev/${d}`).join(', ')}${denied.includes('nvidia-uvm') ? ': CUDA fails with CUDA_ERROR_UNKNOWN while nvidia-smi works' : ''}`,
      );
    }
    if (!inside.some((n) => n.name === 'nvidia-uvm')) {
      statuses.push('fail');
      findings.push('/dev/nvidia-uvm is not in the container: CUDA fails with CUDA_ERROR_UNKNOWN');
    }
    if (statuses.length === 0)
      return result('container-devices', 'pass', `container ${pid}: ${probeNodes.length} NVIDIA nodes present and allowed by its device cgroup`, evidence);
    return result(
      'container-devices',
      'fail',
      findings.join('; '),
      evidence,
      'give the container every node its GPUs need, nvidia-uvm and nvidia-uvm-tools included (configure and the hook add the rules; a CDI spec must list them), then restart it; under systemd see the dev-char check.',
    );
  },
};

/** The versioned driver files that a root's ld.so.cache leads its version sonames to. */
export async function cachedVersions(root: string): Promise<{ cache: string | null; found: Record<string, string | null> }> {
  const cachePath = await hostPathInRoot(root, '/etc/ld.so.cache');
  const found: Record<string, string | null> = {};
  if (cachePath === null) return { cache: null, found };
  let records;
  try {
    records = parseLdCache(await fsp.readFile(cachePath));
  } catch {
    return { cache: null, found };
  }
  for (const soname of VERSION_SONAMES) {
    const entry = records.find((r) => r.key === soname);
    if (!entry) continue;
    const host = await hostPathInRoot(root, entry.value);
    found[soname] = host === null ? null : '/' + path.relative(root, host);
  }
  return { cache: '/etc/ld.so.cache', found };
}

export const containerDriverCheck: Check = {
  id: 'container-driver',
  scope: 'container',
  async run(view) {
    const { pid, root } = containerOf(view);
    const evidence: Record<string, EvidenceValue> = {};
    const kernel = await view.kernelVersion();
    evidence['host kernel module'] = kernel;
    const statuses: CheckStatus[] = [];
    const findings: string[] = [];
    const paramsFile = await hostPathInRoot(root, '/proc/driver/nvidia/params');
    const params = paramsFile === null ? null : await readOptionalText(paramsFile).catch(() => null);
    const modify = params === null ? null : (parseKeyValues(params).get('ModifyDeviceFiles') ?? null);
    evidence['/proc/driver/nvidia/params (container)'] = params === null ? 'missing' : `ModifyDeviceFiles: ${modify}`;
    if (modify === '1') {
      statuses.push('warn');
      findings.push('the container sees ModifyDeviceFiles: 1, so the driver in it may try to create device nodes');
    }
    const { cache, found } = await cachedVersions(root);
    evidence['/etc/ld.so.cache (container)'] =
      cache === null ? 'missing or unreadable' : Object.entries(found).map(([k, v]) => `${k} -> ${v ?? 'does not resolve'}`);
    const versions = new Set<string>();
    for (const soname of VERSION_SONAMES) {
      const file = found[soname];
      if (file === undefined || file === null) {
        statuses.push('fail');
        findings.push(`${soname} is not in the container's ld.so.cache (or does not resolve): programs cannot load the driver`);
        continue;
      }
      const v = versionOfFile(file);
      if (v !== null) versions.add(v);
    }
    const other = [...versions].filter((v) => kernel !== null && v !== kernel);
    if (other.length) {
      statuses.push('fail');
      findings.push(`the container's libraries are ${other.join(', ')} but the host kernel module is ${kernel}`);
    }
    if (statuses.length === 0)
      return result('container-driver', 'pass', `container ${pid} loads the driver ${[...versions].join(', ')} of the host's kernel module`, evidence);
    const status = statuses.includes('fail') ? 'fail' : 'warn';
    return result(
      'container-driver',
      status,
      findings.join('; '),
      evidence,
      status === 'fail'
        ? 'configure the container with nvc-ts (its ldconfig step fills the cache) and do not ship driver libraries in the image; an image built with another driver must be rebuilt or use copy mode for this host.'
        : 'configure mounts a params copy with ModifyDeviceFiles: 0; a container set up otherwise should do the same.',
    );
  },
};
