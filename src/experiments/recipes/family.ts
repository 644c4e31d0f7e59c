// The feedback-alignment family side by side (issue 25, family spec): BP, FA, the sign-concordant
// rules (uSF, brSF, frSF), Kolen–Pollack, weight mirrors, PFA and LDFA r = 10, on the MNIST MLP and
// the CNN, on MNIST and Fashion-MNIST. Per run: test accuracy, and per layer the angle between the
// signal the rule sends down and BP's (and between its feedback matrix and W) on 256 test images.
import type { TrainConfig } from '../../config.ts';
import { measureAlignment } from '../../alignment.ts';
import { dataKey, loadData } from '../../data/index.ts';
import { batches, type TrainTest } from '../../data/dataset.ts';
import type { RuleName } from '../../../reference/rules/rule.ts';
import { pfaEquilibriumAngleDeg, randomMagnitudeAngleLimitDeg, signAngleLimitDeg } from '../../../oracles/linear/family.ts';
import { linePlot, PALETTE } from '../../report/svg.ts';
import { groupBySeed, groupWith, percent, points, stat, type Group, type Stat } from '../report.ts';
import { clearlyAbove, configure, dataShape, scaleData, type Recipe, type RecipeScale } from './common.ts';
import type { Overrides } from '../sweep.ts';

const RULES: readonly { rule: RuleName; label: string }[] = [
  { rule: 'bp', label: 'BP' }, { rule: 'fa', label: 'FA' },
  { rule: 'usf', label: 'uSF' }, { rule: 'brsf', label: 'brSF' }, { rule: 'frsf', label: 'frSF' },
  { rule: 'kp', label: 'KP' }, { rule: 'wm', label: 'WM' }, { rule: 'pfa', label: 'PFA k=10' },
  { rule: 'ldfa', label: 'LDFA r=10' },
];
const ARCHS = ['mlp', 'cnn'] as const;

/** Per layer that sends a signal down: the angle of its signal to BP's, and of its feedback matrix to W (degrees). */
export interface FamilyAnalysis { layers: string[]; signal: (number | null)[]; feedback: (number | null)[] }

/**
 * The model and schedule per architecture and scale (one optimiser for every rule: Adam lr 1e-3;
 * KP's B and PFA's R step with it). quick: MLP 784-256-256-10 on 4,000 images × 2 epochs, CNN 16-32
 * on 3,000 images × 1 epoch (tested on the first 2,000 test images); full: the whole sets.
 */
export function familyBase(scale: RecipeScale, arch: (typeof ARCHS)[number], data: TrainConfig['data'], overrides: Overrides): TrainConfig {
  const quickTrain = arch === 'mlp' ? 4000 : 3000;
  return configure({
    ...scaleData(scale, { ...overrides, data }, { train: quickTrain, test: 2000 }),
    arch, activation: 'relu', optimizer: 'adam', lr: 1e-3, batch: 64,
    ...(arch === 'mlp'
      ? { hidden: scale === 'tiny' ? [16, 16] : [256, 256], epochs: { tiny: 1, quick: 2, full: 10 }[scale] }
      : { hidden: scale === 'tiny' ? [4, 8] : [16, 32], kernel: 3, batchNorm: scale !== 'tiny', epochs: { tiny: 1, quick: 1, full: 5 }[scale] }),
  }, overrides);
}

/** MNIST and Fashion-MNIST, or the one data set --data names. */
const datasetsOf = (overrides: Overrides): TrainConfig['data'][] => (overrides.data ? [overrides.data] : ['mnist', 'fashion']);

let probeCache: { key: string; data: TrainTest } | null = null;

export const family: Recipe = {
  name: 'family',
  title: 'The feedback-alignment family: sign symmetry, Kolen–Pollack, weight mirrors, PFA and LDFA',
  source: 'family.md §2–§5',
  defaultSeeds: { tiny: 1, quick: 2, full: 3 },

  runs(scale, overrides) {
    return datasetsOf(overrides).flatMap((data) => ARCHS.flatMap((arch) => {
      const base = familyBase(scale, arch, data, overrides);
      // weight mirrors: one epoch's worth of mirror steps before training (family spec §4), counted here
      const epochSteps = Math.floor(Math.min(base.limitTrain ?? Infinity, dataShape(data).trainSize) / base.batch);
      return RULES.map(({ rule, label }) => ({
        id: `${data}-${arch}-${rule}`, label: `${data} ${arch} ${label}`, tags: { data, arch, rule },
        config: {
          ...base, rule,
          ...(rule === 'ldfa' ? { rank: scale === 'tiny' ? 2 : 10 } : {}),
          ...(rule === 'wm' ? { mirrorWarmup: epochSteps } : {}),
        },
      }));
    }));
  },

  analyse(trainer, run): FamilyAnalysis {
    const key = dataKey(run.config);
    if (probeCache?.key !== key) probeCache = { key, data: loadData(run.config) };
    const probe = batches(probeCache.data.test, 256, null).next().value!;
    const alignment = measureAlignment(trainer.model, trainer.rule, probe.x, probe.y);
    const layers = trainer.model.sites.filter((s) => s.needsInputGrad).map((s) => s.name);
    return {
      layers,
      signal: layers.map((l) => alignment[l].signalAngleDeg),
      feedback: layers.map((l) => alignment[l].feedbackAngleDeg),
    };
  },

  summarise(runs) {
    const groups = groupBySeed(runs);
    const datasets = [...new Set(runs.map((r) => r.tags.data as string))];
    const of = (data: string, arch: string, rule: string) => groupWith(groups, { data, arch, rule });
    const angles = (g: Group, which: 'signal' | 'feedback') => {
      const analyses = g.runs.map((r) => r.analysis as FamilyAnalysis);
      return analyses[0].layers.map((_, i) => {
        const values = analyses.map((a) => a[which][i]).filter((v): v is number => v !== null);
        return values.length ? stat(values) : null;
      });
    };
    const degrees = (s: Stat | null) => (s === null ? '–' : s.n > 1 ? `${s.mean.toFixed(1)} ± ${s.std.toFixed(1)}` : s.mean.toFixed(1));
    const tables = datasets.flatMap((data) => ARCHS.map((arch) => {
      const bp = of(data, arch, 'bp').accuracy;
      const layers = (of(data, arch, 'bp').runs[0].analysis as FamilyAnalysis).layers;
      return {
        caption: `${data} ${arch}: test accuracy % (best over epochs) and, per layer that sends a signal down, the angle (°) of that signal to BP's / of the feedback matrix to W at the end of training`,
        header: ['rule', 'accuracy', 'vs BP', ...layers.map((l) => `${l} signal∠`), ...layers.map((l) => `${l} B∠W`)],
        rows: RULES.map(({ rule, label }) => {
          const g = of(data, arch, rule);
          return [label, percent(g.accuracy), rule === 'bp' ? '–' : points(g.accuracy.mean - bp.mean), ...angles(g, 'signal').map(degrees), ...angles(g, 'feedback').map(degrees)];
        }),
      };
    }));
    const flops = datasets.length ? ARCHS.map((arch) => {
      const inputGradient = (rule: string) => of(datasets[0], arch, rule).runs[0].result.flopsPerStep.total.inputGradient;
      return { arch, pfa: inputGradient('pfa') / inputGradient('bp'), ldfa: inputGradient('ldfa') / inputGradient('bp') };
    }) : [];
    const everywhere = (rule: string, test: (g: Stat, bp: Stat) => boolean | null) => {
      const results = datasets.flatMap((data) => ARCHS.map((arch) => test(of(data, arch, rule).accuracy, of(data, arch, 'bp').accuracy)));
      return results.includes(false) ? false : results.includes(null) ? null : true;
    };
    const within = (points1: number) => (g: Stat, bp: Stat) => bp.mean - g.mean <= points1 / 100;
    const evidence = (rules: string[]) => datasets.flatMap((data) => ARCHS.map((arch) => `${data} ${arch}: ${rules.map((r) => `${RULES.find((x) => x.rule === r)!.label} ${points(of(data, arch, r).accuracy.mean - of(data, arch, 'bp').accuracy.mean)}`).join(', ')}`)).join('; ') + ' (points vs BP).';
    const meanSignal = (rule: string) => stat(datasets.flatMap((data) => ARCHS.flatMap((arch) => angles(of(data, arch, rule), 'signal').filter((s): s is Stat => s !== null).map((s) => s.mean))));
    const plots = ARCHS.map((arch) => {
      const layers = (of(datasets[0], arch, 'bp').runs[0].analysis as FamilyAnalysis).layers;
      const x = layers.map((_, i) => i + 1);
      return {
        file: `family-${arch}-signal-angle.svg`,
        svg: linePlot({
          title: `${datasets[0]} ${arch}: angle of each layer's signal to BP's, after training`,
          xLabel: `layer sending the signal (1 = ${layers[0]}, ${layers.length} = ${layers[layers.length - 1]}, the output layer)`, yLabel: 'angle to BP (°)', xTicks: x,
          series: RULES.filter((r) => r.rule !== 'bp').map(({ rule, label }, i) => ({
            name: label, x, y: angles(of(datasets[0], arch, rule), 'signal').map((s) => s?.mean ?? NaN), color: PALETTE[i % PALETTE.length],
          })),
        }),
      };
    });
    const c = runs[0].config;
    return {
      report: {
        setup: `Data: ${datasets.join(' and ')}. ${ARCHS.map((arch) => {
          const a = runs.find((r) => r.tags.arch === arch)!.config;
          return `${arch === 'mlp' ? `MLP 784-${a.hidden.join('-')}-10 (ReLU)` : `CNN ${a.hidden.join('-')} (${a.kernel}×${a.kernel}${a.batchNorm ? ', batch norm' : ''}, ReLU, max-pool) with a linear head`}: ${a.limitTrain ? `first ${a.limitTrain} training images` : 'all training images'}, ${a.epochs} epoch(s)`;
        }).join('; ')}; ${c.limitTest ? `first ${c.limitTest} test images` : 'the whole test set'}. `
          + `Every rule on the same model, schedule and optimiser (${c.optimizer} lr ${c.lr}, batch ${c.batch}${c.weightDecay ? `, weight decay ${c.weightDecay}` : ', no weight decay: KP\'s B − W and PFA\'s R − B_pᵀW keep their initial offset, family spec §3 property 5'}). `
          + 'Rule options at the family spec\'s recommended defaults: uSF c = std of W\'s initialiser; brSF, frSF magnitudes drawn like FA\'s B (brSF redrawn every step); KP\'s B and PFA\'s R from FA-like random draws, stepped with W\'s optimiser; weight mirrors σ = 0.1, ρ = 0.01, one epoch of mirror steps before training and one after each step; PFA k = 10 with random B_p; LDFA r = 10 normative (feedback optimiser Adam lr 1e-3). '
          + 'Score: best test accuracy over epochs, mean ± std over seeds. Angles on the first 256 test images after training.',
        paper: 'The family spec (§0) could read only the papers\' abstracts and the peers\' code, so there are no published accuracies to set beside these numbers. What the sources claim, and what is tested: '
          + 'Liao, Leibo & Poggio 2016 (abstract): the feedback\'s magnitudes "do not matter", its signs do; random magnitudes with concordant signs match or beat SGD. '
          + 'Akrout et al. 2019 (abstract): KP and weight mirrors train deep networks without weight transport, much better than FA. '
          + 'Li & Benna 2024 (abstract): PFA "closely approximates BP". '
          + `Angles the spec derives for i.i.d. weights at initialisation: ∠(c·sign W, W) = ${signAngleLimitDeg('uniform').toFixed(1)}° (uniform W), ∠(|M|∘sign W, W) = ${randomMagnitudeAngleLimitDeg('uniform').toFixed(1)}° (uniform M, W), PFA at equilibrium with k = 10 ∠ ≈ ${pfaEquilibriumAngleDeg(1, 10).toFixed(1)}°.`,
        tables: [
          ...tables,
          {
            caption: 'Input-gradient FLOPs per step relative to BP (one seed; the same for every data set): PFA expands, LDFA compresses (family spec §5.5)',
            header: ['model', 'PFA k=10', 'LDFA r=10'],
            rows: flops.map((f) => [f.arch, `${f.pfa.toFixed(2)}×`, `${f.ldfa.toFixed(2)}×`]),
          },
        ],
        plots: plots.map((p) => ({ file: p.file, caption: `angle to BP by layer, ${p.file.includes('mlp') ? 'MLP' : 'CNN'}` })),
        verdicts: [
          {
            claim: 'Liao et al.: sign-concordant feedback with any magnitudes (uSF, brSF, frSF) trains within 1 point of BP, on both models and data sets',
            holds: [everywhere('usf', within(1)), everywhere('brsf', within(1)), everywhere('frsf', within(1))].reduce((a, b) => (a === false || b === false ? false : a === null || b === null ? null : true)),
            evidence: evidence(['usf', 'brsf', 'frsf']),
          },
          {
            claim: 'Akrout et al.: KP and weight mirrors train better than FA',
            holds: datasets.flatMap((data) => ARCHS.flatMap((arch) => ['kp', 'wm'].map((r) => clearlyAbove(of(data, arch, r).accuracy, of(data, arch, 'fa').accuracy))))
              .reduce((a, b) => (a === false || b === false ? false : a === null || b === null ? null : true)),
            evidence: evidence(['fa', 'kp', 'wm']),
          },
          {
            claim: 'Li & Benna: PFA closely approximates BP (within 1 point), as LDFA r = 10 does',
            holds: everywhere('pfa', within(1)),
            evidence: evidence(['pfa', 'ldfa']),
          },
          {
            claim: 'the sign-concordant rules send a signal closer to BP\'s than FA does (mean angle over layers, models and data sets)',
            holds: ['usf', 'brsf', 'frsf'].every((r) => meanSignal(r).mean < meanSignal('fa').mean),
            evidence: ['fa', 'usf', 'brsf', 'frsf', 'kp', 'wm', 'pfa', 'ldfa'].map((r) => `${RULES.find((x) => x.rule === r)!.label} ${meanSignal(r).mean.toFixed(1)}°`).join(', ') + '.',
          },
          {
            claim: 'PFA costs more input-gradient FLOPs than BP (≈ 2k× for square layers) and LDFA r = 10 fewer',
            holds: flops.every((f) => f.pfa > 1 && f.ldfa < 1),
            evidence: flops.map((f) => `${f.arch}: PFA ${f.pfa.toFixed(2)}×, LDFA ${f.ldfa.toFixed(2)}× BP`).join('; ') + '.',
          },
        ],
      },
      files: Object.fromEntries(plots.map((p) => [p.file, p.svg])),
    };
  },
};
