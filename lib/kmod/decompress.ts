/**
 * Module files as the kernel tree ships them: plain, or compressed with xz, zstd or gzip (as kmod's
 * tools and the kernel's MODULE_DECOMPRESS know them). The format is told by its magic bytes, not
 * by the file name.
 */
import { gunzipSync } from 'node:zlib';

import { NvcError } from '../errors';

export type ModuleCompression = 'none' | 'xz' | 'zstd' | 'gzip';

export function compressionOf(bytes: Uint8Array): ModuleCompression {
  const starts = (magic: number[]): boolean => magic.every((b, i) => bytes[i] === b);
  if (starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  if (starts([0x28, 0xb5, 0x2f, 0xfd])) return 'zstd';
  if (starts([0x1f, 0x8b])) return 'gzip';
  return 'none';
}

/** The module's ELF image, whatever it was stored as. */
export async function decompressModule(bytes: Buffer, label: string): Promise<{ image: Buffer; compression: ModuleCompression }> {
  const compression = compressionOf(bytes);
  try {
    switch (compression) {
      case 'none':
        return { image: bytes, compression };
      case 'gzip':
        return { image: gunzipSync(bytes), compression };
      // Loaded on first use: importing nvc-ts should not load a decompressor (or its WebAssembly).
      case 'zstd': {
        const { decompress } = await import('fzstd');
        return { image: Buffer.from(decompress(bytes)), compression };
      }
      case 'xz': {
        const { XzReadableStream } = await import('xz-decompress');
        const stream = new XzReadableStream(new Blob([bytes]).stream());
        return { image: Buffer.from(await new Response(stream).arrayBuffer()), compression };
      }
    }
  } catch (cause) {
    throw new NvcError('ERR_NVC_KERNEL_MODULE', `cannot decompress ${label} (${compression}): ${cause instanceof Error ? cause.message : String(cause)}`, {
      path: label,
      cause,
      hint: 'the file is damaged or truncated: reinstall the module',
    });
  }
}
