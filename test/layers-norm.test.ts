// Batch norm (1-d and 2-d, training and eval) and layer norm: exact backward passes against
// central finite differences of L = Σ R⊙y, running statistics against hand computations.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  batchNorm1dBackward, batchNorm1dForward, batchNorm2dBackward, batchNorm2dForward, batchNormRunningInit,
  type BatchNormCache, type BatchNormRunning,
} from '../reference/layers/batchnorm.ts';
import { layerNormBackward, layerNormForward } from '../reference/layers/layernorm.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { clone, tensor, type Tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';
import { expectGradClose, numericGradient, projection } from './helpers/gradcheck.ts';

const RUNS = { numRuns: 30 };

// Every normalised group holds at least 3 values: two values normalise to ±1 whatever they are,
// so their dx is O(ε) = O(1e-5), below what central differences resolve to a relative 1e-6.

type Forward = (y: Tensor, x: Tensor, g: Tensor, b: Tensor, run: BatchNormRunning, o: { training: boolean }) => BatchNormCache;
type Backward = (dx: Tensor | null, dg: Tensor, db: Tensor, dy: Tensor, x: Tensor, g: Tensor, cache: BatchNormCache) => void;

const variants: { name: string; forward: Forward; backward: Backward; shape: fc.Arbitrary<number[]> }[] = [
  {
    name: '1-d', forward: batchNorm1dForward, backward: batchNorm1dBackward,
    shape: fc.tuple(fc.integer({ min: 3, max: 6 }), fc.integer({ min: 1, max: 4 })),
  },
  {
    name: '2-d', forward: batchNorm2dForward, backward: batchNorm2dBackward,
    shape: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 3 }))
      .filter(([N, , H, W]) => N * H * W >= 3),
  },
];

describe.each(variants)('batch norm $name', ({ forward, backward, shape }) => {
  for (const training of [true, false]) {
    it(`${training ? 'training' : 'eval'} backward equals finite differences for dx, dγ, dβ`, () => {
      fc.assert(fc.property(shape, fc.nat(1e6), (s, seed) => {
        const rng = new Rng(seed), C = s[1];
        const x = normalTensor(rng, s, 2);
        for (let i = 0; i < x.size; i++) x.data[i] += 0.5; // a non-zero mean
        const gamma = normalTensor(rng, [C], 1), beta = normalTensor(rng, [C], 1), R = normalTensor(rng, s, 1);
        const running = { mean: normalTensor(rng, [C], 0.3), variance: tensor([C]) };
        for (let c = 0; c < C; c++) running.variance.data[c] = 0.5 + rng.uniform();
        const y = tensor(s);
        // each evaluation starts from the same running statistics
        const loss = () => forward(y, x, gamma, beta, { mean: clone(running.mean), variance: clone(running.variance) }, { training }) && projection(R, y);
        const cache = forward(y, x, gamma, beta, { mean: clone(running.mean), variance: clone(running.variance) }, { training });
        const dx = tensor(s), dgamma = tensor([C]), dbeta = tensor([C]);
        backward(dx, dgamma, dbeta, R, x, gamma, cache);
        expectGradClose('dx', dx.data, numericGradient(loss, x));
        expectGradClose('dgamma', dgamma.data, numericGradient(loss, gamma));
        expectGradClose('dbeta', dbeta.data, numericGradient(loss, beta));
        const dgamma2 = tensor([C]), dbeta2 = tensor([C]);
        backward(null, dgamma2, dbeta2, R, x, gamma, cache); // dx null: same parameter gradients
        expectClose('dgamma without dx', dgamma2.data, dgamma.data);
        expectClose('dbeta without dx', dbeta2.data, dbeta.data);
      }), RUNS);
    });
  }
});

describe('batch norm statistics', () => {
  it('1-d training: biased variance normalises, unbiased variance enters the running average', () => {
    // one feature, values 1, 2, 3, 6: μ = 3, biased σ² = 14/4 = 3.5, unbiased 14/3
    const x = tensor([4, 1], [1, 2, 3, 6]), y = tensor([4, 1]);
    const running = batchNormRunningInit(1);
    const cache = batchNorm1dForward(y, x, tensor([1], [2]), tensor([1], [1]), running, { training: true });
    const rstd = 1 / Math.sqrt(3.5 + 1e-5);
    expectClose('y', y.data, [1 - 4 * rstd, 1 - 2 * rstd, 1, 1 + 6 * rstd]);
    expectClose('mean', cache.mean, [3]);
    expectClose('running mean', running.mean.data, [0.9 * 0 + 0.1 * 3]);
    expectClose('running variance', running.variance.data, [0.9 * 1 + 0.1 * 14 / 3]);
  });

  it('2-d statistics are per channel over N·H·W; eval mode uses the running statistics', () => {
    // N = 2, C = 2, H×W = 1×2; channel 0 holds 0, 2, 4, 6 (μ 3, σ² 5), channel 1 holds 1, 1, 1, 5 (μ 2, σ² 3)
    const x = tensor([2, 2, 1, 2], [0, 2, 1, 1, /**/ 4, 6, 1, 5]), y = tensor(x.shape);
    const running = batchNormRunningInit(2), gamma = tensor([2], [1, 1]), beta = tensor([2]);
    const cache = batchNorm2dForward(y, x, gamma, beta, running, { training: true, momentum: 0.5 });
    expectClose('mean', cache.mean, [3, 2]);
    expectClose('rstd', cache.rstd, [1 / Math.sqrt(5 + 1e-5), 1 / Math.sqrt(3 + 1e-5)]);
    expectClose('running mean', running.mean.data, [1.5, 1]);
    expectClose('running variance', running.variance.data, [0.5 + 0.5 * 20 / 3, 0.5 + 0.5 * 4]);
    batchNorm2dForward(y, x, gamma, beta, running, { training: false });
    const r0 = 1 / Math.sqrt(0.5 + 10 / 3 + 1e-5), r1 = 1 / Math.sqrt(2.5 + 1e-5);
    expectClose('eval y', y.data, [-1.5 * r0, 0.5 * r0, 0, 0, /**/ 2.5 * r0, 4.5 * r0, 0, 4 * r1]);
    expectClose('running mean unchanged by eval', running.mean.data, [1.5, 1]);
  });

  it('errors name what is wrong', () => {
    const run = batchNormRunningInit(3);
    expect(() => batchNorm1dForward(tensor([1, 3]), tensor([1, 3]), tensor([3]), tensor([3]), run, { training: true }))
      .toThrow('more than 1 value per channel');
    expect(() => batchNorm1dForward(tensor([2, 3]), tensor([2, 3]), tensor([2]), tensor([3]), run, { training: true }))
      .toThrow('batchnorm gamma is [2] but [3] is required');
    expect(() => batchNorm2dForward(tensor([2, 3, 2]), tensor([2, 3, 2, 2]), tensor([3]), tensor([3]), run, { training: true }))
      .toThrow('batchNorm2d y is [2, 3, 2] but [2, 3, 2, 2] is required');
    expect(() => batchNorm2dBackward(null, tensor([3]), tensor([3]), tensor([2, 3, 2, 1]), tensor([2, 3, 2, 2]), tensor([3]), { training: true, mean: new Float64Array(3), rstd: new Float64Array(3) }))
      .toThrow('batchNorm2d dy is [2, 3, 2, 1] but [2, 3, 2, 2] is required');
  });
});

describe('layer norm', () => {
  it('backward equals finite differences for dx, dγ, dβ over 2-d and 3-d inputs', () => {
    const shape = fc.oneof(
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 3, max: 7 })),
      fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 3, max: 7 })),
    );
    fc.assert(fc.property(shape, fc.nat(1e6), (s, seed) => {
      const rng = new Rng(seed), C = s[s.length - 1];
      const x = normalTensor(rng, s, 1.5), gamma = normalTensor(rng, [C], 1), beta = normalTensor(rng, [C], 1);
      const R = normalTensor(rng, s, 1), y = tensor(s);
      const loss = () => { layerNormForward(y, x, gamma, beta); return projection(R, y); };
      const cache = layerNormForward(y, x, gamma, beta);
      const dx = tensor(s), dgamma = tensor([C]), dbeta = tensor([C]);
      layerNormBackward(dx, dgamma, dbeta, R, x, gamma, cache);
      expectGradClose('dx', dx.data, numericGradient(loss, x));
      expectGradClose('dgamma', dgamma.data, numericGradient(loss, gamma));
      expectGradClose('dbeta', dbeta.data, numericGradient(loss, beta));
    }), RUNS);
  });

  it('forward: hand example with biased variance and ε = 1e-5', () => {
    const x = tensor([1, 4], [1, 2, 3, 6]), y = tensor([1, 4]);
    const cache = layerNormForward(y, x, tensor([4], [1, 1, 1, 2]), tensor([4], [0, 0, 1, 0]));
    const r = 1 / Math.sqrt(3.5 + 1e-5);
    expectClose('y', y.data, [-2 * r, -1 * r, 1, 6 * r]);
    expectClose('mean', cache.mean, [3]);
    expectClose('rstd', cache.rstd, [r]);
  });

  it('shape errors name the tensor', () => {
    const x = tensor([2, 3]);
    expect(() => layerNormForward(tensor([2, 3]), x, tensor([2]), tensor([3]))).toThrow('layerNorm gamma is [2] but [3] is required');
    expect(() => layerNormForward(tensor([3, 2]), x, tensor([3]), tensor([3]))).toThrow('layerNorm y is [3, 2] but [2, 3] is required');
  });
});
