// E1 (spec §5.1): one layer's feedback constrained to rank r, the others at full rank, for
// each layer that sends error down (B₁ nearest the input … B₃ = output → last hidden).
import { linePlot, PALETTE } from '../../report/svg.ts';
import { groupBySeed, groupWith, percent, points, type Verdict } from '../report.ts';
import { maxRank } from '../../../reference/models/network.ts';
import type { Group } from '../report.ts';
import { allHold, clearlyAbove, configSendingSites, describeSetup, mlpBase, nearest, oneLayerRank, type Recipe } from './common.ts';

const RANKS = { tiny: [1, 4], quick: [1, 2, 4, 10, 32], full: [1, 2, 3, 4, 5, 6, 8, 10, 16, 32] };
const LAYERS = ['B1', 'B2', 'B3'];

export const rankSweep: Recipe = {
  name: 'rank-sweep',
  title: 'Rank sweep: one constrained layer at a time',
  source: '§5.1 E1',
  defaultSeeds: { tiny: 1, quick: 3, full: 10 },

  runs(scale, overrides) {
    const base = mlpBase(scale, overrides);
    const sites = configSendingSites(base);
    return [
      { id: 'bp', label: 'BP', tags: { rule: 'bp' }, config: { ...base, rule: 'bp' } },
      // A layer's rank stops at its min(out, in): B3 (into the 10 logits) goes up to 10, as in the paper's table.
      ...LAYERS.flatMap((layer, index) => RANKS[scale].filter((r) => r <= maxRank(sites[index])).map((r) => ({
        id: `${layer}-r${r}`, label: `${layer} r=${r}`, tags: { rule: 'ldfa', layer, rank: r },
        config: { ...base, rule: 'ldfa' as const, rank: oneLayerRank(base, index, r) },
      }))),
    ];
  },

  summarise(runs, scale) {
    const groups = groupBySeed(runs);
    const ranks = RANKS[scale];
    const bp = groupWith(groups, { rule: 'bp' }).accuracy;
    const at = (layer: string, r: number) => groupWith(groups, { layer, rank: r }).accuracy;
    const has = (layer: string, r: number) => groups.some((g: Group) => g.tags.layer === layer && g.tags.rank === r);
    const classes = 10;
    const rC = nearest(ranks, classes), r1 = ranks[0];

    const verdicts: Verdict[] = [
      {
        claim: `BP-level accuracy at r ≈ number of classes (${classes}), in every layer (within 1 point of BP)`,
        holds: LAYERS.every((l) => bp.mean - at(l, rC).mean <= 0.01),
        evidence: `At r = ${rC}: ${LAYERS.map((l) => `${l} ${percent(at(l, rC))} (${points(at(l, rC).mean - bp.mean)})`).join(', ')}; BP ${percent(bp)}.`,
      },
      {
        claim: `rank ${r1} is measurably below BP in every layer`,
        holds: allHold(LAYERS.map((l) => clearlyAbove(bp, at(l, r1)))),
        evidence: `At r = ${r1}: ${LAYERS.map((l) => `${l} ${percent(at(l, r1))} (${points(at(l, r1).mean - bp.mean)})`).join(', ')}.`,
      },
      {
        claim: `at rank ${r1} the layer nearest the output (B3) suffers most`,
        holds: clearlyAbove(at('B1', r1), at('B3', r1)) === true && clearlyAbove(at('B2', r1), at('B3', r1)) === true
          ? true : clearlyAbove(at('B3', r1), at('B1', r1)) === true ? false : null,
        evidence: `B1 ${percent(at('B1', r1))}, B2 ${percent(at('B2', r1))}, B3 ${percent(at('B3', r1))} (paper: .558, .540, .473).`,
      },
    ];

    const plot = linePlot({
      title: 'Test accuracy against the rank of one layer\'s feedback',
      xLabel: 'rank r of the constrained layer', yLabel: 'test accuracy', xLog: true, xTicks: ranks,
      series: LAYERS.map((l, i) => {
        const x = ranks.filter((r) => has(l, r));
        return { name: `${l} constrained`, x, y: x.map((r) => at(l, r).mean), color: PALETTE[i] };
      }),
      hlines: [{ name: 'BP', y: bp.mean, dashed: true, color: '#000000' }],
    });
    const c = runs[0].config;
    return {
      report: {
        setup: describeSetup(c, `MLP ${c.hidden.join('-')} (ReLU${c.batchNorm ? ', batch norm' : ''}); B1, B2, B3 are the feedback of the 2nd, 3rd and 4th linear layers`),
        paper: 'CIFAR-10 MLP 3072-512×3-10, BP 0.628; at r = 1 / 4 / 10: B₁ .558 / .604 / .625, B₂ .540 / .596 / .624, B₃ .473 / .588 / .629. BP-level accuracy at r ≈ 10 in every layer; the layer nearest the output suffers most at very low rank.',
        tables: [{
          caption: 'Test accuracy % by rank of the constrained layer (BP: ' + percent(bp) + ')',
          header: ['rank', ...LAYERS],
          rows: ranks.map((r) => [String(r), ...LAYERS.map((l) => (has(l, r) ? percent(at(l, r)) : '–'))]),
        }],
        plots: [{ file: 'accuracy-vs-rank.svg', caption: 'E1: accuracy against the rank of one constrained layer' }],
        verdicts,
      },
      files: { 'accuracy-vs-rank.svg': plot },
    };
  },
};
