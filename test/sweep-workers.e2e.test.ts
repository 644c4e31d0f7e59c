// Nothing lost, nothing done twice: sweeps shared by several worker processes (claims, --shard),
// two sweeps started into one folder at once, and kill -9 at several moments of
// `ldfa train --checkpoint` and of a sweep, each followed by --resume, which must end exactly as
// an uninterrupted run (apart from timings) and leave no temporary file behind.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Claim, ClaimLostError } from '../src/experiments/claims.ts';
import { PROCESS_TAG } from '../src/report/atomic.ts';

const root = mkdtempSync(join(tmpdir(), 'ldfa-workers-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Exit { status: number | null; signal: string | null; stderr: string; stdout: string }

/**
 * Starts `ldfa ARGS`; `killWhen` (optional) watches `watchDirs` and returns true at the moment
 * to send SIGKILL. Resolves when the process has ended.
 */
function ldfa(args: string[], kill?: { watchDirs: string[]; when: (file: string, elapsedMs: number) => boolean }): Promise<Exit & { killedAt?: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['bin/ldfa.mjs', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '', stdout = '', killedAt: string | undefined;
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdout.on('data', (d) => { stdout += d; });
    const started = Date.now();
    const watchers: FSWatcher[] = [];
    const check = (file: string) => {
      if (killedAt === undefined && kill!.when(file, Date.now() - started)) {
        killedAt = file;
        child.kill('SIGKILL');
      }
    };
    if (kill) {
      for (const dir of kill.watchDirs) watchers.push(watch(dir, (_, name) => check(String(name))));
      const timer = setInterval(() => check(''), 20);
      child.on('exit', () => clearInterval(timer));
    }
    child.on('close', (status, signal) => {
      for (const w of watchers) w.close();
      done({ status, signal, stderr, stdout, killedAt });
    });
  });
}

/** Every file below `dir`, relative. */
function filesBelow(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

/** A JSON document with its timing fields zeroed: seconds, trainingSeconds, a verdict's timing, and table columns measured in seconds. */
function withoutTimings(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTimings);
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  if (Array.isArray(o.header) && Array.isArray(o.rows)) {
    const timed = (o.header as string[]).map((h) => /seconds/.test(h));
    return { ...o, rows: (o.rows as unknown[][]).map((row) => row.map((cell, i) => (timed[i] ? 0 : cell))) };
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, /^(seconds|trainingSeconds|timing)$/.test(k) ? 0 : withoutTimings(v)]));
}

const readJson = (path: string) => withoutTimings(JSON.parse(readFileSync(path, 'utf8')));
/** A sweep folder's outcome: the summary and every run's result, without timings. */
const sweepOutcome = (dir: string) => ({
  summary: readJson(join(dir, 'summary.json')),
  runs: readdirSync(join(dir, 'runs')).sort().map((f) => [f, readJson(join(dir, 'runs', f))]),
});

// compute at tiny scale: BP and LDFA r=2, 2 epochs each; 3 seeds give 6 runs.
const sweep = (out: string, ...more: string[]) => ['experiment', 'compute', '--scale', 'tiny', '--seeds', '3', '--backend', 'reference', '--out', out, ...more];
const RUN_IDS = ['bp-s1', 'bp-s2', 'bp-s3', 'ldfa-r2-s1', 'ldfa-r2-s2', 'ldfa-r2-s3'];
const trainedRuns = (exits: Exit[]) => exits.flatMap((e) => [...e.stderr.matchAll(/\(seed \d+, run ([\w.-]+)\)/g)].map((m) => m[1])).sort();

let reference: ReturnType<typeof sweepOutcome>;
beforeAll(async () => {
  const run = await ldfa(sweep(join(root, 'single')));
  expect(run.status, run.stderr).toBe(0);
  reference = sweepOutcome(join(root, 'single'));
  expect(reference.runs.map(([f]) => f)).toEqual(RUN_IDS.map((id) => `${id}.json`));
}, 120_000);

describe('claims', () => {
  const claimFile = (out: string, g: number) => join(out, 'claims', `run-s1.claim-${g}`);

  it('one holder at a time; a claim of another machine is taken over only after its heartbeat is older than the timeout', () => {
    const out = join(root, 'claims-unit');
    const first = Claim.take(out, 'run-s1', 60)!;
    expect(JSON.parse(readFileSync(claimFile(out, 0), 'utf8'))).toMatchObject({ owner: PROCESS_TAG, run: 'run-s1' });
    first.release();
    expect(existsSync(claimFile(out, 0))).toBe(false);
    // a worker on another machine holds it: live while its heartbeat is recent
    mkdirSync(join(out, 'claims'), { recursive: true });
    writeFileSync(claimFile(out, 0), JSON.stringify({ owner: 'another-machine-4242', run: 'run-s1', since: '' }));
    expect(Claim.take(out, 'run-s1', 60)).toBeNull();
    const old = new Date(Date.now() - 61_000);
    utimesSync(claimFile(out, 0), old, old);
    const taken = Claim.take(out, 'run-s1', 60)!;
    expect(taken.generation).toBe(1);
    expect(Claim.take(out, 'run-s1', 60)).toBeNull(); // now held by this worker's live claim
    taken.release();
    expect(readdirSync(join(out, 'claims'))).toEqual([]);
  });

  it('a holder whose claim was taken over stops at its next heartbeat', () => {
    const out = join(root, 'claims-lost');
    const slow = Claim.take(out, 'run-s1', 0.001)!; // heartbeats every 0.1 ms
    const later = new Date(Date.now() + 1000);
    utimesSync(claimFile(out, 0), later, later);
    writeFileSync(claimFile(out, 1), JSON.stringify({ owner: 'another-machine-4242', run: 'run-s1', since: '' }));
    const wait = Date.now() + 5;
    while (Date.now() < wait) { /* let the heartbeat interval pass */ }
    // One call, both checks: a second heartbeat within the 0.1 ms interval would not look again.
    let lost: unknown = null;
    try { slow.heartbeat(); } catch (e) { lost = e; }
    expect(lost).toBeInstanceOf(ClaimLostError);
    expect((lost as Error).message).toMatch(/run run-s1: another worker took it over/);
  });
});

describe('a sweep shared by workers', () => {
  it.each([
    ['--shard 0/3, 1/3, 2/3', (i: number) => ['--shard', `${i}/3`]],
    ['three times --resume, no shards', () => ['--resume']],
  ])('3 workers started at once (%s): each run trained exactly once, the summary equals a single process\'s', async (_, flags) => {
    const out = join(root, `shared-${flags(0).join('')}`);
    const exits = await Promise.all([0, 1, 2].map((i) => ldfa(sweep(out, ...flags(i)))));
    for (const e of exits) expect(e.status, e.stderr).toBe(0);
    expect(trainedRuns(exits)).toEqual(RUN_IDS);
    expect(sweepOutcome(out)).toEqual(reference);
    expect(filesBelow(join(out, 'claims'))).toEqual([]);
    expect(filesBelow(join(out, 'checkpoints'))).toEqual([]);
    expect(filesBelow(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }, 180_000);

  it('two different recipes started at once into one folder: one gets it, the other is refused and the folder stays one sweep', async () => {
    const out = join(root, 'contested');
    const exits = await Promise.all([
      ldfa(sweep(out)),
      ldfa(['experiment', 'direct', '--scale', 'tiny', '--backend', 'reference', '--out', out]),
    ]);
    expect(exits.map((e) => e.status).sort()).toEqual([0, 1]);
    const refused = exits.find((e) => e.status === 1)!;
    expect(refused.stderr).toMatch(/already holds a '(compute|direct)' sweep \(\d+ of \d+ runs finished\) \(.*\), not .*: rerun with the flags it was started with and --resume, choose another --out, or remove .* \(rm -r\)/);
    const manifest = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.recipe).toBe(manifest.recipe);
    expect(readdirSync(join(out, 'runs')).sort()).toEqual(manifest.runs.map((id: string) => `${id}.json`).sort());
  }, 120_000);

  it('a worker whose share is done while others run says so; ldfa results then writes the summary', async () => {
    const from = join(root, 'results-from');
    const out = join(from, 'compute');
    const first = await ldfa(sweep(out, '--shard', '0/2', '--quiet'));
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/compute: this worker's share is done; 3 run\(s\) of other workers are unfinished \(ldfa-r2-s1, ldfa-r2-s2, ldfa-r2-s3\)/);
    expect(existsSync(join(out, 'summary.json'))).toBe(false);
    const early = await ldfa(['results', '--from', from, '--out', join(root, 'page.md')]);
    expect(early.stdout).toMatch(/compute: 3 of 6 runs finished in .*; its summary waits for the others/);
    // the other shard finishes and writes the summary; remove it to check that `ldfa results` merges too
    expect((await ldfa(sweep(out, '--shard', '1/2', '--quiet'))).status).toBe(0);
    rmSync(join(out, 'summary.json'));
    const merged = await ldfa(['results', '--from', from, '--out', join(root, 'page.md')]);
    expect(merged.status, merged.stderr).toBe(0);
    expect(merged.stdout).toMatch(/compute: summarised 6 runs in /);
    expect(sweepOutcome(out)).toEqual(reference);
  }, 180_000);
});

describe('kill -9, then --resume: as if never interrupted, and no temporary file left', () => {
  const trainArgs = ['train', '--data', 'synthetic', '--limit-train', '128', '--limit-test', '64', '--hidden', '256,256', '--batch', '64', '--epochs', '5',
    '--rule', 'ldfa', '--rank', '4', '--feedback', 'oja', '--backend', 'reference', '--seed', '3', '--quiet'];
  let straight: unknown;
  beforeAll(async () => {
    const run = await ldfa([...trainArgs, '--out', join(root, 'straight.json')]);
    expect(run.status, run.stderr).toBe(0);
    straight = readJson(join(root, 'straight.json'));
  }, 60_000);

  /** Kill points of `train --checkpoint`: counted from the checkpoint's file events. */
  const trainKills: [string, (count: { tmp: number; done: number }, file: string, ms: number) => boolean][] = [
    ['during start-up, before any checkpoint', (_, __, ms) => ms > 300],
    ['while the first checkpoint is written', (c) => c.tmp >= 1],
    ['right after the second checkpoint is in place', (c) => c.done >= 2],
    ['while the fourth checkpoint is written', (c) => c.tmp >= 4],
  ];
  it.each(trainKills)('ldfa train --checkpoint, killed %s', async (name, when) => {
    const dir = join(root, `train-kill-${name.replace(/\W+/g, '-')}`);
    mkdirSync(dir);
    const checkpoint = join(dir, 'c.bundle'), out = join(dir, 'result.json');
    // A write shows as events of its temporary file, then of c.bundle: count each write once.
    const count = { tmp: 0, done: 0 };
    let writing = false;
    const killed = await ldfa([...trainArgs, '--checkpoint', checkpoint, '--out', out], {
      watchDirs: [dir],
      when: (file, ms) => {
        if (!writing && file.startsWith('c.bundle.tmp-') && existsSync(join(dir, file))) { count.tmp++; writing = true; }
        if (writing && file === 'c.bundle') { count.done++; writing = false; }
        return when(count, file, ms);
      },
    });
    expect(killed.signal, `${name}: the run ended before the kill point (${killed.stderr})`).toBe('SIGKILL');
    expect(existsSync(out)).toBe(false);
    const resumed = await ldfa([...trainArgs, '--checkpoint', checkpoint, '--resume', '--out', out]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(readJson(out)).toEqual(straight);
    expect(filesBelow(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }, 120_000);

  /** Kill points of a sweep: the n-th file event in its folder whose name matches. */
  const sweepKills: [string, RegExp, number][] = [
    ['while the first run trains, after its first checkpoint', /^bp-s1\.bundle$/, 1],
    ['while a checkpoint is written', /\.bundle\.tmp-/, 3],
    ['right after the third run\'s result is written', /^bp-s2\.json$/, 1],
    ['while the summary is written', /^summary\.json\.tmp-/, 1],
  ];
  it.each(sweepKills)('ldfa experiment, killed %s', async (name, pattern, nth) => {
    const out = join(root, `sweep-kill-${name.replace(/\W+/g, '-')}`);
    for (const sub of ['runs', 'checkpoints']) mkdirSync(join(out, sub), { recursive: true });
    let seen = 0;
    const killed = await ldfa(sweep(out, '--quiet'), {
      watchDirs: [out, join(out, 'runs'), join(out, 'checkpoints')],
      when: (file) => pattern.test(file) && ++seen >= nth,
    });
    expect(killed.signal, `${name}: the sweep ended before the kill point`).toBe('SIGKILL');
    const resumed = await ldfa(sweep(out, '--resume', '--quiet'));
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(sweepOutcome(out)).toEqual(reference);
    expect(filesBelow(out).filter((f) => f.includes('.tmp-') || f.startsWith('claims/') || f.startsWith('checkpoints/'))).toEqual([]);
  }, 120_000);
});
