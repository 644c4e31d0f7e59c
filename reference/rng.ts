// Seeded pseudo-random numbers. Nothing in this project calls Math.random.
//
// Generator: xoshiro128** (Blackman & Vigna, 2018), 32-bit state words, seeded by
// running splitmix32 over the 32-bit seed. Uniform doubles take 53 bits from two
// outputs; normals use the Box–Muller transform (both values are used).
import { tensor, type Tensor } from './tensor.ts';

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Everything a generator will draw from: serialisable as JSON (doubles round-trip exactly). */
export interface RngSnapshot {
  words: [number, number, number, number];
  spareNormal: number | null;
}

export class Rng {
  private s0: number; private s1: number; private s2: number; private s3: number;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`seed must be an integer in [0, 4294967295], got ${seed}`);
    }
    const next = splitmix32(seed);
    this.s0 = next(); this.s1 = next(); this.s2 = next(); this.s3 = next();
  }

  /** A generator at a given xoshiro128** state (not all zero), e.g. for known-answer tests against the C reference. */
  static fromState(state: readonly [number, number, number, number]): Rng {
    if (state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff) || state.every((w) => w === 0)) {
      throw new Error(`xoshiro128** state must be four 32-bit unsigned integers, not all zero, got [${state.join(', ')}]`);
    }
    const rng = new Rng(0);
    [rng.s0, rng.s1, rng.s2, rng.s3] = state;
    return rng;
  }

  /**
   * The generator's whole state: the four xoshiro128** words and the spare Box–Muller normal.
   * A checkpoint stores it so that a resumed run draws the numbers an uninterrupted one would.
   */
  snapshot(): RngSnapshot {
    return { words: [this.s0, this.s1, this.s2, this.s3], spareNormal: this.spareNormal };
  }

  /** Continues from a snapshot() of another (or this) generator. */
  restore(snapshot: RngSnapshot): void {
    const { words, spareNormal } = snapshot;
    const fresh = Rng.fromState(words); // checks the words
    [this.s0, this.s1, this.s2, this.s3] = [fresh.s0, fresh.s1, fresh.s2, fresh.s3];
    if (spareNormal !== null && !Number.isFinite(spareNormal)) throw new Error(`an RNG snapshot's spare normal must be finite or null, got ${spareNormal}`);
    this.spareNormal = spareNormal;
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0; this.s3 ^= this.s1; this.s1 ^= this.s2; this.s0 ^= this.s3;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0; this.s1 >>>= 0;
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  uniformIn(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /** Standard normal, Box–Muller. */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * this.uniform();
    this.spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /**
   * Moves on as `count` calls of normal() would, without computing the normals: the uniforms
   * are drawn (u = 0 redrawn alike), the logarithms and sines skipped but for the spare an odd
   * count leaves. For a caller that must keep the generator in step with one that draws values
   * it does not need (src/fast/ldfa.ts: a randomized SVD that is computed exactly).
   */
  skipNormals(count: number): void {
    if (!Number.isInteger(count) || count < 0) throw new Error(`skipNormals: count must be a non-negative integer, got ${count}`);
    let left = count;
    if (left > 0 && this.spareNormal !== null) { this.spareNormal = null; left--; }
    for (; left >= 2; left -= 2) { // a pair: both of a Box–Muller draw
      while (this.uniform() === 0) { /* redrawn, as normal() does */ }
      this.uniform();
    }
    if (left === 1) this.normal(); // the last one, whose pair's second value stays as the spare
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fisher–Yates shuffle of 0..n−1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]; p[i] = p[j]; p[j] = t;
    }
    return p;
  }

  /** An independent generator derived from this one (for per-layer streams). */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export function uniformTensor(rng: Rng, shape: readonly number[], bound: number): Tensor {
  const t = tensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.uniformIn(-bound, bound);
  return t;
}

export function normalTensor(rng: Rng, shape: readonly number[], std: number): Tensor {
  const t = tensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = std * rng.normal();
  return t;
}

/**
 * A generator for one (base, key…) cell, e.g. (rule seed, layer, step): the same cell gives the
 * same numbers whatever ran before, so a redraw per step survives resumption and evaluation passes.
 */
export function keyedRng(base: number, ...keys: number[]): Rng {
  let h = base >>> 0;
  for (const k of keys) h = Math.imul((h ^ (k >>> 0)) >>> 0, 0x9e3779b1) ^ (h >>> 15) ^ Math.imul(k >>> 0, 0x85ebca6b);
  return new Rng(h >>> 0);
}

/** Initialisers for a weight of shape (out, in, ...); fanIn = in · (kernel area). */
export type InitName = 'uniform' | 'kaiming-linear' | 'xavier' | 'normal';
export const INIT_NAMES: readonly InitName[] = ['uniform', 'kaiming-linear', 'xavier', 'normal'];

function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** The standard deviation of initWeight's distribution for this shape (uSF's scale c, family spec §2.1). */
export function initStd(shape: readonly number[], init: InitName = 'uniform'): number {
  const { fanIn, fanOut } = fans(shape);
  switch (init) {
    case 'uniform': return 1 / Math.sqrt(3 * fanIn);
    case 'kaiming-linear': case 'normal': return 1 / Math.sqrt(fanIn);
    case 'xavier': return Math.sqrt(2 / (fanIn + fanOut));
    default: throw new Error(`unknown initialiser '${init as string}': allowed are ${INIT_NAMES.join(', ')}`);
  }
}

/**
 * - uniform (default): U(±1/√fan_in), PyTorch's default for Linear/Conv weights (spec §2.4).
 * - kaiming-linear: U(±√3/√fan_in), kaiming_uniform with nonlinearity='linear' (the v1 code's Q init).
 * - xavier: U(±√(6/(fan_in+fan_out))).
 * - normal: N(0, (1/fan_in)) — std 1/√fan_in.
 */
export function initWeight(rng: Rng, shape: readonly number[], init: InitName = 'uniform'): Tensor {
  const { fanIn, fanOut } = fans(shape);
  switch (init) {
    case 'uniform': return uniformTensor(rng, shape, 1 / Math.sqrt(fanIn));
    case 'kaiming-linear': return uniformTensor(rng, shape, Math.sqrt(3) / Math.sqrt(fanIn));
    case 'xavier': return uniformTensor(rng, shape, Math.sqrt(6 / (fanIn + fanOut)));
    case 'normal': return normalTensor(rng, shape, 1 / Math.sqrt(fanIn));
    default: throw new Error(`unknown initialiser '${init as string}': allowed are ${INIT_NAMES.join(', ')}`);
  }
}
