// The rules the "Train live" view offers, one entry each: the trainer settings (src/config.ts
// TrainConfig keys) that make the rule, whether it has a rank, and the feedback learning rate
// it starts from where it learns its feedback. Offering a new rule of reference/rules is one
// more entry here; test/web-session.test.ts trains every entry 400 steps at the page's
// defaults (and at ranks 1 and 10), so an entry that does not train fails there, not in a
// reader's browser.
import type { TrainConfig } from '../../config.ts';

export interface PageRule {
  /** The value the run table stores, e.g. 'ldfa-normative'. */
  id: string;
  /** What the table and the legends show, e.g. 'LDFA normative'. */
  label: string;
  /** One sentence for the rule's tooltip. */
  about: string;
  /** The trainer's settings for this rule (the page's optimiser and sizes are set elsewhere). */
  settings: Pick<TrainConfig, 'rule'> & Partial<Pick<TrainConfig, 'feedback' | 'weightDecay' | 'mirrorWarmup' | 'pfaExpansion'>>;
  /** Has a feedback rank r (the table shows a rank box). */
  ranked: boolean;
  /** Learns its feedback: the feedback learning rate it starts with (the table lets the reader change it). */
  feedbackLr?: number;
}

export const PAGE_RULES: readonly PageRule[] = [
  { id: 'bp', label: 'BP', about: 'backpropagation: each layer sends its error down through Wᵀ', settings: { rule: 'bp' }, ranked: false },
  { id: 'fa', label: 'FA', about: 'feedback alignment: a fixed random B of W’s shape instead of Wᵀ', settings: { rule: 'fa' }, ranked: false },
  { id: 'dfa', label: 'DFA', about: 'direct feedback alignment: every layer gets the output error through its own fixed random matrix', settings: { rule: 'dfa' }, ranked: false },
  { id: 'ldfa-fixed', label: 'LDFA fixed', about: 'rank-r feedback P̂Q̂ from the SVD of W at the start, never learned', settings: { rule: 'ldfa', feedback: 'fixed' }, ranked: true },
  { id: 'ldfa-normative', label: 'LDFA normative', about: 'rank-r feedback P̂Q̂ that descends ½‖W − P̂Q̂‖² (tracks the best rank-r copy of W)', settings: { rule: 'ldfa', feedback: 'normative' }, ranked: true, feedbackLr: 0.01 },
  { id: 'ldfa-factorised', label: 'LDFA factorised', about: 'rank-r feedback P̂Q̂ learned from dW as if W were P̂Q̂', settings: { rule: 'ldfa', feedback: 'factorised' }, ranked: true, feedbackLr: 0.01 },
  // Oja's rule: P̂ follows the top-r subspace of the normalised error's covariance C; its step
  // scales with C's largest eigenvalue (about the batch size), so 0.01 under momentum 0.9
  // diverges within 10 steps; 1e-4 trains at every width and rank the page offers.
  { id: 'ldfa-oja', label: 'LDFA Oja', about: 'rank-r feedback: P̂ learns the error’s top-r subspace by Oja’s rule, Q̂ ← zᵀx', settings: { rule: 'ldfa', feedback: 'oja' }, ranked: true, feedbackLr: 1e-4 },
  // The feedback-alignment family (reference/rules; docs/family.md), at the CLI's defaults except where noted.
  { id: 'usf', label: 'uSF', about: 'sign-concordant feedback: B = c·sign(W), W’s signs with one magnitude (the std W was drawn with)', settings: { rule: 'usf' }, ranked: false },
  { id: 'brsf', label: 'brSF', about: 'sign-concordant feedback: B = |M|∘sign(W), random magnitudes redrawn every step', settings: { rule: 'brsf' }, ranked: false },
  { id: 'frsf', label: 'frSF', about: 'sign-concordant feedback: B = |M|∘sign(W), random magnitudes drawn once (FA’s |B| with W’s signs)', settings: { rule: 'frsf' }, ranked: false },
  // KP and PFA align through the weight decay they share with W; the page's runs otherwise have none, so these two bring λ = 0.01.
  { id: 'kp', label: 'Kolen–Pollack', about: 'B gets W’s own gradient and W’s decay (λ = 0.01 here, W’s too), so B − W shrinks every step whatever the data', settings: { rule: 'kp', weightDecay: 0.01 }, ranked: false },
  // The mirror warm-up is one epoch's worth of steps in ldfa train; the page has no epochs, so 100 mirror steps before the first.
  { id: 'wm', label: 'Weight mirrors', about: 'after each step the layer’s inputs emit noise and B ← (1 − ρ)B + ρ·yᵀx/(Nσ²), an estimate of W (100 mirror steps before training)', settings: { rule: 'wm', mirrorWarmup: 100 }, ranked: false },
  { id: 'pfa', label: 'PFA', about: 'product feedback: dx = (δ·B_p)·R, B_p fixed random (out, 10·out), R learns B_pᵀ·dW with W’s decay (λ = 0.01 here, W’s too)', settings: { rule: 'pfa', weightDecay: 0.01 }, ranked: false },
];

export function pageRule(id: string): PageRule {
  const found = PAGE_RULES.find((r) => r.id === id);
  if (!found) throw new Error(`unknown rule '${id}': allowed are ${PAGE_RULES.map((r) => r.id).join(', ')}`);
  return found;
}
