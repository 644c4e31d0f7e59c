// A fixture at the user's own sizes (`ldfa fixtures --custom FILE`): the train flags' model and
// rule on a seeded Gaussian batch, plain SGD for a few steps, written like any golden fixture
// (docs/fixture-format.md §11). Nothing is read from disk: --input-shape and --classes stand in
// for a data set.
import { buildModel } from '../src/models.ts';
import { DEFAULT_CONFIG, defaultHidden, ldfaOptionsOf, parseRank, ruleOptionsOf, validateConfig, type PresetName, type TrainConfig } from '../src/config.ts';
import { FAMILY_RULES } from './family-cases.ts';
import { DEFAULT_LDFA } from '../reference/rules/ldfa.ts';
import { applyPreset, presetNamed } from '../src/presets.ts';
import { createRule } from '../reference/rules/index.ts';
import { Rng } from '../reference/rng.ts';
import { gaussianBatch, makeCase, type ArchitectureCase, type FixtureCase, type RuleCase } from './cases.ts';

/** The architectures a custom fixture can have (every one the adapters and the header describe). */
export const CUSTOM_ARCHS = ['linear', 'mlp', 'cnn', 'vit'] as const;

export interface CustomFixtureOptions {
  arch: string;
  /** Comma-separated widths (cnn: channels); absent: the arch's default. */
  hidden?: string;
  activation: string;
  kernel: number;
  patch: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  rule: string;
  feedback: string;
  rank: string;
  feedbackInit: string;
  batch: number;
  steps: number;
  lr: number;
  feedbackLr: number;
  seed: number;
  inputShape: readonly number[];
  classes: number;
  /** An authors' preset (its conventions; the fixture keeps its own SGD schedule), or absent. */
  preset?: string;
  /** The signal each layer sends down clamped to ±c (the v1 code's backward hook), or absent. */
  clipSignal?: number;
  /** Coupled L2 decay λ of the weights (and of KP's B, PFA's R), 0 by default. */
  weightDecay: number;
  /** The family rules' own options (ldfa train's flags; docs/fixture-format.md §12). */
  usfScale: TrainConfig['usfScale'];
  signMagnitudes: string;
  kpInit: string;
  mirrorSigma: number;
  mirrorRate: number;
  /** Noise samples per mirror step; absent: --batch. */
  mirrorBatch?: number;
  pfaExpansion: number;
  pfaFeedback: string;
  /** The LDFA options of `ldfa train` (absent: its default, or the preset's). */
  learn?: string;
  direct?: boolean;
  ojaNormalisation?: string;
  ojaEps?: number;
  ojaEpsConv?: number;
  ojaOutput?: string;
  clipLinearGrad?: number;
  clipConvFeedbackGrad?: number;
  svd?: string;
  svdPowerIterations?: number;
  svdPowerIterationsConv?: number;
  svdOversample?: number;
  svdEvery?: number;
  classifierFeedback?: string;
}

/** The LDFA options a custom fixture takes from `ldfa train` (a key of both CustomFixtureOptions and TrainConfig). */
export const CUSTOM_LDFA_OPTIONS = [
  'learn', 'direct', 'ojaNormalisation', 'ojaEps', 'ojaEpsConv', 'ojaOutput', 'clipLinearGrad', 'clipConvFeedbackGrad',
  'svd', 'svdPowerIterations', 'svdPowerIterationsConv', 'svdOversample', 'svdEvery', 'classifierFeedback',
] as const;

/** The most memory a custom fixture may need (estimated before anything is built). */
export const CUSTOM_MEMORY_LIMIT = 4 * 2 ** 30;

const bytesText = (b: number) => (b >= 2 ** 40 ? `${(b / 2 ** 40).toPrecision(3)} TiB` : b >= 2 ** 30 ? `${(b / 2 ** 30).toPrecision(3)} GiB` : `${(b / 2 ** 20).toPrecision(3)} MiB`);

/**
 * The memory a custom fixture needs, estimated from the sizes alone (nothing is allocated): every
 * parameter and feedback tensor about 4 times (value, gradient, B or P̂Q̂, the stored init) plus its
 * gradient once per recorded step, and per sample every layer's activation about 3 times (output,
 * δ, signal) per step, in float64.
 */
export function estimateFixtureBytes(c: TrainConfig, inputShape: readonly number[], classes: number, steps: number): { bytes: number; parameters: number; activationsPerSample: number } {
  const inputSize = inputShape.reduce((a, b) => a * b, 1);
  let parameters = 0, activations = inputSize;
  if (c.arch === 'linear' || c.arch === 'mlp') {
    const sizes = [inputSize, ...c.hidden, classes];
    for (let i = 1; i < sizes.length; i++) { parameters += sizes[i - 1] * sizes[i] + sizes[i]; activations += 2 * sizes[i]; }
  } else if (c.arch === 'cnn') {
    let [C, H, W] = inputShape;
    for (const out of c.hidden) {
      parameters += out * C * c.kernel * c.kernel + out;
      activations += 2 * out * H * W;
      C = out;
      if (H >= 2 && W >= 2) { H = Math.floor(H / 2); W = Math.floor(W / 2); activations += C * H * W; }
    }
    parameters += C * H * W * classes + classes;
    activations += classes;
  } else {
    const [C, H, W] = inputShape;
    const tokens = Math.max(1, Math.floor(H / c.patch) * Math.floor(W / c.patch)), d = c.dim, m = c.mlpRatio * d;
    parameters = C * c.patch * c.patch * d + tokens * d + c.depth * (4 * d * d + 2 * d * m + 10 * d) + d * classes;
    activations = inputSize + c.depth * tokens * (12 * d + 2 * m + c.heads * tokens) + classes;
  }
  const values = parameters * (4 + steps) + c.batch * activations * (1 + 3 * steps);
  return { bytes: 8 * values, parameters, activationsPerSample: activations };
}

/** The family rules' options of a custom fixture: the rules each applies to (refused under any other). */
const FAMILY_OPTIONS: readonly { option: keyof CustomFixtureOptions; flag: string; rules: readonly string[] }[] = [
  { option: 'usfScale', flag: '--usf-scale', rules: ['usf'] },
  { option: 'signMagnitudes', flag: '--sign-magnitudes', rules: ['brsf', 'frsf'] },
  { option: 'kpInit', flag: '--kp-init', rules: ['kp'] },
  { option: 'mirrorSigma', flag: '--mirror-sigma', rules: ['wm'] },
  { option: 'mirrorRate', flag: '--mirror-rate', rules: ['wm'] },
  { option: 'mirrorBatch', flag: '--mirror-batch', rules: ['wm'] },
  { option: 'pfaExpansion', flag: '--pfa-expansion', rules: ['pfa'] },
  { option: 'pfaFeedback', flag: '--pfa-feedback', rules: ['pfa'] },
];

/** The defaults of `ldfa train`, with the schedule of the committed fixtures and an MNIST-sized input. */
export const DEFAULT_CUSTOM: Omit<CustomFixtureOptions, 'arch' | 'hidden'> = {
  activation: DEFAULT_CONFIG.activation, kernel: DEFAULT_CONFIG.kernel, patch: DEFAULT_CONFIG.patch, dim: DEFAULT_CONFIG.dim,
  depth: DEFAULT_CONFIG.depth, heads: DEFAULT_CONFIG.heads, mlpRatio: DEFAULT_CONFIG.mlpRatio,
  rule: DEFAULT_CONFIG.rule, feedback: DEFAULT_CONFIG.feedback, rank: String(DEFAULT_CONFIG.rank), feedbackInit: DEFAULT_CONFIG.feedbackInit,
  batch: DEFAULT_CONFIG.batch, steps: 3, lr: 0.2, feedbackLr: 0.1, seed: DEFAULT_CONFIG.seed, inputShape: [1, 28, 28], classes: 10,
  weightDecay: 0, usfScale: DEFAULT_CONFIG.usfScale, signMagnitudes: DEFAULT_CONFIG.signMagnitudes, kpInit: DEFAULT_CONFIG.kpInit,
  mirrorSigma: DEFAULT_CONFIG.mirrorSigma, mirrorRate: DEFAULT_CONFIG.mirrorRate, pfaExpansion: DEFAULT_CONFIG.pfaExpansion, pfaFeedback: DEFAULT_CONFIG.pfaFeedback,
};

/**
 * The train configuration the options stand for, validated by the same checks as `ldfa train`.
 * A preset sets its conventions as `ldfa train --preset` does, except what `explicit` names (the
 * flags given); it does not re-factorise within the recorded steps unless --svd-every is given.
 * Sizes whose fixture would not fit in memory are refused first.
 */
export function customConfig(o: CustomFixtureOptions, explicit: ReadonlySet<string> = new Set()): TrainConfig {
  if (!(CUSTOM_ARCHS as readonly string[]).includes(o.arch)) throw new Error(`--arch ${o.arch} is not allowed with --custom: allowed are ${CUSTOM_ARCHS.join(', ')}`);
  const arch = o.arch as TrainConfig['arch'];
  const hidden = o.hidden === undefined ? defaultHidden(arch) : o.hidden.split(',').filter((s) => s.trim() !== '').map(Number);
  if (!Number.isInteger(o.steps) || o.steps < 1 || o.steps > 100) throw new Error(`--steps must be an integer in [1, 100], got ${o.steps}`);
  if (!Number.isInteger(o.classes) || o.classes < 2) throw new Error(`--classes must be an integer ≥ 2, got ${o.classes}`);
  if (o.inputShape.length === 0 || o.inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`--input-shape must be positive integers separated by commas (C,H,W for images, e.g. 1,28,28), got '${o.inputShape.join(',')}'`);
  }
  if ((arch === 'cnn' || arch === 'vit') && o.inputShape.length !== 3) throw new Error(`--arch ${arch} needs images: --input-shape C,H,W (e.g. 1,28,28), got '${o.inputShape.join(',')}'`);
  if (o.batch < 2) throw new Error(`--batch must be at least 2 (Oja's rule and the batch statistics need two samples), got ${o.batch}`);
  if (o.preset !== undefined) {
    presetNamed(o.preset);
    if (o.rule !== 'ldfa') throw new Error(`--preset ${o.preset} sets LDFA conventions: it needs --rule ldfa, got --rule ${o.rule}`);
  }
  const config = validateConfig({
    ...DEFAULT_CONFIG, data: 'synthetic', arch, hidden, activation: o.activation as TrainConfig['activation'],
    kernel: o.kernel, patch: o.patch, dim: o.dim, depth: o.depth, heads: o.heads, mlpRatio: o.mlpRatio,
    rule: o.rule as TrainConfig['rule'], feedback: o.feedback as TrainConfig['feedback'], rank: parseRank(o.rank),
    feedbackInit: o.feedbackInit as TrainConfig['feedbackInit'], batch: o.batch, optimizer: 'sgd', lr: o.lr, momentum: 0,
    feedbackOptimizer: 'sgd', feedbackLr: o.feedbackLr, seed: o.seed, epochs: 1, clipSignal: o.clipSignal ?? null, weightDecay: o.weightDecay,
    usfScale: o.usfScale, signMagnitudes: o.signMagnitudes as TrainConfig['signMagnitudes'], kpInit: o.kpInit as TrainConfig['kpInit'],
    mirrorSigma: o.mirrorSigma, mirrorRate: o.mirrorRate, mirrorBatch: o.mirrorBatch ?? null, mirrorWarmup: 0, mirrorGrowthControl: false,
    pfaExpansion: o.pfaExpansion, pfaFeedback: o.pfaFeedback as TrainConfig['pfaFeedback'],
    ...Object.fromEntries(CUSTOM_LDFA_OPTIONS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]])),
  } as TrainConfig);
  const ignored = FAMILY_OPTIONS.filter((f) => explicit.has(f.option) && !f.rules.includes(config.rule));
  if (ignored.length) throw new Error(ignored.map((f) => `${f.flag} would be ignored: it applies only with --rule ${f.rules.join(' or ')}`).join('; ') + `; drop ${ignored.length > 1 ? 'them' : 'it'} (this fixture: --rule ${config.rule})`);
  if (explicit.has('feedbackLr') && (config.rule === 'kp' || config.rule === 'pfa')) {
    throw new Error(`--feedback-lr would be ignored: under --rule ${config.rule} the learned feedback steps with the weights' --lr and --weight-decay; drop it`);
  }
  checkFixtureSize(config, o);
  if (o.preset === undefined) return config;
  // the preset's SVD method, but no re-factorisation within the recorded steps unless --svd-every says so
  const resolved = validateConfig(applyPreset({ ...config, svdEvery: o.svdEvery ?? 0 }, o.preset as PresetName,
    { keep: new Set([...explicit, 'svdEvery']), conventionsOnly: true }));
  if (resolved.feedbackCoupling === 'shared' && explicit.has('feedbackLr')) {
    throw new Error(`--feedback-lr would be ignored: under --preset ${o.preset} P̂ and Q̂ step with the weights' --lr (one shared optimiser); drop it`);
  }
  return resolved;
}

/** Refuses sizes whose fixture would not fit in memory, before anything is allocated. */
function checkFixtureSize(c: TrainConfig, o: CustomFixtureOptions): void {
  const { bytes, parameters, activationsPerSample } = estimateFixtureBytes(c, o.inputShape, o.classes, o.steps);
  if (bytes <= CUSTOM_MEMORY_LIMIT) return;
  const sizes = `--batch ${c.batch} ${c.arch === 'vit' ? `--dim ${c.dim} --depth ${c.depth} --patch ${c.patch}` : `--hidden ${c.hidden.join(',')}`} --input-shape ${o.inputShape.join(',')} --classes ${o.classes} --steps ${o.steps}`;
  throw new Error(`a fixture of these sizes (${sizes}) would need about ${bytesText(bytes)} of memory `
    + `(${parameters.toExponential(2)} parameters, ${activationsPerSample.toExponential(2)} activations per sample, float64): `
    + `allowed are fixtures estimated at up to ${bytesText(CUSTOM_MEMORY_LIMIT)}; lower --batch, the widths, --input-shape or --classes`);
}

/** The fixture case for the options; throws (naming the flag) on any invalid combination. */
export function customCase(o: CustomFixtureOptions, explicit: ReadonlySet<string> = new Set()): FixtureCase {
  const config = customConfig(o, explicit);
  const shape = o.inputShape.join('×');
  const arch: ArchitectureCase = {
    name: `custom-${config.arch}`,
    description: `--arch ${config.arch}${config.arch === 'vit' ? ` --patch ${config.patch} --dim ${config.dim} --depth ${config.depth} --heads ${config.heads} --mlp-ratio ${config.mlpRatio}` : ` --hidden ${config.hidden.join(',')}`}`
      + `${config.arch === 'mlp' || config.arch === 'cnn' ? ` --activation ${config.activation}` : ''}${config.arch === 'cnn' ? ` --kernel ${config.kernel}` : ''} on ${shape} inputs, ${o.classes} classes (a seeded Gaussian batch)`,
    inputShape: o.inputShape, classes: o.classes, batch: config.batch, seed: config.seed,
    build: (rng) => buildModel(config, o.inputShape, o.classes, rng),
    data(rng) { return gaussianBatch(rng, this.batch, this.inputShape, this.classes); },
  };
  const ldfa = config.rule === 'ldfa' ? { ...DEFAULT_LDFA, ...ldfaOptionsOf(config) } : undefined;
  const family = (FAMILY_RULES as readonly string[]).includes(config.rule) ? ruleOptionsOf(config) : undefined;
  const rule: RuleCase = {
    name: config.preset ?? (ldfa ? `ldfa-${ldfa.mode}` : config.rule), rule: config.rule, ldfa,
    ...(config.clipSignal !== null ? { clipSignal: config.clipSignal } : {}),
    ...(family ? { options: { usf: family.usf, signMagnitudes: family.signMagnitudes, kp: family.kp, wm: family.wm, pfa: family.pfa } } : {}),
    ...(config.weightDecay > 0 ? { weightDecay: config.weightDecay } : {}),
  };
  // Model and rule errors (sizes that do not fit, a rank above a layer's) before any work:
  // build once and attach the rule with a random start, which skips the SVD.
  createRule(rule.rule, { ldfa: ldfa && { ...ldfa, init: 'random' }, ...rule.options }).attach(arch.build(new Rng(config.seed)), new Rng(config.seed));
  // The v1 shared optimiser steps P̂ and Q̂ with the weights' lr, as in the committed preset cases.
  const feedbackLr = config.feedbackCoupling === 'shared' ? config.lr : config.feedbackLr;
  return makeCase(arch, rule, { steps: o.steps, lr: config.lr, feedbackLr });
}
