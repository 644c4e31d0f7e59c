// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) from Debian's `dataset-fashion-mnist` package,
// which installs gzipped IDX files in /usr/share/datasets/fashion-mnist/.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hiddenReason } from '../hide.ts';
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

/**
 * Why Fashion-MNIST cannot be read from `dir` (the message loadFashionMnist throws), or null
 * when all four files are there. LDFA_HIDE=fashion hides the Debian package's directory.
 */
export function fashionMnistMissing(dir = FASHION_MNIST_DIR): string | null {
  const hidden = dir === FASHION_MNIST_DIR ? hiddenReason('fashion') : null;
  if (hidden !== null) return `Fashion-MNIST directory ${dir} is ${hidden} (without it: ${FASHION_INSTALL_HINT})`;
  if (!existsSync(dir)) return `Fashion-MNIST directory not found: ${dir} (${FASHION_INSTALL_HINT})`;
  const tr = fashionFiles('train', dir), te = fashionFiles('t10k', dir);
  const absent = [tr.images, tr.labels, te.images, te.labels].find((f) => !existsSync(f));
  return absent === undefined ? null : `Fashion-MNIST file not found: ${absent} (${FASHION_INSTALL_HINT})`;
}

/** True when all four Fashion-MNIST files are present in `dir` (and not hidden). */
export function fashionMnistAvailable(dir = FASHION_MNIST_DIR): boolean {
  return fashionMnistMissing(dir) === null;
}

/** Fashion-MNIST train (60000) and test (10000), 10 classes, shape [1, 28, 28]. */
export function loadFashionMnist(opts: LoadOptions & { dir?: string } = {}): TrainTest {
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const missing = fashionMnistMissing(dir);
  if (missing !== null) throw new Error(missing);
  const idxOpts: IdxReadOptions = { source: 'Fashion-MNIST', missingHint: FASHION_INSTALL_HINT };
  const tr = fashionFiles('train', dir), te = fashionFiles('t10k', dir);
  const train = loadIdxDataset('fashion-mnist-train', tr.images, tr.labels, opts.limitTrain, idxOpts, 'limitTrain');
  const test = loadIdxDataset('fashion-mnist-test', te.images, te.labels, opts.limitTest, idxOpts, 'limitTest');
  return finishTrainTest(train, test, { normalize: opts.normalize }, true);
}
