'use strict';
// The package as a user gets it: `npm pack` with prebuilds, installed into an empty project
// whose PATH has no compiler, make or python, then used from the CLI and from TypeScript
// consumers of each module resolution mode.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function run(file, args, options = {}) {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...options });
}

/** A PATH holding node, npm and sh only: an install that needed node-gyp would fail. */
function toolchainFreePath(dir) {
  fs.mkdirSync(dir);
  fs.symlinkSync(process.execPath, path.join(dir, 'node'));
  const npmCli = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  fs.symlinkSync(fs.existsSync(npmCli) ? npmCli : fs.realpathSync(run('sh', ['-c', 'command -v npm']).trim()), path.join(dir, 'npm'));
  fs.symlinkSync('/bin/sh', path.join(dir, 'sh'));
  for (const tool of ['cc', 'gcc', 'make', 'python3', 'node-gyp']) {
    assert.throws(() => run('/bin/sh', ['-c', `command -v ${tool}`], { env: { PATH: dir } }), `${tool} must not be on the test PATH`);
  }
  return dir;
}

const CONSUMER = `
import { init, NvcError, type Capability } from 'nvc-ts';
import { createSimulatedHost, type SimulatedHost } from 'nvc-ts/testing';
import { initOptionsSchema } from 'nvc-ts/schema';
const caps: Capability[] = ['compute'];
export async function probe(): Promise<string> {
  const host: SimulatedHost = await createSimulatedHost();
  try {
    const ctx = await init(host.options);
    try {
      const info = await ctx.driverInfo();
      return info.version + caps.join(',') + String(initOptionsSchema.safeParse({}).success);
    } finally {
      await ctx.shutdown();
    }
  } catch (e) {
    if (e instanceof NvcError) return e.code;
    throw e;
  } finally {
    await host.cleanup();
  }
}
`;

const MODES = {
  node10: { module: 'commonjs', moduleResolution: 'node10', file: 'consumer.ts' },
  node16: { module: 'node16', moduleResolution: 'node16', file: 'consumer.cts' },
  bundler: { module: 'esnext', moduleResolution: 'bundler', file: 'consumer.ts' },
};

describe('package: packed tarball, installed without a toolchain', function () {
  this.timeout(600000);
  let tmp;
  let tarball;
  let project;
  let files;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-pack-'));
    // The prebuild from the current build: `npm run prebuildify` would rebuild build/Release under
    // the addon this test process (and every later test in it) has loaded.
    run(process.execPath, [path.join(root, 'scripts/stage-prebuild.js'), '--from-build'], { cwd: root });
    // prepack would rebuild everything; the test suite has just built dist/ and build/.
    const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: root }));
    tarball = path.join(tmp, packed[0].filename);
    files = packed[0].files.map((f) => f.path);
    project = path.join(tmp, 'app');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const bin = toolchainFreePath(path.join(tmp, 'bin'));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], {
      cwd: project,
      env: { PATH: bin, HOME: tmp, npm_config_cache: path.join(os.homedir(), '.npm'), npm_config_update_notifier: 'false' },
    });
  });

  after(function () {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the tarball has LICENSE, CHANGELOG and the prebuilt helpers, and no tests', function () {
    for (const f of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts'])
      assert.ok(files.includes(f), `${f} is packed`);
    const prebuilt = files.filter((f) => f.startsWith('prebuilds/')).map((f) => path.basename(f));
    for (const f of ['nvc-ts-driver', 'nvc-ts-exec', 'nvc-ts-ldconfig', 'nvc-ts-cdi-hook', 'nvc-ts-cli', 'libnvc-mock-nvml.so'])
      assert.ok(prebuilt.includes(f), `prebuilds carry ${f}`);
    for (const f of ['contrib/systemd/nvc-ts-cdi-refresh.service', 'contrib/systemd/nvc-ts-cdi-refresh.path']) assert.ok(files.includes(f), `${f} is packed`);
    assert.ok(
      prebuilt.some((f) => f.endsWith('.node')),
      'prebuilds carry the addon',
    );
    const tests = files.filter((f) => /^test\/|\/test\/|\.test\.js$/.test(f));
    assert.deepEqual(tests, [], 'no test sources in the tarball');
    assert.match(fs.readFileSync(path.join(root, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
  });

  it('every source map in the tarball points at a source that is packed', function () {
    const maps = files.filter((f) => f.endsWith('.map'));
    assert.ok(maps.length > 0);
    for (const map of maps) {
      const { sources } = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'nvc-ts', map), 'utf8'));
      for (const s of sources) {
        const packedPath = path.posix.normalize(path.posix.join(path.posix.dirname(map), s));
        assert.ok(files.includes(packedPath), `${map} names ${packedPath}, which is packed`);
      }
    }
  });

  it('the installed package loaded its prebuild (no build/ folder) and runs `nvc-ts info --simulate`', function () {
    const pkg = path.join(project, 'node_modules', 'nvc-ts');
    assert.equal(fs.existsSync(path.join(pkg, 'build')), false, 'nothing was compiled at install');
    const out = run(path.join(project, 'node_modules', '.bin', 'nvc-ts'), ['info', '--simulate'], {
      cwd: project,
      env: { PATH: path.join(tmp, 'bin') },
    });
    assert.match(out, /^NVRM version:\s+\d+\.\d+/m);
    assert.match(out, /^Device Index:\s+0$/m);
    // The native client that `nvc-ts paths` names finds the package's Node CLI when no service runs.
    const paths = JSON.parse(
      run(path.join(project, 'node_modules', '.bin', 'nvc-ts'), ['paths', '--json'], { cwd: project, env: { PATH: path.join(tmp, 'bin') } }),
    );
    assert.ok(paths.cli.startsWith(path.join(pkg, 'prebuilds')), paths.cli);
    const viaClient = run(paths.cli, ['info', '--simulate'], {
      cwd: project,
      env: { PATH: path.join(tmp, 'bin'), NVC_TS_SOCKET: path.join(tmp, 'none.sock') },
    });
    assert.match(viaClient, /^Device Index:\s+0$/m);
  });

  for (const [mode, options] of Object.entries(MODES)) {
    it(`a TypeScript consumer compiles against nvc-ts, nvc-ts/testing and nvc-ts/schema (${mode} resolution)`, function () {
      const dir = path.join(project, `consumer-${mode}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, options.file), CONSUMER);
      const tsconfig = {
        compilerOptions: {
          module: options.module,
          moduleResolution: options.moduleResolution,
          target: 'ES2022',
          lib: ['ES2022', 'ESNext.Disposable'],
          strict: true,
          // What `tsc --init` writes; no skipLibCheck, so the package's own .d.ts files are checked.
          esModuleInterop: true,
          noEmit: true,
          typeRoots: [path.join(root, 'node_modules', '@types')],
          types: ['node'],
        },
        files: [options.file],
      };
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
      try {
        run(process.execPath, [tsc, '-p', dir]);
      } catch (e) {
        assert.fail(`tsc (${mode}) failed:\n${e.stdout}${e.stderr}`);
      }
    });
  }
});
