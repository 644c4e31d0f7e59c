// The "One step, line by line" view: stage list, equation, the reference lines that
// computed the stage, and each tensor as a heatmap with its values on hover. With the
// golden-fixture switch on, the run starts from the fixture's tensors and every tensor the
// fixture stores shows its largest difference from the fixture's value.
import { decodeBundle } from '../../bundle.ts';
import type { Tensor } from '../../../reference/tensor.ts';
import { tensor } from '../../../reference/tensor.ts';
import { FIXTURE_RANK, FIXTURE_TRAINING } from '../../../oracles/cases.ts';
import { heatmap, multiIndex } from '../plot.ts';
import type { SourceSnippets } from './anchors.ts';
import { compareWithFixture, fixtureCaseOf, MNIST_STEP, startingPointOf, STEP_MODELS, STEP_RULES, traceSteps, type Stage, type StepModel, type StepSetup } from './trace.ts';

const MODEL_LABELS: Record<StepModel, string> = {
  mlp: 'fixtures’ MLP 6 → 8 → 7 → 4 (tanh)',
  linear2: 'fixtures’ linear net 6 → 7 → 4',
  'mnist-mlp': `MNIST MLP 784 → ${MNIST_STEP.hidden} → 10 (tanh), ${MNIST_STEP.batch} digits`,
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export interface StepView {
  /** For the browser tests: every fixture case offered, and the page's comparison with each. */
  offeredFixtureCases(): string[];
  compareWithFixture(caseName: string): Promise<{ name: string; maxAbsDiff: number }[]>;
  show(setup: StepSetup & { fixture: boolean; step: number }): Promise<void>;
}

export function createStepView(base: string, sources: SourceSnippets, mnistBatch: { x: Tensor; y: Int32Array }): StepView {
  const model = $<HTMLSelectElement>('step-model'), rule = $<HTMLSelectElement>('step-rule');
  const rank = $<HTMLInputElement>('step-rank'), stepNo = $<HTMLSelectElement>('step-number');
  const fixtureBox = $<HTMLInputElement>('step-fixture'), fixtureStatus = $('step-fixture-status');
  const list = $('step-stages'), pane = $('step-stage');
  model.replaceChildren(...STEP_MODELS.map((m) => new Option(MODEL_LABELS[m], m)));
  rule.replaceChildren(...STEP_RULES.map((r) => new Option(r.replace(/^(bp|fa|dfa|ldfa)/, (m) => m.toUpperCase()).replace('-', ' '), r)));
  rule.value = 'ldfa-normative';

  const fixtures = new Map<string, Map<string, Tensor>>();
  async function loadFixture(name: string): Promise<Map<string, Tensor>> {
    let f = fixtures.get(name);
    if (!f) {
      const response = await fetch(new URL(`fixtures/${name}.bin`, base));
      if (!response.ok) throw new Error(`fixture ${name}: HTTP ${response.status}`);
      f = decodeBundle(new Uint8Array(await response.arrayBuffer()), name).tensors;
      fixtures.set(name, f);
    }
    return f;
  }

  let stages: Stage[] = [], current = 0;
  let diffs = new Map<string, number>();

  function renderStage(): void {
    [...list.children].forEach((li, i) => li.classList.toggle('current', i === current));
    list.children[current]?.scrollIntoView({ block: 'nearest' });
    const s = stages[current];
    if (!s) { pane.replaceChildren(); return; }
    const h2 = document.createElement('h2');
    h2.textContent = `${current + 1} / ${stages.length} · ${s.title}`;
    const eq = document.createElement('div');
    eq.className = 'equation';
    eq.textContent = s.equation;
    const tensors = document.createElement('div');
    tensors.className = 'tensors';
    for (const t of s.tensors) tensors.append(tensorCard(t.label, t.tensor, t.fixtureName ? diffs.get(t.fixtureName) : undefined));
    const code = s.sources.map((id) => {
      const snip = sources[id];
      const box = document.createElement('div');
      box.className = 'source';
      const title = document.createElement('h3');
      title.textContent = `${snip.file}:${snip.startLine}–${snip.startLine + snip.lines.length - 1}`;
      const pre = document.createElement('pre');
      pre.append(...snip.lines.flatMap((line, i) => {
        const ln = document.createElement('span');
        ln.className = 'ln';
        ln.textContent = String(snip.startLine + i);
        return [ln, document.createTextNode(`${line}\n`)];
      }));
      box.append(title, pre);
      return box;
    });
    pane.replaceChildren(h2, eq, tensors, ...code);
  }

  function tensorCard(label: string, t: Tensor, diff: number | undefined): HTMLElement {
    const card = document.createElement('div');
    card.className = 'tensor';
    const head = document.createElement('div');
    head.innerHTML = `<b></b> <span class="shape"></span>`;
    head.querySelector('b')!.textContent = label;
    head.querySelector('.shape')!.textContent = t.shape.length ? `(${t.shape.join(', ')})` : 'scalar';
    card.append(head);
    if (diff !== undefined) {
      const d = document.createElement('div');
      const ok = diff <= 1e-12;
      d.className = ok ? 'match' : 'mismatch';
      d.textContent = `${ok ? '✓ equals the fixture' : '✗ differs from the fixture'}: max |page − fixture| = ${diff.toExponential(1)}`;
      card.append(d);
    }
    if (t.size === 1) {
      const v = document.createElement('div');
      v.className = 'scalar';
      v.textContent = t.data[0].toPrecision(17);
      card.append(v);
      return card;
    }
    if (t.data.every((v) => v === 0)) {
      const zero = document.createElement('div');
      zero.className = 'zero';
      zero.textContent = 'all zero';
      card.append(zero);
    }
    const map = heatmap(t);
    const hover = document.createElement('div');
    hover.className = 'hover';
    hover.textContent = 'hover for values';
    map.canvas.addEventListener('mousemove', (ev) => {
      const i = map.cellAt(ev);
      hover.textContent = i === null ? '' : `[${multiIndex(t.shape, i).join(', ')}] = ${t.data[i].toPrecision(12)}`;
    });
    card.append(map.canvas, hover);
    return card;
  }

  function go(i: number): void {
    current = Math.max(0, Math.min(stages.length - 1, i));
    renderStage();
  }

  async function show(setup: StepSetup & { fixture: boolean; step: number }): Promise<void> {
    model.value = setup.model;
    rule.value = setup.rule;
    rank.value = String(setup.rank);
    stepNo.value = String(setup.step);
    const caseName = fixtureCaseOf(setup);
    fixtureBox.disabled = caseName === null;
    fixtureBox.checked = setup.fixture && caseName !== null;
    const fixture = fixtureBox.checked ? await loadFixture(caseName!) : null;
    const trace = traceSteps(setup, FIXTURE_TRAINING.steps, setup.model === 'mnist-mlp' ? mnistBatch : null, fixture ? startingPointOf(fixture) : undefined);
    diffs = new Map();
    if (fixture) {
      const compared = compareWithFixture(trace, fixture);
      for (const c of compared) diffs.set(c.name, c.maxAbsDiff);
      const worst = Math.max(...compared.map((c) => c.maxAbsDiff));
      fixtureStatus.textContent = `${caseName}: ${compared.length} tensors compared over 3 steps, max |page − fixture| = ${worst.toExponential(1)}`;
      fixtureStatus.className = worst <= 1e-12 ? 'match' : 'mismatch';
    } else {
      fixtureStatus.textContent = caseName === null ? `no golden fixture for this set-up (fixtures: the small nets at rank ${FIXTURE_RANK})` : '';
      fixtureStatus.className = '';
    }
    const previousId = stages[current]?.id;
    stages = trace[setup.step - 1];
    list.replaceChildren(...stages.map((s, i) => {
      const li = document.createElement('li');
      li.textContent = s.title;
      li.addEventListener('click', () => go(i));
      return li;
    }));
    const keep = stages.findIndex((s) => s.id === previousId);
    go(keep >= 0 ? keep : 0);
  }

  const fromControls = () => show({
    model: model.value as StepModel, rule: rule.value, rank: Number(rank.value), step: Number(stepNo.value), fixture: fixtureBox.checked,
  }).catch((e) => { fixtureStatus.textContent = `error: ${(e as Error).message}`; fixtureStatus.className = 'mismatch'; });
  for (const c of [model, rule, rank, stepNo, fixtureBox]) c.addEventListener('change', fromControls);
  document.addEventListener('keydown', (ev) => {
    if (document.getElementById('view-step')!.hidden || (ev.target instanceof HTMLElement && /INPUT|SELECT/.test(ev.target.tagName))) return;
    const moves: Record<string, () => number> = {
      ArrowRight: () => current + 1, ArrowDown: () => current + 1, j: () => current + 1,
      ArrowLeft: () => current - 1, ArrowUp: () => current - 1, k: () => current - 1,
      Home: () => 0, End: () => stages.length - 1,
    };
    if (moves[ev.key]) { ev.preventDefault(); go(moves[ev.key]()); }
  });
  void fromControls();

  return {
    offeredFixtureCases: () => STEP_MODELS.flatMap((m) => STEP_RULES.map((r) => fixtureCaseOf({ model: m, rule: r, rank: FIXTURE_RANK }))).filter((c): c is string => c !== null),
    async compareWithFixture(caseName) {
      const [m, r] = caseName.split('_') as [StepModel, string];
      await show({ model: m, rule: r, rank: FIXTURE_RANK, step: 1, fixture: true });
      return [...diffs].map(([name, maxAbsDiff]) => ({ name, maxAbsDiff })); // what the page shows
    },
    show,
  };
}

/** The first `n` digits of a data set as the step-through's MNIST batch. */
export function mnistStepBatch(x: Float64Array, y: Int32Array): { x: Tensor; y: Int32Array } {
  return { x: tensor([MNIST_STEP.batch, 784], x.subarray(0, MNIST_STEP.batch * 784)), y: y.slice(0, MNIST_STEP.batch) };
}
