// Live training in the web app: an MNIST MLP (784 → width → width → 10, tanh) under one
// rule per run, built and stepped by the CLI's own trainer (src/train.ts) on the chosen
// backend. Used by the worker (worker.ts); the page never blocks on it.
import { withBackend, type Backend } from '../../../reference/backend.ts';
import { Rng } from '../../../reference/rng.ts';
import { tensor, type Tensor } from '../../../reference/tensor.ts';
import { measureAlignment } from '../../alignment.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../config.ts';
import { batches, type Dataset } from '../../data/dataset.ts';
import { createTrainer, DivergenceError, type Trainer } from '../../train.ts';
import { pageRule, PAGE_RULES } from './rules.ts';

export interface RunSpec {
  /** The run's id: results are matched to table rows by it, never by position. */
  id: number;
  /** A PAGE_RULES id. */
  rule: string;
  /** Rules with a rank only. */
  rank: number;
  /** Rules that learn their feedback only. */
  feedbackLr: number;
}

export interface SessionSpec {
  runs: RunSpec[];
  width: number;
  batch: number;
  seed: number;
  /** The forward weights' learning rate. */
  lr: number;
}

export const MAX_RUNS = 4;
export const MAX_STEPS = 5000;
/** The page's defaults (the rule catalogue is checked to train 400 steps at these). */
export const PAGE_DEFAULTS = { width: 64, batch: 32, seed: 1, lr: 0.05, steps: 400 } as const;
export const WIDTHS = [32, 64, 128, 256] as const;

/** A new run of `rule` with its default rank and feedback learning rate. */
export function defaultRun(id: number, rule: string): RunSpec {
  return { id, rule, rank: 2, feedbackLr: pageRule(rule).feedbackLr ?? 0 };
}

/**
 * SGD with momentum 0.9 for weights and feedback alike (lr 0.05; the feedback learning rate of
 * the run): the same optimiser for every rule, so the runs differ only in the rule.
 */
export function trainConfig(spec: SessionSpec, run: RunSpec): TrainConfig {
  const rule = pageRule(run.rule);
  return {
    ...DEFAULT_CONFIG, data: 'mnist', arch: 'mlp', hidden: [spec.width, spec.width], activation: 'tanh',
    ...rule.settings, rank: rule.ranked ? run.rank : DEFAULT_CONFIG.rank,
    optimizer: 'sgd', momentum: 0.9, lr: spec.lr, feedbackOptimizer: 'sgd', feedbackLr: rule.feedbackLr === undefined ? DEFAULT_CONFIG.feedbackLr : run.feedbackLr,
    batch: spec.batch, seed: spec.seed,
  };
}

/** The largest rank of a width: min of the widths and the 10 classes bounds the output layer's. */
export const maxRank = (width: number) => Math.min(width, 10);

/** Why the page refuses this run before training, in the page's own words; null when it is fine. */
export function runProblem(run: RunSpec, width: number): string | null {
  const rule = PAGE_RULES.find((r) => r.id === run.rule);
  if (!rule) return `unknown rule '${run.rule}': pick one of ${PAGE_RULES.map((r) => r.label).join(', ')}`;
  if (rule.ranked && (!Number.isInteger(run.rank) || run.rank < 1 || run.rank > maxRank(width))) {
    return `rank ${Number.isNaN(run.rank) ? '(empty)' : run.rank}: the rank must be a whole number from 1 to ${maxRank(width)} (the output layer has 10 classes)`;
  }
  if (rule.feedbackLr !== undefined && !(Number.isFinite(run.feedbackLr) && run.feedbackLr > 0 && run.feedbackLr <= 1)) {
    return `feedback learning rate ${Number.isNaN(run.feedbackLr) ? '(empty)' : run.feedbackLr}: it must be a number in (0, 1]`;
  }
  return null;
}

/** Why these steps are refused, or null. */
export function stepsProblem(steps: number): string | null {
  return Number.isInteger(steps) && steps >= 1 && steps <= MAX_STEPS ? null
    : `steps ${Number.isNaN(steps) ? '(empty)' : steps}: a whole number from 1 to ${MAX_STEPS}`;
}

/** Why this learning rate is refused, or null. */
export function lrProblem(lr: number): string | null {
  return Number.isFinite(lr) && lr > 0 && lr <= 1 ? null : `learning rate ${Number.isNaN(lr) ? '(empty)' : lr}: a number in (0, 1]`;
}

export function checkSessionSpec(spec: SessionSpec): void {
  if (spec.runs.length < 1 || spec.runs.length > MAX_RUNS) throw new Error(`${spec.runs.length} runs: 1 to ${MAX_RUNS} are allowed`);
  for (const [name, v, min, max] of [['width', spec.width, 4, 1024], ['batch', spec.batch, 1, 1024]] as const) {
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name} ${v} is not allowed: an integer in [${min}, ${max}]`);
  }
  const lr = lrProblem(spec.lr);
  if (lr) throw new Error(lr);
  if (new Set(spec.runs.map((r) => r.id)).size !== spec.runs.length) throw new Error('two runs share an id');
  for (const run of spec.runs) {
    const problem = runProblem(run, spec.width);
    if (problem) throw new Error(problem);
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

/**
 * A failed run's reason, worded in the page's controls: what went wrong at which step, and
 * which control to change (the feedback learning rate when a learned feedback tensor went
 * non-finite, else the learning rate). The CLI's wording ("try a smaller --lr") names a flag
 * the page does not have.
 */
export function explainFailure(e: unknown, run: LiveRun, spec: SessionSpec, runSpec: RunSpec): string {
  const message = e instanceof Error ? e.message : String(e);
  if (!(e instanceof DivergenceError)) return `stopped: ${message}`;
  const step = /diverged at step (\d+)/.exec(message)?.[1] ?? '?';
  const detail = message.replace(/^training diverged at step \d+: /, '').replace(/;?\s*try a smaller --lr\s*$/, '').replace(/\.(P|Q)\b/g, '.$1̂');
  const feedbackBroke = run.trainer.rule.feedbackParams().some((p) => !allFinite(p.grad.data) || !allFinite(p.value.data));
  const advice = feedbackBroke
    ? `lower this run’s feedback learning rate (now ${runSpec.feedbackLr})`
    : `lower the learning rate (now ${spec.lr})`;
  return `diverged at step ${step} (${detail}): ${advice}`;
}

const allFinite = (a: ArrayLike<number>) => { for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false; return true; };

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
  const spec: SessionSpec = { runs: [{ id: 0, rule: 'ldfa-normative', rank: 4, feedbackLr: 0.01 }], width: 64, batch: 32, seed: 3, lr: 0.05 };
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
