// The headline demo (`npm start`) without training: its runs, its table and plot, and the
// README's results table against the committed docs/demo/results.json.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEMO_RANKS, demoConfig, demoReport, demoRuns } from '../src/cli/demo.ts';

const LABELS = ['BP', 'FA', 'DFA', 'LDFA r=1', 'LDFA r=2', 'LDFA r=4', 'LDFA r=10', 'LDFA r=32'];

describe('ldfa demo', () => {
  it('trains the MNIST MLP with BP, FA, DFA and LDFA at r ∈ {1, 2, 4, 10, 32}; --quick is one epoch on 12,000 images', () => {
    expect(DEMO_RANKS).toEqual([1, 2, 4, 10, 32]);
    const full = demoConfig(false, 1, 'auto'), quick = demoConfig(true, 1, 'auto');
    expect(full).toMatchObject({ data: 'mnist', arch: 'mlp', hidden: [256, 256], epochs: 3, limitTrain: null, limitTest: null, seed: 1 });
    expect(quick).toMatchObject({ data: 'mnist', arch: 'mlp', epochs: 1, limitTrain: 12000 });
    const runs = demoRuns(full);
    expect(runs.map((r) => r.label)).toEqual(LABELS);
    expect(runs.map((r) => r.config.rule)).toEqual(['bp', 'fa', 'dfa', 'ldfa', 'ldfa', 'ldfa', 'ldfa', 'ldfa']);
    expect(runs.slice(3).map((r) => r.config.rank)).toEqual(DEMO_RANKS);
  });

  it('prints accuracy by rule and rank against BP, and plots LDFA against rank with BP, FA, DFA as reference lines', () => {
    const accuracy = [0.98, 0.96, 0.95, 0.9, 0.94, 0.97, 0.975, 0.978];
    const { table, svg } = demoReport(LABELS.map((label, i) => ({ label, result: { testAccuracy: accuracy[i], seconds: 10 + i } })), 7);
    expect(table).toMatch(/\| LDFA r=1 +\| +90\.00 \| +-8\.00 \| +13\.0 \|/);
    expect(table).toMatch(/\| BP +\| +98\.00 \| +0\.00 \| +10\.0 \|/);
    expect(svg).toContain('data-hline="BP"');
    expect(svg).toContain('data-hline="FA"');
    expect(svg).toContain('data-hline="DFA"');
    const path = /data-series="LDFA \(normative\)" d="([^"]*)"/.exec(svg);
    expect(path![1].match(/[ML]/g), 'one vertex per rank').toHaveLength(DEMO_RANKS.length);
    expect(svg).toContain('seed 7');
    expect(() => demoReport([{ label: 'FA', result: { testAccuracy: 0.9, seconds: 1 } }], 1)).toThrow(/no run labelled 'BP'/);
  });

  it("the README's results table quotes docs/demo/results.json", () => {
    const results = JSON.parse(readFileSync('docs/demo/results.json', 'utf8')) as { config: { seed: number }; runs: { label: string; testAccuracy: number }[] };
    expect(results.runs.map((r) => r.label)).toEqual(LABELS);
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain(`### The demo (\`npm start\`, seed ${results.config.seed})`);
    const bp = results.runs[0].testAccuracy;
    for (const run of results.runs) {
      const row = new RegExp(`^\\| ${run.label} \\| ([\\d.]+) \\| ([−\\d.]+) \\|$`, 'm').exec(readme);
      expect(row, `README row for ${run.label}`).not.toBeNull();
      expect(row![1], run.label).toBe((100 * run.testAccuracy).toFixed(2));
      expect(Number(row![2].replace('−', '-')), run.label).toBeCloseTo(100 * (run.testAccuracy - bp), 2);
    }
  });
});
