/**
 * What a module file says about itself: its `.modinfo` section (NUL-separated key=value strings),
 * the symbols it needs and exports, and whether a signature is appended.
 */
import { promises as fsp } from 'node:fs';

import { NvcError } from '../errors';
import { decompressModule, type ModuleCompression } from './decompress';
import { parseElf, sectionBytes, undefinedSymbols } from './elf-sections';
import { moduleName } from './names';

export const SIGNATURE_TRAILER = '~Module signature appended~\n';

export interface ModuleInfo {
  /** Module name with underscores (the kernel's spelling). */
  name: string;
  path: string;
  compression: ModuleCompression;
  /** Hard dependencies from `depends=`, normalised. */
  depends: string[];
  /** Modules named by `softdep=pre:`, loaded first when they exist. */
  softdepPre: string[];
  vermagic: string | undefined;
  /** `parm=` entries: name and description. */
  params: Array<{ name: string; description: string }>;
  license: string | undefined;
  version: string | undefined;
  signed: boolean;
  undefinedSymbols: string[];
  exportedSymbols: string[];
}

/** Splits a `.modinfo` section into its key=value pairs, keys repeated as often as they appear. */
export function parseModinfoSection(section: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const entry of section.toString('latin1').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) out.push([entry.slice(0, eq), entry.slice(eq + 1)]);
  }
  return out;
}

function listField(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(moduleName);
}

/** Reads a module from its ELF image (already decompressed). */
export function moduleInfoFromImage(image: Buffer, path: string, compression: ModuleCompression, fileName: string): ModuleInfo {
  const elf = parseElf(image, path);
  const section = sectionBytes(elf, '.modinfo');
  if (section === undefined) {
    throw new NvcError('ERR_NVC_KERNEL_MODULE', `${path} has no .modinfo section`, {
      path,
      hint: 'the file is not a kernel module: remove it or reinstall the driver',
    });
  }
  const pairs = parseModinfoSection(section);
  const first = (key: string): string | undefined => pairs.find(([k]) => k === key)?.[1];
  const softdep = first('softdep') ?? '';
  const pre = /pre:\s*([^:]*?)(?:\s+post:|$)/.exec(softdep)?.[1] ?? '';
  const ksymtabStrings = sectionBytes(elf, '__ksymtab_strings');
  return {
    name: moduleName(first('name') ?? fileName),
    path,
    compression,
    depends: listField(first('depends')),
    // "pre: a b" in kmod's syntax; some modules write "pre: a,b".
    softdepPre: pre
      .split(/[\s,]+/)
      .filter((s) => s !== '')
      .map(moduleName),
    vermagic: first('vermagic'),
    params: pairs
      .filter(([k]) => k === 'parm')
      .map(([, v]) => {
        const colon = v.indexOf(':');
        return colon < 0 ? { name: v, description: '' } : { name: v.slice(0, colon), description: v.slice(colon + 1) };
      }),
    license: first('license'),
    version: first('version'),
    signed: image.subarray(image.length - SIGNATURE_TRAILER.length).toString('latin1') === SIGNATURE_TRAILER,
    undefinedSymbols: undefinedSymbols(elf),
    exportedSymbols:
      ksymtabStrings === undefined
        ? []
        : ksymtabStrings
            .toString('latin1')
            .split('\0')
            .filter((s) => s !== ''),
  };
}

/** Reads a module file (plain, .xz, .zst or .gz). */
export async function readModuleInfo(path: string): Promise<ModuleInfo> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(path);
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    throw new NvcError('ERR_NVC_KERNEL_MODULE', `cannot read module file ${path}`, { path, ...(errno !== undefined && { errno }), syscall: 'open', cause });
  }
  const { image, compression } = await decompressModule(bytes, path);
  const fileName = (path.split('/').pop() ?? path).replace(/\.ko(\.(xz|zst|gz))?$/, '');
  return moduleInfoFromImage(image, path, compression, fileName);
}
