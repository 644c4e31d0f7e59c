// The web app's page: three views (hash routes #step, #train, #theory). The numbers come
// from reference/ running in the page (float64) or in its workers; training may use gpu.js
// WebGL2 on the reader's GPU. `window.ldfa` exposes the views to the browser tests and bench.
import { referenceBackend } from '../../reference/kernels.ts';
import { createGpujsBackend } from '../backends/gpujs.ts';
import { kernelSelfCheck } from '../backends/self-check.ts';
import { fetchMnistSubset } from './data.ts';
import type { SourceSnippets } from './step/anchors.ts';
import { createStepView, mnistStepBatch } from './step/view.ts';
import { createTheoryView } from './theory/view.ts';
import type { WebBackendName } from './backends.ts';
import type { FromWorker, ToWorker } from './train/protocol.ts';
import { createTrainView } from './train/view.ts';
import { webGlInfo } from './webgl.ts';

const base = document.baseURI;
const status = document.getElementById('status')!;
const VIEWS = ['step', 'train', 'theory'] as const;

function route(): void {
  const view = VIEWS.find((v) => location.hash === `#${v}`) ?? 'step';
  for (const v of VIEWS) document.getElementById(`view-${v}`)!.hidden = v !== view;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', (a as HTMLElement).dataset.view === view);
  if (view === 'theory') theoryOnce();
}

const newWorker = () => new Worker(new URL('worker.js', base), { type: 'module' });

let theoryOnce = () => {};

async function main(): Promise<void> {
  status.textContent = 'loading MNIST subset and sources …';
  const [sources, mnist] = await Promise.all([
    fetch(new URL('sources.json', base)).then((r) => r.json() as Promise<SourceSnippets>),
    fetchMnistSubset(base),
  ]);
  const step = createStepView(base, sources, mnistStepBatch(mnist.train.x, mnist.train.y));
  const trainWorker = newWorker();
  const webgl = webGlInfo();
  const train = createTrainView(trainWorker, webgl);
  const theory = createTheoryView(newWorker());
  let theoryStarted = false;
  theoryOnce = () => { if (!theoryStarted) { theoryStarted = true; theory.show(2).catch(() => {}); } };
  window.addEventListener('hashchange', route);
  route();
  status.textContent = `MNIST subset: ${mnist.train.n} training and ${mnist.test.n} test digits`;

  /** The 20-step check: the same LDFA run on two backends in the worker. Its ids count down, apart from the training sessions'. */
  let trajectoryId = 0;
  const trajectory = (backend: WebBackendName, steps: number) => new Promise<Extract<FromWorker, { type: 'trajectory' }>>((resolve, reject) => {
    const session = --trajectoryId;
    const listener = (event: MessageEvent<FromWorker>) => {
      const m = event.data;
      if (m.session !== session) return;
      trainWorker.removeEventListener('message', listener);
      if (m.type === 'trajectory') resolve(m);
      else reject(new Error(m.type === 'error' ? m.message : `unexpected answer '${m.type}'`));
    };
    trainWorker.addEventListener('message', listener);
    trainWorker.postMessage({ type: 'trajectory', session, backend, steps } satisfies ToWorker);
  });

  Object.assign(window, {
    ldfa: {
      step, train, theory, trajectory, webgl,
      /** The backend kernel suite on gpu.js WebGL2 in the page, against the float64 reference. */
      async kernelCheck() {
        const gpu = await createGpujsBackend({ mode: 'webgl2' });
        try {
          return { kernelClass: gpu.kernelClass, kernel: gpu.kernelInfo(), worstRatio: kernelSelfCheck(gpu), reference: referenceBackend.kernelInfo() };
        } finally {
          gpu.destroy();
        }
      },
    },
  });
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  status.textContent = `error: ${(e as Error).message}`;
  console.error(e);
});
