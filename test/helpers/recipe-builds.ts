// Every planned run of a recipe at a scale builds: model and rule attach, ranks valid. Shared by
// test/experiments.test.ts (quick scale) and test/experiments-full-scale.e2e.test.ts (full
// scale: the paper-size models, about a minute on 2 cores, so in `npm run test:e2e`).
import { expect } from 'vitest';
import { recipeNamed } from '../../src/experiments/index.ts';
import { dataShape } from '../../src/experiments/recipes/common.ts';
import { createTrainer } from '../../src/train.ts';

export function expectEveryRunBuilds(name: string, scale: 'quick' | 'full'): void {
  const overrides = scale === 'full' ? { dataDir: '/not/read/by/planning' } : {};
  const runs = recipeNamed(name).runs(scale, overrides);
  expect(runs.length).toBeGreaterThan(1);
  for (const run of runs) {
    // Random feedback init skips the SVD of big layers; the ranks are checked all the same.
    const config = { ...run.config, feedbackInit: 'random' as const };
    const shape = scale === 'full' ? dataShape(config.data) : { inputShape: [1, 28, 28], classes: 10 };
    expect(() => createTrainer(config, shape.inputShape, config.classes ?? shape.classes), run.id).not.toThrow();
  }
}
