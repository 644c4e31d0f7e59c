// The hot operations, behind one interface. The reference kernels (reference/kernels.ts)
// are the default; src/backends/ provides faster ones with the same signatures. Layers
// call `ops()` so that a test can run one model on any backend and compare.
import { zeros, type Tensor } from './tensor.ts';
import { referenceBackend } from './kernels.ts';

/** Square kernels only; `padding` zeros on every side. */
export interface Conv2dSpec {
  stride: number;
  padding: number;
}

export interface Backend {
  /** Name used on the command line (`--backend NAME`). */
  readonly name: string;
  /** Float precision the kernels compute in. */
  readonly precision: 'float64' | 'float32';
  /** What actually runs, detected at run time (e.g. "gpu.js WebAssemblyKernel"), never assumed. */
  kernelInfo(): string;

  /** C = op(A)·op(B), overwriting C. op(A) = Aᵀ when transA. C: (M, N). */
  matmul(C: Tensor, A: Tensor, B: Tensor, transA?: boolean, transB?: boolean): void;
  /** C[i] = op(A[i])·op(B[i]) for each i of the leading batch axis. A, B, C are 3-d. */
  batchMatmul(C: Tensor, A: Tensor, B: Tensor, transA?: boolean, transB?: boolean): void;

  /** y = conv(x, w). x: (N, Cin, H, W), w: (Cout, Cin, k, k), y: (N, Cout, Ho, Wo). */
  conv2dForward(y: Tensor, x: Tensor, w: Tensor, spec: Conv2dSpec): void;
  /** dx = conv_transposed(dy, w), the input gradient of conv2dForward with kernel w. Overwrites dx: (N, Cin, H, W). */
  conv2dBackwardInput(dx: Tensor, dy: Tensor, w: Tensor, spec: Conv2dSpec): void;
  /** dw = Σ_n,positions dy ⊗ x-patch, the filter gradient. Overwrites dw: (Cout, Cin, k, k). */
  conv2dBackwardFilter(dw: Tensor, dy: Tensor, x: Tensor, spec: Conv2dSpec): void;
}

let current: Backend = referenceBackend;

export function ops(): Backend {
  return current;
}

export function setBackend(backend: Backend): void {
  current = backend;
}

/** Runs fn with `backend` as the current backend, restoring the previous one afterwards. */
export function withBackend<T>(backend: Backend, fn: () => T): T {
  const previous = current;
  current = backend;
  try {
    return fn();
  } finally {
    current = previous;
  }
}

export function convOutputSize(inputSize: number, k: number, spec: Conv2dSpec): number {
  const out = Math.floor((inputSize + 2 * spec.padding - k) / spec.stride) + 1;
  if (out < 1) throw new Error(`conv2d: a ${k}×${k} kernel with padding ${spec.padding} does not fit an input of size ${inputSize}`);
  return out;
}

/** A new tensor holding op(A)·op(B). */
export function multiply(A: Tensor, B: Tensor, transA = false, transB = false): Tensor {
  const M = transA ? A.shape[1] : A.shape[0];
  const N = transB ? B.shape[0] : B.shape[1];
  const C = zeros([M, N]);
  current.matmul(C, A, B, transA, transB);
  return C;
}
