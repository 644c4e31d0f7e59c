// Everything is checked before any folder or file is created, and no output overwrites an input:
// identical input and output paths, non-sweep output folders, data that is missing or unreadable,
// `experiment all --preset`, bounds on iteration counts, damaged bundles and checkpoints, IDX edge
// cases, unwritable web/fixture outputs, and the messages that name what is wrong.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tensor } from '../reference/tensor.ts';
import { normaliseError } from '../reference/rules/ldfa.ts';
import { decodeBundle, encodeBundle, readBundle, writeBundle } from '../src/bundle.ts';
import { DEFAULT_CONFIG, validateConfig, type TrainConfig } from '../src/config.ts';
import { writeIdx } from '../src/data/idx.ts';
import { loadData } from '../src/data/index.ts';
import { RECIPES, recipesForPreset } from '../src/experiments/index.ts';
import { train } from '../src/train.ts';

const dir = mkdtempSync(join(tmpdir(), 'ldfa-checked-first-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ldfa = (args: string[]) => spawnSync(process.execPath, ['bin/ldfa.mjs', ...args], { encoding: 'utf8', timeout: 60_000 });
const small = ['--data', 'synthetic', '--limit-train', '100', '--limit-test', '50', '--hidden', '8', '--batch', '50', '--epochs', '1', '--backend', 'reference', '--quiet'];

describe('outputs never overwrite inputs', () => {
  it('train --out F --checkpoint F is refused before training', () => {
    const f = join(dir, 'same.bundle');
    const run = ldfa(['train', ...small, '--out', f, '--checkpoint', f]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/--out .*same\.bundle is the same file as --checkpoint .*same\.bundle: writing it would replace the other output; give --out another path/);
    expect(existsSync(f)).toBe(false);
  });

  it.each([['--json', 'fixture'], ['--junit', 'candidate'], ['--json', 'candidate (another name for it)']])('verify %s over the %s is refused with exit 2, the file unchanged', (flag, target) => {
    const fixture = join(dir, `fx-${flag}-${target.length}.bin`), candidate = join(dir, `cand-${flag}-${target.length}.bin`);
    copyFileSync('oracles/fixtures/mlp_bp.bin', fixture);
    copyFileSync('oracles/fixtures/mlp_bp.bin', candidate);
    const before = readFileSync(target === 'fixture' ? fixture : candidate);
    const output = target === 'fixture' ? fixture : target === 'candidate' ? candidate : join(dir, '.', `cand-${flag}-${target.length}.bin`);
    const run = ldfa(['verify', '--fixture', fixture, '--candidate', candidate, flag, output]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`${flag} .* is the same file as --${target.split(' ')[0]} .*: writing it would overwrite what the command reads`));
    expect(readFileSync(target === 'fixture' ? fixture : candidate)).toEqual(before);
  });

  it('experiment --out DIR holding other files (e.g. --out docs) is refused; DIR is left as it was', () => {
    const docs = join(dir, 'docs');
    mkdirSync(docs);
    writeFileSync(join(docs, 'results.md'), 'hand-written\n');
    const run = ldfa(['experiment', 'width', '--scale', 'tiny', '--backend', 'reference', '--out', docs]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/--out .*docs already holds files that are not a sweep's \(results\.md\), which this command could overwrite: choose a new or empty folder/);
    expect(readdirSync(docs)).toEqual(['results.md']);
  });
});

describe('data is opened before a sweep folder is created', () => {
  it('--data-dir pointing at an empty directory leaves no folder behind', () => {
    const empty = join(dir, 'empty-data');
    mkdirSync(empty);
    const out = join(dir, 'sweep-no-data');
    const run = ldfa(['experiment', 'width', '--scale', 'tiny', '--backend', 'reference', '--data', 'fashion', '--data-dir', empty, '--out', out]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/file not found: .*empty-data.*train-images-idx3-ubyte/);
    expect(existsSync(out)).toBe(false);
  });

  it('IDX splits no run can use are refused at load, naming the file: 0 images, 0-row images, test images of another size', () => {
    const idx = (name: string, images: [number, number, number], testImages: [number, number, number]) => {
      const d = join(dir, name);
      mkdirSync(d);
      const write = (split: string, [n, r, c]: [number, number, number]) => {
        writeIdx(join(d, `${split}-images-idx3-ubyte`), [n, r, c], new Uint8Array(n * r * c));
        writeIdx(join(d, `${split}-labels-idx1-ubyte`), [n], new Uint8Array(n));
      };
      write('train', images);
      write('t10k', testImages);
      return d;
    };
    const load = (d: string) => loadData({ ...DEFAULT_CONFIG, data: 'mnist', dataDir: d });
    expect(() => load(idx('zero', [0, 28, 28], [5, 28, 28]))).toThrow(/data set mnist-train holds 0 samples: a training run needs at least 1/);
    expect(() => load(idx('flat', [5, 0, 28], [5, 0, 28]))).toThrow(/data set mnist-train: its samples have shape \[1, 0, 28\], which holds no values/);
    expect(() => load(idx('sizes', [5, 28, 28], [5, 20, 20]))).toThrow(/data sets mnist-train and mnist-test differ in sample shape \(\[1, 28, 28\] against \[1, 20, 20\]\)/);
  });
});

describe('experiment all --preset', () => {
  it('runs only the recipes the preset fits, and every preset fits at least one', () => {
    const { run, skipped } = recipesForPreset(RECIPES, 'authors-v1-mlp', 'tiny', { preset: 'authors-v1-mlp' });
    expect(skipped.map((r) => r.name).sort()).toEqual(['cnn', 'family', 'receptive-fields', 'vit']); // family trains a CNN too
    expect(run.map((r) => r.name)).toContain('width');
    for (const preset of ['authors-v1-cnn', 'authors-v4-normative', 'authors-v4-bio'] as const) {
      expect(recipesForPreset(RECIPES, preset, 'tiny', { preset }).run.length, preset).toBeGreaterThan(0);
    }
  });
});

describe('bounds and messages', () => {
  it('--svd-power-iterations 1e9 is refused at once, not hung on', () => {
    const run = ldfa(['train', ...small, '--rule', 'ldfa', '--svd', 'randomized', '--svd-power-iterations', '1000000000']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/--svd-power-iterations must be an integer in \[0, 100\]/);
    expect(() => validateConfig({ ...DEFAULT_CONFIG, svdOversample: 1e6 })).toThrow(/--svd-oversample must be an integer in \[0, 1000\]/);
  });

  it('absurd widths are refused with the size and the memory, before any data is read', () => {
    const mlp = ldfa(['train', ...small.map((a) => (a === '8' ? '1000000000' : a))]);
    expect(mlp.status).not.toBe(0);
    expect(mlp.stderr).toMatch(/--hidden 1000000000 makes a network of \d\.\d+e\+10 parameters, about \d+ GiB to train, more than this machine's \d+ GiB of memory/);
    const cnn = ldfa(['train', '--data', 'mnist', '--arch', 'cnn', '--hidden', '1000000000', '--limit-train', '10', '--epochs', '1', '--backend', 'reference']);
    expect(cnn.stderr).toMatch(/the cnn network's tensors are too large to allocate \(Invalid typed array length: \d+\): choose smaller --hidden/);
  });

  it('Oja with ε = 0 on a batch error without spread names ε, not the learning rate', () => {
    expect(() => normaliseError(tensor([4, 3]), 'max-std', 0)).toThrow(/no spread in any unit and ε is 0.*--oja-eps/);
    expect(normaliseError(tensor([4, 3]), 'max-std', 1e-8).data.every((v) => v === 0)).toBe(true);
  });

  it('train --help lists every backend, native included', () => {
    expect(ldfa(['train', '--help']).stdout).toMatch(/--backend <name> +auto \| reference \| native \| wasm/);
  });

  it.each([['build:web', 'src/web/build.ts'], ['web', 'src/web/serve.ts']])('%s --out below /proc or a file is refused with a message, not a raw error or a hang', (_, script) => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    for (const [out, why] of [['/proc/ldfa-web', /--out \/proc\/ldfa-web: cannot create files in \/proc/], [join(file, 'web'), /--out .*a-file\/web: .*a-file is a file, not a directory/]] as const) {
      const run = spawnSync(process.execPath, ['--import', 'tsx', script, '--out', out], { encoding: 'utf8', timeout: 30_000 });
      expect(run.signal, `${script} --out ${out} hung`).toBe(null);
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(why);
    }
  });

  it('fixtures --out below /proc is refused with exit 2', () => {
    const run = ldfa(['fixtures', '--out', '/proc/ldfa-fixtures']);
    expect(run.signal).toBe(null);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--out \/proc\/ldfa-fixtures: cannot create files in \/proc/);
  });
});

describe('damaged bundles and checkpoints', () => {
  /** A bundle's bytes with the header index given as is (encodeBundle would lay the tensors out itself). */
  const raw = (tensors: { name: string; shape: number[]; offset: number }[], values: number[], trailing = 0) => {
    const header = Buffer.from(JSON.stringify({ meta: { kind: 'test' }, tensors }), 'utf8');
    const start = Math.ceil((16 + header.length) / 8) * 8;
    const out = Buffer.alloc(start + 8 * values.length + trailing);
    out.write('LDFABNDL', 0, 'latin1');
    out.writeUInt32LE(1, 8);
    out.writeUInt32LE(header.length, 12);
    header.copy(out, 16);
    values.forEach((v, k) => out.writeDoubleLE(v, start + 8 * k));
    return out;
  };
  const index = (second: Partial<{ name: string; offset: number }> = {}) => [{ name: 'a', shape: [2], offset: 0 }, { name: 'b', shape: [1], offset: 2, ...second }];

  it('the bundle reader refuses a negative offset, a name given twice and trailing bytes', () => {
    expect(raw(index(), [1, 2, 3]).equals(encodeBundle({ kind: 'test' }, { a: tensor([2], [1, 2]), b: tensor([1], [3]) }))).toBe(true);
    expect(decodeBundle(raw(index(), [1, 2, 3]), 'ok').tensors.get('b')!.data[0]).toBe(3);
    expect(() => decodeBundle(raw(index({ offset: -1 }), [1, 2, 3]), 'neg')).toThrow(/neg: not a valid tensor bundle: .*an integer offset ≥ 0/);
    expect(() => decodeBundle(raw(index({ name: 'a' }), [1, 2, 3]), 'dup')).toThrow(/tensor 'a' appears twice in the header: names must be unique/);
    expect(() => decodeBundle(raw(index(), [1, 2, 3], 8), 'tail')).toThrow(/8 trailing bytes after the last tensor's values/);
  });

  it('verify exits 2 (unusable input), not 1, on a fixture with a negative offset', () => {
    const fixture = join(dir, 'neg.bin'), candidate = join(dir, 'neg-candidate.bin');
    writeFileSync(fixture, raw(index({ offset: -1 }), [1, 2, 3]));
    writeFileSync(candidate, raw(index(), [1, 2, 3]));
    const run = ldfa(['verify', '--fixture', fixture, '--candidate', candidate]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/not a valid tensor bundle/);
  });

  it('a checkpoint holding NaN is refused on resume, naming the tensor', () => {
    const config: TrainConfig = { ...DEFAULT_CONFIG, data: 'synthetic', hidden: [6], epochs: 2, batch: 16, backend: 'reference' };
    const n = 32;
    const data = { name: 't', x: new Float64Array(n * 4).map((_, i) => Math.sin(i)), y: new Int32Array(n).map((_, i) => i % 2), n, shape: [4], classes: 2 };
    const checkpoint = join(dir, 'nan.bundle');
    train({ ...config, epochs: 1 }, { train: data, test: data }, { checkpoint });
    const { meta, tensors } = readBundle(checkpoint);
    tensors.get('param/fc1.W')!.data[3] = NaN;
    writeBundle(checkpoint, meta, tensors);
    expect(() => train(config, { train: data, test: data }, { checkpoint, resume: true })).toThrow(/cannot resume from .*nan\.bundle: its tensor param\/fc1\.W holds NaN at index 3/);
  });
});
