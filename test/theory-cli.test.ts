// `ldfa theory` at a tiny scale: the JSON fields, the SVG series, and theory ≈ simulation.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXPERIMENT_RULES, runTheoryExperiment, TINY_SETUP, type TheoryExperimentResult } from '../oracles/linear/experiment.ts';
import { runTheoryCommand, theoryConfig, THEORY_FILES } from '../src/cli/theory.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldfa-theory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ldfa theory --scale tiny', () => {
  const result = runTheoryCommand({ out: dir, scale: 'tiny' });
  const json = JSON.parse(readFileSync(join(dir, 'theory.json'), 'utf8')) as TheoryExperimentResult;

  it('writes theory.json with the set-up, the σ̂ curves per rule and the rank sweep', () => {
    expect(json.config).toEqual(TINY_SETUP);
    expect(json.singularValues).toHaveLength(Math.min(TINY_SETUP.m, TINY_SETUP.n));
    const records = Math.floor(TINY_SETUP.steps / TINY_SETUP.recordEvery) + 1;
    for (const rule of EXPERIMENT_RULES) {
      const c = json.rules[rule];
      expect(c.t).toHaveLength(records);
      expect(c.simulation.sigma).toHaveLength(records);
      expect(c.theory.sigma[0]).toHaveLength(TINY_SETUP.modes);
      expect(c.final.simulationSigma).toEqual(c.simulation.sigma.at(-1));
      expect(Number.isFinite(c.final.theoryLoss)).toBe(true);
    }
    expect(json.sweep.map((p) => p.r)).toEqual(TINY_SETUP.sweepRanks);
    for (const p of json.sweep) {
      for (const v of [p.fixed, p.normative, p.eckartYoung, p.fixedPointPrediction]) expect(Number.isFinite(v)).toBe(true);
      expect(p.fixedPointPrediction).toBeGreaterThanOrEqual(p.eckartYoung - 1e-12);
    }
    expect(json.seconds).toBe(result.seconds);
  });

  it('the theory iteration tracks the sampled simulation within O(‖Σ_xx − I‖)', () => {
    // 400 samples in n = 8: ‖Σ_xx − I‖ ≈ 2√(8/400) ≈ 0.3; σ̂ differences stay below that.
    for (const rule of EXPERIMENT_RULES) {
      const { simulationSigma, theorySigma } = json.rules[rule].final;
      for (let i = 0; i < simulationSigma.length; i++) expect(Math.abs(simulationSigma[i] - theorySigma[i])).toBeLessThan(0.3);
    }
  });

  it('writes one σ̂ figure per rule with a solid simulation and a dashed theory series per mode, and the sweep figure', () => {
    for (const file of THEORY_FILES) expect(readFileSync(join(dir, file), 'utf8').length).toBeGreaterThan(0);
    for (const rule of EXPERIMENT_RULES) {
      const svg = readFileSync(join(dir, `sigma-${rule}.svg`), 'utf8');
      expect(svg.startsWith('<svg') || svg.startsWith('<?xml')).toBe(true);
      for (let i = 1; i <= TINY_SETUP.modes; i++) {
        expect(svg).toContain(`data-series="mode ${i} simulation"`);
        expect(svg).toContain(`data-series="mode ${i} theory"`);
      }
      expect(svg).toMatch(/data-series="mode 1 theory"[^>]*stroke-dasharray/);
      expect(svg).not.toMatch(/data-series="mode 1 simulation"[^>]*stroke-dasharray/);
    }
    const sweep = readFileSync(join(dir, 'loss-vs-rank.svg'), 'utf8');
    for (const name of ['fixed low-rank feedback', 'normative LDFA', 'Eckart–Young bound']) expect(sweep).toContain(name);
  });

  it("the default scale is the authors' set-up: n = 128, k = m = 64, r = 2, η = 2.5e-3, η_b = 1e-3, λ = 1e-5, 5000 iterations, top 8 modes", () => {
    expect(theoryConfig({ scale: 'authors' })).toMatchObject({
      n: 128, k: 64, m: 64, r: 2, samples: 100_000, steps: 5000, eta: 2.5e-3, etaB: 1e-3, etaBDecay: 0.999, lambda: 1e-5, recordEvery: 10, modes: 8,
    });
  });

  it('`ldfa theory --out DIR` on the command line writes every file and exits 0', () => {
    const out = join(dir, 'cli');
    const run = spawnSync(process.execPath, ['bin/ldfa.mjs', 'theory', '--scale', 'tiny', '--steps', '40', '--ranks', '1,2', '--out', out, '--quiet'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(new RegExp(`wrote ${THEORY_FILES.join(', ')} to ${out}`));
    const written = JSON.parse(readFileSync(join(out, 'theory.json'), 'utf8')) as TheoryExperimentResult;
    expect(written.config).toMatchObject({ steps: 40, sweepRanks: [1, 2] });
    for (const file of THEORY_FILES) expect(readFileSync(join(out, file), 'utf8').length, file).toBeGreaterThan(0);
  });

  it('--backend: auto runs the float64 i-k-j kernel and says so; reference agrees to rounding; float32 backends are refused', () => {
    expect(json.kernel).toBe('float64 i-k-j loops (oracles/linear/kernel.ts)');
    const reference = runTheoryCommand({ out: join(dir, 'reference'), scale: 'tiny', backend: 'reference' });
    expect(reference.kernel).toBe('reference float64 loops (reference/kernels.ts)');
    for (const rule of EXPERIMENT_RULES) {
      const a = json.rules[rule].final.theorySigma, b = reference.rules[rule].final.theorySigma;
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-9);
    }
    expect(() => runTheoryCommand({ out: dir, scale: 'tiny', backend: 'wasm' }))
      .toThrow('--backend wasm is not allowed for ldfa theory: the theory-versus-simulation comparison needs float64 matmuls and wasm computes in float32; allowed are auto, reference');
    expect(() => runTheoryCommand({ out: dir, scale: 'tiny', backend: 'cuda' })).toThrow("unknown backend 'cuda': allowed for ldfa theory are auto, reference");
  });

  it.each([
    [['--steps', '0'], /--steps must be a positive integer, got '0'/],
    [['--samples', '0'], /--samples must be a positive integer, got '0'/],
    [['--ranks', '0'], /--ranks '0': entry 1 \('0'\) is not a positive integer; give positive integers separated by commas, e.g. 1,2,4/],
    [['--ranks', '1,,2'], /--ranks '1,,2': entry 2 \(''\) is not a positive integer/],
    [['--out', '/proc/ldfa-nope'], /--out \/proc\/ldfa-nope: cannot create files in \/proc/],
  ])('on the command line %j is refused before anything is computed or written', (args, message) => {
    const run = spawnSync(process.execPath, ['bin/ldfa.mjs', 'theory', '--scale', 'tiny', '--out', join(dir, 'refused'), ...args], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(existsSync(join(dir, 'refused'))).toBe(false);
  });

  it('rejects a rank outside [1, min(m, k)] and an unknown scale', () => {
    expect(() => theoryConfig({ scale: 'tiny', steps: 0 })).toThrow(/--steps must be a positive integer, got '0'/);
    expect(() => runTheoryCommand({ out: dir, scale: 'tiny', ranks: [0] })).toThrow(/rank 0 is not allowed/);
    expect(() => theoryConfig({ scale: 'huge' as 'tiny' })).toThrow(/unknown scale 'huge'/);
  });
});

describe("the experiment's exact-covariance inputs (the web view's 'exact' choice)", () => {
  it('Σ_xx = I: simulation and theory iteration agree for every rule; a sample of 400 does not', () => {
    const exact = runTheoryExperiment({ ...TINY_SETUP, inputs: 'exact' });
    expect(exact.whitenessError).toBe(0);
    for (const rule of EXPERIMENT_RULES) {
      const f = exact.rules[rule].final;
      f.theorySigma.forEach((s, i) => expect(f.simulationSigma[i], `${rule} σ̂${i + 1}`).toBeCloseTo(s, 8));
      expect(f.simulationLoss).toBeCloseTo(f.theoryLoss, 8);
    }
    const sampled = runTheoryExperiment(TINY_SETUP);
    expect(sampled.whitenessError).toBeGreaterThan(0.05);
    const bp = sampled.rules.bp.final;
    expect(Math.max(...bp.simulationSigma.map((s, i) => Math.abs(s - bp.theorySigma[i])))).toBeGreaterThan(1e-3);
  });

  it('refuses an unknown inputs value, naming the allowed ones', () => {
    expect(() => runTheoryExperiment({ ...TINY_SETUP, inputs: 'white' as 'exact' })).toThrow("inputs 'white' is not allowed: 'sampled' or 'exact'");
  });
});
