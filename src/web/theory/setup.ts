// The linear set-up of the theory view (spec §3.1, oracles/linear/): the authors' experiment
// shrunk so a browser runs it in about a second per rank. n inputs → k hidden → m outputs,
// teacher W* of the authors' kind, Gaussian inputs; σ̂_i(t) for BP, fixed low-rank FA and
// normative LDFA, simulated and iterated in the theory frame. The reader picks the rank and
// the inputs: a sample of a given size, or the exact covariance (Σ_xx = I) the theory assumes.
import type { TheoryExperimentConfig } from '../../../oracles/linear/experiment.ts';

export const WEB_THEORY_SETUP: TheoryExperimentConfig = {
  n: 20, k: 12, m: 10, r: 2, samples: 400, steps: 1000, eta: 0.03, etaB: 0.01, etaBDecay: 0.999, lambda: 1e-5,
  recordEvery: 10, modes: 6, sweepRanks: [1, 2, 3, 5, 10], seed: 1,
};

/** The rank slider's range: 1 … min(m, k). */
export const THEORY_MAX_RANK = Math.min(WEB_THEORY_SETUP.m, WEB_THEORY_SETUP.k);

/** The sample sizes offered ('exact' = the population covariance, the infinite-sample limit). */
export const THEORY_SAMPLES = ['100', '400', '4000', 'exact'] as const;
export type TheorySamples = (typeof THEORY_SAMPLES)[number];

export interface TheoryRequest {
  rank: number;
  samples: TheorySamples;
}

export function theoryConfig(request: TheoryRequest): TheoryExperimentConfig {
  if (!THEORY_SAMPLES.includes(request.samples)) throw new Error(`samples '${request.samples as string}': allowed are ${THEORY_SAMPLES.join(', ')}`);
  return request.samples === 'exact'
    ? { ...WEB_THEORY_SETUP, r: request.rank, inputs: 'exact' }
    : { ...WEB_THEORY_SETUP, r: request.rank, samples: Number(request.samples), inputs: 'sampled' };
}
