/** The handle on one driver service: discovery calls, and shutdown. */
import { binding, helperPath, type NativeContextHandle, type RawDriverFile, type RawDriverInfo } from './native';
import { fromNative } from './native-errors';
import { initOptionsSchema, type InitOptions } from './schema';
import { NvcError } from './errors';
import { resolveUser } from './user';
import type { Capability, Device, DriverFile, DriverInfo } from './types';

const CAPABILITY_BITS: readonly [Capability, number][] = [
  ['utility', 1 << 0],
  ['compute', 1 << 1],
  ['video', 1 << 2],
  ['graphics', 1 << 3],
  ['display', 1 << 4],
  ['ngx', 1 << 5],
];

function toFiles(files: RawDriverFile[]): DriverFile[] {
  return files.map((f) => ({
    path: f.path,
    capabilities: CAPABILITY_BITS.filter(([, bit]) => (f.caps & bit) !== 0).map(([name]) => name),
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

function invalidOption(issue: { path: PropertyKey[]; message: string }): NvcError {
  const field = issue.path.map(String).join('.') || 'options';
  return new NvcError('ERR_NVC_INVALID_ARGUMENT', `invalid option ${field}: ${issue.message}`, { field });
}

/** Start a driver service for the host described by options and return its context. */
export async function init(options: InitOptions = {}): Promise<Context> {
  const parsed = initOptionsSchema.safeParse(options);
  if (!parsed.success) throw invalidOption(parsed.error.issues[0] ?? { path: [], message: 'invalid' });
  const o = parsed.data;
  const ids = o.user === undefined ? undefined : await resolveUser(o.user);
  try {
    const handle = await binding().init({
      ...(o.root !== undefined && { root: o.root }),
      ...(o.ldcache !== undefined && { ldcache: o.ldcache }),
      ...(o.procRoot !== undefined && { procRoot: o.procRoot }),
      ...(o.devRoot !== undefined && { devRoot: o.devRoot }),
      ...(o.sysRoot !== undefined && { sysRoot: o.sysRoot }),
      ...(o.nvmlPath !== undefined && { nvmlPath: o.nvmlPath }),
      ...(o.binPath !== undefined && { binPath: o.binPath }),
      ...(o.timeoutMs !== undefined && { timeoutMs: o.timeoutMs }),
      ...(ids !== undefined && { uid: ids.uid, gid: ids.gid }),
      helperPath: helperPath(),
    });
    return new Context(nativeHandle, handle);
  } catch (e) {
    throw fromNative(e);
  }
}
