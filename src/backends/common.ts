// Shared plumbing for the float32 backends: shape checks with the reference's messages,
// float64 → float32 packing of op(X) (transposing on the way), and conv dimensions.
import type { Conv2dSpec } from '../../reference/backend.ts';
import { assertShape, type Tensor } from '../../reference/tensor.ts';

export interface MatmulDims { M: number; N: number; K: number }

/** Checks op(A)·op(B) against C exactly like reference/kernels.ts does; returns M, N, K. */
export function matmulDims(C: Tensor, A: Tensor, B: Tensor, transA: boolean, transB: boolean, what = 'matmul'): MatmulDims {
  if (C.shape.length !== 2 || A.shape.length !== 2 || B.shape.length !== 2) {
    throw new Error(`${what}: A, B and C must be 2-d; got A [${A.shape.join(', ')}], B [${B.shape.join(', ')}], C [${C.shape.join(', ')}]`);
  }
  const [M, N] = C.shape;
  const K = transA ? A.shape[0] : A.shape[1];
  assertShape(`${what} A`, A, transA ? [K, M] : [M, K]);
  assertShape(`${what} B`, B, transB ? [N, K] : [K, N]);
  return { M, N, K };
}

/** Checks a batched product; A, B, C are 3-d with the same leading batch size. */
export function batchMatmulDims(C: Tensor, A: Tensor, B: Tensor, transA: boolean, transB: boolean): MatmulDims & { batch: number } {
  if (C.shape.length !== 3 || A.shape.length !== 3 || B.shape.length !== 3) {
    throw new Error(`batchMatmul: A, B and C must be 3-d; got A [${A.shape.join(', ')}], B [${B.shape.join(', ')}], C [${C.shape.join(', ')}]`);
  }
  const batch = C.shape[0];
  if (A.shape[0] !== batch || B.shape[0] !== batch) {
    throw new Error(`batchMatmul: batch sizes differ: C has ${batch}, A has ${A.shape[0]}, B has ${B.shape[0]}`);
  }
  const [, M, N] = C.shape;
  const K = transA ? A.shape[1] : A.shape[2];
  assertShape('batchMatmul A', A, transA ? [batch, K, M] : [batch, M, K]);
  assertShape('batchMatmul B', B, transB ? [batch, N, K] : [batch, K, N]);
  return { batch, M, N, K };
}

/**
 * Writes op(X) as a row-major (rows, cols) float32 block at dst[dstOff..]. X is stored
 * row-major at src[srcOff..] as (rows, cols), or as (cols, rows) when `trans`.
 * The transpose is blocked (32×32) so both sides stay in cache.
 */
export function packF32(
  dst: Float32Array, dstOff: number, src: Float64Array, srcOff: number, rows: number, cols: number, trans: boolean,
): void {
  if (!trans) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i];
    return;
  }
  const T = 32;
  for (let i0 = 0; i0 < rows; i0 += T) {
    const i1 = Math.min(rows, i0 + T);
    for (let j0 = 0; j0 < cols; j0 += T) {
      const j1 = Math.min(cols, j0 + T);
      for (let j = j0; j < j1; j++) {
        const s = srcOff + j * rows; // X stored (cols, rows): op(X)[i][j] = X[j][i]
        for (let i = i0; i < i1; i++) dst[dstOff + i * cols + j] = src[s + i];
      }
    }
  }
}

/** Grow-only float32 scratch buffers, one per named slot, so hot calls do not allocate. */
export class Scratch {
  private readonly slots = new Map<string, Float32Array>();
  get(slot: string, size: number): Float32Array {
    let buf = this.slots.get(slot);
    if (buf === undefined || buf.length < size) {
      buf = new Float32Array(Math.max(size, Math.ceil((buf?.length ?? 0) * 1.5)));
      this.slots.set(slot, buf);
    }
    return buf.subarray(0, size);
  }
  clear(): void { this.slots.clear(); }
}

export interface ConvDims {
  N: number; Cin: number; H: number; W: number; Cout: number; k: number; Ho: number; Wo: number;
  stride: number; padding: number;
}

/** x: (N, Cin, H, W), w: (Cout, Cin, k, k), y: (N, Cout, Ho, Wo); same checks as the reference. */
export function convDims(y: Tensor, x: Tensor, w: Tensor, spec: Conv2dSpec, what: string): ConvDims {
  if (x.shape.length !== 4 || w.shape.length !== 4 || y.shape.length !== 4) {
    throw new Error(`${what}: input, kernel and output must be 4-d (NCHW, (Cout, Cin, k, k)); got x [${x.shape.join(', ')}], w [${w.shape.join(', ')}], y [${y.shape.join(', ')}]`);
  }
  if (!Number.isInteger(spec.stride) || spec.stride < 1 || !Number.isInteger(spec.padding) || spec.padding < 0) {
    throw new Error(`${what}: stride ${spec.stride} / padding ${spec.padding} not allowed: stride must be an integer ≥ 1, padding an integer ≥ 0`);
  }
  const [N, Cin, H, W] = x.shape;
  const [Cout, , k] = w.shape;
  assertShape(`${what} kernel`, w, [Cout, Cin, k, k]);
  const Ho = Math.floor((H + 2 * spec.padding - k) / spec.stride) + 1;
  const Wo = Math.floor((W + 2 * spec.padding - k) / spec.stride) + 1;
  if (Ho < 1 || Wo < 1) throw new Error(`${what}: a ${k}×${k} kernel with padding ${spec.padding} does not fit an input of ${H}×${W}`);
  assertShape(`${what} output`, y, [N, Cout, Ho, Wo]);
  return { N, Cin, H, W, Cout, k, Ho, Wo, stride: spec.stride, padding: spec.padding };
}

export function toF32(src: Float64Array, dst: Float32Array): Float32Array {
  for (let i = 0; i < dst.length; i++) dst[i] = src[i];
  return dst;
}

/** Runs fn with console.log/info/warn silenced (library banners); restores them afterwards. */
export async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const saved = { log: console.log, info: console.info, warn: console.warn };
  const mute = () => {};
  console.log = mute; console.info = mute; console.warn = mute;
  try {
    return await fn();
  } finally {
    console.log = saved.log; console.info = saved.info; console.warn = saved.warn;
  }
}
