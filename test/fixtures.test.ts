// Golden fixtures (oracles/): regeneration is byte-identical, the committed files match the
// current reference (so a change that moves any number fails here), and every fixture holds
// the tensors and the pinned conventions docs/fixture-format.md promises.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBundle } from '../src/bundle.ts';
import { registerFixturesCommand } from '../src/cli/fixtures.ts';
import { ARCHITECTURES, OPTION_CASES, PRESET_CASES, RULE_CASES, fixtureCases, findCase } from '../oracles/cases.ts';
import { FAMILY_RULES, FAMILY_WEIGHT_DECAY } from '../oracles/family-cases.ts';
import {
  FIXTURE_KIND, FIXTURE_VERSION, checkFixtures, encodeFixture, fixtureFileName, generateFixture, gradName, writeFixtures,
} from '../oracles/generate.ts';
import { formatReport, verifyBundles } from '../oracles/verify.ts';
import { multiply } from '../reference/backend.ts';
import { Rng } from '../reference/rng.ts';
import type { Tensor } from '../reference/tensor.ts';
import { expectClose } from './helpers/close.ts';

const DIR = 'oracles/fixtures';
const scratch = mkdtempSync(join(tmpdir(), 'ldfa-fixtures-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const committed = (name: string) => decodeBundle(readFileSync(join(DIR, fixtureFileName(name))), name);
const get = (tensors: Map<string, Tensor>, name: string): Tensor => {
  const t = tensors.get(name);
  if (!t) expect.fail(`fixture lacks ${name}; it has ${[...tensors.keys()].join(', ')}`);
  return t;
};

describe('fixture case table', () => {
  it('covers {linear 2-layer, MLP, conv net, transformer block} × {BP, FA, DFA, LDFA fixed, normative, oja, factorised}', () => {
    expect(ARCHITECTURES.map((a) => a.name)).toEqual(['linear2', 'mlp', 'cnn', 'transformer']);
    expect(RULE_CASES.map((r) => r.name)).toEqual(['bp', 'fa', 'dfa', 'ldfa-fixed', 'ldfa-normative', 'ldfa-oja', 'ldfa-factorised']);
    expect(fixtureCases()).toHaveLength(28 + OPTION_CASES.length + PRESET_CASES.length + 4 * FAMILY_RULES.length);
    expect(fixtureCases().slice(-6).map((c) => c.name)).toEqual(FAMILY_RULES.map((r) => `transformer_${r}`));
    expect(() => findCase('mlp_ldfa-hebbian')).toThrow(/unknown fixture case 'mlp_ldfa-hebbian': allowed are linear2_bp/);
  });

  it('names gradients with a d before the last component', () => {
    expect(gradName('fc1.W')).toBe('fc1.dW');
    expect(gradName('block0.ln1.gamma')).toBe('block0.ln1.dgamma');
    expect(gradName('pos')).toBe('dpos');
  });
});

describe("preset cases: the authors' set-ups (issue 13)", () => {
  it('one case per preset on each architecture its version trained (mlp, cnn; transformer for v4), and the tight-clamp variants', () => {
    expect(PRESET_CASES.map((c) => `${c.arch}_${c.preset}${c.variant ? `-${c.variant.name}` : ''}`)).toEqual([
      'mlp_authors-v1-mlp', 'mlp_authors-v1-mlp-tight-clamp', 'cnn_authors-v1-cnn', 'cnn_authors-v4-normative', 'cnn_authors-v4-normative-tight-clamps',
      'transformer_authors-v4-normative', 'transformer_authors-v4-bio',
    ]);
  });

  it("the header records the preset's conventions: v1 label-driven output Oja, ±1 signal clamp, shared lr; v4 clamps ±10 / ±0.1", () => {
    const v1 = committed('mlp_authors-v1-mlp').meta;
    expect(v1.rule).toMatchObject({ name: 'authors-v1-mlp', mode: 'oja', init: 'random', ojaOutput: 'labels', ojaEps: 1e-8, clipLinearGrad: null });
    expect(v1.training).toMatchObject({ clip: { signal: 1 }, lr: 0.1, feedbackLr: 0.1 });
    expect(committed('cnn_authors-v1-cnn').meta.training).toMatchObject({ clip: { signal: 1 }, lr: 0.002, feedbackLr: 0.002 });
    expect(committed('cnn_authors-v1-cnn').meta.rule).toMatchObject({ mode: 'oja', ojaOutput: 'error', ojaEpsConv: 1e-6, classifier: 'bp', ranks: { conv2: 2 } });
    expect((committed('cnn_authors-v1-cnn').meta.rule as { ranks: object }).ranks).not.toHaveProperty('head');
    expect(committed('cnn_authors-v4-normative').meta.rule).toMatchObject({
      mode: 'normative', init: 'svd', clipLinearGrad: 10, clipConvFeedbackGrad: 0.1, svd: 'randomized', svdPowerIterations: 10, svdPowerIterationsConv: 2, svdOversample: 0, svdEvery: 1, initPerturbation: 0.5,
    });
    expect(committed('transformer_authors-v4-bio').meta.rule).toMatchObject({ mode: 'factorised', init: 'svd', clipLinearGrad: null, svd: 'randomized', svdEvery: 0, initPerturbation: 0 });
    expect(committed('transformer_authors-v4-bio').meta.training).toMatchObject({ clip: null, feedbackLr: 0.1 });
  });

  it("the v1 MLP case's output P̂ learns from the labels: its first-step dP differs from the error-driven oja case, the hidden layers' agree until P̂ differs", () => {
    const labels = committed('mlp_authors-v1-mlp').tensors, error = committed('mlp_ldfa-oja').tensors;
    const diff = (name: string) => Math.max(...labels.get(name)!.data.map((v, i) => Math.abs(v - error.get(name)!.data[i])));
    expect(diff('init/fc3.P')).toBe(0);
    expect(diff('step1/fc3.dP')).toBeGreaterThan(1e-3);
    expect(diff('step1/fc3.dQ')).toBe(0);
    expect(diff('step1/fc2.dP')).toBe(0);
  });
});

describe('regeneration', () => {
  it.each(fixtureCases().map((c) => c.name))('%s: generating twice gives identical bytes', (name) => {
    const c = findCase(name);
    expect(encodeFixture(generateFixture(c)).equals(encodeFixture(generateFixture(c)))).toBe(true);
  });

  it.each(fixtureCases().map((c) => c.name))('%s: the committed fixture matches the current reference byte for byte', (name) => {
    const fresh = encodeFixture(generateFixture(findCase(name)));
    const file = readFileSync(join(DIR, fixtureFileName(name)));
    if (!fresh.equals(file)) {
      const report = verifyBundles(decodeBundle(file, 'committed'), decodeBundle(fresh, 'regenerated'), { atol: 0, rtol: 0, only: [], show: 3 });
      const headerChanged = JSON.stringify(decodeBundle(file, 'c').meta) !== JSON.stringify(decodeBundle(fresh, 'r').meta);
      expect.fail(`${name}: the reference no longer reproduces the committed fixture${headerChanged ? ' (the header changed)' : ''}. `
        + `If the change is intended, run \`npm run fixtures\` and commit (bump FIXTURE_VERSION if names or conventions changed).\n${formatReport(report, true)}`);
    }
  });

  it('MANIFEST.json lists every fixture with its size and sha256; all of them together stay under 15 MB (28 rule cases, 5.4 MB; the option and preset cases, the cnn ones 0.5 MB each; the 24 family cases, 6.3 MB)', () => {
    const manifest = JSON.parse(readFileSync(join(DIR, 'MANIFEST.json'), 'utf8')) as { fixtureVersion: number; fixtures: { case: string; file: string; bytes: number; sha256: string }[] };
    expect(manifest.fixtureVersion).toBe(FIXTURE_VERSION);
    expect(manifest.fixtures.map((f) => f.case)).toEqual(fixtureCases().map((c) => c.name));
    let total = 0;
    for (const f of manifest.fixtures) {
      const bytes = readFileSync(join(DIR, f.file));
      expect(bytes.length, f.file).toBe(f.bytes);
      expect(createHash('sha256').update(bytes).digest('hex'), f.file).toBe(f.sha256);
      total += bytes.length;
    }
    expect(total).toBeLessThan(15e6);
  });

  it('a change of one number by one ulp is caught (checkFixtures and an exact verify)', () => {
    const dir = join(scratch, 'ulp');
    writeFixtures(dir, ['mlp_ldfa-oja']);
    for (const c of fixtureCases()) if (c.name !== 'mlp_ldfa-oja') copyFileSync(join(DIR, fixtureFileName(c.name)), join(dir, fixtureFileName(c.name)));
    expect(checkFixtures(dir)).toEqual([]);

    const path = join(dir, fixtureFileName('mlp_ldfa-oja'));
    const bundle = decodeBundle(readFileSync(path), 'f');
    const moved = decodeBundle(readFileSync(path), 'f');
    const t = get(moved.tensors, 'step2/fc2.dQ');
    t.data[3] = t.data[3] + Math.abs(t.data[3]) * Number.EPSILON;
    writeFileSync(path, Uint8Array.from(encodeFixture(moved)));
    expect(checkFixtures(dir)).toEqual([{ case: 'mlp_ldfa-oja', file: path, problem: 'differs from the current reference' }]);
    const report = verifyBundles(bundle, moved, { atol: 0, rtol: 0, only: [], show: 5 });
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => c.status !== 'ok').map((c) => c.name)).toEqual(['step2/fc2.dQ']);
  });

  it('`ldfa fixtures --check` passes on the committed fixtures and fails on a stale directory; --list names every case', async () => {
    const run = async (args: string[]) => {
      const program = new Command('ldfa').exitOverride();
      let text = '', code = 0;
      registerFixturesCommand(program, (t) => { text += t; }, (c) => { code = c; });
      await program.parseAsync(['node', 'ldfa', 'fixtures', ...args]);
      return { text, code };
    };
    const all = fixtureCases().length;
    expect(await run(['--check', '--out', DIR])).toEqual({ text: `all ${all} fixtures match the current reference\n`, code: 0 });
    const stale = await run(['--check', '--out', join(scratch, 'empty')]);
    expect(stale.code).toBe(1);
    expect(stale.text).toMatch(/linear2_bp\.bin: missing/);
    expect(stale.text).toContain(`${all} fixture(s) out of date: run \`npm run fixtures\``);
    expect((await run(['--list'])).text.trim().split('\n')).toEqual(fixtureCases().map((c) => c.name));
    const one = await run(['--out', join(scratch, 'one'), '--case', 'linear2_fa']);
    expect(one.text).toMatch(/linear2_fa\.bin .* bytes {2}\d+ tensors\nwrote 1 fixture/);
  });
});

describe('fixture contents', () => {
  it.each(fixtureCases().map((c) => c.name))('%s: the header pins the format, the conventions and the rule', (name) => {
    const { meta } = committed(name);
    expect(meta.kind).toBe(FIXTURE_KIND);
    expect(meta.fixtureVersion).toBe(FIXTURE_VERSION);
    expect(meta.case).toBe(name);
    const conventions = meta.conventions as Record<string, string>;
    const c = findCase(name);
    const ldfa = c.rule.ldfa;
    const keys = ['weightOrientation', 'loss', 'feedbackInjection', 'outputLayer', 'bias', 'optimiser', 'clamps', ...(ldfa ? ['feedbackLearning', 'ldfaInit', 'svd'] : []), ...(ldfa?.mode === 'oja' ? ['ojaNormalisation'] : [])];
    for (const key of keys) expect(typeof conventions[key], key).toBe('string');
    // written for the case: only its own feedback learning, Oja variant and clamps
    if (ldfa) expect(conventions.feedbackLearning).toContain(`${ldfa.mode}:`);
    if (ldfa?.mode === 'oja') expect(conventions.ojaNormalisation.startsWith(ldfa.ojaNormalisation)).toBe(true);
    expect(conventions.clamps.startsWith('none')).toBe(c.rule.clipSignal === undefined && ldfa?.clipLinearGrad == null && ldfa?.clipConvFeedbackGrad == null);
    expect(conventions.loss).toMatch(/batch-mean/);
    const rule = meta.rule as Record<string, unknown>;
    const training = meta.training as Record<string, unknown>;
    const decays = rule.rule === 'kp' || rule.rule === 'pfa';
    expect(training).toMatchObject({ steps: 3, optimiser: 'sgd', momentum: 0, weightDecay: decays ? FAMILY_WEIGHT_DECAY : 0 });
    expect(rule.name).toBe(findCase(name).rule.name);
    if (rule.rule === 'ldfa' && RULE_CASES.some((r) => name.endsWith(`_${r.name}`))) {
      expect(rule).toMatchObject({ svdEvery: 0, learn: 'pq', direct: false, ojaNormalisation: 'max-std', ojaEps: 1e-8, rank: 2, svd: 'exact', initPerturbation: rule.init === 'svd' ? 0.5 : 0 });
    }
    if (ldfa) {
      const { inject: _i, onSketch: _o, ...options } = ldfa;
      expect(rule).toMatchObject({ ...options, initPerturbation: c.perturbation });
    }
  });

  it.each(fixtureCases().map((c) => c.name))('%s: holds inputs, every W/B/D/P/Q, per-step δ, signals, gradients and loss, and the state after 3 steps', (name) => {
    const { meta, tensors } = committed(name);
    const c = findCase(name);
    const sites = (meta.model as { sites: { name: string; kind: string; sendsSignal: boolean; weightShape: number[] }[] }).sites;
    const training = meta.training as { learned: string[]; learnedFeedback: string[] };
    expect(get(tensors, 'input/x').shape).toEqual([c.arch.batch, ...c.arch.inputShape]);
    const y = get(tensors, 'input/y');
    expect(y.shape).toEqual([c.arch.batch]);
    expect([...y.data].every((v) => Number.isInteger(v) && v >= 0 && v < c.arch.classes)).toBe(true);
    // the feedback tensors given before step 1 (sign rules' B and brSF's M are per step: test/adapter-family.test.ts)
    const given: Record<string, string[]> = { fa: ['B'], dfa: ['D'], frsf: ['M'], kp: ['B'], wm: ['B'], pfa: ['Bp', 'R'] };
    // under classifier 'bp' a conv net's linear layers send through W and have no P̂, Q̂
    const exactClassifier = (site: { kind: string }) => c.rule.ldfa?.classifier === "bp" && site.kind === "linear" && sites.some((s) => s.kind === "conv");
    const ldfaSites = sites.filter((s) => s.sendsSignal && !exactClassifier(s));
    for (const site of sites) {
      if (!site.sendsSignal) continue;
      for (const f of given[c.rule.rule] ?? []) expect(tensors.has(`init/${site.name}.${f}`), `${site.name}.${f}`).toBe(true);
      if (c.rule.rule === 'ldfa') for (const f of ['P', 'Q']) expect(tensors.has(`init/${site.name}.${f}`), site.name).toBe(!exactClassifier(site));
    }
    // every parameter of the model (every W, b, norm parameter), for learning LDFA every P̂ and Q̂, KP's B, PFA's R
    expect(training.learned).toEqual(c.arch.build(new Rng(c.arch.seed)).params().map((p) => p.name));
    const learnsFeedback = c.rule.rule === 'ldfa' && c.rule.ldfa!.mode !== 'fixed';
    const familyLearned = ({ kp: ['B'], pfa: ['R'] } as Record<string, string[]>)[c.rule.rule];
    expect(training.learnedFeedback).toEqual(familyLearned ? sites.filter((s) => s.sendsSignal).flatMap((s) => familyLearned.map((f) => `${s.name}.${f}`))
      : learnsFeedback ? ldfaSites.flatMap((s) => [`${s.name}.P`, `${s.name}.Q`]) : []);
    for (const p of training.learned) get(tensors, `init/${p}`);
    for (let step = 1; step <= 3; step++) {
      const loss = get(tensors, `step${step}/loss`);
      expect(loss.shape).toEqual([]);
      expect(Number.isFinite(loss.data[0]) && loss.data[0] > 0).toBe(true);
      expect(get(tensors, `step${step}/logits`).shape).toEqual([c.arch.batch, c.arch.classes]);
      for (const site of sites) {
        get(tensors, `step${step}/${site.name}.delta`);
        expect(tensors.has(`step${step}/${site.name}.signal`), `${site.name}.signal`).toBe(site.sendsSignal);
      }
      for (const p of [...training.learned, ...training.learnedFeedback]) get(tensors, `step${step}/${gradName(p)}`);
    }
    for (const p of [...training.learned, ...training.learnedFeedback]) {
      const before = get(tensors, `init/${p}`), after = get(tensors, `step3/${p}`);
      expect(after.shape, p).toEqual(before.shape);
    }
    // BP descends on its one batch (the other rules need not in 3 steps: DFA on the conv net climbs).
    if (c.rule.rule === 'bp') expect(get(tensors, 'step3/loss').data[0]).toBeLessThan(get(tensors, 'step1/loss').data[0]);
  });

  it('the stored numbers obey the documented formulas (spot checks on the MLP)', () => {
    const lr = 0.2, feedbackLr = 0.1;
    // FA: signal = delta·B; SGD: W₃ = W₀ − lr·(dW₁ + dW₂ + dW₃).
    const fa = committed('mlp_fa').tensors;
    expectClose('fa signal', get(fa, 'step1/fc3.signal').data, multiply(get(fa, 'step1/fc3.delta'), get(fa, 'init/fc3.B')).data);
    const W = Float64Array.from(get(fa, 'init/fc2.W').data);
    for (let s = 1; s <= 3; s++) get(fa, `step${s}/fc2.dW`).data.forEach((g, i) => { W[i] -= lr * g; });
    expectClose('fa sgd', get(fa, 'step3/fc2.W').data, W);
    // DFA: every signal is e·D, e being the output layer's delta.
    const dfa = committed('mlp_dfa').tensors;
    expectClose('dfa signal', get(dfa, 'step2/fc2.signal').data, multiply(get(dfa, 'step2/fc3.delta'), get(dfa, 'init/fc2.D')).data);
    // LDFA: signal = (delta·P̂)·Q̂ with the P̂, Q̂ of that step (fixed mode: the initial ones).
    const fixed = committed('mlp_ldfa-fixed').tensors;
    expectClose('ldfa signal', get(fixed, 'step3/fc2.signal').data,
      multiply(multiply(get(fixed, 'step3/fc2.delta'), get(fixed, 'init/fc2.P')), get(fixed, 'init/fc2.Q')).data);
    // LDFA normative: dP = (P̂Q̂ − W)·Q̂ᵀ, dQ = P̂ᵀ·(P̂Q̂ − W) with step 1's P̂, Q̂, W (the initial ones);
    // factorised: dP = dW·Q̂ᵀ, dQ = P̂ᵀ·dW; after 3 steps P̂ = P̂₀ − feedbackLr·(dP₁ + dP₂ + dP₃).
    const normative = committed('mlp_ldfa-normative').tensors;
    const [P0, Q0, W0] = ['P', 'Q', 'W'].map((t) => get(normative, `init/fc2.${t}`));
    const E = multiply(P0, Q0);
    E.data.forEach((v, i) => { E.data[i] = v - W0.data[i]; });
    expectClose('normative dP', get(normative, 'step1/fc2.dP').data, multiply(E, Q0, false, true).data);
    expectClose('normative dQ', get(normative, 'step1/fc2.dQ').data, multiply(P0, E, true, false).data);
    const factorised = committed('mlp_ldfa-factorised').tensors;
    const [fP, fQ, fdW] = [get(factorised, 'init/fc3.P'), get(factorised, 'init/fc3.Q'), get(factorised, 'step1/fc3.dW')];
    expectClose('factorised dP', get(factorised, 'step1/fc3.dP').data, multiply(fdW, fQ, false, true).data);
    expectClose('factorised dQ', get(factorised, 'step1/fc3.dQ').data, multiply(fP, fdW, true, false).data);
    const P = Float64Array.from(fP.data);
    for (let s = 1; s <= 3; s++) get(factorised, `step${s}/fc3.dP`).data.forEach((g, i) => { P[i] -= feedbackLr * g; });
    expectClose('factorised P̂ after 3 steps', get(factorised, 'step3/fc3.P').data, P);
    // The loss-gradient e sums to zero over the classes of each sample.
    const e = get(fixed, 'step1/fc3.delta');
    for (let n = 0; n < 5; n++) expect(Math.abs(e.data.slice(4 * n, 4 * n + 4).reduce((a, b) => a + b, 0))).toBeLessThan(1e-15);
  });

  it('transformer token layers store δ and signals as (N, T, features); conv layers as NCHW', () => {
    const vit = committed('transformer_ldfa-oja').tensors;
    expect(get(vit, 'step1/block0.qkv.delta').shape).toEqual([4, 10, 42]);
    expect(get(vit, 'step1/block0.qkv.signal').shape).toEqual([4, 10, 9]);
    expect(get(vit, 'step1/block0.proj.signal').shape).toEqual([4, 10, 14]);
    expect(get(vit, 'step1/head.delta').shape).toEqual([4, 5]);
    expect(get(vit, 'init/block0.qkv.P').shape).toEqual([42, 6]); // fused qkv: rank 3r
    const cnn = committed('cnn_ldfa-oja').tensors;
    expect(get(cnn, 'step1/conv2.delta').shape).toEqual([5, 10, 4, 6]); // stride 2: 8×11 → 4×6
    expect(get(cnn, 'step1/conv2.signal').shape).toEqual([5, 9, 8, 11]);
    expect(get(cnn, 'init/conv2.P').shape).toEqual([10, 2, 1, 1]);
    expect(get(cnn, 'init/conv2.Q').shape).toEqual([2, 9, 3, 3]);
  });
});
