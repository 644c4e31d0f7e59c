// Transformer layers: the multi-head attention core, GELU (tanh form) and patchify. Backward
// passes against central finite differences of L = Σ R⊙y over random configurations.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attentionBackward, attentionForward } from '../reference/layers/attention.ts';
import { conv2dForward } from '../reference/layers/conv2d.ts';
import { geluBackward, geluForward } from '../reference/layers/gelu.ts';
import { linearForward } from '../reference/layers/linear.ts';
import { patchifyBackward, patchifyForward, patchifyOutputShape } from '../reference/layers/patch.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { reshape, tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';
import { expectGradClose, numericGradient, projection } from './helpers/gradcheck.ts';

const RUNS = { numRuns: 30 };

const attentionCase = fc.record({
  B: fc.integer({ min: 1, max: 2 }), T: fc.integer({ min: 1, max: 4 }), H: fc.integer({ min: 1, max: 3 }),
  dh: fc.integer({ min: 1, max: 3 }), seed: fc.nat(1e6),
});

describe('attention core', () => {
  it('forward equals a per-head loop with an explicit softmax', () => {
    fc.assert(fc.property(attentionCase, ({ B, T, H, dh, seed }) => {
      const rng = new Rng(seed), D = H * dh;
      const q = normalTensor(rng, [B, T, D], 1), k = normalTensor(rng, [B, T, D], 1), v = normalTensor(rng, [B, T, D], 1);
      const out = tensor([B, T, D]);
      const cache = attentionForward(out, q, k, v, H);
      const expected = new Float64Array(B * T * D);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let i = 0; i < T; i++) {
            const s = Array.from({ length: T }, (_, j) => {
              let dotp = 0;
              for (let e = 0; e < dh; e++) dotp += (q.get(b, i, h * dh + e) as number) * (k.get(b, j, h * dh + e) as number);
              return dotp / Math.sqrt(dh);
            });
            const z = s.reduce((acc, sj) => acc + Math.exp(sj), 0);
            for (let j = 0; j < T; j++) {
              const a = Math.exp(s[j]) / z;
              expect(Math.abs((cache.probs.get(b * H + h, i, j) as number) - a)).toBeLessThan(1e-12);
              for (let e = 0; e < dh; e++) expected[(b * T + i) * D + h * dh + e] += a * (v.get(b, j, h * dh + e) as number);
            }
          }
      expectClose('out', out.data, expected);
    }), RUNS);
  });

  it('backward equals finite differences for dq, dk, dv', () => {
    fc.assert(fc.property(attentionCase, ({ B, T, H, dh, seed }) => {
      const rng = new Rng(seed), D = H * dh;
      const q = normalTensor(rng, [B, T, D], 1), k = normalTensor(rng, [B, T, D], 1), v = normalTensor(rng, [B, T, D], 1);
      const R = normalTensor(rng, [B, T, D], 1), out = tensor([B, T, D]);
      const loss = () => { attentionForward(out, q, k, v, H); return projection(R, out); };
      const cache = attentionForward(out, q, k, v, H);
      const dq = tensor([B, T, D]), dk = tensor([B, T, D]), dv = tensor([B, T, D]);
      attentionBackward(dq, dk, dv, R, q, k, v, cache);
      expectGradClose('dq', dq.data, numericGradient(loss, q));
      expectGradClose('dk', dk.data, numericGradient(loss, k));
      expectGradClose('dv', dv.data, numericGradient(loss, v));
    }), RUNS);
  });

  it('is stable for large scores (the row maximum is subtracted)', () => {
    const q = tensor([1, 2, 1], [1000, -1000]), k = tensor([1, 2, 1], [1000, 0]), v = tensor([1, 2, 1], [3, 5]);
    const out = tensor([1, 2, 1]);
    const cache = attentionForward(out, q, k, v, 1);
    expect(Array.from(cache.probs.data)).toEqual([1, 0, 0, 1]);
    expect(Array.from(out.data)).toEqual([3, 5]);
  });

  it('errors name what is wrong', () => {
    const x = tensor([1, 2, 6]);
    expect(() => attentionForward(tensor([1, 2, 6]), x, x, x, 4)).toThrow('4 heads is not allowed for width D = 6');
    expect(() => attentionForward(tensor([1, 2, 6]), x, tensor([1, 3, 6]), x, 2)).toThrow('attention k is [1, 3, 6] but [1, 2, 6] is required');
    const cache = attentionForward(tensor([1, 2, 6]), x, x, x, 2);
    expect(() => attentionBackward(tensor([1, 2, 6]), tensor([1, 2, 6]), tensor([2, 6]), tensor([1, 2, 6]), x, x, x, cache))
      .toThrow('attention dv is [2, 6] but [1, 2, 6] is required');
  });
});

describe('GELU (tanh approximation)', () => {
  it('matches PyTorch gelu(approximate="tanh") at a few points and stays within 5e-4 of the erf form', () => {
    const x = tensor([5], [0, 1, -1, 2, -0.5]), y = tensor([5]);
    geluForward(y, x);
    expectClose('gelu', y.data, [0, 0.8412, -0.1588, 1.9546, -0.1543], { atol: 5e-5, rtol: 0 });
    // exact GELU x·Φ(x) with erf from its Taylor series (converges for these |x|)
    const erf = (z: number) => { let term = z, sum = z; for (let n = 1; n < 80; n++) { term *= -z * z / n; sum += term / (2 * n + 1); } return 2 / Math.sqrt(Math.PI) * sum; };
    const grid = tensor([121], Array.from({ length: 121 }, (_, i) => -4 + i / 15)), g = tensor([121]);
    geluForward(g, grid);
    for (let i = 0; i < 121; i++) expect(Math.abs(g.data[i] - 0.5 * grid.data[i] * (1 + erf(grid.data[i] / Math.SQRT2)))).toBeLessThan(5e-4);
  });

  it('backward equals finite differences', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(1e6), (n, seed) => {
      const rng = new Rng(seed);
      const x = normalTensor(rng, [n], 2), R = normalTensor(rng, [n], 1), y = tensor([n]), dx = tensor([n]);
      geluBackward(dx, R, x);
      expectGradClose('dx', dx.data, numericGradient(() => { geluForward(y, x); return projection(R, y); }, x));
    }), RUNS);
  });
});

const patchCase = fc.record({
  N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 3 }), p: fc.integer({ min: 1, max: 3 }),
  gh: fc.integer({ min: 1, max: 3 }), gw: fc.integer({ min: 1, max: 3 }), seed: fc.nat(1e6),
});

describe('patchify', () => {
  it('hand example: 1 channel, 4×4 image, 2×2 patches', () => {
    const x = tensor([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i)), y = tensor([1, 4, 4]);
    patchifyForward(y, x, 2);
    expect(Array.from(y.data)).toEqual([0, 1, 4, 5, /**/ 2, 3, 6, 7, /**/ 8, 9, 12, 13, /**/ 10, 11, 14, 15]);
  });

  it('backward is the inverse and equals finite differences', () => {
    fc.assert(fc.property(patchCase, ({ N, C, p, gh, gw, seed }) => {
      const rng = new Rng(seed);
      const x = normalTensor(rng, [N, C, gh * p, gw * p], 1);
      const y = tensor(patchifyOutputShape(x, p)), back = tensor(x.shape);
      patchifyForward(y, x, p);
      patchifyBackward(back, y, p);
      expect(Array.from(back.data)).toEqual(Array.from(x.data));
      const R = normalTensor(rng, y.shape, 1), dx = tensor(x.shape);
      patchifyBackward(dx, R, p);
      expectGradClose('dx', dx.data, numericGradient(() => { patchifyForward(y, x, p); return projection(R, y); }, x));
    }), RUNS);
  });

  it('patchify + linear equals the stride-p conv with the same weights (a patch embedding)', () => {
    fc.assert(fc.property(patchCase, fc.integer({ min: 1, max: 4 }), ({ N, C, p, gh, gw, seed }, D) => {
      const rng = new Rng(seed), T = gh * gw, F = C * p * p;
      const x = normalTensor(rng, [N, C, gh * p, gw * p], 1);
      const W = normalTensor(rng, [D, F], 1), b = normalTensor(rng, [D], 1);
      const patches = tensor([N, T, F]), viaLinear = tensor([N * T, D]);
      patchifyForward(patches, x, p);
      linearForward(viaLinear, reshape(patches, [N * T, F]), W, b);
      const viaConv = tensor([N, D, gh, gw]);
      conv2dForward(viaConv, x, reshape(W, [D, C, p, p]), b, { stride: p, padding: 0 });
      const convAsTokens = new Float64Array(N * T * D); // (N, D, T) → (N, T, D)
      for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) for (let t = 0; t < T; t++) convAsTokens[(n * T + t) * D + d] = viaConv.data[(n * D + d) * T + t];
      expectClose('patch embedding', viaLinear.data, convAsTokens);
    }), RUNS);
  });

  it('says clearly when the image is not divisible by the patch size', () => {
    expect(() => patchifyForward(tensor([1, 6, 4]), tensor([1, 1, 7, 8]), 4))
      .toThrow('patchify: an image of 7×8 cannot be cut into 4×4 patches: H and W must be divisible by the patch size 4');
    expect(() => patchifyForward(tensor([1, 3, 4]), tensor([1, 1, 4, 4]), 2)).toThrow('patchify y is [1, 3, 4] but [1, 4, 4] is required');
    expect(() => patchifyBackward(tensor([1, 1, 4, 4]), tensor([1, 4, 3]), 2)).toThrow('patchify dy is [1, 4, 3] but [1, 4, 4] is required');
  });
});

