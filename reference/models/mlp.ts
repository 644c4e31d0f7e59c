// MLPs and deep linear networks (spec §4.1, §3.1): fc1 → act → … → fcL (logits).
import { type ActivationName } from '../layers/activation.ts';
import { param } from '../params.ts';
import { initWeight, type InitName, type Rng } from '../rng.ts';
import { zeros } from '../tensor.ts';
import { ActivationNode, FlattenNode, LinearNode, Sequential, type Node } from './network.ts';
import { BatchNormNode } from './nodes.ts';

export interface MlpConfig {
  inputSize: number;
  /** Per-sample input shape when it is not flat (e.g. [1, 28, 28]): a flatten node comes first. */
  inputShape?: readonly number[];
  hidden: number[];
  outputSize: number;
  activation: ActivationName;
  /** Batch norm after each hidden linear layer (spec §4.1). */
  batchNorm?: boolean;
  bias: boolean;
  init: InitName;
}

export function checkWidths(what: string, widths: number[]): void {
  for (const w of widths) {
    if (!Number.isInteger(w) || w < 1) throw new Error(`${what}: every width must be a positive integer, got [${widths.join(', ')}]`);
  }
}

export function buildMlp(config: MlpConfig, rng: Rng): Sequential {
  const widths = [config.inputSize, ...config.hidden, config.outputSize];
  checkWidths('mlp', widths);
  const nodes: Node[] = [];
  if (config.inputShape && config.inputShape.length > 1) nodes.push(new FlattenNode('flatten'));
  const layers = widths.length - 1;
  for (let l = 1; l <= layers; l++) {
    const name = `fc${l}`;
    const W = param(`${name}.W`, initWeight(rng, [widths[l], widths[l - 1]], config.init));
    const b = config.bias ? param(`${name}.b`, zeros([widths[l]]), false) : null;
    nodes.push(new LinearNode(name, W, b, { isOutput: l === layers, needsInputGrad: l > 1 }));
    if (l < layers && config.batchNorm) nodes.push(new BatchNormNode(`bn${l}`, widths[l]));
    if (l < layers && config.activation !== 'identity') nodes.push(new ActivationNode(`act${l}`, config.activation));
  }
  return new Sequential(nodes, config.inputShape ?? [config.inputSize], config.outputSize);
}

/** A deep linear network: no bias, no nonlinearity (the setting of the linear theory). */
export function buildLinearNet(sizes: { inputSize: number; inputShape?: readonly number[]; hidden: number[]; outputSize: number; init?: InitName }, rng: Rng): Sequential {
  return buildMlp({ ...sizes, activation: 'identity', bias: false, init: sizes.init ?? 'uniform' }, rng);
}
