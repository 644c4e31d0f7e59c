// What an experiment recipe reports: statistics over seeds, tables, plots and verdicts, written
// as DIR/summary.json (for tools) and DIR/results.md (for people); `ldfa results` gathers the
// latter into docs/results.md.
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../report/atomic.ts';
import type { FinishedRun, Scale } from './sweep.ts';

/**
 * A run's score: its best test accuracy over epochs (the v1 code's protocol, spec §5.1: the
 * test set doubles as validation set and max(final, best) is reported).
 */
export const score = (run: FinishedRun): number => run.result.bestTestAccuracy;

export interface Stat {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for a single seed. */
  std: number;
  n: number;
}

export function stat(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) throw new Error('stat: no values to summarise');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/** A group of runs that differ only in their seed, with the statistics of their scores. */
export interface Group {
  label: string;
  tags: FinishedRun['tags'];
  runs: FinishedRun[];
  accuracy: Stat;
}

/** Groups runs by label (in first-seen order): one group per configuration, over seeds. */
export function groupBySeed(runs: readonly FinishedRun[]): Group[] {
  const groups = new Map<string, FinishedRun[]>();
  for (const run of runs) {
    if (!groups.has(run.label)) groups.set(run.label, []);
    groups.get(run.label)!.push(run);
  }
  return [...groups.entries()].map(([label, members]) => ({ label, tags: members[0].tags, runs: members, accuracy: stat(members.map(score)) }));
}

/** Finds the one group whose tags include all of `tags`; throws if there is none. */
export function groupWith(groups: readonly Group[], tags: FinishedRun['tags']): Group {
  const found = groups.find((g) => Object.entries(tags).every(([k, v]) => g.tags[k] === v));
  if (!found) throw new Error(`no runs with ${JSON.stringify(tags)} in this sweep`);
  return found;
}

/** "97.12 ± 0.15" (percent), or "97.12" for a single seed. */
export function percent(s: Stat): string {
  return s.n > 1 ? `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}` : (100 * s.mean).toFixed(2);
}

/** Signed difference in percentage points, e.g. "−0.46". */
export function points(delta: number): string {
  const v = (100 * delta).toFixed(2);
  return delta < 0 ? `−${v.slice(1)}` : `+${v}`;
}

export interface Table {
  caption: string;
  header: string[];
  rows: string[][];
}

export interface Verdict {
  /** The paper's claim, as tested here. */
  claim: string;
  /** true: reproduced at this scale; false: not; null: cannot tell (e.g. within noise). */
  holds: boolean | null;
  /** The measured numbers behind the verdict. */
  evidence: string;
  /**
   * Wall-clock numbers behind the verdict, kept apart from `evidence` because they vary with the
   * machine and its load, while everything else in a summary is the same bytes for the same seed.
   */
  timing?: string;
}

export interface RecipeReport {
  recipe: string;
  title: string;
  /** Spec section and experiment number, e.g. "§5.1 E1". */
  source: string;
  scale: Scale;
  seeds: number;
  /** The set-up in words: data, model, schedule, rule options. */
  setup: string;
  /** The paper's numbers to compare against (markdown). */
  paper: string;
  tables: Table[];
  plots: { file: string; caption: string }[];
  verdicts: Verdict[];
  /** Total training time of the runs, in seconds (summed over runs). */
  trainingSeconds: number;
  runs: number;
  /** The runs that diverged (left out of the statistics): where each did. */
  diverged?: { id: string; label: string; seed: number; epoch: number | null; step: number; where: string }[];
}

function markdownTable(t: Table): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [`*${t.caption}*`, '', line(t.header), line(t.header.map(() => '---')), ...t.rows.map(line)].join('\n');
}

const VERDICT_WORD = (holds: boolean | null) => (holds === null ? 'inconclusive' : holds ? 'reproduces' : 'does not reproduce');

/** The report as a markdown section; `assets` is the path prefix of its plot files. */
export function reportMarkdown(r: RecipeReport, assets = '.'): string {
  return [
    `## ${r.title} (\`${r.recipe}\`, spec ${r.source})`,
    '',
    `Scale **${r.scale}**, ${r.seeds} seed(s), ${r.runs} runs, ${(r.trainingSeconds / 60).toFixed(1)} min of training in total. ${r.setup}`,
    '',
    ...r.tables.flatMap((t) => [markdownTable(t), '']),
    ...r.plots.flatMap((p) => [`![${p.caption}](${assets}/${p.file})`, '']),
    '**The paper.** ' + r.paper,
    '',
    '**Verdict at this scale.**',
    '',
    ...r.verdicts.map((v) => `- ${v.claim}: **${VERDICT_WORD(v.holds)}**. ${v.evidence}${v.timing ? ` ${v.timing}` : ''}`),
    '',
  ].join('\n');
}

/** Writes DIR/summary.json, DIR/results.md and the plots; returns the report. */
export function writeReport(out: string, report: RecipeReport, files: Record<string, string | Uint8Array>): RecipeReport {
  for (const [name, data] of Object.entries(files)) writeFileAtomic(join(out, name), data);
  writeJsonAtomic(join(out, 'summary.json'), report);
  writeFileAtomic(join(out, 'results.md'), reportMarkdown(report));
  return report;
}
