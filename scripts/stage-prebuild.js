'use strict';
// prebuildify copies only the .node file; the helper executables and the mock NVML must sit
// beside it (lib/native.ts looks for them there). Every executable and shared object that the
// native build leaves in build/Release is staged, so a helper added to binding.gyp is packed
// without another list to keep in step.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const release = path.join(root, 'build', 'Release');
// --from-build: make the prebuild folder from the current build without rebuilding (tests: a
// rebuild would overwrite the addon a running test process has loaded, and crash it).
if (process.argv.includes('--from-build')) {
  const libc = process.report?.getReport?.().header?.glibcVersionRuntime ? 'glibc' : 'musl';
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(release, 'nvc_ts.node'), path.join(dir, `nvc-ts.${libc}.node`));
}
if (!fs.existsSync(dir)) throw new Error(`${dir} is missing: prebuildify did not run`);
const staged = [];
for (const entry of fs.readdirSync(release, { withFileTypes: true })) {
  if (!entry.isFile() || entry.name.endsWith('.node')) continue;
  const from = path.join(release, entry.name);
  const executable = (fs.statSync(from).mode & 0o111) !== 0;
  if (!executable && !entry.name.endsWith('.so')) continue;
  fs.copyFileSync(from, path.join(dir, entry.name));
  fs.chmodSync(path.join(dir, entry.name), 0o755);
  staged.push(entry.name);
}
for (const needed of ['nvc-ts-driver', 'nvc-ts-exec', 'nvc-ts-ldconfig', 'nvc-ts-cdi-hook', 'nvc-ts-cli', 'libnvc-mock-nvml.so']) {
  if (!staged.includes(needed)) throw new Error(`${path.join(release, needed)} is missing: run the native build first`);
}
for (const name of staged.sort()) console.log(`staged ${path.relative(root, path.join(dir, name))}`);
