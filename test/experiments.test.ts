// `ldfa experiment`: every recipe at tiny scale, the sweep's resume after an interruption,
// the statistics and verdict helpers on hand-made cases, plots, the results page, bad flags.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCifarLike } from '../src/data/cifar.ts';
import { dataKey } from '../src/data/index.ts';
import { fashionMnistMissing } from '../src/data/fashion.ts';
import { PNG_SIGNATURE } from '../src/report/png.ts';
import { RECIPES, recipeNamed, runExperiment } from '../src/experiments/index.ts';
import { knee } from '../src/experiments/recipes/task-dim.ts';
import { epochsToReach, feedbackLearningFlops } from '../src/experiments/recipes/compute.ts';
import { allHold, clearlyAbove, dataShape, halfEpochSteps, MEDIUM, mlpBase, nearest, oneLayerRank, planOf, ratioRanks } from '../src/experiments/recipes/common.ts';
import { cnnBase } from '../src/experiments/recipes/cnn.ts';
import { groupBySeed, stat, type RecipeReport } from '../src/experiments/report.ts';
import { writeResultsPage } from '../src/experiments/results-page.ts';
import { runSweep, type FinishedRun } from '../src/experiments/sweep.ts';
import { Rng } from '../reference/rng.ts';
import { xmlProblems } from './helpers/xml.ts';
import { requiredHere } from './helpers/backends.ts';
import { expectEveryRunBuilds } from './helpers/recipe-builds.ts';

const root = mkdtempSync(join(tmpdir(), 'ldfa-experiments-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const tiny = { scale: 'tiny' as const, resume: false, overrides: { backend: 'wasm' } };

/** The report of a sweep run whole (no --shard), which is always complete. */
async function reportOf(recipe: Parameters<typeof runExperiment>[0], options: Parameters<typeof runExperiment>[1]): Promise<RecipeReport> {
  const outcome = await runExperiment(recipe, options);
  if ('pending' in outcome) throw new Error(`unfinished runs: ${outcome.pending.join(', ')}`);
  return outcome;
}

/** A run's JSON without its timings (which differ between any two runs). */
function withoutTimings(run: FinishedRun): unknown {
  const { result } = run;
  return { ...run, result: { ...result, seconds: 0, epochs: result.epochs.map((e) => ({ ...e, seconds: 0 })) } };
}

const readRuns = (dir: string) => readdirSync(join(dir, 'runs')).sort()
  .map((f) => withoutTimings(JSON.parse(readFileSync(join(dir, 'runs', f), 'utf8')) as FinishedRun));

describe('every recipe at tiny scale', () => {
  it.each(RECIPES.map((r) => r.name))('%s: runs, summary, results.md and valid plots', async (name) => {
    const recipe = recipeNamed(name);
    const out = join(root, 'all', name);
    // family trains on MNIST and Fashion-MNIST; without the package (the loader's own probe) it
    // must say how to install it, and still runs on MNIST alone (--data mnist)
    const withoutFashion = name === 'family' && fashionMnistMissing() !== null;
    const overrides = withoutFashion ? { ...tiny.overrides, data: 'mnist' as const } : tiny.overrides;
    if (withoutFashion) {
      await expect(reportOf(recipe, { ...tiny, out: join(root, 'family-without-fashion') })).rejects.toThrow(/apt-get install dataset-fashion-mnist/);
    }
    const report = await reportOf(recipe, { ...tiny, out, overrides });
    const planned = recipe.runs('tiny', overrides).length * recipe.defaultSeeds.tiny;
    expect(report.runs).toBe(planned);
    expect(readdirSync(join(out, 'runs'))).toHaveLength(planned);
    expect(report.verdicts.length).toBeGreaterThan(0);
    for (const v of report.verdicts) {
      expect([true, false, null]).toContain(v.holds);
      expect(v.evidence).toMatch(/\d/);
    }
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as RecipeReport;
    expect(summary).toMatchObject({ recipe: name, scale: 'tiny', seeds: recipe.defaultSeeds.tiny });
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toContain(`(\`${name}\`, spec ${recipe.source})`);
    for (const t of report.tables) {
      expect(md).toContain(`| ${t.header.join(' | ')} |`);
      for (const row of t.rows) expect(row).toHaveLength(t.header.length);
    }
    expect(report.plots.length).toBeGreaterThan(0);
    for (const plot of report.plots) {
      expect(md).toContain(`](./${plot.file})`);
      if (plot.file.endsWith('.png')) {
        const png = readFileSync(join(out, plot.file));
        expect([...png.subarray(0, 8)]).toEqual([...PNG_SIGNATURE]);
        expect(png.toString('latin1', 12, 16)).toBe('IHDR');
        continue;
      }
      const svg = readFileSync(join(out, plot.file), 'utf8');
      expect(xmlProblems(svg)).toEqual([]);
      const series = [...svg.matchAll(/data-series="([^"]+)"/g)].map((m) => m[1]);
      expect(series.length).toBeGreaterThan(0);
    }
  });
});

describe('every planned run of every scale builds', () => {
  // full scale (the paper-size models, about a minute): test/experiments-full-scale.e2e.test.ts
  it.each(RECIPES.map((r) => r.name))('%s at quick scale: model and rule attach, ranks valid', (name) => expectEveryRunBuilds(name, 'quick'));

  it.each(RECIPES.map((r) => r.name))('%s at medium scale: quick\'s runs on MEDIUM.data× the images (at most the set), the whole test set, MEDIUM.epochs× the epochs, SVD still every half epoch', (name) => {
    const recipe = recipeNamed(name);
    const quick = planOf(recipe).runs('quick', {}), medium = planOf(recipe).runs('medium', {});
    expect(medium.map((r) => r.id)).toEqual(quick.map((r) => r.id));
    medium.forEach((run, i) => {
      const q = quick[i].config, m = run.config, trainSize = dataShape(q.data, q.grayscale).trainSize;
      expect(m.limitTrain).toBe(q.limitTrain === null ? null : Math.min(trainSize, MEDIUM.data * q.limitTrain));
      expect(m.limitTest).toBeNull();
      expect(m.epochs).toBe(MEDIUM.epochs * q.epochs);
      expect(m.epochs).toBeGreaterThan(q.epochs);
      if (q.svdEvery > 0) expect(m.svdEvery).toBe(halfEpochSteps(m));
      // everything else is quick's: model, rule, ranks, optimiser, schedule per epoch
      const rest = (c: typeof q) => ({ ...c, limitTrain: 0, limitTest: 0, epochs: 0, svdEvery: 0 });
      expect(rest(m)).toEqual(rest(q));
    });
  });

  it('rank-sweep stops each layer at its largest rank: B3 (into 10 logits) at 10', () => {
    const ids = recipeNamed('rank-sweep').runs('quick', {}).map((r) => r.id);
    expect(ids).toContain('B3-r10');
    expect(ids).toContain('B2-r32');
    expect(ids).not.toContain('B3-r32');
  });
});

describe('plots carry the expected series', () => {
  it('receptive-fields: a montage per model (one tile per retina-output channel) and the symmetry plot', () => {
    const dir = join(root, 'all', 'receptive-fields');
    const report = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RecipeReport;
    expect(report.plots.map((p) => p.file)).toEqual(['radial-symmetry-vs-rank.svg', 'rf-bp-wide.png', 'rf-bp-narrow.png', 'rf-ldfa-r1.png']);
    const run = JSON.parse(readFileSync(join(dir, 'runs', 'ldfa-r1-s1.json'), 'utf8')) as FinishedRun;
    const fields = run.analysis as { dead: boolean; radialSymmetry: number | null; image: number[] }[];
    expect(fields).toHaveLength(run.config.hidden[1]); // one per retina-output channel
    for (const f of fields) {
      expect(f.image).toHaveLength(28 * 28);
      if (f.dead) expect(f.radialSymmetry).toBeNull();
      else expect(f.radialSymmetry).toBeGreaterThanOrEqual(0);
    }
    expect(run.config.rank).toEqual(['full', 1, 'full', 'full', 'full']);
    const svg = readFileSync(join(dir, 'radial-symmetry-vs-rank.svg'), 'utf8');
    expect([...svg.matchAll(/data-hline="([^"]+)"/g)].map((m) => m[1])).toEqual(['BP, retina output 4', 'BP, bottleneck 1']);
  });

  it('rank-sweep draws one line per constrained layer and BP', () => {
    const svg = readFileSync(join(root, 'all', 'rank-sweep', 'accuracy-vs-rank.svg'), 'utf8');
    expect([...svg.matchAll(/data-series="([^"]+)"/g)].map((m) => m[1])).toEqual(['B1 constrained', 'B2 constrained', 'B3 constrained']);
    expect([...svg.matchAll(/data-hline="([^"]+)"/g)].map((m) => m[1])).toEqual(['BP']);
  });

  it('the results page gathers every recipe, copies its plots and lists the verdicts', () => {
    const page = join(root, 'docs', 'results.md');
    const { missing } = writeResultsPage(join(root, 'all'), page);
    expect(missing).toEqual([]);
    const text = readFileSync(page, 'utf8');
    for (const recipe of RECIPES) {
      expect(text).toContain(`(\`${recipe.name}\`, spec ${recipe.source})`);
      const report = JSON.parse(readFileSync(join(root, 'all', recipe.name, 'summary.json'), 'utf8')) as RecipeReport;
      for (const plot of report.plots) {
        expect(existsSync(join(root, 'docs', 'results', recipe.name, plot.file))).toBe(true);
        expect(text).toContain(`](results/${recipe.name}/${plot.file})`);
      }
      for (const v of report.verdicts) expect(text).toContain(v.claim);
    }
  });

  it('an empty directory gives a clear error', () => {
    expect(() => writeResultsPage(join(root, 'nothing-here'), join(root, 'x.md'))).toThrow(/no experiment summaries under .*nothing-here: run `ldfa experiment all/);
  });
});

describe('resume', () => {
  // compute at tiny scale trains 2 epochs per run, so an interruption in epoch 2 leaves a checkpoint.
  const recipe = recipeNamed('compute');
  const options = { ...tiny, seeds: 2 };

  it('an interrupted sweep, resumed, ends exactly as an uninterrupted one (apart from timings)', async () => {
    const straight = join(root, 'straight');
    await runSweep('compute', recipe, { ...options, out: straight });

    const broken = join(root, 'broken');
    const victim = recipe.runs('tiny', tiny.overrides)[1].id + '-s1';
    await expect(runSweep('compute', recipe, {
      ...options, out: broken,
      onStep: ({ run, epoch, step }) => { if (run.id === victim && epoch === 2 && step === 3) throw new Error('simulated interruption'); },
    })).rejects.toThrow('simulated interruption');
    expect(existsSync(join(broken, 'runs', 'bp-s1.json'))).toBe(true);
    expect(existsSync(join(broken, 'runs', `${victim}.json`))).toBe(false);
    expect(existsSync(join(broken, 'checkpoints', `${victim}.bundle`))).toBe(true);

    await expect(runSweep('compute', recipe, { ...options, out: broken })).rejects.toThrow(/already holds a 'compute' sweep \(1 of 4 runs finished\): pass --resume/);

    const trainedEpochs = new Map<string, Set<number>>();
    const resumed = await runSweep('compute', recipe, {
      ...options, out: broken, resume: true,
      onStep: ({ run, epoch }) => { if (!trainedEpochs.has(run.id)) trainedEpochs.set(run.id, new Set()); trainedEpochs.get(run.id)!.add(epoch); },
    });
    expect(trainedEpochs.has('bp-s1')).toBe(false); // finished: not redone
    expect([...trainedEpochs.get(victim)!]).toEqual([2]); // continued from its epoch-1 checkpoint
    expect(resumed.runs).toHaveLength(4);
    expect(resumed.pending).toEqual([]);
    expect(readRuns(broken)).toEqual(readRuns(straight));
    expect(readdirSync(join(broken, 'checkpoints'))).toEqual([]); // a finished run's checkpoint is removed
  });

  it('reads runs stored before a config field existed with its default, and refuses changed ones', async () => {
    const dir = join(root, 'straight');
    const path = join(dir, 'runs', 'bp-s1.json');
    const stored = JSON.parse(readFileSync(path, 'utf8')) as FinishedRun;
    const { fc: _, ...older } = stored.config;
    writeFileSync(path, JSON.stringify({ ...stored, config: older }));
    let stepped = 0;
    await runSweep('compute', recipe, { ...options, out: dir, resume: true, onStep: () => { stepped++; } });
    expect(stepped).toBe(0);
    writeFileSync(path, JSON.stringify({ ...stored, config: { ...stored.config, lr: 0.5 } }));
    await expect(runSweep('compute', recipe, { ...options, out: dir, resume: true }))
      .rejects.toThrow(/bp-s1.json was written with a different configuration than this version of the recipe plans for run bp-s1/);
    writeFileSync(path, JSON.stringify(stored));
  });

  it('refuses to resume a different sweep in the same directory', async () => {
    await expect(runSweep('compute', recipe, { ...options, seeds: 3, out: join(root, 'straight'), resume: true }))
      .rejects.toThrow(/cannot resume in .*straight: it holds a different sweep/);
  });
});

describe('statistics and verdict helpers', () => {
  it('stat: mean and sample standard deviation', () => {
    expect(stat([0.9, 0.92, 0.94])).toEqual({ mean: expect.closeTo(0.92, 12), std: expect.closeTo(0.02, 12), n: 3 });
    expect(stat([0.5])).toEqual({ mean: 0.5, std: 0, n: 1 });
    expect(() => stat([])).toThrow(/no values/);
  });

  it('clearlyAbove: beyond two standard errors and the margin, else null', () => {
    const s = (mean: number, std = 0, n = 3) => ({ mean, std, n });
    expect(clearlyAbove(s(0.95), s(0.90))).toBe(true);
    expect(clearlyAbove(s(0.90), s(0.95))).toBe(false);
    expect(clearlyAbove(s(0.9005), s(0.9))).toBeNull(); // within the 0.1-point margin
    expect(clearlyAbove(s(0.95, 0.05), s(0.90, 0.05))).toBeNull(); // 2·SE = 2·√(2·0.05²/3) ≈ 0.082 > 0.05
    expect(allHold([true, true])).toBe(true);
    expect(allHold([true, null])).toBeNull();
    expect(allHold([null, false])).toBe(false);
    expect(nearest([1, 4, 16], 11)).toBe(16);
    expect(nearest([1, 4, 16], 10)).toBe(4); // a tie goes to the smaller
    expect(nearest([1, 4, 16], 2)).toBe(1);
  });

  it('knee: the first rank within half a point of BP', () => {
    const acc: Record<number, number> = { 1: 0.80, 2: 0.90, 4: 0.956, 8: 0.96 };
    const at = (r: number) => ({ mean: acc[r], std: 0, n: 1 });
    expect(knee([1, 2, 4, 8], at, { mean: 0.96, std: 0, n: 1 })).toBe(4);
    expect(knee([1, 2, 4, 8], at, { mean: 0.99, std: 0, n: 1 })).toBeNull();
    expect(knee([1, 2, 4, 8], at, { mean: 0.80, std: 0, n: 1 })).toBe(1);
  });

  it('compute: epochs to reach a target, and the normative rule\'s feedback FLOPs by hand', () => {
    const run = {
      config: { rule: 'ldfa', feedback: 'normative', batch: 4 },
      result: {
        testAccuracyPerEpoch: [0.5, 0.8, 0.79, 0.9],
        rule: { ranks: { fc2: 3, fc3: 2 } },
        // forward = 2·N·out·in: fc2 is 5×7, fc3 is 10×5, N = 4
        flopsPerStep: { layers: { fc2: { forward: 2 * 4 * 5 * 7 }, fc3: { forward: 2 * 4 * 10 * 5 } } },
      },
    } as unknown as FinishedRun;
    expect(epochsToReach(run, 0.8)).toBe(2);
    expect(epochsToReach(run, 0.95)).toBeNull();
    expect(feedbackLearningFlops(run)).toBe(6 * 3 * 5 * 7 + 6 * 2 * 10 * 5);
    expect(feedbackLearningFlops({ ...run, config: { ...run.config, feedback: 'oja' } } as FinishedRun)).toBe(0);
  });

  it('groupBySeed: one group per label, in plan order', () => {
    const run = (label: string, seed: number, acc: number) => ({ label, seed, tags: { label }, result: { bestTestAccuracy: acc } }) as unknown as FinishedRun;
    const groups = groupBySeed([run('BP', 1, 0.9), run('r=1', 1, 0.5), run('BP', 2, 0.94), run('r=1', 2, 0.7)]);
    expect(groups.map((g) => [g.label, g.runs.length, g.accuracy.mean])).toEqual([['BP', 2, expect.closeTo(0.92, 12)], ['r=1', 2, expect.closeTo(0.6, 12)]]);
  });

  it('per-layer rank specs: one constrained layer, and c_out / ratio for convs', () => {
    const mlp = mlpBase('tiny', {});
    expect(oneLayerRank(mlp, 1, 4)).toEqual(['full', 4, 'full']);
    const cnn = cnnBase('quick', {});
    expect(ratioRanks(cnn, 4)).toEqual([32 / 4, 'full']); // conv2 has 32 output channels; the head stays full
    expect(ratioRanks(cnn, 64)).toEqual([1, 'full']);
  });
});

describe('Fashion-MNIST (Debian package dataset-fashion-mnist)', () => {
  // Where the package is installed the CNN recipe runs on it; elsewhere asking for it fails
  // with the install hint, so this test checks something on every machine.
  // The loader's own probe decides (LDFA_HIDE=fashion hides the package; LDFA_REQUIRE=fashion demands it).
  const missing = fashionMnistMissing();
  if (missing !== null && requiredHere('fashion')) throw new Error(`fashion is required here (LDFA_REQUIRE=${process.env.LDFA_REQUIRE}) but ${missing}`);
  it(missing === null ? 'the cnn recipe trains on Fashion-MNIST' : 'without the package, --data fashion says how to install it', async () => {
    const run = () => reportOf(recipeNamed('cnn'), { ...tiny, out: join(root, 'cnn-fashion'), overrides: { ...tiny.overrides, data: 'fashion' } });
    if (missing !== null) {
      console.log(`[experiments.test] checking the error instead of training on Fashion-MNIST: ${missing}`);
      await expect(run()).rejects.toThrow(missing);
      expect(missing).toMatch(/apt-get install dataset-fashion-mnist/);
      return;
    }
    const report = await run();
    expect(report.setup).toMatch(/Data: fashion/);
    expect(report.runs).toBe(recipeNamed('cnn').runs('tiny', {}).length);
  });
});

describe('the sweep\'s data cache key', () => {
  it('changes with every field loadData reads, and only with those', () => {
    const base = { ...mlpBase('tiny', {}), data: 'cifar10' as const, dataDir: '/d' };
    const key = dataKey(base);
    for (const change of [{ data: 'cifar100' as const }, { dataDir: '/e' }, { classes: 5 }, { grayscale: true }, { limitTrain: 7 }, { limitTest: 7 }]) {
      expect(dataKey({ ...base, ...change }), JSON.stringify(change)).not.toBe(key);
    }
    expect(dataKey({ ...base, rule: 'fa', lr: 0.5, hidden: [3], seed: 9 })).toBe(key);
    const synthetic = { ...base, data: 'synthetic' as const };
    expect(dataKey({ ...synthetic, seed: 2 })).not.toBe(dataKey({ ...synthetic, seed: 3 })); // synthetic data are drawn from the seed
  });
});

describe('CIFAR and bad input', () => {
  const ldfa = (args: string[]) => spawnSync(process.execPath, ['bin/ldfa.mjs', 'experiment', ...args], { encoding: 'utf8', timeout: 60_000 });

  it('reads CIFAR-10 from the binary files the user points to', async () => {
    const dir = join(root, 'cifar');
    writeCifarLike(dir, 120, 40, new Rng(3));
    const report = await reportOf(recipeNamed('vit'), { ...tiny, out: join(root, 'vit-cifar'), overrides: { ...tiny.overrides, data: 'cifar10', dataDir: dir } });
    expect(report.setup).toMatch(/Data: cifar10/);
    const run = JSON.parse(readFileSync(join(root, 'vit-cifar', 'runs', 'bp-s1.json'), 'utf8')) as FinishedRun;
    expect(run.result.trainSamples).toBe(120);
  });

  it.each([
    [['nope'], /unknown experiment 'nope': allowed are rank-sweep, .*, or 'all'/],
    [['width', '--scale', 'huge'], /option '--scale <scale>' argument 'huge' is invalid. Allowed choices are tiny, quick, medium, full/],
    [['width', '--seeds', '0'], /--seeds must be a positive integer, got '0'/],
    [['width', '--scale', 'full'], /--data cifar10 \(the data of --scale full\) needs --data-dir DIR/],
    [['width', '--scale', 'tiny', '--data', 'cifar10', '--data-dir', '/no/such/dir'], /--data-dir \/no\/such\/dir does not exist: give the directory that holds the data files/],
    [['width', '--scale', 'tiny', '--backend', 'wsam'], /unknown backend 'wsam'/],
    [['width', '--scale', 'tiny', '--out', join(root, 'a-file')], /--out .*a-file is a file: this command writes a directory of files there; give a directory path/],
    [['width', '--scale', 'tiny', '--shard', '3/3'], /--shard '3\/3' is not allowed: give i\/n with 0 ≤ i < n/],
    [['width', '--scale', 'tiny', '--claim-timeout', '0'], /--claim-timeout must be a positive integer, got '0'/],
    [['direct', '--scale', 'tiny', '--feedback', 'normative'], /ldfa --direct learns P̂ from the broadcast error: use --feedback fixed or oja, not normative/],
  ])('%j fails with a clear message and leaves no folder behind', (args, message) => {
    writeFileSync(join(root, 'a-file'), 'not a directory');
    const out = join(root, `bad-${args.join('-').replace(/[^\w.-]+/g, '_')}`);
    const run = ldfa(['--out', out, '--quiet', '--backend', 'wasm', ...args]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(message);
    expect(existsSync(out), `${out} was created`).toBe(false);
  });
});
