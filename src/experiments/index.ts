// `ldfa experiment <name>`: the paper's findings as runnable recipes (spec §5). Each recipe is
// a sweep of training runs (src/experiments/sweep.ts) and a summary with tables, plots and
// verdicts against the paper's numbers (src/experiments/report.ts).
import { join } from 'node:path';
import { planOf, recipeScale, type Recipe, type RecipeBody } from './recipes/common.ts';
import { cnn } from './recipes/cnn.ts';
import { compute } from './recipes/compute.ts';
import { direct } from './recipes/direct.ts';
import { family } from './recipes/family.ts';
import { qVsQp } from './recipes/q-vs-qp.ts';
import { rankSweep } from './recipes/rank-sweep.ts';
import { receptiveFieldsRecipe } from './recipes/receptive-fields.ts';
import { taskDim } from './recipes/task-dim.ts';
import { vit } from './recipes/vit.ts';
import { width } from './recipes/width.ts';
import type { RecipeReport } from './report.ts';
import { writeReport } from './report.ts';
import { existsSync, statSync } from 'node:fs';
import { readJsonChecked } from '../report/atomic.ts';
import { expandSeeds, readFinishedRuns, runPath, runSweep, SCALES, type DivergedRun, type FinishedRun, type Overrides, type Scale, type SweepManifest, type SweepOptions } from './sweep.ts';
import type { PresetName } from '../config.ts';
import { PRESETS } from '../presets.ts';
import { withFootnote } from '../report/svg.ts';

export const RECIPES: readonly Recipe[] = [rankSweep, width, taskDim, direct, cnn, qVsQp, vit, receptiveFieldsRecipe, compute, family];
export const RECIPE_NAMES: readonly string[] = RECIPES.map((r) => r.name);

export function recipeNamed(name: string): Recipe {
  const recipe = RECIPES.find((r) => r.name === name);
  if (!recipe) throw new Error(`unknown experiment '${name}': allowed are ${RECIPE_NAMES.join(', ')}, or 'all'`);
  return recipe;
}

/**
 * The recipes `ldfa experiment all --preset P` runs: those whose every run has an architecture
 * the preset was written for (no preset fits every recipe); the others are returned as skipped.
 */
export function recipesForPreset(recipes: readonly Recipe[], preset: PresetName, scale: Scale, overrides: Overrides): { run: Recipe[]; skipped: Recipe[] } {
  const { preset: _, ...withoutPreset } = overrides;
  const fits = (recipe: Recipe) => planOf(recipe).runs(scale, withoutPreset).every((r) => PRESETS[preset].arches.includes(r.config.arch));
  return { run: recipes.filter(fits), skipped: recipes.filter((r) => !fits(r)) };
}

export interface ExperimentOptions extends Omit<SweepOptions, 'seeds'> {
  /** Default: the recipe's own for the scale. */
  seeds?: number;
}

/**
 * Runs (or resumes, or joins) one recipe's sweep in options.out and, once every run is
 * finished, writes its report there. Returns the report, or the runs still unfinished when
 * this worker's share (--shard) is done but other workers' runs are not.
 */
export async function runExperiment(recipe: Recipe, options: ExperimentOptions): Promise<RecipeReport | { pending: string[] }> {
  if (!(SCALES as readonly string[]).includes(options.scale)) throw new Error(`--scale '${options.scale}' is not allowed: allowed are ${SCALES.join(', ')}`);
  const seeds = options.seeds ?? recipe.defaultSeeds[recipeScale(options.scale)];
  const { runs, diverged, pending } = await runSweep(recipe.name, planOf(recipe), { ...options, seeds });
  return pending.length > 0 ? { pending } : summariseSweep(recipe, options.out, options.scale, seeds, runs, diverged);
}

/**
 * `ldfa results`: writes the summary of every sweep under `from` (DIR/<recipe>) whose runs are
 * all finished but whose summary is missing or older than its newest run, as when the shards of a
 * job array finished at once; returns a line per sweep it summarised or found unfinished.
 */
export function finishShardedSweeps(from: string): string[] {
  const lines: string[] = [];
  for (const recipe of RECIPES) {
    const out = recipeDir(from, recipe.name);
    const manifestPath = join(out, 'sweep.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = readJsonChecked<SweepManifest>(manifestPath, 'sweep manifest');
    const runs = expandSeeds(planOf(recipe).runs(manifest.scale, manifest.overrides), manifest.seeds);
    const { runs: finished, diverged, pending } = readFinishedRuns(out, runs);
    if (pending.length > 0) {
      lines.push(`${recipe.name}: ${finished.length} of ${runs.length} runs finished in ${out}; its summary waits for the others (${pending.join(', ')})`);
      continue;
    }
    const summary = join(out, 'summary.json');
    const newestRun = Math.max(...runs.map((r) => statSync(runPath(out, r.id)).mtimeMs));
    if (existsSync(summary) && statSync(summary).mtimeMs >= newestRun) continue;
    summariseSweep(recipe, out, manifest.scale, manifest.seeds, finished, diverged);
    lines.push(`${recipe.name}: summarised ${runs.length} runs in ${out}`);
  }
  return lines;
}

/**
 * Writes the report of a finished sweep in `out` (the last worker to finish does, and `ldfa
 * results`). Runs that diverged are left out of the recipe's statistics and marked: † on their
 * configuration's table rows, a table of where each diverged, a note under every plot. When they
 * leave a configuration without any trained seed, the recipe's comparisons cannot be made and
 * the report says so instead.
 */
export function summariseSweep(recipe: Recipe, out: string, scale: SweepOptions['scale'], seeds: number, runs: FinishedRun[], diverged: DivergedRun[] = []): RecipeReport {
  let body: RecipeBody, files: Record<string, string | Uint8Array>;
  try {
    ({ report: body, files } = recipe.summarise(runs, recipeScale(scale)));
  } catch (e) {
    if (diverged.length === 0) throw e;
    body = {
      setup: '', paper: '', tables: [], plots: [],
      verdicts: [{ claim: 'the recipe\'s comparisons', holds: null, evidence: `not made: ${(e as Error).message} (every seed of a configuration diverged).` }],
    };
    files = {};
  }
  const report: RecipeReport = {
    recipe: recipe.name, title: recipe.title, source: recipe.source, scale, seeds,
    runs: runs.length + diverged.length, trainingSeconds: runs.reduce((a, r) => a + r.result.seconds, 0), ...body,
  };
  return writeReport(out, diverged.length === 0 ? report : markDiverged(report, files, diverged), files);
}

/** The report with the diverged runs marked (tables, setup, a table of where they diverged); adds a note to `files`' plots. */
function markDiverged(report: RecipeReport, files: Record<string, string | Uint8Array>, diverged: DivergedRun[]): RecipeReport {
  const labels = new Set(diverged.map((d) => d.label));
  const where = (d: DivergedRun) => `epoch ${d.diverged.epoch ?? '?'}, step ${d.diverged.step}: ${d.diverged.where}`;
  for (const [name, data] of Object.entries(files)) {
    if (name.endsWith('.svg') && typeof data === 'string') {
      files[name] = withFootnote(data, [`† diverged, left out: ${diverged.map((d) => `${d.label} (seed ${d.seed})`).join('; ')}`]);
    }
  }
  return {
    ...report,
    setup: `**${diverged.length} of ${report.runs} runs diverged** and are left out of the statistics, plots and verdicts (their configurations are marked †; where each diverged is listed below). ${report.setup}`,
    tables: [
      ...report.tables.map((t) => ({ ...t, rows: t.rows.map(([first, ...rest]) => [labels.has(first) ? `${first} †` : first, ...rest]) })),
      {
        caption: 'Runs that diverged († above): left out of the statistics; a --resume keeps them, --resume --retry-diverged trains them again',
        header: ['run', 'configuration', 'seed', 'where'],
        rows: diverged.map((d) => [d.id, d.label, String(d.seed), where(d)]),
      },
    ],
    diverged: diverged.map((d) => ({ id: d.id, label: d.label, seed: d.seed, ...d.diverged })),
  };
}

/** Where `ldfa experiment all --out DIR` puts each recipe: DIR/<name>. */
export const recipeDir = (out: string, name: string) => join(out, name);
