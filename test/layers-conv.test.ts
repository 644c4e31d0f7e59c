// CNN layers: conv2d (with BP / FA / LDFA feedback) and pooling. Every backward pass is
// checked against central finite differences of L = Σ R⊙y over random configurations.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convOutputSize, type Conv2dSpec } from '../reference/backend.ts';
import { throughKernel, throughLowRankKernel } from '../reference/feedback.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { conv2dBackward, conv2dForward } from '../reference/layers/conv2d.ts';
import {
  avgPool2dBackward, avgPool2dForward, globalAvgPoolBackward, globalAvgPoolForward,
  maxPool2dBackward, maxPool2dForward, pool2dOutputShape, type Pool2dSpec,
} from '../reference/layers/pool.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { reshape, tensor, type Tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';
import { expectGradClose, numericGradient, projection } from './helpers/gradcheck.ts';

const RUNS = { numRuns: 30 };

interface ConvCase { N: number; Cin: number; Cout: number; k: number; H: number; W: number; spec: Conv2dSpec; seed: number }

// Small random convs: kernel 1–3, stride 1–2, padding 0–2, inputs at least as large as the
// kernel after padding.
const convCase: fc.Arbitrary<ConvCase> = fc.record({
  N: fc.integer({ min: 1, max: 2 }), Cin: fc.integer({ min: 1, max: 3 }), Cout: fc.integer({ min: 1, max: 3 }),
  k: fc.integer({ min: 1, max: 3 }), stride: fc.integer({ min: 1, max: 2 }), padding: fc.integer({ min: 0, max: 2 }),
  dH: fc.integer({ min: 0, max: 3 }), dW: fc.integer({ min: 0, max: 3 }), seed: fc.nat(1e6),
}).map(({ N, Cin, Cout, k, stride, padding, dH, dW, seed }) => {
  const least = Math.max(1, k - 2 * padding);
  return { N, Cin, Cout, k, H: least + dH, W: least + dW, spec: { stride, padding }, seed };
});

function convSetup(c: ConvCase) {
  const rng = new Rng(c.seed);
  const x = normalTensor(rng, [c.N, c.Cin, c.H, c.W], 1);
  const W = normalTensor(rng, [c.Cout, c.Cin, c.k, c.k], 1);
  const b = normalTensor(rng, [c.Cout], 1);
  const Ho = convOutputSize(c.H, c.k, c.spec), Wo = convOutputSize(c.W, c.k, c.spec);
  const R = normalTensor(rng, [c.N, c.Cout, Ho, Wo], 1);
  const y = tensor(R.shape);
  const loss = () => { conv2dForward(y, x, W, b, c.spec); return projection(R, y); };
  return { rng, x, W, b, R, y, loss };
}

describe('conv2d', () => {
  it('forward matches a direct sum with bias', () => {
    const x = tensor([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const W = tensor([2, 1, 2, 2], [1, 0, 0, 1, /**/ 0, 1, 1, 0]);
    const y = tensor([1, 2, 2, 2]);
    conv2dForward(y, x, W, tensor([2], [10, -10]), { stride: 1, padding: 0 });
    // channel 0: x[i,j] + x[i+1,j+1]; channel 1: x[i,j+1] + x[i+1,j]
    expect(Array.from(y.data)).toEqual([16, 18, 22, 24, -4, -2, 2, 4]);
  });

  // Forward, backward-input and backward-filter share one tap loop, so finite differences
  // cannot see a wrong padding offset or stride (all three would move together): hand counts can.
  it('stride 2, padding 1: forward, backward-input and backward-filter against hand counts', () => {
    // x = [1..9] as 3×3, zero-padded to 5×5; a 2×2 kernel [[1, 2], [3, 4]] at stride 2 gives 2×2 outputs
    const x = tensor([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]), W = tensor([1, 1, 2, 2], [1, 2, 3, 4]);
    const spec = { stride: 2, padding: 1 };
    const y = tensor([1, 1, 2, 2]);
    conv2dForward(y, x, W, null, spec);
    // windows [0 0; 0 1], [0 0; 2 3], [0 4; 0 7], [5 6; 8 9]
    expect(Array.from(y.data)).toEqual([4, 18, 36, 77]);
    const ones = tensor([1, 1, 2, 2], [1, 1, 1, 1]);
    const dx = tensor(x.shape);
    referenceBackend.conv2dBackwardInput(dx, ones, W, spec);
    // every pixel is covered by exactly one window, at tap (p, q) with p = 1, 0, 1 for rows 0, 1, 2 (likewise q)
    expect(Array.from(dx.data)).toEqual([4, 3, 4, 2, 1, 2, 4, 3, 4]);
    const dW = tensor(W.shape);
    referenceBackend.conv2dBackwardFilter(dW, ones, x, spec);
    // tap (p, q) sums the padded pixels (2i + p, 2j + q): (0,0) 5, (0,1) 4 + 6, (1,0) 2 + 8, (1,1) 1 + 3 + 7 + 9
    expect(Array.from(dW.data)).toEqual([5, 10, 10, 20]);
  });

  it('BP backward (throughKernel(W)) equals finite differences for dx, dW, db', () => {
    fc.assert(fc.property(convCase, (c) => {
      const { x, W, b, R, loss } = convSetup(c);
      const dx = tensor(x.shape), dW = tensor(W.shape), db = tensor(b.shape);
      conv2dBackward(dx, dW, db, R, x, c.spec, throughKernel(W, c.spec));
      expectGradClose('dx', dx.data, numericGradient(loss, x));
      expectGradClose('dW', dW.data, numericGradient(loss, W));
      expectGradClose('db', db.data, numericGradient(loss, b));
    }), RUNS);
  });

  it('LDFA with P̂·Q̂ = W (r = min(Cout, Cin·k²)) equals BP to 1e-12, stride 1 and 2', () => {
    fc.assert(fc.property(convCase, fc.integer({ min: 1, max: 2 }), (c0, stride) => {
      const c = { ...c0, spec: { ...c0.spec, stride } }; // both strides for every shape drawn
      const rng = new Rng(c.seed);
      const F = c.Cin * c.k * c.k, r = Math.min(c.Cout, F);
      const P = normalTensor(rng, [c.Cout, r], 1), Q = normalTensor(rng, [r, F], 1);
      const Wflat = tensor([c.Cout, F]);
      referenceBackend.matmul(Wflat, P, Q);
      const W = reshape(Wflat, [c.Cout, c.Cin, c.k, c.k]);
      const x = normalTensor(rng, [c.N, c.Cin, c.H, c.W], 1);
      const dy = normalTensor(rng, [c.N, c.Cout, convOutputSize(c.H, c.k, c.spec), convOutputSize(c.W, c.k, c.spec)], 1);
      const bp = { dx: tensor(x.shape), dW: tensor(W.shape), db: tensor([c.Cout]) };
      const ld = { dx: tensor(x.shape), dW: tensor(W.shape), db: tensor([c.Cout]) };
      conv2dBackward(bp.dx, bp.dW, bp.db, dy, x, c.spec, throughKernel(W, c.spec));
      conv2dBackward(ld.dx, ld.dW, ld.db, dy, x, c.spec,
        throughLowRankKernel(reshape(P, [c.Cout, r, 1, 1]), reshape(Q, [r, c.Cin, c.k, c.k]), c.spec));
      expectClose('dx LDFA vs BP', ld.dx.data, bp.dx.data);
      expectClose('dW LDFA vs BP', ld.dW.data, bp.dW.data);
      expectClose('db LDFA vs BP', ld.db.data, bp.db.data);
    }), RUNS);
  });

  it('FA: dx = convᵀ(dy, B), while dW and db stay the exact gradients', () => {
    fc.assert(fc.property(convCase, (c) => {
      const { rng, x, W, b, R, loss } = convSetup(c);
      const B = normalTensor(rng, W.shape, 1);
      const dx = tensor(x.shape), dW = tensor(W.shape), db = tensor(b.shape), expected = tensor(x.shape);
      conv2dBackward(dx, dW, db, R, x, c.spec, throughKernel(B, c.spec));
      referenceBackend.conv2dBackwardInput(expected, R, B, c.spec);
      expectClose('dx FA', dx.data, expected.data);
      expectGradClose('dW', dW.data, numericGradient(loss, W));
      expectGradClose('db', db.data, numericGradient(loss, b));
    }), { numRuns: 15 });
  });

  it('null dx and null db are skipped; the feedback is not called without dx', () => {
    const rng = new Rng(1), spec = { stride: 1, padding: 1 };
    const x = normalTensor(rng, [1, 2, 4, 4], 1), dy = normalTensor(rng, [1, 3, 4, 4], 1);
    const dW = tensor([3, 2, 3, 3]);
    let called = false;
    conv2dBackward(null, dW, null, dy, x, spec, () => { called = true; });
    expect(called).toBe(false);
    const expected = tensor([3, 2, 3, 3]);
    referenceBackend.conv2dBackwardFilter(expected, dy, x, spec);
    expectClose('dW', dW.data, expected.data);
  });

  it('shape errors name the tensor and both shapes', () => {
    const spec = { stride: 1, padding: 0 };
    const x = tensor([1, 2, 4, 4]), W = tensor([3, 2, 3, 3]);
    expect(() => conv2dForward(tensor([1, 3, 3, 3]), x, W, null, spec)).toThrow('conv2d y is [1, 3, 3, 3] but [1, 3, 2, 2] is required');
    expect(() => conv2dForward(tensor([1, 3, 2, 2]), x, tensor([3, 1, 3, 3]), null, spec)).toThrow('conv2d W is [3, 1, 3, 3] but [3, 2, 3, 3] is required');
    expect(() => conv2dForward(tensor([1, 3, 2, 2]), x, W, tensor([2]), spec)).toThrow('conv2d b is [2] but [3] is required');
    expect(() => conv2dBackward(null, tensor([3, 2, 3, 3]), null, tensor([1, 3, 3, 2]), x, spec, () => {})).toThrow('conv2d dy is [1, 3, 3, 2] but [1, 3, 2, 2] is required');
    expect(() => conv2dBackward(null, tensor([3, 1, 3, 3]), null, tensor([1, 3, 2, 2]), x, spec, () => {})).toThrow('conv2d dW is [3, 1, 3, 3] but [3, 2, 3, 3] is required');
    expect(() => conv2dBackward(tensor([1, 2, 4, 3]), tensor([3, 2, 3, 3]), null, tensor([1, 3, 2, 2]), x, spec, () => {})).toThrow('conv2d dx is [1, 2, 4, 3] but [1, 2, 4, 4] is required');
    expect(() => conv2dForward(tensor([1, 3, 2, 2]), x, W, null, { stride: 0, padding: 0 })).toThrow('stride must be an integer ≥ 1');
  });
});

// ----------------------------------------------------------------------------

interface PoolCase { N: number; C: number; H: number; W: number; spec: Pool2dSpec; seed: number }

const poolCase: fc.Arbitrary<PoolCase> = fc.record({
  N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 3 }), k: fc.integer({ min: 1, max: 3 }),
  stride: fc.integer({ min: 1, max: 2 }), dH: fc.integer({ min: 0, max: 4 }), dW: fc.integer({ min: 0, max: 4 }), seed: fc.nat(1e6),
}).map(({ N, C, k, stride, dH, dW, seed }) => ({ N, C, H: k + dH, W: k + dW, spec: { k, stride }, seed }));

/** Distinct values 0.01 apart in random order, so no window has a near-tie that h could flip. */
function distinctInput(rng: Rng, shape: number[]): Tensor {
  const x = tensor(shape), perm = rng.permutation(x.size);
  for (let i = 0; i < x.size; i++) x.data[i] = 0.01 * perm[i] - 0.005 * x.size;
  return x;
}

describe('pooling', () => {
  it('max pool forward takes the window maxima; backward routes to the argmax, ties to the first', () => {
    const x = tensor([1, 1, 2, 4], [1, 5, 5, 2, /**/ 3, 0, 2, 5]);
    const y = tensor([1, 1, 1, 2]);
    maxPool2dForward(y, x, { k: 2, stride: 2 });
    expect(Array.from(y.data)).toEqual([5, 5]);
    const dx = tensor(x.shape);
    maxPool2dBackward(dx, tensor([1, 1, 1, 2], [10, 20]), x, { k: 2, stride: 2 });
    // left window: one 5 at (0,1); right window: 5s at (0,2) and (1,3), the first in row-major order wins
    expect(Array.from(dx.data)).toEqual([0, 10, 20, 0, /**/ 0, 0, 0, 0]);
  });

  it('overlapping max windows add their gradients at a shared maximum', () => {
    const x = tensor([1, 1, 2, 3], [0, 9, 1, 0, 0, 0]);
    const dx = tensor(x.shape);
    maxPool2dBackward(dx, tensor([1, 1, 1, 2], [1, 2]), x, { k: 2, stride: 1 }); // both windows hold the 9
    expect(Array.from(dx.data)).toEqual([0, 3, 0, 0, 0, 0]);
  });

  it('max pool backward equals finite differences', () => {
    fc.assert(fc.property(poolCase, (c) => {
      const rng = new Rng(c.seed);
      const x = distinctInput(rng, [c.N, c.C, c.H, c.W]);
      const R = normalTensor(rng, pool2dOutputShape(x, c.spec), 1), y = tensor(R.shape);
      const dx = tensor(x.shape);
      maxPool2dBackward(dx, R, x, c.spec);
      expectGradClose('dx', dx.data, numericGradient(() => { maxPool2dForward(y, x, c.spec); return projection(R, y); }, x));
    }), RUNS);
  });

  it('average pool backward equals finite differences', () => {
    fc.assert(fc.property(poolCase, (c) => {
      const rng = new Rng(c.seed);
      const x = normalTensor(rng, [c.N, c.C, c.H, c.W], 1);
      const R = normalTensor(rng, pool2dOutputShape(x, c.spec), 1), y = tensor(R.shape);
      const dx = tensor(x.shape);
      avgPool2dBackward(dx, R, c.spec);
      expectGradClose('dx', dx.data, numericGradient(() => { avgPool2dForward(y, x, c.spec); return projection(R, y); }, x));
    }), RUNS);
  });

  it('average pool forward: hand example', () => {
    const x = tensor([1, 1, 2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
    const y = tensor([1, 1, 1, 2]);
    avgPool2dForward(y, x, { k: 2, stride: 2 });
    expect(Array.from(y.data)).toEqual([3.5, 5.5]);
  });

  it('global average pool: hand example and finite differences', () => {
    const y = tensor([1, 2]);
    globalAvgPoolForward(y, tensor([1, 2, 1, 2], [1, 3, 10, 20]));
    expect(Array.from(y.data)).toEqual([2, 15]);
    fc.assert(fc.property(poolCase, (c) => {
      const rng = new Rng(c.seed);
      const x = normalTensor(rng, [c.N, c.C, c.H, c.W], 1);
      const R = normalTensor(rng, [c.N, c.C], 1), out = tensor(R.shape), dx = tensor(x.shape);
      globalAvgPoolBackward(dx, R);
      expectGradClose('dx', dx.data, numericGradient(() => { globalAvgPoolForward(out, x); return projection(R, out); }, x));
    }), { numRuns: 20 });
  });

  it('pool errors name what is wrong', () => {
    const x = tensor([1, 1, 2, 2]);
    expect(() => maxPool2dForward(tensor([1, 1, 1, 1]), x, { k: 3, stride: 1 })).toThrow('a 3×3 window does not fit an input of size 2×2');
    expect(() => maxPool2dForward(tensor([1, 1, 2, 1]), x, { k: 2, stride: 1 })).toThrow('maxPool2d y is [1, 1, 2, 1] but [1, 1, 1, 1] is required');
    expect(() => avgPool2dBackward(x, tensor([1, 1, 1]), { k: 2, stride: 2 })).toThrow('avgPool2d dy is [1, 1, 1] but [1, 1, 1, 1] is required');
    expect(() => globalAvgPoolForward(tensor([1, 2]), x)).toThrow('globalAvgPool y is [1, 2] but [1, 1] is required');
  });
});
