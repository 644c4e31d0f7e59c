// The loop a user of another framework runs, with NumPy: an independent program reads a golden
// fixture, recomputes the 3 steps from the documented formulas, writes a candidate dump, and
// `ldfa verify` checks it. Needs python3 with numpy (Debian: python3-numpy); skipped otherwise.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureCases } from '../oracles/cases.ts';
import { fixtureFileName } from '../oracles/generate.ts';
import { runVerify } from '../src/cli/verify.ts';

const ADAPTER = 'oracles/adapters/numpy/ldfa_step.py';
const probe = spawnSync('python3', ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' });
const numpyVersion = probe.status === 0 ? probe.stdout.trim() : null;
const SKIP_NOTE = 'python3 with numpy not found (install python3-numpy): the NumPy adapter loop is not exercised';
if (!numpyVersion) console.warn(`test/adapter-numpy.test.ts: skipped: ${SKIP_NOTE}`);

const scratch = mkdtempSync(join(tmpdir(), 'ldfa-numpy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function adapter(fixture: string, out: string) {
  return spawnSync('python3', [ADAPTER, fixture, out], { encoding: 'utf8' });
}

function verify(fixture: string, candidate: string) {
  let out = '', err = '';
  const code = runVerify({ fixture, candidate }, { out: (t) => { out += t; }, err: (t) => { err += t; } });
  return { code, out, err };
}

const supported = fixtureCases().filter((c) => c.arch.name === 'linear2' || c.arch.name === 'mlp').map((c) => c.name);

describe('NumPy adapter (oracles/adapters/numpy)', () => {
  it.for(supported)('%s: the independent NumPy recomputation passes ldfa verify at the default float64 tolerances', (name, ctx) => {
    if (!numpyVersion) ctx.skip(SKIP_NOTE);
    const fixture = join('oracles/fixtures', fixtureFileName(name));
    const candidate = join(scratch, `${name}.bin`);
    const run = adapter(fixture, candidate);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const r = verify(fixture, candidate);
    if (r.code !== 0) expect.fail(r.out + r.err);
    expect(r.out).toMatch(/ 0 NOT OK, 0 missing/);
  });

  it('the loop catches a wrong implementation: Oja\'s covariance left uncentred fails on dP', (ctx) => {
    if (!numpyVersion) ctx.skip(SKIP_NOTE);
    // The same adapter with a classic slip: Oja's covariance left uncentred.
    const source = readFileSync(ADAPTER, 'utf8');
    const wrong = source.replace('dt = (signal - signal.mean(axis=0)) / (signal.std(axis=0, ddof=1).max() + rule["ojaEps"])', 'dt = signal / (signal.std(axis=0, ddof=1).max() + rule["ojaEps"])');
    expect(wrong).not.toBe(source);
    const script = join(scratch, 'wrong.py');
    writeFileSync(script, wrong);
    const fixture = 'oracles/fixtures/mlp_ldfa-oja.bin';
    const candidate = join(scratch, 'wrong.bin');
    expect(spawnSync('python3', [script, fixture, candidate], { encoding: 'utf8' }).status).toBe(0);
    const r = verify(fixture, candidate);
    expect(r.code).toBe(1);
    // Step 1's signals and weight gradients still agree; the first P̂ gradient does not.
    expect(r.out).toMatch(/^OK {6}step1\/fc2\.signal/m);
    expect(r.out).toMatch(/^NOT OK {2}step1\/fc2\.dP/m);
  });

  // The conventions of the MLP cases, each left out of the adapter in turn (the PyTorch test has the whole table).
  it.for([
    { convention: 'the v1 signal clamp', fixture: 'mlp_authors-v1-mlp-tight-clamp', from: 'd = np.clip(d, -clip, clip)', to: 'pass', first: 'step1/fc3.signal' },
    { convention: 'Oja max-second-moment', fixture: 'mlp_ldfa-oja-max-second-moment', from: 'if how == "max-std":', to: 'if how in ("max-std", "max-second-moment"):', first: 'step1/fc3.dP' },
    { convention: 'the label-driven output layer', fixture: 'mlp_authors-v1-mlp', from: 'signal = np.eye(C)[y] if', to: 'signal = dy if', first: 'step1/fc3.dP' },
    { convention: 'the feedback learning rate', fixture: 'mlp_ldfa-oja', from: 'fgrads[name[:dot + 1] + "d" + name[dot + 1:]], flr)', to: 'fgrads[name[:dot + 1] + "d" + name[dot + 1:]], lr)', first: 'step2/fc3.signal' },
  ])('omitting $convention fails verify on $fixture, first at $first', (o, ctx) => {
    if (!numpyVersion) ctx.skip(SKIP_NOTE);
    const source = readFileSync(ADAPTER, 'utf8');
    expect(source).toContain(o.from);
    const script = join(scratch, `omit-${o.first.replace(/\W/g, '_')}-${o.fixture}.py`);
    writeFileSync(script, source.replace(o.from, o.to));
    const fixture = join('oracles/fixtures', fixtureFileName(o.fixture));
    const candidate = join(scratch, `omit-${o.fixture}.bin`);
    expect(spawnSync('python3', [script, fixture, candidate], { encoding: 'utf8' }).status).toBe(0);
    const r = verify(fixture, candidate);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`first divergence: step ${o.first[4]}, ${o.first} `);
  });

  it('refuses the cases it does not implement with a clear message', (ctx) => {
    if (!numpyVersion) ctx.skip(SKIP_NOTE);
    const run = adapter('oracles/fixtures/cnn_bp.bin', join(scratch, 'cnn.bin'));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/case cnn_bp: this adapter handles MLPs and linear nets only/);
  });
});
