// The feedback-alignment family (reference/rules/{usf,brsf,frsf,kp,wm,pfa}.ts) against the exact
// reductions of the family spec (§2.3, §3, §4, §5.4, §8) and the closed-form predictions of
// oracles/linear/family.ts. Each reduction was checked to fail on a planted bug (named in its
// comment: the bug was put into a copy of the rule's file, this test run and seen failing, then removed;
// see /work/notes/i25.md for the list and the outcomes).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { addTrainFlags, configFromCommand } from '../src/cli/train-options.ts';
import { train, type TrainResult } from '../src/train.ts';
import type { Dataset } from '../src/data/dataset.ts';
import { mirrorMean, decayFactor, kpMomentumFactor, kpMomentumRate, pfaEquilibriumAngleDeg, signAngleDeg, signAngleLimitDeg } from '../oracles/linear/family.ts';
import { buildCnn } from '../reference/models/cnn.ts';
import { buildMlp } from '../reference/models/mlp.ts';
import type { Model } from '../reference/models/network.ts';
import { orthonormalizeRows } from '../reference/linalg.ts';
import { Rng, initWeight, normalTensor, uniformTensor } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import { mirrorUpdate, mirrorResponse } from '../reference/rules/wm.ts';
import { clone, tensor, type Tensor } from '../reference/tensor.ts';
import { DEFAULT_CONFIG, validateConfig, type TrainConfig } from '../src/config.ts';
import { createTrainer } from '../src/train.ts';
import { expectClose } from './helpers/close.ts';
import { gradients, randomBatch, mlpShapes } from './helpers/nets.ts';

type Shape = { inputSize: number; hidden: number[]; classes: number; activation: 'relu' | 'tanh' | 'identity'; seed: number };

const mlp = (s: Shape) => buildMlp({ inputSize: s.inputSize, hidden: s.hidden, outputSize: s.classes, activation: s.activation, bias: true, init: 'uniform' }, new Rng(s.seed));
/** conv(1→2) → relu → pool → conv(2→3) → relu → pool → flatten → head, on 8×8 images. */
const cnn = (seed: number) => buildCnn({ inputShape: [1, 8, 8], channels: [2, 3], kernel: 3, outputSize: 3, activation: 'relu', batchNorm: false, pool: true, init: 'uniform' }, new Rng(seed));

/** a[i] === b[i] for every i (bit for bit, with 0 === −0). */
function expectBitEqual(name: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  expect(a.length, name).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) expect.fail(`${name}[${i}]: ${a[i]} !== ${b[i]}`);
}

function expectSameGradients(got: ReturnType<typeof gradients>, want: ReturnType<typeof gradients>): void {
  for (const name of Object.keys(want.grads)) expectBitEqual(`d${name}`, got.grads[name].data, want.grads[name].data);
  for (const name of Object.keys(want.signals)) expectBitEqual(`signal of ${name}`, got.signals[name].data, want.signals[name].data);
}

function bpGradients(build: () => Model, x: Tensor, y: Int32Array) {
  const model = build();
  createRule('bp').attach(model, new Rng(0));
  return gradients(model, x, y);
}

const imageBatch = (seed: number, n: number) => {
  const rng = new Rng(seed);
  return { x: normalTensor(rng, [n, 1, 8, 8], 1), y: new Int32Array(n).map(() => rng.int(3)) };
};

describe('uSF (family spec §2.3)', () => {
  // Planted bug checked: c from fan_out instead of fan_in in initStd('uniform') → the signals differ.
  it('with every |W_ij| = c (W = c·sign(W)), is BP bit for bit: MLP and CNN', () => {
    /** c = std of U(±1/√fan_in), written out here: 1/√(3·fan_in). */
    const signed = (model: Model) => {
      for (const site of model.sites) {
        const [, ...rest] = site.weight.value.shape;
        const c = 1 / Math.sqrt(3 * rest.reduce((a, b) => a * b, 1));
        site.weight.value.data.forEach((w, i, W) => { W[i] = c * Math.sign(w); });
      }
      return model;
    };
    fc.assert(fc.property(mlpShapes, (s) => {
      const { x, y } = randomBatch(s.seed + 1, s.batch, s.inputSize, s.classes);
      const model = signed(mlp(s));
      createRule('usf').attach(model, new Rng(0));
      expectSameGradients(gradients(model, x, y), bpGradients(() => signed(mlp(s)), x, y));
    }), { numRuns: 40 });
    fc.assert(fc.property(fc.nat(1e6), (seed) => {
      const { x, y } = imageBatch(seed + 1, 3);
      const model = signed(cnn(seed));
      createRule('usf').attach(model, new Rng(0));
      expectSameGradients(gradients(model, x, y), bpGradients(() => signed(cnn(seed)), x, y));
    }), { numRuns: 8 });
  });

  it("B's angle to W is the exact identity arccos(‖W‖₁/(√nnz·‖W‖_F)), ≈ 30° for a large uniform W", () => {
    const model = mlp({ inputSize: 50, hidden: [200, 200], classes: 10, activation: 'relu', seed: 3 });
    const rule = createRule('usf');
    rule.attach(model, new Rng(0));
    const { x, y } = randomBatch(4, 2, 50, 10);
    gradients(model, x, y);
    const B = rule.feedbackTensors()['fc2.B'], W = model.sites[1].weight.value;
    let dot = 0, nb = 0, nw = 0;
    for (let i = 0; i < W.size; i++) { dot += B.data[i] * W.data[i]; nb += B.data[i] ** 2; nw += W.data[i] ** 2; }
    const angle = (Math.acos(dot / Math.sqrt(nb * nw)) * 180) / Math.PI;
    expect(angle).toBeCloseTo(signAngleDeg(W.data), 9);
    expect(Math.abs(angle - signAngleLimitDeg('uniform'))).toBeLessThan(0.3); // 40 000 entries: sampling spread ≈ 0.1°
  });
});

describe('frSF and brSF (family spec §2.3)', () => {
  // Planted bug checked: frSF's M drawn with 'xavier' instead of the FA initialiser → |M| ≠ |B_FA|.
  it("frSF's magnitudes are |FA's B| (same generator), and with W₀ := |W₀|∘sign(B_FA) frSF is FA bit for bit", () => {
    fc.assert(fc.property(mlpShapes, (s) => {
      const { x, y } = randomBatch(s.seed + 1, s.batch, s.inputSize, s.classes);
      const faModel = mlp(s), faRule = createRule('fa');
      faRule.attach(faModel, new Rng(s.seed + 2));
      const frModel = mlp(s), frRule = createRule('frsf');
      frRule.attach(frModel, new Rng(s.seed + 2));
      const B = faRule.feedbackTensors(), M = frRule.feedbackTensors();
      for (const site of frModel.sites.filter((t) => t.needsInputGrad)) {
        expectBitEqual(`${site.name}.M`, M[`${site.name}.M`].data, B[`${site.name}.B`].data.map(Math.abs));
      }
      for (const model of [faModel, frModel]) {
        for (const site of model.sites.filter((t) => t.needsInputGrad)) {
          const b = B[`${site.name}.B`].data;
          site.weight.value.data.forEach((w, i, W) => { W[i] = Math.abs(w) * Math.sign(b[i]); });
        }
      }
      expectSameGradients(gradients(frModel, x, y), gradients(faModel, x, y));
      // M := |W₀| gives B₀ = W₀: BP at step 0
      const own = mlp(s);
      createRule('frsf', { inject: Object.fromEntries(own.sites.map((t) => [`${t.name}.M`, tensor(t.weight.value.shape, t.weight.value.data.map(Math.abs))])) }).attach(own, new Rng(0));
      expectSameGradients(gradients(own, x, y), bpGradients(() => mlp(s), x, y));
    }), { numRuns: 40 });
  });

  it('sign(B_t) = sign(W_t) at every step (B = 0 where W = 0), and frSF\'s |B_t| stays bit-identical', () => {
    for (const rule of ['usf', 'brsf', 'frsf'] as const) {
      const trainer = createTrainer({ ...DEFAULT_CONFIG, rule, data: 'synthetic', hidden: [7, 5], batch: 4, lr: 0.05, backend: 'reference' }, [6], 3);
      const { x, y } = randomBatch(9, 4, 6, 3);
      trainer.model.sites[1].weight.value.data[0] = 0;
      const firstM = rule === 'frsf' ? clone(trainer.rule.feedbackTensors()['fc2.M']) : null;
      for (let step = 0; step < 4; step++) {
        const Ws = trainer.model.sites.map((s) => clone(s.weight.value));
        trainer.step(x, y);
        for (const [k, site] of trainer.model.sites.entries()) {
          if (!site.needsInputGrad) continue;
          const B = trainer.rule.feedbackTensors()[`${site.name}.B`];
          Ws[k].data.forEach((w, i) => expect(Math.sign(B.data[i]), `${rule} ${site.name}[${i}] step ${step}`).toBe(Math.sign(w)));
          if (firstM && site.name === 'fc2') {
            expectBitEqual('frSF |B_t| = |M|', B.data.map(Math.abs), Ws[k].data.map((w, i) => (w === 0 ? 0 : firstM.data[i])));
            expectBitEqual('frSF M fixed', trainer.rule.feedbackTensors()['fc2.M'].data, firstM.data);
          }
        }
      }
    }
  });

  // Planted bug checked: brSF redrawing from kaiming-linear (√3 wider) instead of FA's initialiser → the mean is far off.
  it("brSF's mean over redraws is uSF with c = E|M| (M ~ U(±a), E|M| = a/2), and a step's M depends only on (seed, layer, step)", () => {
    const model = mlp({ inputSize: 16, hidden: [12], classes: 4, activation: 'relu', seed: 5 });
    const rule = createRule('brsf');
    rule.attach(model, new Rng(1));
    const M = rule.feedbackTensors()['fc2.M'];
    const a = 1 / Math.sqrt(12), K = 2000;
    const sum = new Float64Array(M.size);
    const atStep3 = (() => { rule.afterStep(2); return Float64Array.from(M.data); })();
    for (let k = 1; k <= K; k++) { rule.afterStep(k); sum.forEach((_, i) => { sum[i] += M.data[i] / K; }); }
    rule.afterStep(2);
    expectBitEqual('M of step 3, drawn again', M.data, atStep3);
    const standardError = a / Math.sqrt(12 * K); // std of |M| is a/√12
    for (const v of sum) expect(Math.abs(v - a / 2)).toBeLessThan(5 * standardError);
  });
});

const task = (seed: number) => randomBatch(seed, 16, 6, 3);
const sgd: TrainConfig = { ...DEFAULT_CONFIG, data: 'synthetic', arch: 'mlp', hidden: [7, 5], activation: 'tanh', batch: 16, optimizer: 'sgd', momentum: 0, lr: 0.1, backend: 'reference' };

function trainSteps(config: TrainConfig, steps: number, inputShape: readonly number[] = [6], classes = 3) {
  const trainer = createTrainer(validateConfig(config), inputShape, classes);
  const W0 = trainer.model.sites.map((s) => clone(s.weight.value));
  const F0 = Object.fromEntries(Object.entries(trainer.rule.feedbackTensors()).map(([k, t]) => [k, clone(t)]));
  return {
    trainer, W0, F0,
    run(from = 0) { for (let t = from; t < from + steps; t++) { const { x, y } = task(100 + t); trainer.step(x, y); } },
  };
}

describe('Kolen–Pollack (family spec §3)', () => {
  // Planted bug checked: feedbackGradients copying dW·0.5 → B drifts from W and the BP run differs.
  it.each([
    ['SGD', {}],
    ['SGD with momentum and coupled L2', { momentum: 0.9, weightDecay: 0.01 }],
    ['Adam with coupled L2', { optimizer: 'adam', lr: 0.01, weightDecay: 0.01 }],
    ['AdamW', { optimizer: 'adamw', lr: 0.01, weightDecay: 0.1 }],
  ] as const)('started at B₀ = W₀ is BP bit for bit over 6 steps (%s)', (_, over) => {
    const kp = trainSteps({ ...sgd, ...over, rule: 'kp', kpInit: 'weights' }, 6);
    const bp = trainSteps({ ...sgd, ...over, rule: 'bp' }, 6);
    kp.run(); bp.run();
    for (const [i, p] of bp.trainer.model.params().entries()) expectBitEqual(p.name, kp.trainer.model.params()[i].value.data, p.value.data);
    for (const site of kp.trainer.model.sites.filter((s) => s.needsInputGrad)) {
      expectBitEqual(`${site.name}.B = W`, kp.trainer.rule.feedbackTensors()[`${site.name}.B`].data, site.weight.value.data);
    }
  });

  // Planted bug checked: B's Param with decay = false → D_t stays D₀ and the (1 − ηλ)^t law fails.
  it.each([
    ['SGD, coupled L2', { weightDecay: 0.05 }, (t: number) => decayFactor(0.1, 0.05, t)],
    ['AdamW (decoupled)', { optimizer: 'adamw', lr: 0.01, weightDecay: 0.5 }, (t: number) => decayFactor(0.01, 0.5, t)],
    ['SGD with momentum 0.9, coupled L2', { momentum: 0.9, weightDecay: 0.05 }, (t: number) => kpMomentumFactor(0.1, 0.05, 0.9, t)],
    ['SGD, λ = 0: D constant', { weightDecay: 0 }, () => 1],
  ] as const)('B − W decays by the data-free law of oracles/linear/family.ts (%s)', (_, over, factor) => {
    const kp = trainSteps({ ...sgd, ...over, rule: 'kp' }, 10);
    kp.run();
    for (const [k, site] of kp.trainer.model.sites.entries()) {
      if (!site.needsInputGrad) continue;
      const B0 = kp.F0[`${site.name}.B`].data, W0 = kp.W0[k].data;
      const B = kp.trainer.rule.feedbackTensors()[`${site.name}.B`].data, W = site.weight.value.data;
      const f = factor(10);
      expectClose(`${site.name} B − W`, B.map((b, i) => b - W[i]), B0.map((b, i) => f * (b - W0[i])), { atol: 1e-13, rtol: 1e-10 });
    }
  });

  it("momentum's slow rate is the largest root of z² − (1 + μ − ηλ)z + μ", () => {
    const rate = kpMomentumRate(0.1, 0.05, 0.5);
    expect(kpMomentumFactor(0.1, 0.05, 0.5, 201) / kpMomentumFactor(0.1, 0.05, 0.5, 200)).toBeCloseTo(rate, 10);
  });
});

describe('weight mirrors (family spec §4)', () => {
  // Planted bugs checked: Ŵ divided by Nσ instead of Nσ² fails this test; Ŵ not divided by the
  // number of output positions P fails the conv part of the next.
  it('with batch-isotropic noise (xᵀx = Nσ²I) Ŵ = W, so B_t = W + (1 − ρ)^t (B₀ − W) exactly', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.nat(1e6), (out, inp, seed) => {
      const rng = new Rng(seed);
      const N = inp + 3, sigma = 0.3, rho = 0.2;
      const W = uniformTensor(rng, [out, inp], 1), B = uniformTensor(rng, [out, inp], 1), B0 = clone(B);
      const site = mlp({ inputSize: inp, hidden: [out], classes: 2, activation: 'identity', seed }).sites[0];
      site.weight.value.data.set(W.data);
      const columns = orthonormalizeRows(normalTensor(rng, [inp, N], 1)); // (inp, N), orthonormal rows
      const x = tensor([N, inp]);
      for (let n = 0; n < N; n++) for (let j = 0; j < inp; j++) x.data[n * inp + j] = sigma * Math.sqrt(N) * columns.data[j * N + n];
      for (let t = 0; t < 5; t++) mirrorUpdate(B, x, mirrorResponse(site, x), rho, sigma, null);
      expectClose('B_5', B.data, mirrorMean(B0.data, W.data, rho, 5), { atol: 1e-12, rtol: 1e-10 });
    }), { numRuns: 30 });
  });

  it('the expected mirror update is σ²W (Stein), linear and conv (padding 0): the Gaussian mean of yᵀx/N over many draws', () => {
    const sigma = 0.5, K = 400;
    // linear: rate 1 makes B = Ŵ = yᵀx/(Nσ²) each step; Var(y_i x_j) = σ⁴(‖W_i‖² + W_ij²)
    const model = mlp({ inputSize: 5, hidden: [4, 3], classes: 2, activation: 'relu', seed: 2 });
    const rule = createRule('wm', { wm: { sigma, rate: 1, batch: 50, warmup: 0, growthControl: false } });
    rule.attach(model, new Rng(3));
    const site = model.sites[1], W = site.weight.value, B = rule.feedbackTensors()['fc2.B'];
    const mean = new Float64Array(W.size);
    for (let k = 1; k <= K; k++) { rule.afterStep(k); mean.forEach((_, i) => { mean[i] += B.data[i] / K; }); }
    const [out, inp] = W.shape;
    for (let i = 0; i < out; i++) {
      let row = 0;
      for (let j = 0; j < inp; j++) row += W.data[i * inp + j] ** 2;
      for (let j = 0; j < inp; j++) {
        const se = Math.sqrt((row + W.data[i * inp + j] ** 2) / (50 * K)); // of Ŵ = (yᵀx/N)/σ²
        expect(Math.abs(mean[i * inp + j] - W.data[i * inp + j]), `Ŵ[${i},${j}]`).toBeLessThan(5 * se);
      }
    }
    // conv, padding 0: E[Ŵ] = W for the kernel too
    const conv = cnn(4).sites[1];
    const spec = { ...conv.conv!, padding: 0 };
    const K2 = 300, Wc = conv.weight.value, Bc = tensor(Wc.shape), meanC = new Float64Array(Wc.size);
    const convSite = { ...conv, conv: spec };
    const rng = new Rng(6);
    for (let k = 0; k < K2; k++) {
      const x = normalTensor(rng, [4, 2, 4, 4], sigma);
      mirrorUpdate(Bc, x, mirrorResponse(convSite, x), 1, sigma, spec);
      meanC.forEach((_, i) => { meanC[i] += Bc.data[i] / K2; });
    }
    const scale = Math.sqrt(Wc.data.reduce((s, w) => s + w * w, 0) / (4 * 4 * K2)); // ≈ the standard error
    for (let i = 0; i < Wc.size; i++) expect(Math.abs(meanC[i] - Wc.data[i]), `conv Ŵ[${i}]`).toBeLessThan(6 * scale);
  });

  it('the mirror noise of step t depends only on (seed, layer, t): a run resumed after step 3 mirrors as one run', () => {
    const config: TrainConfig = { ...sgd, rule: 'wm', mirrorWarmup: 2 };
    const whole = trainSteps(config, 6);
    whole.run();
    const first = trainSteps(config, 3);
    first.run();
    const rest = trainSteps(config, 3);
    for (const [k, t] of Object.entries(first.trainer.rule.feedbackTensors())) rest.trainer.rule.feedbackTensors()[k].data.set(t.data);
    rest.trainer.model.params().forEach((p, i) => p.value.data.set(first.trainer.model.params()[i].value.data));
    rest.trainer.steps = 3;
    for (let t = 3; t < 6; t++) { const { x, y } = task(100 + t); rest.trainer.step(x, y); }
    for (const [k, t] of Object.entries(whole.trainer.rule.feedbackTensors())) expectBitEqual(k, rest.trainer.rule.feedbackTensors()[k].data, t.data);
  });
});

describe('PFA (family spec §5.4, §5.5)', () => {
  // Planted bug checked: R's Param without weight decay → differs from KP under coupled L2.
  it('with B_p = I (k = 1) is KP with R in B\'s role, bit for bit (R₀ = KP\'s B₀ from the same generator)', () => {
    for (const over of [{}, { momentum: 0.9, weightDecay: 0.01 }, { optimizer: 'adam' as const, lr: 0.01 }]) {
      const pfa = trainSteps({ ...sgd, ...over, rule: 'pfa', pfaFeedback: 'identity', pfaExpansion: 1 }, 5);
      const kp = trainSteps({ ...sgd, ...over, rule: 'kp' }, 5);
      pfa.run(); kp.run();
      for (const [i, p] of kp.trainer.model.params().entries()) expectBitEqual(p.name, pfa.trainer.model.params()[i].value.data, p.value.data);
      for (const site of kp.trainer.model.sites.filter((s) => s.needsInputGrad)) {
        expectBitEqual(`${site.name}.R = B`, pfa.trainer.rule.feedbackTensors()[`${site.name}.R`].data, kp.trainer.rule.feedbackTensors()[`${site.name}.B`].data);
      }
    }
  });

  // Planted bug checked: R stepped by the separate feedback optimiser (stepsWithWeights off) → B_pR drifts from W.
  it.each([
    ['SGD', {}],
    ['SGD with momentum and coupled L2', { momentum: 0.9, weightDecay: 0.02 }],
  ] as const)('with orthonormal B_p (k = 3) and R₀ = B_pᵀW₀ is BP to float tolerance (%s)', (_, over) => {
    const pfa = trainSteps({ ...sgd, ...over, rule: 'pfa', pfaFeedback: 'orthogonal', pfaExpansion: 3 }, 8);
    const bp = trainSteps({ ...sgd, ...over, rule: 'bp' }, 8);
    const F = pfa.trainer.rule.feedbackTensors();
    for (const site of pfa.trainer.model.sites.filter((s) => s.needsInputGrad)) {
      const Bp = F[`${site.name}.Bp`], R = F[`${site.name}.R`];
      const [out, mid] = Bp.shape, inp = site.weight.value.shape[1];
      for (let m = 0; m < mid; m++) for (let j = 0; j < inp; j++) {
        let s = 0;
        for (let o = 0; o < out; o++) s += Bp.data[o * mid + m] * site.weight.value.data[o * inp + j];
        R.data[m * inp + j] = s;
      }
    }
    pfa.run(); bp.run();
    for (const [i, p] of bp.trainer.model.params().entries()) expectClose(p.name, pfa.trainer.model.params()[i].value.data, p.value.data, { atol: 1e-12, rtol: 1e-10 });
  });

  it('R − B_pᵀW decays as (1 − ηλ)^t under SGD with coupled L2 (oracles/linear/family.ts)', () => {
    const pfa = trainSteps({ ...sgd, rule: 'pfa', pfaExpansion: 2, weightDecay: 0.05 }, 10);
    pfa.run();
    const F = pfa.trainer.rule.feedbackTensors();
    const diff = (R: Tensor, Bp: Tensor, W: Tensor) => {
      const [out, mid] = Bp.shape, inp = W.shape[1];
      return Float64Array.from({ length: mid * inp }, (_, idx) => {
        const m = Math.floor(idx / inp), j = idx % inp;
        let s = 0;
        for (let o = 0; o < out; o++) s += Bp.data[o * mid + m] * W.data[o * inp + j];
        return R.data[idx] - s;
      });
    };
    for (const [k, site] of pfa.trainer.model.sites.entries()) {
      if (!site.needsInputGrad) continue;
      const Bp = F[`${site.name}.Bp`];
      expectBitEqual(`${site.name}.Bp fixed`, Bp.data, pfa.F0[`${site.name}.Bp`].data);
      const f = decayFactor(0.1, 0.05, 10);
      expectClose(`${site.name} R − B_pᵀW`, diff(F[`${site.name}.R`], Bp, site.weight.value), diff(pfa.F0[`${site.name}.R`], Bp, pfa.W0[k]).map((d) => f * d), { atol: 1e-13, rtol: 1e-9 });
    }
  });

  // Planted bug checked: grad_R = B_p·dW instead of B_pᵀ·dW (transA dropped) → grad_R ≠ grad_Q̂.
  // Planted bug checked: B_p ~ U(±√(3/out)) instead of U(±√(3/(k·out))) → diag(B_pB_pᵀ) ≈ k, not 1.
  it('random B_p has E[B_pB_pᵀ] = I, and ∠(B_pB_pᵀW, W) for isotropic W is arccos(1/√(1 + 1/k)) (17.5° at k = 10)', () => {
    const out = 50, inp = 40, k = 10;
    const model = mlp({ inputSize: 30, hidden: [inp, out], classes: 3, activation: 'relu', seed: 4 });
    const rule = createRule('pfa', { pfa: { expansion: k } });
    rule.attach(model, new Rng(8));
    const Bp = rule.feedbackTensors()['fc2.Bp'], mid = k * out; // fc2: (out, inp)
    const W = normalTensor(new Rng(9), [out, inp], 1);
    const BBt = new Float64Array(out * out);
    for (let i = 0; i < out; i++) for (let j = 0; j < out; j++) {
      let sum = 0;
      for (let m = 0; m < mid; m++) sum += Bp.data[i * mid + m] * Bp.data[j * mid + m];
      BBt[i * out + j] = sum;
    }
    const diagonal = Array.from({ length: out }, (_, i) => BBt[i * out + i]).reduce((a, b) => a + b, 0) / out;
    expect(Math.abs(diagonal - 1)).toBeLessThan(0.03);
    let dot = 0, n1 = 0, n2 = 0;
    for (let i = 0; i < out; i++) for (let j = 0; j < inp; j++) {
      let v = 0;
      for (let o = 0; o < out; o++) v += BBt[i * out + o] * W.data[o * inp + j];
      dot += v * W.data[i * inp + j]; n1 += v * v; n2 += W.data[i * inp + j] ** 2;
    }
    const angle = (Math.acos(dot / Math.sqrt(n1 * n2)) * 180) / Math.PI;
    expect(Math.abs(angle - pfaEquilibriumAngleDeg(out, mid))).toBeLessThan(1.5);
  });

  it("is LDFA's Q-only factorised rule with B_p := P̂, R := Q̂: the same signals and grad_R = grad_Q̂", () => {
    fc.assert(fc.property(fc.nat(1e6), fc.integer({ min: 1, max: 4 }), (seed, width) => {
      const s = { inputSize: width + 4, hidden: [width + 2], classes: width, activation: 'tanh' as const, seed, batch: 3 };
      const { x, y } = randomBatch(seed + 1, 3, s.inputSize, s.classes);
      const pfaModel = mlp(s), pfa = createRule('pfa', { pfa: { expansion: 1 } });
      pfa.attach(pfaModel, new Rng(seed + 2));
      const F = pfa.feedbackTensors();
      const inject = Object.fromEntries(pfaModel.sites.filter((t) => t.needsInputGrad).flatMap((t) => [[`${t.name}.P`, clone(F[`${t.name}.Bp`])], [`${t.name}.Q`, clone(F[`${t.name}.R`])]]));
      const ldfaModel = mlp(s), ldfa = createRule('ldfa', { ldfa: { mode: 'factorised', learn: 'q', rank: 'full' }, inject });
      ldfa.attach(ldfaModel, new Rng(0));
      expectSameGradients(gradients(pfaModel, x, y), gradients(ldfaModel, x, y));
      pfa.feedbackGradients(); ldfa.feedbackGradients();
      for (const site of pfaModel.sites.filter((t) => t.needsInputGrad)) {
        const gR = pfa.feedbackParams().find((p) => p.name === `${site.name}.R`)!.grad;
        const gQ = ldfa.feedbackParams().find((p) => p.name === `${site.name}.Q`)!.grad;
        expectBitEqual(`${site.name} grad_R = grad_Q̂`, gR.data, gQ.data);
      }
    }), { numRuns: 25 });
  });
});

describe('every family rule (family spec §8)', () => {
  const rules = ['usf', 'brsf', 'frsf', 'kp', 'wm', 'pfa'] as const;
  const options = { wm: { sigma: 0.1, rate: 0.01, batch: 4, warmup: 1, growthControl: false }, pfa: { expansion: 2 } };
  // dW and db are exact in every rule: the output layer's equal BP's bit for bit, and every layer's
  // equal dyᵀ·x from its own recorded dy; the first layer's feedback is never installed.
  it.each(rules)('%s: exact dW and db given dy; the first layer sends nothing; the output layer learns as under BP (MLP and CNN)', (name) => {
    for (const [build, batch] of [
      [() => mlp({ inputSize: 5, hidden: [4, 3], classes: 3, activation: 'tanh', seed: 8 }), randomBatch(9, 4, 5, 3)],
      [() => cnn(8), imageBatch(9, 3)],
    ] as const) {
      const model = build();
      createRule(name, options).attach(model, new Rng(1));
      const got = gradients(model, batch.x, batch.y);
      const want = bpGradients(build, batch.x, batch.y);
      const head = model.sites[model.sites.length - 1];
      expectBitEqual(`${name} d${head.weight.name}`, got.grads[head.weight.name].data, want.grads[head.weight.name].data);
      expect(model.sites[0].inputGrad).toBeNull();
      expect(got.grads[model.sites[0].weight.name].data.some((v) => v !== 0)).toBe(true);
    }
  });

  it.each(rules)('%s trains: the loss of a small MLP on a learnable task falls over 60 SGD steps', (name) => {
    const run = trainSteps({ ...sgd, rule: name, mirrorWarmup: 5, mirrorBatch: 16, pfaExpansion: 2, lr: 0.3, weightDecay: name === 'kp' || name === 'pfa' ? 1e-3 : 0 }, 60);
    const probe = task(7);
    const before = run.trainer.step(probe.x, probe.y);
    run.run(1);
    const after = run.trainer.step(probe.x, probe.y);
    expect(after).toBeLessThan(before);
  });

  it('initWeight draws are what frSF, KP, WM and PFA take for FA-like tensors (one stream, documented order)', () => {
    const model = mlp({ inputSize: 4, hidden: [3], classes: 2, activation: 'relu', seed: 1 });
    const rule = createRule('kp');
    rule.attach(model, new Rng(5));
    expectBitEqual('kp B₀', rule.feedbackTensors()['fc2.B'].data, initWeight(new Rng(5), [2, 3], 'uniform').data);
  });
});

describe('checkpoints and flags of the family rules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ldfa-family-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const dataset = (seed: number, n: number): Dataset => {
    const { x, y } = randomBatch(seed, n, 6, 3);
    return { name: 'family-task', x: x.data, y, n, shape: [6], classes: 3 };
  };
  const data = { train: dataset(1, 48), test: dataset(2, 24) };
  const strip = (r: TrainResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0 })) });
  // brSF's M and WM's noise come from streams keyed by the step; KP's B, WM's B, PFA's R (and their
  // optimiser moments) are in the checkpoint, so a resumed run ends as an uninterrupted one.
  it.each([
    ['usf', {}], ['brsf', {}], ['frsf', {}], ['kp', { weightDecay: 0.01, momentum: 0.9 }],
    ['wm', { mirrorWarmup: 'epoch' as const, mirrorRate: 0.1 }], ['pfa', { pfaExpansion: 2, weightDecay: 0.01 }],
  ] as const)('%s: a run resumed from its checkpoint ends byte-identical to an uninterrupted one', (rule, over) => {
    const config: TrainConfig = { ...sgd, ...over, rule, epochs: 3, batch: 8 };
    const whole = train(config, data);
    const checkpoint = join(dir, `${rule}.ckpt`);
    train({ ...config, epochs: 1 }, data, { checkpoint });
    const resumed = train(config, data, { checkpoint, resume: true });
    expect(strip(resumed)).toEqual(strip(whole));
  });

  it('--weight-decay-first-epoch: KP\'s B − W decays by (1 − ηλ₀) per step in epoch 1, then by (1 − ηλ) (PFA\'s schedule, family spec §5.3)', () => {
    const config: TrainConfig = { ...sgd, rule: 'kp', epochs: 2, batch: 8, weightDecay: 0.01, weightDecayFirstEpoch: 0.3 };
    const trainer = createTrainer(config, [6], 3);
    const D = () => trainer.model.sites.filter((s) => s.needsInputGrad).flatMap((s) => {
      const B = trainer.rule.feedbackTensors()[`${s.name}.B`].data;
      return Array.from(s.weight.value.data, (w, i) => B[i] - w);
    });
    const D0 = D();
    const done = train(config, data, { onFinish: (t) => { trainer.model.params().forEach((p, i) => p.value.data.set(t.model.params()[i].value.data)); Object.entries(t.rule.feedbackTensors()).forEach(([k, v]) => trainer.rule.feedbackTensors()[k].data.set(v.data)); } });
    const stepsPerEpoch = Math.ceil(data.train.n / config.batch);
    const f = decayFactor(0.1, 0.3, stepsPerEpoch) * decayFactor(0.1, 0.01, stepsPerEpoch);
    expect(done.epochs).toHaveLength(2);
    expectClose('B − W after 2 epochs', D(), D0.map((d) => f * d), { atol: 1e-13, rtol: 1e-9 });
    expect(parse(['--rule', 'pfa', '--weight-decay', '9e-5', '--weight-decay-first-epoch', '0.03']).weightDecayFirstEpoch).toBe(0.03);
    expect(() => parse(['--weight-decay-first-epoch', '-1'])).toThrow(/--weight-decay-first-epoch must be a finite number ≥ 0, got -1/);
  });

  const parse = (args: string[]) => {
    const cmd = addTrainFlags(new Command('train')).exitOverride().configureOutput({ writeErr: () => {} });
    cmd.parse(args, { from: 'user' });
    return configFromCommand(cmd);
  };
  it('each rule takes its own flags and refuses another rule\'s', () => {
    expect(parse(['--rule', 'usf', '--usf-scale', 'unit']).usfScale).toBe('unit');
    expect(parse(['--rule', 'usf', '--usf-scale', '0.5']).usfScale).toBe(0.5);
    expect(parse(['--rule', 'frsf', '--sign-magnitudes', 'xavier']).signMagnitudes).toBe('xavier');
    expect(parse(['--rule', 'kp', '--kp-init', 'weights']).kpInit).toBe('weights');
    expect(parse(['--rule', 'wm', '--mirror-sigma', '0.2', '--mirror-rate', '0.05', '--mirror-warmup', '10', '--mirror-batch', '32', '--mirror-growth-control']))
      .toMatchObject({ mirrorSigma: 0.2, mirrorRate: 0.05, mirrorWarmup: 10, mirrorBatch: 32, mirrorGrowthControl: true });
    expect(parse(['--rule', 'pfa', '--pfa-expansion', '1', '--pfa-feedback', 'identity'])).toMatchObject({ pfaExpansion: 1, pfaFeedback: 'identity' });
    expect(() => parse(['--rule', 'kp', '--usf-scale', 'unit'])).toThrow(/--usf-scale would be ignored: it applies only with --rule usf/);
    expect(() => parse(['--rule', 'usf', '--mirror-sigma', '0.2'])).toThrow(/--mirror-sigma would be ignored: it applies only with --rule wm/);
    expect(() => parse(['--rule', 'pfa', '--kp-init', 'weights'])).toThrow(/--kp-init would be ignored: it applies only with --rule kp/);
    expect(() => parse(['--rule', 'kp', '--pfa-expansion', '3'])).toThrow(/--pfa-expansion would be ignored: it applies only with --rule pfa/);
    expect(() => parse(['--rule', 'usf', '--sign-magnitudes', 'xavier'])).toThrow(/--sign-magnitudes would be ignored: it applies only with --rule brsf or frsf/);
    expect(() => parse(['--rule', 'kp', '--feedback-lr', '0.1'])).toThrow(/--feedback-lr would be ignored/);
    expect(() => parse(['--rule', 'pfa', '--rank', '4'])).toThrow(/--rank would be ignored: it applies only with --rule ldfa/);
  });

  it('bad values are refused up front, naming the flag and what is allowed', () => {
    expect(() => parse(['--rule', 'usf', '--usf-scale', 'big'])).toThrow(/--usf-scale must be init-std, unit or a number > 0, got 'big'/);
    expect(() => parse(['--rule', 'usf', '--usf-scale', '-1'])).toThrow(/uSF scale '-1' is not allowed: allowed are init-std, unit or a finite number > 0/);
    expect(() => parse(['--rule', 'frsf', '--sign-magnitudes', 'cauchy'])).toThrow(/--sign-magnitudes 'cauchy' is not allowed: allowed are uniform, kaiming-linear, xavier, normal/);
    expect(() => parse(['--rule', 'kp', '--kp-init', 'zero'])).toThrow(/--kp-init 'zero' is not allowed: allowed are random, weights/);
    expect(() => parse(['--rule', 'wm', '--mirror-sigma', '0'])).toThrow(/--mirror-sigma must be a finite number > 0, got 0/);
    expect(() => parse(['--rule', 'wm', '--mirror-rate', '1.5'])).toThrow(/--mirror-rate must be in \(0, 1\], got 1.5/);
    expect(() => parse(['--rule', 'wm', '--mirror-warmup', 'lots'])).toThrow(/--mirror-warmup must be an integer ≥ 0, got 'lots'/);
    expect(() => parse(['--rule', 'wm', '--mirror-batch', '0'])).toThrow(/--mirror-batch must be a positive integer, got '0'/);
    expect(() => parse(['--rule', 'pfa', '--pfa-expansion', '0'])).toThrow(/--pfa-expansion must be a positive integer, got '0'/);
    expect(() => parse(['--rule', 'pfa', '--pfa-feedback', 'identity'])).toThrow(/--pfa-feedback identity is B_p = I, square: it needs --pfa-expansion 1, got 10/);
    expect(() => parse(['--rule', 'pfa', '--pfa-feedback', 'eye'])).toThrow(/--pfa-feedback 'eye' is not allowed: allowed are random, identity, orthogonal/);
    expect(() => parse(['--rule', 'sign'])).toThrow(/--rule 'sign' is not allowed: allowed are bp, fa, dfa, ldfa, usf, brsf, frsf, kp, wm, pfa/);
  });
});
