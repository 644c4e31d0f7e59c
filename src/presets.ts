// The authors' set-ups, one preset per version of their code (spec §2.3, §2.4, §5.1, §5.1b, §5.2).
// `--preset NAME` sets every convention and training default of that version; flags given
// explicitly override it. docs/conventions.md has the same table with the spec source of each.
//
// A preset has two parts:
//   conventions  how the feedback learns and is optimised (rule, Oja normalisation and ε, output
//                variant, clamps, initialisation, SVD method and schedule, optimiser coupling);
//   training     the forward optimiser's settings of that version (lr, weight decay, decay, batch).
// `ldfa train` applies both; an experiment recipe applies the conventions only and keeps its own
// schedule, so that a re-run differs from the recipe's numbers by the conventions alone.
import type { ArchName, PresetName, TrainConfig } from './config.ts';
import { PRESET_NAMES } from './config.ts';
import { halfEpochSteps } from './experiments/recipes/common.ts';

/** The settings a preset may set: these keys of TrainConfig, svdEvery also as 'half-epoch'. */
export type PresetSettings = Partial<Omit<TrainConfig, 'svdEvery'>> & { svdEvery?: number | 'half-epoch' };

export interface Preset {
  name: PresetName;
  /** One line: which code and experiments it stands for. */
  description: string;
  /** The architectures that version of the code trained; any other is refused. */
  arches: readonly ArchName[];
  conventions: PresetSettings;
  /** Per architecture (the v4 code has one configuration per model family). */
  training: Partial<Record<ArchName, PresetSettings>>;
}

/** v1 code (LDFA@main, Sep 2024 – Jan 2025): Oja for P̂, Q̂ ← zᵀx, random factors, one shared Adam. */
const V1_CONVENTIONS: PresetSettings = {
  feedback: 'oja', feedbackInit: 'random', ojaNormalisation: 'max-std', ojaEps: 1e-8, ojaEpsConv: 1e-6,
  clipSignal: 1, clipLinearGrad: null, clipConvFeedbackGrad: null, feedbackCoupling: 'shared', svdEvery: 0,
};

/** v4 code (Low-Dimensional-Feedback): SVD-initialised factors, torch.svd_lowrank(q = r) (no oversampling), own AdamW. */
const V4_SVD: PresetSettings = { feedbackInit: 'svd', svd: 'randomized', svdOversample: 0, feedbackCoupling: 'separate', feedbackOptimizer: 'adamw' };

export const PRESETS: Record<PresetName, Preset> = {
  'authors-v1-mlp': {
    name: 'authors-v1-mlp',
    description: 'the v1 MLP experiments (FC_rAFA, spec §5.1 E1–E3, §5.1b): Oja with label-driven output layer, ±1 signal clamp, one Adam(amsgrad) for W, P̂, Q̂',
    arches: ['mlp'],
    conventions: { ...V1_CONVENTIONS, ojaOutput: 'labels' },
    training: { mlp: { optimizer: 'adam', amsgrad: true, lr: 6e-4, weightDecay: 4e-4, lrDecay: 0.975, batch: 32, init: 'uniform' } },
  },
  'authors-v1-cnn': {
    name: 'authors-v1-cnn',
    description: 'the v1 CNN experiments (rAFA_conv, train_CNN_VGG, spec §5.1 E5, §5.1b): Oja in the conv layers (ε 1e-6), the linear classifier exact BP, ±1 signal clamp, one Adam for W, P̂, Q̂',
    arches: ['cnn'],
    // Their v1 CNNs' classifiers are plain nn.Linear: exact BP, no P̂, Q̂ (spec §4.2; --classifier-feedback ldfa for the old behaviour)
    conventions: { ...V1_CONVENTIONS, ojaOutput: 'error', classifierFeedback: 'bp' },
    training: { cnn: { optimizer: 'adam', amsgrad: false, lr: 5e-4, weightDecay: 5e-5, lrDecay: 0.98, batch: 64, init: 'uniform' } },
  },
  'authors-v4-normative': {
    name: 'authors-v4-normative',
    description: 'the v4 normative code (opt_layers LDFA_Linear/LDFA_Conv, spec §2.3 B, §5.2): E-rule between SVD re-factorisations every half epoch, gradient clamps ±10 (linear) and ±0.1 (conv P̂, Q̂), own AdamW for P̂, Q̂',
    arches: ['vit', 'cnn'],
    // LDFA_Linear: torch.svd_lowrank(W, q = r, niter = 10); LDFA_Conv: niter = 2 (Low-Dimensional-Feedback 0862d80)
    conventions: { ...V4_SVD, svdPowerIterations: 10, svdPowerIterationsConv: 2, feedback: 'normative', svdEvery: 'half-epoch', clipSignal: null, clipLinearGrad: 10, clipConvFeedbackGrad: 0.1, feedbackWeightDecay: 0 },
    training: {
      vit: { optimizer: 'adamw', lr: 3e-4, weightDecay: 0.1, lrDecay: 1, batch: 256, feedbackLr: 0.015 },
      cnn: { optimizer: 'adamw', lr: 5e-4, weightDecay: 5e-5, lrDecay: 1, batch: 64, feedbackLr: 0.01 },
    },
  },
  'authors-v4-bio': {
    name: 'authors-v4-bio',
    description: 'the v4 "bio" code (bio_layers LDFA_Linear, train_vit_bio, spec §2.3 C2, §5.2): factorised gradients from an SVD start, no re-factorisation, own AdamW with weight decay 0.1',
    arches: ['vit'],
    conventions: { ...V4_SVD, svdPowerIterations: 2, svdPowerIterationsConv: null, feedback: 'factorised', svdEvery: 0, clipSignal: null, clipLinearGrad: null, clipConvFeedbackGrad: null, feedbackWeightDecay: 0.1 },
    training: { vit: { optimizer: 'adamw', lr: 5e-4, weightDecay: 0.1, lrDecay: 1, batch: 256, feedbackLr: 5e-4 } },
  },
};

export function presetNamed(name: string): Preset {
  if (!(PRESET_NAMES as readonly string[]).includes(name)) throw new Error(`--preset '${name}' is not allowed: allowed are ${PRESET_NAMES.join(', ')}`);
  return PRESETS[name as PresetName];
}

/** Refuses a preset whose version of the code never trained this architecture. */
export function checkPresetFits(preset: Preset, arch: ArchName): void {
  if (!preset.arches.includes(arch)) {
    throw new Error(`--preset ${preset.name} is the authors' set-up for --arch ${preset.arches.join(' or ')}, not --arch ${arch}; `
      + `presets for ${arch}: ${Object.values(PRESETS).filter((p) => p.arches.includes(arch)).map((p) => p.name).join(', ') || 'none'}`);
  }
}

/**
 * The configuration under a preset: every setting of the preset (conventions, and the training
 * defaults unless `conventionsOnly`) replaces the config's, except the keys in `keep` (the flags
 * given explicitly, or what a recipe varies). 'half-epoch' becomes half an epoch in steps.
 */
export function applyPreset(config: TrainConfig, name: PresetName, options: { keep?: ReadonlySet<string>; conventionsOnly?: boolean } = {}): TrainConfig {
  const preset = presetNamed(name);
  checkPresetFits(preset, config.arch);
  const settings: PresetSettings = { ...preset.conventions, ...(options.conventionsOnly ? {} : preset.training[config.arch]) };
  const chosen = Object.fromEntries(Object.entries(settings).filter(([key]) => !options.keep?.has(key))) as PresetSettings;
  const { svdEvery, ...rest } = chosen;
  const resolved: TrainConfig = { ...config, ...rest, preset: name };
  return svdEvery === undefined ? resolved : { ...resolved, svdEvery: svdEvery === 'half-epoch' ? halfEpochSteps(resolved) : svdEvery };
}
