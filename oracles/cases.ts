// The golden-fixture case table: {architecture} × {rule}, all on small shapes so every
// fixture stays a few hundred kilobytes at most (docs/fixture-format.md §5).
//
// Every dimension of a case is distinct (batch, input channels, height, width, every width,
// the kernel, the rank, the classes; ARCHITECTURES[].dimensions lists them and a test checks
// that every tensor axis is one of them), so any transposed tensor in a candidate is a shape
// mismatch instead of silently comparing the wrong numbers. The one exception is a conv
// kernel's two spatial axes (k×k, and P̂'s 1×1).
//
// To add an architecture: add an entry to ARCHITECTURES (its builder gets the case's model
// Rng and must return a Model whose layers with weights expose FeedbackSites); every rule
// in RULE_CASES then runs on it, and `npm run fixtures` writes the new files. A case with other
// options (a preset, say) is one more makeCase(...) in fixtureCases().
import type { Model } from '../reference/models/network.ts';
import { buildCnn } from '../reference/models/cnn.ts';
import { buildLinearNet, buildMlp } from '../reference/models/mlp.ts';
import { buildVit } from '../reference/models/vit.ts';
import { DEFAULT_LDFA, type LdfaOptions } from '../reference/rules/ldfa.ts';
import { DEFAULT_CONFIG, ldfaOptionsOf, type PresetName, type TrainConfig } from '../src/config.ts';
import { PRESETS, applyPreset } from '../src/presets.ts';
import type { RuleName } from '../reference/rules/rule.ts';
import type { RuleOptions } from '../reference/rules/index.ts';
import { familyRuleCases } from './family-cases.ts';
import { normalTensor, type Rng } from '../reference/rng.ts';
import type { Tensor } from '../reference/tensor.ts';

export interface ArchitectureCase {
  /** Used in the case name: `${arch}_${rule}`. */
  readonly name: string;
  /** One line for the header and the docs. */
  readonly description: string;
  readonly inputShape: readonly number[];
  readonly classes: number;
  readonly batch: number;
  /** One seed per architecture: every rule of one architecture sees the same x, y and W. */
  readonly seed: number;
  build(rng: Rng): Model;
  /** The batch; labels are integers in [0, classes). */
  data(rng: Rng): { x: Tensor; y: Int32Array };
  /**
   * Every distinct dimension of the case's tensors, by name (written to the header). For the
   * committed fixtures they are pairwise distinct. Absent for a user's own configuration.
   */
  readonly dimensions?: Readonly<Record<string, number>>;
}

export interface RuleCase {
  /** Used in the case name. */
  readonly name: string;
  readonly rule: RuleName;
  /** LDFA options (the rank is clamped to min(out, in) per layer). Absent for BP, FA, DFA. */
  readonly ldfa?: LdfaOptions;
  /** Preset cases (v1): the signal every layer sends down is clamped to [−c, c]. */
  readonly clipSignal?: number;
  /** The family rules' options (oracles/family-cases.ts); absent for BP, FA, DFA, LDFA. */
  readonly options?: Omit<RuleOptions, 'ldfa' | 'inject'>;
  /** Coupled L2 weight decay λ of every decayed parameter (KP, PFA); absent: 0. */
  readonly weightDecay?: number;
  /** Dimensions the rule adds to the architecture's (PFA's middle widths, the mirror batch). */
  dimensions?(model: Model): Record<string, number>;
}

/** The training schedule of a case: plain SGD for `steps` steps on one batch. */
export interface FixtureTraining {
  readonly steps: number;
  readonly lr: number;
  readonly feedbackLr: number;
}

/** A standard-normal batch and labels drawn uniformly (the same for every rule). */
export function gaussianBatch(rng: Rng, batch: number, inputShape: readonly number[], classes: number) {
  const x = normalTensor(rng, [batch, ...inputShape], 1);
  const y = new Int32Array(batch).map(() => rng.int(classes));
  return { x, y };
}

export const ARCHITECTURES: readonly ArchitectureCase[] = [
  {
    name: 'linear2',
    description: 'linear 2-layer network 6 → 7 → 4: fc1, fc2; no bias, no nonlinearity (the linear theory)',
    inputShape: [6], classes: 4, batch: 5, seed: 2502,
    dimensions: { batch: 5, input: 6, hidden: 7, classes: 4, rank: 2 },
    build: (rng) => buildLinearNet({ inputSize: 6, hidden: [7], outputSize: 4, init: 'uniform' }, rng),
    data(rng) { return gaussianBatch(rng, this.batch, this.inputShape, this.classes); },
  },
  {
    name: 'mlp',
    description: 'MLP 6 → 8 → 7 → 4: fc1, tanh, fc2, tanh, fc3; with biases',
    inputShape: [6], classes: 4, batch: 5, seed: 20580,
    dimensions: { batch: 5, input: 6, fc1Out: 8, fc2Out: 7, classes: 4, rank: 2 },
    build: (rng) => buildMlp({ inputSize: 6, hidden: [8, 7], outputSize: 4, activation: 'tanh', bias: true, init: 'uniform' }, rng),
    data(rng) { return gaussianBatch(rng, this.batch, this.inputShape, this.classes); },
  },
  {
    name: 'cnn',
    description: 'conv net on 7×8×11 images (C×H×W): conv1 3×3 7→9 (stride 1, padding 1), tanh, conv2 3×3 9→10 (stride 2, padding 1: 8×11 → 4×6), tanh, flatten (240), head 240 → 12; with biases, no batch norm, no pooling',
    inputShape: [7, 8, 11], classes: 12, batch: 5, seed: 4242,
    dimensions: {
      batch: 5, inputChannels: 7, height: 8, width: 11, conv1Out: 9, conv2Out: 10, conv2Height: 4, conv2Width: 6,
      kernel: 3, rank: 2, classes: 12, flattened: 240, conv2InputSize: 9 * 8 * 11, conv2Fan: 9 * 3 * 3,
    },
    build: (rng) => buildCnn({ inputShape: [7, 8, 11], channels: [9, 10], strides: [1, 2], kernel: 3, outputSize: 12, activation: 'tanh', batchNorm: false, pool: false, init: 'uniform' }, rng),
    data(rng) { return gaussianBatch(rng, this.batch, this.inputShape, this.classes); },
  },
  {
    name: 'transformer',
    description: 'one pre-norm transformer block on 3×8×20 images cut into T = 10 patches of 4×4 (a 2×5 grid): embed 48 → 9 (+ learned positions), LN, fused qkv 9 → 42 (attention width 14), 2-head softmax attention (head width 7), proj 14 → 9, residual, LN, fc1 9 → 18, GELU (tanh form), fc2 18 → 9, residual, final LN, mean over tokens, head 9 → 5',
    inputShape: [3, 8, 20], classes: 5, batch: 4, seed: 7171,
    dimensions: {
      batch: 4, channels: 3, height: 8, width: 20, tokens: 10, patchFeatures: 48, dim: 9, attnDim: 14, qkvOut: 42, mlpWidth: 18,
      classes: 5, rank: 2, qkvRank: 6, qkvInputSize: 10 * 9, projInputSize: 10 * 14, fc2InputSize: 10 * 18,
    },
    build: (rng) => buildVit({ inputShape: [3, 8, 20], patch: 4, dim: 9, attnDim: 14, depth: 1, heads: 2, mlpRatio: 2, outputSize: 5, fusedQkv: true, init: 'uniform' }, rng),
    data(rng) { return gaussianBatch(rng, this.batch, this.inputShape, this.classes); },
  },
];

/** LDFA rank of every fixture (clamped per layer to min(out, in)). */
export const FIXTURE_RANK = 2;

const ldfaCase = (mode: LdfaOptions['mode'], init: LdfaOptions['init']): LdfaOptions => ({
  ...DEFAULT_LDFA, rank: FIXTURE_RANK, mode, init, learn: 'pq', direct: false, svdEvery: 0,
  ojaNormalisation: 'max-std', ojaEps: 1e-8, svd: 'exact',
});

export const RULE_CASES: readonly RuleCase[] = [
  { name: 'bp', rule: 'bp' },
  { name: 'fa', rule: 'fa' },
  { name: 'dfa', rule: 'dfa' },
  { name: 'ldfa-fixed', rule: 'ldfa', ldfa: ldfaCase('fixed', 'random') },
  { name: 'ldfa-normative', rule: 'ldfa', ldfa: ldfaCase('normative', 'svd') },
  { name: 'ldfa-oja', rule: 'ldfa', ldfa: ldfaCase('oja', 'random') },
  { name: 'ldfa-factorised', rule: 'ldfa', ldfa: ldfaCase('factorised', 'svd') },
];

/**
 * Training schedule: plain SGD, no momentum, no decay. feedbackLr is chosen per case so that
 * nothing diverges within the 3 steps (an explicit Oja step is unstable once feedbackLr·λmax(C)
 * exceeds 2, and C sums over every (sample, position) of a conv layer); a test bounds the growth.
 */
export const FIXTURE_TRAINING: FixtureTraining = { steps: 3, lr: 0.2, feedbackLr: 0.1 };
const FEEDBACK_LR: Readonly<Record<string, number>> = { 'linear2_ldfa-oja': 0.05, 'cnn_ldfa-oja': 0.002, 'transformer_ldfa-oja': 0.01 };

/**
 * normative and factorised start from the exact SVD factors plus uniform noise of this size
 * relative to each factor's RMS, so their step-1 feedback gradients are far from zero (the
 * exact SVD start is a stationary point of normative learning: a sign error would pass step 1).
 */
export const SVD_START_PERTURBATION = 0.5;

export interface FixtureCase {
  readonly name: string;
  readonly arch: ArchitectureCase;
  readonly rule: RuleCase;
  readonly training: FixtureTraining;
  /** Relative size of the noise added to an SVD start (0: none). */
  readonly perturbation: number;
}

/** A case of one architecture and one rule, with its schedule and start. */
export function makeCase(arch: ArchitectureCase, rule: RuleCase, training: FixtureTraining = FIXTURE_TRAINING): FixtureCase {
  const name = `${arch.name}_${rule.name}`;
  // KP's B and PFA's R step with the weights' optimiser: their lr is W's (family spec §3, §5.2).
  const withWeights = rule.rule === 'kp' || rule.rule === 'pfa';
  return {
    name, arch, rule,
    training: { ...training, feedbackLr: withWeights ? training.lr : FEEDBACK_LR[name] ?? training.feedbackLr },
    perturbation: rule.ldfa?.init === 'svd' ? SVD_START_PERTURBATION : 0,
  };
}

/**
 * The authors' set-ups (src/presets.ts) on the architectures their version trained: the
 * preset's conventions (rule, Oja ε and output layer, clamps, coupling, SVD, classifier) at rank 2.
 * A preset that re-factorises (authors-v4-normative) does so after every step, with its randomized
 * SVD and power iterations, so that steps 2 and 3 check the re-factorisation (its Ω is in the file).
 * The optimiser stays plain SGD: the case checks the rule, not Adam.
 *
 * A `variant` changes settings of the preset so that a convention fires where the preset's own
 * value never would on these small cases: the v1 ±1 signal clamp and the v4 ±10 / ±0.1 gradient
 * clamps sit far above these cases' signals and gradients (largest |signal| 0.09, largest linear
 * gradient 0.4), so omitting them would pass. The tight variants clamp at values that a good share
 * of the entries exceed; the name says so, and the header records the values.
 */
export interface PresetCaseSpec {
  arch: string;
  preset: PresetName;
  variant?: { name: string; settings: Partial<TrainConfig> };
}
export const PRESET_CASES: readonly PresetCaseSpec[] = [
  { arch: 'mlp', preset: 'authors-v1-mlp' },
  { arch: 'mlp', preset: 'authors-v1-mlp', variant: { name: 'tight-clamp', settings: { clipSignal: 0.01 } } },
  { arch: 'cnn', preset: 'authors-v1-cnn' },
  { arch: 'cnn', preset: 'authors-v4-normative' },
  { arch: 'cnn', preset: 'authors-v4-normative', variant: { name: 'tight-clamps', settings: { clipLinearGrad: 0.01, clipConvFeedbackGrad: 0.01 } } },
  { arch: 'transformer', preset: 'authors-v4-normative' },
  { arch: 'transformer', preset: 'authors-v4-bio' },
];

/** Cases of one rule option that no rule column or preset covers, on one architecture. */
export const OPTION_CASES: readonly { arch: string; rule: RuleCase }[] = [
  { arch: 'mlp', rule: { name: 'ldfa-oja-max-second-moment', rule: 'ldfa', ldfa: { ...ldfaCase('oja', 'random'), ojaNormalisation: 'max-second-moment' } } },
];

const TRAIN_ARCH: Record<string, TrainConfig['arch']> = { mlp: 'mlp', cnn: 'cnn', transformer: 'vit' };

/**
 * A preset's case: what `ldfa train --preset P --rule ldfa --rank 2` resolves to, re-factorising
 * after every step where the preset re-factorises at all. normative starts from the perturbed SVD
 * (its exact start is a stationary point), factorised (authors-v4-bio) from the preset's own SVD
 * start. Under the v1 shared optimiser W, P̂ and Q̂ step with one lr: the stable Oja feedbackLr of
 * that architecture (FEEDBACK_LR), for the weights too.
 */
export function presetCase(arch: ArchitectureCase, preset: PresetName, variant?: PresetCaseSpec['variant']): FixtureCase {
  const resolved = applyPreset({ ...DEFAULT_CONFIG, arch: TRAIN_ARCH[arch.name], rule: 'ldfa', rank: FIXTURE_RANK, svdEvery: 0 }, preset,
    { keep: new Set(['svdEvery']), conventionsOnly: true });
  const refactorises = PRESETS[preset].conventions.svdEvery !== undefined && PRESETS[preset].conventions.svdEvery !== 0;
  const c: TrainConfig = { ...resolved, svdEvery: refactorises ? 1 : 0, ...variant?.settings };
  const rule: RuleCase = {
    name: variant ? `${preset}-${variant.name}` : preset, rule: 'ldfa', ldfa: { ...DEFAULT_LDFA, ...ldfaOptionsOf(c) },
    ...(c.clipSignal !== null ? { clipSignal: c.clipSignal } : {}),
  };
  const made = makeCase(arch, rule);
  const base = { ...made, perturbation: c.feedback === 'normative' ? SVD_START_PERTURBATION : 0 };
  if (c.feedbackCoupling !== 'shared') return base;
  const lr = FEEDBACK_LR[`${arch.name}_ldfa-oja`] ?? FIXTURE_TRAINING.feedbackLr;
  return { ...base, training: { ...base.training, lr, feedbackLr: lr } };
}

export function fixtureCases(): FixtureCase[] {
  const byName = (name: string) => ARCHITECTURES.find((a) => a.name === name)!;
  return [
    ...ARCHITECTURES.flatMap((arch) => RULE_CASES.map((rule) => makeCase(arch, rule))),
    ...OPTION_CASES.map(({ arch, rule }) => makeCase(byName(arch), rule)),
    ...PRESET_CASES.map(({ arch, preset, variant }) => presetCase(byName(arch), preset, variant)),
    ...ARCHITECTURES.flatMap((arch) => familyRuleCases(arch.name).map((rule) => makeCase(arch, rule))),
  ];
}

export function findCase(name: string): FixtureCase {
  const all = fixtureCases();
  const found = all.find((c) => c.name === name);
  if (!found) throw new Error(`unknown fixture case '${name}': allowed are ${all.map((c) => c.name).join(', ')}`);
  return found;
}
