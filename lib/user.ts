/** Resolve "UID[:GID]" / "NAME[:GROUP]" against the host's passwd and group files. */
import { readFile } from 'node:fs/promises';
import { NvcError } from './errors';
import type { UserSpec } from './schema';

interface Ids {
  uid: number;
  gid: number;
}

async function readTable(file: string): Promise<string[][]> {
  try {
    const text = await readFile(file, 'utf8');
    return text
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(':'));
  } catch {
    return [];
  }
}

function invalidUser(spec: string, why: string): NvcError {
  return new NvcError('ERR_NVC_INVALID_ARGUMENT', `invalid option user: "${spec}": ${why}`, {
    field: 'user',
    hint: 'give numeric ids (e.g. 65534:65534) or names that exist in /etc/passwd and /etc/group',
  });
}

export async function resolveUser(spec: UserSpec, files = { passwd: '/etc/passwd', group: '/etc/group' }): Promise<Ids> {
  if (typeof spec !== 'string') return spec;
  const [userPart, groupPart] = spec.split(':') as [string, string | undefined];
  const numeric = (s: string): boolean => /^\d+$/.test(s);
  const passwd = await readTable(files.passwd);

  let uid: number;
  let primaryGid: number | undefined;
  if (numeric(userPart)) {
    uid = Number(userPart);
    const row = passwd.find((r) => r[2] === userPart);
    if (row && row[3] !== undefined) primaryGid = Number(row[3]);
  } else {
    const row = passwd.find((r) => r[0] === userPart);
    if (!row || row[2] === undefined) throw invalidUser(spec, `no user named "${userPart}" in ${files.passwd}`);
    uid = Number(row[2]);
    primaryGid = Number(row[3]);
  }

  let gid: number;
  if (groupPart === undefined) {
    // As the reference: the user's primary group, or the same number when the user is unknown.
    gid = primaryGid ?? uid;
  } else if (numeric(groupPart)) {
    gid = Number(groupPart);
  } else {
    const row = (await readTable(files.group)).find((r) => r[0] === groupPart);
    if (!row || row[2] === undefined) throw invalidUser(spec, `no group named "${groupPart}" in ${files.group}`);
    gid = Number(row[2]);
  }
  if (uid > 4294967294 || gid > 4294967294) throw invalidUser(spec, 'ids must be below 4294967295');
  return { uid, gid };
}
