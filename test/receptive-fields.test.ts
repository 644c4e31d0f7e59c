// The receptive-field readout (spec §4.5) on hand-made cases, its summaries (radial-symmetry
// index, centre-surround sign) on images whose answer is known, and the montage PNG.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ActivationNode, Sequential } from '../reference/models/network.ts';
import { ConvNode } from '../reference/models/nodes.ts';
import { buildRetina, type RetinaConfig } from '../reference/models/retina.ts';
import { param } from '../reference/params.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import { tensor, type Tensor } from '../reference/tensor.ts';
import { PNG_SIGNATURE } from '../src/report/png.ts';
import { centreSurround, radialSymmetryIndex, receptiveFieldMontage, receptiveFields } from '../src/receptive-fields.ts';
import { expectClose } from './helpers/close.ts';

/** One conv layer (named retina2, the readout's default) + ReLU on (C, H, W) images.   W: (Cout, C, k, k)  b: (Cout) */
function singleConv(W: Tensor, b: Tensor, H: number, Wd: number): Sequential {
  const [, C, k] = W.shape;
  const conv = new ConvNode('retina2', param('retina2.W', W), param('retina2.b', b), { stride: 1, padding: (k - 1) / 2 }, [C, H, Wd], { isOutput: false, needsInputGrad: false });
  return new Sequential([conv, new ActivationNode('retina2.act', 'relu')], [C, H, Wd], W.shape[0]);
}

/**
 * ∂a_j(cy, cx)/∂x for a conv a = W ⋆ x + b (cross-correlation, padding p = (k−1)/2): the
 * kernel W_j laid on the image with its centre on (cy, cx), not flipped, cut at the borders.
 */
function placedKernel(W: Tensor, j: number, H: number, Wd: number): Float64Array {
  const [, C, k] = W.shape, p = (k - 1) / 2, cy = Math.floor(H / 2), cx = Math.floor(Wd / 2);
  const out = new Float64Array(C * H * Wd);
  for (let c = 0; c < C; c++) for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) {
    const y = cy + u - p, x = cx + v - p;
    if (y >= 0 && y < H && x >= 0 && x < Wd) out[(c * H + y) * Wd + x] = W.data[((j * C + c) * k + u) * k + v];
  }
  return out;
}

const convCase = fc.record({
  C: fc.integer({ min: 1, max: 2 }), Cout: fc.integer({ min: 1, max: 3 }), k: fc.constantFrom(1, 3, 5),
  H: fc.integer({ min: 3, max: 8 }), W: fc.integer({ min: 3, max: 8 }), seed: fc.nat(1e6),
  steps: fc.integer({ min: 1, max: 3 }), lr: fc.double({ min: 0.1, max: 2, noNaN: true }),
});

describe('receptiveFields on one conv layer', () => {
  it('from zero, `steps` ascent steps give steps·lr times the kernel centred on the centre pixel; z-scored', () => {
    fc.assert(fc.property(convCase, ({ C, Cout, k, H, W, seed, steps, lr }) => {
      const rng = new Rng(seed);
      const K = normalTensor(rng, [Cout, C, k, k], 1);
      const bias = tensor([Cout], new Float64Array(Cout).fill(0.5)); // > 0: every unit is on at the zero image
      const rfs = receptiveFields(singleConv(K, bias, H, W), { steps, lr });
      expect(rfs.map((r) => r.channel)).toEqual([...Array(Cout).keys()]);
      for (const rf of rfs) {
        const expected = placedKernel(K, rf.channel, H, W).map((v) => steps * lr * v);
        expectClose(`raw RF ${rf.channel}`, rf.raw, expected, { atol: 1e-12, rtol: 1e-12 });
        expect(rf.dead).toBe(false);
        const mean = rf.raw.reduce((a, b) => a + b, 0) / rf.raw.length;
        const std = Math.sqrt(rf.raw.reduce((a, b) => a + (b - mean) ** 2, 0) / rf.raw.length);
        expectClose(`z-scored RF ${rf.channel}`, rf.image, rf.raw.map((v) => (v - mean) / std), { atol: 1e-12, rtol: 1e-12 });
      }
    }), { numRuns: 40 });
  });

  it('flags a unit that is off at the zero image as dead (zeros, not NaN); the pre-activation still has its RF', () => {
    const K = normalTensor(new Rng(3), [2, 1, 3, 3], 1);
    const model = singleConv(K, tensor([2], [-0.1, 0.2]), 7, 7);
    const [off, on] = receptiveFields(model);
    expect(off.dead).toBe(true);
    expect(off.image).toEqual(new Float64Array(49));
    expect(off.raw).toEqual(new Float64Array(49));
    expect([off.radialSymmetry, off.centreSurround]).toEqual([null, null]);
    expect(on.dead).toBe(false);
    expect(on.image.every(Number.isFinite)).toBe(true);
    const pre = receptiveFields(model, { at: 'pre', steps: 1 });
    expect(pre[0].dead).toBe(false);
    expectClose('pre-activation RF', pre[0].raw, placedKernel(K, 0, 7, 7));
  });

  it('rejects bad options with a clear message', () => {
    const model = singleConv(normalTensor(new Rng(1), [1, 1, 3, 3], 1), tensor([1], [1]), 5, 5);
    expect(() => receptiveFields(model, { layer: 'vvs9' })).toThrow("receptive fields: no conv layer named 'vvs9': this model's conv layers are retina2");
    expect(() => receptiveFields(model, { steps: 0 })).toThrow('receptive fields: steps 0 is not allowed: it must be a positive integer');
    expect(() => receptiveFields(model, { lr: -1 })).toThrow('receptive fields: lr -1 is not allowed: it must be a finite number > 0');
    expect(() => receptiveFields(model, { at: 'mid' as 'pre' })).toThrow("receptive fields: at 'mid' is not allowed: use 'post' or 'pre'");
    const small = singleConv(normalTensor(new Rng(1), [1, 1, 3, 3], 1), tensor([1], [1]), 2, 5);
    expect(() => receptiveFields(small)).toThrow('receptive fields: the input images are 2×5; the readout needs at least 3×3');
  });
});

describe('receptiveFields on the Retina–VVS model', () => {
  const config: RetinaConfig = { inputShape: [1, 11, 11], channels: [3, 4, 3], kernel: 3, fc: 4, outputSize: 3, activation: 'tanh', init: 'uniform' };

  it('reads out every retina-output channel; each RF lies within the two retina convs’ 5×5 field', () => {
    const model = buildRetina(config, new Rng(5));
    for (const p of model.params()) if (p.name.endsWith('.b')) p.value.data.fill(0.1);
    const rfs = receptiveFields(model);
    expect(rfs).toHaveLength(4);
    for (const rf of rfs) {
      expect(rf.dead).toBe(false);
      for (let y = 0; y < 11; y++) for (let x = 0; x < 11; x++) {
        if (Math.max(Math.abs(y - 5), Math.abs(x - 5)) > 2) expect(rf.raw[y * 11 + x]).toBe(0);
      }
      expect(rf.radialSymmetry).toBeGreaterThanOrEqual(0);
      expect(rf.radialSymmetry).toBeLessThanOrEqual(1);
    }
  });

  it("uses exact backprop whatever the rule's feedback, and leaves parameters and gradients alone", () => {
    const before = receptiveFields(buildRetina(config, new Rng(5)));
    const model = buildRetina(config, new Rng(5));
    createRule('ldfa', { ldfa: { rank: 1, mode: 'fixed', init: 'random' } }).attach(model, new Rng(9));
    for (const p of model.params()) p.grad.data.fill(7);
    const values = model.params().map((p) => Float64Array.from(p.value.data));
    const after = receptiveFields(model);
    after.forEach((rf, j) => expectClose(`RF ${j}`, rf.raw, before[j].raw));
    model.params().forEach((p, i) => {
      expect(p.value.data).toEqual(values[i]);
      expect(p.grad.data.every((v) => v === 7)).toBe(true);
    });
  });

  it('reads out any conv layer, also one with no activation node after it', () => {
    const model = buildRetina({ ...config, activation: 'identity' }, new Rng(2));
    expect(receptiveFields(model, { layer: 'vvs1' })).toHaveLength(3);
    expect(() => receptiveFields(model, { layer: 'fc' })).toThrow("no conv layer named 'fc': this model's conv layers are retina1, retina2, vvs1");
  });
});

/** An h×w image from f(dy, dx), offsets from the centre pixel (⌊h/2⌋, ⌊w/2⌋). */
function image(h: number, w: number, f: (dy: number, dx: number) => number): Float64Array {
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = f(y - Math.floor(h / 2), x - Math.floor(w / 2));
  return out;
}

const dog = (dy: number, dx: number) => Math.exp(-(dy * dy + dx * dx) / 4) - 0.5 * Math.exp(-(dy * dy + dx * dx) / 16);

describe('radialSymmetryIndex', () => {
  it('is 1 for a difference of Gaussians around the centre and 0 for an oriented edge, odd Gabor or ramp through it', () => {
    expect(radialSymmetryIndex(image(28, 28, dog), 28, 28)).toBeCloseTo(1, 12);
    expect(radialSymmetryIndex(image(28, 28, (dy, dx) => Math.tanh(dx + 2 * dy)), 28, 28)).toBeCloseTo(0, 12);
    expect(radialSymmetryIndex(image(28, 28, (dy, dx) => Math.sin(dx) * Math.exp(-(dx * dx + dy * dy) / 16)), 28, 28)).toBeCloseTo(0, 12);
    expect(radialSymmetryIndex(image(28, 28, (_, dx) => dx), 28, 28)).toBeCloseTo(0, 12);
  });

  it('lies strictly between for even oriented patterns and off-centre blobs', () => {
    for (const f of [(dy: number) => Math.exp(-dy * dy), (dy: number, dx: number) => Math.exp(-((dy - 3) ** 2 + dx * dx) / 4)]) {
      const index = radialSymmetryIndex(image(28, 28, f), 28, 28)!;
      expect(index).toBeGreaterThan(0.1);
      expect(index).toBeLessThan(0.5);
    }
  });

  it('lies in [0, 1], is 1 for any function of the distance, and ignores I → aI + b', () => {
    fc.assert(fc.property(fc.integer({ min: 3, max: 12 }), fc.integer({ min: 3, max: 12 }), fc.nat(1e6), fc.double({ min: 0.1, max: 10, noNaN: true }), (h, w, seed, a) => {
      const rng = new Rng(seed);
      const profile = new Map<number, number>();
      const radial = image(h, w, (dy, dx) => {
        const d2 = dy * dy + dx * dx;
        if (!profile.has(d2)) profile.set(d2, rng.normal());
        return profile.get(d2)!;
      });
      expect(radialSymmetryIndex(radial, h, w)).toBeCloseTo(1, 10);
      const noise = normalTensor(rng, [h * w], 1).data;
      const index = radialSymmetryIndex(noise, h, w)!;
      expect(index).toBeGreaterThanOrEqual(0);
      expect(index).toBeLessThanOrEqual(1 + 1e-12);
      expect(radialSymmetryIndex(noise.map((v) => -a * v + 3), h, w)).toBeCloseTo(index, 10);
    }), { numRuns: 50 });
  });

  it('is null for a constant image and throws on a wrong size', () => {
    expect(radialSymmetryIndex(new Float64Array(25).fill(2), 5, 5)).toBeNull();
    expect(() => radialSymmetryIndex(new Float64Array(24), 5, 5)).toThrow('radialSymmetryIndex: 24 values given but h·w = 5·5 = 25 are required');
  });
});

describe('centreSurround', () => {
  const radii = { centreRadius: 2, surroundRadius: 8 };
  it('finds the opposite signs of an ON- or OFF-centre difference of Gaussians, and none in a blob', () => {
    const on = centreSurround(image(28, 28, dog), 28, 28, radii);
    expect(on.centre).toBeGreaterThan(0);
    expect(on.surround).toBeLessThan(0);
    expect(on.opposite).toBe(true);
    const off = centreSurround(image(28, 28, (dy, dx) => -dog(dy, dx)), 28, 28, radii);
    expect([Math.sign(off.centre), Math.sign(off.surround), off.opposite]).toEqual([-1, 1, true]);
    expect(centreSurround(image(28, 28, (dy, dx) => Math.exp(-(dy * dy + dx * dx) / 8)), 28, 28, radii).opposite).toBe(false);
  });

  it('averages exactly the pixels of the centre disc and of the ring', () => {
    const img = image(5, 5, (dy, dx) => 10 * dy + dx); // centre (2, 2)
    const cs = centreSurround(img, 5, 5, { centreRadius: 0, surroundRadius: 1 });
    expect(cs).toEqual({ centre: 0, surround: 0, opposite: false }); // ring: (±1, 0), (0, ±1)
    expect(centreSurround(image(5, 5, (dy, dx) => (dy === 0 && dx === 0 ? 4 : -1)), 5, 5, { centreRadius: 1, surroundRadius: 2 }))
      .toEqual({ centre: (4 - 4) / 5, surround: -1, opposite: false });
  });

  it('rejects radii that do not make a ring', () => {
    expect(() => centreSurround(new Float64Array(9), 3, 3, { centreRadius: 2, surroundRadius: 1 })).toThrow('centreSurround: radii 2, 1 are not allowed');
    expect(() => centreSurround(new Float64Array(9), 3, 3, { centreRadius: 2, surroundRadius: 2.5 })).toThrow('centreSurround: the ring 2 < d ≤ 2.5 holds no pixel of the 3×3 image');
  });
});

describe('receptiveFieldMontage', () => {
  const ihdrSize = (png: Buffer) => [png.readUInt32BE(16), png.readUInt32BE(20)];

  it('writes a PNG with one tile per RF (gray: ⌈√n⌉ columns) and per input channel (colour: one row per RF)', () => {
    const K = normalTensor(new Rng(4), [3, 1, 3, 3], 1);
    const gray = receptiveFieldMontage(receptiveFields(singleConv(K, tensor([3], [1, 1, -1]), 5, 6)), [1, 5, 6], { scale: 2 });
    expect([...gray.subarray(0, 8)]).toEqual([...PNG_SIGNATURE]);
    expect(ihdrSize(gray)).toEqual([2 * 6 * 2 + 3, 2 * 5 * 2 + 3]); // 2 columns, 2 rows, pad 1
    const K3 = normalTensor(new Rng(4), [2, 3, 3, 3], 1);
    const colour = receptiveFieldMontage(receptiveFields(singleConv(K3, tensor([2], [1, 1]), 4, 4)), [3, 4, 4], { pad: 0 });
    expect(ihdrSize(colour)).toEqual([3 * 4, 2 * 4]);
  });

  it('crop shows the centre window: the tile holds exactly the pixels around the centre', () => {
    // A 7×7 image whose pixel (y, x) is 10y + x; the centre 3×3 window is rows/columns 2..4.
    const image = Float64Array.from({ length: 49 }, (_, i) => 10 * Math.floor(i / 7) + (i % 7));
    const png = receptiveFieldMontage([{ image }], [1, 7, 7], { crop: 3, pad: 0, normalize: 'none' });
    expect(ihdrSize(png)).toEqual([3, 3]);
    const full = receptiveFieldMontage([{ image: Float64Array.from({ length: 9 }, (_, i) => image[(2 + Math.floor(i / 3)) * 7 + 2 + (i % 3)]) }], [1, 3, 3], { pad: 0, normalize: 'none' });
    expect(png.equals(full)).toBe(true);
    expect(() => receptiveFieldMontage([{ image }], [1, 7, 7], { crop: 0 })).toThrow(/crop 0 is not allowed/);
  });
});
