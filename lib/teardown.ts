/**
 * Undoing a configure: the record of what it changed (kept in its result, JSON as it is, so
 * that a runtime can store it between the prestart and poststop hooks), checked on the way
 * back in, and the teardown that the executor carries out with it in the container's mount
 * namespace (native/exec/teardown.c), then the device cgroup rules.
 */
import { z } from 'zod';
import { NvcError } from './errors';
import { binding, execPath } from './native';
import { fromNative } from './native-errors';
import { MOUNT_FLAGS, type MountFlag } from './plan/mount-plan';
import type { Container } from './container';

/** A 64-bit kernel number (mount id, dev, ino) as a decimal string: JSON numbers cannot hold them all. */
const u64 = z.string().regex(/^(0|[1-9]\d{0,19})$/, 'a decimal number as a string');
const path = z
  .string()
  .min(2)
  .max(4095)
  .refine(
    (p) =>
      p.startsWith('/') &&
      !p.endsWith('/') &&
      p
        .split('/')
        .slice(1)
        .every((c) => c !== '' && c !== '.' && c !== '..'),
    {
      message: 'an absolute, normalised container path',
    },
  );

/** One change configure made, in the order it was made. */
export type ChangeRecord =
  /** A mount attached at `path` (a bind or a tmpfs): recognised by its mount ids and the dev/ino of its root. */
  | { kind: 'mount'; path: string; mountId: string; uniqueMountId: string; dev: string; ino: string }
  /**
   * An entry created (a placeholder to mount on, a written file, a symlink, a missing directory): recognised by
   * dev/ino and its birth time in ns ("0" where the file system keeps none), which tells a reused inode number apart.
   */
  | { kind: 'file' | 'directory' | 'symlink'; path: string; dev: string; ino: string; btime: string }
  /** Mount flags added to a mount (the read-only seal of the driver's procfs). */
  | { kind: 'flags'; path: string; mountId: string; uniqueMountId: string; flags: MountFlag[] };

/** A device cgroup rule as configure added it: the access it granted that the cgroup did not grant before. */
export interface AddedDeviceRule {
  type: 'c' | 'b';
  major: number;
  minor: number;
  access: string;
}

/**
 * What one configure (or applyPlan) changed in a container, for {@link Context.teardown}.
 * Plain JSON: store it as it is (`JSON.stringify(result.changes)`) and pass it back parsed.
 * 64-bit numbers are decimal strings. ld.so.cache updates are not recorded and not undone.
 */
export interface ContainerChanges {
  /** The format of this record; teardown refuses any other. */
  version: 1;
  /** The container that was changed: teardown refuses the record for any other (ERR_NVC_WRONG_CONTAINER). */
  container: { pid: number; pidStart: number; rootfs: string };
  /** Mounts and entries, in the order they were made (teardown undoes them in reverse). */
  changes: ChangeRecord[];
  /** The cgroup version configure programmed (null: none), and the rules it added there. */
  cgroup: { version: number | null; added: AddedDeviceRule[] };
}

const changeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('mount'), path, mountId: u64, uniqueMountId: u64, dev: u64, ino: u64 }).strict(),
  z.object({ kind: z.enum(['file', 'directory', 'symlink']), path, dev: u64, ino: u64, btime: u64 }).strict(),
  z.object({ kind: z.literal('flags'), path, mountId: u64, uniqueMountId: u64, flags: z.array(z.enum(MOUNT_FLAGS)).min(1) }).strict(),
]);

/** The checks a change record passes before teardown uses it (it may have been stored and edited). */
export const containerChangesSchema = z
  .object({
    version: z.literal(1),
    container: z.object({ pid: z.number().int().min(0).max(4194304), pidStart: z.number().int().min(0), rootfs: z.string().startsWith('/') }).strict(),
    changes: z.array(changeSchema).max(65536),
    cgroup: z
      .object({
        version: z.union([z.literal(1), z.literal(2), z.null()]),
        added: z.array(
          z
            .object({
              type: z.enum(['c', 'b']),
              major: z.number().int().min(0).max(4095),
              minor: z.number().int().min(0).max(1048575),
              access: z.string().regex(/^(?!.*(.).*\1)[rwm]{1,3}$/, 'letters of rwm, each once'),
            })
            .strict(),
        ),
      })
      .strict(),
  })
  .strict();

/** What teardown did with one change or rule. */
export interface TeardownStep {
  /** The change's kind, or 'cgroup' for a device rule. */
  kind: ChangeRecord['kind'] | 'cgroup';
  /** The container path, or the rule as devices.list writes it ("c 195:0 rw"). */
  what: string;
  /**
   * undone: taken back; absent: already gone (a second teardown, or someone removed it);
   * kept: left in place, because it is no longer what configure made (replaced, covered, not
   * empty) or cannot be taken back (cgroup v2): `reason` says which.
   */
  status: 'undone' | 'absent' | 'kept';
  reason: string;
}

export interface TeardownResult {
  /** Every change and cgroup rule, mounts and entries in the reverse of the order they were made. */
  steps: TeardownStep[];
  /** True when nothing was kept: the container is as it was before configure (but for ld.so.cache). */
  complete: boolean;
  /** What teardown does not undo by design. */
  notes: string[];
}

/** A configure result, or its `changes` on their own. */
export type TeardownInput = { changes: ContainerChanges | null } | ContainerChanges;

const LDCACHE_NOTE = "the container's ld.so.cache is not restored: it lists the driver libraries until ldconfig runs again (harmless once they are gone)";

function parseChanges(input: unknown): ContainerChanges {
  const record = typeof input === 'object' && input !== null && 'changes' in input && !('version' in input) ? (input as { changes: unknown }).changes : input;
  if (record === null || record === undefined) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', 'this result records no changes to tear down (a dry run, or a result of an older nvc-ts)', {
      field: 'result',
      hint: 'pass the result of ctx.configure() or ctx.applyPlan() (or its `changes`) as it was returned',
    });
  }
  const r = containerChangesSchema.safeParse(record);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue ? issue.path.join('.') : '';
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `invalid teardown record${where ? ` at ${where}` : ''}: ${issue?.message ?? 'malformed'}`, {
      field: `changes${where ? `.${where}` : ''}`,
      hint: 'pass the `changes` of a configure result unmodified (JSON.parse of what was stored)',
    });
  }
  return r.data as ContainerChanges;
}

function checkSameContainer(container: Container, record: ContainerChanges): void {
  const c = record.container;
  if (c.pid === container.pid && c.pidStart === container.pidStart && c.rootfs === container.rootfs) return;
  const describe = (x: { pid: number; pidStart: number; rootfs: string }) => `${x.rootfs} (pid ${x.pid}, started at tick ${x.pidStart})`;
  throw new NvcError('ERR_NVC_WRONG_CONTAINER', `this teardown record is for ${describe(c)}, not for ${describe(container)}`, {
    field: 'changes.container',
    hint: 'tear a container down with the result of its own configure; a restarted container (a new pid) was never configured and needs no teardown',
  });
}

function ruleText(r: AddedDeviceRule): string {
  return `${r.type} ${r.major}:${r.minor} ${r.access}`;
}

/** Undo a configure in `container`: see {@link Context.teardown}. */
export async function teardownContainer(container: Container, input: unknown, procRoot = '/proc'): Promise<TeardownResult> {
  const record = parseChanges(input);
  checkSameContainer(container, record);
  const native = binding();
  const steps: TeardownStep[] = [];
  try {
    const reports = await native.teardown({
      execPath: execPath(),
      pid: container.pid,
      pidStart: container.pidStart,
      rootfs: container.rootfs,
      changes: record.changes,
    });
    for (let i = record.changes.length - 1; i >= 0; i--) {
      const c = record.changes[i]!;
      const r = reports[i]!;
      steps.push({ kind: c.kind, what: c.path, status: r.status, reason: r.why });
    }
    const rules = record.cgroup.added;
    // A rule names a device, not a mount: while a mount configure made is replaced by another
    // one (someone else's, or a later configure's), that one may need the device.
    const replaced = steps.find((s) => s.kind === 'mount' && s.status === 'kept');
    if (rules.length > 0 && container.pid && replaced !== undefined) {
      for (const rule of rules) {
        steps.push({
          kind: 'cgroup',
          what: ruleText(rule),
          status: 'kept',
          reason: `the mount at ${replaced.what} is not configure's any more and may use this device`,
        });
      }
    } else if (rules.length > 0 && container.pid) {
      if (record.cgroup.version === 1) {
        const { version, removed } = await native.cgroupDeny({ procRoot, pid: container.pid, pidStart: container.pidStart, rules });
        const gone = new Set(removed.map(ruleText));
        for (const rule of rules) {
          const text = ruleText(rule);
          if (version !== 1)
            steps.push({ kind: 'cgroup', what: text, status: 'kept', reason: `the container's devices are now governed by cgroup v${version}, not v1` });
          else if (gone.has(text)) steps.push({ kind: 'cgroup', what: text, status: 'undone', reason: 'written to devices.deny' });
          else steps.push({ kind: 'cgroup', what: text, status: 'absent', reason: 'devices.list no longer grants it' });
        }
      } else {
        for (const rule of rules) {
          steps.push({
            kind: 'cgroup',
            what: ruleText(rule),
            status: 'kept',
            reason:
              "cgroup v2: configure replaced the cgroup's device program with one that also allows this device; that cannot be taken back separately, and lasts until the container's cgroup is removed",
          });
        }
      }
    }
  } catch (e) {
    throw fromNative(e);
  }
  return { steps, complete: steps.every((s) => s.status !== 'kept'), notes: [LDCACHE_NOTE] };
}
