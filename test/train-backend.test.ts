// `ldfa train --backend NAME` for every NAME: runTraining (what the `train` command calls)
// either trains on that backend and reports the kernel that ran, or, for a backend on the
// declared skip list that this machine cannot run, fails with a message naming the mode,
// what happened and the set-up needed. Unknown names list the allowed ones.
import { afterAll, describe, expect, it } from 'vitest';
import { setBackend } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { BACKEND_NAMES, createBackend } from '../src/backends/registry.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/config.ts';
import { runTraining } from '../src/run.ts';
import { BACKEND_ROWS, MAY_BE_UNAVAILABLE, requiredHere } from './helpers/backends.ts';

const tiny: TrainConfig = {
  ...DEFAULT_CONFIG, data: 'synthetic', limitTrain: 48, limitTest: 24, hidden: [8], epochs: 1, batch: 16,
};

afterAll(() => setBackend(referenceBackend)); // runTraining sets the process-wide backend

describe.each(BACKEND_NAMES)('ldfa train --backend %s', (name) => {
  it('trains and reports the kernel that ran, or fails saying what set-up is missing', async () => {
    let result;
    try {
      result = await runTraining({ ...tiny, backend: name });
    } catch (e) {
      const message = (e as Error).message;
      // only the declared ones may be unavailable, and they must say why and what to install
      expect(MAY_BE_UNAVAILABLE[name], `--backend ${name} failed: ${message}`).toBeDefined();
      expect(requiredHere(name), `--backend ${name} is required here (LDFA_REQUIRE=${process.env.LDFA_REQUIRE}) but failed: ${message}`).toBe(false);
      if (name === 'native') {
        expect(message).toMatch(/^native backend: .+(node-gyp|apt-get install libopenblas0-pthread)/);
        return;
      }
      const mode = name.slice('gpujs-'.length);
      expect(message).toMatch(new RegExp(`^gpu\\.js mode '${mode}' requested but not available: .+\\. Set-up needed: .+`));
      return;
    }
    expect(Number.isFinite(result.trainLoss[0])).toBe(true);
    if (name === 'auto') {
      expect(result.backend.kernel).toMatch(/^auto chose \S+: /);
    } else {
      expect(result.backend.name).toBe(name);
      expect(result.backend.kernel).toMatch(BACKEND_ROWS.find((r) => r.name === name)!.kernel);
    }
  });
});

describe('unavailable backends', () => {
  it("'gpujs-headlessgl' either runs HeadlessGLKernel or fails naming the mode and the headless-gl set-up", async () => {
    let be;
    try {
      be = await createBackend('gpujs-headlessgl');
    } catch (e) {
      const message = (e as Error).message;
      expect(message).toMatch(/^gpu\.js mode 'headlessgl' requested but not available: /);
      expect(message).toMatch(/Set-up needed: .*'gl'.*libxi-dev.*JOBS=2 npm ci.*xvfb-run -a/);
      return;
    }
    expect(be.kernelInfo()).toMatch(/HeadlessGLKernel/);
  });

  it('an unknown --backend lists the allowed names', async () => {
    await expect(runTraining({ ...tiny, backend: 'cuda' })).rejects.toThrow(`unknown backend 'cuda': allowed are ${BACKEND_NAMES.join(', ')}`);
  });
});
