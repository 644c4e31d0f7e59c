// A rule is a policy: it picks each layer's feedback operator (spec §1.2) and, for LDFA,
// says how the feedback parameters learn (spec §2.3). Forward pass, weight gradients,
// optimisers and the training loop are shared by all rules.
import { throughKernel, throughMatrix, type Feedback } from '../feedback.ts';
import type { FeedbackSite, Model } from '../models/network.ts';
import type { Param } from '../params.ts';
import type { Rng } from '../rng.ts';
import type { Tensor } from '../tensor.ts';

export type RuleName = 'bp' | 'fa' | 'dfa' | 'ldfa';
export const RULE_NAMES: readonly RuleName[] = ['bp', 'fa', 'dfa', 'ldfa'];

export interface Rule {
  readonly name: RuleName;
  /** Sets site.feedback on every site of the model, creating B, D, P̂, Q̂ as needed. */
  attach(model: Model, rng: Rng): void;
  /** Feedback tensors that learn (P̂, Q̂), for the feedback optimiser. */
  feedbackParams(): Param[];
  /**
   * After model.backward: writes the gradients of feedbackParams() from local signals.
   * labels (N): the batch's classes, for rules that learn from them (LDFA oja, ojaOutput 'labels').
   */
  feedbackGradients(labels?: Int32Array): void;
  /** After the optimiser step (1-based step count): e.g. periodic SVD re-factorisation. */
  afterStep(step: number): void;
  /** Every feedback tensor by name (B, D, P̂, Q̂): serialisable and injectable. */
  feedbackTensors(): Record<string, Tensor>;
  /**
   * The random generators the rule draws from while training (LDFA's randomized SVD), by name:
   * a checkpoint stores their state, so that a resumed run equals an uninterrupted one.
   */
  randomStreams(): Record<string, Rng>;
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
    randomStreams: () => ({}),
    summary: () => ({ rule: name }),
  };
}
