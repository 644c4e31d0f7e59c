// The float32 training path for every architecture: Sequential models (MLP, CNN, Retina–VVS)
// and the ViT. Forward and backward run over the reference model's own nodes, calling layer
// functions with the reference's signatures (src/fast/layers.ts: float32 outputs, loops in the
// native addon where it loads), with every activation, error and gradient in float32 storage
// (src/fast/float32.ts) so that a float32 backend multiplies them where they lie (the native
// backend: zero-copy cblas_sgemm) instead of converting float64 ↔ float32 on every call.
//
// The parameters are moved to float32 once (storeAsFloat32), so trainer.model.params() keep
// working for checkpoints, metrics and rules; the rule's feedback operators (W, B, D, P̂Q̂)
// and its feedback learning run unchanged on the float32 signals recorded at each site.
// Sequential: per node, what differs from the reference node is where outputs are allocated
// (reused from step to step) and which layer functions run. ViT: the model's own forward and
// backward, on the swapped layer functions (VisionTransformer.useLayers).
import type { BatchNormCache } from '../../reference/layers/batchnorm.ts';
import { pool2dOutputShape } from '../../reference/layers/pool.ts';
import { ActivationNode, FlattenNode, Sequential, WeightedNode, type Model, type Node } from '../../reference/models/network.ts';
import { BatchNormNode, MaxPoolNode } from '../../reference/models/nodes.ts';
import { VisionTransformer } from '../../reference/models/vit.ts';
import { reshape, type Tensor } from '../../reference/tensor.ts';
import { float32Tensor, isFloat32, storeAsFloat32 } from './float32.ts';
import type { Float32Layers } from './layers.ts';

/** The layer functions of a weighted node (protected in the reference, called here with float32 buffers). */
interface WeightedLayer {
  outputShape(x: Tensor): number[];
  forwardInto(y: Tensor, x: Tensor): void;
  backwardInto(dx: Tensor | null, dy: Tensor, x: Tensor): void;
}

type FastNode = { forward(x: Tensor, train: boolean): Tensor; backward(dy: Tensor): Tensor | null };

export interface Float32Engine {
  /** logits (N, C) in float32 from x (N, ...inputShape) in any storage. */
  forward(x: Tensor, train: boolean): Tensor;
  /** From the output error e (float32); fills every parameter's grad (float32). */
  backward(outputError: Tensor): void;
}

/** Why the float32 path cannot run this model, or null when it can. */
export function float32Unsupported(model: Model): string | null {
  if (model instanceof VisionTransformer) return null;
  if (!(model instanceof Sequential)) return `the float32 path covers Sequential models (mlp, cnn, retina) and the ViT; ${model.constructor.name} runs on the float64 path`;
  const other = model.nodes.find((n) => !(n instanceof WeightedNode || n instanceof ActivationNode || n instanceof FlattenNode || n instanceof BatchNormNode || n instanceof MaxPoolNode));
  return other ? `the float32 path has no node like ${other.name} (${other.constructor.name})` : null;
}

/** Moves the model's parameters and gradients to float32 and returns its float32 forward/backward. */
export function float32Engine(model: Model, layers: Float32Layers): Float32Engine {
  const why = float32Unsupported(model);
  if (why !== null) throw new Error(why);
  for (const p of model.params()) { storeAsFloat32(p.value); storeAsFloat32(p.grad); }
  if (model instanceof VisionTransformer) {
    model.useLayers(layers);
    return {
      forward(x, train) { layers.startPass(train); return model.forward(x); },
      backward: (e) => model.backward(e),
    };
  }
  return sequentialEngine(model as Sequential, layers);
}

function sequentialEngine(model: Sequential, layers: Float32Layers): Float32Engine {
  const nodes = model.nodes.map((node) => fastNode(node, layers));
  const input = outputBuffers();
  return {
    forward(x, train) {
      let h = isFloat32(x) ? x : input('x', x.shape);
      if (h !== x) h.data.set(x.data);
      const recorded: { name: string; value: Tensor }[] = [];
      nodes.forEach((node, i) => {
        h = node.forward(h, train);
        recorded.push({ name: model.nodes[i].name, value: h });
      });
      (model as unknown as { lastActivations: typeof recorded }).lastActivations = recorded;
      return h;
    },
    backward(outputError) {
      model.outputError = outputError;
      let d: Tensor | null = outputError;
      for (let i = nodes.length - 1; i >= 0 && d !== null; i--) d = nodes[i].backward(d);
    },
  };
}

/**
 * Float32 outputs reused from step to step, one per slot and shape (every layer function
 * overwrites its output, so no clearing is needed; each is read only within its step).
 */
function outputBuffers(): (slot: string, shape: readonly number[]) => Tensor {
  const cache = new Map<string, Tensor>();
  return (slot, shape) => {
    const key = `${slot} ${shape.join('×')}`;
    let t = cache.get(key);
    if (t === undefined) { t = float32Tensor(shape); cache.set(key, t); }
    return t;
  };
}

function fastNode(node: Node, layers: Float32Layers): FastNode {
  const buffer = outputBuffers();
  if (node instanceof WeightedNode) {
    node.layers = layers;
    const layer = node as unknown as WeightedLayer;
    const site = node.site;
    return {
      forward(x) {
        const y = buffer('y', layer.outputShape(x));
        layer.forwardInto(y, x);
        site.input = x;
        return y;
      },
      backward(dy) {
        const x = site.input;
        if (x === null) throw new Error(`${node.name}: backward called before forward`);
        const dx = site.needsInputGrad ? buffer('dx', x.shape) : null;
        layer.backwardInto(dx, dy, x);
        site.outputGrad = dy;
        site.inputGrad = dx;
        return dx;
      },
    };
  }
  if (node instanceof ActivationNode) {
    let input: Tensor | null = null;
    return {
      forward(a) { const h = buffer('y', a.shape); layers.activationForward(h, a, node.f); input = a; return h; },
      backward(dh) { const da = buffer('dx', dh.shape); layers.activationBackward(da, dh, input!, node.f); return da; },
    };
  }
  if (node instanceof FlattenNode) {
    let shape: number[] = [];
    return {
      forward(x) { shape = x.shape; return reshape(x, [x.shape[0], x.size / x.shape[0]]); },
      backward(dy) { return reshape(dy, shape); },
    };
  }
  if (node instanceof MaxPoolNode) {
    // The reference's window argmax, found once in the forward pass and kept, so the backward
    // pass routes each dy to its window's winner without searching again.
    let input: Tensor | null = null, winners = new Int32Array(0);
    return {
      forward(x) {
        const [N, C, Ho, Wo] = pool2dOutputShape(x, node.spec);
        const y = buffer('y', [N, C, Ho, Wo]);
        if (winners.length !== y.size) winners = new Int32Array(y.size);
        layers.maxPoolWithWinners(y, winners, x, node.spec);
        input = x;
        return y;
      },
      backward(dy) {
        const dx = buffer('dx', input!.shape);
        dx.data.fill(0);
        for (let o = 0; o < dy.size; o++) dx.data[winners[o]] += dy.data[o];
        return dx;
      },
    };
  }
  if (node instanceof BatchNormNode) {
    let cache: BatchNormCache | null = null, input: Tensor | null = null;
    return {
      forward(x, train) {
        const y = buffer('y', x.shape);
        cache = (x.shape.length === 4 ? layers.batchNorm2dForward : layers.batchNorm1dForward)(y, x, node.gamma.value, node.beta.value, node.running, { training: train });
        input = x;
        return y;
      },
      backward(dy) {
        const dx = buffer('dx', dy.shape);
        (dy.shape.length === 4 ? layers.batchNorm2dBackward : layers.batchNorm1dBackward)(dx, node.gamma.grad, node.beta.grad, dy, input!, node.gamma.value, cache!);
        return dx;
      },
    };
  }
  throw new Error(`the float32 path has no node like ${node.name}`);
}

/**
 * The float32 path for a model with its rule attached, or why it does not apply. The fixed
 * feedback tensors (FA's B, DFA's D) move to float32 with the weights; learned ones (LDFA's
 * P̂, Q̂: small, rank r) stay float64 with their optimiser, and the backend converts them.
 */
export function float32Path(model: Model, fixedFeedback: Tensor[], layers: Float32Layers): { engine: Float32Engine; reason: null } | { engine: null; reason: string } {
  const why = float32Unsupported(model);
  if (why !== null) return { engine: null, reason: why };
  const engine = float32Engine(model, layers);
  for (const t of fixedFeedback) storeAsFloat32(t);
  return { engine, reason: null };
}
