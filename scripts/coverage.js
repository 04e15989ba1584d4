#!/usr/bin/env node
'use strict';
/*
 * npm run coverage — JS and C coverage of the whole test suite, built in a scratch copy.
 *
 * The repository's own build/ is never touched (others build there): the working tree is
 * copied (without build/ and .git) to $NVC_COVERAGE_DIR (default /tmp/nvc-coverage), and
 * there
 *   1. tsc, then the addon and every helper (nvc-ts-driver, nvc-ts-exec, nvc-ts-ldconfig,
 *      the mock NVML) are built by node-gyp with --coverage, through the CFLAGS/CXXFLAGS/
 *      LDFLAGS that gyp's Makefile appends (binding.gyp is not changed);
 *   2. mocha runs under c8: JS coverage of dist/ without dist/testing, and the instrumented
 *      addon and helpers write .gcda files as the tests drive them;
 *   3. the C suites run, built with --coverage (cmake's ctest suites, and the cgroup,
 *      ldconfig and exec build.sh scripts with CC="gcc --coverage");
 *   4. lcov captures everything under the copy; a per-file summary of native/ is printed,
 *      then the least-covered files of the core, executor and helpers.
 *
 * What gcov cannot see: .gcda files are written at exit by absolute path. The driver
 * service chroots into the driver root before serving; the coverage build wraps chroot
 * (native/test/gcov/gcov_chroot.c, linked with -Wl,--wrap=chroot) to dump the counters
 * just before, so the part of the service that runs inside the chroot is not counted
 * unless the driver root is "/". Processes killed by a signal (timeouts, cancellation
 * tests) write nothing either.
 *
 * The exec suite's race tests run NVC_TEST_RACE_ITERATIONS (default here 9, not 90)
 * runs per variant: the races add time, not lines.
 *
 *   NVC_COVERAGE_DIR=/tmp/x   where to build (removed and recreated)
 *   NVC_COVERAGE_SKIP_C=1     JS and addon/helpers only, no C suites
 */
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const DIR = process.env.NVC_COVERAGE_DIR || '/tmp/nvc-coverage';
const RACES = process.env.NVC_TEST_RACE_ITERATIONS || '9';

function run(what, cmd, opts = {}) {
  const t0 = Date.now();
  process.stdout.write(`== ${what}\n`);
  const r = spawnSync('sh', ['-c', cmd], {
    cwd: DIR,
    stdio: opts.quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    encoding: 'utf8',
    maxBuffer: 512 << 20,
    env: { ...process.env, ...(opts.env || {}) },
  });
  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  if (r.status !== 0) {
    process.stdout.write(`== ${what}: exit ${r.status} (${secs} s)\n`);
    if (opts.quiet) process.stdout.write((r.stdout || '').slice(-4000) + (r.stderr || '').slice(-4000));
    if (opts.must) {
      console.error(`coverage: ${what} failed; stopping`);
      process.exit(1);
    }
  } else {
    process.stdout.write(`== ${what}: ok (${secs} s)\n`);
  }
  return r;
}

function copyTree() {
  fs.rmSync(DIR, { recursive: true, force: true });
  fs.mkdirSync(DIR, { recursive: true });
  const ex = ['./build', './.git', './coverage', './.stryker-tmp', './reports', './.nyc_output', './prebuilds'].map((e) => `--exclude=${e}`).join(' ');
  const r = spawnSync('sh', ['-c', `tar -C ${JSON.stringify(ROOT)} ${ex} -cf - . | tar -C ${JSON.stringify(DIR)} -xf -`], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('copying the working tree failed');
}

/* Per-file line and function totals of an lcov tracefile. */
function parseInfo(file) {
  const out = [];
  let cur = null;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('SF:')) cur = { file: line.slice(3), lf: 0, lh: 0, fnf: 0, fnh: 0 };
    else if (cur && line.startsWith('LF:')) cur.lf = +line.slice(3);
    else if (cur && line.startsWith('LH:')) cur.lh = +line.slice(3);
    else if (cur && line.startsWith('FNF:')) cur.fnf = +line.slice(4);
    else if (cur && line.startsWith('FNH:')) cur.fnh = +line.slice(4);
    else if (line === 'end_of_record' && cur) {
      out.push(cur);
      cur = null;
    }
  }
  return out;
}

function pct(h, f) {
  return f ? (100 * h) / f : 100;
}

function main() {
  if (process.getuid && process.getuid() !== 0) console.warn('coverage: not root; the C suites and many mocha tests need root and will fail or be skipped');
  copyTree();
  const gcc = 'gcc --coverage';
  run('tsc', 'node_modules/.bin/tsc -p tsconfig.json', { must: true });
  run('coverage shim', 'mkdir -p build-cov && gcc -std=gnu11 -Wall -Wextra -Werror -O2 -c -o build-cov/gcov_chroot.o native/test/gcov/gcov_chroot.c', {
    must: true,
  });
  run(
    'node-gyp rebuild --coverage (addon and helpers)',
    'npm run --silent build:native >build-cov/node-gyp.log 2>&1 || { tail -40 build-cov/node-gyp.log; exit 1; }',
    {
      must: true,
      env: {
        CFLAGS: '--coverage',
        CXXFLAGS: '--coverage',
        LDFLAGS: `--coverage -Wl,--wrap=chroot ${DIR}/build-cov/gcov_chroot.o`,
      },
    },
  );
  // Counters of the build itself: none (nothing ran); clear any stale data anyway.
  run('lcov --zerocounters', 'lcov --quiet --zerocounters --directory .', { quiet: true });

  const c8 =
    'node_modules/.bin/c8 --reporter=text-summary --reporter=text --report-dir build-cov/js --all --src dist ' +
    "--include 'dist/**/*.js' --exclude 'dist/testing/**' node_modules/.bin/mocha --reporter dot";
  const mocha = run('mocha under c8 (JS coverage of dist/, without dist/testing)', c8);

  if (!process.env.NVC_COVERAGE_SKIP_C) {
    run(
      'C suites: ctest (--coverage)',
      'cmake -S native -B build/cov-ctest -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS=--coverage -Wno-format-truncation" >/dev/null && cmake --build build/cov-ctest -j 2 >/dev/null && ctest --test-dir build/cov-ctest --output-on-failure',
      { quiet: true },
    );
    run('C suites: cgroup', `OUT=build/cov-cgroup CC="${gcc}" sh native/test/cgroup/build.sh`, { quiet: true });
    // not CC: the ldconfig tests also build fixtures with $CC, which must be a plain path
    run('C suites: ldconfig', 'EXTRA_CFLAGS=--coverage sh native/test/ldconfig/build.sh build/cov-ldconfig run', { quiet: true });
    run(
      `C suites: exec (race tests at ${RACES} runs per variant)`,
      `NVC_EXEC_BUILD=${DIR}/build/cov-exec CC="${gcc}" NVC_TEST_RACE_ITERATIONS=${RACES} sh native/test/exec/build.sh`,
      { quiet: true },
    );
  }

  /* lcov: everything under the copy, then only native/ (not deps/, not /usr). */
  run(
    'lcov --capture',
    'lcov --quiet --capture --directory . --output-file build-cov/all.info --ignore-errors gcov,source,graph >build-cov/lcov.log 2>&1 || { tail -20 build-cov/lcov.log; exit 1; }',
    { must: true },
  );
  run('lcov --extract native/', `lcov --quiet --extract build-cov/all.info '${DIR}/native/*' --output-file build-cov/native.info`, { must: true });
  // The tests' own code (native/test) is left out of the summary: it runs by definition.
  const rows = parseInfo(path.join(DIR, 'build-cov/native.info'))
    .map((r) => ({ ...r, rel: path.relative(DIR, r.file) }))
    .filter((r) => !r.rel.startsWith('native/test/'));
  rows.sort((a, b) => a.rel.localeCompare(b.rel));
  let lf = 0,
    lh = 0,
    fnf = 0,
    fnh = 0;
  console.log('\nC coverage (lines, functions) per file, from the addon, helpers and C suites:');
  for (const r of rows) {
    console.log(
      `  ${r.rel.padEnd(42)} ${pct(r.lh, r.lf).toFixed(1).padStart(6)}% of ${String(r.lf).padStart(4)} lines  ` +
        `${pct(r.fnh, r.fnf).toFixed(1).padStart(6)}% of ${String(r.fnf).padStart(3)} functions`,
    );
    lf += r.lf;
    lh += r.lh;
    fnf += r.fnf;
    fnh += r.fnh;
  }
  console.log(
    `  ${'total'.padEnd(42)} ${pct(lh, lf).toFixed(1).padStart(6)}% of ${String(lf).padStart(4)} lines  ` +
      `${pct(fnh, fnf).toFixed(1).padStart(6)}% of ${String(fnf).padStart(3)} functions`,
  );

  /* The code that matters most: what runs as root or parses what others wrote. */
  const important = rows.filter((r) => /^native\/(core|exec|helper|ldconfig)\//.test(r.rel) && r.lf >= 20);
  important.sort((a, b) => pct(a.lh, a.lf) - pct(b.lh, b.lf));
  console.log('\nLeast-covered files of the core, executor and helpers (20+ lines):');
  for (const r of important.slice(0, 12))
    console.log(`  ${r.rel.padEnd(42)} ${pct(r.lh, r.lf).toFixed(1).padStart(6)}%  (${r.lf - r.lh} of ${r.lf} lines never ran)`);
  const missing = [
    'native/driver/main.c',
    'native/core/driver-client/context.c',
    'native/core/driver-client/driver_service.c',
    'native/core/wire/driver_proto.c',
    'native/core/setup/cgroup.c',
    'native/exec/apply.c',
  ].filter((f) => !rows.some((r) => r.rel === f));
  if (missing.length) console.log(`\nNo coverage data at all for: ${missing.join(', ')}`);
  console.log(`\nlcov data: ${DIR}/build-cov/native.info (genhtml it for line detail); JS report: ${DIR}/build-cov/js`);
  if (mocha.status !== 0) console.log('note: mocha reported failures (see above); coverage is of what ran');
}

main();
