'use strict';
// prebuildify copies only the .node file; the helper executables and the mock NVML must sit
// beside it (lib/native.ts looks for them there), so copy them into the same folder.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const release = path.join(root, 'build', 'Release');
for (const file of ['nvc-ts-driver', 'nvc-ts-exec', 'nvc-ts-ldconfig', 'nvc-ts-cdi-hook', 'libnvc-mock-nvml.so']) {
  const from = path.join(release, file);
  if (!fs.existsSync(from)) throw new Error(`${from} is missing: run the native build first`);
  fs.copyFileSync(from, path.join(dir, file));
  fs.chmodSync(path.join(dir, file), 0o755);
  console.log(`staged ${path.relative(root, path.join(dir, file))}`);
}
