// LDFA's own work on the float32 path (src/fast/ldfa.ts) against the float64 reference kernels
// (reference/rules/ldfa.ts), over random shapes: normative E = P̂Q̂ − W and its gradients, Oja's
// normalised error and gP̂ (C·P̂ reassociated as δ̃ᵀ(δ̃·P̂), bounded against C formed explicitly),
// the conv channel rows, the SVD factors (exact and randomized, against the reference's), and
// whole training steps of every mode, the direct variant, conv layers, clamps and Adam on the
// feedback, float32 against float64. Runs on the native backend (skipped where it is missing) and
// on wasm (ops() products, no α/β sgemm, reference SVD).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { multiply, ops, setBackend, withBackend, type Backend } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { Rng, normalTensor, uniformTensor } from '../reference/rng.ts';
import { balancedFactors } from '../reference/linalg.ts';
import { channelRows, ojaGradient, referenceLdfaKernels, type LdfaKernels, type OjaNormalisation } from '../reference/rules/ldfa.ts';
import { tensor, type Tensor } from '../reference/tensor.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/config.ts';
import { createTrainer } from '../src/train.ts';
import { createNativeBackend, createNativeBlas, type NativeBlas } from '../src/backends/native.ts';
import { createWasmBackend } from '../src/backends/wasm.ts';
import { float32Tensor, isFloat32 } from '../src/fast/float32.ts';
import { float32LdfaKernels } from '../src/fast/ldfa.ts';
import { compareArrays } from './helpers/close.ts';
import { MAY_BE_UNAVAILABLE, requiredHere } from './helpers/backends.ts';

let blas: NativeBlas | null = null;
let native: Backend | null = null;
try {
  blas = createNativeBlas();
  native = createNativeBackend();
} catch (e) {
  if (requiredHere('native')) throw e;
  console.log(`[fast-ldfa.test] skipping the native tests: ${MAY_BE_UNAVAILABLE.native}: ${(e as Error).message}`);
}
const onNative = native !== null ? it : it.skip;
const f32 = (t: Tensor) => float32Tensor(t.shape, t.data);
const close = (name: string, got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol = 1e-4) => {
  const c = compareArrays(name, got, want, { atol, rtol });
  if (!c.ok) expect.fail(c.message);
};
const maxAbs = (t: Tensor) => t.data.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
/**
 * Runs `check` at each width of the addon's lane kernels (8, and 16 where the CPU has AVX-512):
 * the feedback's and the batch passes' dot products group their lanes by the width, the widths'
 * bytes differing in the last bits. The CPU's own width is restored afterwards.
 */
function atEachLaneWidth(check: (width: 8 | 16) => void): void {
  const kernels = blas!.kernels, chosen = kernels.laneWidth(0);
  try {
    for (const width of chosen === 16 ? [8, 16] as const : [8] as const) {
      expect(kernels.laneWidth(width)).toBe(width);
      check(width);
    }
  } finally {
    kernels.laneWidth(chosen as 8 | 16);
  }
}

type SidesKernel = (k: LdfaKernels, gP: Tensor, gQ: Tensor, P: Tensor, Q: Tensor, A: Tensor) => void;
/**
 * A kernel of P̂ (out, r), Q̂ (r, in) and an (out, in) matrix A (W or dW), all uniform in ±1 from
 * `seed`: its gP̂, gQ̂ by the reference kernels in float64, and by `k` in float32 on the native
 * backend (`calls` times into fresh arrays, for checking that the bytes repeat).
 */
function sidesBoth(run: SidesKernel, k: LdfaKernels, out: number, inn: number, r: number, seed: number, calls = 1) {
  const rng = new Rng(seed);
  const P = uniformTensor(rng, [out, r], 1), Q = uniformTensor(rng, [r, inn], 1), A = uniformTensor(rng, [out, inn], 1);
  const gP = tensor([out, r]), gQ = tensor([r, inn]);
  withBackend(referenceBackend, () => run(referenceLdfaKernels, gP, gQ, P, Q, A));
  const fast = Array.from({ length: calls }, () => {
    const [gP32, gQ32] = [float32Tensor([out, r]), float32Tensor([r, inn])];
    withBackend(native!, () => run(k, gP32, gQ32, f32(P), f32(Q), f32(A)));
    return { gP: gP32, gQ: gQ32 };
  });
  return { gP, gQ, fast };
}
const normative: SidesKernel = (k, gP, gQ, P, Q, W) => k.normativeGradients(gP, gQ, P, Q, W);

describe('float32 LDFA kernels against the reference kernels', () => {
  onNative('normative: gP̂ = P̂·(Q̂Q̂ᵀ) − W·Q̂ᵀ, gQ̂ = (P̂ᵀP̂)·Q̂ − P̂ᵀ·W (E never formed) against the reference\'s E = P̂Q̂ − W, E·Q̂ᵀ, P̂ᵀ·E, with and without the addon, random shapes', () => {
    for (const k of [float32LdfaKernels(blas), float32LdfaKernels(null)]) {
    // ranks up to 40 on widths from 1: both the reassociated (low rank) and the E-forming (high rank) branch
    fc.assert(fc.property(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 40 }), fc.nat(1e6), (out, inn, r0, seed) => {
      const r = Math.min(r0, out, inn);
      const { gP, gQ, fast: [{ gP: gP32, gQ: gQ32 }] } = sidesBoth(normative, k, out, inn, r, seed);
      // each entry of gP̂ sums in·(r + 1) products of O(1) values (the reassociation's bound: the two
      // terms are each of that size, whatever the size of their difference E·Q̂ᵀ)
      close(`gP out=${out} in=${inn} r=${r}`, gP32.data, gP.data, 1e-5 * inn * (r + 1));
      close(`gQ out=${out} in=${inn} r=${r}`, gQ32.data, gQ.data, 1e-5 * out * (r + 1));
    }), { seed: 21, numRuns: 40 });
    }
    // shapes that take both threads on the addon (≥ 4e6 FLOPs), odd widths, across a column block; the same bytes on every call
    const k = float32LdfaKernels(blas);
    for (const [out, inn, r, seed] of [[301, 310, 12, 1], [257, 1030, 10, 2], [1024, 64, 32, 3]]) {
      const { gP, gQ, fast: [first, again] } = sidesBoth(normative, k, out, inn, r, seed, 2);
      close(`gP out=${out} in=${inn} r=${r}`, first.gP.data, gP.data, 1e-5 * inn * (r + 1));
      close(`gQ out=${out} in=${inn} r=${r}`, first.gQ.data, gQ.data, 1e-5 * out * (r + 1));
      close('gP again', again.gP.data, first.gP.data, 0, 0);
      close('gQ again', again.gQ.data, first.gQ.data, 0, 0);
    }
    expect(() => blas!.kernels.normativeLowRank(new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(3), 2, 2, 2)).toThrow(/normativeLowRank: an array is shorter than its shape requires/);
  });

  onNative('the feedback dx = (dy·P̂)·Q̂ on the addon (lowRankFeedback, one call, two threads over the samples from 4 MFLOP, at 8 lanes and (with AVX-512) 16) against the reference\'s two products, random shapes; the same bytes on every call; float64 operands take the reference\'s products', () => {
    const k = float32LdfaKernels(blas);
    atEachLaneWidth((width) => fc.assert(fc.property(fc.integer({ min: 1, max: 140 }), fc.integer({ min: 1, max: 1100 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 32 }), fc.nat(1e6), (N, out, inn, r, seed) => {
      const rng = new Rng(seed);
      const P = uniformTensor(rng, [out, r], 1), Q = uniformTensor(rng, [r, inn], 1), dy = uniformTensor(rng, [N, out], 1);
      const want = tensor([N, inn]);
      withBackend(referenceBackend, () => referenceLdfaKernels.throughLowRank(P, Q)(want, dy));
      const [got, again] = [float32Tensor([N, inn]), float32Tensor([N, inn])];
      const feedback = k.throughLowRank(f32(P), f32(Q));
      withBackend(native!, () => { feedback(got, f32(dy)); feedback(again, f32(dy)); });
      close(`dx N=${N} out=${out} in=${inn} r=${r}, ${width} lanes`, got.data, want.data, 2e-6 * (out + r) * r, 1e-4);
      close('dx again', again.data, got.data, 0, 0);
    }), { seed: 27, numRuns: 30 }));
    const rng = new Rng(3);
    const P = uniformTensor(rng, [7, 3], 1), Q = uniformTensor(rng, [3, 5], 1), dy = uniformTensor(rng, [4, 7], 1);
    const [a, b] = [tensor([4, 5]), tensor([4, 5])];
    withBackend(native!, () => { k.throughLowRank(P, Q)(a, dy); referenceLdfaKernels.throughLowRank(P, Q)(b, dy); });
    close('float64 operands', a.data, b.data, 0, 0);
    expect(() => blas!.kernels.lowRankFeedback(new Float32Array(3), new Float32Array(4), new Float32Array(4), new Float32Array(4), 2, 2, 2, 2)).toThrow(/lowRankFeedback: an array is shorter than its shape requires/);
  });

  onNative('lowRankSides (normative\'s W·Q̂ᵀ, P̂ᵀ·W; factorised\'s dW·Q̂ᵀ, P̂ᵀ·dW in one pass), at 8 lanes and (with AVX-512) 16: against float64 products, on shapes that take both threads, cross column blocks and leave odd rows, lanes and ranks; the same bytes on every call', () => {
    const kernels = blas!.kernels, chosen = kernels.laneWidth(0);
    expect([8, 16]).toContain(chosen);
    const widths = chosen === 16 ? [8, 16] : [8];
    if (chosen === 8) expect(() => kernels.laneWidth(16)).toThrow(/laneWidth: 16 lanes need AVX-512/);
    expect(() => kernels.laneWidth(12 as 8)).toThrow(/laneWidth: the width must be 0 \(ask\), 8 or 16/);
    try {
      for (const width of widths) {
        expect(kernels.laneWidth(width as 8 | 16)).toBe(width);
        // the shapes: up to 1100 wide (column blocks of 1024, tails not a multiple of 8 or 16), ranks not a
        // multiple of 4, odd row counts; 4·out·in·r ≥ 4e6 runs the second thread
        fc.assert(fc.property(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 1100 }), fc.integer({ min: 1, max: 13 }), fc.nat(1e6), (out, inn, r, seed) => {
          const rng = new Rng(seed);
          const A = uniformTensor(rng, [out, inn], 1), P = uniformTensor(rng, [out, r], 1), Q = uniformTensor(rng, [r, inn], 1);
          const AQ = new Float32Array(out * r), PA = new Float32Array(r * inn).fill(Number.NaN); // PA is overwritten, not added to
          blas!.kernels.lowRankSides(AQ, PA, f32(A).data as unknown as Float32Array, f32(P).data as unknown as Float32Array, f32(Q).data as unknown as Float32Array, out, inn, r);
          const A32 = f32(A), P32 = f32(P), Q32 = f32(Q); // the float32-rounded operands, multiplied in float64
          const wantAQ = withBackend(referenceBackend, () => multiply(tensor(A32.shape, Float64Array.from(A32.data)), tensor(Q32.shape, Float64Array.from(Q32.data)), false, true));
          const wantPA = withBackend(referenceBackend, () => multiply(tensor(P32.shape, Float64Array.from(P32.data)), tensor(A32.shape, Float64Array.from(A32.data)), true, false));
          // a float32 sum of n products of values in [−1, 1]: |error| ≤ n·2⁻²⁴·n (γₙ·Σ|terms|), with room
          close(`A·Q̂ᵀ out=${out} in=${inn} r=${r}`, AQ, wantAQ.data, 2 * inn * inn * 2 ** -24 + 1e-6, 0);
          close(`P̂ᵀ·A out=${out} in=${inn} r=${r}`, PA, wantPA.data, 2 * out * out * 2 ** -24 + 1e-6, 0);
          const again = new Float32Array(out * r), againPA = new Float32Array(r * inn);
          blas!.kernels.lowRankSides(again, againPA, A32.data as unknown as Float32Array, P32.data as unknown as Float32Array, Q32.data as unknown as Float32Array, out, inn, r);
          expect(Buffer.from(again.buffer).equals(Buffer.from(AQ.buffer)) && Buffer.from(againPA.buffer).equals(Buffer.from(PA.buffer))).toBe(true);
        }), { seed: 23, numRuns: 40 });
      }
      if (widths.length === 2) {
        // P̂ᵀ·A sums each column over the rows in order at either width: the same bytes; A·Q̂ᵀ's lanes are grouped differently
        const rng = new Rng(8), [out, inn, r] = [300, 1037, 10];
        const [A, P, Q] = [[out, inn], [out, r], [r, inn]].map((shape) => f32(uniformTensor(rng, shape, 1)).data as unknown as Float32Array);
        const at = (width: 8 | 16) => {
          kernels.laneWidth(width);
          const AQ = new Float32Array(out * r), PA = new Float32Array(r * inn);
          kernels.lowRankSides(AQ, PA, A, P, Q, out, inn, r);
          return { AQ, PA };
        };
        const [narrow, wide] = [at(8), at(16)];
        expect(Buffer.from(narrow.PA.buffer).equals(Buffer.from(wide.PA.buffer))).toBe(true);
        expect(Buffer.from(narrow.AQ.buffer).equals(Buffer.from(wide.AQ.buffer))).toBe(false);
        close('A·Q̂ᵀ at 8 against 16 lanes', narrow.AQ, wide.AQ, 2 * inn * 2 ** -24 * 8, 0);
      }
    } finally {
      kernels.laneWidth(chosen as 8 | 16);
    }
    expect(() => blas!.kernels.lowRankSides(new Float32Array(3), new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(4), 2, 2, 2)).toThrow(/lowRankSides: an array is shorter than its shape requires/);
  });

  onNative('factorised: gP̂ = dW·Q̂ᵀ, gQ̂ = P̂ᵀ·dW on the addon against the reference, random shapes', () => {
    const k = float32LdfaKernels(blas);
    fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 12 }), fc.nat(1e6), (out, inn, r0, seed) => {
      const r = Math.min(r0, out, inn);
      const { gP, gQ, fast: [{ gP: gP32, gQ: gQ32 }] } = sidesBoth((kernels, ...args) => kernels.factorisedGradients(...args), k, out, inn, r, seed);
      close(`gP out=${out} in=${inn} r=${r}`, gP32.data, gP.data, 2e-6 * inn);
      close(`gQ out=${out} in=${inn} r=${r}`, gQ32.data, gQ.data, 2e-6 * out);
    }), { seed: 24, numRuns: 30 });
  });

  onNative('factorised through the batch (linear layers, N·(in + out) < out·in): gP̂ = dyᵀ·(x·Q̂ᵀ), gQ̂ = (dy·P̂)ᵀ·x is dW·Q̂ᵀ, P̂ᵀ·dW with dW = dyᵀ·x reassociated, on the addon\'s fused call (one thread and two; 8 lanes and, with AVX-512, 16) and through ops(); the float32 difference from the reference is within the rounding bound, the same bytes on every call', () => {
    let worst = 0, reassociated = 0, threaded = 0;
    const shapes = (maxN: number, maxWidth: number, minN = 1, minWidth = 1) => [fc.integer({ min: minN, max: maxN }), fc.integer({ min: minWidth, max: maxWidth }), fc.integer({ min: minWidth, max: maxWidth }), fc.integer({ min: 1, max: 12 }), fc.nat(1e6)] as const;
    for (const [k, fused] of [[float32LdfaKernels(blas), true], [float32LdfaKernels(null), false]] as const) {
      // small shapes (one thread), and on the addon shapes whose 4·N·r·(in + out) FLOPs take both threads
      const checks = () => { for (const [gen, runs] of [[shapes(40, 200), 30], ...(fused ? [[shapes(160, 420, 60, 150), 8] as const] : [])] as const) {
        fc.assert(fc.property(...gen, (N, out, inn, r0, seed) => {
          const r = Math.min(r0, out, inn);
          const rng = new Rng(seed);
          const P = uniformTensor(rng, [out, r], 1), Q = uniformTensor(rng, [r, inn], 1), dy = f32(uniformTensor(rng, [N, out], 1)), x = f32(uniformTensor(rng, [N, inn], 1));
          const asF64 = (t: Tensor) => tensor(t.shape, Float64Array.from(t.data));
          const dW = withBackend(referenceBackend, () => multiply(asF64(dy), asF64(x), true, false)); // dyᵀ·x in float64
          const gP = tensor([out, r]), gQ = tensor([r, inn]);
          withBackend(referenceBackend, () => referenceLdfaKernels.factorisedGradients(gP, gQ, asF64(f32(P)), asF64(f32(Q)), dW));
          const gP32 = float32Tensor([out, r]), gQ32 = float32Tensor([r, inn]);
          withBackend(native!, () => k.factorisedGradients(gP32, gQ32, f32(P), f32(Q), f32(dW), { dy, x }));
          if (N * (inn + out) < out * inn) {
            reassociated++;
            if (fused && 4 * N * r * (inn + out) >= 1e6) threaded++;
            const again = float32Tensor([out, r]), againQ = float32Tensor([r, inn]);
            withBackend(native!, () => k.factorisedGradients(again, againQ, f32(P), f32(Q), f32(dW), { dy, x }));
            expect(Buffer.from(again.data.buffer).equals(Buffer.from(gP32.data.buffer)) && Buffer.from(againQ.data.buffer).equals(Buffer.from(gQ32.data.buffer))).toBe(true);
          }
          // |error| ≤ c·(N + in + out)·2⁻²⁴·Σ|terms|, the terms' magnitudes |dy|ᵀ·|x|·|Q̂|ᵀ and |P̂|ᵀ·|dy|ᵀ·|x|
          const sizeP = withBackend(referenceBackend, () => multiply(multiply(absOf(dy), absOf(x), true, false), absOf(Q), false, true));
          const sizeQ = withBackend(referenceBackend, () => multiply(absOf(P), multiply(absOf(dy), absOf(x), true, false), true, false));
          const unit = 4 * (N + inn + out) * 2 ** -24;
          gP.data.forEach((v, i) => { worst = Math.max(worst, Math.abs(gP32.data[i] - v) / (unit * sizeP.data[i] + 1e-30)); });
          gQ.data.forEach((v, i) => { worst = Math.max(worst, Math.abs(gQ32.data[i] - v) / (unit * sizeQ.data[i] + 1e-30)); });
        }), { seed: 25, numRuns: runs });
      } };
      if (fused) atEachLaneWidth(checks); // the fused call's passes at each width
      else checks();
    }
    expect(worst).toBeLessThan(1);
    expect(reassociated).toBeGreaterThan(10); // the batch route was taken, not only the dW one
    expect(threaded).toBeGreaterThan(2); // and the fused call's two-thread split
    expect(() => blas!.kernels.factorisedLinear(new Float32Array(3), new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(4), 2, 2, 2, 2)).toThrow(/factorisedLinear: an array is shorter than its shape requires/);
    expect(() => blas!.kernels.factorisedLinear(new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(4), 2, 2, 2, 65)).toThrow(/factorisedLinear/);
  });

  for (const how of ['max-std', 'max-second-moment', 'none'] as OjaNormalisation[]) {
    onNative(`oja (${how}): the normalised error and gP̂ = −(C·P̂ − P̂·P̂ᵀ·C·P̂), random shapes`, () => {
      const k = float32LdfaKernels(blas);
      fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 10 }), fc.nat(1e6), (S, out, r0, seed) => {
        const r = Math.min(r0, out);
        const rng = new Rng(seed);
        const dy = uniformTensor(rng, [S, out], 1), P = uniformTensor(rng, [out, r], 1 / Math.sqrt(out));
        const nRef = referenceLdfaKernels.normaliseError(dy, how, 1e-8);
        const n32 = k.normaliseError(f32(dy), how, 1e-8);
        expect(isFloat32(n32)).toBe(true);
        close(`normalised S=${S} out=${out}`, n32.data, nRef.data, 1e-6);
        // the JavaScript loop (float32 backends without the addon) computes the same values
        close(`normalised (no addon) S=${S} out=${out}`, float32LdfaKernels(null).normaliseError(f32(dy), how, 1e-8).data, n32.data, 0, 0);
        const gP = tensor([out, r]), gP32 = float32Tensor([out, r]);
        withBackend(referenceBackend, () => ojaGradient(gP, P, nRef));
        withBackend(native!, () => k.ojaGradient(gP32, f32(P), n32));
        close(`gP S=${S} out=${out} r=${r}`, gP32.data, gP.data, 1e-5 * S * Math.max(1, maxAbs(nRef)) ** 2);
      }), { seed: 22, numRuns: 30 });
    });
  }

  for (const how of ['max-std', 'max-second-moment', 'none'] as OjaNormalisation[]) {
    onNative(`oja on a linear layer (${how}), fused on the addon (δ̃ never formed; v = dy·P̂ shifted and scaled for u, C·P̂ = (dyᵀ·u − c·1ᵀu)/d): gP̂ and gQ̂ against the reference, random shapes, at 8 lanes and (with AVX-512) 16; from the labels it takes the steps one by one`, () => {
      const k = float32LdfaKernels(blas);
      atEachLaneWidth(() => fc.assert(fc.property(fc.integer({ min: 2, max: 150 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 12 }), fc.double({ min: -3, max: 3, noNaN: true }), fc.nat(1e6), (N, out, inn, r0, shift, seed) => {
        const r = Math.min(r0, out);
        const rng = new Rng(seed);
        const P = uniformTensor(rng, [out, r], 1 / Math.sqrt(out)), x = uniformTensor(rng, [N, inn], 1);
        const dy = uniformTensor(rng, [N, out], 1);
        dy.data.forEach((v, i) => { dy.data[i] = v + shift; }); // a mean to take out
        const dy32 = f32(dy), asF64 = (t: Tensor) => tensor(t.shape, Float64Array.from(t.data));
        const gP = tensor([out, r]), gQ = tensor([r, inn]);
        withBackend(referenceBackend, () => referenceLdfaKernels.ojaLinearGradients(gP, gQ, asF64(f32(P)), asF64(dy32), asF64(dy32), asF64(f32(x)), how, 1e-8, referenceLdfaKernels));
        const gP32 = float32Tensor([out, r]), gQ32 = float32Tensor([r, inn]);
        withBackend(native!, () => k.ojaLinearGradients(gP32, gQ32, f32(P), dy32, dy32, f32(x), how, 1e-8, k));
        const n = referenceLdfaKernels.normaliseError(asF64(dy32), how, 1e-8);
        close(`gP N=${N} out=${out} r=${r}`, gP32.data, gP.data, 1e-5 * N * Math.max(1, maxAbs(n)) ** 2 * (1 + Math.abs(shift)));
        close(`gQ N=${N} in=${inn} r=${r}`, gQ32.data, gQ.data, 2e-6 * N * (1 + Math.abs(shift)));
        // with the weight gradient dW = dyᵀ·x at hand: gQ̂ = P̂ᵀ·dW where out < N (else vᵀ·x as before)
        const dW = float32Tensor([out, inn]);
        withBackend(native!, () => ops().matmul(dW, dy32, f32(x), true, false));
        const [gPw, gQw] = [float32Tensor([out, r]), float32Tensor([r, inn])];
        withBackend(native!, () => k.ojaLinearGradients(gPw, gQw, f32(P), dy32, dy32, f32(x), how, 1e-8, k, dW));
        close(`gP with dW, N=${N} out=${out}`, gPw.data, gP32.data, 0, 0); // gP̂ never reads dW
        close(`gQ with dW, N=${N} out=${out} in=${inn} r=${r}`, gQw.data, gQ.data, 2e-6 * Math.max(N, out) * (1 + Math.abs(shift)));
        if (out >= N) close('gQ with dW where out ≥ N: vᵀ·x as without it', gQw.data, gQ32.data, 0, 0);
        // the same bytes on every call (the two-thread split is by shape alone)
        const [gPa, gQa] = [float32Tensor([out, r]), float32Tensor([r, inn])];
        withBackend(native!, () => k.ojaLinearGradients(gPa, gQa, f32(P), dy32, dy32, f32(x), how, 1e-8, k));
        close('gP again', gPa.data, gP32.data, 0, 0);
        close('gQ again', gQa.data, gQ32.data, 0, 0);
      }), { seed: 26, numRuns: 25 }));
      // where the fused entry does not apply, the kernel set's own steps, as the reference composes them
      const composed = (label: string, P: Tensor, rows: Tensor, dy: Tensor, x: Tensor) => {
        const [out, r] = P.shape, inn = x.shape[1];
        const [a, b] = [float32Tensor([out, r]), float32Tensor([out, r])], [qa, qb] = [float32Tensor([r, inn]), float32Tensor([r, inn])];
        withBackend(native!, () => {
          k.ojaLinearGradients(a, qa, P, rows, dy, x, how, 1e-8, k);
          referenceLdfaKernels.ojaLinearGradients(b, qb, P, rows, dy, x, how, 1e-8, k);
        });
        close(`gP ${label}`, a.data, b.data, 0, 0);
        close(`gQ ${label}`, qa.data, qb.data, 0, 0);
      };
      const rng = new Rng(9);
      const P = f32(uniformTensor(rng, [10, 3], 0.3)), x = f32(uniformTensor(rng, [6, 7], 1)), dy = f32(uniformTensor(rng, [6, 10], 1)), labels = f32(uniformTensor(rng, [6, 10], 1));
      composed('from the labels (rows other than dy)', P, labels, dy, x);
      const P40 = f32(uniformTensor(rng, [48, 40], 0.2)), dy40 = f32(uniformTensor(rng, [6, 48], 1));
      composed('at rank 40 (above LOW_RANK_SIDES_MAX_RANK)', P40, dy40, dy40, x);
      const a4 = () => new Float32Array(4);
      expect(() => blas!.kernels.ojaLinear(a4(), a4(), a4(), a4(), a4(), new Float32Array(3), 0, 1e-8, 2, 2, 2, 2)).toThrow(/ojaLinear: an array is shorter than its shape requires/);
      expect(() => blas!.kernels.ojaLinear(a4(), a4(), a4(), a4(), a4(), null, 3 as 0, 1e-8, 2, 2, 2, 2)).toThrow(/ojaLinear: how must be 0/);
    });
  }

  onNative('oja: C·P̂ as δ̃ᵀ(δ̃·P̂) is (δ̃ᵀδ̃)·P̂ reassociated; the float32 difference from C formed explicitly (float64) is within the rounding bound', () => {
    const k = float32LdfaKernels(blas);
    const rng = new Rng(5);
    const S = 128, out = 256, r = 10;
    const dy = normalTensor(rng, [S, out], 1), P = uniformTensor(rng, [out, r], 1 / Math.sqrt(out));
    const n = referenceLdfaKernels.normaliseError(dy, 'max-std', 1e-8);
    // C formed explicitly, in float64: gP̂ = −(C·P̂ − P̂·(P̂ᵀ·C·P̂))
    const C = multiply(n, n, true, false), CP = multiply(C, P), want = multiply(P, multiply(P, CP, true, false));
    for (let i = 0; i < want.data.length; i++) want.data[i] -= CP.data[i];
    const got = float32Tensor([out, r]);
    withBackend(native!, () => k.ojaGradient(got, f32(P), f32(n)));
    // bound: float32 products of S-term and out-term sums: |err| ≤ c·(S + out)·2⁻²⁴·Σ|terms|
    let worst = 0;
    const absCP = multiply(multiply(absOf(n), absOf(n), true, false), absOf(P));
    const bound = (i: number) => 4 * (S + out + r) * 2 ** -24 * (absCP.data[i] * (1 + maxAbs(P) * maxAbs(P) * out)) + 1e-12;
    for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - want.data[i]) / bound(i));
    expect(worst).toBeLessThan(1);
    expect(worst).toBeGreaterThan(0); // float32 differs from float64: the bound is not vacuous
  });

  onNative('conv channel rows (N, C, H, W) → (N·H·W, C)', () => {
    const k = float32LdfaKernels(blas);
    const t = uniformTensor(new Rng(3), [3, 5, 4, 2], 1);
    close('channelRows', k.channelRows(f32(t)).data, channelRows(f32(t)).data, 0, 0);
  });

  onNative('SVD factors: exact (LAPACK dgesdd) equals the reference Jacobi SVD; randomized draws the same Ω and gives P̂Q̂ = the reference\'s', () => {
    const k = float32LdfaKernels(blas);
    for (const [m, n, r] of [[40, 30, 3], [30, 50, 30], [7, 1, 1], [200, 180, 10]] as const) {
      const W = uniformTensor(new Rng(m + n), [m, n], 1);
      const ref = balancedFactors(W, r, 'exact'), got = k.balancedFactors(f32(W), r, 'exact');
      close(`exact P ${m}×${n} r=${r}`, got.P.data, ref.P.data, 1e-5, 1e-4);
      close(`exact Q ${m}×${n} r=${r}`, got.Q.data, ref.Q.data, 1e-5, 1e-4);
    }
    // (the last two: the sample spans the whole space, computed exactly with the generator moved on, an odd count of Ω's values)
    for (const [m, n, r, p] of [[300, 200, 10, 5], [150, 260, 4, 0], [64, 64, 64, 5], [63, 65, 63, 5]] as const) {
      // a matrix with a decaying spectrum, as trained weights have
      const rng = new Rng(m);
      const W = multiply(multiply(normalTensor(rng, [m, 40], 1), diag(40, (i) => 0.8 ** i)), normalTensor(rng, [40, n], 1));
      const a = new Rng(9), b = new Rng(9);
      const ref = balancedFactors(W, r, { randomized: a, powerIterations: 2, oversample: p });
      const got = k.balancedFactors(f32(W), r, { randomized: b, powerIterations: 2, oversample: p });
      expect(b.snapshot()).toEqual(a.snapshot()); // the generator is in the same state
      const prod = (f: { P: Tensor; Q: Tensor }) => multiply(f.P, f.Q);
      close(`randomized P̂Q̂ ${m}×${n} r=${r} p=${p}`, prod(got).data, prod(ref).data, 1e-4 * maxAbs(W), 1e-3);
      // W has rank 40: σ beyond the 40th are float32 rounding of W (its float32 copy has full rank)
      close(`randomized σ ${m}×${n} r=${r}`, got.S, ref.S, 1e-5 * ref.S[0], 1e-4);
    }
  });
});

// LAPACK runs on one thread whatever the GEMMs use: dgesdd gave different bytes on 1 and 2 threads.
// (OpenBLAS 0.3.21's sgemm does too for most shapes, e.g. 128·784·1024: the GEMMs' thread count
// is the per-call rule's business, src/backends/native.ts.)
describe('the exact SVD factors do not depend on the GEMMs\' thread count', () => {
  onNative('exact SVD with 1 and 2 OpenBLAS threads pinned: the same bytes', () => {
    const k = float32LdfaKernels(blas);
    const W = f32(uniformTensor(new Rng(12), [300, 260], 1));
    const run = (threads: number, method: 'exact' | 'randomized') => {
      blas!.pinThreads(threads);
      try {
        return k.balancedFactors(W, method === 'exact' ? 260 : 10, method === 'exact' ? 'exact' : { randomized: new Rng(4), powerIterations: 2, oversample: 5 });
      } finally {
        blas!.pinThreads(0);
      }
    };
    for (const method of ['exact'] as const) {
      const [a, b] = [run(1, method), run(2, method)];
      expect(Buffer.from(b.P.data.buffer).equals(Buffer.from(a.P.data.buffer)), `${method} P`).toBe(true);
      expect(Buffer.from(b.Q.data.buffer).equals(Buffer.from(a.Q.data.buffer)), `${method} Q`).toBe(true);
    }
  });
});

function absOf(t: Tensor): Tensor {
  return tensor(t.shape, Float64Array.from(t.data, Math.abs));
}
function diag(n: number, f: (i: number) => number): Tensor {
  const d = tensor([n, n]);
  for (let i = 0; i < n; i++) d.data[i * n + i] = f(i);
  return d;
}

// Whole training steps: the float32 path (P̂, Q̂ in float32, the kernels above, Adam on the
// feedback in the native loop) against the float64 path on the same backend, several steps.
const STEP_CASES: [string, Partial<TrainConfig>][] = [
  ['normative r=3 (svd init, re-factorised every 2 steps)', { rule: 'ldfa', feedback: 'normative', rank: 3, svdEvery: 2 }],
  ['normative r=full (random init), clamps', { rule: 'ldfa', feedback: 'normative', rank: 'full', feedbackInit: 'random', clipLinearGrad: 0.05 }],
  ['oja r=2', { rule: 'ldfa', feedback: 'oja', rank: 2 }],
  ['oja r=2, output P̂ from the labels', { rule: 'ldfa', feedback: 'oja', rank: 2, ojaOutput: 'labels' }],
  ['factorised r=4', { rule: 'ldfa', feedback: 'factorised', rank: 4 }],
  ['direct oja r=3', { rule: 'ldfa', feedback: 'oja', rank: 3, direct: true }],
  ['fixed r=2', { rule: 'ldfa', feedback: 'fixed', rank: 2 }],
];

function stepBoth(be: Backend, config: TrainConfig, input: number[], steps: number) {
  const rng = new Rng(7);
  const x = normalTensor(rng, [config.batch, ...input], 1);
  const y = new Int32Array(config.batch).map(() => rng.int(10));
  const [a, b] = [true, false].map((float32Path) => withBackend(be, () => createTrainer(config, input, 10, { float32Path })));
  for (let s = 0; s < steps; s++) withBackend(be, () => { a.step(x, y); b.step(x, y); });
  return { fast: a, slow: b };
}

describe('LDFA training steps on the float32 path against the float64 path', () => {
  const backends: [string, () => Backend | null][] = [['native', () => native], ['wasm', () => null]];
  for (const [name, make] of backends) {
    for (const [label, rule] of STEP_CASES) {
      const run = name === 'native' ? onNative : it;
      run(`${name}: ${label}, MLP, 4 Adam steps`, async () => {
        const be = make() ?? await createWasmBackend();
        const config: TrainConfig = { ...DEFAULT_CONFIG, arch: 'mlp', hidden: [24, 16], batch: 12, feedbackLr: 1e-3, ...rule } as TrainConfig;
        const { fast, slow } = stepBoth(be, config, [1, 6, 6], 4);
        expect(fast.path).toBe('float32');
        const feedback = Object.entries(fast.rule.feedbackTensors());
        expect(feedback.length).toBeGreaterThan(0);
        for (const [key, t] of feedback) {
          if (config.feedback !== 'fixed') expect(isFloat32(t), `${key} in float32`).toBe(true);
          close(`${name} ${label} ${key}`, t.data, slow.rule.feedbackTensors()[key].data, 2e-4, 2e-3);
        }
        for (const [i, p] of fast.model.params().entries()) close(`${name} ${label} ${p.name}`, p.value.data, slow.model.params()[i].value.data, 2e-4, 2e-3);
      });
    }
  }

  // SGD here: right after a re-factorisation normative's gP̂ = (W_r − W)·Q̂ᵀ is zero up to rounding,
  // and Adam would scale that rounding noise up to steps of size lr
  onNative('native: conv layers (cnn) under normative and oja, SGD', () => {
    for (const feedback of ['normative', 'oja'] as const) {
      const config: TrainConfig = { ...DEFAULT_CONFIG, arch: 'cnn', hidden: [4, 6], batch: 6, optimizer: 'sgd', feedbackOptimizer: 'sgd', lr: 0.05, feedbackLr: 0.05, rule: 'ldfa', feedback, rank: 2, svdEvery: 2, clipConvFeedbackGrad: 0.1 } as TrainConfig;
      const { fast, slow } = stepBoth(native!, config, [1, 8, 8], 3);
      expect(fast.path).toBe('float32');
      for (const [key, t] of Object.entries(fast.rule.feedbackTensors())) {
        expect(isFloat32(t)).toBe(true);
        close(`cnn ${feedback} ${key}`, t.data, slow.rule.feedbackTensors()[key].data, 2e-4, 2e-3);
      }
    }
    setBackend(referenceBackend);
  });
});
