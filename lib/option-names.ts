/**
 * Hints name options as the library spells them, in backticks (`root`, `timeoutMs`); the CLI
 * shows the same hint with its flags (`--root`, `--timeout`). One table, so that a library user
 * is never told about a flag and a shell user never about an object key.
 */
const FLAG_OF: Record<string, string> = {
  root: '--root',
  ldcache: '--ldcache',
  nvmlPath: '--nvml',
  procRoot: '--proc-root',
  devRoot: '--dev-root',
  sysRoot: '--sys-root',
  timeoutMs: '--timeout (seconds)',
  devices: '--device',
  imexChannels: '--imex-channel',
  migConfig: '--mig-config',
  migMonitor: '--mig-monitor',
  noLdconfig: '--no-ldconfig',
  ldconfig: '--ldconfig',
  force: '--force',
  modulesDir: '--modules-dir',
  cdiVersion: '--cdi-version',
  waitMs: '--wait (seconds)',
};

/** Library-only phrases and what the CLI says instead. */
const CLI_PHRASE: Array<[string, string]> = [
  ['createSimulatedHost() from nvc-ts/testing builds a working host', '`nvc-ts info --simulate` shows a working host'],
  ['runDoctor()', '`nvc-ts doctor`'],
];

/** The hint as the CLI prints it: option names become flags. */
export function hintForCli(hint: string): string {
  let out = hint.replace(/`([A-Za-z][A-Za-z0-9]*)`/g, (whole, name: string) => (FLAG_OF[name] !== undefined ? `\`${FLAG_OF[name]}\`` : whole));
  for (const [lib, cli] of CLI_PHRASE) out = out.split(lib).join(cli);
  return out;
}
