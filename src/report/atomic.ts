// Crash-safe file output: write a temporary file in the same directory, fsync it, then rename
// it over the target (rename is atomic within a file system), so a reader sees either the old
// content or the new one, never a partial file.
import { accessSync, closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The temporary path used while writing `path` (same directory, so the rename stays atomic). */
export function tmpPathFor(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

/**
 * Throws, naming the flag, unless writeFileAtomic(path) can succeed: path is not a directory and
 * its nearest existing ancestor is a writable directory (missing parents are created). For
 * validating output flags before any work starts.
 */
export function checkWritable(path: string, flag: string): void {
  if (existsSync(path) && statSync(path).isDirectory()) throw new Error(`${flag} ${path} is a directory: give a file name`);
  let dir = dirname(resolve(path));
  while (!existsSync(dir)) dir = dirname(dir);
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
  } catch {
    throw new Error(`${flag} ${path} cannot be written: ${dir} is not a writable directory`);
  }
}

/** Writes `data` to `path` atomically, creating parent directories. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = tmpPathFor(path);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd = -1;
  try {
    fd = openSync(tmp, 'w');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) { try { closeSync(fd); } catch { /* already failing */ } }
    rmSync(tmp, { force: true });
    throw new Error(`cannot write ${path} atomically (via ${tmp}): ${(e as Error).message}`);
  }
  // Persist the directory entry too (best effort: not every platform can fsync a directory).
  try {
    const dfd = openSync(dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch { /* ignore */ }
}

/** Recursively sorts object keys so that equal objects serialise identically. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null)) {
    const out = Object.create(null) as Record<string, unknown>; // null prototype: a "__proto__" key stays data
    for (const k of Object.keys(v as Record<string, unknown>).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
  return v;
}

/**
 * Stable JSON: plain-object keys sorted, 2-space indentation, trailing newline; typed arrays
 * become arrays. Non-finite numbers become null (JSON has no NaN/Infinity).
 */
export function stableJson(obj: unknown): string {
  return JSON.stringify(sortKeys(obj), null, 2) + '\n';
}

export function writeJsonAtomic(path: string, obj: unknown): void {
  writeFileAtomic(path, stableJson(obj));
}

/** Reads and parses a JSON file; `what` names it in errors (e.g. 'run summary'). */
export function readJsonChecked<T = unknown>(path: string, what: string): T {
  if (!existsSync(path)) throw new Error(`${what} not found: ${path}`);
  const text = readFileSync(path, 'utf8');
  if (text.trim() === '') throw new Error(`${what} at ${path} is empty: a JSON document is required`);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${what} at ${path} is not valid JSON (${(e as Error).message}); the file may be corrupt or from an interrupted write — delete it and re-run`);
  }
}
