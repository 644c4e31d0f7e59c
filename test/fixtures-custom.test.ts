// `ldfa fixtures --custom FILE`: a fixture at the user's own sizes from the train flags,
// validated before any work; checked against the independent NumPy recomputation.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
    expect(meta).toMatchObject({ kind: 'ldfa-fixture', fixtureVersion: 3, case: 'custom-mlp_ldfa-oja', seed: 5 });
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
    [['--custom', 'x.bin', '--arch', 'mlp', '--rule', 'ldfa', '--feedback', 'normative', '--oja-eps', '1e-6'], /--oja-eps would be ignored: it applies only with --rule ldfa --feedback oja/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--rule', 'ldfa', '--feedback', 'oja', '--svd-every', '2'], /--svd-every would be ignored: it applies only with --rule ldfa --feedback normative/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--rule', 'ldfa', '--feedback', 'oja', '--oja-normalisation', 'l2'], /--oja-normalisation 'l2' is not allowed: allowed are max-std, max-second-moment, none/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--rule', 'ldfa', '--classifier-feedback', 'bp'], /--classifier-feedback would be ignored: it applies only with --rule ldfa on a net with conv layers/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--rule', 'ldfa', '--feedback', 'normative', '--direct'], /--direct learns P̂ from the broadcast error: use --feedback fixed or oja/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--rule', 'bp', '--learn', 'q'], /--learn would be ignored: it applies only with --rule ldfa/],
    [['--custom', 'x.bin', '--arch', 'mlp', '--rule', 'ldfa', '--svd-oversample', '-1'], /--svd-oversample must be an integer ≥ 0, got '-1'/],
    [['--allow-growth'], /--allow-growth shape a fixture at your own sizes and need --custom FILE/],
  ])('%j: exit 2 with a message, nothing written', async (args, message) => {
    const r = await fixtures(...args.map((a) => (a === 'x.bin' ? join(scratch, 'never.bin') : a)));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(() => readFileSync(join(scratch, 'never.bin'))).toThrow();
  });

  // issue 26 item 9: absurd sizes are refused up front with the memory they would need and the bound
  it.each([
    [['--batch', '1e9'], /about 133 TiB of memory/],
    [['--hidden', '1e9'], /about 49.8 TiB of memory/],
    [['--input-shape', '1e9'], /about 17.7 TiB of memory/],
    [['--classes', '1000000'], /about 23.0 GiB of memory/],
  ])('%j: refused before anything is built or created, with the estimate and the bound', async (args, estimate) => {
    const folder = join(scratch, `absurd-${args[0].slice(2)}`);
    const started = performance.now();
    const r = await fixtures('--custom', join(folder, 'x.bin'), '--arch', 'mlp', ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(estimate);
    expect(r.err).toMatch(/allowed are fixtures estimated at up to 4\.00 GiB; lower --batch, the widths, --input-shape or --classes/);
    expect(existsSync(folder)).toBe(false);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('a runaway fixture is refused with the growth factor and what to lower; --allow-growth writes it; a smaller lr stays bounded', async () => {
    // §11's old example at a fifth of the width: the v1 shared lr 0.2 is past Oja's stability limit
    const file = join(scratch, 'runaway.bin');
    const args = ['--arch', 'mlp', '--hidden', '64,64', '--rule', 'ldfa', '--preset', 'authors-v1-mlp', '--rank', '10', '--batch', '64', '--input-shape', '100'];
    const refused = await fixtures('--custom', file, ...args);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/this fixture runs away: fc\d\.P grows to [\d.]+e\+\d+× its initial scale by step \d \(the limit is 1000×\), so it would check overflow, not the algorithm\. Lower --lr \(P̂, Q̂ step with it under the shared optimiser\) \(now 0\.2\), or --steps; or pass --allow-growth to write it anyway\. Nothing was written/);
    expect(existsSync(file)).toBe(false);
    expect((await fixtures('--custom', file, ...args, '--allow-growth')).code).toBe(0);
    const bounded = join(scratch, 'bounded.bin');
    expect((await fixtures('--custom', bounded, ...args, '--lr', '6e-4')).code).toBe(0);
    const growth = (decodeBundle(readFileSync(bounded), bounded).meta.exercises as { growth: { factor: number } }).growth;
    expect(growth.factor).toBeLessThan(2);
  });

  it('takes every LDFA option of ldfa train, records it in the header and in the conventions text', async () => {
    const oja = join(scratch, 'opts-oja.bin');
    expect((await fixtures('--custom', oja, '--arch', 'mlp', '--hidden', '9,7', '--rule', 'ldfa', '--feedback', 'oja', '--rank', '2', '--batch', '6', '--input-shape', '5',
      '--oja-normalisation', 'max-second-moment', '--oja-eps', '1e-6', '--oja-output', 'labels', '--clip-linear-grad', '0.05', '--direct')).err).toBe('');
    const a = decodeBundle(readFileSync(oja), oja).meta;
    expect(a.rule).toMatchObject({ ojaNormalisation: 'max-second-moment', ojaEps: 1e-6, ojaOutput: 'labels', clipLinearGrad: 0.05, direct: true });
    expect((a.conventions as Record<string, string>).ojaNormalisation).toMatch(/^max-second-moment: δ̃ = dy \/ √\(max_j mean_n\(dy_j²\) \+ ε\)/);
    const cnn = join(scratch, 'opts-cnn.bin');
    expect((await fixtures('--custom', cnn, '--arch', 'cnn', '--hidden', '3,4', '--rule', 'ldfa', '--feedback', 'normative', '--rank', '2', '--batch', '3', '--input-shape', '2,6,6',
      '--svd', 'randomized', '--svd-power-iterations', '4', '--svd-power-iterations-conv', '1', '--svd-oversample', '1', '--svd-every', '2', '--learn', 'q',
      '--classifier-feedback', 'bp', '--clip-conv-feedback-grad', '0.5')).err).toBe('');
    const b = decodeBundle(readFileSync(cnn), cnn);
    expect(b.meta.rule).toMatchObject({ svd: 'randomized', svdPowerIterations: 4, svdPowerIterationsConv: 1, svdOversample: 1, svdEvery: 2, learn: 'q', classifier: 'bp', clipConvFeedbackGrad: 0.5, ranks: { conv2: 2 } });
    expect(b.tensors.get('input/step2/conv2.Omega')!.shape).toEqual([27, 3]);
    expect(b.tensors.has('init/head.P')).toBe(false);
    expect((b.meta.training as { learnedFeedback: string[] }).learnedFeedback).toEqual(['conv2.Q']);
  });

  it('--svd-every with a randomized SVD: the NumPy recomputation takes Ω from the file and agrees (mlp, learn q)', async (ctx) => {
    if (!numpy) ctx.skip('python3 with numpy not found (install python3-numpy)');
    const file = join(scratch, 'refactor.bin'), cand = join(scratch, 'refactor-cand.bin');
    expect((await fixtures('--custom', file, '--arch', 'mlp', '--hidden', '30,20', '--rule', 'ldfa', '--feedback', 'normative', '--rank', '4', '--batch', '16', '--input-shape', '50',
      '--svd', 'randomized', '--svd-power-iterations', '1', '--svd-oversample', '2', '--svd-every', '1', '--learn', 'q')).err).toBe('');
    expectNumpyAgrees(file, cand);
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
    expect((await fixtures('--custom', preset, '--arch', 'mlp', '--rule', 'ldfa', '--preset', 'authors-v1-mlp', '--input-shape', '20', '--lr', '6e-4', '--clip-signal', '0.5')).code).toBe(0);
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
