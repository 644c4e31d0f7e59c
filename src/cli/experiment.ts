// `ldfa experiment <name> --scale quick|full --out DIR [--resume] [--seeds K]` and
// `ldfa results --from DIR --out docs/results.md`.
import { Command, Option } from 'commander';
import { DATA_NAMES, PRESET_NAMES, type PresetName, type TrainConfig } from '../config.ts';
import { FEEDBACK_MODES } from '../../reference/rules/ldfa.ts';
import { DEFAULT_CLAIM_TIMEOUT_SECONDS } from '../experiments/claims.ts';
import { finishShardedSweeps, RECIPES, RECIPE_NAMES, recipeDir, recipeNamed, recipesForPreset, runExperiment } from '../experiments/index.ts';
import { planOf } from '../experiments/recipes/common.ts';
import { PRESETS } from '../presets.ts';
import { writeResultsPage } from '../experiments/results-page.ts';
import { parseShard, SCALES, type Overrides, type Scale, type Shard } from '../experiments/sweep.ts';
import { checkOutputFile } from '../paths.ts';
import { integerFlag } from './train-options.ts';

interface ExperimentFlags {
  scale: Scale; out?: string; resume?: boolean; retryDiverged?: boolean; seeds?: number; quiet?: boolean; shard?: Shard; claimTimeout?: number;
  data?: TrainConfig['data']; dataDir?: string; feedback?: TrainConfig['feedback']; backend?: string; preset?: PresetName;
}

export function registerExperimentCommands(program: Command): void {
  program.command('experiment')
    .description(`the paper's findings as recipes (spec §5): ${RECIPE_NAMES.join(', ')}, or all; writes a JSON file per run, summary.json, results.md and plots`)
    .argument('<name>', `${RECIPE_NAMES.join(' | ')} | all`)
    .addOption(new Option('--scale <scale>', 'quick: ≤ 15 min per recipe on 2 cores (MNIST); medium: quick\'s runs on 3× the images, the whole test set, 2× the epochs (≤ ~30 min per recipe); full: the paper\'s sizes (CIFAR, --data-dir); tiny: seconds, for tests').choices(SCALES).default('quick'))
    .option('--out <dir>', 'output directory (default out/experiments/<name>; for all: one sub-directory per recipe, default out/experiments)')
    .option('--resume', 'continue an interrupted sweep in --out: finished runs are kept, a started one continues from its last checkpoint')
    .option('--retry-diverged', 'with --resume: train the runs recorded as diverged again (by default a resume keeps them as diverged)')
    .option('--seeds <K>', 'seeds 1..K for every configuration (default: the recipe\'s, 3 for most quick recipes)', integerFlag('--seeds', 1))
    .addOption(new Option('--data <name>', 'data set instead of the scale\'s (mnist/fashion for quick, cifar10/cifar100 for full)').choices(DATA_NAMES))
    .option('--data-dir <dir>', 'directory of the CIFAR binary files (required for --scale full)')
    .addOption(new Option('--feedback <mode>', 'LDFA feedback learning instead of the recipe\'s').choices(FEEDBACK_MODES))
    .addOption(new Option('--preset <name>', "the authors' conventions of one version of their code (docs/conventions.md); the recipe keeps its own schedule (epochs, batch, lr)").choices(PRESET_NAMES))
    .option('--backend <name>', 'compute backend (default auto)')
    .option('--shard <i/n>', 'work on one share of the sweep beside other workers on the same --out: runs i, i+n, i+2n, … (0 ≤ i < n); each run is claimed, so it is trained once (docs/sweeps.md: Slurm job arrays, Kubernetes Indexed Jobs)', parseShard)
    .option('--claim-timeout <s>', `take over a run whose worker has shown no heartbeat for this many seconds (default ${DEFAULT_CLAIM_TIMEOUT_SECONDS}); ended processes of the same machine are noticed at once`, integerFlag('--claim-timeout', 1))
    .option('--quiet', 'no progress lines')
    .action(async (name: string, flags: ExperimentFlags) => {
      if (flags.retryDiverged && !flags.resume && !flags.shard) throw new Error('--retry-diverged trains the diverged runs of an existing sweep again: give --resume (or --shard i/n) too');
      const overrides: Overrides = {
        ...(flags.data ? { data: flags.data } : {}), ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
        ...(flags.feedback ? { feedback: flags.feedback } : {}), ...(flags.backend ? { backend: flags.backend } : {}),
        ...(flags.preset ? { preset: flags.preset } : {}),
      };
      let recipes = name === 'all' ? RECIPES : [recipeNamed(name)];
      if (name === 'all' && flags.preset) {
        const { run, skipped } = recipesForPreset(RECIPES, flags.preset, flags.scale, overrides);
        if (run.length === 0) throw new Error(`--preset ${flags.preset} fits none of the recipes (it is the authors' set-up for --arch ${PRESETS[flags.preset].arches.join(' or ')}): name one recipe instead of all`);
        if (skipped.length > 0) process.stderr.write(`--preset ${flags.preset} is the authors' set-up for --arch ${PRESETS[flags.preset].arches.join(' or ')}: running ${run.map((r) => r.name).join(', ')}; skipping ${skipped.map((r) => r.name).join(', ')}, whose models it does not fit\n`);
        recipes = run;
      }
      // Every recipe's runs are planned (and so checked) before the first one trains.
      for (const recipe of recipes) planOf(recipe).runs(flags.scale, overrides);
      const log = flags.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      for (const recipe of recipes) {
        const out = name === 'all' || flags.out === undefined ? recipeDir(flags.out ?? 'out/experiments', recipe.name) : flags.out;
        const report = await runExperiment(recipe, {
          out, scale: flags.scale, seeds: flags.seeds, resume: Boolean(flags.resume), retryDiverged: Boolean(flags.retryDiverged), overrides, log, shard: flags.shard, claimTimeoutSeconds: flags.claimTimeout,
        });
        if ('pending' in report) {
          process.stdout.write(`${recipe.name}: this worker's share is done; ${report.pending.length} run(s) of other workers are unfinished (${report.pending.join(', ')}). The last worker to finish writes ${out}/summary.json (so do \`ldfa experiment ${recipe.name} --out ${out} --resume\` and \`ldfa results\` once all are finished).\n`);
          continue;
        }
        process.stdout.write(`${recipe.name}: ${report.verdicts.map((v) => `${v.holds === null ? '?' : v.holds ? '✓' : '✗'} ${v.claim}`).join('; ')}\nwrote ${out}/summary.json, ${out}/results.md\n`);
      }
    });

  program.command('results')
    .description('gather the experiments\' reports (DIR/<recipe>/summary.json) into one results page with the paper\'s numbers beside them')
    .option('--from <dir>', 'where `ldfa experiment all` wrote its recipes', 'out/experiments')
    .option('--out <file>', 'the page to write', 'docs/results.md')
    .action((flags: { from: string; out: string }) => {
      checkOutputFile('--out', flags.out, 'results.md');
      for (const line of finishShardedSweeps(flags.from)) process.stdout.write(`${line}\n`);
      const { page, missing, kept } = writeResultsPage(flags.from, flags.out);
      const notRun = missing.filter((m) => !kept.includes(m));
      process.stdout.write(`wrote ${page}${kept.length ? ` (kept from the page as it was: ${kept.join(', ')})` : ''}${notRun.length ? ` (no results yet for: ${notRun.join(', ')})` : ''}\n`);
    });
}
