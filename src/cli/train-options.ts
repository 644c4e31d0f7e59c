// The `ldfa train` flags (a contract other tools rely on) and their mapping to TrainConfig.
import { Command, Option } from 'commander';
import { DEFAULT_CONFIG, FEEDBACK_COUPLINGS, PRESET_NAMES, parseRank, resolvedFeedbackInit, type TrainConfig } from '../config.ts';
import { applyPreset } from '../presets.ts';

const list = (text: string): number[] => text.split(',').filter((s) => s.trim() !== '').map((s) => Number(s));
const num = (text: string): number => Number(text);

/** A commander parser for an integer flag ≥ min ("a positive integer" when min is 1), naming the flag in its error. */
export const integerFlag = (flag: string, min: number) => (text: string): number => {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new Error(`${flag} must be ${min === 1 ? 'a positive integer' : `an integer ≥ ${min}`}, got '${text}'`);
  return v;
};

/** Adds every model/rule/optimiser flag to a command (train and experiment share them). */
export function addTrainFlags(cmd: Command): Command {
  const d = DEFAULT_CONFIG;
  return cmd
    .addOption(new Option('--preset <name>', "the authors' set-up of one version of their code: every convention and training default (docs/conventions.md); explicit flags override it").choices(PRESET_NAMES))
    .addOption(new Option('--data <name>', 'mnist | fashion | synthetic | cifar10 | cifar100').default(d.data))
    .option('--data-dir <dir>', 'directory of the CIFAR binary files (cifar10/cifar100)')
    .option('--classes <C>', 'keep only the first C classes', num)
    .option('--grayscale', 'CIFAR: convert the images to one gray channel', d.grayscale)
    .option('--limit-train <N>', 'use only the first N training samples', num)
    .option('--limit-test <N>', 'use only the first N test samples', num)
    .addOption(new Option('--arch <name>', 'linear | mlp | cnn | vit | retina').default(d.arch))
    .option('--hidden <widths>', 'hidden widths, comma separated (cnn: conv channels; retina: retina channels, bottleneck, then one per VVS conv)', d.hidden.join(','))
    .addOption(new Option('--activation <f>', 'relu | tanh | identity').default(d.activation))
    .option('--batch-norm', 'batch norm after each hidden linear/conv layer', d.batchNorm)
    .option('--kernel <k>', 'cnn, retina: conv kernel size (odd); --hidden gives the channels', num, d.kernel)
    .option('--fc <F>', 'retina: width of the fully connected layer before the head', num, d.fc)
    .option('--patch <p>', 'vit: patch size', num, d.patch)
    .option('--dim <D>', 'vit: token width', num, d.dim)
    .option('--depth <L>', 'vit: number of blocks', num, d.depth)
    .option('--heads <H>', 'vit: attention heads', num, d.heads)
    .option('--mlp-ratio <m>', 'vit: MLP hidden width = m·D', num, d.mlpRatio)
    .option('--separate-qkv', 'vit: separate q, k, v projections of rank r each (default: one fused qkv of rank 3r)')
    .option('--init <name>', 'weight initialiser: uniform | kaiming-linear | xavier | normal', d.init)
    .addOption(new Option('--rule <name>', 'bp | fa | dfa | ldfa').default(d.rule))
    .option('--rank <R>', "LDFA rank: one number for every layer, 'full', or one per layer (e.g. full,full,10)", String(d.rank))
    .option('--feedback <mode>', 'LDFA feedback learning: fixed | normative | oja | factorised', d.feedback)
    .option('--learn <which>', "LDFA: learn 'pq' (both) or 'q' only", d.learn)
    .option('--direct', 'LDFA: the DFA-style variant (spec §4.4)', d.direct)
    .option('--feedback-init <how>', 'LDFA: svd | random | auto (svd for normative/factorised)', d.feedbackInit)
    .option('--svd-every <K>', 'LDFA normative: re-factorise from the SVD of W every K steps (0 = never)', num, d.svdEvery)
    .option('--svd <how>', 'LDFA: SVD for initialisation/re-factorisation: exact | randomized | auto (exact up to min(out,in) 128)', d.svd)
    .option('--oja-normalisation <how>', 'LDFA oja: max-std | max-second-moment | none', d.ojaNormalisation)
    .option('--oja-eps <e>', "LDFA oja: ε of the normalisation in linear layers", num, d.ojaEps)
    .option('--oja-eps-conv <e>', "LDFA oja: ε of the normalisation in conv layers", num, d.ojaEpsConv)
    .option('--oja-output <from>', "LDFA oja: the output layer's P̂ learns from its 'error' or from the one-hot 'labels' (v1 MLP code)", d.ojaOutput)
    .option('--svd-power-iterations <q>', 'LDFA: power iterations of the randomized SVD', integerFlag('--svd-power-iterations', 0), d.svdPowerIterations)
    .option('--epochs <E>', 'epochs', num, d.epochs)
    .option('--batch <B>', 'batch size', num, d.batch)
    .option('--optimizer <name>', 'sgd | adam | adamw', d.optimizer)
    .option('--lr <LR>', 'learning rate', num, d.lr)
    .option('--weight-decay <wd>', 'weight decay', num, d.weightDecay)
    .option('--momentum <m>', 'SGD momentum', num, d.momentum)
    .option('--amsgrad', 'Adam: AMSGrad variant', d.amsgrad)
    .option('--no-amsgrad', 'Adam: not the AMSGrad variant (overrides a preset)')
    .option('--lr-decay <gamma>', 'multiply the learning rate by gamma after each epoch', num, d.lrDecay)
    .addOption(new Option('--feedback-coupling <how>', "LDFA: P̂, Q̂ stepped by their own optimiser ('separate') or by the forward one with its lr and decay ('shared', v1 code)").choices(FEEDBACK_COUPLINGS).default(d.feedbackCoupling))
    .option('--feedback-optimizer <name>', 'optimiser of P̂, Q̂: sgd | adam | adamw', d.feedbackOptimizer)
    .option('--feedback-lr <LR>', 'learning rate of P̂, Q̂', num, d.feedbackLr)
    .option('--feedback-weight-decay <wd>', 'weight decay of P̂, Q̂', num, d.feedbackWeightDecay)
    .option('--clip-signal <c>', 'clamp the signal each layer sends down to [-c, c]', num)
    .option('--clip-grad <c>', 'clamp every parameter gradient to [-c, c]', num)
    .option('--clip-linear-grad <c>', 'LDFA: clamp the gradients of W, b, P̂, Q̂ of linear layers to [-c, c] (v4 normative code: 10)', num)
    .option('--clip-conv-feedback-grad <c>', 'LDFA: clamp the gradients of P̂, Q̂ of conv layers to [-c, c] (v4 normative code: 0.1)', num)
    .option('--seed <S>', 'random seed', num, d.seed)
    .option('--backend <name>', 'auto | reference | wasm | gpujs | gpujs-cpu | gpujs-webasm | gpujs-webgpu | gpujs-headlessgl', d.backend);
}

type Flags = Record<string, unknown>;

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
    hidden: list(o.hidden as string),
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
    epochs: o.epochs as number,
    batch: o.batch as number,
    optimizer: o.optimizer as TrainConfig['optimizer'],
    lr: o.lr as number,
    weightDecay: o.weightDecay as number,
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

/** The flags given on the command line (not defaults), by their attribute names (= TrainConfig keys). */
export function explicitFlags(cmd: Command): Set<string> {
  return new Set(cmd.options.map((o) => o.attributeName()).filter((key) => cmd.getOptionValueSource(key) === 'cli'));
}

/** The flags' configuration with --preset resolved (explicit flags win), refusing flags it would ignore. */
export function trainConfigFromCommand(cmd: Command): TrainConfig {
  const explicit = explicitFlags(cmd);
  const parsed = configFromFlags(cmd.opts());
  const config = parsed.preset ? applyPreset(parsed, parsed.preset, { keep: explicit }) : parsed;
  refuseIgnoredFlags(config, explicit);
  return config;
}

/** A flag given explicitly whose setting this configuration would not use is an error naming why. */
export function refuseIgnoredFlags(c: TrainConfig, explicit: ReadonlySet<string>): void {
  const given = (...keys: string[]) => keys.filter((k) => explicit.has(k)).map((k) => `--${k.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}`);
  const refuse = (flags: string[], why: string) => {
    if (flags.length) throw new Error(`${flags.join(', ')} would be ignored: ${why}`);
  };
  const ldfaOnly = given('ojaNormalisation', 'ojaEps', 'ojaEpsConv', 'ojaOutput', 'svdPowerIterations', 'clipLinearGrad', 'clipConvFeedbackGrad', 'feedbackCoupling');
  if (c.rule !== 'ldfa') return refuse(ldfaOnly, `they set LDFA's feedback learning and --rule is ${c.rule}`);
  if (c.feedback !== 'oja') refuse(given('ojaNormalisation', 'ojaEps', 'ojaEpsConv', 'ojaOutput'), `they set Oja's rule and --feedback is ${c.feedback} (use --feedback oja)`);
  if (c.ojaOutput === 'labels' && c.learn === 'q') refuse(given('ojaOutput'), "--oja-output labels sets how P̂ learns and --learn q keeps P̂ fixed (use --learn pq)");
  if (c.arch !== 'cnn' && c.arch !== 'retina') refuse(given('ojaEpsConv', 'clipConvFeedbackGrad'), `they concern conv layers and --arch ${c.arch} has none`);
  const usesSvd = resolvedFeedbackInit(c) === 'svd' || (c.feedback === 'normative' && c.svdEvery > 0);
  if (c.svd === 'exact' || !usesSvd) refuse(given('svdPowerIterations'), c.svd === 'exact' ? '--svd exact has no power iterations' : 'this run computes no SVD (random feedback initialisation, no re-factorisation)');
  if (c.feedbackCoupling === 'shared') refuse(given('feedbackOptimizer', 'feedbackLr', 'feedbackWeightDecay'), "--feedback-coupling shared steps P̂, Q̂ with the forward optimiser's settings (use --feedback-coupling separate)");
}
