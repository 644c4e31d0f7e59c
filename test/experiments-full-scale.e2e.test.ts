// `npm run test:e2e`: every planned run of every recipe at full scale builds (the paper-size
// models: 10-50 s each on a loaded 2-core machine). The quick scale is in test/experiments.test.ts.
import { describe, it } from 'vitest';
import { RECIPES } from '../src/experiments/index.ts';
import { expectEveryRunBuilds } from './helpers/recipe-builds.ts';

describe('every planned run at full scale builds', () => {
  it.each(RECIPES.map((r) => r.name))('%s at full scale: model and rule attach, ranks valid', (name) => expectEveryRunBuilds(name, 'full'), 300_000);
});
