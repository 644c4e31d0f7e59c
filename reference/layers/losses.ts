// Losses, reduced by the mean over the batch (PyTorch's default). Each returns the loss
// and writes the output error e = ∂L/∂logits (spec §1.1), which already carries the 1/N.
import { assertShape, type Tensor } from '../tensor.ts';

/**
 * Softmax cross-entropy:  L = −(1/N) Σ_n log softmax(a_n)[y_n]
 *                         e = (softmax(a) − onehot(y)) / N
 *   de: (N, C)   logits: (N, C)   labels: (N) integers in [0, C)
 */
export function softmaxCrossEntropy(de: Tensor, logits: Tensor, labels: Int32Array): number {
  const [N, C] = logits.shape;
  assertShape('cross-entropy error', de, [N, C]);
  if (labels.length !== N) throw new Error(`cross-entropy: ${labels.length} labels for a batch of ${N}`);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const row = n * C;
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, logits.data[row + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits.data[row + c] - max);
    const label = labels[n];
    if (!(label >= 0 && label < C)) throw new Error(`cross-entropy: label ${label} of sample ${n} is outside [0, ${C})`);
    loss += Math.log(sum) + max - logits.data[row + label];
    for (let c = 0; c < C; c++) de.data[row + c] = (Math.exp(logits.data[row + c] - max) / sum - (c === label ? 1 : 0)) / N;
  }
  return loss / N;
}

/**
 * Squared error:  L = (1/2N) Σ_n ‖ŷ_n − y_n‖²      e = (ŷ − y) / N
 *   de, prediction, target: (N, m)
 */
export function squaredError(de: Tensor, prediction: Tensor, target: Tensor): number {
  const [N] = prediction.shape;
  assertShape('squared-error target', target, prediction.shape);
  assertShape('squared-error error', de, prediction.shape);
  let loss = 0;
  for (let i = 0; i < prediction.data.length; i++) {
    const diff = prediction.data[i] - target.data[i];
    loss += diff * diff;
    de.data[i] = diff / N;
  }
  return loss / (2 * N);
}

/** Number of rows whose arg-max equals the label.   logits: (N, C) */
export function countCorrect(logits: Tensor, labels: Int32Array): number {
  const [N, C] = logits.shape;
  let correct = 0;
  for (let n = 0; n < N; n++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (logits.data[n * C + c] > logits.data[n * C + best]) best = c;
    if (best === labels[n]) correct++;
  }
  return correct;
}
