// Pooling layers, NCHW, square windows, no padding, floor output size (PyTorch's
// MaxPool2d / AvgPool2d with padding 0 and ceil_mode False):
//   max     y[n,c,i,j] = max_{p,q<k} x[n,c, i·s + p, j·s + q]
//   average y[n,c,i,j] = (1/k²) Σ_{p,q<k} x[n,c, i·s + p, j·s + q]
//   global  y[n,c]     = (1/(H·W)) Σ_{r,s} x[n,c,r,s]
//   x: (N, C, H, W)   y: (N, C, Ho, Wo) with Ho = ⌊(H − k)/s⌋ + 1, likewise Wo.
// Pooling has no weights, so it is backpropagated exactly under every rule (spec §4.2, §4.3).
import { assertShape, type Tensor } from '../tensor.ts';

export interface Pool2dSpec {
  /** Window side. */
  k: number;
  /** Step between windows. */
  stride: number;
}

/** The output shape [N, C, Ho, Wo] of a k×k pool with the given stride on x. */
export function pool2dOutputShape(x: Tensor, spec: Pool2dSpec): [number, number, number, number] {
  const { k, stride } = spec;
  if (!Number.isInteger(k) || k < 1) throw new Error(`pool window ${k} is not allowed: k must be an integer ≥ 1`);
  if (!Number.isInteger(stride) || stride < 1) throw new Error(`pool stride ${stride} is not allowed: stride must be an integer ≥ 1`);
  if (x.shape.length !== 4) assertShape('pool x', x, [-1, -1, -1, -1]);
  const [N, C, H, W] = x.shape;
  if (k > H || k > W) throw new Error(`pool: a ${k}×${k} window does not fit an input of size ${H}×${W}`);
  return [N, C, Math.floor((H - k) / stride) + 1, Math.floor((W - k) / stride) + 1];
}

/**
 * Flat index into x of the maximum of window (n, c, i, j); ties go to the first in row-major
 * window order, and a NaN wins (as PyTorch's CPU kernel).
 */
export function argmaxOfWindow(x: Tensor, n: number, c: number, i: number, j: number, spec: Pool2dSpec): number {
  const [, C, H, W] = x.shape;
  const x_nc = (n * C + c) * H * W;
  let best = -Infinity, at = x_nc + i * spec.stride * W + j * spec.stride;
  for (let p = 0; p < spec.k; p++)
    for (let q = 0; q < spec.k; q++) {
      const idx = x_nc + (i * spec.stride + p) * W + (j * spec.stride + q);
      const v = x.data[idx];
      if (v > best || Number.isNaN(v)) { best = v; at = idx; if (Number.isNaN(v)) return at; }
    }
  return at;
}

/**
 * Max pool. Overwrites y.
 *   y: (N, C, Ho, Wo)  x: (N, C, H, W)
 */
export function maxPool2dForward(y: Tensor, x: Tensor, spec: Pool2dSpec): void {
  const [N, C, Ho, Wo] = pool2dOutputShape(x, spec);
  assertShape('maxPool2d y', y, [N, C, Ho, Wo]);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) y.data[((n * C + c) * Ho + i) * Wo + j] = x.data[argmaxOfWindow(x, n, c, i, j, spec)];
}

/**
 * dx[argmax of window] += dy[window]: each output's gradient goes to the input that won its
 * window (ties → the first); overlapping windows (stride < k) add up. Overwrites dx.
 *   dx: (N, C, H, W)  dy: (N, C, Ho, Wo)  x: (N, C, H, W), the forward input
 */
export function maxPool2dBackward(dx: Tensor, dy: Tensor, x: Tensor, spec: Pool2dSpec): void {
  const [N, C, Ho, Wo] = pool2dOutputShape(x, spec);
  assertShape('maxPool2d dy', dy, [N, C, Ho, Wo]);
  assertShape('maxPool2d dx', dx, x.shape);
  dx.data.fill(0);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) dx.data[argmaxOfWindow(x, n, c, i, j, spec)] += dy.data[((n * C + c) * Ho + i) * Wo + j];
}

/**
 * Average pool (every window lies inside x, so the divisor is always k²). Overwrites y.
 *   y: (N, C, Ho, Wo)  x: (N, C, H, W)
 */
export function avgPool2dForward(y: Tensor, x: Tensor, spec: Pool2dSpec): void {
  const [N, C, Ho, Wo] = pool2dOutputShape(x, spec);
  assertShape('avgPool2d y', y, [N, C, Ho, Wo]);
  const [, , H, W] = x.shape;
  const { k, stride } = spec, area = k * k;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const x_nc = (n * C + c) * H * W;
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let sum = 0;
          for (let p = 0; p < k; p++)
            for (let q = 0; q < k; q++) sum += x.data[x_nc + (i * stride + p) * W + (j * stride + q)];
          y.data[((n * C + c) * Ho + i) * Wo + j] = sum / area;
        }
    }
}

/**
 * dx[window] += dy / k² for every window. Overwrites dx.
 *   dx: (N, C, H, W)  dy: (N, C, Ho, Wo)
 */
export function avgPool2dBackward(dx: Tensor, dy: Tensor, spec: Pool2dSpec): void {
  const [N, C, Ho, Wo] = pool2dOutputShape(dx, spec);
  assertShape('avgPool2d dy', dy, [N, C, Ho, Wo]);
  const [, , H, W] = dx.shape;
  const { k, stride } = spec, area = k * k;
  dx.data.fill(0);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const x_nc = (n * C + c) * H * W;
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          const g = dy.data[((n * C + c) * Ho + i) * Wo + j] / area;
          for (let p = 0; p < k; p++)
            for (let q = 0; q < k; q++) dx.data[x_nc + (i * stride + p) * W + (j * stride + q)] += g;
        }
    }
}

/**
 * Global average pool (PyTorch AdaptiveAvgPool2d(1) followed by flatten). Overwrites y.
 *   y: (N, C)  x: (N, C, H, W)
 */
export function globalAvgPoolForward(y: Tensor, x: Tensor): void {
  if (x.shape.length !== 4) assertShape('globalAvgPool x', x, [-1, -1, -1, -1]);
  const [N, C, H, W] = x.shape;
  assertShape('globalAvgPool y', y, [N, C]);
  const plane = H * W;
  for (let nc = 0; nc < N * C; nc++) {
    let sum = 0;
    for (let rs = 0; rs < plane; rs++) sum += x.data[nc * plane + rs];
    y.data[nc] = sum / plane;
  }
}

/**
 * dx[n,c,r,s] = dy[n,c] / (H·W). Overwrites dx.
 *   dx: (N, C, H, W)  dy: (N, C)
 */
export function globalAvgPoolBackward(dx: Tensor, dy: Tensor): void {
  if (dx.shape.length !== 4) assertShape('globalAvgPool dx', dx, [-1, -1, -1, -1]);
  const [N, C, H, W] = dx.shape;
  assertShape('globalAvgPool dy', dy, [N, C]);
  const plane = H * W;
  for (let nc = 0; nc < N * C; nc++) {
    const g = dy.data[nc] / plane;
    for (let rs = 0; rs < plane; rs++) dx.data[nc * plane + rs] = g;
  }
}
