// Layer normalisation over the last axis with affine γ, β (PyTorch LayerNorm(C), ε = 1e-5;
// spec §4.3: backpropagated exactly under every rule). For each row x of length C:
//   μ = (1/C) Σ x,   σ² = (1/C) Σ (x − μ)²   (biased),   x̂ = (x − μ)/√(σ² + ε),   y = γ⊙x̂ + β
//   x: (..., C) seen as (R, C) with R the product of the leading axes   γ, β: (C)
import { assertShape, type Tensor } from '../tensor.ts';

export const LAYERNORM_EPS = 1e-5;

/** Per row: the mean and 1/√(σ² + ε) used to normalise (saved for the backward pass). */
export interface LayerNormCache {
  mean: Float64Array; // (R)
  rstd: Float64Array; // (R)
}

function rowsOf(name: string, x: Tensor, gamma: Tensor): [number, number] {
  if (x.shape.length < 1) throw new Error(`${name}: x must have at least one axis`);
  const C = x.shape[x.shape.length - 1];
  assertShape(`${name} gamma`, gamma, [C]);
  return [C === 0 ? 0 : x.size / C, C];
}

/**
 * Overwrites y and returns the cache.
 *   y: (..., C)  x: (..., C)  gamma: (C)  beta: (C)
 */
export function layerNormForward(y: Tensor, x: Tensor, gamma: Tensor, beta: Tensor, eps = LAYERNORM_EPS): LayerNormCache {
  const [R, C] = rowsOf('layerNorm', x, gamma);
  assertShape('layerNorm beta', beta, [C]);
  assertShape('layerNorm y', y, x.shape);
  const mean = new Float64Array(R), rstd = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    const x_r = r * C;
    let sum = 0;
    for (let c = 0; c < C; c++) sum += x.data[x_r + c];
    const mu = sum / C;
    let sq = 0;
    for (let c = 0; c < C; c++) sq += (x.data[x_r + c] - mu) ** 2;
    const rs = 1 / Math.sqrt(sq / C + eps);
    for (let c = 0; c < C; c++) y.data[x_r + c] = gamma.data[c] * (x.data[x_r + c] - mu) * rs + beta.data[c];
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { mean, rstd };
}

/**
 * With x̂ the normalised row and g = dy⊙γ:
 *   dx = rstd·(g − mean(g) − x̂·mean(g⊙x̂)),   dγ = Σ_rows dy⊙x̂,   dβ = Σ_rows dy
 * All overwritten; dx null when not needed.
 *   dx: (..., C) or null  dgamma: (C)  dbeta: (C)  dy: (..., C)  x: (..., C)  gamma: (C)
 */
export function layerNormBackward(
  dx: Tensor | null, dgamma: Tensor, dbeta: Tensor, dy: Tensor, x: Tensor, gamma: Tensor, cache: LayerNormCache,
): void {
  const [R, C] = rowsOf('layerNorm', x, gamma);
  assertShape('layerNorm dy', dy, x.shape);
  assertShape('layerNorm dgamma', dgamma, [C]);
  assertShape('layerNorm dbeta', dbeta, [C]);
  if (dx !== null) assertShape('layerNorm dx', dx, x.shape);
  dgamma.data.fill(0);
  dbeta.data.fill(0);
  for (let r = 0; r < R; r++) {
    const x_r = r * C, mu = cache.mean[r], rs = cache.rstd[r];
    let meanG = 0, meanGXhat = 0;
    for (let c = 0; c < C; c++) {
      const xhat = (x.data[x_r + c] - mu) * rs, d = dy.data[x_r + c];
      dgamma.data[c] += d * xhat;
      dbeta.data[c] += d;
      const g = d * gamma.data[c];
      meanG += g;
      meanGXhat += g * xhat;
    }
    meanG /= C;
    meanGXhat /= C;
    if (dx === null) continue;
    for (let c = 0; c < C; c++) {
      const xhat = (x.data[x_r + c] - mu) * rs;
      dx.data[x_r + c] = rs * (dy.data[x_r + c] * gamma.data[c] - meanG - xhat * meanGXhat);
    }
  }
}
