// The "Linear theory" view: the authors' linear set-up (WEB_THEORY_SETUP) at the slider's
// rank, run in the worker by oracles/linear (the same code as `ldfa theory`).
import type { TheoryExperimentResult } from '../../../oracles/linear/experiment.ts';
import { lineChart, type Series } from '../plot.ts';
import type { FromWorker, ToWorker } from '../train/protocol.ts';
import { THEORY_MAX_RANK, WEB_THEORY_SETUP } from './setup.ts';

const MODE_COLOURS = ['#d1495b', '#2e86ab', '#3b9c4a', '#edae49', '#6a4c93', '#8a8a8a'];
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export interface TheoryView {
  /** Runs the experiment at rank r and draws it; resolves with the result. */
  show(rank: number): Promise<TheoryExperimentResult>;
}

export function createTheoryView(worker: Worker): TheoryView {
  const slider = $<HTMLInputElement>('theory-rank'), value = $<HTMLOutputElement>('theory-rank-value');
  const summary = $('theory-summary');
  slider.max = String(THEORY_MAX_RANK);
  const c = WEB_THEORY_SETUP;
  $('theory-setup').textContent = `n = ${c.n} inputs → k = ${c.k} hidden → m = ${c.m} outputs, ${c.samples} Gaussian samples, ${c.steps} full-batch steps, η = ${c.eta}; modes 1–${c.modes}`;
  let pending: { rank: number; resolve: (r: TheoryExperimentResult) => void; reject: (e: Error) => void } | null = null;

  worker.addEventListener('message', (event: MessageEvent<FromWorker>) => {
    const m = event.data, waiting = pending;
    if (!waiting) return;
    if (m.type === 'theory' && m.result.config.r === waiting.rank) { pending = null; draw(m.result); waiting.resolve(m.result); }
    if (m.type === 'error') { pending = null; summary.textContent = `error: ${m.message}`; waiting.reject(new Error(m.message)); }
  });

  function sigmaSeries(result: TheoryExperimentResult, rule: 'normative' | 'fixed'): Series[] {
    const curves = result.rules[rule];
    return Array.from({ length: c.modes }, (_, i) => [
      { label: `σ̂${i + 1}`, color: MODE_COLOURS[i], x: curves.t, y: curves.simulation.sigma.map((s) => s[i]) },
      { label: '', color: MODE_COLOURS[i], x: curves.t, y: curves.theory.sigma.map((s) => s[i]), dashed: true },
    ]).flat();
  }

  function draw(result: TheoryExperimentResult): void {
    const r = result.config.r;
    lineChart($('plot-sigma-normative') as unknown as SVGSVGElement, sigmaSeries(result, 'normative'), { xLabel: 'step', yMin: 0, yMax: 1.1 });
    lineChart($('plot-sigma-fixed') as unknown as SVGSVGElement, sigmaSeries(result, 'fixed'), { xLabel: 'step', yMin: 0, yMax: 1.1 });
    const sweep = result.sweep;
    lineChart($('plot-sweep') as unknown as SVGSVGElement, [
      { label: 'fixed', color: '#2e86ab', x: sweep.map((p) => p.r), y: sweep.map((p) => p.fixed) },
      { label: 'normative', color: '#d1495b', x: sweep.map((p) => p.r), y: sweep.map((p) => p.normative) },
      { label: 'Eckart–Young bound', color: '#555', x: sweep.map((p) => p.r), y: sweep.map((p) => p.eckartYoung), dashed: true },
      { label: 'fixed-point prediction', color: '#3b9c4a', x: sweep.map((p) => p.r), y: sweep.map((p) => p.fixedPointPrediction), dashed: true },
      { label: 'BP (final loss)', color: '#222', x: [sweep[0].r, sweep.at(-1)!.r], y: [result.rules.bp.final.theoryLoss, result.rules.bp.final.theoryLoss] },
    ], { xLabel: 'rank r', yMin: 0 });
    const f = result.rules;
    summary.textContent = `r = ${r}: final loss (simulation / theory) BP ${f.bp.final.simulationLoss.toFixed(3)} / ${f.bp.final.theoryLoss.toFixed(3)}, `
      + `fixed ${f.fixed.final.simulationLoss.toFixed(3)} / ${f.fixed.final.theoryLoss.toFixed(3)}, normative ${f.normative.final.simulationLoss.toFixed(3)} / ${f.normative.final.theoryLoss.toFixed(3)}; `
      + `fixed-feedback prediction L* = ${result.fixedPoint.loss.toFixed(3)}, Eckart–Young bound ${result.fixedPoint.eckartYoung.toFixed(3)}; `
      + `singular values of Σ_yx ${result.singularValues.slice(0, c.modes).map((s) => s.toFixed(2)).join(', ')} · ${result.seconds.toFixed(1)} s`;
  }

  function show(rank: number): Promise<TheoryExperimentResult> {
    slider.value = String(rank);
    value.textContent = String(rank);
    summary.textContent = `running r = ${rank} …`;
    pending?.reject(new Error('superseded by a newer rank'));
    return new Promise((resolve, reject) => {
      pending = { rank, resolve, reject };
      worker.postMessage({ type: 'theory', rank } satisfies ToWorker);
    });
  }

  slider.oninput = () => { value.textContent = slider.value; };
  slider.onchange = () => { show(Number(slider.value)).catch(() => {}); };
  return { show };
}
