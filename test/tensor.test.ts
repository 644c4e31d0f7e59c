// The elementwise helpers of reference/tensor.ts that are ndarray-ops calls, each against the
// same arithmetic done value by value on plain arrays: a += b and a *= s exactly, ‖a‖ against
// Math.hypot (a differently ordered, overflow-safe sum).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addInPlace, frobeniusNorm, scaleInPlace, tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';

const value = fc.integer({ min: -1e6, max: 1e6 }).map((i) => i / 1000);
const shaped = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }).chain((shape) => {
  const size = shape.reduce((p, q) => p * q, 1);
  return fc.record({ shape: fc.constant(shape), a: fc.array(value, { minLength: size, maxLength: size }), b: fc.array(value, { minLength: size, maxLength: size }) });
});

describe('tensor helpers', () => {
  it('addInPlace adds b to a in place, value by value, and returns a', () => {
    fc.assert(fc.property(shaped, ({ shape, a, b }) => {
      const ta = tensor(shape, a);
      expect(addInPlace(ta, tensor(shape, b))).toBe(ta);
      expect(Array.from(ta.data)).toEqual(a.map((x, i) => x + b[i]));
    }));
  });

  it('addInPlace refuses operands of different shapes, naming both', () => {
    expect(() => addInPlace(tensor([2, 3]), tensor([3, 2]))).toThrow('shape mismatch: addInPlace operand is [3, 2] but [2, 3] is required');
  });

  it('scaleInPlace multiplies every value by s', () => {
    fc.assert(fc.property(shaped, value, ({ shape, a }, s) => {
      const ta = tensor(shape, a);
      expect(scaleInPlace(ta, s)).toBe(ta);
      expect(Array.from(ta.data)).toEqual(a.map((x) => x * s));
    }));
  });

  it('frobeniusNorm is the square root of the sum of squares', () => {
    fc.assert(fc.property(shaped, ({ shape, a }) => {
      expectClose('‖a‖', [frobeniusNorm(tensor(shape, a))], [Math.hypot(...a)], { atol: 0, rtol: 1e-14 });
    }));
    expect(frobeniusNorm(tensor([2, 2], [3, 0, 0, -4]))).toBe(5);
    expect(frobeniusNorm(tensor([0]))).toBe(0);
  });
});
