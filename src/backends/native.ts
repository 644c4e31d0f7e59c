// Native CPU backend: OpenBLAS's cblas_sgemm (AVX2/AVX-512 float32, pthreads) through the
// small optional N-API addon in native/ (built by `npm install`; see native/build.mjs).
// The addon dlopen()s the BLAS library at run time and multiplies JS Float32Arrays in place
// (zero-copy). Where the addon was not built or no BLAS library loads, createNativeBlas()
// throws saying which, and `auto` picks another backend.
//
// Threads: OpenBLAS on 2 threads is ~1.7× faster than on 1 for the large products of an MLP
// step (128×784×1024: 176 against 105 GFLOP/s), and slower for small ones (64×256×256,
// where the thread hand-off costs more than it saves), so each call picks by its FLOPs
// (measured on this machine; docs/backends.md).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Backend } from '../../reference/backend.ts';
import { PACKAGE_ROOT } from '../package-root.ts';
import { Scratch } from './common.ts';
import { gemmBackendOps } from './gemm-ops.ts';

export const ADDON_PATH = join(PACKAGE_ROOT, 'native', 'build', 'Release', 'ldfa_blas.node');
/** Tried in order: Debian's libopenblas0-pthread (and -openmp/-serial) and the generic names. */
export const BLAS_LIBRARIES = ['libopenblas.so.0', 'libopenblas.so', 'libopenblasp.so.0', 'libcblas.so.3', 'libblas.so.3'];

interface Addon {
  load(paths: string[]): { library: string; config: string; threads: number };
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, lda: number, B: Float32Array, ldb: number, beta: number, C: Float32Array, ldc: number): void;
  setThreads(n: number): void;
  getThreads(): number;
}

export interface NativeBlas {
  /** C = α·op(A)·op(B) + β·C on row-major float32 arrays (subarrays allowed); ld* default to the packed row lengths. */
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: Float32Array, B: Float32Array, C: Float32Array, alpha?: number, beta?: number): void;
  /** "OpenBLAS 0.3.21 … (libopenblas.so.0), threads: 1 below 2·M·N·K = 5e7 FLOPs, else 2". */
  info: string;
  /** The largest thread count used (OpenBLAS's default: one per core). */
  maxThreads: number;
}

/** Products with fewer FLOPs than this run on 1 thread (measured cross-over, see the header). */
export const THREADED_MIN_FLOPS = 5e7;

let cached: NativeBlas | null = null;

export function createNativeBlas(): NativeBlas {
  if (cached !== null) return cached;
  if (!existsSync(ADDON_PATH)) {
    throw new Error(`native backend: the addon ${ADDON_PATH} was not built (npm install builds it with node-gyp; it needs a C compiler and Node's headers; run 'node native/build.mjs' to see why it failed)`);
  }
  const addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  let loaded: ReturnType<Addon['load']>;
  try {
    loaded = addon.load(BLAS_LIBRARIES);
  } catch (e) {
    throw new Error(`native backend: ${(e as Error).message}; install one, e.g. apt-get install libopenblas0-pthread`);
  }
  const maxThreads = Math.max(1, loaded.threads);
  let threads = maxThreads;
  const setThreads = (n: number) => { if (n !== threads) { addon.setThreads(n); threads = n; } };
  cached = {
    sgemm(transA, transB, M, N, K, A, B, C, alpha = 1, beta = 0) {
      setThreads(2 * M * N * K >= THREADED_MIN_FLOPS ? maxThreads : 1);
      addon.sgemm(transA, transB, M, N, K, alpha, A, transA ? M : K, B, transB ? K : N, beta, C, N);
    },
    info: `${loaded.config} (${loaded.library}), threads: 1 below 2·M·N·K = ${THREADED_MIN_FLOPS.toExponential(0)} FLOPs, else ${maxThreads}`,
    maxThreads,
  };
  return cached;
}

/** The Backend interface on OpenBLAS (float64 in and out, float32 inside, like wasm). */
export function createNativeBackend(): Backend {
  const blas = createNativeBlas();
  const scratch = new Scratch();
  const gemm = (a: Float32Array, b: Float32Array, M: number, N: number, K: number) => {
    const out = scratch.get('out', M * N);
    blas.sgemm(false, false, M, N, K, a, b, out);
    return out;
  };
  const batchGemm = (a: Float32Array, b: Float32Array, batch: number, M: number, N: number, K: number) => {
    const out = scratch.get('out', batch * M * N);
    for (let i = 0; i < batch; i++) {
      blas.sgemm(false, false, M, N, K, a.subarray(i * M * K, (i + 1) * M * K), b.subarray(i * K * N, (i + 1) * K * N), out.subarray(i * M * N, (i + 1) * M * N));
    }
    return out;
  };
  return {
    name: 'native',
    precision: 'float32',
    kernelInfo: () => `native cblas_sgemm: ${blas.info}`,
    ...gemmBackendOps(gemm, batchGemm, scratch),
  };
}
