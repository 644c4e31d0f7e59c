// Batch normalisation with affine γ, β (PyTorch BatchNorm1d / BatchNorm2d, spec §4.1, §4.2).
// 1-d normalises each feature over the batch; 2-d normalises each channel over N·H·W.
// Both are one computation on x seen as (N, C, S) with statistics over the M = N·S values of
// a channel (S = 1 for 1-d, S = H·W for 2-d):
//   training  μ_c = (1/M) Σ x,   σ²_c = (1/M) Σ (x − μ_c)²   (biased, as PyTorch normalises)
//             running_mean ← (1 − m)·running_mean + m·μ_c
//             running_var  ← (1 − m)·running_var  + m·σ²_c·M/(M − 1)   (unbiased, as PyTorch)
//   eval      μ_c, σ²_c = running_mean, running_var
//   both      x̂ = (x − μ_c)/√(σ²_c + ε),   y = γ_c·x̂ + β_c          m = 0.1, ε = 1e-5
// Normalisation has no feedback weights: it is backpropagated exactly under every rule.
import { assertShape, tensor, type Tensor } from '../tensor.ts';

export const BATCHNORM_EPS = 1e-5;
export const BATCHNORM_MOMENTUM = 0.1;

/** Running statistics, updated in place by training-mode forward passes. */
export interface BatchNormRunning {
  mean: Tensor; // (C)
  variance: Tensor; // (C)
}

/** PyTorch's initial running statistics: mean 0, variance 1. */
export function batchNormRunningInit(C: number): BatchNormRunning {
  return { mean: tensor([C]), variance: tensor([C], new Float64Array(C).fill(1)) };
}

export interface BatchNormOptions {
  /** true: batch statistics and a running-statistics update; false: running statistics. */
  training: boolean;
  momentum?: number;
  eps?: number;
}

/** What the backward pass needs from the forward pass. */
export interface BatchNormCache {
  training: boolean;
  mean: Float64Array; // (C) the μ used to normalise
  rstd: Float64Array; // (C) 1/√(σ² + ε) used to normalise
}

// ----------------------------------------------------------------------------
// the shared core on (N, C, S)

function forwardCore(
  y: Tensor, x: Tensor, gamma: Tensor, beta: Tensor, running: BatchNormRunning,
  options: BatchNormOptions, N: number, C: number, S: number,
): BatchNormCache {
  assertShape('batchnorm gamma', gamma, [C]);
  assertShape('batchnorm beta', beta, [C]);
  assertShape('batchnorm running mean', running.mean, [C]);
  assertShape('batchnorm running variance', running.variance, [C]);
  const eps = options.eps ?? BATCHNORM_EPS, momentum = options.momentum ?? BATCHNORM_MOMENTUM;
  const M = N * S;
  if (options.training && M < 2) {
    throw new Error(`batchnorm: training needs more than 1 value per channel to estimate a variance, got N·H·W = ${M}`);
  }
  const mean = new Float64Array(C), rstd = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let mu: number, variance: number;
    if (options.training) {
      let sum = 0;
      for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) sum += x.data[(n * C + c) * S + s];
      mu = sum / M;
      let sq = 0;
      for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) sq += (x.data[(n * C + c) * S + s] - mu) ** 2;
      variance = sq / M;
      running.mean.data[c] = (1 - momentum) * running.mean.data[c] + momentum * mu;
      running.variance.data[c] = (1 - momentum) * running.variance.data[c] + momentum * variance * M / (M - 1);
    } else {
      mu = running.mean.data[c];
      variance = running.variance.data[c];
    }
    mean[c] = mu;
    rstd[c] = 1 / Math.sqrt(variance + eps);
    const g = gamma.data[c], b = beta.data[c];
    for (let n = 0; n < N; n++)
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        y.data[i] = g * (x.data[i] - mu) * rstd[c] + b;
      }
  }
  return { training: options.training, mean, rstd };
}

// Per channel, with x̂ = (x − μ)·rstd and g = dy·γ:
//   dβ = Σ dy,   dγ = Σ dy·x̂
//   training  dx = rstd·(g − mean(g) − x̂·mean(g·x̂))   (μ and σ² depend on x)
//   eval      dx = rstd·g                              (μ and σ² are constants)
function backwardCore(
  dx: Tensor | null, dgamma: Tensor, dbeta: Tensor, dy: Tensor, x: Tensor, gamma: Tensor,
  cache: BatchNormCache, N: number, C: number, S: number,
): void {
  assertShape('batchnorm gamma', gamma, [C]);
  assertShape('batchnorm dgamma', dgamma, [C]);
  assertShape('batchnorm dbeta', dbeta, [C]);
  const M = N * S;
  for (let c = 0; c < C; c++) {
    const mu = cache.mean[c], r = cache.rstd[c], g = gamma.data[c];
    let sumDy = 0, sumDyXhat = 0;
    for (let n = 0; n < N; n++)
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        sumDy += dy.data[i];
        sumDyXhat += dy.data[i] * (x.data[i] - mu) * r;
      }
    dbeta.data[c] = sumDy;
    dgamma.data[c] = sumDyXhat;
    if (dx === null) continue;
    const meanG = g * sumDy / M, meanGXhat = g * sumDyXhat / M;
    for (let n = 0; n < N; n++)
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        const gi = dy.data[i] * g;
        dx.data[i] = cache.training ? r * (gi - meanG - (x.data[i] - mu) * r * meanGXhat) : r * gi;
      }
  }
}

// ----------------------------------------------------------------------------
// 1-d: features over the batch

/**
 * Overwrites y; updates `running` in training mode. Returns the cache for the backward pass.
 *   y: (N, F)  x: (N, F)  gamma: (F)  beta: (F)
 */
export function batchNorm1dForward(
  y: Tensor, x: Tensor, gamma: Tensor, beta: Tensor, running: BatchNormRunning, options: BatchNormOptions,
): BatchNormCache {
  if (x.shape.length !== 2) assertShape('batchNorm1d x', x, [-1, -1]);
  const [N, F] = x.shape;
  assertShape('batchNorm1d y', y, [N, F]);
  return forwardCore(y, x, gamma, beta, running, options, N, F, 1);
}

/**
 * Exact gradients, overwritten; dx null when not needed.
 *   dx: (N, F) or null  dgamma: (F)  dbeta: (F)  dy: (N, F)  x: (N, F)  gamma: (F)
 */
export function batchNorm1dBackward(
  dx: Tensor | null, dgamma: Tensor, dbeta: Tensor, dy: Tensor, x: Tensor, gamma: Tensor, cache: BatchNormCache,
): void {
  if (x.shape.length !== 2) assertShape('batchNorm1d x', x, [-1, -1]);
  const [N, F] = x.shape;
  assertShape('batchNorm1d dy', dy, [N, F]);
  if (dx !== null) assertShape('batchNorm1d dx', dx, [N, F]);
  backwardCore(dx, dgamma, dbeta, dy, x, gamma, cache, N, F, 1);
}

// ----------------------------------------------------------------------------
// 2-d: channels over batch and positions

/**
 * Overwrites y; updates `running` in training mode. Returns the cache for the backward pass.
 *   y: (N, C, H, W)  x: (N, C, H, W)  gamma: (C)  beta: (C)
 */
export function batchNorm2dForward(
  y: Tensor, x: Tensor, gamma: Tensor, beta: Tensor, running: BatchNormRunning, options: BatchNormOptions,
): BatchNormCache {
  if (x.shape.length !== 4) assertShape('batchNorm2d x', x, [-1, -1, -1, -1]);
  const [N, C, H, W] = x.shape;
  assertShape('batchNorm2d y', y, [N, C, H, W]);
  return forwardCore(y, x, gamma, beta, running, options, N, C, H * W);
}

/**
 * Exact gradients, overwritten; dx null when not needed.
 *   dx: (N, C, H, W) or null  dgamma: (C)  dbeta: (C)  dy: (N, C, H, W)  x: (N, C, H, W)  gamma: (C)
 */
export function batchNorm2dBackward(
  dx: Tensor | null, dgamma: Tensor, dbeta: Tensor, dy: Tensor, x: Tensor, gamma: Tensor, cache: BatchNormCache,
): void {
  if (x.shape.length !== 4) assertShape('batchNorm2d x', x, [-1, -1, -1, -1]);
  const [N, C, H, W] = x.shape;
  assertShape('batchNorm2d dy', dy, [N, C, H, W]);
  if (dx !== null) assertShape('batchNorm2d dx', dx, [N, C, H, W]);
  backwardCore(dx, dgamma, dbeta, dy, x, gamma, cache, N, C, H * W);
}
