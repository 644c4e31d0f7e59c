// A small learnable task for training tests: n standard-normal samples of `shape`, each labelled
// by the arg-max of a fixed random projection (the teacher's seed is fixed, the samples' is not).
import type { Dataset } from '../../src/data/dataset.ts';
import { Rng } from '../../reference/rng.ts';

export function projectionTask(n: number, seed: number, shape: number[], classes = 4): Dataset {
  const dim = shape.reduce((a, b) => a * b, 1);
  const teacher = new Rng(99);
  const proj = Array.from({ length: classes * dim }, () => teacher.normal()); // (classes, dim)
  const rng = new Rng(seed);
  const x = new Float64Array(n * dim).map(() => rng.normal()); // (n, dim)
  const y = new Int32Array(n).map((_, i) => {
    let best = 0, bestScore = -Infinity;
    for (let c = 0; c < classes; c++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += proj[c * dim + k] * x[i * dim + k];
      if (s > bestScore) { bestScore = s; best = c; }
    }
    return best;
  });
  return { name: 'projection-task', x, y, n, shape, classes };
}
