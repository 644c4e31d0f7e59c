// Elementwise activations   h = f(a)   and their backward   da = f′(a) ⊙ dh.
//   a, h, da, dh: any shape, all the same.
import type { Tensor } from '../tensor.ts';

export type ActivationName = 'relu' | 'tanh' | 'identity';
export const ACTIVATION_NAMES: readonly ActivationName[] = ['relu', 'tanh', 'identity'];

export function activationForward(h: Tensor, a: Tensor, f: ActivationName): void {
  const x = a.data, y = h.data;
  switch (f) {
    case 'relu': for (let i = 0; i < x.length; i++) y[i] = x[i] > 0 ? x[i] : 0; return;
    case 'tanh': for (let i = 0; i < x.length; i++) y[i] = Math.tanh(x[i]); return;
    case 'identity': y.set(x); return;
    default: throw new Error(`unknown activation '${f as string}': allowed are ${ACTIVATION_NAMES.join(', ')}`);
  }
}

/** δ = f′(a) ⊙ dh  (spec §1.2: every rule multiplies its teaching signal by f′). */
export function activationBackward(da: Tensor, dh: Tensor, a: Tensor, f: ActivationName): void {
  const x = a.data, g = dh.data, d = da.data;
  switch (f) {
    case 'relu': for (let i = 0; i < x.length; i++) d[i] = x[i] > 0 ? g[i] : 0; return;
    case 'tanh': for (let i = 0; i < x.length; i++) { const t = Math.tanh(x[i]); d[i] = (1 - t * t) * g[i]; } return;
    case 'identity': d.set(g); return;
    default: throw new Error(`unknown activation '${f as string}': allowed are ${ACTIVATION_NAMES.join(', ')}`);
  }
}
