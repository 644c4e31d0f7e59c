import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildMlp } from '../reference/models/mlp.ts';
import { Rng } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import { clone, type Tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';
import { expectBackpropMatchesFiniteDifferences, gradients, randomBatch, mlpShapes } from './helpers/nets.ts';


function mlp(s: { inputSize: number; hidden: number[]; classes: number; activation: 'relu' | 'tanh' | 'identity'; seed: number }) {
  return buildMlp({ inputSize: s.inputSize, hidden: s.hidden, outputSize: s.classes, activation: s.activation, bias: true, init: 'uniform' }, new Rng(s.seed));
}

describe('BP gradients of a whole MLP', () => {
  it('match central finite differences (float64)', () => {
    fc.assert(fc.property(mlpShapes.filter((s) => s.activation !== 'relu'), (s) => {
      const model = mlp(s);
      const { x, y } = randomBatch(s.seed + 1, s.batch, s.inputSize, s.classes);
      expectBackpropMatchesFiniteDifferences(model, x, y);
    }), { numRuns: 40 });
  });
});

describe('reductions that must hold exactly', () => {
  it('FA with B_l = W_l equals BP', () => {
    fc.assert(fc.property(mlpShapes, (s) => {
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
    fc.assert(fc.property(mlpShapes.map((s) => ({ ...s, hidden: [s.hidden[0]] })), (s) => {
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

describe('bad input', () => {
  it('an unknown rule or LDFA option is named with the allowed values', () => {
    expect(() => createRule('sgd' as never)).toThrow("unknown rule 'sgd': allowed are bp, fa, dfa, ldfa");
    expect(() => createRule('ldfa', { ldfa: { mode: 'hebb' as never } })).toThrow("unknown feedback mode 'hebb': allowed are fixed, normative, oja, factorised");
    expect(() => createRule('ldfa', { ldfa: { ojaNormalisation: 'l2' as never } })).toThrow("unknown Oja normalisation 'l2': allowed are max-std, max-second-moment, none");
  });

  it('LDFA ranks: r < 1 or above every layer\'s min(out, in) is refused; larger ranks are clamped per layer', () => {
    const s = { inputSize: 5, hidden: [6, 4], classes: 3, activation: 'tanh' as const, seed: 1 };
    const attach = (rank: number | 'full') => { const rule = createRule('ldfa', { ldfa: { rank, mode: 'fixed', init: 'random' } }); rule.attach(mlp(s), new Rng(1)); return rule; };
    expect(() => attach(0)).toThrow('rank 0 is not allowed: rank must be an integer in [1, 4]');
    expect(() => attach(5)).toThrow('rank 5 is not allowed: rank must be an integer in [1, 4]');
    expect(() => attach(1.5)).toThrow('rank 1.5 is not allowed');
    expect(attach(4).summary().ranks).toEqual({ fc2: 4, fc3: 3 }); // fc2 is 6 → 4, fc3 is 4 → 3
    expect(attach('full').summary().ranks).toEqual({ fc2: 4, fc3: 3 });
  });
});
