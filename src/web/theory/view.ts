// The "Linear theory" view: the authors' linear set-up (WEB_THEORY_SETUP) at the slider's
// rank and the chosen inputs (a sample, or the exact covariance), run in the worker by
// oracles/linear (the same code as `ldfa theory`). It says what σ̂ is, why simulation and
// theory differ with a finite sample, and which assumptions the bound and the fixed-point
// prediction rest on, next to the ranks where the curves cross them.
import type { TheoryExperimentResult } from '../../../oracles/linear/experiment.ts';
import { lineChart, type Series } from '../plot.ts';
import type { FromWorker, ToWorker } from '../train/protocol.ts';
import { THEORY_MAX_RANK, THEORY_SAMPLES, WEB_THEORY_SETUP, type TheoryRequest, type TheorySamples } from './setup.ts';

const MODE_COLOURS = ['#d1495b', '#2e86ab', '#3b9c4a', '#edae49', '#6a4c93', '#8a8a8a'];
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const SAMPLE_LABELS: Record<TheorySamples, string> = {
  100: '100 samples', 400: '400 samples', 4000: '4000 samples', exact: 'exact covariance (Σ_xx = I)',
};

export interface TheoryView {
  /** Runs the experiment at rank r (and the given inputs; default: the control's) and draws it; resolves with the result. */
  show(rank: number, samples?: TheorySamples): Promise<TheoryExperimentResult>;
}

export function createTheoryView(worker: Worker): TheoryView {
  const slider = $<HTMLInputElement>('theory-rank'), value = $<HTMLOutputElement>('theory-rank-value');
  const samples = $<HTMLSelectElement>('theory-samples');
  const summary = $('theory-summary'), whiteness = $('theory-whiteness'), assumptions = $('theory-assumptions');
  slider.max = String(THEORY_MAX_RANK);
  samples.replaceChildren(...THEORY_SAMPLES.map((s) => new Option(SAMPLE_LABELS[s], s)));
  samples.value = String(WEB_THEORY_SETUP.samples);
  const c = WEB_THEORY_SETUP;
  $('theory-setup').textContent = `n = ${c.n} inputs → k = ${c.k} hidden → m = ${c.m} outputs, ${c.steps} full-batch steps, η = ${c.eta}; modes 1–${c.modes}`;
  let session = 0;
  let pending: { session: number; resolve: (r: TheoryExperimentResult) => void; reject: (e: Error) => void } | null = null;

  worker.addEventListener('message', (event: MessageEvent<FromWorker>) => {
    const m = event.data, waiting = pending;
    if (!waiting || m.session !== waiting.session) return; // an answer to a superseded request
    pending = null;
    if (m.type === 'theory') { draw(m.result); waiting.resolve(m.result); }
    else if (m.type === 'error') { summary.textContent = `error: ${m.message}`; waiting.reject(new Error(m.message)); }
  });

  function sigmaSeries(result: TheoryExperimentResult, rule: 'bp' | 'normative' | 'fixed'): Series[] {
    const curves = result.rules[rule];
    return Array.from({ length: c.modes }, (_, i) => [
      { label: `σ̂${i + 1}`, color: MODE_COLOURS[i], x: curves.t, y: curves.simulation.sigma.map((s) => s[i]) },
      { label: '', color: MODE_COLOURS[i], x: curves.t, y: curves.theory.sigma.map((s) => s[i]), dashed: true },
    ]).flat();
  }

  function draw(result: TheoryExperimentResult): void {
    const r = result.config.r;
    for (const rule of ['bp', 'normative', 'fixed'] as const) {
      lineChart($(`plot-sigma-${rule}`) as unknown as SVGSVGElement, sigmaSeries(result, rule), { xLabel: 'step', yMin: 0, yMax: 1.15 });
    }
    const sweep = result.sweep;
    const bpLoss = result.rules.bp.final.theoryLoss;
    lineChart($('plot-sweep') as unknown as SVGSVGElement, [
      { label: 'fixed feedback', color: '#2e86ab', x: sweep.map((p) => p.r), y: sweep.map((p) => p.fixed) },
      { label: 'normative LDFA', color: '#d1495b', x: sweep.map((p) => p.r), y: sweep.map((p) => p.normative) },
      { label: 'Eckart–Young bound ½Σ_{i>r} sᵢ²', color: '#555', x: sweep.map((p) => p.r), y: sweep.map((p) => p.eckartYoung), dashed: true },
      { label: 'fixed-point prediction ½‖Σ_yx(I − Π)‖²', color: '#3b9c4a', x: sweep.map((p) => p.r), y: sweep.map((p) => p.fixedPointPrediction), dashed: true },
      { label: 'BP (final loss)', color: '#222', x: [sweep[0].r, sweep.at(-1)!.r], y: [bpLoss, bpLoss] },
    ], { xLabel: 'rank r', yMin: 0 });

    const exact = result.config.inputs === 'exact';
    const bpSim = result.rules.bp.final.simulationSigma, bpTheory = result.rules.bp.final.theorySigma;
    const range = (a: number[]) => `${Math.min(...a).toFixed(3)}–${Math.max(...a).toFixed(3)}`;
    whiteness.textContent = exact
      ? `Inputs: the exact covariance, Σ_xx = I (‖Σ_xx − I‖_F/√n = 0): simulation and theory solve the same equations, so the solid and dashed curves coincide. BP's final σ̂: simulated ${range(bpSim)}, theory ${range(bpTheory)}.`
      : `Inputs: ${result.config.samples} samples, ‖Σ_xx − I‖_F/√n = ${result.whitenessError.toFixed(3)} (about √(n/P) = ${Math.sqrt(c.n / result.config.samples).toFixed(3)}). `
        + `The simulation learns W* itself, but σ̂ is measured on the modes of the sampled Σ_yx = W*Σ_xx, so even BP's σ̂ ends at ${range(bpSim)} instead of the theory's ${range(bpTheory)}; more samples (or exact) close the gap.`;

    const belowBound = sweep.filter((p) => p.fixed < p.eckartYoung);
    const belowPrediction = sweep.filter((p) => p.fixed < p.fixedPointPrediction);
    const list = (pts: typeof sweep, other: (p: (typeof sweep)[number]) => number) => pts.map((p) => `r = ${p.r} (${p.fixed.toFixed(2)} < ${other(p).toFixed(2)})`).join(', ');
    const paragraphs = [
      'Assumptions. The Eckart–Young bound ½Σ_{i>r} sᵢ² is the lowest loss of any map of rank ≤ r. Fixed rank-r feedback keeps W₂W₁ at rank ≤ r only if W₁ starts small: W₁ − W₁(0) stays in the row space of Q̂, so a large W₁(0) adds directions the feedback never constrains. '
        + 'The fixed-point prediction ½‖Σ_yx(I − Π)‖² is where fixed feedback ends as t → ∞, with λ = 0, Σ_xx = I and a small initialisation (docs/linear-theory.md derives and tests it).',
      `This run starts from the authors’ initialisation, which is not small (W₁ has std 1/k), and stops after ${c.steps} steps, so neither needs to hold here. `
        + (belowBound.length ? `Fixed feedback ends below the Eckart–Young bound at ${list(belowBound, (p) => p.eckartYoung)}: W₂ uses W₁(0)'s random directions. ` : 'Fixed feedback stays above the Eckart–Young bound at every rank here. ')
        + (belowPrediction.length ? `It ends below the fixed-point prediction at ${list(belowPrediction, (p) => p.fixedPointPrediction)}: not yet at its fixed point, and not from a small start.` : 'It stays above the fixed-point prediction at every rank here.'),
    ];
    assumptions.replaceChildren(...paragraphs.map((t) => { const p = document.createElement('p'); p.textContent = t; return p; }));

    const f = result.rules;
    summary.textContent = `r = ${r}: final loss (simulation / theory) BP ${f.bp.final.simulationLoss.toFixed(3)} / ${f.bp.final.theoryLoss.toFixed(3)}, `
      + `fixed ${f.fixed.final.simulationLoss.toFixed(3)} / ${f.fixed.final.theoryLoss.toFixed(3)}, normative ${f.normative.final.simulationLoss.toFixed(3)} / ${f.normative.final.theoryLoss.toFixed(3)}; `
      + `fixed-feedback prediction L* = ${result.fixedPoint.loss.toFixed(3)}, Eckart–Young bound ${result.fixedPoint.eckartYoung.toFixed(3)}; `
      + `singular values of Σ_yx ${result.singularValues.slice(0, c.modes).map((s) => s.toFixed(2)).join(', ')} · ${result.seconds.toFixed(1)} s`;
  }

  function show(rank: number, inputs: TheorySamples = samples.value as TheorySamples): Promise<TheoryExperimentResult> {
    slider.value = String(rank);
    value.textContent = String(rank);
    samples.value = inputs;
    summary.textContent = `running r = ${rank}, ${SAMPLE_LABELS[inputs]} …`;
    pending?.reject(new Error('superseded by a newer request'));
    const request: TheoryRequest = { rank, samples: inputs };
    return new Promise((resolve, reject) => {
      pending = { session: ++session, resolve, reject };
      worker.postMessage({ type: 'theory', session, request } satisfies ToWorker);
    });
  }

  slider.oninput = () => { value.textContent = slider.value; };
  slider.onchange = () => { show(Number(slider.value)).catch(() => {}); };
  samples.onchange = () => { show(Number(slider.value)).catch(() => {}); };
  return { show };
}
