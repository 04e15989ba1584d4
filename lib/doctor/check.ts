/** The shape of one doctor check and small helpers to build its result. */
import type { HostView } from './host-view';
import type { CheckResult, CheckStatus, EvidenceValue } from './types';

export type CheckScope = 'host' | 'container' | 'rootfs';

export interface Check {
  id: string;
  /** host: always; container: with --container; rootfs: with --rootfs. */
  scope: CheckScope;
  run(view: HostView): Promise<CheckResult>;
}

export function result(id: string, status: CheckStatus, summary: string, evidence: Record<string, EvidenceValue>, fix?: string): CheckResult {
  return fix === undefined ? { id, status, summary, evidence } : { id, status, summary, evidence, fix };
}

/** The worst status of several findings (fail > warn > pass > skip). */
export function worst(statuses: CheckStatus[]): CheckStatus {
  for (const s of ['fail', 'warn', 'pass'] as const) if (statuses.includes(s)) return s;
  return 'skip';
}

export function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}
