// `ldfa`: the three entry points as namespaces. Importing the subpaths (`ldfa/verify`,
// `ldfa/reference`, `ldfa/theory`) directly gives the same names without the prefix.
export * as verify from './verify.ts';
export * as reference from './reference.ts';
export * as theory from './theory.ts';
