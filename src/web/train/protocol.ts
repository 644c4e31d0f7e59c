// Messages between the page and its worker (worker.ts).
import type { WebBackendName } from '../backends.ts';
import type { TheoryExperimentResult } from '../../../oracles/linear/experiment.ts';
import type { SessionSpec } from './session.ts';

export type ToWorker =
  | { type: 'train'; spec: SessionSpec; backend: WebBackendName; steps: number; evalEvery: number }
  | { type: 'stop' }
  | { type: 'trajectory'; backend: WebBackendName; steps: number }
  | { type: 'theory'; rank: number };

export type FromWorker =
  | { type: 'ready'; kernel: string }
  | { type: 'step'; run: number; step: number; loss: number; ms: number }
  | { type: 'eval'; run: number; step: number; testAccuracy: number; anglesDeg: Record<string, number | null> }
  | { type: 'done'; steps: number; stepsPerSecond: number; kernel: string }
  | { type: 'trajectory'; backend: WebBackendName; kernel: string; losses: number[]; params: Float64Array }
  | { type: 'theory'; result: TheoryExperimentResult }
  | { type: 'error'; message: string };
