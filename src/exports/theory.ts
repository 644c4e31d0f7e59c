// `ldfa/theory`: the oracles' linear theory (docs/linear-theory.md): the authors' set-up, the
// simulations of a two-layer linear network under BP, fixed and learned low-rank feedback, and
// the closed-form predictions (Eckart–Young loss, Saxe strengths, fixed-feedback limits).
export * from '../../oracles/linear/setup.ts';
export * from '../../oracles/linear/simulate.ts';
export * from '../../oracles/linear/predictions.ts';
export * from '../../oracles/linear/experiment.ts';
