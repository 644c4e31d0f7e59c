// The two-layer linear model of the linear theory (spec §3.1): teachers, input statistics,
// the rotated frame of Σ_yx's SVD, and the authors' initialisation.
//
// Orientation. Weights are stored as the library stores them, (out, in): W₁ (k, n), W₂ (m, k),
// which is also the paper's orientation of W₁ and W₂. The feedback factors are stored in the
// library's code orientation (reference/rules/ldfa.ts): P̂ = Pᵀ (m, r) and Q̂ = Qᵀ (r, k), so
// that the paper's B = Q·P (k, m) is B = Q̂ᵀ·P̂ᵀ = (P̂Q̂)ᵀ.
import { multiply } from '../../reference/backend.ts';
import { balancedFactors, orthonormalBasis, svd } from '../../reference/linalg.ts';
import { normalTensor, type Rng } from '../../reference/rng.ts';
import { tensor, type Tensor } from '../../reference/tensor.ts';

/** The sufficient statistics of the loss L = (1/2P)Σ_μ‖y_μ − W₂W₁x_μ‖² over a data set. */
export interface LinearStatistics {
  /** Σ_xx = ⟨x xᵀ⟩ (n, n) */
  Sxx: Tensor;
  /** Σ_yx = ⟨y xᵀ⟩ (m, n) */
  Syx: Tensor;
  /** Σ_yy = ⟨y yᵀ⟩ (m, m): only needed for the loss value and the error covariance. */
  Syy: Tensor;
}

/** The weights of one run. P, Q are the LDFA factors in code orientation (unused by BP). */
export interface LinearState {
  /** W₁ (k, n) */
  W1: Tensor;
  /** W₂ (m, k) */
  W2: Tensor;
  /** P̂ = Pᵀ (m, r) */
  P: Tensor;
  /** Q̂ = Qᵀ (r, k) */
  Q: Tensor;
}

/**
 * The rotated frame of Σ_yx = U·S·Vᵀ with U (m, m) and V (n, n) orthogonal (the thin SVD
 * completed by an orthonormal basis of the complement), s the min(m, n) singular values in
 * descending order and S the (m, n) rectangular diagonal matrix holding them.
 */
export interface RotatedFrame {
  U: Tensor;
  V: Tensor;
  s: Float64Array;
  S: Tensor;
}

export function cloneState(s: LinearState): LinearState {
  const c = (t: Tensor) => tensor(t.shape, t.data);
  return { W1: c(s.W1), W2: c(s.W2), P: c(s.P), Q: c(s.Q) };
}

/** [A, B] side by side: (n, a) and (n, b) → (n, a + b). */
function hstack(A: Tensor, B: Tensor): Tensor {
  const [n, a] = A.shape, b = B.shape[1];
  const out = tensor([n, a + b]);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < a; j++) out.data[i * (a + b) + j] = A.data[i * a + j];
    for (let j = 0; j < b; j++) out.data[i * (a + b) + a + j] = B.data[i * b + j];
  }
  return out;
}

/** An orthonormal (n, n) basis whose first columns are the orthonormal columns of A (n, p). */
export function completeBasis(A: Tensor /* (n, p) */): Tensor {
  const [n, p] = A.shape;
  if (p === n) return tensor(A.shape, A.data);
  const complement = multiply(A, A, false, true); // A Aᵀ
  for (let i = 0; i < complement.data.length; i++) complement.data[i] = -complement.data[i];
  for (let i = 0; i < n; i++) complement.data[i * n + i] += 1; // I − A Aᵀ
  const rest = orthonormalBasis(complement, 1e-8);
  if (rest.shape[1] !== n - p) throw new Error(`completeBasis: found ${rest.shape[1]} complement vectors for ${n - p} missing ones`);
  return hstack(A, rest);
}

export function rotatedFrame(Syx: Tensor /* (m, n) */): RotatedFrame {
  const [m, n] = Syx.shape;
  const { U, S: s, V } = svd(Syx);
  const S = tensor([m, n]);
  for (let i = 0; i < s.length; i++) S.data[i * n + i] = s[i];
  return { U: completeBasis(U), V: completeBasis(V), s, S };
}

/** The state seen in the rotated frame: W̄₂ = UᵀW₂, W̄₁ = W₁V, P̄ = PU (i.e. P̂̄ = UᵀP̂), Q unchanged. */
export function rotateState(state: LinearState, frame: RotatedFrame): LinearState {
  return {
    W1: multiply(state.W1, frame.V),
    W2: multiply(frame.U, state.W2, true, false),
    P: multiply(frame.U, state.P, true, false),
    Q: tensor(state.Q.shape, state.Q.data),
  };
}

/**
 * The authors' teacher (spec §3.1): W* = G₁G₂/8 with G₁ (m, m) and G₂ (m, n) standard normal,
 * so d = rank Σ_yx = min(m, n) generically.
 */
export function authorsTeacher(rng: Rng, n: number, m: number): Tensor {
  const G1 = normalTensor(rng, [m, m], 1), G2 = normalTensor(rng, [m, n], 1);
  const W = multiply(G1, G2);
  for (let i = 0; i < W.data.length; i++) W.data[i] /= 8;
  return W;
}

/**
 * Statistics of a noiseless linear teacher y = W*x over the sample X (P, n) (rows are samples):
 * Σ_xx = XᵀX/P, Σ_yx = W*Σ_xx, Σ_yy = W*Σ_xxW*ᵀ. These are exactly the averages over the P
 * pairs (x_μ, W*x_μ), so GD on them is full-batch GD on the sample (no approximation).
 */
export function teacherStatistics(Wstar: Tensor /* (m, n) */, X: Tensor /* (P, n) */): LinearStatistics {
  const P = X.shape[0];
  const Sxx = multiply(X, X, true, false);
  for (let i = 0; i < Sxx.data.length; i++) Sxx.data[i] /= P;
  const Syx = multiply(Wstar, Sxx);
  const Syy = multiply(Syx, Wstar, false, true);
  return { Sxx, Syx, Syy };
}

/**
 * teacherStatistics for P fresh inputs x ~ N(0, I) drawn one at a time (the sample is never
 * stored): Σ_xx accumulated as Σ_μ x_μx_μᵀ / P over the upper triangle, O(P·n²/2).
 * Draws rng.normal() in the same order as normalTensor(rng, [P, n], 1).
 */
export function gaussianTeacherStatistics(rng: Rng, Wstar: Tensor /* (m, n) */, P: number): LinearStatistics {
  const n = Wstar.shape[1];
  const acc = new Float64Array(n * n), x = new Float64Array(n);
  for (let mu = 0; mu < P; mu++) {
    for (let i = 0; i < n; i++) x[i] = rng.normal();
    for (let i = 0; i < n; i++) {
      const xi = x[i], row = i * n;
      for (let j = i; j < n; j++) acc[row + j] += xi * x[j];
    }
  }
  const Sxx = tensor([n, n]);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) Sxx.data[i * n + j] = Sxx.data[j * n + i] = acc[i * n + j] / P;
  const Syx = multiply(Wstar, Sxx);
  return { Sxx, Syx, Syy: multiply(Syx, Wstar, false, true) };
}

/** Statistics of exactly whitened inputs (Σ_xx = I) and a noiseless teacher: Σ_yx = W*, Σ_yy = W*W*ᵀ. */
export function whitenedStatistics(Syx: Tensor /* (m, n) */): LinearStatistics {
  const n = Syx.shape[1];
  const Sxx = tensor([n, n]);
  for (let i = 0; i < n; i++) Sxx.data[i * n + i] = 1;
  return { Sxx, Syx: tensor(Syx.shape, Syx.data), Syy: multiply(Syx, Syx, false, true) };
}

/**
 * P ≥ n inputs (P, n) with XᵀX/P = I to rounding: a Gaussian matrix whose columns are
 * orthonormalised, scaled by √P.
 */
export function whitenedInputs(rng: Rng, P: number, n: number): Tensor {
  if (P < n) throw new Error(`whitenedInputs: ${P} samples cannot be whitened in ${n} dimensions: P ≥ n is required`);
  const Q = orthonormalBasis(normalTensor(rng, [P, n], 1));
  if (Q.shape[1] !== n) throw new Error('whitenedInputs: the Gaussian sample was rank-deficient');
  const root = Math.sqrt(P);
  for (let i = 0; i < Q.data.length; i++) Q.data[i] *= root;
  return Q;
}

/**
 * The authors' initialisation (spec §2.4, CODE-v4 linear_simulation.py): W₂ ~ N(0, (1/m)²),
 * W₁ ~ N(0, (1/k)²) (standard deviations 1/m and 1/k), and (Q, P) the rank-r truncated SVD of
 * W₂ᵀ, split in balance: P̂Q̂ = best rank-r approximation of W₂ (reference balancedFactors).
 * `scale` multiplies both weight stds (small initialisation in the tests).
 */
export function authorsInit(rng: Rng, sizes: { n: number; k: number; m: number; r: number }, scale = 1): LinearState {
  const { n, k, m, r } = sizes;
  const W2 = normalTensor(rng, [m, k], scale / m);
  const W1 = normalTensor(rng, [k, n], scale / k);
  const { P, Q } = balancedFactors(W2, r);
  return { W1, W2, P, Q };
}

/**
 * A teacher Σ_yx = Σ_i s_i u_i v_iᵀ (m, n) with the given singular values (at most min(m, n),
 * the rest 0) and random orthonormal u_i, v_i: the tests' way to control the spectral gaps the
 * theory's time-scales depend on.
 */
export function spectrumTeacher(rng: Rng, m: number, n: number, s: readonly number[]): Tensor {
  if (s.length > Math.min(m, n)) throw new Error(`spectrumTeacher: ${s.length} singular values do not fit an (${m}, ${n}) matrix`);
  const U = orthonormalBasis(normalTensor(rng, [m, m], 1)), V = orthonormalBasis(normalTensor(rng, [n, n], 1));
  const out = tensor([m, n]);
  for (let i = 0; i < s.length; i++) {
    for (let a = 0; a < m; a++) for (let b = 0; b < n; b++) out.data[a * n + b] += s[i] * U.data[a * m + i] * V.data[b * n + i];
  }
  return out;
}
