// Every property test draws its cases from one fixed seed, so a CI run is deterministic: the
// same cases pass or fail on every machine. FC_SEED=N explores other cases locally (a failure
// prints its seed and counterexample; pin that case as a plain test once understood).
import fc from 'fast-check';

const seed = Number(process.env.FC_SEED ?? 20261201);
if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer, got '${process.env.FC_SEED}'`);
fc.configureGlobal({ seed });
