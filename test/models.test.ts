// Every architecture under the rules: BP gradients against finite differences, and the
// exact reductions (FA with B = W, LDFA at full rank with SVD initialisation) to BP.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { buildCnn } from '../reference/models/cnn.ts';
import { buildMlp } from '../reference/models/mlp.ts';
import { buildRetina } from '../reference/models/retina.ts';
import type { Model } from '../reference/models/network.ts';
import { buildVit } from '../reference/models/vit.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import { clone, type Tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';
import { expectBackpropMatchesFiniteDifferences, gradients } from './helpers/nets.ts';

type Builder = (seed: number) => Model;

/**
 * Nonzero biases for a ReLU net: with zero biases a unit whose whole input window is zero (a
 * dead channel below, or the zero padding) sits exactly on the kink, where central differences
 * see slope ½ and backprop 0.
 */
function randomBiases(model: Model, seed: number): Model {
  const rng = new Rng(seed + 7);
  for (const p of model.params()) if (p.name.endsWith('.b')) p.value.data.set(normalTensor(rng, p.value.shape, 0.1).data);
  return model;
}

const architectures: [string, Builder][] = [
  ['cnn', (seed) => buildCnn({ inputShape: [2, 6, 6], channels: [3, 4], kernel: 3, outputSize: 3, activation: 'tanh', batchNorm: false, pool: true, init: 'uniform' }, new Rng(seed))],
  ['cnn with batch norm', (seed) => buildCnn({ inputShape: [1, 5, 5], channels: [3, 2], kernel: 3, outputSize: 3, activation: 'tanh', batchNorm: true, pool: false, init: 'uniform' }, new Rng(seed))],
  ['retina–vvs (relu)', (seed) => randomBiases(buildRetina({ inputShape: [1, 5, 5], channels: [2, 2, 3, 2], kernel: 3, fc: 4, outputSize: 3, activation: 'relu', init: 'uniform' }, new Rng(seed)), seed)],
  ['mlp with batch norm', (seed) => buildMlp({ inputSize: 4, hidden: [5, 3], outputSize: 3, activation: 'tanh', batchNorm: true, bias: true, init: 'uniform' }, new Rng(seed))],
  ['vit (fused qkv)', (seed) => buildVit({ inputShape: [1, 4, 4], patch: 2, dim: 4, depth: 2, heads: 2, mlpRatio: 2, outputSize: 3, fusedQkv: true, init: 'uniform' }, new Rng(seed))],
  ['vit (separate q, k, v)', (seed) => buildVit({ inputShape: [2, 4, 4], patch: 2, dim: 6, depth: 1, heads: 3, mlpRatio: 1, outputSize: 3, fusedQkv: false, init: 'uniform' }, new Rng(seed))],
];

function batchFor(model: Model, seed: number, n = 3): { x: Tensor; y: Int32Array } {
  const rng = new Rng(seed);
  const x = normalTensor(rng, [n, ...model.inputShape], 1);
  return { x, y: new Int32Array(n).map(() => rng.int(model.outputSize)) };
}

describe.each(architectures)('%s', (_, build) => {
  it('BP gradients match central finite differences', () => {
    fc.assert(fc.property(fc.nat(1e6), (seed) => {
      const model = build(seed);
      const { x, y } = batchFor(model, seed + 1);
      expectBackpropMatchesFiniteDifferences(model, x, y);
    }), { numRuns: 3 });
  });

  it('FA with B = W and LDFA with P̂Q̂ = W (full rank, SVD) both equal BP', () => {
    fc.assert(fc.property(fc.nat(1e6), (seed) => {
      const { x, y } = batchFor(build(seed), seed + 1);
      const expected = gradients(build(seed), x, y);
      const fa = build(seed);
      const inject = Object.fromEntries(fa.sites.map((s) => [`${s.name}.B`, clone(s.weight.value)]));
      createRule('fa', { inject }).attach(fa, new Rng(1));
      const ldfa = build(seed);
      createRule('ldfa', { ldfa: { rank: 'full', mode: 'normative', init: 'svd' } }).attach(ldfa, new Rng(1));
      for (const [rule, model] of [['fa', fa], ['ldfa', ldfa]] as const) {
        const actual = gradients(model, x, y);
        for (const name of Object.keys(expected.grads)) expectClose(`${rule} d${name}`, actual.grads[name].data, expected.grads[name].data, { atol: 1e-12, rtol: 1e-10 });
      }
    }), { numRuns: 5 });
  });

  it('trains a step under every rule and feedback mode without error', () => {
    for (const rule of ['bp', 'fa', 'dfa'] as const) {
      const model = build(3);
      createRule(rule).attach(model, new Rng(2));
      const { x, y } = batchFor(model, 4);
      gradients(model, x, y);
    }
    for (const mode of ['fixed', 'normative', 'oja', 'factorised'] as const) {
      const model = build(3);
      const rule = createRule('ldfa', { ldfa: { rank: 1, mode, init: mode === 'oja' || mode === 'fixed' ? 'random' : 'svd' } });
      rule.attach(model, new Rng(2));
      const { x, y } = batchFor(model, 4);
      gradients(model, x, y);
      rule.feedbackGradients();
    }
  });
});
