// The Backend ops of a float32 backend built on one primitive, a row-major float32 GEMM:
// op(A)·op(B) packs op(A), op(B) into float32 (transposing on the way; O(n²) against the
// O(n³) product) and calls it; convolutions are im2col + that GEMM, with the big dimension
// (N·Ho·Wo positions) as the GEMM's rows:
//   forward          Y   (NP, Cout) = cols (NP, CKK) · Wᵀ (CKK, Cout)
//   backward-input   dC  (NP, CKK)  = dYr  (NP, Cout) · W (Cout, CKK), then col2im (scatter-add)
//   backward-filter  dW  (Cout, CKK) = dYc (Cout, NP) · cols (NP, CKK)
// (NP = N·Ho·Wo, CKK = Cin·k·k). The float64 ↔ float32 copies do the NCHW permutes for free.
// Used by the wasm (XNNPACK) and native (OpenBLAS) backends.
import type { Backend, Conv2dSpec } from '../../reference/backend.ts';
import type { Tensor } from '../../reference/tensor.ts';
import { batchMatmulDims, convDims, matmulDims, packF32, Scratch, type ConvDims } from './common.ts';

/** out (M, N) = a (M, K) · b (K, N), all row-major float32; out may be reused by the next call. */
export type F32Gemm = (a: Float32Array, b: Float32Array, M: number, N: number, K: number) => Float32Array;
/** The same for `batch` stacked products (a: (batch, M, K), b: (batch, K, N)). */
export type F32BatchGemm = (a: Float32Array, b: Float32Array, batch: number, M: number, N: number, K: number) => Float32Array;

export type GemmOps = Pick<Backend, 'matmul' | 'batchMatmul' | 'conv2dForward' | 'conv2dBackwardInput' | 'conv2dBackwardFilter'>;

export function gemmBackendOps(gemm: F32Gemm, batchGemm: F32BatchGemm, scratch = new Scratch()): GemmOps {
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
    const out = batchGemm(a, b, batch, M, N, K);
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

  return { matmul, batchMatmul, conv2dForward, conv2dBackwardInput, conv2dBackwardFilter };
}
