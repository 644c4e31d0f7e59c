// GELU, tanh approximation (PyTorch nn.GELU(approximate='tanh'), the form GPT-2 and llm.c use):
//   y = ½·x·(1 + tanh(u)),   u = √(2/π)·(x + 0.044715·x³)
//   dy/dx = ½·(1 + tanh(u)) + ½·x·(1 − tanh²(u))·√(2/π)·(1 + 3·0.044715·x²)
// Chosen over the exact erf form (PyTorch's default, timm's ViT default) because JavaScript has
// no Math.erf and the tanh form's derivative is exact in closed form; the two differ by < 5e-4.
// Elementwise; backpropagated exactly under every rule (spec §4.3).
//   x, y, dx, dy: any shape, all the same
import { assertShape, type Tensor } from '../tensor.ts';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

/** Overwrites y.  y: (...)  x: (...) */
export function geluForward(y: Tensor, x: Tensor): void {
  assertShape('gelu y', y, x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i];
    y.data[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)));
  }
}

/** dx = dy ⊙ gelu'(x), overwritten.  dx: (...)  dy: (...)  x: (...) */
export function geluBackward(dx: Tensor, dy: Tensor, x: Tensor): void {
  assertShape('gelu dy', dy, x.shape);
  assertShape('gelu dx', dx, x.shape);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i];
    const t = Math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
    const local = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * v * v);
    dx.data[i] = dy.data[i] * local;
  }
}
