// Alignment metrics for comparing a feedback rule with BP (spec peers-and-style §6.4), each with
// its exact formula. Angles are in degrees, like biotorch and Akrout (spec §4 of peers-and-style
// lists who uses degrees and who cosines).
//
// Conventions. A feedback matrix B has the forward weight's shape (out, in) and carries the error
// down as dx = dy·B (reference/feedback.ts). For LDFA the effective feedback is P̂·Q̂ (out, in),
// with P̂ (out, r) and Q̂ (r, in). Teaching signals and errors are batches of rows (N, n).
import { matmul } from './kernels.ts';
import { principalAngles, symmetricEigen } from './linalg.ts';
import { assertShape, tensor, type Tensor } from './tensor.ts';

export { effectiveRank, stableRank } from './linalg.ts';

const DEG_PER_RAD = 180 / Math.PI;

/** max_i |x_i| over a range of a Float64Array. */
function maxAbs(x: Float64Array, start: number, end: number): number {
  let m = 0;
  for (let i = start; i < end; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/**
 * Angle in degrees between x[xs .. xs+len) and y[ys .. ys+len), NaN when either is all-zero:
 *   θ = arccos(⟨x, y⟩ / (‖x‖‖y‖)) = 2·atan2(‖x̂ − ŷ‖, ‖x̂ + ŷ‖),  x̂ = x/‖x‖, ŷ = y/‖y‖.
 * The two are equal in exact arithmetic; the atan2 form (Kahan) is evaluated because arccos
 * loses half the digits near 0° and 180° (a cosine error of ε gives an angle error of √(2ε),
 * ≈ 1e-6° in float64), while the atan2 form is accurate over the whole range and needs no
 * clamping. Both vectors are first divided by their largest |entry| (which leaves θ unchanged)
 * so that the squares neither overflow nor underflow.
 */
function angleOfRanges(x: Float64Array, xs: number, y: Float64Array, ys: number, len: number): number {
  const sx = maxAbs(x, xs, xs + len), sy = maxAbs(y, ys, ys + len);
  if (sx === 0 || sy === 0) return NaN;
  let xx = 0, yy = 0;
  for (let i = 0; i < len; i++) {
    xx += (x[xs + i] / sx) ** 2;
    yy += (y[ys + i] / sy) ** 2;
  }
  const rx = Math.sqrt(xx), ry = Math.sqrt(yy); // ‖x‖/sx, ‖y‖/sy
  let diff = 0, sum = 0;
  for (let i = 0; i < len; i++) {
    const u = x[xs + i] / sx / rx, v = y[ys + i] / sy / ry; // entries of the unit vectors x̂, ŷ
    diff += (u - v) ** 2;
    sum += (u + v) ** 2;
  }
  return 2 * Math.atan2(Math.sqrt(diff), Math.sqrt(sum)) * DEG_PER_RAD;
}

/**
 * Angle between two tensors of equal size, seen as flat vectors, in degrees:
 *   angle(a, b) = arccos( ⟨a, b⟩ / (‖a‖₂ ‖b‖₂) ) · 180/π   ∈ [0, 180],
 * evaluated in the equivalent, accurate form 2·atan2(‖â − b̂‖, ‖â + b̂‖) (see `angleOfRanges`;
 * no clamping is needed, the result is always in [0, 180]). Defined as NaN when either norm is 0
 * (there is no direction to compare). Shapes may differ as long as the number of entries agrees
 * (both are flattened in row-major order).
 */
export function angleDegrees(a: Tensor, b: Tensor): number {
  if (a.size !== b.size) {
    throw new Error(`angleDegrees: the tensors hold ${a.size} and ${b.size} values ([${a.shape.join(', ')}] vs [${b.shape.join(', ')}]); equal sizes are required`);
  }
  return angleOfRanges(a.data, a.offset, b.data, b.offset, a.size);
}

export interface TeachingSignalAngle {
  /**
   * (1/|S|) Σ_{n∈S} angle(δ_n, δ^BP_n), over the rows S where both ‖δ_n‖ and ‖δ^BP_n‖ are
   * non-zero (TinyDFA's per-sample alignment); NaN when S is empty.
   */
  perSampleMeanDeg: number;
  /** angle(vec δ, vec δ^BP) over the whole flattened batch (Akrout's alignment). */
  flattenedDeg: number;
  /** |S|, the number of rows that entered the per-sample mean. */
  samplesUsed: number;
}

/**
 * Teaching-signal alignment of a layer: δ (N, n) is the signal a rule delivers, δ^BP (N, n) the
 * exact backpropagated one for the same batch.
 *   perSampleMeanDeg = mean over rows n with ‖δ_n‖·‖δ^BP_n‖ ≠ 0 of angle(δ_n, δ^BP_n);
 *   flattenedDeg     = angle(δ, δ^BP) of the flattened matrices.
 * The two differ whenever rows have different norms or angles: the flattened angle weights each
 * sample by its norm, the per-sample mean weights them equally.
 */
export function teachingSignalAngle(delta: Tensor /* (N, n) */, deltaBP: Tensor /* (N, n) */): TeachingSignalAngle {
  if (delta.shape.length !== 2) throw new Error(`teachingSignalAngle: delta must be (N, n) but is [${delta.shape.join(', ')}]`);
  assertShape('teachingSignalAngle deltaBP', deltaBP, delta.shape);
  const [N, n] = delta.shape;
  let sum = 0, used = 0;
  for (let row = 0; row < N; row++) {
    const angle = angleOfRanges(delta.data, delta.offset + row * n, deltaBP.data, deltaBP.offset + row * n, n);
    if (Number.isNaN(angle)) continue; // a zero row on either side
    sum += angle;
    used++;
  }
  return {
    perSampleMeanDeg: used === 0 ? NaN : sum / used,
    flattenedDeg: angleDegrees(delta, deltaBP),
    samplesUsed: used,
  };
}

/**
 * Update alignment of a layer: angle(ΔW, ΔW^BP) in degrees, the angle between the flattened
 * weight update of a rule and BP's update for the same batch (bioflax). Same as `angleDegrees`.
 */
export function updateAngle(dW: Tensor, dWBP: Tensor): number {
  assertShape('updateAngle dWBP', dWBP, dW.shape);
  return angleDegrees(dW, dWBP);
}

export interface FeedbackAlignment {
  /** angle(B, W) in degrees, flattened; 0 for B = cW with c > 0 (BP-like), 90 for B ⟂ W */
  angleDeg: number;
  /** ‖B‖_F / ‖W‖_F; NaN when ‖W‖_F = 0 */
  normRatio: number;
}

/**
 * Weight alignment of a feedback matrix with its forward weight. B is in W's shape (out, in)
 * (our convention: dx = dy·B, so B = W is BP):
 *   angleDeg  = arccos( ⟨B, W⟩_F / (‖B‖_F ‖W‖_F) ) · 180/π,
 *   normRatio = ‖B‖_F / ‖W‖_F.
 * For LDFA pass B = effectiveFeedback(P̂, Q̂).
 */
export function feedbackAlignment(B: Tensor /* (out, in) */, W: Tensor /* (out, in) */): FeedbackAlignment {
  assertShape('feedbackAlignment B', B, W.shape);
  const nb = norm(B), nw = norm(W);
  return { angleDeg: angleDegrees(B, W), normRatio: nw === 0 ? NaN : nb / nw };
}

function norm(t: Tensor): number {
  const s = maxAbs(t.data, t.offset, t.offset + t.size);
  if (s === 0) return 0;
  let sum = 0;
  for (let i = 0; i < t.size; i++) sum += (t.data[t.offset + i] / s) ** 2;
  return s * Math.sqrt(sum);
}

/** LDFA's effective feedback matrix B = P̂·Q̂ (out, in), from P̂ (out, r) and Q̂ (r, in). */
export function effectiveFeedback(P: Tensor /* (out, r) */, Q: Tensor /* (r, in) */): Tensor {
  if (P.shape.length !== 2) throw new Error(`effectiveFeedback: P̂ must be (out, r) but is [${P.shape.join(', ')}]`);
  const [out, r] = P.shape;
  assertShape('effectiveFeedback Q̂', Q, [r, -1]);
  const B = tensor([out, Q.shape[1]]);
  matmul(B, P, Q);
  return B;
}

/**
 * The uncentred (or centred) error covariance C = Σ_n dy_nᵀ dy_n (out, out) of a batch of errors
 * dy (N, out), i.e. C = dyᵀ·dy; with `centre`, dy_n is replaced by dy_n − mean_n dy_n.
 */
export function errorCovariance(dy: Tensor /* (N, out) */, centre = false): Tensor {
  if (dy.shape.length !== 2) throw new Error(`errorCovariance: dy must be (N, out) but is [${dy.shape.join(', ')}]`);
  const [N, out] = dy.shape;
  const e = tensor([N, out]);
  for (let i = 0; i < N * out; i++) e.data[i] = dy.data[dy.offset + i];
  if (centre && N > 0) {
    for (let j = 0; j < out; j++) {
      let mean = 0;
      for (let n = 0; n < N; n++) mean += e.data[n * out + j];
      mean /= N;
      for (let n = 0; n < N; n++) e.data[n * out + j] -= mean;
    }
  }
  const C = tensor([out, out]);
  matmul(C, e, e, true, false);
  return C;
}

/**
 * Principal angles (degrees, ascending) between span(P̂) — the r columns of P̂ (out, r), i.e. the
 * error directions LDFA's compression reads — and the top-r eigenspace of the error covariance
 * C = Σ_n dy_nᵀ dy_n (out, out) of a batch dy (N, out) (centred first when `centre`):
 *   angles = principalAngles(P̂, V_r) · 180/π,  C = V diag(λ) Vᵀ, λ descending, V_r = V[:, :r].
 * All zero when P̂ spans the top-r error subspace (the Oja fixed point, spec §2.3 C1). There
 * are rank(P̂) angles. The top-r eigenspace is only well defined when λ_r > λ_{r+1}.
 */
export function errorSubspaceAngles(P: Tensor /* (out, r) */, dy: Tensor /* (N, out) */, options: { centre?: boolean } = {}): Float64Array {
  if (P.shape.length !== 2) throw new Error(`errorSubspaceAngles: P̂ must be (out, r) but is [${P.shape.join(', ')}]`);
  const [out, r] = P.shape;
  assertShape('errorSubspaceAngles dy', dy, [-1, out]);
  if (r < 1 || r > out) throw new Error(`errorSubspaceAngles: P̂ has ${r} columns: rank must be an integer in [1, ${out}]`);
  const { vectors } = symmetricEigen(errorCovariance(dy, options.centre ?? false));
  const top = tensor([out, r]);
  for (let i = 0; i < out; i++) for (let j = 0; j < r; j++) top.data[i * r + j] = vectors.data[i * out + j];
  return principalAngles(P, top).map((a) => a * DEG_PER_RAD);
}
