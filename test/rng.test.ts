// The seeded generator (reference/rng.ts): xoshiro128** against the published C reference's
// output, the derived uniforms, normals, integers and permutations, and the initialisers.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INIT_NAMES, Rng, initWeight } from '../reference/rng.ts';

const draw = (rng: Rng, n: number, f: (r: Rng) => number) => Array.from({ length: n }, () => f(rng));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: number[]) => { const m = mean(xs); return mean(xs.map((x) => (x - m) ** 2)); };

describe('xoshiro128**', () => {
  it('from the state {1, 2, 3, 4} gives the C reference implementation\'s first ten outputs', () => {
    // The first three by hand: rotl(2·5, 7)·9 = 11520; then s₁ = 0 gives 0; then s₁ = 1029 gives rotl(5145, 7)·9 = 5927040.
    expect(draw(Rng.fromState([1, 2, 3, 4]), 10, (r) => r.nextUint32()))
      .toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
  });

  it('the same seed gives the same stream, other seeds and forks other streams', () => {
    expect(draw(new Rng(42), 20, (r) => r.nextUint32())).toEqual(draw(new Rng(42), 20, (r) => r.nextUint32()));
    expect(draw(new Rng(43), 20, (r) => r.nextUint32())).not.toEqual(draw(new Rng(42), 20, (r) => r.nextUint32()));
    const parent = new Rng(42);
    const a = parent.fork(), b = parent.fork();
    expect(draw(a, 20, (r) => r.nextUint32())).not.toEqual(draw(b, 20, (r) => r.nextUint32()));
  });

  it.each([[-1], [1.5], [2 ** 32], [Number.NaN]])('seed %s is refused, naming the allowed range', (seed) => {
    expect(() => new Rng(seed)).toThrow(/seed must be an integer in \[0, 4294967295\]/);
  });

  it('an all-zero or out-of-range state is refused', () => {
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(/not all zero, got \[0, 0, 0, 0\]/);
    expect(() => Rng.fromState([1, 2, 3, 2 ** 32])).toThrow(/four 32-bit unsigned integers/);
  });
});

describe('derived draws', () => {
  const n = 100_000;

  it('uniform() is in [0, 1) with mean ½ and variance 1/12; int(k) covers [0, k) evenly', () => {
    const u = draw(new Rng(1), n, (r) => r.uniform());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n)); // 5 standard errors
    expect(Math.abs(variance(u) - 1 / 12)).toBeLessThan(2e-3);
    const counts = new Array(7).fill(0);
    for (const k of draw(new Rng(2), n, (r) => r.int(7))) counts[k]++;
    for (const c of counts) expect(Math.abs(c - n / 7)).toBeLessThan(5 * Math.sqrt(n / 7));
  });

  it('skipNormals(n) leaves the generator exactly where n calls of normal() do (words and spare), from a fresh or a half-used pair; a bad count is refused', () => {
    for (const spareFirst of [false, true]) {
      for (const n of [0, 1, 2, 3, 6, 7, 1001, 65536]) {
        const [drawn, skipped] = [new Rng(42), new Rng(42)];
        if (spareFirst) { drawn.normal(); skipped.normal(); } // a spare waiting
        for (let i = 0; i < n; i++) drawn.normal();
        skipped.skipNormals(n);
        expect(skipped.snapshot(), `n = ${n}, spare first: ${spareFirst}`).toEqual(drawn.snapshot());
        expect([skipped.normal(), skipped.normal(), skipped.uniform()]).toEqual([drawn.normal(), drawn.normal(), drawn.uniform()]);
      }
    }
    expect(() => new Rng(1).skipNormals(-1)).toThrow(/skipNormals: count must be a non-negative integer, got -1/);
    expect(() => new Rng(1).skipNormals(2.5)).toThrow(/non-negative integer/);
  });

  it('normal() has mean 0 and variance 1', () => {
    const z = draw(new Rng(3), n, (r) => r.normal());
    expect(Math.abs(mean(z))).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(variance(z) - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
  });

  it('permutation(n) holds every index once', () => {
    const p = new Rng(4).permutation(50);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

describe('initialisers', () => {
  // (out, in, k, k) = (6, 4, 3, 3): fan_in = 36, fan_out = 54
  const shape = [6, 4, 3, 3];
  const bounds: Record<string, number> = { uniform: 1 / 6, 'kaiming-linear': Math.sqrt(3) / 6, xavier: Math.sqrt(6 / 90) };

  it.each(Object.entries(bounds))('%s: U(±bound) over fan_in = in·k², fan_out = out·k²', (name, bound) => {
    const w = initWeight(new Rng(5), shape, name as never);
    expect(w.shape).toEqual(shape);
    const values = [...w.data];
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(0.9 * bound); // 216 draws reach the edge
  });

  it('normal: N(0, 1/fan_in); uniform is the default; unknown names are refused', () => {
    const w = initWeight(new Rng(6), [400, 100], 'normal');
    expect(Math.abs(variance([...w.data]) - 1 / 100)).toBeLessThan(5e-4);
    expect([...initWeight(new Rng(7), [3, 4]).data]).toEqual([...initWeight(new Rng(7), [3, 4], 'uniform').data]);
    expect(INIT_NAMES).toEqual(['uniform', 'kaiming-linear', 'xavier', 'normal']);
    expect(() => initWeight(new Rng(8), [3, 4], 'he' as never)).toThrow(/unknown initialiser 'he': allowed are uniform, kaiming-linear, xavier, normal/);
  });
});

describe('no unseeded randomness', () => {
  it('no source file of the project calls Math.random', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (/\.(ts|mjs|js)$/.test(name)) files.push(path);
      }
    };
    for (const dir of ['reference', 'src', 'oracles', 'bench', 'bin']) walk(dir);
    expect(files.length).toBeGreaterThan(20);
    const offenders = files.filter((f) => /Math\.random\s*\(/.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
