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
//   factorised  gP̂ = dW·Q̂ᵀ, gQ̂ = P̂ᵀ·dW   (the loss gradient if W were P̂Q̂, §2.3 C2)
// learn='q' keeps P̂ at its initial value (the Q-only ablation).
// direct=true is the DFA-style variant (§4.4): each hidden layer receives E·P̂·Q̂, E being
// the error at the output layer's input, and P̂ learns by Oja on E's covariance.
import { multiply, ops } from '../backend.ts';
import { throughLowRank, throughLowRankKernel, type Feedback } from '../feedback.ts';
import { balancedFactors } from '../linalg.ts';
import { maxRank, weightMatrixShape, type FeedbackSite, type Model } from '../models/network.ts';
import { param, type Param } from '../params.ts';
import { uniformTensor, type Rng } from '../rng.ts';
import { assertShape, reshape, tensor, type Tensor } from '../tensor.ts';
import type { Rule } from './rule.ts';
import { sendingSites } from './rule.ts';

export type FeedbackMode = 'fixed' | 'normative' | 'oja' | 'factorised';
export const FEEDBACK_MODES: readonly FeedbackMode[] = ['fixed', 'normative', 'oja', 'factorised'];

/** How Oja's rule scales the centred batch error (the sources differ, spec §2.3 C1, §6.3). */
export type OjaNormalisation = 'max-std' | 'max-second-moment' | 'none';
export const OJA_NORMALISATIONS: readonly OjaNormalisation[] = ['max-std', 'max-second-moment', 'none'];

export type RankSpec = number | 'full' | readonly (number | 'full')[];

export interface LdfaOptions {
  /** One rank for every layer (clamped to each layer's min(out, in)), 'full', or one per sending layer. */
  rank: RankSpec;
  mode: FeedbackMode;
  learn: 'pq' | 'q';
  direct: boolean;
  /** normative: re-factorise P̂, Q̂ from W's SVD every this many steps (0 = never). */
  svdEvery: number;
  ojaNormalisation: OjaNormalisation;
  /** The ε of Oja's normalisation: 1e-8 (linear layers) in the v1 code. */
  ojaEps: number;
  /** 'svd': P̂Q̂ starts as the best rank-r approximation of W; 'random': P̂ ~ U(±1/√out), Q̂ ~ U(±√3/√in). */
  init: 'svd' | 'random';
  /**
   * How the SVD of W is computed for initialisation and re-factorisation: 'exact' (Jacobi),
   * 'randomized' (Halko et al., 2 power iterations, as the authors' torch.svd_lowrank), or
   * 'auto': exact when min(out, in) ≤ 128, randomized above (exact Jacobi is O(n³) in plain JS).
   */
  svd: 'exact' | 'randomized' | 'auto';
  /** Feedback tensors to use instead of drawing them: `${site}.P`, `${site}.Q`. */
  inject?: Record<string, Tensor>;
}

export const DEFAULT_LDFA: LdfaOptions = {
  rank: 10, mode: 'normative', learn: 'pq', direct: false, svdEvery: 0,
  ojaNormalisation: 'max-std', ojaEps: 1e-8, init: 'svd', svd: 'auto',
};

/** Up to this min(out, in), svd 'auto' uses the exact SVD. */
export const EXACT_SVD_LIMIT = 128;

/** The spec's default init per mode: SVD for normative and factorised (v4 code), random otherwise (v1 code). */
export function defaultInit(mode: FeedbackMode): 'svd' | 'random' {
  return mode === 'normative' || mode === 'factorised' ? 'svd' : 'random';
}

interface LowRankSite {
  site: FeedbackSite;
  rank: number;
  P: Param; // (out, r) or (Cout, r, 1, 1)
  Q: Param; // (r, in) or (r, Cin, k, k)
  /** The same data seen as matrices: P̂ (out, r), Q̂ (r, in·k²). */
  P2: Tensor; Q2: Tensor; gP2: Tensor; gQ2: Tensor;
  /** direct variant: this site is fed E instead of its own dy. */
  fedByOutputInput: boolean;
}

export function ldfa(options: LdfaOptions): Rule {
  checkLdfaOptions(options);
  const layers: LowRankSite[] = [];
  let outputSite: FeedbackSite | null = null;

  /** E: the error arriving at the output layer's input (direct variant). */
  const outputInputError = (): Tensor => {
    const E = outputSite?.inputGrad;
    if (!E) throw new Error('ldfa direct: the output layer has not sent its error yet');
    return E;
  };

  const feedbackFor = (s: LowRankSite): Feedback => {
    if (s.fedByOutputInput) {
      const lowRank = throughLowRank(s.P2, s.Q2);
      return (dx) => lowRank(dx, outputInputError());
    }
    return s.site.kind === 'linear' ? throughLowRank(s.P2, s.Q2) : throughLowRankKernel(s.P.value, s.Q.value, s.site.conv!);
  };

  let svdRng: Rng | null = null;
  const refactorise = (s: LowRankSite) => {
    const shape = weightMatrixShape(s.site);
    const exact = options.svd === 'exact' || (options.svd === 'auto' && Math.min(...shape) <= EXACT_SVD_LIMIT);
    const { P, Q } = balancedFactors(reshape(s.site.weight.value, shape), s.rank, exact ? 'exact' : { randomized: svdRng! });
    s.P2.data.set(P.data);
    s.Q2.data.set(Q.data);
  };

  return {
    name: 'ldfa',

    attach(model: Model, rng: Rng) {
      const sites = sendingSites(model);
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
        const P = param(`${site.name}.P`, options.inject?.[`${site.name}.P`] ?? uniformTensor(rng, pShape, 1 / Math.sqrt(rows)));
        const Q = param(`${site.name}.Q`, options.inject?.[`${site.name}.Q`] ?? uniformTensor(rng, qShape, Math.sqrt(3) / Math.sqrt(cols)));
        assertShape(`${site.name}.P`, P.value, pShape);
        assertShape(`${site.name}.Q`, Q.value, qShape);
        const s: LowRankSite = {
          site, rank: r, P, Q, fedByOutputInput,
          P2: reshape(P.value, [rows, r]), Q2: reshape(Q.value, [r, cols]),
          gP2: reshape(P.grad, [rows, r]), gQ2: reshape(Q.grad, [r, cols]),
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

    feedbackGradients() {
      if (options.mode === 'fixed') return;
      for (const s of layers) {
        switch (options.mode) {
          case 'normative': normativeGradients(s.gP2, s.gQ2, s.P2, s.Q2, reshape(s.site.weight.value, weightMatrixShape(s.site))); break;
          case 'oja': ojaGradients(s, s.fedByOutputInput ? outputInputError() : null, options); break;
          case 'factorised': factorisedGradients(s.gP2, s.gQ2, s.P2, s.Q2, reshape(s.site.weight.grad, weightMatrixShape(s.site))); break;
        }
        if (options.learn === 'q') s.P.grad.data.fill(0);
      }
    },

    afterStep(step: number) {
      if (options.mode !== 'normative' || options.svdEvery <= 0 || step % options.svdEvery !== 0) return;
      for (const s of layers) refactorise(s);
    },

    feedbackTensors() {
      return Object.fromEntries(layers.flatMap((s) => [[s.P.name, s.P.value], [s.Q.name, s.Q.value]]));
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

/** factorised (§2.3 C2): gP̂ = dW·Q̂ᵀ;  gQ̂ = P̂ᵀ·dW.   dW: (out, in) */
export function factorisedGradients(gP: Tensor, gQ: Tensor, P: Tensor, Q: Tensor, dW: Tensor): void {
  ops().matmul(gP, dW, Q, false, true);
  ops().matmul(gQ, P, dW, true, false);
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
 * or E for the direct variant.
 */
function ojaGradients(s: LowRankSite, directSignal: Tensor | null, options: LdfaOptions): void {
  const dy = directSignal ?? s.site.outputGrad;
  const x = s.site.input;
  if (!dy || !x) throw new Error(`ldfa oja: ${s.site.name} has no recorded signals; call backward first`);
  const rows = s.site.kind === 'conv' && !directSignal ? channelRows(dy) : dy; // (samples, out)
  ojaGradient(s.gP2, s.P2, normaliseError(rows, options.ojaNormalisation, options.ojaEps));
  if (s.site.kind === 'linear') {
    ops().matmul(s.gQ2, multiply(dy, s.P2), x, true, false);
  } else {
    const [N, , Ho, Wo] = dy.shape;
    const z = tensor([N, s.rank, Ho, Wo]);
    ops().conv2dBackwardInput(z, dy, s.P.value, { stride: 1, padding: 0 });
    ops().conv2dBackwardFilter(s.Q.grad, z, x, s.site.conv!);
  }
}

/**
 * δ̃ = (δ − mean_batch δ) / scale, with scale (spec §2.3 C1):
 *   max-std            max_j std_batch(δ_j) + ε  (unbiased std; the v1 code, default)
 *   max-second-moment  max_j mean_batch(δ_j²) + ε, δ not centred (mid-2025 code)
 *   none               δ as it is
 *   rows: (samples, features)
 */
export function normaliseError(rows: Tensor, how: OjaNormalisation, eps: number): Tensor {
  const [n, f] = rows.shape;
  const out = tensor(rows.shape, rows.data);
  if (how === 'none') return out;
  const mean = new Float64Array(f), second = new Float64Array(f);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) {
    const v = rows.data[i * f + j];
    mean[j] += v / n;
    second[j] += (v * v) / n;
  }
  let scale = 0;
  for (let j = 0; j < f; j++) {
    const s = how === 'max-std' ? Math.sqrt(Math.max(0, (second[j] - mean[j] * mean[j]) * (n / Math.max(1, n - 1)))) : second[j];
    scale = Math.max(scale, s);
  }
  scale += eps;
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) {
    out.data[i * f + j] = (rows.data[i * f + j] - (how === 'max-std' ? mean[j] : 0)) / scale;
  }
  return out;
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
  if (!(o.ojaEps >= 0) || !Number.isFinite(o.ojaEps)) throw new Error(`ojaEps must be a finite number ≥ 0, got ${o.ojaEps}`);
}
