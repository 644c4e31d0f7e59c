// 2-d convolution layer, NCHW, square kernels, zero padding (spec §4.2):
//   y[n,o,i,j] = b[o] + Σ_{c,p,q} W[o,c,p,q] · x[n,c, i·s + p − pad, j·s + q − pad]
//   x: (N, Cin, H, W)   W: (Cout, Cin, k, k)   b: (Cout)   y: (N, Cout, Ho, Wo)
//   Ho = ⌊(H + 2·pad − k)/s⌋ + 1, likewise Wo.
import { convOutputSize, ops, type Conv2dSpec } from '../backend.ts';
import type { Feedback } from '../feedback.ts';
import { assertShape, type Tensor } from '../tensor.ts';

function checkSpec(spec: Conv2dSpec): void {
  if (!Number.isInteger(spec.stride) || spec.stride < 1) throw new Error(`conv2d stride ${spec.stride} is not allowed: stride must be an integer ≥ 1`);
  if (!Number.isInteger(spec.padding) || spec.padding < 0) throw new Error(`conv2d padding ${spec.padding} is not allowed: padding must be an integer ≥ 0`);
}

/** The output shape [N, Cout, Ho, Wo] of a conv with weight W on input x; checks W against x. */
export function conv2dOutputShape(x: Tensor, W: Tensor, spec: Conv2dSpec, weightName = 'conv2d W'): [number, number, number, number] {
  checkSpec(spec);
  if (x.shape.length !== 4) assertShape('conv2d x', x, [-1, -1, -1, -1]);
  const [N, Cin, H, Wd] = x.shape;
  const [Cout, , k] = W.shape;
  assertShape(weightName, W, [Cout, Cin, k, k]);
  return [N, Cout, convOutputSize(H, k, spec), convOutputSize(Wd, k, spec)];
}

/**
 * y = conv(x, W) + b   (a_l = W_l ∗ h_{l−1} + b_l). Overwrites y.
 *   y: (N, Cout, Ho, Wo)  x: (N, Cin, H, W)  W: (Cout, Cin, k, k)  b: (Cout) or null
 */
export function conv2dForward(y: Tensor, x: Tensor, W: Tensor, b: Tensor | null, spec: Conv2dSpec): void {
  const [N, Cout, Ho, Wo] = conv2dOutputShape(x, W, spec);
  assertShape('conv2d y', y, [N, Cout, Ho, Wo]);
  ops().conv2dForward(y, x, W, spec);
  if (b === null) return;
  assertShape('conv2d b', b, [Cout]);
  const plane = Ho * Wo;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Cout; o++) {
      const y_no = (n * Cout + o) * plane, b_o = b.data[o];
      for (let ij = 0; ij < plane; ij++) y.data[y_no + ij] += b_o;
    }
}

/**
 * dW = Σ_{n,i,j} dy[n,o,i,j] · x-patch(n,i,j) and db[o] = Σ_{n,i,j} dy[n,o,i,j], exactly,
 * under every rule (ΔW_l = −η Σ δ_l h_{l−1}ᵀ read as a convolution, spec §1.1, §4.2).
 * dx = feedback(dx, dy) (spec §4.2):
 *   BP    throughKernel(W, spec)              dx = convᵀ(dy, W)
 *   FA    throughKernel(B, spec)              dx = convᵀ(dy, B), B fixed, W's shape
 *   LDFA  throughLowRankKernel(P̂, Q̂, spec)   dx = convᵀ(convᵀ_1×1(dy, P̂), Q̂)
 *   DFA   throughDirect(D, () => e)           dx = e·D reshaped
 * dx is null for the first layer. All gradients are overwritten.
 *   dx: (N, Cin, H, W) or null  dW: (Cout, Cin, k, k)  db: (Cout) or null
 *   dy: (N, Cout, Ho, Wo)       x: (N, Cin, H, W)
 */
export function conv2dBackward(
  dx: Tensor | null, dW: Tensor, db: Tensor | null,
  dy: Tensor, x: Tensor, spec: Conv2dSpec, feedback: Feedback,
): void {
  const [N, Cout, Ho, Wo] = conv2dOutputShape(x, dW, spec, 'conv2d dW');
  assertShape('conv2d dy', dy, [N, Cout, Ho, Wo]);
  ops().conv2dBackwardFilter(dW, dy, x, spec);
  if (db !== null) {
    assertShape('conv2d db', db, [Cout]);
    const plane = Ho * Wo;
    db.data.fill(0);
    for (let n = 0; n < N; n++)
      for (let o = 0; o < Cout; o++) {
        const dy_no = (n * Cout + o) * plane;
        let sum = 0;
        for (let ij = 0; ij < plane; ij++) sum += dy.data[dy_no + ij];
        db.data[o] += sum;
      }
  }
  if (dx !== null) {
    assertShape('conv2d dx', dx, x.shape);
    feedback(dx, dy);
  }
}
