// CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) in the "binary version" distributed at
// https://www.cs.toronto.edu/~kriz/cifar.html, from a directory the user points to.
//   CIFAR-10  (cifar-10-batches-bin/): data_batch_1.bin … data_batch_5.bin, test_batch.bin;
//             each record = 1 label byte (0..9) + 3072 pixel bytes (R plane, G plane, B plane,
//             each 32×32 row-major, i.e. CHW).
//   CIFAR-100 (cifar-100-binary/): train.bin, test.bin; each record = coarse label byte (0..19)
//             + fine label byte (0..99) + 3072 pixel bytes (CHW).
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Rng } from '../../reference/rng.ts';
import { finishTrainTest, resolveLimit, type Dataset, type LoadOptions, type TrainTest } from './dataset.ts';

export type CifarVariant = 'cifar10' | 'cifar100';
export const CIFAR_VARIANTS: readonly CifarVariant[] = ['cifar10', 'cifar100'];
export const CIFAR_PIXELS = 3072;
export const CIFAR_SIDE = 32;

export const CIFAR10_CLASSES: readonly string[] = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];

interface VariantInfo {
  title: string;
  labelBytes: number;
  train: string[];
  test: string;
  /** Number of classes for each label kind. */
  classes: { fine: number; coarse: number };
  subdir: string;
}

const VARIANTS: Record<CifarVariant, VariantInfo> = {
  cifar10: {
    title: 'CIFAR-10', labelBytes: 1, subdir: 'cifar-10-batches-bin',
    train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`), test: 'test_batch.bin',
    classes: { fine: 10, coarse: 10 },
  },
  cifar100: {
    title: 'CIFAR-100', labelBytes: 2, subdir: 'cifar-100-binary',
    train: ['train.bin'], test: 'test.bin',
    classes: { fine: 100, coarse: 20 },
  },
};

export interface CifarOptions extends LoadOptions {
  /** 'cifar10' (default) or 'cifar100'. */
  variant?: CifarVariant;
  /** CIFAR-100 only: 'fine' (100 classes, default) or 'coarse' (20 superclasses). */
  labels?: 'fine' | 'coarse';
  /** Keep only samples whose label is < C (the first C classes); `classes` becomes C. */
  classSubset?: number;
  /** Convert to one luminance channel 0.299 R + 0.587 G + 0.114 B (shape [1, 32, 32]). */
  grayscale?: boolean;
}

function variantInfo(v: string | undefined): VariantInfo {
  const key = v ?? 'cifar10';
  if (!(CIFAR_VARIANTS as readonly string[]).includes(key)) {
    throw new Error(`unknown CIFAR variant '${key}': allowed are ${CIFAR_VARIANTS.join(', ')}`);
  }
  return VARIANTS[key as CifarVariant];
}

function downloadHint(info: VariantInfo): string {
  return `download the binary version from https://www.cs.toronto.edu/~kriz/cifar.html, extract it and pass the ${info.subdir} directory`;
}

/** Resolves the directory holding the batch files: `dir` itself, or its standard sub-directory. */
export function resolveCifarDir(dir: string, variant: CifarVariant = 'cifar10'): string {
  const info = variantInfo(variant);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new Error(`${info.title} directory not found: ${dir} (${downloadHint(info)})`);
  }
  if (!existsSync(join(dir, info.test)) && existsSync(join(dir, info.subdir, info.test))) return join(dir, info.subdir);
  return dir;
}

export interface CifarRecords {
  n: number;
  /** (n × 3072) pixel bytes, CHW per record */
  pixels: Uint8Array;
  /** fine labels (CIFAR-10: the only label) */
  fine: Uint8Array;
  /** coarse labels (CIFAR-100; equal to `fine` for CIFAR-10) */
  coarse: Uint8Array;
}

/** Reads one binary batch file, validating its size and label ranges. */
export function readCifarFile(path: string, variant: CifarVariant = 'cifar10'): CifarRecords {
  const info = variantInfo(variant);
  if (!existsSync(path)) {
    throw new Error(`${info.title} file not found: ${path} (a ${info.title} binary directory holds ${[...info.train, info.test].join(', ')}; ${downloadHint(info)})`);
  }
  const raw = readFileSync(path);
  const record = info.labelBytes + CIFAR_PIXELS;
  if (raw.length % record !== 0) {
    const other = variant === 'cifar10' ? VARIANTS.cifar100 : VARIANTS.cifar10;
    const hint = raw.length % (other.labelBytes + CIFAR_PIXELS) === 0 ? `; its size fits ${other.title} records, pick variant '${variant === 'cifar10' ? 'cifar100' : 'cifar10'}'` : '';
    throw new Error(`${info.title} file ${path}: size ${raw.length} bytes is not a multiple of the record size ${record} (${info.labelBytes} label byte${info.labelBytes > 1 ? 's' : ''} + ${CIFAR_PIXELS} pixel bytes): the file is truncated or not in the ${info.title} binary format${hint}`);
  }
  const n = raw.length / record;
  const pixels = new Uint8Array(n * CIFAR_PIXELS);
  const fine = new Uint8Array(n), coarse = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const base = i * record;
    if (info.labelBytes === 1) {
      fine[i] = coarse[i] = raw[base];
    } else {
      coarse[i] = raw[base];
      fine[i] = raw[base + 1];
    }
    if (fine[i] >= info.classes.fine || coarse[i] >= info.classes.coarse) {
      const [kind, v, max] = fine[i] >= info.classes.fine ? ['label', fine[i], info.classes.fine - 1] : ['coarse label', coarse[i], info.classes.coarse - 1];
      throw new Error(`${info.title} file ${path}: ${kind} ${v} in record ${i} is outside the allowed range 0..${max}`);
    }
    pixels.set(raw.subarray(base + info.labelBytes, base + record), i * CIFAR_PIXELS);
  }
  return { n, pixels, fine, coarse };
}

function buildSplit(
  name: string, files: string[], variant: CifarVariant, labelKind: 'fine' | 'coarse',
  classes: number, limit: number | undefined, limitName: string, grayscale: boolean,
): Dataset {
  // Select records (class subset, then the first `limit`) before converting to float.
  const picked: { rec: CifarRecords; i: number }[] = [];
  let cap = Infinity;
  if (limit !== undefined) cap = resolveLimit(limitName, limit, Number.MAX_SAFE_INTEGER);
  for (const file of files) {
    if (picked.length >= cap) break;
    const rec = readCifarFile(file, variant);
    const labels = labelKind === 'fine' ? rec.fine : rec.coarse;
    for (let i = 0; i < rec.n && picked.length < cap; i++) if (labels[i] < classes) picked.push({ rec, i });
  }
  const n = picked.length;
  const channels = grayscale ? 1 : 3;
  const plane = CIFAR_SIDE * CIFAR_SIDE;
  const x = new Float64Array(n * channels * plane);
  const y = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const { rec, i } = picked[r];
    y[r] = (labelKind === 'fine' ? rec.fine : rec.coarse)[i];
    const src = i * CIFAR_PIXELS, dst = r * channels * plane;
    if (grayscale) {
      for (let k = 0; k < plane; k++) {
        x[dst + k] = (0.299 * rec.pixels[src + k] + 0.587 * rec.pixels[src + plane + k] + 0.114 * rec.pixels[src + 2 * plane + k]) / 255;
      }
    } else {
      for (let k = 0; k < CIFAR_PIXELS; k++) x[dst + k] = rec.pixels[src + k] / 255;
    }
  }
  return { name, x, y, n, shape: [channels, CIFAR_SIDE, CIFAR_SIDE], classes };
}

/** Loads CIFAR-10 or CIFAR-100 (binary version) from `dir`; pixels/255, shape [3, 32, 32] (or [1, 32, 32] grayscale). */
export function loadCifar(dir: string, opts: CifarOptions = {}): TrainTest {
  const variant = (opts.variant ?? 'cifar10');
  const info = variantInfo(variant);
  const labelKind = opts.labels ?? 'fine';
  if (labelKind !== 'fine' && labelKind !== 'coarse') throw new Error(`unknown CIFAR label kind '${labelKind as string}': allowed are fine, coarse`);
  if (labelKind === 'coarse' && variant === 'cifar10') throw new Error(`labels 'coarse' is not allowed for CIFAR-10: only CIFAR-100 has coarse labels`);
  const all = info.classes[labelKind];
  let classes = all;
  if (opts.classSubset !== undefined) {
    if (!Number.isInteger(opts.classSubset) || opts.classSubset < 1 || opts.classSubset > all) {
      throw new Error(`classSubset ${opts.classSubset} is not allowed for ${info.title}: it must be an integer in [1, ${all}]`);
    }
    classes = opts.classSubset;
  }
  const root = resolveCifarDir(dir, variant);
  const tag = variant === 'cifar10' ? 'cifar10' : `cifar100-${labelKind}`;
  const gray = opts.grayscale === true;
  const suffix = `${classes < all ? `-c${classes}` : ''}${gray ? '-gray' : ''}`;
  const train = buildSplit(`${tag}-train${suffix}`, info.train.map((f) => join(root, f)), variant, labelKind, classes, opts.limitTrain, 'limitTrain', gray);
  const test = buildSplit(`${tag}-test${suffix}`, [join(root, info.test)], variant, labelKind, classes, opts.limitTest, 'limitTest', gray);
  return finishTrainTest(train, test, { normalize: opts.normalize }, true);
}

/**
 * Writes a small synthetic data set in the CIFAR binary format (for tests and demos):
 * class c images are horizontal sinusoidal stripes of frequency c+1 with a class-dependent
 * colour and phase, plus Gaussian noise (std 12 grey levels). Labels are balanced
 * (i mod classes, shuffled). CIFAR-10: nTrain records split over data_batch_1..5.bin
 * (some may be empty), nTest in test_batch.bin; CIFAR-100: train.bin and test.bin with
 * coarse label = floor(fine / 5).
 */
export function writeCifarLike(dir: string, nTrain: number, nTest: number, rng: Rng, opts: { variant?: CifarVariant } = {}): void {
  const variant = opts.variant ?? 'cifar10';
  const info = variantInfo(variant);
  for (const [what, v] of [['nTrain', nTrain], ['nTest', nTest]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`writeCifarLike: ${what} ${v} is not allowed: it must be a non-negative integer`);
  }
  mkdirSync(dir, { recursive: true });
  const classes = info.classes.fine;
  const record = info.labelBytes + CIFAR_PIXELS;
  const makeRecords = (n: number): Uint8Array => {
    const out = new Uint8Array(n * record);
    const labels = new Int32Array(n);
    const perm = rng.permutation(n);
    for (let i = 0; i < n; i++) labels[perm[i]] = i % classes;
    for (let i = 0; i < n; i++) {
      const c = labels[i], base = i * record;
      if (info.labelBytes === 1) out[base] = c;
      else { out[base] = Math.floor(c / 5); out[base + 1] = c; }
      const freq = (c % 10) + 1;
      for (let ch = 0; ch < 3; ch++) {
        const colour = 60 + 40 * ((c * (ch + 2) + ch) % 4);
        const phase = ((c * 7 + ch * 3) % 8) * (Math.PI / 4);
        for (let row = 0; row < CIFAR_SIDE; row++) {
          const stripe = 55 * Math.sin((2 * Math.PI * freq * row) / CIFAR_SIDE + phase);
          for (let col = 0; col < CIFAR_SIDE; col++) {
            const v = colour + stripe + 12 * rng.normal();
            out[base + info.labelBytes + ch * 1024 + row * CIFAR_SIDE + col] = Math.max(0, Math.min(255, Math.round(v)));
          }
        }
      }
    }
    return out;
  };
  const train = makeRecords(nTrain);
  const files = info.train.length;
  const per = Math.ceil(nTrain / files);
  info.train.forEach((f, k) => {
    const lo = Math.min(nTrain, k * per), hi = Math.min(nTrain, (k + 1) * per);
    writeFileSync(join(dir, f), train.subarray(lo * record, hi * record));
  });
  writeFileSync(join(dir, info.test), makeRecords(nTest));
  if (variant === 'cifar10') writeFileSync(join(dir, 'batches.meta.txt'), CIFAR10_CLASSES.join('\n') + '\n');
}
