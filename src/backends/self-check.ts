// The kernel self-check shared by 'auto' and the web app; imports only reference/, so the
// browser bundle can use it without the Node-only backends.
import type { Backend } from '../../reference/backend.ts';
import { referenceBackend } from '../../reference/kernels.ts';
import { Rng, uniformTensor } from '../../reference/rng.ts';
import { tensor } from '../../reference/tensor.ts';

/**
 * The worst error, as a multiple of its tolerance (≤ 1 passes), of a backend's kernels against
 * the float64 reference: matmul with K = 1100 (> gpu.js's default loop cut-off of 1000) in all
 * transposed forms and a strided, padded conv forward / backward-input / backward-filter.
 * Used by 'auto' (registry.ts) and by the web app's in-page WebGL2 check (src/web/app.ts).
 */
export function kernelSelfCheck(backend: Backend): number {
  const rng = new Rng(20250226);
  const atol = 1e-4, rtol = 1e-4;
  let worst = 0;
  const compare = (got: Float64Array, ref: Float64Array) => {
    for (let i = 0; i < ref.length; i++) {
      const r = Math.abs(got[i] - ref[i]) / (atol + rtol * Math.abs(ref[i]));
      worst = Number.isNaN(r) ? Infinity : Math.max(worst, r);
    }
  };
  const M = 5, N = 7, K = 1100;
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    const A = uniformTensor(rng, ta ? [K, M] : [M, K], 1);
    const B = uniformTensor(rng, tb ? [N, K] : [K, N], 1);
    const got = tensor([M, N]), ref = tensor([M, N]);
    backend.matmul(got, A, B, ta, tb);
    referenceBackend.matmul(ref, A, B, ta, tb);
    compare(got.data, ref.data);
  }
  const spec = { stride: 2, padding: 1 };
  const x = uniformTensor(rng, [2, 3, 7, 6], 1), w = uniformTensor(rng, [4, 3, 3, 3], 1);
  const yShape = [2, 4, 4, 3];
  const y = tensor(yShape), yRef = tensor(yShape);
  backend.conv2dForward(y, x, w, spec);
  referenceBackend.conv2dForward(yRef, x, w, spec);
  compare(y.data, yRef.data);
  const dy = uniformTensor(rng, yShape, 1);
  const dx = tensor(x.shape), dxRef = tensor(x.shape);
  backend.conv2dBackwardInput(dx, dy, w, spec);
  referenceBackend.conv2dBackwardInput(dxRef, dy, w, spec);
  compare(dx.data, dxRef.data);
  const dw = tensor(w.shape), dwRef = tensor(w.shape);
  backend.conv2dBackwardFilter(dw, dy, x, spec);
  referenceBackend.conv2dBackwardFilter(dwRef, dy, x, spec);
  compare(dw.data, dwRef.data);
  return worst;
}
