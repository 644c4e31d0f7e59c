// The diagnosis behind `ldfa verify`: orders the checked tensors the way the computation
// produces them, finds the first one that disagrees, and names what it is computed from that
// agreed, so the report starts with the cause instead of a symptom further down.
//
// Order (docs/fixture-format.md §7): input/* (with input/stepK/*, the draws given per step) and init/* first, then per step K:
//   forward      stepK/logits
//   loss         stepK/loss
//   backward     top-down, each layer's δ, its B_t (sign rules), then its signal (the output layer first)
//   weight grads every parameter's gradient, in backward order
//   feedback     every learned feedback tensor's gradient (dP, dQ), in backward order
//   updates      the state after the last step
//   mirror       weight mirrors: each layer's Ŵ, then its B (after the update, from the new W)
// Every tensor's inputs come earlier in this order, so when the first divergence is found,
// everything it is computed from has agreed (or was not given by the candidate).
import { gradName } from './generate.ts';

/** Tensors the candidate is given (never required): the batch and every per-step draw (input/stepK/…), and the start. */
export const GIVEN_PREFIXES: readonly string[] = ['input/', 'init/'];

/** The sign-concordant rules: B_t = S_t ∘ sign(W_t), stored per step. */
const SIGN_RULES: readonly string[] = ['usf', 'brsf', 'frsf'];

/** The parts of a fixture header the ordering needs (present in fixture versions 1 and 2). */
interface HeaderView {
  sites: { name: string; isOutput: boolean; sendsSignal: boolean; kind: string }[];
  learned: string[];
  learnedFeedback: string[];
  rule: string;
  mode: string | null;
  lr: number | null;
  feedbackLr: number | null;
  steps: number;
  /** Coupled L2 decay λ and the tensors it applies to (KP and PFA fixtures). */
  weightDecay: number;
  decayed: string[];
  /** The family rules' options: uSF's c per layer, the mirror's σ and ρ. */
  options: { c?: Record<string, number>; sigma?: number; rate?: number };
  /** oja: where the output layer's P̂ learns from ('error' or 'labels'). */
  ojaOutput: string | null;
  /** The clamps the case declares (null: none). */
  clipSignal: number | null;
  clipLinearGrad: number | null;
  clipConvFeedbackGrad: number | null;
  /** normative: P̂, Q̂ re-factorised after every svdEvery-th step (0: never). */
  svdEvery: number;
  svd: string | null;
  svdPowerIterations: number | null;
  svdPowerIterationsConv: number | null;
  /** The layers with P̂, Q̂ (rule.ranks), or null when the header does not say. */
  ldfaSites: string[] | null;
  /** The header's `exercises` (version 3): how many entries sit at each clamp, per step. */
  exercises: Record<string, Record<string, unknown>>;
}

export const PHASES = ['given', 'forward', 'loss', 'backward', 'weight gradients', 'feedback gradients', 'updates', 'mirror', 'other'] as const;
export type Phase = (typeof PHASES)[number];

export interface Placement {
  /** 0 for input/* and init/*. */
  step: number;
  phase: Phase;
  /** Position within the phase. */
  rank: number;
}

/** A tensor check's status, plus 'not-given' (an input the candidate left out) and 'excluded' (left out by --only). */
export type CheckStatus = 'ok' | 'not-ok' | 'non-finite' | 'shape' | 'missing' | 'not-given' | 'excluded';

export interface Diagnosis {
  /** The first tensor in computation order whose values or shape disagree; null when none does. */
  first: { name: string; step: number; phase: Phase; status: CheckStatus } | null;
  /** What that tensor is computed from, with the status of each. */
  dependsOn: { name: string; status: CheckStatus }[];
  /** Where to look, in words. */
  hint: string;
  /** The one-line verdict the report leads with. */
  message: string;
}

function view(meta: Record<string, unknown>): HeaderView {
  const model = (meta.model ?? {}) as { sites?: HeaderView['sites'] };
  const training = (meta.training ?? {}) as {
    learned?: string[]; learnedFeedback?: string[]; lr?: number; feedbackLr?: number; steps?: number; clip?: { signal?: number } | null;
    weightDecay?: number; decayed?: string[];
  };
  const rule = (meta.rule ?? {}) as {
    rule?: string; mode?: string; ojaOutput?: string; clipLinearGrad?: number | null; clipConvFeedbackGrad?: number | null;
    svdEvery?: number; svd?: string; svdPowerIterations?: number; svdPowerIterationsConv?: number | null; ranks?: Record<string, number>;
  } & HeaderView['options'];
  return {
    sites: model.sites ?? [], learned: training.learned ?? [], learnedFeedback: training.learnedFeedback ?? [],
    rule: rule.rule ?? '?', mode: rule.mode ?? null, lr: training.lr ?? null, feedbackLr: training.feedbackLr ?? null,
    steps: training.steps ?? 3, ojaOutput: rule.ojaOutput ?? null, clipSignal: training.clip?.signal ?? null,
    clipLinearGrad: rule.clipLinearGrad ?? null, clipConvFeedbackGrad: rule.clipConvFeedbackGrad ?? null,
    svdEvery: rule.svdEvery ?? 0, svd: rule.svd ?? null, svdPowerIterations: rule.svdPowerIterations ?? null,
    svdPowerIterationsConv: rule.svdPowerIterationsConv ?? null, ldfaSites: rule.ranks ? Object.keys(rule.ranks) : null,
    exercises: (meta.exercises ?? {}) as Record<string, Record<string, unknown>>,
    weightDecay: training.weightDecay ?? 0, decayed: training.decayed ?? [],
    options: { c: rule.c, sigma: rule.sigma, rate: rule.rate },
  };
}

/** Where a fixture tensor sits in the computation. */
export function placement(name: string, meta: Record<string, unknown>): Placement {
  const h = view(meta);
  const given = GIVEN_PREFIXES.findIndex((prefix) => name.startsWith(prefix));
  if (given >= 0) return { step: 0, phase: 'given', rank: given };
  const m = /^step(\d+)\/(.+)$/.exec(name);
  if (!m) return { step: Number.MAX_SAFE_INTEGER, phase: 'other', rank: 0 };
  const step = Number(m[1]), rest = m[2];
  if (rest === 'logits') return { step, phase: 'forward', rank: 0 };
  if (rest === 'loss') return { step, phase: 'loss', rank: 0 };
  if (h.rule === 'wm') {
    const mirrored = h.sites.findIndex((s) => rest === `${s.name}.What` || rest === `${s.name}.B`);
    if (mirrored >= 0) return { step, phase: 'mirror', rank: 2 * mirrored + (rest.endsWith('.B') ? 1 : 0) };
  }
  const topDown = [...h.sites].reverse();
  const parts = ['delta', ...(SIGN_RULES.includes(h.rule) ? ['B'] : []), 'signal'];
  for (const [i, s] of topDown.entries()) {
    const part = parts.findIndex((t) => rest === `${s.name}.${t}`);
    if (part >= 0) return { step, phase: 'backward', rank: parts.length * i + part };
  }
  const backwardParams = [...h.learned].reverse();
  const param = backwardParams.findIndex((p) => rest === gradName(p));
  if (param >= 0) return { step, phase: 'weight gradients', rank: param };
  const backwardFeedback = [...h.learnedFeedback].reverse();
  const feedback = backwardFeedback.findIndex((p) => rest === gradName(p));
  if (feedback >= 0) return { step, phase: 'feedback gradients', rank: feedback };
  const state = [...h.learned, ...h.learnedFeedback].indexOf(rest);
  if (state >= 0) return { step, phase: 'updates', rank: state };
  return { step, phase: 'other', rank: 0 };
}

/** Sorts names into computation order (stable for names the header does not place). */
export function computationOrder(names: readonly string[], meta: Record<string, unknown>): string[] {
  const keyed = names.map((name, i) => ({ name, i, p: placement(name, meta) }));
  keyed.sort((a, b) => a.p.step - b.p.step || PHASES.indexOf(a.p.phase) - PHASES.indexOf(b.p.phase) || a.p.rank - b.p.rank || a.i - b.i);
  return keyed.map((k) => k.name);
}

/** A tensor's value at the start of step K: init/<name> for K = 1, else also the gradients of the steps before. */
function stateAt(param: string, step: number): string[] {
  return [`init/${param}`, ...Array.from({ length: step - 1 }, (_, j) => `step${j + 1}/${gradName(param)}`)];
}

/** What a tensor is computed from (fixture tensor names), and where to look when it alone disagrees. */
export function dependencies(name: string, meta: Record<string, unknown>): { dependsOn: string[]; hint: string } {
  const h = view(meta);
  const p = placement(name, meta);
  const at = `step${p.step}`;
  const rest = name.slice(at.length + 1);
  const lr = h.lr === null ? '' : ` (lr = ${h.lr})`;
  switch (p.phase) {
    case 'given':
      return { dependsOn: [], hint: 'the candidate\'s copy of a given tensor differs: it was loaded or converted wrong (orientation, reshape, dtype)' };
    case 'forward':
      if (p.step === 1) {
        return {
          dependsOn: ['input/x', ...h.learned.map((q) => `init/${q}`)],
          hint: 'look at your forward pass: layer order, y = x·Wᵀ + b, conv stride and padding, activations, pooling, normalisation',
        };
      }
      return {
        dependsOn: h.learned.map((q) => `step${p.step - 1}/${gradName(q)}`),
        hint: `look at your parameter update after step ${p.step - 1}: ${sgdRule(h)}${lr}, applied after the feedback gradients are computed`,
      };
    case 'loss':
      return { dependsOn: [`${at}/logits`, 'input/y'], hint: 'look at your loss: softmax cross-entropy with batch-mean reduction' };
    case 'backward':
      return backwardDependencies(rest, p.step, h);
    case 'weight gradients': {
      const param = h.learned.find((q) => rest === gradName(q))!;
      const layer = param.slice(0, param.lastIndexOf('.'));
      if (h.sites.some((s) => s.name === layer)) {
        return { dependsOn: [`${at}/${layer}.delta`], hint: `look at ${rest}: dW = δᵀ·x with x the layer's input from your forward pass, db = Σₙ δ (a sum over the batch; the 1/N is already in δ)` };
      }
      return { dependsOn: [], hint: `look at the exact backward pass of ${param} (LayerNorm, positions: backpropagated exactly under every rule)` };
    }
    case 'feedback gradients':
      return feedbackDependencies(rest, p.step, h);
    case 'updates': {
      const grads = Array.from({ length: p.step }, (_, j) => `step${j + 1}/${gradName(rest)}`);
      const rate = h.learnedFeedback.includes(rest) ? (h.feedbackLr === null ? '' : ` (feedbackLr = ${h.feedbackLr})`) : lr;
      const decays = h.decayed.includes(rest);
      const how = decays ? sgdRule(h) : 'plain SGD p ← p − lr·dp';
      const undecayed = !decays && h.weightDecay > 0 ? ` (${rest} does not decay)` : '';
      return { dependsOn: [`init/${rest}`, ...grads], hint: `look at your update of ${rest}: ${how}${rate}${undecayed}` };
    }
    case 'mirror':
      return mirrorDependencies(rest, p.step, h);
    default:
      return { dependsOn: [], hint: 'this tensor is not placed by the fixture header' };
  }
}

function backwardDependencies(rest: string, step: number, h: HeaderView): { dependsOn: string[]; hint: string } {
  const at = `step${step}`;
  const site = h.sites.find((s) => [`${s.name}.delta`, `${s.name}.signal`, `${s.name}.B`].includes(rest))!;
  const output = h.sites.find((s) => s.isOutput);
  if (rest.endsWith('.delta')) {
    if (site.isOutput) return { dependsOn: [`${at}/logits`, `${at}/loss`], hint: 'look at your output error: e = (softmax(logits) − onehot(y)) / N, the 1/N of the batch mean included' };
    const index = h.sites.indexOf(site);
    const above = h.sites.slice(index + 1).find((s) => s.sendsSignal);
    if (!above) return { dependsOn: [], hint: 'look at your backward pass' };
    return {
      dependsOn: [`${at}/${above.name}.signal`],
      hint: `look at what lies between ${above.name}'s signal and ${site.name}'s δ: the f′ of the activation, pooling, flattening, normalisation and residual paths are backpropagated exactly`,
    };
  }
  const delta = `${at}/${site.name}.delta`;
  const conv = site.kind === 'conv';
  const transposed = conv ? ' (conv_transpose with the layer\'s stride and padding)' : '';
  const weights = stateAt(`${site.name}.W`, step);
  const learned = (t: string) => stateAt(`${site.name}.${t}`, step);
  if (rest.endsWith('.B')) {
    const before = 'W as it was before this step\'s update, sign(0) = 0';
    switch (h.rule) {
      case 'usf':
        return { dependsOn: weights, hint: `look at your uSF feedback of ${site.name}: B_t = c·sign(W_t) with c = ${h.options.c?.[site.name] ?? 'rule.c'} (rule.c), ${before}` };
      case 'brsf':
        return { dependsOn: [`input/${at}/${site.name}.M`, ...weights], hint: `look at your brSF feedback of ${site.name}: B_t = |M_t|∘sign(W_t) with this step's magnitudes input/${at}/${site.name}.M (a fresh draw every step), ${before}` };
      default:
        return { dependsOn: [`init/${site.name}.M`, ...weights], hint: `look at your frSF feedback of ${site.name}: B_t = |M|∘sign(W_t) with the fixed magnitudes init/${site.name}.M and the signs of the current W, ${before}` };
    }
  }
  switch (h.rule) {
    case 'usf': case 'brsf': case 'frsf':
      return { dependsOn: [delta, `${at}/${site.name}.B`], hint: `look at how ${site.name} sends its error down: ${h.rule === 'usf' ? 'uSF' : h.rule === 'brsf' ? 'brSF' : 'frSF'} dx = dy·B_t with this step's B_t${transposed}` };
    case 'kp':
      return { dependsOn: [delta, ...learned('B')], hint: `look at how ${site.name} sends its error down: KP dx = dy·B with the learned B of this step${transposed}${learnedState(h, site.name, 'B', step)}` };
    case 'wm':
      return {
        dependsOn: [delta, step === 1 ? `init/${site.name}.B` : `step${step - 1}/${site.name}.B`],
        hint: `look at how ${site.name} sends its error down: weight mirrors dx = dy·B with B from the previous step's mirror phase (init/${site.name}.B in step 1)${transposed}`,
      };
    case 'pfa':
      return {
        dependsOn: [delta, `init/${site.name}.Bp`, ...learned('R')],
        hint: `look at how ${site.name} sends its error down: PFA dx = (dy·B_p)·R, never multiplied out${conv ? ', g = conv_transpose(dy, B_p) at the output resolution with stride 1, then dx = conv_transpose(g, R) with the layer\'s stride and padding' : ''}${learnedState(h, site.name, 'R', step)}`,
      };
    case 'bp':
      return { dependsOn: [delta, ...weights], hint: `look at how ${site.name} sends its error down: BP dx = dy·W${transposed}` };
    case 'fa':
      return { dependsOn: [delta, `init/${site.name}.B`], hint: `look at how ${site.name} sends its error down: FA dx = dy·B with the fixed B${transposed}` };
    case 'dfa':
      return { dependsOn: [`${at}/${output?.name ?? '?'}.delta`, `init/${site.name}.D`], hint: `look at how ${site.name} sends its error down: DFA dx = e·D, e the output error, reshaped to the layer's input` };
    default: {
      if (h.ldfaSites && !h.ldfaSites.includes(site.name)) {
        return { dependsOn: [delta, ...stateAt(`${site.name}.W`, step)], hint: `look at how ${site.name} sends its error down: this layer has no P̂, Q̂ (classifier 'bp': a conv net's linear layers stay exact), dx = dy·W` };
      }
      const send = `LDFA dx = (dy·P̂)·Q̂${conv ? ', z = conv_transpose(dy, P̂) at the output resolution with stride 1, then dx = conv_transpose(z, Q̂) with the layer\'s stride and padding' : ''}`;
      if (refactorisedBefore(step, h)) {
        const randomized = h.svd !== 'exact';
        return {
          dependsOn: [delta, ...stateAt(`${site.name}.W`, step), ...(randomized ? [`input/step${step - 1}/${site.name}.Omega`] : [])],
          hint: `look at how ${site.name} sends its error down (${send}) and at its P̂, Q̂ of step ${step}: they are the re-factorisation after step ${step - 1}, `
            + `${randomized ? `the randomized SVD of W after that step's update from Ω = input/step${step - 1}/${site.name}.Omega with ${conv && h.svdPowerIterationsConv !== null ? h.svdPowerIterationsConv : h.svdPowerIterations} power iterations (Y = orth(W·Ω), Y ← orth(W·orth(Wᵀ·Y)))` : 'the exact SVD of W after that step\'s update'}, `
            + 'each column of U signed so that its largest-|entry| is positive, P̂ = U S^½, Q̂ = S^½ Vᵀ',
        };
      }
      const learns = (t: string) => h.learnedFeedback.includes(`${site.name}.${t}`);
      const factors = ['P', 'Q'].flatMap((t) => (learns(t) ? stateAt(`${site.name}.${t}`, step) : [`init/${site.name}.${t}`]));
      return { dependsOn: [delta, ...factors], hint: `look at how ${site.name} sends its error down: ${send}` };
    }
  }
}

function feedbackDependencies(rest: string, step: number, h: HeaderView): { dependsOn: string[]; hint: string } {
  const at = `step${step}`;
  const tensorName = h.learnedFeedback.find((q) => rest === gradName(q))!;
  const site = tensorName.slice(0, tensorName.lastIndexOf('.'));
  const state = (t: string) => (h.learnedFeedback.includes(`${site}.${t}`) ? stateAt(`${site}.${t}`, step) : [`init/${site}.${t}`]);
  if (h.rule === 'kp') {
    return { dependsOn: [`${at}/${site}.dW`], hint: `look at your KP gradient of ${site}: dB = dW, W's own gradient (B is stored in W's shape, so not its transpose); the decay is the optimiser's, not part of dB` };
  }
  if (h.rule === 'pfa') {
    return { dependsOn: [`${at}/${site}.dW`, `init/${site}.Bp`], hint: `look at your PFA gradient of ${site}: dR = B_pᵀ·dW (conv: dW seen as (Cout, Cin·k·k), the result reshaped to R's kernel shape); the decay is the optimiser's, not part of dR` };
  }
  switch (h.mode) {
    case 'normative':
      return { dependsOn: [...state('P'), ...state('Q'), ...stateAt(`${site}.W`, step)], hint: `look at your normative gradient of ${site}: E = P̂Q̂ − W (this sign), dP = E·Q̂ᵀ, dQ = P̂ᵀ·E, with W before this step's update` };
    case 'factorised':
      return { dependsOn: [`${at}/${site}.dW`, ...state('P'), ...state('Q')], hint: `look at your factorised gradient of ${site}: dP = dW·Q̂ᵀ, dQ = P̂ᵀ·dW` };
    case 'oja':
      if (rest.endsWith('.dP') && h.ojaOutput === 'labels' && h.sites.find((s) => s.name === site)?.isOutput) {
        return {
          dependsOn: ['input/y', ...state('P')],
          hint: `look at your Oja gradient of the output layer ${site}, which learns from the labels (ojaOutput 'labels'), not from its δ: `
            + 'Y = onehot(input/y) with entries 0 and 1 (not scaled by 1/N), Ỹ = (Y − meanₙ Y)/(maxⱼ stdₙ(Yⱼ) + ε) with the unbiased std, C = ỸᵀỸ, dP = −(C·P̂ − P̂·(P̂ᵀ·C·P̂))',
        };
      }
      return {
        dependsOn: [`${at}/${site}.delta`, ...state('P')],
        hint: rest.endsWith('.dP')
          ? `look at your Oja gradient of ${site}: δ̃ = (dy − meanₙ dy)/(maxⱼ stdₙ(dyⱼ) + ε) with the unbiased std, C = δ̃ᵀδ̃, dP = −(C·P̂ − P̂·(P̂ᵀ·C·P̂))`
          : `look at your Oja dQ of ${site}: dQ = (dy·P̂)ᵀ·x, x the layer's input (conv: the filter gradient of a conv with kernel Q̂ mapping x to z = conv_transpose(dy, P̂))`,
      };
    default:
      return { dependsOn: [], hint: `look at your feedback gradient of ${site}` };
  }
}

/** After step 1, how the learned B (KP) or R (PFA) of this step came about: W's update, decay included. */
function learnedState(h: HeaderView, site: string, t: string, step: number): string {
  if (step === 1) return '';
  const decay = h.weightDecay > 0 ? ` + λ·${t}), with the coupled decay λ = ${h.weightDecay} that W gets too` : ')';
  return `; ${t} is init/${site}.${t} after ${step - 1} update(s) ${t} ← ${t} − lr·(d${t}${decay}`;
}

/** The optimiser's rule in words: plain SGD, or SGD with coupled L2 decay (KP, PFA fixtures). */
function sgdRule(h: HeaderView): string {
  return h.weightDecay > 0
    ? `SGD with coupled L2 decay p ← p − lr·(dp + λ·p), λ = ${h.weightDecay} for ${h.decayed.length ? 'the tensors in training.decayed (not biases or LayerNorm)' : 'every tensor'}`
    : 'plain SGD p ← p − lr·dp';
}

/** Weight mirrors' phase after step K's update: Ŵ from the noise and the updated W, then B. */
function mirrorDependencies(rest: string, step: number, h: HeaderView): { dependsOn: string[]; hint: string } {
  const site = rest.slice(0, rest.lastIndexOf('.'));
  const conv = h.sites.find((s) => s.name === site)?.kind === 'conv';
  if (rest.endsWith('.What')) {
    return {
      dependsOn: [`input/step${step}/${site}.noise`, ...stateAt(`${site}.W`, step + 1)],
      hint: `look at your mirror estimate of ${site}: Ŵ = yᵀx/(N_m·σ²), σ = ${h.options.sigma ?? 'rule.sigma'}, with x = input/step${step}/${site}.noise and y = ${conv ? 'conv(x, W) with the layer\'s stride and padding (Ŵ: the filter gradient of (x, y), divided by N_m·P·σ², P the output positions)' : 'x·Wᵀ'}, no bias, no activation, W after this step's update`,
    };
  }
  return {
    dependsOn: [`step${step}/${site}.What`, step === 1 ? `init/${site}.B` : `step${step - 1}/${site}.B`],
    hint: `look at your mirror update of ${site}: B ← (1 − ρ)·B + ρ·Ŵ, ρ = ${h.options.rate ?? 'rule.rate'}`,
  };
}

/** The first divergence in computation order and what it is computed from. */
export function diagnose(
  ordered: readonly { name: string; status: CheckStatus }[],
  statusOf: (name: string) => CheckStatus | undefined,
  meta: Record<string, unknown>,
): Diagnosis {
  const bad = ordered.find((c) => c.status === 'not-ok' || c.status === 'non-finite' || c.status === 'shape');
  if (!bad) {
    const missing = ordered.filter((c) => c.status === 'missing').length;
    const message = missing > 0 ? `no divergence among the tensors the candidate holds; ${missing} required tensor(s) missing` : 'no divergence';
    return { first: null, dependsOn: [], hint: '', message };
  }
  const p = placement(bad.name, meta);
  const { dependsOn, hint: first } = dependencies(bad.name, meta);
  let hint = first;
  const deps = dependsOn.map((name) => ({ name, status: statusOf(name) ?? 'not-given' }));
  const agreed = deps.filter((d) => d.status === 'ok').map((d) => d.name);
  const assumed = deps.filter((d) => d.status === 'not-given').map((d) => d.name);
  const missing = deps.filter((d) => d.status === 'missing').map((d) => d.name);
  const excluded = deps.filter((d) => d.status === 'excluded').map((d) => d.name);
  const where = p.step === 0 ? 'the given tensors' : `step ${p.step}`;
  const settled = deps.every((d) => d.status === 'ok' || d.status === 'not-given');
  if (settled && p.step > 1 && p.phase === 'backward' && statusOf(`step${p.step - 1}/${bad.name.slice(bad.name.indexOf('/') + 1)}`) === 'ok') {
    hint = updateHint(bad.name, p.step, meta) ?? hint;
  }
  hint += clampNote(bad.name, p.step, meta);
  const parts = [
    agreed.length ? `while ${list(agreed)} agree${agreed.length === 1 ? 's' : ''}` : '',
    assumed.length ? `${agreed.length ? 'and ' : 'while '}${list(assumed)} ${assumed.length === 1 ? 'is' : 'are'} the fixture's (not in the candidate)` : '',
    missing.length ? `(${list(missing)} missing from the candidate)` : '',
    excluded.length ? `(${list(excluded)} not checked: --only)` : '',
  ].filter(Boolean);
  const what = bad.status === 'shape' ? 'has the wrong shape' : 'disagrees';
  return {
    first: { name: bad.name, step: p.step, phase: p.phase, status: bad.status },
    dependsOn: deps,
    hint,
    message: `first divergence: ${where}, ${bad.name} (${p.phase}): it ${what}${parts.length ? ` ${parts.join(' ')}` : ''}: ${hint}`,
  };
}

/** Whether P̂, Q̂ entering step K are a re-factorisation (after step K − 1) rather than an SGD update. */
function refactorisedBefore(step: number, h: HeaderView): boolean {
  return h.mode === 'normative' && h.svdEvery > 0 && step > 1 && (step - 1) % h.svdEvery === 0;
}

/**
 * A step-K tensor whose formula agreed at step K − 1 and whose inputs agree now: what differs is
 * the state it reads, i.e. the update after step K − 1 (lr, optimiser), not the formula.
 */
function updateHint(name: string, step: number, meta: Record<string, unknown>): string | null {
  const h = view(meta);
  const rest = name.slice(name.indexOf('/') + 1);
  const site = h.sites.find((s) => rest === `${s.name}.signal`);
  if (!site) return null;
  const previous = `step${step - 1}/${rest}`;
  if (h.rule === 'ldfa' && h.learnedFeedback.some((f) => f.startsWith(`${site.name}.`)) && !refactorisedBefore(step, h)) {
    return `${previous} agreed with the same formula and the gradients it depends on agree, so ${site.name}'s P̂, Q̂ at the start of step ${step} differ: `
      + `look at your update of P̂, Q̂ after step ${step - 1}: plain SGD P̂ ← P̂ − feedbackLr·dP, Q̂ ← Q̂ − feedbackLr·dQ (feedbackLr = ${h.feedbackLr ?? '?'}, not lr = ${h.lr ?? '?'}; no momentum, no weight decay), after both gradients are computed`;
  }
  if (h.rule === 'bp') {
    return `${previous} agreed with the same formula, so ${site.name}'s W at the start of step ${step} differs: look at your update of W after step ${step - 1}: plain SGD W ← W − lr·dW (lr = ${h.lr ?? '?'})`;
  }
  return null;
}

/** When the case clamps the tensor that diverged, say so: an implementation that omits the clamp diverges exactly there. */
function clampNote(name: string, step: number, meta: Record<string, unknown>): string {
  const h = view(meta);
  const rest = name.slice(name.indexOf('/') + 1);
  const dot = rest.lastIndexOf('.');
  const [layer, what] = [rest.slice(0, dot), rest.slice(dot + 1)];
  const count = (key: string) => {
    const c = h.exercises[key]?.[`step${step}`] as { atClamp?: number; of?: number } | undefined;
    return c?.atClamp !== undefined ? ` (${c.atClamp} of the ${c.of} entries of this step's clamped tensors sit at the clamp)` : '';
  };
  const site = h.sites.find((s) => s.name === layer);
  if (!site) return '';
  if (what === 'signal' && h.clipSignal !== null) {
    return `; this case clamps every signal elementwise to ±${h.clipSignal} right after the layer's feedback and before f′ below, and stores the clamped signal${count('signalClamp')}`;
  }
  const ldfaLayer = h.ldfaSites ? h.ldfaSites.includes(layer) : site.sendsSignal;
  if (!ldfaLayer) return '';
  if (site.kind === 'linear' && h.clipLinearGrad !== null && ['dW', 'db', 'dP', 'dQ'].includes(what)) {
    return `; this case clamps dW, db, dP, dQ of its LDFA linear layers elementwise to ±${h.clipLinearGrad} after every gradient is computed, and stores the clamped gradients${count('linearGradClamp')}`;
  }
  if (site.kind === 'conv' && h.clipConvFeedbackGrad !== null && ['dP', 'dQ'].includes(what)) {
    return `; this case clamps dP, dQ of its conv layers elementwise to ±${h.clipConvFeedbackGrad} after every gradient is computed (not dW, db), and stores the clamped gradients${count('convFeedbackGradClamp')}`;
  }
  return '';
}

/** At most 6 names, then a count: dependency lists of steps 2 and 3 get long. */
function list(names: readonly string[]): string {
  return names.length <= 6 ? names.join(', ') : `${names.slice(0, 6).join(', ')} and ${names.length - 6} more`;
}
