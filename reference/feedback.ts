// The feedback operator: the one thing that differs between BP, FA, DFA and LDFA.
// A layer's backward pass computes dx = feedback(dy); each rule picks the operator.
//
//   BP    dx = dy·W          δ_{l−1} = W_lᵀ δ_l        (spec §1.2)
//   FA    dx = dy·B          δ_{l−1} = B_l δ_l, B fixed random
//   LDFA  dx = (dy·P̂)·Q̂     δ_{l−1} = Q_l P_l δ_l, P̂ = Pᵀ (out, r), Q̂ = Qᵀ (r, in)  (spec §2.1)
//   DFA   dx = e·D           δ_{l−1} = D_{l−1} e, e the output error (spec §1.2)
//
// P̂ and Q̂ are applied one after the other and never multiplied out, so the
// input-gradient costs 2N·r·(in + out) FLOPs instead of 2N·in·out.
import { ops, type Conv2dSpec } from './backend.ts';
import { clampInPlace, reshape, tensor, type Tensor } from './tensor.ts';

/** Overwrites dx (shape of the layer's input) from dy (shape of the layer's output). */
export type Feedback = (dx: Tensor, dy: Tensor) => void;

/** dx = dy·M for a linear layer; M is (out, in): W for BP, B for FA. */
export const throughMatrix = (M: Tensor): Feedback => (dx, dy) => ops().matmul(dx, dy, M);

/** dx = (dy·P̂)·Q̂ for a linear layer; P̂: (out, r), Q̂: (r, in). */
export const throughLowRank = (P: Tensor, Q: Tensor): Feedback => (dx, dy) => {
  const z = tensor([dy.shape[0], P.shape[1]]); // (N, r): the feedback units' activity
  ops().matmul(z, dy, P);
  ops().matmul(dx, z, Q);
};

/** dx = e·D, ignoring dy (DFA); e: (N, C) the output error, D: (C, prod(input shape)). */
export const throughDirect = (D: Tensor, outputError: () => Tensor): Feedback => (dx) => {
  const e = outputError();
  ops().matmul(reshape(dx, [e.shape[0], D.shape[1]]), e, D); // dx may be 4-d under a conv layer
};

/** Conv layers: dx = conv_transposed(dy, K); K has the weight's shape: W for BP, B for FA. */
export const throughKernel = (K: Tensor, spec: Conv2dSpec): Feedback => (dx, dy) => ops().conv2dBackwardInput(dx, dy, K, spec);

/**
 * Conv LDFA (spec §4.2): P̂ is a 1×1 kernel (Cout, r, 1, 1), Q̂ a k×k kernel (r, Cin, k, k).
 * The r-channel error map is formed at the output resolution; the layer's stride and
 * padding are applied on the Q̂ step (the v4 convention; identical to v1 for stride 1).
 */
export const throughLowRankKernel = (P: Tensor, Q: Tensor, spec: Conv2dSpec): Feedback => (dx, dy) => {
  const [N, , Ho, Wo] = dy.shape;
  const z = tensor([N, P.shape[1], Ho, Wo]);
  ops().conv2dBackwardInput(z, dy, P, { stride: 1, padding: 0 });
  ops().conv2dBackwardInput(dx, z, Q, spec);
};

/**
 * The signal sent down, clamped elementwise to [−c, c] (the v1 code's hook, spec §2.4); `clamp`
 * does it in place (the float32 path passes the addon's, the same values).
 */
export const clipFeedback = (feedback: Feedback, c: number, clamp = clampInPlace): Feedback => (dx, dy) => {
  feedback(dx, dy);
  clamp(dx, c);
};
