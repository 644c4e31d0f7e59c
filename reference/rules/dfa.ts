// Direct feedback alignment (Nøkland 2016): every layer below the output receives the
// output error e directly through its own fixed random D.
//   δ_{l−1} = f′(a_{l−1}) ⊙ (D_{l−1} e)        dx = e·D,  D: (C, size of the layer's input)
// The output layer itself learns from the exact e. D ~ U(±1/√C) unless injected.
import { throughDirect } from '../feedback.ts';
import { uniformTensor } from '../rng.ts';
import { assertShape, type Tensor } from '../tensor.ts';
import { fixedFeedbackRule, type Rule } from './rule.ts';

export const dfa = (options: { inject?: Record<string, Tensor> } = {}): Rule =>
  fixedFeedbackRule('dfa', (site, rng, model) => {
    const C = model.outputSize;
    const inputSize = site.inputShape.reduce((a, b) => a * b, 1);
    const D = options.inject?.[`${site.name}.D`] ?? uniformTensor(rng, [C, inputSize], 1 / Math.sqrt(C));
    assertShape(`${site.name}.D`, D, [C, inputSize]);
    site.feedback = throughDirect(D, () => {
      if (model.outputError === null) throw new Error('dfa: the output error is not available before backward');
      return model.outputError;
    });
    return D;
  }, 'D');
