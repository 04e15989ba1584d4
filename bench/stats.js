'use strict';
// Shared by the benchmarks: summarise samples in milliseconds and print one aligned line.

function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, mean: s.reduce((a, b) => a + b, 0) / s.length, median: q(0.5), p95: q(0.95), min: s[0] };
}

function print(name, st, { width = 44, digits = 3 } = {}) {
  const f = (x) => x.toFixed(digits).padStart(digits + 6);
  console.log(
    `${name.padEnd(width)} n=${String(st.n).padStart(4)}  mean ${f(st.mean)} ms  median ${f(st.median)} ms  p95 ${f(st.p95)} ms  min ${f(st.min)} ms`,
  );
}

module.exports = { summary, print };
