/** The driver's files other than libraries: binaries, GSP firmware, IPC endpoints and vendor ICD files. */
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { buildElfExecutable } from './elf-exec';
import { SIMULATED_EGL_PLATFORMS } from './libraries';
import { driverLibDir, type SimulatedHostSpec } from './spec';
import { buildElfSharedObject } from './elf';
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

function nvidiaSmiOutput(spec: SimulatedHostSpec): { listOutput: string; otherOutput: string } {
  const list: string[] = [];
  spec.gpus.forEach((g, i) => {
    list.push(`GPU ${i}: ${g.name} (UUID: ${g.uuid})`);
    (g.migDevices ?? []).forEach((m, j) => {
      list.push(`  MIG ${(m.profile ?? `${m.gpuInstance}.${m.computeInstance}`).padEnd(12)}Device ${String(j).padStart(2)}: (UUID: ${m.uuid})`);
    });
  });
  const cuda = `${Math.floor(spec.cudaVersion / 1000)}.${Math.floor((spec.cudaVersion % 1000) / 10)}`;
  return {
    listOutput: list.map((l) => `${l}\n`).join(''),
    otherOutput: `NVIDIA-SMI ${spec.driverVersion}    Driver Version: ${spec.driverVersion}    CUDA Version: ${cuda}\n`,
  };
}

/** The GPU machine's /usr/bin/nvidia-* wrappers: they exec the driver tree's binary, which a container lacks. */
function wrapperScript(target: string): string {
  return `#!/bin/sh\nexec ${shellQuote(target)} "$@"\n`;
}

const json = (doc: unknown): string => `${JSON.stringify(doc, null, 4)}\n`;

/**
 * The loaders' vendor files and the X server modules (the EGL platform libraries are installed
 * with the others, libraries.ts, so that the ld.so cache lists them). In the driver
 * tree layout (spec.nvidiaTree) the tree's own copies name their libraries by absolute path, as
 * a driver built for one place does; /usr/share keeps copies with bare names.
 */
async function installGraphicsFiles(t: Tree, spec: SimulatedHostSpec): Promise<void> {
  const ver = spec.driverVersion;
  const libDir = driverLibDir(spec);
  const shares = spec.nvidiaTree ? ['usr/share', 'usr/local/nvidia/share'] : ['usr/share'];
  for (const share of shares) {
    const lib = (name: string): string => (share === 'usr/share' ? name : `${libDir}/${name}`);
    await t.write(`${share}/glvnd/egl_vendor.d/10_nvidia.json`, json({ file_format_version: '1.0.0', ICD: { library_path: lib('libEGL_nvidia.so.0') } }));
    await t.write(
      `${share}/vulkan/icd.d/nvidia_icd.json`,
      json({ file_format_version: '1.0.1', ICD: { library_path: lib('libGLX_nvidia.so.0'), api_version: '1.4.312' } }),
    );
    await t.write(
      `${share}/vulkan/implicit_layer.d/nvidia_layers.json`,
      json({
        file_format_version: '1.0.1',
        layer: {
          name: 'VK_LAYER_NV_optimus',
          type: 'INSTANCE',
          library_path: lib('libGLX_nvidia.so.0'),
          api_version: '1.4.312',
          implementation_version: '1',
          description: 'NVIDIA Optimus layer',
        },
      }),
    );
    for (const [file, soname] of SIMULATED_EGL_PLATFORMS) {
      await t.write(`${share}/egl/egl_external_platform.d/${file}`, json({ file_format_version: '1.0.0', ICD: { library_path: lib(soname) } }));
    }
  }
  // Another vendor's platform file, which is not the driver's.
  await t.write('usr/share/egl/egl_external_platform.d/50_mesa.json', json({ file_format_version: '1.0.0', ICD: { library_path: 'libEGL_mesa.so.0' } }));
  await t.write('etc/OpenCL/vendors/nvidia.icd', 'libnvidia-opencl.so.1\n');
  const xorg = spec.nvidiaTree ? `${libDir}/xorg/modules` : 'usr/lib/xorg/modules';
  await t.write(`${xorg}/drivers/nvidia_drv.so`, buildElfSharedObject({ machine: 'x86_64' }), 0o755);
  await t.write(`${xorg}/extensions/libglxserver_nvidia.so.${ver}`, buildElfSharedObject({ machine: 'x86_64', soname: 'libglxserver_nvidia.so' }), 0o755);
  await t.symlink(`${xorg}/extensions/libglxserver_nvidia.so`, `libglxserver_nvidia.so.${ver}`);
}

export async function installDriverFiles(t: Tree, spec: SimulatedHostSpec): Promise<void> {
  const ver = spec.driverVersion;
  for (const bin of SIMULATED_BINARIES) {
    const body = buildElfExecutable(bin === 'nvidia-smi' ? nvidiaSmiOutput(spec) : { listOutput: '', otherOutput: '' });
    if (spec.nvidiaTree) {
      await t.write(path.posix.join('usr/local/nvidia/bin', bin), body, 0o755);
      await t.write(path.posix.join('usr/bin', bin), wrapperScript(`/usr/local/nvidia/bin/${bin}`), 0o755);
    } else {
      await t.write(path.posix.join('usr/bin', bin), body, 0o755);
    }
  }
  if (spec.firmware) {
    for (const fw of ['gsp_ga10x.bin', 'gsp_tu10x.bin']) {
      await t.write(`lib/firmware/nvidia/${ver}/${fw}`, `simulated GSP firmware ${fw} ${ver}\n`);
    }
  }
  if (spec.persistenced) await makeUnixSocket(t.abs('run/nvidia-persistenced/socket'));
  if (spec.fabricmanager) await makeUnixSocket(t.abs('run/nvidia-fabricmanager/socket'));
  if (spec.mps) await t.mkdir('tmp/nvidia-mps', 0o755);
  await installGraphicsFiles(t, spec);
}
