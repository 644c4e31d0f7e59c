// `ldfa verify --fixture F --candidate C`: checks another implementation's tensor dump against
// a golden fixture (oracles/verify.ts, docs/fixture-format.md).
// Exit status: 0 every checked tensor agrees; 1 a tensor is NOT OK or missing; 2 an input
// cannot be used (unreadable, truncated or corrupt, unknown version, bad options).
import { Command, InvalidArgumentError } from 'commander';
import { writeFileAtomic } from '../report/atomic.ts';
import { DEFAULT_VERIFY, checkVerifyOptions, formatReport, loadCandidate, loadFixture, verifyBundles, type VerifyOptions } from '../../oracles/verify.ts';

export interface VerifyCliOptions {
  fixture: string;
  candidate: string;
  atol?: number;
  rtol?: number;
  only?: string[];
  show?: number;
  quiet?: boolean;
  json?: string;
}

export interface Io { out(text: string): void; err(text: string): void }

const processIo: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** Runs one verification and returns the exit status (the command's action, callable from tests). */
export function runVerify(cli: VerifyCliOptions, io: Io = processIo): number {
  try {
    const options: VerifyOptions = {
      atol: cli.atol ?? DEFAULT_VERIFY.atol, rtol: cli.rtol ?? DEFAULT_VERIFY.rtol,
      only: cli.only ?? [], show: cli.show ?? DEFAULT_VERIFY.show,
    };
    checkVerifyOptions(options);
    const fixture = loadFixture(cli.fixture);
    const candidate = loadCandidate(cli.candidate);
    const report = verifyBundles(fixture, candidate, options, { fixture: cli.fixture, candidate: cli.candidate });
    io.out(formatReport(report, Boolean(cli.quiet)));
    if (cli.json) writeFileAtomic(cli.json, `${JSON.stringify(report, jsonNumbers, 2)}\n`);
    return report.ok ? 0 : 1;
  } catch (e) {
    io.err(`ldfa verify: error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
}

/** JSON has no Infinity: write it as a string. */
function jsonNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

function nonNegative(flag: string) {
  return (text: string) => {
    const x = Number(text);
    if (text.trim() === '' || !Number.isFinite(x) || x < 0) throw new InvalidArgumentError(`${flag} must be a finite number ≥ 0, got '${text}'`);
    return x;
  };
}

function count(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`--show must be an integer ≥ 0, got '${text}'`);
  return n;
}

/** io and exit are replaceable so tests can run the command in-process. */
export function registerVerifyCommand(program: Command, io: Io = processIo, exit: (code: number) => void = (code) => { process.exitCode = code; }): void {
  program.command('verify')
    .description('check another implementation\'s tensor dump against a golden fixture (docs/fixture-format.md); exit 0 pass, 1 mismatch, 2 unusable input')
    .requiredOption('--fixture <file>', 'golden fixture, e.g. oracles/fixtures/mlp_ldfa-oja.bin')
    .requiredOption('--candidate <file>', 'your implementation\'s dump, in the same bundle format')
    .option('--atol <x>', 'absolute tolerance', nonNegative('--atol'), DEFAULT_VERIFY.atol)
    .option('--rtol <x>', 'relative tolerance: pass when |c − f| ≤ atol + rtol·|f|', nonNegative('--rtol'), DEFAULT_VERIFY.rtol)
    .option('--only <prefix>', 'check only tensors whose name starts with this (repeatable), e.g. --only step1/', (p: string, acc: string[]) => [...acc, p], [] as string[])
    .option('--show <n>', 'mismatching entries listed per tensor', count, DEFAULT_VERIFY.show)
    .option('--quiet', 'list only the tensors that fail')
    .option('--json <file>', 'also write the full report as JSON')
    .action((opts: VerifyCliOptions) => {
      exit(runVerify(opts, io));
    });
}
