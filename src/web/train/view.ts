// The "Train live" view: up to four runs (BP and LDFA by default) trained side by side in
// the worker; live curves of loss, test accuracy and each layer's angle to BP, the kernel in
// use and ms per step.
import { FEEDBACK_MODES, type FeedbackMode } from '../../../reference/rules/ldfa.ts';
import type { RuleName } from '../../../reference/rules/rule.ts';
import { WEB_BACKENDS, type WebBackendName } from '../backends.ts';
import { lineChart, type Series } from '../plot.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { MAX_RUNS, type RunSpec } from './session.ts';

const COLOURS = ['#222222', '#d1495b', '#2e86ab', '#3b9c4a'];
const BACKEND_LABELS: Record<WebBackendName, string> = {
  webgl2: 'gpu.js WebGL2 (your GPU)', wasm: 'tfjs-wasm (CPU)', reference: 'reference float64 (CPU)',
};
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface RunState {
  spec: RunSpec;
  losses: number[];
  loss: { x: number[]; y: number[] };
  acc: { x: number[]; y: number[] };
  angles: Record<string, { x: number[]; y: number[] }>;
  ms: number[];
}

export interface TrainView {
  /** For the browser tests and the bench: resolves when a session of `steps` steps has finished. */
  run(opts: { backend: WebBackendName; steps: number; runs?: RunSpec[] }): Promise<{ stepsPerSecond: number; kernel: string; finalLoss: number[] }>;
}

export function createTrainView(worker: Worker): TrainView {
  const width = $<HTMLSelectElement>('train-width'), backend = $<HTMLSelectElement>('train-backend');
  const stepsInput = $<HTMLInputElement>('train-steps'), table = $('train-runs').querySelector('tbody')!;
  const start = $<HTMLButtonElement>('train-start'), stop = $<HTMLButtonElement>('train-stop'), add = $<HTMLButtonElement>('train-add');
  const kernel = $('train-kernel');
  backend.replaceChildren(...WEB_BACKENDS.map((b) => new Option(BACKEND_LABELS[b], b)));

  let specs: RunSpec[] = [{ rule: 'bp', mode: 'normative', rank: 2 }, { rule: 'ldfa', mode: 'normative', rank: 2 }];
  let runs: RunState[] = [];
  let kernelText = '';
  let finished: ((r: { stepsPerSecond: number; kernel: string; finalLoss: number[] }) => void) | null = null;
  let failed: ((e: Error) => void) | null = null;

  function renderTable(): void {
    table.replaceChildren(...specs.map((spec, i) => {
      const tr = document.createElement('tr');
      const state = runs[i];
      tr.innerHTML = `<td><span class="swatch" style="background:${COLOURS[i]}"></span></td><td></td><td></td><td></td><td class="loss"></td><td class="acc"></td><td class="angle"></td><td></td>`;
      const [, ruleCell, modeCell, rankCell, lossCell, accCell, angleCell, removeCell] = [...tr.children] as HTMLElement[];
      const rule = document.createElement('select');
      rule.replaceChildren(...(['bp', 'fa', 'dfa', 'ldfa'] as RuleName[]).map((r) => new Option(r.toUpperCase(), r)));
      rule.value = spec.rule;
      rule.onchange = () => { spec.rule = rule.value as RuleName; renderTable(); };
      ruleCell.append(rule);
      if (spec.rule === 'ldfa') {
        const mode = document.createElement('select');
        mode.replaceChildren(...FEEDBACK_MODES.map((m) => new Option(m, m)));
        mode.value = spec.mode;
        mode.onchange = () => { spec.mode = mode.value as FeedbackMode; };
        modeCell.append(mode);
        const rank = document.createElement('input');
        rank.type = 'number'; rank.min = '1'; rank.max = '10'; rank.value = String(spec.rank);
        rank.onchange = () => { spec.rank = Number(rank.value); };
        rankCell.append(rank);
      }
      if (state) {
        lossCell.textContent = state.losses.length ? mean(state.losses.slice(-20)).toFixed(3) : '';
        accCell.textContent = state.acc.y.length ? `${(100 * state.acc.y.at(-1)!).toFixed(1)} %` : '';
        angleCell.textContent = Object.entries(state.angles).map(([site, a]) => `${site} ${a.y.at(-1)!.toFixed(0)}°`).join(', ');
      }
      if (specs.length > 1) {
        const remove = document.createElement('button');
        remove.textContent = '×';
        remove.title = 'remove this run';
        remove.onclick = () => { specs = specs.filter((_, j) => j !== i); renderTable(); };
        removeCell.append(remove);
      }
      return tr;
    }));
    add.disabled = specs.length >= MAX_RUNS || !stop.disabled;
  }

  function renderPlots(): void {
    const series = (pick: (r: RunState) => { x: number[]; y: number[] }): Series[] => runs.map((r, i) => ({ label: label(r.spec), color: COLOURS[i], ...pick(r) }));
    lineChart($('plot-loss') as unknown as SVGSVGElement, series((r) => r.loss), { xLabel: 'step', yMin: 0 });
    lineChart($('plot-acc') as unknown as SVGSVGElement, series((r) => r.acc), { xLabel: 'step', yMin: 0, yMax: 1 });
    const angleSeries: Series[] = runs.flatMap((r, i) => Object.values(r.angles).map((a, j) => ({ label: j === 0 ? label(r.spec) : '', color: COLOURS[i], dashed: j > 0, ...a })));
    lineChart($('plot-angle') as unknown as SVGSVGElement, angleSeries, { xLabel: 'step', yMin: 0, yMax: 90 });
    const ms = runs.flatMap((r) => r.ms.slice(-20));
    kernel.textContent = kernelText ? `kernels: ${kernelText}${ms.length ? ` · ${mean(ms).toFixed(1)} ms per step (mean of the last 20 per run)` : ''}` : '';
  }

  let dirty = false;
  const redraw = () => {
    if (dirty) return;
    dirty = true;
    requestAnimationFrame(() => { dirty = false; renderTable(); renderPlots(); });
  };

  worker.addEventListener('message', (event: MessageEvent<FromWorker>) => {
    const m = event.data;
    switch (m.type) {
      case 'ready': kernelText = m.kernel; break;
      case 'step': {
        const r = runs[m.run];
        r.losses.push(m.loss);
        r.ms.push(m.ms);
        if (m.step % 5 === 0) { r.loss.x.push(m.step); r.loss.y.push(mean(r.losses.slice(-20))); }
        break;
      }
      case 'eval': {
        const r = runs[m.run];
        r.acc.x.push(m.step); r.acc.y.push(m.testAccuracy);
        for (const [site, deg] of Object.entries(m.anglesDeg)) {
          if (deg === null) continue;
          (r.angles[site] ??= { x: [], y: [] }).x.push(m.step);
          r.angles[site].y.push(deg);
        }
        break;
      }
      case 'done':
        kernelText = m.kernel; // now with the number of compiled kernels
        setRunning(false);
        finished?.({ stepsPerSecond: m.stepsPerSecond, kernel: kernelText, finalLoss: runs.map((r) => r.losses.at(-1)!) });
        break;
      case 'error':
        if (!stop.disabled) { setRunning(false); kernel.textContent = `error: ${m.message}`; failed?.(new Error(m.message)); }
        return;
      default: return;
    }
    redraw();
  });

  function setRunning(running: boolean): void {
    start.disabled = running;
    stop.disabled = !running;
    for (const c of [width, backend, stepsInput]) c.disabled = running;
    renderTable();
  }

  function begin(opts: { backend: WebBackendName; steps: number }): void {
    runs = specs.map((spec) => ({ spec: { ...spec }, losses: [], loss: { x: [], y: [] }, acc: { x: [], y: [] }, angles: {}, ms: [] }));
    kernelText = '';
    setRunning(true);
    const message: ToWorker = {
      type: 'train', backend: opts.backend, steps: opts.steps, evalEvery: 25,
      spec: { runs: runs.map((r) => r.spec), width: Number(width.value), batch: 32, seed: 1 },
    };
    worker.postMessage(message);
    redraw();
  }

  start.onclick = () => begin({ backend: backend.value as WebBackendName, steps: Number(stepsInput.value) });
  stop.onclick = () => { worker.postMessage({ type: 'stop' } satisfies ToWorker); setRunning(false); };
  add.onclick = () => { specs.push({ rule: 'ldfa', mode: 'oja', rank: 4 }); renderTable(); };
  renderTable();
  renderPlots();

  return {
    run(opts) {
      if (opts.runs) specs = opts.runs.map((r) => ({ ...r }));
      backend.value = opts.backend;
      stepsInput.value = String(opts.steps);
      return new Promise((resolve, reject) => {
        finished = resolve;
        failed = reject;
        begin(opts);
      });
    },
  };
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);
const label = (s: RunSpec) => (s.rule === 'ldfa' ? `LDFA ${s.mode} r=${s.rank}` : s.rule.toUpperCase());
