/** The handle on one driver service: discovery calls, and shutdown. */
import * as path from 'node:path';
import { binding, cdiHookPath, driverServicePath, type HostPaths, type NativeContextHandle, type RawDriverFile, type RawDriverInfo } from './native';
import { fromNative } from './native-errors';
import { NvcError } from './errors';
import { resolveUser } from './user';
import { CAPABILITIES, type Device, type DriverFile, type DriverInfo } from './types';
import { applyPlan, dropProcfsEditsIfNoDriver, planSteps, type ConfigureResult } from './apply';
import { Container as ContainerClass, openContainer, type Container } from './container';
import { readHostFacts, type HostFacts, type HostFactsNeeds } from './host-facts';
import type { PlanStep } from './plan/items';
import { generateCdiSpec, type CdiGenerateOptions, type GenerateDeps } from './cdi/generate';
import type { CdiSpec } from './cdi/spec';
import { lowerToMountPlan, type ContainerPlan } from './plan/mount-plan';
import { applyCudaCompat, decideCudaCompat } from './plan/cuda-compat';
import { findCudaCompatDirs } from './cuda-compat';
import { resolveRequest, selectItems } from './plan/select-items';
import {
  configureRequestSchema,
  initOptionsSchema,
  installRequestSchema,
  parseWith,
  type InitOptions,
  type ConfigureRequestInput,
  type ContainerOptions,
  type InstallRequestInput,
} from './schema';
import { installDriver, type InstallOutcome } from './install/install';
import { guestModuleCopies, runDepmod } from './install/guest-modules';

function toFiles(files: RawDriverFile[]): DriverFile[] {
  return files.map((f) => ({
    path: f.path,
    // Capability n is bit n of caps (nvc_vocabulary.def's order, which CAPABILITIES keeps).
    capabilities: CAPABILITIES.filter((_, bit) => (f.caps & (1 << bit)) !== 0),
    ...(f.soname !== undefined && f.soname !== path.basename(f.path) && { soname: f.soname }),
  }));
}

function toDriverInfo(raw: RawDriverInfo): DriverInfo {
  return {
    ...raw,
    libraries: toFiles(raw.libraries),
    libraries32: toFiles(raw.libraries32),
    binaries: toFiles(raw.binaries),
    ipcs: toFiles(raw.ipcs),
    firmware: toFiles(raw.firmware),
  };
}

const nativeHandle = Symbol('nativeHandle');

/** Containers come from ctx.container(), which validated and probed them. */
function checkContainer(container: unknown): asserts container is Container {
  if (!(container instanceof ContainerClass)) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', 'invalid container: pass what ctx.container({ pid, rootfs }) returned', { field: 'container' });
  }
}

export class Context implements AsyncDisposable {
  readonly #native: NativeContextHandle;
  #shutdown: Promise<void> | undefined;

  /** @internal Contexts are made by init(). */
  constructor(token: typeof nativeHandle, handle: NativeContextHandle) {
    if (token !== nativeHandle) throw new TypeError('use init() to create a Context');
    this.#native = handle;
  }

  /** pid of the driver service, null once it has stopped. */
  get servicePid(): number | null {
    return this.#native.pid;
  }

  get closed(): boolean {
    return this.#shutdown !== undefined;
  }

  #checkOpen(): void {
    if (this.#shutdown) throw new NvcError('ERR_NVC_CONTEXT_CLOSED', 'the context was shut down', { hint: 'create a new context with init()' });
  }

  /** Driver versions and the files, device nodes and IPC paths a container needs. */
  async driverInfo(): Promise<DriverInfo> {
    this.#checkOpen();
    try {
      return toDriverInfo(await this.#native.driverInfo());
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Every GPU with its MIG devices, in NVML index order. */
  async deviceInfo(): Promise<Device[]> {
    this.#checkOpen();
    try {
      return await this.#native.deviceInfo();
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Host paths in force (driver root, proc and dev roots...), defaults filled in. */
  get host(): HostPaths {
    return this.#native.host;
  }

  /** A container to configure: its init pid and rootfs, with the layout detected. */
  container(options: ContainerOptions): Promise<Container> {
    this.#checkOpen();
    return openContainer(options);
  }

  /**
   * Host facts, read once for one request: the driver service's driver and device
   * information, the driver's proc files and device-node probes.
   */
  async hostFacts(needs: HostFactsNeeds = { migMinors: false }): Promise<HostFacts> {
    const driver = await this.driverInfo();
    const devices = await this.deviceInfo();
    return readHostFacts(this.host, driver, devices, needs);
  }

  /** The edit plan configure() would apply, without applying it. */
  async plan(container: Container, request: ConfigureRequestInput = {}): Promise<ContainerPlan> {
    checkContainer(container);
    const r = parseWith(configureRequestSchema, request, 'configure option');
    const wantsMigMinors = r.migConfig !== undefined || r.migMonitor !== undefined;
    const facts = await this.hostFacts({ migMinors: wantsMigMinors });
    const resolved = resolveRequest(facts, r);
    const selection = selectItems(facts, resolved);
    const plan = lowerToMountPlan(selection, container.layout, {
      // Without a container process there is no cgroup to find.
      noCgroups: r.noCgroups || container.pid === 0,
      noDevbind: r.noDevbind,
      ldconfig: r.noLdconfig ? null : container.ldconfig,
    });
    // Forward compatibility is about the compute libraries, as in the reference.
    const compat =
      r.cudaCompatMode === 'disabled' || !resolved.capabilities.includes('compute')
        ? plan
        : applyCudaCompat(plan, container.layout.libsDir, decideCudaCompat(await findCudaCompatDirs(container), facts.driver.version), r.cudaCompatMode);
    return dropProcfsEditsIfNoDriver(container, compat);
  }

  /**
   * Everything a GPU container needs, in the reference's order: requirements, device cgroup
   * rules, driver files, devices, MIG and IMEX capabilities (all or nothing), then ldconfig.
   */
  async configure(container: Container, request: ConfigureRequestInput = {}): Promise<ConfigureResult> {
    const plan = await this.plan(container, request);
    if (request.dryRun) return { plan, applied: false, outcomes: [], cgroupVersion: null, ldconfig: null, warnings: plan.warnings };
    return { plan, applied: true, ...(await applyPlan(container, plan)) };
  }

  async #step(container: Container, request: ConfigureRequestInput, steps: readonly PlanStep[], rulesOnly = false): Promise<ConfigureResult> {
    const stepPlan = planSteps(await this.plan(container, { ...request, noLdconfig: true }), steps);
    const plan = rulesOnly ? { ...stepPlan, edits: [] } : stepPlan;
    return { plan, applied: true, ...(await applyPlan(container, plan)) };
  }

  /** driver_mount: driver procfs, binaries, libraries, firmware, IPC, control devices. */
  driverMount(
    container: Container,
    request: Omit<ConfigureRequestInput, 'devices' | 'migConfig' | 'migMonitor' | 'imexChannels'> = {},
  ): Promise<ConfigureResult> {
    return this.#step(container, request, ['driver']);
  }

  /** device_mount: one GPU's node and procfs directory (device: index, UUID or bus id). */
  deviceMount(
    container: Container,
    device: string,
    request: Pick<ConfigureRequestInput, 'noCgroups' | 'noDevbind' | 'capabilities'> = {},
  ): Promise<ConfigureResult> {
    return this.#step(container, { ...request, devices: device }, ['device']);
  }

  /** The access capabilities of one MIG device (MIG UUID or gpu:mig). */
  migDeviceAccessCapsMount(
    container: Container,
    migDevice: string,
    request: Pick<ConfigureRequestInput, 'noCgroups' | 'noDevbind'> = {},
  ): Promise<ConfigureResult> {
    return this.#step(container, { ...request, devices: migDevice }, ['mig-access']);
  }

  /** MIG configuration capability, for the visible MIG-capable GPUs (default all). */
  migConfigGlobalCapsMount(
    container: Container,
    devices = 'all',
    request: Pick<ConfigureRequestInput, 'noCgroups' | 'noDevbind'> = {},
  ): Promise<ConfigureResult> {
    return this.#step(container, { ...request, devices, migConfig: 'all' }, ['mig-config']);
  }

  /** MIG monitoring capability, for the visible MIG-capable GPUs (default all). */
  migMonitorGlobalCapsMount(
    container: Container,
    devices = 'all',
    request: Pick<ConfigureRequestInput, 'noCgroups' | 'noDevbind'> = {},
  ): Promise<ConfigureResult> {
    return this.#step(container, { ...request, devices, migMonitor: 'all' }, ['mig-monitor']);
  }

  /** The MIG minors of one GPU for config or monitor access (cgroup rules). */
  deviceMigCapsMount(
    container: Container,
    device: string,
    kind: 'config' | 'monitor',
    request: Pick<ConfigureRequestInput, 'noCgroups' | 'noDevbind'> = {},
  ): Promise<ConfigureResult> {
    const which = kind === 'config' ? { migConfig: 'all' } : { migMonitor: 'all' };
    // Only cgroup rules: the capabilities directories are what the global-caps steps give.
    return this.#step(container, { ...request, devices: device, ...which }, [kind === 'config' ? 'mig-config' : 'mig-monitor'], true);
  }

  /** IMEX channels by id. */
  imexChannelMount(
    container: Container,
    channels: string | string[],
    request: Pick<ConfigureRequestInput, 'noCgroups' | 'noDevbind'> = {},
  ): Promise<ConfigureResult> {
    return this.#step(container, { ...request, imexChannels: channels }, ['imex']);
  }

  /**
   * Copy mode: install the user-space driver that `request` selects into the root filesystem
   * `rootfs` as files (no mounts, no device nodes), with a version stamp; see lib/install/.
   */
  async install(rootfs: string, request: InstallRequestInput = {}): Promise<InstallOutcome> {
    this.#checkOpen();
    const r = parseWith(installRequestSchema, request, 'install option');
    const container = await openContainer({
      rootfs,
      ...(r.libsDir !== undefined && { libsDir: r.libsDir }),
      ...(r.libs32Dir !== undefined && { libs32Dir: r.libs32Dir }),
      ...(r.binsDir !== undefined && { binsDir: r.binsDir }),
      ...(r.ldconfig !== undefined && { ldconfig: r.ldconfig }),
    });
    const facts = await this.hostFacts();
    const configure = parseWith(configureRequestSchema, { capabilities: r.capabilities, compat32: r.compat32, noGspFirmware: r.noGspFirmware }, 'install option');
    const selection = selectItems(facts, resolveRequest(facts, configure));
    return installDriver(container.rootfs, {
      container,
      selection,
      driverRoot: this.host.root,
      driverVersion: facts.driver.version,
      cudaVersion: facts.driver.cudaVersion,
      dryRun: r.dryRun,
      ldconfig: r.noLdconfig ? null : (dirs) => this.#ldconfigIn(container, dirs),
      guestModules:
        r.modules === undefined ? null : { release: r.modules, copies: await guestModuleCopies(this.host.root, r.modules, r.modulesDir), depmod: runDepmod },
    });
  }

  async #ldconfigIn(container: Container, dirs: string[]): Promise<{ ran: boolean; warning: string }> {
    const plan: ContainerPlan = { edits: [], cgroupRules: [], ldconfig: { path: container.ldconfig, dirs }, warnings: [], notes: [] };
    const r = await applyPlan(container, plan);
    return r.ldconfig ?? { ran: false, warning: '' };
  }

  /** ldcache update: run the container's configured ldconfig over its library directories. */
  async ldcacheUpdate(container: Container, request: Pick<ConfigureRequestInput, 'compat32'> = {}): Promise<{ ran: boolean; warning: string }> {
    checkContainer(container);
    const dirs = [container.layout.libsDir, ...(request.compat32 ? [container.layout.libs32Dir] : [])];
    const plan: ContainerPlan = { edits: [], cgroupRules: [], ldconfig: { path: container.ldconfig, dirs }, warnings: [], notes: [] };
    const r = await applyPlan(container, plan);
    return r.ldconfig ?? { ran: false, warning: '' };
  }

  /**
   * A CDI spec for this host: one device per GPU and MIG device (and `all`), the driver files
   * of the requested capabilities in the common edits (lib/cdi/generate.ts). What it had to
   * leave out goes to deps.onWarning (default: process.emitWarning).
   */
  async cdiSpec(
    options: CdiGenerateOptions = {},
    deps: Partial<Omit<GenerateDeps, 'defaultHookPath'>> & { onWarning?: (text: string) => void } = {},
  ): Promise<CdiSpec> {
    this.#checkOpen();
    const { onWarning = (text: string) => process.emitWarning(text, 'NvcCdiWarning'), ...rest } = deps;
    const { spec, warnings } = await generateCdiSpec(await this.hostFacts(), options, { defaultHookPath: cdiHookPath, ...rest });
    warnings.forEach((w) => onWarning(w));
    return spec;
  }

  /** Stops the driver service (nvmlShutdown, then terminate/kill) and reaps it. Idempotent. */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#native.shutdown().catch((e: unknown) => {
      throw fromNative(e);
    });
    return this.#shutdown;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}

/** Start a driver service for the host described by options and return its context. */
export async function init(options: InitOptions = {}): Promise<Context> {
  const { user, loadKernelModules, ...rest } = parseWith(initOptionsSchema, options, 'option', 'options');
  if (loadKernelModules !== undefined && loadKernelModules !== false) {
    const { ensureKernelModulesForInit } = await import('./kmod');
    const display = typeof loadKernelModules === 'object' && loadKernelModules.display === true;
    await ensureKernelModulesForInit(rest, display);
  }
  const ids = user === undefined ? undefined : await resolveUser(user);
  try {
    // Every option but user and loadKernelModules goes to the native side by its own name (a test checks the names agree).
    const handle = await binding().init({ ...rest, ...(ids !== undefined && { uid: ids.uid, gid: ids.gid }), driverPath: driverServicePath() });
    return new Context(nativeHandle, handle);
  } catch (e) {
    throw fromNative(e);
  }
}
