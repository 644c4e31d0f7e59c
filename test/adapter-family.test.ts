// The family rules' fixtures (oracles/family-cases.ts) through both adapters: a planted bug in
// each rule's part of the NumPy and of the PyTorch adapter fails, and verify's first divergence
// names the tensor the bug first touches and the rule's formula. (That the unplanted adapters pass
// every family fixture is in test/adapter-numpy.test.ts and test/adapter-torch.test.ts, which run
// every case.) Each adapter's part is skipped, saying why, where its python is missing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerFixturesCommand } from '../src/cli/fixtures.ts';
import { fixtureFileName } from '../oracles/generate.ts';
import { FAMILY_RULES } from '../oracles/family-cases.ts';
import { DEFAULT_VERIFY, loadCandidate, loadFixture, verifyBundles } from '../oracles/verify.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ldfa-family-adapters-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const imports = (python: string, module: string) => spawnSync(python, ['-c', `import ${module}`], { encoding: 'utf8' }).status === 0;
const numpyPython = imports('python3', 'numpy') ? 'python3' : null;
const torchPython = ['python3', '/usr/bin/python3'].find((p) => imports(p, 'torch')) ?? null;

const fixturePath = (name: string) => join('oracles/fixtures', fixtureFileName(name));

/**
 * One planted bug: in `rule`'s code of the adapter, every `from` becomes `to`. Verify's first
 * divergence must be a tensor matching `first` (in step `step`), and its message must contain `names`.
 */
interface Plant { rule: (typeof FAMILY_RULES)[number]; what: string; from: string; to: string; step: number; first: RegExp; names: string }

/** Writes the planted copy of the adapter, runs it on the fixtures in one process, and verifies each candidate. */
function plantAndVerify(python: string, adapter: string, plant: Plant, fixtures: readonly string[]) {
  const source = readFileSync(adapter, 'utf8');
  expect(source, `${adapter} has no '${plant.from}'`).toContain(plant.from);
  const script = join(scratch, `${plant.rule}-${fixtures.length}-${adapter.includes('torch') ? 'torch' : 'numpy'}.py`);
  writeFileSync(script, source.replaceAll(plant.from, plant.to));
  const candidates = fixtures.map((f) => join(scratch, `${f}.cand.bin`));
  const run = spawnSync(python, [script, ...fixtures.flatMap((f, i) => [fixturePath(f), candidates[i]])],
    { encoding: 'utf8', env: { ...process.env, PYTHONPATH: 'oracles/adapters/numpy' } });
  if (run.status !== 0) throw new Error(`${script} failed (${run.status}): ${run.stderr}`);
  return fixtures.map((f, i) => verifyBundles(loadFixture(fixturePath(f)), loadCandidate(candidates[i]), DEFAULT_VERIFY));
}

function expectNamed(plant: Plant, fixtures: readonly string[], reports: ReturnType<typeof plantAndVerify>) {
  reports.forEach((report, i) => {
    const where = `${fixtures[i]} (${plant.what})`;
    expect(report.ok, where).toBe(false);
    expect(report.diagnosis.first?.step, `${where}: ${report.diagnosis.message}`).toBe(plant.step);
    expect(report.diagnosis.first?.name, `${where}: ${report.diagnosis.message}`).toMatch(plant.first);
    expect(report.diagnosis.message, where).toContain(plant.names);
  });
}

const NUMPY_PLANTS: readonly Plant[] = [
  { rule: 'usf', what: 'c = 1 instead of the header\'s c', from: '"usf": lambda: rule["c"][n]', to: '"usf": lambda: 1.0', step: 1, first: /^step1\/.+\.B$/, names: 'B_t = c·sign(W_t)' },
  { rule: 'brsf', what: 'the step-1 magnitudes reused (no redraw)', from: 'given[f"input/{at}/{n}.M"]', to: 'given[f"input/step1/{n}.M"]', step: 2, first: /^step2\/.+\.B$/, names: 'B_t = |M_t|∘sign(W_t) with this step\'s magnitudes' },
  { rule: 'frsf', what: 'the signs of W dropped (B = |M|)', from: '"frsf": lambda: fb[n + ".M"]', to: '"frsf": lambda: fb[n + ".M"] * np.sign(params[n + ".W"])', step: 1, first: /^step1\/.+\.B$/, names: 'B_t = |M|∘sign(W_t)' },
  { rule: 'kp', what: 'B stepped without the weight decay', from: 'fb[name] = sgd(name, fb[name], fgrads[name[:dot + 1] + "d" + name[dot + 1:]], flr)', to: 'fb[name] = fb[name] - flr * fgrads[name[:dot + 1] + "d" + name[dot + 1:]]', step: 2, first: /^step2\/.+\.signal$/, names: 'the coupled decay λ = 0.05 that W gets too' },
  { rule: 'wm', what: 'Ŵ divided by σ instead of σ²', from: 'rule["sigma"] ** 2', to: 'rule["sigma"]', step: 1, first: /^step1\/.+\.What$/, names: 'Ŵ = yᵀx/(N_m·σ²)' },
  { rule: 'pfa', what: 'the sign of R\'s gradient flipped', from: 'fgrads[n + ".dR"] = fb[n + ".Bp"].T @ grads[n + ".dW"]', to: 'fgrads[n + ".dR"] = -(fb[n + ".Bp"].T @ grads[n + ".dW"])', step: 1, first: /^step1\/.+\.dR$/, names: 'dR = B_pᵀ·dW' },
];

const TORCH_PLANTS: readonly Plant[] = [
  { rule: 'usf', what: 'c = 1 instead of the header\'s c', from: '"usf": lambda: self.rule["c"][site]', to: '"usf": lambda: 1.0', step: 1, first: /^step1\/.+\.B$/, names: 'B_t = c·sign(W_t)' },
  { rule: 'brsf', what: 'the step-1 magnitudes reused (no redraw)', from: 'self.drawn[f"step{self.step}/{site}.M"]', to: 'self.drawn[f"step1/{site}.M"]', step: 2, first: /^step2\/.+\.B$/, names: 'B_t = |M_t|∘sign(W_t) with this step\'s magnitudes' },
  { rule: 'frsf', what: 'the signs of W dropped (B = |M|)', from: '"frsf": lambda: self.tensors[f"{site}.M"]', to: '"frsf": lambda: self.tensors[f"{site}.M"] * torch.sign(layer.weight.detach())', step: 1, first: /^step1\/.+\.B$/, names: 'B_t = |M|∘sign(W_t)' },
  { rule: 'kp', what: 'B stepped without the weight decay', from: 'training["feedbackLr"] * (fgrads[name] + decay(name, feedback.tensors[name]))', to: 'training["feedbackLr"] * fgrads[name]', step: 2, first: /^step2\/.+\.signal$/, names: 'the coupled decay λ = 0.05 that W gets too' },
  { rule: 'wm', what: 'Ŵ divided by σ instead of σ²', from: 'sigma ** 2)', to: 'sigma)', step: 1, first: /^step1\/.+\.What$/, names: 'Ŵ = yᵀx/(N_m·σ²)' },
  { rule: 'pfa', what: 'the sign of R\'s gradient flipped', from: 'grads[name] = (Bp.reshape(Bp.shape[0], -1).T @ dW.reshape(dW.shape[0], -1)).reshape(R.shape)', to: 'grads[name] = -(Bp.reshape(Bp.shape[0], -1).T @ dW.reshape(dW.shape[0], -1)).reshape(R.shape)', step: 1, first: /^step1\/.+\.dR$/, names: 'dR = B_pᵀ·dW' },
];

describe.skipIf(!numpyPython)('NumPy adapter: a planted bug in each family rule is named (linear2, mlp)', () => {
  it.each(NUMPY_PLANTS.map((p) => [p.rule, p.what, p] as const))('%s: %s', (rule, _what, plant) => {
    const fixtures = ['linear2', 'mlp'].map((a) => `${a}_${rule}`);
    expectNamed(plant, fixtures, plantAndVerify(numpyPython!, 'oracles/adapters/numpy/ldfa_step.py', plant, fixtures));
  }, 120_000);
});

describe.skipIf(!torchPython)('PyTorch adapter: a planted bug in each family rule is named on every architecture', () => {
  const archs = ['linear2', 'mlp', 'cnn', 'transformer'];

  it.each(TORCH_PLANTS.map((p) => [p.rule, p.what, p] as const))('%s: %s', (rule, _what, plant) => {
    const fixtures = archs.map((a) => `${a}_${rule}`);
    expectNamed(plant, fixtures, plantAndVerify(torchPython!, 'oracles/adapters/torch/ldfa_torch.py', plant, fixtures));
  }, 300_000);

  it('frSF with the signs frozen at W₀ fails where a sign of W flips within the 3 steps (cnn, transformer; linear2 and mlp flip none)', () => {
    const plant: Plant = {
      rule: 'frsf', what: 'signs of W₀', from: 'M = self.sign_B[site] = S * torch.sign(layer.weight.detach())',
      to: 'self.w0 = getattr(self, "w0", {}); self.w0.setdefault(site, torch.sign(layer.weight.detach())); M = self.sign_B[site] = S * self.w0[site]',
      step: 2, first: /^step2\/.+\.B$/, names: 'the signs of the current W',
    };
    const fixtures = ['cnn_frsf', 'transformer_frsf'];
    expectNamed(plant, fixtures, plantAndVerify(torchPython!, 'oracles/adapters/torch/ldfa_torch.py', plant, fixtures));
  }, 120_000);
});

/** `ldfa fixtures --custom FILE ARGS…` in-process: exit code and stderr. */
async function customFixture(file: string, args: readonly string[]) {
  let code = 0, err = '';
  const program = new Command('ldfa');
  registerFixturesCommand(program, () => {}, (c) => { code = c; }, (t) => { err += t; });
  await program.parseAsync(['node', 'ldfa', 'fixtures', '--custom', file, ...args]);
  return { code, err };
}

describe('ldfa fixtures --custom --rule R: the family rules at your own sizes', () => {
  it('refuses another rule\'s flags and a feedback lr that KP and PFA would ignore, before any work', async () => {
    expect(await customFixture(join(scratch, 'x.bin'), ['--arch', 'mlp', '--rule', 'kp', '--pfa-expansion', '2'])).toEqual({
      code: 2, err: 'ldfa fixtures: error: --pfa-expansion would be ignored: it applies only with --rule pfa; drop it (this fixture: --rule kp)\n',
    });
    expect((await customFixture(join(scratch, 'x.bin'), ['--arch', 'mlp', '--rule', 'usf', '--mirror-sigma', '0.2', '--sign-magnitudes', 'xavier'])).err)
      .toMatch(/--sign-magnitudes would be ignored: it applies only with --rule brsf or frsf; --mirror-sigma would be ignored: it applies only with --rule wm; drop them/);
    expect((await customFixture(join(scratch, 'x.bin'), ['--arch', 'mlp', '--rule', 'pfa', '--feedback-lr', '0.3'])).err)
      .toMatch(/--feedback-lr would be ignored: under --rule pfa the learned feedback steps with the weights' --lr and --weight-decay/);
    expect((await customFixture(join(scratch, 'x.bin'), ['--arch', 'mlp', '--rule', 'wm', '--mirror-rate', '2'])).err).toMatch(/--mirror-rate must be in \(0, 1\]/);
  });

  it.skipIf(!torchPython)('every family rule on a cnn with pooling and on a 2-block vit, with weight decay and the rules\' own options, verifies against the PyTorch adapter', async () => {
    const shapes = [
      ['--arch', 'cnn', '--hidden', '4,5', '--batch', '3', '--input-shape', '2,8,8'],
      ['--arch', 'vit', '--patch', '4', '--dim', '8', '--depth', '2', '--heads', '2', '--batch', '3', '--input-shape', '3,8,8'],
    ];
    const own: Record<string, string[]> = {
      usf: ['--usf-scale', '0.3'], brsf: ['--sign-magnitudes', 'xavier'], frsf: [], kp: ['--kp-init', 'random'],
      wm: ['--mirror-sigma', '0.2', '--mirror-rate', '0.3', '--mirror-batch', '6'], pfa: ['--pfa-expansion', '2', '--pfa-feedback', 'orthogonal'],
    };
    const files: string[] = [];
    for (const [i, shape] of shapes.entries()) {
      for (const rule of FAMILY_RULES) {
        const file = join(scratch, `custom-${rule}-${i}.bin`);
        expect(await customFixture(file, [...shape, '--rule', rule, ...own[rule], '--weight-decay', '0.02'])).toEqual({ code: 0, err: '' });
        files.push(file);
      }
    }
    const candidates = files.map((f) => `${f}.cand.bin`);
    const run = spawnSync(torchPython!, ['oracles/adapters/torch/ldfa_torch.py', ...files.flatMap((f, i) => [f, candidates[i]])], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    files.forEach((file, i) => {
      const report = verifyBundles(loadFixture(file), loadCandidate(candidates[i]), DEFAULT_VERIFY);
      if (!report.ok) expect.fail(`${file}: ${report.diagnosis.message}`);
    });
  }, 300_000);
});
