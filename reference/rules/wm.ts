// Weight mirrors (Akrout et al. 2019; family spec §4, in its recommended form §4 "Recommended form").
//   dx = dy·B                   (conv: transposed conv with the kernel B)
// Mirror phase, after every training step (and `warmup` steps before a fresh run's first step): the layer's
// input units emit noise x ~ N(0, σ²) of shape (N, in); the layer answers with its own linear
// response y = x·Wᵀ (no bias, no activation); the feedback synapses learn from (x, y) alone:
//   Ŵ = yᵀx / (N·σ²)            an unbiased estimate of W (Stein: E[yᵀx]/N = σ²W, §4 property 1)
//   B ← (1 − ρ)·B + ρ·Ŵ          so E[B_t] = W + (1 − ρ)^t (B₀ − W) with W fixed (§4 property 2)
// Conv: x (N, Cin, H, W), y = conv(x, W) with the layer's stride and padding, and
//   Ŵ = filterGrad(x, dy := y) / (N·P·σ²), P = Ho·Wo output positions (exact in mean for padding 0).
// The noise of layer l at training step t comes from a stream keyed by (rule seed, l, t), so a
// resumed run mirrors with the same noise. Growth control (biotorch's unreleased code, off by
// default): after each mirror step B ← 0.5·B / mean_j std(x·Bᵀ)_j.
// B₀ is drawn like FA's B.
import { ops, type Conv2dSpec } from '../backend.ts';
import { conv2dOutputShape } from '../layers/conv2d.ts';
import type { FeedbackSite } from '../models/network.ts';
import { initWeight, keyedRng, normalTensor, type Rng } from '../rng.ts';
import { assertShape, tensor, type Tensor } from '../tensor.ts';
import { sendingSites, throughWeightShaped, type Rule } from './rule.ts';

export interface WmOptions {
  /** σ: std of the mirror noise (0.1 as biotorch's unreleased code). */
  sigma: number;
  /** ρ: B's step towards Ŵ per mirror step (0.01 as Akrout's η_m). */
  rate: number;
  /** N: noise samples per mirror step (default: the training batch). */
  batch: number;
  /** Mirror steps before training (the spec's default: one epoch's worth of steps). */
  warmup: number;
  growthControl: boolean;
  /**
   * Mirror noise to use instead of drawing it (golden fixtures carry theirs): x for `site` in the
   * mirror step after training step `step` (0: warm-up), of shape (batch, in) or (batch, Cin, H, W).
   */
  noise?: (site: FeedbackSite, step: number) => Tensor;
  /** `${site}.B`: B₀ to use instead of drawing it. */
  inject?: Record<string, Tensor>;
}

export function checkWmOptions(o: Omit<WmOptions, 'inject'>): void {
  if (!(o.sigma > 0 && Number.isFinite(o.sigma))) throw new Error(`mirror noise σ must be a finite number > 0, got ${o.sigma}`);
  if (!(o.rate > 0 && o.rate <= 1)) throw new Error(`mirror rate ρ must be in (0, 1], got ${o.rate}`);
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new Error(`mirror batch must be a positive integer, got ${o.batch}`);
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new Error(`mirror warm-up must be an integer ≥ 0 (steps), got ${o.warmup}`);
}

/** The layer's linear response to the noise: y = x·Wᵀ (N, out), or conv(x, W) (N, Cout, Ho, Wo). */
export function mirrorResponse(site: FeedbackSite, x: Tensor): Tensor {
  const W = site.weight.value;
  if (site.kind === 'linear') {
    const y = tensor([x.shape[0], W.shape[0]]);
    ops().matmul(y, x, W, false, true);
    return y;
  }
  const y = tensor(conv2dOutputShape(x, W, site.conv!));
  ops().conv2dForward(y, x, W, site.conv!);
  return y;
}

/**
 * One mirror step from the noise x and the response y only (W is not an argument, §4 property 3):
 *   B ← (1 − ρ)·B + ρ·Ŵ,  Ŵ = yᵀx/(Nσ²)  (conv: filterGrad(x, y)/(N·P·σ²)).
 *   B: W's shape;  x: (N, in) or (N, Cin, H, W);  y: (N, out) or (N, Cout, Ho, Wo).
 */
export function mirrorUpdate(B: Tensor, x: Tensor, y: Tensor, rate: number, sigma: number, conv: Conv2dSpec | null): void {
  const estimate = tensor(B.shape);
  const positions = conv ? y.shape[2] * y.shape[3] : 1;
  if (conv) ops().conv2dBackwardFilter(estimate, y, x, conv);
  else ops().matmul(estimate, y, x, true, false);
  const scale = rate / (x.shape[0] * positions * sigma * sigma);
  for (let i = 0; i < B.data.length; i++) B.data[i] = (1 - rate) * B.data[i] + scale * estimate.data[i];
}

/** biotorch's growth control: B ← 0.5·B / mean_j std_samples(u_j), u the layer's response to x through B. */
function controlGrowth(B: Tensor, x: Tensor, site: FeedbackSite): void {
  const u = mirrorResponse({ ...site, weight: { ...site.weight, value: B } }, x);
  const units = u.shape[1], perUnit = u.size / units, N = u.shape[0], inner = perUnit / N;
  let meanStd = 0;
  for (let j = 0; j < units; j++) {
    let s = 0, s2 = 0;
    for (let n = 0; n < N; n++) for (let p = 0; p < inner; p++) {
      const v = u.data[(n * units + j) * inner + p];
      s += v; s2 += v * v;
    }
    const mean = s / perUnit;
    meanStd += Math.sqrt(Math.max(0, s2 / perUnit - mean * mean)) / units;
  }
  if (meanStd > 0) for (let i = 0; i < B.data.length; i++) B.data[i] *= 0.5 / meanStd;
}

export function wm(options: WmOptions): Rule {
  checkWmOptions(options);
  const layers: { site: FeedbackSite; B: Tensor }[] = [];
  let seed = 0;
  const mirror = (step: number, rng: (layer: number) => Rng) => layers.forEach(({ site, B }, layer) => {
    const shape = [options.batch, ...site.inputShape.slice(site.kind === 'conv' ? 0 : -1)];
    const x = options.noise ? options.noise(site, step) : normalTensor(rng(layer), shape, options.sigma);
    assertShape(`${site.name} mirror noise`, x, shape);
    mirrorUpdate(B, x, mirrorResponse(site, x), options.rate, options.sigma, site.conv);
    if (options.growthControl) controlGrowth(B, x, site);
  });
  return {
    name: 'wm',
    attach(model, rng) {
      seed = rng.nextUint32();
      for (const site of sendingSites(model)) {
        const shape = site.weight.value.shape;
        const B = options.inject?.[`${site.name}.B`] ?? initWeight(rng, shape, 'uniform'); // W's shape
        assertShape(`${site.name}.B`, B, shape);
        site.feedback = throughWeightShaped(site, B);
        layers.push({ site, B });
      }
    },
    beforeTraining() {
      for (let j = 0; j < options.warmup; j++) mirror(0, (layer) => keyedRng(seed, layer, 0, j));
    },
    feedbackParams: () => [],
    feedbackGradients: () => {},
    afterStep: (step) => mirror(step, (layer) => keyedRng(seed, layer, step)),
    feedbackTensors: () => Object.fromEntries(layers.map(({ site, B }) => [`${site.name}.B`, B])),
    summary: () => ({ rule: 'wm', sigma: options.sigma, rate: options.rate, batch: options.batch, warmup: options.warmup, growthControl: options.growthControl }),
  };
}
