// E3 (spec §5.1): the rank needed tracks the task's dimensionality. Train on the first C
// classes only, every layer at rank r, and find the knee: the smallest rank within
// KNEE_TOLERANCE of BP on the same classes. The knee should move right as C grows.
import { linePlot, PALETTE } from '../../report/svg.ts';
import { groupBySeed, groupWith, percent, type Stat } from '../report.ts';
import { describeSetup, mlpBase, type Recipe } from './common.ts';

const CLASSES = { tiny: [2, 4], quick: [2, 5, 10], full: [20, 50, 100] };
const RANKS = { tiny: [1, 2], quick: [1, 2, 3, 4, 6, 10], full: [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128] };
/** A rank is "at the knee" once its mean accuracy is within this of BP's (fraction, i.e. 0.5 points). */
export const KNEE_TOLERANCE = 0.005;

/** The smallest rank whose accuracy is within KNEE_TOLERANCE of BP's, or null if none is. */
export function knee(ranks: readonly number[], accuracy: (r: number) => Stat, bp: Stat): number | null {
  return ranks.find((r) => accuracy(r).mean >= bp.mean - KNEE_TOLERANCE) ?? null;
}

export const taskDim: Recipe = {
  name: 'task-dim',
  title: 'Task dimensionality: class subsets',
  source: '§5.1 E3',
  defaultSeeds: { tiny: 1, quick: 3, full: 5 },

  runs(scale, overrides) {
    const base = { ...mlpBase(scale, overrides, 2), ...(scale === 'full' ? { data: overrides.data ?? 'cifar100' as const, epochs: 100 } : {}) };
    return CLASSES[scale].flatMap((C) => [
      { id: `c${C}-bp`, label: `C=${C} BP`, tags: { classes: C, rule: 'bp' }, config: { ...base, classes: C, rule: 'bp' as const } },
      ...RANKS[scale].map((r) => ({
        id: `c${C}-r${r}`, label: `C=${C} r=${r}`, tags: { classes: C, rule: 'ldfa', rank: r },
        config: { ...base, classes: C, rule: 'ldfa' as const, rank: r },
      })),
    ]);
  },

  summarise(runs, scale) {
    const groups = groupBySeed(runs);
    const classes = CLASSES[scale], ranks = RANKS[scale];
    const bp = (C: number) => groupWith(groups, { classes: C, rule: 'bp' }).accuracy;
    const at = (C: number) => (r: number) => groupWith(groups, { classes: C, rule: 'ldfa', rank: r }).accuracy;
    const knees = classes.map((C) => knee(ranks, at(C), bp(C)));
    const kneeText = (k: number | null) => (k === null ? `> ${ranks[ranks.length - 1]}` : String(k));
    const asNumber = (k: number | null) => k ?? Infinity;
    const monotone = knees.every((k, i) => i === 0 || asNumber(k) >= asNumber(knees[i - 1]));
    const moves = asNumber(knees[knees.length - 1]) > asNumber(knees[0]);
    const plot = linePlot({
      title: 'Test accuracy against rank, one curve per number of classes (dashed: BP)',
      xLabel: 'rank r (every layer)', yLabel: 'test accuracy', xLog: true, xTicks: ranks,
      series: classes.map((C, i) => ({ name: `${C} classes`, x: ranks, y: ranks.map((r) => at(C)(r).mean), color: PALETTE[i] })),
      hlines: classes.map((C, i) => ({ name: `BP, ${C} classes`, y: bp(C).mean, dashed: true, color: PALETTE[i] })),
    });
    const c = runs[0].config;
    return {
      report: {
        setup: describeSetup(c, `MLP ${c.hidden.join('-')} (ReLU${c.batchNorm ? ', batch norm' : ''}), every layer at rank r (the output layer's rank is min(r, C))`, `The knee is the smallest rank within ${100 * KNEE_TOLERANCE} points of BP on the same classes.`),
        paper: 'CIFAR-100 subsets of the first C classes, MLP 512×4, every layer at rank r: accuracy saturates at a rank that grows with C — the knee is ≈16–24 for 20 classes, ≈40–64 for 50, ≈80–128 for 100 (read off the authors\' plot; exact numbers not recovered).',
        tables: [
          {
            caption: 'Test accuracy % by rank and number of classes',
            header: ['rank', ...classes.map((C) => `C = ${C}`)],
            rows: [...ranks.map((r) => [String(r), ...classes.map((C) => percent(at(C)(r)))]), ['BP', ...classes.map((C) => percent(bp(C)))]],
          },
          { caption: 'Knee: the smallest rank within 0.5 points of BP', header: ['classes', 'knee rank'], rows: classes.map((C, i) => [String(C), kneeText(knees[i])]) },
        ],
        plots: [{ file: 'accuracy-vs-rank-by-classes.svg', caption: 'E3: accuracy against rank for each number of classes' }],
        verdicts: [{
          claim: 'the knee moves to higher rank as the number of classes grows',
          holds: monotone && moves,
          evidence: `Knees: ${classes.map((C, i) => `${C} classes → ${kneeText(knees[i])}`).join(', ')}.`,
        }],
      },
      files: { 'accuracy-vs-rank-by-classes.svg': plot },
    };
  },
};
