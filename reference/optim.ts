// Optimisers. Each step reads p.grad and updates p.value in place. State (moments) is
// keyed by parameter name so it can be saved in a checkpoint and restored.
import type { Param } from './params.ts';

export type OptimizerName = 'sgd' | 'adam' | 'adamw';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['sgd', 'adam', 'adamw'];

export interface OptimizerConfig {
  kind: OptimizerName;
  lr: number;
  /** SGD/Adam: L2 added to the gradient; AdamW: decoupled, p ← p − lr·wd·p. */
  weightDecay: number;
  momentum: number;          // SGD only
  beta1: number;             // Adam/AdamW
  beta2: number;
  eps: number;
  amsgrad: boolean;
}

export const DEFAULT_OPTIMIZER: OptimizerConfig = {
  kind: 'adam', lr: 1e-3, weightDecay: 0, momentum: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, amsgrad: false,
};

export interface OptimizerState {
  step: number;
  buffers: Record<string, number[][]>; // name → [m, v, vmax] (or [velocity] for SGD)
}

export function checkOptimizerConfig(c: OptimizerConfig, what: string): void {
  if (!OPTIMIZER_NAMES.includes(c.kind)) throw new Error(`${what}: unknown optimiser '${c.kind}': allowed are ${OPTIMIZER_NAMES.join(', ')}`);
  if (!Number.isFinite(c.lr) || c.lr < 0) throw new Error(`${what}: learning rate must be a finite number ≥ 0, got ${c.lr}`);
  if (!Number.isFinite(c.weightDecay) || c.weightDecay < 0) throw new Error(`${what}: weight decay must be a finite number ≥ 0, got ${c.weightDecay}`);
  if (!(c.momentum >= 0 && c.momentum < 1)) throw new Error(`${what}: momentum must be in [0, 1), got ${c.momentum}`);
  if (!(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1)) throw new Error(`${what}: Adam betas must be in [0, 1), got ${c.beta1}, ${c.beta2}`);
}

export class Optimizer {
  private stepCount = 0;
  private readonly buffers = new Map<string, Float64Array[]>();

  constructor(readonly config: OptimizerConfig, private readonly params: Param[]) {
    checkOptimizerConfig(config, 'optimiser');
  }

  /** lr and the weight decay may change per epoch (schedules); everything else is fixed. */
  step(lr = this.config.lr, weightDecay = this.config.weightDecay): void {
    this.stepCount++;
    for (const p of this.params) this.update(p, lr, weightDecay);
  }

  private buffer(p: Param, count: number): Float64Array[] {
    let b = this.buffers.get(p.name);
    if (!b) {
      b = Array.from({ length: count }, () => new Float64Array(p.value.size));
      this.buffers.set(p.name, b);
    }
    return b;
  }

  private update(p: Param, lr: number, weightDecay: number): void {
    const { kind, momentum, beta1, beta2, eps, amsgrad } = this.config;
    const w = p.value.data, g = p.grad.data;
    const wd = p.decay ? weightDecay : 0;
    if (kind === 'sgd') {
      // v ← μ·v + (g + wd·w);  w ← w − lr·v
      const [v] = this.buffer(p, 1);
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] + wd * w[i];
        v[i] = momentum * v[i] + gi;
        w[i] -= lr * v[i];
      }
      return;
    }
    // Adam (Kingma & Ba) with bias correction; AdamW decouples the decay (Loshchilov & Hutter).
    const [m, v, vmax] = this.buffer(p, 3);
    const t = this.stepCount;
    const c1 = 1 - beta1 ** t, c2 = 1 - beta2 ** t;
    for (let i = 0; i < w.length; i++) {
      const gi = kind === 'adam' ? g[i] + wd * w[i] : g[i];
      if (kind === 'adamw') w[i] -= lr * wd * w[i];
      m[i] = beta1 * m[i] + (1 - beta1) * gi;
      v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
      const vHat = amsgrad ? (vmax[i] = Math.max(vmax[i], v[i])) : v[i];
      w[i] -= (lr * (m[i] / c1)) / (Math.sqrt(vHat / c2) + eps);
    }
  }

  state(): OptimizerState {
    return buffersState(this.stepCount, this.buffers);
  }

  restore(state: OptimizerState): void {
    this.stepCount = state.step;
    restoreBuffers(state, this.buffers, (values) => Float64Array.from(values));
  }
}

/** The checkpoint form of an optimiser's per-parameter buffers (name → arrays of plain numbers). */
export function buffersState(step: number, buffers: ReadonlyMap<string, readonly ArrayLike<number>[]>): OptimizerState {
  const out: Record<string, number[][]> = {};
  for (const [name, b] of buffers) out[name] = b.map((a) => Array.from(a));
  return { step, buffers: out };
}

/** Replaces `into`'s buffers with the state's, each array built by `make`. */
export function restoreBuffers<T>(state: OptimizerState, into: Map<string, T[]>, make: (values: number[]) => T): void {
  into.clear();
  for (const [name, b] of Object.entries(state.buffers)) into.set(name, b.map(make));
}
