// bench/: the JSON fields other tools read (`machine`, `matmul: [{backend, n, gflops}]`,
// `mlpStep: [{backend, rule, rank, ms}]`, `ldfaBackwardRatio`, conv throughput), produced by
// the bench functions at toy sizes, and held by every committed result in bench/results/.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BENCH_PARTS, MLP_STEP_RULES, archStepConfigs, benchArchStep, benchConv, benchMatmul, benchMlpStep, benchModelBackwardRatio, benchVsTorch,
  machine, parseBenchArgs, torchUnavailable, benchLdfaVsBp, benchStepProfile, LDFA_MODES, LDFA_RANKS, type StepProfileRow,
} from '../bench/run.ts';
import { DEFAULT_CONFIG } from '../src/config.ts';
import { createBackend } from '../src/backends/registry.ts';
import { createNativeBlas, type NativeBlas } from '../src/backends/native.ts';
import { setBackend } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { requiredHere } from './helpers/backends.ts';

const TOY_MLP = { input: [1, 4, 4], hidden: [12, 12], classes: 3, batch: 4 };

const isPositive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;

describe('bench rows at toy sizes, on the reference backend', () => {
  it('matmul rows hold backend, n and gflops; conv rows a GFLOP/s per op', () => {
    const rows = benchMatmul([referenceBackend], [8, 16]);
    expect(rows.map((r) => [r.backend, r.n])).toEqual([['reference', 8], ['reference', 16]]);
    for (const r of rows) expect(isPositive(r.gflops) && isPositive(r.ms), JSON.stringify(r)).toBe(true);
    const conv = benchConv([referenceBackend], [{ N: 1, Cin: 2, Cout: 3, H: 5, W: 4, k: 3, stride: 2, padding: 1 }]);
    expect(conv.map((r) => r.op)).toEqual(['forward', 'backwardInput', 'backwardFilter']);
    for (const r of conv) expect(r.backend === 'reference' && isPositive(r.gflops), JSON.stringify(r)).toBe(true);
  });

  it('mlpStep rows hold backend, rule, rank and ms for BP, FA and LDFA r = 10; the backward ratio is a number', () => {
    try {
      const rows = benchMlpStep([referenceBackend], TOY_MLP);
      expect(rows.map((r) => [r.backend, r.rule, r.rank])).toEqual(MLP_STEP_RULES.map((r) => ['reference', r.rule, r.rank]));
      expect(rows.map((r) => r.rank)).toEqual([null, null, 10, 10]);
      for (const r of rows) expect(isPositive(r.ms), JSON.stringify(r)).toBe(true);
      const ratio = benchModelBackwardRatio(referenceBackend, TOY_MLP);
      expect(isPositive(ratio.backwardRatio) && isPositive(ratio.stepRatio)).toBe(true);
      expect(ratio).toMatchObject({ backend: 'reference', rank: 10, width: 12, batch: 4 });
    } finally {
      setBackend(referenceBackend);
    }
  });

  it('archStep rows: ms per architecture and backend, and which path ran', async () => {
    const configs = archStepConfigs().map(({ arch, config }) => ({ arch, config: { ...config, batch: 2, hidden: [2, 2], dim: 8, heads: 2, depth: 1 } }));
    const wasm = await createBackend('wasm');
    const rows = benchArchStep([wasm, referenceBackend], configs);
    expect(rows.map((r) => [r.arch.split(' ')[0], r.backend])).toEqual([['cnn', 'wasm'], ['cnn', 'reference'], ['vit', 'wasm'], ['vit', 'reference']]);
    for (const r of rows) expect(isPositive(r.ms) && r.path.length > 0, JSON.stringify(r)).toBe(true);
    expect(rows[0].path).toMatch(/^float64: float32Path: false/); // wasm is the float64-path baseline
  });

  const torchMissing = torchUnavailable();
  if (torchMissing !== null && requiredHere('torch')) throw new Error(`torch is required here (LDFA_REQUIRE=${process.env.LDFA_REQUIRE}) but ${torchMissing}`);
  (torchMissing === null ? it : it.skip)(`vsTorch rows: ours and PyTorch samples/s per round and their ratio${torchMissing ? ` (skipped: ${torchMissing})` : ''}`, () => {
    const { torch, rows } = benchVsTorch('reference', [{ hidden: [8], batch: 16, samples: 64 }], 1);
    expect(torch).toMatch(/^\d+\.\d+/);
    expect(rows).toHaveLength(1);
    const r = rows[0];
    expect(r).toMatchObject({ model: '784-8-10', batch: 16, samples: 64 });
    for (const k of ['ours', 'torch1', 'torch2', 'ratioPerRound'] as const) {
      expect(r[k]).toHaveLength(1);
      for (const v of r[k]) expect(isPositive(v), `${k} ${JSON.stringify(r)}`).toBe(true);
    }
    // the ratio recomputed against PyTorch's faster thread count
    expect(r.ratio).toBeCloseTo(r.ours[0] / Math.max(r.torch1[0], r.torch2[0]), 2);
  }, 300_000); // two PyTorch processes; importing torch takes seconds, more on a loaded machine

  it('ldfaVsBp: every mode at ranks 1, 10, full against BP, with the FLOP ratio (rule work included) and the SVD share', () => {
    const model = { model: 'toy', config: { ...DEFAULT_CONFIG, arch: 'mlp' as const, hidden: [12, 12], batch: 4, svdEvery: 20 }, input: [1, 4, 4], classes: 3 };
    const rows = benchLdfaVsBp('reference', [model], 2, 5);
    expect(rows.map((r) => `${r.mode} ${r.rank}`)).toEqual(LDFA_MODES.flatMap((m) => LDFA_RANKS.map((r) => `${m} ${r}`)));
    for (const r of rows) {
      expect(isPositive(r.wallRatio) && isPositive(r.flopRatio)).toBe(true);
      expect(r.withinFlops).toBe(r.wallRatio <= r.flopRatio + 0.05);
    }
    const normative = rows.find((r) => r.mode === 'normative' && r.rank === 10)!;
    expect(normative.svd).toMatchObject({ every: 20, ms: expect.any(Number), shareOfTraining: expect.any(Number) });
    expect(normative.flopRatioWithSvd).toBeGreaterThan(normative.flopRatio);
    expect(rows.find((r) => r.mode === 'fixed' && r.rank === 1)!.flopRatio).toBeLessThan(1);
  });

  it('stepProfile: every native call of a step timed, by kind; BP multiplies by W where LDFA goes through P̂, Q̂; the native entries are restored afterwards', (ctx) => {
    let blas: NativeBlas;
    try { blas = createNativeBlas(); } catch (e) { if (requiredHere('native')) throw e; ctx.skip(); return; }
    const before = { sgemm: blas.sgemm, adam: blas.adam, kernels: blas.kernels };
    const rows = benchStepProfile(3, [32, 32], 8);
    expect(rows.map((r) => r.rule)).toEqual(['bp', ...LDFA_MODES.map((m) => `ldfa ${m} r=10`)]);
    const calls = (row: StepProfileRow, what: string) => row.parts.find((p) => p.what === what)?.calls ?? 0;
    for (const row of rows) {
      const native = row.parts.reduce((a, p) => a + p.ms, 0);
      expect(native).toBeLessThanOrEqual(row.stepMs * 1.01);
      expect(row.otherMs).toBeCloseTo(row.stepMs - native, 1);
      expect(row.gemmShare).toBeCloseTo(row.gemmMs / row.stepMs, 2);
      expect(calls(row, 'sgemm NT 8×32×784')).toBe(1); // fc1 forward, every rule
    }
    // dx = dy·W of fc2 (8×32, W 32×32) under BP only; LDFA's dx = (dy·P̂)·Q̂ instead
    expect(calls(rows[0], 'sgemm NN 8×32×32')).toBe(1);
    for (const row of rows.slice(1)) expect(calls(row, 'sgemm NN 8×32×32')).toBe(0);
    expect(blas.sgemm).toBe(before.sgemm);
    expect(blas.adam).toBe(before.adam);
    expect(blas.kernels).toBe(before.kernels);
  });

  it('machine says what it ran on', () => {
    const m = machine();
    expect(m.cores).toBeGreaterThan(0);
    for (const key of ['cpuModel', 'node', 'os', 'date'] as const) expect(typeof m[key]).toBe('string');
  });
});

describe('bench flags', () => {
  it('--backends a,b or --backend a; --only a subset of the parts; everything by default', () => {
    expect(parseBenchArgs(['--backends', 'reference,wasm'])).toEqual({ names: ['reference', 'wasm'], parts: [...BENCH_PARTS] });
    expect(parseBenchArgs(['--backend', 'wasm', '--only', 'ldfaBackwardRatio'])).toEqual({ names: ['wasm'], parts: ['ldfaBackwardRatio'] });
    expect(parseBenchArgs([]).names).toContain('reference');
  });

  it('names what was wrong and what is allowed', () => {
    expect(() => parseBenchArgs(['--backend', 'cuda'])).toThrow("unknown backend 'cuda': allowed are auto, reference");
    expect(() => parseBenchArgs(['--only', 'matmul,speed'])).toThrow("--only 'speed' is not allowed: allowed are matmul, conv, mlpStep, ldfaBackwardRatio, archStep, vsTorch, ldfaVsBp, sgemmPeak, stepProfile");
    expect(() => parseBenchArgs(['--only'])).toThrow('--only needs a value');
  });
});

describe('committed results in bench/results/', () => {
  const dir = 'bench/results';
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

  it('there is at least one', () => expect(files.length).toBeGreaterThan(0));

  it.each(files)('%s holds machine and every part it ran (all, or those `parts` names) in the documented form', (file) => {
    const r = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    expect(r.machine).toMatchObject({ cores: expect.any(Number), cpuModel: expect.any(String), node: expect.any(String) });
    // `--only` runs write `parts`; a file without it ran everything but the parts added later (vsTorch, archStep)
    const ran = (part: string) => (r.parts === undefined ? !['vsTorch', 'archStep', 'ldfaVsBp', 'sgemmPeak', 'stepProfile'].includes(part) : r.parts.includes(part));
    for (const part of BENCH_PARTS) if (ran(part)) expect(r[part], `${file}: part ${part}`).toBeDefined();
    if (ran('matmul')) {
      for (const row of r.matmul) {
        expect(row).toMatchObject({ backend: expect.any(String), n: expect.any(Number) });
        expect(isPositive(row.gflops) || typeof row.skipped === 'string', JSON.stringify(row)).toBe(true);
      }
      expect(r.matmul.map((row: { n: number }) => row.n)).toEqual(expect.arrayContaining([128, 256, 512, 1024]));
    }
    if (ran('conv')) for (const row of r.conv) expect(row).toMatchObject({ backend: expect.any(String), shape: expect.any(String), op: expect.any(String), gflops: expect.any(Number) });
    if (ran('mlpStep')) {
      for (const row of r.mlpStep) expect(row).toMatchObject({ backend: expect.any(String), rule: expect.any(String), ms: expect.any(Number) });
      for (const row of r.mlpStep) expect(row.rank === null || typeof row.rank === 'number').toBe(true);
    }
    if (ran('ldfaBackwardRatio')) expect(r.ldfaBackwardRatio.value).toEqual(expect.any(Number));
    // added with the native backend (older files predate them)
    if (r.vsTorch !== undefined && r.vsTorch.skipped === undefined) {
      for (const row of r.vsTorch.rows) {
        expect(row).toMatchObject({ model: expect.any(String), batch: expect.any(Number), ratio: expect.any(Number) });
        for (const k of ['ours', 'torch1', 'torch2']) expect(row[k].every(isPositive), `${file} vsTorch ${k}`).toBe(true);
      }
    }
    // added for issue 21
    if (r.ldfaVsBp !== undefined) {
      for (const row of r.ldfaVsBp.rows) {
        expect(row).toMatchObject({ model: expect.any(String), mode: expect.any(String), wallRatio: expect.any(Number), flopRatio: expect.any(Number), withinFlops: expect.any(Boolean) });
      }
      expect(r.blasCore).toBeDefined();
    }
    if (r.sgemmPeak !== undefined) {
      for (const row of r.sgemmPeak.rows) expect(row).toMatchObject({ model: expect.any(String), fractionOfPeak: expect.any(Number), core: expect.any(String) });
    }
    if (r.stepProfile !== undefined) {
      for (const row of r.stepProfile.rows) {
        expect(row).toMatchObject({ rule: expect.any(String), stepMs: expect.any(Number), gemmShare: expect.any(Number), otherMs: expect.any(Number) });
        for (const part of row.parts) expect(part).toMatchObject({ what: expect.any(String), ms: expect.any(Number), calls: expect.any(Number) });
      }
    }
    if (r.archStep !== undefined) {
      for (const row of r.archStep) expect(row).toMatchObject({ arch: expect.any(String), backend: expect.any(String), ms: expect.any(Number), path: expect.any(String) });
    }
  });
});
