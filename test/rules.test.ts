import fc from 'fast-check';
import { describe, it } from 'vitest';
import { buildMlp } from '../reference/models/mlp.ts';
import { Rng } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import { clone, type Tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';
import { expectBackpropMatchesFiniteDifferences, gradients, randomBatch } from './helpers/nets.ts';

const shapes = fc.record({
  inputSize: fc.integer({ min: 1, max: 6 }),
  hidden: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
  classes: fc.integer({ min: 2, max: 5 }),
  batch: fc.integer({ min: 1, max: 5 }),
  activation: fc.constantFrom('relu' as const, 'tanh' as const, 'identity' as const),
  seed: fc.nat(1e6),
});

function mlp(s: { inputSize: number; hidden: number[]; classes: number; activation: 'relu' | 'tanh' | 'identity'; seed: number }) {
  return buildMlp({ inputSize: s.inputSize, hidden: s.hidden, outputSize: s.classes, activation: s.activation, bias: true, init: 'uniform' }, new Rng(s.seed));
}

describe('BP gradients of a whole MLP', () => {
  it('match central finite differences (float64)', () => {
    fc.assert(fc.property(shapes.filter((s) => s.activation !== 'relu'), (s) => {
      const model = mlp(s);
      const { x, y } = randomBatch(s.seed + 1, s.batch, s.inputSize, s.classes);
      expectBackpropMatchesFiniteDifferences(model, x, y);
    }), { numRuns: 40 });
  });
});

describe('reductions that must hold exactly', () => {
  it('FA with B_l = W_l equals BP', () => {
    fc.assert(fc.property(shapes, (s) => {
      const { x, y } = randomBatch(s.seed + 1, s.batch, s.inputSize, s.classes);
      const reference = mlp(s);
      createRule('bp').attach(reference, new Rng(0));
      const expected = gradients(reference, x, y);

      const model = mlp(s);
      const inject: Record<string, Tensor> = {};
      for (const site of model.sites) inject[`${site.name}.B`] = clone(site.weight.value);
      createRule('fa', { inject }).attach(model, new Rng(0));
      const actual = gradients(model, x, y);
      for (const name of Object.keys(expected.grads)) expectClose(`d${name}`, actual.grads[name].data, expected.grads[name].data);
    }), { numRuns: 50 });
  });

  it('DFA on one hidden layer with D = W₂ equals BP', () => {
    fc.assert(fc.property(shapes.map((s) => ({ ...s, hidden: [s.hidden[0]] })), (s) => {
      const { x, y } = randomBatch(s.seed + 1, s.batch, s.inputSize, s.classes);
      const reference = mlp(s);
      createRule('bp').attach(reference, new Rng(0));
      const expected = gradients(reference, x, y);

      const model = mlp(s);
      createRule('dfa', { inject: { 'fc2.D': clone(model.sites[1].weight.value) } }).attach(model, new Rng(0));
      const actual = gradients(model, x, y);
      for (const name of Object.keys(expected.grads)) expectClose(`d${name}`, actual.grads[name].data, expected.grads[name].data);
    }), { numRuns: 50 });
  });
});

describe('FA and DFA invariants', () => {
  it('the signal DFA sends into a hidden layer does not depend on the forward weights above it', () => {
    const s = { inputSize: 5, hidden: [4, 3], classes: 3, activation: 'tanh' as const, seed: 7 };
    const { x, y } = randomBatch(3, 4, 5, 3);
    const model = mlp(s);
    createRule('dfa').attach(model, new Rng(11));
    const before = gradients(model, x, y).signals;
    for (const site of model.sites.slice(1)) {
      site.weight.value.data.fill(0.5); // change W above, keep the output error of the last backward
      const dx = clone(site.inputGrad!);
      site.feedback(dx, site.outputGrad!);
      expectClose(`signal sent down by ${site.name}`, dx.data, before[site.name].data);
    }
  });
});
