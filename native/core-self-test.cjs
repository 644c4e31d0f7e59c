// The correctness self-test of a BLAS kernel set (OpenBLAS "core"): cblas_sgemm in all four
// transposed forms, with α = 1, β = 0 and (up to 10⁶ multiply-adds) α = −0.5, β = 0.25, at edge sizes (1, odd, prime,
// one above and below the kernels' block sizes) and one product large enough for OpenBLAS to
// split it over threads, against a float64 recomputation. An element passes when
//   |got − ref| ≤ 4·K·2⁻²⁴·Σ_k |α·a_ik·b_kj| + |β·c_ij|·2⁻²³ + 1e-30
// (the standard γ_K bound of a K-term float32 sum, with a factor 4 of slack): rounding always
// passes, a wrong kernel (a dropped term, a wrong edge, a transposition mix-up) is off by the
// size of a term and fails.
//
// Used two ways (src/backends/blas-core.ts):
//   in the process that uses the kernels: require('./core-self-test.cjs').selfTest(addon)
//   in a child, to try a core without risking the parent (a kernel that crashes takes only the
//   child down): OPENBLAS_CORETYPE=Name node native/core-self-test.cjs '["libopenblas.so.0", …]'
//   prints one JSON line { library, core, passed, worst, checked, failure? } and exits 0 (1 when
//   the library cannot be loaded).
'use strict';
const path = require('node:path');

const SHAPES = [
  [1, 1, 1], [1, 7, 3], [5, 1, 9], [2, 3, 1], [17, 33, 65], [31, 17, 1], [33, 15, 16], [64, 64, 64],
  [65, 63, 127], [127, 129, 255], [3, 300, 129], [200, 3, 517], [9, 24, 1100],
];
/** Large enough (2·M·N·K ≈ 1.2e7 FLOPs) for OpenBLAS to split it over every thread it has. */
const THREADED = [160, 192, 200];

/** A deterministic pseudo-random fill in [−1, 1) (no dependency on the project's RNG). */
function fill(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

/** Checks one product; returns the worst |error| / bound. */
function checkOne(sgemm, ta, tb, M, N, K, alpha, beta, seed) {
  const A = fill(M * K, seed), B = fill(K * N, seed + 1), C0 = fill(M * N, seed + 2);
  const C = Float32Array.from(C0);
  sgemm(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
  const u = 2 ** -24;
  let worst = 0, at = null;
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let sum = 0, abs = 0;
    for (let k = 0; k < K; k++) {
      const p = A[ta ? k * M + i : i * K + k] * B[tb ? j * K + k : k * N + j];
      sum += p; abs += Math.abs(p);
    }
    const ref = alpha * sum + beta * C0[i * N + j];
    const bound = 4 * K * u * Math.abs(alpha) * abs + Math.abs(beta * C0[i * N + j]) * 2 * u + 1e-30;
    const got = C[i * N + j];
    const ratio = Number.isFinite(got) ? Math.abs(got - ref) / bound : Infinity;
    if (!(ratio <= worst)) { worst = ratio; at = { i, j, got, ref }; }
  }
  return { worst, at };
}

/**
 * Runs the whole self-test on a loaded addon (its sgemm and setThreads). Returns
 * { passed, worst, checked, failure? } with failure naming the first product that failed.
 */
function selfTest(addon, maxThreads = 2) {
  const sgemm = addon.sgemm.bind(addon);
  const before = addon.getThreads();
  let worst = 0, checked = 0, failure = null;
  const cases = [];
  for (const [M, N, K] of SHAPES) cases.push({ M, N, K, threads: 1 });
  cases.push({ M: THREADED[0], N: THREADED[1], K: THREADED[2], threads: Math.max(1, maxThreads) });
  try {
    let seed = 11;
    for (const c of cases) {
      addon.setThreads(c.threads);
      // α, β other than 1, 0 on the smaller products only (they exercise the same scaling code)
      const scalings = c.M * c.N * c.K <= 1e6 ? [[1, 0], [-0.5, 0.25]] : [[1, 0]];
      for (const ta of [false, true]) for (const tb of [false, true]) for (const [alpha, beta] of scalings) {
        const r = checkOne(sgemm, ta, tb, c.M, c.N, c.K, alpha, beta, seed += 3);
        checked++;
        if (r.worst > worst) worst = r.worst;
        if (r.worst > 1 && failure === null) {
          failure = `sgemm(${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}, M=${c.M}, N=${c.N}, K=${c.K}, α=${alpha}, β=${beta}, ${c.threads} thread${c.threads > 1 ? 's' : ''}): C[${r.at.i}, ${r.at.j}] = ${r.at.got} against ${r.at.ref} (${r.worst.toExponential(2)}× the rounding bound)`;
        }
      }
    }
  } finally {
    addon.setThreads(before);
  }
  return { passed: failure === null, worst, checked, ...(failure ? { failure } : {}) };
}

module.exports = { selfTest, SHAPES, THREADED };

if (require.main === module) {
  const libraries = JSON.parse(process.argv[2] ?? '["libopenblas.so.0"]');
  const addon = require(path.join(__dirname, 'build', 'Release', 'ldfa_blas.node'));
  let loaded;
  try {
    loaded = addon.load(libraries);
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ error: e.message })}\n`);
    process.exit(1);
  }
  const result = selfTest(addon, Math.max(1, loaded.threads));
  process.stdout.write(`${JSON.stringify({ library: loaded.library, core: loaded.core, ...result })}\n`);
}
