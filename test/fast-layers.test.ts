// The float32 path's layer functions (src/fast/layers.ts), each recomputed by the float64
// reference function of the same signature: one suite over both sets (the native addon's C
// loops, and the reference loops on float32 storage), random shapes and values. Then the step
// arena (buffers handed out again, zeroed, in a training pass only), the fallback to the
// reference for float64 operands, and several ViT and CNN training steps on the float32 path
// against the float64 path, which exercises the arena across steps.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withBackend } from '../reference/backend.ts';
import { throughKernel, throughMatrix } from '../reference/feedback.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { activationBackward, activationForward } from '../reference/layers/activation.ts';
import { batchNorm1dBackward, batchNorm1dForward, batchNorm2dBackward, batchNorm2dForward, batchNormRunningInit } from '../reference/layers/batchnorm.ts';
import { referenceLayers } from '../reference/layers/functions.ts';
import { maxPool2dBackward, maxPool2dForward } from '../reference/layers/pool.ts';
import { Rng, normalTensor, uniformTensor } from '../reference/rng.ts';
import { clone, tensor, type Tensor } from '../reference/tensor.ts';
import { createNativeBackend, layerKernelsOf } from '../src/backends/native.ts';
import { float32Tensor, isFloat32 } from '../src/fast/float32.ts';
import { float32ReferenceLayers, nativeLayers, type Float32Layers } from '../src/fast/layers.ts';
import { createTrainer } from '../src/train.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/config.ts';
import { nativeBlasOrSkip } from './helpers/backends.ts';
import { compareArrays, type Tolerance } from './helpers/close.ts';

const native = nativeBlasOrSkip('fast-layers.test', 'the native layer set');

const SETS: { name: string; make: () => Float32Layers; skip: boolean }[] = [
  { name: 'native C kernels', make: () => nativeLayers(native!.kernels), skip: native === null },
  { name: 'reference loops on float32 storage', make: float32ReferenceLayers, skip: false },
];
/** float32 storage rounds each input (u ≈ 6e-8) and sums of up to a few hundred terms. */
const TOL: Tolerance = { atol: 2e-5, rtol: 2e-4 };

/** A float32 copy of a float64 tensor. */
const f32 = (t: Tensor) => float32Tensor(t.shape, t.data);
/** The reference value of t rounded to float32 (both sides then start from the same inputs). */
const rounded = (t: Tensor) => { const r = clone(t); r.data.set(Float32Array.from(t.data)); return r; };

function expectMatch(name: string, got: Tensor | ArrayLike<number>, want: Tensor | ArrayLike<number>, tol = TOL): void {
  const g = 'data' in got ? got.data : got, w = 'data' in want ? want.data : want;
  const c = compareArrays(name, g, w, tol);
  if (!c.ok) expect.fail(c.message);
}

const shape2d = fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 17 }));
const shape4d = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 9 }), fc.integer({ min: 2, max: 9 }));

describe.each(SETS)('float32 layer set: $name', ({ make, skip }) => {
  const test = skip ? it.skip : it;

  test('activation relu and tanh, forward and backward, against activation.ts', () => {
    fc.assert(fc.property(shape2d, fc.constantFrom('relu' as const, 'tanh' as const), fc.nat(1e6), ([n, m], f, seed) => {
      const L = make(), rng = new Rng(seed);
      const a = rounded(normalTensor(rng, [n, m], 2)), dh = rounded(normalTensor(rng, [n, m], 1));
      const h = tensor([n, m]), da = tensor([n, m]);
      activationForward(h, a, f);
      activationBackward(da, dh, a, f);
      const h32 = float32Tensor([n, m]), da32 = float32Tensor([n, m]);
      L.activationForward(h32, f32(a), f);
      L.activationBackward(da32, f32(dh), f32(a), f);
      expectMatch(`${f} forward`, h32, h);
      expectMatch(`${f} backward`, da32, da);
    }));
  });

  test('gelu forward and backward against gelu.ts, over |x| up to 12 (the tails where tanh → ±1)', () => {
    fc.assert(fc.property(shape2d, fc.nat(1e6), ([n, m], seed) => {
      const L = make(), rng = new Rng(seed);
      const x = rounded(uniformTensor(rng, [n, m], 12)), dy = rounded(normalTensor(rng, [n, m], 1));
      const y = tensor([n, m]), dx = tensor([n, m]);
      referenceLayers.geluForward(y, x);
      referenceLayers.geluBackward(dx, dy, x);
      const y32 = float32Tensor([n, m]), dx32 = float32Tensor([n, m]);
      L.geluForward(y32, f32(x));
      L.geluBackward(dx32, f32(dy), f32(x));
      expectMatch('gelu forward', y32, y);
      expectMatch('gelu backward', dx32, dx);
    }));
  });

  test('layer norm forward (output and cache) and backward (dx, dγ, dβ; dx null) against layernorm.ts', () => {
    fc.assert(fc.property(shape2d, fc.boolean(), fc.nat(1e6), ([R, C], withDx, seed) => {
      const L = make(), rng = new Rng(seed);
      const x = rounded(normalTensor(rng, [R, C], 3)), dy = rounded(normalTensor(rng, [R, C], 1));
      const gamma = rounded(normalTensor(rng, [C], 1)), beta = rounded(normalTensor(rng, [C], 1));
      const y = tensor([R, C]), dx = tensor([R, C]), dg = tensor([C]), db = tensor([C]);
      const cache = referenceLayers.layerNormForward(y, x, gamma, beta);
      referenceLayers.layerNormBackward(withDx ? dx : null, dg, db, dy, x, gamma, cache);
      const y32 = float32Tensor([R, C]), dx32 = float32Tensor([R, C]), dg32 = float32Tensor([C]).data.fill(NaN), db32 = float32Tensor([C]);
      const dg32t = float32Tensor([C], dg32);
      const c32 = L.layerNormForward(y32, f32(x), f32(gamma), f32(beta));
      L.layerNormBackward(withDx ? dx32 : null, dg32t, db32, f32(dy), f32(x), f32(gamma), c32);
      expectMatch('layerNorm y', y32, y);
      expectMatch('layerNorm mean', c32.mean, cache.mean);
      expectMatch('layerNorm rstd', c32.rstd, cache.rstd);
      if (withDx) expectMatch('layerNorm dx', dx32, dx);
      expectMatch('layerNorm dgamma', dg32t, dg);
      expectMatch('layerNorm dbeta', db32, db);
    }));
  });

  test('batch norm 1-d and 2-d, training and evaluation: output, running statistics, dx, dγ, dβ against batchnorm.ts', () => {
    fc.assert(fc.property(shape4d, fc.boolean(), fc.boolean(), fc.nat(1e6), ([N, C, H, W], spatial, training, seed) => {
      const L = make(), rng = new Rng(seed);
      const shape = spatial ? [N + 1, C, H, W] : [N + 1, C * H];
      const Cn = shape[1];
      const x = rounded(normalTensor(rng, shape, 2)), dy = rounded(normalTensor(rng, shape, 1));
      const gamma = rounded(normalTensor(rng, [Cn], 1)), beta = rounded(normalTensor(rng, [Cn], 1));
      const running = batchNormRunningInit(Cn), running32 = batchNormRunningInit(Cn);
      running.mean.data.fill(0.3); running32.mean.data.fill(0.3);
      const [fwd, bwd, fwd32, bwd32] = spatial
        ? [batchNorm2dForward, batchNorm2dBackward, L.batchNorm2dForward, L.batchNorm2dBackward]
        : [batchNorm1dForward, batchNorm1dBackward, L.batchNorm1dForward, L.batchNorm1dBackward];
      const y = tensor(shape), dx = tensor(shape), dg = tensor([Cn]), db = tensor([Cn]);
      const cache = fwd(y, x, gamma, beta, running, { training });
      bwd(dx, dg, db, dy, x, gamma, cache);
      const y32 = float32Tensor(shape), dx32 = float32Tensor(shape), dg32 = float32Tensor([Cn]), db32 = float32Tensor([Cn]);
      const cache32 = fwd32(y32, f32(x), f32(gamma), f32(beta), running32, { training });
      bwd32(dx32, dg32, db32, f32(dy), f32(x), f32(gamma), cache32);
      expectMatch('batchnorm y', y32, y);
      expectMatch('batchnorm running mean', running32.mean, running.mean);
      expectMatch('batchnorm running variance', running32.variance, running.variance);
      expectMatch('batchnorm dx', dx32, dx);
      expectMatch('batchnorm dgamma', dg32, dg);
      expectMatch('batchnorm dbeta', db32, db);
    }));
  });

  test('max pool with winners: the forward of pool.ts, and the winners route dy as its backward does (ties and NaN included)', () => {
    fc.assert(fc.property(shape4d, fc.constantFrom(2, 3), fc.constantFrom(1, 2, 3), fc.boolean(), fc.nat(1e6), ([N, C, H, W], k, stride, ties, seed) => {
      fc.pre(H >= k && W >= k);
      const L = make(), rng = new Rng(seed);
      const x = rounded(normalTensor(rng, [N, C, H, W], 1));
      if (ties) for (let i = 0; i < x.size; i++) x.data[i] = Math.round(x.data[i]); // many equal maxima: the first must win
      if (seed % 7 === 0) x.data[seed % x.size] = NaN;
      const spec = { k, stride };
      const Ho = Math.floor((H - k) / stride) + 1, Wo = Math.floor((W - k) / stride) + 1;
      const y = tensor([N, C, Ho, Wo]), dy = normalTensor(rng, [N, C, Ho, Wo], 1), dx = tensor([N, C, H, W]);
      maxPool2dForward(y, x, spec);
      maxPool2dBackward(dx, dy, x, spec);
      const y32 = float32Tensor([N, C, Ho, Wo]), winners = new Int32Array(y.size);
      L.maxPoolWithWinners(y32, winners, f32(x), spec);
      const routed = new Float64Array(x.size);
      winners.forEach((w, o) => { routed[w] += dy.data[o]; });
      expect(Array.from(y32.data, (v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual(Array.from(y.data, (v) => (Number.isNaN(v) ? 'NaN' : Math.fround(v))));
      expectMatch('maxPool dx through the winners', routed, dx, { atol: 1e-12, rtol: 1e-12 });
    }));
  });

  test('attention forward (output, probabilities) and backward (dq, dk, dv) against attention.ts', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }), fc.constantFrom(1, 2, 4), fc.integer({ min: 1, max: 4 }), fc.nat(1e6), (B, T, H, dh, seed) => {
      const L = make(), rng = new Rng(seed), A = H * dh;
      const [q, k, v, dout] = [0, 1, 2, 3].map(() => rounded(normalTensor(rng, [B, T, A], 1.5)));
      const out = tensor([B, T, A]), dq = tensor([B, T, A]), dk = tensor([B, T, A]), dv = tensor([B, T, A]);
      const cache = referenceLayers.attentionForward(out, q, k, v, H);
      referenceLayers.attentionBackward(dq, dk, dv, dout, q, k, v, cache);
      const [out32, dq32, dk32, dv32] = [0, 1, 2, 3].map(() => float32Tensor([B, T, A]));
      const cache32 = L.attentionForward(out32, f32(q), f32(k), f32(v), H);
      L.attentionBackward(dq32, dk32, dv32, f32(dout), f32(q), f32(k), f32(v), cache32);
      expectMatch('attention out', out32, out);
      expectMatch('attention probabilities', cache32.probs, cache.probs);
      expectMatch('attention dq', dq32, dq);
      expectMatch('attention dk', dk32, dk);
      expectMatch('attention dv', dv32, dv);
    }));
  });

  test('linear and conv layers with bias: y, dW, db and dx (BP feedback) against linear.ts and conv2d.ts', () => {
    const backend = native && make().kind === 'native C kernels' ? createNativeBackend() : referenceBackend;
    fc.assert(fc.property(shape4d, fc.integer({ min: 1, max: 6 }), fc.constantFrom(1, 3), fc.nat(1e6), ([N, Cin, H, W], Cout, k, seed) => {
      const L = make(), rng = new Rng(seed);
      // linear: (N, Cin·H) → (N, Cout)
      const x = rounded(normalTensor(rng, [N, Cin * H], 1)), Wl = rounded(normalTensor(rng, [Cout, Cin * H], 1)), b = rounded(normalTensor(rng, [Cout], 1));
      const dy = rounded(normalTensor(rng, [N, Cout], 1));
      const y = tensor([N, Cout]), dW = tensor([Cout, Cin * H]), db = tensor([Cout]), dx = tensor([N, Cin * H]);
      referenceLayers.linearForward(y, x, Wl, b);
      referenceLayers.linearBackward(dx, dW, db, dy, x, throughMatrix(Wl));
      const [x32, W32, b32] = [x, Wl, b].map(f32);
      const y32 = float32Tensor([N, Cout]), dW32 = float32Tensor([Cout, Cin * H]), db32 = float32Tensor([Cout]), dx32 = float32Tensor([N, Cin * H]);
      withBackend(backend, () => {
        L.linearForward(y32, x32, W32, b32);
        L.linearBackward(dx32, dW32, db32, f32(dy), x32, throughMatrix(W32));
      });
      for (const [name, got, want] of [['y', y32, y], ['dW', dW32, dW], ['db', db32, db], ['dx', dx32, dx]] as const) expectMatch(`linear ${name}`, got, want);
      // conv: (N, Cin, H, W) → (N, Cout, H, W) with 'same' padding
      const spec = { stride: 1, padding: (k - 1) / 2 };
      const xc = rounded(normalTensor(rng, [N, Cin, H, W], 1)), K = rounded(normalTensor(rng, [Cout, Cin, k, k], 1)), bc = rounded(normalTensor(rng, [Cout], 1));
      const dyc = rounded(normalTensor(rng, [N, Cout, H, W], 1));
      const yc = tensor([N, Cout, H, W]), dK = tensor([Cout, Cin, k, k]), dbc = tensor([Cout]), dxc = tensor([N, Cin, H, W]);
      referenceLayers.conv2dForward(yc, xc, K, bc, spec);
      referenceLayers.conv2dBackward(dxc, dK, dbc, dyc, xc, spec, throughKernel(K, spec));
      const [xc32, K32, bc32] = [xc, K, bc].map(f32);
      const yc32 = float32Tensor(yc.shape), dK32 = float32Tensor(dK.shape), dbc32 = float32Tensor([Cout]), dxc32 = float32Tensor(xc.shape);
      withBackend(backend, () => {
        L.conv2dForward(yc32, xc32, K32, bc32, spec);
        L.conv2dBackward(dxc32, dK32, dbc32, f32(dyc), xc32, spec, throughKernel(K32, spec));
      });
      for (const [name, got, want] of [['y', yc32, yc], ['dW', dK32, dK], ['db', dbc32, dbc], ['dx', dxc32, dxc]] as const) expectMatch(`conv ${name}`, got, want, { atol: 1e-4, rtol: 2e-4 });
    }), { numRuns: 30 });
  });

  test('float64 operands fall back to the reference function itself (bit for bit), and shape errors name the tensor', () => {
    const L = make(), rng = new Rng(5);
    const x = normalTensor(rng, [3, 8], 1), gamma = normalTensor(rng, [8], 1), beta = normalTensor(rng, [8], 1);
    const y = tensor([3, 8]), want = tensor([3, 8]);
    L.layerNormForward(y, x, gamma, beta);
    referenceLayers.layerNormForward(want, x, gamma, beta);
    expect(Array.from(y.data)).toEqual(Array.from(want.data));
    L.geluForward(y, x);
    referenceLayers.geluForward(want, x);
    expect(Array.from(y.data)).toEqual(Array.from(want.data));
    expect(() => L.geluForward(float32Tensor([3, 7]), f32(x))).toThrow('shape mismatch: gelu y is [3, 7] but [3, 8] is required');
    expect(() => L.layerNormForward(float32Tensor([3, 8]), f32(x), float32Tensor([7]), f32(beta))).toThrow('shape mismatch: layerNorm gamma is [7] but [8] is required');
    expect(() => L.attentionForward(float32Tensor([1, 3, 8]), float32Tensor([1, 3, 8]), float32Tensor([1, 3, 8]), float32Tensor([1, 3, 8]), 3)).toThrow('3 heads is not allowed for width D = 8');
  });

  test('the step arena: a training pass gets the last training pass\'s buffers back, zeroed, in order; other passes get new ones', () => {
    const L = make();
    L.startPass(true);
    const a = L.tensor([2, 3]), b = L.tensor([4]);
    a.data.fill(7); b.data.fill(8);
    expect(isFloat32(a)).toBe(true);
    L.startPass(false);
    const evalTensor = L.tensor([2, 3]);
    expect(evalTensor.data).not.toBe(a.data);
    L.startPass(true);
    const a2 = L.tensor([2, 3]), b2 = L.tensor([4]), extra = L.tensor([4]);
    expect(a2.data).toBe(a.data);
    expect(b2.data).toBe(b.data);
    expect(extra.data).not.toBe(b.data);
    expect([...a2.data, ...b2.data].every((v) => v === 0)).toBe(true);
    L.startPass(true);
    expect(L.tensor([3, 2]).data).toBe(a.data); // same size, another shape: still reused
    expect(L.tensor([5]).data).not.toBe(b.data); // another size: a new buffer
  });
});

describe('which layer set a trainer gets', () => {
  it('the native backend, and a renamed copy of it (the bench\'s and the registry\'s `auto`), carry the C kernels; other backends none', (ctx) => {
    if (native === null) return ctx.skip('native backend unavailable (reason logged above)');
    const be = createNativeBackend();
    expect(layerKernelsOf(be)).not.toBeNull();
    expect(layerKernelsOf({ ...be, name: 'auto' })).not.toBeNull();
    expect(layerKernelsOf(referenceBackend)).toBeNull();
  });
});

describe('several training steps on the float32 path against the float64 path (the arena across steps)', () => {
  // SGD, not Adam: Adam turns float32 rounding in a gradient that is 0 in exact arithmetic (the
  // key bias, see backends-step.test.ts) into lr-sized steps. Fixed low-rank feedback, not the
  // normative rule: its feedback learning amplifies float32 rounding over steps (measured: after
  // 8 steps the float64 path on the native backend differs from the reference by 7e-4, the
  // float32 path by 6e-4), which says nothing about the path; one normative step is checked in
  // backends-step.test.ts.
  const cases: [string, Partial<TrainConfig>][] = [
    ['vit, ldfa fixed r=2', { arch: 'vit', patch: 4, dim: 8, depth: 2, heads: 2, mlpRatio: 2, rule: 'ldfa', feedback: 'fixed', rank: 2 }],
    ['vit, bp, separate q, k, v', { arch: 'vit', patch: 4, dim: 8, depth: 1, heads: 2, mlpRatio: 2, fusedQkv: false, rule: 'bp' }],
    ['cnn with batch norm, fa', { arch: 'cnn', hidden: [3, 4], kernel: 3, batchNorm: true, rule: 'fa' }],
  ];
  const backends = [
    ...(native ? [{ name: 'native', be: createNativeBackend() }] : []),
  ];
  it.for(cases)('%s: 6 steps, then an evaluation pass, then 2 more steps, every parameter within float32 tolerance', ([, arch], ctx) => {
    if (backends.length === 0) return ctx.skip('native backend unavailable (reason logged above)');
    const config: TrainConfig = { ...DEFAULT_CONFIG, ...arch, batch: 5, lr: 0.05, optimizer: 'sgd', seed: 3 } as TrainConfig;
    const input = [1, 8, 8], rng = new Rng(2);
    const batches = Array.from({ length: 8 }, () => ({ x: normalTensor(rng, [5, ...input], 1), y: new Int32Array(5).map(() => rng.int(4)) }));
    const run = (float32Path: boolean) => withBackend(float32Path ? backends[0].be : referenceBackend, () => {
      const trainer = createTrainer({ ...config, backend: float32Path ? 'native' : 'reference' }, input, 4);
      const losses = batches.slice(0, 6).map((b) => trainer.step(b.x, b.y));
      const evalData = { name: 'eval', x: Float64Array.from(batches[0].x.data), y: batches[0].y, n: 5, shape: input, classes: 4 };
      const accuracy = trainer.evaluate(evalData); // a pass outside the training steps, between two of them
      losses.push(...batches.slice(6).map((b) => trainer.step(b.x, b.y)));
      return { trainer, losses, accuracy };
    });
    const fast = run(true), ref = run(false);
    expect(fast.trainer.path).toBe('float32');
    expectMatch('losses', fast.losses, ref.losses, { atol: 1e-4, rtol: 1e-3 });
    expect(fast.accuracy).toBe(ref.accuracy);
    const refParams = new Map(ref.trainer.model.params().map((p) => [p.name, p.value]));
    for (const p of fast.trainer.model.params()) {
      const want = refParams.get(p.name)!;
      const scale = Math.max(...Array.from(want.data, Math.abs), 1e-3);
      expectMatch(p.name, p.value, want, { atol: 2e-4 * scale, rtol: 1e-3 });
    }
  });
});
