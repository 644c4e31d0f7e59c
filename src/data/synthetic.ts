// Synthetic tasks with known structure, deterministic for a seed.
// (a) Linear teacher of rank d: y = W* x + ε, W* = U diag(s) Vᵀ with U (n_out × d) and
//     V (n_in × d) having orthonormal columns, x ~ N(0, I_{n_in}), ε ~ N(0, σ² I).
// (b) C-class classification: Gaussian clusters (x = μ_c + σ·N(0, I)) or the argmax of a random
//     one-hidden-layer tanh teacher network; classes are exactly balanced (counts differ by ≤ 1).
import { orthonormalBasis } from '../../reference/linalg.ts';
import { Rng, normalTensor } from '../../reference/rng.ts';
import { tensor, type Tensor } from '../../reference/tensor.ts';
import type { Dataset, TrainTest } from './dataset.ts';

function checkInt(what: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new Error(`${what} ${v} is not allowed: it must be an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}]`);
  }
}

function checkNonNegative(what: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) throw new Error(`${what} ${v} is not allowed: it must be a finite number ≥ 0`);
}

/** A (rows × cols) matrix with orthonormal columns: Gaussian entries, orthonormalised. Requires cols ≤ rows. */
export function randomOrthonormal(rng: Rng, rows: number, cols: number): Tensor {
  if (cols > rows) throw new Error(`randomOrthonormal: ${cols} orthonormal columns do not fit in dimension ${rows}: cols must be ≤ rows`);
  const q = orthonormalBasis(normalTensor(rng, [rows, cols], 1));
  if (q.shape[1] < cols) throw new Error('randomOrthonormal: degenerate Gaussian draw (probability zero); try another seed');
  return q;
}

export interface LinearTeacherOptions {
  nIn: number;
  nOut: number;
  /** Rank of W*: an integer in [1, min(nIn, nOut)]. */
  d: number;
  /** Singular values: a list of d positive values, or s_i = s1 · decay^i (i = 0..d−1; defaults s1 = 1, decay = 1). */
  spectrum?: number[] | { s1?: number; decay?: number };
  /** Standard deviation of the additive Gaussian target noise (default 0). */
  noiseStd?: number;
  nTrain: number;
  /** Default 0 (an empty test split). */
  nTest?: number;
  seed: number;
}

export interface LinearTeacher extends TrainTest {
  /** (nOut, nIn) = U diag(s) Vᵀ */
  W: Tensor;
  /** (nOut, d), orthonormal columns */
  U: Tensor;
  /** (d) singular values */
  s: Float64Array;
  /** (nIn, d), orthonormal columns */
  V: Tensor;
}

export function teacherSpectrum(d: number, spectrum: LinearTeacherOptions['spectrum']): Float64Array {
  const s = new Float64Array(d);
  if (Array.isArray(spectrum)) {
    if (spectrum.length !== d) throw new Error(`spectrum has ${spectrum.length} singular values but rank d = ${d}: exactly d values are required`);
    spectrum.forEach((v, i) => {
      if (!Number.isFinite(v) || v <= 0) throw new Error(`singular value s_${i} = ${v} is not allowed: singular values must be finite and > 0 (rank is exactly d)`);
      s[i] = v;
    });
    return s;
  }
  const s1 = spectrum?.s1 ?? 1, decay = spectrum?.decay ?? 1;
  if (!Number.isFinite(s1) || s1 <= 0) throw new Error(`spectrum s1 ${s1} is not allowed: it must be finite and > 0`);
  if (!Number.isFinite(decay) || decay <= 0 || decay > 1) throw new Error(`spectrum decay ${decay} is not allowed: it must be in (0, 1]`);
  for (let i = 0; i < d; i++) s[i] = s1 * decay ** i;
  for (let i = 0; i < d; i++) {
    if (!(s[i] > 0)) throw new Error(`singular value s_${i} = s1·decay^${i} underflows to ${s[i]}: use a larger decay or smaller d`);
  }
  return s;
}

/** Linear regression teacher of exact rank d; the Dataset has classes 0 and targets (n × nOut). */
export function linearTeacher(opts: LinearTeacherOptions): LinearTeacher {
  const { nIn, nOut, d, seed } = opts;
  checkInt('nIn', nIn, 1);
  checkInt('nOut', nOut, 1);
  checkInt(`rank d`, d, 1, Math.min(nIn, nOut));
  checkInt('nTrain', opts.nTrain, 0);
  const nTest = opts.nTest ?? 0;
  checkInt('nTest', nTest, 0);
  const noise = opts.noiseStd ?? 0;
  checkNonNegative('noiseStd', noise);
  const s = teacherSpectrum(d, opts.spectrum);
  const root = new Rng(seed);
  const rngW = root.fork(), rngTrain = root.fork(), rngTest = root.fork();
  const U = randomOrthonormal(rngW, nOut, d);
  const V = randomOrthonormal(rngW, nIn, d);
  const W = tensor([nOut, nIn]);
  for (let o = 0; o < nOut; o++) {
    for (let i = 0; i < nIn; i++) {
      let acc = 0;
      for (let k = 0; k < d; k++) acc += U.data[o * d + k] * s[k] * V.data[i * d + k];
      W.data[o * nIn + i] = acc;
    }
  }
  const make = (name: string, n: number, rng: Rng): Dataset => {
    const x = new Float64Array(n * nIn);
    for (let i = 0; i < x.length; i++) x[i] = rng.normal();
    const targets = new Float64Array(n * nOut);
    for (let r = 0; r < n; r++) {
      for (let o = 0; o < nOut; o++) {
        let acc = 0;
        for (let i = 0; i < nIn; i++) acc += W.data[o * nIn + i] * x[r * nIn + i];
        targets[r * nOut + o] = acc;
      }
    }
    if (noise > 0) for (let i = 0; i < targets.length; i++) targets[i] += noise * rng.normal();
    return { name, x, y: new Int32Array(n), n, shape: [nIn], classes: 0, targets, targetDim: nOut };
  };
  const tag = `linear-teacher-${nIn}x${nOut}-rank${d}`;
  return { train: make(`${tag}-train`, opts.nTrain, rngTrain), test: make(`${tag}-test`, nTest, rngTest), W, U, s, V };
}

export type ClassificationKind = 'clusters' | 'teacher';
export const CLASSIFICATION_KINDS: readonly ClassificationKind[] = ['clusters', 'teacher'];

export interface ClassificationOptions {
  /** 'clusters' (default): Gaussian clusters; 'teacher': argmax of a random tanh network. */
  kind?: ClassificationKind;
  dim: number;
  classes: number;
  nTrain: number;
  /** Default 0. */
  nTest?: number;
  seed: number;
  /** clusters: ‖μ_c‖ (default 3); class means point in random directions. */
  separation?: number;
  /** clusters: within-class standard deviation (default 1). */
  noiseStd?: number;
  /** teacher: hidden width (default max(4·classes, min(2·dim, 64))). */
  hidden?: number;
}

export interface ClassificationTask extends TrainTest {
  /** clusters: (classes, dim) class means */
  means?: Tensor;
  /**
   * teacher: logits = W2 · tanh(W1 x + b1) + b2 with W1 (hidden, dim), b1 (hidden), W2 (classes, hidden);
   * b2 (classes) are balancing offsets fitted so that every class wins about 1/C of the inputs.
   */
  teacher?: { W1: Tensor; b1: Float64Array; W2: Tensor; b2: Float64Array };
}

/** Per-class quota for n samples over C classes: floor(n/C), the first n mod C classes get one more. */
export function balancedQuota(n: number, classes: number): Int32Array {
  const q = new Int32Array(classes);
  for (let c = 0; c < classes; c++) q[c] = Math.floor(n / classes) + (c < n % classes ? 1 : 0);
  return q;
}

/** C-class classification data with balanced classes, shape [dim]. */
export function classificationTask(opts: ClassificationOptions): ClassificationTask {
  const kind = opts.kind ?? 'clusters';
  if (!(CLASSIFICATION_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`unknown classification task kind '${kind as string}': allowed are ${CLASSIFICATION_KINDS.join(', ')}`);
  }
  const { dim, classes, seed } = opts;
  checkInt('dim', dim, 1);
  checkInt('classes', classes, 2);
  checkInt('nTrain', opts.nTrain, 0);
  const nTest = opts.nTest ?? 0;
  checkInt('nTest', nTest, 0);
  const root = new Rng(seed);
  const rngModel = root.fork(), rngTrain = root.fork(), rngTest = root.fork();
  const tag = `${kind}-${classes}c-${dim}d`;

  if (kind === 'clusters') {
    const sep = opts.separation ?? 3, sd = opts.noiseStd ?? 1;
    checkNonNegative('separation', sep);
    checkNonNegative('noiseStd', sd);
    const means = tensor([classes, dim]);
    for (let c = 0; c < classes; c++) {
      let norm = 0;
      for (let k = 0; k < dim; k++) { const v = rngModel.normal(); means.data[c * dim + k] = v; norm += v * v; }
      norm = Math.sqrt(norm);
      for (let k = 0; k < dim; k++) means.data[c * dim + k] *= sep / norm;
    }
    const make = (name: string, n: number, rng: Rng): Dataset => {
      const perm = rng.permutation(n);
      const y = new Int32Array(n);
      for (let i = 0; i < n; i++) y[perm[i]] = i % classes;
      const x = new Float64Array(n * dim);
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < dim; k++) x[i * dim + k] = means.data[y[i] * dim + k] + sd * rng.normal();
      }
      return { name, x, y, n, shape: [dim], classes };
    };
    return { train: make(`${tag}-train`, opts.nTrain, rngTrain), test: make(`${tag}-test`, nTest, rngTest), means };
  }

  const hidden = opts.hidden ?? Math.max(4 * classes, Math.min(2 * dim, 64));
  checkInt('hidden', hidden, 1);
  const W1 = tensor([hidden, dim]), W2 = tensor([classes, hidden]), b1 = new Float64Array(hidden);
  for (let i = 0; i < W1.data.length; i++) W1.data[i] = rngModel.normal() * Math.sqrt(2 / dim);
  for (let i = 0; i < hidden; i++) b1[i] = rngModel.normal();
  for (let i = 0; i < W2.data.length; i++) W2.data[i] = rngModel.normal() / Math.sqrt(hidden);
  const h = new Float64Array(hidden);
  const logits = (x: Float64Array, off: number, out: Float64Array): void => {
    for (let j = 0; j < hidden; j++) {
      let acc = b1[j];
      for (let k = 0; k < dim; k++) acc += W1.data[j * dim + k] * x[off + k];
      h[j] = Math.tanh(acc);
    }
    for (let c = 0; c < classes; c++) {
      let acc = 0;
      for (let j = 0; j < hidden; j++) acc += W2.data[c * hidden + j] * h[j];
      out[c] = acc;
    }
  };
  const argmax = (z: Float64Array, off: number, b: Float64Array): number => {
    let best = 0, bestV = z[off] + b[0];
    for (let c = 1; c < classes; c++) { const v = z[off + c] + b[c]; if (v > bestV) { bestV = v; best = c; } }
    return best;
  };
  // Balancing offsets b2: minimise the convex function F(b) = mean_i max_c (z_ic + b_c) − (1/C) Σ_c b_c
  // over a pool of inputs (its subgradient is p_c(b) − 1/C, p_c = the share of the pool class c wins)
  // by subgradient descent with a decaying step, keeping the best iterate. At the optimum every
  // class wins about 1/C of the inputs, so rejection sampling to exact quotas is fast.
  const poolN = 250 * classes;
  const pool = new Float64Array(poolN * dim);
  for (let i = 0; i < pool.length; i++) pool[i] = rngModel.normal();
  const poolLogits = new Float64Array(poolN * classes);
  const z = new Float64Array(classes);
  for (let i = 0; i < poolN; i++) { logits(pool, i * dim, z); poolLogits.set(z, i * classes); }
  let scale = 0;
  for (const v of poolLogits) scale += Math.abs(v);
  scale = scale / poolLogits.length || 1;
  const b = new Float64Array(classes), b2 = new Float64Array(classes);
  const counts = new Float64Array(classes);
  let bestErr = Infinity;
  for (let step = 0; step < 400; step++) {
    counts.fill(0);
    for (let i = 0; i < poolN; i++) counts[argmax(poolLogits, i * classes, b)]++;
    let err = 0;
    for (let c = 0; c < classes; c++) err = Math.max(err, Math.abs(counts[c] / poolN - 1 / classes));
    if (err < bestErr) { bestErr = err; b2.set(b); }
    if (err * classes < 0.05) break;
    const eta = scale / Math.sqrt(step + 1);
    for (let c = 0; c < classes; c++) b[c] -= eta * (counts[c] / poolN - 1 / classes);
  }
  const make = (name: string, n: number, rng: Rng): Dataset => {
    const quota = balancedQuota(n, classes);
    const x = new Float64Array(n * dim), y = new Int32Array(n);
    const cand = new Float64Array(dim);
    const maxTries = 200 * classes * Math.max(n, 1) + 10000;
    let filled = 0;
    for (let tries = 0; filled < n; tries++) {
      if (tries > maxTries) {
        const missing = [...quota].map((q, c) => (q > 0 ? c : -1)).filter((c) => c >= 0);
        throw new Error(`classificationTask (teacher, seed ${seed}): could not fill a balanced split: classes ${missing.join(', ')} still lack samples after ${maxTries} draws; try another seed, more hidden units or a larger dim`);
      }
      for (let k = 0; k < dim; k++) cand[k] = rng.normal();
      logits(cand, 0, z);
      const c = argmax(z, 0, b2);
      if (quota[c] === 0) continue;
      quota[c]--;
      x.set(cand, filled * dim);
      y[filled++] = c;
    }
    return { name, x, y, n, shape: [dim], classes };
  };
  return {
    train: make(`${tag}-train`, opts.nTrain, rngTrain), test: make(`${tag}-test`, nTest, rngTest),
    teacher: { W1, b1, W2, b2 },
  };
}
