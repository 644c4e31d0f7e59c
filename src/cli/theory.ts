// `ldfa theory --out DIR`: the authors' linear-network experiment (spec §3.1) with the theory
// drawn in. Writes theory.json, one σ̂_i(t) figure per rule (simulation solid, theory dashed)
// and the final-loss-against-rank sweep with the Eckart–Young bound.
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Backend } from '../../reference/backend.ts';
import { referenceBackend } from '../../reference/kernels.ts';
import { fastFloat64Backend } from '../../oracles/linear/kernel.ts';
import { isBackendName } from '../backends/registry.ts';
import {
  AUTHORS_SETUP, EXPERIMENT_RULES, runTheoryExperiment, TINY_SETUP,
  type ExperimentRule, type TheoryExperimentConfig, type TheoryExperimentResult,
} from '../../oracles/linear/experiment.ts';
import { writeFileAtomic, writeJsonAtomic } from '../report/atomic.ts';
import { linePlot } from '../report/svg.ts';
import { checkOutputDir } from '../paths.ts';
import { integerFlag, positiveIntegerList } from './train-options.ts';

export const RULE_TITLES: Record<ExperimentRule, string> = {
  bp: 'BP', fixed: 'fixed random low-rank feedback (FA)', normative: 'normative LDFA',
};

export interface TheoryCommandOptions {
  out: string;
  scale: 'authors' | 'tiny';
  steps?: number;
  seed?: number;
  samples?: number;
  ranks?: number[];
  /** auto (default: the float64 i-k-j kernel) or reference; the float32 backends are refused. */
  backend?: string;
  log?: (line: string) => void;
}

export const THEORY_BACKENDS = ['auto', 'reference'] as const;

/**
 * The experiment compares a sampled simulation with the theory iteration to rounding, so it
 * runs in float64: 'auto' is the fastest float64 kernel here (oracles/linear/kernel.ts),
 * 'reference' the reference loops.
 */
export function theoryBackend(name: string): Backend {
  if (name === 'auto') return fastFloat64Backend;
  if (name === 'reference') return referenceBackend;
  if (isBackendName(name)) {
    throw new Error(`--backend ${name} is not allowed for ldfa theory: the theory-versus-simulation comparison needs float64 matmuls and ${name} computes in float32; allowed are ${THEORY_BACKENDS.join(', ')}`);
  }
  throw new Error(`unknown backend '${name}': allowed for ldfa theory are ${THEORY_BACKENDS.join(', ')}`);
}

export function theoryConfig(o: Omit<TheoryCommandOptions, 'out' | 'log' | 'backend'>): TheoryExperimentConfig {
  if (o.scale !== 'authors' && o.scale !== 'tiny') throw new Error(`unknown scale '${o.scale as string}': allowed are authors, tiny`);
  if (o.steps !== undefined) integerFlag('--steps', 1)(String(o.steps)); // 0 iterations would draw empty figures
  const base = o.scale === 'tiny' ? TINY_SETUP : AUTHORS_SETUP;
  return {
    ...base,
    ...(o.steps !== undefined ? { steps: o.steps } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.samples !== undefined ? { samples: o.samples } : {}),
    ...(o.ranks !== undefined ? { sweepRanks: o.ranks } : {}),
  };
}

/** σ̂_i(t) of the top modes for one rule: simulation solid, theory dashed, same colour per mode. */
export function sigmaFigure(result: TheoryExperimentResult, rule: ExperimentRule): string {
  const curves = result.rules[rule];
  const modes = curves.simulation.sigma[0]?.length ?? 0;
  const series = [];
  for (let i = 0; i < modes; i++) {
    const color = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'][i % 10];
    series.push({ name: `mode ${i + 1} simulation`, x: curves.t, y: curves.simulation.sigma.map((s) => s[i]), color });
    series.push({ name: `mode ${i + 1} theory`, x: curves.t, y: curves.theory.sigma.map((s) => s[i]), color, dashed: true });
  }
  const { n, k, m, r } = result.config;
  return linePlot({
    title: `${RULE_TITLES[rule]}: σ̂_i(t), n=${n} k=${k} m=${m}${rule === 'bp' ? '' : ` r=${r}`} (solid: simulation, dashed: theory)`,
    xLabel: 'iteration', yLabel: 'σ̂_i = [UᵀW₂W₁V]_ii / s_i', series, hlines: [{ name: 'σ̂ = 1', y: 1, dashed: true, color: '#999999' }],
    width: 760, height: 460,
  });
}

/** Final loss against r: fixed and normative feedback, the Eckart–Young bound, the fixed-point prediction. */
export function sweepFigure(result: TheoryExperimentResult): string {
  const r = result.sweep.map((p) => p.r);
  return linePlot({
    title: `final loss after ${result.config.steps} iterations against feedback rank r (theory iteration)`,
    xLabel: 'feedback rank r', yLabel: 'loss ½‖S − W̄₂W̄₁‖²', xLog: true,
    series: [
      { name: 'fixed low-rank feedback', x: r, y: result.sweep.map((p) => p.fixed) },
      { name: 'normative LDFA', x: r, y: result.sweep.map((p) => p.normative) },
      { name: 'Eckart–Young bound ½Σ_{i>r}s_i²', x: r, y: result.sweep.map((p) => p.eckartYoung), dashed: true },
      { name: 'fixed-feedback fixed point ½‖Σ_yx(I−Π)‖²', x: r, y: result.sweep.map((p) => p.fixedPointPrediction), dashed: true },
    ],
    hlines: [{ name: `BP (${result.rules.bp.final.theoryLoss.toPrecision(3)})`, y: result.rules.bp.final.theoryLoss, dashed: true, color: '#999999' }],
    width: 760, height: 460,
  });
}

export const THEORY_FILES = ['theory.json', 'sigma-bp.svg', 'sigma-fixed.svg', 'sigma-normative.svg', 'loss-vs-rank.svg'] as const;

export function runTheoryCommand(o: TheoryCommandOptions): TheoryExperimentResult {
  const config = theoryConfig(o);
  const backend = theoryBackend(o.backend ?? 'auto');
  checkOutputDir('--out', o.out);
  const result = runTheoryExperiment(config, o.log, backend);
  writeJsonAtomic(join(o.out, 'theory.json'), result);
  for (const rule of EXPERIMENT_RULES) writeFileAtomic(join(o.out, `sigma-${rule}.svg`), sigmaFigure(result, rule));
  writeFileAtomic(join(o.out, 'loss-vs-rank.svg'), sweepFigure(result));
  return result;
}


export function registerTheoryCommand(program: Command): void {
  program.command('theory')
    .description("the linear-network theory (spec §3): the authors' set-up (n=128, k=m=64, r=2, 5000 iterations), σ̂_i(t) simulation vs theory for BP, fixed low-rank FA and normative LDFA, and final loss against r")
    .option('--out <dir>', 'where to write theory.json and the SVG figures', 'out/theory')
    .option('--scale <name>', "authors (the paper's set-up) or tiny (seconds, for tests)", 'authors')
    .option('--steps <N>', 'iterations (default 5000)', integerFlag('--steps', 1))
    .option('--samples <P>', 'sampled inputs (default 100000)', integerFlag('--samples', 1))
    .option('--ranks <list>', 'ranks of the loss sweep, comma-separated (default 1,2,4,8,16,32,64)', positiveIntegerList('--ranks', '1,2,4'))
    .option('--seed <S>', 'random seed', integerFlag('--seed', 0))
    .option('--backend <name>', `matmul kernel, float64 only: ${THEORY_BACKENDS.join(' | ')} (auto: i-k-j loops, faster than the reference's)`, 'auto')
    .option('--quiet', 'no progress lines')
    .action((opts: { out: string; scale: 'authors' | 'tiny'; steps?: number; samples?: number; ranks?: number[]; seed?: number; backend: string; quiet?: boolean }) => {
      const result = runTheoryCommand({ ...opts, log: opts.quiet ? undefined : (line) => process.stderr.write(`${line}\n`) });
      process.stderr.write(`wrote ${THEORY_FILES.join(', ')} to ${opts.out} in ${result.seconds.toFixed(1)} s on ${result.kernel}\n`);
    });
}
