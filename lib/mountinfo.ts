/** /proc/PID/mountinfo, as far as nvc-ts reads it: mount points and file system types. */

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \040, \011, \012, \134. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const [fsType, , superOpts] = line.slice(sep + 3).split(' ');
    if (left[4] === undefined || fsType === undefined) continue;
    out.push({ mountPoint: unescape(left[4]), fsType, superOptions: (superOpts ?? '').split(',') });
  }
  return out;
}
