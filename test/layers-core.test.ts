// Finite-difference checks of the core layers' backward passes (linear with BP feedback,
// activations, losses), property-based over shapes and seeds, in float64.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { throughMatrix } from '../reference/feedback.ts';
import { activationBackward, activationForward, type ActivationName } from '../reference/layers/activation.ts';
import { linearBackward, linearForward } from '../reference/layers/linear.ts';
import { softmaxCrossEntropy, squaredError } from '../reference/layers/losses.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { tensor } from '../reference/tensor.ts';
import { expectGradClose, numericGradient, projection } from './helpers/gradcheck.ts';

const dims = fc.record({ N: fc.integer({ min: 1, max: 5 }), inDim: fc.integer({ min: 1, max: 6 }), outDim: fc.integer({ min: 1, max: 6 }), seed: fc.nat(1e6) });

describe('linear layer', () => {
  it('dx (BP feedback), dW and db match finite differences of a random projection of y', () => {
    fc.assert(fc.property(dims, ({ N, inDim, outDim, seed }) => {
      const rng = new Rng(seed);
      const x = normalTensor(rng, [N, inDim], 1), W = normalTensor(rng, [outDim, inDim], 1), b = normalTensor(rng, [outDim], 1);
      const R = normalTensor(rng, [N, outDim], 1);
      const loss = () => { const y = tensor([N, outDim]); linearForward(y, x, W, b); return projection(R, y); };
      const dx = tensor([N, inDim]), dW = tensor([outDim, inDim]), db = tensor([outDim]);
      linearBackward(dx, dW, db, R, x, throughMatrix(W)); // dL/dy = R
      expectGradClose('dx', dx.data, numericGradient(loss, x));
      expectGradClose('dW', dW.data, numericGradient(loss, W));
      expectGradClose('db', db.data, numericGradient(loss, b));
    }), { numRuns: 50 });
  });
});

describe('activations', () => {
  it.each(['relu', 'tanh', 'identity'] as ActivationName[])('%s: da = f′(a) ⊙ dh matches finite differences (away from the ReLU kink)', (f) => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.nat(1e6), (n, seed) => {
      const rng = new Rng(seed);
      const a = normalTensor(rng, [n], 1);
      for (let i = 0; i < n; i++) if (Math.abs(a.data[i]) < 1e-3) a.data[i] = 0.5; // the kink has no derivative
      const R = normalTensor(rng, [n], 1);
      const loss = () => { const h = tensor([n]); activationForward(h, a, f); return projection(R, h); };
      const da = tensor([n]);
      activationBackward(da, R, a, f);
      expectGradClose(`d${f}`, da.data, numericGradient(loss, a));
    }), { numRuns: 50 });
  });
});

describe('losses', () => {
  it('softmax cross-entropy: e = (softmax − onehot)/N matches finite differences', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 6 }), fc.nat(1e6), (N, C, seed) => {
      const rng = new Rng(seed);
      const logits = normalTensor(rng, [N, C], 2);
      const labels = new Int32Array(N).map(() => rng.int(C));
      const de = tensor([N, C]);
      softmaxCrossEntropy(de, logits, labels);
      expectGradClose('de', de.data, numericGradient(() => softmaxCrossEntropy(tensor([N, C]), logits, labels), logits));
      for (let n = 0; n < N; n++) { // each row of e sums to 0: the error lives in C − 1 dimensions (spec §1.1)
        let s = 0;
        for (let c = 0; c < C; c++) s += de.data[n * C + c];
        expect(Math.abs(s)).toBeLessThan(1e-15);
      }
    }), { numRuns: 50 });
  });

  it('squared error: e = (ŷ − y)/N matches finite differences', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 }), fc.nat(1e6), (N, m, seed) => {
      const rng = new Rng(seed);
      const prediction = normalTensor(rng, [N, m], 1), target = normalTensor(rng, [N, m], 1);
      const de = tensor([N, m]);
      squaredError(de, prediction, target);
      expectGradClose('de', de.data, numericGradient(() => squaredError(tensor([N, m]), prediction, target), prediction));
    }), { numRuns: 50 });
  });

  it('reject a label outside the classes with a clear message', () => {
    expect(() => softmaxCrossEntropy(tensor([1, 3]), tensor([1, 3]), Int32Array.of(3))).toThrow(/label 3 of sample 0 is outside \[0, 3\)/);
  });
});
