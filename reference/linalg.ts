// Dense float64 linear algebra for the reference: eigen-decomposition of symmetric matrices,
// the SVD, LDFA's balanced SVD initialisation (spec §2.3 B), orthonormal bases, ranks,
// projectors and principal angles. Written to be read, not to be fast: every routine is a
// few plain loops over contiguous row-major `Float64Array`s (element (i, j) of an (m, n)
// tensor is `data[i * n + j]`). No dependencies beyond `tensor.ts` and the reference matmul.
//
// Accuracy notes. The eigen-solver is cyclic two-sided Jacobi and the SVD is one-sided
// (Hestenes) Jacobi: both are backward stable, and one-sided Jacobi computes small singular
// values to high relative accuracy, which matters for the Eckart–Young residual
// ‖W − P̂Q̂‖_F² = Σ_{i>r} σ_i² that the LDFA initialisation is tested against.
import { matmul } from './kernels.ts';
import { multiply } from './backend.ts';
import { normalTensor, type Rng } from './rng.ts';
import { assertContiguous, tensor, type Tensor } from './tensor.ts';

// ---------------------------------------------------------------------------------------------
// small helpers

function assertMatrix(name: string, A: Tensor): [number, number] {
  if (A.shape.length !== 2) throw new Error(`${name}: a matrix (2-d tensor) is required but the input has shape [${A.shape.join(', ')}]`);
  assertContiguous(name, A);
  return [A.shape[0], A.shape[1]];
}

/** C = op(A)·op(B) into a fresh tensor (reference matmul). */
function mul(A: Tensor, B: Tensor, transA = false, transB = false): Tensor {
  const M = transA ? A.shape[1] : A.shape[0];
  const N = transB ? B.shape[0] : B.shape[1];
  const C = tensor([M, N]);
  matmul(C, A, B, transA, transB);
  return C;
}

/** The first k columns of an (m, n) matrix, as a new (m, k) matrix. */
function leadingColumns(A: Tensor, k: number): Tensor {
  const [m, n] = A.shape;
  const out = tensor([m, k]);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) out.data[i * k + j] = A.data[i * n + j];
  return out;
}

/** Multiplies column j of an (m, n) matrix by −1 in place. */
function negateColumn(A: Tensor, j: number): void {
  const [m, n] = A.shape;
  for (let i = 0; i < m; i++) A.data[i * n + j] = -A.data[i * n + j];
}

/** Index of the entry of column j with the largest |value| (the first one on exact ties). */
function argMaxAbsInColumn(A: Tensor, j: number): number {
  const [m, n] = A.shape;
  let best = 0, bestAbs = -1;
  for (let i = 0; i < m; i++) {
    const v = Math.abs(A.data[i * n + j]);
    if (v > bestAbs) { bestAbs = v; best = i; }
  }
  return best;
}

/** Reorders the columns of an (m, n) matrix: new column j = old column order[j]. */
function permuteColumns(A: Tensor, order: readonly number[]): Tensor {
  const [m, n] = A.shape;
  const k = order.length;
  const out = tensor([m, k]);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) out.data[i * k + j] = A.data[i * n + order[j]];
  return out;
}

/** 2^e with 2^e ≤ max|x_i| < 2^(e+1), or 1 for an all-zero x: dividing by it is exact. */
function powerOfTwoScale(data: Float64Array): number {
  let max = 0;
  for (const v of data) max = Math.max(max, Math.abs(v));
  if (max === 0) return 1;
  let scale = 2 ** Math.floor(Math.log2(max));
  if (scale > max) scale /= 2; // guard against rounding in log2
  if (2 * scale <= max) scale *= 2;
  return scale;
}

function frobenius(data: Float64Array): number {
  // scaled to avoid overflow/underflow of the squares
  let scale = 0;
  for (const v of data) scale = Math.max(scale, Math.abs(v));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let s = 0;
  for (const v of data) s += (v / scale) * (v / scale);
  return scale * Math.sqrt(s);
}

/**
 * The rotation (c, s) = (cos φ, sin φ) that zeroes the off-diagonal entry of the symmetric
 * 2×2 matrix [[app, apq], [apq, aqq]] under JᵀAJ with J = [[c, s], [−s, c]]:
 *   θ = (aqq − app) / (2 apq),  t = tan φ = sign(θ) / (|θ| + √(θ² + 1))  (the smaller root of
 *   t² + 2θt − 1 = 0, so |φ| ≤ π/4),  c = 1/√(1 + t²),  s = t·c.
 * Rutishauser's formulation; for huge |θ| it uses t ≈ 1/(2θ) to avoid overflow of θ².
 */
function jacobiRotation(app: number, aqq: number, apq: number): [number, number] {
  const theta = (aqq - app) / (2 * apq);
  const t = Math.abs(theta) > 1e150
    ? 1 / (2 * theta)
    : (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(1 + t * t);
  return [c, t * c];
}

// ---------------------------------------------------------------------------------------------
// symmetric eigen-decomposition

/** Relative tolerance for the symmetry check: |A_ij − A_ji| ≤ SYMMETRY_TOL · max|A|. */
export const SYMMETRY_TOL = 1e-10;
/** Eigen-Jacobi stops when off(A) ≤ JACOBI_TOL·‖A‖_F (see `symmetricEigen`). */
export const JACOBI_TOL = 1e-15;
/** Jacobi gives up after this many sweeps (it converges quadratically; ~6–10 sweeps is typical). */
export const JACOBI_MAX_SWEEPS = 100;

export interface SymmetricEigen {
  /** eigenvalues λ₁ ≥ λ₂ ≥ … ≥ λ_n */
  values: Float64Array;
  /** (n, n) orthogonal; column i is the unit eigenvector of λ_i, its largest-|entry| positive */
  vectors: Tensor;
}

/**
 * Eigen-decomposition A = V diag(λ) Vᵀ of a real symmetric (n, n) matrix by the cyclic Jacobi
 * method (Jacobi 1846; Golub & Van Loan §8.5).
 *
 * Algorithm. A is first symmetrised, A ← (A + Aᵀ)/2, after checking that it is symmetric up to
 * SYMMETRY_TOL·max|A|. Each sweep visits every pair p < q in row order; when A_pq ≠ 0 it applies
 * the plane rotation J(p, q, φ) of `jacobiRotation`, A ← JᵀAJ (which makes A_pq exactly 0), and
 * accumulates V ← VJ. A sweep starts only while off(A) = √(Σ_{i≠j} A_ij²) > JACOBI_TOL·‖A‖_F;
 * after at most JACOBI_MAX_SWEEPS sweeps without reaching that, it throws. The eigenvalues are the
 * final diagonal, sorted descending with their vectors. Each eigenvector's sign is fixed so that
 * its entry of largest magnitude is positive (the first one on exact ties), making the result
 * reproducible. Eigenvalues carry absolute errors of order ε·‖A‖_F.
 */
export function symmetricEigen(A: Tensor /* (n, n) */): SymmetricEigen {
  const [n, n2] = assertMatrix('symmetricEigen', A);
  if (n !== n2) throw new Error(`symmetricEigen: a square matrix is required but A is [${n}, ${n2}]`);
  const src = A.data;
  let maxAbs = 0;
  for (const v of src) {
    if (!Number.isFinite(v)) throw new Error('symmetricEigen: A has a non-finite entry (NaN or ±Infinity); only finite values are allowed');
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    const d = Math.abs(src[i * n + j] - src[j * n + i]);
    if (d > SYMMETRY_TOL * maxAbs) {
      throw new Error(`symmetricEigen: A is not symmetric: |A[${i},${j}] − A[${j},${i}]| = ${d.toExponential(3)} exceeds ${SYMMETRY_TOL} · max|A| = ${(SYMMETRY_TOL * maxAbs).toExponential(3)}`);
    }
  }

  // working copy, symmetrised and divided by a power of two (exact) so that max|a| ∈ [1, 2):
  // the squares in off(A) then neither underflow nor overflow; λ is scaled back at the end
  const scale = powerOfTwoScale(src);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = 0.5 * (src[i * n + j] / scale + src[j * n + i] / scale);
  const v = new Float64Array(n * n); // accumulated rotations, starts as I
  for (let i = 0; i < n; i++) v[i * n + i] = 1;

  const normA = frobenius(a);
  const offDiagonal = (): number => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) s += a[i * n + j] * a[i * n + j];
    return Math.sqrt(s);
  };

  let sweep = 0;
  while (offDiagonal() > JACOBI_TOL * normA) {
    if (sweep++ >= JACOBI_MAX_SWEEPS) {
      throw new Error(`symmetricEigen: Jacobi did not converge in ${JACOBI_MAX_SWEEPS} sweeps (off-diagonal norm ${offDiagonal().toExponential(3)}, ‖A‖_F ${normA.toExponential(3)})`);
    }
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const [c, s] = jacobiRotation(a[p * n + p], a[q * n + q], apq);
        // columns: A ← A·J  (col p ← c·col p − s·col q, col q ← s·col p + c·col q)
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        // rows: A ← Jᵀ·A  (row p ← c·row p − s·row q, row q ← s·row p + c·row q)
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = 0; // zero by construction; remove the rounding residue
        a[q * n + p] = 0;
        // eigenvectors: V ← V·J
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i] || i - j);
  const values = Float64Array.from(order, (i) => a[i * n + i] * scale);
  const vectors = permuteColumns(tensor([n, n], v), order);
  for (let j = 0; j < n; j++) if (vectors.data[argMaxAbsInColumn(vectors, j) * n + j] < 0) negateColumn(vectors, j);
  return { values, vectors };
}

// ---------------------------------------------------------------------------------------------
// singular value decomposition

export interface Svd {
  /** (m, k) with orthonormal columns, k = min(m, n) */
  U: Tensor;
  /** k singular values σ₁ ≥ … ≥ σ_k ≥ 0 */
  S: Float64Array;
  /** (n, k) with orthonormal columns */
  V: Tensor;
}

/**
 * Thin SVD A = U diag(S) Vᵀ of an (m, n) matrix, k = min(m, n), by one-sided Jacobi
 * (Hestenes 1958; Demmel & Veselić 1992).
 *
 * Algorithm (for m ≥ n; a wide A is handled as the SVD of Aᵀ with U and V swapped).
 * Start from G = A (m, n) and V = I_n. Each sweep visits every column pair p < q and computes
 * α = ‖g_p‖², β = ‖g_q‖², γ = g_p·g_q. If |γ| > m·ε·√(αβ) the pair is rotated by the
 * Jacobi rotation that diagonalises [[α, γ], [γ, β]] (the 2×2 block of GᵀG), applied to the
 * columns of both G and V; so A·V = G holds throughout and GᵀG becomes diagonal. The method has
 * converged when a sweep rotates nothing, i.e. all columns are mutually orthogonal to relative
 * precision m·ε (the rounding level of the dot product γ); after JACOBI_MAX_SWEEPS sweeps it
 * throws. A pair is skipped when either column has norm ≤ ε·‖A‖_F: such a column is rounding
 * noise, and rotating it against a large one only shrinks it further without ever making it
 * relatively orthogonal (its σ_j ≤ n·ε·σ_max, so it is completed below). Then σ_j = ‖g_j‖ and
 * u_j = g_j/σ_j. Columns with σ_j ≤ n·ε·σ_max (numerically zero; rank-deficient A) do not
 * determine u_j, so those u_j are completed to an orthonormal set by Gram–Schmidt on the
 * standard basis. The triplets are sorted by σ descending.
 *
 * Sign convention: each column of U has its largest-|entry| positive (the first one on exact
 * ties); the matching column of V is flipped with it, so U diag(S) Vᵀ is unchanged.
 */
export function svd(A: Tensor /* (m, n) */): Svd {
  const [m, n] = assertMatrix('svd', A);
  for (const x of A.data) if (!Number.isFinite(x)) throw new Error('svd: A has a non-finite entry (NaN or ±Infinity); only finite values are allowed');
  let result: Svd;
  if (m < n) {
    const t = svdTall(transposeCopy(A)); // Aᵀ = U' S V'ᵀ  ⇒  A = V' S U'ᵀ
    result = { U: t.V, S: t.S, V: t.U };
  } else {
    result = svdTall(A);
  }
  const { U, V } = result;
  for (let j = 0; j < U.shape[1]; j++) {
    if (U.data[argMaxAbsInColumn(U, j) * U.shape[1] + j] < 0) { negateColumn(U, j); negateColumn(V, j); }
  }
  return result;
}

function transposeCopy(A: Tensor): Tensor {
  const [m, n] = A.shape;
  const out = tensor([n, m]);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out.data[j * m + i] = A.data[i * n + j];
  return out;
}

/** One-sided Jacobi for m ≥ n (see `svd`). */
function svdTall(A: Tensor): Svd {
  const [m, n] = A.shape;
  // Work on A / 2^e with max|entry| in [1, 2): exact, and keeps the squared norms below from
  // underflowing (tiny A) or overflowing (huge A). The singular values are scaled back at the end.
  const scale = powerOfTwoScale(A.data);
  const g = Float64Array.from(A.data, (x) => x / scale); // (m, n), columns get orthogonalised
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;

  const orthogonalityTol = m * Number.EPSILON;
  const negligible = Number.EPSILON * frobenius(g); // columns this small are rounding noise of A
  let sweep = 0;
  for (;;) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < m; i++) {
          const gp = g[i * n + p], gq = g[i * n + q];
          alpha += gp * gp; beta += gq * gq; gamma += gp * gq;
        }
        const normP = Math.sqrt(alpha), normQ = Math.sqrt(beta);
        if (normP <= negligible || normQ <= negligible) continue; // a rounding-level column: leave it
        if (gamma === 0 || Math.abs(gamma) <= orthogonalityTol * normP * normQ) continue;
        rotated = true;
        const [c, s] = jacobiRotation(alpha, beta, gamma);
        for (let i = 0; i < m; i++) {
          const gp = g[i * n + p], gq = g[i * n + q];
          g[i * n + p] = c * gp - s * gq;
          g[i * n + q] = s * gp + c * gq;
        }
        for (let i = 0; i < n; i++) {
          const vp = v[i * n + p], vq = v[i * n + q];
          v[i * n + p] = c * vp - s * vq;
          v[i * n + q] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) break;
    if (++sweep >= JACOBI_MAX_SWEEPS) {
      throw new Error(`svd: one-sided Jacobi did not converge in ${JACOBI_MAX_SWEEPS} sweeps for a [${m}, ${n}] matrix`);
    }
  }

  // σ_j = ‖g_j‖, sorted descending
  const sigma = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += g[i * n + j] * g[i * n + j];
    sigma[j] = Math.sqrt(s);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => sigma[j] - sigma[i] || i - j);
  const S = Float64Array.from(order, (j) => sigma[j]); // of A / scale
  const G = permuteColumns(tensor([m, n], g), order);
  const V = permuteColumns(tensor([n, n], v), order);

  // u_j = g_j / σ_j for the numerically non-zero σ_j; complete the rest
  const U = tensor([m, n]);
  const zeroTol = n * Number.EPSILON * (S[0] ?? 0);
  const determined: boolean[] = [];
  for (let j = 0; j < n; j++) {
    determined.push(S[j] > zeroTol && S[j] > 0);
    if (determined[j]) for (let i = 0; i < m; i++) U.data[i * n + j] = G.data[i * n + j] / S[j];
  }
  completeOrthonormalColumns(U, determined);
  for (let j = 0; j < n; j++) S[j] *= scale;
  return { U, S, V };
}

/**
 * Fills the columns j of U (m, k) with determined[j] = false so that all k columns are
 * orthonormal. For each missing column every standard basis vector e_1 … e_m is orthogonalised
 * twice (modified Gram–Schmidt) against the columns already fixed, and the one with the largest
 * remainder is normalised and taken (the first on ties). Some remainder has norm ≥ 1/√m, since
 * their squares sum to m − (number fixed) ≥ 1. The determined columns must be orthonormal.
 */
function completeOrthonormalColumns(U: Tensor, determined: readonly boolean[]): void {
  const [m, k] = U.shape;
  const fixed = determined.map((d, j) => (d ? j : -1)).filter((j) => j >= 0);
  // ‖(I − U_f U_fᵀ) e_c‖² = 1 − Σ_f U[c, f]²: the canonical vector that sticks out most of the
  // span so far is found from the row norms, which each new column updates.
  const covered = new Float64Array(m);
  for (const f of fixed) for (let i = 0; i < m; i++) covered[i] += U.data[i * k + f] ** 2;
  for (let j = 0; j < k; j++) {
    if (determined[j]) continue;
    let candidate = 0;
    for (let i = 1; i < m; i++) if (covered[i] < covered[candidate]) candidate = i;
    const w = new Float64Array(m);
    w[candidate] = 1;
    for (let pass = 0; pass < 2; pass++) {
      for (const f of fixed) {
        let d = 0;
        for (let i = 0; i < m; i++) d += U.data[i * k + f] * w[i];
        for (let i = 0; i < m; i++) w[i] -= d * U.data[i * k + f];
      }
    }
    let norm = 0;
    for (const x of w) norm += x * x;
    norm = Math.sqrt(norm);
    if (!(norm > 0)) throw new Error('svd: internal error: could not complete an orthonormal basis');
    for (let i = 0; i < m; i++) {
      U.data[i * k + j] = w[i] / norm;
      covered[i] += (w[i] / norm) ** 2;
    }
    fixed.push(j);
  }
}

function checkRank(name: string, r: number, m: number, n: number): void {
  const max = Math.min(m, n);
  if (!Number.isInteger(r) || r < 1 || r > max) {
    throw new Error(`${name}: rank ${r} is not allowed for a [${m}, ${n}] matrix: rank must be an integer in [1, ${max}]`);
  }
}

/** The top-r singular triplets: U (m, r), S (r), V (n, r) of the thin SVD (r in [1, min(m, n)]). */
export function truncatedSvd(A: Tensor /* (m, n) */, r: number): Svd {
  const [m, n] = assertMatrix('truncatedSvd', A);
  checkRank('truncatedSvd', r, m, n);
  const full = svd(A);
  return { U: leadingColumns(full.U, r), S: full.S.slice(0, r), V: leadingColumns(full.V, r) };
}

export interface BalancedFactors {
  /** P̂ = U_r S_r^{1/2}, shape (out, r) */
  P: Tensor;
  /** Q̂ = S_r^{1/2} V_rᵀ, shape (r, in) */
  Q: Tensor;
  /** σ₁ ≥ … ≥ σ_r, the kept singular values */
  S: Float64Array;
}

/**
 * LDFA's SVD initialisation (spec §2.3 B): with W = U S Vᵀ,
 *   P̂ = U_r S_r^{1/2} (out, r),  Q̂ = S_r^{1/2} V_rᵀ (r, in).
 * So P̂Q̂ = W_r, the best rank-r approximation of W (Eckart–Young), ‖W − P̂Q̂‖_F² = Σ_{i>r} σ_i²,
 * and the split is balanced: P̂ᵀP̂ = Q̂Q̂ᵀ = diag(S_r). Throws unless r is an integer in
 * [1, min(out, in)].
 */
export function balancedFactors(W: Tensor /* (out, in) */, r: number, method: SvdMethod = 'exact'): BalancedFactors {
  const [out, inn] = assertMatrix('balancedFactors', W);
  checkRank('balancedFactors', r, out, inn);
  const { U, S, V } = method === 'exact' ? truncatedSvd(W, r) : randomizedSvd(W, r, method.randomized, method);
  const P = tensor([out, r]);
  const Q = tensor([r, inn]);
  for (let j = 0; j < r; j++) {
    const root = Math.sqrt(S[j]);
    for (let i = 0; i < out; i++) P.data[i * r + j] = U.data[i * r + j] * root;
    for (let i = 0; i < inn; i++) Q.data[j * inn + i] = V.data[i * r + j] * root;
  }
  return { P, Q, S };
}

/** 'exact': Jacobi SVD; randomized: `randomizedSvd` with this generator (power iterations default 2, oversampling 5). */
export type SvdMethod = 'exact' | { randomized: Rng; powerIterations?: number; oversample?: number; onSketch?: (omega: Tensor) => void };

/**
 * Randomised truncated SVD (Halko, Martinsson & Tropp 2011, Alg. 4.3/4.4), the analogue of
 * torch.svd_lowrank that the authors' code uses for re-factorisation (niter = 2):
 *   Ω (n, r + p) standard normal,  Y = A·Ω,  then q times Y ← A·(Aᵀ·Y) with re-orthonormalisation,
 *   Qy = orth(Y),  B = Qyᵀ·A = Û S Vᵀ (small exact SVD),  U = Qy·Û,
 * then `svd`'s sign convention on U (each column's largest-|entry| positive, V flipped with it), so
 * the result depends on Ω and A only, not on how Y was orthonormalised (a QR may flip its columns).
 * (torch.svd_lowrank sketches Aᵀ instead when m < n or n > q; the fixtures record Ω and say A·Ω.)
 * Exact when rank(A) ≤ r + p; otherwise the error shrinks like (σ_{r+p+1}/σ_r)^{2q+1}.
 * Products go through the current backend (they are the expensive part on wide layers).
 */
export function randomizedSvd(A: Tensor /* (m, n) */, r: number, rng: Rng, options: { oversample?: number; powerIterations?: number; onSketch?: (omega: Tensor) => void } = {}): Svd {
  const [m, n] = assertMatrix('randomizedSvd', A);
  checkRank('randomizedSvd', r, m, n);
  const k = Math.min(r + (options.oversample ?? 5), m, n);
  const omega = normalTensor(rng, [n, k], 1);
  options.onSketch?.(omega);
  let Y = orthonormalBasis(multiply(A, omega));
  for (let q = 0; q < (options.powerIterations ?? 2); q++) Y = orthonormalBasis(multiply(A, orthonormalBasis(multiply(A, Y, true, false))));
  if (Y.shape[1] < r) return truncatedSvd(A, r); // A has rank < r: nothing random to gain
  const small = svd(multiply(Y, A, true, false)); // (k', n)
  const U = multiply(Y, leadingColumns(small.U, r)), V = leadingColumns(small.V, r);
  for (let j = 0; j < r; j++) {
    if (U.data[argMaxAbsInColumn(U, j) * r + j] < 0) { negateColumn(U, j); negateColumn(V, j); }
  }
  return { U, S: small.S.slice(0, r), V };
}

// ---------------------------------------------------------------------------------------------
// orthonormal bases, rank, projectors

/** Default relative tolerance for dropping dependent columns in `orthonormalBasis`. */
export const BASIS_TOL = 1e-12;

/**
 * An orthonormal basis of the column space of A (n, p), as an (n, k) matrix, k ≤ min(n, p).
 *
 * Modified Gram–Schmidt with one full re-orthogonalisation ("twice is enough", Kahan–Parlett):
 * each column a_j is orthogonalised against the basis vectors found so far, twice; if the
 * remaining norm is ≤ tol·max_i‖a_i‖ the column is taken as dependent and dropped, otherwise
 * its normalisation is appended. The basis follows the column order of A (its first vector is
 * a multiple of the first non-negligible column). An all-zero A gives an (n, 0) matrix.
 * Without an explicit tol the basis also stops at k = matrixRank(A) vectors: a column that is
 * dependent in exact arithmetic keeps a rounding residual of about u·κ·‖a‖ when the columns
 * before it are ill-conditioned (κ their condition number), which a fixed tol cannot tell from
 * independence (a rank-3 4×4 product of Gaussians left a residual of 5e-12·‖a‖), while the
 * SVD's count does.
 */
export function orthonormalBasis(A: Tensor /* (n, p) */, tol?: number): Tensor {
  const [n, p] = assertMatrix('orthonormalBasis', A);
  const limit = tol === undefined ? matrixRank(A) : Math.min(n, p);
  let maxNorm = 0;
  for (let j = 0; j < p; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += A.data[i * p + j] * A.data[i * p + j];
    maxNorm = Math.max(maxNorm, Math.sqrt(s));
  }
  const basis: Float64Array[] = [];
  for (let j = 0; j < p && basis.length < limit; j++) {
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) w[i] = A.data[i * p + j];
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        let d = 0;
        for (let i = 0; i < n; i++) d += b[i] * w[i];
        for (let i = 0; i < n; i++) w[i] -= d * b[i];
      }
    }
    let norm = 0;
    for (const x of w) norm += x * x;
    norm = Math.sqrt(norm);
    if (norm <= (tol ?? BASIS_TOL) * maxNorm || norm === 0) continue;
    for (let i = 0; i < n; i++) w[i] /= norm;
    basis.push(w);
  }
  const k = basis.length;
  const Q = tensor([n, k]);
  for (let j = 0; j < k; j++) for (let i = 0; i < n; i++) Q.data[i * k + j] = basis[j][i];
  return Q;
}

/** Orthonormal rows (k, n) spanning the row space of A (p, n): orthonormalBasis(Aᵀ)ᵀ. */
export function orthonormalizeRows(A: Tensor /* (p, n) */, tol?: number): Tensor {
  assertMatrix('orthonormalizeRows', A);
  return transposeCopy(orthonormalBasis(transposeCopy(A), tol));
}

/**
 * Numerical rank: the number of singular values σ_i > tol. The default tol is
 * max(m, n)·ε·σ_max (NumPy's `matrix_rank` convention). An all-zero or empty matrix has rank 0.
 */
export function matrixRank(A: Tensor /* (m, n) */, tol?: number): number {
  const [m, n] = assertMatrix('matrixRank', A);
  if (m === 0 || n === 0) return 0;
  const { S } = svd(A);
  const threshold = tol ?? Math.max(m, n) * Number.EPSILON * S[0];
  let rank = 0;
  for (const s of S) if (s > threshold) rank++;
  return rank;
}

/**
 * The orthogonal projector Π = U_k U_kᵀ (n, n) onto the column space of A (n, p), where U_k are
 * the leading k left singular vectors and k = matrixRank(A, tol). Π² = Π = Πᵀ, ΠA = A.
 */
export function columnSpaceProjector(A: Tensor /* (n, p) */, tol?: number): Tensor {
  const [n] = assertMatrix('columnSpaceProjector', A);
  const k = matrixRank(A, tol);
  if (k === 0) return tensor([n, n]);
  const Uk = leadingColumns(svd(A).U, k);
  return mul(Uk, Uk, false, true);
}

// ---------------------------------------------------------------------------------------------
// principal angles

/**
 * Principal angles (radians, ascending) between the column spaces of A (n, p) and B (n, q)
 * (Björck & Golub 1973). With orthonormal bases Q_A (n, k_A) and Q_B (n, k_B) from
 * `orthonormalBasis`, there are k = min(k_A, k_B) angles:
 *   cos θ_i = σ_i(Q_Aᵀ Q_B)   (descending σ ↔ ascending θ; clamped to [−1, 1]).
 * Arccos loses accuracy near 0 (an error ε in cos θ gives √(2ε) in θ), so, following
 * Knyazev & Argentati (2002), angles whose cosine is ≥ 1/√2 (θ ≤ 45°) are taken instead from
 *   sin θ_i = σ_{k+1−i}((I − Y Yᵀ) X),
 * where X is the basis of smaller dimension and Y the other one. Returns an empty array when
 * either space is {0}.
 */
export function principalAngles(A: Tensor /* (n, p) */, B: Tensor /* (n, q) */, tol = BASIS_TOL): Float64Array {
  const [n] = assertMatrix('principalAngles A', A);
  const [nB] = assertMatrix('principalAngles B', B);
  if (n !== nB) throw new Error(`principalAngles: A has ${n} rows but B has ${nB}: both must live in the same space`);
  const QA = orthonormalBasis(A, tol), QB = orthonormalBasis(B, tol);
  const k = Math.min(QA.shape[1], QB.shape[1]);
  if (k === 0) return new Float64Array(0);

  const cosines = svd(mul(QA, QB, true, false)).S; // descending, length k
  const [X, Y] = QA.shape[1] <= QB.shape[1] ? [QA, QB] : [QB, QA];
  const residual = mul(Y, mul(Y, X, true, false)); // Y Yᵀ X  (n, k)
  for (let i = 0; i < residual.data.length; i++) residual.data[i] = X.data[i] - residual.data[i];
  const sines = svd(residual).S; // descending, length k (X has k columns)

  const angles = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const c = Math.min(1, Math.max(-1, cosines[i]));
    const s = Math.min(1, Math.max(0, sines[k - 1 - i]));
    angles[i] = c >= Math.SQRT1_2 ? Math.asin(s) : Math.acos(c);
  }
  return angles;
}

// ---------------------------------------------------------------------------------------------
// ranks from the spectrum

/**
 * Effective rank of Roy & Vetterli (2007): erank(A) = exp(H(p)), H(p) = −Σ_i p_i ln p_i with
 * p_i = σ_i / Σ_j σ_j over all min(m, n) singular values (0·ln 0 = 0). It lies in
 * [1, rank A]: n for I_n, 1 for any rank-1 matrix. Defined as 0 for an all-zero matrix.
 */
export function effectiveRank(A: Tensor /* (m, n) */): number {
  assertMatrix('effectiveRank', A);
  const { S } = svd(A);
  let total = 0;
  for (const s of S) total += s;
  if (total === 0) return 0;
  let entropy = 0;
  for (const s of S) {
    const p = s / total;
    if (p > 0) entropy -= p * Math.log(p);
  }
  return Math.exp(entropy);
}

/**
 * Stable (numerical) rank: srank(A) = ‖A‖_F² / σ_max² = Σ σ_i² / σ₁². It lies in [1, rank A].
 * Defined as 0 for an all-zero matrix.
 */
export function stableRank(A: Tensor /* (m, n) */): number {
  assertMatrix('stableRank', A);
  const { S } = svd(A);
  if (S.length === 0 || S[0] === 0) return 0;
  let sum = 0;
  for (const s of S) sum += (s / S[0]) * (s / S[0]);
  return sum;
}
