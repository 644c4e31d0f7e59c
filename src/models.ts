// Builds the model named by --arch for a data set's input shape and class count.
import { buildCnn } from '../reference/models/cnn.ts';
import { buildLinearNet, buildMlp } from '../reference/models/mlp.ts';
import { buildRetina } from '../reference/models/retina.ts';
import { buildVit } from '../reference/models/vit.ts';
import type { Model } from '../reference/models/network.ts';
import type { Rng } from '../reference/rng.ts';
import { ARCH_NAMES, type TrainConfig } from './config.ts';

export function buildModel(config: TrainConfig, inputShape: readonly number[], classes: number, rng: Rng): Model {
  const inputSize = inputShape.reduce((a, b) => a * b, 1);
  switch (config.arch) {
    case 'linear':
      return buildLinearNet({ inputSize, inputShape, hidden: config.hidden, outputSize: classes, init: config.init }, rng);
    case 'mlp':
      return buildMlp({ inputSize, inputShape, hidden: config.hidden, outputSize: classes, activation: config.activation, batchNorm: config.batchNorm, bias: true, init: config.init }, rng);
    case 'cnn':
      return buildCnn({
        inputShape, channels: config.hidden, kernel: config.kernel, outputSize: classes,
        activation: config.activation, batchNorm: config.batchNorm, pool: true, init: config.init,
      }, rng);
    case 'vit':
      return buildVit({
        inputShape, patch: config.patch, dim: config.dim, depth: config.depth, heads: config.heads,
        mlpRatio: config.mlpRatio, outputSize: classes, fusedQkv: config.fusedQkv, init: config.init,
      }, rng);
    case 'retina':
      return buildRetina({
        inputShape, channels: config.hidden, kernel: config.kernel, fc: config.fc, outputSize: classes,
        activation: config.activation, init: config.init,
      }, rng);
    default:
      throw new Error(`unknown --arch '${config.arch as string}': allowed are ${ARCH_NAMES.join(', ')}`);
  }
}

/** buildModel, with an allocation the JavaScript engine refuses reported as a size to reduce. */
export function createModel(config: TrainConfig, inputShape: readonly number[], classes: number, rng: Rng): Model {
  try {
    return buildModel(config, inputShape, classes, rng);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new Error(`the ${config.arch} network's tensors are too large to allocate (${e.message}): choose smaller --hidden, --dim or --batch values`);
  }
}
