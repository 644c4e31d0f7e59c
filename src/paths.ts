// Checks of the paths a command reads and writes, made before any work starts, so that a run is
// never lost at its end to an output it cannot write. Each error names the flag, the path, what
// is wrong and what is allowed.
import { closeSync, existsSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PROCESS_TAG } from './report/atomic.ts';

/** The nearest existing path at or above `path` (resolved). */
function nearestExisting(path: string): string {
  let at = resolve(path);
  while (!existsSync(at)) at = dirname(at);
  return at;
}

/** Refuses when files cannot be created in `dir` or below it: an ancestor is a file, or the folder is not writable. */
function checkCanCreateIn(flag: string, path: string, dir: string): void {
  const existing = nearestExisting(dir);
  if (!statSync(existing).isDirectory()) throw new Error(`${flag} ${path}: ${existing} is a file, not a directory, so nothing can be written below it; choose another path`);
  // A real probe: permission bits say nothing to root, nor about a read-only mount.
  const probe = join(existing, `.ldfa-write-probe-${PROCESS_TAG}`);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (e) {
    throw new Error(`${flag} ${path}: cannot create files in ${existing} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); choose a writable location`);
  }
  rmSync(probe, { force: true });
}

/** An output file (written atomically: a temporary file beside it, then a rename); `example` names a file for the message. */
export function checkOutputFile(flag: string, path: string, example = 'result.json'): void {
  if (path === '') throw new Error(`${flag} is empty: give a file path`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new Error(`${flag} ${path} is a directory: give a file path (e.g. ${join(path, example)})`);
  checkCanCreateIn(flag, path, dirname(resolve(path)));
}

/** An output directory (created if missing). */
export function checkOutputDir(flag: string, path: string): void {
  if (path === '') throw new Error(`${flag} is empty: give a directory path`);
  if (existsSync(path) && !statSync(path).isDirectory()) throw new Error(`${flag} ${path} is a file: this command writes a directory of files there; give a directory path`);
  checkCanCreateIn(flag, path, path);
}

/** An input directory that must exist. */
export function checkInputDir(flag: string, path: string): void {
  if (!existsSync(path)) throw new Error(`${flag} ${path} does not exist: give the directory that holds the data files`);
  if (!statSync(path).isDirectory()) throw new Error(`${flag} ${path} is a file: give the directory that holds the data files`);
}

/** Whether two paths name one file: the same resolved path, or (both existing) the same inode. */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  if (!existsSync(a) || !existsSync(b)) return false;
  const [sa, sb] = [statSync(a), statSync(b)];
  return sa.dev === sb.dev && sa.ino === sb.ino;
}

type FlagPath = readonly [flag: string, path: string | undefined];

/**
 * Refuses an output that is the same file as an input or as another output: writing it would
 * destroy what the command reads, or one output would replace the other.
 */
export function checkDistinctOutputs(outputs: readonly FlagPath[], inputs: readonly FlagPath[] = []): void {
  const seen: FlagPath[] = [...inputs];
  for (const [flag, path] of outputs) {
    if (path === undefined) continue;
    const clash = seen.find(([, other]) => other !== undefined && sameFile(path, other));
    if (clash) throw new Error(`${flag} ${path} is the same file as ${clash[0]} ${clash[1]}: writing it would ${inputs.includes(clash) ? 'overwrite what the command reads' : 'replace the other output'}; give ${flag} another path`);
    seen.push([flag, path]);
  }
}

/**
 * An output folder this command fills with its own files: refused when it already holds other
 * files (e.g. --out docs), which those writes could replace. `own` says which entries are this
 * command's (a sweep's folders, its temporary files).
 */
export function checkOwnOutputDir(flag: string, path: string, own: (entry: string) => boolean, what: string): void {
  if (!existsSync(path) || !statSync(path).isDirectory()) return;
  const foreign = readdirSync(path).filter((entry) => !own(entry));
  if (foreign.length > 0) {
    throw new Error(`${flag} ${path} already holds files that are not ${what} (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}), which this command could overwrite: choose a new or empty folder`);
  }
}
