// Linear layer, row-vector batches (code orientation of spec §1.1):
//   y = x·Wᵀ + b          a_l = W_l h_{l−1} + b_l
//   x: (N, in)   W: (out, in)   b: (out)   y: (N, out)
import { ops } from '../backend.ts';
import type { Feedback } from '../feedback.ts';
import { assertShape, type Tensor } from '../tensor.ts';

export function linearForward(y: Tensor, x: Tensor, W: Tensor, b: Tensor | null): void {
  const [N, inDim] = x.shape;
  const outDim = W.shape[0];
  assertShape('linear W', W, [outDim, inDim]);
  assertShape('linear y', y, [N, outDim]);
  ops().matmul(y, x, W, false, true);
  if (b === null) return;
  assertShape('linear b', b, [outDim]);
  for (let n = 0; n < N; n++) for (let o = 0; o < outDim; o++) y.data[n * outDim + o] += b.data[o];
}

/**
 * dW = dyᵀ·x and db = Σ_n dy exactly, under every rule   (ΔW_l = −η Σ δ_l h_{l−1}ᵀ, spec §1.1)
 * dx = feedback(dy): dy·W under BP, dy·B under FA, (dy·P̂)·Q̂ under LDFA (spec §1.2).
 * dx is null when nothing below needs it (the first layer). Gradients are overwritten.
 *   dy: (N, out)  x: (N, in)  dx: (N, in)  dW: (out, in)  db: (out)
 */
export function linearBackward(
  dx: Tensor | null, dW: Tensor, db: Tensor | null,
  dy: Tensor, x: Tensor, feedback: Feedback,
): void {
  const [N, outDim] = dy.shape;
  ops().matmul(dW, dy, x, true, false);
  if (db !== null) {
    db.data.fill(0);
    for (let n = 0; n < N; n++) for (let o = 0; o < outDim; o++) db.data[o] += dy.data[n * outDim + o];
  }
  if (dx !== null) feedback(dx, dy);
}
