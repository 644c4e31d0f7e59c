// `ldfa experiment <name> --scale quick|full --out DIR [--resume] [--seeds K]` and
// `ldfa results --from DIR --out docs/results.md`.
import { Command, Option } from 'commander';
import { DATA_NAMES, type TrainConfig } from '../config.ts';
import { FEEDBACK_MODES } from '../../reference/rules/ldfa.ts';
import { RECIPES, RECIPE_NAMES, recipeDir, recipeNamed, runExperiment } from '../experiments/index.ts';
import { writeResultsPage } from '../experiments/results-page.ts';
import { SCALES, type Overrides, type Scale } from '../experiments/sweep.ts';
import { integerFlag } from './train-options.ts';

interface ExperimentFlags {
  scale: Scale; out?: string; resume?: boolean; seeds?: number; quiet?: boolean;
  data?: TrainConfig['data']; dataDir?: string; feedback?: TrainConfig['feedback']; backend?: string;
}

export function registerExperimentCommands(program: Command): void {
  program.command('experiment')
    .description(`the paper's findings as recipes (spec §5): ${RECIPE_NAMES.join(', ')}, or all; writes a JSON file per run, summary.json, results.md and plots`)
    .argument('<name>', `${RECIPE_NAMES.join(' | ')} | all`)
    .addOption(new Option('--scale <scale>', 'quick: ≤ 15 min per recipe on 2 cores (MNIST); full: the paper\'s sizes (CIFAR, --data-dir); tiny: seconds, for tests').choices(SCALES).default('quick'))
    .option('--out <dir>', 'output directory (default out/experiments/<name>; for all: one sub-directory per recipe, default out/experiments)')
    .option('--resume', 'continue an interrupted sweep in --out: finished runs are kept, a started one continues from its last checkpoint')
    .option('--seeds <K>', 'seeds 1..K for every configuration (default: the recipe\'s, 3 for most quick recipes)', integerFlag('--seeds', 1))
    .addOption(new Option('--data <name>', 'data set instead of the scale\'s (mnist/fashion for quick, cifar10/cifar100 for full)').choices(DATA_NAMES))
    .option('--data-dir <dir>', 'directory of the CIFAR binary files (required for --scale full)')
    .addOption(new Option('--feedback <mode>', 'LDFA feedback learning instead of the recipe\'s').choices(FEEDBACK_MODES))
    .option('--backend <name>', 'compute backend (default auto)')
    .option('--quiet', 'no progress lines')
    .action(async (name: string, flags: ExperimentFlags) => {
      const recipes = name === 'all' ? RECIPES : [recipeNamed(name)];
      const overrides: Overrides = {
        ...(flags.data ? { data: flags.data } : {}), ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
        ...(flags.feedback ? { feedback: flags.feedback } : {}), ...(flags.backend ? { backend: flags.backend } : {}),
      };
      const log = flags.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      for (const recipe of recipes) {
        const out = name === 'all' || flags.out === undefined ? recipeDir(flags.out ?? 'out/experiments', recipe.name) : flags.out;
        const report = await runExperiment(recipe, { out, scale: flags.scale, seeds: flags.seeds, resume: Boolean(flags.resume), overrides, log });
        process.stdout.write(`${recipe.name}: ${report.verdicts.map((v) => `${v.holds === null ? '?' : v.holds ? '✓' : '✗'} ${v.claim}`).join('; ')}\nwrote ${out}/summary.json, ${out}/results.md\n`);
      }
    });

  program.command('results')
    .description('gather the experiments\' reports (DIR/<recipe>/summary.json) into one results page with the paper\'s numbers beside them')
    .option('--from <dir>', 'where `ldfa experiment all` wrote its recipes', 'out/experiments')
    .option('--out <file>', 'the page to write', 'docs/results.md')
    .action((flags: { from: string; out: string }) => {
      const { page, missing, kept } = writeResultsPage(flags.from, flags.out);
      const notRun = missing.filter((m) => !kept.includes(m));
      process.stdout.write(`wrote ${page}${kept.length ? ` (kept from the page as it was: ${kept.join(', ')})` : ''}${notRun.length ? ` (no results yet for: ${notRun.join(', ')})` : ''}\n`);
    });
}
