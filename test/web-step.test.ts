// The web app's step-through (src/web/step/trace.ts) in Node: its tensors are the golden
// fixtures' (to 1e-12) for every fixture case it offers, both from its own seeded draws and
// from the fixture's starting tensors; and the source panes cut the right lines out of reference/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeBundle } from '../src/bundle.ts';
import { cutDefinition, extractSources } from '../src/web/sources.ts';
import { SOURCE_ANCHORS } from '../src/web/step/anchors.ts';
import { angleDeg, compareWithFixture, fixtureCaseOf, startingPointOf, STEP_MODELS, STEP_RULES, stepMaxRank, traceSteps, type Stage } from '../src/web/step/trace.ts';
import { tensor } from '../reference/tensor.ts';
import { multiply } from '../reference/backend.ts';
import { FIXTURE_RANK, FIXTURE_TRAINING } from '../oracles/cases.ts';

const fixture = (name: string) => decodeBundle(readFileSync(join('oracles/fixtures', `${name}.bin`)), name).tensors;
const offered = STEP_MODELS.flatMap((model) => STEP_RULES.map((rule) => ({ model, rule, rank: FIXTURE_RANK })))
  .filter((s) => fixtureCaseOf(s) !== null);

describe('step-through vs the golden fixtures', () => {
  it('offers the small MLP and the linear net under every rule case', () => {
    expect(offered.map(fixtureCaseOf)).toHaveLength(2 * STEP_RULES.length);
  });

  it.each(offered.map((s) => [fixtureCaseOf(s)!, s] as const))('%s: every tensor the fixture stores, in all 3 steps', (name, setup) => {
    const golden = fixture(name);
    for (const start of [undefined, startingPointOf(golden)]) {
      const compared = compareWithFixture(traceSteps(setup, FIXTURE_TRAINING.steps, null, start), golden);
      const stepNames = [...golden.keys()].filter((n) => n.startsWith('step'));
      // every step tensor of the fixture is shown somewhere (nothing left unchecked)
      expect(new Set(compared.map((c) => c.name))).toEqual(new Set(stepNames));
      for (const c of compared) expect(c.maxAbsDiff, c.name).toBeLessThanOrEqual(1e-12);
    }
  });

  it('leaves the starting point as it was (the page reuses a loaded fixture)', () => {
    const golden = fixture('mlp_ldfa-oja');
    const start = startingPointOf(golden);
    const before = new Map([...start.init].map(([name, t]) => [name, Array.from(t.data)]));
    traceSteps({ model: 'mlp', rule: 'ldfa-oja', rank: 2 }, 3, null, start);
    for (const [name, t] of start.init) expect(Array.from(t.data), name).toEqual(before.get(name));
    const again = compareWithFixture(traceSteps({ model: 'mlp', rule: 'ldfa-oja', rank: 2 }, 3, null, start), golden);
    for (const c of again) expect(c.maxAbsDiff, c.name).toBeLessThanOrEqual(1e-12);
  });

  it('LDFA: the z stage times Q̂ is the signal sent down', () => {
    const [stages] = traceSteps({ model: 'mlp', rule: 'ldfa-oja', rank: 2 }, 1, null);
    const z = stages.find((s) => s.id === 'z-fc3')!, signal = stages.find((s) => s.id === 'signal-fc3')!;
    const named = (stage: typeof z, label: string) => stage.tensors.find((t) => t.label === label)!.tensor;
    const dx = multiply(named(z, 'z'), named(signal, 'fc3.Q̂'));
    expect(Array.from(dx.data)).toEqual(Array.from(named(signal, 'dx sent down by fc3').data));
  });

  it('a tensor that differs from the fixture shows up', () => {
    const golden = fixture('mlp_fa');
    const trace = traceSteps({ model: 'mlp', rule: 'fa', rank: 2 }, 3, null);
    trace[0].find((s) => s.id === 'dW-fc2')!.tensors[0].tensor.data[3] += 1e-9;
    expect(compareWithFixture(trace, golden).find((c) => c.name === 'step1/fc2.dW')!.maxAbsDiff).toBeCloseTo(1e-9, 15);
  });
});

/** A stand-in MNIST batch (the page embeds real digits; the stages' structure is the same). */
const mnistLike = { x: tensor([8, 784], Float64Array.from({ length: 8 * 784 }, (_, i) => ((i * 7919) % 256) / 255)), y: Int32Array.from([5, 0, 4, 1, 9, 2, 1, 3]) };
const everySetup = STEP_MODELS.flatMap((model) => STEP_RULES.map((rule) => ({ model, rule, rank: 2 })));
const named = (stage: Stage, label: string) => stage.tensors.find((t) => t.label === label)!.tensor;
const frobenius = (a: Float64Array, b?: Float64Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - (b ? b[i] : 0)) ** 2, 0));

describe('the step-through explains (issue 24)', () => {
  const sources = extractSources('.');

  it.each(everySetup.map((s) => [`${s.model} ${s.rule}`, s] as const))('%s: every stage says what to look for and highlights the lines that produced it', (_, setup) => {
    for (const stages of traceSteps(setup, 2, setup.model === 'mnist-mlp' ? mnistLike : null)) for (const stage of stages) {
      expect(stage.about.length, stage.id).toBeGreaterThan(40);
      expect(stage.highlight.length, stage.id).toBeGreaterThan(0);
      const lines = stage.sources.flatMap((id) => sources[id].lines);
      // each highlight names a line of the stage's own source panes (so a source edit that moves it fails here)
      for (const h of stage.highlight) expect(lines.filter((l) => l.includes(h)).length, `${stage.id}: '${h}'`).toBeGreaterThan(0);
    }
  });

  it.each(everySetup.filter((s) => s.rule !== 'bp').map((s) => [`${s.model} ${s.rule}`, s] as const))("%s: BP's δ·W stands beside the rule's dx, with their angle (and ‖W − P̂Q̂‖ or ‖W − B‖)", (_, setup) => {
    const [stages] = traceSteps(setup, 1, setup.model === 'mnist-mlp' ? mnistLike : null);
    const signals = stages.filter((s) => s.id.startsWith('signal-'));
    expect(signals.length).toBeGreaterThan(0);
    for (const signal of signals) {
      const site = signal.id.slice('signal-'.length);
      const delta = named(stages.find((s) => s.id === `delta-${site}`)!, `δ (${site})`);
      const W = named(stages.find((s) => s.id === `forward-${site}`)!, `${site}.W`);
      const bp = named(signal, 'BP’s δ·W (for comparison)'), dx = named(signal, `dx sent down by ${site}`);
      expect(Array.from(bp.data)).toEqual(Array.from(multiply(delta, W).data));
      const angle = signal.metrics!.find((m) => m.label.startsWith('angle'))!.value;
      const cos = dx.data.reduce((s, v, i) => s + v * bp.data[i], 0) / (frobenius(dx.data) * frobenius(bp.data));
      expect(angle).toBeCloseTo((Math.acos(cos) * 180) / Math.PI, 10);
      expect(angle).toBeGreaterThan(0);
      if (setup.rule.startsWith('ldfa')) {
        const P = named(stages.find((s) => s.id === `z-${site}`)!, `${site}.P̂`), Q = named(signal, `${site}.Q̂`);
        expect(signal.metrics!.find((m) => m.label === '‖W − P̂Q̂‖_F')!.value).toBeCloseTo(frobenius(W.data, multiply(P, Q).data), 12);
      }
      if (setup.rule === 'fa') expect(signal.metrics!.find((m) => m.label === '‖W − B‖_F')!.value).toBeCloseTo(frobenius(W.data, named(signal, `${site}.B`).data), 12);
    }
  });

  it('BP: its own signal is δ·W (the angle to itself would be 0)', () => {
    const [stages] = traceSteps({ model: 'mlp', rule: 'bp', rank: 2 }, 1, null);
    const signal = stages.find((s) => s.id === 'signal-fc3')!;
    expect(angleDeg(named(signal, 'dx sent down by fc3'), multiply(named(stages.find((s) => s.id === 'delta-fc3')!, 'δ (fc3)'), named(signal, 'fc3.W')))).toBeLessThan(1e-6);
  });

  it.each(['mlp', 'mnist-mlp'] as const)('%s: the update stage shows ΔW = −η·dW and ΔP̂ = −η_f·dP̂, named with hats; the new values are kept (folded)', (model) => {
    const [stages] = traceSteps({ model, rule: 'ldfa-normative', rank: 2 }, 1, model === 'mnist-mlp' ? mnistLike : null);
    const update = stages.find((s) => s.id === 'update')!;
    const eta = Number(/η = ([\d.e-]+)/.exec(update.equation)![1]), etaF = Number(/η_f = ([\d.e-]+)/.exec(update.equation)![1]);
    const dW = named(stages.find((s) => s.id === 'dW-fc2')!, 'fc2.dW');
    const dP = named(stages.find((s) => s.id === 'feedback-fc2')!, 'fc2.dP̂');
    const close = (got: Float64Array, want: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 14));
    close(named(update, 'Δfc2.W').data, Array.from(dW.data, (g) => -eta * g));
    close(named(update, 'Δfc2.P̂').data, Array.from(dP.data, (g) => -etaF * g));
    expect(update.tensors.filter((t) => !t.secondary).every((t) => t.label.startsWith('Δ'))).toBe(true);
    expect(update.tensors.some((t) => /\.(P|Q)\b(?!̂)/.test(t.label))).toBe(false); // never "fc2.P": the page says P̂
    expect(update.tensors.filter((t) => t.secondary).map((t) => t.label)).toContain('fc2.P̂ (new value)');
  });

  it('MNIST: the inputs are 28×28 digit rows with their labels, and the loss stage shows the labels y', () => {
    const [stages] = traceSteps({ model: 'mnist-mlp', rule: 'ldfa-normative', rank: 2 }, 1, mnistLike);
    const x = stages[0].tensors[0];
    expect(x.image).toEqual([28, 28]);
    expect(Array.from(x.rowLabels!)).toEqual(Array.from(mnistLike.y));
    expect(Array.from(named(stages.find((s) => s.id === 'loss')!, 'labels y').data)).toEqual(Array.from(mnistLike.y));
  });

  it('the rank box allows the largest min(out, in) of the layers that send error down (10 on MNIST)', () => {
    expect(STEP_MODELS.map(stepMaxRank)).toEqual([7, 4, 10]);
    expect(() => traceSteps({ model: 'mnist-mlp', rule: 'ldfa-normative', rank: 10 }, 1, mnistLike)).not.toThrow();
  });
});

describe('source panes', () => {
  it('every anchor is cut out of its file as whole lines, ending where its brackets close', () => {
    const sources = extractSources('.');
    for (const [id, { file, symbol }] of Object.entries(SOURCE_ANCHORS)) {
      const s = sources[id as keyof typeof SOURCE_ANCHORS];
      const lines = readFileSync(file, 'utf8').split('\n');
      expect(s.lines).toEqual(lines.slice(s.startLine - 1, s.startLine - 1 + s.lines.length));
      expect(s.lines.join('\n')).toMatch(new RegExp(`\\b${symbol}\\b`));
    }
    expect(sources.throughLowRank.lines.at(-1)).toBe('};');
  });

  it('refuses an anchor that names nothing, naming the file', () => {
    expect(() => cutDefinition('export function a() {\n}\n', 'x.ts', 'b')).toThrow("x.ts defines no 'b'");
  });

  it('keeps the comment block above a definition and stops at its closing bracket', () => {
    const src = 'import x;\n// eq: y = 2x\nexport function f(a: number) {\n  if (a) { return "}"; }\n  return 2 * a;\n}\nexport const g = 1;\n';
    expect(cutDefinition(src, 's.ts', 'f')).toEqual({ file: 's.ts', symbol: 'f', startLine: 2, lines: ['// eq: y = 2x', 'export function f(a: number) {', '  if (a) { return "}"; }', '  return 2 * a;', '}'] });
  });
});

describe('the step-through offers the feedback-alignment family (issue 25)', () => {
  it('every family rule is offered with its equation; KP, weight mirrors and PFA show the feedback matrix\'s own update as a stage', () => {
    for (const rule of ['usf', 'brsf', 'frsf', 'kp', 'wm', 'pfa']) expect(STEP_RULES).toContain(rule);
    const stageIds = (rule: string) => traceSteps({ model: 'mlp', rule, rank: 2 }, 1, null)[0].map((s) => s.id);
    expect(stageIds('kp')).toEqual(expect.arrayContaining(['feedback-fc3', 'feedback-fc2']));
    expect(stageIds('pfa')).toEqual(expect.arrayContaining(['feedback-fc3', 'feedback-fc2', 'z-fc3']));
    const wm = stageIds('wm');
    expect(wm.slice(-2)).toEqual(['mirror-fc2', 'mirror-fc3']); // after the update: the mirror phase uses the new W
    for (const rule of ['usf', 'brsf', 'frsf']) expect(stageIds(rule).some((id) => id.startsWith('feedback-') || id.startsWith('mirror-'))).toBe(false);
  });

  it('sign rules: B_t = S∘sign(W) with the signs of this step\'s W; KP: dB = dW; PFA: g·R is the signal and dR = B_pᵀ·dW; WM: B moves to (1 − ρ)B + ρŴ', () => {
    const first = (rule: string) => traceSteps({ model: 'mlp', rule, rank: 2 }, 1, null)[0];
    const stage = (stages: Stage[], id: string) => stages.find((s) => s.id === id)!;
    const usf = first('usf');
    const B = named(stage(usf, 'signal-fc3'), 'fc3.B_t'), W = named(stage(usf, 'signal-fc3'), 'fc3.W');
    const c = Math.abs(B.data.find((v) => v !== 0)!);
    expect(Array.from(B.data)).toEqual(Array.from(W.data, (w) => c * Math.sign(w)));
    const kp = first('kp');
    expect(Array.from(named(stage(kp, 'feedback-fc2'), 'fc2.dB').data)).toEqual(Array.from(named(stage(kp, 'dW-fc2'), 'fc2.dW').data));
    const pfa = first('pfa');
    const g = named(stage(pfa, 'z-fc3'), 'g'), R = named(stage(pfa, 'signal-fc3'), 'fc3.R'), Bp = named(stage(pfa, 'z-fc3'), 'fc3.B_p');
    expect(Array.from(multiply(g, R).data)).toEqual(Array.from(named(stage(pfa, 'signal-fc3'), 'dx sent down by fc3').data));
    const dR = named(stage(pfa, 'feedback-fc3'), 'fc3.dR'), dW = named(stage(pfa, 'dW-fc3'), 'fc3.dW');
    multiply(Bp, dW, true, false).data.forEach((v, i) => expect(dR.data[i]).toBeCloseTo(v, 14));
    const mirror = stage(first('wm'), 'mirror-fc2');
    const [before, after, What] = ['fc2.B (before)', 'fc2.B (after)', 'Ŵ = yᵀx/(N_m·σ²)'].map((l) => named(mirror, l));
    after.data.forEach((v, i) => expect(v).toBeCloseTo(0.5 * before.data[i] + 0.5 * What.data[i], 14));
  });
});
