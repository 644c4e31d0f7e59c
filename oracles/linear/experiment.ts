// The authors' linear-network experiment (spec §3.1, CODE-v4 scripts/linear_simulation.py),
// reproduced: σ̂_i(t) for the top modes under BP, fixed low-rank FA and normative LDFA, each
// simulated (sampled inputs, exact full-batch GD via the sample's statistics) and iterated in
// the rotated theory frame; plus a sweep of the final loss against r for fixed and normative
// feedback (theory iteration), against the Eckart–Young bound and the fixed-point prediction.
import { withBackend, type Backend } from '../../reference/backend.ts';
import { balancedFactors } from '../../reference/linalg.ts';
import { fastFloat64Backend } from './kernel.ts';
import { Rng } from '../../reference/rng.ts';
import { eckartYoungLoss, predictFixedFeedbackFromCode } from './predictions.ts';
import { authorsInit, authorsTeacher, gaussianTeacherStatistics, rotatedFrame, rotateState, whitenedStatistics, type LinearState } from './setup.ts';
import { simulateStatistics, simulateTheory, AUTHORS_RUN, type LinearRunOptions } from './simulate.ts';

export interface TheoryExperimentConfig {
  n: number; k: number; m: number; r: number;
  /** number of sampled inputs x ~ N(0, I) */
  samples: number;
  /**
   * 'exact': the simulation runs on the population statistics (Σ_xx = I, Σ_yx = W*), the
   * infinite-sample limit the theory assumes; the samples are still drawn (so the teacher and
   * the initialisation are the same as the sampled run's) but not used. Default 'sampled'.
   */
  inputs?: 'sampled' | 'exact';
  steps: number; eta: number; etaB: number; etaBDecay: number; lambda: number;
  recordEvery: number; modes: number;
  /** ranks of the final-loss sweep */
  sweepRanks: number[];
  seed: number;
}

/** n = 128, k = 64, m = 64, r = 2, η = 2.5e-3, η_b = 1e-3 (×0.999 per step), λ = 1e-5, 5000 steps, P = 10⁵. */
export const AUTHORS_SETUP: TheoryExperimentConfig = {
  n: 128, k: 64, m: 64, r: 2, samples: 100_000, ...AUTHORS_RUN, sweepRanks: [1, 2, 4, 8, 16, 32, 64], seed: 1,
};

/** A seconds-long version for tests and smoke runs. */
export const TINY_SETUP: TheoryExperimentConfig = {
  n: 8, k: 6, m: 5, r: 2, samples: 400, steps: 300, eta: 0.05, etaB: 0.02, etaBDecay: 0.999, lambda: 1e-5,
  recordEvery: 10, modes: 4, sweepRanks: [1, 2, 5], seed: 1,
};

export const EXPERIMENT_RULES = ['bp', 'fixed', 'normative'] as const;
export type ExperimentRule = (typeof EXPERIMENT_RULES)[number];

export interface RuleCurves {
  /** steps at which σ̂ and the loss were recorded */
  t: number[];
  simulation: { loss: number[]; sigma: number[][] };
  theory: { loss: number[]; sigma: number[][] };
  final: { simulationSigma: number[]; theorySigma: number[]; simulationLoss: number; theoryLoss: number };
}

export interface SweepPoint {
  r: number;
  /** final loss of the theory iteration with fixed feedback (P̂, Q̂ from the SVD of W₂(0)) */
  fixed: number;
  /** final loss of the theory iteration with normative feedback */
  normative: number;
  /** ½Σ_{i>r} s_i² */
  eckartYoung: number;
  /** ½‖Σ_yx(I − Π)‖², the fixed point of that fixed feedback (λ = 0, t → ∞) */
  fixedPointPrediction: number;
}

export interface TheoryExperimentResult {
  config: TheoryExperimentConfig;
  /** the singular values of the sampled Σ_yx */
  singularValues: number[];
  /** ‖Σ_xx − I‖_F / √n, how far the sample is from white */
  whitenessError: number;
  rules: Record<ExperimentRule, RuleCurves>;
  /** the fixed-point prediction for the main run's fixed feedback */
  fixedPoint: { loss: number; eckartYoung: number; rank: number };
  sweep: SweepPoint[];
  seconds: number;
  /** The kernel that ran the matmuls (Backend.kernelInfo()). */
  kernel: string;
}

export function checkExperimentConfig(c: TheoryExperimentConfig): void {
  for (const key of ['n', 'k', 'm', 'r', 'samples', 'steps', 'recordEvery', 'modes', 'seed'] as const) {
    const v = c[key];
    if (!Number.isInteger(v) || v < (key === 'steps' || key === 'seed' ? 0 : 1)) throw new Error(`theory: ${key} must be a positive integer, got ${v}`);
  }
  const maxRank = Math.min(c.m, c.k);
  for (const r of [c.r, ...c.sweepRanks]) {
    if (!Number.isInteger(r) || r < 1 || r > maxRank) throw new Error(`theory: rank ${r} is not allowed: ranks must be integers in [1, ${maxRank}] (min(m, k))`);
  }
  if (c.inputs !== undefined && c.inputs !== 'sampled' && c.inputs !== 'exact') throw new Error(`theory: inputs '${c.inputs as string}' is not allowed: 'sampled' or 'exact'`);
  if (c.samples < c.n) throw new Error(`theory: ${c.samples} samples cannot estimate Σ_xx in ${c.n} dimensions: samples ≥ n is required`);
}

/**
 * Runs the experiment. The random draws, in order from Rng(seed): W* (authorsTeacher), the
 * samples X (gaussianTeacherStatistics), then W₂, W₁ (authorsInit, shared by every rule and every sweep rank; the sweep's
 * P̂, Q̂ are the rank-r SVD factors of that same W₂(0)).
 */
export function runTheoryExperiment(
  config: TheoryExperimentConfig, log: (line: string) => void = () => {},
  // by default the same arithmetic as the reference kernels in a faster loop order (oracles/linear/kernel.ts)
  backend: Backend = fastFloat64Backend,
): TheoryExperimentResult {
  checkExperimentConfig(config);
  if (backend.precision !== 'float64') throw new Error(`theory: the experiment needs float64 matmuls, but backend '${backend.name}' computes in ${backend.precision}`);
  return { ...withBackend(backend, () => experiment(config, log)), kernel: backend.kernelInfo() };
}

function experiment(config: TheoryExperimentConfig, log: (line: string) => void): Omit<TheoryExperimentResult, 'kernel'> {
  const started = Date.now();
  const { n, k, m, r } = config;
  const rng = new Rng(config.seed);
  const Wstar = authorsTeacher(rng, n, m);
  const sampled = gaussianTeacherStatistics(rng, Wstar, config.samples); // x ~ N(0, I), never stored
  const stats = config.inputs === 'exact' ? whitenedStatistics(Wstar) : sampled;
  const frame = rotatedFrame(stats.Syx);
  let white = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) white += (stats.Sxx.data[i * n + j] - (i === j ? 1 : 0)) ** 2;
  const initRng = rng.fork();
  const init = authorsInit(initRng, { n, k, m, r }, 1);
  const base = {
    steps: config.steps, eta: config.eta, lambda: config.lambda, etaB: config.etaB, etaBDecay: config.etaBDecay,
    recordEvery: config.recordEvery, modes: config.modes,
  };
  log(`Σ_yx: top singular values ${Array.from(frame.s.slice(0, 4), (v) => v.toFixed(3)).join(', ')}; ‖Σ_xx − I‖_F/√n = ${(Math.sqrt(white / n)).toExponential(2)}`);

  const rules = {} as Record<ExperimentRule, RuleCurves>;
  for (const rule of EXPERIMENT_RULES) {
    const o: LinearRunOptions = { ...base, feedback: rule };
    const sim = simulateStatistics(stats, init, o, frame);
    const theory = simulateTheory(frame.s, rotateState(init, frame), o);
    rules[rule] = {
      t: sim.t,
      simulation: { loss: sim.loss, sigma: sim.sigma },
      theory: { loss: theory.loss, sigma: theory.sigma },
      final: { simulationSigma: sim.sigma.at(-1)!, theorySigma: theory.sigma.at(-1)!, simulationLoss: sim.loss.at(-1)!, theoryLoss: theory.loss.at(-1)! },
    };
    log(`${rule}: final σ̂ (simulation) ${sim.sigma.at(-1)!.map((v) => v.toFixed(3)).join(' ')}; loss ${sim.loss.at(-1)!.toFixed(4)} (theory ${theory.loss.at(-1)!.toFixed(4)}) [${((Date.now() - started) / 1000).toFixed(0)} s]`);
  }
  const prediction = predictFixedFeedbackFromCode(stats.Syx, init.P);

  const sweep: SweepPoint[] = [];
  for (const rank of config.sweepRanks) {
    const start = withRank(init, rank);
    const rotated = rotateState(start, frame);
    const fixed = simulateTheory(frame.s, rotated, { ...base, feedback: 'fixed', recordEvery: config.steps || 1 });
    const normative = simulateTheory(frame.s, rotated, { ...base, feedback: 'normative', recordEvery: config.steps || 1 });
    const point: SweepPoint = {
      r: rank, fixed: fixed.loss.at(-1)!, normative: normative.loss.at(-1)!,
      eckartYoung: eckartYoungLoss(frame.s, rank), fixedPointPrediction: predictFixedFeedbackFromCode(stats.Syx, start.P).loss,
    };
    sweep.push(point);
    log(`sweep r=${rank}: fixed ${point.fixed.toFixed(4)} normative ${point.normative.toFixed(4)} Eckart–Young ${point.eckartYoung.toFixed(4)} fixed-point ${point.fixedPointPrediction.toFixed(4)} [${((Date.now() - started) / 1000).toFixed(0)} s]`);
  }
  return {
    config, singularValues: Array.from(frame.s), whitenessError: Math.sqrt(white / n), rules,
    fixedPoint: { loss: prediction.loss, eckartYoung: prediction.eckartYoung, rank: prediction.rank },
    sweep, seconds: (Date.now() - started) / 1000,
  };
}

/** The same W₁(0), W₂(0) with P̂, Q̂ the balanced rank-r SVD factors of W₂(0) (as authorsInit). */
function withRank(init: LinearState, r: number): LinearState {
  const { P, Q } = balancedFactors(init.W2, r);
  return { W1: init.W1, W2: init.W2, P, Q };
}
