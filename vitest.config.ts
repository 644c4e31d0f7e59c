import { defineConfig, type ViteUserConfig } from 'vitest/config';

// `npm test`: every suite but the slow end-to-end ones (test/*.e2e.test.ts: processes killed
// mid-write, several workers on one sweep, the paper-size models, the web app in Chromium), which `npm run test:e2e`
// runs (vitest.e2e.config.ts); .ci/run runs both.
export const E2E = 'test/**/*.e2e.test.ts';

export const shared: NonNullable<ViteUserConfig['test']> = {
  testTimeout: 60_000,
  pool: 'forks',
  // both cores (vitest's default leaves one free): the equipped `npm test` took 258 s instead of 344 s
  maxWorkers: 2,
  setupFiles: ['test/helpers/fast-check-seed.ts'],
};

export default defineConfig({
  test: { ...shared, include: ['test/**/*.test.ts'], exclude: [E2E, '**/node_modules/**'] },
});
