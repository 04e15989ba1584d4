/**
 * The `--require` expression language.
 *
 * An expression is a list of alternatives (OR) separated by whitespace; each alternative is a list
 * of terms (AND) separated by commas. A term is `<name><op><value>`:
 *
 *   - names (case-insensitive): `cuda` (CUDA version the driver provides), `driver` (NVRM version),
 *     `arch` (compute capability), `brand` (e.g. GeForce, Tesla);
 *   - operators: exactly one of `=`, `!=`, `<`, `<=`, `>`, `>=`;
 *   - `cuda`, `driver` and `arch` take versions (digits separated by dots) compared numerically
 *     component by component, trailing zero components being insignificant (`11` = `11.0.0`);
 *   - `brand` takes a word compared case-insensitively with `=` or `!=` only.
 *
 * An empty expression holds. A term whose fact is unknown (no device, no version) holds.
 */

import { NvcError } from './errors';
import { quote } from './quote';

export type RequirementName = 'cuda' | 'driver' | 'arch' | 'brand';
export type RequirementOperator = '=' | '!=' | '<' | '<=' | '>' | '>=';

export interface RequirementTerm {
  /** The term as written, e.g. "CUDA>=12". */
  text: string;
  /** Lower-cased rule name. */
  name: RequirementName;
  op: RequirementOperator;
  /** The value as written. */
  value: string;
}

export interface RequirementClause {
  /** The clause as written, e.g. "brand=tesla,driver>=470,driver<471". */
  text: string;
  terms: RequirementTerm[];
}

export interface Requirement {
  /** The expression as given. */
  expression: string;
  /** The alternatives; empty when the expression is empty (and then always holds). */
  clauses: RequirementClause[];
}

/** Facts a requirement is checked against. Missing values make the terms that need them hold. */
export interface RequirementFacts {
  /** CUDA version of the driver, e.g. "12.4" (see formatCudaVersion). */
  cudaVersion?: string;
  /** NVRM version, e.g. "550.54.14". */
  driverVersion?: string;
  /** Each visible GPU, or the parent GPU of each visible MIG device. */
  devices: RequirementDevice[];
}

export interface RequirementDevice {
  /** How to name the device in messages, e.g. "GPU 0 (NVIDIA A100, GPU-5c6f…)". */
  label: string;
  /** Compute capability, e.g. "8.9". */
  architecture?: string;
  /** e.g. "GeForce". */
  brand?: string;
}

/** Why one term failed on one subject. */
export interface RequirementTermFailure {
  term: RequirementTerm;
  /** The host value the term was compared with. */
  actual: string;
  /** e.g. "cuda>=12.8 needs CUDA 12.8 or newer, the driver provides 12.4" */
  explanation: string;
}

export interface RequirementEvaluation {
  satisfied: boolean;
  /** When not satisfied: for each clause, in order, the first term that failed. */
  failures: RequirementTermFailure[];
}

const NAMES: readonly RequirementName[] = ['cuda', 'driver', 'arch', 'brand'];
const OPERATORS: readonly RequirementOperator[] = ['=', '!=', '<', '<=', '>', '>='];
const OPERATOR_CHARS = /[<>=!]/;
const OPERATOR_RUN = /^[<>=!]+/;
const VERSION = /^[0-9]+(?:\.[0-9]+)*$/;
const ALLOWED_OPS_TEXT = OPERATORS.join(', ');
const UPGRADE_HINT = ', please update your driver to a newer version, or use an earlier cuda container';

function invalid(expression: string, reason: string): NvcError {
  return new NvcError('ERR_NVC_INVALID_REQUIREMENT', `invalid expression ${quote(expression)}: ${reason}`, {
    field: 'require',
    hint:
      'write alternatives separated by spaces, each a comma-separated list of <name><op><value> terms; ' +
      `names: ${NAMES.join(', ')}; operators: ${ALLOWED_OPS_TEXT}; e.g. "cuda>=12.0 brand=tesla,driver>=535"`,
  });
}

function parseTerm(expression: string, text: string): RequirementTerm {
  const at = text.search(OPERATOR_CHARS);
  if (at < 0) {
    return invalidTerm(expression, text, `it has no operator (allowed: ${ALLOWED_OPS_TEXT})`);
  }
  const rawName = text.slice(0, at);
  const rest = text.slice(at);
  const opText = (OPERATOR_RUN.exec(rest) as RegExpExecArray)[0];
  const value = rest.slice(opText.length);
  if (rawName === '') {
    return invalidTerm(expression, text, `it has no name before the operator (allowed names: ${NAMES.join(', ')})`);
  }
  const name = rawName.toLowerCase();
  if (!(NAMES as readonly string[]).includes(name)) {
    return invalidTerm(expression, text, `unknown name ${quote(rawName)} (allowed names: ${NAMES.join(', ')})`);
  }
  if (!(OPERATORS as readonly string[]).includes(opText)) {
    return invalidTerm(expression, text, `operator ${quote(opText)} is not one of ${ALLOWED_OPS_TEXT}`);
  }
  const op = opText as RequirementOperator;
  if (value === '') {
    return invalidTerm(expression, text, `it has no value after ${quote(opText)}`);
  }
  if (OPERATOR_CHARS.test(value)) {
    return invalidTerm(expression, text, `the value ${quote(value)} contains an operator character (<, >, = or !)`);
  }
  if (name === 'brand') {
    if (op !== '=' && op !== '!=') {
      return invalidTerm(expression, text, `brand can only be compared with = or !=, not ${quote(op)}`);
    }
  } else if (!VERSION.test(value)) {
    return invalidTerm(expression, text, `the value ${quote(value)} is not a version (digits separated by single dots, e.g. 12.4)`);
  }
  return { text, name: name as RequirementName, op, value };
}

function invalidTerm(expression: string, term: string, reason: string): never {
  throw invalid(expression, `in term ${quote(term)}, ${reason}`);
}

/** Parses one `--require` expression. Throws NvcError ERR_NVC_INVALID_REQUIREMENT. */
export function parseRequirement(expr: string): Requirement {
  if (typeof expr !== 'string') {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', 'a requirement expression must be a string', { field: 'require' });
  }
  const clauses: RequirementClause[] = [];
  for (const clauseText of expr.split(/\s+/)) {
    if (clauseText === '') continue;
    const terms: RequirementTerm[] = [];
    for (const termText of clauseText.split(',')) {
      if (termText === '') continue;
      terms.push(parseTerm(expr, termText));
    }
    // A clause made only of commas says nothing; it is dropped rather than taken as "always true".
    if (terms.length > 0) clauses.push({ text: clauseText, terms });
  }
  return { expression: expr, clauses };
}

/**
 * Compares two versions made of digits and dots: component by component, numerically (`07` = `7`),
 * with missing trailing components taken as zero. Returns -1, 0 or 1.
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.');
  const pb = b.split('.');
  const n = Math.max(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const c = compareNumberStrings(pa[i] ?? '0', pb[i] ?? '0');
    if (c !== 0) return c;
  }
  return 0;
}

/** Compares non-negative decimal integers of any length. */
function compareNumberStrings(a: string, b: string): number {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  if (x === y) return 0;
  return x < y ? -1 : 1;
}

function holds(op: RequirementOperator, cmp: number): boolean {
  switch (op) {
    case '=':
      return cmp === 0;
    case '!=':
      return cmp !== 0;
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
    case '>':
      return cmp > 0;
    case '>=':
      return cmp >= 0;
  }
}

/** How a version comparison reads in a message, with "newer/older" or "higher/lower". */
function wantedVersion(op: RequirementOperator, v: string, up: string, down: string): string {
  switch (op) {
    case '=':
      return `exactly ${v}`;
    case '!=':
      return `anything but ${v}`;
    case '<':
      return `${down} than ${v}`;
    case '<=':
      return `${v} or ${down}`;
    case '>':
      return `${up} than ${v}`;
    case '>=':
      return `${v} or ${up}`;
  }
}

function explain(term: RequirementTerm, actual: string): string {
  let wanted: string;
  let has: string;
  switch (term.name) {
    case 'cuda':
      wanted = `CUDA ${wantedVersion(term.op, term.value, 'newer', 'older')}`;
      has = 'the driver provides';
      break;
    case 'driver':
      wanted = `driver ${wantedVersion(term.op, term.value, 'newer', 'older')}`;
      has = 'the driver is';
      break;
    case 'arch':
      wanted = `compute capability ${wantedVersion(term.op, term.value, 'higher', 'lower')}`;
      has = 'the GPU has';
      break;
    case 'brand':
      wanted = term.op === '=' ? `brand ${term.value}` : `a brand other than ${term.value}`;
      has = 'the GPU is';
      break;
  }
  return `${term.text} needs ${wanted}, ${has} ${actual}`;
}

function present(v: string | undefined): v is string {
  return typeof v === 'string' && v !== '';
}

function checkVersionFact(field: string, value: string): void {
  if (!VERSION.test(value)) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${field} ${quote(value)} is not a version (digits separated by dots)`, {
      field,
    });
  }
}

function evaluateTerm(
  term: RequirementTerm,
  facts: { cudaVersion?: string; driverVersion?: string },
  device: RequirementDevice | undefined,
): RequirementTermFailure | null {
  let actual: string | undefined;
  switch (term.name) {
    case 'cuda':
      actual = facts.cudaVersion;
      break;
    case 'driver':
      actual = facts.driverVersion;
      break;
    case 'arch':
      actual = device?.architecture;
      break;
    case 'brand':
      actual = device?.brand;
      break;
  }
  if (!present(actual)) return null;
  const ok =
    term.name === 'brand' ? (actual.toLowerCase() === term.value.toLowerCase()) === (term.op === '=') : holds(term.op, compareVersions(actual, term.value));
  return ok ? null : { term, actual, explanation: explain(term, actual) };
}

/**
 * Evaluates a parsed requirement against the driver facts and one device (or none).
 * Does not throw for unmet requirements.
 */
export function evaluateRequirement(
  requirement: Requirement,
  facts: { cudaVersion?: string; driverVersion?: string },
  device?: RequirementDevice,
): RequirementEvaluation {
  if (present(facts.cudaVersion)) checkVersionFact('cudaVersion', facts.cudaVersion);
  if (present(facts.driverVersion)) checkVersionFact('driverVersion', facts.driverVersion);
  if (device && present(device.architecture)) checkVersionFact('architecture', device.architecture);
  const failures: RequirementTermFailure[] = [];
  if (requirement.clauses.length === 0) return { satisfied: true, failures };
  for (const clause of requirement.clauses) {
    let failure: RequirementTermFailure | null = null;
    for (const term of clause.terms) {
      failure = evaluateTerm(term, facts, device);
      if (failure) break;
    }
    if (!failure) return { satisfied: true, failures: [] };
    failures.push(failure);
  }
  return { satisfied: false, failures };
}

const MAX_LISTED_ALTERNATIVES = 3;

function unsatisfied(req: Requirement, evaluation: RequirementEvaluation, device: RequirementDevice | undefined): NvcError {
  const first = req.clauses[0] as RequirementClause;
  const isCudaMin = first.text.toLowerCase().startsWith('cuda>=');
  let message = `unsatisfied condition: ${first.text}`;
  if (isCudaMin) message += UPGRADE_HINT;

  const [firstFailure, ...others] = evaluation.failures as [RequirementTermFailure, ...RequirementTermFailure[]];
  let detail = (device ? `on ${device.label}: ` : '') + firstFailure.explanation;
  if (others.length > 0 && others.length <= MAX_LISTED_ALTERNATIVES) {
    const parts = others.map((f, i) => `${quote((req.clauses[i + 1] as RequirementClause).text)} (${f.explanation})`);
    detail += `; the other alternative${others.length > 1 ? 's' : ''} failed too: ${parts.join('; ')}`;
  } else if (others.length > MAX_LISTED_ALTERNATIVES) {
    detail += `; none of the ${others.length} other alternatives matched either`;
  }
  message += ` (${detail})`;

  let hint: string | undefined;
  if (firstFailure.term.name === 'cuda' && (firstFailure.term.op === '>=' || firstFailure.term.op === '>')) {
    hint =
      `install a driver that provides CUDA ${firstFailure.term.value} or newer, run an image built for CUDA ` +
      `${firstFailure.actual} or older, or set NVIDIA_DISABLE_REQUIRE=true in the container to skip the check`;
  } else {
    hint = 'set NVIDIA_DISABLE_REQUIRE=true in the container to skip requirement checks';
  }
  return new NvcError('ERR_NVC_REQUIREMENT_UNSATISFIED', message, { field: 'require', hint });
}

/**
 * Checks every expression against every device (each visible GPU, or the parent of each visible MIG
 * device); with no device, once without device data. All expressions are parsed first.
 * Throws ERR_NVC_INVALID_REQUIREMENT for a malformed expression and ERR_NVC_REQUIREMENT_UNSATISFIED
 * for the first device and expression that do not hold.
 */
export function checkRequirements(exprs: readonly string[], facts: RequirementFacts): void {
  if (!Array.isArray(exprs)) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', 'requirements must be an array of strings', { field: 'require' });
  }
  if (facts === null || typeof facts !== 'object' || !Array.isArray(facts.devices)) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', 'facts.devices must be an array', { field: 'devices' });
  }
  const reqs = exprs.map((e) => parseRequirement(e)).filter((r) => r.clauses.length > 0);
  if (reqs.length === 0) return;
  const subjects: Array<RequirementDevice | undefined> = facts.devices.length > 0 ? facts.devices : [undefined];
  for (const device of subjects) {
    for (const req of reqs) {
      const evaluation = evaluateRequirement(req, facts, device);
      if (!evaluation.satisfied) throw unsatisfied(req, evaluation, device);
    }
  }
}

/** Formats NVML's integer CUDA driver version: 12040 → "12.4", 13000 → "13.0". */
export function formatCudaVersion(v: number): string {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `CUDA version ${String(v)} is not a non-negative integer`, {
      field: 'cudaVersion',
    });
  }
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}
