// Claims: which worker trains which run of a sweep, when several workers (processes, machines
// of a job array) share one sweep folder, possibly on a shared (NFS) file system.
//
//   DIR/claims/ID.claim-G     a claim of run ID, generation G = 0, 1, …; JSON { owner, run, since }
//
// A worker claims a run by creating the next generation's file exclusively (hard link of a
// complete temporary file, atomic on NFS too), so two workers never both hold a run. The owner
// touches its file (mtime) while it trains: the heartbeat. A claim whose owner has ended (a
// process of this machine that no longer runs) or whose heartbeat is older than the timeout is
// taken over by creating generation G + 1; the older owner, should it still run, sees on its
// next heartbeat that its claim is no longer the newest and stops that run.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { createFileExclusive, PROCESS_TAG, stableJson, writerGone } from '../report/atomic.ts';

/** How long a claim lives without a heartbeat, unless told otherwise (--claim-timeout). */
export const DEFAULT_CLAIM_TIMEOUT_SECONDS = 600;

/** Thrown into a run whose claim another worker took over (after a heartbeat older than the timeout). */
export class ClaimLostError extends Error {}

interface ClaimRecord { owner: string; run: string; since: string }

const claimsDir = (out: string) => join(out, 'claims');

/** The generations of run `id`'s claim files, ascending. */
function generations(out: string, id: string): number[] {
  const dir = claimsDir(out);
  if (!existsSync(dir)) return [];
  const prefix = `${id}.claim-`;
  return readdirSync(dir).filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .map((n) => Number(n.slice(prefix.length))).sort((a, b) => a - b);
}

const claimPath = (out: string, id: string, generation: number) => join(claimsDir(out), `${id}.claim-${generation}`);

/** Whether the claim file shows a live owner: not an ended process of this machine, heartbeat within the timeout. */
function alive(path: string, timeoutSeconds: number): boolean {
  try {
    const record = JSON.parse(readFileSync(path, 'utf8')) as ClaimRecord;
    if (record.owner !== PROCESS_TAG && writerGone(record.owner)) return false; // (writerGone counts this process as ended)
    return Date.now() - statSync(path).mtimeMs < timeoutSeconds * 1000;
  } catch {
    return false; // released (removed) meanwhile, or unreadable: not a live claim
  }
}

export class Claim {
  private lastBeat = Date.now();

  private constructor(readonly out: string, readonly id: string, readonly generation: number, private readonly timeoutSeconds: number) {}

  /** Claims run `id` for this process, or returns null while another live worker holds it. */
  static take(out: string, id: string, timeoutSeconds: number): Claim | null {
    mkdirSync(claimsDir(out), { recursive: true });
    const held = generations(out, id);
    const newest = held.length ? held[held.length - 1] : -1;
    if (newest >= 0 && alive(claimPath(out, id, newest), timeoutSeconds)) return null;
    const record: ClaimRecord = { owner: PROCESS_TAG, run: id, since: new Date().toISOString() };
    if (!createFileExclusive(claimPath(out, id, newest + 1), stableJson(record))) return null; // another worker was faster
    return new Claim(out, id, newest + 1, timeoutSeconds);
  }

  private get path(): string {
    return claimPath(this.out, this.id, this.generation);
  }

  /**
   * Shows that the owner lives (at most every tenth of the timeout) and checks that the claim is
   * still this worker's; throws ClaimLostError when another worker took it over.
   */
  heartbeat(): void {
    const now = Date.now();
    if (now - this.lastBeat < (this.timeoutSeconds * 1000) / 10) return;
    this.lastBeat = now;
    const newest = generations(this.out, this.id).at(-1);
    if (newest !== this.generation || !existsSync(this.path)) {
      throw new ClaimLostError(`run ${this.id}: another worker took it over (its claim had no heartbeat for over ${this.timeoutSeconds} s); leaving it to that worker`);
    }
    const t = new Date(now);
    utimesSync(this.path, t, t);
  }

  /** Removes every claim of a finished run (left by a worker killed between writing the result and releasing). */
  static clearFinished(out: string, id: string): void {
    for (const g of generations(out, id)) rmSync(claimPath(out, id, g), { force: true });
  }

  /** Gives the run up (finished or failed): this claim and the stale ones before it are removed. */
  release(): void {
    for (const g of generations(this.out, this.id)) if (g <= this.generation) rmSync(claimPath(this.out, this.id, g), { force: true });
  }
}
