// The web app's worker: live training, the 20-step trajectory check and the linear theory
// run here, so the page stays responsive. Training interleaves the runs step by step and
// yields to the event loop between rounds, so a 'stop' arrives at once.
import type { Backend } from '../../../reference/backend.ts';
import type { Dataset } from '../../data/dataset.ts';
import { runTheoryExperiment } from '../../../oracles/linear/experiment.ts';
import { createWebBackend, type WebBackendName } from '../backends.ts';
import { fetchMnistSubset } from '../data.ts';
import { WEB_THEORY_SETUP } from '../theory/setup.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { checkSessionSpec, evaluateRun, probeBatch, startRun, stepRun, trajectory } from './session.ts';

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m);
const base = self.location.href;
let data: Promise<{ train: Dataset; test: Dataset }> | null = null;
const backends = new Map<WebBackendName, Promise<Backend>>();
let generation = 0;

const mnist = () => (data ??= fetchMnistSubset(base));
function backendNamed(name: WebBackendName): Promise<Backend> {
  let b = backends.get(name);
  if (!b) { b = createWebBackend(name, base); backends.set(name, b); }
  return b;
}
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

async function train(m: Extract<ToWorker, { type: 'train' }>, mine: number): Promise<void> {
  checkSessionSpec(m.spec);
  const [{ train: trainSet, test }, backend] = await Promise.all([mnist(), backendNamed(m.backend)]);
  post({ type: 'ready', kernel: backend.kernelInfo() });
  const runs = m.spec.runs.map((r) => startRun(m.spec, r, trainSet, backend));
  const probe = probeBatch(test, 128);
  let busyMs = 0;
  for (let step = 1; step <= m.steps; step++) {
    for (const [i, run] of runs.entries()) {
      const { loss, ms } = stepRun(run, backend);
      busyMs += ms;
      post({ type: 'step', run: i, step, loss, ms });
      if (step % m.evalEvery === 0 || step === 1) post({ type: 'eval', run: i, step, ...evaluateRun(run, backend, test, probe) });
    }
    await yieldToEvents();
    if (generation !== mine) return;
  }
  post({ type: 'done', steps: m.steps, stepsPerSecond: (m.steps * runs.length) / (busyMs / 1000), kernel: backend.kernelInfo() });
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  const mine = ++generation;
  try {
    switch (m.type) {
      case 'stop': return;
      case 'train': return await train(m, mine);
      case 'trajectory': {
        const [{ train: trainSet }, backend] = await Promise.all([mnist(), backendNamed(m.backend)]);
        const { losses, params } = trajectory(trainSet, backend, m.steps);
        return post({ type: 'trajectory', backend: m.backend, kernel: backend.kernelInfo(), losses, params });
      }
      case 'theory':
        return post({ type: 'theory', result: runTheoryExperiment({ ...WEB_THEORY_SETUP, r: m.rank }) });
    }
  } catch (e) {
    post({ type: 'error', message: (e as Error).message });
  }
};
