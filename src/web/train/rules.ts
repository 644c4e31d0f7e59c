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
  settings: Pick<TrainConfig, 'rule'> & Partial<Pick<TrainConfig, 'feedback'>>;
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
];

export function pageRule(id: string): PageRule {
  const found = PAGE_RULES.find((r) => r.id === id);
  if (!found) throw new Error(`unknown rule '${id}': allowed are ${PAGE_RULES.map((r) => r.id).join(', ')}`);
  return found;
}
