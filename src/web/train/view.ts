// The "Train live" view: up to four runs (BP and LDFA by default) trained side by side in
// the worker; live curves of loss, test accuracy and each layer's angle to BP, the kernel in
// use (with the WebGL renderer behind it) and ms per step per run.
//
// Each run has an id; the worker's answers carry it and the id of the session, so results
// land on their own row whatever is added, removed or changed, and answers of a stopped
// session are dropped. A run that fails stops alone and its row keeps the reason. The table
// is locked while a session trains, and rebuilt only when its rows change (never per frame).
import { WEB_BACKENDS, type WebBackendName } from '../backends.ts';
import { lineChart, type Series } from '../plot.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { PAGE_RULES, pageRule } from './rules.ts';
import { defaultRun, lrProblem, MAX_RUNS, maxRank, MAX_STEPS, PAGE_DEFAULTS, runProblem, stepsProblem, WIDTHS, type RunSpec } from './session.ts';
import type { WebGlInfo } from '../webgl.ts';

const COLOURS = ['#222222', '#d1495b', '#2e86ab', '#3b9c4a'];
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface Row extends RunSpec { colour: string }

interface RunState {
  spec: Row;
  status: 'waiting' | 'training' | 'done' | 'stopped' | 'failed';
  reason: string;
  losses: number[];
  loss: { x: number[]; y: number[] };
  acc: { x: number[]; y: number[] };
  angles: Record<string, { x: number[]; y: number[] }>;
  ms: number[];
}

export interface RunResult { id: number; rule: string; status: RunState['status']; reason: string; finalLoss: number | null; steps: number }
export interface SessionResult { stepsPerSecond: number; kernel: string; finalLoss: (number | null)[]; runs: RunResult[] }

export interface TrainView {
  /**
   * For the browser tests and the bench: sets the table (if `runs` is given) and the controls,
   * starts, and resolves when the session has finished (a failed run does not reject: it
   * is reported in `runs`); rejects when the page refuses to start, with the page's message.
   */
  run(opts: { backend: WebBackendName; steps: number; runs?: Partial<RunSpec>[]; lr?: number; width?: number }): Promise<SessionResult>;
}

export function createTrainView(worker: Worker, webgl: WebGlInfo): TrainView {
  const width = $<HTMLSelectElement>('train-width'), backend = $<HTMLSelectElement>('train-backend');
  const stepsInput = $<HTMLInputElement>('train-steps'), lrInput = $<HTMLInputElement>('train-lr');
  const table = $('train-runs').querySelector('tbody')!;
  const start = $<HTMLButtonElement>('train-start'), stop = $<HTMLButtonElement>('train-stop'), add = $<HTMLButtonElement>('train-add');
  const kernel = $('train-kernel'), message = $('train-message');

  width.replaceChildren(...WIDTHS.map((w) => new Option(String(w), String(w), w === PAGE_DEFAULTS.width, w === PAGE_DEFAULTS.width)));
  stepsInput.max = String(MAX_STEPS);
  stepsInput.value = String(PAGE_DEFAULTS.steps);
  lrInput.value = String(PAGE_DEFAULTS.lr);
  const backendLabel: Record<WebBackendName, string> = {
    webgl2: webgl.renderer === null ? 'gpu.js WebGL2 (not available here)'
      : webgl.software ? 'gpu.js WebGL2 (software renderer: your CPU)' : 'gpu.js WebGL2 (your GPU)',
    wasm: 'tfjs-wasm (CPU)', reference: 'reference float64 (CPU)',
  };
  backend.replaceChildren(...WEB_BACKENDS.map((b) => {
    const o = new Option(backendLabel[b], b);
    o.disabled = b === 'webgl2' && webgl.renderer === null;
    return o;
  }));
  // a software renderer runs "GPU" kernels on the CPU, far slower than wasm: not the default there
  backend.value = webgl.renderer !== null && !webgl.software ? 'webgl2' : 'wasm';

  let nextId = 1;
  const newRow = (rule: string, rows: Row[]): Row => ({ ...defaultRun(nextId++, rule), colour: COLOURS.find((c) => !rows.some((r) => r.colour === c)) ?? COLOURS[0] });
  let rows: Row[] = [];
  rows = [newRow('bp', rows)];
  rows.push({ ...newRow('ldfa-normative', rows) });
  let states = new Map<number, RunState>();
  let session = 0, running = false;
  let kernelText = '';
  let finished: ((r: SessionResult) => void) | null = null;
  let failed: ((e: Error) => void) | null = null;
  let sessionRate = 0;

  /** Rebuilds the rows (on add, remove, a rule change, lock or unlock; never per frame). */
  function renderTable(): void {
    table.replaceChildren(...rows.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.run = String(row.id);
      // data-label: the column's name, shown beside the value where the phone layout stacks a row's cells
      tr.innerHTML = '<td><span class="swatch"></span></td><td class="rule"></td><td class="rank" data-label="rank"></td><td class="flr" data-label="feedback lr"></td>'
        + '<td class="loss num" data-label="loss"></td><td class="acc num" data-label="test acc."></td><td class="angle" data-label="angle to BP"></td><td class="ms num" data-label="ms/step"></td><td class="remove"></td>';
      (tr.querySelector('.swatch') as HTMLElement).style.background = row.colour;
      const cell = (c: string) => tr.querySelector(`.${c}`) as HTMLElement;
      const rule = document.createElement('select');
      rule.setAttribute('aria-label', 'rule');
      rule.replaceChildren(...PAGE_RULES.map((r) => { const o = new Option(r.label, r.id); o.title = r.about; return o; }));
      rule.value = row.rule;
      rule.disabled = running;
      // the row's results were for its old set-up: they go with it
      rule.onchange = () => { Object.assign(row, defaultRun(row.id, rule.value), { rank: row.rank }); states.delete(row.id); renderTable(); renderPlots(); };
      cell('rule').append(rule);
      const info = pageRule(row.rule);
      if (info.ranked) cell('rank').append(numberBox('rank', row.rank, { min: '1', max: String(maxRank(Number(width.value))), step: '1' }, (v) => { row.rank = v; }));
      if (info.feedbackLr !== undefined) cell('flr').append(numberBox('feedback learning rate', row.feedbackLr, { min: '0', max: '1', step: 'any' }, (v) => { row.feedbackLr = v; }));
      if (rows.length > 1) {
        const remove = document.createElement('button');
        remove.textContent = '×';
        remove.title = 'remove this run';
        remove.setAttribute('aria-label', 'remove this run');
        remove.disabled = running;
        remove.onclick = () => { rows = rows.filter((r) => r !== row); states.delete(row.id); renderTable(); renderPlots(); };
        cell('remove').append(remove);
      }
      const status = document.createElement('tr');
      status.className = 'run-status';
      status.dataset.run = String(row.id);
      status.innerHTML = '<td></td><td colspan="8"></td>';
      return [tr, status];
    }).flat());
    add.disabled = rows.length >= MAX_RUNS || running;
    renderResults();
  }

  function numberBox(label: string, value: number, attrs: Record<string, string>, set: (v: number) => void): HTMLInputElement {
    const box = document.createElement('input');
    box.type = 'number';
    box.setAttribute('aria-label', label);
    for (const [k, v] of Object.entries(attrs)) box.setAttribute(k, v);
    box.value = String(value);
    box.disabled = running;
    box.oninput = () => { set(box.value === '' ? NaN : Number(box.value)); states.delete(Number(box.closest('tr')?.dataset.run)); redraw(); };
    return box;
  }

  /** Fills the result cells and status lines of the existing rows (by run id). */
  function renderResults(): void {
    for (const row of rows) {
      const tr = table.querySelector(`tr[data-run="${row.id}"]:not(.run-status)`);
      const statusLine = table.querySelector(`tr.run-status[data-run="${row.id}"] td:last-child`) as HTMLElement | null;
      if (!tr || !statusLine) continue;
      const state = states.get(row.id);
      const cell = (c: string) => tr.querySelector(`.${c}`) as HTMLElement;
      cell('loss').textContent = state?.losses.length ? mean(state.losses.slice(-20)).toFixed(3) : '';
      cell('acc').textContent = state?.acc.y.length ? `${(100 * state.acc.y.at(-1)!).toFixed(1)} %` : '';
      cell('angle').textContent = state ? Object.entries(state.angles).map(([site, a]) => `${site} ${a.y.at(-1)!.toFixed(0)}°`).join(', ') : '';
      cell('ms').textContent = state?.ms.length ? mean(state.ms.slice(-20)).toFixed(1) : '';
      tr.classList.toggle('failed', state?.status === 'failed'); // its numbers are those of the last step before the failure
      const problem = running ? null : runProblem(row, Number(width.value));
      const text = problem ? `cannot start: ${problem}`
        : state?.status === 'failed' ? `${label(state.spec)} failed: ${state.reason}`
        : state?.status === 'stopped' ? `stopped at step ${state.losses.length}`
        : state?.status === 'training' ? `training · step ${state.losses.length}` : state?.status === 'done' ? `done · ${state.losses.length} steps` : '';
      statusLine.textContent = text;
      statusLine.className = problem || state?.status === 'failed' ? 'mismatch' : '';
      statusLine.parentElement!.hidden = text === '';
    }
  }

  function renderPlots(): void {
    const shown = rows.map((r) => states.get(r.id)).filter((s): s is RunState => s !== undefined);
    const series = (pick: (r: RunState) => { x: number[]; y: number[] }): Series[] => shown.map((r) => ({ label: label(r.spec), color: r.spec.colour, ...pick(r) }));
    lineChart($('plot-loss') as unknown as SVGSVGElement, series((r) => r.loss), { xLabel: 'step', yMin: 0 });
    lineChart($('plot-acc') as unknown as SVGSVGElement, series((r) => r.acc), { xLabel: 'step', yMin: 0, yMax: 1 });
    const angleSeries: Series[] = shown.flatMap((r) => Object.values(r.angles).map((a, j) => ({ label: j === 0 ? label(r.spec) : '', color: r.spec.colour, dashed: j > 0, ...a })));
    lineChart($('plot-angle') as unknown as SVGSVGElement, angleSeries, { xLabel: 'step', yMin: 0, yMax: 90 });
    const gl = webgl.renderer === null ? 'no WebGL2 in this browser'
      : `WebGL2 renderer: ${webgl.renderer}${webgl.software ? ' — a software renderer, running on your CPU (gpu.js is slower there than tfjs-wasm, which is the default)' : ''}`;
    kernel.replaceChildren(
      line(kernelText ? `kernels: ${kernelText}${sessionRate ? ` · ${sessionRate.toFixed(1)} steps/s over all runs` : ''}` : 'kernels: (start a session)'),
      line(gl),
    );
  }

  let dirty = false;
  const redraw = () => {
    if (dirty) return;
    dirty = true;
    requestAnimationFrame(() => { dirty = false; renderResults(); renderPlots(); });
  };

  worker.addEventListener('message', (event: MessageEvent<FromWorker>) => {
    const m = event.data;
    if (m.session !== session || !running) return; // an answer of a stopped or older session
    const state = 'run' in m ? states.get(m.run) : undefined;
    switch (m.type) {
      case 'ready': kernelText = m.kernel; break;
      case 'step': {
        if (!state) return;
        state.losses.push(m.loss);
        state.ms.push(m.ms);
        if (m.step % 5 === 0 || m.step === 1) { state.loss.x.push(m.step); state.loss.y.push(mean(state.losses.slice(-20))); }
        break;
      }
      case 'eval': {
        if (!state) return;
        kernelText = m.kernel;
        state.acc.x.push(m.step); state.acc.y.push(m.testAccuracy);
        for (const [site, deg] of Object.entries(m.anglesDeg)) {
          if (deg === null) continue;
          (state.angles[site] ??= { x: [], y: [] }).x.push(m.step);
          state.angles[site].y.push(deg);
        }
        break;
      }
      case 'run-failed':
        if (!state) return;
        state.status = 'failed';
        state.reason = m.reason;
        break;
      case 'done':
        kernelText = m.kernel;
        sessionRate = m.stepsPerSecond;
        for (const s of states.values()) if (s.status === 'training') s.status = 'done';
        setRunning(false);
        finished?.(result(m.stepsPerSecond));
        break;
      case 'error':
        for (const s of states.values()) if (s.status === 'training') s.status = 'stopped';
        setRunning(false);
        say(`The session could not run: ${m.message}`, true);
        failed?.(new Error(m.message));
        break;
      default: return;
    }
    redraw();
  });

  const result = (stepsPerSecond: number): SessionResult => {
    const runs = rows.map((r) => states.get(r.id)).filter((s): s is RunState => s !== undefined)
      .map((s) => ({ id: s.spec.id, rule: s.spec.rule, status: s.status, reason: s.reason, finalLoss: s.losses.at(-1) ?? null, steps: s.losses.length }));
    return { stepsPerSecond, kernel: kernelText, finalLoss: runs.map((r) => r.finalLoss), runs };
  };

  function say(text: string, bad = false): void {
    message.textContent = text;
    message.className = bad ? 'mismatch' : '';
  }

  function setRunning(on: boolean): void {
    running = on;
    start.disabled = on;
    stop.disabled = !on;
    for (const c of [width, backend, stepsInput, lrInput]) c.disabled = on;
    $('train-runs').classList.toggle('locked', on);
    renderTable();
  }

  /** The page's refusal of the current controls, or null. */
  function problems(): string | null {
    const steps = stepsInput.value === '' ? NaN : Number(stepsInput.value);
    const found = [
      stepsProblem(steps),
      lrProblem(lrInput.value === '' ? NaN : Number(lrInput.value)),
      ...rows.map((r, i) => { const p = runProblem(r, Number(width.value)); return p ? `run ${i + 1} (${pageRule(r.rule).label}): ${p}` : null; }),
    ].filter((p): p is string => p !== null);
    return found.length ? `Not started: ${found.join('; ')}.` : null;
  }

  function begin(): boolean {
    const refused = problems();
    if (refused) { say(refused, true); return false; }
    say('');
    session++;
    states = new Map(rows.map((row) => [row.id, { spec: { ...row }, status: 'training', reason: '', losses: [], loss: { x: [], y: [] }, acc: { x: [], y: [] }, angles: {}, ms: [] }]));
    kernelText = '';
    sessionRate = 0;
    setRunning(true);
    worker.postMessage({
      type: 'train', session, backend: backend.value as WebBackendName, steps: Number(stepsInput.value), evalEvery: 25,
      spec: { runs: rows.map(({ colour: _, ...spec }) => spec), width: Number(width.value), batch: PAGE_DEFAULTS.batch, seed: PAGE_DEFAULTS.seed, lr: Number(lrInput.value) },
    } satisfies ToWorker);
    redraw();
    return true;
  }

  start.onclick = () => { begin(); };
  stop.onclick = () => {
    worker.postMessage({ type: 'stop', session } satisfies ToWorker);
    for (const s of states.values()) if (s.status === 'training') s.status = 'stopped';
    setRunning(false);
    failed?.(new Error('stopped'));
    redraw();
  };
  add.onclick = () => {
    // the first rule of the catalogue not yet in the table (every entry trains at the defaults)
    const rule = PAGE_RULES.find((r) => !rows.some((row) => row.rule === r.id))?.id ?? 'ldfa-normative';
    rows.push(newRow(rule, rows));
    renderTable();
  };
  width.onchange = () => renderTable(); // the rank boxes' maximum follows the width
  for (const c of [stepsInput, lrInput]) c.oninput = () => { if (message.className) say(problems() ?? ''); };
  renderTable();
  renderPlots();

  return {
    run(opts) {
      if (running) return Promise.reject(new Error('a session is already running'));
      if (opts.runs) {
        rows = [];
        for (const r of opts.runs) rows.push({ ...newRow(r.rule ?? 'bp', rows), ...Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'id')) });
        renderTable();
      }
      backend.value = opts.backend;
      stepsInput.value = String(opts.steps);
      if (opts.lr !== undefined) lrInput.value = String(opts.lr);
      if (opts.width !== undefined) width.value = String(opts.width);
      return new Promise((resolve, reject) => {
        finished = resolve;
        failed = reject;
        if (!begin()) reject(new Error(message.textContent ?? 'not started'));
      });
    },
  };
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);
const label = (s: RunSpec) => { const r = pageRule(s.rule); return r.ranked ? `${r.label} r=${s.rank}` : r.label; };
function line(text: string): HTMLElement {
  const d = document.createElement('div');
  d.textContent = text;
  return d;
}
