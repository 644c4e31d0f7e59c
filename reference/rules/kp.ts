// Kolen–Pollack (Kolen & Pollack 1994; Akrout et al. 2019; family spec §3).
//   dx = dy·B                  (conv: transposed conv with the kernel B)
//   grad_B = dW                B receives W's own gradient, and W's optimiser steps it with W's
//                              lr and weight decay (stepsWithWeights), so under plain SGD
//   W ← W − η·dW − ηλ·W,  B ← B − η·dW − ηλ·B   ⇒   B_t − W_t = (1 − ηλ)^t (B₀ − W₀).
// The difference is independent of the data; λ = 0 leaves it constant (§3 property 5).
// B₀ (the sources disagree): 'random' (default; Akrout, bioflax) is drawn like FA's B,
// independent of W; 'weights' starts at B₀ = W₀ (Zipser & Rumelhart), which makes KP exactly BP.
import { param, type Param } from '../params.ts';
import { initWeight } from '../rng.ts';
import { assertShape, clone, type Tensor } from '../tensor.ts';
import { sendingSites, throughWeightShaped, type Rule } from './rule.ts';
import type { FeedbackSite } from '../models/network.ts';

export type KpInit = 'random' | 'weights';
export const KP_INITS: readonly KpInit[] = ['random', 'weights'];

export interface KpOptions {
  init: KpInit;
  /** `${site}.B`: B₀ to use instead of drawing it. */
  inject?: Record<string, Tensor>;
}

export function kp(options: KpOptions = { init: 'random' }): Rule {
  if (!KP_INITS.includes(options.init)) throw new Error(`kp init '${options.init as string}' is not allowed: allowed are ${KP_INITS.join(', ')}`);
  const layers: { site: FeedbackSite; B: Param }[] = [];
  return {
    name: 'kp',
    stepsWithWeights: true,
    attach(model, rng) {
      for (const site of sendingSites(model)) {
        const shape = site.weight.value.shape;
        const drawn = initWeight(rng, shape, 'uniform'); // drawn either way: the stream does not depend on init
        const B = param(`${site.name}.B`, options.inject?.[`${site.name}.B`] ?? (options.init === 'weights' ? clone(site.weight.value) : drawn));
        assertShape(`${site.name}.B`, B.value, shape);
        site.feedback = throughWeightShaped(site, B.value);
        layers.push({ site, B });
      }
    },
    feedbackParams: () => layers.map((l) => l.B),
    /** grad_B = dW (W's shape), copied after the backward pass. */
    feedbackGradients() {
      for (const { site, B } of layers) B.grad.data.set(site.weight.grad.data);
    },
    afterStep: () => {},
    feedbackTensors: () => Object.fromEntries(layers.map((l) => [l.B.name, l.B.value])),
    summary: () => ({ rule: 'kp', init: options.init }),
  };
}
