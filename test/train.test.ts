import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../reference/rng.ts';
import { DEFAULT_CONFIG, validateConfig, type TrainConfig } from '../src/config.ts';
import type { Dataset } from '../src/data/dataset.ts';
import { createTrainer, DivergenceError, train, type TrainResult } from '../src/train.ts';

/** A small learnable task: the label is the arg-max of a fixed random projection. */
function task(n: number, seed: number, dim = 8, classes = 4): Dataset {
  const teacher = new Rng(99);
  const proj = Array.from({ length: classes * dim }, () => teacher.normal());
  const rng = new Rng(seed);
  const x = new Float64Array(n * dim).map(() => rng.normal());
  const y = new Int32Array(n).map((_, i) => {
    let best = 0, bestScore = -Infinity;
    for (let c = 0; c < classes; c++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += proj[c * dim + k] * x[i * dim + k];
      if (s > bestScore) { bestScore = s; best = c; }
    }
    return best;
  });
  return { name: 'projection-task', x, y, n, shape: [dim], classes };
}

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

  it('an interrupted run resumed from its checkpoint ends exactly as an uninterrupted one', () => {
    const config: TrainConfig = { ...base, rule: 'ldfa', feedback: 'normative', rank: 2, svdEvery: 5, epochs: 3 };
    const strip = (r: TrainResult) => ({ ...r, seconds: 0, epochs: r.epochs.map((e) => ({ ...e, seconds: 0 })) });
    const whole = train(config, data);
    const checkpoint = join(dir, 'run.ckpt');
    train({ ...config, epochs: 1 }, data, { checkpoint });
    const resumed = train(config, data, { checkpoint, resume: true });
    expect(strip(resumed)).toEqual(strip(whole));
  });

  it('refuses to resume a checkpoint written with another configuration', () => {
    const checkpoint = join(dir, 'other.ckpt');
    train({ ...base, epochs: 1 }, data, { checkpoint });
    expect(() => train({ ...base, lr: 0.5 }, data, { checkpoint, resume: true })).toThrow(/different configuration/);
  });
});
