// FLOP formulas against hand counts, and against the multiply-adds that the layers actually
// issue to the backend (counted by a wrapper around the reference kernels).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withBackend, type Backend, type Conv2dSpec } from '../reference/backend.ts';
import { throughDirect, throughKernel, throughLowRank, throughLowRankKernel, throughMatrix, type Feedback } from '../reference/feedback.ts';
import { conv2dFlops, layerFlops, linearFlops, totalFlops, type FlopRule } from '../reference/flops.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { conv2dBackward, conv2dForward } from '../reference/layers/conv2d.ts';
import { linearBackward, linearForward } from '../reference/layers/linear.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { tensor, type Tensor } from '../reference/tensor.ts';
import { buildCnn } from '../reference/models/cnn.ts';
import { buildVit } from '../reference/models/vit.ts';
import { createRule } from '../reference/rules/index.ts';
import { exactSvdFlops, ldfaUpdateFlops, stepFlops, svdFlops } from '../src/flops.ts';
import { storeAsFloat32 } from '../src/fast/float32.ts';
import { float32LdfaKernels, useFloat32Feedback } from '../src/fast/ldfa.ts';
import { buildMlp } from '../reference/models/mlp.ts';
import { softmaxCrossEntropy } from '../reference/layers/losses.ts';
import { DEFAULT_LDFA } from '../reference/rules/ldfa.ts';

describe('hand-worked FLOP counts', () => {
  it('linear: N = 32, 784 → 256 (an MNIST hidden layer), r = 10, C = 10', () => {
    const shape = { N: 32, inDim: 784, outDim: 256 };
    // 2·32·784·256 = 12 845 056 for each dense product
    expect(linearFlops(shape, { rule: 'bp' })).toEqual({ forward: 12_845_056, inputGradient: 12_845_056, weightGradient: 12_845_056 });
    expect(linearFlops(shape, { rule: 'fa' }).inputGradient).toBe(12_845_056);
    // LDFA: dy·P̂ is 2·32·256·10 = 163 840, then ·Q̂ is 2·32·10·784 = 501 760; together 665 600
    expect(linearFlops(shape, { rule: 'ldfa', rank: 10 })).toEqual({ forward: 12_845_056, inputGradient: 665_600, weightGradient: 12_845_056 });
    // DFA: e·D with e (32, 10), D (10, 784): 2·32·10·784 = 501 760
    expect(linearFlops(shape, { rule: 'dfa', outputWidth: 10 }).inputGradient).toBe(501_760);
  });

  it('conv stride 1: N = 1, 3 → 8 channels, 5×5 input, 3×3 kernel, padding 1 (Ho = Wo = 5), r = 2', () => {
    const shape = { N: 1, Cin: 3, Cout: 8, H: 5, W: 5, k: 3, stride: 1, padding: 1 };
    // 25 output positions × 8 channels × a 27-term dot product × 2 = 10 800
    expect(conv2dFlops(shape, { rule: 'bp' })).toEqual({ forward: 10_800, inputGradient: 10_800, weightGradient: 10_800 });
    // 1×1 step 2·25·8·2 = 800; 3×3 step 2·25·2·27 = 2 700
    expect(conv2dFlops(shape, { rule: 'ldfa', rank: 2 }).inputGradient).toBe(3_500);
    // DFA into a 3×5×5 input from a 10-wide error: 2·10·75 = 1 500
    expect(conv2dFlops(shape, { rule: 'dfa', outputWidth: 10 }).inputGradient).toBe(1_500);
  });

  it('conv stride 2: N = 2, 4 → 6 channels, 8×8 input, 3×3 kernel, padding 1 (Ho = Wo = 4), r = 3', () => {
    const shape = { N: 2, Cin: 4, Cout: 6, H: 8, W: 8, k: 3, stride: 2, padding: 1 };
    // 2·16 positions × 6 × 36 × 2 = 13 824
    expect(conv2dFlops(shape, { rule: 'fa' })).toEqual({ forward: 13_824, inputGradient: 13_824, weightGradient: 13_824 });
    // z stays at 4×4 (stride on the Q̂ step): 2·32·6·3 = 1 152, then 2·32·3·36 = 6 912
    expect(conv2dFlops(shape, { rule: 'ldfa', rank: 3 }).inputGradient).toBe(8_064);
    expect(layerFlops({ kind: 'conv2d', ...shape }, { rule: 'ldfa', rank: 3 }).inputGradient).toBe(8_064);
  });

  it('totals add field by field', () => {
    expect(totalFlops([{ forward: 1, inputGradient: 2, weightGradient: 3 }, { forward: 10, inputGradient: 20, weightGradient: 30 }]))
      .toEqual({ forward: 11, inputGradient: 22, weightGradient: 33 });
  });

  it('bad arguments are named', () => {
    expect(() => linearFlops({ N: 1, inDim: 4, outDim: 3 }, { rule: 'ldfa', rank: 0 })).toThrow('LDFA rank 0 is not allowed: it must be an integer ≥ 1');
    expect(() => conv2dFlops({ N: 1, Cin: 1, Cout: 1, H: 2, W: 2, k: 5, stride: 1, padding: 0 }, { rule: 'bp' })).toThrow('does not fit an input of size 2×2');
    expect(() => linearFlops({ N: 1, inDim: 4, outDim: 3 }, { rule: 'sgd' } as unknown as FlopRule)).toThrow("unknown rule 'sgd'");
  });
});

// ----------------------------------------------------------------------------
// The layers' own work, counted: matmul as 2·M·N·K, conv as 2 per tap that lands inside the
// input (so with padding 0 every tap counts and the dense formula must match exactly).

function countingBackend(): { backend: Backend; take: () => number } {
  let flops = 0;
  const convTaps = (small: Tensor, big: Tensor, w: Tensor, spec: Conv2dSpec) => { // small: (N, Cout, Ho, Wo), big: (N, Cin, H, W)
    const [N, Cout, Ho, Wo] = small.shape, [, Cin, H, W] = big.shape, k = w.shape[2];
    const inside = (o: number, size: number) => { let c = 0; for (let p = 0; p < k; p++) { const r = o * spec.stride + p - spec.padding; if (r >= 0 && r < size) c++; } return c; };
    let taps = 0;
    for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++) taps += inside(i, H) * inside(j, W);
    flops += 2 * N * Cout * Cin * taps;
  };
  const backend: Backend = {
    ...referenceBackend,
    name: 'counting',
    matmul(C, A, B, transA = false, transB = false) {
      flops += 2 * C.shape[0] * C.shape[1] * (transA ? A.shape[0] : A.shape[1]);
      referenceBackend.matmul(C, A, B, transA, transB);
    },
    conv2dForward(y, x, w, spec) { convTaps(y, x, w, spec); referenceBackend.conv2dForward(y, x, w, spec); },
    conv2dBackwardInput(dx, dy, w, spec) { convTaps(dy, dx, w, spec); referenceBackend.conv2dBackwardInput(dx, dy, w, spec); },
    conv2dBackwardFilter(dw, dy, x, spec) { convTaps(dy, x, dw, spec); referenceBackend.conv2dBackwardFilter(dw, dy, x, spec); },
  };
  return { backend, take: () => { const f = flops; flops = 0; return f; } };
}

const ruleArb: fc.Arbitrary<FlopRule> = fc.oneof(
  fc.constant<FlopRule>({ rule: 'bp' }), fc.constant<FlopRule>({ rule: 'fa' }),
  fc.integer({ min: 1, max: 4 }).map((rank): FlopRule => ({ rule: 'ldfa', rank })),
  fc.integer({ min: 1, max: 4 }).map((outputWidth): FlopRule => ({ rule: 'dfa', outputWidth })),
);

function feedbackFor(rule: FlopRule, rng: Rng, outShape: number[], inShape: number[], W: Tensor, spec: Conv2dSpec | null): Feedback {
  const N = inShape[0], inSize = inShape.slice(1).reduce((a, b) => a * b, 1);
  switch (rule.rule) {
    case 'bp': return spec ? throughKernel(W, spec) : throughMatrix(W);
    case 'fa': return spec ? throughKernel(normalTensor(rng, W.shape, 1), spec) : throughMatrix(normalTensor(rng, W.shape, 1));
    case 'ldfa': {
      const [Cout] = outShape.slice(1), r = rule.rank;
      if (spec) return throughLowRankKernel(normalTensor(rng, [Cout, r, 1, 1], 1), normalTensor(rng, [r, W.shape[1], W.shape[2], W.shape[3]], 1), spec);
      return throughLowRank(normalTensor(rng, [W.shape[0], r], 1), normalTensor(rng, [r, W.shape[1]], 1));
    }
    case 'dfa': {
      const e = normalTensor(rng, [N, rule.outputWidth], 1);
      return throughDirect(normalTensor(rng, [rule.outputWidth, inSize], 1), () => e);
    }
  }
}

describe('formulas match the multiply-adds the layers issue', () => {
  it('linear, every rule', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), ruleArb, fc.nat(1e6),
      (N, inDim, outDim, rule, seed) => {
        const rng = new Rng(seed), { backend, take } = countingBackend();
        const x = normalTensor(rng, [N, inDim], 1), W = normalTensor(rng, [outDim, inDim], 1), y = tensor([N, outDim]);
        const feedback = feedbackFor(rule, rng, [N, outDim], [N, inDim], W, null);
        const expected = linearFlops({ N, inDim, outDim }, rule);
        withBackend(backend, () => {
          linearForward(y, x, W, null);
          expect(take()).toBe(expected.forward);
          linearBackward(null, tensor(W.shape), null, y, x, feedback);
          expect(take()).toBe(expected.weightGradient);
          const dx = tensor(x.shape);
          feedback(dx, y);
          expect(take()).toBe(expected.inputGradient);
        });
      }), { numRuns: 40 });
  });

  it('conv with padding 0, strides 1 and 2, every rule; with padding the dense count is an upper bound', () => {
    fc.assert(fc.property(
      fc.record({
        N: fc.integer({ min: 1, max: 2 }), Cin: fc.integer({ min: 1, max: 3 }), Cout: fc.integer({ min: 1, max: 3 }),
        k: fc.integer({ min: 1, max: 3 }), stride: fc.integer({ min: 1, max: 2 }), padding: fc.integer({ min: 0, max: 1 }),
        dH: fc.integer({ min: 0, max: 3 }), dW: fc.integer({ min: 0, max: 3 }),
      }), ruleArb, fc.nat(1e6),
      ({ N, Cin, Cout, k, stride, padding, dH, dW }, rule, seed) => {
        const rng = new Rng(seed), { backend, take } = countingBackend();
        const H = k + dH, Wd = k + dW, spec = { stride, padding };
        const Ho = Math.floor((H + 2 * padding - k) / stride) + 1, Wo = Math.floor((Wd + 2 * padding - k) / stride) + 1;
        const x = normalTensor(rng, [N, Cin, H, Wd], 1), W = normalTensor(rng, [Cout, Cin, k, k], 1), y = tensor([N, Cout, Ho, Wo]);
        const feedback = feedbackFor(rule, rng, [N, Cout, Ho, Wo], [N, Cin, H, Wd], W, spec);
        const expected = conv2dFlops({ N, Cin, Cout, H, W: Wd, k, stride, padding }, rule);
        const counted = withBackend(backend, () => {
          conv2dForward(y, x, W, null, spec);
          const forward = take();
          conv2dBackward(null, tensor(W.shape), null, y, x, spec, feedback);
          const weightGradient = take();
          feedback(tensor(x.shape), y);
          return { forward, weightGradient, inputGradient: take() };
        });
        if (padding === 0) expect(counted).toEqual(expected);
        else {
          expect(counted.forward).toBeLessThanOrEqual(expected.forward);
          expect(counted.weightGradient).toBeLessThanOrEqual(expected.weightGradient);
          expect(counted.inputGradient).toBeLessThanOrEqual(expected.inputGradient);
        }
      }), { numRuns: 50 });
  });
});

// ----------------------------------------------------------------------------
// What `ldfa train` reports (result.flopsPerStep, src/flops.ts), for the CNN and the ViT.

describe('flopsPerStep of whole models, against hand counts', () => {
  it('CNN: conv1 (1→2, 6×6) → pool → conv2 (2→3, 3×3) → pool → head (3 → 4), batch 5', () => {
    const N = 5;
    const build = () => buildCnn({ inputShape: [1, 6, 6], channels: [2, 3], kernel: 3, outputSize: 4, activation: 'relu', batchNorm: false, pool: true, init: 'uniform' }, new Rng(1));
    const flopsUnder = (name: 'bp' | 'dfa' | 'ldfa') => {
      const model = build();
      const rule = createRule(name, { ldfa: { rank: 1, mode: 'fixed', init: 'random' } });
      rule.attach(model, new Rng(2));
      return stepFlops(model, rule, N);
    };
    const bp = flopsUnder('bp'), ldfa = flopsUnder('ldfa'), dfa = flopsUnder('dfa');
    // conv1: 36 positions × 2 channels × 9 taps × 2 = 1 296 per sample; it sends nothing down
    expect(bp.layers.conv1).toEqual({ forward: 1296 * N, inputGradient: 0, weightGradient: 1296 * N });
    // conv2 on the pooled 3×3 map: 9 × 3 × 18 × 2 = 972 per sample
    expect(bp.layers.conv2).toEqual({ forward: 972 * N, inputGradient: 972 * N, weightGradient: 972 * N });
    // LDFA r = 1: 1×1 step 2·9·3·1 = 54, 3×3 step 2·9·1·18 = 324
    expect(ldfa.layers.conv2.inputGradient).toBe(378 * N);
    // DFA: e (4 classes) through D (4, 2·3·3): 2·4·18 = 144
    expect(dfa.layers.conv2.inputGradient).toBe(144 * N);
    // head: 3 features (3 channels × 1×1 after the second pool) → 4: dense 24, LDFA min(r, C) = 1: 2·1·7 = 14, DFA 2·4·3 = 24
    expect(bp.layers.head).toEqual({ forward: 24 * N, inputGradient: 24 * N, weightGradient: 24 * N });
    expect(ldfa.layers.head.inputGradient).toBe(14 * N);
    expect(dfa.layers.head.inputGradient).toBe(24 * N);
    expect(ldfa.total).toEqual({ forward: 2292 * N, inputGradient: 392 * N, weightGradient: 2292 * N, all: 4976 * N, rule: 0, svdAmortised: 0, withRule: 4976 * N });
  });

  it('ViT: tokens are rows (batch · T); the fused qkv gets 3r, the head min(r, C) on batch rows', () => {
    // 4×4 image, patch 2 → T = 4 tokens of 4 features; width 6, MLP 12, 3 classes; batch 2 → 8 token rows
    const model = buildVit({ inputShape: [1, 4, 4], patch: 2, dim: 6, depth: 1, heads: 2, mlpRatio: 2, outputSize: 3, fusedQkv: true, init: 'uniform' }, new Rng(1));
    const rule = createRule('ldfa', { ldfa: { rank: 1, mode: 'fixed', init: 'random' } });
    rule.attach(model, new Rng(2));
    const f = stepFlops(model, rule, 2);
    expect(f.layers.embed).toEqual({ forward: 2 * 8 * 4 * 6, inputGradient: 0, weightGradient: 384 });
    expect(f.layers['block0.qkv']).toEqual({ forward: 1728, inputGradient: 2 * 8 * 3 * (6 + 18), weightGradient: 1728 }); // rank 3
    expect(f.layers['block0.proj'].inputGradient).toBe(2 * 8 * 1 * 12);
    expect(f.layers['block0.fc1']).toEqual({ forward: 1152, inputGradient: 2 * 8 * 1 * 18, weightGradient: 1152 });
    expect(f.layers['block0.fc2'].inputGradient).toBe(288);
    expect(f.layers.head).toEqual({ forward: 2 * 2 * 6 * 3, inputGradient: 2 * 2 * 1 * 9, weightGradient: 72 });
  });
});

// ----------------------------------------------------------------------------
// LDFA's own work (src/flops.ts total.rule): the formulas against the multiply-adds that
// rule.feedbackGradients() issues, and the amortised SVD.

describe('the rule\'s own update, counted', () => {
  const modes = ['fixed', 'normative', 'oja', 'factorised'] as const;
  // On float32 storage with the float32 path's kernels (src/fast/ldfa.ts, products through ops()): what
  // the float32 path computes (normative reassociated; the reference forms E and issues 6·out·in·r).
  it('MLP, every mode, direct variant, random ranks: total.rule equals the multiply-adds the float32 path\'s feedbackGradients issues', () => {
    fc.assert(fc.property(fc.constantFrom(...modes), fc.integer({ min: 1, max: 5 }), fc.boolean(), fc.integer({ min: 1, max: 6 }), fc.nat(1e6), (mode, rank, direct0, N, seed) => {
      const direct = direct0 && (mode === 'oja' || mode === 'fixed');
      const rng = new Rng(seed), { backend, take } = countingBackend();
      const model = buildMlp({ inputSize: 7, inputShape: [7], hidden: [6, 5], outputSize: 4, activation: 'relu', batchNorm: false, bias: true, init: 'uniform' }, rng.fork());
      for (const p of model.params()) { storeAsFloat32(p.value); storeAsFloat32(p.grad); }
      const options = { rank, mode, direct, init: 'random' as const, svdEvery: 0 };
      const kernels = float32LdfaKernels(null);
      const rule = createRule('ldfa', { ldfa: { ...options, kernels } });
      rule.attach(model, rng.fork());
      useFloat32Feedback(rule, kernels);
      const x = normalTensor(rng, [N, 7], 1), y = new Int32Array(N).map(() => rng.int(4));
      const counted = withBackend(backend, () => {
        const logits = model.forward(x, true);
        const de = tensor(logits.shape);
        softmaxCrossEntropy(de, logits, y);
        model.backward(de);
        take();
        rule.feedbackGradients(y);
        return take();
      });
      const f = stepFlops(model, rule, N, { ...DEFAULT_LDFA, ...options });
      expect(f.total.rule).toBe(counted);
      expect(f.total.withRule).toBe(f.total.all + counted);
    }), { numRuns: 40 });
  });

  it('conv (oja, normative): the count bounds the issued multiply-adds (padding taps counted densely)', () => {
    for (const mode of ['oja', 'normative'] as const) {
      const rng = new Rng(4), { backend, take } = countingBackend();
      const model = buildCnn({ inputShape: [1, 6, 6], channels: [2, 3], kernel: 3, outputSize: 4, activation: 'relu', batchNorm: false, pool: true, init: 'uniform' }, rng.fork());
      const options = { rank: 2, mode, init: 'random' as const, svdEvery: 0 };
      const rule = createRule('ldfa', { ldfa: options });
      rule.attach(model, rng.fork());
      const x = normalTensor(rng, [3, 1, 6, 6], 1);
      const counted = withBackend(backend, () => {
        const logits = model.forward(x, true);
        const de = tensor(logits.shape);
        softmaxCrossEntropy(de, logits, new Int32Array([0, 1, 2]));
        model.backward(de);
        take();
        rule.feedbackGradients();
        return take();
      });
      const f = stepFlops(model, rule, 3, { ...DEFAULT_LDFA, ...options });
      expect(counted).toBeLessThanOrEqual(f.total.rule);
      expect(counted).toBeGreaterThan(0.5 * f.total.rule);
    }
  });

  it('SVD: exact R-SVD count; randomized = exact once r + p covers min(m, n); amortised over svdEvery', () => {
    const o = { svd: 'auto' as const, svdOversample: 5, svdPowerIterations: 2 };
    expect(exactSvdFlops(300, 200)).toBe(6 * 300 * 200 ** 2 + 20 * 200 ** 3);
    expect(svdFlops(100, 120, 10, o)).toBe(exactSvdFlops(100, 120)); // min ≤ 128: exact
    expect(svdFlops(256, 256, 256, o)).toBe(exactSvdFlops(256, 256)); // k = min: exact
    const l = 15, m = 1024, n = 784;
    expect(svdFlops(m, n, 10, o)).toBe(2 * m * n * l * 6 + 3 * 4 * m * l * l + 2 * 4 * n * l * l + 6 * n * l * l + 20 * l ** 3 + 2 * m * l * 10);
    const model = buildMlp({ inputSize: 784, inputShape: [784], hidden: [1024], outputSize: 10, activation: 'relu', batchNorm: false, bias: true, init: 'uniform' }, new Rng(1));
    const rule = createRule('ldfa', { ldfa: { rank: 10, mode: 'normative', init: 'random' } });
    rule.attach(model, new Rng(2));
    const f = stepFlops(model, rule, 8, { ...DEFAULT_LDFA, mode: 'normative', svdEvery: 50 });
    expect(f.total.svdAmortised).toBeCloseTo(svdFlops(10, 1024, 10, o) / 50, 6);
    expect(f.total.rule).toBeCloseTo(ldfaUpdateFlops('normative', 10, 1024, 10, 8) + f.total.svdAmortised, 6);
    // the output layer (10 × 1024) at r = 10: forming E (6·out·in·r) is cheaper than the reassociation
    expect(ldfaUpdateFlops('normative', 10, 1024, 10, 8)).toBe(6 * 10 * 1024 * 10);
    expect(ldfaUpdateFlops('normative', 1024, 1024, 10, 8)).toBe(4 * 1024 * 1024 * 10 + 4 * 100 * 2048);
  });
});
