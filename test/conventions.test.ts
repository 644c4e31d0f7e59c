// The authors' conventions (issue 13, spec §2.3 C1, §2.4): each is recomputed here from the
// authors' formula written out with plain loops, independently of reference/rules/ldfa.ts.
import { describe, expect, it } from 'vitest';
import { balancedFactors, randomizedSvd, truncatedSvd } from '../reference/linalg.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { buildCnn } from '../reference/models/cnn.ts';
import { buildMlp } from '../reference/models/mlp.ts';
import type { Model } from '../reference/models/network.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import { DEFAULT_LDFA, normaliseError, ojaGradient, type LdfaOptions } from '../reference/rules/ldfa.ts';
import { clone, tensor, type Tensor } from '../reference/tensor.ts';
import { createTrainer } from '../src/train.ts';
import { DEFAULT_CONFIG, ldfaOptionsOf, validateConfig } from '../src/config.ts';
import { applyPreset } from '../src/presets.ts';
import { expectClose } from './helpers/close.ts';
import { gradients, randomBatch } from './helpers/nets.ts';

/** Plain-loop matrix product of row-major a (n, k) and b (k, m). */
function matmul(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * m + j];
    out[i * m + j] = s;
  }
  return out;
}

function transpose(a: ArrayLike<number>, n: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[j * n + i] = a[i * m + j];
  return out;
}

/**
 * The v1 code's Oja step, written out: δ̃ = (δ − mean) / (max_j std_j + ε) (unbiased std),
 * C = δ̃ᵀδ̃, gP̂ = −(C·P̂ − P̂·P̂ᵀ·C·P̂).   rows (n, f), P (f, r)
 */
function authorsOjaMaxStd(rows: ArrayLike<number>, n: number, f: number, P: ArrayLike<number>, r: number, eps: number): Float64Array {
  const mean = new Float64Array(f);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) mean[j] += rows[i * f + j] / n;
  let maxStd = 0;
  for (let j = 0; j < f; j++) {
    let v = 0;
    for (let i = 0; i < n; i++) v += (rows[i * f + j] - mean[j]) ** 2;
    maxStd = Math.max(maxStd, Math.sqrt(v / (n - 1)));
  }
  const d = new Float64Array(n * f);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) d[i * f + j] = (rows[i * f + j] - mean[j]) / (maxStd + eps);
  const C = matmul(transpose(d, n, f), d, f, n, f);
  const CP = matmul(C, P, f, f, r);
  const PtCP = matmul(transpose(P, f, r), CP, r, f, r);
  const P_PtCP = matmul(P, PtCP, f, r, r);
  return CP.map((v, i) => -(v - P_PtCP[i]));
}

const mlpModel = (seed: number, hidden = [8, 7]) =>
  buildMlp({ inputSize: 6, hidden, outputSize: 4, activation: 'tanh', bias: true, init: 'uniform' }, new Rng(seed));
const cnnModel = (seed: number) =>
  buildCnn({ inputShape: [2, 6, 6], channels: [3, 6], kernel: 3, outputSize: 4, activation: 'tanh', batchNorm: false, pool: true, init: 'uniform' }, new Rng(seed));
const ldfa = (options: Partial<LdfaOptions>) => createRule('ldfa', { ldfa: { rank: 2, mode: 'oja', init: 'random', ...options } });

/** Forward, backward and the rule's feedback gradients; returns every feedback gradient by name. */
function feedbackGrads(model: Model, options: Partial<LdfaOptions>, x: Tensor, y: Int32Array) {
  const rule = ldfa(options);
  rule.attach(model, new Rng(11));
  gradients(model, x, y);
  rule.feedbackGradients(y);
  return { rule, grads: Object.fromEntries(rule.feedbackParams().map((p) => [p.name, clone(p.grad)])) };
}

describe("fix 1: max-second-moment divides Oja's C once by s (mid-2025 code, rAFA_linear.py)", () => {
  it('gP̂ = (P̂·(δP̂)ᵀ(δP̂) − δᵀ(δP̂)) / s, s = max_j mean_n δ_j² + 1e-8, δ not centred', () => {
    const rng = new Rng(5);
    const n = 9, f = 6, r = 2;
    const delta = normalTensor(rng, [n, f], 7); // mean squares ≈ 49: s is far from 1, so s and s² differ
    const P = normalTensor(rng, [f, r], 0.5);
    let s = 0;
    for (let j = 0; j < f; j++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += delta.data[i * f + j] ** 2 / n;
      s = Math.max(s, m);
    }
    s += 1e-8;
    const dP = matmul(delta.data, P.data, n, f, r); // (n, r)
    const gram = matmul(transpose(dP, n, r), dP, r, n, r); // (δP̂)ᵀ(δP̂)
    const first = matmul(P.data, gram, f, r, r);
    const second = matmul(transpose(delta.data, n, f), dP, f, n, r); // δᵀ(δP̂)
    const expected = first.map((v, i) => (v - second[i]) / s);
    const gP = tensor([f, r]);
    ojaGradient(gP, P, normaliseError(delta, 'max-second-moment', 1e-8));
    expectClose('gP̂', gP.data, expected);
  });
});

describe('fix 2: the v1 random P̂ is U(±1/√r) (kaiming_uniform_ on (out, r) takes fan_in = r)', () => {
  it('max|P̂| ≈ 1/√r for a 300-wide layer at r = 2 (the authors measured 0.7068), Q̂ stays U(±√3/√in)', () => {
    const model = buildMlp({ inputSize: 20, hidden: [300, 40], outputSize: 10, activation: 'relu', bias: true, init: 'uniform' }, new Rng(1));
    const rule = ldfa({ rank: 2 });
    rule.attach(model, new Rng(2));
    const maxAbs = (t: Tensor) => t.data.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    const t = rule.feedbackTensors();
    const P = t['fc2.P'], Q = t['fc2.Q']; // fc2: 300 → 40, P̂ (40, 2), Q̂ (2, 300)
    expect(P.shape).toEqual([40, 2]);
    expect(maxAbs(P)).toBeLessThanOrEqual(1 / Math.sqrt(2));
    expect(maxAbs(P)).toBeGreaterThan(0.8 / Math.sqrt(2));
    expect(maxAbs(Q)).toBeLessThanOrEqual(Math.sqrt(3) / Math.sqrt(300));
    expect(maxAbs(Q)).toBeGreaterThan(0.9 * Math.sqrt(3) / Math.sqrt(300));
  });

  it('conv P̂ (Cout, r, 1, 1) is U(±1/√r) as well', () => {
    const model = buildCnn({ inputShape: [3, 8, 8], channels: [16, 64], kernel: 3, outputSize: 4, activation: 'relu', batchNorm: false, pool: true, init: 'uniform' }, new Rng(3));
    const rule = ldfa({ rank: 3 });
    rule.attach(model, new Rng(4));
    const P = rule.feedbackTensors()['conv2.P'];
    expect(P.shape).toEqual([64, 3, 1, 1]);
    const max = P.data.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    expect(max).toBeLessThanOrEqual(1 / Math.sqrt(3));
    expect(max).toBeGreaterThan(0.8 / Math.sqrt(3));
  });
});

describe("Oja's ε per kind of layer (v1: rAFA_linear.py 1e-8, rAFA_conv.py 1e-6)", () => {
  it('defaults: 1e-8 for linear layers, 1e-6 for conv layers', () => {
    expect([DEFAULT_LDFA.ojaEps, DEFAULT_LDFA.ojaEpsConv]).toEqual([1e-8, 1e-6]);
  });

  it('conv layers use ojaEpsConv on their (sample·position, channel) rows, linear layers ojaEps', () => {
    const model = cnnModel(4242);
    const x = normalTensor(new Rng(9), [3, 2, 6, 6], 1);
    const y = Int32Array.from([0, 3, 1]);
    // Large, distinct ε so that using the wrong one shows.
    const { rule, grads } = feedbackGrads(model, { ojaEps: 0.7, ojaEpsConv: 0.3 }, x, y);
    const t = rule.feedbackTensors();
    for (const site of model.sites.filter((s) => s.needsInputGrad)) {
      const P = t[`${site.name}.P`];
      const [out, r] = [P.shape[0], P.shape[1]];
      const dy = site.outputGrad!;
      let rows: Float64Array, n: number;
      if (site.kind === 'conv') {
        const [N, C, H, W] = dy.shape;
        n = N * H * W; rows = new Float64Array(n * C);
        for (let b = 0; b < N; b++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) rows[(b * H * W + p) * C + c] = dy.data[(b * C + c) * H * W + p];
      } else {
        n = dy.shape[0]; rows = Float64Array.from(dy.data);
      }
      const eps = site.kind === 'conv' ? 0.3 : 0.7;
      expectClose(`${site.name} gP̂`, grads[`${site.name}.P`].data, authorsOjaMaxStd(rows, n, out, P.data, r, eps));
    }
  });
});

describe("oja output layer from the labels (v1 MLP code's requires_gt, spec §2.3 C1)", () => {
  it("the output layer's P̂ learns from the centred one-hot labels, scaled by max std + ε; its Q̂ and the hidden layers still from δ", () => {
    const { x, y } = randomBatch(8, 7, 6, 4);
    const fromLabels = feedbackGrads(mlpModel(3), { ojaOutput: 'labels' }, x, y);
    const fromError = feedbackGrads(mlpModel(3), { ojaOutput: 'error' }, x, y);
    const P = fromLabels.rule.feedbackTensors()['fc3.P']; // (4, 2)
    const onehot = new Float64Array(7 * 4);
    y.forEach((c, i) => { onehot[i * 4 + c] = 1; });
    expectClose('fc3 gP̂ from labels', fromLabels.grads['fc3.P'].data, authorsOjaMaxStd(onehot, 7, 4, P.data, 2, 1e-8));
    expect(Math.max(...fromLabels.grads['fc3.P'].data.map((v, i) => Math.abs(v - fromError.grads['fc3.P'].data[i])))).toBeGreaterThan(1e-3);
    for (const name of ['fc3.Q', 'fc2.P', 'fc2.Q']) expectClose(name, fromLabels.grads[name].data, fromError.grads[name].data);
  });

  it('refuses to run without the labels', () => {
    const model = mlpModel(3);
    const rule = ldfa({ ojaOutput: 'labels' });
    rule.attach(model, new Rng(1));
    const { x, y } = randomBatch(8, 7, 6, 4);
    gradients(model, x, y);
    expect(() => rule.feedbackGradients()).toThrow("the output layer fc3 needs the batch labels");
  });
});

describe('gradient clamps of the v4 normative code (spec §2.4)', () => {
  const clampAll = (t: Tensor, c: number) => Array.from(t.data, (v) => Math.min(c, Math.max(-c, v)));

  it('linear layers: W, b, P̂, Q̂ gradients clamped to ±c; conv layers: only P̂, Q̂', () => {
    const x = normalTensor(new Rng(9), [3, 2, 6, 6], 1);
    const y = Int32Array.from([0, 3, 1]);
    const run = (clip: Partial<LdfaOptions>) => {
      const model = cnnModel(4242);
      const { grads } = feedbackGrads(model, { mode: 'factorised', init: 'svd', svd: 'exact', ...clip }, x, y);
      return { grads, params: Object.fromEntries(model.params().map((p) => [p.name, clone(p.grad)])) };
    };
    const free = run({});
    const c = 1e-3, cc = 2e-3;
    const clamped = run({ clipLinearGrad: c, clipConvFeedbackGrad: cc });
    for (const name of ['head.P', 'head.Q']) expectClose(name, clamped.grads[name].data, clampAll(free.grads[name], c));
    for (const name of ['conv2.P', 'conv2.Q']) expectClose(name, clamped.grads[name].data, clampAll(free.grads[name], cc));
    for (const name of Object.keys(free.params)) {
      const expected = name.startsWith('head.') ? clampAll(free.params[name], c) : Array.from(free.params[name].data);
      expectClose(name, clamped.params[name].data, expected);
    }
    // the clamp did fire somewhere, else this test could not fail
    expect(Math.max(...free.grads['head.P'].data.map(Math.abs))).toBeGreaterThan(c);
    expect(Math.max(...free.params['head.W'].data.map(Math.abs))).toBeGreaterThan(c);
  });
});

describe('randomized SVD power iterations (v4: 2; some versions 10)', () => {
  it('balancedFactors passes them to randomizedSvd', () => {
    const W = normalTensor(new Rng(1), [30, 20], 1);
    for (const q of [0, 10]) {
      const { U, S } = randomizedSvd(W, 3, new Rng(7), { powerIterations: q });
      const { P } = balancedFactors(W, 3, { randomized: new Rng(7), powerIterations: q });
      const expected = Array.from(U.data, (u, i) => u * Math.sqrt(S[i % 3]));
      expectClose(`P̂ at ${q} power iterations`, P.data, expected);
    }
  });
});

describe('randomized SVD oversampling (here 5 columns; the authors\' torch.svd_lowrank(q = r): none)', () => {
  it('samples r + p columns: on a rank-5 matrix, r = 3 without power iterations is exact with p = 5 and not with p = 0; balancedFactors passes p on', () => {
    const rng = new Rng(3);
    const W = tensor([30, 20]);
    referenceBackend.matmul(W, normalTensor(rng, [30, 5], 1), normalTensor(rng, [5, 20], 1)); // rank 5
    const exact = truncatedSvd(W, 3);
    const sampled = (p: number) => randomizedSvd(W, 3, new Rng(7), { powerIterations: 0, oversample: p });
    expectClose('σ with 5 extra columns', sampled(5).S, exact.S, { atol: 1e-9, rtol: 1e-9 });
    const worst = Math.max(...sampled(0).S.map((s, i) => Math.abs(s - exact.S[i]) / exact.S[i]));
    expect(worst).toBeGreaterThan(1e-3); // 3 random columns of a rank-5 range miss part of its top subspace
    const { U, S } = sampled(0);
    const { P } = balancedFactors(W, 3, { randomized: new Rng(7), powerIterations: 0, oversample: 0 });
    expectClose('P̂ with no oversampling', P.data, Array.from(U.data, (u, i) => u * Math.sqrt(S[i % 3])));
  });

  it('the LDFA rule and `ldfa train` carry it: --svd-oversample, 0 under the v4 presets, validated', () => {
    expect(DEFAULT_CONFIG.svdOversample).toBe(5);
    expect(ldfaOptionsOf({ ...DEFAULT_CONFIG, svdOversample: 0 }).svdOversample).toBe(0);
    expect(() => validateConfig({ ...DEFAULT_CONFIG, svdOversample: -1 })).toThrow(/--svd-oversample must be an integer in \[0, 1000\] .*, got -1/);
    for (const preset of ['authors-v4-normative', 'authors-v4-bio'] as const) expect(applyPreset({ ...DEFAULT_CONFIG, arch: 'vit' }, preset).svdOversample).toBe(0);
    // the rule's SVD start uses it: without power iterations, fewer columns give a worse rank-r fit of W
    const fitError = (svdOversample: number) => {
      const trainer = createTrainer({ ...DEFAULT_CONFIG, arch: 'mlp', hidden: [24], rule: 'ldfa', rank: 3, feedback: 'normative', feedbackInit: 'svd',
        svd: 'randomized', svdPowerIterations: 0, svdOversample, seed: 5 }, [30], 4);
      const site = trainer.model.sites[1], t = trainer.rule.feedbackTensors();
      const PQ = tensor(site.weight.value.shape);
      referenceBackend.matmul(PQ, t[`${site.name}.P`], t[`${site.name}.Q`]);
      return Math.hypot(...PQ.data.map((v, i) => v - site.weight.value.data[i]));
    };
    expect(fitError(0)).toBeGreaterThan(1.01 * fitError(5));
  });
});

describe('optimiser coupling', () => {
  it("'shared' steps P̂, Q̂ with the forward optimiser: the same as a separate one with identical settings", () => {
    const base = {
      ...DEFAULT_CONFIG, arch: 'mlp' as const, hidden: [8, 7], rule: 'ldfa' as const, rank: 2, feedback: 'oja' as const, feedbackInit: 'random' as const,
      optimizer: 'adam' as const, amsgrad: true, lr: 0.01, weightDecay: 0.01, seed: 3,
    };
    const { x, y } = randomBatch(4, 6, 5, 4);
    const trained = (c: typeof base) => {
      const trainer = createTrainer(c, [5], 4);
      for (let i = 0; i < 3; i++) trainer.step(x, y);
      return trainer.rule.feedbackTensors();
    };
    const shared = trained({ ...base, feedbackCoupling: 'shared', feedbackLr: 0.5, feedbackOptimizer: 'sgd' });
    const separate = trained({ ...base, feedbackCoupling: 'separate', feedbackOptimizer: 'adam', feedbackLr: 0.01, feedbackWeightDecay: 0.01 });
    const other = trained({ ...base, feedbackCoupling: 'separate', feedbackLr: 0.5, feedbackOptimizer: 'sgd' });
    for (const name of Object.keys(shared)) expectClose(name, shared[name].data, separate[name].data);
    expect(Math.max(...shared['fc2.P'].data.map((v, i) => Math.abs(v - other['fc2.P'].data[i])))).toBeGreaterThan(1e-4);
  });
});
