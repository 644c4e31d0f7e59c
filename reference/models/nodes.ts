// Nodes for convolutional networks and normalisation, wrapping the layer pairs of
// reference/layers/ (the MLP's linear, activation and flatten nodes are in network.ts).
import type { Conv2dSpec } from '../backend.ts';
import { throughKernel } from '../feedback.ts';
import { batchNorm1dBackward, batchNorm1dForward, batchNorm2dBackward, batchNorm2dForward, batchNormRunningInit, type BatchNormCache, type BatchNormRunning } from '../layers/batchnorm.ts';
import { conv2dOutputShape } from '../layers/conv2d.ts';
import { maxPool2dBackward, maxPool2dForward, pool2dOutputShape, type Pool2dSpec } from '../layers/pool.ts';
import { param, type Param } from '../params.ts';
import { tensor, type Tensor } from '../tensor.ts';
import { WeightedNode, type FeedbackSite, type Node } from './network.ts';

export class ConvNode extends WeightedNode {
  readonly site: FeedbackSite;
  constructor(
    name: string,
    weight: Param, // (Cout, Cin, k, k)
    bias: Param | null, // (Cout)
    readonly spec: Conv2dSpec,
    inputShape: readonly number[], // (Cin, H, W)
    options: { isOutput: boolean; needsInputGrad: boolean },
  ) {
    super(name, weight, bias);
    this.site = {
      name, kind: 'conv', weight, bias, conv: spec, inputShape,
      isOutput: options.isOutput, needsInputGrad: options.needsInputGrad,
      feedback: throughKernel(weight.value, spec), input: null, outputGrad: null, inputGrad: null,
    };
  }

  protected outputShape(x: Tensor): number[] {
    return conv2dOutputShape(x, this.weight.value, this.spec);
  }

  protected forwardInto(y: Tensor, x: Tensor): void {
    this.layers.conv2dForward(y, x, this.weight.value, this.bias?.value ?? null, this.spec);
  }

  protected backwardInto(dx: Tensor | null, dy: Tensor, x: Tensor): void {
    this.layers.conv2dBackward(dx, this.weight.grad, this.bias?.grad ?? null, dy, x, this.spec, this.site.feedback);
  }
}

/** Batch norm over the features of (N, F) or the channels of (N, C, H, W). */
export class BatchNormNode implements Node {
  readonly gamma: Param;
  readonly beta: Param;
  readonly running: BatchNormRunning;
  private cache: BatchNormCache | null = null;
  private input: Tensor | null = null;

  constructor(readonly name: string, channels: number) {
    this.gamma = param(`${name}.gamma`, tensor([channels], new Float64Array(channels).fill(1)), false);
    this.beta = param(`${name}.beta`, tensor([channels]), false);
    this.running = batchNormRunningInit(channels);
  }

  forward(x: Tensor, train: boolean): Tensor {
    const y = tensor(x.shape);
    const forward = x.shape.length === 4 ? batchNorm2dForward : batchNorm1dForward;
    this.cache = forward(y, x, this.gamma.value, this.beta.value, this.running, { training: train });
    this.input = x;
    return y;
  }

  backward(dy: Tensor): Tensor {
    if (this.cache === null || this.input === null) throw new Error(`${this.name}: backward called before forward`);
    const dx = tensor(dy.shape);
    const backward = dy.shape.length === 4 ? batchNorm2dBackward : batchNorm1dBackward;
    backward(dx, this.gamma.grad, this.beta.grad, dy, this.input, this.gamma.value, this.cache);
    return dx;
  }

  params(): Param[] { return [this.gamma, this.beta]; }

  buffers() {
    return [{ name: `${this.name}.running_mean`, value: this.running.mean }, { name: `${this.name}.running_var`, value: this.running.variance }];
  }
}

export class MaxPoolNode implements Node {
  private input: Tensor | null = null;
  constructor(readonly name: string, readonly spec: Pool2dSpec) {}

  forward(x: Tensor): Tensor {
    const y = tensor(pool2dOutputShape(x, this.spec));
    maxPool2dForward(y, x, this.spec);
    this.input = x;
    return y;
  }

  backward(dy: Tensor): Tensor {
    if (this.input === null) throw new Error(`${this.name}: backward called before forward`);
    const dx = tensor(this.input.shape);
    maxPool2dBackward(dx, dy, this.input, this.spec);
    return dx;
  }

  params() { return []; }
  buffers() { return []; }
}
