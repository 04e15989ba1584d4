/** The driver's files other than libraries: binaries, GSP firmware, IPC endpoints and vendor ICD files. */
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { SimulatedHostSpec } from './spec';
import type { Tree } from './tree';

export const SIMULATED_BINARIES = [
  'nvidia-smi',
  'nvidia-debugdump',
  'nvidia-persistenced',
  'nv-fabricmanager',
  'nvidia-cuda-mps-control',
  'nvidia-cuda-mps-server',
] as const;

/**
 * Leave a real (unlistened) unix socket file at `file`, as a daemon that created it would.
 * libuv unlinks the path it listened on when the server closes, so listen on a temporary
 * name and rename the socket into place first.
 */
async function makeUnixSocket(file: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(tmp, () => resolve());
  });
  try {
    await fsp.rename(tmp, file);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function nvidiaSmiScript(spec: SimulatedHostSpec): string {
  const list: string[] = [];
  spec.gpus.forEach((g, i) => {
    list.push(`GPU ${i}: ${g.name} (UUID: ${g.uuid})`);
    (g.migDevices ?? []).forEach((m, j) => {
      list.push(`  MIG ${(m.profile ?? `${m.gpuInstance}.${m.computeInstance}`).padEnd(12)}Device ${String(j).padStart(2)}: (UUID: ${m.uuid})`);
    });
  });
  const cuda = `${Math.floor(spec.cudaVersion / 1000)}.${Math.floor((spec.cudaVersion % 1000) / 10)}`;
  return [
    '#!/bin/sh',
    '# nvidia-smi of an nvc-ts simulated host: answers -L, prints a banner otherwise.',
    'case "$1" in',
    '  -L|--list-gpus)',
    ...list.map((l) => `    printf '%s\\n' ${shellQuote(l)}`),
    '    ;;',
    '  *)',
    `    printf '%s\\n' ${shellQuote(`NVIDIA-SMI ${spec.driverVersion}    Driver Version: ${spec.driverVersion}    CUDA Version: ${cuda}`)}`,
    '    ;;',
    'esac',
    '',
  ].join('\n');
}

export async function installDriverFiles(t: Tree, spec: SimulatedHostSpec): Promise<void> {
  const ver = spec.driverVersion;
  for (const bin of SIMULATED_BINARIES) {
    const body = bin === 'nvidia-smi' ? nvidiaSmiScript(spec) : `#!/bin/sh\n# ${bin} of an nvc-ts simulated host.\nexit 0\n`;
    await t.write(path.posix.join('usr/bin', bin), body, 0o755);
  }
  if (spec.firmware) {
    for (const fw of ['gsp_ga10x.bin', 'gsp_tu10x.bin']) {
      await t.write(`lib/firmware/nvidia/${ver}/${fw}`, `simulated GSP firmware ${fw} ${ver}\n`);
    }
  }
  if (spec.persistenced) await makeUnixSocket(t.abs('run/nvidia-persistenced/socket'));
  if (spec.fabricmanager) await makeUnixSocket(t.abs('run/nvidia-fabricmanager/socket'));
  if (spec.mps) await t.mkdir('tmp/nvidia-mps', 0o755);
  await t.write(
    'usr/share/glvnd/egl_vendor.d/10_nvidia.json',
    `${JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: 'libEGL_nvidia.so.0' } }, null, 4)}\n`,
  );
  await t.write(
    'usr/share/vulkan/icd.d/nvidia_icd.json',
    `${JSON.stringify({ file_format_version: '1.0.1', ICD: { library_path: 'libGLX_nvidia.so.0', api_version: '1.4.312' } }, null, 4)}\n`,
  );
}
