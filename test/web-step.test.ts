// The web app's step-through (src/web/step/trace.ts) in Node: its tensors are the golden
// fixtures' (to 1e-12) for every fixture case it offers, both from its own seeded draws and
// from the fixture's starting tensors; and the source panes cut the right lines out of reference/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeBundle } from '../src/bundle.ts';
import { cutDefinition, extractSources } from '../src/web/sources.ts';
import { SOURCE_ANCHORS } from '../src/web/step/anchors.ts';
import { compareWithFixture, fixtureCaseOf, startingPointOf, STEP_MODELS, STEP_RULES, traceSteps } from '../src/web/step/trace.ts';
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
