// Golden-fixture cases of the feedback-alignment family (family spec §2–§5): uSF, brSF, frSF,
// Kolen–Pollack, weight mirrors and PFA, on every architecture of cases.ts. Everything a rule
// draws at random during the 3 steps is written into the fixture (docs/fixture-format.md §12):
// brSF's magnitudes of each step and the mirror noise of each mirror step as input/stepK/…, and
// every fixed tensor (frSF's M, PFA's B_p) as init/…, so that no other implementation needs this
// project's random-number generator.
import { weightMatrixShape, type Model } from '../reference/models/network.ts';
import { normalTensor, type Rng } from '../reference/rng.ts';
import type { RuleOptions } from '../reference/rules/index.ts';
import { sendingSites, type Rule } from '../reference/rules/rule.ts';
import { mirrorResponse, mirrorUpdate } from '../reference/rules/wm.ts';
import { tensor, type Tensor } from '../reference/tensor.ts';
import type { RuleCase } from './cases.ts';

/** The family rules with fixtures, in the order of the spec. */
export const FAMILY_RULES = ['usf', 'brsf', 'frsf', 'kp', 'wm', 'pfa'] as const;

/**
 * Coupled L2 decay of KP and PFA (g ← g + λθ for every weight, B and R; biases and norms do not
 * decay): large enough that a candidate which decays W but not B (or R) fails at step 2.
 */
export const FAMILY_WEIGHT_DECAY = 0.05;

/** PFA's expansion k: small, and every k·out is a width no other axis has. */
export const FIXTURE_PFA_EXPANSION = 3;

/** Mirror noise σ and rate ρ: σ² ≠ σ ≠ 1 and ρ large, so a missing σ² or (1 − ρ) is far off. */
export const FIXTURE_MIRROR = { sigma: 0.5, rate: 0.5 } as const;

/** Mirror noise samples per architecture: a number no other axis of the case has. */
const MIRROR_BATCH: Readonly<Record<string, number>> = { linear2: 3, mlp: 3, cnn: 13, transformer: 11 };

/** PFA's middle widths k·out as dimensions, one name per distinct width. */
function pfaWidths(model: Model): Record<string, number> {
  const byWidth = new Map<number, string[]>();
  for (const site of sendingSites(model)) {
    const mid = FIXTURE_PFA_EXPANSION * weightMatrixShape(site)[0];
    byWidth.set(mid, [...(byWidth.get(mid) ?? []), site.name]);
  }
  return Object.fromEntries([...byWidth].map(([mid, sites]) => [`pfaMid(${sites.join(',')})`, mid]));
}

/** The family's rule cases of one architecture (the mirror batch depends on it). */
export function familyRuleCases(arch: string): RuleCase[] {
  const mirrorBatch = MIRROR_BATCH[arch] ?? 3;
  return [
    { name: 'usf', rule: 'usf', options: { usf: { scale: 'init-std', weightInit: 'uniform' } } },
    { name: 'brsf', rule: 'brsf', options: { signMagnitudes: 'uniform' } },
    { name: 'frsf', rule: 'frsf', options: { signMagnitudes: 'uniform' } },
    { name: 'kp', rule: 'kp', options: { kp: { init: 'random' } }, weightDecay: FAMILY_WEIGHT_DECAY },
    {
      name: 'wm', rule: 'wm',
      options: { wm: { ...FIXTURE_MIRROR, batch: mirrorBatch, warmup: 0, growthControl: false } },
      dimensions: () => ({ mirrorBatch }),
    },
    {
      name: 'pfa', rule: 'pfa', options: { pfa: { expansion: FIXTURE_PFA_EXPANSION, feedback: 'random' } },
      weightDecay: FAMILY_WEIGHT_DECAY, dimensions: pfaWidths,
    },
  ];
}

/** The conventions of the family rules, in words; written into the header of every family fixture. */
export const FAMILY_CONVENTIONS = {
  sign: 'uSF, brSF, frSF: B_t = S_t ∘ sign(W_t), sign(0) = 0, recomputed from W before this step\'s update, and dx = dy·B_t (conv: conv_transpose(dy, B_t) with the layer\'s stride and padding). stepK/<site>.B is the B_t of step K. uSF: S = c, one scalar per layer in rule.c (the std of W\'s initialiser). brSF: S_t = input/stepK/<site>.M, fresh magnitudes (already ≥ 0) for every step. frSF: S = init/<site>.M, fixed',
  kp: 'Kolen–Pollack: dx = dy·B with B learned; dB = dW (B receives W\'s gradient), and B steps with W\'s optimiser: SGD with lr and coupled L2 decay, p ← p − lr·(dp + λ·p) for W and B (λ = training.weightDecay; only the tensors in training.decayed decay: biases and LayerNorm gamma, beta do not). So B_t − W_t = (1 − lr·λ)^t (B_0 − W_0)',
  wm: 'weight mirrors: dx = dy·B. After each step\'s SGD update, a mirror step: the noise x = input/stepK/<site>.noise (N_m, in) (conv: (N_m, Cin, H, W)) goes through the layer\'s updated W without bias or activation, y = x·Wᵀ (conv: conv(x, W) with the layer\'s stride and padding), Ŵ = yᵀx / (N_m·σ²) (conv: the filter gradient of (x, y) / (N_m·P·σ²), P = Hout·Wout), stored as stepK/<site>.What; then B ← (1 − ρ)·B + ρ·Ŵ, stored as stepK/<site>.B (the B of step K + 1). σ = rule.sigma, ρ = rule.rate, N_m = rule.batch; no warm-up, no growth control',
  pfa: 'Product Feedback Alignment: B_p = init/<site>.Bp (out, k·out) fixed (conv: (Cout, k·Cout, 1, 1)), R = init/<site>.R (k·out, in) learned (conv: (k·Cout, Cin, k, k)); g = dy·B_p, dx = g·R (conv: g = conv_transpose(dy, B_p) at the output resolution, then dx = conv_transpose(g, R) with the layer\'s stride and padding, as LDFA\'s P̂, Q̂); dR = B_pᵀ·dW (conv: dW seen as (Cout, Cin·k·k)); R steps with W\'s optimiser, lr and coupled L2 decay as KP\'s B',
} as const;

type Put = (name: string, t: Tensor) => void;

/** What a family fixture records besides the common tensors, step by step. */
export interface FamilyRecording {
  /** The rule's options, with the mirror noise drawn here and written to the fixture. */
  readonly options: RuleOptions;
  /** Feedback tensors that are not given before step 1 (sign rules' B, brSF's M: recomputed or redrawn each step). */
  notGiven(name: string): boolean;
  /** Before step K's forward: brSF's magnitudes of step K. */
  beforeStep(step: number, rule: Rule): void;
  /** After step K's backward: the B_t each sign rule's layer sent its error through. */
  afterBackward(step: number, rule: Rule): void;
  /** After step K's update and mirror phase: weight mirrors' Ŵ and B. */
  afterUpdate(step: number, model: Model, rule: Rule): void;
}

const SIGN_RULES: readonly string[] = ['usf', 'brsf', 'frsf'];

/**
 * The recording of one family case. noiseRng draws the mirror noise (a stream of its own, so the
 * other cases' bytes do not depend on it); put writes a fixture tensor.
 */
export function familyRecording(rc: RuleCase, noiseRng: Rng, put: Put): FamilyRecording {
  const sign = SIGN_RULES.includes(rc.rule);
  const noises = new Map<string, Tensor>();
  const options: RuleOptions = { ...rc.options };
  const mirror = rc.options?.wm;
  if (mirror) {
    options.wm = {
      ...mirror,
      noise: (site, step) => {
        const x = normalTensor(noiseRng, [mirror.batch, ...site.inputShape.slice(site.kind === 'conv' ? 0 : -1)], mirror.sigma);
        noises.set(site.name, x);
        put(`input/step${step}/${site.name}.noise`, x);
        return x;
      },
    };
  }
  const each = (rule: Rule, suffix: string, write: (name: string, t: Tensor) => void) => {
    for (const [name, t] of Object.entries(rule.feedbackTensors())) if (name.endsWith(suffix)) write(name, t);
  };
  return {
    options,
    notGiven: (name) => (sign && name.endsWith('.B')) || (rc.rule === 'brsf' && name.endsWith('.M')),
    beforeStep(step, rule) {
      if (rc.rule === 'brsf') each(rule, '.M', (name, M) => put(`input/step${step}/${name}`, M));
    },
    afterBackward(step, rule) {
      if (sign) each(rule, '.B', (name, B) => put(`step${step}/${name}`, B));
    },
    afterUpdate(step, model, rule) {
      if (!mirror) return;
      for (const site of sendingSites(model)) {
        const x = noises.get(site.name)!;
        const estimate = tensor(site.weight.value.shape); // Ŵ: one mirror step from 0 with ρ = 1
        mirrorUpdate(estimate, x, mirrorResponse(site, x), 1, mirror.sigma, site.conv);
        put(`step${step}/${site.name}.What`, estimate);
        put(`step${step}/${site.name}.B`, rule.feedbackTensors()[`${site.name}.B`]);
      }
    },
  };
}

/** The family rules' tensor names; written into the header of every family fixture beside `names`. */
export const FAMILY_NAMES = {
  'init/<site>.M': 'frSF: the fixed magnitudes |M| (W\'s shape, ≥ 0)',
  'input/stepK/<site>.M': 'brSF: the magnitudes |M_t| drawn for step K (W\'s shape, ≥ 0); given, not checked unless the candidate has them',
  'stepK/<site>.B': 'uSF, brSF, frSF: the B_t = S_t∘sign(W_t) of step K; weight mirrors: B after step K\'s mirror phase; KP: step3 only, the state after 3 steps',
  'init/<site>.B': 'KP: B₀ (learned); weight mirrors: B₀',
  'stepK/<site>.dB': 'KP: B\'s gradient in step K (= dW)',
  'input/stepK/<site>.noise': 'weight mirrors: the noise x of the mirror phase after step K, (N_m, in) or (N_m, Cin, H, W); given',
  'stepK/<site>.What': 'weight mirrors: Ŵ = yᵀx/(N_m·σ²) of the mirror phase after step K (W\'s shape)',
  'init/<site>.Bp, init/<site>.R': 'PFA: the fixed B_p (out, k·out) and the learned R (k·out, in); conv (Cout, k·Cout, 1, 1) and (k·Cout, Cin, k, k)',
  'stepK/<site>.dR, step3/<site>.R': 'PFA: R\'s gradient in step K (= B_pᵀ·dW) and R after 3 steps',
} as const;

/**
 * A family case's entries of the header's `conventions` (oracles/generate.ts conventionsFor): the
 * rule's formulas, and for KP and PFA the optimiser with its coupled decay.
 */
export function familyConventionsOf(rc: RuleCase, lr: number, feedbackLr: number): Record<string, string> {
  const key = SIGN_RULES.includes(rc.rule) ? 'sign' : rc.rule as 'kp' | 'wm' | 'pfa';
  const decay = rc.weightDecay ?? 0;
  return {
    familyRule: FAMILY_CONVENTIONS[key],
    ...(decay > 0 ? {
      optimiser: `SGD with coupled L2 decay, no momentum, no clipping: p ← p − lr·(dp + λ·p) for the tensors in training.decayed (λ = ${decay}; biases and LayerNorm gamma, beta: p ← p − lr·dp); lr = ${lr} for the weights and the learned feedback alike (feedbackLr = ${feedbackLr}); the stored gradients are the loss gradients, before λ·p is added`,
    } : {}),
  };
}
