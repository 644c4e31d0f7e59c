// One place that turns a backend name (`--backend NAME`) into a Backend.
import type { Backend } from '../../reference/backend.ts';
import { referenceBackend } from '../../reference/kernels.ts';
import { Rng, uniformTensor } from '../../reference/rng.ts';
import { tensor } from '../../reference/tensor.ts';
import { createGpujsBackend, type GpujsMode } from './gpujs.ts';
import { createNativeBackend } from './native.ts';
import { kernelSelfCheck } from './self-check.ts';
import { createWasmBackend } from './wasm.ts';

export const BACKEND_NAMES = [
  'auto',
  'reference',
  'native',
  'wasm',
  'gpujs',
  'gpujs-cpu',
  'gpujs-webasm',
  'gpujs-headlessgl',
  'gpujs-webgpu',
] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

/**
 * - reference: float64 loops (reference/kernels.ts), the ground truth.
 * - native: OpenBLAS cblas_sgemm (float32, 1–2 threads) through the optional addon in native/;
 *   throws (naming what is missing) where the addon was not built or no BLAS library loads.
 * - wasm: tfjs-backend-wasm (XNNPACK, float32, 1 thread), the portable fast CPU backend.
 * - gpujs-MODE: gpu.js in exactly that mode; throws (naming the mode, what ran, the set-up
 *   needed) when the mode is not really available.
 * - gpujs: gpu.js on a real GPU kernel when one works here, else its WebAssembly kernel
 *   (kernelInfo() says which).
 * - auto: the first backend, in AUTO_CANDIDATES' fixed order, that passes a tolerance self-check
 *   against the reference. The order, not a timing, decides, so the same seed gives the same bytes
 *   whatever the machine's load (a timed race could pick wasm on one run and gpu.js on the next).
 */
export async function createBackend(name: string): Promise<Backend> {
  if (!isBackendName(name)) {
    throw new Error(`unknown backend '${name}': allowed are ${BACKEND_NAMES.join(', ')}`);
  }
  switch (name) {
    case 'reference': return referenceBackend;
    case 'native': return createNativeBackend();
    case 'wasm': return createWasmBackend();
    case 'gpujs-cpu': case 'gpujs-webasm': case 'gpujs-headlessgl': case 'gpujs-webgpu':
      return createGpujsBackend({ mode: name.slice('gpujs-'.length) as GpujsMode });
    case 'gpujs': {
      let gpuKernel: Backend;
      try {
        gpuKernel = await createGpujsBackend({ mode: 'gpu' });
      } catch (e) {
        const fallback = await createGpujsBackend({ mode: 'webasm' });
        const why = (e as Error).message.split('. Set-up needed')[0];
        return { ...fallback, name: 'gpujs', kernelInfo: () => `${fallback.kernelInfo()}; no GPU kernel: ${why}` };
      }
      // the name asked for, whichever kernel runs (kernelInfo() names the kernel class)
      return { ...gpuKernel, name: 'gpujs' };
    }
    case 'auto': return (await selectAuto()).backend;
  }
}

export interface AutoCandidate {
  name: BackendName;
  /** Why it was not usable (creation failed or the self-check failed). */
  skipped?: string;
  /** Largest |got − ref| / (atol + rtol·|ref|) over the self-check; ≤ 1 passes. */
  worstRatio?: number;
  /** Matmul throughput in the tiny timing, GFLOP/s. */
  gflops?: number;
}

export interface AutoChoice {
  backend: Backend;
  candidates: AutoCandidate[];
}

/** Candidates tried by 'auto', in order of expected speed on a CPU-only machine; the first that passes is chosen. */
const AUTO_CANDIDATES: readonly BackendName[] = ['native', 'wasm', 'gpujs-headlessgl', 'gpujs-webasm', 'reference'];

/**
 * Self-check: matmul with K = 1100 (> gpu.js's default loop cut-off of 1000) in all
 * transposed forms and a strided, padded conv forward/backward, against the float64
 * reference. Float32 tolerance: per-product rounding is ≤ 2⁻²⁴ relative, and a K-term
 * sum of rounded terms has error ≲ √K·2⁻²⁴·max|a|·max|b|·√K in the worst random-walk
 * case; with inputs in [−1, 1] and K ≤ 1100, atol = 1e-4·√K/32 ≈ 1e-4 is generous yet
 * catches any structural error (a truncated loop is off by O(1)).
 * Timing: best of 3 square matmuls at n = 192.
 */
export async function selectAuto(): Promise<AutoChoice> {
  const candidates: AutoCandidate[] = [];
  let best: { backend: Backend; gflops: number } | null = null;
  const tried: Backend[] = [];
  for (const name of AUTO_CANDIDATES) {
    let backend: Backend;
    try {
      backend = await createBackend(name);
    } catch (e) {
      candidates.push({ name, skipped: (e as Error).message });
      continue;
    }
    tried.push(backend);
    try {
      const worstRatio = kernelSelfCheck(backend);
      if (worstRatio > 1) {
        candidates.push({ name, worstRatio, skipped: `self-check against the reference failed (worst error ${worstRatio.toFixed(2)}× the tolerance)` });
        continue;
      }
      const gflops = timeMatmul(backend, 192, 3);
      candidates.push({ name, worstRatio, gflops });
      if (best === null) best = { backend, gflops };
    } catch (e) {
      candidates.push({ name, skipped: `self-check threw: ${(e as Error).message}` });
    }
  }
  // release the gpu.js contexts of the candidates not chosen
  for (const be of tried) if (be !== best?.backend && 'destroy' in be && typeof be.destroy === 'function') (be.destroy as () => void)();
  if (best === null) throw new Error(`auto: no backend passed the self-check: ${candidates.map((c) => `${c.name}: ${c.skipped}`).join('; ')}`);
  const chosen = best.backend;
  const summary = candidates.map((c) => (c.skipped !== undefined ? `${c.name} skipped` : `${c.name} ${c.gflops!.toFixed(2)} GFLOP/s`)).join(', ');
  return {
    backend: { ...chosen, kernelInfo: () => `auto chose ${chosen.name}: ${chosen.kernelInfo()} [${summary}]` },
    candidates,
  };
}

/**
 * One plain sentence for the user when auto runs without the native backend because it is
 * unavailable here (addon not built, no BLAS library loads, hidden by LDFA_HIDE), saying what
 * makes it available; null where native ran, or lost on speed, or failed its self-check.
 */
export function nativeFallbackNote(choice: AutoChoice): string | null {
  const native = choice.candidates.find((c) => c.name === 'native');
  if (native?.skipped === undefined || native.worstRatio !== undefined || native.skipped.startsWith('self-check')) return null;
  const ran = `Training runs on ${choice.backend.name}`;
  const hidden = /hidden by LDFA_HIDE=\S*/.exec(native.skipped);
  if (hidden) return `${ran} because the native backend is ${hidden[0].replace(/;$/, '')}.`;
  if (native.skipped.includes('no usable CBLAS library')) {
    return `${ran} because no BLAS library loads for the native backend: \`apt-get install libopenblas0-pthread\` (Debian/Ubuntu) makes it ${NATIVE_SPEEDUP}.`;
  }
  if (native.skipped.includes('was not built')) {
    return `${ran} because the native addon was not built: \`apt-get install g++ make libopenblas0-pthread\` (Debian/Ubuntu), then \`npm rebuild\`, makes it ${NATIVE_SPEEDUP}.`;
  }
  return `${ran} because the native backend is unavailable (\`ldfa train --backend native\` says why).`;
}

/** What the native backend buys over wasm, measured with `npm start -- --quick` on 2 cores (README, set-up). */
export const NATIVE_SPEEDUP = '2–3× faster';

/** Best-of-`reps` GFLOP/s of an n×n×n matmul (after one warm-up call). */
export function timeMatmul(backend: Backend, n: number, reps: number): number {
  const rng = new Rng(n);
  const A = uniformTensor(rng, [n, n], 1), B = uniformTensor(rng, [n, n], 1), C = tensor([n, n]);
  backend.matmul(C, A, B);
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    backend.matmul(C, A, B);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * n ** 3) / (best / 1000) / 1e9;
}
