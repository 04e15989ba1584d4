/**
 * `doctor`: host, container and image checks, run concurrently, each bounded by the timeout. NVML is
 * reached only through the driver service, so a broken driver is a failed check and never a hung
 * or crashed process.
 */
import { z } from 'zod';
import { absolutePathSchema, initOptionsSchema, parseWith } from '../schema';
import { NvcError } from '../errors';
import { result, type Check } from './check';
import { HostView } from './host-view';
import type { CheckResult, DoctorOptions, DoctorReport } from './types';
import { versionsCheck } from './checks/versions';
import { nvmlCheck } from './checks/nvml';
import { modulesCheck } from './checks/modules';
import { deviceNodesCheck } from './checks/device-nodes';
import { drmCheck } from './checks/drm';
import { persistenceCheck } from './checks/persistence';
import { firmwareCheck } from './checks/firmware';
import { binariesCheck } from './checks/binaries';
import { ldcacheCheck } from './checks/ldcache';
import { cgroupsCheck } from './checks/cgroups';
import { devCharCheck } from './checks/dev-char';
import { securityCheck } from './checks/security';
import { cdiCheck } from './checks/cdi';
import { containerDevicesCheck, containerDriverCheck } from './checks/container';
import { rootfsDriverCheck } from './checks/rootfs';

export type { CheckResult, CheckStatus, DoctorOptions, DoctorReport, EvidenceValue } from './types';

/** In the order they are reported. */
export const DOCTOR_CHECKS: readonly Check[] = [
  versionsCheck,
  nvmlCheck,
  modulesCheck,
  deviceNodesCheck,
  drmCheck,
  persistenceCheck,
  firmwareCheck,
  binariesCheck,
  ldcacheCheck,
  cgroupsCheck,
  devCharCheck,
  cdiCheck,
  securityCheck,
  containerDevicesCheck,
  containerDriverCheck,
  rootfsDriverCheck,
];

export const DOCTOR_CHECK_IDS = DOCTOR_CHECKS.map((c) => c.id);

export const doctorOptionsSchema = initOptionsSchema.extend({
  container: z.number().int('must be an integer').positive('must be a process id').optional(),
  rootfs: absolutePathSchema.optional(),
  only: z
    .array(z.string())
    .max(DOCTOR_CHECK_IDS.length * 2)
    .refine((ids) => ids.every((id) => DOCTOR_CHECK_IDS.includes(id)), `must name known checks: ${DOCTOR_CHECK_IDS.join(', ')}`)
    .optional(),
  cdiSpecDirs: z.array(absolutePathSchema).max(16).optional(),
});

function withTimeout(check: Check, view: HostView): Promise<CheckResult> {
  // The driver service has its own timeout; this one bounds everything else, with room for the service's.
  const limit = view.timeoutMs * 2 + 1000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(
      () =>
        resolve(
          result(
            check.id,
            'fail',
            `the check did not finish within ${limit} ms: something it reads hangs`,
            {},
            'look for a FIFO or a hung filesystem in place of the files it reads; run with --only to isolate it.',
          ),
        ),
      limit,
    );
    timer.unref();
  });
  const run = check
    .run(view)
    .catch((e: unknown) =>
      result(
        check.id,
        'fail',
        `the check could not run: ${e instanceof Error ? e.message : String(e)}`,
        {},
        "see the message; run as root for the checks that read other users' processes.",
      ),
    );
  return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
}

/** Run the checks (all those in scope, or `only`) and report them in a fixed order. */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const opts = parseWith(doctorOptionsSchema, options, 'doctor option', 'doctor options') as DoctorOptions;
  const view = new HostView(opts);
  const inScope = DOCTOR_CHECKS.filter(
    (c) => c.scope === 'host' || (c.scope === 'container' && opts.container !== undefined) || (c.scope === 'rootfs' && opts.rootfs !== undefined),
  );
  const selected = opts.only ? DOCTOR_CHECKS.filter((c) => opts.only?.includes(c.id)) : inScope;
  for (const c of selected) {
    if (c.scope === 'container' && opts.container === undefined)
      throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `check ${c.id} needs a container: pass its pid`, { field: 'container' });
    if (c.scope === 'rootfs' && opts.rootfs === undefined)
      throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `check ${c.id} needs a root filesystem to check`, { field: 'rootfs' });
  }
  const checks = await Promise.all(selected.map((c) => withTimeout(c, view)));
  return { schemaVersion: 1, checks };
}
