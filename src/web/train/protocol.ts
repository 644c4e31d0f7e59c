// Messages between the page and its worker (worker.ts). Every request carries a session id
// and every answer repeats it, so an answer that arrives after a newer request (a 'step' of a
// stopped session, a theory result of a superseded rank) is recognised and dropped; training
// answers also carry the id of their run, never a position in a list.
import type { WebBackendName } from '../backends.ts';
import type { TheoryExperimentResult } from '../../../oracles/linear/experiment.ts';
import type { SessionSpec } from './session.ts';
import type { TheoryRequest } from '../theory/setup.ts';

export type ToWorker =
  | { type: 'train'; session: number; spec: SessionSpec; backend: WebBackendName; steps: number; evalEvery: number }
  | { type: 'stop'; session: number }
  | { type: 'trajectory'; session: number; backend: WebBackendName; steps: number }
  | { type: 'theory'; session: number; request: TheoryRequest };

export type FromWorker =
  | { type: 'ready'; session: number; kernel: string }
  | { type: 'step'; session: number; run: number; step: number; loss: number; ms: number }
  | { type: 'eval'; session: number; run: number; step: number; testAccuracy: number; anglesDeg: Record<string, number | null>; kernel: string }
  /** One run failed and stopped; the others go on. `reason` is worded for the page. */
  | { type: 'run-failed'; session: number; run: number; step: number; reason: string }
  | { type: 'done'; session: number; steps: number; stepsPerSecond: number; kernel: string }
  | { type: 'trajectory'; session: number; backend: WebBackendName; kernel: string; losses: number[]; params: Float64Array }
  | { type: 'theory'; session: number; result: TheoryExperimentResult }
  /** The request as a whole failed (a bad spec, a backend that would not start). */
  | { type: 'error'; session: number; message: string };
