// The rules on conv and transformer layers, against definitions written out here with
// explicit loops, independently of reference/rules/ (spec §4.2, §4.3):
// - a conv net with a stride-2 conv: FA with B = W and LDFA at full rank equal BP, and
//   DFA sends each conv layer e·D reshaped to that layer's input;
// - the four ways P̂, Q̂ of a (strided) conv layer learn: normative and factorised are the
//   gradients of their objectives through the composed kernel P̂∘Q̂, Oja's P̂ rule uses the
//   channel covariance pooled over batch × space, and Q̂'s rule is the filter gradient of
//   the r-channel map;
// - the rank each transformer layer gets (q, k, v fused 3r or r each; proj, fc1, fc2 r;
//   head min(r, C); no feedback for the patch embedding).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convOutputSize, type Conv2dSpec } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { matrixRank, svd } from '../reference/linalg.ts';
import { conv2dForward } from '../reference/layers/conv2d.ts';
import { ActivationNode, FlattenNode, LinearNode, Sequential, type FeedbackSite } from '../reference/models/network.ts';
import { ConvNode } from '../reference/models/nodes.ts';
import { buildVit } from '../reference/models/vit.ts';
import { param } from '../reference/params.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import type { FeedbackMode } from '../reference/rules/ldfa.ts';
import type { Rule } from '../reference/rules/rule.ts';
import { clone, reshape, tensor, type Tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';
import { expectGradClose, numericGradient } from './helpers/gradcheck.ts';
import { gradients } from './helpers/nets.ts';

const INPUT = [2, 7, 6] as const, CLASSES = 3, BATCH = 3;

/**
 * conv1 (2→3, 3×3, stride 1, pad 1) → tanh → conv2 (3→4, 3×3, `stride`, pad 1) → tanh →
 * flatten → head. Odd and even image sides, so a stride of 2 drops a row but not a column.
 */
function convNet(seed: number, stride: number): Sequential {
  const rng = new Rng(seed);
  const [C, H, W] = INPUT;
  const spec2: Conv2dSpec = { stride, padding: 1 };
  const Ho = convOutputSize(H, 3, spec2), Wo = convOutputSize(W, 3, spec2);
  const conv = (name: string, cout: number, cin: number) => [
    param(`${name}.W`, normalTensor(rng, [cout, cin, 3, 3], 0.4)), param(`${name}.b`, normalTensor(rng, [cout], 0.1), false),
  ] as const;
  const [w1, b1] = conv('conv1', 3, C), [w2, b2] = conv('conv2', 4, 3);
  return new Sequential([
    new ConvNode('conv1', w1, b1, { stride: 1, padding: 1 }, [C, H, W], { isOutput: false, needsInputGrad: false }),
    new ActivationNode('act1', 'tanh'),
    new ConvNode('conv2', w2, b2, spec2, [3, H, W], { isOutput: false, needsInputGrad: true }),
    new ActivationNode('act2', 'tanh'),
    new FlattenNode('flatten'),
    new LinearNode('head', param('head.W', normalTensor(rng, [CLASSES, 4 * Ho * Wo], 0.3)), param('head.b', tensor([CLASSES]), false),
      { isOutput: true, needsInputGrad: true }),
  ], INPUT, CLASSES);
}

function batch(seed: number): { x: Tensor; y: Int32Array } {
  const rng = new Rng(seed);
  return { x: normalTensor(rng, [BATCH, ...INPUT], 1), y: new Int32Array(BATCH).map(() => rng.int(CLASSES)) };
}

const site = (model: Sequential, name: string): FeedbackSite => model.sites.find((s) => s.name === name)!;

describe.each([1, 2])('a conv net whose second conv has stride %i', (stride) => {
  it('FA with B = W and LDFA with P̂Q̂ = W (full rank, SVD init) give BP\'s gradients and signals', () => {
    fc.assert(fc.property(fc.nat(1e6), (seed) => {
      const { x, y } = batch(seed + 1);
      const bpModel = convNet(seed, stride);
      createRule('bp').attach(bpModel, new Rng(0));
      const expected = gradients(bpModel, x, y);
      const fa = convNet(seed, stride);
      createRule('fa', { inject: Object.fromEntries(fa.sites.map((s) => [`${s.name}.B`, clone(s.weight.value)])) }).attach(fa, new Rng(1));
      const ldfa = convNet(seed, stride);
      createRule('ldfa', { ldfa: { rank: 'full', mode: 'normative', init: 'svd', svd: 'exact' } }).attach(ldfa, new Rng(1));
      for (const [rule, model] of [['fa', fa], ['ldfa', ldfa]] as const) {
        const actual = gradients(model, x, y);
        for (const name of Object.keys(expected.grads)) expectClose(`${rule} d${name}`, actual.grads[name].data, expected.grads[name].data, { atol: 1e-12, rtol: 1e-10 });
        for (const name of Object.keys(expected.signals)) expectClose(`${rule} signal of ${name}`, actual.signals[name].data, expected.signals[name].data, { atol: 1e-12, rtol: 1e-10 });
      }
    }), { numRuns: 5 });
  });

  it('DFA: each layer sends e·D reshaped to its input shape, D (C, Cin·H·W), whatever the weights above', () => {
    const model = convNet(4, stride);
    const rule = createRule('dfa');
    rule.attach(model, new Rng(2));
    const { x, y } = batch(5);
    gradients(model, x, y);
    const e = model.outputError!;
    for (const s of model.sites.filter((t) => t.needsInputGrad)) {
      const D = rule.feedbackTensors()[`${s.name}.D`];
      expect(D.shape).toEqual([CLASSES, s.inputShape.reduce((a, b) => a * b, 1)]);
      const expected = tensor([BATCH, D.shape[1]]);
      referenceBackend.matmul(expected, e, D);
      expect(s.inputGrad!.shape).toEqual([BATCH, ...s.inputShape]);
      expectClose(`signal of ${s.name}`, s.inputGrad!.data, expected.data);
      s.weight.value.data.fill(0.25); // the signal must not read W
      const again = tensor(s.inputGrad!.shape);
      s.feedback(again, s.outputGrad!);
      expectClose(`signal of ${s.name} after changing W`, again.data, expected.data);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Conv P̂, Q̂ learning against its definitions. conv2 (3→4, 3×3, stride 2, pad 1) at rank 2.

/** The kernel of the 1×1 conv P̂ followed by the k×k conv Q̂: K[o,c,p,q] = Σ_ρ P̂[o,ρ,0,0]·Q̂[ρ,c,p,q]. */
function composedKernel(P: Tensor, Q: Tensor): Tensor {
  const [Cout, r] = P.shape, [, Cin, k] = Q.shape;
  const K = tensor([Cout, Cin, k, k]);
  for (let o = 0; o < Cout; o++) for (let c = 0; c < Cin; c++) for (let p = 0; p < k; p++) for (let q = 0; q < k; q++) {
    let s = 0;
    for (let rho = 0; rho < r; rho++) s += (P.get(o, rho, 0, 0) as number) * (Q.get(rho, c, p, q) as number);
    K.set(o, c, p, q, s);
  }
  return K;
}

/** (gP̂, gQ̂) against central differences of Σ_i term(K, i) with K = P̂∘Q̂, the composed kernel. */
function expectGradientOfKernelObjective(P: Tensor, Q: Tensor, gP: Tensor, gQ: Tensor, term: (K: Float64Array, i: number) => number): void {
  const objective = () => {
    const K = composedKernel(P, Q).data;
    let sum = 0;
    for (let i = 0; i < K.length; i++) sum += term(K, i);
    return sum;
  };
  expectGradClose('gP̂', gP.data, numericGradient(objective, P));
  expectGradClose('gQ̂', gQ.data, numericGradient(objective, Q));
}

/** One step's gradients of conv2's P̂ and Q̂ under an LDFA mode at rank 2, from a random init. */
function convFeedbackGradients(mode: FeedbackMode, seed: number) {
  const model = convNet(seed, 2);
  const rule: Rule = createRule('ldfa', { ldfa: { rank: 2, mode, init: 'random' } });
  rule.attach(model, new Rng(seed + 7));
  const { x, y } = batch(seed + 1);
  gradients(model, x, y);
  rule.feedbackGradients();
  const byName = Object.fromEntries(rule.feedbackParams().map((p) => [p.name, p]));
  const s = site(model, 'conv2');
  return { s, P: byName['conv2.P'], Q: byName['conv2.Q'] };
}

describe('LDFA feedback learning on a stride-2 conv layer (P̂ 1×1 (Cout, r), Q̂ k×k (r, Cin))', () => {
  it('normative: (gP̂, gQ̂) is the gradient of ½‖W − P̂∘Q̂‖² (the SVD objective of the flattened kernel)', () => {
    fc.assert(fc.property(fc.nat(1e6), (seed) => {
      const { s, P, Q } = convFeedbackGradients('normative', seed);
      expect([P.value.shape, Q.value.shape]).toEqual([[4, 2, 1, 1], [2, 3, 3, 3]]);
      const W = s.weight.value.data;
      expectGradientOfKernelObjective(P.value, Q.value, P.grad, Q.grad, (K, i) => 0.5 * (W[i] - K[i]) ** 2);
    }), { numRuns: 5 });
  });

  it('normative SVD initialisation: P̂∘Q̂ is the best rank-2 approximation of W flattened to (Cout, Cin·k²)', () => {
    fc.assert(fc.property(fc.nat(1e6), (seed) => {
      const model = convNet(seed, 2);
      const rule = createRule('ldfa', { ldfa: { rank: 2, mode: 'normative', init: 'svd', svd: 'exact' } });
      rule.attach(model, new Rng(1));
      const t = rule.feedbackTensors(), W = site(model, 'conv2').weight.value;
      const K = composedKernel(t['conv2.P'], t['conv2.Q']);
      let residual = 0;
      for (let i = 0; i < K.size; i++) residual += (W.data[i] - K.data[i]) ** 2;
      const sigma = svd(reshape(W, [4, 27])).S; // Eckart–Young: the discarded σ²
      const discarded = sigma.slice(2).reduce((a, v) => a + v * v, 0);
      expect(Math.abs(residual - discarded)).toBeLessThanOrEqual(1e-10 * (1 + discarded));
    }), { numRuns: 5 });
  });

  it('factorised: (gP̂, gQ̂) is the loss gradient if the kernel were P̂∘Q̂: the gradient of ⟨dW, P̂∘Q̂⟩', () => {
    fc.assert(fc.property(fc.nat(1e6), (seed) => {
      const { s, P, Q } = convFeedbackGradients('factorised', seed);
      const dW = s.weight.grad.data;
      expectGradientOfKernelObjective(P.value, Q.value, P.grad, Q.grad, (K, i) => dW[i] * K[i]);
    }), { numRuns: 5 });
  });

  it('oja: gP̂ = −(C·P̂ − P̂·P̂ᵀ·C·P̂) with C the channel covariance of δ pooled over batch × positions (max-std normalised); gQ̂ the filter gradient of z = δ∘P̂', () => {
    fc.assert(fc.property(fc.nat(1e6), (seed) => {
      const { s, P, Q } = convFeedbackGradients('oja', seed);
      const dy = s.outputGrad!, x = s.input!;
      const [N, Cout, Ho, Wo] = dy.shape, r = 2, M = N * Ho * Wo;
      // rows: one per (sample, position), columns: the Cout channels
      const rows: number[][] = [];
      for (let n = 0; n < N; n++) for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) {
        rows.push(Array.from({ length: Cout }, (_, o) => dy.get(n, o, i, j) as number));
      }
      const mean = Array.from({ length: Cout }, (_, o) => rows.reduce((a, row) => a + row[o], 0) / M);
      const std = mean.map((mu, o) => Math.sqrt(rows.reduce((a, row) => a + (row[o] - mu) ** 2, 0) / (M - 1)));
      const scale = Math.max(...std) + 1e-6; // conv layers' ε (rAFA_conv.py)
      const C = Array.from({ length: Cout }, (_, a) => Array.from({ length: Cout }, (_, b) =>
        rows.reduce((acc, row) => acc + ((row[a] - mean[a]) / scale) * ((row[b] - mean[b]) / scale), 0)));
      const Pm = Array.from({ length: Cout }, (_, o) => Array.from({ length: r }, (_, k) => P.value.get(o, k, 0, 0) as number));
      const CP = Pm.map((_, o) => Pm[0].map((__, k) => C[o].reduce((acc, c, m) => acc + c * Pm[m][k], 0)));
      const PtCP = Pm[0].map((_, a) => Pm[0].map((__, b) => Pm.reduce((acc, row, o) => acc + row[a] * CP[o][b], 0)));
      const expectedP = Pm.flatMap((row, o) => row.map((_, k) => -(CP[o][k] - row.reduce((acc, p, a) => acc + p * PtCP[a][k], 0))));
      expectClose('gP̂', P.grad.data, expectedP, { atol: 1e-12, rtol: 1e-10 });
      // z = convᵀ_1×1(δ, P̂) at the output resolution; G(Q̂) = Σ z ⊙ conv(x, Q̂) with conv2's stride and padding
      const z = tensor([N, r, Ho, Wo]);
      for (let n = 0; n < N; n++) for (let k = 0; k < r; k++) for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) {
        let v = 0;
        for (let o = 0; o < Cout; o++) v += (dy.get(n, o, i, j) as number) * Pm[o][k];
        z.set(n, k, i, j, v);
      }
      const out = tensor(z.shape);
      const G = () => {
        conv2dForward(out, x, Q.value, null, s.conv!);
        let sum = 0;
        for (let i = 0; i < out.size; i++) sum += z.data[i] * out.data[i];
        return sum;
      };
      expectGradClose('gQ̂', Q.grad.data, numericGradient(G, Q.value));
    }), { numRuns: 5 });
  });

  it("the Q-only ablation (learn 'q') hands only the Q̂s of conv and linear layers to the feedback optimiser", () => {
    const model = convNet(3, 2);
    const rule = createRule('ldfa', { ldfa: { rank: 2, mode: 'oja', init: 'random', learn: 'q' } });
    rule.attach(model, new Rng(1));
    const { x, y } = batch(2);
    gradients(model, x, y);
    rule.feedbackGradients();
    expect(rule.feedbackParams().map((p) => p.name)).toEqual(['conv2.Q', 'head.Q']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('the rank of each transformer layer (spec §4.3)', () => {
  const vit = (fusedQkv: boolean) => buildVit({ inputShape: [1, 4, 4], patch: 2, dim: 8, depth: 2, heads: 2, mlpRatio: 2, outputSize: CLASSES, fusedQkv, init: 'uniform' }, new Rng(1));
  const ranksOf = (fusedQkv: boolean, rank: number) => {
    const model = vit(fusedQkv);
    const rule = createRule('ldfa', { ldfa: { rank, mode: 'fixed', init: 'random' } });
    rule.attach(model, new Rng(2));
    return { ranks: rule.summary().ranks as Record<string, number>, tensors: rule.feedbackTensors() };
  };

  it('fused qkv: 3r; proj, fc1, fc2: r; head: min(r, C); the patch embedding has no feedback', () => {
    const { ranks, tensors } = ranksOf(true, 2);
    expect(ranks).toEqual({
      'block0.qkv': 6, 'block0.proj': 2, 'block0.fc1': 2, 'block0.fc2': 2,
      'block1.qkv': 6, 'block1.proj': 2, 'block1.fc1': 2, 'block1.fc2': 2, head: 2,
    });
    expect(tensors['block0.qkv.P'].shape).toEqual([24, 6]);
    expect(tensors['block0.qkv.Q'].shape).toEqual([6, 8]);
    expect(tensors['embed.P']).toBeUndefined();
    // r = 5 > C = 3: the head gets 3; the fused qkv is capped at min(3·8, 8) = 8
    expect(ranksOf(true, 5).ranks).toMatchObject({ 'block0.qkv': 8, 'block0.proj': 5, 'block0.fc1': 5, 'block0.fc2': 5, head: 3 });
  });

  it('separate q, k, v: r each', () => {
    const { ranks } = ranksOf(false, 2);
    expect(ranks).toMatchObject({ 'block0.q': 2, 'block0.k': 2, 'block0.v': 2, 'block0.proj': 2, head: 2 });
    expect(Object.keys(ranks)).not.toContain('block0.qkv');
  });
});

// ---------------------------------------------------------------------------------------------

describe('LDFA invariants on the conv net and the ViT (as for the MLP)', () => {
  const models: [string, () => Sequential | ReturnType<typeof buildVit>][] = [
    ['conv net (stride 2)', () => convNet(6, 2)],
    ['vit', () => buildVit({ inputShape: [2, 4, 4], patch: 2, dim: 6, depth: 1, heads: 2, mlpRatio: 2, outputSize: CLASSES, fusedQkv: true, init: 'uniform' }, new Rng(6))],
  ];

  it.each(models)('%s: the forward pass does not read P̂ or Q̂; each P̂Q̂ has rank ≤ its r; signals have the input shape', (_, build) => {
    const model = build();
    const rule = createRule('ldfa', { ldfa: { rank: 1, mode: 'oja', init: 'random' } });
    rule.attach(model, new Rng(3));
    const rng = new Rng(4);
    const x = normalTensor(rng, [BATCH, ...model.inputShape], 1), y = new Int32Array(BATCH).map(() => rng.int(CLASSES));
    const before = clone(model.forward(x, true));
    gradients(model, x, y);
    const ranks = rule.summary().ranks as Record<string, number>;
    for (const s of model.sites.filter((t) => t.needsInputGrad)) {
      const P = rule.feedbackTensors()[`${s.name}.P`], Q = rule.feedbackTensors()[`${s.name}.Q`];
      const [rows, cols] = [s.weight.value.shape[0], s.weight.value.size / s.weight.value.shape[0]];
      const B = tensor([rows, cols]);
      referenceBackend.matmul(B, reshape(P, [rows, ranks[s.name]]), reshape(Q, [ranks[s.name], cols]));
      expect(matrixRank(B), s.name).toBeLessThanOrEqual(ranks[s.name]);
      expect(s.inputGrad!.size, s.name).toBe(s.input!.size);
    }
    for (const t of Object.values(rule.feedbackTensors())) t.data.fill(123.5);
    expectClose('logits', model.forward(x, true).data, before.data, { atol: 0, rtol: 0 });
  });
});
