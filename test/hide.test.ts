// LDFA_HIDE: every optional component's probe (the one the CLI, the bench and the suites ask)
// reports a hidden component unavailable, with a message naming LDFA_HIDE; auto then runs
// without native and the CLI says so once, in one plain sentence with the command to install.
// A misspelt component is refused.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { torchUnavailable } from '../bench/run.ts';
import { setBackend } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { createNativeBlas } from '../src/backends/native.ts';
import { createBackend, NATIVE_SPEEDUP, nativeFallbackNote, selectAuto, type AutoChoice } from '../src/backends/registry.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/config.ts';
import { FASHION_MNIST_DIR, fashionMnistMissing } from '../src/data/fashion.ts';
import { HIDEABLE, hiddenComponents } from '../src/hide.ts';
import { runTraining } from '../src/run.ts';
import { chromiumMissing } from '../src/web/chromium.ts';

const before = process.env.LDFA_HIDE;
afterEach(() => {
  if (before === undefined) delete process.env.LDFA_HIDE;
  else process.env.LDFA_HIDE = before;
});
afterAll(() => setBackend(referenceBackend)); // runTraining sets the process-wide backend

const tiny: TrainConfig = { ...DEFAULT_CONFIG, data: 'synthetic', limitTrain: 48, limitTest: 24, hidden: [8], epochs: 1, batch: 16, backend: 'auto' };

describe('LDFA_HIDE', () => {
  it('names components, comma-separated with spaces allowed; an unknown one is refused, naming the allowed ones', () => {
    expect([...hiddenComponents('')]).toEqual([]);
    expect([...hiddenComponents(' native , gl,,torch')]).toEqual(['native', 'gl', 'torch']);
    expect(Object.keys(HIDEABLE)).toEqual(['native', 'gl', 'chromium', 'torch', 'fashion']);
    expect(() => hiddenComponents('native,blas')).toThrow("LDFA_HIDE names 'blas', which is not a component: allowed are native, gl, chromium, torch, fashion (comma-separated)");
  });

  it('makes each probe report its component unavailable, saying LDFA_HIDE hid it; the others are untouched', async () => {
    process.env.LDFA_HIDE = 'native,gl,chromium,torch,fashion';
    expect(() => createNativeBlas()).toThrow(/^native backend: hidden by LDFA_HIDE=native,gl,chromium,torch,fashion; without it: install one, e\.g\. apt-get install libopenblas0-pthread$/);
    await expect(createBackend('gpujs-headlessgl')).rejects.toThrow(/^gpu\.js mode 'headlessgl' requested but not available: headless-gl is hidden by LDFA_HIDE=.*Set-up needed: /);
    const gpujs = await createBackend('gpujs');
    expect(gpujs.kernelInfo()).toMatch(/WebAssemblyKernel.*no GPU kernel: .*headless-gl is hidden by LDFA_HIDE=/);
    expect(chromiumMissing()).toBe('chromium is hidden by LDFA_HIDE=native,gl,chromium,torch,fashion');
    expect(torchUnavailable()).toBe('PyTorch is hidden by LDFA_HIDE=native,gl,chromium,torch,fashion');
    expect(fashionMnistMissing()).toBe(`Fashion-MNIST directory ${FASHION_MNIST_DIR} is hidden by LDFA_HIDE=native,gl,chromium,torch,fashion (without it: install the Debian package: apt-get install dataset-fashion-mnist)`);
    // a directory the user names is not the package's: not hidden
    const empty = mkdtempSync(join(tmpdir(), 'ldfa-hide-'));
    try {
      expect(fashionMnistMissing(empty)).toMatch(/^Fashion-MNIST file not found: /);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    process.env.LDFA_HIDE = 'gl';
    expect(chromiumMissing() ?? '').not.toMatch(/LDFA_HIDE/);
    expect(() => createNativeBlas()).not.toThrow(/LDFA_HIDE/);
  });

  it('auto runs without a hidden native backend, and the note says so plainly', async () => {
    process.env.LDFA_HIDE = 'native';
    const choice = await selectAuto();
    expect(choice.candidates.find((c) => c.name === 'native')!.skipped).toMatch(/hidden by LDFA_HIDE=native/);
    expect(choice.backend.name).not.toBe('native');
    expect(nativeFallbackNote(choice)).toBe(`Training runs on ${choice.backend.name} because the native backend is hidden by LDFA_HIDE=native.`);
  });
});

describe('the note when auto runs without the native backend', () => {
  const choice = (native: AutoChoice['candidates'][number]): AutoChoice => ({
    backend: { ...referenceBackend, name: 'wasm' },
    candidates: [native, { name: 'wasm', worstRatio: 0.01, gflops: 7 }],
  });

  it('names the command that makes native available: OpenBLAS where the addon built, a compiler and npm rebuild where it did not', () => {
    expect(nativeFallbackNote(choice({ name: 'native', skipped: 'native backend: ldfa_blas: no usable CBLAS library (libopenblas.so.0: …); install one, e.g. apt-get install libopenblas0-pthread' })))
      .toBe(`Training runs on wasm because no BLAS library loads for the native backend: \`apt-get install libopenblas0-pthread\` (Debian/Ubuntu) makes it ${NATIVE_SPEEDUP}.`);
    expect(nativeFallbackNote(choice({ name: 'native', skipped: 'native backend: the addon /x/native/build/Release/ldfa_blas.node was not built (npm install builds it …)' })))
      .toBe(`Training runs on wasm because the native addon was not built: \`apt-get install g++ make libopenblas0-pthread\` (Debian/Ubuntu), then \`npm rebuild\`, makes it ${NATIVE_SPEEDUP}.`);
  });

  it('quotes the speed-up the README states, as the postinstall does', () => {
    expect(readFileSync('README.md', 'utf8')).toContain(`Optional, on Debian/Ubuntu, for ${NATIVE_SPEEDUP} training: \`sudo apt-get install libopenblas0-pthread\``);
    expect(readFileSync('native/build.mjs', 'utf8')).toContain(`const NATIVE_SPEEDUP = '${NATIVE_SPEEDUP}';`);
  });

  it('says nothing where native ran, lost on speed, or failed its self-check', () => {
    expect(nativeFallbackNote(choice({ name: 'native', worstRatio: 0.01, gflops: 3 }))).toBeNull();
    expect(nativeFallbackNote(choice({ name: 'native', worstRatio: 7, skipped: 'self-check against the reference failed (worst error 7.00× the tolerance)' }))).toBeNull();
    expect(nativeFallbackNote(choice({ name: 'native', skipped: 'self-check threw: boom' }))).toBeNull();
  });

  it('runTraining on auto gives it to the notice once per process, however many runs', async () => {
    process.env.LDFA_HIDE = 'native';
    const notices: string[] = [];
    for (const seed of [1, 2]) await runTraining({ ...tiny, seed }, { notice: (line) => notices.push(line) });
    expect(notices).toEqual(['Training runs on wasm because the native backend is hidden by LDFA_HIDE=native.']);
  });
});

describe('the CLI', () => {
  const ldfa = (env: Record<string, string>, ...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

  it('ldfa train on auto prints the note once, as its own line; a misspelt LDFA_HIDE fails every command', () => {
    const r = ldfa({ LDFA_HIDE: 'native' }, 'train', '--data', 'synthetic', '--limit-train', '48', '--limit-test', '24', '--hidden', '8', '--epochs', '1', '--batch', '16', '--quiet');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.split('\n');
    expect(lines.filter((l) => l.includes('native backend is hidden'))).toEqual(['Training runs on wasm because the native backend is hidden by LDFA_HIDE=native.']);
    const refused = ldfa({ LDFA_HIDE: 'blas' }, 'train', '--data', 'synthetic', '--epochs', '1', '--quiet');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe("ldfa: error: LDFA_HIDE names 'blas', which is not a component: allowed are native, gl, chromium, torch, fashion (comma-separated)\n");
  }, 120_000);
});
