// Crash-safe file output: write a temporary file in the same directory, fsync it, then rename
// it over the target (rename is atomic within a file system), so a reader sees either the old
// content or the new one, never a partial file.
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * This process on this machine ("host-pid"), as temporary and claim files name their writer: a
 * shared file system holds several machines' files, and their process ids may coincide.
 */
export const PROCESS_TAG = `${hostname()}-${process.pid}`;

/** The temporary path used while writing `path` (same directory, so the rename stays atomic). */
export function tmpPathFor(path: string): string {
  return `${path}.tmp-${PROCESS_TAG}`;
}

/**
 * Whether a writer tag ("host-pid", or a bare pid as earlier versions wrote) names a process of
 * this machine that no longer runs. Another machine's processes cannot be checked: false.
 * This process's own tag counts as ended: its writes are synchronous, so none is in flight.
 */
export function writerGone(tag: string): boolean {
  const m = /^(?:(.+)-)?(\d+)$/.exec(tag);
  if (!m || (m[1] ?? hostname()) !== hostname()) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes the temporary files an interrupted write of `path` left (`path.tmp-<writer>`, the
 * writer being a process of this machine that has ended, or any writer when the caller alone
 * may write `path`); returns their paths.
 */
export function removeOrphanedTemporaries(path: string, { anyWriter = false } = {}): string[] {
  const dir = dirname(path), prefix = `${basename(path)}.tmp-`;
  if (!existsSync(dir)) return [];
  const orphans = readdirSync(dir).filter((name) => name.startsWith(prefix) && (anyWriter || writerGone(name.slice(prefix.length)))).map((name) => join(dir, name));
  for (const orphan of orphans) rmSync(orphan, { force: true });
  return orphans;
}

/**
 * Removes the temporary files (`NAME.tmp-<writer>`) that ended processes of this machine left in
 * `dir` and its sub-folders (one level): a kill -9 between writing a temporary file and renaming
 * or linking it. Returns their paths.
 */
export function removeStrayTemporaries(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      for (const inner of readdirSync(path, { withFileTypes: true })) {
        if (inner.isFile() && isStray(inner.name)) removed.push(join(path, inner.name));
      }
    } else if (entry.isFile() && isStray(entry.name)) removed.push(path);
  }
  for (const path of removed) rmSync(path, { force: true });
  return removed;
}

/** A temporary file name (`NAME.tmp-<writer>`) whose writer is an ended process of this machine. */
function isStray(name: string): boolean {
  const at = name.lastIndexOf('.tmp-');
  return at > 0 && writerGone(name.slice(at + '.tmp-'.length));
}

function writeAndSync(tmp: string, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Persists a directory entry (best effort: not every platform can fsync a directory). */
function syncDirectory(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch { /* ignore */ }
}

/**
 * Writes `data` to `path` atomically, creating parent directories; first removes what an
 * interrupted earlier write of `path` left behind.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  removeOrphanedTemporaries(path);
  const tmp = tmpPathFor(path);
  try {
    writeAndSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`cannot write ${path} atomically (via ${tmp}): ${(e as Error).message}`);
  }
  syncDirectory(dir);
}

/**
 * Creates `path` with `data` only if it does not exist yet, atomically and exclusively even on a
 * shared (NFS) file system: the content is written to a temporary file and hard-linked to
 * `path`, which fails when `path` exists. Returns false when another writer created it first.
 */
export function createFileExclusive(path: string, data: string | Uint8Array): boolean {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = tmpPathFor(path);
  try {
    writeAndSync(tmp, data);
    linkSync(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`cannot create ${path} (via ${tmp}): ${(e as Error).message}`);
  } finally {
    rmSync(tmp, { force: true });
  }
  syncDirectory(dir);
  return true;
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
