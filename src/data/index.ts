// One entry point for the data sets by name (used by the CLI): trainTest(name, options).
import { loadCifar, type CifarOptions } from './cifar.ts';
import { checkSplits, type Dataset, type LoadOptions, type TrainTest } from './dataset.ts';
import type { TrainConfig } from '../config.ts';
import { classificationTask } from './synthetic.ts';
import { loadFashionMnist } from './fashion.ts';
import { loadMnist } from './mnist.ts';

export type { Batch, Dataset, LoadOptions, NormalizeMode, TrainTest } from './dataset.ts';
export { batchCount, batches, finishTrainTest } from './dataset.ts';

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'cifar100';
export const DATASET_NAMES: readonly DatasetName[] = ['mnist', 'fashion-mnist', 'cifar10', 'cifar100'];

export interface TrainTestOptions extends LoadOptions {
  /** Directory of the files: required for CIFAR; optional override for MNIST/Fashion-MNIST. */
  dir?: string;
  /** CIFAR only. */
  classSubset?: number;
  /** CIFAR only. */
  grayscale?: boolean;
  /** CIFAR-100 only. */
  labels?: CifarOptions['labels'];
}

/** Loads a named data set as {train, test}. */
export function trainTest(name: string, opts: TrainTestOptions = {}): TrainTest {
  switch (name) {
    case 'mnist': return loadMnist(opts);
    case 'fashion-mnist': return loadFashionMnist(opts);
    case 'cifar10':
    case 'cifar100': {
      if (opts.dir === undefined) {
        throw new Error(`data set ${name} needs a directory: pass the extracted ${name === 'cifar10' ? 'cifar-10-batches-bin' : 'cifar-100-binary'} directory (binary version from https://www.cs.toronto.edu/~kriz/cifar.html)`);
      }
      return loadCifar(opts.dir, { ...opts, variant: name });
    }
    default:
      throw new Error(`unknown data set '${name}': allowed are ${DATASET_NAMES.join(', ')}`);
  }
}

/** The synthetic task of `--data synthetic`: Gaussian clusters in 64 dimensions. */
export const SYNTHETIC_TASK = { dim: 64, classes: 10, nTrain: 5000, nTest: 1000 };

/** The fields of a TrainConfig that loadData reads: equal keys mean equal data sets. */
export function dataKey(c: TrainConfig): string {
  return JSON.stringify([c.data, c.dataDir, c.classes, c.grayscale, c.limitTrain, c.limitTest, c.data === 'synthetic' ? c.seed : null]);
}

/**
 * Loads the data set a TrainConfig names (`--data`, `--data-dir`, `--classes`, `--grayscale`,
 * limits), refusing splits no training run can use (checkSplits).
 */
export function loadData(c: TrainConfig): TrainTest {
  const data = loadNamed(c);
  checkSplits(data.train, data.test);
  return data;
}

function loadNamed(c: TrainConfig): TrainTest {
  const limits = { limitTrain: c.limitTrain ?? undefined, limitTest: c.limitTest ?? undefined };
  if (c.data === 'synthetic') {
    const task = classificationTask({
      ...SYNTHETIC_TASK, classes: c.classes ?? SYNTHETIC_TASK.classes,
      nTrain: c.limitTrain ?? SYNTHETIC_TASK.nTrain, nTest: c.limitTest ?? SYNTHETIC_TASK.nTest, seed: c.seed,
    });
    return { train: task.train, test: task.test };
  }
  if (c.data === 'cifar10' || c.data === 'cifar100') {
    if (c.dataDir === null) throw new Error(`--data ${c.data} needs --data-dir DIR pointing to the extracted binary files (no CIFAR ships with ldfa)`);
    return trainTest(c.data, { ...limits, dir: c.dataDir, classSubset: c.classes ?? undefined, grayscale: c.grayscale });
  }
  const data = trainTest(c.data === 'fashion' ? 'fashion-mnist' : c.data, { ...limits, dir: c.dataDir ?? undefined });
  return c.classes === null ? data : { train: keepClasses(data.train, c.classes), test: keepClasses(data.test, c.classes) };
}

/** Only the samples whose label is below C (the first C classes). */
export function keepClasses(d: Dataset, classes: number): Dataset {
  if (!Number.isInteger(classes) || classes < 2 || classes > d.classes) {
    throw new Error(`--classes ${classes} is not allowed for ${d.name}: it must be an integer in [2, ${d.classes}]`);
  }
  const features = d.x.length / d.n;
  const keep: number[] = [];
  for (let i = 0; i < d.n; i++) if (d.y[i] < classes) keep.push(i);
  const x = new Float64Array(keep.length * features);
  keep.forEach((i, j) => x.set(d.x.subarray(i * features, (i + 1) * features), j * features));
  return { ...d, name: `${d.name}-c${classes}`, x, y: Int32Array.from(keep, (i) => d.y[i]), n: keep.length, classes };
}
