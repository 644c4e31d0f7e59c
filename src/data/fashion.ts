// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) from Debian's `dataset-fashion-mnist` package,
// which installs gzipped IDX files in /usr/share/datasets/fashion-mnist/.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadOptions, TrainTest } from './dataset.ts';
import { finishTrainTest } from './dataset.ts';
import type { IdxReadOptions } from './idx.ts';
import { loadIdxDataset } from './mnist.ts';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_INSTALL_HINT = 'install the Debian package: apt-get install dataset-fashion-mnist';

export const FASHION_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

export function fashionFiles(split: 'train' | 't10k', dir = FASHION_MNIST_DIR): { images: string; labels: string } {
  return { images: join(dir, `${split}-images-idx3-ubyte.gz`), labels: join(dir, `${split}-labels-idx1-ubyte.gz`) };
}

/** True when all four Fashion-MNIST files are present in `dir`. */
export function fashionMnistAvailable(dir = FASHION_MNIST_DIR): boolean {
  const tr = fashionFiles('train', dir), te = fashionFiles('t10k', dir);
  return [tr.images, tr.labels, te.images, te.labels].every((f) => existsSync(f));
}

/** Fashion-MNIST train (60000) and test (10000), 10 classes, shape [1, 28, 28]. */
export function loadFashionMnist(opts: LoadOptions & { dir?: string } = {}): TrainTest {
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  if (!existsSync(dir)) {
    throw new Error(`Fashion-MNIST directory not found: ${dir} (${FASHION_INSTALL_HINT})`);
  }
  const idxOpts: IdxReadOptions = { source: 'Fashion-MNIST', missingHint: FASHION_INSTALL_HINT };
  const tr = fashionFiles('train', dir), te = fashionFiles('t10k', dir);
  const train = loadIdxDataset('fashion-mnist-train', tr.images, tr.labels, opts.limitTrain, idxOpts, 'limitTrain');
  const test = loadIdxDataset('fashion-mnist-test', te.images, te.labels, opts.limitTest, idxOpts, 'limitTest');
  return finishTrainTest(train, test, { normalize: opts.normalize }, true);
}
