#!/usr/bin/env node
'use strict';
// Builds the libFuzzer targets of native/fuzz (clang, ASan, UBSan) and runs each one in
// turn for a while, starting from its committed seed corpus.
//   npm run fuzz -- --seconds N [--target NAME]... [--out DIR]
//   npm run fuzz:smoke            (every target for a few seconds: CI)
// Each target fuzzes into a working corpus under OUT/work/<target> (the committed seeds
// in native/fuzz/corpus/<target> are read, never written; OUT defaults to build-fuzz/, apart
// from build/, which the test suite and node-gyp remove); a crash, leak, UB report or
// timeout leaves its input in OUT/artifacts and fails the run. The summary gives the
// executions of each target, the figure the fuzzing note reports.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function parseArgs(argv) {
  const opts = { seconds: 60, targets: [], out: path.join(root, 'build-fuzz') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--seconds') {
      opts.seconds = Number(value());
      if (!Number.isInteger(opts.seconds) || opts.seconds < 1) throw new Error('--seconds takes a whole number of seconds, at least 1');
    } else if (a === '--target') opts.targets.push(value());
    else if (a === '--out') opts.out = path.resolve(value());
    else throw new Error(`unknown argument ${JSON.stringify(a)} (use --seconds N, --target NAME, --out DIR)`);
  }
  return opts;
}

function allTargets() {
  return fs
    .readdirSync(path.join(root, 'native', 'fuzz', 'targets'))
    .filter((f) => f.endsWith('.c'))
    .map((f) => f.slice(0, -2))
    .sort();
}

function runTarget(opts, name) {
  const work = path.join(opts.out, 'work', name);
  const artifacts = path.join(opts.out, 'artifacts');
  const seeds = path.join(root, 'native', 'fuzz', 'corpus', name);
  fs.mkdirSync(work, { recursive: true });
  fs.mkdirSync(artifacts, { recursive: true });
  const args = [
    `-max_total_time=${opts.seconds}`,
    '-print_final_stats=1',
    '-timeout=10',
    '-rss_limit_mb=2048',
    '-max_len=65536',
    `-artifact_prefix=${artifacts}/${name}-`,
    work,
  ];
  if (fs.existsSync(seeds)) args.push(seeds);
  return new Promise((resolve) => {
    const child = spawn(path.join(opts.out, name), args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' },
    });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    child.on('close', (code, signal) => {
      const execs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(log)?.[1] ?? 0);
      const cov = /cov: (\d+)/g;
      let last = null;
      for (let m; (m = cov.exec(log));) last = m[1];
      fs.writeFileSync(path.join(opts.out, `${name}.log`), log);
      resolve({ name, ok: code === 0, code, signal, execs, cov: last, log });
    });
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  execFileSync('sh', [path.join(root, 'native', 'fuzz', 'build.sh'), opts.out], { stdio: 'inherit' });
  const known = allTargets();
  const targets = opts.targets.length ? opts.targets : known;
  for (const t of targets) if (!known.includes(t)) throw new Error(`no fuzz target ${t} (known: ${known.join(', ')})`);
  const results = [];
  for (const t of targets) {
    const r = await runTarget(opts, t);
    results.push(r);
    const status = r.ok ? 'ok' : `FAILED (${r.signal ?? `exit ${r.code}`}, log: ${path.join(opts.out, `${t}.log`)})`;
    console.log(`${t.padEnd(24)} ${String(r.execs).padStart(12)} executions  cov ${r.cov ?? '?'}  ${status}`);
    if (!r.ok) console.log(r.log.split('\n').slice(-40).join('\n'));
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    console.error(`fuzzing found problems in ${failed.map((r) => r.name).join(', ')}; the inputs are in ${path.join(opts.out, 'artifacts')}`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(`fuzz: ${e.message}`);
  process.exit(2);
});
