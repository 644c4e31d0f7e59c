// Builds the model named by --arch for a data set's input shape and class count.
import { buildCnn } from '../reference/models/cnn.ts';
import { buildLinearNet, buildMlp } from '../reference/models/mlp.ts';
import { buildRetina } from '../reference/models/retina.ts';
import { buildVit } from '../reference/models/vit.ts';
import type { Model } from '../reference/models/network.ts';
import { totalmem } from 'node:os';
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

/**
 * Refuses, before any allocation, a linear net or MLP whose weights would not fit in this
 * machine's memory: each parameter is held about six times in float64 (value, gradient, two or
 * three optimiser moments, a weight-shaped feedback matrix). Other architectures' sizes grow
 * with channels and patches, not with a width squared; an allocation they cannot make is
 * reported by createModel.
 */
export function checkModelFits(config: TrainConfig, inputShape: readonly number[], classes: number): void {
  if (config.arch !== 'linear' && config.arch !== 'mlp') return;
  const widths = [inputShape.reduce((a, b) => a * b, 1), ...config.hidden, classes];
  const parameters = widths.slice(1).reduce((sum, w, i) => sum + widths[i] * w + w, 0);
  const bytes = parameters * 8 * 6;
  if (bytes > totalmem()) {
    throw new Error(`--hidden ${config.hidden.join(',')} makes a network of ${parameters.toExponential(2)} parameters, about ${(bytes / 2 ** 30).toFixed(0)} GiB to train, `
      + `more than this machine's ${(totalmem() / 2 ** 30).toFixed(0)} GiB of memory: choose smaller widths`);
  }
}

/** buildModel, with an allocation the JavaScript engine refuses reported as a size to reduce. */
export function createModel(config: TrainConfig, inputShape: readonly number[], classes: number, rng: Rng): Model {
  checkModelFits(config, inputShape, classes);
  try {
    return buildModel(config, inputShape, classes, rng);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new Error(`the ${config.arch} network's tensors are too large to allocate (${e.message}): choose smaller --hidden, --dim or --batch values`);
  }
}
