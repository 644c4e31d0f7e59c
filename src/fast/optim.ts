// Adam and AdamW for parameters in float32 storage, with float32 moments, in the native
// addon's vectorised loop (native/src/blas.c): the update of reference/optim.ts, which stays
// the truth (test/fast.test.ts compares the two). The public surface (step, state, restore)
// is the reference Optimizer's, so trainers, checkpoints and tests use either.
import { buffersState, checkOptimizerConfig, restoreBuffers, type Optimizer, type OptimizerConfig, type OptimizerState } from '../../reference/optim.ts';
import type { Param } from '../../reference/params.ts';
import type { NativeBlas } from '../backends/native.ts';

/** What the training loop and checkpoints need from an optimiser. */
export type StepOptimizer = Pick<Optimizer, 'config' | 'step' | 'state' | 'restore'>;

export class Float32Adam implements StepOptimizer {
  private stepCount = 0;
  /** name → [m, v, vmax], created at the first step like the reference's buffers. */
  private readonly buffers = new Map<string, Float32Array[]>();

  constructor(readonly config: OptimizerConfig, private readonly params: Param[], private readonly blas: NativeBlas) {
    if (config.kind !== 'adam' && config.kind !== 'adamw') throw new Error(`Float32Adam: optimiser '${config.kind}' is not Adam or AdamW`);
    checkOptimizerConfig(config, 'optimiser');
  }

  step(lr = this.config.lr, weightDecay = this.config.weightDecay): void {
    this.stepCount++;
    const { kind, beta1, beta2, eps, amsgrad } = this.config;
    const c1 = 1 - beta1 ** this.stepCount, c2 = 1 - beta2 ** this.stepCount;
    for (const p of this.params) {
      let b = this.buffers.get(p.name);
      if (b === undefined) {
        b = Array.from({ length: 3 }, () => new Float32Array(p.value.size));
        this.buffers.set(p.name, b);
      }
      const f32 = (t: { data: unknown }) => t.data as Float32Array;
      this.blas.adam(f32(p.value), f32(p.grad), b[0], b[1], amsgrad ? b[2] : null,
        lr, beta1, beta2, eps, p.decay ? weightDecay : 0, c1, c2, kind === 'adamw');
    }
  }

  state(): OptimizerState {
    return buffersState(this.stepCount, this.buffers);
  }

  restore(state: OptimizerState): void {
    this.stepCount = state.step;
    restoreBuffers(state, this.buffers, (values) => Float32Array.from(values));
  }
}
