// Float32 storage behind the reference's Tensor type.
//
// The reference layer functions, losses, rules' elementwise code and the optimiser read and
// write `t.data[i]` and `t.shape` only, so they run unchanged on a Float32Array: the fast path
// reuses them instead of keeping float32 twins. The static type stays `Tensor` (whose data is
// declared Float64Array) so shape checks and signatures are shared; isFloat32() tells the
// two storages apart where it matters (the native backend multiplies float32 operands in place).
import ndarray from 'ndarray';
import type { Tensor } from '../../reference/tensor.ts';

/** A zero float32 tensor of this shape. */
export function float32Tensor(shape: readonly number[], data?: ArrayLike<number>): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const buf = new Float32Array(size);
  if (data !== undefined) buf.set(data);
  return ndarray(buf, [...shape]) as unknown as Tensor;
}

/** A float32 tensor of this shape on existing storage (a reused work array), not copied. */
export function float32View(data: Float32Array, shape: readonly number[]): Tensor {
  return ndarray(data, [...shape]) as unknown as Tensor;
}

export function isFloat32(t: Tensor): boolean {
  return (t.data as ArrayLike<number>) instanceof Float32Array;
}

/** Moves t's values into float32 storage in place (the same Tensor object, so every holder sees it). */
export function storeAsFloat32(t: Tensor): void {
  if (isFloat32(t)) return;
  (t as unknown as { data: Float32Array }).data = Float32Array.from(t.data);
}
