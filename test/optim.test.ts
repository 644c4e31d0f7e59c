// Optimisers (reference/optim.ts) on one-entry parameters, against steps worked by hand from
// the published update rules: SGD with momentum and L2 decay (PyTorch's SGD), Adam with bias
// correction (Kingma & Ba 2015), AdamW's decoupled decay (Loshchilov & Hutter 2019), AMSGrad.
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIMIZER, Optimizer, type OptimizerConfig } from '../reference/optim.ts';
import { param, type Param } from '../reference/params.ts';
import { tensor } from '../reference/tensor.ts';

/** One scalar parameter w, stepped with the given gradients in turn; returns w after each step. */
function trajectory(config: Partial<OptimizerConfig>, w0: number, grads: number[], decay = true): number[] {
  const p: Param = param('w', tensor([1], [w0]), decay);
  const opt = new Optimizer({ ...DEFAULT_OPTIMIZER, ...config }, [p]);
  return grads.map((g) => {
    p.grad.data[0] = g;
    opt.step();
    return p.value.data[0];
  });
}

const close = (actual: number[], expected: number[]) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]), `step ${i + 1}: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(1e-15));
};

describe('SGD', () => {
  it('v ← μv + (g + wd·w), w ← w − lr·v: two steps by hand', () => {
    // step 1: g + wd·w = 0.5 + 0.01·1 = 0.51 = v;  w = 1 − 0.1·0.51 = 0.949
    // step 2: g + wd·w = 0.5 + 0.01·0.949 = 0.50949;  v = 0.9·0.51 + 0.50949 = 0.96849;  w = 0.949 − 0.096849
    close(trajectory({ kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 }, 1, [0.5, 0.5]), [0.949, 0.949 - 0.1 * 0.96849]);
  });

  it('parameters marked decay = false (biases, norm parameters) get no weight decay', () => {
    close(trajectory({ kind: 'sgd', lr: 0.1, momentum: 0, weightDecay: 0.5 }, 2, [0, 0], false), [2, 2]);
    close(trajectory({ kind: 'sgd', lr: 0.1, momentum: 0, weightDecay: 0.5 }, 2, [0]), [2 - 0.1 * 0.5 * 2]);
  });
});

describe('Adam, AdamW, AMSGrad', () => {
  const b1 = 0.9, b2 = 0.999, eps = 1e-8;

  it('Adam: bias-corrected moments, two steps by hand', () => {
    // step 1: m̂ = g, v̂ = g², so w moves by lr·g/(|g| + ε)
    const w1 = 1 - (0.1 * 0.5) / (0.5 + eps);
    // step 2 (g = −0.25): m = 0.9·0.05 + 0.1·(−0.25) = 0.02;  v = 0.999·0.00025 + 0.001·0.0625 = 0.00031225
    const mHat = 0.02 / (1 - b1 ** 2), vHat = 0.00031225 / (1 - b2 ** 2);
    close(trajectory({ kind: 'adam', lr: 0.1 }, 1, [0.5, -0.25]), [w1, w1 - (0.1 * mHat) / (Math.sqrt(vHat) + eps)]);
  });

  it('Adam adds wd·w to the gradient; AdamW decays w directly (w ← w − lr·wd·w) and leaves the moments alone', () => {
    // Adam with g = 0: the gradient is wd·w = 0.02, and the step is lr·0.02/(0.02 + ε)
    close(trajectory({ kind: 'adam', lr: 0.1, weightDecay: 0.01 }, 2, [0]), [2 - (0.1 * 0.02) / (0.02 + eps)]);
    // AdamW with g = 0: only the decoupled decay moves w
    close(trajectory({ kind: 'adamw', lr: 0.1, weightDecay: 0.01 }, 2, [0]), [2 - 0.1 * 0.01 * 2]);
  });

  it('AMSGrad divides by the largest v seen so far', () => {
    // g = 1, 0: v₁ = 0.001, v₂ = 0.999·0.001 < v₁, so AMSGrad uses v₁ at step 2 and Adam v₂.
    const w1 = 1 - (0.1 * 1) / (1 + eps);
    const mHat = (b1 * 0.1) / (1 - b1 ** 2);
    const step2 = (v: number) => w1 - (0.1 * mHat) / (Math.sqrt(v / (1 - b2 ** 2)) + eps);
    close(trajectory({ kind: 'adam', lr: 0.1 }, 1, [1, 0]), [w1, step2(b2 * 0.001)]);
    close(trajectory({ kind: 'adam', lr: 0.1, amsgrad: true }, 1, [1, 0]), [w1, step2(0.001)]);
  });

  it('a zero gradient from the start leaves w where it is (no decay)', () => {
    for (const kind of ['sgd', 'adam', 'adamw'] as const) close(trajectory({ kind, lr: 0.1, momentum: 0.9 }, 3, [0, 0, 0]), [3, 3, 3]);
  });
});

describe('state and errors', () => {
  it('state() / restore() continue a run exactly (checkpoints)', () => {
    const p = param('w', tensor([2], [1, -1])), q = param('w', tensor([2], [1, -1]));
    const a = new Optimizer({ ...DEFAULT_OPTIMIZER, kind: 'adam', lr: 0.05 }, [p]);
    const grads = [[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]];
    for (const g of grads) { p.grad.data.set(g); a.step(); }
    const b = new Optimizer({ ...DEFAULT_OPTIMIZER, kind: 'adam', lr: 0.05 }, [q]);
    for (const g of grads.slice(0, 2)) { q.grad.data.set(g); b.step(); }
    const resumed = new Optimizer({ ...DEFAULT_OPTIMIZER, kind: 'adam', lr: 0.05 }, [q]);
    resumed.restore(b.state());
    q.grad.data.set(grads[2]);
    resumed.step();
    expect(Array.from(q.value.data)).toEqual(Array.from(p.value.data));
  });

  it.each([
    [{ kind: 'rmsprop' as never }, /optimiser: unknown optimiser 'rmsprop': allowed are sgd, adam, adamw/],
    [{ lr: Number.NaN }, /learning rate must be a finite number ≥ 0, got NaN/],
    [{ lr: -1 }, /learning rate must be a finite number ≥ 0, got -1/],
    [{ weightDecay: Infinity }, /weight decay must be a finite number ≥ 0, got Infinity/],
    [{ momentum: 1 }, /momentum must be in \[0, 1\), got 1/],
    [{ beta2: 1 }, /Adam betas must be in \[0, 1\), got 0.9, 1/],
  ])('%o is refused with a message naming the value', (bad, message) => {
    expect(() => new Optimizer({ ...DEFAULT_OPTIMIZER, ...bad }, [])).toThrow(message);
  });
});
