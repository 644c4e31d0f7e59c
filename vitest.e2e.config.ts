import { defineConfig } from 'vitest/config';
import { E2E, shared } from './vitest.config.ts';

// `npm run test:e2e`: the slow end-to-end suites that `npm test` leaves out (vitest.config.ts).
export default defineConfig({ test: { ...shared, include: [E2E] } });
