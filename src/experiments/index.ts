// `ldfa experiment <name>`: the paper's findings as runnable recipes (spec §5). Each recipe is
// a sweep of training runs (src/experiments/sweep.ts) and a summary with tables, plots and
// verdicts against the paper's numbers (src/experiments/report.ts).
import { join } from 'node:path';
import type { Recipe } from './recipes/common.ts';
import { cnn } from './recipes/cnn.ts';
import { compute } from './recipes/compute.ts';
import { direct } from './recipes/direct.ts';
import { qVsQp } from './recipes/q-vs-qp.ts';
import { rankSweep } from './recipes/rank-sweep.ts';
import { receptiveFieldsRecipe } from './recipes/receptive-fields.ts';
import { taskDim } from './recipes/task-dim.ts';
import { vit } from './recipes/vit.ts';
import { width } from './recipes/width.ts';
import type { RecipeReport } from './report.ts';
import { writeReport } from './report.ts';
import { runSweep, SCALES, type SweepOptions } from './sweep.ts';

export const RECIPES: readonly Recipe[] = [rankSweep, width, taskDim, direct, cnn, qVsQp, vit, receptiveFieldsRecipe, compute];
export const RECIPE_NAMES: readonly string[] = RECIPES.map((r) => r.name);

export function recipeNamed(name: string): Recipe {
  const recipe = RECIPES.find((r) => r.name === name);
  if (!recipe) throw new Error(`unknown experiment '${name}': allowed are ${RECIPE_NAMES.join(', ')}, or 'all'`);
  return recipe;
}

export interface ExperimentOptions extends Omit<SweepOptions, 'seeds'> {
  /** Default: the recipe's own for the scale. */
  seeds?: number;
}

/** Runs (or resumes) one recipe's sweep in options.out and writes its report there. */
export async function runExperiment(recipe: Recipe, options: ExperimentOptions): Promise<RecipeReport> {
  if (!(SCALES as readonly string[]).includes(options.scale)) throw new Error(`--scale '${options.scale}' is not allowed: allowed are ${SCALES.join(', ')}`);
  const seeds = options.seeds ?? recipe.defaultSeeds[options.scale];
  const runs = await runSweep(recipe.name, recipe, { ...options, seeds });
  const { report, files } = recipe.summarise(runs, options.scale);
  return writeReport(options.out, {
    recipe: recipe.name, title: recipe.title, source: recipe.source, scale: options.scale, seeds,
    runs: runs.length, trainingSeconds: runs.reduce((a, r) => a + r.result.seconds, 0), ...report,
  }, files);
}

/** Where `ldfa experiment all --out DIR` puts each recipe: DIR/<name>. */
export const recipeDir = (out: string, name: string) => join(out, name);
