import { describe, expect, it } from 'vitest';
import { buildMlp } from '../reference/models/mlp.ts';
import { Rng } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import { clone } from '../reference/tensor.ts';
import { measureAlignment } from '../src/alignment.ts';
import { randomBatch } from './helpers/nets.ts';

const model = () => buildMlp({ inputSize: 6, hidden: [8, 7], outputSize: 4, activation: 'tanh', bias: true, init: 'uniform' }, new Rng(4));
const { x, y } = randomBatch(9, 16, 6, 4);

describe('alignment with BP on a probe batch', () => {
  it('is exactly 0° for BP, and for LDFA at full rank with P̂Q̂ = W (norm ratio 1)', () => {
    for (const [name, rule] of [['bp', createRule('bp')], ['ldfa', createRule('ldfa', { ldfa: { rank: 'full', mode: 'normative', init: 'svd' } })]] as const) {
      const m = model();
      rule.attach(m, new Rng(1));
      const report = measureAlignment(m, rule, x, y);
      for (const [layer, a] of Object.entries(report)) {
        expect(a.updateAngleDeg, `${name} ${layer}`).toBeLessThan(1e-5);
        if (a.signalAngleDeg !== null) expect(a.signalAngleDeg, `${name} ${layer}`).toBeLessThan(1e-5);
        if (name === 'ldfa' && layer !== 'fc1') {
          expect(a.feedbackAngleDeg!).toBeLessThan(1e-5);
          expect(a.normRatio!).toBeCloseTo(1, 10);
        }
      }
    }
  });

  it('FA with random B: the output layer is exact, the layers below are not', () => {
    const m = model();
    const rule = createRule('fa');
    rule.attach(m, new Rng(1));
    const report = measureAlignment(m, rule, x, y);
    expect(report.fc3.updateAngleDeg).toBeLessThan(1e-5); // the output layer learns from the true e
    expect(report.fc2.updateAngleDeg).toBeGreaterThan(1);
    expect(report.fc1.updateAngleDeg).toBeGreaterThan(1);
    expect(report.fc3.signalAngleDeg!).toBeGreaterThan(1);
  });

  it('leaves the gradients of the last training step untouched', () => {
    const m = model();
    const rule = createRule('fa');
    rule.attach(m, new Rng(1));
    const before = m.params().map((p) => clone(p.grad));
    measureAlignment(m, rule, x, y);
    m.params().forEach((p, i) => expect(Array.from(p.grad.data)).toEqual(Array.from(before[i].data)));
  });

  it('rank-r LDFA feedback has effective rank at most r', () => {
    const m = model();
    const rule = createRule('ldfa', { ldfa: { rank: 2, mode: 'fixed', init: 'random' } });
    rule.attach(m, new Rng(1));
    const report = measureAlignment(m, rule, x, y);
    expect(report.fc2.feedbackEffectiveRank!).toBeLessThanOrEqual(2 + 1e-9);
    expect(report.fc2.errorSubspaceAngleDeg).not.toBeNull();
  });
});

describe('FLOPs of a training step', () => {
  it('LDFA saves exactly the input-gradient difference 2N·(in·out − r·(in + out)) on each sending layer', async () => {
    const { stepFlops } = await import('../src/flops.ts');
    const bpModel = model(), ldfaModel = model();
    const bpRule = createRule('bp'), ldfaRule = createRule('ldfa', { ldfa: { rank: 2, mode: 'fixed', init: 'random' } });
    bpRule.attach(bpModel, new Rng(1));
    ldfaRule.attach(ldfaModel, new Rng(1));
    const N = 32;
    const bp = stepFlops(bpModel, bpRule, N), ldfa = stepFlops(ldfaModel, ldfaRule, N);
    expect(bp.layers.fc1.inputGradient).toBe(0); // the first layer sends nothing down
    expect(bp.layers.fc2.inputGradient).toBe(2 * N * 8 * 7);
    expect(ldfa.layers.fc2.inputGradient).toBe(2 * N * 2 * (8 + 7));
    expect(ldfa.layers.fc3.inputGradient).toBe(2 * N * 2 * (7 + 4));
    expect(bp.total.forward).toBe(ldfa.total.forward);
    expect(bp.total.all - ldfa.total.all).toBe(2 * N * (8 * 7 - 2 * 15) + 2 * N * (7 * 4 - 2 * 11));
  });
});
