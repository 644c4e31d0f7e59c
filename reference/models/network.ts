// A network is a list of nodes run in order. Nodes with weights that carry the error
// down (linear, conv) expose a FeedbackSite: the place where a rule installs its
// feedback operator and reads the local signals its feedback learning needs.
import type { Conv2dSpec } from '../backend.ts';
import { throughMatrix, type Feedback } from '../feedback.ts';
import { activationBackward, activationForward, type ActivationName } from '../layers/activation.ts';
import { referenceLayers, type LayerFunctions } from '../layers/functions.ts';
import type { Param } from '../params.ts';
import { reshape, tensor, type Tensor } from '../tensor.ts';

export interface FeedbackSite {
  /** e.g. "fc2", "conv3", "block1.attn.qkv" */
  readonly name: string;
  readonly kind: 'linear' | 'conv';
  /** W: (out, in) for linear, (Cout, Cin, k, k) for conv. */
  readonly weight: Param;
  /** The bias, if the layer has one (gradient clamps of the v4 code reach it). */
  readonly bias: Param | null;
  readonly conv: Conv2dSpec | null;
  /** Per-sample shape of the layer's input (for DFA's D and LDFA's Q̂). */
  readonly inputShape: readonly number[];
  /** The rank of this layer is the rule's r times this (3 for a fused q/k/v projection, spec §4.3). */
  readonly rankScale?: number;
  /** True for the output layer, whose dy is the output error e. */
  readonly isOutput: boolean;
  /** False for the first layer: nothing below it needs an error. */
  readonly needsInputGrad: boolean;
  /** Set by the rule. BP (dy·W) until a rule is attached. */
  feedback: Feedback;
  /** Local signals of the last step: x of the forward, dy and dx of the backward. */
  input: Tensor | null;
  outputGrad: Tensor | null;
  inputGrad: Tensor | null;
}

/** Rows and columns of W seen as a matrix (out, in·k²). */
export function weightMatrixShape(site: FeedbackSite): [number, number] {
  const [out, ...rest] = site.weight.value.shape;
  return [out, rest.reduce((a, b) => a * b, 1)];
}

/** The largest rank a feedback matrix of this layer can have: min(out, in·k²). */
export function maxRank(site: FeedbackSite): number {
  return Math.min(...weightMatrixShape(site));
}

export interface Node {
  readonly name: string;
  readonly site?: FeedbackSite;
  forward(x: Tensor, train: boolean): Tensor;
  /** Returns dx, or null when no node below needs it. */
  backward(dy: Tensor): Tensor | null;
  params(): Param[];
  /** Non-learned state saved in checkpoints (batch-norm running statistics). */
  buffers(): { name: string; value: Tensor }[];
}

/** What training, rules and metrics need from any architecture. */
export interface Model {
  readonly sites: FeedbackSite[];
  /** Per-sample input shape and number of outputs. */
  readonly inputShape: readonly number[];
  readonly outputSize: number;
  forward(x: Tensor, train: boolean): Tensor;
  /** Backward from the output error e = ∂L/∂logits; fills every param's grad. */
  backward(outputError: Tensor): void;
  /** The output error of the last backward (DFA broadcasts it). */
  readonly outputError: Tensor | null;
  params(): Param[];
  buffers(): { name: string; value: Tensor }[];
  /** Forward activations of the last forward pass, by node name (divergence reports). */
  activations(): { name: string; value: Tensor }[];
}

/** A node with a weight (and bias) whose backward pass sends dx = site.feedback(dy) down. */
export abstract class WeightedNode implements Node {
  abstract readonly site: FeedbackSite;
  /** The layer functions this node calls (the float32 path swaps in its own, same signatures). */
  layers: LayerFunctions = referenceLayers;
  constructor(readonly name: string, readonly weight: Param, readonly bias: Param | null) {}

  protected abstract outputShape(x: Tensor): number[];
  /** The layer's forward function, writing y. */
  protected abstract forwardInto(y: Tensor, x: Tensor): void;
  /** The layer's backward function: dW, db exact, dx = feedback(dy) (dx null for the first layer). */
  protected abstract backwardInto(dx: Tensor | null, dy: Tensor, x: Tensor): void;

  forward(x: Tensor): Tensor {
    const y = this.layers.tensor(this.outputShape(x));
    this.forwardInto(y, x);
    this.site.input = x;
    return y;
  }

  backward(dy: Tensor): Tensor | null {
    const x = this.site.input;
    if (x === null) throw new Error(`${this.name}: backward called before forward`);
    const dx = this.site.needsInputGrad ? this.layers.tensor(x.shape) : null;
    this.backwardInto(dx, dy, x);
    this.site.outputGrad = dy;
    this.site.inputGrad = dx;
    return dx;
  }

  params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  buffers() { return []; }
}

export class LinearNode extends WeightedNode {
  readonly site: FeedbackSite;
  constructor(
    name: string,
    weight: Param, // (out, in)
    bias: Param | null, // (out)
    options: { isOutput: boolean; needsInputGrad: boolean; inputShape?: readonly number[]; rankScale?: number },
  ) {
    super(name, weight, bias);
    this.site = {
      name, kind: 'linear', weight, bias, conv: null, inputShape: options.inputShape ?? [weight.value.shape[1]],
      isOutput: options.isOutput, needsInputGrad: options.needsInputGrad, rankScale: options.rankScale,
      feedback: throughMatrix(weight.value), input: null, outputGrad: null, inputGrad: null,
    };
  }

  protected outputShape(x: Tensor): number[] {
    return [x.shape[0], this.weight.value.shape[0]];
  }

  protected forwardInto(y: Tensor, x: Tensor): void {
    this.layers.linearForward(y, x, this.weight.value, this.bias?.value ?? null);
  }

  protected backwardInto(dx: Tensor | null, dy: Tensor, x: Tensor): void {
    this.layers.linearBackward(dx, this.weight.grad, this.bias?.grad ?? null, dy, x, this.site.feedback);
  }
}

export class ActivationNode implements Node {
  private input: Tensor | null = null;
  constructor(readonly name: string, readonly f: ActivationName) {}

  forward(a: Tensor): Tensor {
    const h = tensor(a.shape);
    activationForward(h, a, this.f);
    this.input = a;
    return h;
  }

  backward(dh: Tensor): Tensor {
    if (this.input === null) throw new Error(`${this.name}: backward called before forward`);
    const da = tensor(dh.shape);
    activationBackward(da, dh, this.input, this.f);
    return da;
  }

  params() { return []; }
  buffers() { return []; }
}

/** (N, ...shape) → (N, prod(shape)); the backward restores the shape. */
export class FlattenNode implements Node {
  private shape: number[] = [];
  constructor(readonly name: string) {}
  forward(x: Tensor): Tensor {
    this.shape = x.shape;
    return reshape(x, [x.shape[0], x.size / x.shape[0]]);
  }
  backward(dy: Tensor): Tensor {
    return reshape(dy, this.shape);
  }
  params() { return []; }
  buffers() { return []; }
}

export class Sequential implements Model {
  readonly sites: FeedbackSite[];
  outputError: Tensor | null = null;
  private lastActivations: { name: string; value: Tensor }[] = [];

  constructor(readonly nodes: Node[], readonly inputShape: readonly number[], readonly outputSize: number) {
    this.sites = nodes.flatMap((n) => (n.site ? [n.site] : []));
    const names = new Set<string>();
    for (const n of nodes) {
      if (names.has(n.name)) throw new Error(`duplicate node name '${n.name}'`);
      names.add(n.name);
    }
  }

  forward(x: Tensor, train: boolean): Tensor {
    this.lastActivations = [];
    let h = x;
    for (const node of this.nodes) {
      h = node.forward(h, train);
      this.lastActivations.push({ name: node.name, value: h });
    }
    return h;
  }

  backward(outputError: Tensor): void {
    this.outputError = outputError;
    let d: Tensor | null = outputError;
    for (let i = this.nodes.length - 1; i >= 0 && d !== null; i--) d = this.nodes[i].backward(d);
  }

  params(): Param[] {
    return this.nodes.flatMap((n) => n.params());
  }

  buffers() {
    return this.nodes.flatMap((n) => n.buffers());
  }

  activations() {
    return this.lastActivations;
  }
}
