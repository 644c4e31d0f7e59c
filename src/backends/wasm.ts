// Fast CPU backend: TensorFlow.js's WebAssembly backend (XNNPACK, SIMD, float32), whose
// .wasm binary ships inside the npm package, so it works offline.
//
// Measured on this machine (see /work/shared/spec/dependencies.md and bench/): tfjs-wasm's
// matMul is fast (~15 GFLOP/s at n=1024) only for the NON-transposed form; with
// transposeA/transposeB it drops to ~1.2 GFLOP/s. So op(A) and op(B) are always packed
// (transposed if needed) into float32 on the JS side, which costs O(n²) against the O(n³) product.
//
// Convolutions are im2col + that GEMM (gemm-ops.ts), with the big dimension (N·Ho·Wo
// positions) as the GEMM's rows, which is the layout XNNPACK's fully-connected operator is built for.
//
// Every op is synchronous (dataSync) and disposes every tfjs tensor it makes.
import type * as TF from '@tensorflow/tfjs-core';
import type { Backend } from '../../reference/backend.ts';
import { quietly } from './common.ts';
import { gemmBackendOps } from './gemm-ops.ts';

type Tf = typeof TF;

let tfPromise: Promise<Tf> | null = null;

/** Loads tfjs-core + the wasm backend once per process, with tfjs's console banners muted. */
async function loadTf(): Promise<Tf> {
  tfPromise ??= quietly(async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-wasm');
    const ok = await tf.setBackend('wasm');
    await tf.ready();
    if (!ok || tf.getBackend() !== 'wasm') {
      throw new Error(`wasm backend: tfjs could not initialise its 'wasm' backend (got '${tf.getBackend()}'); it needs @tensorflow/tfjs-backend-wasm@4.22.0 with its .wasm files in node_modules/@tensorflow/tfjs-backend-wasm/dist`);
    }
    tf.enableProdMode(); // no per-op NaN checks / debug work
    return tf;
  });
  try {
    return await tfPromise;
  } catch (e) {
    tfPromise = null;
    throw e;
  }
}

export interface WasmBackend extends Backend {
  /** tfjs's live tensor count and bytes (constant across calls when nothing leaks). */
  tfMemory(): { numTensors: number; numBytes: number };
}

export async function createWasmBackend(): Promise<WasmBackend> {
  const tf = await loadTf();
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');

  /** out (M, N) f32 = a (M, K) · b (K, N), all row-major. */
  function gemm(a: Float32Array, b: Float32Array, M: number, N: number, K: number): Float32Array {
    if (tf.getBackend() !== 'wasm') {
      throw new Error(`wasm backend: tfjs's active backend was switched to '${tf.getBackend()}' by other code; the 'wasm' backend needs tf.setBackend('wasm')`);
    }
    const ta = tf.tensor2d(a, [M, K], 'float32');
    const tb = tf.tensor2d(b, [K, N], 'float32');
    const tc = tf.matMul(ta, tb);
    const out = tc.dataSync() as Float32Array;
    ta.dispose(); tb.dispose(); tc.dispose();
    return out;
  }

  function batchGemm(a: Float32Array, b: Float32Array, batch: number, M: number, N: number, K: number): Float32Array {
    if (tf.getBackend() !== 'wasm') gemm(a, b, 1, 1, 1); // throws the message there
    const ta = tf.tensor3d(a, [batch, M, K], 'float32');
    const tb = tf.tensor3d(b, [batch, K, N], 'float32');
    const tc = tf.matMul(ta, tb);
    const out = tc.dataSync() as Float32Array;
    ta.dispose(); tb.dispose(); tc.dispose();
    return out;
  }

  // Read at call time: if someone switched tfjs to another backend, this says so.
  const info = () => `tfjs-backend-wasm ${tf.version_core} (XNNPACK, float32, ${simd ? 'SIMD' : 'no SIMD'}, ${threads ? 'multi-threaded' : '1 thread'}; tfjs backend now '${tf.getBackend()}')`;
  return {
    name: 'wasm',
    precision: 'float32',
    kernelInfo: info,
    tfMemory: () => { const m = tf.memory(); return { numTensors: m.numTensors, numBytes: m.numBytes }; },
    ...gemmBackendOps(gemm, batchGemm),
  };
}
