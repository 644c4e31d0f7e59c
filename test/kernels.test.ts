import fc from 'fast-check';
import { describe, it } from 'vitest';
import { referenceBackend } from '../reference/kernels.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { tensor, transpose2d } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';

// The transposed forms of matmul recomputed through explicit transposes (micrograd style).
describe('reference matmul', () => {
  it('op(A)·op(B) equals the product of materialised transposes', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }),
      fc.boolean(), fc.boolean(), fc.nat(1e6),
      (M, N, K, ta, tb, seed) => {
        const rng = new Rng(seed);
        const A = normalTensor(rng, ta ? [K, M] : [M, K], 1);
        const B = normalTensor(rng, tb ? [N, K] : [K, N], 1);
        const C = tensor([M, N]);
        referenceBackend.matmul(C, A, B, ta, tb);
        const a = ta ? transpose2d(A) : A, b = tb ? transpose2d(B) : B;
        const expected = new Float64Array(M * N);
        for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += (a.get(i, k) as number) * (b.get(k, j) as number);
          expected[i * N + j] = s;
        }
        expectClose('C', C.data, expected);
      }));
  });
});
