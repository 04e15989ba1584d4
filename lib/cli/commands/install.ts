/**
 * `nvc-ts install --into ROOTFS` and `nvc-ts uninstall --from ROOTFS`: copy mode, for VM guests
 * and image builders. Files, not mounts; a stamp at /etc/nvc-ts/driver.json says which driver.
 */
import * as path from 'node:path';
import type { InstallOutcome } from '../../install/install';
import type { UninstallOutcome } from '../../install/uninstall';
import type { InstallRequestInput } from '../../schema';
import { UsageError } from '../format-error';
import type { CommandSession, CommandSpec, OptionValues } from '../types';
import { CAPABILITY_OPTIONS, parseCapabilities } from './configure';

export interface InstallFlags {
  rootfs: string;
  request: InstallRequestInput;
  json: boolean;
}

function rootfsOf(values: OptionValues, option: string): string {
  const v = values[option];
  if (typeof v !== 'string' || v === '')
    throw new UsageError(`option --${option} needs the root filesystem to ${option === 'into' ? 'install into' : 'uninstall from'}`);
  const abs = path.resolve(v);
  if (abs === '/') throw new UsageError(`option --${option} must not be / (the host root)`);
  return abs;
}

function dirOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !v.startsWith('/')) throw new UsageError(`option --${name} needs an absolute path inside the root filesystem`);
  return v;
}

export function formatInstall(r: InstallOutcome): string {
  const lines: string[] = [];
  if (!r.applied) {
    lines.push(`would install into ${r.rootfs}:`);
    for (const e of r.plan.entries)
      lines.push(`  ${e.kind === 'symlink' ? `${e.path} -> ${e.target}` : e.kind === 'copy' ? `${e.path} <- ${e.source}` : `${e.path} (written)`}`);
    return `${lines.join('\n')}\n`;
  }
  const s = r.stamp;
  const files = s?.files.length ?? 0;
  const links = s?.links?.length ?? 0;
  lines.push(
    `installed driver ${s?.driverVersion} (${(s?.capabilities ?? []).join(', ') || 'no capability'}) into ${r.rootfs}: ${files} files, ${links} links; stamp /etc/nvc-ts/driver.json`,
  );
  return `${lines.join('\n')}\n`;
}

export const installCommand: CommandSpec<InstallFlags> = {
  name: 'install',
  summary: 'Copy the user-space driver into a root filesystem (VM guests, images), with a version stamp',
  usage: [
    'nvc-ts [GLOBAL OPTIONS] install --into ROOTFS [OPTIONS]',
    '',
    '  -c, --compute  -u, --utility  -v, --video  -g, --graphics  -D, --display  -n, --ngx  --compat32',
    '      --capabilities LIST  the same as a comma list (or all); default: none (firmware only)',
    '      --libs-dir DIR  --libs32-dir DIR  --bins-dir DIR   where files go (default: by the image layout)',
    '  -l, --ldconfig PATH      ldconfig to run: @/host/path or a path in the image',
    "      --no-ldconfig        leave the image's ld.so.cache alone",
    '      --no-gsp-firmware    no GSP firmware',
    "      --modules RELEASE    also the driver's kernel modules for a guest kernel (lib/modules/RELEASE/extra,",
    '                           vermagic checked, depmod run); --modules-dir DIR where they are',
    '      --dry-run            print what would be written',
    '      --json               print the result (and the stamp) as JSON',
    '',
    '  Staged inside ROOTFS and renamed into place; on failure ROOTFS is left as it was. A driver file',
    '  that is a link out of the driver root, or not a regular file, is skipped with a warning.',
  ],
  options: {
    into: { type: 'string' },
    ...CAPABILITY_OPTIONS,
    'libs-dir': { type: 'string' },
    'libs32-dir': { type: 'string' },
    'bins-dir': { type: 'string' },
    modules: { type: 'string' },
    'modules-dir': { type: 'string' },
    ldconfig: { type: 'string', short: 'l' },
    'no-ldconfig': { type: 'boolean' },
    'no-gsp-firmware': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  parse(values: OptionValues): InstallFlags {
    const rootfs = rootfsOf(values, 'into');
    const { capabilities, compat32 } = parseCapabilities(values);
    const ldconfig = typeof values['ldconfig'] === 'string' ? values['ldconfig'] : undefined;
    if (ldconfig !== undefined && !/^@?\//.test(ldconfig))
      throw new UsageError(`option --ldconfig needs an absolute path (@ for a host binary), not '${ldconfig}'`);
    const libsDir = dirOption(values, 'libs-dir');
    const libs32Dir = dirOption(values, 'libs32-dir');
    const binsDir = dirOption(values, 'bins-dir');
    const modules = typeof values['modules'] === 'string' ? values['modules'] : undefined;
    const modulesDir = typeof values['modules-dir'] === 'string' ? path.resolve(values['modules-dir']) : undefined;
    return {
      rootfs,
      json: values['json'] === true,
      request: {
        capabilities,
        compat32: compat32 || values['compat32'] === true,
        noGspFirmware: values['no-gsp-firmware'] === true,
        noLdconfig: values['no-ldconfig'] === true,
        dryRun: values['dry-run'] === true,
        ...(libsDir !== undefined && { libsDir }),
        ...(libs32Dir !== undefined && { libs32Dir }),
        ...(binsDir !== undefined && { binsDir }),
        ...(ldconfig !== undefined && { ldconfig }),
        ...(modules !== undefined && { modules }),
        ...(modulesDir !== undefined && { modulesDir }),
      },
    };
  },
  async run(session: CommandSession, flags: InstallFlags): Promise<void> {
    const ctx = await session.context();
    const result = await session.phase('container', () => ctx.install(flags.rootfs, flags.request));
    session.write(
      flags.json
        ? `${JSON.stringify({ schemaVersion: 1, ...result, plan: { entries: result.plan.entries.map(({ ...e }) => ('item' in e ? { kind: e.kind, path: e.path, source: e.source } : e)) } }, null, 2)}\n`
        : formatInstall(result),
    );
    for (const w of result.warnings) session.warn(w);
  },
};

export interface UninstallFlags {
  rootfs: string;
  force: boolean;
  json: boolean;
}

export function formatUninstall(r: UninstallOutcome): string {
  return `removed ${r.removed.length} files and links from ${r.rootfs}${r.restored.length ? `, restored ${r.restored.join(', ')}` : ''}\n`;
}

export const uninstallCommand: CommandSpec<UninstallFlags> = {
  name: 'uninstall',
  summary: 'Remove what `install` wrote into a root filesystem, by its stamp',
  usage: [
    'nvc-ts uninstall --from ROOTFS [--force] [--json]',
    '',
    '  Refuses files changed since installation (named) unless --force; restores what install replaced.',
  ],
  options: {
    from: { type: 'string' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  parse(values: OptionValues): UninstallFlags {
    return { rootfs: rootfsOf(values, 'from'), force: values['force'] === true, json: values['json'] === true };
  },
  async run(session: CommandSession, flags: UninstallFlags): Promise<void> {
    const { uninstallDriver } = await import('../../install/uninstall');
    const result = await session.phase('container', () => uninstallDriver(flags.rootfs, { force: flags.force }));
    session.write(flags.json ? `${JSON.stringify({ schemaVersion: 1, ...result }, null, 2)}\n` : formatUninstall(result));
    for (const w of result.warnings) session.warn(w);
  },
};
