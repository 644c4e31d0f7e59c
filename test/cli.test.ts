// The CLI as a user runs it: same seed → same JSON (apart from timings), bad flags → a clear
// message and a non-zero exit.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'ldfa-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ldfa = (args: string[]) => spawnSync(process.execPath, ['bin/ldfa.mjs', ...args], { encoding: 'utf8', timeout: 60_000 });
const small = ['--data', 'synthetic', '--limit-train', '300', '--limit-test', '100', '--hidden', '16', '--epochs', '2', '--backend', 'reference', '--quiet'];

describe('ldfa train', () => {
  it('gives the same JSON for the same seed, apart from the timings', () => {
    const strip = (path: string) => {
      const r = JSON.parse(readFileSync(path, 'utf8'));
      return { ...r, seconds: 0, epochs: r.epochs.map((e: { seconds: number }) => ({ ...e, seconds: 0 })) };
    };
    for (const name of ['a', 'b']) {
      execFileSync(process.execPath, ['bin/ldfa.mjs', 'train', ...small, '--rule', 'ldfa', '--rank', '3', '--feedback', 'oja', '--seed', '7', '--out', join(dir, `${name}.json`)], { stdio: 'pipe' });
    }
    const a = strip(join(dir, 'a.json'));
    expect(a).toEqual(strip(join(dir, 'b.json')));
    for (const field of ['config', 'testAccuracy', 'trainLoss', 'seconds', 'backend', 'flopsPerStep']) expect(a).toHaveProperty(field);
    expect(a.trainLoss).toHaveLength(2);
    expect(a.rule.ranks).toEqual({ fc2: 3 });
  });

  it.each([
    ['synthetic', 'linear', '12,8', 'ldfa', 'factorised'],
    ['mnist', 'mlp', '16', 'dfa', 'normative'],
  ])('honours the flag contract: --data %s --arch %s --hidden %s --rule %s --feedback %s …, one log line per epoch', (data, arch, hidden, rule, feedback) => {
    const out = join(dir, `contract-${data}.json`);
    const run = ldfa(['train', '--data', data, '--arch', arch, '--hidden', hidden, '--rule', rule, '--rank', '2', '--feedback', feedback,
      '--epochs', '2', '--batch', '16', '--lr', '0.005', '--seed', '3', '--limit-train', '96', '--limit-test', '40', '--backend', 'reference', '--out', out]);
    expect(run.status, run.stderr).toBe(0);
    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r.config).toMatchObject({
      data, arch, hidden: hidden.split(',').map(Number), rule, rank: 2, feedback, epochs: 2, batch: 16, lr: 0.005, seed: 3, limitTrain: 96, limitTest: 40,
    });
    expect(r.trainLoss).toHaveLength(2);
    expect(r.trainLoss.every((l: number) => Number.isFinite(l) && l > 0)).toBe(true);
    expect(r.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(r.testAccuracy).toBeLessThanOrEqual(1);
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.backend).toMatchObject({ name: 'reference', precision: 'float64' });
    const epochLines = run.stderr.split('\n').filter((l) => / epoch \d\/2: train loss /.test(l));
    expect(epochLines.map((l) => /epoch (\d)\/2/.exec(l)![1])).toEqual(['1', '2']);
  });

  it.each([
    [['--rule', 'xyz'], /--rule 'xyz' is not allowed: allowed are bp, fa, dfa, ldfa/],
    [['--rule', 'ldfa', '--rank', '0'], /rank 0 is not allowed: rank must be an integer in \[1, 10\]/],
    [['--rule', 'ldfa', '--rank', '11'], /rank 11 is not allowed: rank must be an integer in \[1, 10\]/],
    [['--lr', 'abc'], /--lr must be a finite number ≥ 0, got NaN/],
    [['--backend', 'cuda'], /unknown backend 'cuda'/],
  ])('%j fails with a clear message', (args, message) => {
    const run = ldfa(['train', ...small, ...args]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(message);
  });
});
