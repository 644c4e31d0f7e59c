// One whole training step (forward, loss, backward with the rule's feedback, the rule's
// feedback learning, optimiser steps) on every backend, against the same step on the
// float64 reference backend: MLP, CNN, Retina–VVS and ViT (fused and separate q, k, v) under BP,
// FA, DFA, LDFA (normative from SVD and from random init, oja, factorised; rank 2) and the
// family's uSF, brSF, frSF, KP, weight mirrors and PFA.
// The backends and the skip list are the ones of test/backends.test.ts (test/helpers/backends.ts).
// On float32 backends the MLP, CNN and Retina steps run on the float32 path (src/fast/:
// float32 storage for weights, activations, errors and gradients), checked against the
// float64 reference step like every other.
import { describe, expect, it } from 'vitest';
import { withBackend, type Backend } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/config.ts';
import { createTrainer } from '../src/train.ts';
import { createTestBackends } from './helpers/backends.ts';
import { compareArrays, type Tolerance } from './helpers/close.ts';

const created = await createTestBackends('backends-step.test');

const INPUT = [1, 8, 8] as const, CLASSES = 4, BATCH = 6;

/**
 * SGD without momentum, for the forward weights and the feedback alike. With Adam the first
 * update is lr·m̂/(√v̂ + ε) ≈ lr·sign(g): a gradient element that is ~0 in float64 (e.g. a
 * dead ReLU unit's bias, 1e-12) and ~1e-8 of the other sign in float32 moves by ±lr, so
 * Adam's normalisation turns float32 noise into O(lr) differences. SGD's update lr·g is
 * linear in g, so the float32 error of the step is just lr times the gradient's error.
 * lr = 0.5 makes the update large enough that a wrong gradient shows in the parameters.
 */
const base: TrainConfig = {
  ...DEFAULT_CONFIG, data: 'synthetic', optimizer: 'sgd', feedbackOptimizer: 'sgd', momentum: 0,
  lr: 0.5, feedbackLr: 0.5, batch: BATCH, seed: 7,
};

const ARCHS: [string, Partial<TrainConfig>][] = [
  ['mlp', { arch: 'mlp', hidden: [16, 12] }],
  ['cnn', { arch: 'cnn', hidden: [3, 4], kernel: 3 }],
  ['retina', { arch: 'retina', hidden: [3, 2, 3], kernel: 3, fc: 8 }],
  ['vit', { arch: 'vit', patch: 4, dim: 8, depth: 1, heads: 2, mlpRatio: 2 }],
  ['vit with separate q, k, v', { arch: 'vit', patch: 4, dim: 8, depth: 1, heads: 2, mlpRatio: 2, fusedQkv: false }],
];
const RULES: [string, Partial<TrainConfig>][] = [
  ['bp', { rule: 'bp' }],
  ['fa', { rule: 'fa' }],
  // SVD init (the default for normative): P̂Q̂ is W's best rank-2 approximation, so the
  // feedback gradients E·Q̂ᵀ, P̂ᵀ·E (E = P̂Q̂ − W ⟂ the factors) are 0 up to rounding …
  ['ldfa normative r=2 (svd init)', { rule: 'ldfa', feedback: 'normative', rank: 2, svdEvery: 0 }],
  // … so also from a random init, where the feedback learning moves P̂, Q̂ by O(lr).
  ['ldfa normative r=2 (random init)', { rule: 'ldfa', feedback: 'normative', rank: 2, svdEvery: 0, feedbackInit: 'random' }],
  ['dfa', { rule: 'dfa' }],
  // the local rules: P̂ by Oja on the (sample, position/token) rows of δ, Q̂ by the filter gradient of z …
  ['ldfa oja r=2', { rule: 'ldfa', feedback: 'oja', rank: 2 }],
  // … and by the factorised gradients dW·Q̂ᵀ, P̂ᵀ·dW
  ['ldfa factorised r=2', { rule: 'ldfa', feedback: 'factorised', rank: 2 }],
  // the feedback-alignment family (reference/rules/, family spec): B = S∘sign(W) from the current W …
  ['usf', { rule: 'usf' }],
  ['brsf', { rule: 'brsf' }],
  ['frsf', { rule: 'frsf' }],
  // … B stepped with W's gradient and decay, B mirrored from noise, and R under a fixed B_p
  ['kp', { rule: 'kp', weightDecay: 0.01 }],
  ['wm', { rule: 'wm', mirrorWarmup: 2, mirrorRate: 0.5 }],
  ['pfa k=2', { rule: 'pfa', pfaExpansion: 2, weightDecay: 0.01 }],
];

interface StepResult {
  loss: number;
  /** name → values after the step (model parameters and feedback tensors). */
  after: Map<string, Float64Array>;
  /** name → after − before. */
  delta: Map<string, Float64Array>;
  /** trainer.path: 'float32' or 'float64: why'. */
  path: string;
}

function oneStep(backend: Backend, config: TrainConfig): StepResult {
  return withBackend(backend, () => {
    const trainer = createTrainer(config, INPUT, CLASSES);
    const rng = new Rng(11);
    const x = normalTensor(rng, [BATCH, ...INPUT], 1);
    const y = new Int32Array(BATCH).map(() => rng.int(CLASSES));
    const tensors = () => [
      ...trainer.model.params().map((p) => [p.name, p.value.data] as const),
      ...Object.entries(trainer.rule.feedbackTensors()).map(([k, t]) => [`feedback ${k}`, t.data] as const),
    ];
    const before = new Map(tensors().map(([k, v]) => [k, Float64Array.from(v)]));
    const loss = trainer.step(x, y);
    const after = new Map(tensors().map(([k, v]) => [k, Float64Array.from(v)]));
    const delta = new Map([...after].map(([k, v]) => [k, v.map((a, i) => a - before.get(k)![i])]));
    return { loss, after, delta, path: trainer.path };
  });
}

/**
 * Float32 tolerance for a whole step. Every hot op rounds its inputs to float32 and sums in
 * float32 (relative error ~u·√K per dot product, u = 2⁻²⁴ ≈ 6e-8, K ≤ 64 here), and the
 * errors pass through a handful of chained layers. The error of a value is judged on the
 * scale of its tensor, not of the element (near-zero entries of a gradient carry the
 * absolute rounding error of their whole dot product): atol = 2e-5·max|update| + rtol 1e-4.
 * An update that is 0 in exact arithmetic (normative LDFA from the SVD init) is pure
 * rounding of products of O(|param|) operands, ≈ lr·u·√K·|param|²; the floor
 * 1e-6·lr·max|param| covers it (observed ≤ 1.1e-8 against a floor ≥ 1e-7).
 * A tensor whose whole update vanishes in exact arithmetic next to its layer's (below 1e-6 of
 * the largest update of a tensor of the same layer) is judged on the layer's scale instead:
 * the key bias of separate q, k, v is one (softmax is unchanged when one vector is added to
 * every key, so db_k = Σ_t dk_t = 0 exactly, ~1e-18 in float64), and its float32 value is the
 * rounding of a sum of O(dk) terms (observed ~2e-10, against the k weight's updates ~1e-2).
 * Structural errors (a wrong transpose, a dropped term, a missing feedback path) change
 * values by O(update) and are far outside this.
 */
function tolFor(refDelta: Float64Array, refAfter: Float64Array, lr: number, layerMaxDelta: number): Tolerance {
  const own = maxAbs(refDelta);
  const vanishing = own < 1e-6 * layerMaxDelta ? 2e-5 * layerMaxDelta : 0;
  return { atol: 2e-5 * own + vanishing + 1e-6 * lr * maxAbs(refAfter) + 1e-12, rtol: 1e-4 };
}

const maxAbs = (a: Float64Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** 'block0.k.b' → 'block0.k'; 'feedback fc2.P' → 'feedback fc2'. */
const layerOf = (name: string) => name.slice(0, name.lastIndexOf('.'));

const refCache = new Map<string, StepResult>();
function referenceStep(key: string, config: TrainConfig): StepResult {
  let r = refCache.get(key);
  if (r === undefined) { r = oneStep(referenceBackend, config); refCache.set(key, r); }
  return r;
}

describe.each(created)('training step on backend $row.name', ({ row, backend, skip }) => {
  const test = skip === null ? it : it.skip;
  describe.each(ARCHS)('%s', (arch, archConfig) => {
    test.each(RULES)('under %s matches the reference step (loss, every parameter and its update)', (rule, ruleConfig) => {
      const config = { ...base, ...archConfig, ...ruleConfig, backend: row.name };
      const ref = referenceStep(`${arch} ${rule}`, config);
      const got = oneStep(backend as Backend, config);
      // float32 backends run every model (mlp, cnn, retina, vit) on the float32 path (src/fast/)
      const float32Path = (backend as Backend).precision === 'float32';
      expect(got.path).toMatch(float32Path ? /^float32$/ : /^float64: /);
      const failures: string[] = [];
      const lossCheck = compareArrays(`${arch} ${rule} loss`, [got.loss], [ref.loss], { atol: 1e-6, rtol: 1e-5 });
      if (!lossCheck.ok) failures.push(lossCheck.message);
      expect([...got.after.keys()]).toEqual([...ref.after.keys()]);
      const layerMax = new Map<string, number>();
      for (const [name, d] of ref.delta) layerMax.set(layerOf(name), Math.max(layerMax.get(layerOf(name)) ?? 0, maxAbs(d)));
      for (const [name, refAfter] of ref.after) {
        const refDelta = ref.delta.get(name)!;
        const tol = tolFor(refDelta, refAfter, config.lr, layerMax.get(layerOf(name))!);
        for (const [what, g, r] of [
          ['after the step', got.after.get(name)!, refAfter],
          ['update (after − before)', got.delta.get(name)!, refDelta],
        ] as const) {
          const c = compareArrays(`${arch} ${rule} ${name} ${what}`, g, r, tol);
          if (!c.ok) failures.push(c.message);
        }
      }
      if (failures.length > 0) expect.fail(failures.join('\n'));
    });
  });
});
