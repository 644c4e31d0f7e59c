// The layer functions of the float32 training path: the reference's own signatures
// (reference/layers/functions.ts), outputs allocated in float32, and, where the native addon
// loads, the elementwise and reduction loops in C (native/src/layers.c). The GEMMs inside the
// linear and conv layers go through ops() as in the reference, so a float32 backend multiplies
// the float32 operands where they lie.
//
// Each native entry checks shapes as the reference does and falls back to the reference function
// when an operand is not in float32 storage, so it is a drop-in for any caller;
// test/fast-layers.test.ts compares every entry with the reference over random shapes.
import ndarray from 'ndarray';
import { activationBackward, activationForward, type ActivationName } from '../../reference/layers/activation.ts';
import { attentionBackward, attentionForward, type AttentionCache } from '../../reference/layers/attention.ts';
import { BATCHNORM_EPS, BATCHNORM_MOMENTUM, batchNorm1dBackward, batchNorm1dForward, batchNorm2dBackward, batchNorm2dForward } from '../../reference/layers/batchnorm.ts';
import { referenceLayers, type LayerFunctions } from '../../reference/layers/functions.ts';
import { geluBackward, geluForward } from '../../reference/layers/gelu.ts';
import { LAYERNORM_EPS, layerNormBackward, layerNormForward, type LayerNormCache } from '../../reference/layers/layernorm.ts';
import { argmaxOfWindow, pool2dOutputShape, type Pool2dSpec } from '../../reference/layers/pool.ts';
import { assertShape, type Tensor } from '../../reference/tensor.ts';
import type { LayerKernels } from '../backends/native.ts';
import { float32Tensor, isFloat32 } from './float32.ts';

/** Everything the float32 engines call: the models' layer functions and the Sequential nodes' ones. */
export interface Float32Layers extends LayerFunctions {
  /** "native C kernels" or "reference loops on float32 storage" */
  readonly kind: string;
  /**
   * Called by the engine before each forward pass. In a training step, `tensor` hands out the
   * previous training step's buffers again, zeroed, in the same order; otherwise new ones.
   */
  startPass(train: boolean): void;
  activationForward: typeof activationForward;
  activationBackward: typeof activationBackward;
  batchNorm1dForward: typeof batchNorm1dForward;
  batchNorm1dBackward: typeof batchNorm1dBackward;
  batchNorm2dForward: typeof batchNorm2dForward;
  batchNorm2dBackward: typeof batchNorm2dBackward;
  /** maxPool2dForward that also records each output's winning input index (for the backward scatter). */
  maxPoolWithWinners(y: Tensor, winners: Int32Array, x: Tensor, spec: Pool2dSpec): void;
}

/**
 * Float32 tensors for a model that allocates its activations and errors as it goes (the ViT):
 * a training step allocates the same shapes in the same order every time, so the buffers of the
 * last training step are handed out again, zeroed (as new ones would be), instead of new
 * arrays, which cost a fresh mapping and page faults each step, and garbage collection. Safe
 * because nothing keeps a step's activations or errors past the start of the next training step
 * (the rules read the sites' signals within the step). Evaluation passes get new arrays, so they
 * neither grow the pool nor overwrite it.
 */
class StepArena {
  private readonly buffers: Float32Array[] = [];
  private next = 0;
  private active = false;

  startPass(train: boolean): void {
    this.active = train;
    if (train) this.next = 0;
  }

  tensor(shape: readonly number[]): Tensor {
    if (!this.active) return float32Tensor(shape);
    const size = shape.reduce((a, b) => a * b, 1);
    let buf = this.buffers[this.next];
    if (buf === undefined || buf.length !== size) this.buffers[this.next] = buf = new Float32Array(size);
    else buf.fill(0);
    this.next++;
    return ndarray(buf, [...shape]) as unknown as Tensor;
  }
}

/** The reference loops with float32 outputs (any float32 backend without the native addon). */
export function float32ReferenceLayers(): Float32Layers {
  const arena = new StepArena();
  return {
    ...referenceLayers,
    kind: 'reference loops on float32 storage',
    startPass: (train) => arena.startPass(train),
    tensor: (shape) => arena.tensor(shape),
    activationForward, activationBackward,
    batchNorm1dForward, batchNorm1dBackward, batchNorm2dForward, batchNorm2dBackward,
    maxPoolWithWinners(y, winners, x, spec) {
      const [N, C, Ho, Wo] = pool2dOutputShape(x, spec);
      assertShape('maxPool2d y', y, [N, C, Ho, Wo]);
      let o = 0;
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let i = 0; i < Ho; i++) for (let j = 0; j < Wo; j++, o++) {
        winners[o] = argmaxOfWindow(x, n, c, i, j, spec);
        y.data[o] = x.data[winners[o]];
      }
    },
  };
}

const f32 = (t: Tensor) => t.data as unknown as Float32Array;
const allFloat32 = (...ts: (Tensor | null)[]) => ts.every((t) => t === null || isFloat32(t));
const ACTIVATION_KIND: Partial<Record<ActivationName, 0 | 1>> = { relu: 0, tanh: 1 };

/** The same functions with the loops in the native addon's C kernels. */
export function nativeLayers(k: LayerKernels): Float32Layers {
  const plain = float32ReferenceLayers();
  let dS = new Float32Array(0); // attention backward's score gradients, reused
  // positions(x): the S values per channel and sample (H·W for 2-d, 1 for 1-d), checking x's rank
  const batchNorm = (positions: (x: Tensor) => number, forward: typeof batchNorm2dForward): typeof batchNorm2dForward =>
    (y, x, gamma, beta, running, options) => {
      const S = positions(x), [N, C] = x.shape;
      const floatStats = running.mean.data instanceof Float64Array && running.variance.data instanceof Float64Array;
      if (!allFloat32(y, x, gamma, beta) || !floatStats || (options.training && N * S < 2)) return forward(y, x, gamma, beta, running, options); // (its error for N·S < 2)
      assertShape('batchnorm y', y, x.shape);
      assertShape('batchnorm gamma', gamma, [C]);
      assertShape('batchnorm beta', beta, [C]);
      const mean = new Float64Array(C), rstd = new Float64Array(C);
      k.batchNorm(f32(y), f32(x), f32(gamma), f32(beta), running.mean.data, running.variance.data, mean, rstd, N, C, S,
        options.training, options.momentum ?? BATCHNORM_MOMENTUM, options.eps ?? BATCHNORM_EPS);
      return { training: options.training, mean, rstd };
    };
  const batchNormBack = (positions: (x: Tensor) => number, backward: typeof batchNorm2dBackward): typeof batchNorm2dBackward =>
    (dx, dgamma, dbeta, dy, x, gamma, cache) => {
      if (!allFloat32(dx, dgamma, dbeta, dy, x, gamma)) return backward(dx, dgamma, dbeta, dy, x, gamma, cache);
      const [N, C] = x.shape;
      assertShape('batchnorm dy', dy, x.shape);
      if (dx !== null) assertShape('batchnorm dx', dx, x.shape);
      for (const [name, t] of [['gamma', gamma], ['dgamma', dgamma], ['dbeta', dbeta]] as const) assertShape(`batchnorm ${name}`, t, [C]);
      k.batchNormBackward(dx && f32(dx), f32(dgamma), f32(dbeta), f32(dy), f32(x), f32(gamma), cache.mean, cache.rstd, N, C, positions(x), cache.training);
    };
  const spatial = (x: Tensor) => { if (x.shape.length !== 4) assertShape('batchNorm2d x', x, [-1, -1, -1, -1]); return x.shape[2] * x.shape[3]; };
  const features = (x: Tensor) => { if (x.shape.length !== 2) assertShape('batchNorm1d x', x, [-1, -1]); return 1; };
  return {
    ...plain,
    kind: 'native C kernels',
    // GEMMs through ops() as in the reference (bias left out), the bias loops here
    linearForward(y, x, W, b) {
      plain.linearForward(y, x, W, b !== null && allFloat32(y, b) ? null : b);
      if (b === null || !allFloat32(y, b)) return;
      assertShape('linear b', b, [W.shape[0]]);
      k.biasAdd(f32(y), f32(b), y.shape[0], W.shape[0], 1);
    },
    linearBackward(dx, dW, db, dy, x, feedback) {
      const native = db !== null && allFloat32(db, dy);
      plain.linearBackward(dx, dW, native ? null : db, dy, x, feedback);
      if (native) k.biasGrad(f32(db!), f32(dy), dy.shape[0], dy.shape[1], 1);
    },
    conv2dForward(y, x, W, b, spec) {
      plain.conv2dForward(y, x, W, b !== null && allFloat32(y, b) ? null : b, spec);
      if (b === null || !allFloat32(y, b)) return;
      assertShape('conv2d b', b, [W.shape[0]]);
      k.biasAdd(f32(y), f32(b), y.shape[0], y.shape[1], y.shape[2] * y.shape[3]);
    },
    conv2dBackward(dx, dW, db, dy, x, spec, feedback) {
      const native = db !== null && allFloat32(db, dy);
      plain.conv2dBackward(dx, dW, native ? null : db, dy, x, spec, feedback);
      if (native) {
        assertShape('conv2d db', db!, [dy.shape[1]]);
        k.biasGrad(f32(db!), f32(dy), dy.shape[0], dy.shape[1], dy.shape[2] * dy.shape[3]);
      }
    },
    activationForward(h, a, f) {
      const kind = ACTIVATION_KIND[f];
      if (kind === undefined || !allFloat32(h, a)) return activationForward(h, a, f);
      assertShape('activation output', h, a.shape);
      k.activation(kind, f32(h), f32(a));
    },
    activationBackward(da, dh, a, f) {
      const kind = ACTIVATION_KIND[f];
      if (kind === undefined || !allFloat32(da, dh, a)) return activationBackward(da, dh, a, f);
      assertShape('activation dh', dh, a.shape);
      assertShape('activation da', da, a.shape);
      k.activationBackward(kind, f32(da), f32(dh), f32(a));
    },
    geluForward(y, x) {
      if (!allFloat32(y, x)) return geluForward(y, x);
      assertShape('gelu y', y, x.shape);
      k.gelu(f32(y), f32(x));
    },
    geluBackward(dx, dy, x) {
      if (!allFloat32(dx, dy, x)) return geluBackward(dx, dy, x);
      assertShape('gelu dy', dy, x.shape);
      assertShape('gelu dx', dx, x.shape);
      k.geluBackward(f32(dx), f32(dy), f32(x));
    },
    layerNormForward(y, x, gamma, beta, eps = LAYERNORM_EPS): LayerNormCache {
      if (!allFloat32(y, x, gamma, beta)) return layerNormForward(y, x, gamma, beta, eps);
      const C = x.shape[x.shape.length - 1], R = C === 0 ? 0 : x.size / C;
      assertShape('layerNorm gamma', gamma, [C]);
      assertShape('layerNorm beta', beta, [C]);
      assertShape('layerNorm y', y, x.shape);
      const mean = new Float64Array(R), rstd = new Float64Array(R);
      k.layerNorm(f32(y), f32(x), f32(gamma), f32(beta), mean, rstd, C, eps);
      return { mean, rstd };
    },
    layerNormBackward(dx, dgamma, dbeta, dy, x, gamma, cache) {
      if (!allFloat32(dx, dgamma, dbeta, dy, x, gamma)) return layerNormBackward(dx, dgamma, dbeta, dy, x, gamma, cache);
      const C = x.shape[x.shape.length - 1];
      assertShape('layerNorm dy', dy, x.shape);
      if (dx !== null) assertShape('layerNorm dx', dx, x.shape);
      for (const [name, t] of [['gamma', gamma], ['dgamma', dgamma], ['dbeta', dbeta]] as const) assertShape(`layerNorm ${name}`, t, [C]);
      k.layerNormBackward(dx && f32(dx), f32(dgamma), f32(dbeta), f32(dy), f32(x), f32(gamma), cache.mean, cache.rstd, C);
    },
    attentionForward(out, q, kk, v, heads): AttentionCache {
      if (!allFloat32(out, q, kk, v) || q.shape.length !== 3) return attentionForward(out, q, kk, v, heads);
      const [B, T, A] = q.shape;
      if (!Number.isInteger(heads) || heads < 1 || A % heads !== 0) return attentionForward(out, q, kk, v, heads); // its error names the rule
      for (const [name, t] of [['k', kk], ['v', v], ['out', out]] as const) assertShape(`attention ${name}`, t, [B, T, A]);
      const probs = float32Tensor([B * heads, T, T]);
      k.attention(f32(out), f32(probs), f32(q), f32(kk), f32(v), B, T, A, heads);
      return { heads, probs };
    },
    attentionBackward(dq, dk, dv, dout, q, kk, v, cache) {
      if (!allFloat32(dq, dk, dv, dout, q, kk, v, cache.probs) || q.shape.length !== 3) return attentionBackward(dq, dk, dv, dout, q, kk, v, cache);
      const [B, T, A] = q.shape, H = cache.heads;
      for (const [name, t] of [['k', kk], ['v', v], ['dout', dout], ['dq', dq], ['dk', dk], ['dv', dv]] as const) assertShape(`attention ${name}`, t, [B, T, A]);
      assertShape('attention cache probs', cache.probs, [B * H, T, T]);
      if (dS.length < B * H * T * T) dS = new Float32Array(B * H * T * T);
      k.attentionBackward(f32(dq), f32(dk), f32(dv), dS, f32(dout), f32(q), f32(kk), f32(v), f32(cache.probs), B, T, A, H);
    },
    batchNorm1dForward: batchNorm(features, batchNorm1dForward),
    batchNorm1dBackward: batchNormBack(features, batchNorm1dBackward),
    batchNorm2dForward: batchNorm(spatial, batchNorm2dForward),
    batchNorm2dBackward: batchNormBack(spatial, batchNorm2dBackward),
    maxPoolWithWinners(y, winners, x, spec) {
      if (!allFloat32(y, x)) return plain.maxPoolWithWinners(y, winners, x, spec);
      const [N, C, Ho, Wo] = pool2dOutputShape(x, spec);
      assertShape('maxPool2d y', y, [N, C, Ho, Wo]);
      k.maxPool(f32(y), winners, f32(x), N * C, x.shape[2], x.shape[3], spec.k, spec.stride, Ho, Wo);
    },
  };
}

