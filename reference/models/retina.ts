// The "Retina–VVS" model (Lindsey et al. 2019 style) of the authors' receptive-field
// experiment (spec §4.2, §5.1 E7). Every conv is k×k with padding k//2, stride 1:
//   retina1   conv Cin → c, then the activation           (the retina's first layer)
//   retina2   conv c → b, then the activation             (the retina output: b is the bottleneck)
//   vvs1      conv b → v₁, then the activation            (the "ventral visual stream")
//   vvs2 …    conv v_{i−1} → v_i, then the activation
//   flatten → fc (linear, F wide) → activation → head (linear, logits)
// No pooling and no normalisation, so every map keeps the input's H×W. The paper's dropout 0.5
// after fc is not implemented (no model here has dropout). The paper's sizes: c = 32,
// b = 32 ("wide") or 4 ("classic bottleneck"), three VVS convs of 32, k = 9, F = 1024, ReLU,
// on 32×32 grayscale CIFAR-10.
//
// Every conv, fc and the head are feedback sites, as in the CNN. The sites that send error
// down, in the order of a per-layer rank spec (`--rank a,b,…`), are
//     retina2, vvs1, …, vvsN, fc, head          (N + 3 entries; retina1 has nothing below it)
// **The feedback into the retina** is vvs1's: it carries the error from the VVS's first layer
// into the retina output layer (retina2's activation), dx = vvs1.feedback(dy) — under LDFA the
// rank-r B = Q·P of vvs1. "Constrain retina only" (E7) makes that one rank r and leaves every
// other layer full: `full,r,full,…,full`, built by retinaFeedbackRank. The forward retina keeps
// its c and b channels; only the error reaching it is r-dimensional per pixel.
import type { ActivationName } from '../layers/activation.ts';
import { param } from '../params.ts';
import { initWeight, type InitName, type Rng } from '../rng.ts';
import { zeros } from '../tensor.ts';
import { checkWidths } from './mlp.ts';
import { ActivationNode, FlattenNode, LinearNode, Sequential, type Node } from './network.ts';
import { ConvNode } from './nodes.ts';

export interface RetinaConfig {
  /** (C, H, W) */
  inputShape: readonly number[];
  /** Output channels of every conv in order: [retina c, retina output b, VVS v₁, v₂, …] (at least 3). */
  channels: readonly number[];
  /** Odd kernel size of every conv. */
  kernel: number;
  /** Width of the fully connected layer between the last VVS conv and the head. */
  fc: number;
  outputSize: number;
  activation: ActivationName;
  init: InitName;
}

/** The site names of the convs, in order: retina1, retina2, vvs1, …, vvsN. */
function convNames(channels: readonly number[]): string[] {
  return channels.map((_, i) => (i < 2 ? `retina${i + 1}` : `vvs${i - 1}`));
}

function checkChannels(channels: readonly number[]): void {
  if (channels.length < 3) {
    throw new Error(`retina: ${channels.length} conv widths given [${channels.join(', ')}]: at least 3 are required (retina channels, retina output/bottleneck, one VVS conv or more)`);
  }
  checkWidths('retina channels', [...channels]);
}

export function buildRetina(config: RetinaConfig, rng: Rng): Sequential {
  if (config.inputShape.length !== 3) throw new Error(`retina: the input must be images (C, H, W), got shape [${config.inputShape.join(', ')}]`);
  checkChannels(config.channels);
  checkWidths('retina fc', [config.fc]);
  if (!Number.isInteger(config.kernel) || config.kernel < 1 || config.kernel % 2 === 0) {
    throw new Error(`retina: kernel ${config.kernel} is not allowed: it must be an odd positive integer (padding k//2 keeps the size)`);
  }
  const [Cin, H, W] = config.inputShape;
  const spec = { stride: 1, padding: (config.kernel - 1) / 2 };
  const names = convNames(config.channels);
  const nodes: Node[] = [];
  const activation = (name: string) => {
    if (config.activation !== 'identity') nodes.push(new ActivationNode(`${name}.act`, config.activation));
  };
  let C = Cin;
  config.channels.forEach((out, i) => {
    const name = names[i];
    const weight = param(`${name}.W`, initWeight(rng, [out, C, config.kernel, config.kernel], config.init));
    nodes.push(new ConvNode(name, weight, param(`${name}.b`, zeros([out]), false), spec, [C, H, W], { isOutput: false, needsInputGrad: i > 0 }));
    activation(name);
    C = out;
  });
  nodes.push(new FlattenNode('flatten'));
  const features = C * H * W;
  nodes.push(new LinearNode('fc', param('fc.W', initWeight(rng, [config.fc, features], config.init)), param('fc.b', zeros([config.fc]), false), { isOutput: false, needsInputGrad: true }));
  activation('fc');
  const head = param('head.W', initWeight(rng, [config.outputSize, config.fc], config.init));
  nodes.push(new LinearNode('head', head, param('head.b', zeros([config.outputSize]), false), { isOutput: true, needsInputGrad: true }));
  return new Sequential(nodes, config.inputShape, config.outputSize);
}

/** The retina output layer (the bottleneck): the receptive-field readout's default layer. */
export const RETINA_OUTPUT_LAYER = 'retina2';
/** The conv whose feedback carries the error into the retina (see the top of this file). */
export const RETINA_FEEDBACK_SITE = 'vvs1';

/**
 * A per-layer rank spec for a Retina–VVS model with these conv widths (RetinaConfig.channels,
 * i.e. `--hidden`) that constrains only the feedback into the retina (vvs1's) to rank r and
 * leaves every other sending layer at full rank: [full, r, full, …, full], one entry per
 * sending site (retina2, vvs1, …, vvsN, fc, head). Join it with ',' for the CLI's --rank.
 * Whether r fits vvs1 (r ≤ min(v₁, b·k²)) is checked when the rule is attached.
 */
export function retinaFeedbackRank(channels: readonly number[], r: number): (number | 'full')[] {
  checkChannels(channels);
  if (!Number.isInteger(r) || r < 1) throw new Error(`retinaFeedbackRank: rank ${r} is not allowed: it must be a positive integer`);
  const sending = [...convNames(channels).slice(1), 'fc', 'head'];
  return sending.map((name) => (name === RETINA_FEEDBACK_SITE ? r : 'full'));
}
