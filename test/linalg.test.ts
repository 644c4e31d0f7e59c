import fc from 'fast-check';
import { EigenvalueDecomposition, Matrix, SingularValueDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import {
  balancedFactors, columnSpaceProjector, effectiveRank, matrixRank, orthonormalBasis, orthonormalizeRows,
  principalAngles, stableRank, svd, symmetricEigen, truncatedSvd,
} from '../reference/linalg.ts';
import { multiply } from '../reference/backend.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { frobeniusNorm, tensor, transpose2d, type Tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';

// ---------------------------------------------------------------------------------------------
// helpers

const dim = fc.integer({ min: 1, max: 8 });
const seed = fc.nat(1e6);

const mul = multiply;

function identity(n: number): Tensor {
  const I = tensor([n, n]);
  for (let i = 0; i < n; i++) I.data[i * n + i] = 1;
  return I;
}

function randomSymmetric(rng: Rng, n: number): Tensor {
  const A = normalTensor(rng, [n, n], 1);
  const S = tensor([n, n]);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) S.data[i * n + j] = A.data[i * n + j] + A.data[j * n + i];
  return S;
}

/** A generic (m, n) matrix of rank k: X (m, k) · Y (k, n). */
function randomOfRank(rng: Rng, m: number, n: number, k: number): Tensor {
  if (k === 0) return tensor([m, n]);
  return mul(normalTensor(rng, [m, k], 1), normalTensor(rng, [k, n], 1));
}

/** A random (n, n) orthogonal matrix (the U of a Gaussian matrix). */
function randomOrthogonal(rng: Rng, n: number): Tensor {
  return svd(normalTensor(rng, [n, n], 1)).U;
}

function toRows(A: Tensor): number[][] {
  const [m, n] = A.shape;
  return Array.from({ length: m }, (_, i) => Array.from(A.data.subarray(i * n, (i + 1) * n)));
}

function diag(values: ArrayLike<number>): Tensor {
  const k = values.length;
  const D = tensor([k, k]);
  for (let i = 0; i < k; i++) D.data[i * k + i] = values[i];
  return D;
}

function expectOrthonormalColumns(name: string, Q: Tensor, tol = 1e-12): void {
  expectClose(`${name}ᵀ${name}`, mul(Q, Q, true, false).data, identity(Q.shape[1]).data, { atol: tol, rtol: 0 });
}

function expectDescending(name: string, x: Float64Array): void {
  for (let i = 1; i < x.length; i++) if (!(x[i - 1] >= x[i])) expect.fail(`${name} not descending at ${i}: ${x[i - 1]} < ${x[i]}`);
}

function expectLargestEntryPositive(name: string, Q: Tensor): void {
  const [m, k] = Q.shape;
  for (let j = 0; j < k; j++) {
    let best = 0;
    for (let i = 0; i < m; i++) if (Math.abs(Q.data[i * k + j]) > Math.abs(Q.data[best * k + j])) best = i;
    if (Q.data[best * k + j] < 0) expect.fail(`${name} column ${j}: largest-|entry| is negative`);
  }
}

const rad = (deg: number) => (deg * Math.PI) / 180;

// ---------------------------------------------------------------------------------------------

describe('symmetricEigen (cyclic Jacobi)', () => {
  it('A·v = λ·v, orthonormal vectors, descending values, matches ml-matrix', () => {
    fc.assert(fc.property(dim, seed, (n, s) => {
      const A = randomSymmetric(new Rng(s), n);
      const { values, vectors: V } = symmetricEigen(A);
      const scale = frobeniusNorm(A);
      expectDescending('λ', values);
      expectOrthonormalColumns('V', V);
      expectClose('A·V', mul(A, V).data, mul(V, diag(values)).data, { atol: 1e-12 * scale, rtol: 0 });
      expectLargestEntryPositive('V', V);
      const ref = new EigenvalueDecomposition(new Matrix(toRows(A)), { assumeSymmetric: true }).realEigenvalues.sort((a, b) => b - a);
      expectClose('λ vs ml-matrix', values, ref, { atol: 1e-9, rtol: 1e-9 });
    }));
  });

  it('handles repeated eigenvalues and rank deficiency: A = O diag(d) Oᵀ', () => {
    fc.assert(fc.property(dim, seed, (n, s) => {
      const rng = new Rng(s);
      const O = randomOrthogonal(rng, n);
      const d = Float64Array.from({ length: n }, () => [0, 1, 1, -2][rng.int(4)]);
      const A = mul(mul(O, diag(d)), O, false, true);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) A.data[i * n + j] = A.data[j * n + i]; // exactly symmetric
      const { values, vectors: V } = symmetricEigen(A);
      expectClose('λ', values, [...d].sort((a, b) => b - a), { atol: 1e-12, rtol: 0 });
      expectOrthonormalColumns('V', V);
      expectClose('A·V', mul(A, V).data, mul(V, diag(values)).data, { atol: 1e-12, rtol: 0 });
    }));
  });

  it('diagonal input is returned sorted with ± unit vectors', () => {
    const { values, vectors } = symmetricEigen(diag([1, 3, 2]));
    expectClose('λ', values, [3, 2, 1]);
    expectClose('V', vectors.data, [0, 0, 1, 1, 0, 0, 0, 1, 0]);
  });

  it('is deterministic (bit-identical on repeat)', () => {
    const A = randomSymmetric(new Rng(7), 6);
    const a = symmetricEigen(A), b = symmetricEigen(A);
    expect(Array.from(a.values)).toEqual(Array.from(b.values));
    expect(Array.from(a.vectors.data)).toEqual(Array.from(b.vectors.data));
  });

  it('rejects non-square, non-symmetric and non-finite input with a clear message', () => {
    expect(() => symmetricEigen(tensor([2, 3]))).toThrow(/square matrix is required but A is \[2, 3\]/);
    expect(() => symmetricEigen(tensor([2, 2], [1, 2, 2.001, 1]))).toThrow(/not symmetric: \|A\[0,1\] − A\[1,0\]\|/);
    expect(() => symmetricEigen(tensor([3]))).toThrow(/matrix \(2-d tensor\) is required/);
    expect(() => symmetricEigen(tensor([1, 1], [NaN]))).toThrow(/non-finite/);
    // tiny asymmetry (rounding level) is accepted and symmetrised
    expect(symmetricEigen(tensor([2, 2], [1, 2, 2 + 1e-14, 1])).values[0]).toBeCloseTo(3, 12);
  });
});

describe('svd (one-sided Jacobi)', () => {
  it('A = U diag(S) Vᵀ, orthonormal U and V, S matches ml-matrix — tall, wide and rank-deficient', () => {
    fc.assert(fc.property(dim, dim, fc.nat(8), seed, (m, n, kRaw, s) => {
      const k = Math.min(kRaw, m, n); // rank of A (0 gives the zero matrix)
      const A = randomOfRank(new Rng(s), m, n, k);
      const { U, S, V } = svd(A);
      const kk = Math.min(m, n);
      expect(U.shape).toEqual([m, kk]);
      expect(V.shape).toEqual([n, kk]);
      expect(S.length).toBe(kk);
      expectDescending('S', S);
      for (const x of S) expect(x).toBeGreaterThanOrEqual(0);
      expectOrthonormalColumns('U', U);
      expectOrthonormalColumns('V', V);
      expectLargestEntryPositive('U', U);
      const recon = mul(mul(U, diag(S)), V, false, true);
      const scale = frobeniusNorm(A);
      expectClose('U S Vᵀ', recon.data, A.data, { atol: 1e-10 * scale, rtol: 0 });
      const ref = new SingularValueDecomposition(new Matrix(toRows(A)), { autoTranspose: true }).diagonal;
      expectClose('S vs ml-matrix', S, ref, { atol: 1e-9 * Math.max(1, S[0]), rtol: 1e-9 });
      // exact rank: σ_i for i ≥ k are at rounding level
      for (let i = k; i < kk; i++) expect(S[i]).toBeLessThanOrEqual(1e-12 * Math.max(1, S[0]));
    }));
  });

  it('singular values of a known matrix; the zero matrix', () => {
    // [[3, 0], [4, 5]] has σ = (3√5, √5)
    const { S } = svd(tensor([2, 2], [3, 0, 4, 5]));
    expectClose('S', S, [3 * Math.sqrt(5), Math.sqrt(5)], { atol: 1e-14, rtol: 1e-14 });
    const z = svd(tensor([3, 2]));
    expectClose('S(0)', z.S, [0, 0]);
    expectOrthonormalColumns('U(0)', z.U);
    expectOrthonormalColumns('V(0)', z.V);
  });

  it('small singular values keep high relative accuracy (graded matrix)', () => {
    // A = O₁ diag(1, 1e-5, 1e-10) O₂ᵀ with random orthogonal O₁, O₂
    const rng = new Rng(3);
    const sigma = [1, 1e-5, 1e-10];
    const A = mul(mul(randomOrthogonal(rng, 3), diag(sigma)), randomOrthogonal(rng, 3), false, true);
    expectClose('S', svd(A).S, sigma, { atol: 0, rtol: 1e-5 });
  });

  it('is scale-equivariant down to 1e-300 and up to 1e300 (no underflow/overflow of squares)', () => {
    fc.assert(fc.property(dim, dim, fc.nat(8), seed, fc.constantFrom(1e-300, 1e-150, 1e150, 1e300), (m, n, kRaw, s, c) => {
      const A = randomOfRank(new Rng(s), m, n, Math.min(kRaw, m, n));
      const scaled = tensor(A.shape, A.data.map((x) => x * c));
      const ref = svd(A), got = svd(scaled);
      expectClose('S(cA)/c', got.S.map((x) => x / c), ref.S, { atol: 1e-13 * Math.max(1, ref.S[0]), rtol: 1e-12 });
      expectOrthonormalColumns('U(cA)', got.U);
      expectOrthonormalColumns('V(cA)', got.V);
      if (m === n) {
        const sym = randomSymmetric(new Rng(s), n);
        const symScaled = tensor(sym.shape, sym.data.map((x) => x * c));
        expectClose('λ(cA)/c', symmetricEigen(symScaled).values.map((x) => x / c), symmetricEigen(sym).values, { atol: 1e-13 * frobeniusNorm(sym), rtol: 0 });
      }
    }));
  });

  it('is deterministic and sign-normalised', () => {
    const A = normalTensor(new Rng(11), [5, 3], 1);
    const a = svd(A), b = svd(A);
    expect(Array.from(a.U.data)).toEqual(Array.from(b.U.data));
    expect(Array.from(a.V.data)).toEqual(Array.from(b.V.data));
    // negating A flips V but not U (U's sign is the canonical one)
    const neg = tensor(A.shape, A.data.map((x) => -x));
    expectClose('U(−A)', svd(neg).U.data, a.U.data, { atol: 1e-12, rtol: 0 });
    expectClose('V(−A)', svd(neg).V.data, a.V.data.map((x) => -x), { atol: 1e-12, rtol: 0 });
  });
});

describe('truncatedSvd and balancedFactors (LDFA SVD initialisation)', () => {
  it('‖W − P̂Q̂‖_F² = Σ_{i>r} σ_i², P̂ᵀP̂ = Q̂Q̂ᵀ = diag(S_r), P̂Q̂ = U_r S_r V_rᵀ', () => {
    fc.assert(fc.property(dim, dim, fc.integer({ min: 1, max: 8 }), seed, (out, inn, rRaw, s) => {
      const r = Math.min(rRaw, out, inn);
      const W = normalTensor(new Rng(s), [out, inn], 1);
      const { S: all } = svd(W);
      const { P, Q, S } = balancedFactors(W, r);
      expect(P.shape).toEqual([out, r]);
      expect(Q.shape).toEqual([r, inn]);
      const PQ = mul(P, Q);
      let residual = 0;
      for (let i = 0; i < W.size; i++) residual += (W.data[i] - PQ.data[i]) ** 2;
      let tail = 0;
      for (let i = r; i < all.length; i++) tail += all[i] ** 2;
      const w2 = frobeniusNorm(W) ** 2;
      expect(Math.abs(residual - tail)).toBeLessThanOrEqual(1e-9 * w2);
      expectClose('S_r', S, all.subarray(0, r), { atol: 1e-12, rtol: 1e-12 });
      expectClose('P̂ᵀP̂', mul(P, P, true, false).data, diag(S).data, { atol: 1e-10 * all[0], rtol: 0 });
      expectClose('Q̂Q̂ᵀ', mul(Q, Q, false, true).data, diag(S).data, { atol: 1e-10 * all[0], rtol: 0 });
      const t = truncatedSvd(W, r);
      expectClose('P̂Q̂ = U_r S_r V_rᵀ', PQ.data, mul(mul(t.U, diag(t.S)), t.V, false, true).data, { atol: 1e-12 * all[0], rtol: 0 });
      if (r === Math.min(out, inn)) expectClose('full rank: P̂Q̂ = W', PQ.data, W.data, { atol: 1e-10 * all[0], rtol: 0 });
    }));
  });

  it('rejects r = 0, r > min(out, in) and non-integer r', () => {
    const W = tensor([3, 5]);
    expect(() => balancedFactors(W, 0)).toThrow('balancedFactors: rank 0 is not allowed for a [3, 5] matrix: rank must be an integer in [1, 3]');
    expect(() => balancedFactors(W, 4)).toThrow(/rank 4 is not allowed .* \[1, 3\]/);
    expect(() => balancedFactors(W, 1.5)).toThrow(/rank 1.5 is not allowed/);
    expect(() => truncatedSvd(W, 0)).toThrow(/truncatedSvd: rank 0/);
    expect(() => truncatedSvd(W, 6)).toThrow(/truncatedSvd: rank 6/);
  });
});

describe('orthonormal bases, rank and projector', () => {
  it('orthonormalBasis / orthonormalizeRows / matrixRank / columnSpaceProjector on rank-k matrices', () => {
    fc.assert(fc.property(dim, dim, fc.nat(8), seed, (m, n, kRaw, s) => {
      const k = Math.min(kRaw, m, n);
      const A = randomOfRank(new Rng(s), m, n, k);
      expect(matrixRank(A)).toBe(k);
      const Qc = orthonormalBasis(A);
      expect(Qc.shape).toEqual([m, k]);
      expectOrthonormalColumns('Q', Qc);
      const R = orthonormalizeRows(A);
      expect(R.shape).toEqual([k, n]);
      expectOrthonormalColumns('Rᵀ', transpose2d(R));
      const Pi = columnSpaceProjector(A);
      const scale = Math.max(1, frobeniusNorm(A));
      expectClose('Π² = Π', mul(Pi, Pi).data, Pi.data, { atol: 1e-12, rtol: 0 });
      expectClose('Πᵀ = Π', transpose2d(Pi).data, Pi.data, { atol: 1e-14, rtol: 0 });
      expectClose('ΠA = A', mul(Pi, A).data, A.data, { atol: 1e-11 * scale, rtol: 0 });
      expectClose('Π = QQᵀ', mul(Qc, Qc, false, true).data, Pi.data, { atol: 1e-10, rtol: 0 });
      // rows of A lie in span(R): A Rᵀ R = A
      if (k > 0) expectClose('A RᵀR = A', mul(A, mul(R, R, true, false)).data, A.data, { atol: 1e-11 * scale, rtol: 0 });
    }));
  });

  it('an ill-conditioned rank-3 4×4 product (fast-check counterexample [4, 4, 3, 56822]): 3 basis vectors, not 4', () => {
    const A = randomOfRank(new Rng(56822), 4, 4, 3);
    expect(matrixRank(A)).toBe(3);
    expect(orthonormalizeRows(A).shape).toEqual([3, 4]); // a rounding residual of 5e-12·‖a‖ passed the fixed tolerance
    expect(orthonormalizeRows(A, 1e-12).shape).toEqual([4, 4]); // with that tolerance alone it still does: the rank bound is what holds
    expect(orthonormalBasis(A).shape).toEqual([4, 3]);
  });

  it('hand cases: basis follows column order; explicit tolerance', () => {
    const A = tensor([3, 3], [2, 4, 0, 0, 0, 0, 0, 3, 1]); // col 2 = 2·col 1
    const Q = orthonormalBasis(A);
    expectClose('Q', Q.data, [1, 0, 0, 0, 0, 1]);
    expect(matrixRank(A)).toBe(2);
    expect(matrixRank(diag([1, 1e-6, 0]))).toBe(2);
    expect(matrixRank(diag([1, 1e-6, 0]), 1e-3)).toBe(1);
    expect(matrixRank(tensor([2, 2]))).toBe(0);
    expectClose('Π(0)', columnSpaceProjector(tensor([2, 2])).data, [0, 0, 0, 0]);
  });
});

describe('principalAngles', () => {
  it('identical subspaces (A vs A·M, M invertible) give 0', () => {
    fc.assert(fc.property(dim, fc.integer({ min: 1, max: 8 }), seed, (n, pRaw, s) => {
      const p = Math.min(pRaw, n);
      const rng = new Rng(s);
      const A = normalTensor(rng, [n, p], 1);
      const M = mul(mul(randomOrthogonal(rng, p), diag(Array.from({ length: p }, (_, i) => 1 + i))), randomOrthogonal(rng, p));
      const angles = principalAngles(A, mul(A, M));
      expect(angles.length).toBe(p);
      for (const a of angles) expect(a).toBeLessThanOrEqual(1e-10);
    }));
  });

  it('orthogonal subspaces give 90°; angles are ascending, in [0, π/2], symmetric in A and B', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), seed, (n, pRaw, qRaw, s) => {
      const p = Math.min(pRaw, n - 1), q = Math.min(qRaw, n - p);
      const rng = new Rng(s);
      const O = randomOrthogonal(rng, n);
      const A = tensor([n, p]), B = tensor([n, q]);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < p; j++) A.data[i * p + j] = O.data[i * n + j];
        for (let j = 0; j < q; j++) B.data[i * q + j] = O.data[i * n + p + j];
      }
      const angles = principalAngles(A, B);
      expectClose('90°', angles, new Float64Array(Math.min(p, q)).fill(Math.PI / 2), { atol: 1e-12, rtol: 0 });
      // generic pair: ascending, in range, symmetric
      const X = normalTensor(rng, [n, p], 1), Y = normalTensor(rng, [n, q], 1);
      const xy = principalAngles(X, Y), yx = principalAngles(Y, X);
      expectDescending('−angles', xy.map((a) => -a));
      for (const a of xy) { expect(a).toBeGreaterThanOrEqual(0); expect(a).toBeLessThanOrEqual(Math.PI / 2); }
      expectClose('θ(X,Y) = θ(Y,X)', xy, yx, { atol: 1e-12, rtol: 0 });
    }));
  });

  it('hand cases: 30° in the plane; (0°, θ) between two planes in ℝ⁴', () => {
    const line = tensor([2, 1], [1, 0]);
    const tilted = tensor([2, 1], [Math.cos(rad(30)), Math.sin(rad(30))]);
    expectClose('30°', principalAngles(line, tilted), [rad(30)], { atol: 1e-15, rtol: 0 });
    const reversed = tensor([2, 1], [-Math.cos(rad(30)), -Math.sin(rad(30))]); // a line has no orientation
    expectClose('30° (reversed)', principalAngles(line, reversed), [rad(30)], { atol: 1e-15, rtol: 0 });
    for (const deg of [1e-6, 10, 45, 60, 89]) {
      const t = rad(deg);
      const A = tensor([4, 2], [1, 0, 0, 1, 0, 0, 0, 0]); // span(e1, e2)
      const B = tensor([4, 2], [3, 0, 0, Math.cos(t), 0, Math.sin(t), 0, 0]); // span(e1, cos t·e2 + sin t·e3)
      expectClose(`(0, ${deg}°)`, principalAngles(A, B), [0, t], { atol: 1e-15, rtol: 1e-12 });
    }
    expect(principalAngles(tensor([3, 1]), tensor([3, 1], [1, 0, 0])).length).toBe(0); // {0} has no angles
    expect(() => principalAngles(tensor([3, 1]), tensor([2, 1]))).toThrow(/A has 3 rows but B has 2/);
  });
});

describe('effectiveRank and stableRank', () => {
  it('I_n → n; rank-1 → 1; zero → 0', () => {
    for (let n = 1; n <= 8; n++) {
      expect(effectiveRank(identity(n))).toBeCloseTo(n, 12);
      expect(stableRank(identity(n))).toBeCloseTo(n, 12);
    }
    fc.assert(fc.property(dim, dim, seed, (m, n, s) => {
      const A = randomOfRank(new Rng(s), m, n, 1);
      expect(effectiveRank(A)).toBeCloseTo(1, 9);
      expect(stableRank(A)).toBeCloseTo(1, 12);
    }));
    expect(effectiveRank(tensor([3, 2]))).toBe(0);
    expect(stableRank(tensor([3, 2]))).toBe(0);
  });

  it('hand case and bounds 1 ≤ rank ≤ rank(A)', () => {
    // σ = (3, 1): p = (3/4, 1/4), erank = exp(−¾ln¾ − ¼ln¼); srank = (9 + 1)/9
    const A = diag([3, 1]);
    expect(effectiveRank(A)).toBeCloseTo(Math.exp(-0.75 * Math.log(0.75) - 0.25 * Math.log(0.25)), 14);
    expect(stableRank(A)).toBeCloseTo(10 / 9, 14);
    fc.assert(fc.property(dim, dim, fc.integer({ min: 1, max: 8 }), seed, (m, n, kRaw, s) => {
      const k = Math.min(kRaw, m, n);
      const A2 = randomOfRank(new Rng(s), m, n, k);
      for (const value of [effectiveRank(A2), stableRank(A2)]) {
        expect(value).toBeGreaterThanOrEqual(1 - 1e-12);
        expect(value).toBeLessThanOrEqual(k + 1e-9);
      }
    }));
  });
});
