// `ldfa verify`: pass/fail per tensor, first mismatches, largest differences, user tolerances,
// --only, and a clear error with a non-zero exit for every kind of bad input.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBundle, encodeBundle } from '../src/bundle.ts';
import { registerVerifyCommand, runVerify, type VerifyCliOptions } from '../src/cli/verify.ts';
import { compareTensor, sameSqueezedShape, unravel, verifyBundles } from '../oracles/verify.ts';
import { computationOrder, dependencies } from '../oracles/diagnose.ts';
import { clone, tensor, type Tensor } from '../reference/tensor.ts';

const FIXTURE = 'oracles/fixtures/mlp_ldfa-oja.bin';
const scratch = mkdtempSync(join(tmpdir(), 'ldfa-verify-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const fixture = () => decodeBundle(readFileSync(FIXTURE), FIXTURE);

/** A candidate holding the fixture's computed tensors (not its inputs), edited by `edit`. */
function candidate(name: string, edit: (t: Map<string, Tensor>) => void = () => {}, meta: Record<string, unknown> = { case: 'mlp_ldfa-oja' }): string {
  const tensors = new Map<string, Tensor>();
  for (const [n, t] of fixture().tensors) if (!n.startsWith('input/') && !n.startsWith('init/')) tensors.set(n, clone(t));
  edit(tensors);
  const path = join(scratch, name);
  writeFileSync(path, Uint8Array.from(encodeBundle(meta, tensors)));
  return path;
}

function verify(options: Partial<VerifyCliOptions> & { candidate: string }) {
  let out = '', err = '';
  const code = runVerify({ fixture: FIXTURE, ...options }, { out: (t) => { out += t; }, err: (t) => { err += t; } });
  return { code, out, err };
}

function scratchFile(name: string, bytes: Uint8Array): string {
  const path = join(scratch, name);
  writeFileSync(path, bytes);
  return path;
}

describe('ldfa verify: comparisons', () => {
  it('a faithful candidate passes: OK for every tensor, exit 0; inputs left out are not failures', () => {
    const r = verify({ candidate: candidate('good.bin') });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^OK {6}step1\/fc2\.signal {2}\(5, 8\) {4}max abs diff 0\.000e\+0/m);
    expect(r.out).toMatch(/summary: 61 checked: 61 OK, 0 NOT OK, 0 missing; 12 input\/init tensor\(s\) not given \(optional\); 0 excluded by --only/);
    expect(r.out.trim().split('\n').at(-1)).toBe('PASS: every checked tensor agrees');
  });

  it('a moved entry fails: NOT OK, the first mismatching indices, the largest absolute and relative difference, exit 1', () => {
    const path = candidate('moved.bin', (t) => {
      const s = t.get('step2/fc2.signal')!;
      s.data[1 * 8 + 3] += 1e-3; // [1, 3]
      s.data[4 * 8 + 7] -= 2e-3; // [4, 7]
    });
    const r = verify({ candidate: path });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^NOT OK {2}step2\/fc2\.signal {2}\(5, 8\) {4}2 of 40 outside tolerance; max abs diff 2\.000e-3 at \[4, 7\], max rel diff [\d.e+-]+ at \[\d, \d\]/m);
    expect(r.out).toMatch(/^ {10}\[1, 3\] +fixture +-?[\d.e-]+ +candidate +-?[\d.e-]+ +\|diff\| 1\.000e-3$/m);
    expect(r.out).toMatch(/^ {10}\[4, 7\] /m);
    expect(r.out).toMatch(/1 NOT OK/);
    expect(r.out.trim().split('\n').at(-1)).toBe('FAIL');
  });

  it('tolerances are the user\'s: the same candidate passes with --atol 1e-2', () => {
    const path = candidate('loose.bin', (t) => { t.get('step1/fc1.dW')!.data[0] += 1e-3; });
    expect(verify({ candidate: path }).code).toBe(1);
    expect(verify({ candidate: path, atol: 1e-2 }).code).toBe(0);
    expect(verify({ candidate: path, rtol: 1e3 }).code).toBe(0); // |diff| ≤ 1e3·|ref| everywhere unless ref is 0
  });

  it('--show limits the listed entries; --quiet lists only failures', () => {
    const path = candidate('many.bin', (t) => { t.get('step3/fc1.W')!.data.forEach((_, i, a) => { a[i] += 1; }); });
    const r = verify({ candidate: path, show: 2, quiet: true });
    expect(r.out).toMatch(/48 of 48 outside tolerance/);
    expect(r.out.match(/^ {10}\[/gm)).toHaveLength(2);
    expect(r.out).toMatch(/… 46 more/);
    expect(r.out).not.toMatch(/^OK /m);
  });

  it('missing tensors fail unless --only excludes them; extra tensors are warned about', () => {
    const path = candidate('partial.bin', (t) => {
      for (const n of [...t.keys()]) if (!n.startsWith('step1/')) t.delete(n);
      t.set('step1/fc2.dw', tensor([1]));
    });
    const r = verify({ candidate: path });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^MISSING step2\/loss +\(\) +not in the candidate$/m);
    expect(r.out).toMatch(/WARNING: 1 candidate tensor\(s\) not in the fixture \(ignored\): step1\/fc2\.dw/);
    const only = verify({ candidate: path, only: ['step1/'] });
    expect(only.code).toBe(0);
    expect(only.out).toMatch(/summary: 17 checked: 17 OK, 0 NOT OK, 0 missing; 0 input\/init tensor\(s\) not given \(optional\); 56 excluded by --only/);
  });

  it('inputs the candidate does include are checked (a mis-loaded x fails)', () => {
    const path = candidate('with-inputs.bin', (t) => {
      const x = clone(fixture().tensors.get('input/x')!);
      x.data[0] = 0;
      t.set('input/x', x);
    });
    const r = verify({ candidate: path, only: ['input/'] });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/NOT OK {2}input\/x/);
  });

  it('a candidate that names another case is warned about', () => {
    const r = verify({ candidate: candidate('other-case.bin', () => {}, { case: 'mlp_bp' }) });
    expect(r.out).toMatch(/WARNING: the candidate says it is case 'mlp_bp' but the fixture is case 'mlp_ldfa-oja'/);
  });

  it('an --only that matches nothing fails rather than passing vacuously', () => {
    const r = verify({ candidate: candidate('vacuous.bin'), only: ['step7/'] });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/WARNING: --only step7\/ matches no tensor of this fixture/);
    expect(r.out).toMatch(/nothing was checked/);
  });

  it('--json writes the full report', () => {
    const json = join(scratch, 'report.json');
    const path = candidate('json.bin', (t) => { t.get('step1/loss')!.data[0] = Number.NaN; });
    expect(verify({ candidate: path, json }).code).toBe(1);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.ok).toBe(false);
    const loss = report.checks.find((c: { name: string }) => c.name === 'step1/loss');
    expect(loss).toMatchObject({ status: 'non-finite', nonFinite: 1, maxAbs: 'Infinity' });
  });
});

describe('ldfa verify: bad input gets a clear error and a non-zero exit', () => {
  const good = readFileSync(FIXTURE);

  it('a truncated fixture: exit 2, "truncated"', () => {
    for (const cut of [good.length - 8, 200, 10]) {
      const r = verify({ fixture: scratchFile(`cut${cut}.bin`, good.subarray(0, cut)), candidate: candidate('c.bin') });
      expect(r.code, `cut at ${cut}`).toBe(2);
      expect(r.err).toMatch(/^ldfa verify: error: fixture .*cut\d+\.bin: not a valid tensor bundle: .*(truncated|shorter than the 16-byte preamble)/);
      expect(r.out).toBe('');
    }
  });

  it('a corrupt fixture: bad magic, a header that does not parse, a NaN in the data: exit 2', () => {
    const magic = Buffer.from(good);
    magic.write('PK\x03\x04', 0, 'latin1');
    expect(verify({ fixture: scratchFile('magic.bin', magic), candidate: candidate('c.bin') })).toMatchObject({
      code: 2, err: expect.stringMatching(/bad magic 'PK\\x03\\x04.*' \(expected 'LDFABNDL'\)/),
    });
    const json = Buffer.from(good);
    json.write('#', 16, 'latin1');
    expect(verify({ fixture: scratchFile('json.bin', json), candidate: candidate('c.bin') })).toMatchObject({
      code: 2, err: expect.stringMatching(/the JSON header does not parse/),
    });
    const nan = Buffer.from(good);
    nan.writeDoubleLE(Number.NaN, nan.length - 8);
    expect(verify({ fixture: scratchFile('nan.bin', nan), candidate: candidate('c.bin') })).toMatchObject({
      code: 2, err: expect.stringMatching(/corrupt: tensor step3\/fc3\.Q holds NaN at \[1, 6\]/),
    });
  });

  it('an unknown version: of the bundle container, or of the fixture layout: exit 2 with a hint', () => {
    const container = Buffer.from(good);
    container.writeUInt32LE(7, 8);
    expect(verify({ fixture: scratchFile('v7.bin', container), candidate: candidate('c.bin') })).toMatchObject({
      code: 2, err: expect.stringMatching(/format version 7 is not supported \(this ldfa reads version 1\)/),
    });
    const { meta, tensors } = decodeBundle(good, 'f');
    const future = scratchFile('fixture-v99.bin', Uint8Array.from(encodeBundle({ ...meta, fixtureVersion: 99 }, tensors)));
    expect(verify({ fixture: future, candidate: candidate('c.bin') })).toMatchObject({
      code: 2, err: expect.stringMatching(/fixture version 99 is not supported: this ldfa reads fixture versions 1, 2 and 3\. HINT: regenerate the fixtures with `npm run fixtures`/),
    });
  });

  it('a version-1 fixture is still read (the names and header fields verify uses are the same)', () => {
    const { meta, tensors } = decodeBundle(good, 'f');
    const { dimensions: _d, ...v1Model } = meta.model as Record<string, unknown>;
    const v1 = scratchFile('fixture-v1.bin', Uint8Array.from(encodeBundle({ ...meta, fixtureVersion: 1, model: v1Model }, tensors)));
    const r = verify({ fixture: v1, candidate: candidate('for-v1.bin') });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('swapped arguments (a candidate given as the fixture): exit 2, says so', () => {
    const r = verify({ fixture: candidate('swapped.bin'), candidate: FIXTURE });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/not an ldfa fixture \(header kind null, expected 'ldfa-fixture'\); did you swap --fixture and --candidate\?/);
  });

  it('a truncated or missing candidate: exit 2', () => {
    const c = readFileSync(candidate('full.bin'));
    expect(verify({ candidate: scratchFile('cut-cand.bin', c.subarray(0, c.length - 100)) })).toMatchObject({
      code: 2, err: expect.stringMatching(/candidate .*cut-cand\.bin: not a valid tensor bundle: tensor '.*' needs values .* truncated/),
    });
    expect(verify({ candidate: join(scratch, 'nope.bin') })).toMatchObject({ code: 2, err: expect.stringMatching(/candidate .*nope\.bin cannot be read \(ENOENT\)/) });
  });

  it('a shape mismatch: NOT OK with both shapes and a hint for a transposed matrix, exit 1', () => {
    const path = candidate('transposed.bin', (t) => {
      const W = t.get('step1/fc2.dW')!; // (7, 8)
      t.set('step1/fc2.dW', tensor([8, 7], W.data));
      t.set('step2/fc1.delta', tensor([5, 4, 2], t.get('step2/fc1.delta')!.data));
    });
    const r = verify({ candidate: path });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^NOT OK {2}step1\/fc2\.dW +\(7, 8\) +shape mismatch: the fixture has \(7, 8\), the candidate \(8, 7\) \(transposed\? ldfa stores W, B as \(out, in\)/m);
    expect(r.out).toMatch(/^NOT OK {2}step2\/fc1\.delta +\(5, 8\) +shape mismatch: the fixture has \(5, 8\), the candidate \(5, 4, 2\)$/m);
  });

  it('NaN in a candidate: NOT OK naming the first non-finite entry, exit 1', () => {
    const path = candidate('nan-cand.bin', (t) => {
      t.get('step2/fc3.dP')!.data[3] = Number.NaN; // (4, 2): [1, 1]
      t.get('step2/fc3.dP')!.data[5] = Number.POSITIVE_INFINITY;
    });
    const r = verify({ candidate: path });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^NOT OK {2}step2\/fc3\.dP +\(4, 2\) +2 of 8 outside tolerance; max abs diff Infinity/m);
    expect(r.out).toMatch(/the candidate holds 2 non-finite value\(s\), the first NaN at \[1, 1\]/);
  });

  it('bad options: exit 2 (runVerify) or a commander error naming the flag (CLI)', async () => {
    expect(verify({ candidate: candidate('c.bin'), atol: -1 })).toMatchObject({ code: 2, err: expect.stringMatching(/--atol must be a finite number ≥ 0, got -1/) });
    const program = new Command('ldfa').exitOverride().configureOutput({ writeErr: () => {} });
    registerVerifyCommand(program, { out: () => {}, err: () => {} }, () => {});
    await expect(program.parseAsync(['node', 'ldfa', 'verify', '--fixture', FIXTURE, '--candidate', 'x', '--rtol', 'abc'])).rejects.toThrow(/--rtol must be a finite number ≥ 0, got 'abc'/);
    await expect(program.parseAsync(['node', 'ldfa', 'verify', '--fixture', FIXTURE])).rejects.toThrow(/required option '--candidate <file>' not specified/);
  });
});

describe('ldfa verify: the command line', () => {
  it('parses --fixture, --candidate, --atol, --rtol, repeatable --only and --show, and exits with the verdict', async () => {
    const path = candidate('cli.bin', (t) => { t.get('step2/loss')!.data[0] += 1e-6; });
    const run = async (...args: string[]) => {
      let out = '', code = -1;
      const program = new Command('ldfa').exitOverride();
      registerVerifyCommand(program, { out: (t) => { out += t; }, err: (t) => { out += t; } }, (c) => { code = c; });
      await program.parseAsync(['node', 'ldfa', 'verify', '--fixture', FIXTURE, '--candidate', path, ...args]);
      return { out, code };
    };
    expect((await run()).code).toBe(1);
    expect((await run('--atol', '1e-5')).code).toBe(0);
    expect((await run('--rtol', '1e-5')).code).toBe(0);
    const only = await run('--only', 'step1/', '--only', 'step3/');
    expect(only.code).toBe(0);
    expect(only.out).toMatch(/; only step1\/, step3\//);
    expect((await run('--show', '0')).out).not.toMatch(/^ {10}\[/m);
  });
});

describe('verify helpers', () => {
  it('unravel turns flat indices into row-major indices', () => {
    expect(unravel(0, [5, 8])).toEqual([0, 0]);
    expect(unravel(11, [5, 8])).toEqual([1, 3]);
    expect(unravel(23, [2, 3, 4])).toEqual([1, 2, 3]);
    expect(unravel(0, [])).toEqual([]);
  });

  it('shapes agree up to size-1 axes only', () => {
    expect(sameSqueezedShape([], [1])).toBe(true);
    expect(sameSqueezedShape([5, 1, 4], [5, 4])).toBe(true);
    expect(sameSqueezedShape([5, 4], [4, 5])).toBe(false);
    expect(sameSqueezedShape([20], [5, 4])).toBe(false);
  });

  it('relative differences skip zero references; the tolerance is atol + rtol·|ref|', () => {
    const ref = tensor([3], [0, 1, -2]);
    const c = compareTensor('t', ref, tensor([3], [1e-9, 1.1, -2]), { atol: 1e-8, rtol: 0.05, only: [], show: 5 });
    expect(c).toMatchObject({ status: 'not-ok', bad: 1, maxRelAt: [1], maxAbsAt: [1] });
    expect(c.maxRel).toBeCloseTo(0.1, 12);
    expect(compareTensor('t', ref, tensor([3], [1e-9, 1.1, -2]), { atol: 1e-8, rtol: 0.11, only: [], show: 5 }).status).toBe('ok');
  });

  it('verifyBundles reports the case, per-tensor results and the verdict', () => {
    const f = fixture();
    const report = verifyBundles(f, { meta: {}, tensors: new Map([['step1/loss', clone(f.tensors.get('step1/loss')!)]]) }, { atol: 0, rtol: 0, only: ['step1/loss'], show: 5 });
    expect(report).toMatchObject({ case: 'mlp_ldfa-oja', ok: true, notGiven: [], extra: [] });
    expect(report.checks.map((c) => c.name)).toEqual(['step1/loss']);
  });
});

describe('ldfa verify: diagnosis in computation order', () => {
  /** A candidate where `from` and everything computed after it (in computation order) is off, as a real bug would make it. */
  function bugFrom(name: string, from: string): string {
    const f = fixture();
    const order = computationOrder([...f.tensors.keys()], f.meta);
    const after = new Set(order.slice(order.indexOf(from)));
    return candidate(name, (t) => { for (const [n, v] of t) if (after.has(n)) v.data.forEach((x, i, a) => { a[i] = x * 1.01 + 1e-3; }); });
  }

  it('orders the checks: per step forward, loss, backward top-down (δ then signal), weight gradients, feedback gradients, updates', () => {
    const f = fixture();
    const order = computationOrder([...f.tensors.keys()], f.meta);
    const step1 = order.filter((n) => n.startsWith('step1/')).map((n) => n.slice(6));
    expect(step1).toEqual([
      'logits', 'loss', 'fc3.delta', 'fc3.signal', 'fc2.delta', 'fc2.signal', 'fc1.delta',
      'fc3.db', 'fc3.dW', 'fc2.db', 'fc2.dW', 'fc1.db', 'fc1.dW', 'fc3.dQ', 'fc3.dP', 'fc2.dQ', 'fc2.dP',
    ]);
    expect(order.indexOf('init/fc1.W')).toBeLessThan(order.indexOf('step1/logits'));
    expect(order.indexOf('step1/fc2.dP')).toBeLessThan(order.indexOf('step2/logits'));
    expect(order.slice(-4)).toEqual(['step3/fc2.P', 'step3/fc2.Q', 'step3/fc3.P', 'step3/fc3.Q']);
    for (const name of order) {
      for (const dep of dependencies(name, f.meta).dependsOn) {
        if (f.tensors.has(dep)) expect(order.indexOf(dep), `${name} depends on ${dep}`).toBeLessThan(order.indexOf(name));
      }
    }
  });

  it('a wrong signal at fc2 is named first, with what it depends on that agreed (the file order would show fc1.delta first)', () => {
    const r = verify({ candidate: bugFrom('signal-bug.bin', 'step1/fc2.signal') });
    expect(r.code).toBe(1);
    const lines = r.out.split('\n');
    expect(lines[4]).toBe('first divergence: step 1, step1/fc2.signal (backward): it disagrees while step1/fc2.delta agrees and init/fc2.P, init/fc2.Q are the fixture\'s (not in the candidate): look at how fc2 sends its error down: LDFA dx = (dy·P̂)·Q̂');
    expect(lines.findIndex((l) => l.startsWith('NOT OK'))).toBe(lines.findIndex((l) => l.includes('step1/fc2.signal') && l.startsWith('NOT OK')));
    expect(r.out.trim().split('\n').at(-2)).toBe(lines[4]);
  });

  it('names the cause for each kind of first divergence', () => {
    const cases: [string, RegExp][] = [
      ['step1/logits', /step 1, step1\/logits \(forward\): it disagrees while input\/x, init\/fc1\.W, .* are the fixture's .*look at your forward pass/],
      ['step1/loss', /step1\/loss \(loss\): it disagrees while step1\/logits agrees .*softmax cross-entropy with batch-mean reduction/],
      ['step1/fc3.delta', /step1\/fc3\.delta \(backward\): it disagrees while step1\/logits, step1\/loss agree: look at your output error/],
      ['step1/fc1.delta', /step1\/fc1\.delta \(backward\): it disagrees while step1\/fc2\.signal agrees: look at what lies between fc2's signal and fc1's δ/],
      ['step1/fc2.dW', /step1\/fc2\.dW \(weight gradients\): it disagrees while step1\/fc2\.delta agrees: look at fc2\.dW: dW = δᵀ·x/],
      ['step1/fc2.dP', /step1\/fc2\.dP \(feedback gradients\): it disagrees while step1\/fc2\.delta agrees .*Oja gradient of fc2/],
      ['step2/logits', /step 2, step2\/logits \(forward\): it disagrees while step1\/fc1\.dW, .* agree: look at your parameter update after step 1/],
      ['step3/fc2.P', /step3\/fc2\.P \(updates\): it disagrees while step1\/fc2\.dP, step2\/fc2\.dP, step3\/fc2\.dP agree .*feedbackLr = /],
    ];
    for (const [from, expected] of cases) {
      const r = verify({ candidate: bugFrom(`from-${from.replace('/', '-')}.bin`, from) });
      expect(r.out, from).toMatch(expected);
    }
  });

  it('--json carries the diagnosis and the checks in computation order; --junit writes JUnit XML', () => {
    const json = join(scratch, 'diag.json'), junit = join(scratch, 'diag.xml');
    expect(verify({ candidate: bugFrom('junit.bin', 'step2/fc3.signal'), json, junit }).code).toBe(1);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.diagnosis.first).toEqual({ name: 'step2/fc3.signal', step: 2, phase: 'backward', status: 'not-ok' });
    expect(report.diagnosis.dependsOn).toContainEqual({ name: 'step2/fc3.delta', status: 'ok' });
    expect(report.diagnosis.dependsOn).toContainEqual({ name: 'step1/fc3.dP', status: 'ok' });
    expect(report.checks.map((c: { name: string }) => c.name)).toEqual(computationOrder(report.checks.map((c: { name: string }) => c.name), fixture().meta));
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="ldfa verify" tests="61" failures="\d+">/);
    expect(xml.match(/<testcase /g)).toHaveLength(61);
    const failures = xml.match(/<failure /g)!.length;
    expect(xml).toContain(`<testsuite name="mlp_ldfa-oja" tests="61" failures="${failures}"`);
    expect(failures).toBe(report.checks.filter((c: { status: string }) => c.status !== 'ok').length);
    expect(xml).toMatch(/<testcase classname="ldfa\.verify\.mlp_ldfa-oja\.step2" name="step2\/fc3\.signal">\n {6}<failure type="not-ok" message="first divergence: step 2, step2\/fc3\.signal/);
    expect(xml).toMatch(/<testcase classname="ldfa\.verify\.mlp_ldfa-oja\.step1" name="step1\/logits"><\/testcase>/);
    // every tag opened is closed
    for (const tag of ['testsuites', 'testsuite', 'testcase', 'failure', 'system-out']) {
      expect(xml.match(new RegExp(`<${tag}[ >]`, 'g'))?.length, tag).toBe(xml.match(new RegExp(`</${tag}>`, 'g'))?.length);
    }
  });

  it('a passing candidate has no divergence line', () => {
    const r = verify({ candidate: candidate('nodiv.bin') });
    expect(r.out).not.toMatch(/first divergence/);
  });
});

describe('ldfa verify: usage errors exit 2; fixture = candidate is warned about', () => {
  async function cli(...args: string[]) {
    let out = '', err = '', code = -1;
    const program = new Command('ldfa');
    registerVerifyCommand(program, { out: (t) => { out += t; }, err: (t) => { err += t; } }, (c) => { code = c; });
    await program.parseAsync(['node', 'ldfa', 'verify', ...args]).catch(() => {});
    return { out, err, code };
  }

  it.each([
    [['--candidate', FIXTURE], /required option '--fixture <file>' not specified/],
    [['--fixture', FIXTURE], /required option '--candidate <file>' not specified/],
    [['--fixture', FIXTURE, '--candidate', FIXTURE, '--atol', 'abc'], /--atol must be a finite number ≥ 0, got 'abc'/],
    [['--fixture', FIXTURE, '--candidate', FIXTURE, '--show', '1.5'], /--show must be an integer ≥ 0, got '1\.5'/],
    [['--fixture', FIXTURE, '--candidate', FIXTURE, '--tolerance', '1'], /unknown option '--tolerance'/],
    [['--fixture', FIXTURE, '--candidate', FIXTURE, '--json', scratch], /--json .* is a directory/],
    [['--fixture', FIXTURE, '--candidate', FIXTURE, '--junit', `${FIXTURE}/x.xml`], /--junit .*mlp_ldfa-oja\.bin\/x\.xml: .*mlp_ldfa-oja\.bin is a file, not a directory/],
  ])('%j: exit 2 with a message', async (args, message) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('--help exits 0', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Usage: ldfa verify/);
  });

  it('the fixture given as its own candidate, or a byte copy of it, passes with a warning', () => {
    const same = verify({ candidate: FIXTURE });
    expect(same.code).toBe(0);
    expect(same.out).toMatch(/WARNING: the candidate is the fixture file itself \(.*\): this checks nothing/);
    const copy = scratchFile('copy.bin', readFileSync(FIXTURE));
    expect(verify({ candidate: copy }).out).toMatch(/WARNING: the candidate has the same bytes as the fixture .*: this checks nothing/);
    expect(verify({ candidate: candidate('not-same.bin') }).out).not.toMatch(/this checks nothing/);
  });
});
