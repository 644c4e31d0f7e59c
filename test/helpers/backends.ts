// The backends the test suites run over, and the declared skip list: shared by
// test/backends.test.ts (kernel-level) and test/backends-step.test.ts (whole training step),
// so both suites cover exactly the same backends and skip exactly the same ones.
import type { Backend } from '../../reference/backend.ts';
import { createNativeBlas, type NativeBlas } from '../../src/backends/native.ts';
import { createBackend, type BackendName } from '../../src/backends/registry.ts';

export interface BackendRow {
  name: BackendName;
  /** What kernelInfo() must say for this name (the kernel that really runs). */
  kernel: RegExp;
}

export const BACKEND_ROWS: readonly BackendRow[] = [
  { name: 'reference', kernel: /reference float64/ },
  { name: 'native', kernel: /native cblas_sgemm: OpenBLAS|native cblas_sgemm: .*lib.*blas/ },
  { name: 'wasm', kernel: /tfjs-backend-wasm .*tfjs backend now 'wasm'/ },
  { name: 'gpujs', kernel: /gpu\.js .* (HeadlessGLKernel|WebGLKernel|WebGL2Kernel|WebAssemblyKernel.*no GPU kernel: .*(actually ran|hidden by LDFA_HIDE=))/ },
  { name: 'gpujs-cpu', kernel: /gpu\.js .* CPUKernel/ },
  { name: 'gpujs-webasm', kernel: /gpu\.js .* WebAssemblyKernel/ },
  { name: 'gpujs-headlessgl', kernel: /gpu\.js .* HeadlessGLKernel/ },
  { name: 'gpujs-webgpu', kernel: /gpu\.js .* WebGPUKernel/ },
];

/** Declared skips: these may be unavailable on a machine; any other backend must be created. */
export const MAY_BE_UNAVAILABLE: Partial<Record<BackendName, string>> = {
  native: 'needs the addon built by npm install (node-gyp, a C compiler, Node headers) and a CBLAS library (apt-get install libopenblas0-pthread)',
  'gpujs-headlessgl': "needs the 'gl' addon built and an X display (xvfb-run)",
  'gpujs-webgpu': 'needs navigator.gpu (webgpu@0.6.2 shim); gpu.js WebGPU kernels are async, the Backend interface is sync',
};

/**
 * LDFA_REQUIRE (comma-separated names, e.g. `gpujs-headlessgl,chromium`) turns a declared
 * skip into a failure: CI sets it where it installed the set-up, so the suites cannot skip silently.
 */
export function requiredHere(name: string): boolean {
  return (process.env.LDFA_REQUIRE ?? '').split(',').map((s) => s.trim()).includes(name);
}

/** Why the native backend is unusable here, as the CLI's probe (createNativeBlas) says, or null. */
export function nativeUnavailable(): string | null {
  try {
    createNativeBlas();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * The native BLAS for a suite's native tests, or null where it is unusable here (a declared
 * skip: the reason is logged, and LDFA_REQUIRE=native turns it into a failure).
 */
export function nativeBlasOrSkip(suite: string, skipped: string): NativeBlas | null {
  const why = nativeUnavailable();
  if (why === null) return createNativeBlas();
  if (requiredHere('native')) throw new Error(`native is required here (LDFA_REQUIRE=${process.env.LDFA_REQUIRE}) but unavailable: ${why}`);
  console.log(`[${suite}] skipping ${skipped}: ${MAY_BE_UNAVAILABLE.native}: ${why}`);
  return null;
}

export interface CreatedBackend {
  row: BackendRow;
  /** null when skipped. */
  backend: Backend | null;
  /** Why it is skipped (declared reason + the creation error), or null. */
  skip: string | null;
}

/**
 * Creates every backend of BACKEND_ROWS. A backend on the skip list that cannot be created
 * is skipped (with the reason logged); any other creation failure throws, failing the suite.
 */
export async function createTestBackends(suite: string): Promise<CreatedBackend[]> {
  const created: CreatedBackend[] = [];
  for (const row of BACKEND_ROWS) {
    try {
      created.push({ row, backend: await createBackend(row.name), skip: null });
    } catch (e) {
      const declared = MAY_BE_UNAVAILABLE[row.name];
      if (declared === undefined) throw e; // not on the skip list: must work here
      if (requiredHere(row.name)) throw new Error(`${row.name} is required here (LDFA_REQUIRE=${process.env.LDFA_REQUIRE}) but unavailable: ${(e as Error).message}`);
      const reason = `${declared}: ${(e as Error).message}`;
      console.log(`[${suite}] skipping ${row.name}: ${reason}`);
      created.push({ row, backend: null, skip: reason });
    }
  }
  return created;
}
