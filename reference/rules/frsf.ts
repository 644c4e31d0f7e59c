// Fixed random-magnitude sign-concordant feedback, frSF (Liao, Leibo & Poggio 2016; family spec §2, §2.1).
//   B_t = |M| ∘ sign(W_t)       dx = dy·B_t   (conv: transposed conv with the kernel B_t)
// M is drawn once, like FA's B (the recommended default: |B_FA,0|, so FA, frSF and brSF share one
// magnitude distribution); only the signs follow W. With the same generator, |M| is |FA's B| exactly,
// so frSF ≡ FA at every step where sign(W_t) = sign(B_FA) (§2.3).
import { initWeight, type InitName } from '../rng.ts';
import { assertShape, tensor, type Tensor } from '../tensor.ts';
import { absInPlace, sendingSites, signConcordantFeedback, type Rule } from './rule.ts';

export interface SignMagnitudeOptions {
  /** The distribution M is drawn from (default 'uniform', FA's B initialiser; biotorch: xavier). */
  magnitudes: InitName;
  /** `${site}.M`: magnitudes to use instead of drawing them (≥ 0). */
  inject?: Record<string, Tensor>;
}

export function frsf(options: SignMagnitudeOptions = { magnitudes: 'uniform' }): Rule {
  const tensors: Record<string, Tensor> = {};
  return {
    name: 'frsf',
    attach(model, rng) {
      for (const site of sendingSites(model)) {
        const shape = site.weight.value.shape;
        const M = options.inject?.[`${site.name}.M`] ?? absInPlace(initWeight(rng, shape, options.magnitudes)); // |M|: W's shape, fixed
        assertShape(`${site.name}.M`, M, shape);
        if (M.data.some((m) => !(m >= 0))) throw new Error(`frsf: the injected magnitudes ${site.name}.M must be ≥ 0`);
        const B = tensor(shape); // |M|∘sign(W) of the last backward
        site.feedback = signConcordantFeedback(site, B, (i) => M.data[i]);
        tensors[`${site.name}.M`] = M;
        tensors[`${site.name}.B`] = B;
      }
    },
    feedbackParams: () => [],
    feedbackGradients: () => {},
    afterStep: () => {},
    feedbackTensors: () => tensors,
    summary: () => ({ rule: 'frsf', magnitudes: options.magnitudes }),
  };
}
