// `ldfa/verify`: check another implementation against the golden fixtures. Read a fixture and a
// candidate dump (the bundle format of docs/fixture-format.md), compare them tensor by tensor,
// and get the structured report that `ldfa verify --json` writes. The shipped fixtures are
// `ldfa/fixtures/<case>.bin` (e.g. `import.meta.resolve('ldfa/fixtures/mlp_bp.bin')`).
export {
  DEFAULT_VERIFY, checkVerifyOptions, compareTensor, formatJunit, formatReport, loadCandidate, loadFixture, verifyBundles,
  type Mismatch, type TensorCheck, type TensorStatus, type VerifyOptions, type VerifyReport,
} from '../../oracles/verify.ts';
// The report's diagnosis: the first divergence in computation order and what it is computed from.
export { PHASES, computationOrder, placement, type CheckStatus, type Diagnosis, type Phase, type Placement } from '../../oracles/diagnose.ts';
export { BUNDLE_MAGIC, BUNDLE_VERSION, decodeBundle, encodeBundle, readBundle, writeBundle, type Bundle } from '../bundle.ts';
export {
  FIXTURE_CONVENTIONS, FIXTURE_EXTENSION, FIXTURE_KIND, FIXTURE_NAMES, FIXTURE_VERSION, encodeFixture, fixtureFileName, generateFixture,
  type Fixture,
} from '../../oracles/generate.ts';
export { fixtureCases, findCase, type FixtureCase } from '../../oracles/cases.ts';
// To build a candidate bundle from your own arrays.
export { tensor, type Tensor } from '../../reference/tensor.ts';
