/**
 * nvidia-smi as the driver root has it, and ldconfig as this machine has it. A wrapper script in place of nvidia-smi (as some
 * distributions and the GPU machines ship) fails when mounted into a container; ldconfig is
 * what configure runs to make the driver's libraries findable in a container.
 */
import { promises as fsp } from 'node:fs';
import { result, worst, type Check } from '../check';
import type { CheckStatus, EvidenceValue } from '../types';

type Kind =
  { kind: 'elf' } | { kind: 'script'; interpreter: string; execs: string | null } | { kind: 'other' } | { kind: 'missing' } | { kind: 'not executable' };

async function executableKind(file: string): Promise<Kind> {
  let handle;
  try {
    const st = await fsp.stat(file);
    if (!st.isFile()) return { kind: 'other' };
    if ((st.mode & 0o111) === 0) return { kind: 'not executable' };
    handle = await fsp.open(file, 'r');
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const head = buf.subarray(0, bytesRead);
    if (head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return { kind: 'elf' };
    if (head.subarray(0, 2).toString('latin1') === '#!') {
      const text = head.toString('utf8');
      const interpreter = text.slice(2, text.indexOf('\n') < 0 ? undefined : text.indexOf('\n')).trim();
      const execs = /\bexec\s+(?:-a\s+\S+\s+)?["']?([^\s"']+)/.exec(text)?.[1] ?? null;
      return { kind: 'script', interpreter, execs };
    }
    return { kind: 'other' };
  } catch {
    return { kind: 'missing' };
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function describe(k: Kind): string {
  if (k.kind === 'script') return `script (${k.interpreter})${k.execs ? ` that execs ${k.execs}` : ''}`;
  if (k.kind === 'elf') return 'ELF executable';
  return k.kind;
}

export const binariesCheck: Check = {
  id: 'binaries',
  scope: 'host',
  async run(view) {
    const evidence: Record<string, EvidenceValue> = {};
    const statuses: CheckStatus[] = [];
    const findings: string[] = [];
    const fixes: string[] = [];
    const smi: Array<[string, Kind]> = [];
    for (const p of ['/usr/bin/nvidia-smi', '/usr/sbin/nvidia-smi']) {
      const k = await executableKind(view.inRoot(p));
      if (k.kind !== 'missing') smi.push([p, k]);
      evidence[view.inRoot(p)] = describe(k);
    }
    const elf = smi.find(([, k]) => k.kind === 'elf');
    const script = smi.find(([, k]) => k.kind === 'script');
    if (smi.length === 0) {
      statuses.push('warn');
      findings.push('nvidia-smi is in neither /usr/bin nor /usr/sbin');
      fixes.push('install the driver utilities (nvidia-smi) if containers should have it');
    } else if (!elf && script) {
      const [p, k] = script;
      statuses.push('warn');
      findings.push(`${p} is a wrapper ${describe(k)}: mounted into a container it fails`);
      fixes.push(
        `nvc-ts mounts the ELF binary from the driver's own bin directory instead${k.kind === 'script' && k.execs ? ` (${k.execs})` : ''}; other tools mount the script`,
      );
    } else {
      findings.push(`nvidia-smi: ${smi.map(([p, k]) => `${p} (${describe(k)})`).join(', ')}`);
    }
    // The ldconfig configure runs by default (`@/sbin/ldconfig[.real]`) is this machine's, whatever the driver root.
    const ldconfigs: Array<[string, Kind]> = [];
    for (const p of ['/sbin/ldconfig', '/sbin/ldconfig.real', '/usr/sbin/ldconfig']) {
      const k = await executableKind(p);
      evidence[p] = describe(k);
      if (k.kind === 'elf' || k.kind === 'script') ldconfigs.push([p, k]);
    }
    if (ldconfigs.length === 0) {
      statuses.push('fail');
      findings.push('no runnable ldconfig in /sbin or /usr/sbin');
      fixes.push("install libc-bin (ldconfig); configure needs it to update a container's ld.so.cache (or pass --no-ldconfig)");
    } else {
      const real = ldconfigs.find(([, k]) => k.kind === 'elf');
      findings.push(real ? `ldconfig: ${real[0]} (ELF)` : `ldconfig: only scripts (${ldconfigs.map(([p]) => p).join(', ')})`);
      if (!real) statuses.push('warn');
    }
    const status = worst(statuses.length ? statuses : ['pass']);
    return result('binaries', status, findings.join('; '), evidence, fixes.length ? `${fixes.join('; ')}.` : undefined);
  },
};
