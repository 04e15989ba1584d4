'use strict';
// Property tests of the TypeScript parsers that read image-, runtime- or host-controlled text
// (issue 11, fuzzing): whatever the input, a parser returns a well-formed value or throws an
// NvcError with a stable code, and a message a hostile value can neither blow up nor forge
// lines in. Runs, seed and path of a failing case come from fast-check; set FC_NUM_RUNS for a
// longer run (npm run fuzz runs the C targets; this is the TS side, part of `npm test`).
const assert = require('node:assert/strict');
const fc = require('fast-check');
const { NvcError } = require('../dist/errors.js');
const { parseRequirement, evaluateRequirement, compareVersions } = require('../dist/require.js');
const { interpretContainerEnv, parseOciState, parseOciConfig } = require('../dist/hook-env.js');
const { parseModinfoSection, moduleInfoFromImage } = require('../dist/kmod/modinfo.js');
const { parseLdCache, LdCacheFormatError } = require('../dist/ldcache-reader.js');
const { parseMigMinors } = require('../dist/host-facts.js');
const { parseProcModules: parseKernelModules, parseKernelConfig } = require('../dist/kmod/kernel-state.js');
const { parseCharMajors } = require('../dist/kmod/nodes.js');
const hostView = require('../dist/doctor/host-view.js');
const { buildKernelModule } = require('../dist/testing/index.js');

const numRuns = Number(process.env.FC_NUM_RUNS || 400);
const params = { numRuns };

// Bounds a message may reach whatever the input: issue 11 cuts quoted values to a short prefix.
const MESSAGE_MAX = 4096;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

function checkError(e, codes) {
  assert.ok(e instanceof NvcError, `expected an NvcError, got ${e && e.stack}`);
  assert.ok(codes.includes(e.code), `unexpected code ${e.code}: ${e.message}`);
  assert.ok(e.message.length <= MESSAGE_MAX, `message of ${e.message.length} characters`);
  assert.ok(!e.message.includes('\n'), `message with a line break: ${JSON.stringify(e.message.slice(0, 200))}`);
  assert.ok(!CONTROL.test(e.message), `message with a control character: ${JSON.stringify(e.message.slice(0, 200))}`);
}

// Strings biased toward what the parsers look for, plus anything at all.
const hostile = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('', ' ', ',', '\n', '\u001b[2J', '\u202e', '\ud800', '=', '>=', '<=', '!=', '..', 'all', 'none', 'void', '0', '-1', '4294967296', '1e9'),
  fc
    .array(fc.constantFrom('cuda', 'driver', 'arch', 'brand', '>=', '<', '=', '!=', '12.4', '7.0', 'tesla', ',', ' ', '.', '\n'), { maxLength: 12 })
    .map((a) => a.join('')),
);

describe('property: requirement expressions (lib/require.ts)', () => {
  it('parse either succeeds with terms of known names and operators or throws ERR_NVC_INVALID_REQUIREMENT', () => {
    fc.assert(
      fc.property(hostile, (expr) => {
        let r;
        try {
          r = parseRequirement(expr);
        } catch (e) {
          checkError(e, ['ERR_NVC_INVALID_REQUIREMENT']);
          return;
        }
        for (const clause of r.clauses) {
          assert.ok(clause.terms.length > 0);
          for (const t of clause.terms) {
            assert.ok(['cuda', 'driver', 'arch', 'brand'].includes(t.name), t.name);
            assert.ok(['=', '!=', '<', '<=', '>', '>='].includes(t.op), t.op);
            assert.notEqual(t.value, '');
          }
        }
      }),
      params,
    );
  });

  it('a well-formed expression always parses, and a version term agrees with compareVersions', () => {
    const version = fc.array(fc.integer({ min: 0, max: 999 }), { minLength: 1, maxLength: 4 }).map((a) => a.join('.'));
    fc.assert(
      fc.property(fc.constantFrom('cuda', 'driver', 'arch'), fc.constantFrom('=', '!=', '<', '<=', '>', '>='), version, version, (name, op, want, have) => {
        const r = parseRequirement(`${name}${op}${want}`);
        assert.equal(r.clauses.length, 1);
        const c = compareVersions(have, want);
        const expected = { '=': c === 0, '!=': c !== 0, '<': c < 0, '<=': c <= 0, '>': c > 0, '>=': c >= 0 }[op];
        assert.equal(compareVersions(want, have) + 0, -c + 0);
        const facts = { cudaVersion: '12.0', driverVersion: '580.1' };
        if (name === 'driver') facts.driverVersion = have;
        if (name === 'cuda') facts.cudaVersion = have;
        const evaluation = evaluateRequirement(r, facts, { architecture: name === 'arch' ? have : '9.0', brand: 'tesla' });
        assert.equal(evaluation.satisfied, expected, `${name}${op}${want} with ${have}`);
      }),
      params,
    );
  });
});

describe('property: hook environment (lib/hook-env.ts)', () => {
  const names = fc.constantFrom(
    'NVIDIA_VISIBLE_DEVICES',
    'NVIDIA_DRIVER_CAPABILITIES',
    'NVIDIA_REQUIRE_CUDA',
    'NVIDIA_DISABLE_REQUIRE',
    'NVIDIA_REQUIRE_DRIVER',
    'NVIDIA_MIG_CONFIG_DEVICES',
    'NVIDIA_MIG_MONITOR_DEVICES',
    'NVIDIA_IMEX_CHANNELS',
    'CUDA_VERSION',
    'NVIDIA_GDRCOPY',
    'NVIDIA_NVSWITCH',
    'PATH',
  );
  const entry = fc.oneof(
    fc.tuple(names, hostile).map(([n, v]) => `${n}=${v}`),
    fc
      .tuple(names, fc.constantFrom('all', 'none', 'void', '0,1', 'GPU-0', 'compute,utility', 'all,graphics', '12.4', 'cuda>=12.0', 'true', '0', '1'))
      .map(([n, v]) => `${n}=${v}`),
    hostile,
  );
  it('returns null or a request, or throws ERR_NVC_INVALID_ARGUMENT with a bounded, escaped message', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 12 }), fc.boolean(), (env, privileged) => {
        let r;
        try {
          r = interpretContainerEnv({ env, privileged });
        } catch (e) {
          checkError(e, ['ERR_NVC_INVALID_ARGUMENT', 'ERR_NVC_INVALID_REQUIREMENT']);
          return;
        }
        if (r !== null) {
          assert.equal(typeof r, 'object');
          assert.ok(Array.isArray(r.capabilities) || r.capabilities instanceof Set || typeof r.capabilities === 'object');
        }
      }),
      params,
    );
  });
});

describe('property: OCI state and config (lib/hook-env.ts)', () => {
  const stateLike = fc.record(
    {
      ociVersion: fc.oneof(fc.constant('1.2.0'), hostile),
      id: fc.oneof(fc.constant('c1'), hostile),
      status: fc.oneof(fc.constantFrom('creating', 'created', 'running', 'stopped'), hostile),
      pid: fc.oneof(fc.integer(), fc.double(), fc.constant(null), hostile),
      bundle: fc.oneof(fc.constant('/run/ctr/c1'), hostile),
      annotations: fc.dictionary(hostile, hostile, { maxKeys: 4 }),
    },
    { requiredKeys: [] },
  );
  it('parseOciState accepts well-typed states and refuses the rest with ERR_NVC_INVALID_ARGUMENT', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          stateLike.map((s) => JSON.stringify(s)),
          fc.json({ maxDepth: 3 }),
          hostile,
        ),
        (text) => {
          for (const input of [text, Buffer.from(text)]) {
            let s;
            try {
              s = parseOciState(input);
            } catch (e) {
              checkError(e, ['ERR_NVC_INVALID_ARGUMENT']);
              continue;
            }
            assert.equal(typeof s, 'object');
            if (s.pid !== undefined) assert.ok(Number.isInteger(s.pid) && s.pid > 0, `pid ${s.pid}`);
          }
        },
      ),
      params,
    );
  });
  it('parseOciConfig never throws anything but ERR_NVC_INVALID_ARGUMENT', () => {
    const configLike = fc.record(
      {
        ociVersion: fc.constant('1.2.0'),
        root: fc.oneof(fc.record({ path: hostile, readonly: fc.boolean() }), hostile),
        process: fc.oneof(fc.record({ env: fc.array(hostile, { maxLength: 5 }), capabilities: fc.json({ maxDepth: 2 }) }), hostile),
        mounts: fc.array(fc.record({ destination: hostile, type: hostile, source: hostile }), { maxLength: 3 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          configLike.map((c) => JSON.stringify(c)),
          fc.json({ maxDepth: 3 }),
          hostile,
        ),
        (text) => {
          try {
            assert.equal(typeof parseOciConfig(text), 'object');
          } catch (e) {
            checkError(e, ['ERR_NVC_INVALID_ARGUMENT']);
          }
        },
      ),
      params,
    );
  });
});

describe('property: the .modinfo reader (lib/kmod/modinfo.ts)', () => {
  it('parseModinfoSection gives key=value pairs whose keys are non-empty and hold no NUL', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        for (const [k, v] of parseModinfoSection(Buffer.from(bytes))) {
          assert.ok(k.length > 0 && !k.includes('\0') && !k.includes('='));
          assert.ok(!v.includes('\0'));
        }
      }),
      params,
    );
  });
  it('moduleInfoFromImage over a corrupted module gives a module or ERR_NVC_KERNEL_MODULE, never a crash', () => {
    const base = buildKernelModule({ file: 'nvidia-drm', depends: ['nvidia'], params: ['modeset:bool'], exportedSymbols: ['a'], undefinedSymbols: ['b'] });
    const mutation = fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 16 });
    fc.assert(
      fc.property(
        fc.oneof(
          mutation.map((m) => ({ m, cut: base.length })),
          fc.nat(base.length).map((cut) => ({ m: [], cut })),
        ),
        ({ m, cut }) => {
          const image = Buffer.from(base.subarray(0, cut));
          for (const [at, b] of m) if (at < image.length) image[at] = b;
          try {
            const info = moduleInfoFromImage(image, '/lib/modules/x/nvidia-drm.ko', 'none', 'nvidia-drm.ko');
            assert.equal(typeof info.name, 'string');
          } catch (e) {
            checkError(e, ['ERR_NVC_KERNEL_MODULE']);
          }
        },
      ),
      params,
    );
  });
});

describe('property: the ld.so.cache reader (lib/ldcache-reader.ts)', () => {
  it('gives records with string keys and values, or a LdCacheFormatError, for any bytes', () => {
    // A valid new-format header up front, so the fuzzing reaches the entries and strings.
    const header = Buffer.from('glibc-ld.so.cache1.1', 'latin1');
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 600 }), (withHeader, bytes) => {
        const buf = withHeader ? Buffer.concat([header, Buffer.from(bytes)]) : Buffer.from(bytes);
        let records;
        try {
          records = parseLdCache(buf);
        } catch (e) {
          assert.ok(e instanceof LdCacheFormatError, `unexpected ${e && e.stack}`);
          return;
        }
        assert.ok(records.length <= buf.length);
        for (const r of records) assert.ok(typeof r.key === 'string' && typeof r.value === 'string' && Number.isInteger(r.flags));
      }),
      params,
    );
  });
});

describe('property: /proc parsers of the TS side', () => {
  const lines = fc
    .array(
      fc.oneof(
        hostile,
        fc.constantFrom(
          '195 nvidia-frontend',
          'Character devices:',
          'Block devices:',
          'nvidia 1234 2 nvidia_uvm, Live 0x0',
          'gpu0/gi1/access 10',
          'config 1',
          'CONFIG_MODULES=y',
          'NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Release',
        ),
      ),
      { maxLength: 10 },
    )
    .map((a) => a.join('\n'));
  it('mig-minors, /proc/modules, /proc/devices, params, version and kernel config parsers take any text', () => {
    fc.assert(
      fc.property(lines, (text) => {
        for (const m of parseMigMinors(text))
          assert.ok(Number.isInteger(m.gpuMinor) && m.gpuMinor >= 0 && Number.isInteger(m.capMinor) && m.capMinor >= 0, JSON.stringify(m));
        for (const [name, mod] of parseKernelModules(text)) assert.ok(name.length > 0 && typeof mod === 'object');
        for (const [name, major] of parseCharMajors(text)) assert.ok(name.length > 0 && Number.isInteger(major) && major >= 0);
        for (const [name, major] of hostView.parseProcDevices(text)) assert.ok(name.length > 0 && Number.isInteger(major) && major >= 0);
        for (const [name] of hostView.parseProcModules(text)) assert.ok(name.length > 0);
        for (const [k, v] of hostView.parseKeyValues(text)) assert.ok(typeof k === 'string' && typeof v === 'string');
        const version = hostView.parseKernelModuleVersion(text);
        assert.ok(version === null || /^[0-9][0-9.]*$/.test(version), String(version));
        assert.equal(typeof parseKernelConfig(text, '/proc/config.gz'), 'object');
      }),
      params,
    );
  });
});
