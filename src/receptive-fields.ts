// Receptive-field readout (spec §4.5; the authors' analyse_cifar `get_rfs`): for every output
// channel j of a conv layer, start from a zero image x and take `steps` gradient-ascent steps
//     x ← x + lr · ∂h_j(centre)/∂x
// on the unit's activation h_j at the centre pixel of the layer's output map (post-activation,
// as the authors maximise it; `at: 'pre'` uses the conv output before the activation). From
// zero the first step is the linearised receptive field. Each image is then z-scored.
//
// The gradient is the model's exact backprop (dx = dy·W, conv-transposed with W), whatever
// feedback a rule installed: the readout analyses the trained forward network, it does not
// train. It runs under the current backend and overwrites the forward signals the model keeps
// from its last step, as any forward pass does; parameters and their gradients are untouched.
import { RETINA_OUTPUT_LAYER } from '../reference/models/retina.ts';
import { ActivationNode, Sequential, type Model, type Node } from '../reference/models/network.ts';
import { throughWeightShaped } from '../reference/rules/rule.ts';
import { tensor, type Tensor } from '../reference/tensor.ts';
import { imageGrid, type GridOptions } from './report/png.ts';

export interface ReadoutOptions {
  /** The conv layer whose output channels are read out (default 'retina2', the retina output). */
  layer?: string;
  /** Gradient-ascent steps from the zero image (default 2). */
  steps?: number;
  /** Step size (default 1). */
  lr?: number;
  /**
   * 'post' (default): the activation h = f(a) of the activation node right after the layer (a
   * layer without one, e.g. under --activation identity, is read at its output); 'pre': a itself.
   */
  at?: 'post' | 'pre';
  /**
   * Radii for centreSurround; by default from the RF's half-width s (the largest max(|dy|, |dx|)
   * of a nonzero pixel from the centre, i.e. the extent of the unit's input): centre s/3,
   * surround max(s, 1).
   */
  centreRadius?: number;
  surroundRadius?: number;
}

export interface CentreSurround {
  /** Mean of the image over the centre disc d ≤ centreRadius. */
  centre: number;
  /** Mean over the ring centreRadius < d ≤ surroundRadius. */
  surround: number;
  /** centre·surround < 0: an antagonistic (centre-surround) profile. */
  opposite: boolean;
}

export interface ReceptiveField {
  channel: number;
  /** (C, H, W) of the model's input, row-major: the image after the ascent, z-scored; all zeros when dead. */
  image: Float64Array;
  /** The same before z-scoring (0 means "no influence"; the summaries are computed on it). */
  raw: Float64Array;
  /**
   * True when the ascent left the image constant — every gradient was zero, as for a ReLU unit
   * that is off at the zero image and so never moves. Its image is all zeros, not NaN, and it
   * has no summaries.
   */
  dead: boolean;
  /**
   * radialSymmetryIndex of the raw image summed over input channels (the RF to a gray
   * stimulus); null when dead, when the input channels cancel to a zero gray RF, or when that
   * image is constant on the disc the index looks at.
   */
  radialSymmetry: number | null;
  /** centreSurround of the same image; null likewise. */
  centreSurround: CentreSurround | null;
}

/** The nodes from the input up to the read-out unit: the layer, plus its activation for 'post'. */
function readoutPrefix(model: Sequential, layer: string, at: 'post' | 'pre'): Node[] {
  const i = model.nodes.findIndex((n) => n.name === layer);
  const convs = model.sites.filter((s) => s.kind === 'conv').map((s) => s.name);
  if (i < 0 || model.nodes[i].site?.kind !== 'conv') {
    throw new Error(`receptive fields: no conv layer named '${layer}': this model's conv layers are ${convs.join(', ') || '(none)'}`);
  }
  const next = model.nodes[i + 1];
  const prefix = model.nodes.slice(0, at === 'post' && next instanceof ActivationNode ? i + 2 : i + 1);
  for (const n of prefix) {
    if (!n.site && n.params().length > 0) {
      throw new Error(`receptive fields: node '${n.name}' below '${layer}' has parameters but is not a linear or conv layer; the readout backpropagates through linear, conv and parameter-free nodes only`);
    }
  }
  return prefix;
}

/** ∂(Σ dy⊙h)/∂x through the prefix by exact BP (the forward pass must have just run).   dy: the prefix output's shape */
function exactInputGradient(prefix: Node[], dy: Tensor): Tensor {
  let d = dy;
  for (let i = prefix.length - 1; i >= 0; i--) {
    const site = prefix[i].site;
    if (site) {
      const dx = tensor(site.input!.shape);
      throughWeightShaped(site, site.weight.value)(dx, d);
      d = dx;
    } else {
      d = prefix[i].backward(d)!;
    }
  }
  return d;
}

/**
 * One receptive field per output channel of `options.layer` (spec §4.5). All channels ascend
 * together as one batch (sample j reads out channel j; samples do not interact: the prefix has
 * no batch statistics).
 */
export function receptiveFields(model: Model, options: ReadoutOptions = {}): ReceptiveField[] {
  if (!(model instanceof Sequential)) throw new Error('receptive fields: the readout needs a sequential model with conv layers (cnn, retina)');
  const { layer = RETINA_OUTPUT_LAYER, steps = 2, lr = 1, at = 'post' } = options;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`receptive fields: steps ${steps} is not allowed: it must be a positive integer`);
  if (!(Number.isFinite(lr) && lr > 0)) throw new Error(`receptive fields: lr ${lr} is not allowed: it must be a finite number > 0`);
  if (at !== 'post' && at !== 'pre') throw new Error(`receptive fields: at '${at as string}' is not allowed: use 'post' or 'pre'`);
  const prefix = readoutPrefix(model, layer, at);
  const [C, H, W] = model.inputShape;
  if (H < 3 || W < 3) throw new Error(`receptive fields: the input images are ${H}×${W}; the readout needs at least 3×3 (a centre pixel with a full ring around it)`);
  const channels = model.sites.find((s) => s.name === layer)!.weight.value.shape[0];
  const x = tensor([channels, C, H, W]); // (N = channels, C, H, W): sample j ascends for channel j
  for (let step = 0; step < steps; step++) {
    let h = x;
    for (const n of prefix) h = n.forward(h, false);
    const [, , Ho, Wo] = h.shape; // (N, channels, Ho, Wo)
    const dy = tensor(h.shape);
    const centre = Math.floor(Ho / 2) * Wo + Math.floor(Wo / 2);
    for (let j = 0; j < channels; j++) dy.data[(j * channels + j) * Ho * Wo + centre] = 1;
    const g = exactInputGradient(prefix, dy);
    for (let i = 0; i < x.data.length; i++) x.data[i] += lr * g.data[i];
  }
  const size = C * H * W;
  return Array.from({ length: channels }, (_, j) => {
    const raw = x.data.slice(j * size, (j + 1) * size);
    const image = zScore(raw);
    if (image === null) return { channel: j, image: new Float64Array(size), raw, dead: true, radialSymmetry: null, centreSurround: null };
    const gray = new Float64Array(H * W); // summed over input channels: the RF to a gray stimulus
    for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) gray[p] += raw[c * H * W + p];
    if (gray.every((v) => v === 0)) return { channel: j, image, raw, dead: false, radialSymmetry: null, centreSurround: null };
    const s = halfWidth(gray, H, W);
    const radii = { centreRadius: options.centreRadius ?? s / 3, surroundRadius: options.surroundRadius ?? Math.max(s, 1) };
    return { channel: j, image, raw, dead: false, radialSymmetry: radialSymmetryIndex(gray, H, W), centreSurround: centreSurround(gray, H, W, radii) };
  });
}

/** (v − mean)/std (population std); null when v is constant. */
function zScore(v: Float64Array): Float64Array | null {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return std > 0 ? v.map((a) => (a - mean) / std) : null;
}

/** The RF's half-width: max(|dy|, |dx|) over the nonzero pixels, from the centre pixel.   image: (h, w) */
function halfWidth(image: Float64Array, h: number, w: number): number {
  const [cy, cx] = [Math.floor(h / 2), Math.floor(w / 2)];
  let s = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (image[y * w + x] !== 0) s = Math.max(s, Math.abs(y - cy), Math.abs(x - cx));
  return s;
}

/**
 * Radial-symmetry index: the fraction of an image's variance explained by its rotational
 * average around the centre pixel c = (⌊h/2⌋, ⌊w/2⌋).
 *   S      the pixels p with |p − c| ≤ R, R = min(cy, cx, h−1−cy, w−1−cx) (the largest disc
 *          around c inside the image, so every ring is complete)
 *   ring   the pixels of S at one exact squared distance d² = |p − c|²
 *   ρ(d²)  the mean of I over that ring (the radial profile); Ī the mean over S
 *   index = Σ_S (ρ(d²_p) − Ī)² / Σ_S (I_p − Ī)²  =  1 − Σ_S (I_p − ρ(d²_p))² / Σ_S (I_p − Ī)²
 * It is 1 exactly when I is a function of the distance to c on S (a centre-surround / isotropic
 * RF), 0 for an image odd about c (an oriented edge, an odd Gabor, a ramp through the centre),
 * between for the rest: an even oriented pattern has nonzero ring means (a thin bar or an even
 * Gabor through c scores ≈ 0.4–0.5). Unchanged by I → aI + b (a ≠ 0). Rings of exact distance
 * hold 4–8 pixels mostly, so pure noise scores (rings − 1)/(pixels of S − 1) on average
 * (≈ 0.13 in a 28×28 or 32×32 image). null when I is constant on S (no variance to explain).
 *   image: (h, w) row-major
 */
export function radialSymmetryIndex(image: Float64Array, h: number, w: number): number | null {
  if (image.length !== h * w) throw new Error(`radialSymmetryIndex: ${image.length} values given but h·w = ${h}·${w} = ${h * w} are required`);
  const [cy, cx] = [Math.floor(h / 2), Math.floor(w / 2)];
  const R = Math.min(cy, cx, h - 1 - cy, w - 1 - cx);
  const rings = new Map<number, { sum: number; n: number }>();
  let total = 0, count = 0;
  for (let y = cy - R; y <= cy + R; y++) for (let x = cx - R; x <= cx + R; x++) {
    const d2 = (y - cy) ** 2 + (x - cx) ** 2;
    if (d2 > R * R) continue;
    const ring = rings.get(d2) ?? { sum: 0, n: 0 };
    ring.sum += image[y * w + x]; ring.n++;
    rings.set(d2, ring);
    total += image[y * w + x]; count++;
  }
  const mean = total / count;
  let explained = 0, variance = 0;
  for (const { sum, n } of rings.values()) explained += n * (sum / n - mean) ** 2;
  for (let y = cy - R; y <= cy + R; y++) for (let x = cx - R; x <= cx + R; x++) {
    if ((y - cy) ** 2 + (x - cx) ** 2 <= R * R) variance += (image[y * w + x] - mean) ** 2;
  }
  return variance > 0 ? explained / variance : null;
}

/**
 * Centre-surround sign around the centre pixel c = (⌊h/2⌋, ⌊w/2⌋), d = |p − c|:
 *   centre   = mean of I over d ≤ centreRadius
 *   surround = mean of I over centreRadius < d ≤ surroundRadius (pixels inside the image)
 *   opposite = centre·surround < 0
 * Meant for a raw RF, where 0 means "no influence" (a z-scored RF has its mean subtracted, which
 * shifts both). An ON-centre/OFF-surround or OFF/ON RF is opposite; an edge through the centre
 * has centre ≈ 0.   image: (h, w) row-major
 */
export function centreSurround(image: Float64Array, h: number, w: number, radii: { centreRadius: number; surroundRadius: number }): CentreSurround {
  const { centreRadius: rc, surroundRadius: rs } = radii;
  if (image.length !== h * w) throw new Error(`centreSurround: ${image.length} values given but h·w = ${h}·${w} = ${h * w} are required`);
  if (!(rc >= 0 && rs > rc && Number.isFinite(rs))) throw new Error(`centreSurround: radii ${rc}, ${rs} are not allowed: they must satisfy 0 ≤ centreRadius < surroundRadius < ∞`);
  const [cy, cx] = [Math.floor(h / 2), Math.floor(w / 2)];
  let cSum = 0, cN = 0, sSum = 0, sN = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const d = Math.hypot(y - cy, x - cx);
    if (d <= rc) { cSum += image[y * w + x]; cN++; } else if (d <= rs) { sSum += image[y * w + x]; sN++; }
  }
  if (sN === 0) throw new Error(`centreSurround: the ring ${rc} < d ≤ ${rs} holds no pixel of the ${h}×${w} image: widen surroundRadius`);
  const centre = cSum / cN, surround = sSum / sN;
  return { centre, surround, opposite: centre * surround < 0 };
}

/**
 * A PNG montage of the z-scored RFs (imageGrid): one tile per RF and input channel, in RF order.
 * cols defaults to C for colour inputs (one row per RF) and ⌈√n⌉ for gray ones. Dead RFs are
 * all zeros (a flat tile). crop: show only the crop×crop window around the centre pixel (the
 * RF is zero outside the unit's input window).   inputShape: (C, H, W)
 */
export function receptiveFieldMontage(rfs: readonly Pick<ReceptiveField, 'image'>[], inputShape: readonly number[], opts: GridOptions & { cols?: number; crop?: number } = {}): Buffer {
  const [C, H, W] = inputShape;
  if (opts.crop !== undefined && (!Number.isInteger(opts.crop) || opts.crop < 1)) throw new Error(`receptiveFieldMontage: crop ${opts.crop} is not allowed: it must be a positive integer`);
  const [h, w] = [Math.min(opts.crop ?? H, H), Math.min(opts.crop ?? W, W)];
  const [top, left] = [Math.floor(H / 2) - Math.floor(h / 2), Math.floor(W / 2) - Math.floor(w / 2)];
  const window = (image: Float64Array, c: number) => {
    const out = new Float64Array(h * w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = image[(c * H + top + y) * W + left + x];
    return out;
  };
  const tiles = rfs.flatMap((rf) => Array.from({ length: C }, (_, c) => window(rf.image, c)));
  const cols = opts.cols ?? (C > 1 ? C : Math.ceil(Math.sqrt(tiles.length)));
  return imageGrid(tiles, w, h, cols, opts);
}
