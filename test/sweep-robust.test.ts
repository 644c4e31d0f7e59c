// Sweeps that survive what goes wrong in them: a run that diverges is recorded (epoch, step,
// tensor), the sweep goes on, its tables and plots mark it, and a resume keeps it unless asked
// (--retry-diverged); temporary files left by killed processes are removed on resume.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/config.ts';
import { runExperiment } from '../src/experiments/index.ts';
import type { Recipe } from '../src/experiments/recipes/common.ts';
import { groupBySeed, percent } from '../src/experiments/report.ts';
import { linePlot } from '../src/report/svg.ts';

const root = mkdtempSync(join(tmpdir(), 'ldfa-sweep-robust-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// A linear net on the synthetic task under plain SGD: lr 1e30 overflows to NaN in epoch 2 (step 7).
const base: TrainConfig = {
  ...DEFAULT_CONFIG, data: 'synthetic', arch: 'linear', hidden: [16], limitTrain: 200, limitTest: 100,
  epochs: 2, batch: 50, optimizer: 'sgd', lr: 0.01, backend: 'reference',
};

/** Three runs, the middle one diverging; a table with a row per configuration and a plot. */
const recipe: Recipe = {
  name: 'divergence-test', title: 'Divergence test', source: 'test', defaultSeeds: { tiny: 1, quick: 1, full: 1 },
  runs: () => [
    { id: 'first', label: 'lr 0.01', tags: { lr: 0.01 }, config: base },
    { id: 'wild', label: 'lr 1e30', tags: { lr: 1e30 }, config: { ...base, lr: 1e30 } },
    { id: 'last', label: 'lr 0.02', tags: { lr: 0.02 }, config: { ...base, lr: 0.02 } },
  ],
  summarise(runs) {
    const groups = groupBySeed(runs);
    return {
      report: {
        setup: 'three learning rates', paper: '–',
        tables: [{ caption: 'accuracy', header: ['configuration', 'accuracy %'], rows: groups.map((g) => [g.label, percent(g.accuracy)]) }],
        plots: [{ file: 'plot.svg', caption: 'accuracy' }],
        verdicts: [{ claim: 'something', holds: null, evidence: groups.map((g) => g.label).join(', ') }],
      },
      files: { 'plot.svg': linePlot({ title: 'accuracy', xLabel: 'run', yLabel: 'accuracy', series: [{ name: 'runs', x: groups.map((_, i) => i), y: groups.map((g) => g.accuracy.mean) }] }) },
    };
  },
};

async function sweep(out: string, options: { resume?: boolean; retryDiverged?: boolean } = {}) {
  const lines: string[] = [];
  const trained = new Set<string>();
  const report = await runExperiment(recipe, {
    out, scale: 'tiny', resume: Boolean(options.resume), retryDiverged: options.retryDiverged, overrides: {},
    log: (line) => lines.push(line), onStep: ({ run }) => trained.add(run.id),
  });
  return { report, lines, trained: [...trained].sort() };
}

describe('a run that diverges in a sweep', () => {
  const out = join(root, 'diverged');
  it('is recorded with its epoch, step and tensor; the sweep trains the rest and writes its summary, marking it', async () => {
    const { report, lines, trained } = await sweep(out);
    expect(trained).toEqual(['first-s1', 'last-s1', 'wild-s1']);
    const wild = JSON.parse(readFileSync(join(out, 'runs', 'wild-s1.json'), 'utf8'));
    expect(wild.diverged).toEqual({ epoch: 2, step: 7, where: expect.stringMatching(/the output of layer fc2 holds NaN/) });
    expect(wild.result).toBeUndefined();
    expect(JSON.parse(readFileSync(join(out, 'runs', 'last-s1.json'), 'utf8')).result.testAccuracy).toBeGreaterThan(0);
    expect(readdirSync(join(out, 'checkpoints'))).toEqual([]);
    // The message advises the flags of `ldfa experiment`, which has no --lr.
    const message = lines.find((l) => /diverged in epoch 2, step 7/.test(l))!;
    expect(message).toMatch(/the sweep goes on\. A --resume keeps it so; --resume --retry-diverged trains it again/);
    expect(lines.join('\n')).not.toMatch(/--lr/);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.runs).toBe(3);
    expect(summary.diverged).toEqual([{ id: 'wild-s1', label: 'lr 1e30', seed: 1, epoch: 2, step: 7, where: wild.diverged.where }]);
    expect('verdicts' in report).toBe(true);
    const markdown = readFileSync(join(out, 'results.md'), 'utf8');
    expect(markdown).toMatch(/\*\*1 of 3 runs diverged\*\*/);
    expect(markdown).toMatch(/\| lr 0\.01 \| \d/);
    expect(markdown).not.toMatch(/^\| lr 1e30 \|/m); // left out of the statistics…
    expect(markdown).toMatch(/\| wild-s1 \| lr 1e30 \| 1 \| epoch 2, step 7: the output of layer fc2 holds NaN/); // …and listed
    expect(readFileSync(join(out, 'plot.svg'), 'utf8')).toMatch(/† diverged, left out: lr 1e30 \(seed 1\)<\/text><\/svg>/);
  });

  it('is kept as diverged by --resume, and trained again with --retry-diverged', async () => {
    const summary = readFileSync(join(out, 'summary.json'), 'utf8');
    const again = await sweep(out, { resume: true });
    expect(again.trained).toEqual([]);
    const strip = (s: string) => s.replace(/"trainingSeconds": [\d.e-]+/, '');
    expect(strip(readFileSync(join(out, 'summary.json'), 'utf8'))).toBe(strip(summary));
    const retried = await sweep(out, { resume: true, retryDiverged: true });
    expect(retried.trained).toEqual(['wild-s1']);
    expect(retried.lines.join('\n')).toMatch(/--retry-diverged: training wild-s1 again/);
    expect(JSON.parse(readFileSync(join(out, 'runs', 'wild-s1.json'), 'utf8')).diverged.step).toBe(7);
  });

  it('a configuration that diverged on every seed leaves the comparisons undone, and the report says why', async () => {
    const all: Recipe = { ...recipe, name: 'all-diverge', runs: () => [recipe.runs('tiny', {})[1]], summarise: (runs) => { if (runs.length === 0) throw new Error('no runs with {"lr":1e30} in this sweep'); return recipe.summarise(runs, 'tiny'); } };
    const dir = join(root, 'all-diverged');
    await runExperiment(all, { out: dir, scale: 'tiny', resume: false, overrides: {} });
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary.verdicts[0]).toMatchObject({ holds: null, evidence: expect.stringMatching(/not made: no runs with .* \(every seed of a configuration diverged\)/) });
  });
});

describe('temporary files of ended processes', () => {
  it('are removed when a sweep resumes: exclusive creates (sweep.json, claims) and finished runs\' results; a live writer\'s file stays', async () => {
    const out = join(root, 'strays');
    await sweep(out);
    const ended = spawnSync('true').pid!; // a process id that has just ended
    const dead = `${hostname()}-${ended}`, live = `${hostname()}-${process.ppid}`;
    const strays = [`sweep.json.tmp-${dead}`, `claims/first-s1.claim-0.tmp-${dead}`, `runs/first-s1.json.tmp-${dead}`, `checkpoints/last-s1.bundle.tmp-${dead}`];
    for (const f of [...strays, `runs/last-s1.json.tmp-${live}`]) writeFileSync(join(out, f), 'partial');
    const { lines } = await sweep(out, { resume: true });
    for (const f of strays) expect(existsSync(join(out, f)), f).toBe(false);
    expect(existsSync(join(out, `runs/last-s1.json.tmp-${live}`))).toBe(true);
    expect(lines.filter((l) => /^removed .*left by a process that ended while writing it$/.test(l))).toHaveLength(strays.length);
  });
});
