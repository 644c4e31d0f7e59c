// Builds the model named by --arch for a data set's input shape and class count.
import { buildLinearNet, buildMlp } from '../reference/models/mlp.ts';
import type { Model } from '../reference/models/network.ts';
import type { Rng } from '../reference/rng.ts';
import type { TrainConfig } from './config.ts';

export function buildModel(config: TrainConfig, inputShape: readonly number[], classes: number, rng: Rng): Model {
  const inputSize = inputShape.reduce((a, b) => a * b, 1);
  switch (config.arch) {
    case 'linear':
      return buildLinearNet({ inputSize, inputShape, hidden: config.hidden, outputSize: classes, init: config.init }, rng);
    case 'mlp':
      return buildMlp({ inputSize, inputShape, hidden: config.hidden, outputSize: classes, activation: config.activation, bias: true, init: config.init }, rng);
    default:
      throw new Error(`--arch ${config.arch} is not available in this build: allowed are linear, mlp`);
  }
}
