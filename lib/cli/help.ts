/** The text of `--help` and `--version`; the global option list here must follow GLOBAL_OPTIONS in args.ts. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import { COMMANDS, type BoundCommand } from './registry';

export function packageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') return pkg.version;
  } catch {
    // fall through
  }
  return 'unknown';
}

export function versionText(): string {
  const version = packageVersion();
  return [`cli-version: ${version}`, `lib-version: ${version}`, `build platform: ${process.platform}/${process.arch}`, `node: ${process.version}`, ''].join(
    '\n',
  );
}

/** `--usage`: the synopsis only, as argp prints it. */
export function usageText(command?: BoundCommand): string {
  if (command !== undefined) return `${command.spec.usage.find((l) => l.trim() !== '') ?? ''}\n`;
  return [
    'Usage: nvc-ts [-k?nV] [-d FILE] [-l FILE] [-r PATH] [-u[UID[:GID]]] [--debug=FILE] [--ldcache=FILE]',
    '              [--load-kmods] [--no-create-imex-channels] [--no-pivot] [--root=PATH] [--user[=UID[:GID]]]',
    '              [--help] [--usage] [--version] COMMAND [ARG...]',
    `Commands: ${COMMANDS.map((c) => c.spec.name).join(', ')}`,
    '',
  ].join('\n');
}

export function helpText(command?: BoundCommand): string {
  const globals = [
    'Global options (before or after the command):',
    '  -r, --root PATH        driver root (default /)',
    '  -l, --ldcache FILE     ld.so.cache inside the driver root (default /etc/ld.so.cache)',
    '      --proc-root PATH   procfs to read (default <root>/proc)',
    '      --dev-root PATH    device nodes to read (default <root>/dev)',
    '      --sys-root PATH    sysfs to read (default /sys)',
    '      --nvml FILE        libnvidia-ml.so.1 to load instead of the one in the ld cache',
    '  -u, --user[=UID[:GID]] identity of the driver service (numbers or names); --user alone: your',
    '                         own effective ids',
    '      --timeout SECONDS  limit for each driver service call',
    '  -d, --debug FILE       append timestamped debug lines to FILE (- or /dev/stderr: stderr)',
    '      --simulate         run against a built-in simulated host (no GPU needed)',
    '  -k, --load-kmods       load nvidia and nvidia-uvm (and make their nodes) first, when not loaded',
    '      --no-create-imex-channels  with -k, make no IMEX channel node for --imex-channel',
    '  -n, --no-pivot         ldconfig enters the rootfs by MS_MOVE + chroot, not pivot_root',
    '                         (for a rootfs on ramfs/initramfs, where pivot_root fails)',
    '  -h, -?, --help         show this help',
    '      --usage            show a short usage message',
    '  -V, --version          show the version',
    'Short global options are read only before the command, as nvidia-container-cli does: after it,',
    "the letters are the command's (-d is --debug before `configure` and --device after it; -u is",
    '--user before it and --utility after it; -n is --no-pivot before and --ngx after; -r and -l are',
    '--root and --ldcache before and --require and --ldconfig after). Long global options may follow',
    'the command.',
  ];
  if (command !== undefined) return [...command.spec.usage, '', ...globals, ''].join('\n');
  return [
    'Usage: nvc-ts [GLOBAL OPTIONS] COMMAND [OPTIONS]',
    '',
    'Discover the NVIDIA driver and GPUs of this host, as nvidia-container-cli does.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(10)} ${c.spec.summary}`),
    '',
    ...globals,
    '',
    'Run `nvc-ts COMMAND --help` for the options of a command.',
    '',
  ].join('\n');
}
