import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { multiply } from '../reference/backend.ts';
import { balancedFactors, matrixRank, principalAngles, svd } from '../reference/linalg.ts';
import { buildMlp } from '../reference/models/mlp.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import {
  DEFAULT_LDFA, channelRows, factorisedGradients, normaliseError, normativeGradients, ojaGradient, type FeedbackMode,
} from '../reference/rules/ldfa.ts';
import { clone, tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';
import { expectGradClose, numericGradient } from './helpers/gradcheck.ts';
import { gradients, randomBatch } from './helpers/nets.ts';

const net = fc.record({
  inputSize: fc.integer({ min: 1, max: 7 }),
  hidden: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 3 }),
  classes: fc.integer({ min: 2, max: 5 }),
  batch: fc.integer({ min: 1, max: 5 }),
  seed: fc.nat(1e6),
});

const mlp = (s: { inputSize: number; hidden: number[]; classes: number; seed: number }) =>
  buildMlp({ inputSize: s.inputSize, hidden: s.hidden, outputSize: s.classes, activation: 'tanh', bias: true, init: 'uniform' }, new Rng(s.seed));

const ldfa = (mode: FeedbackMode, rank: number | 'full', extra: Partial<typeof DEFAULT_LDFA> = {}) =>
  createRule('ldfa', { ldfa: { rank, mode, init: mode === 'normative' || mode === 'factorised' ? 'svd' : 'random', ...extra } });

describe('LDFA reductions', () => {
  it('with P̂Q̂ = W (SVD initialisation at full rank) LDFA equals BP', () => {
    fc.assert(fc.property(net, (s) => {
      const { x, y } = randomBatch(s.seed + 1, s.batch, s.inputSize, s.classes);
      const reference = mlp(s);
      const expected = gradients(reference, x, y);
      const model = mlp(s);
      ldfa('normative', 'full').attach(model, new Rng(3));
      const actual = gradients(model, x, y);
      for (const name of Object.keys(expected.grads)) expectClose(`d${name}`, actual.grads[name].data, expected.grads[name].data);
      for (const name of Object.keys(expected.signals)) expectClose(`signal from ${name}`, actual.signals[name].data, expected.signals[name].data);
    }), { numRuns: 50 });
  });

  it('after SVD initialisation ‖W − P̂Q̂‖² equals the sum of the discarded σ²', () => {
    fc.assert(fc.property(net, fc.integer({ min: 1, max: 7 }), (s, r) => {
      const model = mlp(s);
      const sending = model.sites.slice(1);
      const rank = Math.min(r, Math.max(...sending.map((site) => Math.min(...site.weight.value.shape))));
      const rule = ldfa('normative', rank);
      rule.attach(model, new Rng(1));
      const t = rule.feedbackTensors();
      for (const site of sending) {
        const W = site.weight.value;
        const B = multiply(t[`${site.name}.P`], t[`${site.name}.Q`]);
        let residual = 0;
        for (let i = 0; i < B.size; i++) residual += (W.data[i] - B.data[i]) ** 2;
        const sigma = svd(W).S;
        let discarded = 0;
        for (let i = Math.min(rank, ...W.shape); i < sigma.length; i++) discarded += sigma[i] ** 2;
        expect(Math.abs(residual - discarded)).toBeLessThanOrEqual(1e-10 * (1 + discarded));
      }
    }), { numRuns: 30 });
  });
});

describe('randomised SVD (re-factorisation of wide layers)', () => {
  it('is exact when rank(W) ≤ r + oversampling, and matches the exact balanced factors', () => {
    fc.assert(fc.property(fc.integer({ min: 3, max: 12 }), fc.integer({ min: 3, max: 12 }), fc.integer({ min: 1, max: 3 }), fc.nat(1e6), (m, n, rank, seed) => {
      const rng = new Rng(seed);
      const r = Math.min(rank, m, n);
      const W = multiply(normalTensor(rng, [m, r], 1), normalTensor(rng, [r, n], 1)); // rank r
      const exact = balancedFactors(W, r), approx = balancedFactors(W, r, { randomized: new Rng(seed + 1) });
      expectClose('P̂Q̂ (randomised) against W', multiply(approx.P, approx.Q).data, W.data, { atol: 1e-9, rtol: 1e-9 });
      expectClose('singular values', approx.S, exact.S, { atol: 1e-9, rtol: 1e-9 });
    }), { numRuns: 40 });
  });
});

describe('LDFA invariants', () => {
  it('the forward output does not depend on P̂ or Q̂', () => {
    fc.assert(fc.property(net, (s) => {
      const { x } = randomBatch(s.seed + 1, s.batch, s.inputSize, s.classes);
      const model = mlp(s);
      const rule = ldfa('oja', 1);
      rule.attach(model, new Rng(2));
      const before = clone(model.forward(x, true));
      for (const t of Object.values(rule.feedbackTensors())) t.data.fill(123.5);
      expectClose('logits', model.forward(x, true).data, before.data, { atol: 0, rtol: 0 });
    }), { numRuns: 30 });
  });

  it('rank(Q·P) ≤ r for every layer', () => {
    fc.assert(fc.property(net, fc.integer({ min: 1, max: 4 }), (s, r) => {
      const model = mlp(s);
      const largest = Math.max(...model.sites.slice(1).map((site) => Math.min(...site.weight.value.shape)));
      const rule = ldfa('fixed', Math.min(r, largest));
      rule.attach(model, new Rng(5));
      const t = rule.feedbackTensors();
      for (const site of model.sites.slice(1)) {
        expect(matrixRank(multiply(t[`${site.name}.P`], t[`${site.name}.Q`]))).toBeLessThanOrEqual(Math.min(r, largest));
      }
    }), { numRuns: 30 });
  });
});

describe('feedback learning', () => {
  it("Oja's subspace rule converges to the top-r eigenspace of a fixed covariance with a spectral gap", () => {
    fc.assert(fc.property(fc.integer({ min: 3, max: 8 }), fc.integer({ min: 1, max: 2 }), fc.nat(1e6), (n, r, seed) => {
      const rng = new Rng(seed);
      // C = V diag(λ) Vᵀ with λ = (4, 3.5, ..) for the top r and ≤ 1 below: rows = diag(√λ)·Vᵀ gives δᵀδ = C.
      const V = svd(normalTensor(rng, [n, n], 1)).U;
      const lambda = Array.from({ length: n }, (_, i) => (i < r ? 4 - 0.5 * i : 1 - 0.1 * (i - r)));
      const rows = tensor([n, n]);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) rows.data[i * n + j] = Math.sqrt(lambda[i]) * V.data[j * n + i];
      const P = normalTensor(rng, [n, r], 0.3), g = tensor([n, r]);
      for (let step = 0; step < 3000; step++) {
        ojaGradient(g, P, rows);
        for (let i = 0; i < P.size; i++) P.data[i] -= 0.02 * g.data[i];
      }
      const top = tensor([n, r]);
      for (let i = 0; i < n; i++) for (let j = 0; j < r; j++) top.data[i * r + j] = V.data[i * n + j];
      const angles = principalAngles(P, top);
      expect(Math.max(...angles)).toBeLessThan(1e-4);
      expectClose('P̂ᵀP̂', multiply(P, P, true).data, Float64Array.from({ length: r * r }, (_, k) => (k % (r + 1) === 0 ? 1 : 0)), { atol: 1e-6, rtol: 0 });
    }), { numRuns: 20 });
  });

  it('the normative flow converges to the truncated SVD', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 2, max: 6 }), fc.nat(1e6), (m, n, seed) => {
      const rng = new Rng(seed);
      const k = Math.min(m, n), r = Math.max(1, k - 1);
      // W with singular values 3, 2.5, ... and a gap after r
      const U = svd(normalTensor(rng, [m, m], 1)).U, V = svd(normalTensor(rng, [n, n], 1)).U;
      const sigma = Array.from({ length: k }, (_, i) => (i < r ? 3 - 0.5 * i : 0.3));
      const W = tensor([m, n]);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        let v = 0;
        for (let q = 0; q < k; q++) v += U.data[i * m + q] * sigma[q] * V.data[j * n + q];
        W.data[i * n + j] = v;
      }
      const P = normalTensor(rng, [m, r], 0.1), Q = normalTensor(rng, [r, n], 0.1);
      const gP = tensor([m, r]), gQ = tensor([r, n]);
      for (let step = 0; step < 4000; step++) {
        normativeGradients(gP, gQ, P, Q, W);
        for (let i = 0; i < P.size; i++) P.data[i] -= 0.05 * gP.data[i];
        for (let i = 0; i < Q.size; i++) Q.data[i] -= 0.05 * gQ.data[i];
      }
      const best = tensor([m, n]);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        let v = 0;
        for (let q = 0; q < r; q++) v += U.data[i * m + q] * sigma[q] * V.data[j * n + q];
        best.data[i * n + j] = v;
      }
      expectClose('P̂Q̂ against the rank-r truncation of W', multiply(P, Q).data, best.data, { atol: 1e-6, rtol: 0 });
    }), { numRuns: 20 });
  });
});

describe('the feedback gradients are the gradients they claim to be (central differences)', () => {
  const dims = fc.record({ m: fc.integer({ min: 1, max: 5 }), n: fc.integer({ min: 1, max: 5 }), r: fc.integer({ min: 1, max: 3 }), seed: fc.nat(1e6) });

  it('normative: (gP̂, gQ̂) = ∇ ½‖W − P̂Q̂‖²', () => {
    fc.assert(fc.property(dims, ({ m, n, r, seed }) => {
      const rng = new Rng(seed);
      const P = normalTensor(rng, [m, r], 1), Q = normalTensor(rng, [r, n], 1), W = normalTensor(rng, [m, n], 1);
      const gP = tensor([m, r]), gQ = tensor([r, n]);
      normativeGradients(gP, gQ, P, Q, W);
      const J = () => 0.5 * multiply(P, Q).data.reduce((s, v, i) => s + (W.data[i] - v) ** 2, 0);
      expectGradClose('gP̂', gP.data, numericGradient(J, P));
      expectGradClose('gQ̂', gQ.data, numericGradient(J, Q));
    }), { numRuns: 30 });
  });

  it('factorised: (gP̂, gQ̂) from dW = ∇_W L is ∇ L(P̂Q̂), the loss gradient if the weight were P̂Q̂', () => {
    fc.assert(fc.property(dims, ({ m, n, r, seed }) => {
      const rng = new Rng(seed);
      const P = normalTensor(rng, [m, r], 1), Q = normalTensor(rng, [r, n], 1), R = normalTensor(rng, [m, n], 1);
      const L = () => multiply(P, Q).data.reduce((s, v, i) => s + R.data[i] * Math.tanh(v), 0); // L(M) = Σ R⊙tanh(M)
      const dW = tensor([m, n], multiply(P, Q).data.map((v, i) => R.data[i] * (1 - Math.tanh(v) ** 2)));
      const gP = tensor([m, r]), gQ = tensor([r, n]);
      factorisedGradients(gP, gQ, P, Q, dW);
      expectGradClose('gP̂', gP.data, numericGradient(L, P));
      expectGradClose('gQ̂', gQ.data, numericGradient(L, Q));
    }), { numRuns: 30 });
  });
});

describe("Oja's error normalisation (spec §2.3 C1)", () => {
  // Columns (1, 3, 5) and (0, 1, 2): means 3 and 1, unbiased stds 2 and 1, mean squares 35/3 and 5/3.
  const rows = () => tensor([3, 2], [1, 0, 3, 1, 5, 2]);

  it('max-std: centred, divided by one scalar, the largest per-unit unbiased std + ε', () => {
    expectClose('δ̃', normaliseError(rows(), 'max-std', 0).data, [-1, -0.5, 0, 0, 1, 0.5]);
    expectClose('δ̃ with ε', normaliseError(rows(), 'max-std', 0.5).data, [-2, -1, 0, 0, 2, 1].map((v) => v / 2.5));
  });

  it('max-second-moment: not centred, divided by √s, s the largest per-unit mean square + ε (so C = δᵀδ/s); none: unchanged', () => {
    expectClose('δ̃', normaliseError(rows(), 'max-second-moment', 0).data, [1, 0, 3, 1, 5, 2].map((v) => v / Math.sqrt(35 / 3)));
    expectClose('δ̃', normaliseError(rows(), 'none', 1e-8).data, [1, 0, 3, 1, 5, 2]);
  });

  it('conv layers: channelRows gives one row per (sample, position), channels as columns', () => {
    const t = tensor([2, 3, 1, 2], Array.from({ length: 12 }, (_, i) => i)); // (N, C, H, W), value = flat index
    const out = channelRows(t);
    expect(out.shape).toEqual([4, 3]);
    expect(Array.from(out.data)).toEqual([0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11]);
  });
});

describe('the direct (DFA-style) low-rank variant (spec §4.4)', () => {
  it('every hidden layer sends E·P̂·Q̂, E being the error at the output layer\'s input; P̂ learns by Oja on E, gQ̂ = (E·P̂)ᵀ·x', () => {
    const model = buildMlp({ inputSize: 6, hidden: [5, 4, 3], outputSize: 3, activation: 'tanh', bias: true, init: 'uniform' }, new Rng(4));
    const rule = ldfa('oja', 2, { direct: true });
    rule.attach(model, new Rng(5));
    const { x, y } = randomBatch(6, 7, 6, 3);
    gradients(model, x, y);
    rule.feedbackGradients();
    const site = (name: string) => model.sites.find((s) => s.name === name)!;
    const E = site('fc4').inputGrad!; // (N, 3): what the output layer sends down
    const t = rule.feedbackTensors();
    const grads = Object.fromEntries(rule.feedbackParams().map((p) => [p.name, p.grad]));
    for (const name of ['fc2', 'fc3']) {
      const P = t[`${name}.P`], Q = t[`${name}.Q`];
      expect(P.shape, `${name}.P`).toEqual([3, 2]); // rows: the output layer's input size, not this layer's output
      expectClose(`${name} signal`, site(name).inputGrad!.data, multiply(multiply(E, P), Q).data);
      const gP = tensor(P.shape);
      ojaGradient(gP, P, normaliseError(E, 'max-std', DEFAULT_LDFA.ojaEps));
      expectClose(`${name} gP̂`, grads[`${name}.P`].data, gP.data);
      expectClose(`${name} gQ̂`, grads[`${name}.Q`].data, multiply(multiply(E, P), site(name).input!, true, false).data);
    }
    // the output layer itself is an ordinary LDFA layer: dy·P̂·Q̂ with its own dy = e
    expectClose('fc4 signal', E.data, multiply(multiply(site('fc4').outputGrad!, t['fc4.P']), t['fc4.Q']).data);
  });
});
