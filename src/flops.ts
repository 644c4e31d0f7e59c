// FLOPs of one training step of a model under its rule (reference/flops.ts per layer), for
// every feedback site (linear and conv layers). Left out: the attention products QKᵀ and
// A·V (4·N·T²·D per block in the forward pass, the same under every rule); norms, pooling,
// activations and biases (lower order).
//
// The pass (forward, input gradient, weight gradient: `total.all`) is what the authors count.
// LDFA's own work is counted beside it, per sending layer with W seen as (out, in) (in = Cin·k²
// for conv) and S the rows of its signal (batch, × tokens in a ViT, × positions for conv):
//   fixed       0
//   normative   gP̂ = P̂·(Q̂Q̂ᵀ) − W·Q̂ᵀ, gQ̂ = (P̂ᵀP̂)·Q̂ − P̂ᵀ·W            4·out·in·r + 4·r²·(in + out)
//               or E = P̂Q̂ − W, E·Q̂ᵀ, P̂ᵀ·E (as the reference computes it)    6·out·in·r
//               whichever is fewer: the float32 path picks so (src/fast/ldfa.ts)
//   factorised  gP̂ = dW·Q̂ᵀ, gQ̂ = P̂ᵀ·dW                              4·out·in·r
//   oja         δ̃·P̂, δ̃ᵀ(δ̃·P̂), P̂ᵀ(C·P̂), P̂·M                        4·S·out·r + 4·out·r²
//               gQ̂ = zᵀ·x with z = δ·P̂                              2·S·out·r + 2·S·r·in
//               (direct variant: δ is the error at the output layer's input, out its width)
// and the SVD re-factorisation (normative with svdEvery > 0) amortised over its period, W (m, n),
// k = min(m, n):
//   exact (also the randomized SVD when r + p ≥ k, which is then exact)    6·max·k² + 20·k³
//     (the R-SVD count of Golub & Van Loan, Table 8.6.1, thin U and V)
//   randomized, ℓ = r + p < k, q power iterations                    2·m·n·ℓ·(2 + 2q)
//     + (2q + 1) QRs of 4·rows·ℓ² + the small SVD of (ℓ, n) 6·n·ℓ² + 20·ℓ³ + U = Y·Û 2·m·ℓ·r
// `total.rule` is the per-step sum of both; `total.withRule` = all + rule.
import { layerFlops, totalFlops, type FlopRule, type LayerFlops } from '../reference/flops.ts';
import { weightMatrixShape, type FeedbackSite, type Model } from '../reference/models/network.ts';
import { EXACT_SVD_LIMIT, type LdfaOptions } from '../reference/rules/ldfa.ts';
import type { Rule } from '../reference/rules/rule.ts';

export interface StepFlops {
  layers: Record<string, LayerFlops>;
  /** LDFA's own work per sending layer and step (update + amortised SVD); absent for other rules. */
  ruleLayers?: Record<string, number>;
  total: LayerFlops & {
    all: number;
    /** LDFA's own update of P̂, Q̂ per step, with the SVD re-factorisation amortised (0 for other rules). */
    rule: number;
    /** The amortised SVD part of `rule`. */
    svdAmortised: number;
    /** all + rule. */
    withRule: number;
  };
}

/** What the FLOP count of the rule's own work needs to know of LDFA's options. */
export type LdfaFlopOptions = Pick<LdfaOptions, 'mode' | 'direct' | 'svdEvery' | 'svd' | 'svdOversample' | 'svdPowerIterations'> & Partial<Pick<LdfaOptions, 'svdPowerIterationsConv'>>;

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

/** Thin SVD of an (m, n) matrix with U and V (see the header). */
export function exactSvdFlops(m: number, n: number): number {
  const k = Math.min(m, n), big = Math.max(m, n);
  return 6 * big * k * k + 20 * k ** 3;
}

/** The randomized SVD of reference/linalg.ts (and src/fast/ldfa.ts) for rank r of an (m, n) matrix. */
export function svdFlops(m: number, n: number, r: number, o: Pick<LdfaOptions, 'svd' | 'svdOversample' | 'svdPowerIterations'>): number {
  const k = Math.min(m, n);
  const exact = o.svd === 'exact' || (o.svd === 'auto' && k <= EXACT_SVD_LIMIT);
  const l = Math.min(r + o.svdOversample, k);
  if (exact || l === k) return exactSvdFlops(m, n);
  const q = o.svdPowerIterations;
  return 2 * m * n * l * (2 + 2 * q) + (q + 1) * 4 * m * l * l + q * 4 * n * l * l + 6 * n * l * l + 20 * l ** 3 + 2 * m * l * r;
}

/** FLOPs of LDFA's own update of one site's P̂, Q̂ per step (without the SVD). */
export function ldfaUpdateFlops(mode: LdfaOptions['mode'], out: number, inn: number, r: number, rows: number): number {
  switch (mode) {
    case 'fixed': return 0;
    case 'normative': return Math.min(4 * out * inn * r + 4 * r * r * (inn + out), 6 * out * inn * r);
    case 'factorised': return 4 * out * inn * r;
    case 'oja': return 4 * rows * out * r + 4 * out * r * r + 2 * rows * out * r + 2 * rows * r * inn;
  }
}

/** Per-layer and total FLOPs of a step on a batch of `batch` samples. */
export function stepFlops(model: Model, rule: Rule, batch: number, ldfa?: LdfaFlopOptions): StepFlops {
  const layers: StepFlops['layers'] = {};
  const ruleLayers: Record<string, number> = {};
  const ranks = rule.name === 'ldfa' ? rule.summary().ranks as Record<string, number> : {};
  const output = model.sites.find((s) => s.isOutput) ?? null;
  let ruleFlops = 0, svd = 0;
  for (const site of model.sites) {
    const [out, inChannels, k] = site.weight.value.shape;
    const shape = site.kind === 'conv'
      ? { kind: 'conv2d' as const, N: batch, Cin: inChannels, Cout: out, H: site.inputShape[1], W: site.inputShape[2], k, stride: site.conv!.stride, padding: site.conv!.padding }
      : { kind: 'linear' as const, N: batch * (site.inputShape.length > 1 ? site.inputShape[0] : 1), inDim: inChannels, outDim: out };
    const flops = layerFlops(shape, site.needsInputGrad ? siteRule(site, rule, model) : { rule: 'bp' });
    layers[site.name] = site.needsInputGrad ? flops : { ...flops, inputGradient: 0 };
    const r = ranks[site.name];
    if (ldfa && r !== undefined) {
      const [m, n] = weightMatrixShape(site);
      const direct = ldfa.direct && !site.isOutput && output !== null;
      const rows = shape.kind === 'conv2d' ? flops.forward / (2 * m * n) : shape.N; // positions for conv
      const update = ldfaUpdateFlops(ldfa.mode, direct ? weightMatrixShape(output!)[1] : m, n, r, rows);
      const iterations = site.kind === 'conv' ? ldfa.svdPowerIterationsConv ?? ldfa.svdPowerIterations : ldfa.svdPowerIterations;
      const refactorise = ldfa.mode === 'normative' && ldfa.svdEvery > 0 ? svdFlops(m, n, r, { ...ldfa, svdPowerIterations: iterations }) / ldfa.svdEvery : 0;
      ruleLayers[site.name] = update + refactorise;
      ruleFlops += update + refactorise;
      svd += refactorise;
    }
  }
  const total = totalFlops(Object.values(layers));
  const all = total.forward + total.inputGradient + total.weightGradient;
  return {
    layers, ...(ldfa && rule.name === 'ldfa' ? { ruleLayers } : {}),
    total: { ...total, all, rule: ruleFlops, svdAmortised: svd, withRule: all + ruleFlops },
  };
}
