// End to end through bin/ldfa.mjs: `ldfa verify` exit statuses and `ldfa fixtures` writing the
// same bytes as the committed fixtures.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBundle, encodeBundle } from '../src/bundle.ts';
import type { Tensor } from '../reference/tensor.ts';
import { fixtureCases } from '../oracles/cases.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ldfa-cli-oracles-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ldfa = (...args: string[]) => spawnSync(process.execPath, ['bin/ldfa.mjs', ...args], { encoding: 'utf8' });
const FIXTURE = 'oracles/fixtures/linear2_ldfa-normative.bin';

function candidate(name: string, edit: (t: Map<string, Tensor>) => void): string {
  const { tensors } = decodeBundle(readFileSync(FIXTURE), FIXTURE);
  for (const n of [...tensors.keys()]) if (n.startsWith('input/') || n.startsWith('init/')) tensors.delete(n);
  edit(tensors);
  const path = join(scratch, name);
  writeFileSync(path, Uint8Array.from(encodeBundle({}, tensors)));
  return path;
}

describe('ldfa verify and ldfa fixtures on the command line', () => {
  it('verify exits 0 on agreement, 1 on a mismatch, 2 on an unusable fixture', () => {
    const good = ldfa('verify', '--fixture', FIXTURE, '--candidate', candidate('good.bin', () => {}), '--quiet');
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
    expect(good.stdout).toMatch(/PASS: every checked tensor agrees\n$/);

    const bad = ldfa('verify', '--fixture', FIXTURE, '--candidate', candidate('bad.bin', (t) => { t.get('step3/fc2.P')!.data[0] += 0.5; }));
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^NOT OK {2}step3\/fc2\.P +\(4, 2\) +1 of 8 outside tolerance/m);

    const truncated = join(scratch, 'truncated.bin');
    writeFileSync(truncated, readFileSync(FIXTURE).subarray(0, 1000));
    const broken = ldfa('verify', '--fixture', truncated, '--candidate', candidate('c.bin', () => {}));
    expect(broken.status).toBe(2);
    expect(broken.stderr).toMatch(/^ldfa verify: error: fixture .*truncated\.bin: not a valid tensor bundle: .*truncated/);
  });

  it('fixtures --out writes byte-identical files and manifest; --check agrees', () => {
    const out = join(scratch, 'regen');
    const run = ldfa('fixtures', '--out', out);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`wrote ${fixtureCases().length} fixture\\(s\\), \\d+ bytes, to `));
    const manifest = JSON.parse(readFileSync('oracles/fixtures/MANIFEST.json', 'utf8')) as { fixtures: { file: string }[] };
    expect(manifest.fixtures).toHaveLength(fixtureCases().length);
    for (const file of ['MANIFEST.json', ...manifest.fixtures.map((f) => f.file)]) {
      expect(readFileSync(join(out, file)).equals(readFileSync(join('oracles/fixtures', file))), file).toBe(true);
    }
    const check = ldfa('fixtures', '--check');
    expect(check.status).toBe(0);
    expect(check.stdout).toBe(`all ${fixtureCases().length} fixtures match the current reference\n`);
  });
});
