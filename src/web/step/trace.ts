// The step-through's data: one training step of an MLP, run on the float64 reference
// (reference/), cut into the stages a reader walks through: forward → loss → e → for each
// layer from the top δ, the signal it sends down (z = δ·P̂, dx = z·Q̂ under LDFA), dW → the
// feedback learning (dP̂, dQ̂) → the update. Each stage names the reference code that computed
// it (anchors.ts) and holds copies of its tensors; a tensor that the golden fixtures also
// store carries the fixture's name for it (docs/fixture-format.md §3).
import { softmaxCrossEntropy } from '../../../reference/layers/losses.ts';
import { buildMlp } from '../../../reference/models/mlp.ts';
import { ActivationNode, LinearNode, type Model, Sequential } from '../../../reference/models/network.ts';
import { Optimizer } from '../../../reference/optim.ts';
import { Rng } from '../../../reference/rng.ts';
import { createRule } from '../../../reference/rules/index.ts';
import { clone, tensor, type Tensor } from '../../../reference/tensor.ts';
import { multiply } from '../../../reference/backend.ts';
import { ARCHITECTURES, FIXTURE_RANK, FIXTURE_TRAINING, makeCase, RULE_CASES, type RuleCase } from '../../../oracles/cases.ts';
import { perturbFactors, sgd } from '../../../oracles/generate.ts';
import type { AnchorId } from './anchors.ts';

export interface StageTensor {
  /** What the reader sees, e.g. "δ (fc2)". */
  label: string;
  tensor: Tensor;
  /** The golden fixture's name for this tensor in this step (e.g. "step1/fc2.delta"), if it stores it. */
  fixtureName?: string;
}

export interface Stage {
  id: string;
  title: string;
  /** The equation, in the code orientation of the reference (rows are samples). */
  equation: string;
  sources: AnchorId[];
  tensors: StageTensor[];
}

/** The models the step-through offers: the fixtures' small nets and an MNIST MLP. */
export const STEP_MODELS = ['mlp', 'linear2', 'mnist-mlp'] as const;
export type StepModel = (typeof STEP_MODELS)[number];

/** The rules offered: the fixtures' rule cases (BP, FA, DFA, LDFA fixed / normative / oja / factorised). */
export const STEP_RULES: readonly string[] = RULE_CASES.map((r) => r.name);

export interface StepSetup {
  model: StepModel;
  /** A name of RULE_CASES. */
  rule: string;
  /** LDFA rank (clamped per layer to min(out, in)); the fixtures use FIXTURE_RANK. */
  rank: number;
}

/** A batch and the tensors a run starts from, e.g. a golden fixture's input/ and init/ tensors. */
export interface StartingPoint {
  x: Tensor;
  y: Int32Array;
  /** Parameter values by name (fc1.W, fc1.b, …) and feedback tensors (fc2.B, fc2.P, …). */
  init: Map<string, Tensor>;
}

/** The MNIST MLP of the step-through: 784 → 32 → 10, tanh, on a batch of 8 digits. */
export const MNIST_STEP = { hidden: 32, batch: 8, seed: 784 } as const;

/** The fixture case a setup reproduces, or null (the MNIST MLP, or a rank other than the fixtures'). */
export function fixtureCaseOf(setup: StepSetup): string | null {
  const ruleCase = findRuleCase(setup.rule);
  if (setup.model === 'mnist-mlp' || (ruleCase.ldfa && setup.rank !== FIXTURE_RANK)) return null;
  return `${setup.model}_${ruleCase.name}`;
}

function findRuleCase(name: string): RuleCase {
  const found = RULE_CASES.find((r) => r.name === name);
  if (!found) throw new Error(`unknown rule '${name}': allowed are ${STEP_RULES.join(', ')}`);
  return found;
}

/**
 * Builds the model, batch and rule of a setup exactly as the fixture generator does
 * (oracles/generate.ts: model, data, feedback and the perturbation of an SVD start from forks
 * of Rng(arch seed); the case's learning rates), or from `start` when given (its tensors
 * replace the drawn ones), then runs `steps` plain-SGD steps and returns the stages of each.
 */
export function traceSteps(setup: StepSetup, steps: number, mnist: { x: Tensor; y: Int32Array } | null, start?: StartingPoint): Stage[][] {
  const ruleCase = findRuleCase(setup.rule);
  if (!Number.isInteger(setup.rank) || setup.rank < 1) throw new Error(`rank must be a positive integer, got ${setup.rank}`);
  const rule = { ...ruleCase, ldfa: ruleCase.ldfa ? { ...ruleCase.ldfa, rank: setup.rank } : undefined };
  let model: Sequential, x: Tensor, y: Int32Array, root: Rng;
  let training = FIXTURE_TRAINING, perturbation = 0;
  if (setup.model === 'mnist-mlp') {
    if (mnist === null) throw new Error('the MNIST MLP needs the embedded MNIST batch');
    root = new Rng(MNIST_STEP.seed);
    model = buildMlp({ inputSize: 784, hidden: [MNIST_STEP.hidden], outputSize: 10, activation: 'tanh', bias: true, init: 'uniform' }, root.fork());
    ({ x, y } = mnist);
  } else {
    const c = makeCase(ARCHITECTURES.find((a) => a.name === setup.model)!, rule);
    ({ training, perturbation } = c);
    root = new Rng(c.arch.seed);
    model = c.arch.build(root.fork()) as Sequential;
    ({ x, y } = c.arch.data(root.fork()));
  }
  if (start) {
    x = start.x;
    y = start.y;
    for (const p of model.params()) {
      const value = start.init.get(p.name);
      if (!value) throw new Error(`the starting point has no tensor '${p.name}'`);
      p.value.data.set(value.data);
    }
  }
  // copies: a learned feedback tensor is updated in place, and `start` must stay as it was
  const inject = start ? Object.fromEntries([...start.init].filter(([name]) => /\.(B|D|P|Q)$/.test(name)).map(([name, t]) => [name, clone(t)])) : undefined;
  const learningRule = createRule(rule.rule, { ldfa: rule.ldfa, inject });
  learningRule.attach(model, root.fork());
  if (!start && perturbation > 0) perturbFactors(learningRule.feedbackTensors(), root.fork(), perturbation);

  const { lr, feedbackLr } = training;
  const params = model.params(), feedbackParams = learningRule.feedbackParams();
  const optimizer = new Optimizer(sgd(lr), params), feedbackOptimizer = new Optimizer(sgd(feedbackLr), feedbackParams);
  const trace: Stage[][] = [];
  for (let step = 1; step <= steps; step++) {
    const stages: Stage[] = [];
    const at = `step${step}`;
    const logits = model.forward(x, true);
    stages.push(...forwardStages(model, x));
    const e = tensor(logits.shape);
    const loss = softmaxCrossEntropy(e, logits, y);
    model.backward(e);
    learningRule.feedbackGradients();
    stages.push({
      id: 'loss', title: 'Loss and output error e',
      equation: 'L = −(1/N) Σₙ log softmax(aₙ)[yₙ];   e = ∂L/∂a = (softmax(a) − onehot(y)) / N',
      sources: ['loss'],
      tensors: [
        { label: 'logits a', tensor: clone(logits), fixtureName: `${at}/logits` },
        { label: 'loss L', tensor: tensor([], [loss]), fixtureName: `${at}/loss` },
        { label: 'e', tensor: clone(e) },
      ],
    });
    stages.push(...backwardStages(model, ruleCase, at, learningRule.feedbackTensors()));
    stages.push(...feedbackStages(model, ruleCase, at, feedbackParams.map((p) => ({ name: p.name, grad: clone(p.grad) }))));
    optimizer.step();
    feedbackOptimizer.step();
    learningRule.afterStep(step);
    const last = step === training.steps;
    stages.push({
      id: 'update', title: 'The update (plain SGD)',
      equation: `W ← W − η·dW,  b ← b − η·db  (η = ${lr})${feedbackParams.length ? `;   P̂ ← P̂ − η_f·dP̂,  Q̂ ← Q̂ − η_f·dQ̂  (η_f = ${feedbackLr})` : ''}`,
      sources: ['sgdUpdate'],
      tensors: [...params, ...feedbackParams].map((p) => ({
        label: `${p.name} after`, tensor: clone(p.value), fixtureName: last ? `${at}/${p.name}` : undefined,
      })),
    });
    trace.push(stages);
  }
  return trace;
}

function forwardStages(model: Sequential, x: Tensor): Stage[] {
  const acts = model.activations();
  const stages: Stage[] = [];
  let input = x;
  model.nodes.forEach((node, i) => {
    const out = acts[i].value;
    if (node instanceof LinearNode) {
      const W = node.weight.value;
      stages.push({
        id: `forward-${node.name}`, title: `Forward: ${node.name} (${W.shape[1]} → ${W.shape[0]})`,
        equation: node.bias ? 'a = x·Wᵀ + b' : 'a = x·Wᵀ',
        sources: ['linearForward'],
        tensors: [
          { label: `x (input of ${node.name})`, tensor: clone(input) },
          { label: `${node.name}.W`, tensor: clone(W) },
          ...(node.bias ? [{ label: `${node.name}.b`, tensor: clone(node.bias.value) }] : []),
          { label: `a (output of ${node.name})`, tensor: clone(out) },
        ],
      });
    } else if (node instanceof ActivationNode) {
      stages.push({
        id: `forward-${node.name}`, title: `Forward: ${node.name} (${node.f})`,
        equation: `h = ${node.f}(a)`, sources: ['activationForward'],
        tensors: [{ label: `h (output of ${node.name})`, tensor: clone(out) }],
      });
    }
    input = out;
  });
  return stages;
}

function backwardStages(model: Model, ruleCase: RuleCase, at: string, feedback: Record<string, Tensor>): Stage[] {
  const stages: Stage[] = [];
  const sites = [...model.sites].reverse();
  for (const site of sites) {
    const dy = site.outputGrad!;
    stages.push({
      id: `delta-${site.name}`, title: `δ at ${site.name}`,
      equation: site.isOutput ? 'δ = e  (the output layer learns from the exact error)' : 'δ = f′(a) ⊙ dx(from the layer above)',
      sources: site.isOutput ? ['loss'] : ['activationBackward'],
      tensors: [{ label: `δ (${site.name})`, tensor: clone(dy), fixtureName: `${at}/${site.name}.delta` }],
    });
    if (site.inputGrad) {
      const dx = { label: `dx sent down by ${site.name}`, tensor: clone(site.inputGrad), fixtureName: `${at}/${site.name}.signal` };
      switch (ruleCase.rule) {
        case 'bp':
          stages.push({ id: `signal-${site.name}`, title: `Signal from ${site.name} (BP)`, equation: 'dx = δ·W', sources: ['throughMatrix', 'bp'], tensors: [{ label: `${site.name}.W`, tensor: clone(site.weight.value) }, dx] });
          break;
        case 'fa':
          stages.push({ id: `signal-${site.name}`, title: `Signal from ${site.name} (FA)`, equation: 'dx = δ·B,  B fixed random of W’s shape', sources: ['throughMatrix', 'fa'], tensors: [{ label: `${site.name}.B`, tensor: clone(feedback[`${site.name}.B`]) }, dx] });
          break;
        case 'dfa':
          stages.push({ id: `signal-${site.name}`, title: `Signal from ${site.name} (DFA)`, equation: 'dx = e·D,  D fixed random (classes, in)', sources: ['throughDirect', 'dfa'], tensors: [{ label: `${site.name}.D`, tensor: clone(feedback[`${site.name}.D`]) }, dx] });
          break;
        case 'ldfa': {
          const P = feedback[`${site.name}.P`], Q = feedback[`${site.name}.Q`];
          const z = multiply(dy, P); // (N, r): recomputed for display, as throughLowRank computed it
          stages.push({
            id: `z-${site.name}`, title: `Feedback units at ${site.name}: z = δ·P̂ (rank ${P.shape[1]})`,
            equation: 'z = δ·P̂,   P̂ = Pᵀ: (out, r)', sources: ['throughLowRank'],
            tensors: [{ label: `δ (${site.name})`, tensor: clone(dy) }, { label: `${site.name}.P̂`, tensor: clone(P) }, { label: 'z', tensor: z }],
          });
          stages.push({
            id: `signal-${site.name}`, title: `Signal from ${site.name}: dx = z·Q̂`,
            equation: 'dx = z·Q̂,   Q̂ = Qᵀ: (r, in)   (so dx = δ·P̂Q̂, never forming P̂Q̂)', sources: ['throughLowRank'],
            tensors: [{ label: 'z', tensor: z }, { label: `${site.name}.Q̂`, tensor: clone(Q) }, dx],
          });
          break;
        }
      }
    }
    const bias = model.params().find((p) => p.name === `${site.name}.b`);
    stages.push({
      id: `dW-${site.name}`, title: `Weight gradient of ${site.name}`,
      equation: bias ? 'dW = δᵀ·x,   db = Σₙ δₙ   (the same under every rule)' : 'dW = δᵀ·x   (the same under every rule)',
      sources: ['linearBackward'],
      tensors: [
        { label: `${site.name}.dW`, tensor: clone(site.weight.grad), fixtureName: `${at}/${site.name}.dW` },
        ...(bias ? [{ label: `${site.name}.db`, tensor: clone(bias.grad), fixtureName: `${at}/${site.name}.db` }] : []),
      ],
    });
  }
  return stages;
}

const FEEDBACK_LEARNING: Record<string, { equation: string; sources: AnchorId[] }> = {
  normative: { equation: 'E = P̂Q̂ − W;   dP̂ = E·Q̂ᵀ,   dQ̂ = P̂ᵀ·E   (descends ½‖W − P̂Q̂‖²)', sources: ['normative'] },
  factorised: { equation: 'dP̂ = dW·Q̂ᵀ,   dQ̂ = P̂ᵀ·dW   (the loss gradient if W were P̂Q̂)', sources: ['factorised'] },
  oja: { equation: 'δ̃ = (δ − mean δ)/(max std + ε),  C = δ̃ᵀδ̃;   dP̂ = −(C·P̂ − P̂·P̂ᵀ·C·P̂),   dQ̂ = zᵀ·x', sources: ['ojaGradients', 'ojaGradient', 'normaliseError'] },
};

function feedbackStages(model: Model, ruleCase: RuleCase, at: string, grads: { name: string; grad: Tensor }[]): Stage[] {
  const mode = ruleCase.ldfa?.mode;
  if (!mode || mode === 'fixed') return [];
  const how = FEEDBACK_LEARNING[mode];
  return model.sites.filter((s) => s.needsInputGrad).reverse().map((site) => ({
    id: `feedback-${site.name}`, title: `Feedback learning at ${site.name} (${mode})`,
    equation: how.equation, sources: how.sources,
    tensors: grads.filter((g) => g.name.startsWith(`${site.name}.`)).map((g) => {
      const d = g.name.replace(/\.(P|Q)$/, '.d$1');
      return { label: `${d.replace(/\.dP$/, '.dP̂').replace(/\.dQ$/, '.dQ̂')}`, tensor: g.grad, fixtureName: `${at}/${d}` };
    }),
  }));
}

/** Every tensor of a trace that the fixture also stores, with the largest |page − fixture|. */
export function compareWithFixture(trace: Stage[][], fixture: Map<string, Tensor>): { name: string; maxAbsDiff: number }[] {
  const out: { name: string; maxAbsDiff: number }[] = [];
  for (const stages of trace) for (const stage of stages) for (const t of stage.tensors) {
    if (!t.fixtureName) continue;
    const ref = fixture.get(t.fixtureName);
    if (!ref) throw new Error(`the fixture has no tensor '${t.fixtureName}'`);
    let diff = ref.size === t.tensor.size ? 0 : Infinity;
    for (let i = 0; i < ref.size && diff !== Infinity; i++) diff = Math.max(diff, Math.abs(ref.data[i] - t.tensor.data[i]) || (Number.isNaN(t.tensor.data[i]) ? Infinity : 0));
    out.push({ name: t.fixtureName, maxAbsDiff: diff });
  }
  return out;
}

/** A golden fixture's batch and starting tensors. */
export function startingPointOf(fixture: Map<string, Tensor>): StartingPoint {
  const x = fixture.get('input/x'), y = fixture.get('input/y');
  if (!x || !y) throw new Error('the fixture has no input/x or input/y');
  const init = new Map([...fixture].filter(([name]) => name.startsWith('init/')).map(([name, t]) => [name.slice('init/'.length), t]));
  return { x, y: Int32Array.from(y.data), init };
}
