// Finite-difference gradient checks in float64 (micrograd / llm.c layernorm.py style).
// A layer's output y is reduced to a scalar L = Σ R⊙y with a fixed random R, so the analytic
// gradient of L with respect to y is exactly R; the backward pass maps R to ∂L/∂(input), and
// central differences (L(θ+h) − L(θ−h)) / 2h of every entry of θ give the reference.
import { expect } from 'vitest';
import type { Tensor } from '../../reference/tensor.ts';

/** ∂L/∂θ by central differences, θ perturbed in place (and restored). */
export function numericGradient(loss: () => number, theta: Tensor, h = 1e-6): Float64Array {
  const g = new Float64Array(theta.data.length);
  for (let i = 0; i < g.length; i++) {
    const saved = theta.data[i];
    theta.data[i] = saved + h;
    const plus = loss();
    theta.data[i] = saved - h;
    const minus = loss();
    theta.data[i] = saved;
    g[i] = (plus - minus) / (2 * h);
  }
  return g;
}

/** L = Σ R⊙y. */
export function projection(R: Tensor, y: Tensor): number {
  let s = 0;
  for (let i = 0; i < R.data.length; i++) s += R.data[i] * y.data[i];
  return s;
}

/**
 * ‖a − b‖ / max(‖a‖, ‖b‖, 1). The floor of 1 keeps a gradient that happens to be tiny from
 * being judged by central differences' round-off alone (about 1e-16·Σ|R⊙y| / h per entry,
 * 1e-8 or so here), like the atol of torch.autograd.gradcheck (whose atol 1e-5, rtol 1e-3 are
 * far looser than the 1e-6 used here).
 */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2; na += a[i] ** 2; nb += b[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(na), Math.sqrt(nb), 1);
}

/** Fails with the name, the relative error and the first entries when the gradients disagree. */
export function expectGradClose(name: string, analytic: ArrayLike<number>, numeric: ArrayLike<number>, tol = 1e-6): void {
  expect(analytic.length, `${name}: length`).toBe(numeric.length);
  const err = relativeError(analytic, numeric);
  if (!(err <= tol)) {
    const first = Array.from({ length: Math.min(5, analytic.length) }, (_, i) => `  [${i}] analytic ${analytic[i]} numeric ${numeric[i]}`);
    expect.fail(`${name}: relative error ${err.toExponential(3)} > ${tol}\n${first.join('\n')}`);
  }
}
