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
import { familyRecording, familyRuleCases } from '../../../oracles/family-cases.ts';
import { gradName, perturbFactors, sgd } from '../../../oracles/generate.ts';
import type { AnchorId } from './anchors.ts';

/** What a tensor holds; the heatmaps of one kind in a stage share a colour scale. */
export type TensorKind = 'activity' | 'error' | 'weight' | 'gradient' | 'update' | 'label';

export interface StageTensor {
  kind: TensorKind;
  /** What the reader sees, e.g. "δ (fc2)". */
  label: string;
  tensor: Tensor;
  /** The golden fixture's name for this tensor in this step (e.g. "step1/fc2.delta"), if it stores it. */
  fixtureName?: string;
  /** Each row is an image of this shape (the MNIST inputs: [28, 28]). */
  image?: [number, number];
  /** The class label of each row (shown under the digit images and in the loss stage). */
  rowLabels?: Int32Array;
  /** Shown folded, below the stage's main tensors (the update's new values, which the fixture stores). */
  secondary?: boolean;
}

/** A number the stage computes from its tensors, e.g. the angle between the rule's dx and BP's δ·W. */
export interface StageMetric {
  label: string;
  value: number;
  unit?: string;
}

export interface Stage {
  id: string;
  title: string;
  /** The equation, in the code orientation of the reference (rows are samples). */
  equation: string;
  /** What to look for at this stage, in a sentence or two. */
  about: string;
  sources: AnchorId[];
  /** Text of the source lines that computed this stage's tensors (each matches a line of `sources`; highlighted). */
  highlight: string[];
  tensors: StageTensor[];
  metrics?: StageMetric[];
}

/** The models the step-through offers: the fixtures' small nets and an MNIST MLP. */
export const STEP_MODELS = ['mlp', 'linear2', 'mnist-mlp'] as const;
export type StepModel = (typeof STEP_MODELS)[number];

/**
 * The rules offered: the fixtures' rule cases (BP, FA, DFA, LDFA fixed / normative / oja /
 * factorised) and the family's (uSF, brSF, frSF, Kolen–Pollack, weight mirrors, PFA), with the
 * fixtures' settings (oracles/family-cases.ts).
 */
export const STEP_RULES: readonly string[] = [...RULE_CASES.map((r) => r.name), ...familyRuleCases('mlp').map((r) => r.name)];

/** What the rule menu shows. */
export const STEP_RULE_LABELS: Readonly<Record<string, string>> = {
  bp: 'BP', fa: 'FA', dfa: 'DFA', 'ldfa-fixed': 'LDFA fixed', 'ldfa-normative': 'LDFA normative', 'ldfa-oja': 'LDFA oja', 'ldfa-factorised': 'LDFA factorised',
  usf: 'uSF (sign, c·sign W)', brsf: 'brSF (sign, fresh |M| each step)', frsf: 'frSF (sign, fixed |M|)', kp: 'Kolen–Pollack', wm: 'Weight mirrors', pfa: 'PFA (product B_p·R)',
};

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

/**
 * The largest rank a model's rank box allows: the largest min(out, in) of the layers that send
 * error down (a layer's rank is clamped to its own min(out, in); resolveRanks refuses more).
 */
export function stepMaxRank(model: StepModel): number {
  const net = model === 'mnist-mlp'
    ? buildMlp({ inputSize: 784, hidden: [MNIST_STEP.hidden], outputSize: 10, activation: 'tanh', bias: true, init: 'uniform' }, new Rng(1))
    : ARCHITECTURES.find((a) => a.name === model)!.build(new Rng(1));
  return Math.max(...net.sites.filter((s) => s.needsInputGrad).map((s) => Math.min(...s.weight.value.shape)));
}

/** The fixture case a setup reproduces, or null (the MNIST MLP, or a rank other than the fixtures'). */
export function fixtureCaseOf(setup: StepSetup): string | null {
  const ruleCase = findRuleCase(setup.rule);
  if (setup.model === 'mnist-mlp' || (ruleCase.ldfa && setup.rank !== FIXTURE_RANK)) return null;
  return `${setup.model}_${ruleCase.name}`;
}

/** The rule case of a name; a family case is the architecture's (the mirror batch depends on it). */
function findRuleCase(name: string, model: StepModel = 'mlp'): RuleCase {
  const found = [...RULE_CASES, ...familyRuleCases(model === 'mnist-mlp' ? 'mlp' : model)].find((r) => r.name === name);
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
  const ruleCase = findRuleCase(setup.rule, setup.model);
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
  const inject = start ? Object.fromEntries([...start.init].filter(([name]) => /\.(B|D|P|Q|M|Bp|R)$/.test(name)).map(([name, t]) => [name, clone(t)])) : undefined;
  // The family rules' extra tensors (B_t of the sign rules, the mirror noise, Ŵ), drawn and recorded as the fixture generator does.
  const recorded = new Map<string, Tensor>();
  const ruleRng = root.fork();
  const family = rule.options ? familyRecording(rule, root.fork(), (name, t) => recorded.set(name, clone(t))) : null;
  const learningRule = createRule(rule.rule, { ldfa: rule.ldfa, ...family?.options, inject });
  learningRule.attach(model, ruleRng);
  if (!start && perturbation > 0) perturbFactors(learningRule.feedbackTensors(), root.fork(), perturbation);

  const { lr, feedbackLr } = training;
  const weightDecay = rule.weightDecay ?? 0;
  const params = model.params(), feedbackParams = learningRule.feedbackParams();
  const optimizer = new Optimizer({ ...sgd(lr), weightDecay }, params);
  const feedbackOptimizer = new Optimizer({ ...sgd(feedbackLr), weightDecay: learningRule.stepsWithWeights ? weightDecay : 0 }, feedbackParams);
  const trace: Stage[][] = [];
  for (let step = 1; step <= steps; step++) {
    const stages: Stage[] = [];
    const at = `step${step}`;
    family?.beforeStep(step, learningRule);
    const logits = model.forward(x, true);
    stages.push(...forwardStages(model, x, setup.model === 'mnist-mlp' ? y : null));
    const e = tensor(logits.shape);
    const loss = softmaxCrossEntropy(e, logits, y);
    model.backward(e);
    learningRule.feedbackGradients();
    stages.push({
      id: 'loss', title: 'Loss and output error e',
      equation: 'L = −(1/N) Σₙ log softmax(aₙ)[yₙ];   e = ∂L/∂a = (softmax(a) − onehot(y)) / N',
      about: 'The labels y enter here and only here. Each row of e is the softmax’s probabilities minus the one-hot label, over N: '
        + 'it sums to 0, and its one negative entry sits at the sample’s label. Every rule starts its way back from this e.',
      sources: ['loss'],
      highlight: ['loss += Math.log(sum) + max - logits.data[row + label]', 'de.data[row + c] = '],
      tensors: [
        { kind: 'activity', label: 'logits a', tensor: clone(logits), fixtureName: `${at}/logits` },
        { kind: 'label', label: 'labels y', tensor: tensor([y.length], Float64Array.from(y)), rowLabels: y },
        { kind: 'activity', label: 'loss L', tensor: tensor([], [loss]), fixtureName: `${at}/loss` },
        { kind: 'error', label: 'e', tensor: clone(e) },
      ],
    });
    family?.afterBackward(step, learningRule);
    stages.push(...backwardStages(model, ruleCase, at, { ...learningRule.feedbackTensors(), ...stepTensors(recorded, at) }));
    stages.push(...feedbackStages(model, ruleCase, at, feedbackParams.map((p) => ({ name: p.name, grad: clone(p.grad) }))));
    const before = new Map([...params, ...feedbackParams].map((p) => [p.name, clone(p.value)]));
    const feedbackBefore = Object.fromEntries(Object.entries(learningRule.feedbackTensors()).map(([n, t]) => [n, clone(t)]));
    optimizer.step();
    feedbackOptimizer.step();
    learningRule.afterStep(step);
    family?.afterUpdate(step, model, learningRule);
    const last = step === training.steps;
    const changed = [...params, ...feedbackParams];
    const learned = feedbackParams.map((p) => hatted(p.name.slice(p.name.lastIndexOf('.') + 1)));
    const decay = weightDecay > 0 ? ` + λ·W` : '';
    stages.push({
      id: 'update', title: `The update (${weightDecay > 0 ? 'SGD with weight decay' : 'plain SGD'}): ΔW, Δb${learned.length ? `, ${[...new Set(learned)].map((t) => `Δ${t}`).join(', ')}` : ''}`,
      equation: `ΔW = −η·(dW${decay}),  Δb = −η·db  (η = ${lr}${weightDecay > 0 ? `, λ = ${weightDecay}` : ''})${feedbackParams.length ? `;   ${[...new Set(learned)].map((t) => `Δ${t} = −η_f·(d${t}${weightDecay > 0 && learningRule.stepsWithWeights ? ` + λ·${t}` : ''})`).join(',  ')}  (η_f = ${feedbackLr}${learningRule.stepsWithWeights ? ', W’s own η' : ''})` : ''}`,
      about: 'The change each tensor makes in this step. The forward weights move along dW under every rule; under LDFA, P̂ and Q̂ move too, '
        + 'under Kolen–Pollack B, under PFA R, with W’s learning rate and decay, '
        + 'and the next step’s signal goes through the new feedback. The new values (what the golden fixture stores after its last step) are folded below.',
      sources: ['sgdUpdate'],
      highlight: ['w[i] -= lr * v[i]', ...(weightDecay > 0 ? ['const gi = g[i] + wd * w[i]'] : [])],
      tensors: [
        ...changed.map((p): StageTensor => ({ kind: 'update', label: `Δ${hatted(p.name)}`, tensor: difference(p.value, before.get(p.name)!) })),
        ...changed.map((p): StageTensor => ({ kind: 'weight', label: `${hatted(p.name)} (new value)`, tensor: clone(p.value), fixtureName: last ? `${at}/${p.name}` : undefined, secondary: true })),
      ],
    });
    if (ruleCase.rule === 'wm') stages.push(...mirrorStages(model, at, feedbackBefore, stepTensors(recorded, at), recorded));
    trace.push(stages);
  }
  return trace;
}

/** The recorded tensors of one step, by site tensor name (step1/fc2.B → fc2.B). */
function stepTensors(recorded: Map<string, Tensor>, at: string): Record<string, Tensor> {
  return Object.fromEntries([...recorded].filter(([name]) => name.startsWith(`${at}/`)).map(([name, t]) => [name.slice(at.length + 1), t]));
}

/** Weight mirrors' phase after the update, one stage per layer: the noise, Ŵ, and B's step towards it. */
function mirrorStages(model: Model, at: string, before: Record<string, Tensor>, after: Record<string, Tensor>, recorded: Map<string, Tensor>): Stage[] {
  return model.sites.filter((s) => s.needsInputGrad).map((site) => {
    const W = site.weight.value, B0 = before[`${site.name}.B`], B1 = after[`${site.name}.B`];
    return {
      id: `mirror-${site.name}`, title: `Mirror phase at ${site.name}: B learns W from noise`,
      equation: 'x ~ N(0, σ²) (N_m, in);  y = x·Wᵀ;  Ŵ = yᵀx/(N_m·σ²);  B ← (1 − ρ)·B + ρ·Ŵ',
      about: 'After the update the layer’s inputs emit noise x, the layer answers with its own linear response y = x·Wᵀ, and the feedback synapses see only (x, y): '
        + 'Ŵ = yᵀx/(N_m σ²) is an unbiased estimate of W (E[yᵀx]/N = σ²W), so B drifts towards W without ever reading it. The next step sends its error through the new B.',
      sources: ['mirrorResponse', 'mirrorUpdate'],
      highlight: ['ops().matmul(y, x, W, false, true)', 'ops().matmul(estimate, y, x, true, false)', 'B.data[i] = (1 - rate) * B.data[i] + scale * estimate.data[i]'],
      tensors: [
        { kind: 'activity', label: 'noise x', tensor: recorded.get(`input/${at}/${site.name}.noise`)! },
        { kind: 'weight', label: `${site.name}.W (after the update)`, tensor: clone(W) },
        { kind: 'weight', label: 'Ŵ = yᵀx/(N_m·σ²)', tensor: after[`${site.name}.What`], fixtureName: `${at}/${site.name}.What` },
        { kind: 'weight', label: `${site.name}.B (before)`, tensor: B0 },
        { kind: 'weight', label: `${site.name}.B (after)`, tensor: clone(B1), fixtureName: `${at}/${site.name}.B` },
      ],
      metrics: [
        { label: '‖W − B‖_F before', value: frobeniusDistance(W, B0) }, { label: 'after', value: frobeniusDistance(W, B1) },
        { label: 'angle(B, W) after', value: angleDeg(B1, W), unit: '°' },
      ],
    };
  });
}

function forwardStages(model: Sequential, x: Tensor, digitLabels: Int32Array | null): Stage[] {
  const acts = model.activations();
  const stages: Stage[] = [];
  let input = x;
  model.nodes.forEach((node, i) => {
    const out = acts[i].value;
    if (node instanceof LinearNode) {
      const W = node.weight.value;
      const first = i === 0;
      stages.push({
        id: `forward-${node.name}`, title: `Forward: ${node.name} (${W.shape[1]} → ${W.shape[0]})`,
        equation: node.bias ? 'a = x·Wᵀ + b' : 'a = x·Wᵀ',
        about: (first && digitLabels ? 'Each row of x is one digit (shown as its 28×28 image, with its label). ' : 'Each row of x is one sample. ')
          + 'Row n of a mixes that sample’s inputs through every row of W. The forward pass is the same under every rule: they differ only on the way back.',
        sources: ['linearForward'],
        highlight: ['ops().matmul(y, x, W, false, true)', ...(node.bias ? ['y.data[n * outDim + o] += b.data[o]'] : [])],
        tensors: [
          { kind: 'activity', label: `x (input of ${node.name})`, tensor: clone(input), ...(first && digitLabels ? { image: [28, 28] as [number, number], rowLabels: digitLabels } : {}) },
          { kind: 'weight', label: `${node.name}.W`, tensor: clone(W) },
          ...(node.bias ? [{ kind: 'weight' as const, label: `${node.name}.b`, tensor: clone(node.bias.value) }] : []),
          { kind: 'activity', label: `a (output of ${node.name})`, tensor: clone(out) },
        ],
      });
    } else if (node instanceof ActivationNode) {
      stages.push({
        id: `forward-${node.name}`, title: `Forward: ${node.name} (${node.f})`,
        equation: `h = ${node.f}(a)`,
        about: node.f === 'tanh' ? 'tanh squashes each unit into (−1, 1). Units near ±1 are saturated: f′(a) = 1 − h² is small there, and on the way back they pass little error.'
          : `${node.f} applied entry by entry; on the way back the error is multiplied by its derivative f′(a).`,
        sources: ['activationForward'], highlight: [`case '${node.f}':`],
        tensors: [{ kind: 'activity', label: `h (output of ${node.name})`, tensor: clone(out) }],
      });
    }
    input = out;
  });
  return stages;
}

/** The activation applied to a layer's output (the node after it), if any. */
function activationAfter(model: Model, siteName: string): string | null {
  if (!(model instanceof Sequential)) return null;
  const at = model.nodes.findIndex((n) => n.name === siteName);
  const next = model.nodes[at + 1];
  return next instanceof ActivationNode ? next.f : null;
}

function backwardStages(model: Model, ruleCase: RuleCase, at: string, feedback: Record<string, Tensor>): Stage[] {
  const stages: Stage[] = [];
  const sites = [...model.sites].reverse();
  for (const site of sites) {
    const dy = site.outputGrad!;
    const f = activationAfter(model, site.name);
    const hidden = f === null
      ? { equation: 'δ = dx(from the layer above)   (no activation between the layers)', sources: ['linearBackward'] as AnchorId[], highlight: ['if (dx !== null) feedback(dx, dy)'] }
      : { equation: 'δ = f′(a) ⊙ dx(from the layer above)', sources: ['activationBackward'] as AnchorId[], highlight: [`case '${f}':`] };
    stages.push({
      id: `delta-${site.name}`, title: `δ at ${site.name}`,
      equation: site.isOutput ? 'δ = e  (the output layer learns from the exact error)' : hidden.equation,
      about: site.isOutput ? 'The output layer’s δ is the exact error e under every rule: only the layers below see the rule’s approximation.'
        : f === null ? 'The signal the layer above sent down, as it arrived (a linear network has no f′ to scale it). Under BP this is the true gradient; under the other rules it is their stand-in for it.'
        : 'The signal from the layer above, scaled unit by unit by f′(a): saturated units (f′ ≈ 0) pass almost nothing. Under BP this is the true gradient; under the other rules it is their stand-in for it.',
      sources: site.isOutput ? ['loss'] : hidden.sources,
      highlight: site.isOutput ? ['de.data[row + c] = '] : hidden.highlight,
      tensors: [{ kind: 'error', label: `δ (${site.name})`, tensor: clone(dy), fixtureName: `${at}/${site.name}.delta` }],
    });
    if (site.inputGrad) {
      const dx: StageTensor = { kind: 'error', label: `dx sent down by ${site.name}`, tensor: clone(site.inputGrad), fixtureName: `${at}/${site.name}.signal` };
      const W = site.weight.value;
      const bpSignal: StageTensor = { kind: 'error', label: `BP’s δ·W (for comparison)`, tensor: multiply(dy, W) }; // (N, in): what BP would send
      const angle = { label: 'angle between dx and BP’s δ·W', value: angleDeg(site.inputGrad, bpSignal.tensor), unit: '°' };
      switch (ruleCase.rule) {
        case 'bp':
          stages.push({
            id: `signal-${site.name}`, title: `Signal from ${site.name} (BP)`, equation: 'dx = δ·W',
            about: 'BP sends δ back through the layer’s own weights. This dx is the exact gradient with respect to the layer’s input; every other rule is measured against it.',
            sources: ['throughMatrix', 'bp'], highlight: ['ops().matmul(dx, dy, M)'],
            tensors: [{ kind: 'weight', label: `${site.name}.W`, tensor: clone(W) }, dx],
          });
          break;
        case 'fa': {
          const B = feedback[`${site.name}.B`];
          stages.push({
            id: `signal-${site.name}`, title: `Signal from ${site.name} (FA)`, equation: 'dx = δ·B,  B fixed random of W’s shape',
            about: 'FA sends δ through a fixed random B instead of W, so dx starts almost orthogonal to BP’s δ·W. It learns anyway because W comes to align with B: the angle falls as training goes on (see Train live).',
            sources: ['throughMatrix', 'fa'], highlight: ['ops().matmul(dx, dy, M)'],
            tensors: [{ kind: 'weight', label: `${site.name}.B`, tensor: clone(B) }, dx, bpSignal],
            metrics: [angle, { label: '‖W − B‖_F', value: frobeniusDistance(W, B) }, { label: '‖W‖_F', value: frobeniusDistance(W, null) }],
          });
          break;
        }
        case 'dfa':
          stages.push({
            id: `signal-${site.name}`, title: `Signal from ${site.name} (DFA)`, equation: 'dx = e·D,  D fixed random (classes, in)',
            about: 'DFA ignores this layer’s δ: the output error e goes straight to the layer below through a fixed random D. Compare with what BP would send.',
            sources: ['throughDirect', 'dfa'], highlight: ['ops().matmul(reshape(dx'],
            tensors: [{ kind: 'weight', label: `${site.name}.D`, tensor: clone(feedback[`${site.name}.D`]) }, dx, bpSignal],
            metrics: [angle],
          });
          break;
        case 'usf': case 'brsf': case 'frsf': {
          const B = feedback[`${site.name}.B`];
          const how = SIGN_RULES[ruleCase.rule];
          stages.push({
            id: `signal-${site.name}`, title: `Signal from ${site.name} (${how.name})`, equation: how.equation,
            about: `${how.about} The signs of B are W’s at every step (sign concordance), so dx points roughly where BP’s δ·W does; only the magnitudes differ.`,
            sources: [how.anchor, 'signConcordantFeedback', 'throughMatrix'], highlight: ['B.data[i] = W[i] > 0 ? magnitude(i)', 'ops().matmul(dx, dy, M)', ...how.highlight],
            tensors: [
              { kind: 'weight', label: `${site.name}.W`, tensor: clone(W) },
              ...(ruleCase.rule === 'usf' ? [] : [{ kind: 'weight' as const, label: `${site.name} |M|${ruleCase.rule === 'brsf' ? ' (this step’s draw)' : ' (fixed)'}`, tensor: clone(feedback[`${site.name}.M`]) }]),
              { kind: 'weight', label: `${site.name}.B_t`, tensor: clone(B), fixtureName: `${at}/${site.name}.B` }, dx, bpSignal,
            ],
            metrics: [angle, { label: 'angle(B_t, W)', value: angleDeg(B, W), unit: '°' }],
          });
          break;
        }
        case 'kp': case 'wm': {
          const B = feedback[`${site.name}.B`];
          const kp = ruleCase.rule === 'kp';
          stages.push({
            id: `signal-${site.name}`, title: `Signal from ${site.name} (${kp ? 'Kolen–Pollack' : 'weight mirrors'})`, equation: 'dx = δ·B,  B learned, of W’s shape',
            about: kp ? 'KP sends δ through its own B, like FA, but B is not fixed: it receives W’s gradient and W’s decay at every step, so B − W shrinks by (1 − ηλ) per step whatever the data, and dx turns towards BP’s δ·W.'
              : 'Weight mirrors send δ through a B that learned W from noise in the mirror phases before this step (see the mirror stages after the update).',
            sources: ['throughMatrix', kp ? 'kp' : 'wm'], highlight: ['ops().matmul(dx, dy, M)'],
            tensors: [{ kind: 'weight', label: `${site.name}.B`, tensor: clone(B) }, dx, bpSignal],
            metrics: [angle, { label: '‖W − B‖_F', value: frobeniusDistance(W, B) }, { label: '‖W‖_F', value: frobeniusDistance(W, null) }],
          });
          break;
        }
        case 'pfa': {
          const Bp = feedback[`${site.name}.Bp`], R = feedback[`${site.name}.R`];
          const g = multiply(dy, Bp); // (N, k·out): recomputed for display, as throughLowRank computed it
          stages.push({
            id: `z-${site.name}`, title: `Middle population at ${site.name}: g = δ·B_p (${Bp.shape[1]} units)`,
            equation: 'g = δ·B_p,   B_p fixed random (out, k·out)',
            about: `PFA sends the error of ${dy.shape[1]} units through a fixed random expansion to ${Bp.shape[1]} middle units (k = ${Bp.shape[1] / dy.shape[1]}): the opposite of LDFA’s rank-r bottleneck, through the same code.`,
            sources: ['throughLowRank', 'pfa'], highlight: ['ops().matmul(z, dy, P)'],
            tensors: [{ kind: 'error', label: `δ (${site.name})`, tensor: clone(dy) }, { kind: 'weight', label: `${site.name}.B_p`, tensor: clone(Bp) }, { kind: 'error', label: 'g', tensor: g }],
          });
          stages.push({
            id: `signal-${site.name}`, title: `Signal from ${site.name}: dx = g·R`,
            equation: 'dx = g·R,   R learned (k·out, in)   (so dx = δ·B_pR, never forming B_pR)',
            about: 'R maps the middle units back to the layer’s inputs. R learns B_pᵀ·dW with W’s decay, so B_pR tends to B_pB_pᵀW ≈ W and dx turns towards BP’s δ·W (beside it).',
            sources: ['throughLowRank'], highlight: ['ops().matmul(dx, z, Q)'],
            tensors: [{ kind: 'error', label: 'g', tensor: g }, { kind: 'weight', label: `${site.name}.R`, tensor: clone(R) }, dx, bpSignal],
            metrics: [angle, { label: '‖W − B_pR‖_F', value: frobeniusDistance(W, multiply(Bp, R)) }, { label: '‖W‖_F', value: frobeniusDistance(W, null) }],
          });
          break;
        }
        case 'ldfa': {
          const P = feedback[`${site.name}.P`], Q = feedback[`${site.name}.Q`];
          const z = multiply(dy, P); // (N, r): recomputed for display, as throughLowRank computed it
          stages.push({
            id: `z-${site.name}`, title: `Feedback units at ${site.name}: z = δ·P̂ (rank ${P.shape[1]})`,
            equation: 'z = δ·P̂,   P̂ = Pᵀ: (out, r)',
            about: `The error of ${dy.shape[1]} units is squeezed into ${P.shape[1]} feedback unit${P.shape[1] === 1 ? '' : 's'} per sample: z keeps only the part of δ that P̂ sees. This bottleneck is what makes the feedback low-dimensional.`,
            sources: ['throughLowRank'], highlight: ['ops().matmul(z, dy, P)'],
            tensors: [{ kind: 'error', label: `δ (${site.name})`, tensor: clone(dy) }, { kind: 'weight', label: `${site.name}.P̂`, tensor: clone(P) }, { kind: 'error', label: 'z', tensor: z }],
          });
          const PQ = multiply(P, Q); // (out, in), only to measure it against W
          stages.push({
            id: `signal-${site.name}`, title: `Signal from ${site.name}: dx = z·Q̂`,
            equation: 'dx = z·Q̂,   Q̂ = Qᵀ: (r, in)   (so dx = δ·P̂Q̂, never forming P̂Q̂)',
            about: 'Q̂ spreads the feedback units back over the layer’s inputs. dx = δ·P̂Q̂ stands in for BP’s δ·W (beside it): the closer P̂Q̂ is to W, the smaller the angle. '
              + 'At rank r the best P̂Q̂ can do is W’s best rank-r approximation, which normative learning tracks.',
            sources: ['throughLowRank'], highlight: ['ops().matmul(dx, z, Q)'],
            tensors: [{ kind: 'error', label: 'z', tensor: z }, { kind: 'weight', label: `${site.name}.Q̂`, tensor: clone(Q) }, dx, bpSignal],
            metrics: [angle, { label: '‖W − P̂Q̂‖_F', value: frobeniusDistance(W, PQ) }, { label: '‖W‖_F', value: frobeniusDistance(W, null) }],
          });
          break;
        }
        default: // a rule this view has no dedicated stages for yet: its signal, against BP's
          stages.push({
            id: `signal-${site.name}`, title: `Signal from ${site.name} (${(ruleCase.rule as string).toUpperCase()})`, equation: 'dx = feedback(δ)',
            about: 'The signal this rule sends down, beside what BP would send: the angle says how far the rule’s teaching signal is from the true gradient.',
            sources: ['linearBackward'], highlight: ['if (dx !== null) feedback(dx, dy)'],
            tensors: [dx, bpSignal], metrics: [angle],
          });
      }
    }
    const bias = model.params().find((p) => p.name === `${site.name}.b`);
    stages.push({
      id: `dW-${site.name}`, title: `Weight gradient of ${site.name}`,
      equation: bias ? 'dW = δᵀ·x,   db = Σₙ δₙ   (the same under every rule)' : 'dW = δᵀ·x   (the same under every rule)',
      about: 'The same formula under every rule: a rule changes δ (through the signal it sends down), never this line. Row i of dW is unit i’s error times the layer’s input, summed over the batch.',
      sources: ['linearBackward'],
      highlight: ['ops().matmul(dW, dy, x, true, false)', ...(bias ? ['db.data[o] += dy.data[n * outDim + o]'] : [])],
      tensors: [
        { kind: 'gradient', label: `${site.name}.dW`, tensor: clone(site.weight.grad), fixtureName: `${at}/${site.name}.dW` },
        ...(bias ? [{ kind: 'gradient' as const, label: `${site.name}.db`, tensor: clone(bias.grad), fixtureName: `${at}/${site.name}.db` }] : []),
      ],
    });
  }
  return stages;
}

/** The angle between two tensors as flat vectors, in degrees (NaN when either is zero). */
export function angleDeg(a: Tensor, b: Tensor): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.size; i++) { ab += a.data[i] * b.data[i]; aa += a.data[i] ** 2; bb += b.data[i] ** 2; }
  return (Math.acos(Math.max(-1, Math.min(1, ab / Math.sqrt(aa * bb)))) * 180) / Math.PI;
}

/** ‖a − b‖_F (‖a‖_F when b is null). */
function frobeniusDistance(a: Tensor, b: Tensor | null): number {
  let sum = 0;
  for (let i = 0; i < a.size; i++) sum += (a.data[i] - (b ? b.data[i] : 0)) ** 2;
  return Math.sqrt(sum);
}

/** after − before, entry by entry (the update an optimiser step made). */
function difference(after: Tensor, before: Tensor): Tensor {
  const out = tensor(after.shape);
  for (let i = 0; i < after.size; i++) out.data[i] = after.data[i] - before.data[i];
  return out;
}

/** fc2.P → fc2.P̂ (the feedback factors are P̂, Q̂ everywhere on the page). */
const hatted = (name: string) => name.replace(/\.(P|Q)$/, '.$1̂');

/** The sign-concordant rules' signal stage: B_t = S_t ∘ sign(W_t). */
const SIGN_RULES: Record<string, { name: string; equation: string; about: string; anchor: AnchorId; highlight: string[] }> = {
  usf: { name: 'uSF', equation: 'B_t = c·sign(W_t),  dx = δ·B_t', about: 'uSF keeps only the signs of W, all with one magnitude c (the std W was drawn with).', anchor: 'usf', highlight: ['signConcordantFeedback(site, B, () => c)'] },
  brsf: { name: 'brSF', equation: 'B_t = |M_t| ∘ sign(W_t),  M_t drawn afresh each step,  dx = δ·B_t', about: 'brSF keeps W’s signs with random magnitudes, redrawn at every step.', anchor: 'brsf', highlight: ['signConcordantFeedback(site, B, (i) => M.data[i])'] },
  frsf: { name: 'frSF', equation: 'B_t = |M| ∘ sign(W_t),  M drawn once,  dx = δ·B_t', about: 'frSF keeps W’s signs with random magnitudes drawn once: FA’s |B| with W’s current signs.', anchor: 'frsf', highlight: ['signConcordantFeedback(site, B, (i) => M.data[i])'] },
};

/** Kolen–Pollack's and PFA's feedback learning: the learned tensor gets (a projection of) W's gradient. */
const FAMILY_LEARNING: Record<string, { title: string; equation: string; about: string; sources: AnchorId[]; highlight: string[] }> = {
  kp: {
    title: 'Kolen–Pollack', equation: 'dB = dW;   then B ← B − η·(dB + λ·B), W ← W − η·(dW + λ·W)',
    about: 'B receives exactly W’s gradient and steps with W’s learning rate and decay, so B − W only decays: B − W = (1 − ηλ)^t (B₀ − W₀), whatever the data.',
    sources: ['kp'], highlight: ['B.grad.data.set(site.weight.grad.data)'],
  },
  pfa: {
    title: 'PFA', equation: 'dR = B_pᵀ·dW;   then R ← R − η·(dR + λ·R)',
    about: 'R learns from the middle units’ error g = δ·B_p and the input x: gᵀx = B_pᵀ·dW. With W’s decay, R − B_pᵀW decays like KP’s B − W, and B_pR → B_pB_pᵀW ≈ W.',
    sources: ['pfa'], highlight: ['ops().matmul(reshape(R.grad, [mid, cols]), reshape(Bp, [out, mid]), reshape(site.weight.grad, [out, cols]), true, false)'],
  },
};

const FEEDBACK_LEARNING: Record<string, { equation: string; about: string; sources: AnchorId[]; highlight: string[] }> = {
  normative: {
    equation: 'E = P̂Q̂ − W;   dP̂ = E·Q̂ᵀ,   dQ̂ = P̂ᵀ·E   (descends ½‖W − P̂Q̂‖²)',
    about: 'Normative learning pulls P̂Q̂ towards W: E is their difference, and dP̂, dQ̂ are the gradients of ½‖E‖². At rank r it can reach W’s best rank-r approximation, no closer.',
    sources: ['normative'], highlight: ['E.data[i] -= W.data[i]', 'ops().matmul(gP, E, Q, false, true)', 'ops().matmul(gQ, P, E, true, false)'],
  },
  factorised: {
    equation: 'dP̂ = dW·Q̂ᵀ,   dQ̂ = P̂ᵀ·dW   (the loss gradient if W were P̂Q̂)',
    about: 'Factorised learning moves P̂, Q̂ as if the layer’s weights were P̂Q̂: both follow the same dW as W, so P̂Q̂ picks up W’s updates without ever seeing W.',
    sources: ['factorised'], highlight: ['ops().matmul(gP, dW, Q, false, true)', 'ops().matmul(gQ, P, dW, true, false)'],
  },
  oja: {
    equation: 'δ̃ = (δ − mean δ)/(max std + ε),  C = δ̃ᵀδ̃;   dP̂ = −(C·P̂ − P̂·P̂ᵀ·C·P̂),   dQ̂ = zᵀ·x',
    about: 'Oja’s rule turns P̂ towards the top-r directions of the error’s covariance C, the directions the error actually uses; Q̂ learns from the feedback units’ activity z and the input x, like a forward weight.',
    sources: ['ojaGradients', 'ojaLinearGradients', 'ojaGradient', 'normaliseError'], highlight: ['k.ojaLinearGradients(s.gP2', 'ops().matmul(gQ, z, x, true, false)', 'gP.data[i] = -(CP.data[i] - P_PtCP.data[i])'],
  },
};

function feedbackStages(model: Model, ruleCase: RuleCase, at: string, grads: { name: string; grad: Tensor }[]): Stage[] {
  const family = FAMILY_LEARNING[ruleCase.rule];
  if (family) {
    return model.sites.filter((s) => s.needsInputGrad).reverse().map((site) => ({
      id: `feedback-${site.name}`, title: `Feedback learning at ${site.name} (${family.title})`,
      equation: family.equation, about: family.about, sources: family.sources, highlight: family.highlight,
      tensors: [
        { kind: 'gradient' as const, label: `${site.name}.dW`, tensor: clone(site.weight.grad) },
        ...grads.filter((g) => g.name.startsWith(`${site.name}.`)).map((g) => {
          const d = gradName(g.name);
          return { kind: 'gradient' as const, label: d, tensor: g.grad, fixtureName: `${at}/${d}` };
        }),
      ],
    }));
  }
  const mode = ruleCase.ldfa?.mode;
  if (!mode || mode === 'fixed') return [];
  const how = FEEDBACK_LEARNING[mode];
  return model.sites.filter((s) => s.needsInputGrad).reverse().map((site) => ({
    id: `feedback-${site.name}`, title: `Feedback learning at ${site.name} (${mode})`,
    equation: how.equation, about: how.about, sources: how.sources, highlight: how.highlight,
    tensors: grads.filter((g) => g.name.startsWith(`${site.name}.`)).map((g) => {
      const d = g.name.replace(/\.(P|Q)$/, '.d$1');
      return { kind: 'gradient' as const, label: `${d.replace(/\.dP$/, '.dP̂').replace(/\.dQ$/, '.dQ̂')}`, tensor: g.grad, fixtureName: `${at}/${d}` };
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
