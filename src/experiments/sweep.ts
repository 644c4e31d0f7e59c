// A sweep: the runs of one experiment recipe × seeds, each a `runTraining` call with its own
// result file and per-epoch checkpoint, so that an interrupted sweep resumes where it stopped,
// and several workers (processes, the tasks of a job array) can share one sweep folder.
//
//   DIR/sweep.json              what the sweep is (recipe, scale, seeds, overrides, run ids);
//                               created exclusively: the first worker's claim of the folder
//   DIR/claims/ID.claim-G       which worker trains run ID now (src/experiments/claims.ts)
//   DIR/runs/ID.json            one finished run: the RunResult (+ the recipe's analysis), or
//                               a diverged run: where it diverged (epoch, step, tensor)
//   DIR/checkpoints/ID.bundle   a started run's state after its last finished epoch (removed
//                               once the run's result is written)
//   DIR/summary.json, *.svg …   written by the recipe's summary once every run is finished
//
// Every file is written atomically (write, then rename). A resumed sweep skips finished runs,
// continues a started one from its checkpoint, and ends with results identical to an
// uninterrupted sweep apart from the timings. A run that diverges is recorded as diverged and the
// sweep goes on; a resume keeps it as it is, unless --retry-diverged asks to train it again.
// Temporary files of ended processes (a kill -9 between writing and renaming or linking) are
// removed when a sweep starts in the folder.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sameConfig, validateConfig, withConfigDefaults, type PresetName, type TrainConfig } from '../config.ts';
import { dataKey, loadData, type TrainTest } from '../data/index.ts';
import { checkInputDir, checkOutputDir, checkOwnOutputDir } from '../paths.ts';
import { createFileExclusive, readJsonChecked, removeOrphanedTemporaries, removeStrayTemporaries, stableJson, writeFileAtomic } from '../report/atomic.ts';
import { backendNamed, runTraining, type RunResult } from '../run.ts';
import { DivergenceError, type Trainer } from '../train.ts';
import { Claim, ClaimLostError, DEFAULT_CLAIM_TIMEOUT_SECONDS } from './claims.ts';

export const SCALES = ['tiny', 'quick', 'medium', 'full'] as const;
/**
 * tiny: seconds, for tests; quick: ≤ 15 min on 2 cores; medium: quick's runs on more data for
 * more epochs (≤ ~30 min on 2 cores, recipes/common.ts mediumOf); full: the paper's sizes.
 */
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

/** Where a run diverged (train's DivergenceError), as stored in its runs/ID.json. */
export interface Divergence {
  epoch: number | null;
  /** Optimiser step, counted over the whole run. */
  step: number;
  /** The first tensor that held a non-finite value, or the reason (e.g. the loss). */
  where: string;
}

export interface DivergedRun extends RunSpec {
  seed: number;
  diverged: Divergence;
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
  /** This worker's share of the runs (--shard i/n): those at plan positions i, i + n, i + 2n, …; default all. */
  shard?: Shard;
  /** A claim without a heartbeat for this long is taken over (--claim-timeout; default 600 s). */
  claimTimeoutSeconds?: number;
  /** Train the runs recorded as diverged again (--retry-diverged); by default a resume keeps them. */
  retryDiverged?: boolean;
}

/** Worker `index` (0-based) of `count`. */
export interface Shard { index: number; count: number }

/** Parses --shard i/n (0 ≤ i < n, the index a job array gives each task). */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const shard = m ? { index: Number(m[1]), count: Number(m[2]) } : null;
  if (!shard || shard.count < 1 || shard.index >= shard.count) {
    throw new Error(`--shard '${text}' is not allowed: give i/n with 0 ≤ i < n, e.g. 0/4 … 3/4 for 4 workers (a Slurm array task: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=0-3)`);
  }
  return shard;
}

/**
 * What a sweep call ends with: every trained run (plan order), the runs that diverged, and the
 * ids still unfinished (other workers' shares).
 */
export interface SweepOutcome {
  runs: FinishedRun[];
  diverged: DivergedRun[];
  pending: string[];
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

/**
 * Claims DIR for this sweep, or joins it: sweep.json is created exclusively, so of two sweeps
 * started at once into one folder only one gets it. An existing sweep is joined only when it is
 * the same sweep and the worker asks to (--resume, or --shard beside other workers).
 */
function claimDirectory(manifest: SweepManifest, options: SweepOptions): void {
  const path = join(options.out, 'sweep.json');
  mkdirSync(options.out, { recursive: true });
  if (!createFileExclusive(path, stableJson(manifest))) {
    const existing = readJsonChecked<SweepManifest>(path, 'sweep manifest');
    const done = existing.runs?.filter((id) => existsSync(runPath(options.out, id))).length ?? 0;
    const held = `${options.out} already holds a '${existing.recipe}' sweep (${done} of ${existing.runs?.length ?? '?'} runs finished)`;
    // The backend may change on resume, as for `ldfa train --checkpoint` (the runs say when it does).
    const { runs: _a, overrides: { backend: _c, ...wantOverrides }, ...wantRest } = manifest;
    const { runs: _b, overrides: { backend: _d, ...haveOverrides } = {}, ...haveRest } = existing;
    const want = { ...wantRest, overrides: wantOverrides }, have = { ...haveRest, overrides: haveOverrides };
    if (stableJson(have) !== stableJson(want)) {
      const oneLine = (v: unknown) => stableJson(v).replace(/\s+/g, ' ').trim();
      throw new Error(`${options.resume ? `cannot resume in ${options.out}: it holds a different sweep` : held} (${oneLine(have)}), not ${oneLine(want)}: rerun with the flags it was started with${options.resume ? '' : ' and --resume'}, choose another --out, or remove ${options.out} (rm -r) if nothing in it is worth keeping`);
    }
    if (!options.resume && !options.shard) {
      throw new Error(`${held}: pass --resume to continue it (or --shard i/n to work on it beside other workers), or choose another --out`);
    }
  }
  for (const sub of ['runs', 'checkpoints', 'claims']) mkdirSync(join(options.out, sub), { recursive: true });
}

/** The entries of a sweep folder before its sweep.json is in place: its sub-folders and temporary files. */
const isSweepEntry = (entry: string) => ['runs', 'checkpoints', 'claims'].includes(entry) || entry.startsWith('sweep.json.tmp-');

const minutes = (s: number) => (s >= 90 ? `${(s / 60).toFixed(1)} min` : `${Math.round(s)} s`);

/**
 * Runs this worker's share of the sweep (all of it by default), each run once over all workers:
 * a run is trained only under this worker's claim, and a finished run is read back. Waits for
 * runs of its share that another live worker holds; takes over those of dead workers. Returns
 * every finished run in plan order and the runs still unfinished (other shards' runs).
 */
export async function runSweep(recipe: string, plan: SweepPlan, options: SweepOptions): Promise<SweepOutcome> {
  checkOutputDir('--out', options.out);
  if (!existsSync(join(options.out, 'sweep.json'))) checkOwnOutputDir('--out', options.out, isSweepEntry, 'a sweep\'s');
  const runs = expandSeeds(plan.runs(options.scale, options.overrides), options.seeds);
  // Backends and data directories first: a typo must not leave a sweep folder behind.
  for (const name of new Set(runs.map((r) => r.config.backend))) await backendNamed(name);
  for (const dir of new Set(runs.map((r) => r.config.dataDir))) if (dir !== null) checkInputDir('--data-dir', dir);
  const mine = runs.filter((_, i) => !options.shard || i % options.shard.count === options.shard.index);
  const retried = new Set(options.retryDiverged ? mine.filter((r) => divergenceOf(options.out, r.id)).map((r) => r.id) : []);
  // Every data set this worker's unfinished runs need is opened and parsed before the folder is
  // created (a missing package or an empty --data-dir must not leave a sweep behind); the first is kept.
  const cache: { key?: string; data?: TrainTest } = {};
  const opened = new Set<string>();
  for (const run of mine) {
    const key = dataKey(run.config);
    if (opened.has(key) || (existsSync(runPath(options.out, run.id)) && !retried.has(run.id))) continue;
    opened.add(key);
    const data = loadData(run.config);
    if (cache.key === undefined) Object.assign(cache, { key, data });
  }
  claimDirectory({ kind: 'ldfa-sweep', recipe, scale: options.scale, seeds: options.seeds, overrides: options.overrides, runs: runs.map((r) => r.id) }, options);
  const log = options.log ?? (() => {});
  for (const stray of removeStrayTemporaries(options.out)) log(`removed ${stray}, left by a process that ended while writing it`);
  const timeout = options.claimTimeoutSeconds ?? DEFAULT_CLAIM_TIMEOUT_SECONDS;
  for (const id of retried) {
    rmSync(runPath(options.out, id), { force: true });
    log(`--retry-diverged: training ${id} again`);
  }
  const timing = { seconds: 0, trained: 0 };
  let waiting = new Set(mine.map((r) => r.id));
  while (true) {
    for (const run of mine) {
      if (!waiting.has(run.id)) continue;
      if (isFinished(options.out, run.id) || await trainClaimed(recipe, run, plan, options, cache, timing, timeout, waiting.size)) waiting.delete(run.id);
    }
    if (waiting.size === 0) break;
    log(`waiting for ${waiting.size} run(s) other workers hold: ${[...waiting].join(', ')} (a claim without a heartbeat for ${timeout} s is taken over)`);
    await sleep(Math.min(5000, (timeout * 1000) / 4));
    waiting = new Set([...waiting].filter((id) => !existsSync(runPath(options.out, id))));
  }
  return readFinishedRuns(options.out, runs);
}

/** The sweep's finished runs in `out` (plan order), checked against the plan: trained, diverged, and the ids of those unfinished. */
export function readFinishedRuns(out: string, runs: RunSpec[]): SweepOutcome {
  const finished: FinishedRun[] = [];
  const diverged: DivergedRun[] = [];
  const pending: string[] = [];
  for (const run of runs) {
    const path = runPath(out, run.id);
    if (!existsSync(path)) { pending.push(run.id); continue; }
    const stored = readJsonChecked<FinishedRun | DivergedRun>(path, `result of run ${run.id}`);
    if (!sameConfig({ ...withConfigDefaults(stored.config), backend: run.config.backend }, run.config)) { // the backend may change on resume
      throw new Error(`cannot resume: ${path} was written with a different configuration than this version of the recipe plans for run ${run.id}; delete it (or the whole sweep) to re-run it`);
    }
    if ('diverged' in stored) diverged.push(stored);
    else finished.push(stored);
  }
  return { runs: finished, diverged, pending };
}

/** Where run `id` diverged, when its result file records a divergence; else null. */
function divergenceOf(out: string, id: string): Divergence | null {
  const path = runPath(out, id);
  if (!existsSync(path)) return null;
  const stored = readJsonChecked<Partial<DivergedRun>>(path, `result of run ${id}`);
  return stored.diverged ?? null;
}

/**
 * Whether run `id` has its result; if so, removes what a worker killed right after writing it
 * may have left: its checkpoint and claims.
 */
function isFinished(out: string, id: string): boolean {
  if (!existsSync(runPath(out, id))) return false;
  const checkpoint = checkpointPath(out, id);
  rmSync(checkpoint, { force: true });
  removeOrphanedTemporaries(checkpoint, { anyWriter: true });
  Claim.clearFinished(out, id);
  return true;
}

/**
 * Trains `run` if this worker can claim it (continuing from its checkpoint), writes its result
 * and returns true; returns false when another live worker holds it or took it over meanwhile.
 */
async function trainClaimed(
  recipe: string, run: RunSpec & { seed: number }, plan: SweepPlan, options: SweepOptions,
  cache: { key?: string; data?: TrainTest }, timing: { seconds: number; trained: number }, timeout: number, remaining: number,
): Promise<boolean> {
  const claim = Claim.take(options.out, run.id, timeout);
  if (!claim) return false;
  const log = options.log ?? (() => {});
  const path = runPath(options.out, run.id);
  try {
    if (existsSync(path)) return true; // finished by another worker before this claim
    const checkpoint = checkpointPath(options.out, run.id);
    // Only the claim's holder writes the checkpoint: whatever temporary file lies beside it is an orphan.
    removeOrphanedTemporaries(checkpoint, { anyWriter: true });
    const eta = timing.trained > 0 ? `, ETA ${minutes((timing.seconds / timing.trained) * remaining)}` : '';
    const shard = options.shard ? ` [shard ${options.shard.index}/${options.shard.count}]` : '';
    log(`${recipe}${shard}: ${run.label} (seed ${run.seed}, run ${run.id}), ${remaining} run(s) left${eta}`);
    const key = dataKey(run.config);
    if (cache.key !== key) Object.assign(cache, { key, data: loadData(run.config) });
    claim.heartbeat();
    let analysis: unknown;
    let result: RunResult;
    try {
      result = await runTraining(run.config, {
        data: cache.data,
        checkpoint,
        resume: true,
        log: (line) => log(`  ${line}`),
        onStep: (s) => { claim.heartbeat(); options.onStep?.({ run, ...s }); },
        onFinish: plan.analyse ? (trainer) => { analysis = plan.analyse!(trainer, run); } : undefined,
      });
    } catch (e) {
      if (!(e instanceof DivergenceError)) throw e;
      const diverged: Divergence = { epoch: e.epoch, step: e.step ?? 0, where: e.where ?? e.message };
      claim.heartbeat();
      writeFileAtomic(path, stableJson({ ...run, diverged }));
      rmSync(checkpoint, { force: true });
      log(`${recipe}: run ${run.id} (${run.label}, seed ${run.seed}) diverged in epoch ${diverged.epoch}, step ${diverged.step}: ${diverged.where}. `
        + `Recorded as diverged in ${path} and left out of the summary's statistics (marked in its tables and plots); the sweep goes on. `
        + `A --resume keeps it so; --resume --retry-diverged trains it again.`);
      return true;
    }
    claim.heartbeat();
    writeFileAtomic(path, stableJson({ ...run, result, ...(analysis === undefined ? {} : { analysis }) }));
    rmSync(checkpoint, { force: true });
    timing.seconds += result.seconds;
    timing.trained++;
    return true;
  } catch (e) {
    if (!(e instanceof ClaimLostError)) throw e;
    log(e.message);
    return false;
  } finally {
    claim.release();
  }
}
