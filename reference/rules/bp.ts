// Backpropagation: the error goes down through the transpose of the forward weights.
//   δ_{l−1} = f′(a_{l−1}) ⊙ (W_lᵀ δ_l)        dx = dy·W
import { fixedFeedbackRule, throughWeightShaped, type Rule } from './rule.ts';

export const bp = (): Rule => fixedFeedbackRule('bp', (site) => {
  site.feedback = throughWeightShaped(site, site.weight.value);
  return null;
}, 'W');
