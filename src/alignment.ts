// Per-layer alignment of a rule with backprop on one probe batch: the same forward pass is
// backpropagated twice, once with the rule's feedback and once with every site's Wᵀ, and
// the two are compared with the metrics of reference/metrics.ts.
import { softmaxCrossEntropy } from '../reference/layers/losses.ts';
import { effectiveRank } from '../reference/linalg.ts';
import { effectiveFeedback, errorSubspaceAngles, feedbackAlignment, teachingSignalAngle, updateAngle } from '../reference/metrics.ts';
import { weightMatrixShape, type Model } from '../reference/models/network.ts';
import type { Rule } from '../reference/rules/rule.ts';
import { throughWeightShaped } from '../reference/rules/rule.ts';
import { clone, reshape, tensor, type Tensor } from '../reference/tensor.ts';
import { channelRows } from '../reference/rules/ldfa.ts';

export interface LayerAlignment {
  /** Angle between the signal this layer sends down and BP's: flattened, and mean over samples. */
  signalAngleDeg: number | null;
  signalAnglePerSampleDeg: number | null;
  /** Angle between this layer's ΔW and BP's ΔW. */
  updateAngleDeg: number;
  /** Angle between the feedback matrix (B, or P̂Q̂) and W, and ‖B‖/‖W‖; null for BP and DFA. */
  feedbackAngleDeg: number | null;
  normRatio: number | null;
  /** Entropy effective rank of the feedback matrix; null for BP and DFA. */
  feedbackEffectiveRank: number | null;
  /** LDFA: largest principal angle between span(P̂) and the top-r subspace of the error covariance. */
  errorSubspaceAngleDeg: number | null;
}

const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

export function measureAlignment(model: Model, rule: Rule, x: Tensor, y: Int32Array): Record<string, LayerAlignment> {
  const logits = model.forward(x, false);
  const de = tensor(logits.shape);
  softmaxCrossEntropy(de, logits, y);
  const snapshot = () => Object.fromEntries(model.sites.map((s) => [s.name, {
    signal: s.inputGrad ? clone(s.inputGrad) : null, dW: clone(s.weight.grad), dy: s.outputGrad ? clone(s.outputGrad) : null,
  }]));
  const keepGrads = model.params().map((p) => clone(p.grad));

  model.backward(de);
  const ruled = snapshot();
  const feedbacks = model.sites.map((s) => s.feedback);
  model.sites.forEach((s) => { s.feedback = throughWeightShaped(s, s.weight.value); });
  try {
    model.backward(de);
  } finally {
    model.sites.forEach((s, i) => { s.feedback = feedbacks[i]; });
  }
  const exact = snapshot();
  model.params().forEach((p, i) => p.grad.data.set(keepGrads[i].data));

  const tensors = rule.feedbackTensors();
  /** Any tensor as a matrix (first axis, rest): (N, features), P̂ (out, r), Q̂ (r, in·k²). */
  const rows = (t: Tensor) => reshape(t, [t.shape[0], t.size / t.shape[0]]);
  const result: Record<string, LayerAlignment> = {};
  for (const site of model.sites) {
    const mine = ruled[site.name], bp = exact[site.name];
    const signal = mine.signal && bp.signal ? teachingSignalAngle(rows(mine.signal), rows(bp.signal)) : null;
    const P = tensors[`${site.name}.P`], Q = tensors[`${site.name}.Q`];
    const W = reshape(site.weight.value, weightMatrixShape(site));
    const Bp = tensors[`${site.name}.Bp`], R = tensors[`${site.name}.R`]; // PFA's factors (out, k·out), (k·out, in)
    const candidate = tensors[`${site.name}.B`] ?? (P && Q ? effectiveFeedback(rows(P), rows(Q)) : Bp && R ? effectiveFeedback(rows(Bp), rows(R)) : null);
    const B = candidate && candidate.size === W.size ? reshape(candidate, W.shape) : null; // not for DFA's D or direct LDFA
    const aligned = B ? feedbackAlignment(B, W) : null;
    let subspace: number | null = null;
    if (B && P && mine.dy) {
      const angles = errorSubspaceAngles(rows(P), site.kind === 'conv' ? channelRows(mine.dy) : rows(mine.dy), { centre: true });
      subspace = angles.length ? angles[angles.length - 1] : null;
    }
    result[site.name] = {
      signalAngleDeg: signal ? finiteOrNull(signal.flattenedDeg) : null,
      signalAnglePerSampleDeg: signal ? finiteOrNull(signal.perSampleMeanDeg) : null,
      updateAngleDeg: updateAngle(mine.dW, bp.dW),
      feedbackAngleDeg: aligned ? aligned.angleDeg : null,
      normRatio: aligned ? aligned.normRatio : null,
      feedbackEffectiveRank: B ? effectiveRank(B) : null,
      errorSubspaceAngleDeg: subspace,
    };
  }
  return result;
}
