// The common in-memory data set type, train/test assembly (limits, normalisation) and the
// seeded mini-batch iterator. Every loader in src/data/ returns this type.
import type { Rng } from '../../reference/rng.ts';
import { tensor, type Tensor } from '../../reference/tensor.ts';

/**
 * A data set held in memory.
 * - `x`: row-major (n × features), features = product of `shape`; image pixels in [0, 1]
 *   (or standardised, see `NormalizeMode`).
 * - `y`: class labels in [0, classes). For regression sets `classes` is 0, `y` is all zero
 *   and the real-valued targets are in `targets` (n × targetDim, row-major).
 * - `shape`: per-sample shape, e.g. [1, 28, 28] (CHW) or [784] for flat vectors.
 */
export interface Dataset {
  name: string;
  x: Float64Array;
  y: Int32Array;
  n: number;
  shape: number[];
  classes: number;
  targets?: Float64Array;
  targetDim?: number;
  /** Per-channel statistics used for standardisation (computed on the training split). */
  norm?: { mean: number[]; std: number[] };
}

export interface TrainTest { train: Dataset; test: Dataset }

/** 'unit': pixels/255 in [0, 1] (default); 'standardize': then (x − mean_c)/std_c per channel, stats from train. */
export type NormalizeMode = 'unit' | 'standardize';
export const NORMALIZE_MODES: readonly NormalizeMode[] = ['unit', 'standardize'];

export interface LoadOptions {
  /** Keep only the first N training samples. */
  limitTrain?: number;
  /** Keep only the first N test samples. */
  limitTest?: number;
  normalize?: NormalizeMode;
}

export function featureCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Validates a limit option; returns how many samples to keep out of `available`. */
export function resolveLimit(what: string, limit: number | undefined, available: number): number {
  if (limit === undefined) return available;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new Error(`${what} ${limit} is not allowed: it must be a positive integer (at most ${available} samples are available)`);
  }
  return Math.min(limit, available);
}

export function checkNormalize(mode: string | undefined): NormalizeMode {
  if (mode === undefined) return 'unit';
  if (!(NORMALIZE_MODES as readonly string[]).includes(mode)) {
    throw new Error(`unknown normalisation '${mode}': allowed are ${NORMALIZE_MODES.join(', ')}`);
  }
  return mode as NormalizeMode;
}

/** Converts the first `n` records of unsigned bytes (n × features) to a Float64Array in [0, 1]. */
export function bytesToUnit(bytes: Uint8Array, n: number, features: number): Float64Array {
  const out = new Float64Array(n * features);
  for (let i = 0; i < out.length; i++) out[i] = bytes[i] / 255;
  return out;
}

/** Checks the internal consistency of a data set (sizes, label range); throws naming the set. */
export function validateDataset(d: Dataset): void {
  const f = featureCount(d.shape);
  if (d.x.length !== d.n * f) throw new Error(`data set ${d.name}: x holds ${d.x.length} values but n·features = ${d.n}·${f} = ${d.n * f} are required`);
  if (d.y.length !== d.n) throw new Error(`data set ${d.name}: y holds ${d.y.length} labels but n = ${d.n}`);
  if (d.classes > 0) {
    for (let i = 0; i < d.n; i++) {
      if (d.y[i] < 0 || d.y[i] >= d.classes) throw new Error(`data set ${d.name}: label ${d.y[i]} at index ${i} is outside the allowed range 0..${d.classes - 1}`);
    }
  }
  if (d.targets !== undefined) {
    const t = d.targetDim ?? 0;
    if (d.targets.length !== d.n * t) throw new Error(`data set ${d.name}: targets hold ${d.targets.length} values but n·targetDim = ${d.n * t} are required`);
  }
}

/** The first `count` samples of a data set (a copy). */
export function takeFirst(d: Dataset, count: number): Dataset {
  if (count >= d.n) return d;
  const f = featureCount(d.shape);
  const out: Dataset = { ...d, n: count, x: d.x.slice(0, count * f), y: d.y.slice(0, count) };
  if (d.targets !== undefined) out.targets = d.targets.slice(0, count * (d.targetDim ?? 0));
  return out;
}

/**
 * Per-channel mean and standard deviation over all samples and spatial positions.
 * Channel = shape[0] when the per-sample shape is CHW (3 dims); flat data is one channel.
 * A standard deviation below 1e-8 is replaced by 1 (constant channel).
 */
export function channelStats(d: Dataset): { mean: number[]; std: number[] } {
  const channels = d.shape.length === 3 ? d.shape[0] : 1;
  const per = featureCount(d.shape) / channels;
  const mean: number[] = [], std: number[] = [];
  for (let c = 0; c < channels; c++) {
    let s = 0, s2 = 0;
    for (let i = 0; i < d.n; i++) {
      const base = i * channels * per + c * per;
      for (let k = 0; k < per; k++) { const v = d.x[base + k]; s += v; s2 += v * v; }
    }
    const count = d.n * per;
    const m = count > 0 ? s / count : 0;
    const variance = count > 0 ? Math.max(0, s2 / count - m * m) : 0;
    mean.push(m);
    std.push(Math.sqrt(variance) > 1e-8 ? Math.sqrt(variance) : 1);
  }
  return { mean, std };
}

/** In-place (x − mean_c)/std_c with the given per-channel statistics. */
export function applyStandardization(d: Dataset, stats: { mean: number[]; std: number[] }): Dataset {
  const channels = stats.mean.length;
  const per = featureCount(d.shape) / channels;
  for (let i = 0; i < d.n; i++) {
    for (let c = 0; c < channels; c++) {
      const base = (i * channels + c) * per, m = stats.mean[c], s = stats.std[c];
      for (let k = 0; k < per; k++) d.x[base + k] = (d.x[base + k] - m) / s;
    }
  }
  d.norm = { mean: [...stats.mean], std: [...stats.std] };
  return d;
}

/**
 * Applies the common options to a loaded train/test pair: limits (first N) and normalisation.
 * Inputs are expected in [0, 1] already; 'standardize' computes statistics on the (limited) train split.
 * The inputs are not modified unless `ownsData` is true (loaders that just built the arrays pass true
 * to standardise in place and avoid a copy).
 */
export function finishTrainTest(train: Dataset, test: Dataset, opts: LoadOptions = {}, ownsData = false): TrainTest {
  const mode = checkNormalize(opts.normalize);
  const tr = takeFirst(train, resolveLimit('limitTrain', opts.limitTrain, train.n));
  const te = takeFirst(test, resolveLimit('limitTest', opts.limitTest, test.n));
  if (mode === 'standardize') {
    const stats = channelStats(tr);
    // takeFirst may return the original object: copy x before modifying in place.
    const trc = tr === train && !ownsData ? { ...tr, x: tr.x.slice() } : tr;
    const tec = te === test && !ownsData ? { ...te, x: te.x.slice() } : te;
    return { train: applyStandardization(trc, stats), test: applyStandardization(tec, stats) };
  }
  return { train: tr, test: te };
}

/** Refuses splits no training run can use, before it starts: no samples, samples of no values, train and test of different shapes. */
export function checkSplits(train: Dataset, test: Dataset): void {
  for (const d of [train, test]) {
    if (d.n === 0) throw new Error(`data set ${d.name} holds 0 samples: a training run needs at least 1 training and 1 test sample`);
    if (featureCount(d.shape) === 0) throw new Error(`data set ${d.name}: its samples have shape [${d.shape.join(', ')}], which holds no values; every dimension must be at least 1`);
  }
  if (train.shape.join('x') !== test.shape.join('x')) {
    throw new Error(`data sets ${train.name} and ${test.name} differ in sample shape ([${train.shape.join(', ')}] against [${test.shape.join(', ')}]): the test samples must have the training samples' shape`);
  }
}

export interface Batch {
  /** (B, ...shape) */
  x: Tensor;
  /** (B) labels */
  y: Int32Array;
  /** (B) the data-set indices of the rows, in batch order */
  index: Int32Array;
  /** (B, targetDim), present for regression data sets */
  t?: Tensor;
}

/**
 * One epoch of mini-batches in an order drawn with `rng.permutation(n)`; the last partial
 * batch is kept. Pass `rng = null` for the data-set order (evaluation).
 */
export function* batches(d: Dataset, batchSize: number, rng: Rng | null): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batch size ${batchSize} is not allowed: it must be a positive integer`);
  }
  const f = featureCount(d.shape);
  let order: Int32Array;
  if (rng === null) {
    order = new Int32Array(d.n);
    for (let i = 0; i < d.n; i++) order[i] = i;
  } else {
    order = rng.permutation(d.n);
  }
  const td = d.targetDim ?? 0;
  for (let start = 0; start < d.n; start += batchSize) {
    const b = Math.min(batchSize, d.n - start);
    const x = tensor([b, ...d.shape]);
    const y = new Int32Array(b);
    const index = order.slice(start, start + b);
    const t = d.targets !== undefined ? tensor([b, td]) : undefined;
    for (let r = 0; r < b; r++) {
      const i = index[r];
      x.data.set(d.x.subarray(i * f, (i + 1) * f), r * f);
      y[r] = d.y[i];
      if (t !== undefined && d.targets !== undefined) t.data.set(d.targets.subarray(i * td, (i + 1) * td), r * td);
    }
    yield t !== undefined ? { x, y, index, t } : { x, y, index };
  }
}

/** Number of batches `batches(d, batchSize, …)` yields. */
export function batchCount(d: Dataset, batchSize: number): number {
  return Math.ceil(d.n / batchSize);
}
