// Closed-form predictions of the linear theory (spec §3.2–3.4), as functions other
// implementations can call. Each doc comment gives the statement, its assumptions and the
// derivation; docs/linear-theory.md lists the test that checks each one.
import { multiply } from '../../reference/backend.ts';
import { columnSpaceProjector, matrixRank, orthonormalBasis, svd } from '../../reference/linalg.ts';
import { normalTensor, type Rng } from '../../reference/rng.ts';
import { tensor, transpose2d, type Tensor } from '../../reference/tensor.ts';
import type { LinearState, RotatedFrame } from './setup.ts';

/**
 * Eckart–Young bound: the smallest loss ½‖Σ_yx − M‖_F² over matrices M of rank ≤ r is
 * ½Σ_{i>r} s_i² (s descending). Any rank-r network W₂W₁ (e.g. fixed rank-r feedback from small
 * initialisation, whose W₁ lies in range(Q)) with Σ_xx = I and a noiseless teacher has loss at
 * least this.
 */
export function eckartYoungLoss(s: ArrayLike<number>, r: number): number {
  let sum = 0;
  for (let i = r; i < s.length; i++) sum += s[i] * s[i];
  return 0.5 * sum;
}

export interface FixedFeedbackPrediction {
  /** Π (n, n): the orthogonal projector onto row(PΣ_yx) = span(Σ_yxᵀPᵀ) ⊂ ℝⁿ */
  projector: Tensor;
  /** the predicted network map W₂W₁ = Σ_yxΠ (m, n) */
  product: Tensor;
  /** the predicted loss L* = ½‖Σ_yx(I − Π)‖_F² (Σ_xx = I, noiseless teacher) */
  loss: number;
  /** ½Σ_{i>r} s_i² with r = the number of feedback units (rows of P) */
  eckartYoung: number;
  /** rank(PΣ_yx): the number of modes the network can learn */
  rank: number;
  /** L* − eckartYoung ≥ 0: the excess loss from misassigned credit */
  excess: number;
}

/**
 * The fixed point of fixed (task-agnostic) low-rank feedback B = QP (spec §3.3).
 *
 * Assumptions: Σ_xx = I, P and Q fixed, Q of full column rank, λ = 0, small initialisation.
 * Derivation: the W₁ update is ηQ·P(Σ_yx − W₂W₁), so W₁(t) − W₁(0) ∈ range(Q), and from small
 * initialisation W₁ ≈ QM with M (r, n): rank W₂W₁ ≤ r. Stationarity of W₁ needs
 * P(Σ_yx − W₂W₁) = 0 (as Q has full column rank) and stationarity of W₂ needs
 * (Σ_yx − W₂W₁)W₁ᵀ = 0, i.e. the residual vanishes on row(W₁) = row(M). The first condition
 * forces row(PΣ_yx) = row(PW₂W₁) ⊆ row(M), and with M of rank r = rank(PΣ_yx) the two row
 * spaces coincide; the second then says W₂W₁ = Σ_yx restricted to that row space:
 *   W₂W₁ = Σ_yxΠ,  Π = projector onto row(PΣ_yx),  L* = ½‖Σ_yx(I − Π)‖_F².
 * L* ≥ ½Σ_{i>r}s_i² (Eckart–Young, rank Σ_yxΠ ≤ r), with equality iff row(PΣ_yx) is the top-r
 * right singular space, e.g. when the rows of P span {u₁…u_r}; when r ≥ d = rank Σ_yx and
 * PΣ_yx has rank d, Π projects onto row(Σ_yx) and L* = 0.
 *
 * P is in paper orientation (r, m); the library's P̂ is Pᵀ, so pass transpose2d(P̂) or use
 * predictFixedFeedbackFromCode. Σ_yx: (m, n).
 */
export function predictFixedFeedback(Syx: Tensor /* (m, n) */, P: Tensor /* (r, m) */): FixedFeedbackPrediction {
  const m = Syx.shape[0];
  if (P.shape.length !== 2 || P.shape[1] !== m) throw new Error(`predictFixedFeedback: P must be (r, ${m}) in paper orientation (P = P̂ᵀ), got [${P.shape.join(', ')}]`);
  const r = P.shape[0];
  const PSyx = multiply(P, Syx); // (r, n)
  const projector = columnSpaceProjector(transpose2d(PSyx)); // (n, n) onto span(Σ_yxᵀPᵀ)
  const product = multiply(Syx, projector);
  let loss = 0;
  for (let i = 0; i < product.data.length; i++) loss += 0.5 * (Syx.data[i] - product.data[i]) ** 2;
  const eckartYoung = eckartYoungLoss(svd(Syx).S, r);
  return { projector, product, loss, eckartYoung, rank: matrixRank(PSyx), excess: loss - eckartYoung };
}

/** predictFixedFeedback with the library's P̂ (m, r) = Pᵀ. */
export function predictFixedFeedbackFromCode(Syx: Tensor /* (m, n) */, Phat: Tensor /* (m, r) */): FixedFeedbackPrediction {
  return predictFixedFeedback(Syx, transpose2d(Phat));
}

/**
 * Saxe et al. (2014), BP in a two-layer linear network: with Σ_xx = I, λ = 0 and decoupled,
 * balanced initialisation (each mode i at strength a₀ along (u_i, v_i)), every mode evolves
 * alone. Writing W̄₂ rows and W̄₁ columns of mode i as c·o_i, the GD step is
 * c ← c(1 + η(s_i − c²)), so a = c² obeys, in continuous time t (steps) with τ = 1/η,
 *   τ da/dt = 2a(s − a)  ⇒  a(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/a₀).
 */
export function saxeStrength(s: number, a0: number, eta: number, t: number): number {
  const e = Math.exp(2 * s * eta * t);
  if (!Number.isFinite(e)) return s;
  return (s * e) / (e - 1 + s / a0);
}

/** The discrete map the GD simulation follows exactly under the same assumptions: a ← a(1 + η(s − a))². */
export function saxeStrengthDiscrete(s: number, a0: number, eta: number, t: number): number {
  let a = a0;
  for (let i = 0; i < t; i++) a *= (1 + eta * (s - a)) ** 2;
  return a;
}

/** The time (steps) at which mode i is half learned: t_i = (τ/2s) ln(s/a₀ − 1) ≈ (τ/2s) ln(s/a₀). */
export function saxeLearningTime(s: number, a0: number, eta: number): number {
  return Math.log(s / a0 - 1) / (2 * s * eta);
}

/**
 * The gap between the continuous closed form and the discrete GD it describes.
 * Backward error analysis of x ← x(1 + ηs(1 − x))² (x = a/s) gives the modified flow
 * dx/dt = 2ηs·x(1 − x)·[1 + (ηs/2)(3x − 1)] + O(η²s²): the rise is delayed by about
 * (ηs/2)·t_i = ln(s/a₀)/4 steps, and a has slope at most ηs²/2 per step, so
 * |a_GD(t) − a(t)| ≲ ηs²·ln(s/a₀)/8 + O(ηs²). This returns twice the leading term plus
 * ηs² (a margin for the O(ηs²) start-up term).
 */
export function saxeTolerance(s: number, a0: number, eta: number): number {
  return eta * s * s * (Math.log(s / a0) / 4 + 1);
}

/**
 * Decoupled, balanced initialisation of strength a₀ on the first `modes` modes of `frame`:
 * W₂ = √a₀·U_d·Oᵀ, W₁ = √a₀·O·V_dᵀ with O (k, d) random orthonormal columns, so
 * W₂W₁ = a₀·U_dV_dᵀ and W₂ᵀW₂ = W₁W₁ᵀ. Needs k ≥ modes. P̂, Q̂ are (m, r), (r, k) zeros.
 */
export function decoupledBalancedInit(rng: Rng, frame: RotatedFrame, k: number, a0: number, modes: number, r = 1): LinearState {
  const m = frame.U.shape[0], n = frame.V.shape[0];
  if (modes > k) throw new Error(`decoupledBalancedInit: ${modes} modes need k ≥ ${modes} hidden units, got k = ${k}`);
  const O = orthonormalBasis(normalTensor(rng, [k, modes], 1));
  const root = Math.sqrt(a0);
  const W2 = tensor([m, k]), W1 = tensor([k, n]);
  for (let i = 0; i < modes; i++) {
    for (let a = 0; a < m; a++) for (let h = 0; h < k; h++) W2.data[a * k + h] += root * frame.U.data[a * m + i] * O.data[h * modes + i];
    for (let h = 0; h < k; h++) for (let b = 0; b < n; b++) W1.data[h * n + b] += root * O.data[h * modes + i] * frame.V.data[b * n + i];
  }
  return { W1, W2, P: tensor([m, r]), Q: tensor([r, k]) };
}

/**
 * Normative feedback in the linear setting (spec §3.4): the fixed points of the feedback flow
 * are QP = the best rank-r approximation of W₂ᵀ, so at any moment the network behaves like
 * fixed feedback with P spanning W₂'s top-r left singular vectors. From small initialisation
 * W₂ aligns with the strongest modes first, so the first plateau is the optimal rank-r loss
 * ½Σ_{i>r}s_i² (Eckart–Young) with σ̂ = (1, …, 1, 0, …); because Q moves, W₁ accumulates
 * components outside any fixed rank-r range and further modes are learned later.
 * This returns that first plateau: {loss, sigma} with `modes` entries of σ̂.
 */
export function normativePlateau(s: ArrayLike<number>, r: number, modes = s.length): { loss: number; sigma: number[] } {
  return { loss: eckartYoungLoss(s, r), sigma: Array.from({ length: Math.min(modes, s.length) }, (_, i) => (i < r ? 1 : 0)) };
}

/**
 * Oja's rule in the linear setting (spec §3.4, C1): for a fixed error covariance C with a gap
 * after its r-th eigenvalue, ΔP = η(PC − PCPᵀP) converges to orthonormal rows spanning the
 * top-r eigenvectors of C. From small initialisation C ≈ Σ_yxΣ_yxᵀ = US²Uᵀ, so P finds
 * {u₁…u_r}: the top error subspace. This returns that subspace as an orthonormal basis (m, r)
 * of the top-r eigenvectors of C (its top-r left singular vectors).
 */
export function topErrorSubspace(C: Tensor /* (m, m) */, r: number): Tensor {
  const { U } = svd(C);
  const m = C.shape[0];
  const out = tensor([m, r]);
  for (let i = 0; i < m; i++) for (let j = 0; j < r; j++) out.data[i * r + j] = U.data[i * U.shape[1] + j];
  return out;
}
