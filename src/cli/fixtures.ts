// `ldfa fixtures`: (re)generates the golden fixtures (oracles/generate.ts) — the one
// regeneration command, also `npm run fixtures`. With --check it writes nothing and exits 1
// when a committed fixture differs from what the current reference computes.
import { Command } from 'commander';
import { checkFixtures, writeFixtures } from '../../oracles/generate.ts';
import { fixtureCases } from '../../oracles/cases.ts';

export const DEFAULT_FIXTURE_DIR = 'oracles/fixtures';

/** out and exit are replaceable so tests can run the command in-process. */
export function registerFixturesCommand(
  program: Command,
  out: (text: string) => void = (t) => { process.stdout.write(t); },
  exit: (code: number) => void = (code) => { process.exitCode = code; },
): void {
  program.command('fixtures')
    .description('regenerate the golden fixtures for cross-implementation checks (docs/fixture-format.md)')
    .option('--out <dir>', 'where to write the fixtures and MANIFEST.json', DEFAULT_FIXTURE_DIR)
    .option('--case <name>', 'only this case (repeatable; MANIFEST.json is then left alone)', (c: string, acc: string[]) => [...acc, c], [] as string[])
    .option('--check', 'write nothing; exit 1 if a fixture in --out differs from the current reference')
    .option('--list', 'list the cases and exit')
    .action((opts: { out: string; case: string[]; check?: boolean; list?: boolean }) => {
      if (opts.list) {
        for (const c of fixtureCases()) out(`${c.name}\n`);
        return;
      }
      if (opts.check) {
        const problems = checkFixtures(opts.out);
        for (const p of problems) out(`${p.file}: ${p.problem}\n`);
        out(problems.length ? `${problems.length} fixture(s) out of date: run \`npm run fixtures\`\n` : `all ${fixtureCases().length} fixtures match the current reference\n`);
        exit(problems.length ? 1 : 0);
        return;
      }
      const entries = writeFixtures(opts.out, opts.case);
      for (const e of entries) out(`${e.file.padEnd(32)} ${String(e.bytes).padStart(7)} bytes  ${e.tensors} tensors\n`);
      out(`wrote ${entries.length} fixture(s), ${entries.reduce((a, e) => a + e.bytes, 0)} bytes, to ${opts.out}\n`);
    });
}
