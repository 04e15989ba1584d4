'use strict';
// Every init option is validated at the boundary and a bad one names its field.
const assert = require('node:assert/strict');
const { init, NvcError, NVC_ERROR_CODES } = require('../dist/index.js');
const { binding } = require('../dist/native.js');
const { resolveUser } = require('../dist/user.js');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

async function invalid(options, field, pattern) {
  try {
    await init(options);
  } catch (e) {
    assert.ok(e instanceof NvcError, String(e));
    assert.equal(e.code, 'ERR_NVC_INVALID_ARGUMENT');
    assert.equal(e.field, field);
    assert.match(e.message, pattern);
    return;
  }
  assert.fail('expected ERR_NVC_INVALID_ARGUMENT');
}

describe('init options', () => {
  it('rejects relative, empty and non-string paths, naming the field', async () => {
    await invalid({ root: 'run/nvidia/driver' }, 'root', /root: must be an absolute path/);
    await invalid({ ldcache: '' }, 'ldcache', /ldcache: must not be empty/);
    await invalid({ procRoot: 7 }, 'procRoot', /procRoot/);
    await invalid({ devRoot: 'dev' }, 'devRoot', /absolute/);
    await invalid({ sysRoot: '/sys\0x' }, 'sysRoot', /NUL/);
    await invalid({ nvmlPath: 'libnvidia-ml.so.1' }, 'nvmlPath', /absolute/);
  });

  it('rejects bad timeouts, users and unknown options', async () => {
    await invalid({ timeoutMs: 0 }, 'timeoutMs', />= 1/);
    await invalid({ timeoutMs: 1.5 }, 'timeoutMs', /integer/);
    await invalid({ timeoutMs: '10' }, 'timeoutMs', /timeoutMs/);
    await invalid({ user: 'a b' }, 'user', /UID\[:GID\]/);
    await invalid({ user: { uid: -1, gid: 0 } }, 'user.uid', />= 0/);
    await invalid({ rooot: '/' }, 'options', /rooot/);
    await invalid({ user: 'no-such-user-here' }, 'user', /no user named/);
  });

  it('resolves users by number or name, with the primary group by default', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-user-'));
    const files = { passwd: path.join(dir, 'passwd'), group: path.join(dir, 'group') };
    fs.writeFileSync(files.passwd, 'root:x:0:0::/root:/bin/sh\nsvc:x:1200:1300::/:/bin/false\n');
    fs.writeFileSync(files.group, 'root:x:0:\nvideo:x:44:\n');
    try {
      assert.deepEqual(await resolveUser('svc', files), { uid: 1200, gid: 1300 });
      assert.deepEqual(await resolveUser('svc:video', files), { uid: 1200, gid: 44 });
      assert.deepEqual(await resolveUser('1200', files), { uid: 1200, gid: 1300 });
      assert.deepEqual(await resolveUser('4000', files), { uid: 4000, gid: 4000 });
      assert.deepEqual(await resolveUser('4000:5', files), { uid: 4000, gid: 5 });
      await assert.rejects(resolveUser('svc:nogroup', files), /no group named "nogroup"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('error codes', () => {
  it('the addon and the TypeScript layer declare the same codes', () => {
    const native = binding()
      .errorCodes()
      .filter((c) => c !== 'OK');
    const ts = NVC_ERROR_CODES.filter((c) => native.includes(c));
    assert.deepEqual(ts, native);
    for (const c of native) assert.ok(NVC_ERROR_CODES.includes(c), `${c} missing in lib/errors.ts`);
  });

  it('the raw binding refuses misuse without crashing', () => {
    assert.throws(() => binding().init(), /config must be an object/);
    assert.throws(() => binding().init({ root: 1, helperPath: '/x' }), /root must be a string/);
  });
});

describe('init options: one list across the facade and the addon', () => {
  const { initOptionsSchema } = require('../dist/schema.js');
  it('the addon reads exactly the schema keys (user as uid/gid) plus the driver service path', () => {
    // user goes over as uid/gid; loadKernelModules is done in TypeScript before the service starts.
    const fromSchema = Object.keys(initOptionsSchema.shape).filter((k) => k !== 'user' && k !== 'loadKernelModules' && k !== 'logger');
    assert.deepEqual([...binding().initKeys()].sort(), [...fromSchema, 'uid', 'gid', 'driverPath'].sort());
  });
  it('host path defaults come from the native side: resolveHost fills them in', () => {
    assert.deepEqual(binding().resolveHost({}), { root: '/', ldcache: '/etc/ld.so.cache', procRoot: '/proc', devRoot: '/dev', sysRoot: '/sys', nvmlPath: '' });
    assert.deepEqual(binding().resolveHost({ root: '/drv', sysRoot: '/s' }), {
      root: '/drv',
      ldcache: '/etc/ld.so.cache',
      procRoot: '/drv/proc',
      devRoot: '/drv/dev',
      sysRoot: '/s',
      nvmlPath: '',
    });
    assert.throws(() => binding().resolveHost({ root: 'relative' }), /root/);
  });
});

describe('schemas compose with the zod the package depends on', () => {
  it('an application schema can embed initOptionsSchema and configureRequestSchema', () => {
    const { z } = require('zod');
    const { initOptionsSchema, configureRequestSchema } = require('../dist/schema.js');
    const app = z.object({ nvc: initOptionsSchema, request: configureRequestSchema });
    const parsed = app.parse({ nvc: { root: '/', timeoutMs: 5 }, request: { capabilities: ['compute'] } });
    assert.equal(parsed.nvc.timeoutMs, 5);
    assert.deepEqual(parsed.request.capabilities, ['compute']);
    assert.equal(parsed.request.noCgroups, false);
    assert.equal(app.safeParse({ nvc: { root: 'relative' }, request: {} }).success, false);
  });
});

describe('NvcError as a user sees it', () => {
  it('inspects with the details it has and no row of undefined fields', () => {
    const { inspect } = require('node:util');
    const text = inspect(new NvcError('ERR_NVC_SYSTEM', 'boom', { path: '/x' }));
    assert.match(text, /code: 'ERR_NVC_SYSTEM'/);
    assert.match(text, /path: '\/x'/);
    assert.doesNotMatch(text, /undefined/);
    assert.deepEqual(Object.keys(new NvcError('ERR_NVC_SYSTEM', 'boom')), ['name', 'code']);
  });
});
