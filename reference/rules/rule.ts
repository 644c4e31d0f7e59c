// A rule is a policy: it picks each layer's feedback operator (spec §1.2) and, for LDFA,
// says how the feedback parameters learn (spec §2.3). Forward pass, weight gradients,
// optimisers and the training loop are shared by all rules.
import { throughKernel, throughMatrix, type Feedback } from '../feedback.ts';
import type { FeedbackSite, Model } from '../models/network.ts';
import type { Param } from '../params.ts';
import type { Rng } from '../rng.ts';
import type { Tensor } from '../tensor.ts';

export type RuleName = 'bp' | 'fa' | 'dfa' | 'ldfa' | 'usf' | 'brsf' | 'frsf' | 'kp' | 'wm' | 'pfa';
export const RULE_NAMES: readonly RuleName[] = ['bp', 'fa', 'dfa', 'ldfa', 'usf', 'brsf', 'frsf', 'kp', 'wm', 'pfa'];

export interface Rule {
  readonly name: RuleName;
  /**
   * True when feedbackParams() are stepped by the forward optimiser with the forward weights' lr
   * and weight decay (KP's B and PFA's R: family spec §3, §5.2), not by a feedback optimiser.
   */
  readonly stepsWithWeights?: boolean;
  /** Sets site.feedback on every site of the model, creating B, D, P̂, Q̂ as needed. */
  attach(model: Model, rng: Rng): void;
  /** Feedback tensors that learn (P̂, Q̂), for the feedback optimiser. */
  feedbackParams(): Param[];
  /**
   * After model.backward: writes the gradients of feedbackParams() from local signals.
   * labels (N): the batch's classes, for rules that learn from them (LDFA oja, ojaOutput 'labels').
   */
  feedbackGradients(labels?: Int32Array): void;
  /** Once before the first training step of a fresh run (not of a resumed one): e.g. weight mirrors' warm-up. */
  beforeTraining?(): void;
  /** After the optimiser step (1-based step count): e.g. periodic SVD re-factorisation. */
  afterStep(step: number): void;
  /** Every feedback tensor by name (B, D, P̂, Q̂): serialisable and injectable. */
  feedbackTensors(): Record<string, Tensor>;
  /**
   * The random generators the rule draws from while training (LDFA's randomized SVD), by name:
   * a checkpoint stores their state, so that a resumed run equals an uninterrupted one. Absent:
   * none (a rule that draws while training from streams keyed by step, keyedRng, needs none).
   */
  randomStreams?(): Record<string, Rng>;
  /** Per-layer facts for reports (e.g. the effective rank of each layer). */
  summary(): Record<string, unknown>;
}

/** The operator that sends dy through a weight-shaped matrix M: dy·M, or conv-transposed with M. */
export function throughWeightShaped(site: FeedbackSite, M: Tensor): Feedback {
  return site.kind === 'linear' ? throughMatrix(M) : throughKernel(M, site.conv!);
}

/** Sites whose feedback is used (every layer but the first). */
export function sendingSites(model: Model): FeedbackSite[] {
  return model.sites.filter((s) => s.needsInputGrad);
}

/**
 * Sign-concordant feedback (family spec §2): B = S ∘ sign(W), rewritten from the layer's current W
 * each time the layer sends its error down, then dx = dy·B (conv: transposed conv with B).
 *   B: W's shape, written here;  magnitude(i) ≥ 0: S's i-th entry.  sign(0) = 0 as torch.sign.
 */
export function signConcordantFeedback(site: FeedbackSite, B: Tensor, magnitude: (i: number) => number): Feedback {
  const through = throughWeightShaped(site, B);
  return (dx, dy) => {
    const W = site.weight.value.data;
    for (let i = 0; i < B.data.length; i++) B.data[i] = W[i] > 0 ? magnitude(i) : W[i] < 0 ? -magnitude(i) : 0;
    through(dx, dy);
  };
}

/** |t| elementwise, in place (magnitudes of a drawn tensor). */
export function absInPlace(t: Tensor): Tensor {
  for (let i = 0; i < t.data.length; i++) t.data[i] = Math.abs(t.data[i]);
  return t;
}

/** Base for rules whose feedback does not learn. */
export function fixedFeedbackRule(
  name: RuleName,
  attachSite: (site: FeedbackSite, rng: Rng, model: Model) => Tensor | null,
  tensorName: string,
): Rule {
  const tensors: Record<string, Tensor> = {};
  return {
    name,
    attach(model, rng) {
      for (const site of sendingSites(model)) {
        const t = attachSite(site, rng, model);
        if (t) tensors[`${site.name}.${tensorName}`] = t;
      }
    },
    feedbackParams: () => [],
    feedbackGradients: () => {},
    afterStep: () => {},
    feedbackTensors: () => tensors,
    summary: () => ({ rule: name }),
  };
}
