// Loads the data set a TrainConfig names.
import type { TrainConfig } from '../config.ts';
import { loadCifar } from './cifar.ts';
import { type Dataset, type TrainTest } from './dataset.ts';
import { loadFashionMnist } from './fashion.ts';
import { loadMnist } from './mnist.ts';
import { classificationTask } from './synthetic.ts';

/** The synthetic task of `--data synthetic`: 10 Gaussian clusters in 64 dimensions. */
export const SYNTHETIC_TASK = { dim: 64, classes: 10, nTrain: 5000, nTest: 1000 };

export function loadData(c: TrainConfig): TrainTest {
  const limits = { limitTrain: c.limitTrain ?? undefined, limitTest: c.limitTest ?? undefined };
  let data: TrainTest;
  switch (c.data) {
    case 'mnist': data = loadMnist(limits); break;
    case 'fashion': data = loadFashionMnist(limits); break;
    case 'synthetic': {
      const task = classificationTask({
        ...SYNTHETIC_TASK, classes: c.classes ?? SYNTHETIC_TASK.classes,
        nTrain: c.limitTrain ?? SYNTHETIC_TASK.nTrain, nTest: c.limitTest ?? SYNTHETIC_TASK.nTest, seed: c.seed,
      });
      return { train: task.train, test: task.test };
    }
    case 'cifar10':
    case 'cifar100':
      if (c.dataDir === null) throw new Error(`--data ${c.data} needs --data-dir DIR pointing to the extracted binary files (no CIFAR ships with ldfa)`);
      return loadCifar(c.dataDir, { ...limits, variant: c.data, classSubset: c.classes ?? undefined });
    default: throw new Error(`unknown data set '${c.data as string}'`);
  }
  return c.classes === null ? data : { train: keepClasses(data.train, c.classes), test: keepClasses(data.test, c.classes) };
}

/** Only the samples whose label is below C (the first C classes). */
export function keepClasses(d: Dataset, classes: number): Dataset {
  if (!Number.isInteger(classes) || classes < 2 || classes > d.classes) {
    throw new Error(`--classes ${classes} is not allowed for ${d.name}: it must be an integer in [2, ${d.classes}]`);
  }
  const features = d.x.length / d.n;
  const keep = Array.from(d.y.keys()).filter((i) => d.y[i] < classes);
  const x = new Float64Array(keep.length * features);
  keep.forEach((i, j) => x.set(d.x.subarray(i * features, (i + 1) * features), j * features));
  return { ...d, name: `${d.name}-c${classes}`, x, y: Int32Array.from(keep, (i) => d.y[i]), n: keep.length, classes };
}
