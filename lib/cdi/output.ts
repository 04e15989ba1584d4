/** Spec files: YAML or JSON text (YAML through the `yaml` package) and atomic writes. */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { NvcError } from '../errors';
import { cdiSpecSchema, type CdiSpec } from './spec';

export type SpecFormat = 'json' | 'yaml';

/** The format a file name implies (.json, .yaml, .yml); null when it implies none. */
export function formatOfFile(file: string): SpecFormat | null {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') return 'json';
  return ext === '.yaml' || ext === '.yml' ? 'yaml' : null;
}

export function formatSpec(spec: CdiSpec, format: SpecFormat): string {
  return format === 'json' ? `${JSON.stringify(spec, null, 2)}\n` : stringifyYaml(spec, { lineWidth: 0 });
}

/** Reads a spec text (JSON is YAML too) and checks it against the CDI schema. */
export function parseSpecText(text: string, file: string): CdiSpec {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${file}: not YAML or JSON: ${cause instanceof Error ? cause.message : String(cause)}`, {
      path: file,
      cause,
    });
  }
  const r = cdiSpecSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue === undefined ? '' : issue.path.join('.');
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${file}: not a CDI spec: ${where ? `${where}: ` : ''}${issue?.message ?? 'invalid'}`, {
      path: file,
      hint: 'fix or remove the file',
    });
  }
  return r.data;
}

/**
 * Write text to file atomically, mode 0644: a temporary file in the same directory, synced,
 * renamed over the target, the directory synced. Readers see the old or the new file, never a
 * part; a failure leaves the old file and no temporary behind.
 */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // /var/run/cdi does not exist until something writes a spec there.
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
    const fh = await fsp.open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(text);
      await fh.chmod(0o644); // the umask does not get a say in what engines may read
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (cause) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    const code = (cause as NodeJS.ErrnoException).code;
    throw new NvcError('ERR_NVC_SYSTEM', `cannot write ${file}${code ? ` (${code})` : ''}`, { path: file, cause, ...(code !== undefined && { errno: code }) });
  }
  const dh = await fsp.open(dir, 'r').catch(() => null);
  if (dh !== null) {
    await dh.sync().catch(() => undefined);
    await dh.close();
  }
}
