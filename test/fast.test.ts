// The float32 training path's own pieces, each recomputed by the float64 reference:
// the native addon's zero-copy sgemm on float32 storage (subarrays, K = 0, bounds) and its
// Adam/AdamW/AMSGrad step against reference/optim.ts over several steps. Skipped, with the
// declared reason, where the native addon is not built or no BLAS library loads.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Optimizer, DEFAULT_OPTIMIZER, type OptimizerConfig } from '../reference/optim.ts';
import { param } from '../reference/params.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { Rng, uniformTensor } from '../reference/rng.ts';
import { clampInPlace, firstNonFinite, tensor } from '../reference/tensor.ts';
import { createNativeBackend, type NativeBlas } from '../src/backends/native.ts';
import { float32Tensor, storeAsFloat32 } from '../src/fast/float32.ts';
import { Float32Adam } from '../src/fast/optim.ts';
import { compareArrays } from './helpers/close.ts';
import { nativeBlasOrSkip } from './helpers/backends.ts';

const blas: NativeBlas | null = nativeBlasOrSkip('fast.test', 'the native tests');
const test = blas !== null ? it : it.skip;

describe('native sgemm on float32 storage', () => {
  test('multiplies float32 tensors in place, all transposed forms, against the float64 reference', () => {
    const be = createNativeBackend();
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 300 }), fc.boolean(), fc.boolean(), fc.nat(1e6),
      (M, N, K, ta, tb, seed) => {
        const rng = new Rng(seed);
        const A = uniformTensor(rng, ta ? [K, M] : [M, K], 1), B = uniformTensor(rng, tb ? [N, K] : [K, N], 1);
        const ref = tensor([M, N]);
        referenceBackend.matmul(ref, A, B, ta, tb);
        const got = float32Tensor([M, N], new Float32Array(M * N).fill(NaN));
        storeAsFloat32(A); storeAsFloat32(B);
        be.matmul(got, A, B, ta, tb);
        const c = compareArrays(`M=${M} N=${N} K=${K} tA=${ta} tB=${tb}`, got.data, ref.data, { atol: 1e-5 * Math.max(1, K), rtol: 1e-5 });
        if (!c.ok) expect.fail(c.message);
      }), { seed: 3, numRuns: 40 });
  });

  test('reads subarrays at their offset and refuses operands shorter than M, N, K require', () => {
    const A = new Float32Array([9, 1, 2, 3, 4]).subarray(1); // (2, 2) = [[1, 2], [3, 4]]
    const B = new Float32Array([1, 0, 0, 1]);
    const C = new Float32Array(4);
    blas!.sgemm(false, false, 2, 2, 2, A, B, C);
    expect(Array.from(C)).toEqual([1, 2, 3, 4]);
    expect(() => blas!.sgemm(false, false, 3, 2, 2, A, B, C)).toThrow('ldfa_blas.sgemm: an operand is shorter than M, N, K and its leading dimension require');
  });
});

describe('native firstNonFinite (the trainer\'s divergence check)', () => {
  test('finds the first NaN or ±Infinity at any position, in and across the 256-value blocks, like the reference', () => {
    for (const n of [0, 1, 255, 256, 257, 1000]) {
      const x = new Float32Array(n).map((_, i) => Math.sin(i) * 1e30);
      expect(blas!.kernels.firstNonFinite(x)).toBe(-1);
      for (const at of [0, n >> 1, n - 1].filter((i) => i >= 0 && i < n)) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const y = Float32Array.from(x);
          y[at] = bad;
          if (at + 3 < n) y[at + 3] = NaN;
          expect(blas!.kernels.firstNonFinite(y)).toBe(at);
          expect(firstNonFinite(float32Tensor([n], y))).toBe(at);
        }
      }
    }
    expect(blas!.kernels.firstNonFinite(new Float32Array([3.4e38, -3.4e38, 1e-45]))).toBe(-1);
  });

  test('arrays of 2¹⁸ values and more are searched in two halves on two threads: the first bad value wins, whichever half it is in', () => {
    const n = 2 ** 18 + 3, half = n >> 1;
    const x = new Float32Array(n).map((_, i) => Math.cos(i));
    expect(blas!.kernels.firstNonFinite(x)).toBe(-1);
    for (const [first, second] of [[5, half + 7], [half - 1, half], [half, n - 1], [half + 9, -1], [n - 1, -1]]) {
      const y = Float32Array.from(x);
      y[first] = NaN;
      if (second >= 0) y[second] = -Infinity;
      expect(blas!.kernels.firstNonFinite(y)).toBe(first);
    }
  });
});

describe('native clamp (the signal and gradient clamps on float32 storage)', () => {
  // the JavaScript loop it replaces, on float32 storage: clampInPlace
  const jsClamp = (x: Float32Array, c: number) => { const t = float32Tensor([x.length], x); clampInPlace(t, c); return t.data as unknown as Float32Array; };
  // the same value at every index, ±0 told apart; a NaN stays a NaN (V8's Math.min returns the CPU's default NaN, whose sign bit differs)
  const sameValues = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

  test('the values of clampInPlace: NaN, ±Infinity, ±0 (told apart), values at and beside ±c, c not a float32 (0.1), 0 and huge; one thread and two (from 2¹⁸ values)', () => {
    const special = [NaN, Infinity, -Infinity, 0, -0, 1e-45, -1e-45, 3.4e38, -3.4e38];
    fc.assert(fc.property(fc.constantFrom(0, 1, 7, 255, 1000, 2 ** 18 - 1, 2 ** 18, 2 ** 18 + 5), fc.constantFrom(0, 1e-30, 0.1, 1, 10, 3.4e38), fc.nat(1e6), (n, c, seed) => {
      const rng = new Rng(seed);
      const cf = Math.fround(c), next = (v: number) => v + Math.abs(v) * 2 ** -23 + 1e-45;
      const x = new Float32Array(n).map(() => {
        const u = rng.uniform();
        if (u < 0.05) return special[Math.floor(rng.uniform() * special.length)];
        if (u < 0.2) return [c, -c, cf, -cf, next(cf), -next(cf)][Math.floor(rng.uniform() * 6)];
        return (rng.uniform() - 0.5) * 4 * (c || 1);
      });
      const want = jsClamp(Float32Array.from(x), c), got = Float32Array.from(x);
      blas!.kernels.clamp(got, c);
      expect(sameValues(got, want)).toBe(true);
    }), { seed: 31, numRuns: 40 });
  });

  test('refuses a c that is not a finite number ≥ 0, and an x that is not a Float32Array', () => {
    for (const c of [NaN, -1, Infinity]) expect(() => blas!.kernels.clamp(new Float32Array(2), c)).toThrow(/clamp: c must be a finite number ≥ 0/);
    expect(() => blas!.kernels.clamp(new Float64Array(2) as unknown as Float32Array, 1)).toThrow(/clamp/);
  });
});

describe('native conv on float32 storage (one batched GEMM, (channels, positions) layout)', () => {
  test('forward, backward-input and backward-filter match the float64 reference: random shapes, k 1–5, stride 1–2, padding 0–2', () => {
    const be = createNativeBackend();
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 5, max: 11 }), fc.integer({ min: 5, max: 11 }), fc.constantFrom(1, 3, 5), fc.constantFrom(1, 2), fc.constantFrom(0, 1, 2), fc.nat(1e6),
      (N, Cin, Cout, H, W, k, stride, padding, seed) => {
        const spec = { stride, padding };
        const rng = new Rng(seed);
        const x = uniformTensor(rng, [N, Cin, H, W], 1), w = uniformTensor(rng, [Cout, Cin, k, k], 1);
        const Ho = Math.floor((H + 2 * padding - k) / stride) + 1, Wo = Math.floor((W + 2 * padding - k) / stride) + 1;
        const dy = uniformTensor(rng, [N, Cout, Ho, Wo], 1);
        const tol = { atol: 1e-5 * Cin * k * k * Math.max(N, Cout), rtol: 1e-5 };
        const refY = tensor(dy.shape), refDx = tensor(x.shape), refDw = tensor(w.shape);
        referenceBackend.conv2dForward(refY, x, w, spec);
        referenceBackend.conv2dBackwardInput(refDx, dy, w, spec);
        referenceBackend.conv2dBackwardFilter(refDw, dy, x, spec);
        for (const t of [x, w, dy]) storeAsFloat32(t);
        const nan = (shape: number[]) => float32Tensor(shape, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(NaN));
        const y = nan(dy.shape), dx = nan(x.shape), dw = nan(w.shape);
        be.conv2dForward(y, x, w, spec);
        be.conv2dBackwardInput(dx, dy, w, spec);
        be.conv2dBackwardFilter(dw, dy, x, spec);
        const what = `N${N} ${Cin}→${Cout} ${H}×${W} k${k} s${stride} p${padding}`;
        for (const [name, got, ref] of [['y', y, refY], ['dx', dx, refDx], ['dw', dw, refDw]] as const) {
          const c = compareArrays(`${what} ${name}`, got.data, ref.data, tol);
          if (!c.ok) expect.fail(c.message);
        }
      }), { seed: 4, numRuns: 40 });
  });
});

describe('native Adam on two threads', () => {
  test('splitting a large update over 2 threads gives the same bytes as 1 thread (elementwise)', () => {
    const n = 300_001, rng = new Rng(8);
    const make = () => Float32Array.from(uniformTensor(rng, [n], 1).data);
    const [w, g, m, v] = [make(), make(), make(), make().map(Math.abs)];
    const run = (threads: number) => {
      const [w1, m1, v1] = [Float32Array.from(w), Float32Array.from(m), Float32Array.from(v)];
      blas!.pinThreads(threads);
      try {
        blas!.adam(w1, g, m1, v1, null, 1e-3, 0.9, 0.999, 1e-8, 1e-4, 0.1, 0.001, true);
      } finally {
        blas!.pinThreads(0);
      }
      return [w1, m1, v1];
    };
    const [one, two] = [run(1), run(2)];
    for (let k = 0; k < 3; k++) expect(Buffer.from(two[k].buffer).equals(Buffer.from(one[k].buffer))).toBe(true);
    expect(one[0]).not.toEqual(w);
  });
});

describe('Float32Adam against reference/optim.ts', () => {
  const configs: [string, Partial<OptimizerConfig>][] = [
    ['adam', { kind: 'adam' }],
    ['adam with L2 weight decay', { kind: 'adam', weightDecay: 0.1 }],
    ['adamw', { kind: 'adamw', weightDecay: 0.1 }],
    ['adam amsgrad', { kind: 'adam', amsgrad: true }],
  ];
  test.each(configs)('%s: five steps with changing gradients and lr, then state() round-trips', (_, partial) => {
    const config: OptimizerConfig = { ...DEFAULT_OPTIMIZER, lr: 0.01, ...partial };
    const rng = new Rng(5);
    const w0 = uniformTensor(rng, [7, 5], 1), b0 = uniformTensor(rng, [5], 1);
    const ref = [param('w', tensor(w0.shape, w0.data)), param('b', tensor(b0.shape, b0.data), false)];
    const fast = [param('w', tensor(w0.shape, w0.data)), param('b', tensor(b0.shape, b0.data), false)];
    for (const p of fast) { storeAsFloat32(p.value); storeAsFloat32(p.grad); }
    const refOpt = new Optimizer(config, ref), fastOpt = new Float32Adam(config, fast, blas!);
    for (let step = 1; step <= 5; step++) {
      for (let i = 0; i < ref.length; i++) {
        const g = uniformTensor(rng, ref[i].value.shape, step); // growing gradients: AMSGrad's max matters
        ref[i].grad.data.set(g.data);
        fast[i].grad.data.set(g.data);
      }
      refOpt.step(0.01 / step);
      fastOpt.step(0.01 / step);
      for (let i = 0; i < ref.length; i++) {
        // each update moves a weight by ≤ lr·(1 + decay); float32 storage rounds |w| ≤ 2 to ~1.2e-7
        const c = compareArrays(`${ref[i].name} after step ${step}`, fast[i].value.data, ref[i].value.data, { atol: 1e-6, rtol: 1e-5 });
        if (!c.ok) expect.fail(c.message);
      }
    }
    const state = fastOpt.state(), refState = refOpt.state();
    expect(state.step).toBe(refState.step);
    expect(Object.keys(state.buffers)).toEqual(Object.keys(refState.buffers));
    const again = new Float32Adam(config, fast, blas!);
    again.restore(state);
    expect(again.state()).toEqual(state);
  });

  test('refuses SGD (the reference optimiser serves it)', () => {
    expect(() => new Float32Adam({ ...DEFAULT_OPTIMIZER, kind: 'sgd' }, [], blas!)).toThrow("Float32Adam: optimiser 'sgd' is not Adam or AdamW");
  });
});
