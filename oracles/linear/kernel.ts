// A float64 matmul for the linear-theory experiment: the reference kernel's arithmetic in
// i-k-j loop order over contiguous rows (operands given transposed are copied first), several
// times faster at the 64–128 sizes of the authors' set-up. Summation order differs from the
// reference dot-product loop, so results agree to rounding (test: linear-theory kernel), not
// bitwise. Used through ops() with `withBackend(fastFloat64Backend, …)`; the tests' oracles run
// on the reference kernels.
import type { Backend } from '../../reference/backend.ts';
import { referenceBackend } from '../../reference/kernels.ts';
import { assertShape, type Tensor } from '../../reference/tensor.ts';

function transposed(data: Float64Array, offset: number, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[offset + i * cols + j];
  return out;
}

/** C (M, N) = op(A)·op(B), overwriting C; the signature of Backend.matmul. */
export function matmulIkj(C: Tensor, A: Tensor, B: Tensor, transA = false, transB = false): void {
  const [M, N] = C.shape;
  const K = transA ? A.shape[0] : A.shape[1];
  assertShape('matmul A', A, transA ? [K, M] : [M, K]);
  assertShape('matmul B', B, transB ? [N, K] : [K, N]);
  const a = transA ? transposed(A.data, A.offset, K, M) : A.data;
  const a0 = transA ? 0 : A.offset;
  const b = transB ? transposed(B.data, B.offset, N, K) : B.data;
  const b0 = transB ? 0 : B.offset;
  const c = C.data, c0 = C.offset;
  c.fill(0, c0, c0 + M * N);
  for (let i = 0; i < M; i++) {
    const ci = c0 + i * N;
    for (let k = 0; k < K; k++) {
      const aik = a[a0 + i * K + k];
      if (aik === 0) continue;
      const bk = b0 + k * N;
      for (let j = 0; j < N; j++) c[ci + j] += aik * b[bk + j];
    }
  }
}

export const fastFloat64Backend: Backend = {
  ...referenceBackend,
  name: 'reference-ikj',
  kernelInfo: () => 'float64 i-k-j loops (oracles/linear/kernel.ts)',
  matmul: matmulIkj,
};
