// What the recipes share: the data and schedule of each scale, user overrides, per-layer rank
// specs, and the comparisons behind the verdicts.
import { DEFAULT_CONFIG, type TrainConfig } from '../../config.ts';
import { buildModel } from '../../models.ts';
import { maxRank, weightMatrixShape, type FeedbackSite } from '../../../reference/models/network.ts';
import { Rng } from '../../../reference/rng.ts';
import { sendingSites } from '../../../reference/rules/rule.ts';
import type { RankSpec } from '../../../reference/rules/ldfa.ts';
import { applyPreset } from '../../presets.ts';
import type { FinishedRun, Overrides, RunSpec, Scale, SweepPlan } from '../sweep.ts';
import type { RecipeReport, Stat } from '../report.ts';

/** The scales a recipe defines itself; `medium` is derived from `quick` (mediumOf). */
export type RecipeScale = Exclude<Scale, 'medium'>;

export interface Recipe {
  name: string;
  title: string;
  /** Spec section and experiment, e.g. "§5.1 E1". */
  source: string;
  /** The runs of one seed; the sweep repeats them for seeds 1..K. */
  runs(scale: RecipeScale, overrides: Overrides): RunSpec[];
  /** Computed from a run's trained model and stored with its result. */
  analyse?: SweepPlan['analyse'];
  /** Seeds when --seeds is not given. */
  defaultSeeds: Record<RecipeScale, number>;
  /** Tables, plots (file name → content) and verdicts from the finished runs. */
  summarise(runs: FinishedRun[], scale: RecipeScale): { report: RecipeBody; files: Record<string, string | Uint8Array> };
}

/** The recipe scale whose runs, seeds and summary a scale uses (medium: quick's). */
export const recipeScale = (scale: Scale): RecipeScale => (scale === 'medium' ? 'quick' : scale);

/** How many times quick's training images (up to the whole set) and epochs medium uses. */
export const MEDIUM = { data: 3, epochs: 2 };

/**
 * A quick run at the medium scale: the same model, ranks, optimiser and per-epoch schedule, on
 * MEDIUM.data × the training images (at most the whole training set), the whole test set and
 * MEDIUM.epochs × the epochs; an SVD re-factorisation every half epoch stays every half epoch.
 */
export function mediumOf(c: TrainConfig): TrainConfig {
  const trainSize = dataShape(c.data, c.grayscale).trainSize;
  const scaled: TrainConfig = {
    ...c,
    limitTrain: c.limitTrain === null ? null : Math.min(trainSize, MEDIUM.data * c.limitTrain),
    limitTest: null,
    epochs: MEDIUM.epochs * c.epochs,
  };
  return { ...scaled, svdEvery: c.svdEvery > 0 && c.svdEvery === halfEpochSteps(c) ? halfEpochSteps(scaled) : c.svdEvery };
}

/** The sweep plan of a recipe at any scale. */
export function planOf(recipe: Recipe): SweepPlan {
  return {
    runs: (scale, overrides) => (scale === 'medium'
      ? recipe.runs('quick', overrides).map((run) => ({ ...run, config: mediumOf(run.config) }))
      : recipe.runs(scale, overrides)),
    analyse: recipe.analyse,
  };
}

export type RecipeBody = Pick<RecipeReport, 'setup' | 'paper' | 'tables' | 'plots' | 'verdicts'>;

/** Per-sample input shape, class count and training-set size of each data set. */
export function dataShape(data: TrainConfig['data'], grayscale = false): { inputShape: number[]; classes: number; trainSize: number } {
  const cifarChannels = grayscale ? 1 : 3;
  switch (data) {
    case 'mnist': case 'fashion': return { inputShape: [1, 28, 28], classes: 10, trainSize: 60000 };
    case 'cifar10': return { inputShape: [cifarChannels, 32, 32], classes: 10, trainSize: 50000 };
    case 'cifar100': return { inputShape: [cifarChannels, 32, 32], classes: 100, trainSize: 50000 };
    case 'synthetic': return { inputShape: [64], classes: 10, trainSize: 5000 };
  }
}

/**
 * The data of a scale: tiny and quick train on MNIST (or --data fashion), full on CIFAR-10 as
 * the paper does (--data-dir is then required). `quick` gives the quick scale's limits.
 */
export function scaleData(scale: RecipeScale, overrides: Overrides, quick: { train: number; test?: number }): Partial<TrainConfig> {
  const data = overrides.data ?? (scale === 'full' ? 'cifar10' : 'mnist');
  if ((data === 'cifar10' || data === 'cifar100') && !overrides.dataDir) {
    throw new Error(`--data ${data}${overrides.data ? '' : ` (the data of --scale ${scale})`} needs --data-dir DIR: the directory of the extracted binary files (${data === 'cifar10' ? 'cifar-10-batches-bin' : 'cifar-100-binary'}); no CIFAR ships with ldfa`);
  }
  const limits = scale === 'tiny' ? { limitTrain: 256, limitTest: 200 }
    : scale === 'quick' ? { limitTrain: quick.train, limitTest: quick.test ?? null }
      : { limitTrain: null, limitTest: null };
  return { data, dataDir: overrides.dataDir ?? null, ...limits };
}

/**
 * A recipe's base configuration with the user's overrides applied (preset conventions, data,
 * feedback mode, backend). The runs then set what they vary (rule, rank, fixed feedback, Q only).
 */
export function configure(base: Partial<TrainConfig>, overrides: Overrides): TrainConfig {
  const c: TrainConfig = { ...DEFAULT_CONFIG, ...base };
  return {
    ...(overrides.preset ? applyPreset(c, overrides.preset, { conventionsOnly: true }) : c),
    ...(overrides.feedback ? { feedback: overrides.feedback } : {}),
    ...(overrides.backend ? { backend: overrides.backend } : {}),
  };
}

/** The layers that send error down in the model a config builds (rank specs index these). */
export function configSendingSites(config: TrainConfig): FeedbackSite[] {
  const { inputShape, classes } = dataShape(config.data, config.grayscale);
  return sendingSites(buildModel(config, inputShape, config.classes ?? classes, new Rng(0)));
}

/** A per-layer rank spec: rank r at sending layer `index`, full rank everywhere else. */
export function oneLayerRank(config: TrainConfig, index: number, r: number): RankSpec {
  return configSendingSites(config).map((_, i) => (i === index ? r : 'full'));
}

/**
 * The CNN experiments' rank ratio (spec §4.2): every conv gets r = c_out / ratio (at least 1),
 * the linear head keeps full rank (the authors' classifier layers stay BP).
 */
export function ratioRanks(config: TrainConfig, ratio: number): RankSpec {
  return configSendingSites(config).map((site) => (site.kind === 'conv'
    ? Math.min(maxRank(site), Math.max(1, Math.floor(weightMatrixShape(site)[0] / ratio)))
    : 'full'));
}

/** BP on the base configuration, then LDFA at each rank (every layer). */
export function bpAndRanks(base: TrainConfig, ranks: readonly number[]): RunSpec[] {
  return [
    { id: 'bp', label: 'BP', tags: { rule: 'bp' }, config: { ...base, rule: 'bp' } },
    ...ranks.map((r) => ({ id: `ldfa-r${r}`, label: `LDFA r=${r}`, tags: { rule: 'ldfa', rank: r }, config: { ...base, rule: 'ldfa' as const, rank: r } })),
  ];
}

/** The element of `values` nearest to `target` (ties: the smaller). */
export function nearest(values: readonly number[], target: number): number {
  return values.reduce((best, v) => (Math.abs(v - target) < Math.abs(best - target) ? v : best));
}

/**
 * Whether mean a is clearly above mean b: by more than two standard errors of the difference
 * and by at least `margin` (0.1 percentage points by default). null: within that band.
 */
export function clearlyAbove(a: Stat, b: Stat, margin = 0.001): boolean | null {
  const se = Math.sqrt(a.std ** 2 / a.n + b.std ** 2 / b.n);
  const band = Math.max(margin, 2 * se);
  const d = a.mean - b.mean;
  return d > band ? true : d < -band ? false : null;
}

/** A run's set-up in words (data, model, optimiser, feedback learning, score) for the report. */
export function describeSetup(c: TrainConfig, model: string, extra = '', score = 'best test accuracy over epochs (v1 protocol)'): string {
  const data = `${c.data}${c.classes ? ` (first ${c.classes} classes)` : ''}${c.limitTrain ? `, first ${c.limitTrain} training images` : ', all training images'}${c.limitTest ? `, first ${c.limitTest} test images` : ', full test set'}`;
  const optimiser = `${c.optimizer} lr ${c.lr}${c.weightDecay ? ` wd ${c.weightDecay}` : ''}${c.lrDecay !== 1 ? ` ×${c.lrDecay}/epoch` : ''}, batch ${c.batch}, ${c.epochs} epoch(s)`;
  const feedback = `LDFA feedback ${c.feedback}${c.feedback === 'normative' && c.svdEvery ? ` (SVD re-factorisation every ${c.svdEvery} steps)` : ''}, feedback optimiser ${c.feedbackOptimizer} lr ${c.feedbackLr}`;
  return `Data: ${data}. Model: ${model}. Training: ${optimiser}. ${feedback}. Score: ${score}, mean ± std over seeds.${extra ? ` ${extra}` : ''}`;
}

/** Half an epoch in optimiser steps: the v4 code's SVD re-factorisation interval (spec §2.3 B). */
export function halfEpochSteps(c: Pick<TrainConfig, 'data' | 'limitTrain' | 'batch'>): number {
  const samples = Math.min(c.limitTrain ?? Infinity, dataShape(c.data).trainSize);
  return Math.max(1, Math.floor(Math.ceil(samples / c.batch) / 2));
}

/**
 * The MLP experiments' set-up (spec §4.1, §5.1 E1–E4): full is the authors' CIFAR-10 MLP
 * (3072-512-512-512-10, batch norm, Adam(amsgrad) lr 6e-4, wd 4e-4, ×0.975 per epoch,
 * batch 32, 160 epochs; no augmentation here); quick is a 256-wide MLP on 8,000 MNIST images
 * for 2 epochs; tiny is a 16-wide one for tests.
 */
export function mlpBase(scale: RecipeScale, overrides: Overrides, hiddenLayers = 3): TrainConfig {
  const width = { tiny: 16, quick: 256, full: 512 }[scale];
  const schedule: Partial<TrainConfig> = {
    tiny: { epochs: 1, batch: 32, lr: 1e-3 },
    quick: { epochs: 2, batch: 64, lr: 1e-3, lrDecay: 0.7 },
    full: { epochs: 160, batch: 32, lr: 6e-4, weightDecay: 4e-4, lrDecay: 0.975, amsgrad: true },
  }[scale];
  const c = configure({
    ...scaleData(scale, overrides, { train: 8000 }),
    arch: 'mlp', hidden: Array<number>(hiddenLayers).fill(width), activation: 'relu', batchNorm: scale !== 'tiny',
    optimizer: 'adam', feedback: 'normative', feedbackLr: 1e-3, ...schedule,
  }, overrides);
  return { ...c, svdEvery: halfEpochSteps(c) };
}

/** All of several verdicts: false if any fails, null if any is inconclusive, else true. */
export function allHold(verdicts: readonly (boolean | null)[]): boolean | null {
  return verdicts.includes(false) ? false : verdicts.includes(null) ? null : true;
}

/** Whether a mean difference (a fraction) is positive beyond `margin` (0.1 points); null within it. */
export function positive(difference: number, margin = 0.001): boolean | null {
  return difference > margin ? true : difference < -margin ? false : null;
}
