/**
 * The service's one initialised context, shared by the requests whose init options are its own.
 * It is replaced when the driver changes (the text of <procRoot>/driver/nvidia/version, read at
 * each acquire: a few microseconds) and on refresh() (SIGHUP); a replaced context is shut down once
 * the last request holding it releases it.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { Context, InitOptions } from '../index';
import type { SharedContext } from '../cli/types';

interface Generation {
  context: Promise<Context>;
  /** Once started: a context whose driver service has stopped (crashed, killed) is replaced. */
  started?: Context;
  /** The driver version file's text when the context was made ('' when absent). */
  stamp: string;
  holders: number;
  retired: boolean;
}

/** The context's driver service has exited (a zombie not yet reaped counts): its next exchange would fail. */
async function driverServiceGone(ctx: Context): Promise<boolean> {
  const pid = ctx.servicePid;
  if (pid === null) return true;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

export class ServiceContext implements SharedContext {
  #current: Generation | undefined;
  #closed = false;

  constructor(
    readonly options: InitOptions,
    private readonly init: () => Promise<Context>,
    private readonly log: (line: string) => void,
  ) {}

  async #stamp(): Promise<string> {
    const procRoot = this.options.procRoot ?? '/proc';
    return readFile(path.join(procRoot, 'driver/nvidia/version'), 'utf8').catch(() => '');
  }

  #retire(gen: Generation): void {
    gen.retired = true;
    if (gen.holders === 0) this.#shutdown(gen);
  }

  #shutdown(gen: Generation): void {
    gen.context.then(
      (ctx) => ctx.shutdown().catch((e: unknown) => this.log(`shutdown of a replaced context failed: ${String(e)}`)),
      () => undefined,
    );
  }

  #fresh(stamp: string): Generation {
    const gen: Generation = { context: this.init(), stamp, holders: 0, retired: false };
    gen.context.then(
      (ctx) => (gen.started = ctx),
      () => undefined,
    );
    // A failed init is not kept: the next request tries again.
    gen.context.catch(() => {
      if (this.#current === gen) this.#current = undefined;
    });
    return gen;
  }

  /** Starts the first context (the service fails to start if this fails). */
  async start(): Promise<Context> {
    const gen = this.#fresh(await this.#stamp());
    this.#current = gen;
    return gen.context;
  }

  async acquire(): Promise<{ context: Context; release(): void }> {
    if (this.#closed) throw new Error('the service is stopping');
    const seen = this.#current;
    // Two small reads of /proc, at once: the driver's version and whether the driver service lives.
    const [stamp, seenStopped] = await Promise.all([this.#stamp(), seen?.started !== undefined ? driverServiceGone(seen.started) : false]);
    let gen = this.#current;
    // Replaced by another request meanwhile: a generation that new is taken as running.
    const stopped = gen === seen && seenStopped;
    if (gen === undefined || gen.stamp !== stamp || stopped) {
      if (gen !== undefined) {
        this.log(
          stopped
            ? 'the driver service of the context has stopped: new context'
            : `driver changed (${JSON.stringify(gen.stamp.split('\n')[0])} -> ${JSON.stringify(stamp.split('\n')[0])}): new context`,
        );
        this.#retire(gen);
      }
      gen = this.#fresh(stamp);
      this.#current = gen;
    }
    gen.holders++;
    const held = gen;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      held.holders--;
      if (held.retired && held.holders === 0) this.#shutdown(held);
    };
    try {
      return { context: await held.context, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** SIGHUP: later requests get a new context. */
  refresh(): void {
    const gen = this.#current;
    this.#current = undefined;
    if (gen !== undefined) this.#retire(gen);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const gen = this.#current;
    this.#current = undefined;
    if (gen !== undefined) {
      gen.retired = true;
      await gen.context.then((c) => c.shutdown()).catch(() => undefined);
    }
  }

  /** The driver version of the current context, for health checks. */
  async driverVersion(): Promise<string | null> {
    const gen = this.#current;
    if (gen === undefined) return null;
    try {
      return (await (await gen.context).driverInfo()).version;
    } catch {
      return null;
    }
  }
}
