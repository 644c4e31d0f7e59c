// One suite, written once, run against every backend (describe.each), each op compared
// with the float64 reference kernels over seeded random shapes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withBackend, type Backend, type Conv2dSpec } from '../reference/backend.ts';
import { throughLowRank, throughMatrix, type Feedback } from '../reference/feedback.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { linearBackward, linearForward } from '../reference/layers/linear.ts';
import { Rng, uniformTensor } from '../reference/rng.ts';
import { fill, tensor, type Tensor } from '../reference/tensor.ts';
import { createGpujsBackend } from '../src/backends/gpujs.ts';
import { BACKEND_NAMES, createBackend, selectAuto } from '../src/backends/registry.ts';
import { createWasmBackend } from '../src/backends/wasm.ts';
import { createTestBackends } from './helpers/backends.ts';
import { compareArrays, type Tolerance } from './helpers/close.ts';

// ---- which backends, and the declared skip list (shared with backends-step.test.ts) ----

const created = await createTestBackends('backends.test');

// ---- tolerance ----

const U = 2 ** -24; // float32 unit roundoff
/**
 * Float32 tolerance for a K-term dot product with |a| ≤ maxA, |b| ≤ maxB. Inputs are
 * rounded to float32 (relative error u each) and the sum is accumulated in float32. With
 * random signs the partial sums grow like √K·maxA·maxB and the K rounding errors (each
 * ≤ u·|partial sum|) add like a random walk, √K of them: error ≈ u·√K·√K·maxA·maxB.
 * atol is 8× that (slack for blocked/SIMD summation orders); rtol 1e-5 (≈ 170u) covers
 * large results. A dropped or duplicated term (≈ maxA·maxB/4 on average) is far outside
 * this even at K = 1100 (8u·K ≈ 5e-4), and a reference-exact backend passes trivially.
 */
function f32Tol(K: number, maxA: number, maxB: number): Tolerance {
  return { atol: 8 * U * Math.sqrt(K) * Math.sqrt(K) * maxA * maxB + 1e-12, rtol: 1e-5 };
}

const maxAbs = (t: Tensor) => t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

function expectMatch(name: string, got: Tensor, ref: Tensor, tol: Tolerance): void {
  const r = compareArrays(name, got.data, ref.data, tol);
  if (!r.ok) expect.fail(r.message);
}

// ---- the suite ----

const FC = (seed: number, numRuns: number) => ({ seed, numRuns, endOnFailure: true });
const KERNELS = [1, 3, 5] as const, STRIDES = [1, 2] as const, PADS = [0, 1, 2] as const;

describe.each(created)('backend $row.name', ({ row, backend, skip }) => {
  const test = skip === null ? it : it.skip;
  const be = () => backend as Backend;

  test('kernelInfo() names the kernel that really runs', () => {
    expect(be().kernelInfo()).toMatch(row.kernel);
    expect(be().name).toBe(row.name);
  });

  test('matmul, all transposed forms, random shapes (not tile multiples) and K = 1100 > 1000', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 37 }),
      fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constant(1100)),
      fc.boolean(), fc.boolean(), fc.nat(1e6),
      (M, N, K, ta, tb, seed) => {
        const rng = new Rng(seed);
        const A = uniformTensor(rng, ta ? [K, M] : [M, K], 1);
        const B = uniformTensor(rng, tb ? [N, K] : [K, N], 2);
        const got = fill(tensor([M, N]), NaN), ref = tensor([M, N]);
        be().matmul(got, A, B, ta, tb);
        referenceBackend.matmul(ref, A, B, ta, tb);
        expectMatch(`matmul M=${M} N=${N} K=${K} tA=${ta} tB=${tb}`, got, ref, f32Tol(K, maxAbs(A), maxAbs(B)));
      }), FC(1, 10));
    // the long reduction explicitly, in every transposed form
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const rng = new Rng(7), M = 9, N = 13, K = 1100;
      const A = uniformTensor(rng, ta ? [K, M] : [M, K], 1), B = uniformTensor(rng, tb ? [N, K] : [K, N], 1);
      const got = tensor([M, N]), ref = tensor([M, N]);
      be().matmul(got, A, B, ta, tb);
      referenceBackend.matmul(ref, A, B, ta, tb);
      expectMatch(`matmul K=1100 tA=${ta} tB=${tb}`, got, ref, f32Tol(K, 1, 1));
    }
    // thin products at a training step's sizes (a rank-10 feedback, a 10-class layer) and around
    // 32, in every transposed form
    for (const [M, N, K] of [[128, 1030, 10], [128, 10, 1030], [10, 1030, 128], [130, 32, 67], [33, 130, 67], [130, 70, 33]]) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const rng = new Rng(M + N + K);
        const A = uniformTensor(rng, ta ? [K, M] : [M, K], 1), B = uniformTensor(rng, tb ? [N, K] : [K, N], 1);
        const got = fill(tensor([M, N]), NaN), ref = tensor([M, N]);
        be().matmul(got, A, B, ta, tb);
        referenceBackend.matmul(ref, A, B, ta, tb);
        expectMatch(`matmul M=${M} N=${N} K=${K} tA=${ta} tB=${tb}`, got, ref, f32Tol(K, 1, 1));
      }
    }
  });

  test('matmul on slices of a batch (non-zero offsets) leaves the other slices alone', () => {
    const rng = new Rng(3);
    const A = uniformTensor(rng, [3, 5, 6], 1), B = uniformTensor(rng, [3, 6, 4], 1);
    const got = fill(tensor([3, 5, 4]), 7), ref = fill(tensor([3, 5, 4]), 7);
    const slice = (t: Tensor, i: number) => t.pick(i, null, null) as Tensor;
    be().matmul(slice(got, 1), slice(A, 1), slice(B, 1));
    referenceBackend.matmul(slice(ref, 1), slice(A, 1), slice(B, 1));
    expectMatch('matmul on slice 1', got, ref, f32Tol(6, 1, 1));
  });

  test('batchMatmul, batch 1..4, all transposed forms', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 19 }), fc.integer({ min: 1, max: 19 }),
      fc.integer({ min: 1, max: 33 }), fc.boolean(), fc.boolean(), fc.nat(1e6),
      (batch, M, N, K, ta, tb, seed) => {
        const rng = new Rng(seed);
        const A = uniformTensor(rng, ta ? [batch, K, M] : [batch, M, K], 1);
        const B = uniformTensor(rng, tb ? [batch, N, K] : [batch, K, N], 1);
        const got = fill(tensor([batch, M, N]), NaN), ref = tensor([batch, M, N]);
        be().batchMatmul(got, A, B, ta, tb);
        referenceBackend.batchMatmul(ref, A, B, ta, tb);
        expectMatch(`batchMatmul b=${batch} M=${M} N=${N} K=${K} tA=${ta} tB=${tb}`, got, ref, f32Tol(K, 1, 1));
      }), FC(2, 8));
  });

  /** Forward, backward-input and backward-filter of one conv configuration against the reference. */
  function checkConv(N: number, Cin: number, Cout: number, H: number, W: number, k: number, spec: Conv2dSpec, seed: number): void {
    const rng = new Rng(seed);
    const Ho = Math.floor((H + 2 * spec.padding - k) / spec.stride) + 1;
    const Wo = Math.floor((W + 2 * spec.padding - k) / spec.stride) + 1;
    const x = uniformTensor(rng, [N, Cin, H, W], 1), w = uniformTensor(rng, [Cout, Cin, k, k], 1);
    const dy = uniformTensor(rng, [N, Cout, Ho, Wo], 1);
    const what = `N=${N} Cin=${Cin} Cout=${Cout} ${H}×${W} k=${k} s=${spec.stride} p=${spec.padding}`;
    const y = fill(tensor(dy.shape), NaN), yRef = tensor(dy.shape);
    be().conv2dForward(y, x, w, spec);
    referenceBackend.conv2dForward(yRef, x, w, spec);
    expectMatch(`conv2dForward ${what}`, y, yRef, f32Tol(Cin * k * k, 1, 1));
    const dx = fill(tensor(x.shape), NaN), dxRef = tensor(x.shape);
    be().conv2dBackwardInput(dx, dy, w, spec);
    referenceBackend.conv2dBackwardInput(dxRef, dy, w, spec);
    expectMatch(`conv2dBackwardInput ${what}`, dx, dxRef, f32Tol(Cout * k * k, 1, 1));
    const dw = fill(tensor(w.shape), NaN), dwRef = tensor(w.shape);
    be().conv2dBackwardFilter(dw, dy, x, spec);
    referenceBackend.conv2dBackwardFilter(dwRef, dy, x, spec);
    expectMatch(`conv2dBackwardFilter ${what}`, dw, dwRef, f32Tol(N * Ho * Wo, 1, 1));
  }

  test('conv2d forward / backward-input / backward-filter: every kernel 1/3/5 × stride 1/2 × padding 0/1/2', () => {
    let seed = 100;
    for (const k of KERNELS) for (const stride of STRIDES) for (const padding of PADS) {
      const H = k + 2 + (seed % 4), W = k + 1 + (seed % 3); // odd/even sizes, never tile multiples
      checkConv(seed % 2 === 0 ? 1 : 2, 3, 4, H, W, k, { stride, padding }, seed++);
    }
  });

  test('conv2d over random shapes (batch 1 included)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 11 }),
      fc.constantFrom(...KERNELS), fc.constantFrom(...STRIDES), fc.constantFrom(...PADS), fc.nat(1e6),
      (N, Cin, Cout, H, W, k, stride, padding, seed) => {
        fc.pre(H + 2 * padding >= k && W + 2 * padding >= k);
        checkConv(N, Cin, Cout, H, W, k, { stride, padding }, seed);
      }), FC(3, 8));
  });

  test('conv2d backward-filter with a long reduction (N·Ho·Wo = 2·24·24 = 1152 > 1000)', () => {
    checkConv(2, 2, 3, 24, 24, 3, { stride: 1, padding: 1 }, 11);
  });

  // gpu.js silently cuts a loop whose bound is a kernel argument at loopMaxIterations (1000
  // by default, in every mode); our kernels use constant bounds and set it per kernel. Every
  // op gets one loop of 1100 iterations here (tiny tensors), so a kernel that regresses shows.
  test('every op with one loop longer than 1000: batchMatmul K, conv forward Cin, backward-input Cout, backward-filter N', () => {
    const rng = new Rng(13), L = 1100;
    for (const [ta, tb] of [[false, false], [true, true]] as const) {
      const A = uniformTensor(rng, ta ? [2, L, 3] : [2, 3, L], 1), B = uniformTensor(rng, tb ? [2, 2, L] : [2, L, 2], 1);
      const got = fill(tensor([2, 3, 2]), NaN), ref = tensor([2, 3, 2]);
      be().batchMatmul(got, A, B, ta, tb);
      referenceBackend.batchMatmul(ref, A, B, ta, tb);
      expectMatch(`batchMatmul K=${L} tA=${ta} tB=${tb}`, got, ref, f32Tol(L, 1, 1));
    }
    checkConv(1, L, 2, 2, 2, 1, { stride: 1, padding: 0 }, 14); // forward sums over Cin = 1100
    checkConv(1, 2, L, 2, 2, 1, { stride: 1, padding: 0 }, 15); // backward-input sums over Cout = 1100
    checkConv(L, 1, 2, 1, 1, 1, { stride: 1, padding: 0 }, 16); // backward-filter sums over N = 1100
  });

  test('linear layer forward + backward under BP (throughMatrix(W)) and LDFA (throughLowRank(P, Q)) matches the reference', () => {
    const rng = new Rng(42);
    const N = 7, inDim = 33, outDim = 19, r = 5;
    const x = uniformTensor(rng, [N, inDim], 1), W = uniformTensor(rng, [outDim, inDim], 1 / Math.sqrt(inDim));
    const b = uniformTensor(rng, [outDim], 0.1), dy = uniformTensor(rng, [N, outDim], 1);
    const P = uniformTensor(rng, [outDim, r], 1 / Math.sqrt(outDim)), Q = uniformTensor(rng, [r, inDim], 1 / Math.sqrt(r));
    const run = (backend: Backend, feedback: () => Feedback) => withBackend(backend, () => {
      const y = tensor([N, outDim]), dx = tensor([N, inDim]), dW = tensor([outDim, inDim]), db = tensor([outDim]);
      linearForward(y, x, W, b);
      linearBackward(dx, dW, db, dy, x, feedback());
      return { y, dx, dW, db };
    });
    for (const [rule, feedback, dxTol] of [
      ['BP', () => throughMatrix(W), f32Tol(outDim, 1, maxAbs(W))],
      // two chained products: z = dy·P (K = out), dx = z·Q (K = r); bound the chain by K = out·r
      ['LDFA', () => throughLowRank(P, Q), f32Tol(outDim * r, 1, maxAbs(P) * maxAbs(Q))],
    ] as const) {
      const got = run(be(), feedback), ref = run(referenceBackend, feedback);
      expectMatch(`${rule} y`, got.y, ref.y, f32Tol(inDim, 1, maxAbs(W)));
      expectMatch(`${rule} dx`, got.dx, ref.dx, dxTol);
      expectMatch(`${rule} dW`, got.dW, ref.dW, f32Tol(N, 1, 1));
      expectMatch(`${rule} db`, got.db, ref.db, { atol: 1e-12, rtol: 1e-12 }); // db is a plain float64 loop
    }
  });

  test('shape errors name the operand and the required shape', () => {
    expect(() => be().matmul(tensor([2, 3]), tensor([2, 4]), tensor([5, 3]))).toThrow(/matmul B.*\[5, 3\].*\[4, 3\]/);
  });
});

// ---- backend-specific checks ----

describe('wasm backend', () => {
  it('holds no extra tfjs tensors or bytes after thousands of calls', async () => {
    const be = await createWasmBackend();
    const rng = new Rng(5);
    const A = uniformTensor(rng, [8, 12], 1), B = uniformTensor(rng, [12, 6], 1), C = tensor([8, 6]);
    const A3 = uniformTensor(rng, [2, 8, 12], 1), B3 = uniformTensor(rng, [2, 6, 12], 1), C3 = tensor([2, 8, 6]);
    const x = uniformTensor(rng, [2, 3, 6, 6], 1), w = uniformTensor(rng, [4, 3, 3, 3], 1), y = tensor([2, 4, 6, 6]);
    const spec = { stride: 1, padding: 1 };
    const step = () => {
      be.matmul(C, A, B); be.matmul(C, A, tensor([6, 12]), false, true); be.batchMatmul(C3, A3, B3, false, true);
      be.conv2dForward(y, x, w, spec); be.conv2dBackwardInput(x, y, w, spec); be.conv2dBackwardFilter(w, y, x, spec);
    };
    step();
    const before = be.tfMemory();
    for (let i = 0; i < 1000; i++) step(); // 6000 op calls
    expect(be.tfMemory()).toEqual(before);
  });
});

describe('gpu.js backend', () => {
  it("mode 'gpu' never silently runs a CPU/WebAssembly kernel", async () => {
    let backend;
    try {
      backend = await createGpujsBackend({ mode: 'gpu' });
    } catch (e) {
      // the machine has no usable GPU backend: the error says what ran and what set-up is needed
      expect((e as Error).message).toMatch(/mode 'gpu' requested but not available: .*(WebAssemblyKernel|CPUKernel|refused|hidden by LDFA_HIDE=).*Set-up needed/);
      return;
    }
    expect(backend.kernelClass).toMatch(/GL|GPU/);
  });

  it('caches one compiled kernel per shape', async () => {
    const be = await createGpujsBackend({ mode: 'cpu' });
    const rng = new Rng(9);
    const A = uniformTensor(rng, [3, 4], 1), B = uniformTensor(rng, [4, 5], 1), C = tensor([3, 5]);
    for (let i = 0; i < 5; i++) be.matmul(C, A, B);
    expect(be.cachedKernels()).toBe(1);
    be.matmul(tensor([3, 3]), A, tensor([4, 3]));
    expect(be.cachedKernels()).toBe(2);
  });
});

describe('registry', () => {
  it('rejects an unknown name, listing the allowed ones', async () => {
    await expect(createBackend('cuda')).rejects.toThrow(`unknown backend 'cuda': allowed are ${BACKEND_NAMES.join(', ')}`);
  });

  it("'auto' picks a self-checked backend and says which kernel runs", async () => {
    const be = await createBackend('auto');
    expect(be.kernelInfo()).toMatch(/^auto chose \S+: /);
    const rng = new Rng(1);
    const A = uniformTensor(rng, [6, 1100], 1), B = uniformTensor(rng, [1100, 3], 1);
    const got = tensor([6, 3]), ref = tensor([6, 3]);
    be.matmul(got, A, B);
    referenceBackend.matmul(ref, A, B);
    expectMatch('auto matmul', got, ref, f32Tol(1100, 1, 1));
  });

  it("'auto' chooses by its fixed order, not by a timing: the first candidate that passed, so load cannot change the bytes", async () => {
    const { backend, candidates } = await selectAuto();
    const firstPassed = candidates.find((c) => c.skipped === undefined);
    expect(firstPassed).toBeDefined();
    expect(backend.name).toBe(firstPassed!.name);
  });
});

describe('the comparison every backend test uses (test/helpers/close.ts)', () => {
  it('passes within atol + rtol·|ref| and reports the first mismatching indices and the largest difference', () => {
    const tol = { atol: 1e-3, rtol: 1e-2 };
    expect(compareArrays('ok', [1.0105, -2, 0.0009], [1, -2, 0], tol).ok).toBe(true); // 0.0105 ≤ 1e-3 + 1e-2·1
    const bad = compareArrays('C', [0, 1, 2.5, 3, 9], [0, 1.2, 2, 3, 4], tol, 2);
    expect(bad.ok).toBe(false);
    expect(bad.maxAbsDiff).toBe(5);
    expect(bad.message).toBe([
      'C: 3 of 5 values outside atol 0.001 + rtol 0.01·|ref|; first mismatches:',
      '  [1] actual 1 expected 1.2 diff 2.000e-1',
      '  [2] actual 2.5 expected 2 diff 5.000e-1',
      '  max |diff| 5.000e+0 at [4]',
    ].join('\n'));
    expect(compareArrays('nan', [NaN], [1], tol).ok).toBe(false);
  });
});
