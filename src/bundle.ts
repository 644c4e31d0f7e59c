// Tensor bundles: one file holding named float64 tensors and a JSON header. Used for
// checkpoints and golden fixtures. Layout (all little-endian):
//
//   bytes 0..7    magic "LDFABNDL"
//   bytes 8..11   uint32 format version (BUNDLE_VERSION)
//   bytes 12..15  uint32 header length H in bytes
//   bytes 16..    H bytes of UTF-8 JSON: { meta: {...}, tensors: [{ name, shape, offset }] }
//                 offset = index (in float64 elements) into the data section
//   then          zero padding to a multiple of 8 bytes, then the data section: float64 values
//
// In Python:  h = json.loads(b[16:16+H]);  data = np.frombuffer(b, '<f8', offset=align8(16+H))
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './report/atomic.ts';
import { tensor, type Tensor } from '../reference/tensor.ts';

export const BUNDLE_MAGIC = 'LDFABNDL';
export const BUNDLE_VERSION = 1;

export interface Bundle {
  meta: Record<string, unknown>;
  tensors: Map<string, Tensor>;
}

export function encodeBundle(meta: Record<string, unknown>, tensors: Map<string, Tensor> | Record<string, Tensor>): Buffer {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  let offset = 0;
  const index = entries.map(([name, t]) => {
    const entry = { name, shape: t.shape, offset };
    offset += t.size;
    return entry;
  });
  const header = Buffer.from(JSON.stringify({ meta, tensors: index }), 'utf8');
  const dataStart = align8(16 + header.length);
  const out = Buffer.alloc(dataStart + 8 * offset);
  out.write(BUNDLE_MAGIC, 0, 'latin1');
  out.writeUInt32LE(BUNDLE_VERSION, 8);
  out.writeUInt32LE(header.length, 12);
  header.copy(out, 16);
  for (const [i, [, t]] of entries.entries()) {
    const at = dataStart + 8 * index[i].offset;
    for (let j = 0; j < t.size; j++) out.writeDoubleLE(t.data[j], at + 8 * j);
  }
  return out;
}

/** Reads a bundle from its bytes (a Node Buffer or, in the web app, a fetched Uint8Array). */
export function decodeBundle(bytes: Uint8Array, what: string): Bundle {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = (from: number, to: number, encoding: 'latin1' | 'utf-8') => new TextDecoder(encoding).decode(bytes.subarray(from, to));
  const fail = (why: string): never => { throw new Error(`${what}: not a valid tensor bundle: ${why}`); };
  if (bytes.length < 16) fail(`the file is ${bytes.length} bytes, shorter than the 16-byte preamble`);
  if (text(0, 8, 'latin1') !== BUNDLE_MAGIC) fail(`bad magic '${printable(bytes.subarray(0, 8))}' (expected '${BUNDLE_MAGIC}')`);
  const version = view.getUint32(8, true);
  if (version !== BUNDLE_VERSION) fail(`format version ${version} is not supported (this ldfa reads version ${BUNDLE_VERSION}); regenerate the file with this version`);
  const headerLength = view.getUint32(12, true);
  if (16 + headerLength > bytes.length) fail(`the header claims ${headerLength} bytes but the file ends after ${bytes.length - 16}: truncated`);
  let header: { meta?: unknown; tensors?: unknown };
  try {
    header = JSON.parse(text(16, 16 + headerLength, 'utf-8'));
  } catch (e) {
    return fail(`the JSON header does not parse (${(e as Error).message})`);
  }
  if (typeof header.meta !== 'object' || header.meta === null || !Array.isArray(header.tensors)) fail('the header must hold "meta" (object) and "tensors" (array)');
  const dataStart = align8(16 + headerLength);
  const available = Math.max(0, Math.floor((bytes.length - dataStart) / 8));
  const tensors = new Map<string, Tensor>();
  let end = 0;
  for (const entry of header.tensors as { name?: unknown; shape?: unknown; offset?: unknown }[]) {
    const { name, shape, offset } = entry;
    if (typeof name !== 'string' || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0) || !Number.isInteger(offset) || (offset as number) < 0) {
      fail(`tensor entry ${JSON.stringify(entry)} needs a string name, an integer shape and an integer offset ≥ 0`);
    }
    if (tensors.has(name as string)) fail(`tensor '${name as string}' appears twice in the header: names must be unique`);
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    if ((offset as number) + size > available) fail(`tensor '${name as string}' needs values ${offset}..${(offset as number) + size} but the data section holds ${available}: truncated`);
    end = Math.max(end, (offset as number) + size);
    const t = tensor(shape as number[]);
    const at = dataStart + 8 * (offset as number);
    for (let j = 0; j < size; j++) t.data[j] = view.getFloat64(at + 8 * j, true);
    tensors.set(name as string, t);
  }
  const expected = dataStart + 8 * end;
  if (bytes.length > expected) fail(`${bytes.length - expected} trailing bytes after the last tensor's values (the file should end at byte ${expected}): the file is damaged or not one bundle`);
  return { meta: header.meta as Record<string, unknown>, tensors };
}

export function writeBundle(path: string, meta: Record<string, unknown>, tensors: Map<string, Tensor> | Record<string, Tensor>): void {
  writeFileAtomic(path, encodeBundle(meta, tensors));
}

export function readBundle(path: string): Bundle {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new Error(`tensor bundle not found: ${path}`);
  }
  return decodeBundle(bytes, path);
}

/** Bytes as text a terminal shows safely: printable ASCII as is, everything else as \xNN. */
function printable(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}
