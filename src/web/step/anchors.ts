// The places in reference/ that compute each stage of the step-through. The build
// (src/web/sources.ts) cuts these definitions out of the source files, so the page shows
// the code that really ran and cannot drift from it.
export const SOURCE_ANCHORS = {
  linearForward: { file: 'reference/layers/linear.ts', symbol: 'linearForward' },
  activationForward: { file: 'reference/layers/activation.ts', symbol: 'activationForward' },
  loss: { file: 'reference/layers/losses.ts', symbol: 'softmaxCrossEntropy' },
  activationBackward: { file: 'reference/layers/activation.ts', symbol: 'activationBackward' },
  linearBackward: { file: 'reference/layers/linear.ts', symbol: 'linearBackward' },
  bp: { file: 'reference/rules/bp.ts', symbol: 'bp' },
  fa: { file: 'reference/rules/fa.ts', symbol: 'fa' },
  dfa: { file: 'reference/rules/dfa.ts', symbol: 'dfa' },
  throughMatrix: { file: 'reference/feedback.ts', symbol: 'throughMatrix' },
  throughDirect: { file: 'reference/feedback.ts', symbol: 'throughDirect' },
  throughLowRank: { file: 'reference/feedback.ts', symbol: 'throughLowRank' },
  normative: { file: 'reference/rules/ldfa.ts', symbol: 'normativeGradients' },
  factorised: { file: 'reference/rules/ldfa.ts', symbol: 'factorisedGradients' },
  ojaGradients: { file: 'reference/rules/ldfa.ts', symbol: 'ojaGradients' },
  ojaLinearGradients: { file: 'reference/rules/ldfa.ts', symbol: 'ojaLinearGradients' },
  ojaGradient: { file: 'reference/rules/ldfa.ts', symbol: 'ojaGradient' },
  normaliseError: { file: 'reference/rules/ldfa.ts', symbol: 'normaliseError' },
  sgdUpdate: { file: 'reference/optim.ts', symbol: 'update' },
  signConcordantFeedback: { file: 'reference/rules/rule.ts', symbol: 'signConcordantFeedback' },
  usf: { file: 'reference/rules/usf.ts', symbol: 'usf' },
  brsf: { file: 'reference/rules/brsf.ts', symbol: 'brsf' },
  frsf: { file: 'reference/rules/frsf.ts', symbol: 'frsf' },
  kp: { file: 'reference/rules/kp.ts', symbol: 'kp' },
  wm: { file: 'reference/rules/wm.ts', symbol: 'wm' },
  mirrorResponse: { file: 'reference/rules/wm.ts', symbol: 'mirrorResponse' },
  mirrorUpdate: { file: 'reference/rules/wm.ts', symbol: 'mirrorUpdate' },
  pfa: { file: 'reference/rules/pfa.ts', symbol: 'pfa' },
} as const;

export type AnchorId = keyof typeof SOURCE_ANCHORS;

/** One cut-out definition: its file, first line number (1-based) and lines. */
export interface SourceSnippet {
  file: string;
  symbol: string;
  startLine: number;
  lines: string[];
}

export type SourceSnippets = Record<AnchorId, SourceSnippet>;
