// The kernels the web app can train on: gpu.js WebGL2 (the reader's GPU), tfjs-backend-wasm
// (XNNPACK on the CPU) and the float64 reference. The same Backend interface as the CLI's
// (src/backends/registry.ts); only the gpu.js mode differs (WebGL2 exists only in a browser).
import type { Backend } from '../../reference/backend.ts';
import { referenceBackend } from '../../reference/kernels.ts';
import { createGpujsBackend } from '../backends/gpujs.ts';
import { createWasmBackend } from '../backends/wasm.ts';

export const WEB_BACKENDS = ['webgl2', 'wasm', 'reference'] as const;
export type WebBackendName = (typeof WEB_BACKENDS)[number];

/** `base`: the site's URL, where the build put tfjs's .wasm files. */
export async function createWebBackend(name: WebBackendName, base: string): Promise<Backend> {
  switch (name) {
    case 'webgl2': return createGpujsBackend({ mode: 'webgl2' });
    case 'wasm': {
      const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
      setWasmPaths(new URL('./', base).href);
      return createWasmBackend();
    }
    case 'reference': return referenceBackend;
    default: throw new Error(`unknown backend '${name as string}': allowed are ${WEB_BACKENDS.join(', ')}`);
  }
}
