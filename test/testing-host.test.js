'use strict';
/**
 * The simulated host (nvc-ts/testing) and the mock NVML library.
 *
 * Needs the compiled TypeScript (dist/). Parts that need outside tools skip themselves when the
 * tool is absent: ldconfig (cache and ELF checks), readelf (ELF notes), gcc (the NVML probe, and
 * building the mock when the native build has not produced it). Device nodes are checked as root.
 */
const assert = require('node:assert/strict');
const { requireFeature } = require('./support/features');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');

const testing = require('../dist/testing/index.js');

const REPO = path.resolve(__dirname, '..');
const VER = '580.159.04';
const LIB = '/usr/lib/x86_64-linux-gnu';
const LIB32 = '/usr/lib/i386-linux-gnu';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function findTool(name, extra = []) {
  for (const dir of [...(process.env.PATH || '').split(':'), '/usr/sbin', '/sbin', ...extra]) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

const LDCONFIG = findTool('ldconfig');
const READELF = findTool('readelf');
const GCC = findTool('gcc') || findTool('cc');

/** `ldconfig -p` parsed into [key, arch label, value] triples, in file order. */
function ldconfigList(cache) {
  const out = execFileSync(LDCONFIG, ['-p', '-C', cache], { encoding: 'utf8' });
  const rows = [];
  for (const line of out.split('\n')) {
    const m = /^\t(\S+) \(([^)]*)\) => (\S+)$/.exec(line);
    if (m) rows.push([m[1], m[2], m[3]]);
  }
  return rows;
}

// The probe: loads an NVML library and walks it as discovery does, one "key rc value" line per call.
const PROBE_C = String.raw`
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef int ret_t;
typedef void *hnd_t;
struct pci { char legacy[16]; unsigned domain, bus, device, id, subsys; char bus_id[32]; };
static void *lib;
static void *sym(const char *name) {
    void *p = dlsym(lib, name);
    if (p == NULL) { printf("missing %s\n", name); exit(3); }
    return p;
}
#define FN(type, name) ((type)sym(name))
int main(int argc, char **argv) {
    char buf[96]; unsigned n = 0, u = 0, v = 0; int a = 0, b = 0; ret_t r;
    (void)argc;
    setvbuf(stdout, NULL, _IONBF, 0);
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) { printf("dlopen-failed 1 %s\n", dlerror()); return 2; }
    printf("loaded 0\n");
    const char *(*errstr)(ret_t) = FN(const char *(*)(ret_t), "nvmlErrorString");
    ret_t (*count)(unsigned *) = FN(ret_t (*)(unsigned *), "nvmlDeviceGetCount_v2");
    printf("preinit-count %d\n", count(&n));
    r = FN(ret_t (*)(void), "nvmlInit_v2")();
    printf("init %d\n", r);
    for (int c = 0; c < 30; ++c) { const char *s = errstr(c); printf("errstr-%d 0 %s\n", c, s ? s : "(null)"); }
    { const char *s = errstr(999); printf("errstr-999 0 %s\n", s ? s : "(null)"); }
    if (r != 0) return 1;
    r = FN(ret_t (*)(char *, unsigned), "nvmlSystemGetDriverVersion")(buf, sizeof(buf));
    printf("driver %d %s\n", r, r == 0 ? buf : "");
    printf("driver-small %d\n", FN(ret_t (*)(char *, unsigned), "nvmlSystemGetDriverVersion")(buf, 4));
    printf("driver-null %d\n", FN(ret_t (*)(char *, unsigned), "nvmlSystemGetDriverVersion")(NULL, 80));
    r = FN(ret_t (*)(int *), "nvmlSystemGetCudaDriverVersion")(&a);
    printf("cuda %d %d\n", r, a);
    printf("cuda-null %d\n", FN(ret_t (*)(int *), "nvmlSystemGetCudaDriverVersion")(NULL));
    r = count(&n);
    printf("count %d %u\n", r, n);
    for (unsigned i = 0; i < n; ++i) {
        hnd_t d = NULL; struct pci p;
        r = FN(ret_t (*)(unsigned, hnd_t *), "nvmlDeviceGetHandleByIndex_v2")(i, &d);
        printf("gpu%u-handle %d\n", i, r);
        if (r != 0) continue;
        r = FN(ret_t (*)(hnd_t, char *, unsigned), "nvmlDeviceGetName")(d, buf, sizeof(buf));
        printf("gpu%u-name %d %s\n", i, r, r == 0 ? buf : "");
        r = FN(ret_t (*)(hnd_t, char *, unsigned), "nvmlDeviceGetUUID")(d, buf, sizeof(buf));
        printf("gpu%u-uuid %d %s\n", i, r, r == 0 ? buf : "");
        printf("gpu%u-uuid-small %d\n", i, FN(ret_t (*)(hnd_t, char *, unsigned), "nvmlDeviceGetUUID")(d, buf, 8));
        memset(&p, 0, sizeof(p));
        r = FN(ret_t (*)(hnd_t, struct pci *), "nvmlDeviceGetPciInfo_v3")(d, &p);
        printf("gpu%u-pci %d %s %s %u %u %u 0x%08x 0x%08x\n", i, r, p.bus_id, p.legacy, p.domain, p.bus, p.device, p.id, p.subsys);
        r = FN(ret_t (*)(hnd_t, int *, int *), "nvmlDeviceGetCudaComputeCapability")(d, &a, &b);
        printf("gpu%u-cc %d %d.%d\n", i, r, a, b);
        r = FN(ret_t (*)(hnd_t, unsigned *), "nvmlDeviceGetBrand")(d, &u);
        printf("gpu%u-brand %d %u\n", i, r, u);
        r = FN(ret_t (*)(hnd_t, unsigned *), "nvmlDeviceGetMinorNumber")(d, &u);
        printf("gpu%u-minor %d %u\n", i, r, u);
        printf("gpu%u-giid %d\n", i, FN(ret_t (*)(hnd_t, unsigned *), "nvmlDeviceGetGpuInstanceId")(d, &u));
        r = FN(ret_t (*)(hnd_t, unsigned *, unsigned *), "nvmlDeviceGetMigMode")(d, &u, &v);
        printf("gpu%u-migmode %d %u %u\n", i, r, r == 0 ? u : 0, r == 0 ? v : 0);
        r = FN(ret_t (*)(hnd_t, unsigned *), "nvmlDeviceGetMaxMigDeviceCount")(d, &u);
        printf("gpu%u-maxmig %d %u\n", i, r, r == 0 ? u : 0);
        for (unsigned j = 0; j < 9; ++j) {
            hnd_t m = NULL;
            r = FN(ret_t (*)(hnd_t, unsigned, hnd_t *), "nvmlDeviceGetMigDeviceHandleByIndex")(d, j, &m);
            printf("gpu%u-mig%u-handle %d %s\n", i, j, r, r == 0 ? (m != d ? "distinct" : "same") : "");
            if (r != 0) break;
            r = FN(ret_t (*)(hnd_t, char *, unsigned), "nvmlDeviceGetUUID")(m, buf, sizeof(buf));
            printf("gpu%u-mig%u-uuid %d %s\n", i, j, r, r == 0 ? buf : "");
            r = FN(ret_t (*)(hnd_t, char *, unsigned), "nvmlDeviceGetName")(m, buf, sizeof(buf));
            printf("gpu%u-mig%u-name %d %s\n", i, j, r, r == 0 ? buf : "");
            r = FN(ret_t (*)(hnd_t, unsigned *), "nvmlDeviceGetGpuInstanceId")(m, &u);
            printf("gpu%u-mig%u-gi %d %u\n", i, j, r, u);
            r = FN(ret_t (*)(hnd_t, unsigned *), "nvmlDeviceGetComputeInstanceId")(m, &u);
            printf("gpu%u-mig%u-ci %d %u\n", i, j, r, u);
            printf("gpu%u-mig%u-minor %d\n", i, j, FN(ret_t (*)(hnd_t, unsigned *), "nvmlDeviceGetMinorNumber")(m, &u));
        }
    }
    { hnd_t d = NULL;
      printf("handle-oob %d\n", FN(ret_t (*)(unsigned, hnd_t *), "nvmlDeviceGetHandleByIndex_v2")(n, &d));
      printf("name-badhandle %d\n", FN(ret_t (*)(hnd_t, char *, unsigned), "nvmlDeviceGetName")((hnd_t)buf, buf, sizeof(buf))); }
    printf("shutdown %d\n", FN(ret_t (*)(void), "nvmlShutdown")());
    printf("shutdown-again %d\n", FN(ret_t (*)(void), "nvmlShutdown")());
    printf("postshutdown-count %d\n", count(&n));
    printf("done 0\n");
    return 0;
}
`;

// The second probe: which symbols dlsym finds, how each PciInfo variant fills a sentinel-filled struct, and
// nvmlDeviceGetMigDeviceHandleByIndex for every slot of every GPU (it goes on past NOT_FOUND).
const PROBE2_C = String.raw`
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
typedef int ret_t;
typedef void *hnd_t;
struct pci { char legacy[16]; unsigned domain, bus, device, id, subsys; char bus_id[32]; };
int main(int argc, char **argv) {
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) { printf("dlopen-failed 1 %s\n", dlerror()); return 2; }
    for (int i = 2; i < argc; ++i) printf("has-%s %d\n", argv[i], dlsym(lib, argv[i]) != NULL);
    ret_t (*init)(void) = (ret_t (*)(void))dlsym(lib, "nvmlInit");
    ret_t (*handle)(unsigned, hnd_t *) = (ret_t (*)(unsigned, hnd_t *))dlsym(lib, "nvmlDeviceGetHandleByIndex");
    ret_t (*count)(unsigned *) = (ret_t (*)(unsigned *))dlsym(lib, "nvmlDeviceGetCount");
    ret_t (*mig)(hnd_t, unsigned, hnd_t *) = (ret_t (*)(hnd_t, unsigned, hnd_t *))dlsym(lib, "nvmlDeviceGetMigDeviceHandleByIndex");
    ret_t (*uuid)(hnd_t, char *, unsigned) = (ret_t (*)(hnd_t, char *, unsigned))dlsym(lib, "nvmlDeviceGetUUID");
    const char *pcis[] = {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo"};
    unsigned n = 0;
    hnd_t d = NULL;
    char buf[256];
    printf("init-v1 %d\n", init());
    { ret_t r = count(&n); printf("count-v1 %d %u\n", r, n); }
    printf("handle-v1 %d\n", handle(0, &d));
    for (int v = 0; v < 3; ++v) {
        ret_t (*fn)(hnd_t, struct pci *) = (ret_t (*)(hnd_t, struct pci *))dlsym(lib, pcis[v]);
        struct pci p;
        unsigned char *raw = (unsigned char *)&p;
        int untouched = 0;
        if (fn == NULL) continue;
        memset(&p, 0xaa, sizeof(p));
        ret_t r = fn(d, &p);
        while (untouched < (int)sizeof(p) && raw[sizeof(p) - 1 - untouched] == 0xaa) ++untouched;
        printf("%s %d %s %u %u %u 0x%08x untouched=%d busid0=%d\n", pcis[v], r, p.legacy, p.domain, p.bus, p.device, p.id, untouched, p.bus_id[0]);
    }
    for (unsigned i = 0; i < n; ++i) {
        handle(i, &d);
        for (unsigned j = 0; j < 9; ++j) {
            hnd_t m = NULL;
            ret_t r = mig(d, j, &m);
            printf("gpu%u-slot%u %d %s\n", i, j, r, r == 0 && uuid(m, buf, sizeof(buf)) == 0 ? buf : "");
        }
    }
    return 0;
}
`;

/** Runs the probe; returns { status, signal, rows: Map(key -> {rc, value}), ms }. */
function probe(probeBin, lib, timeoutMs = 20000, args = []) {
  const t0 = Date.now();
  const res = spawnSync(probeBin, [lib, ...args], { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NVC_MOCK_NVML_SPEC: '' } });
  const rows = new Map();
  for (const line of (res.stdout || '').split('\n')) {
    const m = /^(\S+) (-?\d+)(?: (.*))?$/.exec(line);
    if (m) rows.set(m[1], { rc: Number(m[2]), value: m[3] === undefined ? '' : m[3] });
  }
  return { status: res.status, signal: res.signal, rows, ms: Date.now() - t0, stdout: res.stdout };
}

function rc(result, key) {
  const row = result.rows.get(key);
  assert.ok(row, `probe printed no ${key}:\n${result.stdout}`);
  return row.rc;
}

function val(result, key) {
  const row = result.rows.get(key);
  assert.ok(row, `probe printed no ${key}:\n${result.stdout}`);
  return row.value;
}

describe('nvc-ts/testing: simulated host', function () {
  let work; // scratch dir for this file
  let mockPath = null;
  let mockNote = '';
  let probeBin = null;
  let probe2Bin = null;
  let host;

  before(async function () {
    work = await fsp.mkdtemp(path.join(os.tmpdir(), 'nvc-testing-'));
    // The mock: the native build's, else compiled here from source.
    try {
      // eslint-disable-next-line global-require
      mockPath = require('../dist/native.js').mockNvmlLibraryPath();
      mockNote = 'native build';
    } catch {
      if (GCC) {
        mockPath = path.join(work, 'libnvc-mock-nvml.so');
        execFileSync(GCC, [
          '-std=gnu11',
          '-Wall',
          '-Wextra',
          '-Werror',
          '-shared',
          '-fPIC',
          `-I${path.join(REPO, 'deps/nvml')}`,
          '-o',
          mockPath,
          path.join(REPO, 'native/mock-nvml/mock_nvml.c'),
          '-ldl',
        ]);
        mockNote = 'compiled by the test';
      }
    }
    if (GCC) {
      const src = path.join(work, 'probe.c');
      await fsp.writeFile(src, PROBE_C);
      probeBin = path.join(work, 'probe');
      execFileSync(GCC, ['-std=gnu11', '-Wall', '-Wextra', '-Werror', '-o', probeBin, src, '-ldl']);
      const src2 = path.join(work, 'probe2.c');
      await fsp.writeFile(src2, PROBE2_C);
      probe2Bin = path.join(work, 'probe2');
      execFileSync(GCC, ['-std=gnu11', '-Wall', '-Wextra', '-Werror', '-o', probe2Bin, src2, '-ldl']);
    }
    host = await testing.createSimulatedHost({}, mockPath ? { mockNvmlPath: mockPath } : {});
  });

  after(async function () {
    if (host) await host.cleanup();
    if (work) await fsp.rm(work, { recursive: true, force: true });
  });

  describe('layout', function () {
    it('has the default spec and paths', function () {
      assert.equal(host.spec.driverVersion, VER);
      assert.equal(host.spec.cudaVersion, 13000);
      assert.deepEqual(
        host.spec.gpus.map((g) => g.name),
        ['NVIDIA H100 80GB HBM3', 'NVIDIA A100-SXM4-40GB', 'Tesla T4'],
      );
      assert.deepEqual(
        host.spec.gpus.map((g) => g.mig),
        ['disabled', 'enabled', 'unsupported'],
      );
      assert.equal(host.root, path.join(host.dir, 'root'));
      assert.equal(host.procRoot, path.join(host.root, 'proc'));
      assert.equal(host.devRoot, path.join(host.root, 'dev'));
      assert.equal(host.sysRoot, path.join(host.dir, 'sys'));
      assert.equal(host.ldcache, '/etc/ld.so.cache');
      assert.deepEqual(host.options, { root: host.root, ldcache: '/etc/ld.so.cache', procRoot: host.procRoot, devRoot: host.devRoot, sysRoot: host.sysRoot });
    });

    it('installs every driver library with its soname link', async function () {
      for (const lib of testing.SIMULATED_DRIVER_LIBRARIES) {
        const file = path.join(host.root, LIB, `${lib.stem}.so.${VER}`);
        assert.ok((await fsp.lstat(file)).isFile(), file);
        const soname = testing.librarySoname(lib, VER);
        if (soname !== `${lib.stem}.so.${VER}`) assert.equal(await fsp.readlink(path.join(host.root, LIB, soname)), `${lib.stem}.so.${VER}`);
        assert.equal(await fsp.readlink(path.join(host.root, LIB, `${lib.stem}.so`)), soname);
        if (lib.compat32) assert.ok((await fsp.lstat(path.join(host.root, LIB32, `${lib.stem}.so.${VER}`))).isFile());
      }
      assert.equal(testing.librarySoname({ stem: 'libnvidia-nvvm', soversion: '4', compat32: false }, VER), 'libnvidia-nvvm.so.4');
    });

    it('installs the mock NVML beside its spec', async function () {
      requireFeature(this, 'mock-nvml', Boolean(mockPath), 'the native build, or gcc to compile the mock NVML here');
      const copy = await fsp.readFile(host.nvmlLibrary);
      assert.ok(copy.equals(await fsp.readFile(mockPath)));
      assert.equal(host.nvmlSpecFile, path.join(host.root, LIB, 'libnvidia-ml.spec'));
      const text = await fsp.readFile(host.nvmlSpecFile, 'utf8');
      assert.match(text, /^mock-nvml 1$/m);
      assert.match(text, /^driver 580\.159\.04$/m);
      assert.match(text, /^name NVIDIA A100-SXM4-40GB$/m);
    });

    it('has binaries, firmware, IPC paths and var/run -> ../run', async function () {
      for (const bin of testing.SIMULATED_BINARIES) {
        const st = await fsp.stat(path.join(host.root, 'usr/bin', bin));
        assert.ok(st.isFile() && (st.mode & 0o111) === 0o111, bin);
      }
      const smi = spawnSync(path.join(host.root, 'usr/bin/nvidia-smi'), ['-L'], { encoding: 'utf8' });
      assert.match(smi.stdout, /^GPU 1: NVIDIA A100-SXM4-40GB \(UUID: GPU-b7e3d2c1-0a9f-4e8d-b6c5-a4f3e2d1c0b9\)$/m);
      assert.match(smi.stdout, /MIG 3g\.20gb +Device +1: \(UUID: MIG-9f8e7d6c-5b4a-5c3d-8e2f-1a0b9c8d7e6f\)/);
      for (const fw of ['gsp_ga10x.bin', 'gsp_tu10x.bin']) await fsp.access(path.join(host.root, 'lib/firmware/nvidia', VER, fw));
      assert.equal(await fsp.readlink(path.join(host.root, 'var/run')), '../run');
      await fsp.access(path.join(host.root, 'var/run/nvidia-persistenced/socket'));
      await fsp.access(path.join(host.root, 'run/nvidia-fabricmanager/socket'));
      assert.ok((await fsp.stat(path.join(host.root, 'tmp/nvidia-mps'))).isDirectory());
      assert.equal(await fsp.readFile(path.join(host.sysRoot, 'module/firmware_class/parameters/path'), 'utf8'), '\n');
    });

    it('has the procfs files of the driver', async function () {
      const proc = (rel) => fsp.readFile(path.join(host.procRoot, rel), 'utf8');
      const devices = await proc('devices');
      for (const l of ['195 nvidia', '195 nvidiactl', '238 nvidia-uvm', '241 nvidia-caps', '242 nvidia-caps-imex-channels']) {
        assert.ok(devices.includes(`\n${l}\n`), l);
      }
      assert.ok(devices.startsWith('Character devices:\n'));
      assert.match(await proc('driver/nvidia/params'), /^ModifyDeviceFiles: 1$/m);
      assert.match(await proc('driver/nvidia/version'), /^NVRM version: NVIDIA UNIX Open Kernel Module for x86_64 {2}580\.159\.04 {2}Release Build/);
      const info = await proc('driver/nvidia/gpus/0000:00:07.0/information');
      assert.match(info, /^Model: \t\t NVIDIA A100-SXM4-40GB$/m);
      assert.match(info, /^Device Minor: \t 1$/m);
      assert.match(info, /^Bus Location: \t 0000:00:07\.0$/m);
      await fsp.access(path.join(host.procRoot, 'driver/nvidia/gpus/0000:00:06.0/information'));
      await fsp.access(path.join(host.procRoot, 'driver/nvidia/gpus/0000:00:08.0/information'));
      assert.match(await proc('driver/nvidia/capabilities/mig/config'), /^DeviceFileMinor: 1$/m);
      assert.match(await proc('driver/nvidia/capabilities/mig/monitor'), /^DeviceFileMinor: 2$/m);
      assert.ok((await fsp.stat(path.join(host.procRoot, 'driver/nvidia/capabilities/gpu0/mig'))).isDirectory());
      // A100 is minor 1: gi1 -> 3 + 135 + 9 = 147, its ci0 148; gi2 -> 156, ci0 157.
      assert.match(await proc('driver/nvidia/capabilities/gpu1/mig/gi1/access'), /^DeviceFileMinor: 147$/m);
      assert.match(await proc('driver/nvidia/capabilities/gpu1/mig/gi1/ci0/access'), /^DeviceFileMinor: 148$/m);
      assert.match(await proc('driver/nvidia/capabilities/gpu1/mig/gi2/access'), /^DeviceFileMinor: 156$/m);
      assert.match(await proc('driver/nvidia/capabilities/gpu1/mig/gi2/ci0/access'), /^DeviceFileMinor: 157$/m);
      const minors = await proc('driver/nvidia-caps/mig-minors');
      assert.match(minors, /^config 1\nmonitor 2\ngpu0\/gi0\/access 3\n/);
      assert.match(minors, /^gpu1\/gi2\/ci0\/access 157$/m);
      assert.equal(minors.trim().split('\n').length, 4322);
      assert.equal(testing.migCapabilityMinor(0, 1), 12);
      assert.equal(testing.migCapabilityMinor(0, 1, 7), 20);
    });
  });

  describe('ld.so.cache and ELF files (real ldconfig)', function () {
    before(function () {
      requireFeature(this, 'ldconfig', Boolean(LDCONFIG), 'the ldconfig program (libc-bin)');
    });

    it('is listed by ldconfig -p with the expected 64- and 32-bit sonames', function () {
      const rows = ldconfigList(path.join(host.root, 'etc/ld.so.cache'));
      const has = (key, arch, value) => rows.some((r) => r[0] === key && r[1] === arch && r[2] === value);
      for (const lib of testing.SIMULATED_DRIVER_LIBRARIES) {
        const soname = testing.librarySoname(lib, VER);
        assert.ok(has(soname, 'libc6,x86-64', `${LIB}/${soname}`), `64-bit ${soname}`);
        assert.ok(has(`${lib.stem}.so`, 'libc6,x86-64', `${LIB}/${lib.stem}.so`), `64-bit ${lib.stem}.so`);
        assert.equal(has(soname, 'libc6', `${LIB32}/${soname}`), lib.compat32, `32-bit ${soname}`);
      }
      for (const key of [
        'libcuda.so.1',
        'libnvidia-ml.so.1',
        'libnvidia-nvvm.so.4',
        'libGLX_nvidia.so.0',
        'libEGL_nvidia.so.0',
        'libGLESv2_nvidia.so.2',
        'libGLESv1_CM_nvidia.so.1',
        `libnvidia-glcore.so.${VER}`,
        `libnvidia-tls.so.${VER}`,
      ]) {
        assert.ok(
          rows.some((r) => r[0] === key),
          key,
        );
      }
      // Decoys, each after the genuine entry of the same key.
      const cuda = rows.filter((r) => r[0] === 'libcuda.so.1' && r[1] === 'libc6,x86-64').map((r) => r[2]);
      assert.deepEqual(cuda, [`${LIB}/libcuda.so.1`, `${LIB}/libcuda.so.535.104.05`]);
      const tls = rows.filter((r) => r[0] === `libnvidia-tls.so.${VER}` && r[1] === 'libc6,x86-64').map((r) => r[2]);
      assert.deepEqual(tls, [`${LIB}/libnvidia-tls.so.${VER}`, `${testing.DECOY_TLS_DIR}/libnvidia-tls.so.${VER}`]);
      assert.ok(has('libnvidia-foo.so', 'libc6,x86-64', `${LIB}/libnvidia-foo.so`));
    });

    it('matches what ldconfig -r builds from the same files (decoys aside)', async function () {
      const copy = path.join(work, 'ldconfig-copy');
      await fsp.mkdir(copy);
      await fsp.cp(path.join(host.root, 'usr'), path.join(copy, 'usr'), { recursive: true, verbatimSymlinks: true });
      await fsp.cp(path.join(host.root, 'etc'), path.join(copy, 'etc'), { recursive: true });
      await fsp.rm(path.join(copy, 'etc/ld.so.cache'));
      const res = spawnSync(LDCONFIG, ['-X', '-r', copy], { encoding: 'utf8' });
      assert.equal(res.status, 0, res.stderr);
      assert.doesNotMatch(res.stderr, /is not an ELF file|is for unknown machine|No such file/, res.stderr);
      const fmt = (r) => r.join(' ');
      const theirs = ldconfigList(path.join(copy, 'etc/ld.so.cache'))
        .map(fmt)
        // A mock built without -soname is also indexed under its file name.
        .filter((l) => !l.startsWith(`libnvidia-ml.so.${VER} `));
      const ours = ldconfigList(path.join(host.root, 'etc/ld.so.cache'))
        .map(fmt)
        .filter((l) => !l.includes('libcuda.so.535.104.05') && !l.includes(testing.DECOY_TLS_DIR));
      assert.deepEqual(ours, theirs);
    });

    it('reads a cache with the old ld.so-1.7.0 table in front', async function () {
      const file = path.join(work, 'old-and-new.cache');
      await testing.writeLdCache(
        file,
        [
          { key: 'libcuda.so.1', value: '/usr/lib64/libcuda.so.1', flags: testing.LDCACHE_FLAGS.X86_64 },
          { key: 'libcuda.so.1', value: '/usr/lib/libcuda.so.1', flags: testing.LDCACHE_FLAGS.I386 },
          { key: 'libc.so.5', value: '/lib/libc.so.5', flags: testing.LDCACHE_FLAGS.LIBC5 },
        ],
        { withOldFormat: true },
      );
      const bytes = await fsp.readFile(file);
      assert.equal(bytes.toString('latin1', 0, 11), 'ld.so-1.7.0');
      assert.equal(bytes.toString('latin1', 16 + 3 * 12, 16 + 3 * 12 + 20), 'glibc-ld.so.cache1.1');
      assert.deepEqual(ldconfigList(file), [
        ['libcuda.so.1', 'libc6,x86-64', '/usr/lib64/libcuda.so.1'],
        ['libcuda.so.1', 'libc6', '/usr/lib/libcuda.so.1'],
        ['libc.so.5', 'libc5', '/lib/libc.so.5'],
      ]);
    });

    it('sorts names with digit runs compared by value', function () {
      const c = testing.compareLibraryNames;
      assert.ok(c('libfoo.so.10', 'libfoo.so.9') > 0);
      assert.ok(c('libfoo.so.1', 'libfoo.so') > 0);
      assert.ok(c('libfoo.so.1', 'libfoo.so.a') > 0);
      assert.equal(c('libfoo.so.01', 'libfoo.so.1'), 0);
      assert.ok(c('liba.so', 'libb.so') < 0);
    });

    it('writes ELF notes that readelf reads (2.3.99, and the 2.2.0 decoy)', function () {
      requireFeature(this, 'readelf', Boolean(READELF), 'readelf (binutils, in build-essential)');
      const note = (f) => execFileSync(READELF, ['-n', path.join(host.root, f)], { encoding: 'utf8' });
      assert.match(note(`${LIB}/libnvidia-tls.so.${VER}`), /OS: Linux, ABI: 2\.3\.99/);
      assert.match(note(`${LIB32}/libnvidia-tls.so.${VER}`), /OS: Linux, ABI: 2\.3\.99/);
      assert.match(note(`${testing.DECOY_TLS_DIR}/libnvidia-tls.so.${VER}`), /OS: Linux, ABI: 2\.2\.0/);
      const dyn = execFileSync(READELF, ['-hd', path.join(host.root, LIB32, `libcuda.so.${VER}`)], { encoding: 'utf8' });
      assert.match(dyn, /ELF32/);
      assert.match(dyn, /Intel 80386/);
      assert.match(dyn, /Library soname: \[libcuda\.so\.1\]/);
      const gl = execFileSync(READELF, ['-d', path.join(host.root, LIB, 'libGL.so.1.7.0')], { encoding: 'utf8' });
      assert.match(gl, /Shared library: \[libGLdispatch\.so\.0\]/);
    });
  });

  describe('mock NVML', function () {
    before(function () {
      requireFeature(this, 'cc', Boolean(mockPath && probeBin), 'gcc for the probe (and the mock when not built)');
    });

    it('answers per the spec (mock from the native build, or compiled here from source)', function () {
      assert.ok(mockNote.length > 0);
      const r = probe(probeBin, path.join(host.root, LIB, 'libnvidia-ml.so.1'));
      assert.equal(r.status, 0, r.stdout);
      assert.equal(rc(r, 'preinit-count'), 1); // UNINITIALIZED
      assert.equal(rc(r, 'init'), 0);
      assert.equal(val(r, 'errstr-18'), 'driver/library version mismatch');
      assert.equal(val(r, 'errstr-999'), 'unknown error');
      assert.equal(val(r, 'driver'), VER);
      assert.equal(rc(r, 'driver-small'), 7); // INSUFFICIENT_SIZE
      assert.equal(rc(r, 'driver-null'), 2); // INVALID_ARGUMENT
      assert.equal(val(r, 'cuda'), '13000');
      assert.equal(rc(r, 'cuda-null'), 2);
      assert.equal(val(r, 'count'), '3');
      assert.equal(val(r, 'gpu0-name'), 'NVIDIA H100 80GB HBM3');
      assert.equal(val(r, 'gpu0-uuid'), host.spec.gpus[0].uuid);
      assert.equal(rc(r, 'gpu0-uuid-small'), 7);
      assert.equal(val(r, 'gpu0-pci'), '00000000:00:06.0 0000:00:06.0 0 0 6 0x233010de 0x16c110de');
      assert.equal(val(r, 'gpu0-cc'), '9.0');
      assert.equal(val(r, 'gpu0-brand'), '14');
      assert.equal(val(r, 'gpu0-minor'), '0');
      assert.equal(rc(r, 'gpu0-giid'), 3); // NOT_SUPPORTED on a GPU handle
      assert.equal(val(r, 'gpu0-migmode'), '0 0');
      assert.equal(val(r, 'gpu0-maxmig'), '0');
      assert.equal(rc(r, 'gpu0-mig0-handle'), 6); // NOT_FOUND: MIG disabled
      assert.equal(val(r, 'gpu1-cc'), '8.0');
      assert.equal(val(r, 'gpu1-minor'), '1');
      assert.equal(val(r, 'gpu1-migmode'), '1 1');
      assert.equal(val(r, 'gpu1-maxmig'), '7');
      assert.equal(val(r, 'gpu1-mig0-handle'), 'distinct');
      assert.equal(val(r, 'gpu1-mig0-uuid'), 'MIG-1a2b3c4d-5e6f-5a7b-8c9d-0e1f2a3b4c5d');
      assert.equal(val(r, 'gpu1-mig0-name'), 'NVIDIA A100-SXM4-40GB MIG 3g.20gb');
      assert.equal(val(r, 'gpu1-mig0-gi'), '1');
      assert.equal(val(r, 'gpu1-mig0-ci'), '0');
      assert.equal(rc(r, 'gpu1-mig0-minor'), 3);
      assert.equal(val(r, 'gpu1-mig1-uuid'), 'MIG-9f8e7d6c-5b4a-5c3d-8e2f-1a0b9c8d7e6f');
      assert.equal(val(r, 'gpu1-mig1-gi'), '2');
      assert.equal(val(r, 'gpu1-mig1-ci'), '0');
      assert.equal(rc(r, 'gpu1-mig2-handle'), 6); // NOT_FOUND past the last one
      assert.equal(val(r, 'gpu2-name'), 'Tesla T4');
      assert.equal(val(r, 'gpu2-brand'), '2');
      assert.equal(val(r, 'gpu2-cc'), '7.5');
      assert.equal(rc(r, 'gpu2-migmode'), 3); // NOT_SUPPORTED
      assert.equal(rc(r, 'gpu2-mig0-handle'), 3);
      assert.equal(rc(r, 'handle-oob'), 2);
      assert.equal(rc(r, 'name-badhandle'), 2);
      assert.equal(rc(r, 'shutdown'), 0);
      assert.equal(rc(r, 'shutdown-again'), 1);
      assert.equal(rc(r, 'postshutdown-count'), 1);
    });

    async function withHost(spec, opts, fn) {
      const h = await testing.createSimulatedHost({ deviceNodes: false, decoys: false, compat32: false, ...spec }, { mockNvmlPath: mockPath, ...opts });
      try {
        return await fn(h);
      } finally {
        await h.cleanup();
      }
    }

    const nvml = (h) => path.join(h.root, LIB, 'libnvidia-ml.so.1');

    it('injects faults: crash, abort, exit, hang, error (per device) and @load', async function () {
      this.timeout(30000);
      await withHost({ faults: [{ fn: 'nvmlDeviceGetUUID', kind: 'crash', device: 1 }] }, {}, (h) => {
        const r = probe(probeBin, nvml(h));
        assert.equal(r.signal, 'SIGSEGV');
        assert.equal(val(r, 'gpu0-uuid'), h.spec.gpus[0].uuid); // device 0 unaffected
        assert.ok(!r.rows.has('gpu1-uuid'));
      });
      await withHost({ faults: [{ fn: 'nvmlDeviceGetMigMode', kind: 'abort' }] }, {}, (h) => {
        assert.equal(probe(probeBin, nvml(h)).signal, 'SIGABRT');
      });
      await withHost({ faults: [{ fn: 'nvmlDeviceGetCount_v2', kind: 'exit', code: 7 }] }, {}, (h) => {
        const r = probe(probeBin, nvml(h));
        assert.equal(r.status, 7);
        assert.ok(r.rows.has('loaded'));
      });
      await withHost({ faults: [{ fn: 'nvmlSystemGetDriverVersion', kind: 'hang' }] }, {}, (h) => {
        const r = probe(probeBin, nvml(h), 1500);
        assert.equal(r.signal, 'SIGTERM'); // killed by the timeout
        assert.equal(rc(r, 'init'), 0);
        assert.ok(!r.rows.has('driver'));
      });
      await withHost(
        {
          faults: [
            { fn: 'nvmlDeviceGetName', kind: 'error', code: 15, device: 2 },
            { fn: 'nvmlInit_v2', kind: 'error', code: 18, device: 0 },
          ],
        },
        {},
        (h) => {
          const r = probe(probeBin, nvml(h));
          assert.equal(r.status, 0);
          assert.equal(rc(r, 'init'), 0); // a device-scoped fault never fires on nvmlInit_v2
          assert.equal(rc(r, 'gpu1-name'), 0);
          assert.equal(rc(r, 'gpu2-name'), 15);
        },
      );
      await withHost({ faults: [{ fn: 'nvmlInit_v2', kind: 'error', code: 18 }] }, {}, (h) => {
        const r = probe(probeBin, nvml(h));
        assert.equal(rc(r, 'init'), 18);
      });
      await withHost({ faults: [{ fn: '@load', kind: 'crash' }] }, {}, (h) => {
        const r = probe(probeBin, nvml(h));
        assert.equal(r.signal, 'SIGSEGV');
        assert.ok(!r.rows.has('loaded'));
      });
    });

    it('exports the older variants of versioned symbols; the PciInfo ones write only the 52-byte layout', async function () {
      const r = probe(probe2Bin, nvml(host));
      assert.equal(r.status, 0, r.stdout);
      assert.equal(rc(r, 'init-v1'), 0);
      assert.equal(val(r, 'count-v1'), '3');
      assert.equal(rc(r, 'handle-v1'), 0);
      // The 68-byte struct: v3 fills it all; the older two leave its last 16 bytes as they were.
      assert.equal(val(r, 'nvmlDeviceGetPciInfo_v3'), '0000:00:06.0 0 0 6 0x233010de untouched=0 busid0=48');
      assert.equal(val(r, 'nvmlDeviceGetPciInfo_v2'), '0000:00:06.0 0 0 6 0x233010de untouched=16 busid0=0');
      assert.equal(val(r, 'nvmlDeviceGetPciInfo'), '0000:00:06.0 0 0 6 0x233010de untouched=16 busid0=0');
    });

    it('hides the symbols a spec names, and only those', async function () {
      const names = testing.MOCK_NVML_EXPORTS;
      const hidden = ['nvmlDeviceGetPciInfo_v3', 'nvmlInit_v2', 'nvmlDeviceGetName'];
      await withHost({ hiddenSymbols: hidden }, {}, (h) => {
        const r = probe(probe2Bin, nvml(h), 20000, names);
        assert.equal(r.status, 0, r.stdout);
        for (const name of names) assert.equal(rc(r, `has-${name}`), hidden.includes(name) ? 0 : 1, name);
        assert.equal(rc(r, 'init-v1'), 0); // the rest of the library still works
        assert.equal(rc(r, 'nvmlDeviceGetPciInfo_v2'), 0);
      });
      assert.throws(() => testing.hideDynamicSymbols(fs.readFileSync(mockPath), ['nvmlNope']), /does not define nvmlNope/);
      assert.throws(
        () => testing.hideDynamicSymbols(Buffer.from('not an ELF file, not at all, no, not one bit of it, no.........'), ['nvmlInit']),
        /not an ELF file/,
      );
    });

    it('answers MIG slots with gaps: the handle where a device sits, NOT_FOUND elsewhere', async function () {
      const [, a100] = testing.defaultSimulatedHostSpec().gpus;
      const migDevices = [
        { uuid: 'MIG-slot5', gpuInstance: 1, computeInstance: 0, slot: 5 },
        { uuid: 'MIG-slot2', gpuInstance: 2, computeInstance: 0, slot: 2 },
        { uuid: 'MIG-slot7', gpuInstance: 3, computeInstance: 0, slot: 7 },
      ];
      await withHost({ gpus: [{ ...a100, minor: 0, migDevices }] }, {}, (h) => {
        assert.match(testing.formatMockNvmlSpec(h.spec), /^mig enabled 8\nmigdev MIG-slot5 1 0 \S.* MIG 1\.0\nmigslot 5\n/m);
        const r = probe(probe2Bin, nvml(h));
        assert.equal(r.status, 0, r.stdout);
        const slots = [];
        for (let j = 0; j < 9; j++) slots.push(`${rc(r, `gpu0-slot${j}`)} ${val(r, `gpu0-slot${j}`)}`.trim());
        assert.deepEqual(slots, ['6', '6', '0 MIG-slot2', '6', '6', '0 MIG-slot5', '6', '0 MIG-slot7', '6']);
      });
    });

    it('delays a named function', async function () {
      await withHost({ delays: [{ fn: 'nvmlDeviceGetCount_v2', ms: 150 }], gpus: [] }, {}, (h) => {
        const r = probe(probeBin, nvml(h));
        assert.equal(val(r, 'count'), '0');
        assert.ok(r.ms >= 450, `3 calls of 150 ms took ${r.ms} ms`);
      });
    });

    it('fails nvmlInit_v2 with UNKNOWN on a malformed, missing or unreadable spec', async function () {
      for (const text of [
        'driver 1\n',
        'mock-nvml 1\ndriver 580.159.04\n',
        'mock-nvml 1\ndriver 1\ncuda 1\ngpu 0\nname x\n',
        'mock-nvml 1\ndriver 1\ncuda 1\nfault nvmlFoo crash\n',
        `mock-nvml 1\ndriver 1\ncuda 1\n${'x'.repeat(5000)}\n`,
        '\0\0\0',
      ]) {
        await withHost({}, { nvmlSpecText: text }, (h) => {
          const r = probe(probeBin, nvml(h));
          assert.equal(r.status, 1, `${JSON.stringify(text.slice(0, 40))}: ${r.stdout}`);
          assert.equal(rc(r, 'init'), 999);
        });
      }
      await withHost({}, {}, async (h) => {
        await fsp.rm(h.nvmlSpecFile);
        assert.equal(rc(probe(probeBin, nvml(h)), 'init'), 999);
      });
      await withHost({}, {}, async (h) => {
        await fsp.rm(h.nvmlSpecFile);
        await fsp.mkdir(h.nvmlSpecFile); // a directory cannot be read as a spec
        assert.equal(rc(probe(probeBin, nvml(h)), 'init'), 999);
      });
    });

    it("builds hosts without NVML ('missing') or with a corrupt one", async function () {
      await withHost({ nvml: 'missing' }, {}, async (h) => {
        assert.equal(h.nvmlLibrary, null);
        const names = await fsp.readdir(path.join(h.root, LIB));
        assert.deepEqual(
          names.filter((n) => n.startsWith('libnvidia-ml')),
          [],
        );
        if (LDCONFIG) assert.ok(!ldconfigList(path.join(h.root, 'etc/ld.so.cache')).some((r) => r[0].startsWith('libnvidia-ml')));
      });
      await withHost({ nvml: 'corrupt' }, {}, async (h) => {
        const bytes = await fsp.readFile(h.nvmlLibrary);
        assert.notEqual(bytes.toString('latin1', 0, 4), '\x7fELF');
        const r = probe(probeBin, nvml(h));
        assert.equal(r.status, 2);
        assert.ok(r.rows.has('dlopen-failed'));
      });
    });
  });

  describe('device nodes', function () {
    it('are char devices with the right numbers when root, absent otherwise', async function () {
      if (!isRoot) {
        assert.equal(host.deviceNodesCreated, false);
        assert.deepEqual(await fsp.readdir(host.devRoot), []);
        return;
      }
      requireFeature(this, 'mknod', host.deviceNodesCreated, 'root with CAP_MKNOD');
      const expect = [
        ['nvidiactl', 195, 255, 0o666],
        ['nvidia0', 195, 0, 0o666],
        ['nvidia1', 195, 1, 0o666],
        ['nvidia2', 195, 2, 0o666],
        ['nvidia-uvm', 238, 0, 0o666],
        ['nvidia-uvm-tools', 238, 1, 0o666],
        ['nvidia-caps/nvidia-cap1', 241, 1, 0o400],
        ['nvidia-caps/nvidia-cap2', 241, 2, 0o444],
        ['nvidia-caps/nvidia-cap147', 241, 147, 0o444],
        ['nvidia-caps/nvidia-cap148', 241, 148, 0o444],
        ['nvidia-caps/nvidia-cap156', 241, 156, 0o444],
        ['nvidia-caps/nvidia-cap157', 241, 157, 0o444],
      ];
      for (const [rel, major, minor, mode] of expect) {
        const st = await fsp.stat(path.join(host.devRoot, rel), { bigint: true });
        assert.ok(st.isCharacterDevice(), rel);
        // glibc's dev_t encoding
        const rdev = st.rdev;
        const maj = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
        const min = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
        assert.deepEqual([maj, min], [major, minor], rel);
        assert.equal(Number(st.mode & 0o777n), mode, rel);
      }
      await assert.rejects(fsp.stat(path.join(host.devRoot, 'nvidia-modeset')), { code: 'ENOENT' });
      const all = (await fsp.readdir(host.devRoot)).length + (await fsp.readdir(path.join(host.devRoot, 'nvidia-caps'))).length;
      assert.equal(all, expect.length + 1); // plus the nvidia-caps directory
    });
  });

  describe('options and cleanup', function () {
    it('honours the toggles', async function () {
      const h = await testing.createSimulatedHost(
        { compat32: false, persistenced: false, fabricmanager: false, mps: false, firmware: false, decoys: false, deviceNodes: false, nvml: 'missing' },
        { dir: work },
      );
      try {
        assert.equal(path.dirname(h.dir), work);
        for (const rel of [
          LIB32,
          'run/nvidia-persistenced',
          'run/nvidia-fabricmanager',
          'tmp/nvidia-mps',
          'lib/firmware',
          `${LIB}/libcuda.so.535.104.05`,
          `${LIB}/libnvidia-foo.so`,
          testing.DECOY_TLS_DIR,
        ]) {
          await assert.rejects(fsp.lstat(path.join(h.root, rel)), { code: 'ENOENT' }, rel);
        }
        assert.deepEqual(await fsp.readdir(h.devRoot), []);
        assert.equal(h.deviceNodesCreated, false);
        if (LDCONFIG) assert.ok(!ldconfigList(path.join(h.root, 'etc/ld.so.cache')).some((r) => r[1] === 'libc6'));
      } finally {
        await h.cleanup();
      }
    });

    it('rejects bad specs with ERR_NVC_INVALID_ARGUMENT and leaves nothing behind', async function () {
      const parent = await fsp.mkdtemp(path.join(work, 'bad-'));
      const gpu = testing.defaultSimulatedHostSpec().gpus[2];
      const bad = [
        { gpus: [gpu, { ...gpu, uuid: 'GPU-other' }] }, // duplicate minor
        { gpus: [{ ...gpu, name: 'two\nlines' }] },
        { gpus: [{ ...gpu, migDevices: [{ uuid: 'MIG-x', gpuInstance: 1, computeInstance: 0 }] }] }, // MIG on a T4
        { faults: [{ fn: 'nvmlNope', kind: 'crash' }] },
        { faults: [{ fn: 'nvmlInit_v2', kind: 'error' }] },
        { driverVersion: '580 1' },
      ];
      for (const spec of bad) {
        await assert.rejects(testing.createSimulatedHost({ nvml: 'missing', ...spec }, { dir: parent }), {
          name: 'NvcError',
          code: 'ERR_NVC_INVALID_ARGUMENT',
        });
      }
      assert.deepEqual(await fsp.readdir(parent), []);
    });

    it('renders the mock spec from the host spec', function () {
      const text = testing.formatMockNvmlSpec({
        ...testing.defaultSimulatedHostSpec(),
        faults: [
          { fn: 'nvmlDeviceGetUUID', kind: 'exit', code: 3, device: 1 },
          { fn: 'nvmlShutdown', kind: 'error', code: 999 },
        ],
        delays: [{ fn: 'nvmlInit_v2', ms: 20 }],
      });
      assert.match(text, /^pci 0x0000 0x00 0x06 0x233010de 0x16c110de$/m);
      assert.match(text, /^mig enabled 7\nmigdev MIG-1a2b3c4d-5e6f-5a7b-8c9d-0e1f2a3b4c5d 1 0 NVIDIA A100-SXM4-40GB MIG 3g\.20gb$/m);
      assert.match(text, /^fault nvmlDeviceGetUUID exit 3 device 1$/m);
      assert.match(text, /^fault nvmlShutdown error 999$/m);
      assert.match(text, /^delay nvmlInit_v2 20$/m);
    });

    it('cleanup removes everything and tolerates a second call', async function () {
      const h = await testing.createSimulatedHost({ nvml: 'missing' }, { dir: work });
      await fsp.access(h.root);
      await h.cleanup();
      await assert.rejects(fsp.access(h.dir), { code: 'ENOENT' });
      await h.cleanup();
    });
  });
});
