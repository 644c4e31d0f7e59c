// Fixture version 2 has no blind spots (issue: a sign bug that passed step 1, transposes that
// were not shape errors, an untested stride convention, an Oja case that diverged within its 3
// steps, a free-text transformer header). Each test here fails on the version-1 fixtures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeBundle, type Bundle } from '../src/bundle.ts';
import { ARCHITECTURES, fixtureCases, findCase, makeCase, RULE_CASES, type FixtureCase } from '../oracles/cases.ts';
import { fixtureFileName, generateFixture, gradName } from '../oracles/generate.ts';
import { sameSqueezedShape, verifyBundles, DEFAULT_VERIFY } from '../oracles/verify.ts';
import { withBackend } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import type { Feedback } from '../reference/feedback.ts';
import type { Model } from '../reference/models/network.ts';
import { clone, tensor, type Tensor } from '../reference/tensor.ts';

const DIR = 'oracles/fixtures';
const committed = (name: string): Bundle => decodeBundle(readFileSync(join(DIR, fixtureFileName(name))), name);
const names = fixtureCases().map((c) => c.name);
const norm = (t: Tensor) => Math.sqrt(t.data.reduce((a, v) => a + v * v, 0));
const computed = (b: Bundle) => new Map([...b.tensors].filter(([n]) => n.startsWith('step')).map(([n, t]) => [n, clone(t)]));

/** A conv kernel's two spatial axes (k×k, P̂'s and B_p's 1×1) are the one pair allowed to be equal. */
const isKernel = (name: string, t: Tensor) => t.shape.length === 4 && /\.(d?W|d?B|d?P|d?Q|M|Bp|d?R|What)$/.test(name);

describe('fixture v2: every dimension is distinct, so every transpose is a shape error', () => {
  it.each(names)('%s: every tensor axis is a declared dimension, and the declared dimensions are pairwise distinct', (name) => {
    const { meta, tensors } = committed(name);
    const dims = (meta.model as { dimensions: Record<string, number> }).dimensions;
    const values = Object.values(dims);
    expect(new Set(values).size, JSON.stringify(dims)).toBe(values.length);
    const c = findCase(name);
    expect(dims).toMatchObject({ batch: c.arch.batch, classes: c.arch.classes });
    for (const [n, t] of tensors) {
      for (const d of t.shape) if (d !== 1) expect(values, `${n} (${t.shape.join(', ')}): axis ${d} is not a declared dimension`).toContain(d);
    }
  });

  it.each(names)('%s: swapping any two axes of any tensor changes its shape as verify compares it (kernel spatial axes excepted)', (name) => {
    const b = committed(name);
    const transposed = new Map<string, Tensor>();
    for (const [n, t] of b.tensors) {
      if (t.shape.length < 2) continue;
      for (let i = 0; i < t.shape.length; i++) for (let j = i + 1; j < t.shape.length; j++) {
        if ((isKernel(n, t) && i >= 2) || t.shape[i] === 1 || t.shape[j] === 1) continue; // moving a length-1 axis moves no data
        const s = [...t.shape];
        [s[i], s[j]] = [s[j], s[i]];
        expect(sameSqueezedShape(t.shape, s), `${n} (${t.shape.join(', ')}) axes ${i}, ${j}`).toBe(false);
      }
      if (n.startsWith('step')) transposed.set(n, tensor([...t.shape].reverse(), t.data));
    }
    // the planted transpose through verify: every one of them is reported as a shape error
    const report = verifyBundles(b, { meta: {}, tensors: transposed }, DEFAULT_VERIFY);
    const multi = report.checks.filter((c) => transposed.has(c.name));
    expect(multi.length).toBeGreaterThan(10);
    for (const check of multi) expect(check.status, check.name).toBe('shape');
    expect(report.diagnosis.message).toMatch(/^first divergence: step 1, step1\/logits \(forward\): it has the wrong shape/);
  });
});

describe('fixture v2: the step-1 feedback gradients are far from zero, so a sign bug fails at step 1', () => {
  const learning = names.filter((n) => (committed(n).meta.training as { learnedFeedback: string[] }).learnedFeedback.length > 0);

  it.each(learning)('%s: every step-1 dP, dQ is at least 1e-3 of its tensor', (name) => {
    const { meta, tensors } = committed(name);
    for (const p of (meta.training as { learnedFeedback: string[] }).learnedFeedback) {
      const ratio = norm(tensors.get(`step1/${gradName(p)}`)!) / norm(tensors.get(`init/${p}`)!);
      expect(ratio, p).toBeGreaterThan(1e-3);
    }
  });

  it.each(names.filter((n) => n.endsWith('_ldfa-normative')))('%s: a normative sign bug (E = W − P̂Q̂) fails at step 1', (name) => {
    const b = committed(name);
    // The bug negates E, so step 1's dP and dQ come out negated (everything before them is unchanged).
    const cand = computed(b);
    for (const [n, t] of cand) if (n.startsWith('step1/') && /\.d[PQ]$/.test(n)) t.data.forEach((v, i, a) => { a[i] = -v; });
    const report = verifyBundles(b, { meta: {}, tensors: cand }, DEFAULT_VERIFY);
    expect(report.ok).toBe(false);
    expect(report.diagnosis.first).toMatchObject({ step: 1, phase: 'feedback gradients' });
    expect(report.diagnosis.message).toMatch(/look at your normative gradient of .*: E = P̂Q̂ − W \(this sign\)/);
  });
});

describe('fixture v2: the conv stride convention is checked', () => {
  const ldfaCnn = names.filter((n) => n.startsWith('cnn_ldfa-'));

  it('the cnn has a conv with stride 2 and padding that sends a signal', () => {
    const layers = (committed('cnn_bp').meta.model as { layers: { name: string; type: string; stride?: number; padding?: number }[] }).layers;
    expect(layers.find((l) => l.name === 'conv2')).toMatchObject({ type: 'conv2d', stride: 2, padding: 1 });
    const sites = (committed('cnn_bp').meta.model as { sites: { name: string; sendsSignal: boolean }[] }).sites;
    expect(sites.find((s) => s.name === 'conv2')?.sendsSignal).toBe(true);
  });

  // Where the stride goes (spec §4.2): v4 applies it on the Q̂ step, v1 on the P̂ step. With a 1×1
  // P̂, a stride-s transposed conv is zero-interleaving followed by a stride-1 one, so the two give
  // the same values wherever their shapes agree; what differs is the size of the r-channel map,
  // 2·(Ho − 1) + 1. On the even height of this fixture (8 → 4) the P̂-step variant comes out one
  // row short unless it adds output_padding, which the v1 fixtures (stride 1) never exercised.
  it.each(ldfaCnn)('%s: the stride applied on the P̂ step (no output padding) fails as a shape error; on the Q̂ step it reproduces the signal', (name) => {
    const b = committed(name);
    const T = (n: string) => b.tensors.get(n)!;
    const dy = T('step1/conv2.delta'), P = T('init/conv2.P'), Q = T('init/conv2.Q'), want = T('step1/conv2.signal');
    const [N, r, Ho, Wo] = [dy.shape[0], P.shape[1], dy.shape[2], dy.shape[3]];
    const [, Cin, H, W] = want.shape;
    /** z = conv_transpose(dy, P̂, stride on this step), then dx = conv_transpose(z, Q̂, padding 1, the other stride); zSize: z's height and width. */
    const signal = (strideOnP: boolean, zSize: [number, number]) => withBackend(referenceBackend, () => {
      const z = tensor([N, r, ...zSize]);
      referenceBackend.conv2dBackwardInput(z, dy, P, { stride: strideOnP ? 2 : 1, padding: 0 });
      const dx = tensor([N, Cin, ...(strideOnP ? zSize : [H, W])]);
      referenceBackend.conv2dBackwardInput(dx, z, Q, { stride: strideOnP ? 1 : 2, padding: 1 });
      return dx;
    });
    const check = (dx: Tensor) => {
      const cand = computed(b);
      cand.set('step1/conv2.signal', dx);
      return verifyBundles(b, { meta: {}, tensors: cand }, { ...DEFAULT_VERIFY, only: ['step1/conv2.signal'] });
    };
    expect(check(signal(false, [Ho, Wo])).ok).toBe(true);
    const wrong = check(signal(true, [2 * (Ho - 1) + 1, 2 * (Wo - 1) + 1]));
    expect(wrong.checks[0]).toMatchObject({ name: 'step1/conv2.signal', status: 'shape', candidateShape: [N, Cin, H - 1, W] });
    expect(wrong.diagnosis.first?.name).toBe('step1/conv2.signal');
    // with output padding up to the input size, the P̂-step variant is the same map
    expect(check(signal(true, [H, W])).ok).toBe(true);
  });
});

describe('fixture v2: nothing diverges within the 3 steps', () => {
  it.each(names)('%s: no learned feedback tensor grows past 1.6× its start, and every stored value is below 1000 in magnitude (a conv Oja step-1 dP reaches 112 with the v1 P̂ ~ U(±1/√r))', (name) => {
    const { meta, tensors } = committed(name);
    for (const p of (meta.training as { learnedFeedback: string[] }).learnedFeedback) {
      expect(norm(tensors.get(`step3/${p}`)!) / norm(tensors.get(`init/${p}`)!), p).toBeLessThan(1.6);
    }
    for (const [n, t] of tensors) expect(Math.max(...t.data.map(Math.abs)), n).toBeLessThan(1000);
  });

  it('the feedback learning rate is per case and in the header', () => {
    expect((committed('cnn_ldfa-oja').meta.training as { feedbackLr: number }).feedbackLr).toBe(findCase('cnn_ldfa-oja').training.feedbackLr);
    expect(findCase('cnn_ldfa-oja').training.feedbackLr).toBeLessThan(findCase('mlp_ldfa-oja').training.feedbackLr);
  });
});

describe('fixture v2: a machine-readable header for every architecture', () => {
  it.each(names)('%s: model.layers is a list of typed layers with their sizes', (name) => {
    const model = committed(name).meta.model as { layers: { name: string; type: string }[] };
    expect(Array.isArray(model.layers)).toBe(true);
    for (const l of model.layers) expect(typeof l.type, JSON.stringify(l)).toBe('string');
  });

  it('the transformer header gives heads, patch, MLP width, LayerNorm ε, pooling and the qkv layout as values', () => {
    const t = (committed('transformer_bp').meta.model as { transformer: Record<string, unknown> }).transformer;
    expect(t).toMatchObject({
      patch: 4, grid: [2, 5], tokens: 10, dim: 9, attnDim: 14, heads: 2, headDim: 7, mlpWidth: 18, depth: 1,
      layerNormEps: 1e-5, layerNormVariance: 'biased', norm: 'pre', qkv: { layout: 'fused', rankScale: 3 },
    });
    expect(t.pooling).toMatch(/mean over the T tokens/);
  });
});

describe('a planted bug in one layer\'s signal is named first by verify, in every architecture', () => {
  /** Generates a case with `site`'s signal off by 1e-3 in one entry: everything computed after it moves too. */
  function withSignalBug(c: FixtureCase, site: string): Map<string, Tensor> {
    const build = (rng: Parameters<FixtureCase['arch']['build']>[0]): Model => {
      const model = c.arch.build(rng);
      const target = model.sites.find((s) => s.name === site)!;
      let inner: Feedback = target.feedback;
      Object.defineProperty(target, 'feedback', {
        get: () => inner,
        set: (f: Feedback) => { inner = (dx, dy) => { f(dx, dy); dx.data[0] += 1e-3; }; },
      });
      return model;
    };
    return computed({ meta: {}, tensors: generateFixture({ ...c, arch: { ...c.arch, build } }).tensors });
  }

  const targets: Record<string, string> = { linear2: 'fc2', mlp: 'fc2', cnn: 'conv2', transformer: 'block0.proj' };
  it.each(ARCHITECTURES.flatMap((a) => RULE_CASES.filter((r) => r.name !== 'dfa').map((r) => [a.name, r.name])))('%s, %s', (arch, rule) => {
    const c = makeCase(ARCHITECTURES.find((a) => a.name === arch)!, RULE_CASES.find((r) => r.name === rule)!);
    const site = targets[arch];
    const report = verifyBundles(committed(c.name), { meta: {}, tensors: withSignalBug(c, site) }, DEFAULT_VERIFY);
    expect(report.ok).toBe(false);
    expect(report.diagnosis.first?.name).toBe(`step1/${site}.signal`);
    expect(report.diagnosis.message).toContain(`it disagrees while step1/${site}.delta agree`);
    expect(report.diagnosis.message).toContain(`look at how ${site} sends its error down`);
  });
});
