'use strict';
// `nvc-ts serve` and its native client nvc-ts-cli on a simulated host: the client's output and
// exit status are the Node CLI's byte for byte; configure and hook go through the service; the
// client falls back to the Node CLI without a service; the service refuses callers it does not
// allow, survives malformed requests, and a service killed mid-configure leaves no mount.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { requireFeature, isRoot } = require('./support/features');
const { makeRootfs, startContainer, mountsUnder } = require('./support/container');
const { waitFor, alive, childrenOf } = require('./support/proc');

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin/nvc-ts.js');
// The client beside the addon the package loads (build/Release, or prebuilds/ once packed).
const CLIENT = path.join(path.dirname(require('node-gyp-build').resolve(ROOT)), 'nvc-ts-cli');
const LIBDIR = '/usr/lib/x86_64-linux-gnu';

/** Runs a program; resolves to { status, signal, stdout, stderr } (stdout/stderr as Buffers). */
function run(file, args, { env = process.env, input, uid, gid } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'], ...(uid !== undefined && { uid, gid }) });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

const node = (args, opts) => run(process.execPath, [BIN, ...args], opts);

/** A service on its own socket; resolves once it listens. */
async function startService(globals, { socket, extra = [], env = process.env, debugFile } = {}) {
  const args = [BIN, ...globals, ...(debugFile ? ['--debug', debugFile] : []), 'serve', '--socket', socket, ...extra];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let errText = '';
  child.stderr.on('data', (c) => (errText += c));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => (/listening on/.test(String(d)) ? resolve() : reject(new Error(String(d)))));
    exited.then(({ code }) => reject(new Error(`serve exited ${code}: ${errText}`)));
  });
  return {
    pid: child.pid,
    child,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Sends raw bytes to the socket; resolves to what came back before the service closed. */
function rawExchange(socket, bytes) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const c = net.connect(socket, () => c.end(bytes));
    c.on('data', (d) => chunks.push(d));
    c.on('error', reject);
    c.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

function frame(type, body = Buffer.alloc(0)) {
  const h = Buffer.alloc(12);
  h.write('NVCS', 0, 'latin1');
  h.writeUInt16LE(1, 4);
  h.writeUInt16LE(type, 6);
  h.writeUInt32LE(body.length, 8);
  return Buffer.concat([h, body]);
}

/** The message of an ERROR frame (type 5). */
function errorText(reply) {
  assert.ok(reply.length >= 16, `no reply (${reply.length} bytes)`);
  assert.equal(reply.subarray(0, 4).toString('latin1'), 'NVCS');
  assert.equal(reply.readUInt16LE(6), 5, `frame type ${reply.readUInt16LE(6)}`);
  return reply.subarray(16, 16 + reply.readUInt32LE(12)).toString('utf8');
}

describe('nvc-ts serve and the native client', function () {
  this.timeout(120000);
  let host;
  let globals;
  let dir;
  let socket;
  let service;
  let env;

  before(async function () {
    requireFeature(this, 'root', isRoot(), 'the service creates a root-owned socket and configures containers');
    assert.ok(fs.existsSync(CLIENT), `${CLIENT} is built by binding.gyp`);
    host = await createSimulatedHost();
    const o = host.options;
    globals = ['--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot];
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-serve-'));
    // Open to other users, so that the socket's own mode and the peer check are what let them in or not.
    fs.chmodSync(dir, 0o755);
    socket = path.join(dir, 'nvc-ts.sock');
    env = { ...process.env, NVC_TS_SOCKET: socket };
    service = await startService(globals, { socket, debugFile: path.join(dir, 'service.log') });
  });
  after(async () => {
    if (service) await service.stop();
    if (host) await host.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates its socket 0600, owned by root, and answers serve --check', async () => {
    const st = fs.statSync(socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, 0);
    const check = await node(['serve', '--check', '--socket', socket]);
    assert.equal(check.status, 0, String(check.stderr));
    const doc = JSON.parse(String(check.stdout));
    assert.equal(doc.pid, service.pid);
    assert.equal(doc.driverVersion, '580.159.04');
  });

  const SHAPES = [
    ['info'],
    ['info', '--csv'],
    ['info', '--json'],
    ['list'],
    ['list', '--libraries', '--binaries'],
    ['list', '--device=0,2', '--compute', '--utility'],
    ['list', '--device=all', '--ipcs', '--firmwares', '--json'],
    ['list', '--device=9'],
    ['info', '--bogus'],
    ['frobnicate'],
    ['configure', 'relative/rootfs'],
    ['configure', '--capabilities', 'compute,gfx', '/nonexistent-rootfs'],
    ['configure', '--pid', '999999999', '--device=0', '/nonexistent-rootfs'],
    ['configure', '--device=7', '--compute', '/nonexistent-rootfs'],
    ['--version'],
    ['--help'],
  ];
  for (const shape of SHAPES) {
    it(`gives the Node CLI's stdout, stderr and exit status for ${shape.join(' ')}`, async () => {
      const viaClient = await run(CLIENT, [...globals, ...shape], { env });
      const viaNode = await node([...globals, ...shape]);
      assert.equal(viaClient.status, viaNode.status, String(viaClient.stderr));
      assert.ok(viaClient.stdout.equals(viaNode.stdout), `stdout differs:\n${viaClient.stdout}\n---\n${viaNode.stdout}`);
      assert.ok(viaClient.stderr.equals(viaNode.stderr), `stderr differs:\n${viaClient.stderr}\n---\n${viaNode.stderr}`);
    });
  }

  it('answered those through the service, with the service context and a metrics line per request', async () => {
    const before = fs
      .readFileSync(path.join(dir, 'service.log'), 'utf8')
      .split('\n')
      .filter((l) => / request #\d+: /.test(l)).length;
    const r = await run(CLIENT, [...globals, '--debug', '-', 'info'], { env });
    assert.equal(r.status, 0, String(r.stderr));
    assert.match(String(r.stderr), /initialization: the service context/);
    const lines = fs
      .readFileSync(path.join(dir, 'service.log'), 'utf8')
      .split('\n')
      .filter((l) => / request #\d+: /.test(l));
    assert.equal(lines.length, before + 1);
    assert.match(lines.at(-1), /uid 0 argv .*"info".* exit 0 in [\d.]+ ms \(initialization [\d.]+ ms, detection [\d.]+ ms/);
  });

  it("resolves relative host paths against the client's working directory", async () => {
    const o = host.options;
    const rel = [
      '--root',
      path.relative(dir, o.root),
      '--ldcache',
      o.ldcache,
      '--proc-root',
      path.relative(dir, o.procRoot),
      '--dev-root',
      o.devRoot,
      '--sys-root',
      o.sysRoot,
    ];
    const viaClient = await new Promise((resolve) => {
      const child = spawn(CLIENT, [...rel, 'info', '--csv'], { env, cwd: dir });
      const out = [];
      child.stdout.on('data', (c) => out.push(c));
      child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out) }));
    });
    const viaNode = await node([...globals, 'info', '--csv']);
    assert.equal(viaClient.status, 0);
    assert.ok(viaClient.stdout.equals(viaNode.stdout));
    // Other commands run in the service only from its own directory; elsewhere the client runs them.
    const doctor = await new Promise((resolve) => {
      const child = spawn(CLIENT, [...globals, '--debug=-', 'doctor', '--json'], { env, cwd: dir });
      let err = '';
      child.stderr.on('data', (c) => (err += c));
      child.on('close', () => resolve(err));
    });
    assert.match(doctor, /declined: 'doctor' runs in the service only from the service's directory/);
  });

  it('reports a broken or foreign reply cleanly, without running the command twice', async () => {
    const replies = {
      'bad magic': Buffer.from('HTTP/1.0 200 OK\r\n\r\nhello'),
      'cut short': frame(4, Buffer.from([0, 0, 0])),
      'lengths that do not add up': frame(4, Buffer.concat([Buffer.alloc(4), Buffer.from([0xff, 0xff, 0, 0]), Buffer.alloc(4)])),
      'over the bound': (() => {
        const f = frame(4);
        f.writeUInt32LE(0xffffffff, 8);
        return f;
      })(),
      'unknown type': frame(42),
      nothing: Buffer.alloc(0),
    };
    const expected = {
      'bad magic': /answered something that is not an nvc-ts reply of version 1/,
      'cut short': /sent a malformed result/,
      'lengths that do not add up': /sent a malformed result/,
      'over the bound': /answered something that is not an nvc-ts reply/,
      'unknown type': /sent an unknown frame type 42/,
      nothing: /closed the connection before answering/,
    };
    for (const [name, reply] of Object.entries(replies)) {
      const sock = path.join(dir, 'fake.sock');
      fs.rmSync(sock, { force: true });
      let requests = 0;
      const fake = net.createServer((c) => {
        requests++;
        c.on('error', () => {});
        c.once('data', () => c.end(reply));
      });
      await new Promise((resolve) => fake.listen(sock, resolve));
      try {
        const r = await run(CLIENT, ['info'], { env: { ...process.env, NVC_TS_SOCKET: sock } });
        assert.equal(r.status, 1, `${name}: ${r.stderr}`);
        assert.match(String(r.stderr), expected[name], name);
        assert.equal(String(r.stdout), '', name);
        assert.equal(requests, 1, `${name}: asked once, never run again through the Node CLI`);
      } finally {
        await new Promise((resolve) => fake.close(resolve));
      }
    }
  });

  it('configures a container through the service', async () => {
    const rootfs = makeRootfs();
    const cnt = await startContainer();
    try {
      const r = await run(CLIENT, [...globals, 'configure', '--pid', String(cnt.pid), '--device=0', '--compute', '--utility', '--no-ldconfig', rootfs], {
        env,
      });
      assert.equal(r.status, 0, String(r.stderr));
      const mounts = mountsUnder(cnt.pid, rootfs);
      assert.ok(mounts.has('/dev/nvidia0'));
      assert.ok(mounts.has(`${LIBDIR}/libcuda.so.580.159.04`));
      assert.ok(!mounts.has('/dev/nvidia1'));
    } finally {
      await cnt.stop();
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  });

  it('logs where a configure through the service spent its time: planning, helpers, mounts, ldconfig', async () => {
    const rootfs = makeRootfs();
    const cnt = await startContainer();
    const log = path.join(dir, 'service.log');
    const before = fs.readFileSync(log, 'utf8').split('\n').length;
    try {
      const r = await run(CLIENT, [...globals, 'configure', '--pid', String(cnt.pid), '--device=0', '--compute', '--utility', rootfs], { env });
      assert.equal(r.status, 0, String(r.stderr));
      const lines = fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .slice(before - 1);
      const done = lines.find((l) => /request #\d+: .*"configure".* exit 0/.test(l));
      assert.ok(done, lines.join('\n'));
      const id = / request #(\d+): /.exec(done)[1];
      const metrics = lines.find((l) => l.includes(`request #${id}: metrics: `));
      assert.ok(metrics, `no metrics line for request #${id}:\n${lines.join('\n')}`);
      const m = /metrics: plan ([\d.]+) ms, helpers ([\d.]+) ms, mounts ([\d.]+) ms, ldconfig ([\d.]+) ms$/.exec(metrics);
      assert.ok(m, metrics);
      const [plan, helpers, mounts, ldconfig] = m.slice(1).map(Number);
      // Each part was measured (the executor timed its own edits; ldconfig ran): none is left at zero.
      for (const [name, v] of Object.entries({ plan, helpers, mounts, ldconfig })) assert.ok(Number.isFinite(v) && v > 0, `${name} ${v}: ${metrics}`);
      // A request that configures nothing has no such line.
      const info = await run(CLIENT, [...globals, 'info', '--csv'], { env });
      assert.equal(info.status, 0);
      const after = fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .slice(before - 1);
      assert.equal(after.filter((l) => / metrics: /.test(l)).length, 1, after.join('\n'));
    } finally {
      await cnt.stop();
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  });

  it('bounds a whole request: a configure whose executor hangs ends with a timeout error at --request-timeout, leaving no mount', async () => {
    // The executor's start hangs (as a namespace entry that blocks would) until the service stops it.
    const mark = path.join(dir, 'hang-started');
    const wrapper = path.join(dir, 'hang-exec.sh');
    const realExec = path.join(path.dirname(CLIENT), 'nvc-ts-exec');
    fs.writeFileSync(
      wrapper,
      `#!/bin/sh\ntrap 'kill $! 2>/dev/null; echo stopped > ${mark}.end; exit 143' TERM\ntouch ${mark}\nsleep 60 &\nwait $!\nexec ${realExec} "$@"\n`,
      {
        mode: 0o755,
      },
    );
    const sock = path.join(dir, 'bound.sock');
    const log = path.join(dir, 'bound.log');
    const svc = await startService(globals, { socket: sock, env: { ...process.env, NVC_TS_EXEC: wrapper }, extra: ['--request-timeout', '2'], debugFile: log });
    const rootfs = makeRootfs();
    const cnt = await startContainer();
    try {
      const r = await run(CLIENT, [...globals, 'configure', '--pid', String(cnt.pid), '--device=0', '--compute', '--utility', '--no-ldconfig', rootfs], {
        env: { ...process.env, NVC_TS_SOCKET: sock, NVC_TS_EXEC: wrapper },
      });
      assert.ok(fs.existsSync(mark), 'the executor was started');
      assert.equal(r.status, 1, String(r.stderr));
      assert.match(String(r.stderr), /did not finish within \d+ ms and was (stopped|killed)/);
      assert.ok(await waitFor(() => fs.existsSync(`${mark}.end`), 10000), 'the hung executor was told to stop');
      assert.equal(mountsUnder(cnt.pid, rootfs).size, 0, [...mountsUnder(cnt.pid, rootfs).keys()].join(', '));
      assert.match(fs.readFileSync(log, 'utf8'), /request #\d+: .*"configure".* exit 1 in/);
      // The service goes on answering.
      const check = await node(['serve', '--check', '--socket', sock]);
      assert.equal(check.status, 0, String(check.stderr));
    } finally {
      await svc.stop();
      await cnt.stop();
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  });

  it('refuses a --request-timeout that is not a positive number of seconds', async () => {
    for (const bad of ['0', '-1', 'soon', '1e9']) {
      const r = await node([...globals, 'serve', '--socket', path.join(dir, 'never.sock'), '--request-timeout', bad]);
      assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
      assert.match(String(r.stderr), /--request-timeout takes a number of seconds/);
    }
  });

  it('with no service, runs the Node CLI with the same argv (saying so only under --debug)', async () => {
    const gone = { ...process.env, NVC_TS_SOCKET: path.join(dir, 'no-such.sock') };
    const viaClient = await run(CLIENT, [...globals, 'info', '--csv'], { env: gone });
    const viaNode = await node([...globals, 'info', '--csv']);
    assert.equal(viaClient.status, 0, String(viaClient.stderr));
    assert.ok(viaClient.stdout.equals(viaNode.stdout));
    assert.equal(String(viaClient.stderr), '');
    const debug = await run(CLIENT, [...globals, '--debug=-', 'info'], { env: gone });
    assert.equal(debug.status, 0);
    assert.match(String(debug.stderr), /no service \(.*no-such\.sock: No such file or directory\): running the Node CLI/);
    const check = await node(['serve', '--check', '--socket', gone.NVC_TS_SOCKET]);
    assert.equal(check.status, 1);
    assert.match(String(check.stderr), /no nvc-ts service answers on .*no-such\.sock/);
    const failing = await run(CLIENT, [...globals, 'list', '--device=9'], { env: gone });
    const failingNode = await node([...globals, 'list', '--device=9']);
    assert.equal(failing.status, failingNode.status);
    assert.ok(failing.stderr.equals(failingNode.stderr));
  });

  it('gives the hook its stdin: a state that asks for no GPU does nothing, an empty one is refused as the CLI refuses it', async () => {
    const bundle = fs.mkdtempSync(path.join(dir, 'bundle-'));
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { env: ['PATH=/bin'] }, root: { path: 'rootfs' } }));
    const state = JSON.stringify({ ociVersion: '1.0.2', id: 'x', status: 'created', pid: process.pid, bundle });
    for (const input of [state, '']) {
      const viaClient = await run(CLIENT, [...globals, 'hook'], { env, input });
      const viaNode = await node([...globals, 'hook'], { input });
      assert.equal(viaClient.status, viaNode.status, String(viaClient.stderr));
      assert.ok(viaClient.stderr.equals(viaNode.stderr), `${viaClient.stderr}\n---\n${viaNode.stderr}`);
    }
  });

  it('refuses a client whose uid it does not allow, and answers one it allows', async () => {
    const sock = path.join(dir, 'allow.sock');
    const svc = await startService(globals, { socket: sock, extra: ['--allow-uid', '12345'] });
    try {
      assert.equal(fs.statSync(sock).mode & 0o777, 0o666);
      const opts = { env: { ...process.env, NVC_TS_SOCKET: sock }, uid: 65534, gid: 65534 };
      const refused = await run(CLIENT, [...globals, 'info'], opts);
      assert.equal(refused.status, 1);
      assert.match(String(refused.stderr), /refuses uid 65534 \(gid 65534\)/);
      assert.equal(String(refused.stdout), '');
      const allowed = await run(CLIENT, [...globals, 'info', '--csv'], { ...opts, uid: 12345, gid: 12345 });
      assert.equal(allowed.status, 0, String(allowed.stderr));
      assert.match(String(allowed.stdout), /^NVRM version,CUDA version\n580\.159\.04,13\.0\n/);
      // A debug log file would be opened by the root service: such a request is the caller's to run.
      const logged = await run(CLIENT, [...globals, '--debug', path.join(dir, 'user.log'), 'info', '--csv'], { ...opts, uid: 12345, gid: 12345 });
      assert.notEqual(logged.status, 0);
      assert.match(String(logged.stderr), /cannot open the debug log .*user\.log \(EACCES\)/);
      assert.ok(!fs.existsSync(path.join(dir, 'user.log')));
      // Commands beyond reading the host and configuring containers are the caller's own to run.
      const doctor = await run(CLIENT, [...globals, '--debug=-', 'modules', 'nodes', '--json'], { ...opts, uid: 12345, gid: 12345 });
      assert.match(String(doctor.stderr), /declined: a caller other than root runs 'modules' itself/);
    } finally {
      await svc.stop();
    }
    // The default socket (0600, root) is closed to others: they get the Node CLI.
    const denied = await run(CLIENT, [...globals, '--debug=-', 'info', '--csv'], { env, uid: 65534, gid: 65534 });
    assert.match(String(denied.stderr), /no service \(.*Permission denied\)/);
  });

  it("leaves a caller in another mount namespace to the Node CLI (its paths and its namespace are not the service's)", async () => {
    const viaNode = await node([...globals, 'info', '--csv']);
    const inNs = await run('unshare', ['-m', '--propagation', 'private', CLIENT, ...globals, '--debug=-', 'info', '--csv'], { env });
    assert.equal(inNs.status, 0, String(inNs.stderr));
    assert.ok(inNs.stdout.equals(viaNode.stdout));
    assert.match(String(inNs.stderr), /no service \(the service at .* declined: the caller is in another mount namespace/);
    assert.match(fs.readFileSync(path.join(dir, 'service.log'), 'utf8'), /declined: pid \d+ is in mount namespace/);
  });

  it("leaves a caller whose PATH or NVC_TS_* overrides differ from the service's to the Node CLI", async () => {
    const viaNode = await node([...globals, 'info', '--csv']);
    for (const extra of [{ PATH: `/nonexistent:${process.env.PATH}` }, { NVC_TS_EXEC: '/nonexistent/exec' }, { CUDA_MPS_PIPE_DIRECTORY: '/tmp/mps' }]) {
      const r = await run(CLIENT, [...globals, '--debug=-', 'info', '--csv'], { env: { ...env, ...extra } });
      assert.equal(r.status, 0, String(r.stderr));
      assert.ok(r.stdout.equals(viaNode.stdout));
      assert.match(String(r.stderr), new RegExp(`declined: the caller's ${Object.keys(extra)[0]} is not the service's`));
    }
  });

  it('runs `serve` given to the client as the Node CLI, not inside the service', async () => {
    const sock = path.join(dir, 'nested.sock');
    const nested = spawn(CLIENT, [...globals, '--debug=-', 'serve', '--socket', sock], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    nested.stderr.on('data', (c) => (err += c));
    try {
      await new Promise((resolve, reject) => {
        nested.stdout.once('data', (d) => (/listening on/.test(String(d)) ? resolve() : reject(new Error(String(d)))));
        nested.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
      });
      assert.match(err, /declined: a service is not run inside a request/);
      const check = await node(['serve', '--check', '--socket', sock]);
      assert.equal(JSON.parse(String(check.stdout)).pid, nested.pid, 'the client exec()ed the Node CLI in its own process');
    } finally {
      nested.kill('SIGTERM');
      await new Promise((resolve) => nested.once('exit', resolve));
    }
    assert.ok(alive(service.pid));
  });

  it('answers a malformed request with an error and keeps serving', async () => {
    const bad = [
      Buffer.from('GET / HTTP/1.0\r\n\r\n'),
      frame(1, Buffer.from([1, 0, 0])),
      frame(9),
      (() => {
        const f = frame(1);
        f.writeUInt32LE(0x7fffffff, 8);
        return f;
      })(),
      frame(1, Buffer.concat([Buffer.from([1, 0, 0, 0, 0x78]), Buffer.from([1, 0, 0, 0]), Buffer.from([4, 0, 0, 0]), Buffer.from('info'), Buffer.alloc(4)])),
    ];
    const reasons = [/bad magic/, /cut short|says \d+ bytes/, /frame type 9/, /over its bound/, /cwd must be absolute/];
    for (const [i, bytes] of bad.entries()) {
      const text = errorText(await rawExchange(socket, bytes));
      assert.match(text, /rejected the request: malformed request/);
      assert.match(text, reasons[i]);
    }
    const r = await run(CLIENT, [...globals, 'info', '--csv'], { env });
    assert.equal(r.status, 0, String(r.stderr));
    assert.ok(alive(service.pid));
  });

  it('does not let a client that sends nothing hold up the others', async () => {
    const idle = net.connect(socket);
    await new Promise((resolve) => idle.once('connect', resolve));
    try {
      const r = await run(CLIENT, [...globals, 'info'], { env });
      assert.equal(r.status, 0, String(r.stderr));
    } finally {
      idle.destroy();
    }
  });

  it('starts a new context on SIGHUP and when the driver version changes', async () => {
    const log = path.join(dir, 'service.log');
    process.kill(service.pid, 'SIGHUP');
    assert.ok(await waitFor(() => /SIGHUP: a new context/.test(fs.readFileSync(log, 'utf8')), 5000));
    assert.equal((await run(CLIENT, [...globals, 'info', '--csv'], { env })).status, 0);
    const versionFile = path.join(host.options.procRoot, 'driver/nvidia/version');
    const original = fs.readFileSync(versionFile, 'utf8');
    try {
      fs.writeFileSync(versionFile, original.replace(/580\.159\.04/g, '580.159.05'));
      assert.equal((await run(CLIENT, [...globals, 'info', '--csv'], { env })).status, 0);
      assert.match(fs.readFileSync(log, 'utf8'), /driver changed \(.*580\.159\.04.* -> .*580\.159\.05.*\): new context/);
    } finally {
      fs.writeFileSync(versionFile, original);
    }
  });

  it('replaces its context when the driver service behind it dies', async () => {
    // Settled first on the current driver (an earlier test put the version file back).
    assert.equal((await run(CLIENT, [...globals, 'info', '--csv'], { env })).status, 0);
    const drivers = () =>
      childrenOf(service.pid).filter((pid) => {
        try {
          return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'nvc-ts-driver';
        } catch {
          return false;
        }
      });
    // That request may have replaced the context: the old one's service is shut down after the
    // answer, not before it (under test:asan its exit, with LeakSanitizer's check, takes a while).
    await waitFor(() => drivers().length === 1, 10000);
    const driver = drivers();
    assert.equal(driver.length, 1, `one driver service under the service: ${driver}`);
    process.kill(driver[0], 'SIGKILL');
    // Dead (a zombie until the service reaps it) before the next request comes.
    assert.ok(await waitFor(() => !alive(driver[0]), 5000));
    const r = await run(CLIENT, [...globals, 'info', '--csv'], { env });
    assert.equal(r.status, 0, String(r.stderr));
    assert.match(fs.readFileSync(path.join(dir, 'service.log'), 'utf8'), /the driver service of the context has stopped: new context/);
  });

  it('nvc-ts paths --json names the native client and the helpers', async () => {
    const r = await run(CLIENT, ['paths', '--json'], { env });
    assert.equal(r.status, 0, String(r.stderr));
    const paths = JSON.parse(String(r.stdout));
    // Beside the addon the package loads, with the helpers (build/Release, or prebuilds/ once packed).
    assert.equal(path.basename(paths.cli), 'nvc-ts-cli');
    assert.equal(path.dirname(paths.cli), path.dirname(paths.exec));
    assert.equal(paths.node_cli, BIN);
    for (const key of ['cli', 'node_cli', 'driver', 'exec', 'ldconfig', 'cdi_hook']) {
      assert.ok(path.isAbsolute(paths[key]) && fs.existsSync(paths[key]), `${key}: ${paths[key]}`);
    }
    // Installed as nvidia-container-cli (a symlink), it is the same client.
    const link = path.join(dir, 'nvidia-container-cli');
    fs.symlinkSync(paths.cli, link);
    const viaLink = await run(link, [...globals, 'info', '--csv'], { env: { ...process.env, NVC_TS_SOCKET: path.join(dir, 'none.sock') } });
    assert.equal(viaLink.status, 0, String(viaLink.stderr));
    assert.match(String(viaLink.stdout), /^NVRM version,CUDA version\n/);
  });

  it('killed mid-configure, fails that start cleanly and leaves no mount', async () => {
    // The executor is slowed by a wrapper so that the kill lands while it works on the plan.
    const mark = path.join(dir, 'exec-started');
    const wrapper = path.join(dir, 'slow-exec.sh');
    const realExec = path.join(path.dirname(CLIENT), 'nvc-ts-exec');
    fs.writeFileSync(wrapper, `#!/bin/sh\ntouch ${mark}\nsleep 1\n${realExec} "$@"\necho $? > ${mark}.rc\n`, { mode: 0o755 });
    const sock = path.join(dir, 'kill.sock');
    const svc = await startService(globals, { socket: sock, env: { ...process.env, NVC_TS_EXEC: wrapper } });
    const rootfs = makeRootfs();
    const cnt = await startContainer();
    try {
      const pending = run(CLIENT, [...globals, 'configure', '--pid', String(cnt.pid), '--device=0', '--compute', '--utility', '--no-ldconfig', rootfs], {
        env: { ...process.env, NVC_TS_SOCKET: sock, NVC_TS_EXEC: wrapper },
      });
      assert.ok(await waitFor(() => fs.existsSync(mark), 20000), 'the executor did not start');
      process.kill(svc.pid, 'SIGKILL');
      const r = await pending;
      assert.equal(r.status, 1);
      assert.match(String(r.stderr), /closed the connection before answering/);
      assert.ok(await waitFor(() => fs.existsSync(`${mark}.rc`), 20000), 'the executor did not finish');
      assert.notEqual(fs.readFileSync(`${mark}.rc`, 'utf8').trim(), '0', 'the executor reported success to nobody');
      assert.equal(mountsUnder(cnt.pid, rootfs).size, 0, [...mountsUnder(cnt.pid, rootfs).keys()].join(', '));
    } finally {
      await svc.stop();
      await cnt.stop();
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  });
});
