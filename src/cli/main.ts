// ldfa — the command line. `ldfa --help` lists the commands.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { packageRoot } from '../package-root.ts';
import { hiddenComponents } from '../hide.ts';
import { checkOutputDir } from '../paths.ts';
import { runTraining } from '../run.ts';
import { runDemo } from './demo.ts';
import { addTrainFlags, configFromCommand, integerFlag } from './train-options.ts';

const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

const program = new Command('ldfa')
  .description('Low-Dimensional Feedback Alignment: reference implementation and oracles (BP, FA, DFA, LDFA)')
  .version(version, '-V, --version', 'print the version of ldfa')
  .showHelpAfterError()
  // a misspelt LDFA_HIDE fails every command, rather than hiding nothing unnoticed
  .hook('preAction', () => { hiddenComponents(); });

addTrainFlags(program.command('train').description('train one model with one rule and write a JSON result'))
  .option('--out <file>', 'write the result JSON here (atomically)')
  .option('--checkpoint <file>', 'write a checkpoint after every epoch')
  .option('--resume', 'continue from --checkpoint (if it exists yet); without --resume an existing checkpoint is refused')
  .option('--metrics', 'measure per-layer alignment with BP (angles, norm ratio, effective rank) after every epoch')
  .option('--quiet', 'no per-epoch lines')
  .action(async (opts: Record<string, unknown>, cmd: Command) => {
    const config = configFromCommand(cmd);
    const result = await runTraining(config, {
      out: opts.out as string | undefined,
      checkpoint: opts.checkpoint as string | undefined,
      resume: Boolean(opts.resume),
      metrics: Boolean(opts.metrics),
      log: opts.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
      notice: (line) => process.stderr.write(`${line}\n`),
    });
    process.stderr.write(`test accuracy ${(100 * result.testAccuracy).toFixed(2)}% in ${result.seconds.toFixed(1)} s on ${result.backend.kernel}\n`);
    if (!opts.out) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  });

program.command('demo')
  .description('the headline demo (npm start): MNIST MLP under BP, FA, DFA and LDFA at several ranks')
  .option('--quick', 'one epoch on 12,000 images: about 30 s instead of about 3 min on 2 cores')
  .option('--out <dir>', 'where to write results.json and accuracy-vs-rank.svg', 'out/demo')
  .option('--backend <name>', 'compute backend', 'auto')
  .option('--seed <S>', 'random seed', integerFlag('--seed', 0), 1)
  .action(async (opts: { quick?: boolean; out: string; backend: string; seed: number }) => {
    checkOutputDir('--out', opts.out);
    await runDemo({ quick: Boolean(opts.quick), out: opts.out, backend: opts.backend, seed: opts.seed });
  });

(await import('./verify.ts')).registerVerifyCommand(program);
(await import('./fixtures.ts')).registerFixturesCommand(program);
(await import('./theory.ts')).registerTheoryCommand(program);
(await import('./experiment.ts')).registerExperimentCommands(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  // A command with its own exitOverride (verify, fixtures) has printed the error and set the exit status.
  if (e instanceof CommanderError && process.exitCode !== undefined) process.exit(process.exitCode);
  process.stderr.write(`ldfa: error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
