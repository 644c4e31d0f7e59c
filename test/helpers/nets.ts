// Small shared fixtures for rule tests: MLP shapes, a random batch and one gradient evaluation.
import fc from 'fast-check';
import { softmaxCrossEntropy } from '../../reference/layers/losses.ts';
import type { Model } from '../../reference/models/network.ts';
import { Rng, normalTensor } from '../../reference/rng.ts';
import { clone, tensor, type Tensor } from '../../reference/tensor.ts';
import { expectClose } from './close.ts';

/** Small MLPs for property tests: widths, classes, batch, activation and seed. */
export const mlpShapes = fc.record({
  inputSize: fc.integer({ min: 1, max: 6 }),
  hidden: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
  classes: fc.integer({ min: 2, max: 5 }),
  batch: fc.integer({ min: 1, max: 5 }),
  activation: fc.constantFrom('relu' as const, 'tanh' as const, 'identity' as const),
  seed: fc.nat(1e6),
});

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

/** Every parameter's analytic gradient against central finite differences of the loss. */
export function expectBackpropMatchesFiniteDifferences(model: Model, x: Tensor, y: Int32Array, h = 1e-6): void {
  const { grads } = gradients(model, x, y);
  for (const p of model.params()) {
    const numeric = new Float64Array(p.value.size);
    for (let i = 0; i < p.value.size; i++) {
      const keep = p.value.data[i];
      p.value.data[i] = keep + h; const up = crossEntropyLoss(model, x, y);
      p.value.data[i] = keep - h; const down = crossEntropyLoss(model, x, y);
      p.value.data[i] = keep;
      numeric[i] = (up - down) / (2 * h);
    }
    expectClose(`d${p.name}`, grads[p.name].data, numeric, { atol: 1e-7, rtol: 1e-5 });
  }
}
