// One entry point for the data sets by name (used by the CLI): trainTest(name, options).
import { loadCifar, type CifarOptions } from './cifar.ts';
import type { LoadOptions, TrainTest } from './dataset.ts';
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
