// Feedback alignment (Lillicrap et al. 2016): a fixed random B of W's shape replaces W.
//   δ_{l−1} = f′(a_{l−1}) ⊙ (B_l δ_l)         dx = dy·B
// B is drawn like W (same initialiser) unless injected.
import { initWeight, type InitName } from '../rng.ts';
import { assertShape, type Tensor } from '../tensor.ts';
import { fixedFeedbackRule, throughWeightShaped, type Rule } from './rule.ts';

export const fa = (options: { init?: InitName; inject?: Record<string, Tensor> } = {}): Rule =>
  fixedFeedbackRule('fa', (site, rng) => {
    const B = options.inject?.[`${site.name}.B`] ?? initWeight(rng, site.weight.value.shape, options.init ?? 'uniform');
    assertShape(`${site.name}.B`, B, site.weight.value.shape);
    site.feedback = throughWeightShaped(site, B);
    return B;
  }, 'B');
