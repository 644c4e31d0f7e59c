// A VGG-like convolutional network (spec §4.2): blocks of conv k×k (padding k//2, stride 1 unless given) →
// [batch norm] → activation → max-pool 2×2, then flatten → linear head (logits).
// Every conv and the head are feedback sites; pools, norms and activations are exact.
import { convOutputSize } from '../backend.ts';
import type { ActivationName } from '../layers/activation.ts';
import { param } from '../params.ts';
import { initWeight, type InitName, type Rng } from '../rng.ts';
import { zeros } from '../tensor.ts';
import { checkWidths } from './mlp.ts';
import { ActivationNode, FlattenNode, LinearNode, Sequential, type Node } from './network.ts';
import { BatchNormNode, ConvNode, MaxPoolNode } from './nodes.ts';

export interface CnnConfig {
  /** (C, H, W) */
  inputShape: readonly number[];
  /** Output channels of each conv block. */
  channels: number[];
  kernel: number;
  outputSize: number;
  activation: ActivationName;
  batchNorm: boolean;
  /** Max-pool 2×2 after each block while the map is at least 2×2. */
  pool: boolean;
  /** Stride of each conv (default 1 everywhere); the padding stays k//2. */
  strides?: readonly number[];
  init: InitName;
}

export function buildCnn(config: CnnConfig, rng: Rng): Sequential {
  if (config.inputShape.length !== 3) throw new Error(`cnn: the input must be images (C, H, W), got shape [${config.inputShape.join(', ')}]`);
  checkWidths('cnn channels', config.channels);
  if (!Number.isInteger(config.kernel) || config.kernel < 1 || config.kernel % 2 === 0) {
    throw new Error(`cnn: kernel ${config.kernel} is not allowed: it must be an odd positive integer (padding k//2 keeps the size)`);
  }
  const nodes: Node[] = [];
  let [C, H, W] = config.inputShape;
  const strides = config.strides ?? config.channels.map(() => 1);
  if (strides.length !== config.channels.length || strides.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`cnn: strides [${strides.join(', ')}] are not allowed: one positive integer per conv layer (${config.channels.length})`);
  }
  config.channels.forEach((out, i) => {
    const name = `conv${i + 1}`;
    const spec = { stride: strides[i], padding: (config.kernel - 1) / 2 };
    const weight = param(`${name}.W`, initWeight(rng, [out, C, config.kernel, config.kernel], config.init));
    const bias = config.batchNorm ? null : param(`${name}.b`, zeros([out]), false);
    nodes.push(new ConvNode(name, weight, bias, spec, [C, H, W], { isOutput: false, needsInputGrad: i > 0 }));
    [C, H, W] = [out, convOutputSize(H, config.kernel, spec), convOutputSize(W, config.kernel, spec)];
    if (config.batchNorm) nodes.push(new BatchNormNode(`bn${i + 1}`, out));
    if (config.activation !== 'identity') nodes.push(new ActivationNode(`act${i + 1}`, config.activation));
    if (config.pool && H >= 2 && W >= 2) {
      nodes.push(new MaxPoolNode(`pool${i + 1}`, { k: 2, stride: 2 }));
      [H, W] = [Math.floor(H / 2), Math.floor(W / 2)];
    }
  });
  nodes.push(new FlattenNode('flatten'));
  const features = C * H * W;
  const head = param('head.W', initWeight(rng, [config.outputSize, features], config.init));
  nodes.push(new LinearNode('head', head, param('head.b', zeros([config.outputSize]), false), { isOutput: true, needsInputGrad: true }));
  return new Sequential(nodes, config.inputShape, config.outputSize);
}
