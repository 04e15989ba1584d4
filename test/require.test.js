'use strict';
// Requirement DSL: study §5.1 and every vector of §10.1, plus the messages we add.

const assert = require('node:assert/strict');
const {
  parseRequirement,
  checkRequirements,
  evaluateRequirement,
  compareVersions,
  formatCudaVersion,
} = require('../dist/require.js');
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
    assert.deepEqual(r.clauses[1].terms.map((t) => [t.name, t.op, t.value]), [
      ['brand', '=', 'Tesla'],
      ['driver', '>=', '470'],
      ['driver', '<', '471'],
    ]);
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

  for (const expr of ['>=12', 'cuda', 'cuda<>12', 'cuda!12', 'cuda>=12.', 'cuda>=.12', 'cuda>=1..2', 'brand<=tesla', 'brand>=tesla', 'cuda>=12 foo=1', 'brand=a=b']) {
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
    assert.deepEqual(ev.failures.map((f) => [f.term.text, f.actual]), [['cuda>=12.8', '12.4'], ['brand=tesla', 'GeForce']]);
    assert.deepEqual(evaluateRequirement(r, { cudaVersion: '12.8' }, GPU), { satisfied: true, failures: [] });
  });
});

describe('require: per-device evaluation and improved messages', () => {
  const A100 = { label: 'GPU 1 (NVIDIA A100)', architecture: '8.0', brand: 'Tesla' };

  it('evaluates each device; the failing one is named', () => {
    const facts = { ...FACTS, devices: [A100, GPU] };
    check('arch>=8.0', facts);
    const err = fails('arch>=8.6', facts);
    assert.equal(
      err.message,
      'unsatisfied condition: arch>=8.6 (on GPU 1 (NVIDIA A100): arch>=8.6 needs compute capability 8.6 or higher, the GPU has 8.0)',
    );
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
    assert.throws(() => checkRequirements(['cuda>=12.0', 'driver<500'], FACTS), (e) =>
      e.message.startsWith('unsatisfied condition: driver<500 '),
    );
  });

  it('rejects malformed facts', () => {
    assert.throws(() => checkRequirements(['cuda>=1'], { cudaVersion: '12.x', devices: [] }), { code: 'ERR_NVC_INVALID_ARGUMENT' });
    assert.throws(() => checkRequirements(['cuda>=1'], {}), { code: 'ERR_NVC_INVALID_ARGUMENT' });
  });
});
