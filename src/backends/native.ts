// Native CPU backend: OpenBLAS's cblas_sgemm (AVX2/AVX-512 float32, pthreads) through the
// small optional N-API addon in native/ (built by `npm install`; see native/build.mjs).
// The addon dlopen()s the BLAS library at run time and multiplies JS Float32Arrays in place
// (zero-copy). Where the addon was not built or no BLAS library loads, createNativeBlas()
// throws saying which, and `auto` picks another backend.
//
// Threads: OpenBLAS on 2 threads is ~1.7× faster than on 1 for the large products of an MLP
// step (128×784×1024: 176 against 105 GFLOP/s), and slower for small ones (64×256×256,
// where the thread hand-off costs more than it saves), so each call picks by its FLOPs
// (measured on this machine; docs/backends.md). The count depends on the product's shape only:
// OpenBLAS splits a product differently over 1 and 2 threads and the sums round differently, so
// a count that followed the load, the core count or OPENBLAS_NUM_THREADS would make the same seed
// give other bytes on another day (blasThreadsFor).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Backend } from '../../reference/backend.ts';
import type { Tensor } from '../../reference/tensor.ts';
import { isFloat32 } from '../fast/float32.ts';
import { hiddenReason } from '../hide.ts';
import { packageRoot } from '../package-root.ts';
import { batchMatmulDims, convDims, matmulDims, Scratch, type ConvDims } from './common.ts';
import { describeChoice, loadWithVerifiedCore, type CoreChoice } from './blas-core.ts';

/** Where npm install builds the addon. */
const addonPath = (): string => join(packageRoot(), 'native', 'build', 'Release', 'ldfa_blas.node');
/** What makes the native backend usable where the addon built but no BLAS library loads. */
export const INSTALL_BLAS = 'install one, e.g. apt-get install libopenblas0-pthread';
/** Tried in order: Debian's libopenblas0-pthread (and -openmp/-serial) and the generic names. */
export const BLAS_LIBRARIES = ['libopenblas.so.0', 'libopenblas.so', 'libopenblasp.so.0', 'libcblas.so.3', 'libblas.so.3'];
/** The libraries to try: LDFA_BLAS_LIBRARY (a path or name) alone where it is set, else BLAS_LIBRARIES. */
export const blasLibraries = (): string[] => (process.env.LDFA_BLAS_LIBRARY ? [process.env.LDFA_BLAS_LIBRARY] : BLAS_LIBRARIES);

interface Addon {
  load(paths: string[]): { library: string; config: string; core: string; lapack: boolean; threads: number };
  unload(): void;
  /** Y (m, k) float64 row-major ← an orthonormal basis of its columns (LAPACK QR); returns the numerical rank. */
  orthonormalize(Y: Float64Array, m: number, k: number): number;
  /** Thin SVD of A (m, n) float64 row-major (LAPACK dgesdd): U (m, k), S (k), VT (k, n), k = min(m, n). */
  svd(A: Float64Array, m: number, n: number, U: Float64Array, S: Float64Array, VT: Float64Array): void;
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, lda: number, B: Float32Array, ldb: number, beta: number, C: Float32Array, ldc: number): void;
  setThreads(n: number): void;
  getThreads(): number;
  adam(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, vmax: Float32Array | null,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, c1: number, c2: number, decoupled: boolean, threads: number): void;
}

type F32 = Float32Array;
/** The float32 layer kernels of native/src/layers.c (arguments as listed at its top). */
export interface LayerKernels {
  activation(kind: 0 | 1, y: F32, x: F32): void;
  activationBackward(kind: 0 | 1, dx: F32, dy: F32, x: F32): void;
  biasAdd(y: F32, b: F32, N: number, O: number, P: number): void;
  biasGrad(db: F32, dy: F32, N: number, O: number, P: number): void;
  gelu(y: F32, x: F32): void;
  geluBackward(dx: F32, dy: F32, x: F32): void;
  layerNorm(y: F32, x: F32, gamma: F32, beta: F32, mean: Float64Array, rstd: Float64Array, C: number, eps: number): void;
  layerNormBackward(dx: F32 | null, dgamma: F32, dbeta: F32, dy: F32, x: F32, gamma: F32, mean: Float64Array, rstd: Float64Array, C: number): void;
  batchNorm(y: F32, x: F32, gamma: F32, beta: F32, runMean: Float64Array, runVar: Float64Array, mean: Float64Array, rstd: Float64Array,
    N: number, C: number, S: number, training: boolean, momentum: number, eps: number): void;
  batchNormBackward(dx: F32 | null, dgamma: F32, dbeta: F32, dy: F32, x: F32, gamma: F32, mean: Float64Array, rstd: Float64Array,
    N: number, C: number, S: number, training: boolean): void;
  maxPool(y: F32, winners: Int32Array, x: F32, planes: number, H: number, W: number, k: number, stride: number, Ho: number, Wo: number): void;
  attention(out: F32, probs: F32, q: F32, k: F32, v: F32, B: number, T: number, A: number, heads: number): void;
  attentionBackward(dq: F32, dk: F32, dv: F32, dS: F32, dout: F32, q: F32, k: F32, v: F32, probs: F32, B: number, T: number, A: number, heads: number): void;
  im2col(cols: F32, x: F32, N: number, Cin: number, H: number, W: number, k: number, Ho: number, Wo: number, stride: number, padding: number): void;
  col2im(dx: F32, cols: F32, N: number, Cin: number, H: number, W: number, k: number, Ho: number, Wo: number, stride: number, padding: number): void;
  permuteBlocks(dst: F32, src: F32, A: number, B: number, P: number): void;
  /** The index of the first NaN or ±Infinity, or −1 (reference/tensor.ts firstNonFinite). */
  firstNonFinite(x: F32): number;
  /** x ← min(c, max(−c, x)) in place, c ≥ 0 as float32: reference/tensor.ts clampInPlace's values (±0 told apart; a NaN stays a NaN). */
  clamp(x: F32, c: number): void;
  /** The vector width of LDFA's lane kernels (the pass over W, the feedback, Oja's and factorised's passes over the batch): 0 asks; 8, or 16 where the CPU has AVX-512, sets it. Returns the width in use. */
  laneWidth(width: 0 | 8 | 16): number;
  /** y (n, f) ← LDFA Oja's normalised error of x (how: 0 max-std, 1 max-second-moment, 2 none). */
  normaliseError(y: F32, x: F32, n: number, f: number, how: 0 | 1 | 2, eps: number): void;
  /** AQ (out, r) ← A·Q̂ᵀ and PA (r, in) ← P̂ᵀ·A in one pass over A (out, in); P̂ (out, r), Q̂ (r, in); a null AQ (with Q) or PA (with P) skips that side. */
  lowRankSides(AQ: F32 | null, PA: F32 | null, A: F32, P: F32 | null, Q: F32 | null, out: number, inn: number, r: number): void;
  /** LDFA's feedback on a linear layer: dx (N, in) ← (dy·P̂)·Q̂, dy (N, out), P̂ (out, r), Q̂ (r, in), r ≤ 64. */
  lowRankFeedback(dx: F32, dy: F32, P: F32, Q: F32, N: number, out: number, inn: number, r: number): void;
  /** LDFA normative at low rank, E never formed: gP (out, r) ← P̂·(Q̂Q̂ᵀ) − W·Q̂ᵀ, gQ (r, in) ← (P̂ᵀP̂)·Q̂ − P̂ᵀ·W; P̂ (out, r), Q̂ (r, in), W (out, in). */
  normativeLowRank(gP: F32, gQ: F32, P: F32, Q: F32, W: F32, out: number, inn: number, r: number): void;
  /**
   * LDFA Oja on a linear layer learning from its own error dy (N, out), fused: gP (out, r) ← P̂·(P̂ᵀ·C·P̂) − C·P̂ with
   * C·P̂ = δ̃ᵀ(δ̃·P̂), δ̃ dy normalised by `how`, and gQ (r, in) ← (dy·P̂)ᵀ·x, or P̂ᵀ·dW from the weight gradient
   * dW = dyᵀ·x (out, in) where given; P̂ (out, r), x (N, in), r ≤ 64.
   */
  ojaLinear(gP: F32, gQ: F32, P: F32, dy: F32, x: F32, dW: F32 | null, how: 0 | 1 | 2, eps: number, N: number, out: number, inn: number, r: number): void;
  /**
   * LDFA factorised on a linear layer through the batch it learnt from: gP (out, r) ← dyᵀ·(x·Q̂ᵀ), gQ (r, in) ←
   * (dy·P̂)ᵀ·x (= dW·Q̂ᵀ and P̂ᵀ·dW for dW = dyᵀ·x, reassociated); P̂ (out, r), Q̂ (r, in), dy (N, out), x (N, in), r ≤ 64.
   */
  factorisedLinear(gP: F32, gQ: F32, P: F32, Q: F32, dy: F32, x: F32, N: number, out: number, inn: number, r: number): void;
}

export interface NativeBlas {
  /** C = α·op(A)·op(B) + β·C on row-major float32 arrays (subarrays allowed); ld* default to the packed row lengths. */
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: Float32Array, B: Float32Array, C: Float32Array, alpha?: number, beta?: number): void;
  /** One Adam (decoupled: AdamW) step on float32 arrays in place; c1, c2 the bias corrections 1 − βᵗ. */
  adam(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, vmax: Float32Array | null,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, c1: number, c2: number, decoupled: boolean): void;
  /** The layer kernels of the float32 training path (src/fast/layers.ts). */
  kernels: LayerKernels;
  /** "OpenBLAS 0.3.21 … (libopenblas.so.0), threads: 1 below 2·M·N·K = 5e7 FLOPs, else 2 …". */
  info: string;
  /** The largest thread count used (BLAS_THREADS). */
  maxThreads: number;
  /** Which OpenBLAS kernel set runs, and how it was chosen and verified (src/backends/blas-core.ts). */
  core: CoreChoice;
  /** LAPACK's QR and SVD in float64 where the library exports them (OpenBLAS does), else null. */
  lapack: Pick<Addon, 'orthonormalize' | 'svd'> | null;
  /** Sets the OpenBLAS thread count for the next products (the bench's 1- and 2-thread peaks); 0 = back to per-product choice. */
  pinThreads(n: number): void;
}

/** Products with fewer FLOPs than this run on 1 thread (measured cross-over, see the header). */
export const THREADED_MIN_FLOPS = 5e7;
/** Adam updates of at least this many values run on 2 threads (memory-bound: 7 arrays pass through). */
export const THREADED_MIN_ADAM = 2 ** 18;

/** The thread count of every larger product, whatever the machine's cores, load or OPENBLAS_NUM_THREADS. */
export const BLAS_THREADS = 2;

/**
 * OpenBLAS threads for one M×N×K product: a function of its shape only, so that the same seed
 * gives the same bytes on any machine load and thread setting (OpenBLAS's 1- and 2-thread
 * splits of a product round differently). On a busy machine the second thread waits for a
 * descheduled partner (at load 26 a 784-1024-1024-10 step took 92.7 ms on 2 threads, 58.9 ms
 * on 1): that speed is given up for reproducible results.
 */
export function blasThreadsFor(M: number, N: number, K: number): number {
  return 2 * M * N * K >= THREADED_MIN_FLOPS ? BLAS_THREADS : 1;
}

/**
 * OpenBLAS's idle worker threads spin for 2^28 cycles (~0.1 s) after each threaded product before
 * they sleep (its default thread timeout). Between the products of a training step that spinning
 * holds the second core, and the addon's own two-thread loops (Adam, lowRankSides) then share one
 * core with it. Measured on the MLP 784-1024-1024-10, batch 128, Haswell core, idle machine: a BP
 * step took 12.4 ms and an LDFA normative r = 10 step 12.4 ms with the default, 9.8 and 8.6 ms
 * with OPENBLAS_THREAD_TIMEOUT=4 (2^4 cycles, OpenBLAS's minimum), which is set here where the
 * environment does not set it (a setting there is respected). Scheduling only: no result changes.
 */
export const OPENBLAS_THREAD_TIMEOUT = '4';

/** OPENBLAS_THREAD_TIMEOUT as the library will read it at load, and who set it. */
function threadTimeoutSetting(): string {
  if (process.env.OPENBLAS_THREAD_TIMEOUT !== undefined) return `OPENBLAS_THREAD_TIMEOUT=${process.env.OPENBLAS_THREAD_TIMEOUT} from the environment`;
  process.env.OPENBLAS_THREAD_TIMEOUT = OPENBLAS_THREAD_TIMEOUT; // the C environment OpenBLAS reads at load
  return `idle threads sleep at once (OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT}, set by ldfa)`;
}

let cached: NativeBlas | null = null;

export function createNativeBlas(): NativeBlas {
  const hidden = hiddenReason('native');
  if (hidden !== null) throw new Error(`native backend: ${hidden}; without it: ${INSTALL_BLAS}`);
  if (cached !== null) return cached;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new Error(`native backend: the addon ${path} was not built (npm install builds it with node-gyp; it needs a C compiler and Node's headers; run 'node native/build.mjs' to see why it failed)`);
  }
  const addon = createRequire(import.meta.url)(path) as Addon & LayerKernels;
  if (typeof addon.im2col !== 'function') {
    throw new Error(`native backend: the addon ${path} predates the layer kernels; rebuild it with 'node native/build.mjs'`);
  }
  if (typeof addon.unload !== 'function') {
    throw new Error(`native backend: the addon ${path} predates the core self-test; rebuild it with 'node native/build.mjs'`);
  }
  if (typeof addon.laneWidth !== 'function') {
    throw new Error(`native backend: the addon ${path} predates the AVX-512 pass over W; rebuild it with 'node native/build.mjs'`);
  }
  if (typeof addon.factorisedLinear !== 'function' || typeof addon.clamp !== 'function') {
    throw new Error(`native backend: the addon ${path} predates the fused factorised kernel and the native clamp; rebuild it with 'node native/build.mjs'`);
  }
  let loaded: ReturnType<Addon['load']>;
  let core: CoreChoice;
  const threadTimeout = threadTimeoutSetting();
  const laneWidth = addon.laneWidth(0); // the width of LDFA's lane kernels, chosen by the CPU
  try {
    ({ loaded, choice: core } = loadWithVerifiedCore(addon, blasLibraries()) as { loaded: ReturnType<Addon['load']>; choice: CoreChoice });
  } catch (e) {
    const message = (e as Error).message;
    throw new Error(`native backend: ${message}${/no usable CBLAS/.test(message) ? '; install one, e.g. apt-get install libopenblas0-pthread' : ''}`);
  }
  let threads = loaded.threads, pinned = 0;
  const setThreads = (n: number) => { if (n !== threads) { addon.setThreads(n); threads = n; } };
  /** pinThreads(n) overrides the shape rule (the bench's 1- and 2-thread peaks, tests). */
  const threadsNow = (byShape: number) => (pinned > 0 ? pinned : byShape);
  cached = {
    sgemm(transA, transB, M, N, K, A, B, C, alpha = 1, beta = 0) {
      if (M === 0 || N === 0) return;
      if (K === 0) { // an empty sum: C = β·C (BLAS would reject the zero leading dimensions)
        for (let i = 0; i < M * N; i++) C[i] = beta === 0 ? 0 : C[i] * beta;
        return;
      }
      setThreads(threadsNow(blasThreadsFor(M, N, K)));
      addon.sgemm(transA, transB, M, N, K, alpha, A, transA ? M : K, B, transB ? K : N, beta, C, N);
    },
    adam: (w, ...rest) => addon.adam(w, ...rest, threadsNow(w.length >= THREADED_MIN_ADAM ? BLAS_THREADS : 1)),
    kernels: addon,
    info: `${loaded.config} (${loaded.library}), ${describeChoice(core)}, threads: 1 below 2·M·N·K = ${THREADED_MIN_FLOPS.toExponential(0)} FLOPs, else ${BLAS_THREADS} (by shape only: same bytes at any load), ${threadTimeout}, LDFA's lane kernels ${laneWidth} lanes wide${laneWidth === 16 ? ' (AVX-512)' : ''}`,
    maxThreads: BLAS_THREADS,
    core,
    // LAPACK on one thread, always: dgesdd's result depends on OpenBLAS's thread count (measured:
    // different bytes on 1 and 2 threads), and the same seed must give the same bytes on any
    lapack: loaded.lapack ? {
      orthonormalize(Y, m, k) { setThreads(1); return addon.orthonormalize(Y, m, k); },
      svd(A, m, n, U, S, VT) { setThreads(1); addon.svd(A, m, n, U, S, VT); },
    } : null,
    pinThreads(n) { pinned = Math.max(0, Math.min(BLAS_THREADS, Math.floor(n))); },
  };
  return cached;
}

// Convolutions on float32 storage, as one GEMM over the whole batch in the (channels, positions)
// layout, so that only P-long blocks move between the NCHW tensors and the GEMM operands
// (im2col, col2im and the block moves are C loops in native/src/layers.c):
//   cols  (CKK, N·P):  cols[(c·k + p)·k + q][n·P + i·Wo + j] = x[n, c, i·s + p − pad, j·s + q − pad] (0 outside)
//   forward          Y  (Cout, N·P) = W (Cout, CKK) · cols,      then (Cout, N, P) → (N, Cout, P)
//   backward-input   dC (CKK, N·P)  = Wᵀ · dYc,  dYc (Cout, N·P) from dy; then col2im (scatter-add)
//   backward-filter  dW (Cout, CKK) = dYc · colsᵀ
// (P = Ho·Wo, CKK = Cin·k·k).

/** Where a native backend (and any copy of it, e.g. the bench's renamed `auto`) carries its layer kernels. */
const LAYER_KERNELS = Symbol('ldfa native layer kernels');

/** The native addon's layer kernels when `backend` is the native backend, else null. */
export function layerKernelsOf(backend: Backend): LayerKernels | null {
  return (backend as Backend & { [LAYER_KERNELS]?: LayerKernels })[LAYER_KERNELS] ?? null;
}

/**
 * The Backend interface on OpenBLAS. Operands in float32 storage (the float32 training path,
 * src/fast/) are used where they lie; float64 ones are converted to float32 on the way in and
 * the result back on the way out (TypedArray.set, no transposing: sgemm takes op(A), op(B) itself).
 */
export function createNativeBackend(): Backend {
  const blas = createNativeBlas();
  const scratch = new Scratch();
  const f32 = (t: Tensor) => (t.data as unknown as Float32Array).subarray(t.offset);
  /** t's values as float32: itself when stored so, else converted into a scratch slot. */
  const asFloat32 = (slot: string, t: Tensor): Float32Array => {
    if (isFloat32(t)) return f32(t);
    const buf = scratch.get(slot, t.size);
    buf.set(t.data.subarray(t.offset, t.offset + t.size));
    return buf;
  };
  /** Where to write a result: t itself when float32, else a scratch slot copied back by `finish`. */
  const output = (slot: string, t: Tensor) => (isFloat32(t) ? f32(t) : scratch.get(slot, t.size));
  const finish = (t: Tensor, out: Float32Array) => { if (!isFloat32(t)) t.data.set(out, t.offset); };
  const { kernels } = blas;
  const geometry = (d: ConvDims) => [d.N, d.Cin, d.H, d.W, d.k, d.Ho, d.Wo, d.stride, d.padding] as const;
  const im2col = (x: Float32Array, d: ConvDims) => {
    const cols = scratch.get('cols', d.Cin * d.k * d.k * d.N * d.Ho * d.Wo);
    kernels.im2col(cols, x, ...geometry(d));
    return cols;
  };
  const backend: Backend & { [LAYER_KERNELS]: LayerKernels } = {
    [LAYER_KERNELS]: kernels,
    name: 'native',
    precision: 'float32',
    kernelInfo: () => `native cblas_sgemm: ${blas.info}`,
    matmul(C, A, B, transA = false, transB = false) {
      const { M, N, K } = matmulDims(C, A, B, transA, transB);
      const c = output('C', C);
      blas.sgemm(transA, transB, M, N, K, asFloat32('A', A), asFloat32('B', B), c);
      finish(C, c);
    },
    conv2dForward(y, x, w, spec) {
      const d = convDims(y, x, w, spec, 'conv2dForward');
      const { N, Cout, Ho, Wo } = d, P = Ho * Wo, CKK = d.Cin * d.k * d.k;
      const cols = im2col(asFloat32('x', x), d);
      const Y = scratch.get('Y', Cout * N * P); // (Cout, N·P)
      blas.sgemm(false, false, Cout, N * P, CKK, asFloat32('w', w), cols, Y);
      const out = output('y', y);
      kernels.permuteBlocks(out, Y, Cout, N, P); // → (N, Cout, P)
      finish(y, out);
    },
    conv2dBackwardInput(dx, dy, w, spec) {
      const d = convDims(dy, dx, w, spec, 'conv2dBackwardInput');
      const { N, Cout, Ho, Wo } = d, P = Ho * Wo, CKK = d.Cin * d.k * d.k;
      const dyc = scratch.get('dyc', Cout * N * P);
      kernels.permuteBlocks(dyc, asFloat32('dy', dy), N, Cout, P); // (Cout, N·P)
      const dcols = scratch.get('cols', CKK * N * P);
      blas.sgemm(true, false, CKK, N * P, Cout, asFloat32('w', w), dyc, dcols); // Wᵀ·dy: (CKK, N·P)
      const out = output('dx', dx);
      kernels.col2im(out, dcols, ...geometry(d));
      finish(dx, out);
    },
    conv2dBackwardFilter(dw, dy, x, spec) {
      const d = convDims(dy, x, dw, spec, 'conv2dBackwardFilter');
      const { N, Cout, Ho, Wo } = d, P = Ho * Wo, CKK = d.Cin * d.k * d.k;
      const cols = im2col(asFloat32('x', x), d);
      const dyc = scratch.get('dyc', Cout * N * P);
      kernels.permuteBlocks(dyc, asFloat32('dy', dy), N, Cout, P);
      const out = output('dw', dw);
      blas.sgemm(false, true, Cout, CKK, N * P, dyc, cols, out); // dy·colsᵀ: (Cout, CKK)
      finish(dw, out);
    },
    batchMatmul(C, A, B, transA = false, transB = false) {
      const { batch, M, N, K } = batchMatmulDims(C, A, B, transA, transB);
      const a = asFloat32('A', A), b = asFloat32('B', B);
      const c = output('C', C);
      for (let i = 0; i < batch; i++) {
        blas.sgemm(transA, transB, M, N, K, a.subarray(i * M * K), b.subarray(i * K * N), c.subarray(i * M * N));
      }
      finish(C, c);
    },
  };
  return backend;
}
