// Linear-network theory of LDFA as executable oracles (spec §3). See docs/linear-theory.md.
export * from './setup.ts';
export * from './simulate.ts';
export * from './predictions.ts';
export * from './experiment.ts';
export * from './kernel.ts';
export * from './family.ts';
