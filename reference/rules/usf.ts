// Uniform sign-concordant feedback, uSF (Liao, Leibo & Poggio 2016; family spec §2, §2.1).
//   B_t = c·sign(W_t)           dx = dy·B_t   (conv: transposed conv with the kernel B_t)
// B is no parameter: it is rewritten from the current W whenever the layer sends its error down,
// so sign(B) = sign(W) at every step. Only the first layer's B is never used (as in FA).
// Scale c (the sources disagree, §2.1):
//   'init-std' (default, biotorch's release): the std of the distribution W was drawn from,
//              so that ‖dx‖ at initialisation is of BP's order;
//   'unit'     (biotorch's early sign_1, the paper's "sign(W)"): c = 1;
//   a number   any fixed c > 0.
import { initStd, type InitName } from '../rng.ts';
import { tensor, type Tensor } from '../tensor.ts';
import { sendingSites, signConcordantFeedback, type Rule } from './rule.ts';

export type UsfScale = 'init-std' | 'unit' | number;

export interface UsfOptions {
  scale: UsfScale;
  /** The initialiser W was drawn with (for scale 'init-std'). */
  weightInit: InitName;
}

export const DEFAULT_USF: UsfOptions = { scale: 'init-std', weightInit: 'uniform' };

export function checkUsfScale(scale: UsfScale): void {
  if (scale === 'init-std' || scale === 'unit') return;
  if (!(typeof scale === 'number' && scale > 0 && Number.isFinite(scale))) {
    throw new Error(`uSF scale '${String(scale)}' is not allowed: allowed are init-std, unit or a finite number > 0`);
  }
}

export function usf(options: UsfOptions = DEFAULT_USF): Rule {
  checkUsfScale(options.scale);
  const tensors: Record<string, Tensor> = {};
  const scales: Record<string, number> = {};
  return {
    name: 'usf',
    attach(model) {
      for (const site of sendingSites(model)) {
        const shape = site.weight.value.shape;
        const c = options.scale === 'init-std' ? initStd(shape, options.weightInit) : options.scale === 'unit' ? 1 : options.scale;
        const B = tensor(shape); // (out, in) or (Cout, Cin, k, k): c·sign(W) of the last backward
        site.feedback = signConcordantFeedback(site, B, () => c);
        tensors[`${site.name}.B`] = B;
        scales[site.name] = c;
      }
    },
    feedbackParams: () => [],
    feedbackGradients: () => {},
    afterStep: () => {},
    feedbackTensors: () => tensors,
    summary: () => ({ rule: 'usf', scale: options.scale, c: scales }),
  };
}
