// The golden-fixture case table: {architecture} × {rule}, all on small shapes so every
// fixture stays a few tens of kilobytes (docs/fixture-format.md).
//
// Every dimension of a case is distinct where it can be (batch 5, input 6, hidden 8 and 7,
// 4 classes), so a transposed tensor in a candidate shows up as a shape mismatch instead of
// silently comparing the wrong numbers.
//
// To add an architecture: add an entry to ARCHITECTURES (its builder gets the case's model
// Rng and must return a Model whose layers with weights expose FeedbackSites); every rule
// in RULE_CASES then runs on it, and `npm run fixtures` writes the new files.
import type { Model } from '../reference/models/network.ts';
import { buildCnn } from '../reference/models/cnn.ts';
import { buildLinearNet, buildMlp } from '../reference/models/mlp.ts';
import { buildVit } from '../reference/models/vit.ts';
import { DEFAULT_LDFA, type LdfaOptions } from '../reference/rules/ldfa.ts';
import { DEFAULT_CONFIG, ldfaOptions, type PresetName, type TrainConfig } from '../src/config.ts';
import { applyPreset } from '../src/presets.ts';
import type { RuleName } from '../reference/rules/rule.ts';
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
}

export interface RuleCase {
  /** Used in the case name. */
  readonly name: string;
  readonly rule: RuleName;
  /** LDFA options (the rank is clamped to min(out, in) per layer). Absent for BP, FA, DFA. */
  readonly ldfa?: LdfaOptions;
  /** Preset cases (v1): the signal every layer sends down is clamped to [−c, c]. */
  readonly clipSignal?: number;
  /** Preset cases (v1, shared optimiser): P̂, Q̂ step with the forward lr instead of FIXTURE_TRAINING.feedbackLr. */
  readonly sharedLr?: boolean;
}

/** A standard-normal batch and labels drawn uniformly (the same for every rule). */
function gaussianBatch(rng: Rng, batch: number, inputShape: readonly number[], classes: number) {
  const x = normalTensor(rng, [batch, ...inputShape], 1);
  const y = new Int32Array(batch).map(() => rng.int(classes));
  return { x, y };
}

export const ARCHITECTURES: readonly ArchitectureCase[] = [
  {
    name: 'linear2',
    description: 'linear 2-layer network 6 → 7 → 4: fc1, fc2; no bias, no nonlinearity (the linear theory)',
    inputShape: [6], classes: 4, batch: 5, seed: 2502,
    build: (rng) => buildLinearNet({ inputSize: 6, hidden: [7], outputSize: 4, init: 'uniform' }, rng),
    data(rng) { return gaussianBatch(rng, this.batch, this.inputShape, this.classes); },
  },
  {
    name: 'mlp',
    description: 'MLP 6 → 8 → 7 → 4: fc1, tanh, fc2, tanh, fc3; with biases',
    inputShape: [6], classes: 4, batch: 5, seed: 20580,
    build: (rng) => buildMlp({ inputSize: 6, hidden: [8, 7], outputSize: 4, activation: 'tanh', bias: true, init: 'uniform' }, rng),
    data(rng) { return gaussianBatch(rng, this.batch, this.inputShape, this.classes); },
  },
  {
    name: 'cnn',
    description: 'conv net on 2×6×6 images: conv1 3×3 2→3 (stride 1, padding 1), tanh, max-pool 2×2, conv2 3×3 3→6, tanh, max-pool 2×2, flatten, head 6 → 4; with biases, no batch norm',
    inputShape: [2, 6, 6], classes: 4, batch: 3, seed: 4242,
    build: (rng) => buildCnn({ inputShape: [2, 6, 6], channels: [3, 6], kernel: 3, outputSize: 4, activation: 'tanh', batchNorm: false, pool: true, init: 'uniform' }, rng),
    data(rng) { return gaussianBatch(rng, this.batch, this.inputShape, this.classes); },
  },
  {
    name: 'transformer',
    description: 'one pre-norm transformer block on 3×4×4 images cut into T = 4 patches of 2×2: embed 12 → 8 (+ learned positions), LN, fused qkv 8 → 24, 2-head softmax attention, proj 8 → 8, residual, LN, fc1 8 → 16, GELU (tanh form), fc2 16 → 8, residual, final LN, mean over tokens, head 8 → 4',
    inputShape: [3, 4, 4], classes: 4, batch: 3, seed: 7171,
    build: (rng) => buildVit({ inputShape: [3, 4, 4], patch: 2, dim: 8, depth: 1, heads: 2, mlpRatio: 2, outputSize: 4, fusedQkv: true, init: 'uniform' }, rng),
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

/** Training schedule shared by every fixture: plain SGD, no momentum, no decay. */
export const FIXTURE_TRAINING = { steps: 3, lr: 0.2, feedbackLr: 0.1 } as const;

export interface FixtureCase {
  readonly name: string;
  readonly arch: ArchitectureCase;
  readonly rule: RuleCase;
}

/**
 * The authors' set-ups (src/presets.ts) on the architectures their version trained: the
 * preset's conventions (rule, Oja ε and output layer, clamps, coupling) at rank 2, with the
 * exact SVD and no re-factorisation within the 3 steps, so that the case can be recomputed.
 * The optimiser stays plain SGD: the case checks the rule, not Adam.
 */
export const PRESET_CASES: readonly { arch: string; preset: PresetName }[] = [
  { arch: 'mlp', preset: 'authors-v1-mlp' },
  { arch: 'cnn', preset: 'authors-v1-cnn' },
  { arch: 'cnn', preset: 'authors-v4-normative' },
  { arch: 'transformer', preset: 'authors-v4-normative' },
  { arch: 'transformer', preset: 'authors-v4-bio' },
];

const TRAIN_ARCH: Record<string, TrainConfig['arch']> = { mlp: 'mlp', cnn: 'cnn', transformer: 'vit' };

/** A preset's rule case: what `ldfa train --preset P --rule ldfa --rank 2 --svd exact --svd-every 0` resolves to. */
export function presetRuleCase(arch: string, preset: PresetName): RuleCase {
  const c = applyPreset({ ...DEFAULT_CONFIG, arch: TRAIN_ARCH[arch], rule: 'ldfa', rank: FIXTURE_RANK, svd: 'exact', svdEvery: 0 }, preset,
    { keep: new Set(['svd', 'svdEvery']), conventionsOnly: true });
  return {
    name: preset, rule: 'ldfa', ldfa: { ...DEFAULT_LDFA, ...ldfaOptions(c) },
    ...(c.clipSignal !== null ? { clipSignal: c.clipSignal } : {}), ...(c.feedbackCoupling === 'shared' ? { sharedLr: true } : {}),
  };
}

export function fixtureCases(): FixtureCase[] {
  const byName = (name: string) => ARCHITECTURES.find((a) => a.name === name)!;
  return [
    ...ARCHITECTURES.flatMap((arch) => RULE_CASES.map((rule) => ({ name: `${arch.name}_${rule.name}`, arch, rule }))),
    ...PRESET_CASES.map(({ arch, preset }) => ({ name: `${arch}_${preset}`, arch: byName(arch), rule: presetRuleCase(arch, preset) })),
  ];
}

export function findCase(name: string): FixtureCase {
  const all = fixtureCases();
  const found = all.find((c) => c.name === name);
  if (!found) throw new Error(`unknown fixture case '${name}': allowed are ${all.map((c) => c.name).join(', ')}`);
  return found;
}
