// Reference kernels: plain float64 loops over contiguous row-major data, written to be
// read. Every faster backend is tested against these.
import type { Backend, Conv2dSpec } from './backend.ts';
import { assertShape, type Tensor } from './tensor.ts';

/** C (M,N) = op(A)·op(B); A is (M,K) or (K,M) when transA; B is (K,N) or (N,K) when transB. */
export function matmul(C: Tensor, A: Tensor, B: Tensor, transA = false, transB = false): void {
  const [M, N] = C.shape;
  const K = transA ? A.shape[0] : A.shape[1];
  assertShape('matmul A', A, transA ? [K, M] : [M, K]);
  assertShape('matmul B', B, transB ? [N, K] : [K, N]);
  // strides of op(A) and op(B) as (row, col) pairs
  const [aRow, aCol] = transA ? [1, M] : [K, 1];
  const [bRow, bCol] = transB ? [1, K] : [N, 1];
  const a = A.data, b = B.data, c = C.data;
  const a0 = A.offset, b0 = B.offset, c0 = C.offset; // non-zero for slices of a batch
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      for (let k = 0; k < K; k++) sum += a[a0 + i * aRow + k * aCol] * b[b0 + k * bRow + j * bCol];
      c[c0 + i * N + j] = sum;
    }
  }
}

/** C[i] = op(A[i])·op(B[i]); the batch is the leading axis. */
export function batchMatmul(C: Tensor, A: Tensor, B: Tensor, transA = false, transB = false): void {
  const batch = C.shape[0];
  if (A.shape[0] !== batch || B.shape[0] !== batch) {
    throw new Error(`batchMatmul: batch sizes differ: C has ${batch}, A has ${A.shape[0]}, B has ${B.shape[0]}`);
  }
  for (let i = 0; i < batch; i++) matmul(C.pick(i, null, null) as Tensor, A.pick(i, null, null) as Tensor, B.pick(i, null, null) as Tensor, transA, transB);
}

function convShapes(y: Tensor, x: Tensor, w: Tensor, spec: Conv2dSpec) {
  const [N, Cin, H, W] = x.shape;
  const [Cout, , k] = w.shape;
  assertShape('conv2d kernel', w, [Cout, Cin, k, k]);
  const Ho = Math.floor((H + 2 * spec.padding - k) / spec.stride) + 1;
  const Wo = Math.floor((W + 2 * spec.padding - k) / spec.stride) + 1;
  assertShape('conv2d output', y, [N, Cout, Ho, Wo]);
  return { N, Cin, H, W, Cout, k, Ho, Wo };
}

/**
 * Visits every (output position, kernel tap) pair that lands inside the input:
 * y[n,o,i,j] += w[o,c,p,q] · x[n,c, i·s + p − pad, j·s + q − pad].
 * Forward, backward-input and backward-filter are the same sum read three ways.
 */
function forEachTap(
  dims: ReturnType<typeof convShapes>,
  spec: Conv2dSpec,
  visit: (yIdx: number, wIdx: number, xIdx: number) => void,
): void {
  const { N, Cin, H, W, Cout, k, Ho, Wo } = dims;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Cout; o++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          const yIdx = ((n * Cout + o) * Ho + i) * Wo + j;
          for (let c = 0; c < Cin; c++)
            for (let p = 0; p < k; p++) {
              const r = i * spec.stride + p - spec.padding;
              if (r < 0 || r >= H) continue;
              for (let q = 0; q < k; q++) {
                const s = j * spec.stride + q - spec.padding;
                if (s < 0 || s >= W) continue;
                visit(yIdx, ((o * Cin + c) * k + p) * k + q, ((n * Cin + c) * H + r) * W + s);
              }
            }
        }
}

export function conv2dForward(y: Tensor, x: Tensor, w: Tensor, spec: Conv2dSpec): void {
  const dims = convShapes(y, x, w, spec);
  const yd = y.data.fill(0), wd = w.data, xd = x.data;
  forEachTap(dims, spec, (yi, wi, xi) => { yd[yi] += wd[wi] * xd[xi]; });
}

export function conv2dBackwardInput(dx: Tensor, dy: Tensor, w: Tensor, spec: Conv2dSpec): void {
  const dims = convShapes(dy, dx, w, spec);
  const dxd = dx.data.fill(0), wd = w.data, dyd = dy.data;
  forEachTap(dims, spec, (yi, wi, xi) => { dxd[xi] += wd[wi] * dyd[yi]; });
}

export function conv2dBackwardFilter(dw: Tensor, dy: Tensor, x: Tensor, spec: Conv2dSpec): void {
  const dims = convShapes(dy, x, dw, spec);
  const dwd = dw.data.fill(0), xd = x.data, dyd = dy.data;
  forEachTap(dims, spec, (yi, wi, xi) => { dwd[wi] += dyd[yi] * xd[xi]; });
}

export const referenceBackend: Backend = {
  name: 'reference',
  precision: 'float64',
  kernelInfo: () => 'reference float64 loops (reference/kernels.ts)',
  matmul,
  batchMatmul,
  conv2dForward,
  conv2dBackwardInput,
  conv2dBackwardFilter,
};
