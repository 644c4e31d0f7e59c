import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { multiply } from '../reference/backend.ts';
import { balancedFactors, effectiveRank as linalgEffectiveRank, orthonormalBasis, svd } from '../reference/linalg.ts';
import {
  angleDegrees, effectiveFeedback, effectiveRank, errorCovariance, errorSubspaceAngles, feedbackAlignment,
  stableRank, teachingSignalAngle, updateAngle,
} from '../reference/metrics.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { tensor, type Tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';

const dim = fc.integer({ min: 1, max: 8 });
const seed = fc.nat(1e6);

const mul = multiply;
const scaled = (t: Tensor, c: number) => tensor(t.shape, t.data.map((x) => x * c));
function columns(A: Tensor, from: number, to: number): Tensor {
  const [m, n] = A.shape, k = to - from;
  const out = tensor([m, k]);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) out.data[i * k + j] = A.data[i * n + from + j];
  return out;
}

describe('angleDegrees', () => {
  it('hand cases: 0°, 45°, 90°, 180°; exact for b = a and b = 2a', () => {
    const a = tensor([3], [1, 2, 3]);
    expect(angleDegrees(a, a)).toBe(0);
    expect(angleDegrees(a, scaled(a, 2))).toBe(0);
    expect(angleDegrees(a, scaled(a, -1))).toBe(180);
    expect(angleDegrees(a, scaled(a, -0.5))).toBe(180);
    expect(angleDegrees(tensor([2], [1, 0]), tensor([2], [0, 1]))).toBe(90);
    expect(angleDegrees(tensor([2], [3, 0]), tensor([2], [0, -5]))).toBe(90);
    expect(angleDegrees(tensor([2], [1, 0]), tensor([2], [1, 1]))).toBeCloseTo(45, 12);
    expect(angleDegrees(tensor([2], [1, 0]), tensor([2], [-1, Math.sqrt(3)]))).toBeCloseTo(120, 12);
  });

  it('flattens: shapes may differ when sizes agree; sizes must agree', () => {
    expect(angleDegrees(tensor([2, 2], [1, 0, 0, 1]), tensor([4], [0, 1, 1, 0]))).toBe(90);
    expect(() => angleDegrees(tensor([2]), tensor([3]))).toThrow(/hold 2 and 3 values/);
  });

  it('NaN when either norm is 0; extreme scales do not under/overflow', () => {
    expect(angleDegrees(tensor([3]), tensor([3], [1, 2, 3]))).toBeNaN();
    expect(angleDegrees(tensor([3], [1, 2, 3]), tensor([3]))).toBeNaN();
    expect(angleDegrees(tensor([2], [1e-200, 0]), tensor([2], [1e-200, 1e-200]))).toBeCloseTo(45, 12);
    expect(angleDegrees(tensor([2], [1e200, 0]), tensor([2], [0, 1e200]))).toBe(90);
  });

  it('agrees with arccos(⟨a,b⟩/(‖a‖‖b‖)) away from 0° and 180°', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 8 }), seed, (n, s) => {
      const rng = new Rng(s);
      const a = normalTensor(rng, [n], 1), b = normalTensor(rng, [n], 1);
      let ab = 0, aa = 0, bb = 0;
      for (let i = 0; i < n; i++) { ab += a.data[i] * b.data[i]; aa += a.data[i] ** 2; bb += b.data[i] ** 2; }
      const cos = ab / Math.sqrt(aa * bb);
      fc.pre(Math.abs(cos) < 0.999);
      expect(angleDegrees(a, b)).toBeCloseTo((Math.acos(cos) * 180) / Math.PI, 9);
    }));
  });

  it('properties: symmetric, scale-invariant, in [0, 180], angle(a, −b) = 180 − angle(a, b)', () => {
    fc.assert(fc.property(dim, seed, fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (n, s, c) => {
      const rng = new Rng(s);
      const a = normalTensor(rng, [n], 1), b = normalTensor(rng, [n], 1);
      const ab = angleDegrees(a, b);
      expect(ab).toBeGreaterThanOrEqual(0);
      expect(ab).toBeLessThanOrEqual(180);
      expect(angleDegrees(b, a)).toBeCloseTo(ab, 12);
      expect(angleDegrees(scaled(a, c), b)).toBeCloseTo(ab, 9);
      expect(angleDegrees(a, scaled(b, -1))).toBeCloseTo(180 - ab, 9);
    }));
  });
});

describe('teachingSignalAngle', () => {
  it('per-sample mean and flattened angle differ where they must', () => {
    // rows: (1,0)·(1,0) → 0°, (1,0)·(0,1) → 90°: per-sample mean 45°;
    // flattened (1,0,1,0)·(1,0,0,1) = 1, norms √2·√2 → arccos(1/2) = 60°
    const delta = tensor([2, 2], [1, 0, 1, 0]);
    const bp = tensor([2, 2], [1, 0, 0, 1]);
    const r = teachingSignalAngle(delta, bp);
    expect(r.perSampleMeanDeg).toBe(45);
    expect(r.flattenedDeg).toBeCloseTo(60, 12);
    expect(r.samplesUsed).toBe(2);
    // norm weighting: rows aligned but scaled differently → per-sample 0°, flattened > 0°
    const r2 = teachingSignalAngle(tensor([2, 2], [1, 0, 0, 1]), tensor([2, 2], [1, 0, 0, 100]));
    expect(r2.perSampleMeanDeg).toBe(0);
    expect(r2.flattenedDeg).toBeGreaterThan(40);
  });

  it('skips zero rows in the per-sample mean; NaN when all are skipped', () => {
    const r = teachingSignalAngle(tensor([3, 2], [1, 0, 0, 0, 2, 2]), tensor([3, 2], [1, 0, 0, 1, 0, 0]));
    expect(r.samplesUsed).toBe(1);
    expect(r.perSampleMeanDeg).toBe(0);
    // flattened (1,0,0,0,2,2)·(1,0,0,1,0,0) = 1, norms 3·√2
    expect(r.flattenedDeg).toBeCloseTo((Math.acos(1 / (3 * Math.SQRT2)) * 180) / Math.PI, 12);
    const none = teachingSignalAngle(tensor([2, 2]), tensor([2, 2], [1, 0, 0, 1]));
    expect(none.samplesUsed).toBe(0);
    expect(none.perSampleMeanDeg).toBeNaN();
    expect(none.flattenedDeg).toBeNaN();
  });

  it('BP against itself is 0° both ways; −BP is 180°; shapes must agree', () => {
    fc.assert(fc.property(dim, dim, seed, (N, n, s) => {
      const bp = normalTensor(new Rng(s), [N, n], 1);
      const same = teachingSignalAngle(bp, bp);
      expect(same.perSampleMeanDeg).toBe(0);
      expect(same.flattenedDeg).toBe(0);
      const flipped = teachingSignalAngle(scaled(bp, -3), bp);
      expect(flipped.perSampleMeanDeg).toBeCloseTo(180, 12);
      expect(flipped.flattenedDeg).toBeCloseTo(180, 12);
    }));
    expect(() => teachingSignalAngle(tensor([2, 3]), tensor([3, 2]))).toThrow(/shape mismatch/);
  });
});

describe('updateAngle and feedbackAlignment', () => {
  it('updateAngle hand cases 0°, 90°, 180°', () => {
    const dW = tensor([2, 2], [1, 2, 3, 4]);
    expect(updateAngle(dW, scaled(dW, 0.1))).toBeCloseTo(0, 12); // arccos would give ≈ 1e-6° here
    expect(updateAngle(dW, scaled(dW, -1))).toBe(180);
    expect(updateAngle(tensor([1, 2], [1, 1]), tensor([1, 2], [1, -1]))).toBe(90);
    expect(() => updateAngle(tensor([2, 2]), tensor([4]))).toThrow(/shape mismatch/);
  });

  it('B = 2W: angle 0, norm ratio 2; B = −W: 180°, ratio 1; B ⟂ W: 90°', () => {
    fc.assert(fc.property(dim, dim, seed, (out, inn, s) => {
      const W = normalTensor(new Rng(s), [out, inn], 1);
      expect(feedbackAlignment(scaled(W, 2), W)).toEqual({ angleDeg: 0, normRatio: 2 });
      expect(feedbackAlignment(scaled(W, -1), W)).toEqual({ angleDeg: 180, normRatio: 1 });
    }));
    const f = feedbackAlignment(tensor([2, 2], [0, 3, 0, 0]), tensor([2, 2], [4, 0, 0, 0]));
    expect(f.angleDeg).toBe(90);
    expect(f.normRatio).toBe(0.75);
    const z = feedbackAlignment(tensor([1, 2], [1, 0]), tensor([1, 2]));
    expect(z.angleDeg).toBeNaN();
    expect(z.normRatio).toBeNaN();
    expect(() => feedbackAlignment(tensor([2, 3]), tensor([3, 2]))).toThrow(/shape mismatch/);
  });

  it('effectiveFeedback = P̂·Q̂; full-rank balanced factors are BP-aligned (0°, ratio 1)', () => {
    const P = tensor([2, 1], [1, 2]), Q = tensor([1, 3], [3, 4, 5]);
    expectClose('P̂Q̂', effectiveFeedback(P, Q).data, [3, 4, 5, 6, 8, 10]);
    expect(() => effectiveFeedback(P, tensor([2, 3]))).toThrow(/shape mismatch: effectiveFeedback Q̂/);
    fc.assert(fc.property(dim, dim, seed, (out, inn, s) => {
      const W = normalTensor(new Rng(s), [out, inn], 1);
      const { P: Ph, Q: Qh } = balancedFactors(W, Math.min(out, inn));
      const B = effectiveFeedback(Ph, Qh);
      expect(B.shape).toEqual([out, inn]);
      const f = feedbackAlignment(B, W);
      expect(f.angleDeg).toBeLessThan(1e-5);
      expect(f.normRatio).toBeCloseTo(1, 12);
      // a rank-1 truncation keeps a positive alignment (< 90°) and shrinks the norm (≤ 1)
      const one = balancedFactors(W, 1);
      const f1 = feedbackAlignment(effectiveFeedback(one.P, one.Q), W);
      expect(f1.angleDeg).toBeLessThan(90);
      expect(f1.normRatio).toBeLessThanOrEqual(1 + 1e-12);
    }));
  });
});

describe('errorSubspaceAngles', () => {
  /** dy (N, out) with dyᵀdy = O diag(s²) Oᵀ exactly (up to rounding): dy = Y diag(s) Oᵀ, YᵀY = I. */
  function errorsWithSpectrum(rng: Rng, N: number, O: Tensor, s: number[]): Tensor {
    const out = O.shape[0];
    const Y = orthonormalBasis(normalTensor(rng, [N, out], 1)); // (N, out), N ≥ out
    const D = tensor([out, out]);
    for (let i = 0; i < out; i++) D.data[i * out + i] = s[i];
    return mul(mul(Y, D), O, false, true);
  }

  it('0° when P̂ spans the top-r eigenvectors (spectral gap), 90° when it spans the next ones', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 7 }), seed, (out, rRaw, sd) => {
      const r = Math.min(rRaw, out - 1);
      const rng = new Rng(sd);
      const O = svd(normalTensor(rng, [out, out], 1)).U; // random orthogonal
      const spectrum = Array.from({ length: out }, (_, i) => (i < r ? 10 + (r - i) : 1 + 0.1 * (out - i)));
      const dy = errorsWithSpectrum(rng, out + 3, O, spectrum);
      // P̂ = O_r · M for a random invertible M: same column span as the top-r eigenvectors
      const M = mul(svd(normalTensor(rng, [r, r], 1)).U, tensor([r, r], Array.from({ length: r * r }, (_, k) => (k % (r + 1) === 0 ? 1 + k : 0))));
      const aligned = errorSubspaceAngles(mul(columns(O, 0, r), M), dy);
      expect(aligned.length).toBe(r);
      for (const a of aligned) expect(a).toBeLessThan(1e-6);
      const q = Math.min(r, out - r);
      const orthogonal = errorSubspaceAngles(columns(O, r, r + q), dy);
      expectClose('90°', orthogonal, new Float64Array(q).fill(90), { atol: 1e-9, rtol: 0 });
    }));
  });

  it('hand case: 30° between P̂ and the top eigenvector; centring', () => {
    // errors along e1 (large) and e2 (small): top-1 eigenvector e1
    const dy = tensor([4, 2], [3, 0, -3, 0, 0, 1, 0, -1]);
    const t = Math.PI / 6;
    expectClose('30°', errorSubspaceAngles(tensor([2, 1], [Math.cos(t), Math.sin(t)]), dy), [30], { atol: 1e-12, rtol: 0 });
    // a large common offset m ⟂ v dominates the uncentred covariance; centring removes it
    const withOffset = tensor([2, 2], [10 + 0, 1, 10 - 0, -1]); // rows m ± v, m = (10, 0), v = (0, 1)
    const P = tensor([2, 1], [0, 1]); // spans v
    expectClose('uncentred', errorSubspaceAngles(P, withOffset), [90], { atol: 1e-12, rtol: 0 });
    expectClose('centred', errorSubspaceAngles(P, withOffset, { centre: true }), [0], { atol: 1e-12, rtol: 0 });
    expectClose('C (centred)', errorCovariance(withOffset, true).data, [0, 0, 0, 2]);
    expectClose('C', errorCovariance(withOffset).data, [200, 0, 0, 2]);
  });

  it('validates shapes and rank', () => {
    expect(() => errorSubspaceAngles(tensor([3, 1]), tensor([5, 2]))).toThrow(/shape mismatch: errorSubspaceAngles dy/);
    expect(() => errorSubspaceAngles(tensor([2, 3]), tensor([5, 2]))).toThrow(/rank must be an integer in \[1, 2\]/);
  });
});

describe('rank metrics (re-exported)', () => {
  it('effectiveRank / stableRank of B and of an error batch', () => {
    expect(effectiveRank).toBe(linalgEffectiveRank);
    const I = tensor([3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(effectiveRank(I)).toBeCloseTo(3, 12);
    expect(stableRank(I)).toBeCloseTo(3, 12);
    const { P, Q } = balancedFactors(normalTensor(new Rng(5), [6, 5], 1), 2);
    const B = effectiveFeedback(P, Q);
    expect(effectiveRank(B)).toBeLessThanOrEqual(2 + 1e-9);
    expect(stableRank(B)).toBeLessThanOrEqual(2 + 1e-9);
    const dyRank1 = mul(normalTensor(new Rng(6), [7, 1], 1), normalTensor(new Rng(7), [1, 4], 1));
    expect(effectiveRank(dyRank1)).toBeCloseTo(1, 9);
  });
});
