// A small vision transformer (spec §4.3), pre-norm, written out like llm.c's gpt2:
//   tokens  = patchify(x)·W_embedᵀ + b + pos                      (N, T, D)
//   block:  x ← x + proj(attention(q, k, v)),  [q k v] = qkv(LN₁(x))
//           x ← x + fc2(GELU(fc1(LN₂(x))))
//   logits  = head(mean_t LN_f(x))                                 (N, C)
// Every linear map is a feedback site (qkv fused with rank 3r, or q, k, v apart with rank r
// each; proj, fc1, fc2 and the head). Residuals, LayerNorm, attention (QKᵀ, softmax, AV),
// GELU and the token mean are backpropagated exactly. The patch embedding is the first
// layer, so its feedback is never used. Tokens are mean-pooled (no class token).
import type { AttentionCache } from '../layers/attention.ts';
import { referenceLayers, type LayerFunctions } from '../layers/functions.ts';
import type { LayerNormCache } from '../layers/layernorm.ts';
import { patchifyForward, patchifyOutputShape } from '../layers/patch.ts';
import { param, type Param } from '../params.ts';
import { initWeight, normalTensor, type InitName, type Rng } from '../rng.ts';
import { addInPlace, reshape, tensor, zeros, type Tensor } from '../tensor.ts';
import { LinearNode, type FeedbackSite, type Model } from './network.ts';

export interface VitConfig {
  /** (C, H, W) */
  inputShape: readonly number[];
  patch: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  outputSize: number;
  /** One qkv projection of rank 3r (timm, v4 code) or separate q, k, v of rank r each. */
  fusedQkv: boolean;
  /**
   * Width A of q, k and v (heads·head width); proj maps A back to D. Default D (timm). The
   * fixtures set A ≠ D so that proj is not square and a transposed proj tensor is a shape error.
   */
  attnDim?: number;
  init: InitName;
}

interface LayerNormParams { gamma: Param; beta: Param }

interface Block {
  ln1: LayerNormParams; ln2: LayerNormParams;
  qkv: LinearNode[]; // [qkv] fused, or [q, k, v]
  proj: LinearNode; fc1: LinearNode; fc2: LinearNode;
}

interface BlockCache {
  input: Tensor; ln1Out: Tensor; ln1: LayerNormCache; q: Tensor; k: Tensor; v: Tensor; att: AttentionCache; attOut: Tensor;
  mid: Tensor; ln2Out: Tensor; ln2: LayerNormCache; hidden: Tensor; activated: Tensor;
}

const layerNormParams = (name: string, D: number): LayerNormParams => ({
  gamma: param(`${name}.gamma`, tensor([D], new Float64Array(D).fill(1)), false),
  beta: param(`${name}.beta`, zeros([D]), false),
});

export class VisionTransformer implements Model {
  readonly sites: FeedbackSite[];
  readonly inputShape: readonly number[];
  readonly outputSize: number;
  outputError: Tensor | null = null;
  private readonly embed: LinearNode;
  private readonly pos: Param;
  private readonly blocks: Block[];
  private readonly lnFinal: LayerNormParams;
  private readonly head: LinearNode;
  private readonly T: number;
  private cache: {
    images: Tensor; blocks: BlockCache[]; final: Tensor; lnOut: Tensor; ln: LayerNormCache;
  } | null = null;
  private recorded: { name: string; value: Tensor }[] = [];
  /** The layer functions and output allocation (useLayers swaps them, for the float32 path). */
  private layers: LayerFunctions = referenceLayers;

  constructor(readonly config: VitConfig, rng: Rng) {
    const [C, H, W] = config.inputShape;
    const { patch: p, dim: D, heads } = config;
    if (config.inputShape.length !== 3) throw new Error(`vit: the input must be images (C, H, W), got [${config.inputShape.join(', ')}]`);
    if (H % p !== 0 || W % p !== 0) throw new Error(`vit: patch ${p} does not divide the ${H}×${W} image: choose a patch size that divides both sides`);
    const A = config.attnDim ?? D;
    if (!Number.isInteger(A) || A < 1) throw new Error(`vit: the attention width must be a positive integer, got ${A}`);
    if (!Number.isInteger(heads) || heads < 1 || A % heads !== 0) throw new Error(`vit: ${heads} heads do not divide the ${A === D ? 'width' : 'attention width'} ${A}`);
    for (const [name, v] of [['depth', config.depth], ['dim', D], ['mlp ratio', config.mlpRatio]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`vit: ${name} must be a positive integer, got ${v}`);
    }
    this.inputShape = config.inputShape;
    this.outputSize = config.outputSize;
    this.T = (H / p) * (W / p);
    const T = this.T, hiddenDim = config.mlpRatio * D;
    const linear = (name: string, out: number, inp: number, options: { needsInputGrad?: boolean; isOutput?: boolean; rankScale?: number; perSample?: boolean } = {}) =>
      new LinearNode(name, param(`${name}.W`, initWeight(rng, [out, inp], config.init)), param(`${name}.b`, zeros([out]), false), {
        isOutput: options.isOutput ?? false, needsInputGrad: options.needsInputGrad ?? true, rankScale: options.rankScale,
        inputShape: options.perSample ? [inp] : [T, inp],
      });

    this.embed = linear('embed', D, C * p * p, { needsInputGrad: false });
    this.pos = param('pos', normalTensor(rng, [T, D], 0.02));
    this.blocks = Array.from({ length: config.depth }, (_, b) => ({
      ln1: layerNormParams(`block${b}.ln1`, D),
      ln2: layerNormParams(`block${b}.ln2`, D),
      qkv: config.fusedQkv
        ? [linear(`block${b}.qkv`, 3 * A, D, { rankScale: 3 })]
        : ['q', 'k', 'v'].map((n) => linear(`block${b}.${n}`, A, D)),
      proj: linear(`block${b}.proj`, D, A),
      fc1: linear(`block${b}.fc1`, hiddenDim, D),
      fc2: linear(`block${b}.fc2`, D, hiddenDim),
    }));
    this.lnFinal = layerNormParams('ln_f', D);
    this.head = linear('head', config.outputSize, D, { isOutput: true, perSample: true });
    this.sites = [this.embed, ...this.blocks.flatMap((b) => [...b.qkv, b.proj, b.fc1, b.fc2]), this.head].map((n) => n.site);
  }

  /** No dropout or batch statistics, so training and evaluation passes are the same. */
  forward(x: Tensor): Tensor {
    const { dim: D, heads } = this.config;
    const A = this.attnDim;
    const N = x.shape[0], T = this.T, rows = N * T, L = this.layers;
    this.recorded = [];
    const patches = L.tensor(patchifyOutputShape(x, this.config.patch));
    patchifyForward(patches, x, this.config.patch);
    let h = this.embed.forward(reshape(patches, [rows, patches.shape[2]])); // (N·T, D)
    for (let n = 0; n < N; n++) for (let i = 0; i < T * D; i++) h.data[n * T * D + i] += this.pos.value.data[i];
    this.recorded.push({ name: 'embed', value: h });

    const blockCaches: BlockCache[] = [];
    this.blocks.forEach((block, b) => {
      const input = h;
      const ln1Out = L.tensor([rows, D]);
      const ln1 = L.layerNormForward(ln1Out, input, block.ln1.gamma.value, block.ln1.beta.value);
      const [q, k, v] = this.projectQkv(block, ln1Out, N);
      const attOut = L.tensor([N, T, A]);
      const att = L.attentionForward(attOut, q, k, v, heads);
      const mid = addInPlace(block.proj.forward(reshape(attOut, [rows, A])), input); // x + proj(att)
      const ln2Out = L.tensor([rows, D]);
      const ln2 = L.layerNormForward(ln2Out, mid, block.ln2.gamma.value, block.ln2.beta.value);
      const hidden = block.fc1.forward(ln2Out);
      const activated = L.tensor(hidden.shape);
      L.geluForward(activated, hidden);
      h = addInPlace(block.fc2.forward(activated), mid); // x + fc2(gelu(fc1(ln2(x))))
      blockCaches.push({ input, ln1Out, ln1, q, k, v, att, attOut, mid, ln2Out, ln2, hidden, activated });
      this.recorded.push({ name: `block${b}`, value: h });
    });

    const lnOut = L.tensor([rows, D]);
    const ln = L.layerNormForward(lnOut, h, this.lnFinal.gamma.value, this.lnFinal.beta.value);
    const pooled = L.tensor([N, D]); // mean over tokens
    for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) pooled.data[n * D + d] += lnOut.data[(n * T + t) * D + d] / T;
    const logits = this.head.forward(pooled);
    this.recorded.push({ name: 'head', value: logits });
    this.cache = { images: x, blocks: blockCaches, final: h, lnOut, ln };
    return logits;
  }

  backward(outputError: Tensor): void {
    if (this.cache === null) throw new Error('vit: backward called before forward');
    this.outputError = outputError;
    const { dim: D } = this.config;
    const N = outputError.shape[0], T = this.T, rows = N * T, L = this.layers;
    const dPooled = this.head.backward(outputError)!;
    const dLnOut = L.tensor([rows, D]);
    for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) dLnOut.data[(n * T + t) * D + d] = dPooled.data[n * D + d] / T;
    let dh = L.tensor([rows, D]);
    L.layerNormBackward(dh, this.lnFinal.gamma.grad, this.lnFinal.beta.grad, dLnOut, this.cache.final, this.lnFinal.gamma.value, this.cache.ln);

    for (let b = this.blocks.length - 1; b >= 0; b--) {
      const block = this.blocks[b], c = this.cache.blocks[b];
      // h = mid + fc2(gelu(fc1(ln2(mid))))
      const dActivated = block.fc2.backward(dh)!;
      const dHidden = L.tensor(c.hidden.shape);
      L.geluBackward(dHidden, dActivated, c.hidden);
      const dLn2Out = block.fc1.backward(dHidden)!;
      const dMid = L.tensor([rows, D]);
      L.layerNormBackward(dMid, block.ln2.gamma.grad, block.ln2.beta.grad, dLn2Out, c.mid, block.ln2.gamma.value, c.ln2);
      addInPlace(dMid, dh);
      // mid = input + proj(attention(qkv(ln1(input))))
      const A = this.attnDim;
      const dAttOut = reshape(block.proj.backward(dMid)!, [N, T, A]);
      const dq = L.tensor([N, T, A]), dk = L.tensor([N, T, A]), dv = L.tensor([N, T, A]);
      L.attentionBackward(dq, dk, dv, dAttOut, c.q, c.k, c.v, c.att);
      const dLn1Out = this.backwardQkv(block, dq, dk, dv, rows);
      const dInput = L.tensor([rows, D]);
      L.layerNormBackward(dInput, block.ln1.gamma.grad, block.ln1.beta.grad, dLn1Out, c.input, block.ln1.gamma.value, c.ln1);
      dh = addInPlace(dInput, dMid);
    }

    this.pos.grad.data.fill(0);
    for (let n = 0; n < N; n++) for (let i = 0; i < T * D; i++) this.pos.grad.data[i] += dh.data[n * T * D + i];
    this.embed.backward(dh); // the first layer: no error is sent into the image
  }

  /** The width A of q, k and v. */
  private get attnDim(): number {
    return this.config.attnDim ?? this.config.dim;
  }

  /** q, k, v (N, T, A) from the normalised tokens (N·T, D). */
  private projectQkv(block: Block, x: Tensor, N: number): [Tensor, Tensor, Tensor] {
    const A = this.attnDim, T = this.T;
    if (block.qkv.length === 3) return block.qkv.map((node) => reshape(node.forward(x), [N, T, A])) as [Tensor, Tensor, Tensor];
    const fused = block.qkv[0].forward(x); // (N·T, 3A): [q | k | v] per row
    const parts = [0, 1, 2].map(() => this.layers.tensor([N, T, A]));
    for (let r = 0; r < N * T; r++) for (let j = 0; j < 3; j++) parts[j].data.set(fused.data.subarray(r * 3 * A + j * A, r * 3 * A + (j + 1) * A), r * A);
    return parts as [Tensor, Tensor, Tensor];
  }

  /** The error at the normalised tokens, summed over the q, k and v projections. */
  private backwardQkv(block: Block, dq: Tensor, dk: Tensor, dv: Tensor, rows: number): Tensor {
    const A = this.attnDim;
    const grads = [dq, dk, dv].map((g) => reshape(g, [rows, A]));
    if (block.qkv.length === 3) {
      const [dxq, dxk, dxv] = block.qkv.map((node, j) => node.backward(grads[j])!);
      return addInPlace(addInPlace(dxq, dxk), dxv);
    }
    const dFused = this.layers.tensor([rows, 3 * A]);
    for (let r = 0; r < rows; r++) for (let j = 0; j < 3; j++) dFused.data.set(grads[j].data.subarray(r * A, (r + 1) * A), r * 3 * A + j * A);
    return block.qkv[0].backward(dFused)!;
  }

  /** Runs every layer, the linear nodes' too, on these functions from now on. */
  useLayers(layers: LayerFunctions): void {
    this.layers = layers;
    for (const node of [this.embed, ...this.blocks.flatMap((b) => [...b.qkv, b.proj, b.fc1, b.fc2]), this.head]) node.layers = layers;
  }

  params(): Param[] {
    const ln = (l: LayerNormParams) => [l.gamma, l.beta];
    return [
      ...this.embed.params(), this.pos,
      ...this.blocks.flatMap((b) => [...ln(b.ln1), ...b.qkv.flatMap((n) => n.params()), ...b.proj.params(), ...ln(b.ln2), ...b.fc1.params(), ...b.fc2.params()]),
      ...ln(this.lnFinal), ...this.head.params(),
    ];
  }

  buffers() { return []; }

  activations() { return this.recorded; }
}

export function buildVit(config: VitConfig, rng: Rng): VisionTransformer {
  return new VisionTransformer(config, rng);
}
