// Small shared fixtures for rule tests: a random batch and one gradient evaluation.
import { softmaxCrossEntropy } from '../../reference/layers/losses.ts';
import type { Model } from '../../reference/models/network.ts';
import { Rng, normalTensor } from '../../reference/rng.ts';
import { clone, tensor, type Tensor } from '../../reference/tensor.ts';

export function randomBatch(seed: number, n: number, inputSize: number, classes: number): { x: Tensor; y: Int32Array } {
  const rng = new Rng(seed);
  const x = normalTensor(rng, [n, inputSize], 1);
  const y = new Int32Array(n).map(() => rng.int(classes));
  return { x, y };
}

/** Forward, cross-entropy, backward; returns the loss, every param grad and every signal sent down. */
export function gradients(model: Model, x: Tensor, y: Int32Array) {
  const logits = model.forward(x, true);
  const de = tensor(logits.shape);
  const loss = softmaxCrossEntropy(de, logits, y);
  model.backward(de);
  return {
    loss,
    grads: Object.fromEntries(model.params().map((p) => [p.name, clone(p.grad)])),
    signals: Object.fromEntries(model.sites.filter((s) => s.inputGrad).map((s) => [s.name, clone(s.inputGrad!)])),
  };
}

export function crossEntropyLoss(model: Model, x: Tensor, y: Int32Array): number {
  const logits = model.forward(x, true);
  return softmaxCrossEntropy(tensor(logits.shape), logits, y);
}
