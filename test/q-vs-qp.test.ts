// The q-vs-qp recipe: Q only and Q and P are paired by seed (same initial W, P̂, Q̂ and the same
// batches), the orthonormality measure of P̂, the paired gains, and the verdicts against the
// authors' numbers on hand-made results.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng, uniformTensor } from '../reference/rng.ts';
import { orthonormalBasis } from '../reference/linalg.ts';
import { tensor } from '../reference/tensor.ts';
import type { TrainConfig } from '../src/config.ts';
import type { Dataset } from '../src/data/dataset.ts';
import { SCALES, type FinishedRun, type RunSpec } from '../src/experiments/sweep.ts';
import { authorsGain, orthonormalityGap, pairedGains, qVsQp, type PAnalysis } from '../src/experiments/recipes/q-vs-qp.ts';
import { planOf } from '../src/experiments/recipes/common.ts';
import { createTrainer, train } from '../src/train.ts';

const armsOf = (runs: RunSpec[], r: number) => ['q', 'qp'].map((learn) => runs.find((x) => x.tags.learn === learn && x.tags.rank === r)!);

/** A small random classification set of 8×8 "images" (enough to tell two batch orders apart). */
function dataset(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  return { name: 'random', x: new Float64Array(n * 64).map(() => rng.normal()), y: new Int32Array(n).map(() => rng.int(10)), n, shape: [64], classes: 10 };
}

describe('Q only and Q and P are paired by seed', () => {
  it.each(SCALES)('%s: the two arms of every rank differ in `learn` alone', (scale) => {
    const runs = planOf(qVsQp).runs(scale, {});
    const ranks = [...new Set(runs.filter((x) => x.tags.rank !== undefined).map((x) => x.tags.rank as number))];
    expect(ranks.length).toBeGreaterThan(1);
    for (const r of ranks) {
      const [q, qp] = armsOf(runs, r);
      expect(q.config.learn).toBe('q');
      expect(qp.config.learn).toBe('pq');
      expect({ ...q.config, learn: 'pq' }).toEqual(qp.config);
    }
  });

  it('one seed gives both arms the same initial W, P̂ and Q̂; another seed does not', () => {
    const [q, qp] = armsOf(qVsQp.runs('tiny', {}), 2);
    const initial = (config: TrainConfig) => {
      const trainer = createTrainer({ ...config, backend: 'reference' }, [1, 28, 28], 10);
      return { W: trainer.model.params().map((p) => Array.from(p.value.data)), PQ: Object.fromEntries(Object.entries(trainer.rule.feedbackTensors()).map(([k, t]) => [k, Array.from(t.data)])) };
    };
    const a = initial({ ...q.config, seed: 3 }), b = initial({ ...qp.config, seed: 3 });
    expect(Object.keys(a.PQ)).toHaveLength(6); // P̂ and Q̂ of 3 sending layers
    expect(b).toEqual(a);
    expect(initial({ ...qp.config, seed: 4 }).W[0]).not.toEqual(a.W[0]);
  });

  it('with the feedback frozen (lr 0) the two arms train identically, so they see the same batches', () => {
    const data = { train: dataset(96, 1), test: dataset(40, 2) };
    const [q, qp] = armsOf(qVsQp.runs('tiny', {}), 1);
    const run = (config: TrainConfig, seed: number) => train({ ...config, seed, epochs: 2, batch: 16, lr: 0.01, feedbackLr: 0, backend: 'reference' }, data).trainLoss;
    const lossQ = run(q.config, 5);
    expect(run(qp.config, 5)).toEqual(lossQ);
    // The equality above is not trivial: another seed (other init and batches) gives other losses.
    expect(run(qp.config, 6)).not.toEqual(lossQ);
  });

  it('with the feedback learning, Q and P moves P̂ and Q only does not', () => {
    const data = { train: dataset(64, 1), test: dataset(20, 2) };
    const [q, qp] = armsOf(qVsQp.runs('tiny', {}), 2);
    const finalP = (config: TrainConfig) => {
      const trainer = createTrainer({ ...config, backend: 'reference', lr: 0.01, feedbackLr: 0.01 }, [64], 10);
      const before = Array.from(trainer.rule.feedbackTensors()['fc2.P'].data);
      for (let i = 0; i < 4; i++) trainer.step(tensor([16, 64], data.train.x.subarray(i * 16 * 64, (i + 1) * 16 * 64)), data.train.y.subarray(i * 16, (i + 1) * 16));
      return { before, after: Array.from(trainer.rule.feedbackTensors()['fc2.P'].data) };
    };
    const onlyQ = finalP(q.config), both = finalP(qp.config);
    expect(onlyQ.after).toEqual(onlyQ.before);
    expect(both.after).not.toEqual(both.before);
  });
});

describe('‖P̂ᵀP̂ − I‖₂', () => {
  it('rank 1: |‖p‖² − 1|', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 30 }), fc.nat(1e6), (out, seed) => {
      const p = uniformTensor(new Rng(seed), [out, 1], 1);
      const norm2 = p.data.reduce((a, v) => a + v * v, 0);
      expect(orthonormalityGap(p)).toBeCloseTo(Math.abs(norm2 - 1), 10);
    }));
  });

  it('orthonormal columns scaled by s_i: max |s_i² − 1|', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.nat(1e6), (r, seed) => {
      const rng = new Rng(seed);
      const out = r + 5;
      const basis = orthonormalBasis(uniformTensor(rng, [out, r], 1)); // (out, r)
      const scales = Array.from({ length: r }, () => rng.uniformIn(0, 3));
      const P = tensor([out, r], basis.data.map((v, i) => v * scales[i % r]));
      expect(orthonormalityGap(P)).toBeCloseTo(Math.max(...scales.map((s) => Math.abs(s * s - 1))), 9);
    }));
  });
});

/** Finished runs of the full-scale plan with the given final accuracies (fractions) per seed. */
function finished(accuracy: (tags: RunSpec['tags'], seed: number) => number, seeds = [1, 2, 3]): FinishedRun[] {
  const analysis: PAnalysis = { layers: ['fc2', 'fc3', 'fc4'], gap: [0.5, 0.25, 0.125] };
  return seeds.flatMap((seed) => qVsQp.runs('full', {}).map((run) => {
    const a = accuracy(run.tags, seed);
    return {
      ...run, id: `${run.id}-s${seed}`, seed, config: { ...run.config, seed },
      result: { testAccuracy: a, bestTestAccuracy: a + 0.01, seconds: 1 } as FinishedRun['result'],
      ...(run.tags.rule === 'bp' ? {} : { analysis }),
    };
  }));
}

describe('paired gains and verdicts', () => {
  it('pairedGains subtracts seed by seed and refuses unpaired lists', () => {
    const runs = finished((tags, seed) => (tags.learn === 'qp' ? 0.9 + seed / 100 : 0.9));
    const at = (learn: string) => runs.filter((x) => x.tags.learn === learn && x.tags.rank === 4);
    const { perSeed, mean } = pairedGains(at('q'), at('qp'));
    expect(perSeed.map((v) => +v.toFixed(12))).toEqual([0.01, 0.02, 0.03]);
    expect(mean.mean).toBeCloseTo(0.02, 12);
    expect(mean.std).toBeCloseTo(0.01, 12);
    expect(() => pairedGains(at('q'), at('qp').slice(1))).toThrow(/same seeds, got 1,2,3 and 2,3/);
  });

  it('the authors\' mean gains are the means of their per-seed gains', () => {
    expect([1, 2, 4, 10].map((r) => +authorsGain('full', r)!.toFixed(2))).toEqual([4.25, 2.34, 1.29, 1.23]);
    expect(authorsGain('quick', 2)).toBeUndefined();
    expect(authorsGain('tiny', 1)).toBeUndefined();
  });

  it('gains equal to the authors\' hold both verdicts; 1.5 points off, or one rank negative, fail them', () => {
    const gainOf = (r: number) => authorsGain('full', r)! / 100;
    const accuracy = (shift: (r: number) => number) => (tags: RunSpec['tags'], seed: number) => {
      const r = tags.rank as number;
      if (tags.learn === 'q') return 0.8 + seed / 1000;
      if (tags.learn === 'qp') return 0.8 + seed / 1000 + shift(r);
      return 0.96;
    };
    const verdicts = (shift: (r: number) => number) => qVsQp.summarise(finished(accuracy(shift)), 'full').report.verdicts.map((v) => v.holds);
    expect(verdicts(gainOf)).toEqual([true, true]);
    expect(verdicts((r) => gainOf(r) + 0.015)).toEqual([true, false]);
    expect(verdicts((r) => (r === 4 ? -0.01 : gainOf(r)))).toEqual([false, false]);
    const { tables } = qVsQp.summarise(finished(accuracy(gainOf)), 'full').report;
    expect(tables[0].rows[0]).toEqual(['1', '80.20 ± 0.10', '84.45 ± 0.10', '+4.25 ± 0.00', '+4.25, +4.25, +4.25', '81.34 ± 1.21', '85.60 ± 2.08', '+4.25', '+3.56, +1.63, +7.57']);
    expect(tables[1].header).toEqual(['rank', 'B1 Q only', 'B1 Q and P', 'B2 Q only', 'B2 Q and P', 'B3 Q only', 'B3 Q and P']);
    expect(tables[1].rows[3]).toEqual(['10', '0.50', '0.50', '0.25', '0.25', '0.13', '0.13']);
  });
});
