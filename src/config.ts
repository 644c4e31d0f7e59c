// A training run's configuration: what `ldfa train` flags map to, validated in one place
// so every bad value gets one clear message naming the flag and what is allowed.
import { stableJson } from './report/atomic.ts';
import { ACTIVATION_NAMES, type ActivationName } from '../reference/layers/activation.ts';
import { OPTIMIZER_NAMES, type OptimizerName } from '../reference/optim.ts';
import { checkLdfaOptions, DEFAULT_LDFA, MAX_SVD_OVERSAMPLE, MAX_SVD_POWER_ITERATIONS, FEEDBACK_MODES, OJA_NORMALISATIONS, OJA_OUTPUTS, defaultInit, type FeedbackMode, type LdfaOptions, type OjaNormalisation, type OjaOutput, type RankSpec } from '../reference/rules/ldfa.ts';
import { RULE_NAMES, type RuleName } from '../reference/rules/rule.ts';
import type { RuleOptions } from '../reference/rules/index.ts';
import { KP_INITS, type KpInit } from '../reference/rules/kp.ts';
import { PFA_FEEDBACKS, type PfaFeedback } from '../reference/rules/pfa.ts';
import { checkUsfScale, type UsfScale } from '../reference/rules/usf.ts';
import { checkWmOptions } from '../reference/rules/wm.ts';
import { INIT_NAMES, type InitName } from '../reference/rng.ts';

export const ARCH_NAMES = ['linear', 'mlp', 'cnn', 'vit', 'retina'] as const;
export type ArchName = (typeof ARCH_NAMES)[number];
export const DATA_NAMES = ['mnist', 'fashion', 'synthetic', 'cifar10', 'cifar100'] as const;
export type DataName = (typeof DATA_NAMES)[number];
/** The authors' set-ups, one per version of their code (src/presets.ts, docs/conventions.md). */
export const PRESET_NAMES = ['authors-v1-mlp', 'authors-v1-cnn', 'authors-v4-normative', 'authors-v4-bio'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];
/** How P̂, Q̂ are optimised: by the forward optimiser with its settings (v1 code) or by their own (v4 code). */
export const FEEDBACK_COUPLINGS = ['separate', 'shared'] as const;
export type FeedbackCoupling = (typeof FEEDBACK_COUPLINGS)[number];

export interface TrainConfig {
  /** The preset the other fields were resolved from (explicit flags override it); null: none. */
  preset: PresetName | null;
  data: DataName;
  /** Directory of the data files: CIFAR's binary files (required), or MNIST's / Fashion-MNIST's IDX files instead of the installed ones. */
  dataDir: string | null;
  /** Keep only the first C classes (task-dimension experiments); null keeps all. */
  classes: number | null;
  /** CIFAR: one gray channel instead of RGB (the receptive-field experiment, spec §4.2). */
  grayscale: boolean;
  limitTrain: number | null;
  limitTest: number | null;

  arch: ArchName;
  hidden: number[];
  activation: ActivationName;
  batchNorm: boolean;
  init: InitName;
  /** cnn, retina: conv kernel size (odd); channels come from `hidden` (retina: [c, b, v₁, …]). */
  kernel: number;
  /** retina: width of the fully connected layer before the head. */
  fc: number;
  /** vit: patch size, width, depth, heads, MLP ratio, fused q/k/v projection. */
  patch: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  fusedQkv: boolean;

  rule: RuleName;
  rank: RankSpec;
  feedback: FeedbackMode;
  learn: 'pq' | 'q';
  direct: boolean;
  feedbackInit: 'svd' | 'random' | 'auto';
  svdEvery: number;
  svd: 'exact' | 'randomized' | 'auto';
  ojaNormalisation: OjaNormalisation;
  /** Oja's ε for linear layers and for conv layers (v1 code: 1e-8 and 1e-6). */
  ojaEps: number;
  ojaEpsConv: number;
  /** oja: the output layer's P̂ learns from its error or from the one-hot labels (v1 MLP code). */
  ojaOutput: OjaOutput;
  /** Power iterations of the randomized SVD (v4 code: 2). */
  svdPowerIterations: number;
  /** Power iterations of the randomized SVD of conv layers; null: svdPowerIterations (v4 code: 10 linear, 2 conv). */
  svdPowerIterationsConv: number | null;
  svdOversample: number;
  /** LDFA in a net with conv layers: the linear classifier sends error down through P̂Q̂ ('ldfa') or W ('bp', v1 CNN code). */
  classifierFeedback: 'ldfa' | 'bp';

  /** uSF: c in B = c·sign(W): 'init-std' (the std W was drawn with), 'unit', or a number (family spec §2.1). */
  usfScale: UsfScale;
  /** brSF, frSF: the distribution the magnitudes M are drawn from (default FA's B initialiser). */
  signMagnitudes: InitName;
  /** KP: B₀ drawn like FA's B ('random') or B₀ = W₀ ('weights', exactly BP). */
  kpInit: KpInit;
  /** Weight mirrors: noise std σ, rate ρ, noise samples per mirror step (null: --batch), warm-up mirror steps ('epoch': one epoch's worth). */
  mirrorSigma: number;
  mirrorRate: number;
  mirrorBatch: number | null;
  mirrorWarmup: number | 'epoch';
  mirrorGrowthControl: boolean;
  /** PFA: expansion k (the middle population has k·out units) and B_p's draw. */
  pfaExpansion: number;
  pfaFeedback: PfaFeedback;

  epochs: number;
  batch: number;
  optimizer: OptimizerName;
  lr: number;
  weightDecay: number;
  /** The weight decay of the first epoch instead of weightDecay (PFA's schedule, family spec §5.3); null: none. */
  weightDecayFirstEpoch: number | null;
  momentum: number;
  amsgrad: boolean;
  /** Multiply the learning rate by this after every epoch (ExponentialLR). */
  lrDecay: number;
  /** 'shared': P̂, Q̂ are stepped by the forward optimiser, with its lr and weight decay (v1 code). */
  feedbackCoupling: FeedbackCoupling;
  feedbackOptimizer: OptimizerName;
  feedbackLr: number;
  feedbackWeightDecay: number;
  /** Clamp the signal each layer sends down to [−c, c] (v1 code); null: off. */
  clipSignal: number | null;
  /** Clamp every parameter gradient to [−c, c] (v4 code); null: off. */
  clipGrad: number | null;
  /** LDFA: clamp the gradients of W, b, P̂, Q̂ of linear layers to [−c, c] (v4 normative code: 10); null: off. */
  clipLinearGrad: number | null;
  /** LDFA: clamp the gradients of P̂, Q̂ of conv layers to [−c, c] (v4 normative code: 0.1); null: off. */
  clipConvFeedbackGrad: number | null;

  seed: number;
  backend: string;
}

export const DEFAULT_CONFIG: TrainConfig = {
  preset: null,
  data: 'mnist', dataDir: null, classes: null, grayscale: false, limitTrain: null, limitTest: null,
  arch: 'mlp', hidden: [256, 256], activation: 'relu', batchNorm: false, init: 'uniform',
  kernel: 3, fc: 1024, patch: 7, dim: 32, depth: 2, heads: 4, mlpRatio: 2, fusedQkv: true,
  rule: 'bp', rank: DEFAULT_LDFA.rank, feedback: 'normative', learn: 'pq', direct: false, feedbackInit: 'auto',
  svdEvery: 0, svd: 'auto', ojaNormalisation: DEFAULT_LDFA.ojaNormalisation,
  ojaEps: DEFAULT_LDFA.ojaEps, ojaEpsConv: DEFAULT_LDFA.ojaEpsConv, ojaOutput: DEFAULT_LDFA.ojaOutput, svdPowerIterations: DEFAULT_LDFA.svdPowerIterations, svdOversample: DEFAULT_LDFA.svdOversample,
  svdPowerIterationsConv: DEFAULT_LDFA.svdPowerIterationsConv, classifierFeedback: DEFAULT_LDFA.classifier,
  usfScale: 'init-std', signMagnitudes: 'uniform', kpInit: 'random',
  mirrorSigma: 0.1, mirrorRate: 0.01, mirrorBatch: null, mirrorWarmup: 'epoch', mirrorGrowthControl: false,
  pfaExpansion: 10, pfaFeedback: 'random',
  epochs: 3, batch: 64, optimizer: 'adam', lr: 1e-3, weightDecay: 0, weightDecayFirstEpoch: null, momentum: 0.9, amsgrad: false, lrDecay: 1,
  feedbackCoupling: 'separate', feedbackOptimizer: 'adam', feedbackLr: 1e-3, feedbackWeightDecay: 0, clipSignal: null, clipGrad: null,
  clipLinearGrad: DEFAULT_LDFA.clipLinearGrad, clipConvFeedbackGrad: DEFAULT_LDFA.clipConvFeedbackGrad,
  seed: 1, backend: 'auto',
};

/**
 * The widths `ldfa train` uses without --hidden: 256,256 for an MLP; a small CNN (16, 32
 * channels, the cnn recipe's quick size) and Retina–VVS (16,16,16,16) that train on 2 cores.
 */
export function defaultHidden(arch: ArchName): number[] {
  return arch === 'cnn' ? [16, 32] : arch === 'retina' ? [16, 16, 16, 16] : [...DEFAULT_CONFIG.hidden];
}

/** The most samples `--data synthetic` draws for --limit-train and --limit-test (64 float64 values each). */
export const SYNTHETIC_MAX_SAMPLES = 1_000_000;

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): void {
  if (!allowed.includes(value as T)) throw new Error(`${flag} '${value}' is not allowed: allowed are ${allowed.join(', ')}`);
}

function positiveInteger(flag: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} must be a positive integer, got ${value}`);
}

function finiteAtLeast(flag: string, value: number, min: number): void {
  if (!Number.isFinite(value) || value < min) throw new Error(`${flag} must be a finite number ≥ ${min}, got ${value}`);
}

export function validateConfig(c: TrainConfig): TrainConfig {
  oneOf('--data', c.data, DATA_NAMES);
  oneOf('--arch', c.arch, ARCH_NAMES);
  oneOf('--rule', c.rule, RULE_NAMES);
  oneOf('--feedback', c.feedback, FEEDBACK_MODES);
  oneOf('--activation', c.activation, ACTIVATION_NAMES);
  oneOf('--init', c.init, INIT_NAMES);
  oneOf('--optimizer', c.optimizer, OPTIMIZER_NAMES);
  oneOf('--feedback-optimizer', c.feedbackOptimizer, OPTIMIZER_NAMES);
  oneOf('--oja-normalisation', c.ojaNormalisation, OJA_NORMALISATIONS);
  oneOf('--oja-output', c.ojaOutput, OJA_OUTPUTS);
  oneOf('--feedback-coupling', c.feedbackCoupling, FEEDBACK_COUPLINGS);
  if (c.preset !== null) oneOf('--preset', c.preset, PRESET_NAMES);
  oneOf('--learn', c.learn, ['pq', 'q']);
  oneOf('--svd', c.svd, ['exact', 'randomized', 'auto']);
  oneOf('--feedback-init', c.feedbackInit, ['svd', 'random', 'auto']);
  positiveInteger('--epochs', c.epochs);
  for (const [flag, v] of [['--kernel', c.kernel], ['--fc', c.fc], ['--patch', c.patch], ['--dim', c.dim], ['--depth', c.depth], ['--heads', c.heads], ['--mlp-ratio', c.mlpRatio]] as const) positiveInteger(flag, v);
  positiveInteger('--batch', c.batch);
  for (const w of c.hidden) positiveInteger('--hidden (each width)', w);
  if (c.limitTrain !== null) positiveInteger('--limit-train', c.limitTrain);
  if (c.limitTest !== null) positiveInteger('--limit-test', c.limitTest);
  if (c.classes !== null) positiveInteger('--classes', c.classes);
  if (c.data === 'synthetic') {
    for (const [flag, v] of [['--limit-train', c.limitTrain], ['--limit-test', c.limitTest]] as const) {
      if (v !== null && v > SYNTHETIC_MAX_SAMPLES) throw new Error(`${flag} ${v} is too large for --data synthetic, which draws that many samples: allowed are 1..${SYNTHETIC_MAX_SAMPLES}`);
    }
  }
  if (c.hidden.length === 0 && c.arch !== 'vit') throw new Error(`--hidden is empty: --arch ${c.arch} needs at least one width (e.g. ${defaultHidden(c.arch).join(',')})`);
  finiteAtLeast('--lr', c.lr, 0);
  finiteAtLeast('--feedback-lr', c.feedbackLr, 0);
  finiteAtLeast('--weight-decay', c.weightDecay, 0);
  if (c.weightDecayFirstEpoch !== null) finiteAtLeast('--weight-decay-first-epoch', c.weightDecayFirstEpoch, 0);
  finiteAtLeast('--feedback-weight-decay', c.feedbackWeightDecay, 0);
  if (!Number.isFinite(c.lrDecay) || c.lrDecay <= 0 || c.lrDecay > 1) throw new Error(`--lr-decay must be in (0, 1], got ${c.lrDecay}`);
  if (!(c.momentum >= 0 && c.momentum < 1)) throw new Error(`--momentum must be in [0, 1), got ${c.momentum}`);
  if (c.clipSignal !== null && !(c.clipSignal > 0 && Number.isFinite(c.clipSignal))) throw new Error(`--clip-signal must be a finite number > 0, got ${c.clipSignal}`);
  for (const [flag, v] of [['--clip-grad', c.clipGrad], ['--clip-linear-grad', c.clipLinearGrad], ['--clip-conv-feedback-grad', c.clipConvFeedbackGrad]] as const) {
    if (v !== null && !(v > 0 && Number.isFinite(v))) throw new Error(`${flag} must be a finite number > 0, got ${v}`);
  }
  finiteAtLeast('--oja-eps', c.ojaEps, 0);
  finiteAtLeast('--oja-eps-conv', c.ojaEpsConv, 0);
  if (!Number.isInteger(c.svdPowerIterations) || c.svdPowerIterations < 0 || c.svdPowerIterations > MAX_SVD_POWER_ITERATIONS) {
    throw new Error(`--svd-power-iterations must be an integer in [0, ${MAX_SVD_POWER_ITERATIONS}] (the authors use 2, some versions 10), got ${c.svdPowerIterations}`);
  }
  if (c.svdPowerIterationsConv !== null && (!Number.isInteger(c.svdPowerIterationsConv) || c.svdPowerIterationsConv < 0 || c.svdPowerIterationsConv > MAX_SVD_POWER_ITERATIONS)) {
    throw new Error(`--svd-power-iterations-conv must be an integer in [0, ${MAX_SVD_POWER_ITERATIONS}], got ${c.svdPowerIterationsConv}`);
  }
  oneOf('--classifier-feedback', c.classifierFeedback, ['ldfa', 'bp']);
  if (!Number.isInteger(c.svdOversample) || c.svdOversample < 0 || c.svdOversample > MAX_SVD_OVERSAMPLE) {
    throw new Error(`--svd-oversample must be an integer in [0, ${MAX_SVD_OVERSAMPLE}] (extra random columns beyond the rank; 5 by default, 0 in the authors' code), got ${c.svdOversample}`);
  }
  if (!Number.isInteger(c.svdEvery) || c.svdEvery < 0) throw new Error(`--svd-every must be an integer ≥ 0, got ${c.svdEvery}`);
  if (!Number.isInteger(c.seed) || c.seed < 0 || c.seed > 0xffffffff) throw new Error(`--seed must be an integer in [0, 4294967295], got ${c.seed}`);
  if (c.grayscale && c.data !== 'cifar10' && c.data !== 'cifar100') throw new Error(`--grayscale converts CIFAR images to one gray channel; --data ${c.data} is not CIFAR (MNIST and Fashion-MNIST are gray already)`);
  if (c.arch === 'linear' && c.activation !== 'relu' && c.activation !== 'identity') {
    throw new Error(`--arch linear has no nonlinearity; drop --activation ${c.activation}`);
  }
  if (c.arch === 'retina') validateRetina(c);
  if (c.rule === 'ldfa') checkLdfaOptions({ ...DEFAULT_LDFA, ...ldfaOptionsOf(c) });
  checkUsfScale(c.usfScale);
  oneOf('--sign-magnitudes', c.signMagnitudes, INIT_NAMES);
  oneOf('--kp-init', c.kpInit, KP_INITS);
  oneOf('--pfa-feedback', c.pfaFeedback, PFA_FEEDBACKS);
  if (c.mirrorBatch !== null) positiveInteger('--mirror-batch', c.mirrorBatch);
  if (c.mirrorWarmup !== 'epoch' && !(Number.isInteger(c.mirrorWarmup) && c.mirrorWarmup >= 0)) throw new Error(`--mirror-warmup must be an integer ≥ 0 (mirror steps) or 'epoch', got ${c.mirrorWarmup}`);
  if (!(c.mirrorSigma > 0 && Number.isFinite(c.mirrorSigma))) throw new Error(`--mirror-sigma must be a finite number > 0, got ${c.mirrorSigma}`);
  if (!(c.mirrorRate > 0 && c.mirrorRate <= 1)) throw new Error(`--mirror-rate must be in (0, 1], got ${c.mirrorRate}`);
  positiveInteger('--pfa-expansion', c.pfaExpansion);
  if (c.pfaFeedback === 'identity' && c.pfaExpansion !== 1) throw new Error(`--pfa-feedback identity is B_p = I, square: it needs --pfa-expansion 1, got ${c.pfaExpansion}`);
  return c;
}

/**
 * Every rule's options a configuration sets. Weight mirrors' warm-up 'epoch' is one epoch's worth
 * of mirror steps, ⌊trainSamples / batch⌋, so it needs the training set's size.
 */
export function ruleOptionsOf(c: TrainConfig, trainSamples?: number): RuleOptions {
  const options: RuleOptions = {
    ldfa: ldfaOptionsOf(c), usf: { scale: c.usfScale, weightInit: c.init }, signMagnitudes: c.signMagnitudes,
    kp: { init: c.kpInit }, pfa: { expansion: c.pfaExpansion, feedback: c.pfaFeedback },
  };
  if (c.rule === 'wm') {
    if (c.mirrorWarmup === 'epoch' && trainSamples === undefined) throw new Error("rule wm with --mirror-warmup epoch needs the training set's size (createTrainer's trainSamples), or give --mirror-warmup STEPS");
    const wm = {
      sigma: c.mirrorSigma, rate: c.mirrorRate, batch: c.mirrorBatch ?? c.batch, growthControl: c.mirrorGrowthControl,
      warmup: c.mirrorWarmup === 'epoch' ? Math.floor(trainSamples! / c.batch) : c.mirrorWarmup,
    };
    checkWmOptions(wm);
    options.wm = wm;
  }
  return options;
}

/** The LDFA rule's options a configuration sets (the rule's defaults fill the rest). */
export function ldfaOptionsOf(c: TrainConfig): Omit<LdfaOptions, 'inject'> {
  return {
    rank: c.rank, mode: c.feedback, learn: c.learn, direct: c.direct, init: resolvedFeedbackInit(c),
    svdEvery: c.svdEvery, svd: c.svd, svdPowerIterations: c.svdPowerIterations, svdPowerIterationsConv: c.svdPowerIterationsConv, svdOversample: c.svdOversample,
    classifier: c.classifierFeedback,
    ojaNormalisation: c.ojaNormalisation, ojaEps: c.ojaEps, ojaEpsConv: c.ojaEpsConv, ojaOutput: c.ojaOutput,
    clipLinearGrad: c.clipLinearGrad, clipConvFeedbackGrad: c.clipConvFeedbackGrad,
  };
}

/** --arch retina: --hidden c,b,v₁[,v₂…] (retina, bottleneck, VVS convs), no batch norm (the model checks the kernel). */
function validateRetina(c: TrainConfig): void {
  if (c.hidden.length < 3) {
    throw new Error(`--arch retina needs --hidden c,b,v1[,v2,…] (retina channels, retina output/bottleneck channels, one width per VVS conv): at least 3 widths, got '${c.hidden.join(',')}'`);
  }
  if (c.batchNorm) throw new Error('--batch-norm is not allowed for --arch retina: the Retina–VVS model has no normalisation (spec §4.2)');
}

/** A configuration stored by an earlier version: the fields added since then take their defaults. */
export function withConfigDefaults(stored: Partial<TrainConfig>): TrainConfig {
  return { ...DEFAULT_CONFIG, ...stored };
}

/** The `ldfa train` flag that sets a config field (fusedQkv is the negation of --separate-qkv). */
export function flagOf(key: keyof TrainConfig): string {
  return key === 'fusedQkv' ? '--separate-qkv' : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

const shown = (v: unknown): string => (v === null ? 'unset' : Array.isArray(v) ? v.join(',') : String(v));

/** The fields in which `now` differs from `before`, as "--lr 0.001 (now 0.01)". */
export function configDifferences(before: TrainConfig, now: TrainConfig): string[] {
  return (Object.keys(now) as (keyof TrainConfig)[])
    .filter((k) => stableJson(before[k] ?? null) !== stableJson(now[k] ?? null))
    .map((k) => `${flagOf(k)} ${shown(before[k])} (now ${shown(now[k])})`);
}

/** Whether two configurations describe the same run (whatever their key order). */
export function sameConfig(a: TrainConfig, b: TrainConfig): boolean {
  return stableJson(a) === stableJson(b);
}

/**
 * The settings that keep a checkpoint (or a sweep's finished run) from being continued by a run
 * configured as `now`: every difference but --epochs and --backend. The backend may change on
 * resume (docs/checkpoints.md): every epoch records the backend that computed it, and the resume
 * says when it changes, since the last digits then differ from an uninterrupted run's.
 */
export function resumeDifferences(before: TrainConfig, now: TrainConfig): string[] {
  return configDifferences({ ...before, epochs: 0, backend: '' }, { ...now, epochs: 0, backend: '' });
}

/** The feedback initialisation that 'auto' means for this mode. */
export function resolvedFeedbackInit(c: TrainConfig): 'svd' | 'random' {
  return c.feedbackInit === 'auto' ? defaultInit(c.feedback) : c.feedbackInit;
}

/** Parses "10" or "full,10,4" for --rank. */
export function parseRank(text: string): RankSpec {
  const parts = text.split(',').map((p) => p.trim());
  const parsed = parts.map((p) => {
    if (p === 'full') return 'full' as const;
    const r = Number(p);
    if (!Number.isInteger(r)) throw new Error(`--rank '${text}': each rank must be an integer or 'full'`);
    return r;
  });
  return parsed.length === 1 ? parsed[0] : parsed;
}
