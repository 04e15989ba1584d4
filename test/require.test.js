'use strict';
// Requirement DSL: study §5.1 and every vector of §10.1, plus the messages we add.

const assert = require('node:assert/strict');
const { parseRequirement, checkRequirements, evaluateRequirement, compareVersions, formatCudaVersion } = require('../dist/require.js');
const { NvcError } = require('../dist/errors.js');

const GPU = { label: 'GPU 0 (NVIDIA GeForce RTX 4090)', architecture: '8.9', brand: 'GeForce' };
const FACTS = { cudaVersion: '12.4', driverVersion: '550.54.14', devices: [GPU] };

function check(expr, facts = FACTS) {
  checkRequirements([expr], facts);
}

function fails(expr, facts = FACTS) {
  try {
    check(expr, facts);
  } catch (err) {
    assert.ok(err instanceof NvcError, `expected NvcError, got ${err}`);
    assert.equal(err.code, 'ERR_NVC_REQUIREMENT_UNSATISFIED', err.message);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(expr)} to be unsatisfied`);
}

function invalid(expr) {
  try {
    parseRequirement(expr);
  } catch (err) {
    assert.ok(err instanceof NvcError);
    assert.equal(err.code, 'ERR_NVC_INVALID_REQUIREMENT', err.message);
    assert.match(err.message, /^invalid expression /);
    assert.ok(err.message.includes(JSON.stringify(expr)), `message names the expression: ${err.message}`);
    // Same error through checkRequirements, before any evaluation.
    assert.throws(() => checkRequirements([expr], FACTS), { code: 'ERR_NVC_INVALID_REQUIREMENT' });
    return err;
  }
  assert.fail(`expected ${JSON.stringify(expr)} to be invalid`);
}

const CUDA_HINT = ', please update your driver to a newer version, or use an earlier cuda container';

describe('require: §10.1 vectors (cuda 12.4, driver 550.54.14, arch 8.9, GeForce)', () => {
  it('cuda>=12.0 passes', () => check('cuda>=12.0'));

  it('cuda>=12.8 fails with the reference text', () => {
    const err = fails('cuda>=12.8');
    assert.ok(err.message.startsWith(`unsatisfied condition: cuda>=12.8${CUDA_HINT}`), err.message);
  });

  it('cuda>=12.8 brand=geforce,driver>=550,driver<551 passes through the 2nd clause (brand case-insensitive)', () =>
    check('cuda>=12.8 brand=geforce,driver>=550,driver<551'));

  it('cuda>=12.8 brand=tesla,driver>=550,driver<551 fails citing only the first clause', () => {
    const err = fails('cuda>=12.8 brand=tesla,driver>=550,driver<551');
    assert.ok(err.message.startsWith(`unsatisfied condition: cuda>=12.8${CUDA_HINT}`), err.message);
    assert.ok(!err.message.startsWith('unsatisfied condition: cuda>=12.8 brand'), err.message);
  });

  it('driver>=550.54.14 passes, driver>550.54.14 fails, driver<=550.54 fails', () => {
    check('driver>=550.54.14');
    assert.equal(fails('driver>550.54.14').message.split(' (')[0], 'unsatisfied condition: driver>550.54.14');
    assert.equal(fails('driver<=550.54').message.split(' (')[0], 'unsatisfied condition: driver<=550.54');
  });

  it('driver=550.54.014 passes (numeric components)', () => check('driver=550.54.014'));

  it('arch=8.9, arch>=7.0, arch<8, arch=8.9.0 → pass, pass, fail, pass', () => {
    check('arch=8.9');
    check('arch>=7.0');
    fails('arch<8');
    check('arch=8.9.0');
  });

  it('CUDA>=12 (upper-case rule) passes', () => check('CUDA>=12'));

  for (const expr of ['cuda==12.4', 'cuda=>12', 'cuda>=', 'cuda>=12a', 'foo>=1', 'brand>geforce']) {
    it(`${expr} is an invalid expression`, () => invalid(expr));
  }

  it('empty and blank expressions pass', () => {
    check('');
    check('   ');
    checkRequirements([], FACTS);
    assert.deepEqual(parseRequirement('   ').clauses, []);
  });

  it('no visible device: arch/brand terms pass (no device data)', () => {
    const none = { cudaVersion: '12.4', driverVersion: '550.54.14', devices: [] };
    check('arch=1.0', none);
    check('brand=tesla', none);
    check('cuda>=12.0,arch=1.0', none);
    fails('cuda>=12.8,arch=1.0', none);
  });

  it('missing driver data passes', () => {
    check('cuda>=99 driver>=999', { devices: [{ label: 'GPU 0' }] });
    check('arch=1.0,brand=tesla', { cudaVersion: '12.4', devices: [{ label: 'GPU 0' }] });
  });

  it('formats NVML CUDA versions', () => {
    assert.equal(formatCudaVersion(12040), '12.4');
    assert.equal(formatCudaVersion(11080), '11.8');
    assert.equal(formatCudaVersion(13000), '13.0');
    assert.equal(formatCudaVersion(12020), '12.2');
    assert.throws(() => formatCudaVersion(-1), { code: 'ERR_NVC_INVALID_ARGUMENT' });
    assert.throws(() => formatCudaVersion(1.5), { code: 'ERR_NVC_INVALID_ARGUMENT' });
  });
});

describe('require: grammar and comparison details (§5.1)', () => {
  it('parses clauses and terms, ignoring empty pieces', () => {
    const r = parseRequirement('  cuda>=12.1  Brand=Tesla,,driver>=470,driver<471 ');
    assert.equal(r.clauses.length, 2);
    assert.equal(r.clauses[0].text, 'cuda>=12.1');
    assert.deepEqual(
      r.clauses[1].terms.map((t) => [t.name, t.op, t.value]),
      [
        ['brand', '=', 'Tesla'],
        ['driver', '>=', '470'],
        ['driver', '<', '471'],
      ],
    );
  });

  it('treats tabs and newlines as clause separators', () => {
    assert.equal(parseRequirement('cuda>=13\tbrand=geforce\ncuda>=1').clauses.length, 3);
    check('cuda>=13\tbrand=geforce');
  });

  it('accepts every operator', () => {
    check('driver=550.54.14');
    check('driver!=550');
    check('driver<551');
    check('driver<=550.54.14');
    check('driver>550');
    check('driver>=550');
    check('brand!=tesla');
    fails('brand!=GEFORCE');
  });

  it('compares versions numerically, trailing zeros insignificant, longer non-zero is greater', () => {
    assert.equal(compareVersions('11', '11.0.0'), 0);
    assert.equal(compareVersions('07', '7'), 0);
    assert.equal(compareVersions('550.54.14', '550.54'), 1);
    assert.equal(compareVersions('12.10', '12.9'), 1);
    assert.equal(compareVersions('1.2', '1.10'), -1);
    assert.equal(compareVersions('99999999999999999999999', '99999999999999999999998'), 1);
    check('cuda=12.4.0.0');
    check('cuda>11');
  });

  for (const expr of [
    '>=12',
    'cuda',
    'cuda<>12',
    'cuda!12',
    'cuda>=12.',
    'cuda>=.12',
    'cuda>=1..2',
    'brand<=tesla',
    'brand>=tesla',
    'cuda>=12 foo=1',
    'brand=a=b',
  ]) {
    it(`rejects ${JSON.stringify(expr)}`, () => invalid(expr));
  }

  it('invalid-expression messages name the bad term and what is allowed', () => {
    assert.match(invalid('cuda==12.4').message, /term "cuda==12\.4".*operator "==" is not one of =, !=, <, <=, >, >=/);
    assert.match(invalid('cuda>=12 foo>=1').message, /term "foo>=1".*unknown name "foo" \(allowed names: cuda, driver, arch, brand\)/);
    assert.match(invalid('cuda>=12a').message, /value "12a" is not a version/);
    assert.match(invalid('brand>geforce').message, /brand can only be compared with = or !=/);
    assert.match(invalid('cuda>=').message, /no value/);
  });

  it('a clause of commas only is dropped, not taken as true', () => {
    fails('cuda>=99 ,');
    fails(', cuda>=99');
    check(',');
  });

  it('evaluateRequirement reports without throwing', () => {
    const r = parseRequirement('cuda>=12.8 brand=tesla,driver>=550');
    const ev = evaluateRequirement(r, FACTS, GPU);
    assert.equal(ev.satisfied, false);
    assert.deepEqual(
      ev.failures.map((f) => [f.term.text, f.actual]),
      [
        ['cuda>=12.8', '12.4'],
        ['brand=tesla', 'GeForce'],
      ],
    );
    assert.deepEqual(evaluateRequirement(r, { cudaVersion: '12.8' }, GPU), { satisfied: true, failures: [] });
  });
});

describe('require: per-device evaluation and improved messages', () => {
  const A100 = { label: 'GPU 1 (NVIDIA A100)', architecture: '8.0', brand: 'Tesla' };

  it('evaluates each device; the failing one is named', () => {
    const facts = { ...FACTS, devices: [A100, GPU] };
    check('arch>=8.0', facts);
    const err = fails('arch>=8.6', facts);
    assert.equal(err.message, 'unsatisfied condition: arch>=8.6 (on GPU 1 (NVIDIA A100): arch>=8.6 needs compute capability 8.6 or higher, the GPU has 8.0)');
    const err2 = fails('brand=tesla', facts);
    assert.match(err2.message, /on GPU 0 \(NVIDIA GeForce RTX 4090\): brand=tesla needs brand tesla, the GPU is GeForce\)$/);
  });

  it('cuda>= failures say which versions were compared and give a hint', () => {
    const err = fails('cuda>=12.8');
    assert.equal(
      err.message,
      `unsatisfied condition: cuda>=12.8${CUDA_HINT} (on GPU 0 (NVIDIA GeForce RTX 4090): cuda>=12.8 needs CUDA 12.8 or newer, the driver provides 12.4)`,
    );
    assert.match(err.hint, /CUDA 12\.8 or newer/);
    assert.match(err.hint, /NVIDIA_DISABLE_REQUIRE=true/);
  });

  it('without devices the message has no device part', () => {
    const err = fails('driver>=560', { cudaVersion: '12.4', driverVersion: '550.54.14', devices: [] });
    assert.equal(err.message, 'unsatisfied condition: driver>=560 (driver>=560 needs driver 560 or newer, the driver is 550.54.14)');
  });

  it('lists why the other alternatives failed, or counts them when there are many', () => {
    const err = fails('cuda>=12.8 brand=tesla,driver>=550,driver<551');
    assert.match(
      err.message,
      /; the other alternative failed too: "brand=tesla,driver>=550,driver<551" \(brand=tesla needs brand tesla, the GPU is GeForce\)\)$/,
    );
    const many =
      'cuda>=12.8 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 ' +
      'brand=nvidia,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471';
    const err2 = fails(many);
    assert.ok(err2.message.startsWith(`unsatisfied condition: cuda>=12.8${CUDA_HINT} (`), err2.message);
    assert.match(err2.message, /none of the 4 other alternatives matched either\)$/);
  });

  it('the upgrade suffix is only for a first clause starting with cuda>=', () => {
    assert.ok(!fails('cuda>12.8').message.includes('please update'));
    assert.ok(!fails('driver>=999 cuda>=99').message.includes('please update'));
    assert.ok(fails('cuda>=12.8,driver>=1').message.startsWith(`unsatisfied condition: cuda>=12.8,driver>=1${CUDA_HINT}`));
  });

  it('stops at the first unmet expression, checking all expressions', () => {
    check('cuda>=12.0');
    assert.throws(() => checkRequirements(['cuda>=12.0', 'driver<500', 'foo'], FACTS), {
      code: 'ERR_NVC_INVALID_REQUIREMENT',
    });
    assert.throws(
      () => checkRequirements(['cuda>=12.0', 'driver<500'], FACTS),
      (e) => e.message.startsWith('unsatisfied condition: driver<500 '),
    );
  });

  it('rejects malformed facts', () => {
    assert.throws(() => checkRequirements(['cuda>=1'], { cudaVersion: '12.x', devices: [] }), { code: 'ERR_NVC_INVALID_ARGUMENT' });
    assert.throws(() => checkRequirements(['cuda>=1'], {}), { code: 'ERR_NVC_INVALID_ARGUMENT' });
  });
});

describe('require: exact messages of invalid expressions', () => {
  const HINT =
    'write alternatives separated by spaces, each a comma-separated list of <name><op><value> terms; ' +
    'names: cuda, driver, arch, brand; operators: =, !=, <, <=, >, >=; e.g. "cuda>=12.0 brand=tesla,driver>=535"';
  const cases = [
    ['cuda', 'in term "cuda", it has no operator (allowed: =, !=, <, <=, >, >=)'],
    ['>=12', 'in term ">=12", it has no name before the operator (allowed names: cuda, driver, arch, brand)'],
    ['cuda>=12 Foo>=1', 'in term "Foo>=1", unknown name "Foo" (allowed names: cuda, driver, arch, brand)'],
    ['cuda==12.4', 'in term "cuda==12.4", operator "==" is not one of =, !=, <, <=, >, >='],
    ['cuda!12', 'in term "cuda!12", operator "!" is not one of =, !=, <, <=, >, >='],
    ['driver>=', 'in term "driver>=", it has no value after ">="'],
    ['arch<', 'in term "arch<", it has no value after "<"'],
    ['cuda>=1<2', 'in term "cuda>=1<2", the value "1<2" contains an operator character (<, >, = or !)'],
    ['brand=a!b', 'in term "brand=a!b", the value "a!b" contains an operator character (<, >, = or !)'],
    ['brand>geforce', 'in term "brand>geforce", brand can only be compared with = or !=, not ">"'],
    ['brand<=tesla', 'in term "brand<=tesla", brand can only be compared with = or !=, not "<="'],
    ['cuda>=12a', 'in term "cuda>=12a", the value "12a" is not a version (digits separated by single dots, e.g. 12.4)'],
    ['driver<x550', 'in term "driver<x550", the value "x550" is not a version (digits separated by single dots, e.g. 12.4)'],
    ['arch=8.', 'in term "arch=8.", the value "8." is not a version (digits separated by single dots, e.g. 12.4)'],
    ['cuda>=12,,driver>=1 arch>8.x', 'in term "arch>8.x", the value "8.x" is not a version (digits separated by single dots, e.g. 12.4)'],
  ];
  for (const [expr, reason] of cases) {
    it(`${JSON.stringify(expr)}: ${reason}`, () => {
      assert.throws(
        () => parseRequirement(expr),
        (err) => {
          assert.ok(err instanceof NvcError);
          assert.deepEqual(err.toJSON(), {
            name: 'NvcError',
            code: 'ERR_NVC_INVALID_REQUIREMENT',
            message: `invalid expression ${JSON.stringify(expr)}: ${reason}`,
            field: 'require',
            hint: HINT,
          });
          return true;
        },
      );
    });
  }

  it('brand takes = and != only; the others take every operator', () => {
    for (const op of ['<', '<=', '>', '>=']) invalid(`brand${op}tesla`);
    for (const op of ['=', '!=']) assert.equal(parseRequirement(`brand${op}tesla`).clauses[0].terms[0].op, op);
    for (const name of ['cuda', 'driver', 'arch']) {
      for (const op of ['=', '!=', '<', '<=', '>', '>=']) {
        assert.deepEqual(parseRequirement(`${name}${op}1.2`).clauses[0].terms, [{ text: `${name}${op}1.2`, name, op, value: '1.2' }]);
      }
    }
  });

  it('versions: several digits per component, any number of components; brand values are words', () => {
    assert.deepEqual(parseRequirement('DRIVER>=550.54.14').clauses[0].terms[0], { text: 'DRIVER>=550.54.14', name: 'driver', op: '>=', value: '550.54.14' });
    assert.equal(parseRequirement('cuda>=12').clauses[0].terms[0].value, '12');
    assert.equal(parseRequirement('brand=Quadro-RTX').clauses[0].terms[0].value, 'Quadro-RTX');
  });

  it('a non-string expression is an invalid argument', () => {
    assert.throws(
      () => parseRequirement(42),
      (err) => {
        assert.deepEqual(err.toJSON(), {
          name: 'NvcError',
          code: 'ERR_NVC_INVALID_ARGUMENT',
          message: 'a requirement expression must be a string',
          field: 'require',
        });
        return true;
      },
    );
  });

  it('keeps the expression and each clause as written', () => {
    const r = parseRequirement(' CUDA>=12.1\t\tbrand=Tesla,,driver>=470 ');
    assert.equal(r.expression, ' CUDA>=12.1\t\tbrand=Tesla,,driver>=470 ');
    assert.deepEqual(
      r.clauses.map((c) => c.text),
      ['CUDA>=12.1', 'brand=Tesla,,driver>=470'],
    );
    assert.deepEqual(
      r.clauses[1].terms.map((t) => t.text),
      ['brand=Tesla', 'driver>=470'],
    );
  });
});

describe('require: comparisons', () => {
  it('compareVersions: leading zeros of any length, big numbers, more components', () => {
    assert.equal(compareVersions('007', '7'), 0);
    assert.equal(compareVersions('100', '99'), 1);
    assert.equal(compareVersions('99', '100'), -1);
    assert.equal(compareVersions('0', '00'), 0);
    assert.equal(compareVersions('1.0.0.1', '1'), 1);
    assert.equal(compareVersions('1', '1.0.0.1'), -1);
    assert.equal(compareVersions('12.4', '12.4'), 0);
    assert.equal(compareVersions('2', '10'), -1);
    assert.equal(compareVersions('10', '2'), 1);
    assert.equal(compareVersions('3', '2'), 1);
    assert.equal(compareVersions('2', '3'), -1);
  });

  // driver 550.54.14 against a lower, an equal and a higher version, for every operator.
  const table = {
    '=': [false, true, false],
    '!=': [true, false, true],
    '<': [false, false, true],
    '<=': [false, true, true],
    '>': [true, false, false],
    '>=': [true, true, false],
  };
  for (const [op, expected] of Object.entries(table)) {
    it(`driver${op}: lower/equal/higher → ${expected.join('/')}`, () => {
      const got = ['550.54.9', '550.54.14', '550.100'].map(
        (v) => evaluateRequirement(parseRequirement(`driver${op}${v}`), { driverVersion: '550.54.14' }).satisfied,
      );
      assert.deepEqual(got, expected);
    });
  }

  it('brand = and != compare case-insensitively', () => {
    const dev = { label: 'GPU 0', brand: 'GeForce' };
    const sat = (expr) => evaluateRequirement(parseRequirement(expr), {}, dev).satisfied;
    assert.equal(sat('brand=GEFORCE'), true);
    assert.equal(sat('brand=geforce'), true);
    assert.equal(sat('brand=tesla'), false);
    assert.equal(sat('brand!=geforce'), false);
    assert.equal(sat('brand!=Tesla'), true);
  });

  it('terms without a fact hold: empty strings count as unknown', () => {
    const r = parseRequirement('cuda>=99,driver>=999,arch>=99,brand=none');
    assert.deepEqual(evaluateRequirement(r, { cudaVersion: '', driverVersion: '' }, { label: 'x', architecture: '', brand: '' }), {
      satisfied: true,
      failures: [],
    });
    assert.deepEqual(evaluateRequirement(r, {}), { satisfied: true, failures: [] });
  });

  it('an empty requirement holds, even against nothing', () => {
    assert.deepEqual(evaluateRequirement(parseRequirement(''), {}), { satisfied: true, failures: [] });
  });

  it('the first failing term of each clause is reported, with the fact and the explanation', () => {
    const r = parseRequirement('cuda>=12.0,driver>=560,arch>=9.0 arch>=9.0,brand=tesla');
    assert.deepEqual(evaluateRequirement(r, FACTS, GPU), {
      satisfied: false,
      failures: [
        {
          term: { text: 'driver>=560', name: 'driver', op: '>=', value: '560' },
          actual: '550.54.14',
          explanation: 'driver>=560 needs driver 560 or newer, the driver is 550.54.14',
        },
        {
          term: { text: 'arch>=9.0', name: 'arch', op: '>=', value: '9.0' },
          actual: '8.9',
          explanation: 'arch>=9.0 needs compute capability 9.0 or higher, the GPU has 8.9',
        },
      ],
    });
  });

  it('malformed facts are rejected, each naming itself', () => {
    const bad = (facts, device, field, value) =>
      assert.throws(
        () => evaluateRequirement(parseRequirement('cuda>=1'), facts, device),
        (err) => {
          assert.deepEqual(err.toJSON(), {
            name: 'NvcError',
            code: 'ERR_NVC_INVALID_ARGUMENT',
            message: `${field} ${JSON.stringify(value)} is not a version (digits separated by dots)`,
            field,
          });
          return true;
        },
      );
    bad({ cudaVersion: '12.x' }, undefined, 'cudaVersion', '12.x');
    bad({ cudaVersion: '12.4', driverVersion: 'r550' }, undefined, 'driverVersion', 'r550');
    bad({}, { label: 'GPU 0', architecture: 'sm_89' }, 'architecture', 'sm_89');
    bad({ cudaVersion: 'v12.4' }, undefined, 'cudaVersion', 'v12.4');
    bad({ cudaVersion: '12.4 ' }, undefined, 'cudaVersion', '12.4 ');
    // A brand is a word, never checked as a version.
    assert.equal(evaluateRequirement(parseRequirement('cuda>=1'), {}, { label: 'x', brand: 'x.y!' }).satisfied, true);
  });
});

describe('require: every explanation', () => {
  const DEV = { label: 'GPU 3 (NVIDIA A2)', architecture: '8.6', brand: 'Nvidia' };
  const facts = { cudaVersion: '12.4', driverVersion: '550.54.14', devices: [DEV] };
  const why = (expr) =>
    fails(expr, facts)
      .message.replace(/^.* \(on GPU 3 \(NVIDIA A2\): /, '')
      .replace(/\)$/, '');
  const cases = [
    ['cuda=12.3', 'cuda=12.3 needs CUDA exactly 12.3, the driver provides 12.4'],
    ['cuda!=12.4', 'cuda!=12.4 needs CUDA anything but 12.4, the driver provides 12.4'],
    ['cuda<12.4', 'cuda<12.4 needs CUDA older than 12.4, the driver provides 12.4'],
    ['cuda<=12.3', 'cuda<=12.3 needs CUDA 12.3 or older, the driver provides 12.4'],
    ['cuda>12.4', 'cuda>12.4 needs CUDA newer than 12.4, the driver provides 12.4'],
    ['driver<550', 'driver<550 needs driver older than 550, the driver is 550.54.14'],
    ['driver<=550', 'driver<=550 needs driver 550 or older, the driver is 550.54.14'],
    ['driver>560', 'driver>560 needs driver newer than 560, the driver is 550.54.14'],
    ['driver=1', 'driver=1 needs driver exactly 1, the driver is 550.54.14'],
    ['arch<8.6', 'arch<8.6 needs compute capability lower than 8.6, the GPU has 8.6'],
    ['arch<=8.0', 'arch<=8.0 needs compute capability 8.0 or lower, the GPU has 8.6'],
    ['arch>8.6', 'arch>8.6 needs compute capability higher than 8.6, the GPU has 8.6'],
    ['arch>=9', 'arch>=9 needs compute capability 9 or higher, the GPU has 8.6'],
    ['arch!=8.6.0', 'arch!=8.6.0 needs compute capability anything but 8.6.0, the GPU has 8.6'],
    ['brand=Tesla', 'brand=Tesla needs brand Tesla, the GPU is Nvidia'],
    ['brand!=nvidia', 'brand!=nvidia needs a brand other than nvidia, the GPU is Nvidia'],
  ];
  for (const [expr, explanation] of cases) {
    it(`${expr}: ${explanation}`, () => assert.equal(why(expr), explanation));
  }
});

describe('require: unsatisfied-requirement messages and hints', () => {
  const GENERIC = 'set NVIDIA_DISABLE_REQUIRE=true in the container to skip requirement checks';
  const cudaHint = (want, have) =>
    `install a driver that provides CUDA ${want} or newer, run an image built for CUDA ${have} or older, ` +
    'or set NVIDIA_DISABLE_REQUIRE=true in the container to skip the check';
  const none = { cudaVersion: '12.4', driverVersion: '550.54.14', devices: [] };

  it('the whole error: code, message, field, hint', () => {
    const err = fails('cuda>=12.8', none);
    assert.deepEqual(err.toJSON(), {
      name: 'NvcError',
      code: 'ERR_NVC_REQUIREMENT_UNSATISFIED',
      message: `unsatisfied condition: cuda>=12.8${CUDA_HINT} (cuda>=12.8 needs CUDA 12.8 or newer, the driver provides 12.4)`,
      field: 'require',
      hint: cudaHint('12.8', '12.4'),
    });
  });

  it('the upgrade suffix also for an upper-case CUDA>= first clause', () => {
    assert.ok(fails('CUDA>=12.8', none).message.startsWith(`unsatisfied condition: CUDA>=12.8${CUDA_HINT} (`));
  });

  it('the CUDA hint for cuda> and cuda>= failures, the generic one otherwise', () => {
    assert.equal(fails('cuda>12.4', none).hint, cudaHint('12.4', '12.4'));
    assert.equal(fails('cuda<12.0', none).hint, GENERIC);
    assert.equal(fails('cuda=12.0', none).hint, GENERIC);
    assert.equal(fails('driver>=560', none).hint, GENERIC);
    assert.equal(fails('driver>560', none).hint, GENERIC);
    // The hint follows the first clause's failing term, whatever the others.
    assert.equal(fails('driver>=560 cuda>=13', none).hint, GENERIC);
    assert.equal(fails('cuda>=13 driver>=560', none).hint, cudaHint('13', '12.4'));
  });

  it('one, two and three other alternatives are listed; four are counted', () => {
    const alt = (n) => Array.from({ length: n }, (_, i) => `driver>=${600 + i}`);
    const msg = (n) => fails(['cuda>=13', ...alt(n)].join(' '), none).message;
    const head = `unsatisfied condition: cuda>=13${CUDA_HINT} (cuda>=13 needs CUDA 13 or newer, the driver provides 12.4`;
    const part = (i) => `"driver>=${600 + i}" (driver>=${600 + i} needs driver ${600 + i} or newer, the driver is 550.54.14)`;
    assert.equal(msg(0), `${head})`);
    assert.equal(msg(1), `${head}; the other alternative failed too: ${part(0)})`);
    assert.equal(msg(2), `${head}; the other alternatives failed too: ${part(0)}; ${part(1)})`);
    assert.equal(msg(3), `${head}; the other alternatives failed too: ${part(0)}; ${part(1)}; ${part(2)})`);
    assert.equal(msg(4), `${head}; none of the 4 other alternatives matched either)`);
  });

  it('devices are checked in order and the first failing one is named; no device means one device-less check', () => {
    const a = { label: 'GPU 0 (A)', architecture: '9.0' };
    const b = { label: 'GPU 1 (B)', architecture: '7.0' };
    const c = { label: 'GPU 2 (C)', architecture: '6.0' };
    const err = fails('arch>=8', { devices: [a, b, c] });
    assert.equal(err.message, 'unsatisfied condition: arch>=8 (on GPU 1 (B): arch>=8 needs compute capability 8 or higher, the GPU has 7.0)');
    checkRequirements(['arch>=8'], { devices: [] });
  });

  it('for each device, every expression is checked before the next device', () => {
    const a = { label: 'GPU 0 (A)', architecture: '9.0', brand: 'Tesla' };
    const b = { label: 'GPU 1 (B)', architecture: '7.0', brand: 'GeForce' };
    assert.throws(
      () => checkRequirements(['arch>=8', 'brand=geforce'], { devices: [a, b] }),
      (e) => e.message.startsWith('unsatisfied condition: brand=geforce (on GPU 0 (A)'),
    );
  });

  it('blank expressions among others are ignored', () => {
    checkRequirements(['', ' ', 'cuda>=12'], FACTS);
    assert.throws(() => checkRequirements(['', 'cuda>=13'], FACTS), { code: 'ERR_NVC_REQUIREMENT_UNSATISFIED' });
  });

  it('malformed arguments are invalid arguments, with fields', () => {
    const argErr = (fn, message, field) =>
      assert.throws(fn, (err) => {
        assert.deepEqual(err.toJSON(), { name: 'NvcError', code: 'ERR_NVC_INVALID_ARGUMENT', message, field });
        return true;
      });
    argErr(() => checkRequirements('cuda>=1', FACTS), 'requirements must be an array of strings', 'require');
    argErr(() => checkRequirements(['cuda>=1'], null), 'facts.devices must be an array', 'devices');
    argErr(() => checkRequirements(['cuda>=1'], 'facts'), 'facts.devices must be an array', 'devices');
    argErr(() => checkRequirements(['cuda>=1'], { devices: 'GPU 0' }), 'facts.devices must be an array', 'devices');
    argErr(() => checkRequirements([42], FACTS), 'a requirement expression must be a string', 'require');
  });
});

describe('require: formatCudaVersion', () => {
  it('major, and minor from the hundreds and tens digits', () => {
    assert.equal(formatCudaVersion(0), '0.0');
    assert.equal(formatCudaVersion(9020), '9.2');
    assert.equal(formatCudaVersion(12090), '12.9');
    assert.equal(formatCudaVersion(12100), '12.10');
    assert.equal(formatCudaVersion(12045), '12.4');
    assert.equal(formatCudaVersion(999), '0.99');
  });

  it('rejects what is not a non-negative integer, naming the value', () => {
    for (const v of [-1, 1.5, Number.NaN, 2 ** 53]) {
      assert.throws(
        () => formatCudaVersion(v),
        (err) => {
          assert.deepEqual(err.toJSON(), {
            name: 'NvcError',
            code: 'ERR_NVC_INVALID_ARGUMENT',
            message: `CUDA version ${String(v)} is not a non-negative integer`,
            field: 'cudaVersion',
          });
          return true;
        },
      );
    }
  });
});
