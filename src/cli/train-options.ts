// The `ldfa train` flags (a contract other tools rely on), their mapping to TrainConfig, and the
// one place that refuses a flag the run would ignore. Values are checked by validateConfig.
import { Command, Option } from 'commander';
import { DEFAULT_CONFIG, FEEDBACK_COUPLINGS, PRESET_NAMES, defaultHidden, parseRank, resolvedFeedbackInit, validateConfig, type TrainConfig } from '../config.ts';
import { applyPreset } from '../presets.ts';
import { BACKEND_NAMES } from '../backends/registry.ts';

/** A commander parser for an integer flag ≥ min ("a positive integer" when min is 1), naming the flag in its error. */
export const integerFlag = (flag: string, min: number) => (text: string): number => {
  const v = Number(text);
  if (text.trim() === '' || !Number.isInteger(v) || v < min) throw new Error(`${flag} must be ${min === 1 ? 'a positive integer' : `an integer ≥ ${min}`}, got '${text}'`);
  return v;
};

/** A commander parser for a number flag: an error quotes the text typed (not NaN); ranges are validateConfig's. */
export const numberFlag = (flag: string) => (text: string): number => {
  const v = Number(text);
  if (text.trim() === '' || Number.isNaN(v)) throw new Error(`${flag} must be a number, got '${text}'`);
  return v;
};

/** A commander parser for a comma-separated list of positive integers (no empty entries), e.g. --hidden 256,256. */
export const positiveIntegerList = (flag: string, example: string) => (text: string): number[] => {
  const allowed = `give positive integers separated by commas, e.g. ${example}`;
  if (text.trim() === '') throw new Error(`${flag} is empty: ${allowed}`);
  return text.split(',').map((part, i) => {
    const v = Number(part.trim());
    if (part.trim() === '' || !Number.isInteger(v) || v < 1) throw new Error(`${flag} '${text}': entry ${i + 1} ('${part}') is not a positive integer; ${allowed}`);
    return v;
  });
};

/** Adds every model/rule/optimiser flag to a command (train and experiment share them). */
export function addTrainFlags(cmd: Command): Command {
  const d = DEFAULT_CONFIG;
  return cmd
    .addOption(new Option('--preset <name>', "the authors' set-up of one version of their code: every convention and training default (docs/conventions.md); explicit flags override it").choices(PRESET_NAMES))
    .addOption(new Option('--data <name>', 'mnist | fashion | synthetic | cifar10 | cifar100').default(d.data))
    .option('--data-dir <dir>', 'directory of the data files: required for cifar10/cifar100 (the extracted binary files); for mnist/fashion, a folder of the four IDX files instead of the installed package')
    .option('--classes <C>', 'keep only the first C classes', numberFlag('--classes'))
    .option('--grayscale', 'CIFAR: convert the images to one gray channel', d.grayscale)
    .option('--limit-train <N>', 'use only the first N training samples', numberFlag('--limit-train'))
    .option('--limit-test <N>', 'use only the first N test samples', numberFlag('--limit-test'))
    .addOption(new Option('--arch <name>', 'linear | mlp | cnn | vit | retina').default(d.arch))
    .option('--hidden <widths>', `hidden widths, comma separated (default ${defaultHidden('mlp').join(',')}); cnn: conv channels (default ${defaultHidden('cnn').join(',')}); retina: retina channels, bottleneck, then one per VVS conv (default ${defaultHidden('retina').join(',')})`, positiveIntegerList('--hidden', '256,256'))
    .addOption(new Option('--activation <f>', 'relu | tanh | identity').default(d.activation))
    .option('--batch-norm', 'batch norm after each hidden linear/conv layer', d.batchNorm)
    .option('--kernel <k>', 'cnn, retina: conv kernel size (odd); --hidden gives the channels', numberFlag('--kernel'), d.kernel)
    .option('--fc <F>', 'retina: width of the fully connected layer before the head', numberFlag('--fc'), d.fc)
    .option('--patch <p>', 'vit: patch size', numberFlag('--patch'), d.patch)
    .option('--dim <D>', 'vit: token width', numberFlag('--dim'), d.dim)
    .option('--depth <L>', 'vit: number of blocks', numberFlag('--depth'), d.depth)
    .option('--heads <H>', 'vit: attention heads', numberFlag('--heads'), d.heads)
    .option('--mlp-ratio <m>', 'vit: MLP hidden width = m·D', numberFlag('--mlp-ratio'), d.mlpRatio)
    .option('--separate-qkv', 'vit: separate q, k, v projections of rank r each (default: one fused qkv of rank 3r)')
    .option('--init <name>', 'weight initialiser: uniform | kaiming-linear | xavier | normal', d.init)
    .addOption(new Option('--rule <name>', 'bp | fa | dfa | ldfa | usf | brsf | frsf | kp | wm | pfa').default(d.rule))
    .option('--rank <R>', "LDFA rank: one number for every layer, 'full', or one per layer (e.g. full,full,10)", String(d.rank))
    .option('--feedback <mode>', 'LDFA feedback learning: fixed | normative | oja | factorised', d.feedback)
    .option('--learn <which>', "LDFA: learn 'pq' (both) or 'q' only", d.learn)
    .option('--direct', 'LDFA: the DFA-style variant (spec §4.4)', d.direct)
    .option('--feedback-init <how>', 'LDFA: svd | random | auto (svd for normative/factorised)', d.feedbackInit)
    .option('--svd-every <K>', 'LDFA normative: re-factorise from the SVD of W every K steps (0 = never)', numberFlag('--svd-every'), d.svdEvery)
    .option('--svd <how>', 'LDFA: SVD for initialisation/re-factorisation: exact | randomized | auto (exact up to min(out,in) 128)', d.svd)
    .option('--oja-normalisation <how>', 'LDFA oja: max-std | max-second-moment | none', d.ojaNormalisation)
    .option('--oja-eps <e>', 'LDFA oja: ε of the normalisation in linear layers', numberFlag('--oja-eps'), d.ojaEps)
    .option('--oja-eps-conv <e>', 'LDFA oja: ε of the normalisation in conv layers', numberFlag('--oja-eps-conv'), d.ojaEpsConv)
    .option('--oja-output <from>', "LDFA oja: the output layer's P̂ learns from its 'error' or from the one-hot 'labels' (v1 MLP code)", d.ojaOutput)
    .option('--svd-power-iterations <q>', 'LDFA: power iterations of the randomized SVD', integerFlag('--svd-power-iterations', 0), d.svdPowerIterations)
    .option('--svd-power-iterations-conv <q>', 'LDFA: power iterations of the randomized SVD of conv layers (default: --svd-power-iterations; v4 code 2, its linear layers 10)', integerFlag('--svd-power-iterations-conv', 0))
    .addOption(new Option('--classifier-feedback <how>', "LDFA on a conv net: the linear classifier sends error down through P̂Q̂ ('ldfa') or exactly through W ('bp', the authors' v1 CNNs; set by --preset authors-v1-cnn)").choices(['ldfa', 'bp']).default(d.classifierFeedback))
    .option('--svd-oversample <p>', 'LDFA: extra random columns of the randomized SVD (r + p sampled; 0 as the authors\' torch.svd_lowrank(q = r))', integerFlag('--svd-oversample', 0), d.svdOversample)
    .option('--usf-scale <c>', "uSF: c in B = c·sign(W): 'init-std' (the std W was drawn with), 'unit', or a number > 0", usfScaleFlag, d.usfScale)
    .option('--sign-magnitudes <init>', "brSF, frSF: the distribution of the magnitudes M: uniform (FA's B) | kaiming-linear | xavier (biotorch) | normal", d.signMagnitudes)
    .option('--kp-init <how>', "KP: B₀ drawn like FA's B ('random') or B₀ = W₀ ('weights', exactly BP)", d.kpInit)
    .option('--mirror-sigma <s>', 'weight mirrors: std σ of the mirror noise', numberFlag('--mirror-sigma'), d.mirrorSigma)
    .option('--mirror-rate <rho>', 'weight mirrors: B ← (1 − ρ)B + ρ·yᵀx/(Nσ²) per mirror step', numberFlag('--mirror-rate'), d.mirrorRate)
    .option('--mirror-batch <N>', 'weight mirrors: noise samples per mirror step (default: --batch)', integerFlag('--mirror-batch', 1))
    .option('--mirror-warmup <M>', "weight mirrors: mirror steps before training, or 'epoch' (one epoch's worth)", mirrorWarmupFlag, d.mirrorWarmup)
    .option('--mirror-growth-control', 'weight mirrors: rescale B after each mirror step so its noise response has mean std 0.5 (biotorch\'s unreleased code)', d.mirrorGrowthControl)
    .option('--pfa-expansion <k>', 'PFA: the middle population has k·out units', integerFlag('--pfa-expansion', 1), d.pfaExpansion)
    .option('--pfa-feedback <how>', 'PFA: B_p random (variance 1/(k·out)) | identity (k = 1) | orthogonal (orthonormal rows)', d.pfaFeedback)
    .option('--epochs <E>', 'epochs', numberFlag('--epochs'), d.epochs)
    .option('--batch <B>', 'batch size', numberFlag('--batch'), d.batch)
    .option('--optimizer <name>', 'sgd | adam | adamw', d.optimizer)
    .option('--lr <LR>', 'learning rate', numberFlag('--lr'), d.lr)
    .option('--weight-decay <wd>', 'weight decay', numberFlag('--weight-decay'), d.weightDecay)
    .option('--weight-decay-first-epoch <wd>', 'the weight decay of epoch 1 only (then --weight-decay): PFA\'s warm-up schedule, e.g. 0.03 then 9e-5 on MNIST', numberFlag('--weight-decay-first-epoch'))
    .option('--momentum <m>', 'SGD momentum', numberFlag('--momentum'), d.momentum)
    .option('--amsgrad', 'Adam: AMSGrad variant', d.amsgrad)
    .option('--no-amsgrad', 'Adam: not the AMSGrad variant (overrides a preset)')
    .option('--lr-decay <gamma>', 'multiply the learning rate by gamma after each epoch', numberFlag('--lr-decay'), d.lrDecay)
    .addOption(new Option('--feedback-coupling <how>', "LDFA: P̂, Q̂ stepped by their own optimiser ('separate') or by the forward one with its lr and decay ('shared', v1 code)").choices(FEEDBACK_COUPLINGS).default(d.feedbackCoupling))
    .option('--feedback-optimizer <name>', 'optimiser of P̂, Q̂: sgd | adam | adamw', d.feedbackOptimizer)
    .option('--feedback-lr <LR>', 'learning rate of P̂, Q̂', numberFlag('--feedback-lr'), d.feedbackLr)
    .option('--feedback-weight-decay <wd>', 'weight decay of P̂, Q̂', numberFlag('--feedback-weight-decay'), d.feedbackWeightDecay)
    .option('--clip-signal <c>', 'clamp the signal each layer sends down to [-c, c]', numberFlag('--clip-signal'))
    .option('--clip-grad <c>', 'clamp every parameter gradient to [-c, c]', numberFlag('--clip-grad'))
    .option('--clip-linear-grad <c>', 'LDFA: clamp the gradients of W, b, P̂, Q̂ of linear layers to [-c, c] (v4 normative code: 10)', numberFlag('--clip-linear-grad'))
    .option('--clip-conv-feedback-grad <c>', 'LDFA: clamp the gradients of P̂, Q̂ of conv layers to [-c, c] (v4 normative code: 0.1)', numberFlag('--clip-conv-feedback-grad'))
    .option('--seed <S>', 'random seed', numberFlag('--seed'), d.seed)
    .option('--backend <name>', BACKEND_NAMES.join(' | '), d.backend);
}

/** --usf-scale: init-std, unit, or a number (its range is validateConfig's). */
function usfScaleFlag(text: string): TrainConfig['usfScale'] {
  if (text === 'init-std' || text === 'unit') return text;
  const v = Number(text);
  if (text.trim() === '' || Number.isNaN(v)) throw new Error(`--usf-scale must be init-std, unit or a number > 0, got '${text}'`);
  return v;
}

/** --mirror-warmup: a number of mirror steps, or 'epoch'. */
function mirrorWarmupFlag(text: string): TrainConfig['mirrorWarmup'] {
  return text === 'epoch' ? text : integerFlag('--mirror-warmup', 0)(text);
}

type Flags = Record<string, unknown>;

const adamLike = (name: TrainConfig['optimizer']) => name === 'adam' || name === 'adamw';
const ldfa = (c: TrainConfig) => c.rule === 'ldfa';
const hasConv = (c: TrainConfig) => c.arch === 'cnn' || c.arch === 'retina';

/**
 * When each flag takes effect, by commander's option name: a flag given where the run would
 * ignore it is refused (refuseIgnoredFlags), naming where it applies. A new flag that applies
 * only sometimes gets a row here.
 */
export const FLAG_SCOPE: readonly { option: string; flag: string; used: (c: TrainConfig) => boolean; where: string }[] = [
  { option: 'dataDir', flag: '--data-dir', used: (c) => c.data !== 'synthetic', where: '--data mnist, fashion, cifar10 or cifar100 (synthetic data are generated)' },
  { option: 'hidden', flag: '--hidden', used: (c) => c.arch !== 'vit', where: '--arch linear, mlp, cnn or retina (a vit\'s widths are --dim, --depth, --heads, --mlp-ratio)' },
  { option: 'activation', flag: '--activation', used: (c) => c.arch !== 'vit' && c.arch !== 'linear', where: '--arch mlp, cnn or retina (linear has none, vit uses GELU)' },
  { option: 'batchNorm', flag: '--batch-norm', used: (c) => c.arch === 'mlp' || c.arch === 'cnn', where: '--arch mlp or cnn' },
  { option: 'kernel', flag: '--kernel', used: (c) => c.arch === 'cnn' || c.arch === 'retina', where: '--arch cnn or retina' },
  { option: 'fc', flag: '--fc', used: (c) => c.arch === 'retina', where: '--arch retina' },
  ...(['patch', 'dim', 'depth', 'heads', 'mlpRatio', 'separateQkv'] as const).map((option) => ({
    option, flag: `--${option.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`, used: (c: TrainConfig) => c.arch === 'vit', where: '--arch vit',
  })),
  ...(['rank', 'feedback', 'learn', 'direct', 'feedbackInit', 'feedbackCoupling', 'clipLinearGrad'] as const).map((option) => ({
    option, flag: `--${option.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`, used: ldfa, where: '--rule ldfa',
  })),
  ...(['feedbackOptimizer', 'feedbackLr', 'feedbackWeightDecay'] as const).map((option) => ({
    option, flag: `--${option.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`, used: (c: TrainConfig) => ldfa(c) && c.feedbackCoupling === 'separate',
    where: '--rule ldfa --feedback-coupling separate (shared steps P̂, Q̂ with the forward optimiser\'s settings)',
  })),
  ...(['ojaEps', 'ojaOutput'] as const).map((option) => ({
    option, flag: `--${option.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`, used: (c: TrainConfig) => ldfa(c) && c.feedback === 'oja', where: '--rule ldfa --feedback oja',
  })),
  { option: 'ojaEpsConv', flag: '--oja-eps-conv', used: (c) => ldfa(c) && c.feedback === 'oja' && hasConv(c), where: '--rule ldfa --feedback oja on a net with conv layers (--arch cnn or retina)' },
  { option: 'classifierFeedback', flag: '--classifier-feedback', used: (c) => ldfa(c) && hasConv(c), where: '--rule ldfa on a net with conv layers (--arch cnn or retina)' },
  {
    option: 'svdPowerIterationsConv', flag: '--svd-power-iterations-conv',
    used: (c) => ldfa(c) && hasConv(c) && c.svd !== 'exact' && (resolvedFeedbackInit(c) === 'svd' || (c.feedback === 'normative' && c.svdEvery > 0)),
    where: '--rule ldfa on a net with conv layers with a randomized SVD (--svd randomized or auto) for the initialisation or --svd-every K',
  },
  { option: 'clipConvFeedbackGrad', flag: '--clip-conv-feedback-grad', used: (c) => ldfa(c) && hasConv(c), where: '--rule ldfa on a net with conv layers (--arch cnn or retina)' },
  ...(['svdPowerIterations', 'svdOversample'] as const).map((option) => ({
    option, flag: `--${option.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`,
    used: (c: TrainConfig) => ldfa(c) && c.svd !== 'exact' && (resolvedFeedbackInit(c) === 'svd' || (c.feedback === 'normative' && c.svdEvery > 0)),
    where: '--rule ldfa with a randomized SVD (--svd randomized or auto) for the initialisation or --svd-every K',
  })),
  { option: 'svdEvery', flag: '--svd-every', used: (c) => ldfa(c) && c.feedback === 'normative', where: '--rule ldfa --feedback normative' },
  { option: 'ojaNormalisation', flag: '--oja-normalisation', used: (c) => ldfa(c) && c.feedback === 'oja', where: '--rule ldfa --feedback oja' },
  {
    option: 'svd', flag: '--svd', used: (c) => ldfa(c) && (resolvedFeedbackInit(c) === 'svd' || (c.feedback === 'normative' && c.svdEvery > 0)),
    where: '--rule ldfa with SVD initialisation (--feedback-init svd, the default of normative and factorised) or --svd-every K',
  },
  { option: 'usfScale', flag: '--usf-scale', used: (c) => c.rule === 'usf', where: '--rule usf' },
  { option: 'signMagnitudes', flag: '--sign-magnitudes', used: (c) => c.rule === 'brsf' || c.rule === 'frsf', where: '--rule brsf or frsf' },
  { option: 'kpInit', flag: '--kp-init', used: (c) => c.rule === 'kp', where: '--rule kp' },
  ...(['mirrorSigma', 'mirrorRate', 'mirrorBatch', 'mirrorWarmup', 'mirrorGrowthControl'] as const).map((option) => ({
    option, flag: `--${option.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`, used: (c: TrainConfig) => c.rule === 'wm', where: '--rule wm',
  })),
  ...(['pfaExpansion', 'pfaFeedback'] as const).map((option) => ({
    option, flag: `--${option.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`, used: (c: TrainConfig) => c.rule === 'pfa', where: '--rule pfa',
  })),
  { option: 'momentum', flag: '--momentum', used: (c) => c.optimizer === 'sgd' || (ldfa(c) && c.feedbackOptimizer === 'sgd'), where: '--optimizer sgd (or --feedback-optimizer sgd)' },
  { option: 'amsgrad', flag: '--amsgrad', used: (c) => adamLike(c.optimizer) || (ldfa(c) && adamLike(c.feedbackOptimizer)), where: '--optimizer adam or adamw (or the same --feedback-optimizer)' },
];

/** Refuses every flag that was given (`given(option)`) but that this configuration would ignore. */
export function refuseIgnoredFlags(c: TrainConfig, given: (option: string) => boolean): void {
  if (given('ojaOutput') && c.ojaOutput === 'labels' && c.learn === 'q') {
    throw new Error("--oja-output labels would be ignored: it sets how the output layer's P̂ learns and --learn q keeps P̂ fixed (use --learn pq)");
  }
  const ignored = FLAG_SCOPE.filter((s) => given(s.option) && !s.used(c));
  if (ignored.length > 0) {
    throw new Error(ignored.map((s) => `${s.flag} would be ignored: it applies only with ${s.where}`).join('; ') + `; drop ${ignored.length > 1 ? 'them' : 'it'} (this run: --arch ${c.arch} --rule ${c.rule}${ldfa(c) ? ` --feedback ${c.feedback}` : ''} --optimizer ${c.optimizer} --data ${c.data})`);
  }
}

/**
 * The validated configuration a command's flags describe, with --preset resolved (the flags given
 * explicitly win over it); a flag the run would ignore is refused.
 */
export function configFromCommand(cmd: Command): TrainConfig {
  const given = (option: string) => cmd.getOptionValueSource(option) === 'cli';
  const flags = configFromFlags(cmd.opts());
  const explicit = new Set(cmd.options.map((o) => o.attributeName()).filter(given));
  const config = validateConfig(flags.preset ? applyPreset(flags, flags.preset, { keep: explicit }) : flags);
  refuseIgnoredFlags(config, given);
  return config;
}

export function configFromFlags(o: Flags): TrainConfig {
  return {
    preset: (o.preset as TrainConfig['preset'] | undefined) ?? null,
    data: o.data as TrainConfig['data'],
    dataDir: (o.dataDir as string | undefined) ?? null,
    classes: (o.classes as number | undefined) ?? null,
    grayscale: Boolean(o.grayscale),
    limitTrain: (o.limitTrain as number | undefined) ?? null,
    limitTest: (o.limitTest as number | undefined) ?? null,
    arch: o.arch as TrainConfig['arch'],
    hidden: (o.hidden as number[] | undefined) ?? defaultHidden(o.arch as TrainConfig['arch']),
    activation: o.activation as TrainConfig['activation'],
    batchNorm: Boolean(o.batchNorm),
    init: o.init as TrainConfig['init'],
    kernel: o.kernel as number,
    fc: o.fc as number,
    patch: o.patch as number,
    dim: o.dim as number,
    depth: o.depth as number,
    heads: o.heads as number,
    mlpRatio: o.mlpRatio as number,
    fusedQkv: !o.separateQkv,
    rule: o.rule as TrainConfig['rule'],
    rank: parseRank(o.rank as string),
    feedback: o.feedback as TrainConfig['feedback'],
    learn: o.learn as TrainConfig['learn'],
    direct: Boolean(o.direct),
    feedbackInit: o.feedbackInit as TrainConfig['feedbackInit'],
    svdEvery: o.svdEvery as number,
    svd: o.svd as TrainConfig['svd'],
    ojaNormalisation: o.ojaNormalisation as TrainConfig['ojaNormalisation'],
    ojaEps: o.ojaEps as number,
    ojaEpsConv: o.ojaEpsConv as number,
    ojaOutput: o.ojaOutput as TrainConfig['ojaOutput'],
    svdPowerIterations: o.svdPowerIterations as number,
    svdOversample: o.svdOversample as number,
    svdPowerIterationsConv: (o.svdPowerIterationsConv as number | undefined) ?? null,
    classifierFeedback: o.classifierFeedback as TrainConfig['classifierFeedback'],
    usfScale: o.usfScale as TrainConfig['usfScale'],
    signMagnitudes: o.signMagnitudes as TrainConfig['signMagnitudes'],
    kpInit: o.kpInit as TrainConfig['kpInit'],
    mirrorSigma: o.mirrorSigma as number,
    mirrorRate: o.mirrorRate as number,
    mirrorBatch: (o.mirrorBatch as number | undefined) ?? null,
    mirrorWarmup: o.mirrorWarmup as TrainConfig['mirrorWarmup'],
    mirrorGrowthControl: Boolean(o.mirrorGrowthControl),
    pfaExpansion: o.pfaExpansion as number,
    pfaFeedback: o.pfaFeedback as TrainConfig['pfaFeedback'],
    epochs: o.epochs as number,
    batch: o.batch as number,
    optimizer: o.optimizer as TrainConfig['optimizer'],
    lr: o.lr as number,
    weightDecay: o.weightDecay as number,
    weightDecayFirstEpoch: (o.weightDecayFirstEpoch as number | undefined) ?? null,
    momentum: o.momentum as number,
    amsgrad: Boolean(o.amsgrad),
    lrDecay: o.lrDecay as number,
    feedbackCoupling: o.feedbackCoupling as TrainConfig['feedbackCoupling'],
    feedbackOptimizer: o.feedbackOptimizer as TrainConfig['feedbackOptimizer'],
    feedbackLr: o.feedbackLr as number,
    feedbackWeightDecay: o.feedbackWeightDecay as number,
    clipSignal: (o.clipSignal as number | undefined) ?? null,
    clipGrad: (o.clipGrad as number | undefined) ?? null,
    clipLinearGrad: (o.clipLinearGrad as number | undefined) ?? null,
    clipConvFeedbackGrad: (o.clipConvFeedbackGrad as number | undefined) ?? null,
    seed: o.seed as number,
    backend: o.backend as string,
  };
}
