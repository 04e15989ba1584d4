/**
 * The system calls that change the kernel or /dev, behind one interface so that the loader and
 * the node creator can be driven by a recording fake in tests. The real layer runs each call on
 * the libuv pool (native/addon/kmod.cc); chown and chmod are Node's own, already asynchronous.
 *
 * Compressed modules: when the kernel says (<sys>/module/compression) it can undo the module's
 * compression, the file goes through finit_module with MODULE_INIT_COMPRESSED_FILE, which keeps
 * fd-based policies (LoadPin, IMA) working; otherwise we decompress here and use init_module with
 * the image, which every kernel supports (a signature appended before compression stays inside
 * the image, so signature checking is unaffected).
 */
import { promises as fsp } from 'node:fs';

import { binding } from '../native';
import { fromNative } from '../native-errors';

export const MODULE_INIT_COMPRESSED_FILE = 4;

export interface KmodSyscalls {
  finitModule(path: string, params: string, flags: number): Promise<void>;
  initModule(image: Uint8Array, params: string, label: string): Promise<void>;
  deleteModule(name: string): Promise<void>;
  /** A character device node with these permission bits. */
  mknod(path: string, mode: number, major: number, minor: number): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
}

async function native<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw fromNative(e);
  }
}

export function nativeSyscalls(): KmodSyscalls {
  const b = binding();
  return {
    finitModule: (path, params, flags) => native(() => b.finitModule({ path, params, flags })),
    initModule: (image, params, label) => native(() => b.initModule({ image, params, label })),
    deleteModule: (name) => native(() => b.deleteModule({ name })),
    mknod: (path, mode, major, minor) => native(() => b.mknod({ path, mode, major, minor })),
    symlink: (target, path) => native(() => b.symlink({ target, path })),
    chown: (path, uid, gid) => fsp.chown(path, uid, gid),
    chmod: (path, mode) => fsp.chmod(path, mode),
  };
}
