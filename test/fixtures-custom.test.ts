// `ldfa fixtures --custom FILE`: a fixture at the user's own sizes from the train flags,
// validated before any work; checked against the independent NumPy recomputation.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBundle } from '../src/bundle.ts';
import { registerFixturesCommand } from '../src/cli/fixtures.ts';
import { runVerify } from '../src/cli/verify.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ldfa-custom-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function fixtures(...args: string[]) {
  let out = '', err = '', code = 0;
  const program = new Command('ldfa');
  registerFixturesCommand(program, (t) => { out += t; }, (c) => { code = c; }, (t) => { err += t; });
  await program.parseAsync(['node', 'ldfa', 'fixtures', ...args]).catch(() => {});
  return { out, err, code };
}

const numpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

/** The NumPy adapter recomputes `file` into `candidate`, and `ldfa verify` passes it. */
function expectNumpyAgrees(file: string, candidate: string): void {
  const run = spawnSync('python3', ['oracles/adapters/numpy/ldfa_step.py', file, candidate], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  let out = '';
  expect(runVerify({ fixture: file, candidate }, { out: (t) => { out += t; }, err: (t) => { out += t; } }), out).toBe(0);
}

describe('ldfa fixtures --custom', () => {
  it('writes a fixture for the given configuration, deterministically, with the header of the committed ones', async () => {
    const file = join(scratch, 'mlp.bin');
    const args = ['--arch', 'mlp', '--hidden', '12,9', '--activation', 'tanh', '--rule', 'ldfa', '--feedback', 'oja', '--rank', '3', '--batch', '6', '--steps', '2', '--seed', '5', '--input-shape', '1,4,5', '--classes', '3'];
    const r = await fixtures('--custom', file, ...args);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/mlp\.bin: case custom-mlp_ldfa-oja, --arch mlp --hidden 12,9 --activation tanh on 1×4×5 inputs, 3 classes .*; \d+ bytes, \d+ tensors, [\d.]+ s\n/);
    const bytes = readFileSync(file);
    const { meta, tensors } = decodeBundle(bytes, file);
    expect(meta).toMatchObject({ kind: 'ldfa-fixture', fixtureVersion: 2, case: 'custom-mlp_ldfa-oja', seed: 5 });
    expect(meta.training).toMatchObject({ steps: 2, lr: 0.2, feedbackLr: 0.1, optimiser: 'sgd' });
    expect(meta.rule).toMatchObject({ rule: 'ldfa', mode: 'oja', rank: 3, ranks: { fc2: 3, fc3: 3 } });
    expect(tensors.get('input/x')!.shape).toEqual([6, 1, 4, 5]);
    expect(tensors.get('init/fc1.W')!.shape).toEqual([12, 20]);
    expect(tensors.has('step2/fc3.P')).toBe(true);
    expect(tensors.has('step3/logits')).toBe(false);
    const again = join(scratch, 'mlp-again.bin');
    await fixtures('--custom', again, ...args);
    expect(readFileSync(again).equals(bytes)).toBe(true);
  });

  it.each([
    [['--custom', 'x.bin'], /--custom needs --arch \(linear, mlp, cnn, vit\)/],
    [['--custom', 'x.bin', '--arch', 'retina'], /--arch retina is not allowed with --custom: allowed are linear, mlp, cnn, vit/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--rule', 'hebb'], /--rule/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--rule', 'ldfa', '--rank', '0'], /rank/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--batch', '1'], /--batch must be at least 2/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--batch', 'x'], /--batch must be a positive integer, got 'x'/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--steps', '0'], /--steps must be a positive integer/],
    [['--custom', 'x.bin', '--arch', 'cnn', '--input-shape', '784'], /--arch cnn needs images: --input-shape C,H,W/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--input-shape', '2,a'], /--input-shape must be positive integers/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--lr', 'fast'], /--lr must be a number, got 'fast'/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--out', 'dir'], /--out would be ignored: drop it/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--check'], /--check would be ignored/],
    [['--hidden', '8'], /--hidden shape a fixture at your own sizes and need --custom FILE/],
    [['--check', '--list'], /--check, --list and --case are alternatives/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--epochs', '3'], /unknown option '--epochs'/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--preset', 'authors-v1-cnn', '--rule', 'ldfa'], /--preset authors-v1-cnn is the authors' set-up for --arch cnn, not --arch mlp/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--preset', 'authors-v1-mlp'], /--preset authors-v1-mlp sets LDFA conventions: it needs --rule ldfa, got --rule bp/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--preset', 'nope', '--rule', 'ldfa'], /--preset 'nope' is not allowed: allowed are authors-v1-mlp/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--preset', 'authors-v1-mlp', '--rule', 'ldfa', '--feedback-lr', '0.1'], /--feedback-lr would be ignored: under --preset authors-v1-mlp/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--clip-signal', '0'], /--clip-signal must be a finite number > 0, got 0/],
    [['--clip-signal', '1'], /--clip-signal shape a fixture at your own sizes and need --custom FILE/],
  ])('%j: exit 2 with a message, nothing written', async (args, message) => {
    const r = await fixtures(...args.map((a) => (a === 'x.bin' ? join(scratch, 'never.bin') : a)));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(() => readFileSync(join(scratch, 'never.bin'))).toThrow();
  });

  it('a custom fixture verifies against the independent NumPy recomputation (mlp, normative, perturbed SVD start)', async (ctx) => {
    if (!numpy) ctx.skip('python3 with numpy not found (install python3-numpy)');
    const file = join(scratch, 'np.bin'), cand = join(scratch, 'np-cand.bin');
    expect((await fixtures('--custom', file, '--arch', 'mlp', '--hidden', '30,20', '--rule', 'ldfa', '--feedback', 'normative', '--rank', '4', '--batch', '16', '--input-shape', '50')).code).toBe(0);
    expectNumpyAgrees(file, cand);
  });

  it('--clip-signal c: the header records it, the clamp fires (every signal within ±c, some at it), and the NumPy recomputation agrees', async (ctx) => {
    const file = join(scratch, 'clip.bin'), cand = join(scratch, 'clip-cand.bin');
    const args = ['--arch', 'mlp', '--hidden', '16,12', '--rule', 'ldfa', '--feedback', 'oja', '--feedback-init', 'random', '--rank', '2', '--feedback-lr', '0.05', '--batch', '8', '--input-shape', '20'];
    expect((await fixtures('--custom', file, ...args, '--clip-signal', '0.002')).code).toBe(0);
    const { meta, tensors } = decodeBundle(readFileSync(file), file);
    expect(meta.training).toMatchObject({ clip: { signal: 0.002 } });
    const signal = tensors.get('step1/fc2.signal')!;
    const at = Array.from(signal.data, Math.abs);
    expect(Math.max(...at)).toBeLessThanOrEqual(0.002);
    expect(at.filter((v) => v === 0.002).length).toBeGreaterThan(0);
    expect(at.filter((v) => v < 0.002).length).toBeGreaterThan(0); // partly clamped: a misplaced clamp would differ
    // under a v1 preset an explicit --clip-signal wins over its ±1
    const preset = join(scratch, 'clip-preset.bin');
    expect((await fixtures('--custom', preset, '--arch', 'mlp', '--rule', 'ldfa', '--preset', 'authors-v1-mlp', '--input-shape', '20', '--clip-signal', '0.5')).code).toBe(0);
    expect(decodeBundle(readFileSync(preset), preset).meta.training).toMatchObject({ clip: { signal: 0.5 } });
    if (!numpy) ctx.skip('python3 with numpy not found (install python3-numpy)');
    expectNumpyAgrees(file, cand);
  });

  it('--preset authors-v1-mlp: the preset\'s conventions (label-driven output Oja, ±1 signal clamp, one lr), explicit flags win, and the NumPy recomputation agrees', async (ctx) => {
    const file = join(scratch, 'preset.bin'), cand = join(scratch, 'preset-cand.bin');
    const args = ['--arch', 'mlp', '--hidden', '30,20', '--rule', 'ldfa', '--preset', 'authors-v1-mlp', '--rank', '3', '--batch', '16', '--input-shape', '50', '--lr', '0.05'];
    expect((await fixtures('--custom', file, ...args)).code).toBe(0);
    const { meta } = decodeBundle(readFileSync(file), file);
    expect(meta).toMatchObject({ case: 'custom-mlp_authors-v1-mlp' });
    expect(meta.rule).toMatchObject({ name: 'authors-v1-mlp', mode: 'oja', ojaOutput: 'labels', ojaNormalisation: 'max-std', init: 'random', rank: 3 });
    expect(meta.training).toMatchObject({ lr: 0.05, feedbackLr: 0.05, clip: { signal: 1 } });
    // an explicit flag beats the preset's setting
    const own = join(scratch, 'preset-own.bin');
    expect((await fixtures('--custom', own, ...args, '--feedback', 'normative')).code).toBe(0);
    expect(decodeBundle(readFileSync(own), own).meta.rule).toMatchObject({ mode: 'normative', ojaOutput: 'labels' });
    if (!numpy) ctx.skip('python3 with numpy not found (install python3-numpy)');
    expectNumpyAgrees(file, cand);
  });
});
