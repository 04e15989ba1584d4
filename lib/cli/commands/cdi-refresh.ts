/** `nvc-ts cdi refresh [--watch]`: the refresh of lib/cdi/refresh.ts, once or on every driver change. */
import { probeInstalledEngines } from '../../cdi/engines';
import { refreshSpec } from '../../cdi/refresh';
import { watchDriver } from '../../cdi/watch';
import type { HostFacts } from '../../host-facts';
import { cdiHookPath } from '../../native';
import { UsageError } from '../format-error';
import type { CommandSession } from '../types';
import { generateOptions, type CdiFlags } from './cdi-flags';

/** Resolves on SIGTERM or SIGINT: a watching refresh then ends normally. */
function stopSignal(): { stopped: Promise<'stop'>; dispose(): void } {
  let resolve: (v: 'stop') => void = () => undefined;
  const stopped = new Promise<'stop'>((r) => (resolve = r));
  const on = (): void => resolve('stop');
  process.on('SIGTERM', on);
  process.on('SIGINT', on);
  return {
    stopped,
    dispose() {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
    },
  };
}

export async function runRefresh(session: CommandSession, flags: CdiFlags): Promise<void> {
  if (flags.output === undefined) throw new UsageError('cdi refresh needs --output FILE (e.g. /var/run/cdi/nvidia.yaml)');
  const output = flags.output;
  // Each refresh starts a driver service of its own: after a driver upgrade the old one knows only the old driver.
  const readFacts = async (): Promise<HostFacts> => {
    const c = await session.freshContext();
    try {
      return await c.hostFacts();
    } finally {
      await c.shutdown();
    }
  };
  const once = async (): Promise<void> =>
    refreshSpec(
      readFacts,
      { output, waitMs: flags.waitMs, engines: flags.cdiVersion === 'auto' ? await probeInstalledEngines() : [], generate: generateOptions(flags) },
      { defaultHookPath: cdiHookPath },
      (w) => session.warn(w),
    );
  if (!flags.watch) return session.phase('device', once);

  const probe = await session.freshContext();
  const { root, ldcache, procRoot, devRoot, sysRoot } = probe.host;
  await probe.shutdown();
  const stop = stopSignal();
  const watcher = await watchDriver({ root, ldcache, procRoot, devRoot, sysRoot }, flags.pollMs);
  try {
    let reason = 'start';
    for (;;) {
      try {
        await once();
        session.write(`${output} refreshed (${reason})\n`);
      } catch (e) {
        session.warn(e instanceof Error ? e.message : String(e));
      }
      const next = await Promise.race([watcher.next(), stop.stopped]);
      if (next === 'stop') return;
      reason = next;
    }
  } finally {
    watcher.close();
    stop.dispose();
  }
}
