// Batchwise random-magnitude sign-concordant feedback, brSF (Liao, Leibo & Poggio 2016; family spec §2, §2.1).
//   B_t = |M_t| ∘ sign(W_t)     dx = dy·B_t   (conv: transposed conv with the kernel B_t)
// M_t is redrawn once per training step (the spec's recommended default, not biotorch's once per
// forward call), from a stream keyed by (rule seed, layer, step): evaluation passes and alignment
// probes draw nothing, and a resumed run draws the same M_t. M_t is drawn like FA's B.
// In expectation B_t = E|M|·sign(W_t): uSF with c = E|M| (§2.3).
import { initWeight, keyedRng } from '../rng.ts';
import { tensor, type Tensor } from '../tensor.ts';
import type { SignMagnitudeOptions } from './frsf.ts';
import { absInPlace, sendingSites, signConcordantFeedback, type Rule } from './rule.ts';

export function brsf(options: Omit<SignMagnitudeOptions, 'inject'> = { magnitudes: 'uniform' }): Rule {
  const tensors: Record<string, Tensor> = {};
  const magnitudes: Tensor[] = []; // |M_t| per sending layer, W's shape
  let seed = 0;
  /** Draws |M_t| of every layer for training step `step` (1-based). */
  const draw = (step: number) => magnitudes.forEach((M, layer) => {
    M.data.set(absInPlace(initWeight(keyedRng(seed, layer, step), M.shape, options.magnitudes)).data);
  });
  return {
    name: 'brsf',
    attach(model, rng) {
      seed = rng.nextUint32();
      for (const site of sendingSites(model)) {
        const shape = site.weight.value.shape;
        const M = tensor(shape), B = tensor(shape);
        site.feedback = signConcordantFeedback(site, B, (i) => M.data[i]);
        magnitudes.push(M);
        tensors[`${site.name}.M`] = M;
        tensors[`${site.name}.B`] = B;
      }
      draw(1);
    },
    feedbackParams: () => [],
    feedbackGradients: () => {},
    afterStep: (step) => draw(step + 1),
    feedbackTensors: () => tensors,
    summary: () => ({ rule: 'brsf', magnitudes: options.magnitudes }),
  };
}
