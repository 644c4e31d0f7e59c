// FLOPs of one training step of a model under its rule (reference/flops.ts per layer), for
// every feedback site (linear and conv layers). Left out: the attention products QKᵀ and
// A·V (4·N·T²·D per block in the forward pass, the same under every rule); norms, pooling,
// activations and biases (lower order); LDFA's learning of P̂, Q̂ (not part of the pass).
import { layerFlops, totalFlops, type FlopRule, type LayerFlops } from '../reference/flops.ts';
import type { FeedbackSite, Model } from '../reference/models/network.ts';
import type { Rule } from '../reference/rules/rule.ts';

export interface StepFlops {
  layers: Record<string, LayerFlops>;
  total: LayerFlops & { all: number };
}

function siteRule(site: FeedbackSite, rule: Rule, model: Model): FlopRule {
  if (rule.name === 'dfa') return { rule: 'dfa', outputWidth: model.outputSize };
  if (rule.name === 'ldfa') {
    const ranks = rule.summary().ranks as Record<string, number>;
    // a layer LDFA leaves exact (--classifier-feedback bp) sends through W
    return site.name in ranks ? { rule: 'ldfa', rank: ranks[site.name] } : { rule: 'bp' };
  }
  // PFA sends dy through B_p (out, k·out) then R (k·out, in): LDFA's two-factor count with r = k·out.
  if (rule.name === 'pfa') return { rule: 'ldfa', rank: (rule.summary().widths as Record<string, number>)[site.name] };
  // BP, and every rule that sends dy through one weight-shaped matrix (FA, the sign rules, KP, WM).
  return { rule: rule.name === 'bp' ? 'bp' : 'fa' };
}

/** Per-layer and total FLOPs of a step on a batch of `batch` samples. */
export function stepFlops(model: Model, rule: Rule, batch: number): StepFlops {
  const layers: Record<string, LayerFlops> = {};
  for (const site of model.sites) {
    const [out, inChannels, k] = site.weight.value.shape;
    const shape = site.kind === 'conv'
      ? { kind: 'conv2d' as const, N: batch, Cin: inChannels, Cout: out, H: site.inputShape[1], W: site.inputShape[2], k, stride: site.conv!.stride, padding: site.conv!.padding }
      : { kind: 'linear' as const, N: batch * (site.inputShape.length > 1 ? site.inputShape[0] : 1), inDim: inChannels, outDim: out };
    const flops = layerFlops(shape, site.needsInputGrad ? siteRule(site, rule, model) : { rule: 'bp' });
    layers[site.name] = site.needsInputGrad ? flops : { ...flops, inputGradient: 0 };
  }
  const total = totalFlops(Object.values(layers));
  return { layers, total: { ...total, all: total.forward + total.inputGradient + total.weightGradient } };
}
