// `ldfa fixtures`: (re)generates the golden fixtures (oracles/generate.ts) — the one
// regeneration command, also `npm run fixtures`. With --check it writes nothing and exits 1
// when a committed fixture differs from what the current reference computes. With --custom FILE
// it writes one fixture at the user's own sizes from the train flags (oracles/custom.ts).
import { Command, InvalidArgumentError } from 'commander';
import { checkFixtures, encodeFixture, generateFixture, writeFixtures } from '../../oracles/generate.ts';
import { fixtureCases } from '../../oracles/cases.ts';
import { CUSTOM_ARCHS, DEFAULT_CUSTOM, customCase, customConfig, type CustomFixtureOptions } from '../../oracles/custom.ts';
import { GROWTH_LIMIT } from '../../oracles/generate.ts';
import { checkOutputDir, checkOutputFile } from '../paths.ts';
import { PRESET_NAMES } from '../config.ts';
import { RULE_NAMES } from '../../reference/rules/rule.ts';
import { writeFileAtomic } from '../report/atomic.ts';
import { integerFlag, refuseIgnoredFlags } from './train-options.ts';
import { usageErrorsExit } from './verify.ts';

export const DEFAULT_FIXTURE_DIR = 'oracles/fixtures';

const number = (flag: string) => (text: string): number => {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new Error(`${flag} must be a number, got '${text}'`);
  return v;
};
/** --usf-scale: init-std, unit, or a number (its range is checked with the other train flags). */
const usfScale = (text: string): CustomFixtureOptions['usfScale'] => (text === 'init-std' || text === 'unit' ? text : number('--usf-scale')(text));
const shape = (text: string): number[] => text.split(',').map((s) => {
  const v = Number(s);
  if (s.trim() === '' || !Number.isInteger(v) || v < 1) throw new Error(`--input-shape must be positive integers separated by commas (e.g. 1,28,28 or 784), got '${text}'`);
  return v;
});

/** A value parser whose errors commander reports as a bad argument (a usage error, exit 2). */
const asArgument = (parse: (t: string) => unknown) => (text: string): unknown => {
  try {
    return parse(text);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

/** The flags of a custom fixture (the train flags that shape the model, the rule and the schedule). */
const CUSTOM_FLAGS: [flag: string, key: keyof CustomFixtureOptions, help: string, parse?: (t: string) => unknown][] = [
  ['--arch <name>', 'arch', CUSTOM_ARCHS.join(' | ')],
  ['--hidden <widths>', 'hidden', 'hidden widths, comma separated (cnn: conv channels); default as ldfa train'],
  ['--activation <f>', 'activation', `relu | tanh | identity (default ${DEFAULT_CUSTOM.activation})`],
  ['--kernel <k>', 'kernel', `cnn: conv kernel size (default ${DEFAULT_CUSTOM.kernel})`, integerFlag('--kernel', 1)],
  ['--patch <p>', 'patch', `vit: patch size (default ${DEFAULT_CUSTOM.patch})`, integerFlag('--patch', 1)],
  ['--dim <D>', 'dim', `vit: token width (default ${DEFAULT_CUSTOM.dim})`, integerFlag('--dim', 1)],
  ['--depth <L>', 'depth', `vit: blocks (default ${DEFAULT_CUSTOM.depth})`, integerFlag('--depth', 1)],
  ['--heads <H>', 'heads', `vit: attention heads (default ${DEFAULT_CUSTOM.heads})`, integerFlag('--heads', 1)],
  ['--mlp-ratio <m>', 'mlpRatio', `vit: MLP width = m·D (default ${DEFAULT_CUSTOM.mlpRatio})`, integerFlag('--mlp-ratio', 1)],
  ['--rule <name>', 'rule', `${RULE_NAMES.join(' | ')} (default ${DEFAULT_CUSTOM.rule})`],
  ['--feedback <mode>', 'feedback', `LDFA: fixed | normative | oja | factorised (default ${DEFAULT_CUSTOM.feedback})`],
  ['--rank <R>', 'rank', `LDFA rank: one number, 'full', or one per layer (default ${DEFAULT_CUSTOM.rank})`],
  ['--feedback-init <how>', 'feedbackInit', `LDFA: svd | random | auto (default ${DEFAULT_CUSTOM.feedbackInit})`],
  ['--batch <B>', 'batch', `batch size (default ${DEFAULT_CUSTOM.batch})`, integerFlag('--batch', 1)],
  ['--steps <K>', 'steps', `SGD steps recorded (default ${DEFAULT_CUSTOM.steps})`, integerFlag('--steps', 1)],
  ['--lr <LR>', 'lr', `SGD learning rate (default ${DEFAULT_CUSTOM.lr})`, number('--lr')],
  ['--feedback-lr <LR>', 'feedbackLr', `learning rate of P̂, Q̂ (default ${DEFAULT_CUSTOM.feedbackLr})`, number('--feedback-lr')],
  ['--seed <S>', 'seed', `seed of the batch, weights and feedback (default ${DEFAULT_CUSTOM.seed})`, integerFlag('--seed', 0)],
  ['--input-shape <dims>', 'inputShape', `per-sample input shape, C,H,W for images (default ${DEFAULT_CUSTOM.inputShape.join(',')})`, shape],
  ['--classes <C>', 'classes', `number of classes (default ${DEFAULT_CUSTOM.classes})`, integerFlag('--classes', 1)],
  ['--preset <name>', 'preset', `an authors' set-up (${PRESET_NAMES.join(' | ')}; needs --rule ldfa): its conventions, explicit flags win`],
  ['--weight-decay <l>', 'weightDecay', 'coupled L2 decay λ of the weights, and of KP\'s B and PFA\'s R (default 0; the committed KP and PFA cases use 0.05)', number('--weight-decay')],
  ['--usf-scale <c>', 'usfScale', "uSF: c in B = c·sign(W): 'init-std' (default), 'unit' or a number > 0", usfScale],
  ['--sign-magnitudes <init>', 'signMagnitudes', `brSF, frSF: the distribution of M (default ${DEFAULT_CUSTOM.signMagnitudes})`],
  ['--kp-init <how>', 'kpInit', `KP: B₀ random | weights (default ${DEFAULT_CUSTOM.kpInit})`],
  ['--mirror-sigma <s>', 'mirrorSigma', `weight mirrors: noise std σ (default ${DEFAULT_CUSTOM.mirrorSigma})`, number('--mirror-sigma')],
  ['--mirror-rate <rho>', 'mirrorRate', `weight mirrors: rate ρ (default ${DEFAULT_CUSTOM.mirrorRate})`, number('--mirror-rate')],
  ['--mirror-batch <N>', 'mirrorBatch', 'weight mirrors: noise samples per mirror step (default --batch)', integerFlag('--mirror-batch', 1)],
  ['--pfa-expansion <k>', 'pfaExpansion', `PFA: middle width k·out (default ${DEFAULT_CUSTOM.pfaExpansion})`, integerFlag('--pfa-expansion', 1)],
  ['--pfa-feedback <how>', 'pfaFeedback', `PFA: B_p random | identity | orthogonal (default ${DEFAULT_CUSTOM.pfaFeedback})`],
  ['--clip-signal <c>', 'clipSignal', 'the signal each layer sends down clamped to ±c, after its feedback and before f′ below (v1 code; default none, ±1 under the v1 presets)', number('--clip-signal')],
  // the LDFA options of `ldfa train`, with its defaults and its checks
  ['--learn <which>', 'learn', "LDFA: learn 'pq' (both) or 'q' only"],
  ['--direct', 'direct', 'LDFA: the DFA-style variant (spec §4.4; fixed or oja)'],
  ['--oja-normalisation <how>', 'ojaNormalisation', 'LDFA oja: max-std | max-second-moment | none'],
  ['--oja-eps <e>', 'ojaEps', 'LDFA oja: ε of the normalisation in linear layers (1e-8)', number('--oja-eps')],
  ['--oja-eps-conv <e>', 'ojaEpsConv', 'LDFA oja: ε of the normalisation in conv layers (1e-6)', number('--oja-eps-conv')],
  ['--oja-output <from>', 'ojaOutput', "LDFA oja: the output layer's P̂ learns from its 'error' or the one-hot 'labels'"],
  ['--clip-linear-grad <c>', 'clipLinearGrad', 'LDFA: clamp dW, db, dP, dQ of the linear LDFA layers to ±c (v4 normative code: 10)', number('--clip-linear-grad')],
  ['--clip-conv-feedback-grad <c>', 'clipConvFeedbackGrad', 'LDFA: clamp dP, dQ of the conv layers to ±c (v4 normative code: 0.1)', number('--clip-conv-feedback-grad')],
  ['--svd <how>', 'svd', 'LDFA: exact | randomized | auto, for the SVD start and re-factorisation'],
  ['--svd-power-iterations <q>', 'svdPowerIterations', 'LDFA: power iterations of the randomized SVD', integerFlag('--svd-power-iterations', 0)],
  ['--svd-power-iterations-conv <q>', 'svdPowerIterationsConv', 'LDFA: power iterations of the randomized SVD of conv layers (default: --svd-power-iterations)', integerFlag('--svd-power-iterations-conv', 0)],
  ['--svd-oversample <p>', 'svdOversample', 'LDFA: extra random columns of the randomized SVD', integerFlag('--svd-oversample', 0)],
  ['--svd-every <K>', 'svdEvery', 'LDFA normative: re-factorise P̂, Q̂ from the SVD of W after every K-th step (the Ω of a randomized SVD is recorded)', integerFlag('--svd-every', 0)],
  ['--classifier-feedback <how>', 'classifierFeedback', "LDFA on a cnn: the linear classifier sends through P̂Q̂ ('ldfa') or W ('bp')"],
];

type FixturesFlags = { out?: string; case: string[]; check?: boolean; list?: boolean; custom?: string; allowGrowth?: boolean } & Partial<Record<keyof CustomFixtureOptions, unknown>>;

/** Refuses combinations that would ignore a flag. */
function checkCombination(opts: FixturesFlags): void {
  const given = [...CUSTOM_FLAGS.filter(([, key]) => opts[key] !== undefined).map(([flag]) => flag.split(' ')[0]), ...(opts.allowGrowth ? ['--allow-growth'] : [])];
  if (opts.custom === undefined) {
    if (given.length) throw new Error(`${given.join(', ')} shape a fixture at your own sizes and need --custom FILE`);
    if ([opts.check, opts.list].filter(Boolean).length + (opts.case.length ? 1 : 0) > 1) throw new Error('--check, --list and --case are alternatives: give one of them');
    return;
  }
  const others = [opts.out !== undefined && '--out', opts.case.length && '--case', opts.check && '--check', opts.list && '--list'].filter(Boolean);
  if (others.length) throw new Error(`--custom writes one fixture to its FILE; ${others.join(', ')} would be ignored: drop ${others.length === 1 ? 'it' : 'them'}`);
  if (opts.arch === undefined) throw new Error(`--custom needs --arch (${CUSTOM_ARCHS.join(', ')})`);
}

/** out and exit are replaceable so tests can run the command in-process. */
export function registerFixturesCommand(
  program: Command,
  out: (text: string) => void = (t) => { process.stdout.write(t); },
  exit: (code: number) => void = (code) => { process.exitCode = code; },
  err: (text: string) => void = (t) => { process.stderr.write(t); },
): void {
  const cmd = program.command('fixtures')
    .description('regenerate the golden fixtures for cross-implementation checks, or write one at your own sizes with --custom (docs/fixture-format.md)')
    .option('--out <dir>', `where to write the fixtures and MANIFEST.json (default ${DEFAULT_FIXTURE_DIR})`)
    .option('--case <name>', 'only this case (repeatable; MANIFEST.json is then left alone)', (c: string, acc: string[]) => [...acc, c], [] as string[])
    .option('--check', 'write nothing; exit 1 if a fixture in --out differs from the current reference')
    .option('--list', 'list the cases and exit')
    .option('--custom <file>', 'write one fixture for your own configuration (the flags below) to this file')
    .option('--allow-growth', `--custom: write the fixture even when a tensor grows past ${GROWTH_LIMIT}× its initial scale (it then checks overflow, not the algorithm)`);
  for (const [flag, , help, parse] of CUSTOM_FLAGS) {
    if (parse) cmd.option(flag, `--custom: ${help}`, asArgument(parse));
    else cmd.option(flag, `--custom: ${help}`);
  }
  cmd.action((opts: FixturesFlags) => {
    try {
      checkCombination(opts);
    } catch (e) {
      err(`ldfa fixtures: error: ${(e as Error).message}\n`);
      exit(2);
      return;
    }
    if (opts.custom !== undefined) {
      exit(writeCustom(opts.custom, opts, out, err));
      return;
    }
    const dir = opts.out ?? DEFAULT_FIXTURE_DIR;
    if (opts.list) {
      for (const c of fixtureCases()) out(`${c.name}\n`);
      return;
    }
    if (opts.check) {
      const problems = checkFixtures(dir);
      for (const p of problems) out(`${p.file}: ${p.problem}\n`);
      out(problems.length ? `${problems.length} fixture(s) out of date: run \`npm run fixtures\`\n` : `all ${fixtureCases().length} fixtures match the current reference\n`);
      exit(problems.length ? 1 : 0);
      return;
    }
    try {
      checkOutputDir('--out', dir);
    } catch (e) {
      err(`ldfa fixtures: error: ${(e as Error).message}\n`);
      exit(2);
      return;
    }
    const entries = writeFixtures(dir, opts.case);
    for (const e of entries) out(`${e.file.padEnd(32)} ${String(e.bytes).padStart(7)} bytes  ${e.tensors} tensors\n`);
    out(`wrote ${entries.length} fixture(s), ${entries.reduce((a, e) => a + e.bytes, 0)} bytes, to ${dir}\n`);
  });
  usageErrorsExit(cmd, { out, err }, exit);
}

/** Validates everything, then generates and writes the custom fixture; returns the exit status. */
function writeCustom(file: string, flags: FixturesFlags, out: (t: string) => void, err: (t: string) => void): number {
  const started = performance.now();
  let c;
  try {
    // sizes and values first (nothing is allocated or created before they pass), then the output path
    const given = Object.fromEntries(CUSTOM_FLAGS.map(([, key]) => [key, flags[key]]).filter(([, v]) => v !== undefined));
    const options = { ...DEFAULT_CUSTOM, ...given } as CustomFixtureOptions;
    const explicit = new Set(Object.keys(given));
    refuseIgnoredFlags(customConfig(options, explicit), (option) => explicit.has(option));
    c = customCase(options, explicit);
    checkOutputFile('--custom', file, 'my-fixture.bin');
  } catch (e) {
    err(`ldfa fixtures: error: ${(e as Error).message}\n`);
    return 2;
  }
  const fixture = generateFixture(c);
  const growth = fixture.growth!;
  if (growth.factor > GROWTH_LIMIT && !flags.allowGrowth) {
    const feedback = /\.[PQ]$/.test(growth.tensor);
    const rate = feedback && c.rule.ldfa ? (c.training.feedbackLr === c.training.lr ? '--lr (P̂, Q̂ step with it under the shared optimiser)' : '--feedback-lr') : '--lr';
    err(`ldfa fixtures: error: this fixture runs away: ${growth.tensor} grows to ${growth.factor.toExponential(2)}× its initial scale by step ${growth.step} `
      + `(the limit is ${GROWTH_LIMIT}×), so it would check overflow, not the algorithm. Lower ${rate} (now ${feedback ? c.training.feedbackLr : c.training.lr}), `
      + `or --steps; or pass --allow-growth to write it anyway. Nothing was written\n`);
    return 2;
  }
  const bytes = encodeFixture(fixture);
  writeFileAtomic(file, bytes);
  out(`${file}: case ${c.name}, ${c.arch.description}; ${bytes.length} bytes, ${fixture.tensors.size} tensors, ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  out(`verify your implementation with: npx ldfa verify --fixture ${file} --candidate <your dump>\n`);
  return 0;
}
