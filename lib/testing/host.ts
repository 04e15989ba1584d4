/**
 * A simulated NVIDIA host on disk: a driver root with the 580 driver's libraries (minimal ELF
 * files, the NVML one being the mock library), binaries, firmware, IPC paths, an ld.so.cache,
 * plus the procfs, /dev and sysfs pieces the discovery code reads. Modelled on the GPU machine
 * described in shared/reference/gpu-machine.md (driver 580.159.04, open kernel module, no
 * nvidia-modeset), laid out Debian-style under usr/lib/x86_64-linux-gnu.
 *
 *   <dir>/root                 driver root (options.root)
 *   <dir>/root/etc/ld.so.cache options.ldcache is "/etc/ld.so.cache", a path inside root
 *   <dir>/root/proc            options.procRoot
 *   <dir>/root/dev             options.devRoot (char devices only when root and deviceNodes)
 *   <dir>/sys                  options.sysRoot (with spec.nvidiaDrm: module/nvidia_drm and each GPU's
 *                              bus/pci/devices/<bus>/drm/{cardN,renderDN}/dev)
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createDeviceNodes } from './devices';
import { installDriverFiles } from './driver-files';
import { installDriverLibraries, resolveMockPath } from './libraries';
import { writeProcfs } from './procfs';
import { gpuDrmNumbers, hex, withDefaults, type SimulatedHostSpec } from './spec';
import { Tree } from './tree';
import { validateSpec } from './validate';

export interface SimulatedHostPaths {
  root: string;
  ldcache: string;
  procRoot: string;
  devRoot: string;
  sysRoot: string;
}

export interface SimulatedHost {
  /** The temporary directory holding everything; cleanup() removes it. */
  dir: string;
  root: string;
  procRoot: string;
  devRoot: string;
  sysRoot: string;
  /** The cache's path inside root: "/etc/ld.so.cache". */
  ldcache: string;
  /** The complete spec the host was built from (defaults filled in). */
  spec: SimulatedHostSpec;
  /** Ready to pass as the library's path options. */
  options: SimulatedHostPaths;
  /** True when real character devices were made under devRoot. */
  deviceNodesCreated: boolean;
  /** Absolute path of libnvidia-ml.so.<version> on this machine, or null when nvml is 'missing'. */
  nvmlLibrary: string | null;
  /** Absolute path of the mock's spec file, or null unless nvml is 'mock'. */
  nvmlSpecFile: string | null;
  cleanup(): Promise<void>;
  /** `await using host = await createSimulatedHost()` where explicit resource management is on: cleanup(). */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface CreateSimulatedHostOptions {
  /** Parent directory of the fresh temporary directory (default os.tmpdir()). */
  dir?: string;
  /** The mock NVML library to copy (default: mockNvmlLibraryPath(), which honours NVC_TS_MOCK_NVML). */
  mockNvmlPath?: string;
  /** Write this text as libnvidia-ml.spec instead of the spec's rendering (to test bad specs). */
  nvmlSpecText?: string;
}

/** Builds a simulated host in a fresh temporary directory. */
export async function createSimulatedHost(partial?: Partial<SimulatedHostSpec>, opts: CreateSimulatedHostOptions = {}): Promise<SimulatedHost> {
  const spec = withDefaults(partial);
  validateSpec(spec);
  const mockPath = spec.nvml === 'mock' ? await resolveMockPath(opts.mockNvmlPath) : null;

  const dir = await fsp.mkdtemp(path.join(opts.dir ?? os.tmpdir(), 'nvc-sim-'));
  const cleanup = async (): Promise<void> => {
    await fsp.rm(dir, { recursive: true, force: true });
  };
  try {
    return await build(dir, spec, mockPath, opts, cleanup);
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}

async function build(
  dir: string,
  spec: SimulatedHostSpec,
  mockPath: string | null,
  opts: CreateSimulatedHostOptions,
  cleanup: () => Promise<void>,
): Promise<SimulatedHost> {
  const root = path.join(dir, 'root');
  const procRoot = path.join(root, 'proc');
  const devRoot = path.join(root, 'dev');
  const sysRoot = path.join(dir, 'sys');
  const t = new Tree(root);

  await Promise.all(['etc/ld.so.conf.d', 'usr/bin', 'usr/lib', 'run', 'var', 'proc', 'dev'].map((d) => t.mkdir(d)));
  await t.mkdir('tmp', 0o1777);
  await t.symlink('var/run', '../run');

  const { nvmlLibrary, nvmlSpecFile } = await installDriverLibraries(t, spec, mockPath, opts.nvmlSpecText);
  await installDriverFiles(t, spec);
  await writeProcfs(procRoot, spec);
  const deviceNodesCreated = await createDeviceNodes(devRoot, spec);

  // --- sysfs -----------------------------------------------------------------------------------
  const sys = new Tree(sysRoot);
  await sys.write('module/firmware_class/parameters/path', '\n');
  if (spec.nvidiaDrm) {
    // nvidia-drm's sysfs: the module directory, and each GPU's DRM nodes under its PCI device.
    await sys.mkdir('module/nvidia_drm/parameters');
    await sys.write('module/nvidia_drm/parameters/modeset', 'Y\n');
    for (const [i, g] of spec.gpus.entries()) {
      const bus = `${hex(g.pci.domain, 4)}:${hex(g.pci.bus, 2)}:${hex(g.pci.device, 2)}.0`;
      const { card, render } = gpuDrmNumbers(spec, i);
      await sys.write(`bus/pci/devices/${bus}/drm/card${card}/dev`, `226:${card}\n`);
      await sys.write(`bus/pci/devices/${bus}/drm/renderD${render}/dev`, `226:${render}\n`);
    }
  }

  const options: SimulatedHostPaths = { root, ldcache: '/etc/ld.so.cache', procRoot, devRoot, sysRoot };
  return {
    dir,
    root,
    procRoot,
    devRoot,
    sysRoot,
    ldcache: options.ldcache,
    spec,
    options,
    deviceNodesCreated,
    nvmlLibrary,
    nvmlSpecFile,
    cleanup,
    [Symbol.asyncDispose]: cleanup,
  };
}
