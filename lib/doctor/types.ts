/** What `nvc-ts doctor` reports: one result per check, each with the evidence it read and what to do. */
import type { InitOptions } from '../schema';

export const CHECK_STATUSES = ['pass', 'warn', 'fail', 'skip'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** A value read off the host, keyed by where it was read (a path) or what it is. */
export type EvidenceValue = string | number | boolean | null | string[];

export interface CheckResult {
  /** Stable id, usable with `--only`. */
  id: string;
  status: CheckStatus;
  /** One line saying what was found. */
  summary: string;
  evidence: Record<string, EvidenceValue>;
  /** What to do, in one or two sentences; absent when nothing needs doing. */
  fix?: string;
}

export interface DoctorReport {
  schemaVersion: 1;
  checks: CheckResult[];
}

export interface DoctorOptions extends InitOptions {
  /** Compare this running container (its init pid) with the host. */
  container?: number;
  /** Check the user-space driver installed in this root filesystem against the running kernel module. */
  rootfs?: string;
  /** Run only these checks (ids). */
  only?: string[];
  /** Directories holding CDI specs (default /etc/cdi and /var/run/cdi inside the driver root). */
  cdiSpecDirs?: string[];
}
