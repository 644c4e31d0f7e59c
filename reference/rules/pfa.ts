// Product Feedback Alignment (Li & Benna 2024, arXiv 2405.20594; family spec §5, from the authors' code).
//   g_mid = dy·B_p              B_p (out, k·out) fixed; conv: a 1×1 kernel (Cout, k·Cout, 1, 1)
//   dx    = g_mid·R             R (k·out, in) learned;  conv: a kernel (k·Cout, Cin, kh, kw) with W's stride
// The product B_p·R is never formed (reference/feedback.ts's two-factor operators, as LDFA's P̂, Q̂).
// R learns from its local gradient (§5.2), stepped by W's optimiser with W's lr and coupled decay:
//   grad_R = g_midᵀ·x = B_pᵀ·dW  (conv: the same with dW seen as (Cout, Cin·kh·kw))
// so under plain SGD R − B_pᵀW decays as (1 − ηλ)^t and B_p·R → B_pB_pᵀ·W ≈ W.
// B_p ('random', default): U(±√(3/n_mid)), variance 1/n_mid, so E[B_pB_pᵀ] = I (§5.3);
//   'identity' (k = 1): B_p = I, and PFA is KP with R in B's role (§5.4 property 1);
//   'orthogonal': orthonormal rows, B_pB_pᵀ = I exactly (§5.4 property 2).
// R₀ is drawn like FA's B. This is LDFA's "Q only" with a fixed, wide P̂ and no rank clamp (§5.5).
import { ops } from '../backend.ts';
import { throughLowRank, throughLowRankKernel } from '../feedback.ts';
import { orthonormalizeRows } from '../linalg.ts';
import { weightMatrixShape, type FeedbackSite } from '../models/network.ts';
import { param, type Param } from '../params.ts';
import { initWeight, normalTensor, uniformTensor, type Rng } from '../rng.ts';
import { assertShape, reshape, tensor, type Tensor } from '../tensor.ts';
import { sendingSites, type Rule } from './rule.ts';

export type PfaFeedback = 'random' | 'identity' | 'orthogonal';
export const PFA_FEEDBACKS: readonly PfaFeedback[] = ['random', 'identity', 'orthogonal'];

export interface PfaOptions {
  /** k: the middle population has k·out units (10 in the authors' configs). */
  expansion: number;
  feedback: PfaFeedback;
  /** `${site}.Bp` (out, k·out), `${site}.R` (k·out, in): tensors to use instead of drawing them. */
  inject?: Record<string, Tensor>;
}

export const DEFAULT_PFA: PfaOptions = { expansion: 10, feedback: 'random' };

export function checkPfaOptions(o: Omit<PfaOptions, 'inject'>): void {
  if (!PFA_FEEDBACKS.includes(o.feedback)) throw new Error(`PFA feedback '${o.feedback as string}' is not allowed: allowed are ${PFA_FEEDBACKS.join(', ')}`);
  if (!Number.isInteger(o.expansion) || o.expansion < 1) throw new Error(`PFA expansion k must be a positive integer, got ${o.expansion}`);
  if (o.feedback === 'identity' && o.expansion !== 1) throw new Error(`PFA feedback 'identity' needs expansion k = 1 (B_p = I is square), got k = ${o.expansion}`);
}

/** B_p (out, mid) for one layer. */
function drawBp(rng: Rng, out: number, mid: number, how: PfaFeedback): Tensor {
  if (how === 'identity') {
    const I = tensor([out, mid]);
    for (let i = 0; i < out; i++) I.data[i * mid + i] = 1;
    return I;
  }
  if (how === 'orthogonal') return orthonormalizeRows(normalTensor(rng, [out, mid], 1));
  return uniformTensor(rng, [out, mid], Math.sqrt(3 / mid));
}

interface PfaSite { site: FeedbackSite; Bp: Tensor; R: Param; mid: number }

export function pfa(options: PfaOptions = DEFAULT_PFA): Rule {
  checkPfaOptions(options);
  const layers: PfaSite[] = [];
  return {
    name: 'pfa',
    stepsWithWeights: true,
    attach(model, rng) {
      for (const site of sendingSites(model)) {
        const [out, cols] = weightMatrixShape(site);
        const mid = options.expansion * out;
        const conv = site.kind === 'conv';
        const bpShape = conv ? [out, mid, 1, 1] : [out, mid];
        const rShape = conv ? [mid, ...site.weight.value.shape.slice(1)] : [mid, cols];
        const drawnBp = drawBp(rng, out, mid, options.feedback);
        const Bp = options.inject?.[`${site.name}.Bp`] ?? reshape(drawnBp, bpShape);
        const R = param(`${site.name}.R`, options.inject?.[`${site.name}.R`] ?? initWeight(rng, rShape, 'uniform'));
        assertShape(`${site.name}.Bp`, Bp, bpShape);
        assertShape(`${site.name}.R`, R.value, rShape);
        site.feedback = conv ? throughLowRankKernel(Bp, R.value, site.conv!) : throughLowRank(Bp, R.value);
        layers.push({ site, Bp, R, mid });
      }
    },
    feedbackParams: () => layers.map((s) => s.R),
    /** grad_R = B_pᵀ·dW:  (mid, out)·(out, in) → (mid, in). */
    feedbackGradients() {
      for (const { site, Bp, R, mid } of layers) {
        const [out, cols] = weightMatrixShape(site);
        ops().matmul(reshape(R.grad, [mid, cols]), reshape(Bp, [out, mid]), reshape(site.weight.grad, [out, cols]), true, false);
      }
    },
    afterStep: () => {},
    feedbackTensors: () => Object.fromEntries(layers.flatMap((s) => [[`${s.site.name}.Bp`, s.Bp], [s.R.name, s.R.value]])),
    summary: () => ({
      rule: 'pfa', expansion: options.expansion, feedback: options.feedback,
      widths: Object.fromEntries(layers.map((s) => [s.site.name, s.mid])),
    }),
  };
}
