/**
 * `nvc-ts doctor [--json] [--container PID] [--rootfs DIR] [--only CHECK,...]`: what is wrong with
 * this GPU host (and a container or image on it), with the evidence read and the fix. Exit 1 when
 * a check fails.
 */
import * as path from 'node:path';
import type { CheckResult, DoctorReport } from '../../doctor';
import { UsageError } from '../format-error';
import type { CommandSession, CommandSpec, OptionValues } from '../types';

export interface DoctorFlags {
  json: boolean;
  container: number | undefined;
  rootfs: string | undefined;
  only: string[] | undefined;
}

const MARK: Record<CheckResult['status'], string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

function evidenceLines(evidence: CheckResult['evidence']): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(evidence)) {
    if (Array.isArray(value)) {
      out.push(`      ${key}:${value.length === 0 ? ' (none)' : ''}`);
      for (const v of value) out.push(`        ${v}`);
    } else {
      out.push(`      ${key}: ${value === null ? '(absent)' : String(value)}`);
    }
  }
  return out;
}

export function formatDoctorText(report: DoctorReport, verbose: boolean): string {
  const counts = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of report.checks) counts[c.status]++;
  const lines = [`nvc-ts doctor: ${report.checks.length} checks: ${counts.pass} pass, ${counts.warn} warn, ${counts.fail} fail, ${counts.skip} skip`, ''];
  for (const c of report.checks) {
    lines.push(`${MARK[c.status]}  ${c.id.padEnd(17)} ${c.summary}`);
    // Evidence for what needs attention (all of it with --debug): the rest stays one line each.
    if (verbose || c.status === 'fail' || c.status === 'warn') lines.push(...evidenceLines(c.evidence));
    if (c.fix !== undefined && c.status !== 'pass') lines.push(`      fix: ${c.fix}`);
  }
  return `${lines.join('\n')}\n`;
}

export const doctorCommand: CommandSpec<DoctorFlags> = {
  name: 'doctor',
  summary: 'Check the host (and a container or image) for what breaks GPU containers, with evidence and fixes',
  usage: [
    'nvc-ts doctor [--json] [--container PID] [--rootfs DIR] [--only CHECK,...] [GLOBAL OPTIONS]',
    '',
    '  --json               { "schemaVersion": 1, "checks": [ { id, status, summary, evidence, fix } ] }',
    '  --container PID      also compare this running container with the host (needs root)',
    '  --rootfs DIR         also check the user-space driver installed in this root filesystem',
    '  --only LIST          run only these checks (comma-separated ids)',
    '',
    '  Checks: versions nvml modules device-nodes drm persistence firmware binaries ldcache cgroups',
    '  dev-char cdi security; container-devices container-driver (--container); rootfs-driver (--rootfs).',
    '  Exit status 1 when a check fails. NVML is loaded only in the driver service, bounded by --timeout.',
  ],
  options: {
    json: { type: 'boolean' },
    container: { type: 'string' },
    rootfs: { type: 'string' },
    only: { type: 'string', multiple: true },
  },
  parse(values: OptionValues): DoctorFlags {
    let container: number | undefined;
    if (typeof values['container'] === 'string') {
      if (!/^[1-9]\d*$/.test(values['container'])) throw new UsageError(`option --container needs a process id, not '${values['container']}'`);
      container = Number(values['container']);
    }
    const rootfs = typeof values['rootfs'] === 'string' ? values['rootfs'] : undefined;
    if (rootfs === '') throw new UsageError('option --rootfs needs a directory');
    const onlyValues = Array.isArray(values['only']) ? values['only'] : [];
    const only = onlyValues.length
      ? onlyValues
          .flatMap((v) => String(v).split(','))
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined;
    if (only !== undefined && only.length === 0) throw new UsageError('option --only needs check ids');
    return { json: values['json'] === true, container, rootfs: rootfs === undefined ? undefined : path.resolve(rootfs), only };
  },
  async run(session: CommandSession, flags: DoctorFlags): Promise<void> {
    const { runDoctor } = await import('../../doctor');
    const report = await session.phase('doctor', () =>
      runDoctor({
        ...session.initOptions(),
        ...(flags.container !== undefined && { container: flags.container }),
        ...(flags.rootfs !== undefined && { rootfs: flags.rootfs }),
        ...(flags.only !== undefined && { only: flags.only }),
      }),
    );
    session.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorText(report, false));
    if (report.checks.some((c) => c.status === 'fail')) session.setExitStatus(1);
  },
};
