// --preset: the authors' set-up of one version of their code (spec §2.3, §2.4, §5.1b, §5.2),
// explicit flags over it, refusals, and the CLI recording the preset and every resolved option.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, PRESET_NAMES, type TrainConfig } from '../src/config.ts';
import { configure, halfEpochSteps } from '../src/experiments/recipes/common.ts';
import { addTrainFlags, configFromCommand } from '../src/cli/train-options.ts';
import { applyPreset, PRESETS } from '../src/presets.ts';

/** What each preset must set, copied from the spec (not from src/presets.ts). */
const SPEC: Record<string, { arch: TrainConfig['arch']; settings: Partial<TrainConfig> }> = {
  'authors-v1-mlp': {
    arch: 'mlp',
    settings: {
      feedback: 'oja', feedbackInit: 'random', ojaNormalisation: 'max-std', ojaEps: 1e-8, ojaOutput: 'labels', clipSignal: 1,
      feedbackCoupling: 'shared', optimizer: 'adam', amsgrad: true, lr: 6e-4, weightDecay: 4e-4, lrDecay: 0.975, batch: 32,
    },
  },
  'authors-v1-cnn': {
    arch: 'cnn',
    settings: {
      feedback: 'oja', feedbackInit: 'random', ojaNormalisation: 'max-std', ojaEpsConv: 1e-6, ojaOutput: 'error', clipSignal: 1,
      feedbackCoupling: 'shared', optimizer: 'adam', lr: 5e-4, weightDecay: 5e-5, lrDecay: 0.98, batch: 64,
      // spec §4.2: "Classifier linears use ordinary BP" (plain nn.Linear in models/VGG16.py, models/alexnet.py)
      classifierFeedback: 'bp',
    },
  },
  'authors-v4-normative': {
    arch: 'vit',
    settings: {
      // LDFA_Linear: torch.svd_lowrank(W, q = rank, niter = 10); LDFA_Conv: niter = 2
      feedback: 'normative', feedbackInit: 'svd', svd: 'randomized', svdPowerIterations: 10, svdPowerIterationsConv: 2, svdOversample: 0, clipLinearGrad: 10, clipConvFeedbackGrad: 0.1,
      clipSignal: null, feedbackCoupling: 'separate', optimizer: 'adamw', lr: 3e-4, weightDecay: 0.1, batch: 256,
      feedbackOptimizer: 'adamw', feedbackLr: 0.015, feedbackWeightDecay: 0,
    },
  },
  'authors-v4-bio': {
    arch: 'vit',
    settings: {
      feedback: 'factorised', feedbackInit: 'svd', svdEvery: 0, feedbackCoupling: 'separate', optimizer: 'adamw', lr: 5e-4, weightDecay: 0.1,
      feedbackOptimizer: 'adamw', feedbackLr: 5e-4, feedbackWeightDecay: 0.1,
    },
  },
};

describe('presets', () => {
  it('one per version of the authors\' set-up, each setting the spec\'s values', () => {
    expect([...PRESET_NAMES].sort()).toEqual(Object.keys(SPEC).sort());
    for (const [name, spec] of Object.entries(SPEC)) {
      const c = applyPreset({ ...DEFAULT_CONFIG, arch: spec.arch, rule: 'ldfa' }, name as never);
      expect(c, name).toMatchObject({ ...spec.settings, preset: name });
    }
  });

  it('v4 normative re-factorises every half epoch of the configured data and batch', () => {
    const c = applyPreset({ ...DEFAULT_CONFIG, arch: 'vit', data: 'mnist', limitTrain: 12000 }, 'authors-v4-normative');
    expect(c.svdEvery).toBe(Math.floor(Math.ceil(12000 / 256) / 2));
    expect(c.svdEvery).toBe(halfEpochSteps(c));
  });

  it('keeps the settings named in keep (explicit flags) and refuses an architecture the version never trained', () => {
    const c = applyPreset({ ...DEFAULT_CONFIG, arch: 'mlp', lr: 0.01, ojaOutput: 'error' }, 'authors-v1-mlp', { keep: new Set(['lr', 'ojaOutput']) });
    expect(c).toMatchObject({ lr: 0.01, ojaOutput: 'error', batch: 32, feedback: 'oja' });
    expect(() => applyPreset({ ...DEFAULT_CONFIG, arch: 'mlp' }, 'authors-v1-cnn'))
      .toThrow("--preset authors-v1-cnn is the authors' set-up for --arch cnn, not --arch mlp; presets for mlp: authors-v1-mlp");
    expect(() => applyPreset({ ...DEFAULT_CONFIG, arch: 'retina' }, 'authors-v4-normative')).toThrow('presets for retina: none');
  });

  it('an experiment recipe takes the conventions and keeps its own schedule', () => {
    const base: Partial<TrainConfig> = { arch: 'cnn', lr: 1e-3, batch: 64, epochs: 2, lrDecay: 0.7, feedback: 'normative' };
    const c = configure(base, { preset: 'authors-v1-cnn' });
    expect(c).toMatchObject({ lr: 1e-3, batch: 64, epochs: 2, lrDecay: 0.7, weightDecay: 0, feedback: 'oja', feedbackCoupling: 'shared', clipSignal: 1, preset: 'authors-v1-cnn' });
    expect(configure(base, { preset: 'authors-v1-cnn', feedback: 'fixed' }).feedback).toBe('fixed');
    expect(() => configure(base, { preset: 'authors-v1-mlp' })).toThrow("--preset authors-v1-mlp is the authors' set-up for --arch mlp, not --arch cnn");
  });

  it('every preset says what it stands for, and lists only settings TrainConfig has', () => {
    for (const p of Object.values(PRESETS)) {
      expect(p.description.length).toBeGreaterThan(20);
      const keys = [...Object.keys(p.conventions), ...Object.values(p.training).flatMap((t) => Object.keys(t!))];
      for (const key of keys) expect(DEFAULT_CONFIG, `${p.name}: ${key}`).toHaveProperty(key);
    }
  });
});

describe('train flags under a preset', () => {
  const parse = (args: string[]) => {
    const cmd = addTrainFlags(new Command('train')).exitOverride();
    cmd.parse(args, { from: 'user' });
    return configFromCommand(cmd);
  };

  it('explicit flags override the preset, defaults do not', () => {
    const c = parse(['--preset', 'authors-v1-mlp', '--rule', 'ldfa', '--lr', '0.002', '--no-amsgrad', '--oja-output', 'error']);
    expect(c).toMatchObject({ lr: 0.002, amsgrad: false, ojaOutput: 'error', batch: 32, weightDecay: 4e-4, feedback: 'oja', preset: 'authors-v1-mlp' });
  });

  it.each([
    [['--rule', 'bp', '--oja-output', 'labels'], '--oja-output would be ignored: it applies only with --rule ldfa --feedback oja'],
    [['--rule', 'ldfa', '--feedback', 'normative', '--oja-eps', '1e-6'], '--oja-eps would be ignored: it applies only with --rule ldfa --feedback oja'],
    [['--rule', 'ldfa', '--feedback', 'oja', '--learn', 'q', '--oja-output', 'labels'], '--oja-output labels would be ignored: it sets how the output layer\'s P̂ learns and --learn q keeps P̂ fixed'],
    [['--rule', 'ldfa', '--feedback', 'oja', '--oja-eps-conv', '1e-6'], '--oja-eps-conv would be ignored: it applies only with --rule ldfa --feedback oja on a net with conv layers'],
    [['--rule', 'ldfa', '--feedback', 'oja', '--svd-power-iterations', '10'], '--svd-power-iterations would be ignored: it applies only with --rule ldfa with a randomized SVD'],
    [['--rule', 'ldfa', '--feedback', 'normative', '--svd', 'exact', '--svd-oversample', '0'], '--svd-oversample would be ignored: it applies only with --rule ldfa with a randomized SVD'],
    [['--rule', 'ldfa', '--clip-conv-feedback-grad', '0.1'], '--clip-conv-feedback-grad would be ignored: it applies only with --rule ldfa on a net with conv layers'],
    [['--rule', 'bp', '--clip-linear-grad', '10'], '--clip-linear-grad would be ignored: it applies only with --rule ldfa'],
    [['--preset', 'authors-v1-mlp', '--rule', 'ldfa', '--feedback-lr', '0.1'], "--feedback-lr would be ignored: it applies only with --rule ldfa --feedback-coupling separate"],
  ])('refuses a flag it would ignore: %j', (args, message) => {
    expect(() => parse(args)).toThrow(message);
  });
});

describe('ldfa train --preset (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ldfa-preset-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tiny = ['--limit-train', '64', '--limit-test', '32', '--epochs', '1', '--backend', 'reference', '--quiet', '--rule', 'ldfa', '--rank', '2', '--batch', '16'];
  const archFlags: Record<string, string[]> = {
    mlp: ['--data', 'synthetic', '--arch', 'mlp', '--hidden', '12'],
    cnn: ['--data', 'mnist', '--arch', 'cnn', '--hidden', '2,3'],
    vit: ['--data', 'mnist', '--arch', 'vit', '--dim', '8', '--depth', '1', '--heads', '2', '--patch', '7'],
  };

  it.each(Object.entries(SPEC))('%s runs and its result JSON records the preset and every resolved option', (name, spec) => {
    const out = join(dir, `${name}.json`);
    const run = spawnSync(process.execPath, ['bin/ldfa.mjs', 'train', '--preset', name, ...archFlags[spec.arch], ...tiny, '--out', out], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const { config } = JSON.parse(readFileSync(out, 'utf8')) as { config: TrainConfig };
    const { batch: _batch, ...rest } = spec.settings; // --batch 16 given explicitly
    expect(config).toMatchObject({ ...rest, batch: 16, preset: name });
    expect(Object.keys(config).sort()).toEqual(Object.keys(DEFAULT_CONFIG).sort());
  }, 150_000);
});
