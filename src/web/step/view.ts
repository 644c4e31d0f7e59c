// The "One step, line by line" view: stage list, equation, what to look for, the reference
// lines that computed the stage (the producing lines highlighted), and each tensor as a
// heatmap on one colour scale per stage (with its legend) and its values on hover; the MNIST
// inputs as 28×28 digits with their labels; at the signal stages BP's δ·W beside the rule's
// dx, with their angle and ‖W − P̂Q̂‖. With the golden-fixture switch on, the run starts from
// the fixture's tensors and every tensor the fixture stores shows its largest difference
// from the fixture's value.
import { decodeBundle } from '../../bundle.ts';
import type { Tensor } from '../../../reference/tensor.ts';
import { tensor } from '../../../reference/tensor.ts';
import { FIXTURE_RANK, FIXTURE_TRAINING } from '../../../oracles/cases.ts';
import { colourBar, heatmap, imageRows, maxAbs, multiIndex } from '../plot.ts';
import type { SourceSnippets } from './anchors.ts';
import { compareWithFixture, fixtureCaseOf, MNIST_STEP, startingPointOf, STEP_MODELS, STEP_RULE_LABELS, STEP_RULES, stepMaxRank, traceSteps, type Stage, type StageTensor, type StepModel, type StepSetup, type TensorKind } from './trace.ts';

const MODEL_LABELS: Record<StepModel, string> = {
  mlp: 'fixtures’ MLP 6 → 8 → 7 → 4 (tanh)',
  linear2: 'fixtures’ linear net 6 → 7 → 4',
  'mnist-mlp': `MNIST MLP 784 → ${MNIST_STEP.hidden} → 10 (tanh), ${MNIST_STEP.batch} digits`,
};

/** The colour bars' names for the kinds of tensor (each kind has its own scale in a stage). */
const KIND_LABELS: Record<TensorKind, string> = {
  activity: 'activities (x, a, h)', error: 'errors (e, δ, z, dx)', weight: 'weights',
  gradient: 'gradients', update: 'updates', label: 'labels',
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export interface StepView {
  /** For the browser tests: every fixture case offered, and the page's comparison with each. */
  offeredFixtureCases(): string[];
  compareWithFixture(caseName: string): Promise<{ name: string; maxAbsDiff: number }[]>;
  /** Shows a set-up (as if picked in the controls); `fixture` is the switch's wanted state. */
  show(setup: StepSetup & { fixture: boolean; step: number }): Promise<void>;
}

export function createStepView(base: string, sources: SourceSnippets, mnistBatch: { x: Tensor; y: Int32Array }): StepView {
  const model = $<HTMLSelectElement>('step-model'), rule = $<HTMLSelectElement>('step-rule');
  const rank = $<HTMLInputElement>('step-rank'), stepNo = $<HTMLSelectElement>('step-number');
  const fixtureBox = $<HTMLInputElement>('step-fixture'), fixtureStatus = $('step-fixture-status');
  const sharedBox = $<HTMLInputElement>('step-shared');
  const list = $('step-stages'), pane = $('step-stage');
  model.replaceChildren(...STEP_MODELS.map((m) => new Option(MODEL_LABELS[m], m)));
  rule.replaceChildren(...STEP_RULES.map((r) => new Option(STEP_RULE_LABELS[r] ?? r, r)));
  rule.value = 'ldfa-normative';
  // the reader's choice; the box shows it wherever a fixture exists, and keeps it where none does
  let fixtureWanted = fixtureBox.checked;

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
    [...list.children].forEach((li, i) => { li.classList.toggle('current', i === current); li.setAttribute('aria-current', String(i === current)); });
    list.children[current]?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    const s = stages[current];
    if (!s) { pane.replaceChildren(); return; }
    const h2 = document.createElement('h2');
    h2.textContent = `${current + 1} / ${stages.length} · ${s.title}`;
    const eq = element('div', 'equation', s.equation);
    const about = element('p', 'about', s.about);
    const parts: HTMLElement[] = [h2, eq, about];
    if (s.metrics?.length) {
      const metrics = element('div', 'metrics');
      for (const m of s.metrics) {
        const item = element('span', 'metric');
        item.append(element('span', 'metric-label', `${m.label} `), element('b', '', Number.isFinite(m.value) ? `${m.value.toPrecision(4)}${m.unit ?? ''}` : '—'));
        metrics.append(item);
      }
      parts.push(metrics);
    }
    const main = s.tensors.filter((t) => !t.secondary), folded = s.tensors.filter((t) => t.secondary);
    // one colour scale per kind of tensor in the stage (errors with errors, weights with weights),
    // so that colours compare where the stage asks to compare them: dx beside BP's δ·W, δ beside z
    const scales = new Map<TensorKind, number>();
    if (sharedBox.checked) {
      for (const t of main) if (t.kind !== 'label' && t.tensor.size > 1) scales.set(t.kind, Math.max(scales.get(t.kind) ?? 0, maxAbs(t.tensor)));
      const bars = element('div', 'colour-bars', 'colour scales of this stage (one per kind of tensor):');
      for (const [kind, scale] of scales) bars.append(colourBar(scale, `${KIND_LABELS[kind]}:`));
      if (scales.size) parts.push(bars);
    }
    const tensors = element('div', 'tensors');
    for (const t of main) tensors.append(tensorCard(t, scales.get(t.kind) ?? null));
    parts.push(tensors);
    if (folded.length) {
      const details = document.createElement('details');
      details.append(element('summary', '', `the new values (${folded.length} tensors; the golden fixture stores these after its last step)`));
      const inner = element('div', 'tensors');
      for (const t of folded) inner.append(tensorCard(t, null));
      details.append(inner);
      parts.push(details);
    }
    const marked: HTMLElement[] = [];
    for (const id of s.sources) {
      const snip = sources[id];
      const box = element('div', 'source');
      box.append(element('h3', '', `${snip.file}:${snip.startLine}–${snip.startLine + snip.lines.length - 1}`));
      const pre = document.createElement('pre');
      pre.append(...snip.lines.map((line, i) => {
        const row = element('span', s.highlight.some((h) => line.includes(h)) ? 'line hl' : 'line');
        row.append(element('span', 'ln', String(snip.startLine + i)), document.createTextNode(`${line}\n`));
        if (row.classList.contains('hl')) marked.push(row);
        return row;
      }));
      box.append(pre);
      parts.push(box);
    }
    pane.replaceChildren(...parts);
    // bring the first producing line of each source box into view inside its box
    for (const pre of pane.querySelectorAll('pre')) {
      const first = pre.querySelector<HTMLElement>('.hl');
      if (first) pre.scrollTop = Math.max(0, first.offsetTop - pre.offsetTop - 40);
    }
  }

  function tensorCard(st: StageTensor, shared: number | null): HTMLElement {
    const t = st.tensor;
    const diff = st.fixtureName ? diffs.get(st.fixtureName) : undefined;
    const card = element('div', 'tensor');
    const head = document.createElement('div');
    head.append(element('b', '', st.label), document.createTextNode(' '), element('span', 'shape', t.shape.length ? `(${t.shape.join(', ')})` : 'scalar'));
    if (t.size > 1 && !(st.rowLabels && !st.image)) head.append(element('span', 'shape', ` max |·| ${maxAbs(t).toPrecision(3)}`));
    card.append(head);
    if (diff !== undefined) {
      const ok = diff <= 1e-12;
      card.append(element('div', ok ? 'match' : 'mismatch', `${ok ? '✓ equals the fixture' : '✗ differs from the fixture'}: max |page − fixture| = ${diff.toExponential(1)}`));
    }
    if (t.size === 1) {
      card.append(element('div', 'scalar', t.data[0].toPrecision(17)));
      return card;
    }
    if (st.rowLabels && !st.image) { // the labels: as numbers, not colours
      card.append(element('div', 'labels', Array.from(st.rowLabels).join('  ')));
      return card;
    }
    if (t.data.every((v) => v === 0)) card.append(element('div', 'zero', 'all zero'));
    const scale = shared ?? maxAbs(t);
    const hover = element('div', 'hover', 'hover (or touch) a cell for its value');
    const showAt = (i: number | null) => {
      hover.textContent = i === null ? '' : `[${multiIndex(t.shape, i).join(', ')}] = ${t.data[i].toPrecision(12)}`
        + (st.image ? ` (digit ${Math.floor(i / (st.image[0] * st.image[1]))}, pixel row ${Math.floor((i % (st.image[0] * st.image[1])) / st.image[1])}, column ${i % st.image[1]})` : '');
    };
    const track = (canvas: HTMLCanvasElement, cellAt: (ev: MouseEvent) => number | null) => {
      canvas.addEventListener('mousemove', (ev) => showAt(cellAt(ev)));
      canvas.addEventListener('pointerdown', (ev) => showAt(cellAt(ev)));
    };
    if (st.image) {
      const grid = element('div', 'digits');
      imageRows(t, st.image, scale).forEach(({ canvas, cellAt }, n) => {
        const fig = element('figure', 'digit');
        track(canvas, cellAt);
        fig.append(canvas, element('figcaption', '', st.rowLabels ? `y = ${st.rowLabels[n]}` : `row ${n}`));
        grid.append(fig);
      });
      card.append(grid, hover);
      return card;
    }
    const map = heatmap(t, scale);
    track(map.canvas, map.cellAt);
    const scroll = element('div', 'heat-scroll');
    scroll.append(map.canvas);
    card.append(scroll, hover);
    return card;
  }

  function go(i: number): void {
    current = Math.max(0, Math.min(stages.length - 1, i));
    renderStage();
  }

  function clearStages(message: string): void {
    stages = [];
    list.replaceChildren();
    pane.replaceChildren(element('p', 'mismatch', message));
  }

  /** Shows a set-up; on an error the previous set-up's stages go (they would sit under the new label) and the error is shown. */
  async function show(setup: StepSetup & { fixture: boolean; step: number }): Promise<void> {
    try {
      await render(setup);
    } catch (e) {
      clearStages(`error: ${(e as Error).message}`);
      fixtureStatus.textContent = '';
      fixtureStatus.className = '';
      throw e;
    }
  }

  async function render(setup: StepSetup & { fixture: boolean; step: number }): Promise<void> {
    model.value = setup.model;
    rule.value = setup.rule;
    const maxRank = stepMaxRank(setup.model);
    rank.max = String(maxRank);
    rank.value = Number.isNaN(setup.rank) ? '' : String(setup.rank);
    stepNo.value = String(setup.step);
    fixtureWanted = setup.fixture;
    if (!Number.isInteger(setup.rank) || setup.rank < 1 || setup.rank > maxRank) {
      throw new Error(`rank ${Number.isNaN(setup.rank) ? '(empty)' : setup.rank} is not allowed for the ${MODEL_LABELS[setup.model]}: a whole number from 1 to ${maxRank} (the largest min(out, in) of its layers that send error down)`);
    }
    const caseName = fixtureCaseOf(setup);
    fixtureBox.disabled = caseName === null;
    fixtureBox.checked = fixtureWanted && caseName !== null;
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
      li.addEventListener('click', () => { go(i); list.focus({ preventScroll: true }); });
      return li;
    }));
    const keep = stages.findIndex((s) => s.id === previousId);
    go(keep >= 0 ? keep : 0);
  }

  const fromControls = () => show({
    model: model.value as StepModel, rule: rule.value, rank: rank.value === '' ? NaN : Number(rank.value), step: Number(stepNo.value), fixture: fixtureWanted,
  }).catch(() => {}); // show() has put the error on screen
  for (const c of [model, rule, rank, stepNo]) {
    c.addEventListener('change', () => {
      void fromControls();
      if (c !== rank) list.focus({ preventScroll: true }); // so that ← → move between stages, not through the dropdown's options
    });
  }
  rank.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') list.focus({ preventScroll: true }); });
  fixtureBox.addEventListener('change', () => { fixtureWanted = fixtureBox.checked; void fromControls(); list.focus({ preventScroll: true }); });
  sharedBox.addEventListener('change', () => { renderStage(); list.focus({ preventScroll: true }); });
  $('step-prev').addEventListener('click', () => go(current - 1));
  $('step-next').addEventListener('click', () => go(current + 1));
  document.addEventListener('keydown', (ev) => {
    if (document.getElementById('view-step')!.hidden || (ev.target instanceof HTMLElement && /INPUT|SELECT|BUTTON|SUMMARY/.test(ev.target.tagName))) return;
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

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The first `n` digits of a data set as the step-through's MNIST batch. */
export function mnistStepBatch(x: Float64Array, y: Int32Array): { x: Tensor; y: Int32Array } {
  return { x: tensor([MNIST_STEP.batch, 784], x.subarray(0, MNIST_STEP.batch * 784)), y: y.slice(0, MNIST_STEP.batch) };
}
