// `ldfa verify --fixture F --candidate C`: checks another implementation's tensor dump against
// a golden fixture (oracles/verify.ts, docs/fixture-format.md).
// Exit status: 0 every checked tensor agrees; 1 a tensor is NOT OK or missing; 2 an input
// cannot be used (unreadable, truncated or corrupt, unknown version) or the command line is
// wrong (a missing or unknown flag, a bad value).
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { checkDistinctOutputs, checkOutputFile } from '../paths.ts';
import { writeFileAtomic } from '../report/atomic.ts';
import {
  DEFAULT_VERIFY, checkVerifyOptions, formatJunit, formatReport, loadCandidate, loadFixture, sameInputWarning, verifyBundles, type VerifyOptions,
} from '../../oracles/verify.ts';

export interface VerifyCliOptions {
  fixture: string;
  candidate: string;
  atol?: number;
  rtol?: number;
  only?: string[];
  show?: number;
  quiet?: boolean;
  json?: string;
  junit?: string;
}

export interface Io { out(text: string): void; err(text: string): void }

const processIo: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** The exit status of an unusable input or a wrong command line. */
export const USAGE_EXIT = 2;

/** Runs one verification and returns the exit status (the command's action, callable from tests). */
export function runVerify(cli: VerifyCliOptions, io: Io = processIo): number {
  try {
    const options: VerifyOptions = {
      atol: cli.atol ?? DEFAULT_VERIFY.atol, rtol: cli.rtol ?? DEFAULT_VERIFY.rtol,
      only: cli.only ?? [], show: cli.show ?? DEFAULT_VERIFY.show,
    };
    checkVerifyOptions(options);
    for (const [flag, path] of [['--json', cli.json], ['--junit', cli.junit]] as const) if (path) checkOutputFile(flag, path);
    checkDistinctOutputs([['--json', cli.json], ['--junit', cli.junit]], [['--fixture', cli.fixture], ['--candidate', cli.candidate]]);
    const fixture = loadFixture(cli.fixture);
    const candidate = loadCandidate(cli.candidate);
    const report = verifyBundles(fixture, candidate, options, { fixture: cli.fixture, candidate: cli.candidate });
    const same = sameInputWarning(cli.fixture, cli.candidate);
    if (same) report.warnings.unshift(same);
    io.out(formatReport(report, Boolean(cli.quiet)));
    if (cli.json) writeFileAtomic(cli.json, `${JSON.stringify(report, jsonNumbers, 2)}\n`);
    if (cli.junit) writeFileAtomic(cli.junit, formatJunit(report));
    return report.ok ? 0 : 1;
  } catch (e) {
    io.err(`ldfa verify: error: ${e instanceof Error ? e.message : String(e)}\n`);
    return USAGE_EXIT;
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
  if (text.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`--show must be an integer ≥ 0, got '${text}'`);
  return n;
}

/**
 * Command-line mistakes (a missing required flag, an unknown flag, a value that does not parse)
 * exit USAGE_EXIT, not commander's 1, which `ldfa verify` and `ldfa fixtures --check` reserve for
 * a mismatch. Help exits 0. The error is rethrown so that nothing after it runs.
 */
export function usageErrorsExit(cmd: Command, io: Io, exit: (code: number) => void): Command {
  return cmd
    .configureOutput({ writeErr: (t) => io.err(t), writeOut: (t) => io.out(t) })
    .exitOverride((e: CommanderError) => {
      exit(e.exitCode === 0 ? 0 : USAGE_EXIT);
      throw e;
    });
}

/** io and exit are replaceable so tests can run the command in-process. */
export function registerVerifyCommand(program: Command, io: Io = processIo, exit: (code: number) => void = (code) => { process.exitCode = code; }): void {
  const cmd = program.command('verify')
    .description('check another implementation\'s tensor dump against a golden fixture (docs/fixture-format.md); exit 0 pass, 1 mismatch, 2 unusable input or command line')
    .requiredOption('--fixture <file>', 'golden fixture, e.g. oracles/fixtures/mlp_ldfa-oja.bin')
    .requiredOption('--candidate <file>', 'your implementation\'s dump, in the same bundle format')
    .option('--atol <x>', 'absolute tolerance', nonNegative('--atol'), DEFAULT_VERIFY.atol)
    .option('--rtol <x>', 'relative tolerance: pass when |c − f| ≤ atol + rtol·|f|', nonNegative('--rtol'), DEFAULT_VERIFY.rtol)
    .option('--only <prefix>', 'check only tensors whose name starts with this (repeatable), e.g. --only step1/', (p: string, acc: string[]) => [...acc, p], [] as string[])
    .option('--show <n>', 'mismatching entries listed per tensor', count, DEFAULT_VERIFY.show)
    .option('--quiet', 'list only the tensors that fail')
    .option('--json <file>', 'also write the full report (with the diagnosis) as JSON')
    .option('--junit <file>', 'also write the report as JUnit XML, one testcase per tensor')
    .action((opts: VerifyCliOptions) => {
      exit(runVerify(opts, io));
    });
  usageErrorsExit(cmd, io, exit);
}
