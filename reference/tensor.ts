// Tensors are scijs ndarrays over a Float64Array, always contiguous and row-major
// (C order), offset 0. Reference loops index `t.data` with explicit strides, so a
// reader sees every stride; views (transpose, pick) are only used to build inputs.
// Whole-tensor elementwise helpers that are one ndarray-ops call (a += b, a *= s, ‖a‖₂) use
// it; fused updates (the optimisers) and ops it lacks (dot, first non-finite) stay loops
// (README, "Packages": bench/ndarray-ops.ts measures both).
import ndarray from 'ndarray';
import ops from 'ndarray-ops';

export type Tensor = ndarray.NdArray<Float64Array>;

export function tensor(shape: readonly number[], data?: ArrayLike<number>): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`tensor: bad shape [${shape.join(', ')}]: every dimension must be a non-negative integer`);
  }
  const buf = new Float64Array(size);
  if (data !== undefined) {
    if (data.length !== size) throw new Error(`tensor: shape [${shape.join(', ')}] holds ${size} values but ${data.length} were given`);
    buf.set(data);
  }
  return ndarray(buf, [...shape]);
}

export const zeros = (shape: readonly number[]): Tensor => tensor(shape);

export function zerosLike(t: Tensor): Tensor {
  return tensor(t.shape);
}

export function clone(t: Tensor): Tensor {
  assertContiguous('clone', t);
  return tensor(t.shape, t.data);
}

/** A contiguous copy of any ndarray view (e.g. `t.transpose(1, 0)`). */
export function materialize(view: ndarray.NdArray): Tensor {
  const out = tensor(view.shape);
  const idx = new Array<number>(view.shape.length).fill(0);
  for (let flat = 0; flat < out.data.length; flat++) {
    out.data[flat] = view.get(...idx) as number;
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < view.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** The same data seen with another shape of equal size (no copy). */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  assertContiguous('reshape', t);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== t.size) throw new Error(`reshape: cannot view [${t.shape.join(', ')}] (${t.size} values) as [${shape.join(', ')}] (${size} values)`);
  return ndarray(t.data, [...shape]);
}

export function transpose2d(t: Tensor): Tensor {
  return materialize(t.transpose(1, 0));
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Throws a message naming the tensor, the expected and the actual shape. -1 matches any size. */
export function assertShape(name: string, t: Tensor, expected: readonly number[]): void {
  const ok = t.shape.length === expected.length && expected.every((d, i) => d === -1 || d === t.shape[i]);
  if (!ok) {
    const show = (s: readonly number[]) => `[${s.map((d) => (d === -1 ? '*' : d)).join(', ')}]`;
    throw new Error(`shape mismatch: ${name} is ${show(t.shape)} but ${show(expected)} is required`);
  }
}

export function assertContiguous(name: string, t: ndarray.NdArray): void {
  let expect = 1;
  for (let d = t.shape.length - 1; d >= 0; d--) {
    if (t.shape[d] > 1 && t.stride[d] !== expect) throw new Error(`${name}: tensor must be contiguous row-major; use materialize() on views`);
    expect *= t.shape[d];
  }
  if (t.offset !== 0) throw new Error(`${name}: tensor must start at offset 0; use materialize() on views`);
}

export function fill(t: Tensor, value: number): Tensor {
  t.data.fill(value);
  return t;
}

/** a += b, elementwise (same shape). */
export function addInPlace(a: Tensor, b: Tensor): Tensor {
  if (!sameShape(a.shape, b.shape)) assertShape('addInPlace operand', b, a.shape);
  ops.addeq(a, b);
  return a;
}

/** a *= s, elementwise. */
export function scaleInPlace(a: Tensor, s: number): Tensor {
  ops.mulseq(a, s);
  return a;
}

/** ‖t‖_F = sqrt(Σ t²), summed in memory order. */
export function frobeniusNorm(t: Tensor): number {
  return ops.norm2(t);
}

export function dot(a: Tensor, b: Tensor): number {
  if (!sameShape(a.shape, b.shape)) assertShape('dot operand', b, a.shape);
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i] * b.data[i];
  return s;
}

/** Index of the first non-finite value, or -1. */
export function firstNonFinite(t: Tensor): number {
  const x = t.data;
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return i;
  return -1;
}

/** Every entry of t clamped to [−c, c], in place (gradient and signal clamps). */
export function clampInPlace(t: Tensor, c: number): void {
  const x = t.data;
  for (let i = 0; i < x.length; i++) x[i] = Math.min(c, Math.max(-c, x[i]));
}
