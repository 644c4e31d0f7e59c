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
