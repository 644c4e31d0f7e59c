// A minimal PNG encoder (8-bit grayscale or RGB, no interlace) and image montages for
// receptive-field pictures. PNG = signature + chunks (length, type, data, CRC-32 of type+data);
// IHDR, one IDAT holding the zlib stream of the filtered scanlines (filter 0 = None), IEND.
import { deflateSync } from 'node:zlib';

export const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let crcTable: Uint32Array | null = null;

/** CRC-32 (ISO 3309 / ITU-T V.42, polynomial 0xEDB88320 reflected), as PNG requires. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length, false);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length), false);
  return out;
}

/**
 * Encodes row-major 8-bit pixels as PNG. channels 1 = grayscale (colour type 0),
 * 3 = RGB interleaved (colour type 2).
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 = 1): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`encodePng: size ${width}×${height} is not allowed: width and height must be positive integers`);
  }
  if (channels !== 1 && channels !== 3) throw new Error(`encodePng: ${channels as number} channels is not allowed: use 1 (gray) or 3 (RGB)`);
  if (pixels.length !== width * height * channels) {
    throw new Error(`encodePng: ${pixels.length} bytes given but ${width}×${height}×${channels} = ${width * height * channels} are required`);
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width, false);
  v.setUint32(4, height, false);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : 2; // colour type
  ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0; // compression, filter, interlace
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let r = 0; r < height; r++) {
    raw[r * (stride + 1)] = 0; // filter type None
    raw.set(pixels.subarray(r * stride, (r + 1) * stride), r * (stride + 1) + 1);
  }
  const idat = deflateSync(raw, { level: 9 });
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
}

export interface GridOptions {
  /** Pixels between tiles (default 1). */
  pad?: number;
  /** 'each' (default): every tile scaled by its own min..max; 'global': one min..max; 'symmetric': each tile ±max|v| with 0 at mid-gray; 'none': values already in [0, 1]. */
  normalize?: 'each' | 'global' | 'symmetric' | 'none';
  /** Gray level 0..255 of the padding (default 255). */
  background?: number;
  /** Integer upscaling factor for tiny tiles (default 1). */
  scale?: number;
}

/** Lays out images (each w×h, row-major) in a grid of `cols` columns; returns 8-bit gray pixels. */
export function gridPixels(images: readonly Float64Array[], w: number, h: number, cols: number, opts: GridOptions = {}):
  { pixels: Uint8Array; width: number; height: number } {
  const pad = opts.pad ?? 1, scale = opts.scale ?? 1, mode = opts.normalize ?? 'each';
  if (images.length === 0) throw new Error('imageGrid: no images given: at least one is required');
  if (!Number.isInteger(cols) || cols < 1) throw new Error(`imageGrid: cols ${cols} is not allowed: it must be a positive integer`);
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`imageGrid: scale ${scale} is not allowed: it must be a positive integer`);
  images.forEach((im, i) => {
    if (im.length !== w * h) throw new Error(`imageGrid: image ${i} has ${im.length} values but w·h = ${w}·${h} = ${w * h} are required`);
  });
  const c = Math.min(cols, images.length), rows = Math.ceil(images.length / c);
  const tw = w * scale, th = h * scale;
  const width = c * tw + (c + 1) * pad, height = rows * th + (rows + 1) * pad;
  const pixels = new Uint8Array(width * height).fill(opts.background ?? 255);
  let gmin = Infinity, gmax = -Infinity;
  for (const im of images) for (const v of im) if (Number.isFinite(v)) { if (v < gmin) gmin = v; if (v > gmax) gmax = v; }
  images.forEach((im, idx) => {
    let lo = 0, hi = 1;
    if (mode === 'global') { lo = gmin; hi = gmax; }
    if (mode === 'each' || mode === 'symmetric') {
      lo = Infinity; hi = -Infinity;
      for (const v of im) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
      // An all-zero tile (e.g. a dead unit's field) stays at mid-gray, the colour of 0.
      if (mode === 'symmetric') { const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1; lo = -m; hi = m; }
    }
    const span = hi > lo ? hi - lo : 1;
    const ox = pad + (idx % c) * (tw + pad), oy = pad + Math.floor(idx / c) * (th + pad);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const v = im[Math.floor(y / scale) * w + Math.floor(x / scale)];
        const g = Number.isFinite(v) ? Math.round(255 * Math.min(1, Math.max(0, (v - lo) / span))) : 0;
        pixels[(oy + y) * width + ox + x] = g;
      }
    }
  });
  return { pixels, width, height };
}

/** A PNG montage of images (e.g. first-layer receptive fields). */
export function imageGrid(images: readonly Float64Array[], w: number, h: number, cols: number, opts: GridOptions = {}): Buffer {
  const g = gridPixels(images, w, h, cols, opts);
  return encodePng(g.pixels, g.width, g.height, 1);
}
