// The linear set-up of the theory view (spec §3.1, oracles/linear/): the authors' experiment
// shrunk so a browser runs it in about a second per rank. n inputs → k hidden → m outputs,
// teacher W* of the authors' kind, Gaussian inputs; σ̂_i(t) for BP, fixed low-rank FA and
// normative LDFA, simulated (sampled inputs) and iterated in the theory frame.
import type { TheoryExperimentConfig } from '../../../oracles/linear/experiment.ts';

export const WEB_THEORY_SETUP: TheoryExperimentConfig = {
  n: 20, k: 12, m: 10, r: 2, samples: 400, steps: 1000, eta: 0.03, etaB: 0.01, etaBDecay: 0.999, lambda: 1e-5,
  recordEvery: 10, modes: 6, sweepRanks: [1, 2, 3, 5, 10], seed: 1,
};

/** The rank slider's range: 1 … min(m, k). */
export const THEORY_MAX_RANK = Math.min(WEB_THEORY_SETUP.m, WEB_THEORY_SETUP.k);
