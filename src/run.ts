// One training run as the CLI does it: pick the backend, load the data, train with a
// progress display, and describe the run (backend actually used, FLOPs) in the result.
import { setBackend } from '../reference/backend.ts';
import { createBackend } from './backends/registry.ts';
import { validateConfig, type TrainConfig } from './config.ts';
import { batches } from './data/dataset.ts';
import { loadData } from './data/index.ts';
import { writeJsonAtomic } from './report/atomic.ts';
import { train, type TrainHooks, type TrainResult } from './train.ts';

export interface RunResult extends TrainResult {
  backend: { name: string; precision: string; kernel: string };
}

export interface RunOptions extends Omit<TrainHooks, 'onStep' | 'onEpoch' | 'alignmentProbe'> {
  out?: string;
  /** Measure per-layer alignment with BP on the first 256 test samples after every epoch. */
  metrics?: boolean;
  /** Prints a line per epoch (and a progress bar on a terminal). */
  log?: (line: string) => void;
  onStep?: TrainHooks['onStep'];
}

export async function runTraining(config: TrainConfig, options: RunOptions = {}): Promise<RunResult> {
  validateConfig(config);
  const backend = await createBackend(config.backend);
  setBackend(backend);
  const data = loadData(config);
  const log = options.log ?? (() => {});
  const label = `${config.rule}${config.rule === 'ldfa' ? ` r=${String(config.rank)} ${config.feedback}` : ''}`;
  const result = train(config, data, {
    checkpoint: options.checkpoint,
    resume: options.resume,
    onStep: options.onStep,
    alignmentProbe: options.metrics ? batches(data.test, 256, null).next().value : undefined,
    onEpoch: (e) => log(`${label} epoch ${e.epoch}/${config.epochs}: train loss ${e.trainLoss.toFixed(4)}, test accuracy ${(100 * e.testAccuracy).toFixed(2)}% (${e.seconds.toFixed(1)} s)`),
  });
  const full: RunResult = { ...result, backend: { name: backend.name, precision: backend.precision, kernel: backend.kernelInfo() } };
  if (options.out) writeJsonAtomic(options.out, full);
  return full;
}
