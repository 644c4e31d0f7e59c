// The web app's worker: live training, the 20-step trajectory check and the linear theory
// run here, so the page stays responsive. Training interleaves the runs step by step and
// yields to the event loop between rounds, so a 'stop' (or a newer session) arrives at once.
// A run that fails stops alone: the others go on. Every answer names its session and run.
import type { Backend } from '../../../reference/backend.ts';
import type { Dataset } from '../../data/dataset.ts';
import { runTheoryExperiment } from '../../../oracles/linear/experiment.ts';
import { createWebBackend, type WebBackendName } from '../backends.ts';
import { fetchMnistSubset } from '../data.ts';
import { theoryConfig } from '../theory/setup.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { checkSessionSpec, evaluateRun, explainFailure, probeBatch, startRun, stepRun, stepsProblem, trajectory, type LiveRun } from './session.ts';

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m);
const base = self.location.href;
let data: Promise<{ train: Dataset; test: Dataset }> | null = null;
const backends = new Map<WebBackendName, Promise<Backend>>();
/** The session that may still post training messages (a newer 'train' or a 'stop' ends the older one). */
let activeTraining = -1;

const mnist = () => (data ??= fetchMnistSubset(base));
function backendNamed(name: WebBackendName): Promise<Backend> {
  let b = backends.get(name);
  if (!b) { b = createWebBackend(name, base); backends.set(name, b); }
  return b;
}
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

async function train(m: Extract<ToWorker, { type: 'train' }>): Promise<void> {
  const { session } = m;
  checkSessionSpec(m.spec);
  const steps = stepsProblem(m.steps);
  if (steps) throw new Error(steps);
  const [{ train: trainSet, test }, backend] = await Promise.all([mnist(), backendNamed(m.backend)]);
  if (activeTraining !== session) return;
  post({ type: 'ready', session, kernel: backend.kernelInfo() });
  const runs: { id: number; live: LiveRun | null }[] = m.spec.runs.map((spec) => ({ id: spec.id, live: null }));
  const fail = (i: number, step: number, e: unknown) => {
    const spec = m.spec.runs[i], live = runs[i].live;
    const reason = live ? explainFailure(e, live, m.spec, spec) : `could not start: ${(e as Error).message}`;
    runs[i].live = null;
    post({ type: 'run-failed', session, run: spec.id, step, reason });
  };
  m.spec.runs.forEach((spec, i) => {
    try { runs[i].live = startRun(m.spec, spec, trainSet, backend); } catch (e) { fail(i, 0, e); }
  });
  const probe = probeBatch(test, 128);
  let busyMs = 0, stepsTaken = 0;
  for (let step = 1; step <= m.steps && runs.some((r) => r.live); step++) {
    for (const [i, run] of runs.entries()) {
      if (!run.live) continue;
      try {
        const { loss, ms } = stepRun(run.live, backend);
        busyMs += ms;
        stepsTaken++;
        post({ type: 'step', session, run: run.id, step, loss, ms });
        if (step % m.evalEvery === 0 || step === 1) post({ type: 'eval', session, run: run.id, step, ...evaluateRun(run.live, backend, test, probe), kernel: backend.kernelInfo() });
      } catch (e) {
        fail(i, step, e);
      }
    }
    await yieldToEvents();
    if (activeTraining !== session) return;
  }
  post({ type: 'done', session, steps: m.steps, stepsPerSecond: stepsTaken / (busyMs / 1000), kernel: backend.kernelInfo() });
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  try {
    switch (m.type) {
      case 'stop': if (activeTraining === m.session) activeTraining = -1; return;
      case 'train': activeTraining = m.session; return await train(m);
      case 'trajectory': {
        const [{ train: trainSet }, backend] = await Promise.all([mnist(), backendNamed(m.backend)]);
        const { losses, params } = trajectory(trainSet, backend, m.steps);
        return post({ type: 'trajectory', session: m.session, backend: m.backend, kernel: backend.kernelInfo(), losses, params });
      }
      case 'theory':
        return post({ type: 'theory', session: m.session, result: runTheoryExperiment(theoryConfig(m.request)) });
    }
  } catch (e) {
    post({ type: 'error', session: m.session, message: (e as Error).message });
  }
};
