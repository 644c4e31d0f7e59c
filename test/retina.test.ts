// The Retina–VVS model (spec §4.2): shapes and layer order, the per-layer rank spec that
// constrains only the feedback into the retina, and `--arch retina` through the config and
// the CLI. (BP against finite differences and LDFA full rank = BP are in models.test.ts.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { maxRank } from '../reference/models/network.ts';
import { buildRetina, retinaFeedbackRank, type RetinaConfig } from '../reference/models/retina.ts';
import { createRule } from '../reference/rules/index.ts';
import { sendingSites } from '../reference/rules/rule.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { DEFAULT_CONFIG, validateConfig, type TrainConfig } from '../src/config.ts';
import { buildModel } from '../src/models.ts';

const tiny: RetinaConfig = { inputShape: [1, 6, 6], channels: [3, 2, 4, 4], kernel: 3, fc: 5, outputSize: 3, activation: 'relu', init: 'uniform' };

describe('buildRetina', () => {
  it('keeps H×W through every conv, then fc and head; every conv and linear is a feedback site', () => {
    const model = buildRetina(tiny, new Rng(1));
    expect(model.forward(normalTensor(new Rng(2), [2, 1, 6, 6], 1), false).shape).toEqual([2, 3]);
    expect(model.nodes.map((n) => n.name)).toEqual([
      'retina1', 'retina1.act', 'retina2', 'retina2.act', 'vvs1', 'vvs1.act', 'vvs2', 'vvs2.act',
      'flatten', 'fc', 'fc.act', 'head',
    ]);
    expect(model.sites.map((s) => [s.name, s.weight.value.shape])).toEqual([
      ['retina1', [3, 1, 3, 3]], ['retina2', [2, 3, 3, 3]], ['vvs1', [4, 2, 3, 3]], ['vvs2', [4, 4, 3, 3]],
      ['fc', [5, 4 * 6 * 6]], ['head', [3, 5]],
    ]);
    expect(model.sites.map((s) => s.inputShape)).toEqual([[1, 6, 6], [3, 6, 6], [2, 6, 6], [4, 6, 6], [144], [5]]);
    expect(sendingSites(model).map((s) => s.name)).toEqual(['retina2', 'vvs1', 'vvs2', 'fc', 'head']);
    expect(model.activations().map((a) => a.value.shape.slice(1))).toContainEqual([2, 6, 6]);
  });

  it('an identity activation drops the activation nodes', () => {
    const model = buildRetina({ ...tiny, activation: 'identity' }, new Rng(1));
    expect(model.nodes.filter((n) => n.name.endsWith('.act'))).toEqual([]);
  });

  it.each([
    [{ channels: [3, 2] }, 'retina: 2 conv widths given [3, 2]: at least 3 are required (retina channels, retina output/bottleneck, one VVS conv or more)'],
    [{ channels: [3, 0, 2] }, 'retina channels: every width must be a positive integer, got [3, 0, 2]'],
    [{ kernel: 4 }, 'retina: kernel 4 is not allowed: it must be an odd positive integer'],
    [{ fc: 2.5 }, 'retina fc: every width must be a positive integer, got [2.5]'],
    [{ inputShape: [36] }, 'retina: the input must be images (C, H, W), got shape [36]'],
  ] as [Partial<RetinaConfig>, string][])('%j fails: %s', (change, message) => {
    expect(() => buildRetina({ ...tiny, ...change }, new Rng(1))).toThrow(message);
  });
});

describe('retinaFeedbackRank', () => {
  it('constrains vvs1 only, with one entry per sending site, whatever the depth', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 6 }), fc.integer({ min: 1, max: 4 }), (channels, r0) => {
      const model = buildRetina({ ...tiny, inputShape: [1, 3, 3], channels, fc: 3 }, new Rng(1));
      const r = Math.min(r0, channels[2], channels[1] * 9); // vvs1's largest rank
      const spec = retinaFeedbackRank(channels, r);
      expect(spec).toHaveLength(sendingSites(model).length);
      const rule = createRule('ldfa', { ldfa: { rank: spec, mode: 'normative', init: 'svd' } });
      rule.attach(model, new Rng(2));
      const ranks = rule.summary().ranks as Record<string, number>;
      const full = Object.fromEntries(sendingSites(model).map((s) => [s.name, maxRank(s)]));
      expect(ranks).toEqual({ ...full, vvs1: r });
    }), { numRuns: 20 });
  });

  it('names the paper setting as a --rank string', () => {
    expect(retinaFeedbackRank([32, 32, 32, 32, 32], 4).join(',')).toBe('full,4,full,full,full,full');
  });

  it('rejects a bad rank or too few widths', () => {
    expect(() => retinaFeedbackRank([4, 4, 4], 0)).toThrow('retinaFeedbackRank: rank 0 is not allowed: it must be a positive integer');
    expect(() => retinaFeedbackRank([4, 4], 2)).toThrow('at least 3 are required');
  });
});

describe('--arch retina in the config', () => {
  const config: TrainConfig = { ...DEFAULT_CONFIG, arch: 'retina', hidden: [3, 2, 4], kernel: 5, fc: 7 };

  it('maps --hidden c,b,v… to the convs, --kernel to every conv and --fc to the fc layer', () => {
    const model = buildModel(validateConfig(config), [1, 8, 8], 10, new Rng(1));
    expect(model.sites.map((s) => [s.name, s.weight.value.shape])).toEqual([
      ['retina1', [3, 1, 5, 5]], ['retina2', [2, 3, 5, 5]], ['vvs1', [4, 2, 5, 5]], ['fc', [7, 256]], ['head', [10, 7]],
    ]);
  });

  it.each([
    [{ hidden: [256, 256] }, "--arch retina needs --hidden c,b,v1[,v2,…] (retina channels, retina output/bottleneck channels, one width per VVS conv): at least 3 widths, got '256,256'"],
    [{ batchNorm: true }, '--batch-norm is not allowed for --arch retina: the Retina–VVS model has no normalisation'],
    [{ fc: 0 }, '--fc must be a positive integer, got 0'],
    [{ arch: 'retna' as TrainConfig['arch'] }, "--arch 'retna' is not allowed: allowed are linear, mlp, cnn, vit, retina"],
  ] as [Partial<TrainConfig>, string][])('%j fails: %s', (change, message) => {
    expect(() => validateConfig({ ...config, ...change })).toThrow(message);
  });
});

describe('ldfa train --arch retina', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ldfa-retina-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const ldfa = (args: string[]) => spawnSync(process.execPath, ['bin/ldfa.mjs', 'train', ...args], { encoding: 'utf8', timeout: 60_000 });
  const small = ['--data', 'mnist', '--arch', 'retina', '--hidden', '3,2,3', '--kernel', '3', '--fc', '8', '--limit-train', '64', '--limit-test', '32', '--epochs', '1', '--backend', 'reference', '--quiet'];

  it('trains with only the feedback into the retina constrained', () => {
    const out = join(dir, 'r.json');
    const run = ldfa([...small, '--rule', 'ldfa', '--rank', retinaFeedbackRank([3, 2, 3], 1).join(','), '--out', out]);
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(readFileSync(out, 'utf8'));
    expect(result.rule.ranks).toEqual({ retina2: 2, vvs1: 1, fc: 8, head: 8 });
    expect(result.config).toMatchObject({ arch: 'retina', hidden: [3, 2, 3], kernel: 3, fc: 8 });
  });

  it.each([
    [['--hidden', '3,2'], /--arch retina needs --hidden c,b,v1/],
    [['--kernel', '2'], /retina: kernel 2 is not allowed: it must be an odd positive integer/],
    [['--fc', 'x'], /--fc must be a number, got 'x'/],
    [['--fc', '0'], /--fc must be a positive integer, got 0/],
    [['--rule', 'ldfa', '--rank', 'full,1,full'], /3 ranks given for 4 layers that send error down \(retina2, vvs1, fc, head\)/],
  ])('%j fails with a clear message', (args, message) => {
    const run = ldfa([...small, ...args]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(message);
  });
});
