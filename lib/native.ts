/**
 * The only module that loads native code. It finds the addon with node-gyp-build
 * (build/Release, then prebuilds/) and the helper executables and mock NVML built beside it.
 * Overrides: NVC_TS_PREBUILD (node-gyp-build's own), NVC_TS_DRIVER, NVC_TS_EXEC,
 * NVC_TS_LDCONFIG, NVC_TS_MOCK_NVML.
 */
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import type { Edit } from './plan/mount-plan';
import type { AddedDeviceRule, ChangeRecord } from './teardown';
import type { Device } from './types';
import { NvcError } from './errors';

export interface RawDriverFile {
  path: string;
  caps: number;
  soname?: string;
}

export interface RawDriverInfo {
  version: string;
  cudaVersion: string;
  libraries: RawDriverFile[];
  libraries32: RawDriverFile[];
  binaries: RawDriverFile[];
  ipcs: RawDriverFile[];
  firmware: RawDriverFile[];
  deviceNodes: { path: string; major: number; minor: number; exists: boolean }[];
  nvcapsMajor: number | null;
  imexMajor: number | null;
  migConfigMinor: number | null;
  migMonitorMinor: number | null;
}

export interface NativeInitConfig {
  root?: string;
  ldcache?: string;
  procRoot?: string;
  devRoot?: string;
  sysRoot?: string;
  nvmlPath?: string;
  driverPath: string;
  binPath?: string;
  uid?: number;
  gid?: number;
  timeoutMs?: number;
}

export interface HostPaths {
  root: string;
  ldcache: string;
  procRoot: string;
  devRoot: string;
  sysRoot: string;
  nvmlPath: string;
}

export interface NativeContextHandle {
  readonly host: HostPaths;
  driverInfo(): Promise<RawDriverInfo>;
  deviceInfo(): Promise<Device[]>;
  shutdown(): Promise<void>;
  readonly pid: number | null;
  /** How driverInfo calls got their files: discovered afresh, or the last discovery reused (nothing it examined had changed). */
  readonly driverInfoStats: { reads: number; reuses: number } | null;
}

/** An edit as the executor takes it: the plan's edit without its origin. */
export type NativeEdit = Edit extends infer E ? (E extends Edit ? Omit<E, 'origin'> : never) : never;

export interface NativeBinding {
  init(config: NativeInitConfig): Promise<NativeContextHandle>;
  applyPlan(plan: {
    execPath: string;
    pid: number;
    /** The container process's start time (stat field 22); a pid that now names another process is refused. */
    pidStart?: number;
    rootfs: string;
    uid: number;
    gid: number;
    edits: NativeEdit[];
    /** The executor's limit (default 30 s): past it, it is stopped and rolls the plan back. With ldconfig, both share it. */
    timeoutMs?: number;
    /**
     * ldconfig to run once the edits are in: its helper is started with the executor and waits,
     * so that its start costs no time after the mounts. Not run when the edits fail; when it
     * fails, the call rejects with its error (ERR_NVC_LDCONFIG) and the edits stay.
     */
    ldconfig?: { helperPath: string; ldconfig: string; dirs: string[]; noPivot?: boolean };
  }): Promise<{
    outcomes: ('done' | 'skipped')[];
    /** The executor's own time on the edits, when it said. */
    editsMs?: number;
    changes: ChangeRecord[];
    /** With ldconfig: its result, and the time from the go to its report. */
    ldconfig?: { ran: boolean; warning: string };
    ldconfigMs?: number;
  }>;
  /** Undo changes applyPlan reported, in the container's mount namespace (native/exec/teardown.c); one report per change. */
  teardown(request: {
    execPath: string;
    pid: number;
    pidStart?: number;
    rootfs: string;
    changes: ChangeRecord[];
  }): Promise<{ status: 'undone' | 'absent' | 'kept'; why: string }[]>;
  /** added: each rule as far as it granted access the cgroup did not grant before (v1: from devices.list; v2: all of it). */
  cgroupAllow(request: {
    procRoot?: string;
    pid: number;
    pidStart?: number;
    rules: { type: 'c' | 'b'; major: number; minor: number; access: string }[];
  }): Promise<{ version: number; added: AddedDeviceRule[] }>;
  /** v1 only (version says which governs now): devices.deny for the access each rule still has; removed: those that had some. */
  cgroupDeny(request: {
    procRoot?: string;
    pid: number;
    pidStart?: number;
    rules: AddedDeviceRule[];
  }): Promise<{ version: number; removed: AddedDeviceRule[] }>;
  /** Paths of a container's tree as the executor will see them: in its mount namespace, resolved inside the rootfs. */
  probeContainer(request: {
    pid: number;
    pidStart?: number;
    rootfs: string;
    paths: { path: string; follow: boolean }[];
  }): Promise<{ exists: boolean; isDirectory: boolean; fsType: number; errno?: string }[]>;
  ldconfig(request: {
    helperPath: string;
    pid: number;
    pidStart?: number;
    rootfs: string;
    ldconfig: string;
    dirs: string[];
    uid: number;
    gid: number;
    timeoutMs?: number;
    /** Enter the rootfs by MS_MOVE + chroot instead of pivot_root (a rootfs on ramfs/initramfs). */
    noPivot?: boolean;
  }): Promise<{ ran: boolean; warning: string }>;
  errorCodes(): string[];
  /** The host paths init would use for these options, defaults filled in by the C side (their one home). */
  resolveHost(config: Omit<NativeInitConfig, 'driverPath'>): HostPaths;
  /** The config keys init reads. */
  initKeys(): string[];
  /** The names of native/include/nvc_vocabulary.def, in order. */
  vocabulary(): { editKinds: string[]; sourceKinds: string[]; mountFlags: string[]; capabilities: string[] };
  readonly version: string;
  /** finit_module(2) on the file opened O_RDONLY; flags 0 or MODULE_INIT_COMPRESSED_FILE (4). */
  finitModule(request: { path: string; params: string; flags: number }): Promise<void>;
  /** init_module(2) with a decompressed image; label names it in errors. */
  initModule(request: { image: Uint8Array; params: string; label: string }): Promise<void>;
  /** delete_module(2) with O_NONBLOCK. */
  deleteModule(request: { name: string }): Promise<void>;
  /** mknod(2) of a character device; mode holds the permission bits only. */
  mknod(request: { path: string; mode: number; major: number; minor: number }): Promise<void>;
  symlink(request: { target: string; path: string }): Promise<void>;
  /** SO_PEERCRED of a connected unix socket. */
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  /** lstat of each path on one pool thread; null where it failed. Numbers past 2^53 as decimal strings. */
  lstatIdentities(paths: string[]): Promise<Array<NativeLstat | null>>;
}

export interface NativeLstat {
  dev: string;
  ino: string;
  mode: number;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

interface NodeGypBuild {
  (dir: string): unknown;
  resolve(dir: string): string;
}

/** The package root: dist/native.js lives one level below it. */
export const packageRoot = path.resolve(__dirname, '..');

let cached: { binding: NativeBinding; dir: string } | undefined;

function load(): { binding: NativeBinding; dir: string } {
  if (cached) return cached;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const gypBuild = require('node-gyp-build') as NodeGypBuild;
    const file = gypBuild.resolve(packageRoot);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const binding = require(file) as NativeBinding;
    cached = { binding, dir: path.dirname(file) };
    return cached;
  } catch (cause) {
    throw new NvcError('ERR_NVC_NATIVE_MISSING', 'the nvc-ts native addon is not built for this platform', {
      cause,
      hint: 'run `npm rebuild nvc-ts` (needs a C/C++ toolchain, make and python3), or use a package built with `npm run prebuildify` for this platform',
    });
  }
}

export function binding(): NativeBinding {
  return load().binding;
}

function artifact(envName: string, file: string): string {
  const override = process.env[envName];
  if (override) return override;
  const p = path.join(load().dir, file);
  if (!existsSync(p)) {
    throw new NvcError('ERR_NVC_NATIVE_MISSING', `${file} is missing beside the nvc-ts addon`, {
      path: p,
      hint: `rebuild the package (npm rebuild nvc-ts) or set ${envName}`,
    });
  }
  return p;
}

/** The nvc-ts-driver executable that hosts NVML. */
export function driverServicePath(): string {
  return artifact('NVC_TS_DRIVER', 'nvc-ts-driver');
}

/** The nvc-ts-exec executable that applies edit plans inside a container's mount namespace. */
export function execPath(): string {
  return artifact('NVC_TS_EXEC', 'nvc-ts-exec');
}

/** The nvc-ts-ldconfig executable that runs ldconfig for a container, confined. */
export function ldconfigHelperPath(): string {
  return artifact('NVC_TS_LDCONFIG', 'nvc-ts-ldconfig');
}

/** The mock libnvidia-ml.so.1 used by simulated hosts. */
export function mockNvmlLibraryPath(): string {
  return artifact('NVC_TS_MOCK_NVML', 'libnvc-mock-nvml.so');
}

/** The nvc-ts-cdi-hook executable that CDI specs name for their createContainer hooks. */
export function cdiHookPath(): string {
  return artifact('NVC_TS_CDI_HOOK', 'nvc-ts-cdi-hook');
}

/** nvc-ts-cli, the native client of `nvc-ts serve` (installable as nvidia-container-cli). */
export function clientPath(): string {
  return artifact('NVC_TS_CLI', 'nvc-ts-cli');
}

/** The Node CLI's launcher. */
export const nodeCliPath = path.join(packageRoot, 'bin', 'nvc-ts.js');
