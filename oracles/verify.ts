// `ldfa verify`: compare another implementation's tensor dump (the candidate) with a golden
// fixture, tensor by tensor, in the style of llm.c's test_gpt2.c check_tensor: OK / NOT OK per
// tensor, the first mismatching entries, the largest absolute and relative differences.
//
// An element passes when |candidate − fixture| ≤ atol + rtol·|fixture| (numpy's allclose);
// NaN or ±∞ in the candidate never passes. The relative difference is |c − f| / |f| over the
// entries with f ≠ 0.
//
// Which fixture tensors are required:
//   input/*, init/*   what the candidate was given (input/stepK/*: what a step draws at random,
//                     e.g. the family rules' magnitudes and noise); checked when present (to catch a
//                     transposed or mis-loaded input), never reported missing
//   everything else   required ("missing" is a failure) unless --only prefixes exclude it
// Candidate tensors the fixture does not have are listed as warnings (a misspelt name shows
// up there and as missing).
//
// The checks are listed in computation order (oracles/diagnose.ts), and the report leads with
// the first divergence and what it is computed from that agreed.
import { decodeBundle, type Bundle } from '../src/bundle.ts';
import { readFileSync, realpathSync } from 'node:fs';
import type { Tensor } from '../reference/tensor.ts';
import { computationOrder, diagnose, GIVEN_PREFIXES, type CheckStatus, type Diagnosis } from './diagnose.ts';
import { FIXTURE_KIND, READABLE_FIXTURE_VERSIONS } from './generate.ts';

export interface VerifyOptions {
  atol: number;
  rtol: number;
  /** Only fixture tensors whose name starts with one of these are checked ([] = all). */
  only: readonly string[];
  /** How many mismatching entries to list per tensor. */
  show: number;
}

export const DEFAULT_VERIFY: VerifyOptions = { atol: 1e-10, rtol: 1e-8, only: [], show: 5 };

export type TensorStatus = 'ok' | 'not-ok' | 'non-finite' | 'shape' | 'missing';

export interface Mismatch { index: number[]; fixture: number; candidate: number; absDiff: number }

export interface TensorCheck {
  name: string;
  status: TensorStatus;
  shape: number[];
  candidateShape?: number[];
  size: number;
  /** Entries outside the tolerance (non-finite ones included). */
  bad: number;
  nonFinite: number;
  maxAbs: number;
  maxAbsAt: number[] | null;
  maxRel: number;
  maxRelAt: number[] | null;
  first: Mismatch[];
  /** Why, in words, for shape and missing. */
  note?: string;
}

export interface VerifyReport {
  fixture: string;
  candidate: string;
  case: string;
  options: VerifyOptions;
  checks: TensorCheck[];
  /** Inputs (input/*, init/*) the candidate did not include: fine. */
  notGiven: string[];
  /** Fixture tensors left out by --only. */
  excluded: string[];
  /** Candidate tensors the fixture does not have. */
  extra: string[];
  warnings: string[];
  /** The first divergence in computation order, and what it depends on. */
  diagnosis: Diagnosis;
  ok: boolean;
}

const isInput = (name: string) => GIVEN_PREFIXES.some((prefix) => name.startsWith(prefix));

/** Reads and checks a fixture: a valid bundle, kind ldfa-fixture, a supported version, finite values. */
export function loadFixture(path: string): Bundle {
  const bundle = decodeBundle(readOrFail(path, 'fixture'), `fixture ${path}`);
  const { kind, fixtureVersion } = bundle.meta;
  if (kind !== FIXTURE_KIND) {
    throw new Error(`fixture ${path}: not an ldfa fixture (header kind ${JSON.stringify(kind ?? null)}, expected '${FIXTURE_KIND}'); did you swap --fixture and --candidate?`);
  }
  if (!READABLE_FIXTURE_VERSIONS.includes(fixtureVersion as number)) {
    throw new Error(`fixture ${path}: fixture version ${JSON.stringify(fixtureVersion ?? null)} is not supported: this ldfa reads fixture versions ${READABLE_FIXTURE_VERSIONS.slice(0, -1).join(', ')} and ${READABLE_FIXTURE_VERSIONS[READABLE_FIXTURE_VERSIONS.length - 1]}. HINT: regenerate the fixtures with \`npm run fixtures\`, or use the ldfa release that wrote them`);
  }
  for (const [name, t] of bundle.tensors) {
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`fixture ${path}: corrupt: tensor ${name} holds ${t.data[bad]} at ${fmtIndex(unravel(bad, t.shape))}`);
  }
  return bundle;
}

/** Reads a candidate dump: any valid tensor bundle. */
export function loadCandidate(path: string): Bundle {
  return decodeBundle(readOrFail(path, 'candidate'), `candidate ${path}`);
}

function readOrFail(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`${what} ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export function checkVerifyOptions(o: VerifyOptions): void {
  if (!(Number.isFinite(o.atol) && o.atol >= 0)) throw new Error(`--atol must be a finite number ≥ 0, got ${o.atol}`);
  if (!(Number.isFinite(o.rtol) && o.rtol >= 0)) throw new Error(`--rtol must be a finite number ≥ 0, got ${o.rtol}`);
  if (!(Number.isInteger(o.show) && o.show >= 0)) throw new Error(`--show must be an integer ≥ 0, got ${o.show}`);
}

export function verifyBundles(
  fixture: Bundle, candidate: Bundle, options: VerifyOptions = DEFAULT_VERIFY,
  paths: { fixture: string; candidate: string } = { fixture: 'fixture', candidate: 'candidate' },
): VerifyReport {
  checkVerifyOptions(options);
  const caseName = String(fixture.meta.case ?? '?');
  const warnings: string[] = [];
  if (candidate.meta.case !== undefined && candidate.meta.case !== caseName) {
    warnings.push(`the candidate says it is case '${String(candidate.meta.case)}' but the fixture is case '${caseName}'`);
  }
  if (candidate.meta.kind === FIXTURE_KIND) {
    warnings.push('the candidate is itself an ldfa fixture, not an implementation\'s dump: this compares the reference with itself');
  }
  const selected = (name: string) => options.only.length === 0 || options.only.some((p) => name.startsWith(p));
  const checks: TensorCheck[] = [], notGiven: string[] = [], excluded: string[] = [];
  for (const [name, ref] of fixture.tensors) {
    if (!selected(name)) { excluded.push(name); continue; }
    const got = candidate.tensors.get(name);
    if (!got) {
      if (isInput(name)) notGiven.push(name);
      else checks.push({ ...emptyCheck(name, ref), status: 'missing', note: 'not in the candidate' });
      continue;
    }
    checks.push(compareTensor(name, ref, got, options));
  }
  const extra = [...candidate.tensors.keys()].filter((n) => !fixture.tensors.has(n));
  if (options.only.length > 0 && checks.length === 0 && notGiven.length === 0) {
    warnings.push(`--only ${options.only.join(', ')} matches no tensor of this fixture`);
  }
  const byName = new Map(checks.map((c) => [c.name, c]));
  const ordered = computationOrder(checks.map((c) => c.name), fixture.meta).map((n) => byName.get(n)!);
  const statusOf = (name: string): CheckStatus | undefined => byName.get(name)?.status
    ?? (notGiven.includes(name) ? 'not-given' : excluded.includes(name) ? 'excluded' : undefined);
  return {
    fixture: paths.fixture, candidate: paths.candidate, case: caseName, options,
    checks: ordered, notGiven, excluded, extra, warnings,
    diagnosis: diagnose(ordered, statusOf, fixture.meta),
    ok: checks.length > 0 && checks.every((c) => c.status === 'ok'),
  };
}

/** A warning when the candidate is the fixture file itself, or a copy of it: nothing is then checked. */
export function sameInputWarning(fixturePath: string, candidatePath: string): string | null {
  const real = (p: string) => { try { return realpathSync(p); } catch { return p; } };
  if (real(fixturePath) === real(candidatePath)) return `the candidate is the fixture file itself (${candidatePath}): this checks nothing`;
  if (readFileSync(fixturePath).equals(readFileSync(candidatePath))) return `the candidate has the same bytes as the fixture (${candidatePath} is a copy of ${fixturePath}): this checks nothing`;
  return null;
}

function emptyCheck(name: string, ref: Tensor): TensorCheck {
  return {
    name, status: 'ok', shape: [...ref.shape], size: ref.size, bad: 0, nonFinite: 0,
    maxAbs: 0, maxAbsAt: null, maxRel: 0, maxRelAt: null, first: [],
  };
}

/** Shapes agree when they are equal after dropping size-1 axes (a scalar loss may be () or (1,)). */
export function sameSqueezedShape(a: readonly number[], b: readonly number[]): boolean {
  const sa = a.filter((d) => d !== 1), sb = b.filter((d) => d !== 1);
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
}

export function compareTensor(name: string, ref: Tensor, got: Tensor, o: VerifyOptions): TensorCheck {
  const check = emptyCheck(name, ref);
  check.candidateShape = [...got.shape];
  if (!sameSqueezedShape(ref.shape, got.shape)) {
    const reversed = ref.shape.length === 2 && got.shape.length === 2 && ref.shape[0] === got.shape[1] && ref.shape[1] === got.shape[0];
    check.status = 'shape';
    check.note = `shape mismatch: the fixture has ${fmtShape(ref.shape)}, the candidate ${fmtShape(got.shape)}`
      + (reversed ? ' (transposed? ldfa stores W, B as (out, in), D as (classes, in), P̂ as (out, r), Q̂ as (r, in); see docs/fixture-format.md)' : '');
    return check;
  }
  const f = ref.data, c = got.data;
  for (let i = 0; i < f.length; i++) {
    const diff = Math.abs(c[i] - f[i]);
    const finite = Number.isFinite(c[i]);
    const pass = finite && diff <= o.atol + o.rtol * Math.abs(f[i]);
    if (!finite) {
      check.nonFinite++;
      if (check.maxAbs !== Infinity) { check.maxAbs = Infinity; check.maxAbsAt = unravel(i, ref.shape); }
    } else if (diff > check.maxAbs) {
      check.maxAbs = diff; check.maxAbsAt = unravel(i, ref.shape);
    }
    if (f[i] !== 0) {
      const rel = finite ? diff / Math.abs(f[i]) : Infinity;
      if (rel > check.maxRel) { check.maxRel = rel; check.maxRelAt = unravel(i, ref.shape); }
    }
    if (!pass) {
      check.bad++;
      if (check.first.length < o.show) check.first.push({ index: unravel(i, ref.shape), fixture: f[i], candidate: c[i], absDiff: diff });
    }
  }
  check.status = check.nonFinite > 0 ? 'non-finite' : check.bad > 0 ? 'not-ok' : 'ok';
  if (check.nonFinite > 0) {
    const at = c.findIndex((v) => !Number.isFinite(v));
    check.note = `the candidate holds ${check.nonFinite} non-finite value(s), the first ${c[at]} at ${fmtIndex(unravel(at, ref.shape))}`;
  }
  return check;
}

export function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return index;
}

const fmtShape = (s: readonly number[]) => `(${s.join(', ')}${s.length === 1 ? ',' : ''})`;
const fmtIndex = (i: readonly number[]) => `[${i.join(', ')}]`;
const sci = (x: number) => (Number.isFinite(x) ? x.toExponential(3) : String(x));
const num = (x: number) => (Number.isFinite(x) ? x.toPrecision(12) : String(x));

const LABEL: Record<TensorStatus, string> = {
  ok: 'OK', 'not-ok': 'NOT OK', 'non-finite': 'NOT OK', shape: 'NOT OK', missing: 'MISSING',
};

/** One tensor's lines: the verdict, its largest differences, and for a failure its first mismatches. */
function formatCheck(c: TensorCheck, width: number, shapeWidth = 10): string[] {
  const head = `${LABEL[c.status].padEnd(8)}${c.name.padEnd(width + 2)}${fmtShape(c.shape).padEnd(shapeWidth)}`;
  if (c.status === 'missing' || c.status === 'shape') return [`${head}${c.note}`];
  const stats = `max abs diff ${sci(c.maxAbs)}${c.maxAbsAt && c.maxAbs > 0 ? ` at ${fmtIndex(c.maxAbsAt)}` : ''}, max rel diff ${sci(c.maxRel)}${c.maxRelAt && c.maxRel > 0 ? ` at ${fmtIndex(c.maxRelAt)}` : ''}`;
  if (c.status === 'ok') return [`${head}${stats}`];
  const lines = [`${head}${c.bad} of ${c.size} outside tolerance; ${stats}`];
  if (c.note) lines.push(`          ${c.note}`);
  for (const m of c.first) {
    lines.push(`          ${fmtIndex(m.index).padEnd(10)} fixture ${num(m.fixture).padStart(19)}  candidate ${num(m.candidate).padStart(19)}  |diff| ${sci(m.absDiff)}`);
  }
  if (c.bad > c.first.length) lines.push(`          … ${c.bad - c.first.length} more`);
  return lines;
}

/** The report as text: one line per tensor (failures with their first mismatches), then a summary. */
export function formatReport(r: VerifyReport, quiet = false): string {
  const lines: string[] = [];
  lines.push(`ldfa verify: case ${r.case}`);
  lines.push(`  fixture   ${r.fixture}`);
  lines.push(`  candidate ${r.candidate}`);
  lines.push(`  pass when |candidate − fixture| ≤ atol ${r.options.atol} + rtol ${r.options.rtol}·|fixture|${r.options.only.length ? `; only ${r.options.only.join(', ')}` : ''}`);
  for (const w of r.warnings) lines.push(`WARNING: ${w}`);
  if (!r.ok || r.diagnosis.first) lines.push(r.diagnosis.message);
  const width = Math.max(0, ...r.checks.map((c) => c.name.length));
  const shapeWidth = Math.max(10, ...r.checks.map((c) => fmtShape(c.shape).length + 2));
  for (const c of r.checks) if (!(quiet && c.status === 'ok')) lines.push(...formatCheck(c, width, shapeWidth));
  if (r.extra.length) lines.push(`WARNING: ${r.extra.length} candidate tensor(s) not in the fixture (ignored): ${r.extra.join(', ')}`);
  const count = (s: TensorStatus) => r.checks.filter((c) => c.status === s).length;
  const notOk = count('not-ok') + count('non-finite') + count('shape');
  lines.push(`summary: ${r.checks.length} checked: ${count('ok')} OK, ${notOk} NOT OK, ${count('missing')} missing`
    + `; ${r.notGiven.length} input/init tensor(s) not given (optional); ${r.excluded.length} excluded by --only`);
  if (r.checks.length === 0) lines.push('nothing was checked');
  if (r.diagnosis.first) lines.push(r.diagnosis.message);
  lines.push(r.ok ? 'PASS: every checked tensor agrees' : 'FAIL');
  return `${lines.join('\n')}\n`;
}

const xmlEscape = (text: string) => text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', '\'': '&apos;' })[c]!);

/**
 * The report as JUnit XML for CI systems: one testsuite (the case), one testcase per checked
 * tensor in computation order, a failure for every tensor that is NOT OK or missing. The first
 * divergence leads the suite's system-out and is the first failure's message.
 */
export function formatJunit(r: VerifyReport): string {
  const failed = r.checks.filter((c) => c.status !== 'ok');
  const cases = r.checks.map((c) => {
    const [group] = c.name.split('/');
    const open = `    <testcase classname="${xmlEscape(`ldfa.verify.${r.case}.${group}`)}" name="${xmlEscape(c.name)}">`;
    if (c.status === 'ok') return `${open}</testcase>`;
    const first = r.diagnosis.first?.name === c.name ? `${r.diagnosis.message}; ` : '';
    const what = c.status === 'missing' || c.status === 'shape' ? c.note! : `${c.bad} of ${c.size} outside tolerance, max abs diff ${c.maxAbs}, max rel diff ${c.maxRel}`;
    return `${open}\n      <failure type="${c.status}" message="${xmlEscape(first + what)}">${xmlEscape(formatCheck(c, c.name.length).join('\n'))}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="ldfa verify" tests="${r.checks.length}" failures="${failed.length}">`,
    `  <testsuite name="${xmlEscape(r.case)}" tests="${r.checks.length}" failures="${failed.length}" errors="0" skipped="0">`,
    `    <system-out>${xmlEscape([r.diagnosis.message, ...r.warnings.map((w) => `WARNING: ${w}`)].join('\n'))}</system-out>`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
