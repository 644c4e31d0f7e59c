// Golden fixtures: one tensor bundle per case holding the batch, every initial weight and
// feedback tensor, and what the reference computes in each of 3 plain-SGD steps (the
// teaching signals, every gradient, the loss, the state after the step). The format and the
// tensor names are specified in docs/fixture-format.md; this file is the one place that
// writes them, so the two must change together (and FIXTURE_VERSION with them).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withBackend } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { softmaxCrossEntropy } from '../reference/layers/losses.ts';
import { ActivationNode, FlattenNode, LinearNode, Sequential, weightMatrixShape, type FeedbackSite, type Model } from '../reference/models/network.ts';
import { ConvNode, MaxPoolNode } from '../reference/models/nodes.ts';
import { VisionTransformer } from '../reference/models/vit.ts';
import { Optimizer, type OptimizerConfig } from '../reference/optim.ts';
import type { Param } from '../reference/params.ts';
import { Rng } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import { clipFeedback } from '../reference/feedback.ts';
import type { LdfaOptions } from '../reference/rules/ldfa.ts';
import { clone, reshape, tensor, type Tensor } from '../reference/tensor.ts';
import { encodeBundle } from '../src/bundle.ts';
import { writeFileAtomic } from '../src/report/atomic.ts';
import { fixtureCases, type FixtureCase } from './cases.ts';
import { familyConventionsOf, FAMILY_NAMES, familyRecording } from './family-cases.ts';

/** The fixture layout version (tensor names, header fields, conventions); the bundle container has its own. */
export const FIXTURE_VERSION = 3;
/** The fixture versions `ldfa verify` reads: the current one and every older one whose names it still understands. */
export const READABLE_FIXTURE_VERSIONS: readonly number[] = [1, 2, 3];
export const FIXTURE_KIND = 'ldfa-fixture';
export const FIXTURE_EXTENSION = '.bin';

/**
 * The conventions every fixture is computed under. A header's `conventions` is this text with the
 * case's own entries in place of the LDFA ones (conventionsFor): which feedback learning, Oja
 * variant, SVD, clamps and classifier that case resolves.
 */
export const FIXTURE_CONVENTIONS = {
  dtype: 'float64 little-endian, row-major (C order)',
  weightOrientation: 'linear W is (out, in) and y = x·Wᵀ + b (PyTorch); conv W is (Cout, Cin, k, k); batches are rows, images NCHW',
  loss: 'softmax cross-entropy, batch-mean reduction: L = −(1/N) Σ_n log softmax(logits_n)[y_n]; the output error is e = ∂L/∂logits = (softmax(logits) − onehot(y)) / N (the 1/N is inside every δ, dW and dP below)',
  labels: 'input/y holds integer class labels stored as float64',
  delta: '<site>.delta is dy = ∂L/∂(layer output) as the rule computes it (pre-activation, i.e. after f′ of the activation above it has been applied); for the output layer it is e',
  signal: '<site>.signal is dx, what the layer sends to the layer below (before that layer multiplies by f′): BP dx = dy·W; FA dx = dy·B; DFA dx = e·D; LDFA dx = (dy·P̂)·Q̂. The first layer sends nothing',
  feedbackInjection: 'the rule replaces only the matrix a weighted layer sends its error down through; activations, norms, attention, pooling and residuals are backpropagated exactly. DFA: every weighted layer except the first sends dx = e·D instead of dy·W, D being (classes, per-sample input size), so the layer below receives Dᵀe (then multiplies by its f′)',
  outputLayer: 'the output layer learns from the exact e (dW = eᵀ·h); under FA/DFA/LDFA what it sends down is replaced like any other layer',
  weightGradient: 'dW = dyᵀ·x and db = Σ_n dy under every rule (the sum over the batch; the 1/N is already in e)',
  bias: 'biases initialised to zero, learned with the same SGD step; linear2 has none',
  feedbackShapes: 'FA B has W\'s shape (out, in); DFA D is (classes, in); LDFA P̂ = Pᵀ is (out, r) and Q̂ = Qᵀ is (r, in), so B_eff = P̂·Q̂ has W\'s shape. r = min(rank, out, in). Only layers that send a signal (all but the first) have feedback tensors',
  feedbackLearning: 'gradients handed to SGD (p ← p − feedbackLr·g). normative: E = P̂Q̂ − W, dP = E·Q̂ᵀ, dQ = P̂ᵀ·E. factorised: dP = dW·Q̂ᵀ, dQ = P̂ᵀ·dW. oja: δ̃ = (dy − mean_n dy) / (max_j std_n(dy_j) + ε) with the unbiased (n−1) std, C = δ̃ᵀδ̃, dP = −(C·P̂ − P̂·(P̂ᵀ·C·P̂)), dQ = (dy·P̂)ᵀ·x. fixed: P̂, Q̂ do not learn. All computed from the step\'s forward/backward with the weights before the update',
  ldfaInit: 'normative and factorised start from the balanced truncated SVD of W (P̂ = U_r S_r^½, Q̂ = S_r^½ V_rᵀ) plus uniform noise U(±rule.initPerturbation·rms) per factor (rms = the factor\'s root mean square), so that their step-1 feedback gradients are far from zero; take init/<site>.P and .Q from the fixture instead of recomputing them (the singular vectors\' signs are not unique either). fixed and oja start random (P̂ ~ U(±1/√r), Q̂ ~ U(±√3/√in)); take them from the fixture',
  ojaNormalisation: 'max-std: δ̃ = (dy − mean over the batch) / (max over units of the unbiased batch std + ε), ε = ojaEps = 1e-8 in linear layers, ojaEpsConv = 1e-6 in conv layers; one scalar scale per layer and step. Conv layers: every (sample, position) is a row, channels are the columns',
  svd: 'svdEvery = 0: no SVD re-factorisation during the 3 steps',
  clamps: 'none: no signal clamp, no gradient clamp',
  optimiser: 'plain SGD, no momentum, no weight decay: W ← W − lr·dW, b ← b − lr·db, P̂ ← P̂ − feedbackLr·dP, Q̂ ← Q̂ − feedbackLr·dQ; lr and feedbackLr are in training (feedbackLr is chosen per case)',
  conv: 'conv layers: W (Cout, Cin, k, k), the stride and padding of model.layers (padding k//2), NCHW; with stride s the output is floor((H + 2·padding − k)/s) + 1, and the transposed conv back to the input size needs output_padding = H + 2·padding − k − s·(Hout − 1) (PyTorch\'s conv_transpose2d). FA: dx = conv_transpose(dy, B), B of W\'s shape. DFA: D (classes, Cin·H·W), dx = (e·D) reshaped to (N, Cin, H, W). LDFA: P̂ is a 1×1 kernel (Cout, r, 1, 1) and Q̂ a k×k kernel (r, Cin, k, k): z = conv_transpose(dy, P̂) with stride 1 and no padding, dx = conv_transpose(z, Q̂) with the layer\'s stride and padding: the stride is applied on the Q̂ step (CODE-v4). Applying it on the P̂ step instead (CODE-v1) gives the same values, P̂ being 1×1, but an r-channel map of size 2·(Hout − 1) + 1, so without output_padding its signal is one row short on an even input. Seen as matrices P̂ (Cout, r), Q̂ (r, Cin·k²), W (Cout, Cin·k²), the normative and factorised formulas hold unchanged; oja: the rows of dy are its (sample, position) pairs, and dQ is the filter gradient of a conv with kernel Q̂ that maps x to z. Max-pool 2×2, stride 2, no padding (PyTorch MaxPool2d(2))',
  transformer: 'token layers map x (N, T, in) to y (N, T, out) row by row; their δ and signals are stored (N, T, features), their weight gradients sum over samples and tokens, and oja treats every (sample, token) as a row. DFA D is (classes, T·in), dx = (e·D) reshaped to (N, T, in). The fused qkv layer (out = [q | k | v], 3·A, A the attention width of model.transformer) has rank 3r; proj maps A back to d. Exact parts: patchify (patch index row-major over the grid, features in (C, p, p) order; with embed = the conv of timm\'s PatchEmbed), learned positions added, pre-norm LayerNorm (ε = 1e-5, biased variance), attention softmax(q_h·k_hᵀ/√(A/heads))·v_h with head h owning channels h·A/heads … (h+1)·A/heads − 1 of each of q, k and v, GELU in its tanh form, residuals, a final LayerNorm, the mean over tokens, then the head',
  stepOrder: 'forward (training mode), loss and e, backward with the rule\'s feedback, feedback gradients, then both SGD updates; the same batch is used in every step',
} as const;

/** What the tensor names mean; written into each header. */
export const FIXTURE_NAMES = {
  'input/x': 'the batch (N, ...input shape)',
  'input/y': 'labels (N), integers stored as float64',
  'input/stepK/<site>.Omega': 'the Gaussian test matrix Ω (in·k², r + oversample) of the randomized SVD that re-factorises <site> after step K (normative with svdEvery > 0 and a randomized SVD only)',
  'init/<param>': 'every parameter before step 1: <layer>.W, <layer>.b, ...',
  'init/<site>.B|D|P|Q': 'every feedback tensor before step 1 (FA B, DFA D, LDFA P̂ and Q̂)',
  'stepK/logits': 'the forward output of step K (N, classes)',
  'stepK/loss': 'the loss of step K, shape ()',
  'stepK/<site>.delta': 'dy of that layer in step K',
  'stepK/<site>.signal': 'dx that layer sends down in step K',
  'stepK/<layer>.dW, .db': 'the gradient of each parameter in step K (name: d before the last component)',
  'stepK/<site>.dP, .dQ': 'the gradients of the learned feedback tensors in step K',
  'step3/<param>, step3/<site>.P|Q': 'the state after 3 steps: every parameter and learned feedback tensor after the last update (intermediate states are init − lr·(the gradients of the steps so far))',
} as const;

export interface Fixture {
  meta: Record<string, unknown>;
  tensors: Map<string, Tensor>;
  /** The largest max|p| / max|p at init| of any learned tensor after any step (biases, which start at 0, left out). */
  growth?: { factor: number; tensor: string; step: number };
}

/** Fixtures whose tensors grow past this factor of their initial scale check overflow, not the algorithm (refused unless allowed). */
export const GROWTH_LIMIT = 1e3;

function maxAbs(t: Tensor): number {
  let m = 0;
  for (const v of t.data) {
    if (!Number.isFinite(v)) return Infinity;
    m = Math.max(m, Math.abs(v));
  }
  return m;
}

/** `fc1.W` → `fc1.dW`: the name of a parameter's gradient. */
export function gradName(paramName: string): string {
  const dot = paramName.lastIndexOf('.');
  return `${paramName.slice(0, dot + 1)}d${paramName.slice(dot + 1)}`;
}

/**
 * dy and dx of a site as (N, ...per-sample shape): token layers of the transformer run on
 * (N·T, features) rows inside the reference, but are stored as (N, T, features).
 */
function perSampleShapes(site: FeedbackSite, N: number): [number[], number[]] {
  const dy = site.outputGrad!, dx = site.inputGrad;
  if (site.kind !== 'linear' || site.inputShape.length === 1) return [dy.shape, dx?.shape ?? []];
  const lead = site.inputShape.slice(0, -1);
  return [[N, ...lead, dy.shape[dy.shape.length - 1]], [N, ...site.inputShape]];
}

/** Layer list for the header, for Sequential models of known node types. */
function describeLayers(model: Model): unknown[] | null {
  if (!(model instanceof Sequential)) return null;
  return model.nodes.map((node) => {
    if (node instanceof LinearNode) {
      const [out, inn] = node.weight.value.shape;
      return { name: node.name, type: 'linear', in: inn, out, bias: node.bias !== null };
    }
    if (node instanceof ActivationNode) return { name: node.name, type: node.f };
    if (node instanceof FlattenNode) return { name: node.name, type: 'flatten' };
    if (node instanceof ConvNode) {
      const [out, inn, k] = node.weight.value.shape;
      return { name: node.name, type: 'conv2d', in: inn, out, kernel: k, stride: node.spec.stride, padding: node.spec.padding, bias: node.bias !== null };
    }
    if (node instanceof MaxPoolNode) return { name: node.name, type: 'maxpool2d', kernel: node.spec.k, stride: node.spec.stride };
    const site = node.site;
    return site
      ? { name: node.name, type: site.kind, weightShape: site.weight.value.shape, conv: site.conv }
      : { name: node.name, type: node.constructor.name };
  });
}

/** The transformer's structure for the header: every size and convention a program needs to rebuild it. */
function describeTransformer(model: VisionTransformer): Record<string, unknown> {
  const { inputShape: [C, H, W], patch, dim, depth, heads, mlpRatio, outputSize, fusedQkv } = model.config;
  const attnDim = model.config.attnDim ?? dim;
  const grid = [H / patch, W / patch];
  const tokens = grid[0] * grid[1];
  const block = (b: number) => [
    { name: `block${b}.ln1`, type: 'layernorm', features: dim },
    ...(fusedQkv ? [{ name: `block${b}.qkv`, type: 'linear', in: dim, out: 3 * attnDim, bias: true }]
      : ['q', 'k', 'v'].map((n) => ({ name: `block${b}.${n}`, type: 'linear', in: dim, out: attnDim, bias: true }))),
    { name: `block${b}.attention`, type: 'attention', heads, headDim: attnDim / heads, width: attnDim },
    { name: `block${b}.proj`, type: 'linear', in: attnDim, out: dim, bias: true, residual: 'added to the block input' },
    { name: `block${b}.ln2`, type: 'layernorm', features: dim },
    { name: `block${b}.fc1`, type: 'linear', in: dim, out: mlpRatio * dim, bias: true },
    { name: `block${b}.gelu`, type: 'gelu-tanh' },
    { name: `block${b}.fc2`, type: 'linear', in: mlpRatio * dim, out: dim, bias: true, residual: 'added to the output of proj\'s residual' },
  ];
  return {
    patch, grid, tokens, channels: C, patchFeatures: C * patch * patch,
    patchOrder: 'patches row-major over the grid; the features of a patch in (C, p, p) order',
    dim, attnDim, heads, headDim: attnDim / heads, mlpWidth: mlpRatio * dim, depth, classes: outputSize,
    norm: 'pre', layerNormEps: 1e-5, layerNormVariance: 'biased',
    positions: 'learned pos (T, d), added to every sample after embed',
    qkv: fusedQkv
      ? { layout: 'fused', weight: 'qkv.W (3A, d): rows 0..A−1 make q, A..2A−1 k, 2A..3A−1 v', rankScale: 3 }
      : { layout: 'separate', weight: 'q.W, k.W, v.W (A, d) each', rankScale: 1 },
    attention: 'softmax(q_h·k_hᵀ/√headDim)·v_h; head h owns channels h·headDim … (h+1)·headDim − 1 of q, k and v; no mask, no dropout',
    activation: 'gelu, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))',
    pooling: 'final LayerNorm ln_f, then the mean over the T tokens, then head',
    layers: [
      { name: 'patchify', type: 'patchify', patch, tokens },
      { name: 'embed', type: 'linear', in: C * patch * patch, out: dim, bias: true },
      { name: 'pos', type: 'add-positions', shape: [tokens, dim] },
      ...Array.from({ length: depth }, (_, b) => block(b)).flat(),
      { name: 'ln_f', type: 'layernorm', features: dim },
      { name: 'mean', type: 'mean-over-tokens' },
      { name: 'head', type: 'linear', in: dim, out: outputSize, bias: true },
    ],
  };
}

/** The perturbed SVD start: every factor gets uniform noise of `relative` times its RMS (in place). */
export function perturbFactors(factors: Record<string, Tensor>, rng: Rng, relative: number): void {
  for (const t of Object.values(factors)) {
    const rms = Math.sqrt(t.data.reduce((a, v) => a + v * v, 0) / t.data.length);
    for (let i = 0; i < t.data.length; i++) t.data[i] += rng.uniformIn(-relative * rms, relative * rms);
  }
}

/** Plain SGD: no momentum, no decay (every fixture's optimiser). */
export const sgd = (lr: number): OptimizerConfig => ({ kind: 'sgd', lr, weightDecay: 0, momentum: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, amsgrad: false });

const fmt = (v: number) => String(v);

/** The header's `conventions`: the shared text, with the LDFA entries written for this case's options. */
export function conventionsFor(c: FixtureCase, classifierBp = false): Record<string, string> {
  const { feedbackLearning: _fl, ldfaInit: _li, ojaNormalisation: _on, svd: _svd, clamps: _cl, ...shared } = FIXTURE_CONVENTIONS;
  const o = c.rule.ldfa;
  const signalClamp = c.rule.clipSignal === undefined ? null
    : `the signal every layer sends down is clamped elementwise to [−${fmt(c.rule.clipSignal)}, ${fmt(c.rule.clipSignal)}] right after its feedback (dx = clamp((dy·P̂)·Q̂)) and before f′ of the layer below (the v1 code's backward hook); the stored <site>.signal is the clamped one`;
  if (!o) return { ...shared, clamps: signalClamp ?? FIXTURE_CONVENTIONS.clamps, ...(c.rule.options ? familyConventionsOf(c.rule, c.training.lr, c.training.feedbackLr) : {}) };
  const gradClamps = [
    o.clipLinearGrad !== null ? `the gradients dW, db, dP, dQ of every linear layer with P̂, Q̂ are clamped elementwise to [−${fmt(o.clipLinearGrad)}, ${fmt(o.clipLinearGrad)}]` : '',
    o.clipConvFeedbackGrad !== null ? `the gradients dP, dQ of every conv layer (not its dW, db) are clamped elementwise to [−${fmt(o.clipConvFeedbackGrad)}, ${fmt(o.clipConvFeedbackGrad)}]` : '',
  ].filter(Boolean);
  const clamps = [signalClamp, gradClamps.length ? `${gradClamps.join('; ')}: after every gradient of the step is computed (the feedback gradients from the unclamped signals), before the SGD step; the stored gradients are the clamped ones. A layer without P̂, Q̂ (the first layer: the transformer\'s patch embedding, fc1, conv1), LayerNorm γ, β and the positions are never clamped (the v4 code clamps inside its LDFA layers)` : null]
    .filter((t): t is string => t !== null);
  const oja = (how: string) => (o.ojaOutput === 'labels'
    ? `${how}; the output layer's P̂ learns from Y, the one-hot labels of input/y as 0/1 (not scaled by 1/N), in place of its dy (the v1 MLP code's requires_gt: C = Ỹᵀ·Ỹ with Ỹ normalised as above); its dQ still uses dy`
    : how);
  const normalised = o.ojaNormalisation === 'max-std'
    ? `δ̃ = (dy − mean_n dy) / (max_j std_n(dy_j) + ε), the unbiased (n−1) std, one scalar per layer and step`
    : o.ojaNormalisation === 'max-second-moment'
      ? `δ̃ = dy / √(max_j mean_n(dy_j²) + ε), dy not centred, the mean over the n rows (so C = dyᵀ·dy / (max_j mean_n(dy_j²) + ε))`
      : 'δ̃ = dy (no normalisation)';
  const learning = {
    fixed: 'fixed: P̂, Q̂ do not learn',
    normative: 'normative: E = P̂Q̂ − W, dP = E·Q̂ᵀ, dQ = P̂ᵀ·E (descends ½‖W − P̂Q̂‖²)',
    factorised: 'factorised: dP = dW·Q̂ᵀ, dQ = P̂ᵀ·dW',
    oja: oja(`oja: ${normalised}; C = δ̃ᵀδ̃, dP = −(C·P̂ − P̂·(P̂ᵀ·C·P̂)), dQ = (dy·P̂)ᵀ·x`),
  }[o.mode];
  const powerIterations = o.svdPowerIterationsConv === null || o.svdPowerIterationsConv === o.svdPowerIterations
    ? `${o.svdPowerIterations} power iterations` : `${o.svdPowerIterations} power iterations in linear layers, ${o.svdPowerIterationsConv} in conv layers`;
  const randomized = `the randomized SVD of W (as a matrix (out, in·k²)): Ω = input/stepK/<site>.Omega (in·k², r + ${o.svdOversample}), Y = orth(W·Ω), then ${powerIterations} Y ← orth(W·orth(Wᵀ·Y)), B = Yᵀ·W = Û S Vᵀ, U = Y·Û, the first r columns; each column of U signed so that its largest-|entry| is positive (V's column flipped with it); P̂ = U S^½, Q̂ = S^½ Vᵀ. (torch.svd_lowrank(W, q, niter) is the same with q = r + oversample, except that it sketches Wᵀ when out < in·k² or in·k² > q; pass Ω to reproduce these numbers)`;
  const exact = 'the exact truncated SVD of W (as a matrix (out, in·k²)), each column of U signed so that its largest-|entry| is positive (V\'s column flipped with it); P̂ = U_r S_r^½, Q̂ = S_r^½ V_rᵀ';
  const svd = o.mode === 'normative' && o.svdEvery > 0
    ? `after every ${o.svdEvery === 1 ? 'step' : `${o.svdEvery}th step`} (after its SGD updates) P̂, Q̂ are replaced by ${o.svd === 'exact' ? exact : randomized}; the step's stored dP, dQ are those before the re-factorisation, step${c.training.steps}/<site>.P, .Q the state after the last one`
    : FIXTURE_CONVENTIONS.svd;
  return {
    ...shared,
    feedbackLearning: `gradients handed to SGD (p ← p − feedbackLr·g), from the step's forward/backward with the weights before the update. ${learning}${o.learn === 'q' ? '; learn = q: P̂ stays at its initial value (no dP is stored)' : ''}${o.direct ? '; direct: every hidden layer receives E·P̂·Q̂, E the error at the output layer\'s input, and P̂ (out of the output layer\'s input size) learns from E' : ''}`,
    ldfaInit: o.init === 'svd'
      ? `P̂, Q̂ start from the balanced truncated SVD of W (P̂ = U_r S_r^½, Q̂ = S_r^½ V_rᵀ${c.perturbation > 0 ? `) plus uniform noise U(±${c.perturbation}·rms) per factor (rms = the factor's root mean square), so that the step-1 feedback gradients are far from zero` : ', no noise)'}; take init/<site>.P and .Q from the fixture`
      : 'P̂ ~ U(±1/√r), Q̂ ~ U(±√3/√in) (in·k² for conv); take init/<site>.P and .Q from the fixture',
    ...(o.mode === 'oja' ? { ojaNormalisation: `${o.ojaNormalisation}: ${normalised}; ε = ojaEps = ${fmt(o.ojaEps)} in linear layers, ojaEpsConv = ${fmt(o.ojaEpsConv)} in conv layers. Conv layers: every (sample, position) is a row, channels are the columns` } : {}),
    svd,
    clamps: clamps.length ? clamps.join('. ') : FIXTURE_CONVENTIONS.clamps,
    ...(classifierBp ? { classifier: 'the linear layers of this conv net (the classifier) send their error down exactly, dx = dy·W, and have no P̂, Q̂ (the authors\' v1 CNNs: plain nn.Linear); only the conv layers use LDFA' } : {}),
  };
}

/** How strongly a case exercises its conventions (written to the header as `exercises`). */
function exercisesOf(c: FixtureCase, tensors: Map<string, Tensor>, ldfaSites: { name: string; conv: boolean }[], sketches: number, classifierBp: boolean): Record<string, unknown> {
  const steps = Array.from({ length: c.training.steps }, (_, k) => `step${k + 1}`);
  const atClamp = (limit: number, names: (at: string) => string[]) => {
    const perStep = Object.fromEntries(steps.map((at) => {
      let n = 0, total = 0;
      for (const name of names(at)) {
        const t = tensors.get(name);
        if (!t) continue;
        total += t.data.length;
        for (const v of t.data) if (Math.abs(v) === limit) n++;
      }
      return [at, { atClamp: n, of: total }];
    }));
    return { limit, ...perStep };
  };
  const o = c.rule.ldfa;
  const out: Record<string, unknown> = {};
  if (c.rule.clipSignal !== undefined) {
    out.signalClamp = atClamp(c.rule.clipSignal, (at) => [...tensors.keys()].filter((n) => n.startsWith(`${at}/`) && n.endsWith('.signal')));
  }
  if (o?.clipLinearGrad != null && ldfaSites.some((s) => !s.conv)) {
    out.linearGradClamp = atClamp(o.clipLinearGrad, (at) => ldfaSites.filter((s) => !s.conv).flatMap((s) => ['dW', 'db', 'dP', 'dQ'].map((g) => `${at}/${s.name}.${g}`)));
  }
  if (o?.clipConvFeedbackGrad != null && ldfaSites.some((s) => s.conv)) {
    out.convFeedbackGradClamp = atClamp(o.clipConvFeedbackGrad, (at) => ldfaSites.filter((s) => s.conv).flatMap((s) => ['dP', 'dQ'].map((g) => `${at}/${s.name}.${g}`)));
  }
  if (o) {
    const refactorised = o.mode === 'normative' && o.svdEvery > 0 ? steps.map((_, k) => k + 1).filter((k) => k % o.svdEvery === 0) : [];
    out.svd = {
      initialisation: o.init === 'svd' ? { perturbation: c.perturbation } : 'random',
      refactorisedAfterSteps: refactorised,
      ...(refactorised.length ? { method: sketches > 0 ? 'randomized' : 'exact', sketches } : {}),
    };
    if (o.mode === 'oja') out.oja = { normalisation: o.ojaNormalisation, ojaEps: o.ojaEps, ojaEpsConv: ldfaSites.some((s) => s.conv) ? o.ojaEpsConv : null, output: o.ojaOutput };
    if (classifierBp) out.classifier = 'bp';
  }
  return out;
}

/** Runs one case on the float64 reference kernels and collects every tensor of the fixture. */
export function generateFixture(c: FixtureCase): Fixture {
  return withBackend(referenceBackend, () => {
    const root = new Rng(c.arch.seed);
    const model = c.arch.build(root.fork());
    const { x, y } = c.arch.data(root.fork());
    // The test matrix Ω of every randomized SVD after a step is part of the fixture (input/stepK/<site>.Omega)
    let step = 0, sketches = 0;
    const tensors = new Map<string, Tensor>();
    const put = (name: string, t: Tensor) => {
      if (tensors.has(name)) throw new Error(`fixture ${c.name}: tensor ${name} written twice`);
      tensors.set(name, clone(t));
    };
    const onSketch = (site: string, omega: Tensor) => {
      if (step === 0) return;
      put(`input/step${step}/${site}.Omega`, omega);
      sketches++;
    };
    const ruleRng = root.fork();
    const family = c.rule.options ? familyRecording(c.rule, root.fork(), put) : null;
    const rule = createRule(c.rule.rule, { ldfa: c.rule.ldfa && { ...c.rule.ldfa, onSketch }, ...family?.options });
    rule.attach(model, ruleRng);
    if (c.perturbation > 0) perturbFactors(rule.feedbackTensors(), root.fork(), c.perturbation);
    const clipSignal = c.rule.clipSignal ?? null;
    if (clipSignal !== null) for (const site of model.sites) site.feedback = clipFeedback(site.feedback, clipSignal);

    const { steps, lr, feedbackLr } = c.training;
    const weightDecay = c.rule.weightDecay ?? 0;
    const params = model.params();
    const feedbackParams: Param[] = rule.feedbackParams();
    const optimizer = new Optimizer({ ...sgd(lr), weightDecay }, params);
    // KP's B and PFA's R step like W, decay included; other learned feedback (LDFA's P̂, Q̂) does not decay.
    const feedbackDecay = rule.stepsWithWeights ? weightDecay : 0;
    const feedbackOptimizer = new Optimizer({ ...sgd(feedbackLr), weightDecay: feedbackDecay }, feedbackParams);

    put('input/x', x);
    put('input/y', tensor([y.length], y));
    for (const p of params) put(`init/${p.name}`, p.value);
    for (const [name, t] of Object.entries(rule.feedbackTensors())) if (!family?.notGiven(name)) put(`init/${name}`, t);

    const growth = { factor: 1, tensor: '', step: 0 };
    const initialScale = new Map([...params, ...feedbackParams].map((p) => [p.name, maxAbs(p.value)]));
    for (step = 1; step <= steps; step++) {
      const at = `step${step}`;
      family?.beforeStep(step, rule);
      const logits = model.forward(x, true);
      const e = tensor(logits.shape);
      const loss = softmaxCrossEntropy(e, logits, y);
      model.backward(e);
      rule.feedbackGradients(y);
      put(`${at}/logits`, logits);
      put(`${at}/loss`, tensor([], [loss]));
      family?.afterBackward(step, rule);
      for (const site of model.sites) {
        if (!site.outputGrad) throw new Error(`fixture ${c.name}: ${site.name} received no error in step ${step}`);
        const [deltaShape, signalShape] = perSampleShapes(site, x.shape[0]);
        put(`${at}/${site.name}.delta`, reshape(site.outputGrad, deltaShape));
        if (site.inputGrad) put(`${at}/${site.name}.signal`, reshape(site.inputGrad, signalShape));
      }
      for (const p of [...params, ...feedbackParams]) put(`${at}/${gradName(p.name)}`, p.grad);
      optimizer.step();
      feedbackOptimizer.step();
      rule.afterStep(step);
      family?.afterUpdate(step, model, rule);
      if (step === steps) for (const p of [...params, ...feedbackParams]) put(`${at}/${p.name}`, p.value);
      for (const p of [...params, ...feedbackParams]) {
        const start = initialScale.get(p.name)!;
        if (start === 0) continue; // biases start at zero
        const now = maxAbs(p.value);
        const factor = Number.isFinite(now) ? now / start : Infinity;
        if (factor > growth.factor || Number.isNaN(factor)) Object.assign(growth, { factor: Number.isNaN(factor) ? Infinity : factor, tensor: p.name, step });
      }
    }
    const ldfaSites = Object.keys(rule.feedbackTensors()).filter((n) => n.endsWith('.P')).map((n) => n.slice(0, -2))
      .map((name) => ({ name, conv: model.sites.find((s) => s.name === name)?.kind === 'conv' }));
    const classifierBp = c.rule.ldfa?.classifier === 'bp' && model.sites.some((s) => s.kind === 'conv') && model.sites.some((s) => s.kind === 'linear');

    const summary = rule.summary();
    const meta: Record<string, unknown> = {
      kind: FIXTURE_KIND,
      fixtureVersion: FIXTURE_VERSION,
      case: c.name,
      generator: 'ldfa TypeScript reference (reference/), float64 reference kernels; regenerate with `npm run fixtures`',
      model: {
        arch: c.arch.name,
        description: c.arch.description,
        inputShape: c.arch.inputShape,
        classes: c.arch.classes,
        batch: c.arch.batch,
        layers: describeLayers(model) ?? (model instanceof VisionTransformer ? describeTransformer(model).layers : c.arch.description),
        ...(model instanceof VisionTransformer ? { transformer: describeTransformer(model) } : {}),
        dimensions: c.arch.dimensions ? { ...c.arch.dimensions, ...c.rule.dimensions?.(model) } : null,
        sites: model.sites.map((s) => ({
          name: s.name, kind: s.kind, weightShape: s.weight.value.shape, weightMatrix: weightMatrixShape(s),
          conv: s.conv, isOutput: s.isOutput, sendsSignal: s.needsInputGrad,
        })),
      },
      rule: c.rule.ldfa
        ? { name: c.rule.name, rule: 'ldfa', ...stripInject(c.rule.ldfa), ranks: summary.ranks, initPerturbation: c.perturbation }
        : { name: c.rule.name, ...(family ? summary : { rule: c.rule.rule }) },
      training: {
        steps, optimiser: 'sgd', lr, feedbackLr, momentum: 0, weightDecay, clip: clipSignal === null ? null : { signal: clipSignal },
        learned: params.map((p) => p.name), learnedFeedback: feedbackParams.map((p) => p.name),
        ...(weightDecay > 0 ? { decayed: [...params, ...(feedbackDecay > 0 ? feedbackParams : [])].filter((p) => p.decay).map((p) => p.name) } : {}),
      },
      conventions: conventionsFor(c, classifierBp),
      ...(family ? { familyNames: FAMILY_NAMES } : {}),
      exercises: { ...exercisesOf(c, tensors, ldfaSites, sketches, classifierBp), growth },
      names: FIXTURE_NAMES,
      seed: c.arch.seed,
    };
    return { meta, tensors, growth };
  });
}

function stripInject(o: LdfaOptions): Omit<LdfaOptions, 'inject' | 'onSketch'> {
  const { inject: _inject, onSketch: _onSketch, ...rest } = o;
  return rest;
}

export function encodeFixture(f: Fixture): Buffer {
  return encodeBundle(f.meta, f.tensors);
}

export function fixtureFileName(caseName: string): string {
  return `${caseName}${FIXTURE_EXTENSION}`;
}

export interface ManifestEntry { case: string; file: string; bytes: number; tensors: number; sha256: string }

/** Generates the named cases (all by default) into dir, plus MANIFEST.json; returns the entries. */
export function writeFixtures(dir: string, only: readonly string[] = []): ManifestEntry[] {
  const cases = fixtureCases().filter((c) => only.length === 0 || only.includes(c.name));
  const unknown = only.filter((n) => !fixtureCases().some((c) => c.name === n));
  if (unknown.length) throw new Error(`unknown fixture case(s) ${unknown.join(', ')}: allowed are ${fixtureCases().map((c) => c.name).join(', ')}`);
  const entries: ManifestEntry[] = [];
  for (const c of cases) {
    const f = generateFixture(c);
    const bytes = encodeFixture(f);
    const file = fixtureFileName(c.name);
    writeFileAtomic(join(dir, file), bytes);
    entries.push({ case: c.name, file, bytes: bytes.length, tensors: f.tensors.size, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  if (only.length === 0) {
    const manifest = { kind: 'ldfa-fixture-manifest', fixtureVersion: FIXTURE_VERSION, format: 'docs/fixture-format.md', fixtures: entries };
    writeFileAtomic(join(dir, 'MANIFEST.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  }
  return entries;
}

/** Regenerates every case in memory and lists the files in dir that differ from it (or are missing). */
export function checkFixtures(dir: string): { case: string; file: string; problem: string }[] {
  const problems: { case: string; file: string; problem: string }[] = [];
  for (const c of fixtureCases()) {
    const file = join(dir, fixtureFileName(c.name));
    let committed: Buffer;
    try {
      committed = readFileSync(file);
    } catch {
      problems.push({ case: c.name, file, problem: 'missing' });
      continue;
    }
    if (!committed.equals(encodeFixture(generateFixture(c)))) problems.push({ case: c.name, file, problem: 'differs from the current reference' });
  }
  return problems;
}
