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
import { HostFactsCache } from './host-facts-cache';
import type { PlanStep } from './plan/items';
import { generateCdiSpec, type CdiGenerateOptions, type GenerateDeps } from './cdi/generate';
import type { CdiSpec } from './cdi/spec';
import { lowerToMountPlan, type ContainerPlan } from './plan/mount-plan';
import { applyCudaCompat, decideCudaCompat } from './plan/cuda-compat';
import { findCudaCompatDirs } from './cuda-compat';
import { resolveRequest, selectItems } from './plan/select-items';
import {
  callOptionsSchema,
  configureRequestSchema,
  initOptionsSchema,
  installRequestSchema,
  parseWith,
  type InitOptions,
  type ConfigureRequestInput,
  type ContainerOptions,
  type InstallRequestInput,
  type CallOptions,
} from './schema';
import { installDriver, type InstallOutcome } from './install/install';
import { emit, listening, type NvcLogger } from './events';
import { containerPlanSchema } from './plan/plan-schema';
import { guestModuleCopies, runDepmod } from './install/guest-modules';
import { teardownContainer, type TeardownInput, type TeardownResult } from './teardown';

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

  readonly #logger: NvcLogger | undefined;
  /** What stays the same between containers, checked before each reuse (host-facts-cache.ts). */
  readonly #factsCache = new HostFactsCache();

  /** @internal Contexts are made by init(). */
  constructor(token: typeof nativeHandle, handle: NativeContextHandle, logger?: NvcLogger) {
    if (token !== nativeHandle) throw new TypeError('use init() to create a Context');
    this.#native = handle;
    this.#logger = logger;
  }

  /** pid of the driver service, null once it has stopped. */
  get servicePid(): number | null {
    return this.#native.pid;
  }

  /**
   * How driverInfo() calls got the driver's files: `reads` discovered them afresh, `reuses` took the
   * last discovery again because NVML reported the same versions and nothing it examined had changed.
   */
  get driverInfoStats(): { reads: number; reuses: number } {
    return this.#native.driverInfoStats ?? { reads: 0, reuses: 0 };
  }

  get closed(): boolean {
    return this.#shutdown !== undefined;
  }

  #checkOpen(): void {
    if (this.#shutdown) throw new NvcError('ERR_NVC_CONTEXT_CLOSED', 'the context was shut down', { hint: 'create a new context with init()' });
  }

  /** Driver versions and the files, device nodes and IPC paths a container needs. */
  async driverInfo(options: CallOptions = {}): Promise<DriverInfo> {
    this.#checkOpen();
    const call = callGuard(options, 'driverInfo');
    try {
      return toDriverInfo(await call.race(this.#native.driverInfo()));
    } catch (e) {
      throw fromNative(e);
    } finally {
      call.done();
    }
  }

  /** Every GPU with its MIG devices, in NVML index order. */
  async deviceInfo(options: CallOptions = {}): Promise<Device[]> {
    this.#checkOpen();
    const call = callGuard(options, 'deviceInfo');
    try {
      return await call.race(this.#native.deviceInfo());
    } catch (e) {
      throw fromNative(e);
    } finally {
      call.done();
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
    // Both go to the driver service in turn, but the driver's discovery (on a pool thread) overlaps the GPU queries.
    const [driver, devices] = await Promise.all([this.driverInfo(), this.deviceInfo()]);
    return readHostFacts(this.host, driver, devices, needs, this.#factsCache);
  }

  /** The edit plan configure() would apply, without applying it. */
  async plan(container: Container, request: ConfigureRequestInput = {}): Promise<ContainerPlan> {
    checkContainer(container);
    const r = parseWith(configureRequestSchema, request, 'configure option');
    const wantsMigMinors = r.migConfig !== undefined || r.migMonitor !== undefined;
    // The image's compat libraries are looked for while the host facts are read; the answer is
    // used only if the request turns out to include compute.
    const compatDirs = r.cudaCompatMode === 'disabled' ? null : findCudaCompatDirs(container);
    // Handled here so that a plan failing first leaves no unhandled rejection; awaited below, it still throws.
    compatDirs?.catch(() => undefined);
    const facts = await this.hostFacts({ migMinors: wantsMigMinors });
    const resolved = resolveRequest(facts, r);
    const selection = selectItems(facts, resolved);
    emit(this.#logger, {
      kind: 'selected',
      rootfs: container.rootfs,
      pid: container.pid,
      gpus: selection.gpus.map((g) => ({ index: g.index, uuid: g.uuid })),
      capabilities: [...selection.capabilities],
    });
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
        : applyCudaCompat(
            plan,
            container.layout.libsDir,
            decideCudaCompat(await (compatDirs ?? findCudaCompatDirs(container)), facts.driver.version),
            r.cudaCompatMode,
          );
    return dropProcfsEditsIfNoDriver(container, compat);
  }

  /**
   * Everything a GPU container needs, in the reference's order: requirements, device cgroup
   * rules, driver files, devices, MIG and IMEX capabilities (all or nothing), then ldconfig.
   */
  async configure(container: Container, request: ConfigureRequestInput = {}, options: CallOptions = {}): Promise<ConfigureResult> {
    const call = callGuard(options, 'configure');
    try {
      const started = process.hrtime.bigint();
      const plan = await call.race(this.plan(container, request));
      const planMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (request.dryRun) return { plan, applied: false, outcomes: [], cgroupVersion: null, ldconfig: null, warnings: plan.warnings, changes: null };
      const result = await this.#apply(container, plan, call);
      if (result.timings !== undefined) result.timings.planMs = planMs;
      return result;
    } catch (e) {
      if (e instanceof NvcError) emit(this.#logger, { kind: 'refused', rootfs: container.rootfs, code: e.code, message: e.message });
      throw e;
    } finally {
      call.done();
    }
  }

  /**
   * Apply a plan from plan(), as it is or as the caller edited it: checked against the edit
   * vocabulary first, then applied all or nothing as configure() applies its own.
   */
  async applyPlan(container: Container, plan: ContainerPlan, options: CallOptions = {}): Promise<ConfigureResult> {
    this.#checkOpen();
    checkContainer(container);
    const checked = parseWith(containerPlanSchema, plan, 'plan') as ContainerPlan;
    const call = callGuard(options, 'applyPlan');
    try {
      return await this.#apply(container, checked, call);
    } catch (e) {
      if (e instanceof NvcError) emit(this.#logger, { kind: 'refused', rootfs: container.rootfs, code: e.code, message: e.message });
      throw e;
    } finally {
      call.done();
    }
  }

  /**
   * Undo a configure (or applyPlan): `result` is what it returned, or its `changes`, as it
   * was or after a JSON round trip. In the container's mount namespace, in reverse order, each
   * mount is detached and each created entry removed only if it is still what configure made
   * (anything replaced, covered or filled since is kept and reported, not an error); then the
   * cgroup v1 device rules configure added are denied again (v2: reported as kept). The
   * container's ld.so.cache is not restored. A second teardown changes nothing and succeeds;
   * afterwards the container can be configured again. The record of another container is
   * refused with ERR_NVC_WRONG_CONTAINER.
   */
  async teardown(container: Container, result: TeardownInput, options: CallOptions = {}): Promise<TeardownResult> {
    this.#checkOpen();
    checkContainer(container);
    const call = callGuard(options, 'teardown');
    try {
      call.check();
      // Abandoned midway, the executor still finishes; teardown is idempotent, so running it again completes it.
      return await call.race(teardownContainer(container, result)).catch((e: unknown) => {
        if (e instanceof NvcError && e.code === 'ERR_NVC_ABORTED') {
          throw new NvcError('ERR_NVC_ABORTED', e.message.replace('before it changed anything', 'while the executor was undoing changes'), {
            cause: e.cause,
            hint: 'the teardown goes on in the background; run it again with the same result to finish it and see what was done',
          });
        }
        throw e;
      });
    } finally {
      call.done();
    }
  }

  /** The last point a call can be abandoned is before its changes start: the executor is all or nothing. */
  async #apply(container: Container, plan: ContainerPlan, call: CallGuard): Promise<ConfigureResult> {
    call.check();
    const result: ConfigureResult = { plan, applied: true, ...(await applyPlan(container, plan, undefined, call)) };
    if (!listening(this.#logger)) return result;
    plan.edits.forEach((e, i) =>
      emit(this.#logger, {
        kind: 'edit',
        rootfs: container.rootfs,
        edit: e.kind,
        target: e.target,
        step: e.origin.step,
        outcome: result.outcomes[i] ?? 'done',
      }),
    );
    if (plan.cgroupRules.length > 0) {
      emit(this.#logger, {
        kind: 'cgroup',
        rootfs: container.rootfs,
        rules: plan.cgroupRules.map((r) => `${r.type} ${r.major}:${r.minor} ${r.access}`),
        version: result.cgroupVersion,
      });
    }
    if (result.ldconfig !== null) emit(this.#logger, { kind: 'ldconfig', rootfs: container.rootfs, ...result.ldconfig });
    for (const text of result.warnings) emit(this.#logger, { kind: 'warning', rootfs: container.rootfs, text });
    return result;
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
    const configure = parseWith(
      configureRequestSchema,
      { capabilities: r.capabilities, compat32: r.compat32, noGspFirmware: r.noGspFirmware },
      'install option',
    );
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

  /** The container's configured ldconfig over dirs, as a plan of no edits. */
  async #ldconfigIn(container: Container, dirs: string[]): Promise<{ ran: boolean; warning: string }> {
    const plan: ContainerPlan = { edits: [], cgroupRules: [], ldconfig: { path: container.ldconfig, dirs }, warnings: [], notes: [] };
    const r = await applyPlan(container, plan);
    return r.ldconfig ?? { ran: false, warning: '' };
  }

  /** ldcache update: run the container's configured ldconfig over its library directories. */
  async ldcacheUpdate(container: Container, request: Pick<ConfigureRequestInput, 'compat32'> = {}): Promise<{ ran: boolean; warning: string }> {
    checkContainer(container);
    return this.#ldconfigIn(container, [container.layout.libsDir, ...(request.compat32 ? [container.layout.libs32Dir] : [])]);
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
  const { user, loadKernelModules, logger, ...rest } = parseWith(initOptionsSchema, options, 'option', 'options');
  if (loadKernelModules !== undefined && loadKernelModules !== false) {
    const { ensureKernelModulesForInit } = await import('./kmod');
    const display = typeof loadKernelModules === 'object' && loadKernelModules.display === true;
    await ensureKernelModulesForInit(rest, display);
  }
  const ids = user === undefined ? undefined : await resolveUser(user);
  try {
    // Every option but user, loadKernelModules and logger goes to the native side by its own name (a test checks the names agree).
    const handle = await binding().init({ ...rest, ...(ids !== undefined && { uid: ids.uid, gid: ids.gid }), driverPath: driverServicePath() });
    return new Context(nativeHandle, handle, logger as NvcLogger | undefined);
  } catch (e) {
    throw fromNative(e);
  }
}

interface CallGuard {
  /** Throws ERR_NVC_ABORTED once the signal fired or the time passed. */
  check(): void;
  /** Milliseconds left before timeoutMs, undefined without one: the helpers' own limit. */
  remainingMs(): number | undefined;
  /** The promise, or ERR_NVC_ABORTED as soon as the call is abandoned (the work itself goes on and is dropped). */
  race<T>(work: Promise<T>): Promise<T>;
  done(): void;
}

/** One call's AbortSignal and timeoutMs, as a guard checked between its stages. */
function callGuard(options: CallOptions, what: string): CallGuard {
  const o = parseWith(callOptionsSchema, options, 'call option', 'call options');
  const controller = new AbortController();
  const deadline = o.timeoutMs === undefined ? undefined : performance.now() + o.timeoutMs;
  const timer =
    o.timeoutMs === undefined ? undefined : setTimeout(() => controller.abort(new Error(`${what} took longer than ${o.timeoutMs} ms`)), o.timeoutMs);
  timer?.unref();
  const onAbort = () => controller.abort(o.signal?.reason);
  if (o.signal?.aborted) controller.abort(o.signal.reason);
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const aborted = (): NvcError => {
    const reason = controller.signal.reason as unknown;
    const why = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason);
    return new NvcError('ERR_NVC_ABORTED', `${what} was abandoned before it changed anything: ${why}`, {
      cause: reason,
      hint: 'the AbortSignal or timeoutMs of the call ended it; a configure already applying is stopped at timeoutMs and rolls back',
    });
  };
  return {
    check() {
      if (controller.signal.aborted) throw aborted();
    },
    remainingMs() {
      return deadline === undefined ? undefined : deadline - performance.now();
    },
    race<T>(work: Promise<T>): Promise<T> {
      if (controller.signal.aborted) return Promise.reject(aborted());
      return new Promise<T>((resolve, reject) => {
        const stop = () => reject(aborted());
        controller.signal.addEventListener('abort', stop, { once: true });
        work.then(
          (v) => {
            controller.signal.removeEventListener('abort', stop);
            resolve(v);
          },
          (e: unknown) => {
            controller.signal.removeEventListener('abort', stop);
            reject(e);
          },
        );
      });
    },
    done() {
      if (timer !== undefined) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    },
  };
}
