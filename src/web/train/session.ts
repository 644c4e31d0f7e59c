// Live training in the web app: an MNIST MLP (784 → width → width → 10, tanh) under one
// rule per run, built and stepped by the CLI's own trainer (src/train.ts) on the chosen
// backend. Used by the worker (worker.ts); the page never blocks on it.
import { withBackend, type Backend } from '../../../reference/backend.ts';
import { Rng } from '../../../reference/rng.ts';
import type { RuleName } from '../../../reference/rules/rule.ts';
import type { FeedbackMode } from '../../../reference/rules/ldfa.ts';
import { tensor, type Tensor } from '../../../reference/tensor.ts';
import { measureAlignment } from '../../alignment.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../config.ts';
import { batches, type Dataset } from '../../data/dataset.ts';
import { createTrainer, type Trainer } from '../../train.ts';

export interface RunSpec {
  rule: RuleName;
  /** LDFA only. */
  mode: FeedbackMode;
  rank: number;
}

export interface SessionSpec {
  runs: RunSpec[];
  width: number;
  batch: number;
  seed: number;
}

export const MAX_RUNS = 4;

/**
 * SGD with momentum 0.9 for weights and feedback alike (lr 0.05, feedback lr 0.01): the same
 * optimiser for every rule, so the runs differ only in the rule.
 */
export function trainConfig(spec: SessionSpec, run: RunSpec): TrainConfig {
  return {
    ...DEFAULT_CONFIG, data: 'mnist', arch: 'mlp', hidden: [spec.width, spec.width], activation: 'tanh',
    rule: run.rule, feedback: run.mode, rank: run.rank,
    optimizer: 'sgd', momentum: 0.9, lr: 0.05, feedbackOptimizer: 'sgd', feedbackLr: 0.01,
    batch: spec.batch, seed: spec.seed,
  };
}

export function checkSessionSpec(spec: SessionSpec): void {
  if (spec.runs.length < 1 || spec.runs.length > MAX_RUNS) throw new Error(`${spec.runs.length} runs: 1 to ${MAX_RUNS} are allowed`);
  for (const [name, v, min, max] of [['width', spec.width, 4, 1024], ['batch', spec.batch, 1, 1024]] as const) {
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name} ${v} is not allowed: an integer in [${min}, ${max}]`);
  }
  for (const run of spec.runs) {
    if (run.rule === 'ldfa' && (!Number.isInteger(run.rank) || run.rank < 1 || run.rank > Math.min(spec.width, 10))) {
      throw new Error(`rank ${run.rank} is not allowed: an integer in [1, ${Math.min(spec.width, 10)}] (min of the widths and the 10 classes bounds the output layer's rank)`);
    }
  }
}

export interface LiveRun {
  trainer: Trainer;
  next(): { x: Tensor; y: Int32Array };
}

/** An endless stream of shuffled mini-batches (seeded). */
function batchStream(data: Dataset, batch: number, seed: number): () => { x: Tensor; y: Int32Array } {
  const rng = new Rng(seed);
  let it = batches(data, batch, rng);
  return () => {
    let b = it.next();
    if (b.done) { it = batches(data, batch, rng); b = it.next(); }
    return b.value!;
  };
}

export function startRun(spec: SessionSpec, run: RunSpec, train: Dataset, backend: Backend): LiveRun {
  const trainer = withBackend(backend, () => createTrainer(trainConfig(spec, run), [784], 10));
  return { trainer, next: batchStream(train, spec.batch, spec.seed + 1) };
}

/** One step on `backend`; returns the loss and the wall time in ms. */
export function stepRun(run: LiveRun, backend: Backend): { loss: number; ms: number } {
  const { x, y } = run.next();
  const t0 = performance.now();
  const loss = withBackend(backend, () => run.trainer.step(x, y));
  return { loss, ms: performance.now() - t0 };
}

/** Test accuracy and each layer's angle between the rule's signal and BP's, on a probe batch. */
export function evaluateRun(run: LiveRun, backend: Backend, test: Dataset, probe: { x: Tensor; y: Int32Array }): { testAccuracy: number; anglesDeg: Record<string, number | null> } {
  return withBackend(backend, () => {
    const testAccuracy = run.trainer.evaluate(test);
    const alignment = measureAlignment(run.trainer.model, run.trainer.rule, probe.x, probe.y);
    const anglesDeg = Object.fromEntries(Object.entries(alignment).filter(([, a]) => a.signalAngleDeg !== null).map(([site, a]) => [site, a.signalAngleDeg]));
    return { testAccuracy, anglesDeg };
  });
}

/** The first n samples of a data set as one batch. */
export function probeBatch(d: Dataset, n: number): { x: Tensor; y: Int32Array } {
  return { x: tensor([n, 784], d.x.subarray(0, n * 784)), y: d.y.slice(0, n) };
}

/**
 * `steps` plain-SGD steps (no momentum: the float32 error of a step is then lr times the
 * gradient's) of one LDFA run on fixed batches; returns the losses and every parameter and
 * feedback tensor after the last step, flattened. The browser tests run it on WebGL2 and on
 * the reference and compare.
 */
export function trajectory(train: Dataset, backend: Backend, steps: number): { losses: number[]; params: Float64Array } {
  const spec: SessionSpec = { runs: [{ rule: 'ldfa', mode: 'normative', rank: 4 }], width: 64, batch: 32, seed: 3 };
  const config: TrainConfig = { ...trainConfig(spec, spec.runs[0]), svd: 'exact', momentum: 0 };
  return withBackend(backend, () => {
    const trainer = createTrainer(config, [784], 10);
    const next = batchStream(train, spec.batch, 4);
    const losses: number[] = [];
    for (let s = 0; s < steps; s++) {
      const { x, y } = next();
      losses.push(trainer.step(x, y));
    }
    const all = [...trainer.model.params().map((p) => p.value.data), ...Object.values(trainer.rule.feedbackTensors()).map((t) => t.data)];
    const params = new Float64Array(all.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of all) { params.set(a, at); at += a.length; }
    return { losses, params };
  });
}
