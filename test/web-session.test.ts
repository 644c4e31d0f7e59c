// The Train-live view's sessions in Node (src/web/train/session.ts, rules.ts): every rule the
// page offers trains 400 steps at the page's defaults without diverging (issue 24: the old
// "Add run" default, LDFA Oja r = 4 at feedback lr 0.01, diverged by step 10 on every kernel);
// a run that diverges is explained in the page's own controls; steps, learning rates and ranks
// are refused up front with the reason. The 400-step runs use tfjs-wasm, the kernels the page
// trains on by default where WebGL2 is a software renderer (and 3× the reference's speed).
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../reference/backend.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { createWasmBackend } from '../src/backends/wasm.ts';
import { DivergenceError } from '../src/train.ts';
import { readIdxPair } from '../src/data/idx.ts';
import { mnistFiles } from '../src/data/mnist.ts';
import { mnistSubsetFiles, parseMnistSubset } from '../src/web/data.ts';
import { PAGE_RULES } from '../src/web/train/rules.ts';
import { checkSessionSpec, defaultRun, explainFailure, lrProblem, PAGE_DEFAULTS, runProblem, startRun, stepRun, stepsProblem, type RunSpec, type SessionSpec } from '../src/web/train/session.ts';

const full = (split: 'train' | 't10k') => readIdxPair(mnistFiles(split).images, mnistFiles(split).labels);
const { train } = parseMnistSubset(mnistSubsetFiles({ train: full('train'), test: full('t10k') }));
const session = (runs: RunSpec[]): SessionSpec => ({ runs, width: PAGE_DEFAULTS.width, batch: PAGE_DEFAULTS.batch, seed: PAGE_DEFAULTS.seed, lr: PAGE_DEFAULTS.lr });

let wasm: Backend;
beforeAll(async () => { wasm = await createWasmBackend(); });

/** Trains `steps` steps on tfjs-wasm; the losses, or the step and error where it stopped. */
function trainRun(run: RunSpec, steps: number) {
  const spec = session([run]);
  checkSessionSpec(spec);
  const live = startRun(spec, run, train, wasm);
  const losses: number[] = [];
  for (let s = 1; s <= steps; s++) {
    try {
      losses.push(stepRun(live, wasm).loss);
    } catch (e) {
      return { losses, failedAt: s, reason: explainFailure(e, live, spec, run) };
    }
  }
  return { losses, failedAt: null, reason: null };
}
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;

describe('every rule the Train-live view offers trains at its defaults', () => {
  it.each(PAGE_RULES.map((r) => [r.id] as const))('%s: 400 steps at the page defaults, the loss falls', (id) => {
    const { losses, failedAt, reason } = trainRun(defaultRun(1, id), PAGE_DEFAULTS.steps);
    expect({ failedAt, reason }).toEqual({ failedAt: null, reason: null });
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(mean(losses.slice(-20))).toBeLessThan(0.75 * mean(losses.slice(0, 20)));
  }, 60_000);

  it('LDFA Oja trains at the largest rank too (r = 10)', () => {
    const { failedAt } = trainRun({ ...defaultRun(1, 'ldfa-oja'), rank: 10 }, PAGE_DEFAULTS.steps);
    expect(failedAt).toBe(null);
  }, 60_000);
});

describe('a diverging run is explained in the page’s controls', () => {
  it('the old Add-run default (Oja r = 4, feedback lr 0.01) diverges within 10 steps: "lower this run’s feedback learning rate"', () => {
    const { failedAt, reason } = trainRun({ ...defaultRun(1, 'ldfa-oja'), rank: 4, feedbackLr: 0.01 }, 20);
    expect(failedAt).toBeLessThanOrEqual(10);
    expect(reason).toMatch(/^diverged at step \d+ \(the gradient of fc\d\.P̂ is NaN/);
    expect(reason).toContain('lower this run’s feedback learning rate (now 0.01)');
    expect(reason).not.toContain('--lr');
  });

  it('where the feedback is finite, the advice is the forward learning rate; other errors are passed on', () => {
    const run = defaultRun(1, 'ldfa-normative');
    const spec = session([run]);
    const live = startRun(spec, run, train, referenceBackend);
    stepRun(live, referenceBackend);
    const nan = new DivergenceError('training diverged at step 2: the loss is NaN; try a smaller --lr');
    expect(explainFailure(nan, live, spec, run)).toBe('diverged at step 2 (the loss is NaN): lower the learning rate (now 0.05)');
    expect(explainFailure(new Error('out of memory'), live, spec, run)).toBe('stopped: out of memory');
  });
});

describe('the page refuses bad settings up front, saying why', () => {
  it('steps: whole numbers from 1 to 5000', () => {
    for (const bad of [0, -5, 5001, 2.5, NaN]) expect(stepsProblem(bad), String(bad)).toMatch(/a whole number from 1 to 5000/);
    for (const good of [1, 400, 5000]) expect(stepsProblem(good)).toBe(null);
  });

  it('learning rates in (0, 1]; ranks from 1 to min(width, 10); known rules', () => {
    expect(lrProblem(0)).toMatch(/\(0, 1\]/);
    expect(lrProblem(0.05)).toBe(null);
    expect(runProblem({ ...defaultRun(1, 'ldfa-normative'), rank: 11 }, 64)).toMatch(/from 1 to 10/);
    expect(runProblem({ ...defaultRun(1, 'ldfa-normative'), rank: 10 }, 64)).toBe(null);
    expect(runProblem({ ...defaultRun(1, 'bp'), rank: 99 }, 64)).toBe(null); // BP has no rank: not checked
    expect(runProblem({ ...defaultRun(1, 'ldfa-oja'), feedbackLr: 0 }, 64)).toMatch(/feedback learning rate/);
    expect(runProblem({ ...defaultRun(1, 'bp'), rule: 'nope' }, 64)).toMatch(/unknown rule 'nope'/);
    expect(() => checkSessionSpec(session([defaultRun(1, 'bp'), defaultRun(1, 'fa')]))).toThrow('two runs share an id');
  });
});
