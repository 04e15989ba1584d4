/**
 * Directories inside a root filesystem, reached by an fd-based walk: each component is opened
 * with O_NOFOLLOW relative to its parent's descriptor (through /proc/self/fd), a symlink is read
 * and resolved against the root (absolute targets restart at the root, `..` stops there), and
 * files are created, renamed and removed relative to the directory's descriptor. A hostile
 * image's symlinks can move a write only to another place inside the image, never onto the host,
 * and a directory once opened cannot be swapped for a link under our feet.
 */
import { constants, promises as fsp } from 'node:fs';
import { NvcError } from '../errors';

const MAX_LINKS = 40;
const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

export function fdPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

function code(e: unknown): string {
  return (e as NodeJS.ErrnoException | null)?.code ?? '';
}

export function checkName(name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `'${name}' is not a file name`);
  }
  return name;
}

/** An open directory inside the root, and the path it was reached by (as the root sees it). */
export class InRootDir {
  constructor(
    readonly handle: fsp.FileHandle,
    readonly path: string,
  ) {}
  get fd(): number {
    return this.handle.fd;
  }
  at(name: string): string {
    return fdPath(this.fd, checkName(name));
  }
  close(): Promise<void> {
    return this.handle.close();
  }
}

export class RootDir {
  private constructor(
    readonly root: string,
    private readonly rootHandle: fsp.FileHandle,
  ) {}

  static async open(root: string): Promise<RootDir> {
    try {
      return new RootDir(root, await fsp.open(root, constants.O_RDONLY | constants.O_DIRECTORY));
    } catch (e) {
      throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `root filesystem ${root} is not a directory that can be opened (${code(e) || String(e)})`, {
        field: 'rootfs',
        path: root,
        errno: code(e),
      });
    }
  }

  close(): Promise<void> {
    return this.rootHandle.close();
  }

  /**
   * The directory at `inside` (an absolute path as the root sees it). Missing components are made
   * (mode 0755, owned by root) when `created` is given, and their paths pushed to it in order;
   * otherwise a missing component gives null.
   */
  async dir(inside: string, created?: string[]): Promise<InRootDir | null> {
    const pending = inside.split('/').filter((c) => c !== '' && c !== '.');
    // The walk's open directories; index 0 is the root, never closed here.
    const stack: Array<{ handle: fsp.FileHandle; name: string }> = [{ handle: this.rootHandle, name: '' }];
    let links = 0;
    const release = async (keepTop: boolean) => {
      const top = stack.length - 1;
      for (let i = stack.length - 1; i >= 1; i--) if (!(keepTop && i === top)) await (stack[i] as { handle: fsp.FileHandle }).handle.close();
    };
    const here = () =>
      '/' +
      stack
        .slice(1)
        .map((s) => s.name)
        .join('/');
    try {
      while (pending.length > 0) {
        const part = pending.shift() as string;
        const parent = stack[stack.length - 1] as { handle: fsp.FileHandle };
        if (part === '..') {
          if (stack.length > 1) await (stack.pop() as { handle: fsp.FileHandle }).handle.close();
          continue;
        }
        try {
          stack.push({ handle: await fsp.open(fdPath(parent.handle.fd, part), O_DIR), name: part });
          continue;
        } catch (e) {
          const c = code(e);
          if (c === 'ENOENT') {
            if (created === undefined) {
              await release(false);
              return null;
            }
            await fsp.mkdir(fdPath(parent.handle.fd, part), 0o755);
            const made = await fsp.open(fdPath(parent.handle.fd, part), O_DIR);
            if (typeof process.geteuid !== 'function' || process.geteuid() === 0) await made.chown(0, 0);
            await made.chmod(0o755);
            stack.push({ handle: made, name: part });
            created.push(here());
            continue;
          }
          if (c !== 'ELOOP' && c !== 'ENOTDIR') throw e;
        }
        const st = await fsp.lstat(fdPath(parent.handle.fd, part));
        if (!st.isSymbolicLink()) {
          throw new NvcError('ERR_NVC_FILE_EXISTS', `${here() === '/' ? '' : here()}/${part} in ${this.root} is not a directory`, {
            path: `${here() === '/' ? '' : here()}/${part}`,
            hint: 'the image has a file where a directory of the driver goes: remove it or choose another library directory',
          });
        }
        if (++links > MAX_LINKS) throw new NvcError('ERR_NVC_PATH_ESCAPE', `${inside} in ${this.root}: too many symbolic links`, { path: inside });
        const target = await fsp.readlink(fdPath(parent.handle.fd, part));
        if (target.startsWith('/')) {
          while (stack.length > 1) await (stack.pop() as { handle: fsp.FileHandle }).handle.close();
        }
        pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      }
      if (stack.length === 1) return new InRootDir(await fsp.open(fdPath(this.rootHandle.fd), constants.O_RDONLY | constants.O_DIRECTORY), '/');
      await release(true);
      const top = stack[stack.length - 1] as { handle: fsp.FileHandle };
      return new InRootDir(top.handle, here());
    } catch (e) {
      await release(false);
      throw e;
    }
  }
}
