// Low-Dimensional Feedback Alignment (Hanut & Kadmon, arXiv 2502.20580) — the whole rule.
//
// Every layer l sends its error down through its own rank-r_l matrix B_l = Q_l P_l
// (spec §2.1). In code orientation P̂ = Pᵀ is (out, r) and Q̂ = Qᵀ is (r, in):
//     z  = dy·P̂            the r feedback units' activity      (N, r)
//     dx = z·Q̂             the signal sent down                (N, in)
// For conv layers P̂ is a 1×1 kernel (Cout, r, 1, 1) and Q̂ a k×k kernel (r, Cin, k, k);
// seen as matrices they are (Cout, r) and (r, Cin·k²), and everything below holds.
//
// How P̂ and Q̂ learn (spec §2.3), as gradients handed to the feedback optimiser
// (which subtracts lr·grad). Write W for the weight as a matrix (out, in·k²):
//   fixed       nothing: random low-rank FA                                 (§2.3 A)
//   normative   gP̂ = E·Q̂ᵀ, gQ̂ = P̂ᵀ·E, E = P̂Q̂ − W  (descends ½‖W − P̂Q̂‖²),
//               with SVD initialisation and re-factorisation every svdEvery steps (§2.3 B)
//   oja         gP̂ = −(I − P̂P̂ᵀ)·C·P̂, C = δ̃ᵀδ̃, δ̃ the normalised batch error  (Oja subspace)
//               gQ̂ = zᵀ·x                                   (Kolen–Pollack-like, §2.3 C1)
//               ojaOutput 'labels': the output layer's C comes from the centred one-hot
//               labels instead of its error (the v1 MLP code's requires_gt)
//   factorised  gP̂ = dW·Q̂ᵀ, gQ̂ = P̂ᵀ·dW   (the loss gradient if W were P̂Q̂, §2.3 C2)
// learn='q' keeps P̂ at its initial value (the Q-only ablation).
// Gradient clamps (the v4 normative code, spec §2.4): clipLinearGrad clamps W, b, P̂, Q̂ of every
// linear layer, clipConvFeedbackGrad the P̂, Q̂ of every conv layer, after all are computed.
// direct=true is the DFA-style variant (§4.4): each hidden layer receives E·P̂·Q̂, E being
// the error at the output layer's input, and P̂ learns by Oja on E's covariance.
import { multiply, ops } from '../backend.ts';
import { throughLowRank, throughLowRankKernel, type Feedback } from '../feedback.ts';
import { balancedFactors } from '../linalg.ts';
import { maxRank, weightMatrixShape, type FeedbackSite, type Model } from '../models/network.ts';
import { param, type Param } from '../params.ts';
import { uniformTensor, type Rng } from '../rng.ts';
import { assertShape, clampInPlace, reshape, tensor, type Tensor } from '../tensor.ts';
import type { Rule } from './rule.ts';
import { sendingSites } from './rule.ts';

export type FeedbackMode = 'fixed' | 'normative' | 'oja' | 'factorised';
export const FEEDBACK_MODES: readonly FeedbackMode[] = ['fixed', 'normative', 'oja', 'factorised'];

/** How Oja's rule scales the centred batch error (the sources differ, spec §2.3 C1, §6.3). */
export type OjaNormalisation = 'max-std' | 'max-second-moment' | 'none';
export const OJA_NORMALISATIONS: readonly OjaNormalisation[] = ['max-std', 'max-second-moment', 'none'];

export type RankSpec = number | 'full' | readonly (number | 'full')[];

/** Where the output layer's Oja covariance comes from (spec §2.3 C1 "Output layer variant"). */
export type OjaOutput = 'error' | 'labels';
export const OJA_OUTPUTS: readonly OjaOutput[] = ['error', 'labels'];

export interface LdfaOptions {
  /** One rank for every layer (clamped to each layer's min(out, in)), 'full', or one per sending layer. */
  rank: RankSpec;
  mode: FeedbackMode;
  learn: 'pq' | 'q';
  direct: boolean;
  /** normative: re-factorise P̂, Q̂ from W's SVD every this many steps (0 = never). */
  svdEvery: number;
  ojaNormalisation: OjaNormalisation;
  /** The ε of Oja's normalisation for linear layers: 1e-8 in the v1 code (rAFA_linear.py). */
  ojaEps: number;
  /** The ε of Oja's normalisation for conv layers: 1e-6 in the v1 code (rAFA_conv.py). */
  ojaEpsConv: number;
  /** oja: the output layer learns P̂ from its error, or from the centred one-hot labels (v1 MLP code). */
  ojaOutput: OjaOutput;
  /**
   * 'svd': P̂Q̂ starts as the best rank-r approximation of W; 'random': P̂ ~ U(±1/√r), Q̂ ~ U(±√3/√in)
   * (PyTorch's kaiming_uniform_ on P̂ (out, r) takes fan_in = r; on Q̂ with nonlinearity 'linear').
   */
  init: 'svd' | 'random';
  /**
   * How the SVD of W is computed for initialisation and re-factorisation: 'exact' (Jacobi),
   * 'randomized' (Halko et al., 2 power iterations, as the authors' torch.svd_lowrank), or
   * 'auto': exact when min(out, in) ≤ 128, randomized above (exact Jacobi is O(n³) in plain JS).
   */
  svd: 'exact' | 'randomized' | 'auto';
  /**
   * Power iterations of the randomized SVD of linear layers (and of conv layers unless
   * svdPowerIterationsConv is set): the v4 code's LDFA_Linear calls torch.svd_lowrank with niter = 10,
   * its LDFA_Conv with niter = 2 (spec §2.3 B).
   */
  svdPowerIterations: number;
  /** Power iterations of the randomized SVD of conv layers; null: svdPowerIterations. */
  svdPowerIterationsConv: number | null;
  /**
   * Extra random columns p of the randomized SVD (it samples r + p): 5 here by default (Halko et
   * al.'s advice; sharper top-r factors), 0 in the authors' torch.svd_lowrank(W, q = r) (spec §2.3 B).
   */
  svdOversample: number;
  /** Clamp the gradients of W, b, P̂, Q̂ of every linear layer to [−c, c] (v4 normative code: 10); null: off. */
  clipLinearGrad: number | null;
  /** Clamp the gradients of P̂, Q̂ of every conv layer to [−c, c] (v4 normative code: 0.1); null: off. */
  clipConvFeedbackGrad: number | null;
  /**
   * 'ldfa': every layer that sends error down does so through P̂Q̂. 'bp': in a net with conv layers,
   * the linear layers (the classifier) send it through W exactly and have no P̂, Q̂, as in the
   * authors' v1 CNNs (VGG-style CIFAR10CNN, AlexNet_AFA: plain nn.Linear classifiers, spec §4.2).
   */
  classifier: 'ldfa' | 'bp';
  /** Feedback tensors to use instead of drawing them: `${site}.P`, `${site}.Q`. */
  inject?: Record<string, Tensor>;
  /** Called with the Gaussian test matrix Ω (in·k², r + p) of every randomized SVD (the fixtures record it). */
  onSketch?: (site: string, omega: Tensor) => void;
  /** The rule's operations (`LdfaKernels`); default the reference's, the float32 path gives its own. */
  kernels?: LdfaKernels;
}

export const DEFAULT_LDFA: LdfaOptions = {
  rank: 10, mode: 'normative', learn: 'pq', direct: false, svdEvery: 0,
  ojaNormalisation: 'max-std', ojaEps: 1e-8, ojaEpsConv: 1e-6, ojaOutput: 'error', init: 'svd', svd: 'auto',
  svdPowerIterations: 2, svdPowerIterationsConv: null, svdOversample: 5, clipLinearGrad: null, clipConvFeedbackGrad: null,
  classifier: 'ldfa',
};

/**
 * Upper bounds of the randomized SVD's work per re-factorisation: each power iteration is two
 * products with W and an orthonormalisation, so a huge count hangs the run (2 in the v4 code,
 * 10 in some versions; beyond ~20 the top-r subspace no longer changes in float64).
 */
export const MAX_SVD_POWER_ITERATIONS = 100;
export const MAX_SVD_OVERSAMPLE = 1000;

/** Up to this min(out, in), svd 'auto' uses the exact SVD. */
export const EXACT_SVD_LIMIT = 128;

/** The spec's default init per mode: SVD for normative and factorised (v4 code), random otherwise (v1 code). */
export function defaultInit(mode: FeedbackMode): 'svd' | 'random' {
  return mode === 'normative' || mode === 'factorised' ? 'svd' : 'random';
}

/**
 * The rule's operations on P̂, Q̂ and the signals, as one swappable set (like the layers'
 * functions, reference/layers/functions.ts): these reference entries are the truth; the float32
 * path (src/fast/ldfa.ts) swaps in its own with the same signatures and meaning, tested against
 * these, so the rule's conventions stay written once, here.
 */
export interface LdfaKernels {
  /** A zero tensor for the rule's intermediates (z, the r-channel map). */
  tensor(shape: readonly number[]): Tensor;
  /** The feedback operator of a linear layer, dx = (dy·P̂)·Q̂ (reference/feedback.ts). */
  throughLowRank: typeof throughLowRank;
  normativeGradients: typeof normativeGradients;
  factorisedGradients: typeof factorisedGradients;
  ojaGradient: typeof ojaGradient;
  ojaLinearGradients: typeof ojaLinearGradients;
  normaliseError: typeof normaliseError;
  channelRows: typeof channelRows;
  balancedFactors: typeof balancedFactors;
  /** The gradient clamps: t ← min(c, max(−c, t)) in place (reference/tensor.ts clampInPlace). */
  clamp: typeof clampInPlace;
}

interface LowRankSite {
  site: FeedbackSite;
  rank: number;
  P: Param; // (out, r) or (Cout, r, 1, 1)
  Q: Param; // (r, in) or (r, Cin, k, k)
  /**
   * The same data seen as matrices: P̂ (out, r), Q̂ (r, in·k²). Getters, viewing the storage the
   * tensors hold now: the float32 training path swaps a fixed P̂'s or Q̂'s storage for float32
   * (src/fast/float32.ts storeAsFloat32), and a view taken before would keep the old copy.
   */
  readonly P2: Tensor; readonly Q2: Tensor; readonly gP2: Tensor; readonly gQ2: Tensor;
  /** direct variant: this site is fed E instead of its own dy. */
  fedByOutputInput: boolean;
}

/** The LDFA rule, whose kernels can be swapped (the float32 path, src/fast/ldfa.ts). */
export interface LdfaRule extends Rule {
  readonly name: 'ldfa';
  /** P̂, Q̂ and their gradients of every layer, for moving them to other storage in place. */
  feedbackStorage(): Tensor[];
  useKernels(kernels: LdfaKernels): void;
}

export function ldfa(options: LdfaOptions): LdfaRule {
  checkLdfaOptions(options);
  const layers: LowRankSite[] = [];
  let k: LdfaKernels = options.kernels ?? referenceLdfaKernels;
  let outputSite: FeedbackSite | null = null;

  /** E: the error arriving at the output layer's input (direct variant). */
  const outputInputError = (): Tensor => {
    const E = outputSite?.inputGrad;
    if (!E) throw new Error('ldfa direct: the output layer has not sent its error yet');
    return E;
  };

  const feedbackFor = (s: LowRankSite): Feedback => {
    if (s.fedByOutputInput) {
      const lowRank = k.throughLowRank(s.P.value, s.Q.value); // (rows, r), (r, cols): already matrices
      return (dx) => lowRank(dx, outputInputError());
    }
    return s.site.kind === 'linear' ? k.throughLowRank(s.P.value, s.Q.value) : throughLowRankKernel(s.P.value, s.Q.value, s.site.conv!);
  };

  let svdRng: Rng | null = null;
  const refactorise = (s: LowRankSite) => {
    const shape = weightMatrixShape(s.site);
    const exact = options.svd === 'exact' || (options.svd === 'auto' && Math.min(...shape) <= EXACT_SVD_LIMIT);
    const powerIterations = s.site.kind === 'conv' ? options.svdPowerIterationsConv ?? options.svdPowerIterations : options.svdPowerIterations;
    const onSketch = options.onSketch && ((omega: Tensor) => options.onSketch!(s.site.name, omega));
    const method = exact ? 'exact' as const : { randomized: svdRng!, powerIterations, oversample: options.svdOversample, onSketch };
    const { P, Q } = k.balancedFactors(reshape(s.site.weight.value, shape), s.rank, method);
    s.P2.data.set(P.data);
    s.Q2.data.set(Q.data);
  };

  return {
    name: 'ldfa',

    attach(model: Model, rng: Rng) {
      const all = sendingSites(model);
      // classifier 'bp': the linear layers of a conv net keep the exact dy·W they were built with
      const sites = options.classifier === 'bp' && all.some((s) => s.kind === 'conv') ? all.filter((s) => s.kind === 'conv') : all;
      svdRng = rng.fork();
      outputSite = model.sites.find((s) => s.isOutput) ?? null;
      const ranks = resolveRanks(options.rank, sites, options.direct ? outputSite : null);
      sites.forEach((site, i) => {
        const fedByOutputInput = options.direct && !site.isOutput;
        if (options.direct && site.inputShape.length !== 1) throw new Error(`ldfa --direct is defined for MLPs only (spec §4.4); ${site.name} is not a linear layer on flat inputs`);
        const [rows, cols] = fedByOutputInput ? [weightMatrixShape(outputSite!)[1], weightMatrixShape(site)[1]] : weightMatrixShape(site);
        const r = ranks[i];
        const pShape = site.kind === 'conv' ? [rows, r, 1, 1] : [rows, r];
        const qShape = site.kind === 'conv' ? [r, ...site.weight.value.shape.slice(1)] : [r, cols];
        const P = param(`${site.name}.P`, options.inject?.[`${site.name}.P`] ?? uniformTensor(rng, pShape, 1 / Math.sqrt(r)));
        const Q = param(`${site.name}.Q`, options.inject?.[`${site.name}.Q`] ?? uniformTensor(rng, qShape, Math.sqrt(3) / Math.sqrt(cols)));
        assertShape(`${site.name}.P`, P.value, pShape);
        assertShape(`${site.name}.Q`, Q.value, qShape);
        const s: LowRankSite = {
          site, rank: r, P, Q, fedByOutputInput,
          get P2() { return reshape(P.value, [rows, r]); }, get Q2() { return reshape(Q.value, [r, cols]); },
          get gP2() { return reshape(P.grad, [rows, r]); }, get gQ2() { return reshape(Q.grad, [r, cols]); },
        };
        if (options.init === 'svd' && !options.inject?.[`${site.name}.P`] && !fedByOutputInput) refactorise(s);
        site.feedback = feedbackFor(s);
        layers.push(s);
      });
    },

    feedbackParams() {
      if (options.mode === 'fixed') return [];
      return layers.flatMap((s) => (options.learn === 'q' ? [s.Q] : [s.P, s.Q]));
    },

    feedbackGradients(labels?: Int32Array) {
      for (const s of layers) {
        switch (options.mode) {
          case 'fixed': break;
          case 'normative': k.normativeGradients(s.gP2, s.gQ2, s.P2, s.Q2, reshape(s.site.weight.value, weightMatrixShape(s.site))); break;
          case 'oja': ojaGradients(s, s.fedByOutputInput ? outputInputError() : null, options, labels, k); break;
          case 'factorised': k.factorisedGradients(s.gP2, s.gQ2, s.P2, s.Q2, reshape(s.site.weight.grad, weightMatrixShape(s.site)), linearBatch(s.site)); break;
        }
        if (options.learn === 'q') s.P.grad.data.fill(0);
      }
      for (const s of layers) clampSiteGradients(s, options, k);
    },

    afterStep(step: number) {
      if (options.mode !== 'normative' || options.svdEvery <= 0 || step % options.svdEvery !== 0) return;
      for (const s of layers) refactorise(s);
    },

    feedbackStorage() {
      return layers.flatMap((s) => [s.P.value, s.Q.value, s.P.grad, s.Q.grad]);
    },

    useKernels(kernels) {
      k = kernels;
      for (const s of layers) s.site.feedback = feedbackFor(s); // the kernels' feedback operator
    },

    feedbackTensors() {
      return Object.fromEntries(layers.flatMap((s) => [[s.P.name, s.P.value], [s.Q.name, s.Q.value]]));
    },

    randomStreams(): Record<string, Rng> {
      return svdRng ? { svd: svdRng } : {};
    },

    summary() {
      return {
        rule: 'ldfa', mode: options.mode, learn: options.learn, direct: options.direct,
        ranks: Object.fromEntries(layers.map((s) => [s.site.name, s.rank])),
      };
    },
  };
}

/** normative (§2.3 B): E = P̂Q̂ − W;  gP̂ = E·Q̂ᵀ;  gQ̂ = P̂ᵀ·E.   P̂: (out, r)  Q̂: (r, in)  W: (out, in) */
export function normativeGradients(gP: Tensor, gQ: Tensor, P: Tensor, Q: Tensor, W: Tensor): void {
  const E = multiply(P, Q);
  for (let i = 0; i < E.data.length; i++) E.data[i] -= W.data[i];
  ops().matmul(gP, E, Q, false, true);
  ops().matmul(gQ, P, E, true, false);
}

/** A linear layer's signals of the step: dy (N, out) and x (N, in), from which dW = dyᵀ·x was formed. */
export interface LinearBatch { dy: Tensor; x: Tensor }

/**
 * factorised (§2.3 C2): gP̂ = dW·Q̂ᵀ;  gQ̂ = P̂ᵀ·dW.   dW: (out, in)
 * `batch` (linear layers) is what dW was formed from; these equations read dW and ignore it. A
 * faster kernel may take the same products through the batch instead, gP̂ = dyᵀ·(x·Q̂ᵀ),
 * gQ̂ = (dy·P̂)ᵀ·x: equal in exact arithmetic, 4·N·r·(in + out) FLOPs instead of 4·out·in·r.
 */
export function factorisedGradients(gP: Tensor, gQ: Tensor, P: Tensor, Q: Tensor, dW: Tensor, _batch?: LinearBatch): void {
  ops().matmul(gP, dW, Q, false, true);
  ops().matmul(gQ, P, dW, true, false);
}

/** A linear layer's recorded dy and x (what its dW was formed from), or undefined. */
function linearBatch(site: FeedbackSite): LinearBatch | undefined {
  const { outputGrad: dy, input: x } = site;
  return site.kind === 'linear' && dy && x && dy.shape.length === 2 && x.shape.length === 2 ? { dy, x } : undefined;
}

/**
 * Oja's subspace rule (§2.3 C1):  gP̂ = −(C·P̂ − P̂·(P̂ᵀ·C·P̂)),  C = δ̃ᵀδ̃, never formed: C·P̂ = δ̃ᵀ(δ̃·P̂).
 *   gP, P: (out, r)   normalised: δ̃ (samples, out)
 */
export function ojaGradient(gP: Tensor, P: Tensor, normalised: Tensor): void {
  const CP = multiply(normalised, multiply(normalised, P), true, false); // (out, r)
  const P_PtCP = multiply(P, multiply(P, CP, true, false)); // (out, r)
  for (let i = 0; i < gP.data.length; i++) gP.data[i] = -(CP.data[i] - P_PtCP.data[i]);
}

/**
 * oja (§2.3 C1): P̂ by Oja's subspace rule on the normalised error; gQ̂ = zᵀ·x with z = δ·P̂
 * (conv: the filter gradient of Q̂ from x and the r-channel map z). δ is the layer's dy,
 * or E for the direct variant. With ojaOutput 'labels' the output layer's P̂ learns from the
 * one-hot labels (normalised like the error) instead; its Q̂ still learns from δ.
 * ε is ojaEps for linear layers and ojaEpsConv for conv layers (the v1 code's two values).
 */
function ojaGradients(s: LowRankSite, directSignal: Tensor | null, options: LdfaOptions, labels: Int32Array | undefined, k: LdfaKernels): void {
  const dy = directSignal ?? s.site.outputGrad;
  const x = s.site.input;
  if (!dy || !x) throw new Error(`ldfa oja: ${s.site.name} has no recorded signals; call backward first`);
  const fromLabels = s.site.isOutput && options.ojaOutput === 'labels';
  if (fromLabels && !labels) throw new Error(`ldfa oja with ojaOutput 'labels': the output layer ${s.site.name} needs the batch labels; pass them to feedbackGradients(labels)`);
  const rows = fromLabels ? oneHot(labels!, dy.shape[1])
    : s.site.kind === 'conv' && !directSignal ? k.channelRows(dy) : dy; // (samples, out)
  const eps = s.site.kind === 'conv' ? options.ojaEpsConv : options.ojaEps;
  // dW = dyᵀ·x where δ is the layer's own dy (not the direct variant's E)
  if (s.site.kind === 'linear') k.ojaLinearGradients(s.gP2, s.gQ2, s.P2, rows, dy, x, options.ojaNormalisation, eps, k, directSignal ? undefined : s.site.weight.grad);
  else {
    k.ojaGradient(s.gP2, s.P2, k.normaliseError(rows, options.ojaNormalisation, eps));
    const [N, , Ho, Wo] = dy.shape;
    const z = k.tensor([N, s.rank, Ho, Wo]);
    ops().conv2dBackwardInput(z, dy, s.P.value, { stride: 1, padding: 0 });
    ops().conv2dBackwardFilter(s.Q.grad, z, x, s.site.conv!);
  }
}

/**
 * oja for a linear layer: gP̂ by ojaGradient on the normalised rows (dy, or the one-hot labels),
 * gQ̂ = zᵀ·x with z = dy·P̂.   gP, P: (out, r)  gQ: (r, in)  rows, dy: (N, out)  x: (N, in)
 * The steps are the kernel set's own (`k`), so a kernel set that replaces them is used here too,
 * and one that replaces this whole entry may fuse them (src/fast/ldfa.ts).
 * `dW` (out, in), where given, is the layer's weight gradient dyᵀ·x; these equations ignore it. A
 * faster kernel may take gQ̂ = zᵀ·x = P̂ᵀ·(dyᵀ·x) = P̂ᵀ·dW from it instead where out < N: the same
 * math reassociated, 2·out·r·in FLOPs instead of 2·N·r·in (an output layer of 10 classes).
 */
export function ojaLinearGradients(gP: Tensor, gQ: Tensor, P: Tensor, rows: Tensor, dy: Tensor, x: Tensor, how: OjaNormalisation, eps: number, k: LdfaKernels, _dW?: Tensor): void {
  k.ojaGradient(gP, P, k.normaliseError(rows, how, eps));
  const z = k.tensor([dy.shape[0], P.shape[1]]); // (N, r)
  ops().matmul(z, dy, P);
  ops().matmul(gQ, z, x, true, false);
}

export const referenceLdfaKernels: LdfaKernels = {
  tensor: (shape) => tensor(shape), throughLowRank, normativeGradients, factorisedGradients, ojaGradient, ojaLinearGradients, normaliseError, channelRows, balancedFactors,
  clamp: clampInPlace,
};

/** Clamps (v4 normative code): linear layers' W, b, P̂, Q̂ gradients; conv layers' P̂, Q̂ gradients. */
function clampSiteGradients(s: LowRankSite, options: LdfaOptions, k: LdfaKernels): void {
  const c = s.site.kind === 'linear' ? options.clipLinearGrad : options.clipConvFeedbackGrad;
  if (c === null) return;
  const grads = [s.P.grad, s.Q.grad];
  if (s.site.kind === 'linear') grads.push(s.site.weight.grad, ...(s.site.bias ? [s.site.bias.grad] : []));
  for (const g of grads) k.clamp(g, c);
}

/** labels (N) → one-hot rows (N, classes). */
export function oneHot(labels: Int32Array, classes: number): Tensor {
  const out = tensor([labels.length, classes]);
  labels.forEach((y, i) => { out.data[i * classes + y] = 1; });
  return out;
}

/**
 * The normalised batch error δ̃ (rows: (samples, features)), so that C = δ̃ᵀδ̃ (spec §2.3 C1):
 *   max-std            δ̃ = (δ − mean_batch δ) / s,  s = max_j std_batch(δ_j) + ε  (unbiased std; the v1 code, default)
 *   max-second-moment  δ̃ = δ / √s,  s = max_j mean_batch(δ_j²) + ε, δ not centred (mid-2025 code):
 *                      that code divides C = δᵀδ once by s, so each δ is divided by √s
 *   none               δ̃ = δ
 */
export function normaliseError(rows: Tensor, how: OjaNormalisation, eps: number): Tensor {
  const [n, f] = rows.shape;
  const out = tensor(rows.shape, rows.data);
  if (how === 'none') return out;
  const { centre, divisor } = errorNormalisation(rows.data, n, f, how, eps);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) {
    out.data[i * f + j] = (rows.data[i * f + j] - centre[j]) / divisor;
  }
  return out;
}

/**
 * normaliseError's statistics of a (n, f) row-major batch error: δ̃ = (δ − centre)/divisor, with
 * centre = the batch mean (max-std) or 0 (max-second-moment), and divisor = s or √s as above.
 * Shared with the float32 path (src/fast/ldfa.ts), which sums in float64 the same way.
 */
export function errorNormalisation(data: ArrayLike<number>, n: number, f: number, how: Exclude<OjaNormalisation, 'none'>, eps: number): { centre: Float64Array; divisor: number } {
  const mean = new Float64Array(f), second = new Float64Array(f);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) {
    const v = data[i * f + j];
    mean[j] += v / n;
    second[j] += (v * v) / n;
  }
  let scale = 0;
  for (let j = 0; j < f; j++) {
    const s = how === 'max-std' ? Math.sqrt(Math.max(0, (second[j] - mean[j] * mean[j]) * (n / Math.max(1, n - 1)))) : second[j];
    scale = Math.max(scale, s);
  }
  scale += eps;
  if (scale === 0) {
    throw new Error(`Oja normalisation ${how}: the batch error has no spread in any unit and ε is 0, so normalising it would divide by zero; `
      + 'give ε > 0 (ojaEps, --oja-eps for linear layers; ojaEpsConv, --oja-eps-conv for conv layers: 1e-8 and 1e-6 in the authors\' code)');
  }
  if (how !== 'max-std') mean.fill(0);
  return { centre: mean, divisor: how === 'max-std' ? scale : Math.sqrt(scale) };
}

/** (N, C, H, W) → (N·H·W, C): one row per sample and position (conv Oja covariance). */
export function channelRows(t: Tensor): Tensor {
  const [N, C, H, W] = t.shape;
  const out = tensor([N * H * W, C]);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) {
    out.data[(n * H * W + p) * C + c] = t.data[(n * C + c) * H * W + p];
  }
  return out;
}

function resolveRanks(rank: RankSpec, sites: FeedbackSite[], directOutput: FeedbackSite | null): number[] {
  const limit = (site: FeedbackSite) => (directOutput && site !== directOutput
    ? Math.min(weightMatrixShape(directOutput)[1], weightMatrixShape(site)[1])
    : maxRank(site));
  if (rank === 'full') return sites.map(limit);
  if (typeof rank === 'number') {
    const largest = Math.max(...sites.map(limit));
    if (!Number.isInteger(rank) || rank < 1 || rank > largest) {
      throw new Error(`rank ${rank} is not allowed: rank must be an integer in [1, ${largest}] (the largest min(out, in) of this network's layers)`);
    }
    return sites.map((s) => Math.min(rank * (s.rankScale ?? 1), limit(s)));
  }
  if (rank.length !== sites.length) {
    throw new Error(`${rank.length} ranks given for ${sites.length} layers that send error down (${sites.map((s) => s.name).join(', ')})`);
  }
  return rank.map((r, i) => {
    const max = limit(sites[i]);
    if (r === 'full') return max;
    if (!Number.isInteger(r) || r < 1 || r > max) {
      throw new Error(`rank ${r} for layer ${sites[i].name} is not allowed: rank must be an integer in [1, ${max}] or 'full'`);
    }
    return r;
  });
}

export function checkLdfaOptions(o: LdfaOptions): void {
  if (!FEEDBACK_MODES.includes(o.mode)) throw new Error(`unknown feedback mode '${o.mode}': allowed are ${FEEDBACK_MODES.join(', ')}`);
  if (!OJA_NORMALISATIONS.includes(o.ojaNormalisation)) throw new Error(`unknown Oja normalisation '${o.ojaNormalisation}': allowed are ${OJA_NORMALISATIONS.join(', ')}`);
  if (o.learn !== 'pq' && o.learn !== 'q') throw new Error(`learn must be 'pq' or 'q', got '${o.learn as string}'`);
  if (o.direct && (o.mode === 'normative' || o.mode === 'factorised')) {
    throw new Error(`ldfa --direct learns P̂ from the broadcast error: use --feedback fixed or oja, not ${o.mode}`);
  }
  if (!Number.isInteger(o.svdEvery) || o.svdEvery < 0) throw new Error(`svdEvery must be an integer ≥ 0, got ${o.svdEvery}`);
  if (!['exact', 'randomized', 'auto'].includes(o.svd)) throw new Error(`svd '${o.svd as string}' is not allowed: allowed are exact, randomized, auto`);
  for (const [name, eps] of [['ojaEps', o.ojaEps], ['ojaEpsConv', o.ojaEpsConv]] as const) {
    if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${name} must be a finite number ≥ 0, got ${eps}`);
  }
  if (!OJA_OUTPUTS.includes(o.ojaOutput)) throw new Error(`ojaOutput '${o.ojaOutput as string}' is not allowed: allowed are ${OJA_OUTPUTS.join(', ')}`);
  if (!Number.isInteger(o.svdPowerIterations) || o.svdPowerIterations < 0 || o.svdPowerIterations > MAX_SVD_POWER_ITERATIONS) {
    throw new Error(`svdPowerIterations must be an integer in [0, ${MAX_SVD_POWER_ITERATIONS}], got ${o.svdPowerIterations}`);
  }
  if (o.svdPowerIterationsConv !== null && (!Number.isInteger(o.svdPowerIterationsConv) || o.svdPowerIterationsConv < 0 || o.svdPowerIterationsConv > MAX_SVD_POWER_ITERATIONS)) {
    throw new Error(`svdPowerIterationsConv must be an integer in [0, ${MAX_SVD_POWER_ITERATIONS}] or null, got ${o.svdPowerIterationsConv}`);
  }
  if (o.classifier !== 'ldfa' && o.classifier !== 'bp') throw new Error(`classifier '${o.classifier as string}' is not allowed: allowed are ldfa, bp`);
  if (!Number.isInteger(o.svdOversample) || o.svdOversample < 0 || o.svdOversample > MAX_SVD_OVERSAMPLE) {
    throw new Error(`svdOversample must be an integer in [0, ${MAX_SVD_OVERSAMPLE}], got ${o.svdOversample}`);
  }
  for (const [name, c] of [['clipLinearGrad', o.clipLinearGrad], ['clipConvFeedbackGrad', o.clipConvFeedbackGrad]] as const) {
    if (c !== null && !(c > 0 && Number.isFinite(c))) throw new Error(`${name} must be a finite number > 0 or null, got ${c}`);
  }
}
