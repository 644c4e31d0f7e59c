// One training run as the CLI does it: pick the backend, load the data, train with a
// progress display, and describe the run (backend actually used, FLOPs) in the result.
import { setBackend, type Backend } from '../reference/backend.ts';
import { createBackend, nativeFallbackNote, selectAuto, type AutoChoice } from './backends/registry.ts';
import { validateConfig, type TrainConfig } from './config.ts';
import { batches } from './data/dataset.ts';
import { loadData, type TrainTest } from './data/index.ts';
import { writeJsonAtomic } from './report/atomic.ts';
import { createProgress } from './report/progress.ts';
import type { LayerAlignment } from './alignment.ts';
import { dataShape } from './experiments/recipes/common.ts';
import { totalmem } from 'node:os';
import { checkDistinctOutputs, checkInputDir, checkOutputFile } from './paths.ts';
import { checkCheckpoint, train, type TrainHooks, type TrainResult } from './train.ts';

export interface RunResult extends TrainResult {
  backend: { name: string; precision: string; kernel: string };
}

export interface RunOptions extends Omit<TrainHooks, 'onStep' | 'onEpoch' | 'onResume' | 'alignmentProbe'> {
  out?: string;
  /** Measure per-layer alignment with BP on the first 256 test samples after every epoch. */
  metrics?: boolean;
  /** Prints a line per epoch (and a progress bar on a terminal). */
  log?: (line: string) => void;
  /** Where to say that the run continues from its checkpoint (default: log); shown even when the epoch lines are not. */
  notice?: (line: string) => void;
  onStep?: TrainHooks['onStep'];
  /** The data set, already loaded (a sweep loads it once for many runs); default: loadData(config). */
  data?: TrainTest;
}

const backends = new Map<string, Promise<Backend>>();
let autoChoice: Promise<AutoChoice> | null = null;
let fallbackNoted = false;

/** One backend per name and process: 'auto' measures the candidates only once. */
export function backendNamed(name: string): Promise<Backend> {
  if (!backends.has(name)) {
    if (name === 'auto') {
      autoChoice = selectAuto();
      backends.set(name, autoChoice.then((c) => c.backend));
    } else backends.set(name, createBackend(name));
  }
  return backends.get(name)!;
}

const degrees = (v: number | null) => (v === null ? '–' : `${v.toFixed(1)}°`);

function alignmentLine(alignment: Record<string, LayerAlignment>): string {
  return Object.entries(alignment).map(([layer, a]) => `${layer} ${degrees(a.signalAngleDeg)} / ${degrees(a.updateAngleDeg)}`).join(', ');
}

/** Everything a run needs that can be checked before it starts: the configuration, the data directory, the outputs. */
export function checkRun(config: TrainConfig, options: Pick<RunOptions, 'out' | 'checkpoint' | 'resume'>): void {
  validateConfig(config);
  if (options.resume && !options.checkpoint) throw new Error('--resume continues from --checkpoint FILE: give --checkpoint too');
  if (config.dataDir !== null) checkInputDir('--data-dir', config.dataDir);
  const { inputShape, classes } = dataShape(config.data, config.grayscale);
  checkModelFits(config, inputShape, config.classes ?? classes);
  if (options.out !== undefined) checkOutputFile('--out', options.out);
  checkDistinctOutputs([['--checkpoint', options.checkpoint], ['--out', options.out]]);
  if (options.checkpoint !== undefined) checkCheckpoint(options.checkpoint, config, Boolean(options.resume));
}

export async function runTraining(config: TrainConfig, options: RunOptions = {}): Promise<RunResult> {
  checkRun(config, options);
  const backend = await backendNamed(config.backend);
  setBackend(backend);
  const data = options.data ?? loadData(config);
  if ((config.rule === 'kp' || config.rule === 'pfa') && config.weightDecay === 0 && !config.weightDecayFirstEpoch) {
    (options.notice ?? options.log)?.(`note: --rule ${config.rule} with --weight-decay 0: ${config.rule === 'kp' ? 'B − W' : 'R − B_pᵀW'} never shrinks (it decays as (1 − lr·wd)^t); the family spec recommends a weight decay > 0`);
  }
  const label = `${config.rule}${config.rule === 'ldfa' ? ` r=${String(config.rank)} ${config.feedback}` : ''}`;
  // A bar with an ETA on a terminal; otherwise only the per-epoch lines.
  const progress = options.log ? createProgress({ stream: process.stderr }) : null;
  const log = options.log ? (line: string) => (progress!.tty ? progress!.log(line) : options.log!(line)) : () => {};
  // once per process: where auto runs without the native backend, say how to get it
  const note = config.backend === 'auto' && autoChoice !== null && !fallbackNoted ? nativeFallbackNote(await autoChoice) : null;
  if (note !== null && options.notice) {
    options.notice(note);
    fallbackNoted = true;
  }
  const result = train(config, data, {
    checkpoint: options.checkpoint,
    resume: options.resume,
    onResume: (done, switched) => (options.notice ?? log)((done < config.epochs
      ? `resuming from ${options.checkpoint}: ${done} of ${config.epochs} epochs finished, continuing at epoch ${done + 1}`
      : `resuming from ${options.checkpoint}: all ${config.epochs} epochs finished already, nothing to train`)
      + (switched && done < config.epochs
        ? `; its epochs ran on the ${switched.from} backend, this run continues on ${switched.to}, so its last digits differ from an uninterrupted ${switched.from} run's (each epoch of the result records its backend)`
        : '')),
    onFinish: options.onFinish,
    alignmentProbe: options.metrics ? batches(data.test, 256, null).next().value : undefined,
    onStep: (s) => {
      if (s.step === 1) progress?.start(s.stepsPerEpoch, {}, `${label} epoch ${s.epoch}/${config.epochs}`);
      progress?.update(s.step, { loss: s.loss });
      options.onStep?.(s);
    },
    onEpoch: (e) => {
      progress?.stop();
      log(`${label} epoch ${e.epoch}/${config.epochs}: train loss ${e.trainLoss.toFixed(4)}, test accuracy ${(100 * e.testAccuracy).toFixed(2)}% (${e.seconds.toFixed(1)} s)`);
      if (e.alignment) log(`  angle to BP (signal sent down / ΔW): ${alignmentLine(e.alignment)}`);
    },
  });
  const full: RunResult = { ...result, backend: { name: backend.name, precision: backend.precision, kernel: backend.kernelInfo() } };
  if (options.out) writeJsonAtomic(options.out, full);
  return full;
}

/**
 * Refuses, before any allocation, a linear net or MLP whose weights would not fit in this
 * machine's memory: each parameter is held about six times in float64 (value, gradient, two or
 * three optimiser moments, a weight-shaped feedback matrix). Other architectures' sizes grow
 * with channels and patches, not with a width squared; an allocation they cannot make is
 * reported by createModel (src/models.ts). Here, not in the trainer: the web page's trainer has
 * no node:os.
 */
export function checkModelFits(config: TrainConfig, inputShape: readonly number[], classes: number): void {
  if (config.arch !== 'linear' && config.arch !== 'mlp') return;
  const widths = [inputShape.reduce((a, b) => a * b, 1), ...config.hidden, classes];
  const parameters = widths.slice(1).reduce((sum, w, i) => sum + widths[i] * w + w, 0);
  const bytes = parameters * 8 * 6;
  if (bytes > totalmem()) {
    throw new Error(`--hidden ${config.hidden.join(',')} makes a network of ${parameters.toExponential(2)} parameters, about ${(bytes / 2 ** 30).toFixed(0)} GiB to train, `
      + `more than this machine's ${(totalmem() / 2 ** 30).toFixed(0)} GiB of memory: choose smaller widths`);
  }
}
