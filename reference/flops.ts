// FLOP accounting per layer and learning rule (spec §7.8). One multiply-add counts as 2 FLOPs;
// only the products are counted: bias additions, bias gradients, activations and norms are
// lower order and left out, and a dense count is used (a conv tap that lands in the zero
// padding is counted as if it did work, as dense im2col / cuDNN-style kernels do).
//
// Linear layer, N rows, W (out, in) (spec §1.2, §2.1):
//   forward          y  = x·Wᵀ               2·N·in·out
//   weight gradient  dW = dyᵀ·x              2·N·in·out     (every rule)
//   input gradient   BP  dx = dy·W           2·N·in·out
//                    FA  dx = dy·B           2·N·in·out     (B has W's shape)
//                    LDFA dx = (dy·P̂)·Q̂     2·N·r·(in + out) = 2·N·out·r + 2·N·r·in
//                    DFA dx = e·D            2·N·C·in       (e the (N, C) output error)
//
// Conv layer, x (N, Cin, H, W), W (Cout, Cin, k, k), y (N, Cout, Ho, Wo) (spec §4.2):
//   forward          2·N·Ho·Wo·Cout·Cin·k²   (each output value is a Cin·k² dot product)
//   weight gradient  2·N·Ho·Wo·Cout·Cin·k²   (every rule)
//   input gradient   BP / FA  convᵀ(dy, W or B)   2·N·Ho·Wo·Cout·Cin·k²
//                    LDFA  1×1 step z = convᵀ(dy, P̂), z (N, r, Ho, Wo):      2·N·Ho·Wo·Cout·r
//                          k×k step dx = convᵀ(z, Q̂) with the layer's stride:  2·N·Ho·Wo·r·Cin·k²
//                    DFA   dx = e·D, D (C, Cin·H·W)                            2·N·C·Cin·H·W
//
// Stride > 1 under LDFA. The formula above is exact (as a dense count) for any stride
// because reference/feedback.ts follows CODE-v4: the r-channel map z stays at the output
// resolution Ho×Wo and the stride is applied on the Q̂ step, where each of the N·r·Ho·Wo
// values of z is scattered through k²·Cin taps, exactly the transposed view of the forward
// count with Cout replaced by r. So the LDFA/BP ratio is r·(Cout + Cin·k²)/(Cout·Cin·k²) at
// every stride. Under CODE-v1's convention (stride on the P̂ step, Q̂ at stride 1) z would be
// the stride-dilated map of about H×W positions and the k×k step would cost roughly s² times
// more (2·N·H·W·r·Cin·k² with dilation zeros counted); that convention is not implemented.
export type FlopRule =
  | { rule: 'bp' }
  | { rule: 'fa' }
  | { rule: 'ldfa'; rank: number }
  | { rule: 'dfa'; outputWidth: number };

export interface LayerFlops {
  forward: number;
  inputGradient: number;
  weightGradient: number;
}

export interface LinearShape {
  kind: 'linear';
  /** Rows of the batch (for a transformer: batch · tokens). */
  N: number;
  inDim: number;
  outDim: number;
}

export interface Conv2dShape {
  kind: 'conv2d';
  N: number;
  Cin: number;
  Cout: number;
  /** Input height and width. */
  H: number;
  W: number;
  k: number;
  stride: number;
  padding: number;
}

export type LayerShape = LinearShape | Conv2dShape;

function positive(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`flops: ${what} ${v} is not allowed: it must be an integer ≥ 1`);
}

function checkRule(rule: FlopRule): void {
  if (rule.rule === 'ldfa') positive('LDFA rank', rule.rank);
  else if (rule.rule === 'dfa') positive('DFA output-error width', rule.outputWidth);
  else if (rule.rule !== 'bp' && rule.rule !== 'fa') {
    throw new Error(`flops: unknown rule '${(rule as { rule: string }).rule}': allowed are bp, fa, ldfa, dfa`);
  }
}

/** FLOPs of a linear layer with N rows, W (outDim, inDim), under one rule. */
export function linearFlops(shape: Omit<LinearShape, 'kind'>, rule: FlopRule): LayerFlops {
  const { N, inDim, outDim } = shape;
  positive('N', N); positive('inDim', inDim); positive('outDim', outDim);
  checkRule(rule);
  const dense = 2 * N * inDim * outDim;
  let inputGradient: number;
  switch (rule.rule) {
    case 'bp': case 'fa': inputGradient = dense; break;
    case 'ldfa': inputGradient = 2 * N * rule.rank * (inDim + outDim); break;
    case 'dfa': inputGradient = 2 * N * rule.outputWidth * inDim; break;
  }
  return { forward: dense, inputGradient, weightGradient: dense };
}

/** FLOPs of a conv layer (square kernel, zero padding) under one rule. */
export function conv2dFlops(shape: Omit<Conv2dShape, 'kind'>, rule: FlopRule): LayerFlops {
  const { N, Cin, Cout, H, W, k, stride, padding } = shape;
  positive('N', N); positive('Cin', Cin); positive('Cout', Cout); positive('H', H); positive('W', W);
  positive('k', k); positive('stride', stride);
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`flops: padding ${padding} is not allowed: it must be an integer ≥ 0`);
  checkRule(rule);
  const Ho = Math.floor((H + 2 * padding - k) / stride) + 1, Wo = Math.floor((W + 2 * padding - k) / stride) + 1;
  if (Ho < 1 || Wo < 1) throw new Error(`flops: a ${k}×${k} kernel with padding ${padding} does not fit an input of size ${H}×${W}`);
  const positions = N * Ho * Wo;
  const dense = 2 * positions * Cout * Cin * k * k;
  let inputGradient: number;
  switch (rule.rule) {
    case 'bp': case 'fa': inputGradient = dense; break;
    case 'ldfa': inputGradient = 2 * positions * Cout * rule.rank + 2 * positions * rule.rank * Cin * k * k; break;
    case 'dfa': inputGradient = 2 * N * rule.outputWidth * Cin * H * W; break;
  }
  return { forward: dense, inputGradient, weightGradient: dense };
}

export function layerFlops(layer: LayerShape, rule: FlopRule): LayerFlops {
  return layer.kind === 'linear' ? linearFlops(layer, rule) : conv2dFlops(layer, rule);
}

/** Sum over layers, field by field. */
export function totalFlops(layers: readonly LayerFlops[]): LayerFlops {
  const total = { forward: 0, inputGradient: 0, weightGradient: 0 };
  for (const f of layers) {
    total.forward += f.forward;
    total.inputGradient += f.inputGradient;
    total.weightGradient += f.weightGradient;
  }
  return total;
}
