// IDX file format (LeCun's MNIST distribution format):
//   bytes 0–1: 0x00 0x00; byte 2: data type (0x08 = unsigned byte, the only type allowed here);
//   byte 3: number of dimensions D; then D big-endian uint32 dimension sizes; then the data,
//   row-major. Images are magic 0x00000803 (N, rows, cols), labels 0x00000801 (N).
// Files ending in .gz (or starting with the gzip magic 1f 8b) are gunzipped transparently.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';

export const IDX_UBYTE = 0x08;
export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

export interface IdxArray {
  /** Dimension sizes from the header, e.g. [60000, 28, 28]. */
  dims: number[];
  /** The data bytes (length = product of dims). */
  data: Uint8Array;
}

export interface IdxReadOptions {
  /** Names the data set in "file not found" errors, e.g. 'MNIST' (default 'IDX'). */
  source?: string;
  /** Text added to "file not found" errors, e.g. how to install the package that provides the file. */
  missingHint?: string;
}

/** Reads a file's bytes, gunzipping when the name ends in .gz or the content starts with the gzip magic. */
export function readMaybeGzip(path: string, opts: IdxReadOptions = {}): Uint8Array {
  if (!existsSync(path)) {
    throw new Error(`${opts.source ?? 'IDX'} file not found: ${path}${opts.missingHint !== undefined ? ` (${opts.missingHint})` : ''}`);
  }
  const raw = readFileSync(path);
  const gz = path.endsWith('.gz') || (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b);
  if (!gz) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  try {
    const out = gunzipSync(raw);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new Error(`IDX file ${path}: gzip decompression failed (${(e as Error).message}); the file must be a complete gzip stream or an uncompressed IDX file`);
  }
}

/** Parses IDX bytes; `file` names the source in error messages. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) {
    throw new Error(`IDX file ${file}: truncated header: ${bytes.length} bytes found, at least 4 are required for the magic number`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const hex = `0x${magic.toString(16).padStart(8, '0')}`;
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(`IDX file ${file}: bad magic number ${hex}: the first two bytes must be zero (allowed magics: 0x00000801 labels, 0x00000803 images, or 0x000008DD for D dimensions)`);
  }
  if (bytes[2] !== IDX_UBYTE) {
    throw new Error(`IDX file ${file}: bad magic number ${hex}: data type byte 0x${bytes[2].toString(16).padStart(2, '0')} is not supported; only 0x08 (unsigned byte) is allowed`);
  }
  const ndims = bytes[3];
  if (ndims < 1) {
    throw new Error(`IDX file ${file}: bad magic number ${hex}: 0 dimensions; at least 1 is required`);
  }
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen) {
    throw new Error(`IDX file ${file}: truncated header: ${ndims} dimensions need ${headerLen} header bytes, found ${bytes.length}`);
  }
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerLen + count;
  if (bytes.length < expected) {
    throw new Error(`IDX file ${file}: truncated file: expected ${expected} bytes from the header (dims [${dims.join(', ')}]), found ${bytes.length}`);
  }
  if (bytes.length > expected) {
    throw new Error(`IDX file ${file}: ${bytes.length - expected} trailing bytes: expected exactly ${expected} bytes from the header (dims [${dims.join(', ')}]), found ${bytes.length}`);
  }
  return { dims, data: bytes.subarray(headerLen, expected) };
}

export function readIdx(path: string, opts: IdxReadOptions = {}): IdxArray {
  return parseIdx(readMaybeGzip(path, opts), path);
}

function expectDims(file: string, arr: IdxArray, want: number, what: string, magic: number): void {
  if (arr.dims.length !== want) {
    const got = 0x800 + arr.dims.length;
    throw new Error(`IDX file ${file}: bad magic number 0x${got.toString(16).padStart(8, '0')} for ${what}: ${arr.dims.length} dimensions found, ${what} files must have magic 0x${magic.toString(16).padStart(8, '0')} (${want} dimension${want > 1 ? 's' : ''})`);
  }
}

/** An image file: magic 0x00000803, dims (N, rows, cols). */
export function readIdxImages(path: string, opts: IdxReadOptions = {}): { n: number; rows: number; cols: number; data: Uint8Array } {
  const arr = readIdx(path, opts);
  expectDims(path, arr, 3, 'images', IDX_IMAGES_MAGIC);
  return { n: arr.dims[0], rows: arr.dims[1], cols: arr.dims[2], data: arr.data };
}

/** A label file: magic 0x00000801, dims (N); every label must be in 0..maxLabel (default 9). */
export function readIdxLabels(path: string, opts: IdxReadOptions & { maxLabel?: number } = {}): Uint8Array {
  const arr = readIdx(path, opts);
  expectDims(path, arr, 1, 'labels', IDX_LABELS_MAGIC);
  const maxLabel = opts.maxLabel ?? 9;
  for (let i = 0; i < arr.data.length; i++) {
    if (arr.data[i] > maxLabel) {
      throw new Error(`IDX file ${path}: label ${arr.data[i]} at index ${i} is outside the allowed range 0..${maxLabel}`);
    }
  }
  return arr.data;
}

/** Reads an image file and its label file and checks that the counts agree. */
export function readIdxPair(imagesPath: string, labelsPath: string, opts: IdxReadOptions & { maxLabel?: number } = {}):
  { n: number; rows: number; cols: number; images: Uint8Array; labels: Uint8Array } {
  const img = readIdxImages(imagesPath, opts);
  const labels = readIdxLabels(labelsPath, opts);
  if (labels.length !== img.n) {
    throw new Error(`IDX label/image count mismatch: ${labelsPath} has ${labels.length} labels but ${imagesPath} has ${img.n} images; the counts must be equal`);
  }
  return { n: img.n, rows: img.rows, cols: img.cols, images: img.data, labels };
}

/** Encodes unsigned bytes as IDX (used by tests and by tools that write small data sets). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`encodeIdx: dims [${dims.join(', ')}] hold ${count} values but ${data.length} were given`);
  if (dims.length < 1 || dims.length > 255) throw new Error(`encodeIdx: ${dims.length} dimensions; 1..255 are allowed`);
  const out = new Uint8Array(4 + 4 * dims.length + count);
  const view = new DataView(out.buffer);
  out[2] = IDX_UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Writes an IDX file, gzipped when the path ends in .gz. */
export function writeIdx(path: string, dims: readonly number[], data: Uint8Array): void {
  const bytes = encodeIdx(dims, data);
  writeFileSync(path, path.endsWith('.gz') ? gzipSync(bytes) : bytes);
}
