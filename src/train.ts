// The training loop shared by every architecture and rule: forward, loss, backward with
// the rule's feedback, the rule's feedback learning, optimiser steps, a divergence guard,
// per-epoch evaluation and atomic checkpoints that a later run can resume from.
import { existsSync } from 'node:fs';
import { checkOutputFile } from './paths.ts';
import { removeOrphanedTemporaries } from './report/atomic.ts';
import { countCorrect, softmaxCrossEntropy } from '../reference/layers/losses.ts';
import type { Model } from '../reference/models/network.ts';
import { Optimizer, type OptimizerConfig, type OptimizerState } from '../reference/optim.ts';
import type { Param } from '../reference/params.ts';
import { Rng, type RngSnapshot } from '../reference/rng.ts';
import type { Rule } from '../reference/rules/rule.ts';
import { clipFeedback } from '../reference/feedback.ts';
import { createRule } from '../reference/rules/index.ts';
import { clampInPlace, firstNonFinite, tensor, type Tensor } from '../reference/tensor.ts';
import { ops, type Backend } from '../reference/backend.ts';
import { float32Tensor, isFloat32 } from './fast/float32.ts';
import { float32ReferenceLayers, nativeLayers, type Float32Layers } from './fast/layers.ts';
import { float32Path, float32Unsupported } from './fast/sequential.ts';
import { float32LdfaKernels, useFloat32Feedback } from './fast/ldfa.ts';
import { Float32Adam, type StepOptimizer } from './fast/optim.ts';
import { createNativeBlas, layerKernelsOf, type NativeBlas } from './backends/native.ts';
import { readBundle, writeBundle, type Bundle } from './bundle.ts';
import { ldfaOptionsOf, resumeDifferences, ruleOptionsOf, validateConfig, withConfigDefaults, type TrainConfig } from './config.ts';
import { batches, type Dataset } from './data/dataset.ts';
import { createModel } from './models.ts';
import { stepFlops, type StepFlops } from './flops.ts';
import { measureAlignment, type LayerAlignment } from './alignment.ts';

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  testAccuracy: number;
  seconds: number;
  /** The backend that computed this epoch (a resumed run may continue on another one). */
  backend: string;
  /** Per-layer alignment with BP on the probe batch (when a probe is given). */
  alignment?: Record<string, LayerAlignment>;
}

export interface TrainResult {
  config: TrainConfig;
  testAccuracy: number;
  bestTestAccuracy: number;
  trainLoss: number[];
  testAccuracyPerEpoch: number[];
  epochs: EpochRecord[];
  rule: Record<string, unknown>;
  parameters: number;
  /** Training samples per epoch (steps per epoch = ⌈trainSamples / batch⌉). */
  trainSamples: number;
  /** FLOPs of one training step at the configured batch size, per layer and in total. */
  flopsPerStep: StepFlops;
  seconds: number;
}

export interface TrainHooks {
  /** Called after every optimiser step (progress bars). */
  onStep?: (info: { epoch: number; step: number; stepsPerEpoch: number; loss: number }) => void;
  onEpoch?: (record: EpochRecord) => void;
  /**
   * Where to write a checkpoint after every epoch. An existing file is refused unless `resume`
   * is set; then training continues from it (see checkCheckpoint).
   */
  checkpoint?: string;
  resume?: boolean;
  /**
   * Called when training continues from a checkpoint holding `epochsDone` finished epochs;
   * `switched` when the last of them ran on another backend than this run's.
   */
  onResume?: (epochsDone: number, switched: { from: string; to: string } | null) => void;
  /** A fixed batch on which to measure alignment with BP after every epoch. */
  alignmentProbe?: { x: Tensor; y: Int32Array };
  /** Called once after the last epoch with the trained model (post-training analyses). */
  onFinish?: (trainer: Trainer) => void;
}

/** Training produced a non-finite loss, activation or gradient; says where (and, from train(), in which epoch). */
export class DivergenceError extends Error {
  /** 1-based epoch, set by train(); null from a bare Trainer.step. */
  epoch: number | null = null;
  /** step: the optimiser step, over the whole run; where: the first non-finite tensor, or the reason (null when not given). */
  constructor(message: string, readonly step: number | null = null, readonly where: string | null = null) {
    super(message);
  }
}

export interface Trainer {
  model: Model;
  rule: Rule;
  /**
   * One training step on a batch; returns the loss. weightDecay replaces the forward optimiser's
   * (and, when the feedback steps with it, the feedback's) for this step: --weight-decay-first-epoch.
   */
  step(x: Tensor, y: Int32Array, lrScale?: number, weightDecay?: number): number;
  evaluate(data: Dataset): number;
  /** Optimiser steps taken (schedules such as the SVD re-factorisation count these). */
  steps: number;
  /** The forward-weight optimiser and the feedback optimiser. */
  readonly optimizers: readonly StepOptimizer[];
  /** 'float32' when activations, errors, weights and gradients stay in float32 storage (src/fast/), else 'float64: why'. */
  readonly path: string;
}

/**
 * Builds the model and rule and returns a stepper (the loop body of `train`). On a float32
 * backend the step runs on the float32 path where the model allows it (trainer.path says);
 * `float32Path: false` keeps the float64 path (the baseline the bench compares against).
 */
export function createTrainer(config: TrainConfig, inputShape: readonly number[], classes: number, options: { float32Path?: boolean; trainSamples?: number } = {}): Trainer {
  validateConfig(config);
  const root = new Rng(config.seed);
  const model = createModel(config, inputShape, classes, root.fork());
  // On a float32 backend the step runs on the float32 path where the model allows it, LDFA's own
  // work included (src/fast/ldfa.ts: its kernels serve the SVD initialisation in attach too).
  const float32Wanted = options.float32Path !== false && ops().precision === 'float32' && float32Unsupported(model) === null;
  const ldfaKernels = float32Wanted ? float32LdfaKernels(layerKernelsOf(ops()) ? nativeBlasOrNull() : null) : null;
  const ruleOptions = ruleOptionsOf(config, options.trainSamples);
  const rule = createRule(config.rule, {
    ...ruleOptions, ldfa: { ...ruleOptions.ldfa, ...(ldfaKernels ? { kernels: ldfaKernels } : {}) },
  });
  rule.attach(model, root.fork());
  // The signal and gradient clamps, of every rule: the float32 kernels' clamp (in the addon's loop
  // for float32 storage, clampInPlace's values; the JavaScript loop took 1.9 ms on the MLP 1024's
  // 1M-value gradient), else the reference loop.
  const clamp = ldfaKernels?.clamp ?? clampInPlace;
  if (config.clipSignal !== null) for (const site of model.sites) site.feedback = clipFeedback(site.feedback, config.clipSignal, clamp);

  // On a float32 backend, keep the step in float32 storage where the model allows it.
  const learned = new Set(rule.feedbackParams().map((p) => p.value));
  const fast = options.float32Path === false ? { engine: null, reason: 'float32Path: false was asked for' }
    : ops().precision === 'float32' ? float32Path(model, Object.values(rule.feedbackTensors()).filter((t) => !learned.has(t)), float32LayersFor(ops()))
    : { engine: null, reason: `the ${ops().name} backend computes in float64` };
  const forwardConfig = optimizerConfig(config.optimizer, config.lr, config.weightDecay, config);
  // LDFA's P̂, Q̂ and the rule's own work move to float32 with the step (src/fast/ldfa.ts)
  const fastFeedback = fast.engine !== null && ldfaKernels !== null && useFloat32Feedback(rule, ldfaKernels);
  const adamOn = (c: OptimizerConfig, params: Param[], float32: boolean): StepOptimizer => {
    const blas = float32 && c.kind !== 'sgd' ? nativeBlasOrNull() : null;
    return blas ? new Float32Adam(c, params, blas) : new Optimizer(c, params);
  };
  const optimizer = adamOn(forwardConfig, model.params(), fast.engine !== null);
  // Shared coupling (v1 code): P̂, Q̂ step with the forward optimiser's settings and lr; for per-parameter
  // optimisers (SGD, Adam, AdamW) that is the same as one optimiser over W, P̂ and Q̂. KP's B and
  // PFA's R always step this way: they take W's lr and weight decay (family spec §3, §5.2).
  const shared = config.feedbackCoupling === 'shared' || rule.stepsWithWeights === true;
  const feedbackOptimizer = adamOn(
    shared ? forwardConfig : optimizerConfig(config.feedbackOptimizer, config.feedbackLr, config.feedbackWeightDecay, config), rule.feedbackParams(), fastFeedback);
  const allParams: Param[] = [...model.params(), ...rule.feedbackParams()];
  // the divergence check on every gradient, in the addon's vector loop for float32 storage (a JS scan of
  // the MLP 1024's 1.9 M gradients took longer than its Adam step)
  const checker = fast.engine ? nativeBlasOrNull()?.kernels ?? null : null;
  const nonFinite = (t: Tensor) => (checker && isFloat32(t) ? checker.firstNonFinite(t.data as unknown as Float32Array) : firstNonFinite(t));
  const forward = (x: Tensor, train: boolean) => (fast.engine ? fast.engine.forward(x, train) : model.forward(x, train));

  const trainer: Trainer = {
    model, rule, optimizers: [optimizer, feedbackOptimizer], steps: 0,
    path: fast.engine ? 'float32' : `float64: ${fast.reason}`,
    step(x, y, lrScale = 1, weightDecay = config.weightDecay) {
      const steps = trainer.steps;
      if (steps === 0) rule.beforeTraining?.();
      const logits = forward(x, true);
      const de = fast.engine ? float32Tensor(logits.shape) : tensor(logits.shape);
      const loss = softmaxCrossEntropy(de, logits, y);
      if (!Number.isFinite(loss)) throw divergence(steps + 1, model, `the loss is ${loss}`);
      if (fast.engine) fast.engine.backward(de);
      else model.backward(de);
      rule.feedbackGradients(y);
      for (const p of allParams) {
        if (config.clipGrad !== null) clamp(p.grad, config.clipGrad);
        const bad = nonFinite(p.grad);
        if (bad >= 0) throw divergence(steps + 1, model, `the gradient of ${p.name} is ${p.grad.data[bad]} at index ${bad}`);
      }
      optimizer.step(config.lr * lrScale, weightDecay);
      if (shared) feedbackOptimizer.step(config.lr * lrScale, weightDecay);
      else feedbackOptimizer.step(config.feedbackLr * lrScale);
      trainer.steps = steps + 1;
      rule.afterStep(trainer.steps);
      return loss;
    },
    evaluate(data) {
      let correct = 0;
      for (const batch of batches(data, 500, null)) correct += countCorrect(forward(batch.x, false), batch.y);
      return correct / data.n;
    },
  };
  return trainer;
}

export function train(config: TrainConfig, data: { train: Dataset; test: Dataset }, hooks: TrainHooks = {}): TrainResult {
  const started = performance.now();
  const trainer = createTrainer(config, data.train.shape, data.train.classes, { trainSamples: data.train.n });
  const epochs: EpochRecord[] = [];
  let firstEpoch = 1;
  let stepsDone = 0;
  if (config.batch > data.train.n) throw new Error(`--batch ${config.batch} is larger than the ${data.train.n} training samples: allowed are 1..${data.train.n}`);
  const found = hooks.checkpoint ? checkCheckpoint(hooks.checkpoint, config, Boolean(hooks.resume)) : null;
  if (found) {
    const restored = restoreCheckpoint(hooks.checkpoint!, found, trainer);
    epochs.push(...restored.epochs);
    firstEpoch = restored.epochs.length + 1;
    stepsDone = restored.steps;
    trainer.steps = restored.steps;
    const before = restored.epochs.at(-1)?.backend;
    hooks.onResume?.(restored.epochs.length, before !== undefined && before !== ops().name ? { from: before, to: ops().name } : null);
  }
  const stepsPerEpoch = Math.ceil(data.train.n / config.batch);
  for (let epoch = firstEpoch; epoch <= config.epochs; epoch++) {
    const epochStart = performance.now();
    const lrScale = config.lrDecay ** (epoch - 1);
    // PFA's warm-up (family spec §5.3): a large weight decay in the first epoch only
    const weightDecay = epoch === 1 && config.weightDecayFirstEpoch !== null ? config.weightDecayFirstEpoch : config.weightDecay;
    let lossSum = 0, count = 0, step = 0;
    for (const batch of batches(data.train, config.batch, epochRng(config.seed, epoch))) {
      let loss: number;
      try {
        loss = trainer.step(batch.x, batch.y, lrScale, weightDecay);
      } catch (e) {
        if (e instanceof DivergenceError) {
          e.epoch = epoch;
          e.message = `${e.message} (epoch ${epoch}, step ${stepsDone + step + 1} overall)`;
        }
        throw e;
      }
      lossSum += loss * batch.y.length;
      count += batch.y.length;
      step++;
      hooks.onStep?.({ epoch, step, stepsPerEpoch, loss });
    }
    stepsDone += step;
    const record: EpochRecord = {
      epoch, trainLoss: lossSum / count, testAccuracy: trainer.evaluate(data.test),
      seconds: (performance.now() - epochStart) / 1000, backend: ops().name,
    };
    if (hooks.alignmentProbe) record.alignment = measureAlignment(trainer.model, trainer.rule, hooks.alignmentProbe.x, hooks.alignmentProbe.y);
    epochs.push(record);
    if (hooks.checkpoint) saveCheckpoint(hooks.checkpoint, trainer, config, epochs, stepsDone);
    hooks.onEpoch?.(record);
  }
  hooks.onFinish?.(trainer);
  const accuracies = epochs.map((e) => e.testAccuracy);
  return {
    config,
    testAccuracy: accuracies[accuracies.length - 1],
    bestTestAccuracy: Math.max(...accuracies),
    trainLoss: epochs.map((e) => e.trainLoss),
    testAccuracyPerEpoch: accuracies,
    epochs,
    rule: trainer.rule.summary(),
    parameters: trainer.model.params().reduce((a, p) => a + p.value.size, 0),
    trainSamples: data.train.n,
    flopsPerStep: stepFlops(trainer.model, trainer.rule, config.batch, config.rule === 'ldfa' ? ldfaOptionsOf(config) : undefined),
    seconds: (performance.now() - started) / 1000,
  };
}

/** The float32 path's layer functions: the native addon's C loops on the native backend, else the reference loops. */
function float32LayersFor(backend: Backend): Float32Layers {
  const kernels = layerKernelsOf(backend);
  return kernels ? nativeLayers(kernels) : float32ReferenceLayers();
}

/** The native addon's kernels where it is built and loads (its Adam serves the float32 path), else null. */
function nativeBlasOrNull(): NativeBlas | null {
  try {
    return createNativeBlas();
  } catch {
    return null;
  }
}

/** The shuffling stream of one epoch depends only on (seed, epoch), so a resumed run sees the same batches. */
function epochRng(seed: number, epoch: number): Rng {
  return new Rng((Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + epoch * 0x6a09e667) >>> 0);
}

function optimizerConfig(kind: OptimizerConfig['kind'], lr: number, weightDecay: number, c: TrainConfig): OptimizerConfig {
  return { kind, lr, weightDecay, momentum: c.momentum, beta1: 0.9, beta2: 0.999, eps: 1e-8, amsgrad: c.amsgrad };
}

/** Names the first layer whose forward output is not finite, or the reason given. */
function divergence(step: number, model: Model, reason: string): DivergenceError {
  const bad = model.activations().find((a) => firstNonFinite(a.value) >= 0);
  const where = bad
    ? `the output of layer ${bad.name} holds ${bad.value.data[firstNonFinite(bad.value)]} (first at index ${firstNonFinite(bad.value)})`
    : reason;
  return new DivergenceError(`training diverged at step ${step}: ${where}; ${reason === where ? '' : `${reason}; `}try a smaller --lr`, step, where);
}

// ---- checkpoints: a tensor bundle with every parameter, feedback tensor and optimiser moment, and
// the state of every random stream the rule draws from while training

const CHECKPOINT_KIND = 'ldfa-checkpoint';

function saveCheckpoint(path: string, trainer: Trainer, config: TrainConfig, epochs: EpochRecord[], steps: number): void {
  const tensors = new Map<string, Tensor>();
  for (const p of trainer.model.params()) tensors.set(`param/${p.name}`, p.value);
  for (const b of trainer.model.buffers()) tensors.set(`buffer/${b.name}`, b.value);
  for (const [name, t] of Object.entries(trainer.rule.feedbackTensors())) tensors.set(`feedback/${name}`, t);
  const optimizerSteps: number[] = [];
  trainer.optimizers.forEach((opt, i) => {
    const state = opt.state();
    optimizerSteps.push(state.step);
    for (const [name, buffers] of Object.entries(state.buffers)) {
      buffers.forEach((b, j) => tensors.set(`optim${i}/${name}/${j}`, tensor([b.length], b)));
    }
  });
  const randomStreams = Object.fromEntries(Object.entries(trainer.rule.randomStreams?.() ?? {}).map(([name, rng]) => [name, rng.snapshot()]));
  writeBundle(path, { kind: CHECKPOINT_KIND, config, epochs, steps, optimizerSteps, randomStreams }, tensors);
}

/**
 * Checks, before any work, that `path` may serve as this run's checkpoint: a writable file path
 * that is either new, or (with resume) a checkpoint of the same run with no more epochs than
 * this run asks for. Removes what an interrupted checkpoint write left beside it. Returns the
 * checkpoint to continue from, or null when there is none yet.
 */
export function checkCheckpoint(path: string, config: TrainConfig, resume: boolean): Bundle | null {
  checkOutputFile('--checkpoint', path, 'checkpoint.bundle');
  removeOrphanedTemporaries(path);
  if (!existsSync(path)) return null;
  const bundle = readBundle(path);
  const { meta } = bundle;
  if (meta.kind !== CHECKPOINT_KIND) throw new Error(`--checkpoint ${path} is not an ldfa checkpoint (kind '${String(meta.kind)}'); give another path`);
  const done = (meta.epochs as EpochRecord[]).length;
  if (!resume) {
    throw new Error(`--checkpoint ${path} already holds a run (${done} finished epoch(s)): pass --resume to continue it, or give another --checkpoint (or delete the file) to start afresh`);
  }
  const differences = resumeDifferences(withConfigDefaults(meta.config as Partial<TrainConfig>), config);
  if (differences.length > 0) {
    throw new Error(`cannot resume from ${path}: it was written by a run with ${differences.join(', ')}; only --epochs and --backend may change: rerun with the checkpoint's values, or give another --checkpoint to start afresh`);
  }
  if (done > config.epochs) {
    throw new Error(`cannot resume from ${path} with --epochs ${config.epochs}: it already holds ${done} finished epochs; pass --epochs ${done} or more`);
  }
  if (config.rule === 'ldfa' && typeof meta.randomStreams !== 'object') {
    throw new Error(`cannot resume from ${path}: it was written by an earlier ldfa that did not store the state of LDFA's SVD random stream, so the resumed run would not equal an uninterrupted one; delete it (or give another --checkpoint) to start afresh`);
  }
  for (const [name, t] of bundle.tensors) {
    const bad = firstNonFinite(t);
    if (bad >= 0) throw new Error(`cannot resume from ${path}: its tensor ${name} holds ${t.data[bad]} at index ${bad} (the run it saved had diverged, or the file is damaged); delete it (or give another --checkpoint) to start afresh`);
  }
  return bundle;
}

function restoreCheckpoint(path: string, { meta, tensors }: Bundle, trainer: Trainer): { epochs: EpochRecord[]; steps: number } {
  const load = (key: string, into: Tensor) => {
    const t = tensors.get(key);
    if (!t || t.size !== into.size) throw new Error(`checkpoint ${path} lacks ${key} or its shape differs`);
    into.data.set(t.data);
  };
  for (const p of trainer.model.params()) load(`param/${p.name}`, p.value);
  for (const b of trainer.model.buffers()) load(`buffer/${b.name}`, b.value);
  for (const [name, t] of Object.entries(trainer.rule.feedbackTensors())) load(`feedback/${name}`, t);
  const snapshots = (meta.randomStreams ?? {}) as Record<string, RngSnapshot>;
  for (const [name, rng] of Object.entries(trainer.rule.randomStreams?.() ?? {})) {
    if (!snapshots[name]) throw new Error(`checkpoint ${path} lacks the state of the random stream '${name}'`);
    rng.restore(snapshots[name]);
  }
  const optimizerSteps = meta.optimizerSteps as number[];
  trainer.optimizers.forEach((opt, i) => {
    const state: OptimizerState = { step: optimizerSteps[i], buffers: {} };
    for (const [key, t] of tensors) {
      const m = /^optim(\d+)\/(.+)\/(\d+)$/.exec(key);
      if (m && Number(m[1]) === i) (state.buffers[m[2]] ??= [])[Number(m[3])] = Array.from(t.data);
    }
    opt.restore(state);
  });
  return { epochs: meta.epochs as EpochRecord[], steps: meta.steps as number };
}
