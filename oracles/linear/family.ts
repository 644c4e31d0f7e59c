// Closed-form predictions for the feedback-alignment family (family spec §2.3, §3, §4, §5.4).
// Each is data-free: it follows from the update rules alone, so a simulation on any data (the
// linear networks of this folder, or an MLP) must match it. test/family.test.ts checks them.

/**
 * Kolen–Pollack (§3 property 2) and PFA (§5.2): under plain SGD with coupled L2 (or decoupled
 * decay), B and W get the same gradient and the same decay, so their difference only decays:
 *   D_t = (1 − ηλ)^t · D₀,   D = B − W (KP) or R − B_pᵀW (PFA).
 * With a per-step learning rate η_s (schedules), the factor is ∏_s (1 − η_sλ).
 */
export function decayFactor(eta: number | readonly number[], lambda: number, t: number): number {
  if (typeof eta === 'number') return (1 - eta * lambda) ** t;
  let f = 1;
  for (let s = 0; s < t; s++) f *= 1 - eta[s] * lambda;
  return f;
}

/** Steps for ‖D‖ to halve under plain SGD: ln 2 / −ln(1 − ηλ) ≈ ln 2/(ηλ) (§3: η = 0.1, λ = 1e-4 → ≈ 69 k). */
export function kpHalfLife(eta: number, lambda: number): number {
  return Math.LN2 / -Math.log1p(-eta * lambda);
}

/**
 * KP under SGD with momentum μ (dampening 0) and coupled L2 (§3 property 3). The gradients of B and
 * W differ by λD, so with v the momentum difference:  v_{t+1} = μ·v_t + λ·D_t,  D_{t+1} = D_t − η·v_{t+1}.
 * Returns D_t / D₀ (v₀ = 0), exactly, by iterating this data-free 2×2 recursion.
 */
export function kpMomentumFactor(eta: number, lambda: number, mu: number, t: number): number {
  let D = 1, v = 0;
  for (let s = 0; s < t; s++) {
    v = mu * v + lambda * D;
    D -= eta * v;
  }
  return D;
}

/** The slow rate of that recursion: the largest root of z² − (1 + μ − ηλ)z + μ = 0 (≈ 1 − ηλ/(1 − μ)). */
export function kpMomentumRate(eta: number, lambda: number, mu: number): number {
  const b = 1 + mu - eta * lambda;
  const disc = b * b - 4 * mu;
  return disc >= 0 ? (b + Math.sqrt(disc)) / 2 : Math.sqrt(mu); // complex pair: modulus √μ
}

/**
 * Weight mirrors with W fixed (§4 property 2): B ← (1 − ρ)B + ρŴ with E[Ŵ] = W gives
 *   E[B_t] = W + (1 − ρ)^t (B₀ − W),
 * exactly (not only in mean) when the noise is isotropic in the batch (xᵀx = Nσ²I), because then Ŵ = W.
 */
export function mirrorMean(B0: ArrayLike<number>, W: ArrayLike<number>, rho: number, t: number): Float64Array {
  const f = (1 - rho) ** t;
  return Float64Array.from(W, (w, i) => w + f * (B0[i] - w));
}

/** cos∠(sign W, W) = ‖W‖₁ / (√nnz(W)·‖W‖_F): uSF's weight angle, an exact identity (§2.3). */
export function signAngleDeg(W: ArrayLike<number>): number {
  let l1 = 0, l2 = 0, nnz = 0;
  for (let i = 0; i < W.length; i++) {
    l1 += Math.abs(W[i]);
    l2 += W[i] * W[i];
    if (W[i] !== 0) nnz++;
  }
  return (Math.acos(Math.min(1, l1 / (Math.sqrt(nnz) * Math.sqrt(l2)))) * 180) / Math.PI;
}

/** The large-matrix limit of signAngleDeg: 30.0° for uniform W (cos = √3/2), 37.0° for Gaussian W (cos = √(2/π)). */
export function signAngleLimitDeg(distribution: 'uniform' | 'normal'): number {
  return (Math.acos(distribution === 'uniform' ? Math.sqrt(3) / 2 : Math.sqrt(2 / Math.PI)) * 180) / Math.PI;
}

/**
 * brSF/frSF with magnitudes independent of W (§2.3): cos∠(|M|∘sign W, W) → E|M|E|W| / √(E M²·E W²):
 * 3/4 (41.4°) for uniform M and W, 2/π (50.5°) for Gaussian M and W.
 */
export function randomMagnitudeAngleLimitDeg(distribution: 'uniform' | 'normal'): number {
  return (Math.acos(distribution === 'uniform' ? 3 / 4 : 2 / Math.PI) * 180) / Math.PI;
}

/** PFA at equilibrium with random B_p (variance 1/n_mid), isotropic W (§5.4 property 4): ∠(B_pB_pᵀW, W) ≈ arccos(1/√(1 + n_out/n_mid)). */
export function pfaEquilibriumAngleDeg(nOut: number, nMid: number): number {
  return (Math.acos(1 / Math.sqrt(1 + nOut / nMid)) * 180) / Math.PI;
}
