// Fast CPU backend: TensorFlow.js's WebAssembly backend (XNNPACK, SIMD, float32), whose
// .wasm binary ships inside the npm package, so it works offline.
//
// Measured on this machine (see /work/shared/spec/dependencies.md and bench/): tfjs-wasm's
// matMul is fast (~15 GFLOP/s at n=1024) only for the NON-transposed form; with
// transposeA/transposeB it drops to ~1.2 GFLOP/s. So op(A) and op(B) are always packed
// (transposed if needed) into float32 on the JS side, which costs O(n²) against the O(n³) product.
//
// Convolutions are im2col + that GEMM, with the big dimension (N·Ho·Wo positions) as the
// GEMM's rows, which is the layout XNNPACK's fully-connected operator is built for:
//   forward          Y   (NP, Cout) = cols (NP, CKK) · Wᵀ (CKK, Cout)
//   backward-input   dC  (NP, CKK)  = dYr  (NP, Cout) · W (Cout, CKK), then col2im (scatter-add)
//   backward-filter  dW  (Cout, CKK) = dYc (Cout, NP) · cols (NP, CKK)
// (NP = N·Ho·Wo, CKK = Cin·k·k). The float64 ↔ float32 copies do the NCHW permutes for free.
//
// Every op is synchronous (dataSync) and disposes every tfjs tensor it makes.
import type * as TF from '@tensorflow/tfjs-core';
import type { Backend, Conv2dSpec } from '../../reference/backend.ts';
import type { Tensor } from '../../reference/tensor.ts';
import { batchMatmulDims, convDims, matmulDims, packF32, quietly, Scratch, type ConvDims } from './common.ts';

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
  const scratch = new Scratch();
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

  function matmul(C: Tensor, A: Tensor, B: Tensor, transA = false, transB = false): void {
    const { M, N, K } = matmulDims(C, A, B, transA, transB);
    const c = C.data, c0 = C.offset;
    if (M * N === 0) return;
    if (K === 0) { c.fill(0, c0, c0 + M * N); return; }
    const a = scratch.get('A', M * K), b = scratch.get('B', K * N);
    packF32(a, 0, A.data, A.offset, M, K, transA);
    packF32(b, 0, B.data, B.offset, K, N, transB);
    const out = gemm(a, b, M, N, K);
    for (let i = 0; i < M * N; i++) c[c0 + i] = out[i];
  }

  function batchMatmul(C: Tensor, A: Tensor, B: Tensor, transA = false, transB = false): void {
    const { batch, M, N, K } = batchMatmulDims(C, A, B, transA, transB);
    const c = C.data, c0 = C.offset;
    if (batch * M * N === 0) return;
    if (K === 0) { c.fill(0, c0, c0 + batch * M * N); return; }
    const a = scratch.get('A', batch * M * K), b = scratch.get('B', batch * K * N);
    for (let i = 0; i < batch; i++) {
      packF32(a, i * M * K, A.data, A.offset + i * M * K, M, K, transA);
      packF32(b, i * K * N, B.data, B.offset + i * K * N, K, N, transB);
    }
    if (tf.getBackend() !== 'wasm') gemm(a, b, 1, 1, 1); // throws the message above
    const ta = tf.tensor3d(a, [batch, M, K], 'float32');
    const tb = tf.tensor3d(b, [batch, K, N], 'float32');
    const tc = tf.matMul(ta, tb);
    const out = tc.dataSync();
    ta.dispose(); tb.dispose(); tc.dispose();
    for (let i = 0; i < batch * M * N; i++) c[c0 + i] = out[i];
  }

  /** cols[(n·P + i·Wo + j)·CKK + (c·k + p)·k + q] = x[n, c, i·s + p − pad, j·s + q − pad] (0 outside). */
  function im2col(x: Float64Array, d: ConvDims): Float32Array {
    const { N, Cin, H, W, k, Ho, Wo, stride, padding } = d;
    const CKK = Cin * k * k;
    const cols = scratch.get('cols', N * Ho * Wo * CKK);
    let t = 0;
    for (let n = 0; n < N; n++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++)
          for (let c = 0; c < Cin; c++) {
            const plane = (n * Cin + c) * H;
            for (let p = 0; p < k; p++) {
              const r = i * stride + p - padding;
              if (r < 0 || r >= H) { for (let q = 0; q < k; q++) cols[t++] = 0; continue; }
              const row = (plane + r) * W;
              for (let q = 0; q < k; q++) {
                const s = j * stride + q - padding;
                cols[t++] = s >= 0 && s < W ? x[row + s] : 0;
              }
            }
          }
    return cols;
  }

  function conv2dForward(y: Tensor, x: Tensor, w: Tensor, spec: Conv2dSpec): void {
    const d = convDims(y, x, w, spec, 'conv2dForward');
    const { N, Cin, Cout, k, Ho, Wo } = d;
    const CKK = Cin * k * k, P = Ho * Wo, NP = N * P;
    const cols = im2col(x.data, d);
    const wT = scratch.get('W', CKK * Cout);
    packF32(wT, 0, w.data, 0, CKK, Cout, true); // Wᵀ: (CKK, Cout)
    const Y = gemm(cols, wT, NP, Cout, CKK); // (NP, Cout)
    const yd = y.data;
    for (let n = 0; n < N; n++)
      for (let o = 0; o < Cout; o++) {
        const dst = (n * Cout + o) * P;
        for (let pos = 0; pos < P; pos++) yd[dst + pos] = Y[(n * P + pos) * Cout + o];
      }
  }

  function conv2dBackwardInput(dx: Tensor, dy: Tensor, w: Tensor, spec: Conv2dSpec): void {
    const d = convDims(dy, dx, w, spec, 'conv2dBackwardInput');
    const { N, Cin, H, W, Cout, k, Ho, Wo, stride, padding } = d;
    const CKK = Cin * k * k, P = Ho * Wo, NP = N * P;
    const dyr = scratch.get('dy', NP * Cout); // (NP, Cout)
    const dyd = dy.data;
    for (let n = 0; n < N; n++)
      for (let o = 0; o < Cout; o++) {
        const src = (n * Cout + o) * P;
        for (let pos = 0; pos < P; pos++) dyr[(n * P + pos) * Cout + o] = dyd[src + pos];
      }
    const wm = scratch.get('W', Cout * CKK);
    packF32(wm, 0, w.data, 0, Cout, CKK, false);
    const dcols = gemm(dyr, wm, NP, CKK, Cout); // (NP, CKK)
    const dxd = dx.data.fill(0);
    let t = 0;
    for (let n = 0; n < N; n++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++)
          for (let c = 0; c < Cin; c++) {
            const plane = (n * Cin + c) * H;
            for (let p = 0; p < k; p++) {
              const r = i * stride + p - padding;
              if (r < 0 || r >= H) { t += k; continue; }
              const row = (plane + r) * W;
              for (let q = 0; q < k; q++, t++) {
                const s = j * stride + q - padding;
                if (s >= 0 && s < W) dxd[row + s] += dcols[t];
              }
            }
          }
  }

  function conv2dBackwardFilter(dw: Tensor, dy: Tensor, x: Tensor, spec: Conv2dSpec): void {
    const d = convDims(dy, x, dw, spec, 'conv2dBackwardFilter');
    const { N, Cin, Cout, k, Ho, Wo } = d;
    const CKK = Cin * k * k, P = Ho * Wo, NP = N * P;
    const cols = im2col(x.data, d);
    const dyc = scratch.get('dy', Cout * NP); // (Cout, NP)
    const dyd = dy.data;
    for (let n = 0; n < N; n++)
      for (let o = 0; o < Cout; o++) {
        const src = (n * Cout + o) * P, dst = o * NP + n * P;
        for (let pos = 0; pos < P; pos++) dyc[dst + pos] = dyd[src + pos];
      }
    const out = gemm(dyc, cols, Cout, CKK, NP); // (Cout, CKK) = dw's layout
    const dwd = dw.data;
    for (let i = 0; i < Cout * CKK; i++) dwd[i] = out[i];
  }

  // Read at call time: if someone switched tfjs to another backend, this says so.
  const info = () => `tfjs-backend-wasm ${tf.version_core} (XNNPACK, float32, ${simd ? 'SIMD' : 'no SIMD'}, ${threads ? 'multi-threaded' : '1 thread'}; tfjs backend now '${tf.getBackend()}')`;
  return {
    name: 'wasm',
    precision: 'float32',
    kernelInfo: info,
    tfMemory: () => { const m = tf.memory(); return { numTensors: m.numTensors, numBytes: m.numBytes }; },
    matmul,
    batchMatmul,
    conv2dForward,
    conv2dBackwardInput,
    conv2dBackwardFilter,
  };
}
