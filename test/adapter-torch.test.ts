// The PyTorch adapter (oracles/adapters/torch): torch.nn modules with the feedback injected by an
// autograd Function recompute every fixture, and `ldfa verify` accepts them; planted bugs in it
// are named by verify's first divergence. Needs a python3 with torch (Debian: python3-torch,
// whose python is /usr/bin/python3); skipped with the reason otherwise.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureCases } from '../oracles/cases.ts';
import { fixtureFileName } from '../oracles/generate.ts';
import { verifyBundles, DEFAULT_VERIFY, loadCandidate, loadFixture, type VerifyReport } from '../oracles/verify.ts';
import { registerFixturesCommand } from '../src/cli/fixtures.ts';
import { TORCH_PYTHON, torchUnavailable } from '../bench/run.ts';
import { requiredHere } from './helpers/backends.ts';

const ADAPTER = 'oracles/adapters/torch/ldfa_torch.py';
/** The first python3 that imports torch, asked as the bench asks (LDFA_HIDE=torch hides it): the one on PATH, or Debian's. */
const probes = ['python3', TORCH_PYTHON].map((p) => ({ p, missing: torchUnavailable(p) }));
const python = probes.find((c) => c.missing === null)?.p ?? null;
if (!python) {
  const why = probes.map((c) => c.missing).join('; ');
  if (requiredHere('torch')) throw new Error(`torch is required here (LDFA_REQUIRE=${process.env.LDFA_REQUIRE}) but ${why}`);
  console.warn(`test/adapter-torch.test.ts: skipped: the PyTorch adapter is not exercised: ${why}`);
}

const scratch = mkdtempSync(join(tmpdir(), 'ldfa-torch-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Every case, the authors' presets' too (label-driven output Oja, signal and gradient clamps).
const names = fixtureCases().map((c) => c.name);
const fixturePath = (name: string) => join('oracles/fixtures', fixtureFileName(name));

/** Runs `script` (the adapter, or a planted variant) over the fixtures in one process; returns the candidate paths. */
function runAdapter(script: string, fixtures: readonly string[], tag: string): string[] {
  const candidates = fixtures.map((_, i) => join(scratch, `${tag}-${i}.bin`));
  // PYTHONPATH: a planted copy in the scratch folder still finds the NumPy adapter's bundle reader
  const run = spawnSync(python!, [script, ...fixtures.flatMap((f, i) => [f, candidates[i]])], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: 'oracles/adapters/numpy' } });
  if (run.status !== 0) throw new Error(`${script} failed (${run.status}): ${run.stderr}`);
  return candidates;
}

/** The adapter with `from` replaced by `to` (a planted bug); fails if `from` is not in it. */
function planted(tag: string, from: string, to: string): string {
  const source = readFileSync(ADAPTER, 'utf8');
  expect(source, `the adapter has no '${from}'`).toContain(from);
  const path = join(scratch, `planted-${tag}.py`);
  writeFileSync(path, source.replace(from, to));
  return path;
}

const verify = (fixture: string, candidate: string): VerifyReport => verifyBundles(loadFixture(fixture), loadCandidate(candidate), DEFAULT_VERIFY);

describe.skipIf(!python)('PyTorch adapter (oracles/adapters/torch)', () => {
  let candidates: string[] = [];
  beforeAll(() => { candidates = runAdapter(ADAPTER, names.map(fixturePath), 'all'); }, 300_000);

  it.each(names.map((n, i) => [n, i] as const))('%s: the PyTorch recomputation passes ldfa verify at the default float64 tolerances', (name, i) => {
    const report = verify(fixturePath(name), candidates[i]);
    if (!report.ok) expect.fail(report.diagnosis.message);
    expect(report.checks.length).toBeGreaterThan(20);
  });

  it('a planted sign bug in the normative gradient (E = W − P̂Q̂) fails at step 1 in every architecture', () => {
    const script = planted('sign', 'E = P2 @ Q2 - W2', 'E = W2 - P2 @ Q2');
    const cases = names.filter((n) => n.endsWith('_ldfa-normative'));
    const out = runAdapter(script, cases.map(fixturePath), 'sign');
    cases.forEach((name, i) => {
      const d = verify(fixturePath(name), out[i]).diagnosis;
      expect(d.first, name).toMatchObject({ step: 1, phase: 'feedback gradients' });
    });
  }, 300_000);

  it('the preset cases need what the presets add: planted without the label-driven output layer or the v4 gradient clamps, they fail', () => {
    const noLabels = planted('labels', 'rows = F.one_hot(self.labels, rows.shape[1]).to(rows.dtype)', 'pass');
    const noClamps = planted('clamps', '        feedback.clamp_gradients(layers, fgrads)', '        pass');
    const [labels] = runAdapter(noLabels, [fixturePath('mlp_authors-v1-mlp')], 'labels');
    const [clamps] = runAdapter(noClamps, [fixturePath('cnn_authors-v4-normative')], 'clamps');
    expect(verify(fixturePath('mlp_authors-v1-mlp'), labels).diagnosis.first).toMatchObject({ step: 1, name: 'step1/fc3.dP' });
    expect(verify(fixturePath('cnn_authors-v4-normative'), clamps).ok).toBe(false);
  }, 300_000);

  it('a planted bug in one layer\'s signal is named first by verify, under every rule of every architecture', () => {
    const sites = ['fc2', 'conv2', 'block0.proj']; // linear2 and mlp: fc2; cnn: conv2; transformer: block0.proj
    const script = planted('signal', 'ctx.feedback.recorded[ctx.site] = (x, dy, dx)',
      `dx = dx * 1.001 if ctx.site in ${JSON.stringify(sites)} else dx\n        ctx.feedback.recorded[ctx.site] = (x, dy, dx)`);
    const out = runAdapter(script, names.map(fixturePath), 'signal');
    names.forEach((name, i) => {
      const report = verify(fixturePath(name), out[i]);
      const site = sites.find((s) => report.checks.some((c) => c.name === `step1/${s}.signal`))!;
      expect(report.diagnosis.first?.name, name).toBe(`step1/${site}.signal`);
      expect(report.diagnosis.message).toContain(`look at how ${site} sends its error down`);
    });
  }, 300_000);

  it('ldfa fixtures --custom output verifies against the PyTorch adapter (784-256-256-10 batch 64, a cnn with pooling, a 2-block vit)', async () => {
    const configs = [
      ['--arch', 'mlp', '--hidden', '256,256', '--rule', 'ldfa', '--feedback', 'normative', '--rank', '10', '--batch', '64'],
      ['--arch', 'cnn', '--hidden', '8,16', '--activation', 'tanh', '--rule', 'ldfa', '--feedback', 'oja', '--rank', '4', '--feedback-lr', '0.001', '--batch', '8', '--input-shape', '3,16,16'],
      ['--arch', 'vit', '--patch', '4', '--dim', '16', '--depth', '2', '--heads', '2', '--rule', 'ldfa', '--feedback', 'factorised', '--rank', '2', '--batch', '4', '--input-shape', '3,8,8'],
      ['--arch', 'cnn', '--hidden', '6,7', '--rule', 'dfa', '--batch', '4', '--input-shape', '2,9,9'],
      // the signal clamp (no committed fixture reaches the v1 presets' ±1), partly firing
      ['--arch', 'mlp', '--hidden', '16,12', '--rule', 'ldfa', '--feedback', 'oja', '--feedback-init', 'random', '--rank', '2', '--feedback-lr', '0.05', '--batch', '8', '--input-shape', '20', '--clip-signal', '0.002'],
    ];
    const files: string[] = [];
    for (const [i, args] of configs.entries()) {
      const file = join(scratch, `custom-fixture-${i}.bin`);
      let code = 0, err = '';
      const program = new Command('ldfa');
      registerFixturesCommand(program, () => {}, (c) => { code = c; }, (t) => { err += t; });
      await program.parseAsync(['node', 'ldfa', 'fixtures', '--custom', file, ...args]);
      expect(err).toBe('');
      expect(code).toBe(0);
      files.push(file);
    }
    const out = runAdapter(ADAPTER, files, 'custom');
    files.forEach((file, i) => {
      const report = verify(file, out[i]);
      if (!report.ok) expect.fail(`${configs[i].join(' ')}: ${report.diagnosis.message}`);
    });
    // without the clamp the last one fails where the clamp first acts
    const noClamp = planted('clamp', 'return dx if self.clip is None else dx.clamp(-self.clip, self.clip)', 'return dx');
    const [unclamped] = runAdapter(noClamp, [files[files.length - 1]], 'noclamp');
    expect(verify(files[files.length - 1], unclamped).diagnosis.first).toMatchObject({ step: 1, name: 'step1/fc3.signal' });
  }, 300_000);
});
