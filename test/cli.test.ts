// The CLI as a user runs it: same seed → same JSON (apart from timings), bad input → a clear
// message and a non-zero exit before any work, checkpoints that are never silently overwritten,
// resumed with fewer epochs or with other flags.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTrainFlags, configFromCommand } from '../src/cli/train-options.ts';
import { writeIdx } from '../src/data/idx.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldfa-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ldfa = (args: string[]) => spawnSync(process.execPath, ['bin/ldfa.mjs', ...args], { encoding: 'utf8', timeout: 60_000 });
/** The same, without blocking, so that concurrent tests overlap their start-up. */
const ldfaAsync = (args: string[]) => new Promise<{ status: number | null; stderr: string; stdout: string }>((done) => {
  execFile(process.execPath, ['bin/ldfa.mjs', ...args], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
    done({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
  });
});
const small = ['--data', 'synthetic', '--limit-train', '300', '--limit-test', '100', '--hidden', '16', '--epochs', '2', '--backend', 'reference', '--quiet'];

describe('ldfa train', () => {
  it('gives the same JSON for the same seed, apart from the timings', () => {
    const strip = (path: string) => {
      const r = JSON.parse(readFileSync(path, 'utf8'));
      return { ...r, seconds: 0, epochs: r.epochs.map((e: { seconds: number }) => ({ ...e, seconds: 0 })) };
    };
    for (const name of ['a', 'b']) {
      execFileSync(process.execPath, ['bin/ldfa.mjs', 'train', ...small, '--rule', 'ldfa', '--rank', '3', '--feedback', 'oja', '--seed', '7', '--out', join(dir, `${name}.json`)], { stdio: 'pipe' });
    }
    const a = strip(join(dir, 'a.json'));
    expect(a).toEqual(strip(join(dir, 'b.json')));
    for (const field of ['config', 'testAccuracy', 'trainLoss', 'seconds', 'backend', 'flopsPerStep']) expect(a).toHaveProperty(field);
    expect(a.trainLoss).toHaveLength(2);
    expect(a.rule.ranks).toEqual({ fc2: 3 });
  });

  it.each([
    ['synthetic', 'linear', '12,8', 'ldfa', 'factorised'],
    ['mnist', 'mlp', '16', 'dfa', 'normative'],
  ])('honours the flag contract: --data %s --arch %s --hidden %s --rule %s --feedback %s …, one log line per epoch', (data, arch, hidden, rule, feedback) => {
    const out = join(dir, `contract-${data}.json`);
    const ldfaFlags = rule === 'ldfa' ? ['--rank', '2', '--feedback', feedback] : [];
    const run = ldfa(['train', '--data', data, '--arch', arch, '--hidden', hidden, '--rule', rule, ...ldfaFlags,
      '--epochs', '2', '--batch', '16', '--lr', '0.005', '--seed', '3', '--limit-train', '96', '--limit-test', '40', '--backend', 'reference', '--out', out]);
    expect(run.status, run.stderr).toBe(0);
    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r.config).toMatchObject({
      data, arch, hidden: hidden.split(',').map(Number), rule, ...(rule === 'ldfa' ? { rank: 2, feedback } : {}), epochs: 2, batch: 16, lr: 0.005, seed: 3, limitTrain: 96, limitTest: 40,
    });
    expect(r.trainLoss).toHaveLength(2);
    expect(r.trainLoss.every((l: number) => Number.isFinite(l) && l > 0)).toBe(true);
    expect(r.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(r.testAccuracy).toBeLessThanOrEqual(1);
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.backend).toMatchObject({ name: 'reference', precision: 'float64' });
    const epochLines = run.stderr.split('\n').filter((l) => / epoch \d\/2: train loss /.test(l));
    expect(epochLines.map((l) => /epoch (\d)\/2/.exec(l)![1])).toEqual(['1', '2']);
  });

});

/** A finished 2-epoch checkpoint of `small` (seed 1), copied into each test that needs one. */
const checkpoint = join(dir, 'two-epochs.bundle');
const aFile = join(dir, 'a-file');
beforeAll(() => {
  writeFileSync(aFile, 'not a directory');
  writeFileSync(join(dir, 'corrupt.bundle'), Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x1b, 0x5b, 0x32, 0x4a, 0, 0, 0, 0, 0, 0, 0, 0]));
  const run = ldfa(['train', ...small, '--checkpoint', checkpoint, '--out', join(dir, 'two-epochs.json')]);
  expect(run.status, run.stderr).toBe(0);
});
const copyOfCheckpoint = (name: string) => {
  const path = join(dir, name);
  copyFileSync(checkpoint, path);
  return path;
};

describe('bad input is refused before any work, naming what is wrong and what is allowed', () => {
  // Every row once exited 0 (silently ignoring or misreading the input) or failed with a raw
  // message, or only after training. `dir` holds `a-file`, `corrupt.bundle` and the checkpoint.
  const rows: [string, () => string[], RegExp][] = [
    ['an unknown rule', () => ['--rule', 'xyz'], /--rule 'xyz' is not allowed: allowed are bp, fa, dfa, ldfa/],
    ['rank 0', () => ['--rule', 'ldfa', '--rank', '0'], /rank 0 is not allowed: rank must be an integer in \[1, 10\]/],
    ['rank 11', () => ['--rule', 'ldfa', '--rank', '11'], /rank 11 is not allowed: rank must be an integer in \[1, 10\]/],
    ['text for a number: the text is quoted, not NaN', () => ['--lr', 'abc'], /--lr must be a number, got 'abc'/],
    ['an unknown backend', () => ['--backend', 'cuda'], /unknown backend 'cuda'/],
    ['an empty --hidden entry', () => ['--hidden', '256,,3'], /--hidden '256,,3': entry 2 \(''\) is not a positive integer; give positive integers separated by commas, e.g. 256,256/],
    ['an empty --hidden', () => ['--hidden', ''], /--hidden is empty: give positive integers separated by commas/],
    ['a missing MNIST --data-dir', () => ['--data', 'mnist', '--data-dir', '/nonexistent'], /--data-dir \/nonexistent does not exist: give the directory that holds the data files/],
    ['--data-dir for synthetic data', () => ['--data-dir', dir], /--data-dir would be ignored: it applies only with --data mnist, fashion, cifar10 or cifar100/],
    ['--hidden for a ViT', () => ['--arch', 'vit', '--hidden', '7,7,7', '--data', 'mnist'], /--hidden would be ignored: it applies only with --arch linear, mlp, cnn or retina/],
    ['--direct under BP', () => ['--rule', 'bp', '--direct'], /--direct would be ignored: it applies only with --rule ldfa; drop it \(this run: .*--rule bp/],
    ['LDFA flags under BP', () => ['--rule', 'bp', '--rank', '300', '--feedback', 'oja'], /--rank would be ignored: it applies only with --rule ldfa; --feedback would be ignored: .*drop them/],
    ['--momentum under Adam', () => ['--momentum', '0.5'], /--momentum would be ignored: it applies only with --optimizer sgd/],
    ['--svd-every without normative feedback', () => ['--rule', 'ldfa', '--feedback', 'oja', '--svd-every', '5'], /--svd-every would be ignored: it applies only with --rule ldfa --feedback normative/],
    ['a batch larger than the data', () => ['--batch', '1e9'], /--batch 1000000000 is larger than the 300 training samples: allowed are 1..300/],
    ['a synthetic set too large to allocate', () => ['--limit-train', '99999999'], /--limit-train 99999999 is too large for --data synthetic, which draws that many samples: allowed are 1..1000000/],
    ['--resume without --checkpoint', () => ['--resume'], /--resume continues from --checkpoint FILE: give --checkpoint too/],
    ['an existing checkpoint without --resume', () => ['--checkpoint', copyOfCheckpoint('keep.bundle')], /--checkpoint .*keep.bundle already holds a run \(2 finished epoch\(s\)\): pass --resume to continue it, or give another --checkpoint/],
    ['resuming with fewer epochs than the checkpoint holds', () => ['--epochs', '1', '--checkpoint', copyOfCheckpoint('fewer.bundle'), '--resume'], /cannot resume from .*fewer.bundle with --epochs 1: it already holds 2 finished epochs; pass --epochs 2 or more/],
    ['resuming with another flag: it is named', () => ['--lr', '0.01', '--checkpoint', copyOfCheckpoint('other.bundle'), '--resume'], /it was written by a run with --lr 0.001 \(now 0.01\); only --epochs and --backend may change/],
    ['a directory as --checkpoint', () => ['--checkpoint', dir, '--resume'], /--checkpoint .* is a directory: give a file path \(e.g. .*checkpoint.bundle\)/],
    ['a corrupt checkpoint: its magic is printed escaped', () => ['--checkpoint', join(dir, 'corrupt.bundle'), '--resume'], /not a valid tensor bundle: bad magic 'PK\\x03\\x04\\x1b\[2J' \(expected 'LDFABNDL'\)/],
    ['a directory as --out', () => ['--out', dir], /--out .* is a directory: give a file path \(e.g. .*result.json\)/],
    ['--out below a file', () => ['--out', join(aFile, 'r.json')], /--out .*a-file\/r.json: .*a-file is a file, not a directory, so nothing can be written below it/],
    ['--out where files cannot be created', () => ['--out', '/proc/ldfa-nope/r.json'], /--out \/proc\/ldfa-nope\/r.json: cannot create files in \/proc \(E[A-Z]+\); choose a writable location/],
  ];
  it.concurrent.each(rows)('%s', async (_, args, message) => {
    // 50 epochs: a check made only after training would time out or print epoch lines.
    const run = await ldfaAsync(['train', ...small, '--epochs', '50', ...args(), '--quiet']);
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/epoch \d/);
    expect(run.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('--checkpoint and --out are left untouched by a refused run', () => {
    const kept = copyOfCheckpoint('untouched.bundle');
    expect(ldfa(['train', ...small, '--checkpoint', kept]).status).toBe(1);
    expect(readFileSync(kept)).toEqual(readFileSync(checkpoint));
  });
});

describe('checkpoints and resuming', () => {
  it('a resumed run says from which epoch it continues and ends as an uninterrupted one; orphaned temporary files are removed', () => {
    const path = copyOfCheckpoint('resume.bundle');
    // what an interrupted checkpoint write leaves: a bare pid (earlier versions) and host-pid, of processes that have ended
    const ended = spawnSync(process.execPath, ['-e', '0']).pid!;
    const orphans = [`${path}.tmp-${ended}`, `${path}.tmp-${hostname()}-${ended}`];
    for (const orphan of orphans) writeFileSync(orphan, 'partial');
    const out = join(dir, 'resumed.json'), straight = join(dir, 'straight.json');
    const resumed = ldfa(['train', ...small, '--epochs', '3', '--checkpoint', path, '--resume', '--out', out]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming from .*resume.bundle: 2 of 3 epochs finished, continuing at epoch 3/);
    for (const orphan of orphans) expect(existsSync(orphan), orphan).toBe(false);
    expect(ldfa(['train', ...small, '--epochs', '3', '--out', straight]).status).toBe(0);
    const strip = (file: string) => {
      const r = JSON.parse(readFileSync(file, 'utf8'));
      return { ...r, seconds: 0, epochs: r.epochs.map((e: { seconds: number }) => ({ ...e, seconds: 0 })) };
    };
    expect(strip(out)).toEqual(strip(straight));
  });
});

describe('small gaps', () => {
  it('ldfa --version prints the package version', () => {
    const run = ldfa(['--version']);
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  const parse = (args: string[]) => {
    const cmd = addTrainFlags(new Command('train').exitOverride());
    cmd.parse(args, { from: 'user' });
    return configFromCommand(cmd);
  };

  it('--arch cnn without --hidden is a small CNN (16, 32 channels), not the MLP\'s 256, 256', () => {
    expect(parse(['--arch', 'cnn']).hidden).toEqual([16, 32]);
    expect(parse(['--arch', 'retina']).hidden).toEqual([16, 16, 16, 16]);
    expect(parse([]).hidden).toEqual([256, 256]);
    expect(parse(['--arch', 'cnn', '--hidden', '4,8']).hidden).toEqual([4, 8]);
  });

  it('--data mnist --data-dir reads the IDX files there (plain or gzipped)', () => {
    const mnist = join(dir, 'mnist');
    mkdirSync(mnist, { recursive: true });
    for (const [split, n] of [['train', 40], ['t10k', 12]] as const) {
      writeIdx(join(mnist, `${split}-images-idx3-ubyte.gz`), [n, 28, 28], Uint8Array.from({ length: n * 784 }, (_, i) => (i * 7) % 256));
      writeIdx(join(mnist, `${split}-labels-idx1-ubyte`), [n], Uint8Array.from({ length: n }, (_, i) => i % 10));
    }
    const out = join(dir, 'mnist-dir.json');
    const run = ldfa(['train', '--data', 'mnist', '--data-dir', mnist, '--hidden', '8', '--epochs', '1', '--batch', '8', '--backend', 'reference', '--quiet', '--out', out]);
    expect(run.status, run.stderr).toBe(0);
    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r.trainSamples).toBe(40);
    expect(r.config.dataDir).toBe(mnist);
    rmSync(join(mnist, 't10k-labels-idx1-ubyte'));
    expect(ldfa(['train', '--data', 'mnist', '--data-dir', mnist, '--backend', 'reference', '--quiet']).stderr)
      .toMatch(/MNIST file not found: .*t10k-labels-idx1-ubyte \(--data-dir .* must hold train-images-idx3-ubyte, .* each optionally gzipped/);
    expect(readdirSync(mnist)).toHaveLength(3);
  });
});
