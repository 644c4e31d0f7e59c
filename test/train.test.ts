import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withBackend } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { createNativeBackend } from '../src/backends/native.ts';
import { nativeBlasOrSkip, nativeUnavailable } from './helpers/backends.ts';
import { DEFAULT_CONFIG, validateConfig, type TrainConfig } from '../src/config.ts';
import { projectionTask } from './helpers/projection-task.ts';
import { createTrainer, DivergenceError, train, type TrainResult } from '../src/train.ts';

/** A small learnable task of `dim` features (test/helpers/projection-task.ts). */
const task = (n: number, seed: number, dim = 8, classes = 4) => projectionTask(n, seed, [dim], classes);

const data = { train: task(256, 1), test: task(128, 2) };
const base: TrainConfig = { ...DEFAULT_CONFIG, data: 'synthetic', hidden: [12, 10], epochs: 2, batch: 32, backend: 'reference' };

const variants: [string, Partial<TrainConfig>][] = [
  ['bp', { rule: 'bp' }],
  ['fa', { rule: 'fa' }],
  ['dfa', { rule: 'dfa' }],
  ['ldfa fixed', { rule: 'ldfa', feedback: 'fixed', rank: 2 }],
  ['ldfa normative', { rule: 'ldfa', feedback: 'normative', rank: 2, svdEvery: 3 }],
  ['ldfa oja', { rule: 'ldfa', feedback: 'oja', rank: 2 }],
  ['ldfa factorised', { rule: 'ldfa', feedback: 'factorised', rank: 2 }],
  ['ldfa oja, Q only', { rule: 'ldfa', feedback: 'oja', rank: 2, learn: 'q' }],
  ['ldfa direct', { rule: 'ldfa', feedback: 'oja', rank: 2, direct: true }],
];

const snapshot = (tensors: Record<string, { data: Float64Array }>) =>
  Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, Array.from(t.data)]));

describe.each(variants)('training under %s', (_, overrides) => {
  const config = { ...base, ...overrides };

  it('every layer receives a non-zero update', () => {
    const trainer = createTrainer(config, [8], 4);
    const before = snapshot(Object.fromEntries(trainer.model.params().map((p) => [p.name, p.value])));
    trainer.step(...firstBatch());
    for (const p of trainer.model.params().filter((q) => q.name.endsWith('.W'))) {
      const moved = p.value.data.some((v, i) => v !== before[p.name][i]);
      expect(moved, `${p.name} did not move`).toBe(true);
    }
  });

  it('fixed feedback stays bit-identical across steps, learned feedback moves', () => {
    const trainer = createTrainer(config, [8], 4);
    const learned = new Set(trainer.rule.feedbackParams().map((p) => p.name));
    const before = snapshot(trainer.rule.feedbackTensors());
    for (let i = 0; i < 5; i++) trainer.step(...firstBatch());
    for (const [name, t] of Object.entries(trainer.rule.feedbackTensors())) {
      const same = t.data.every((v, i) => v === before[name][i]);
      expect(same, `${name} ${learned.has(name) ? 'should learn' : 'should stay fixed'}`).toBe(!learned.has(name));
    }
  });

  it('is deterministic: the same seed gives the same result', () => {
    const strip = (r: TrainResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0 })) });
    expect(strip(train(config, data))).toEqual(strip(train(config, data)));
  });
});

function firstBatch(): [import('../reference/tensor.ts').Tensor, Int32Array] {
  const { x, y } = data.train;
  const t = new Float64Array(x.subarray(0, 32 * 8));
  return [Object.assign(ndarrayOf(t, [32, 8])), y.subarray(0, 32)];
}

import ndarray from 'ndarray';
function ndarrayOf(d: Float64Array, shape: number[]) {
  return ndarray(d, shape);
}

describe('learning', () => {
  it('every rule learns the projection task far above chance (25%)', () => {
    for (const [name, overrides] of variants) {
      const result = train({ ...base, ...overrides, epochs: 20, lr: 0.01, feedbackLr: 0.01 }, data);
      expect(result.testAccuracy, name).toBeGreaterThan(0.65);
    }
  });
});

describe('gradient clamping and the feedback optimiser', () => {
  const ldfaNormative: TrainConfig = { ...base, rule: 'ldfa', feedback: 'normative', rank: 2 };
  const maxAbs = (t: { data: Float64Array }) => t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

  it('--clip-signal c clamps the signal every layer sends down to [−c, c] (and only that signal)', () => {
    const c = 1e-3;
    const free = createTrainer(ldfaNormative, [8], 4), clipped = createTrainer({ ...ldfaNormative, clipSignal: c }, [8], 4);
    free.step(...firstBatch());
    clipped.step(...firstBatch());
    const senders = clipped.model.sites.filter((s) => s.inputGrad);
    expect(senders.map((s) => s.name)).toEqual(['fc2', 'fc3']);
    for (const site of senders) expect(maxAbs(site.inputGrad!), site.name).toBeLessThanOrEqual(c);
    // The output layer receives the same e in both runs: its signal is the free one, clamped.
    const free3 = free.model.sites.find((s) => s.name === 'fc3')!.inputGrad!, clipped3 = senders[1].inputGrad!;
    expect(maxAbs(free3), 'fc3 sends more than c without clamping').toBeGreaterThan(c);
    expect(Array.from(clipped3.data)).toEqual(Array.from(free3.data, (v) => Math.min(c, Math.max(-c, v))));
    // the output layer's own gradient is untouched by the clamp
    expect(Array.from(clipped.model.params().find((p) => p.name === 'fc3.W')!.grad.data))
      .toEqual(Array.from(free.model.params().find((p) => p.name === 'fc3.W')!.grad.data));
  });

  it('--clip-grad c clamps every parameter gradient, P̂ and Q̂ included, to [−c, c]', () => {
    const c = 1e-3;
    const trainer = createTrainer({ ...ldfaNormative, clipGrad: c }, [8], 4);
    trainer.step(...firstBatch());
    const all = [...trainer.model.params(), ...trainer.rule.feedbackParams()];
    expect(all.map((p) => p.name)).toEqual(expect.arrayContaining(['fc1.W', 'fc2.P', 'fc2.Q', 'fc3.P', 'fc3.Q']));
    for (const p of all) expect(maxAbs(p.grad), p.name).toBeLessThanOrEqual(c);
    expect(all.filter((p) => maxAbs(p.grad) === c).length).toBeGreaterThan(0); // the clamp was active
  });

  it('P̂ and Q̂ have their own optimiser and learning rate: --lr 0 freezes W only, --feedback-lr 0 freezes P̂, Q̂ only', () => {
    const sgd = { ...ldfaNormative, optimizer: 'sgd' as const, momentum: 0, feedbackOptimizer: 'adam' as const };
    for (const [lr, feedbackLr] of [[0, 0.05], [0.05, 0]]) {
      const trainer = createTrainer({ ...sgd, lr, feedbackLr }, [8], 4);
      expect(trainer.optimizers.map((o) => [o.config.kind, o.config.lr])).toEqual([['sgd', lr], ['adam', feedbackLr]]);
      const weights = snapshot(Object.fromEntries(trainer.model.params().map((p) => [p.name, p.value])));
      const feedback = snapshot(trainer.rule.feedbackTensors());
      trainer.step(...firstBatch());
      const moved = (now: Record<string, { data: Float64Array }>, before: Record<string, number[]>) =>
        Object.entries(now).filter(([name, t]) => t.data.some((v, i) => v !== before[name][i])).map(([name]) => name);
      expect(moved(Object.fromEntries(trainer.model.params().map((p) => [p.name, p.value])), weights).length > 0, `W with lr ${lr}`).toBe(lr > 0);
      expect(moved(trainer.rule.feedbackTensors(), feedback).length > 0, `P̂, Q̂ with feedback lr ${feedbackLr}`).toBe(feedbackLr > 0);
    }
  });
});

describe('bad input gets a clear error', () => {
  const cases: [Partial<TrainConfig>, RegExp][] = [
    [{ rule: 'sgd' as never }, /--rule 'sgd' is not allowed: allowed are bp, fa, dfa, ldfa/],
    [{ rule: 'ldfa', rank: 0 }, /rank 0 is not allowed: rank must be an integer in \[1, 10\]/],
    [{ rule: 'ldfa', rank: 11 }, /rank 11 is not allowed: rank must be an integer in \[1, 10\]/],
    [{ rule: 'ldfa', rank: [3, 'full', 'full'] }, /3 ranks given for 2 layers/],
    [{ rule: 'ldfa', rank: [11, 'full'] }, /rank 11 for layer fc2 is not allowed: rank must be an integer in \[1, 10\] or 'full'/],
    [{ lr: Number.NaN }, /--lr must be a finite number ≥ 0, got NaN/],
    [{ lr: Infinity }, /--lr must be a finite number ≥ 0, got Infinity/],
    [{ feedback: 'hebb' as never }, /--feedback 'hebb' is not allowed: allowed are fixed, normative, oja, factorised/],
    [{ rule: 'ldfa', direct: true, feedback: 'normative' }, /use --feedback fixed or oja/],
  ];
  it.each(cases)('%o', (overrides, message) => {
    expect(() => createTrainer(validateConfig({ ...base, ...overrides }), [8], 4)).toThrow(message);
  });

  it('a diverging run stops with a message naming the step and the layer', () => {
    const config: TrainConfig = { ...base, optimizer: 'sgd', momentum: 0, lr: 1e200, activation: 'identity' };
    let error: unknown;
    try { train(config, data); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(DivergenceError);
    expect((error as Error).message).toMatch(/training diverged at step \d+: the output of layer (fc\d|act\d) holds/);
    expect((error as Error).message).toMatch(/epoch 1, step \d+ overall/);
  });
});

describe('checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ldfa-ckpt-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // native: the float32 path (float32 weights, native Adam moments) through the float64 checkpoint file
  const native = nativeBlasOrSkip('train.test', 'resume on the float32 path (native backend)') === null ? null : createNativeBackend();
  it.for([['reference', referenceBackend], ['native', native]] as const)('an interrupted run resumed from its checkpoint ends exactly as an uninterrupted one (%s backend)', ([name, backend], ctx) => {
    if (backend === null) return ctx.skip(`native backend unavailable: ${nativeUnavailable()}`);
    withBackend(backend, () => {
      const config: TrainConfig = { ...base, rule: 'ldfa', feedback: 'normative', rank: 2, svdEvery: 5, epochs: 3, backend: name };
      const strip = (r: TrainResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0 })) });
      const whole = train(config, data);
      const checkpoint = join(dir, `run-${name}.ckpt`);
      train({ ...config, epochs: 1 }, data, { checkpoint });
      const resumed = train(config, data, { checkpoint, resume: true });
      expect(strip(resumed)).toEqual(strip(whole));
    });
  });

  it('refuses to resume a checkpoint written with another configuration', () => {
    const checkpoint = join(dir, 'other.ckpt');
    train({ ...base, epochs: 1 }, data, { checkpoint });
    expect(() => train({ ...base, lr: 0.5, seed: 4 }, data, { checkpoint, resume: true }))
      .toThrow(/it was written by a run with --lr 0.001 \(now 0.5\), --seed 1 \(now 4\); only --epochs and --backend may change/);
  });

  it('never overwrites a checkpoint unasked, and refuses to resume with fewer epochs than it holds', () => {
    const checkpoint = join(dir, 'two.ckpt');
    const two = train({ ...base, epochs: 2 }, data, { checkpoint });
    const bytes = readFileSync(checkpoint);
    expect(() => train({ ...base, epochs: 2 }, data, { checkpoint })).toThrow(/already holds a run \(2 finished epoch\(s\)\): pass --resume/);
    expect(() => train({ ...base, epochs: 1 }, data, { checkpoint, resume: true })).toThrow(/it already holds 2 finished epochs; pass --epochs 2 or more/);
    expect(readFileSync(checkpoint)).toEqual(bytes);
    // the same number of epochs: nothing to train, the same result
    let resumedAt = -1;
    const again = train({ ...base, epochs: 2 }, data, { checkpoint, resume: true, onResume: (done) => { resumedAt = done; }, onStep: () => { throw new Error('trained again'); } });
    expect(resumedAt).toBe(2);
    expect(again.testAccuracyPerEpoch).toEqual(two.testAccuracyPerEpoch);
  });
});
