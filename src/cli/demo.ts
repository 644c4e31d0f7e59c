// `npm start`: the headline demo. An MNIST MLP trained with BP, FA, DFA and LDFA at
// r ∈ {1, 2, 4, 10, 32}; a table of test accuracy by rule and rank, a JSON file and an
// SVG plot of accuracy against rank with BP as a reference line.
import { join } from 'node:path';
import { DEFAULT_CONFIG, type TrainConfig } from '../config.ts';
import { writeFileAtomic, writeJsonAtomic } from '../report/atomic.ts';
import { asciiTable } from '../report/progress.ts';
import { linePlot } from '../report/svg.ts';
import { runTraining, type RunResult } from '../run.ts';

export const DEMO_RANKS = [1, 2, 4, 10, 32];

/** The demo's model and schedule; --quick trains on a fifth of MNIST for one epoch. */
export function demoConfig(quick: boolean, seed: number, backend: string): TrainConfig {
  return {
    ...DEFAULT_CONFIG,
    data: 'mnist', arch: 'mlp', hidden: [256, 256], activation: 'relu',
    epochs: quick ? 1 : 3, batch: 64, lr: 1e-3, lrDecay: 0.7,
    limitTrain: quick ? 12000 : null, limitTest: quick ? 2000 : null,
    feedback: 'normative', svdEvery: 100, feedbackLr: 1e-3,
    seed, backend,
  };
}

/** The demo's runs: BP, FA and DFA, then LDFA at every rank of DEMO_RANKS. */
export function demoRuns(base: TrainConfig): { label: string; config: TrainConfig }[] {
  return [
    { label: 'BP', config: { ...base, rule: 'bp' } },
    { label: 'FA', config: { ...base, rule: 'fa' } },
    { label: 'DFA', config: { ...base, rule: 'dfa' } },
    ...DEMO_RANKS.map((r) => ({ label: `LDFA r=${r}`, config: { ...base, rule: 'ldfa' as const, rank: r } })),
  ];
}

/** The table of test accuracy by rule and rank, and the SVG of accuracy against rank with BP, FA, DFA as lines. */
export function demoReport(results: { label: string; result: Pick<RunResult, 'testAccuracy' | 'seconds'> }[], seed: number): { table: string; svg: string } {
  const accuracy = (label: string) => {
    const found = results.find((r) => r.label === label);
    if (!found) throw new Error(`demo report: no run labelled '${label}'`);
    return found.result.testAccuracy;
  };
  const bp = accuracy('BP');
  const rows = results.map(({ label, result }) => [
    label, (100 * result.testAccuracy).toFixed(2), (100 * (result.testAccuracy - bp)).toFixed(2), result.seconds.toFixed(1),
  ]);
  const table = asciiTable(rows, ['rule', 'test accuracy %', 'vs BP (points)', 'seconds'], { align: ['left', 'right', 'right', 'right'] });
  const svg = linePlot({
    title: `MNIST MLP: test accuracy against feedback rank (seed ${seed})`,
    xLabel: 'LDFA rank r', yLabel: 'test accuracy', xLog: true, xTicks: DEMO_RANKS,
    series: [{ name: 'LDFA (normative)', x: DEMO_RANKS, y: DEMO_RANKS.map((r) => accuracy(`LDFA r=${r}`)) }],
    hlines: [
      { name: 'BP', y: bp, dashed: true, color: '#000000' },
      { name: 'FA', y: accuracy('FA'), dashed: true, color: '#d62728' },
      { name: 'DFA', y: accuracy('DFA'), dashed: true, color: '#2ca02c' },
    ],
    width: 640, height: 420,
  });
  return { table, svg };
}

export async function runDemo(options: { quick: boolean; out: string; backend: string; seed: number }): Promise<void> {
  const base = demoConfig(options.quick, options.seed, options.backend);
  const runs = demoRuns(base);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`ldfa demo: MNIST, MLP 784-${base.hidden.join('-')}-10, ${base.epochs} epoch(s), ${runs.length} runs, seed ${base.seed}`);
  const results: { label: string; result: RunResult }[] = [];
  for (const run of runs) {
    const result = await runTraining(run.config, { log: (line) => log(`  ${run.label}: ${line}`), notice: log });
    results.push({ label: run.label, result });
  }

  const { table, svg } = demoReport(results, base.seed);
  process.stdout.write(`\n${table}\n`);
  process.stdout.write(`backend: ${results[0].result.backend.kernel}\n`);
  writeFileAtomic(join(options.out, 'accuracy-vs-rank.svg'), svg);
  writeJsonAtomic(join(options.out, 'results.json'), { config: base, runs: results.map(({ label, result }) => ({ label, ...result })) });
  process.stdout.write(`wrote ${join(options.out, 'results.json')} and ${join(options.out, 'accuracy-vs-rank.svg')}\n`);
}
