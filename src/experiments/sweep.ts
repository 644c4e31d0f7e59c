// A sweep: the runs of one experiment recipe × seeds, each a `runTraining` call with its own
// result file and per-epoch checkpoint, so that an interrupted sweep resumes where it stopped.
//
//   DIR/sweep.json              what the sweep is (recipe, scale, seeds, overrides, run ids)
//   DIR/runs/ID.json            one finished run: the RunResult (+ the recipe's analysis)
//   DIR/checkpoints/ID.bundle   a started run's state after its last finished epoch (removed
//                               once the run's result is written)
//   DIR/summary.json, *.svg …   written by the recipe's summary once every run is finished
//
// Every file is written atomically (write, then rename). A resumed sweep skips finished runs,
// continues a started one from its checkpoint, and ends with results identical to an
// uninterrupted sweep apart from the timings.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sameConfig, validateConfig, withConfigDefaults, type PresetName, type TrainConfig } from '../config.ts';
import { dataKey, loadData, type TrainTest } from '../data/index.ts';
import { readJsonChecked, stableJson, writeFileAtomic, writeJsonAtomic } from '../report/atomic.ts';
import { runTraining, type RunResult } from '../run.ts';
import type { Trainer } from '../train.ts';

export const SCALES = ['tiny', 'quick', 'full'] as const;
/** tiny: seconds, for tests; quick: ≤ 15 min on 2 cores; full: the paper's sizes. */
export type Scale = (typeof SCALES)[number];

/** One training run of a recipe, for one seed. */
export interface RunSpec {
  /** Unique within the sweep; a file name (letters, digits, '.', '_', '-'). */
  id: string;
  /** How tables and plots name it, e.g. "LDFA r=4". */
  label: string;
  /** What the recipe's summary groups by, e.g. { layer: 'B1', rank: 4 }. */
  tags: Record<string, string | number>;
  config: TrainConfig;
}

export interface FinishedRun extends RunSpec {
  seed: number;
  result: RunResult;
  /** What the recipe computed from the trained model (e.g. receptive fields). */
  analysis?: unknown;
}

/** Settings a user may change on the command line, applied to every run of the recipe. */
export interface Overrides {
  data?: TrainConfig['data'];
  dataDir?: string;
  feedback?: TrainConfig['feedback'];
  backend?: string;
  /** The authors' conventions of one version (src/presets.ts); the recipe keeps its schedule. */
  preset?: PresetName;
}

export interface SweepOptions {
  out: string;
  scale: Scale;
  seeds: number;
  resume: boolean;
  overrides: Overrides;
  log?: (line: string) => void;
  /** Passed to every run (progress displays, tests that interrupt a run). */
  onStep?: (info: { run: RunSpec; epoch: number; step: number; stepsPerEpoch: number }) => void;
}

export interface SweepPlan {
  /** The runs of one seed; the sweep repeats them for seeds 1..K. */
  runs(scale: Scale, overrides: Overrides): RunSpec[];
  /** Computed from a run's trained model and stored with its result. */
  analyse?(trainer: Trainer, run: RunSpec): unknown;
}

export interface SweepManifest {
  kind: 'ldfa-sweep';
  recipe: string;
  scale: Scale;
  seeds: number;
  overrides: Overrides;
  runs: string[];
}

const SAFE_ID = /^[A-Za-z0-9._-]+$/;

/** The sweep's runs over seeds 1..K: seed s gets the id suffix "-sS" and config.seed = s. */
export function expandSeeds(runs: RunSpec[], seeds: number): (RunSpec & { seed: number })[] {
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a positive integer, got ${seeds}`);
  const ids = new Set<string>();
  for (const run of runs) {
    if (!SAFE_ID.test(run.id)) throw new Error(`run id '${run.id}' is not a safe file name: use letters, digits, '.', '_' and '-'`);
    if (ids.has(run.id)) throw new Error(`run id '${run.id}' appears twice in the recipe`);
    ids.add(run.id);
    validateConfig(run.config);
  }
  return Array.from({ length: seeds }, (_, i) => i + 1)
    .flatMap((seed) => runs.map((run) => ({ ...run, id: `${run.id}-s${seed}`, seed, config: { ...run.config, seed } })));
}

export const runPath = (out: string, id: string) => join(out, 'runs', `${id}.json`);
const checkpointPath = (out: string, id: string) => join(out, 'checkpoints', `${id}.bundle`);

/** Checks that DIR may hold this sweep: new, or (with --resume) the same sweep. */
function claimDirectory(manifest: SweepManifest, options: SweepOptions): void {
  const path = join(options.out, 'sweep.json');
  if (existsSync(path)) {
    const existing = readJsonChecked<SweepManifest>(path, 'sweep manifest');
    if (!options.resume) {
      const done = existing.runs?.filter((id) => existsSync(runPath(options.out, id))).length ?? 0;
      throw new Error(`${options.out} already holds a '${existing.recipe}' sweep (${done} of ${existing.runs?.length ?? '?'} runs finished): pass --resume to continue it, or choose another --out`);
    }
    const { runs: _a, ...want } = manifest;
    const { runs: _b, ...have } = existing;
    if (stableJson(have) !== stableJson(want)) {
      const oneLine = (v: unknown) => stableJson(v).replace(/\s+/g, ' ').trim();
      throw new Error(`cannot resume in ${options.out}: it holds a different sweep (${oneLine(have)}), not ${oneLine(want)}`);
    }
  }
  mkdirSync(join(options.out, 'runs'), { recursive: true });
  mkdirSync(join(options.out, 'checkpoints'), { recursive: true });
  writeJsonAtomic(path, manifest);
}

const minutes = (s: number) => (s >= 90 ? `${(s / 60).toFixed(1)} min` : `${Math.round(s)} s`);

/** Runs (or, resuming, finishes) every run of the sweep and returns them all, in plan order. */
export async function runSweep(recipe: string, plan: SweepPlan, options: SweepOptions): Promise<FinishedRun[]> {
  const runs = expandSeeds(plan.runs(options.scale, options.overrides), options.seeds);
  claimDirectory({ kind: 'ldfa-sweep', recipe, scale: options.scale, seeds: options.seeds, overrides: options.overrides, runs: runs.map((r) => r.id) }, options);
  const log = options.log ?? (() => {});
  const finished: FinishedRun[] = [];
  const cache: { key?: string; data?: TrainTest } = {};
  let trainedSeconds = 0, trained = 0;
  for (const [i, run] of runs.entries()) {
    const path = runPath(options.out, run.id);
    if (existsSync(path)) {
      const stored = readJsonChecked<FinishedRun>(path, `result of run ${run.id}`);
      if (!sameConfig(withConfigDefaults(stored.config), run.config)) {
        throw new Error(`cannot resume: ${path} was written with a different configuration than this version of the recipe plans for run ${run.id}; delete it (or the whole sweep) to re-run it`);
      }
      finished.push(stored);
      continue;
    }
    const remaining = runs.length - i;
    const eta = trained > 0 ? `, ETA ${minutes((trainedSeconds / trained) * remaining)}` : '';
    log(`[${i + 1}/${runs.length}] ${recipe}: ${run.label} (seed ${run.seed})${eta}`);
    const key = dataKey(run.config);
    if (cache.key !== key) Object.assign(cache, { key, data: loadData(run.config) });
    let analysis: unknown;
    const result = await runTraining(run.config, {
      data: cache.data,
      checkpoint: checkpointPath(options.out, run.id),
      resume: true,
      log: (line) => log(`  ${line}`),
      onStep: (s) => options.onStep?.({ run, ...s }),
      onFinish: plan.analyse ? (trainer) => { analysis = plan.analyse!(trainer, run); } : undefined,
    });
    const done = stableJson({ ...run, result, ...(analysis === undefined ? {} : { analysis }) });
    writeFileAtomic(path, done);
    rmSync(checkpointPath(options.out, run.id), { force: true });
    // What a resumed sweep reads back, so that both give the summary the same numbers.
    finished.push(JSON.parse(done) as FinishedRun);
    trainedSeconds += result.seconds;
    trained++;
  }
  return finished;
}
