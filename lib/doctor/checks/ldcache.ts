/**
 * The driver root's ld.so.cache: present, readable, and not older than the driver's libraries.
 * A stale cache leads discovery (and every program) to an old driver's libraries, or to none.
 */
import { promises as fsp } from 'node:fs';
import { result, type Check } from '../check';
import type { EvidenceValue } from '../types';

export const ldcacheCheck: Check = {
  id: 'ldcache',
  scope: 'host',
  async run(view) {
    const cache = await view.ldcache();
    const evidence: Record<string, EvidenceValue> = {};
    const regenerate = `run \`ldconfig\`${view.paths.root === '/' ? '' : ` (for this driver root: \`ldconfig -r ${view.paths.root}\`)`}; a driver installer normally does this.`;
    if (!('records' in cache)) {
      evidence[cache.path] = cache.error;
      return result('ldcache', 'fail', `${cache.path} is unusable: ${cache.error}`, evidence, regenerate);
    }
    const st = await fsp.stat(cache.path);
    evidence[cache.path] = `${cache.records.length} entries, modified ${st.mtime.toISOString()}`;
    const libs = await view.cachedDriverLibraries();
    if (libs.length === 0) return result('ldcache', 'fail', `${cache.path} names no NVIDIA driver library`, evidence, `install the driver, or ${regenerate}`);
    const dangling = libs.filter((l) => l.file === null).map((l) => `${l.soname} -> ${l.cachePath}`);
    const newer: string[] = [];
    for (const lib of libs) {
      if (lib.file === null) continue;
      const lst = await fsp.stat(view.inRoot(lib.file)).catch(() => null);
      if (lst !== null && lst.mtimeMs > st.mtimeMs + 1000) newer.push(`${lib.file} (${lst.mtime.toISOString()})`);
    }
    if (dangling.length) evidence['entries that do not resolve'] = dangling;
    if (newer.length) evidence['libraries newer than the cache'] = newer;
    if (dangling.length || newer.length) {
      return result(
        'ldcache',
        'fail',
        `${cache.path} is stale: ${[dangling.length && `${dangling.length} driver entries point at missing files`, newer.length && `${newer.length} driver libraries are newer than it`].filter(Boolean).join(', ')}`,
        evidence,
        regenerate,
      );
    }
    return result('ldcache', 'pass', `${cache.path} names ${libs.length} driver libraries, all present and not newer than the cache`, evidence);
  },
};
