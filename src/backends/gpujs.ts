// gpu.js 2.24.1 backend (float32 in every mode). One kernel per op and shape, cached.
//
// Pitfalls handled here (measured in /work/shared/spec/dependencies.md):
// - `loopMaxIterations` defaults to 1000 and silently truncates longer loops, in every mode.
//   All loop bounds are kernel *constants* and loopMaxIterations is set above the longest one.
// - `mode: 'gpu'` silently runs WebAssemblyKernel on a machine without a GPU. The kernel class
//   that actually ran is read from the built kernel and checked against the requested mode;
//   a mismatch throws, and kernelInfo() reports the class.
// - gpu.js recompiles for every output size, so kernels are cached per (op, shape) key.
//
// Every kernel has a flat 1-d output; the multi-index is recovered with
// Math.floor((idx + 0.5) / size), which is exact in float32 for idx < 2²⁴ even where
// division is not correctly rounded (GLSL).
import { createRequire } from 'node:module';
import { GPU, type IKernelFunctionThis, type IKernelRunShortcut, type KernelFunction, type IGPUKernelSettings } from 'gpu.js';

/** gpu.js reads `loopMaxIterations` but its typings (2.24.1) omit it. */
type KernelSettings = IGPUKernelSettings & { loopMaxIterations: number };
import type { Backend, Conv2dSpec } from '../../reference/backend.ts';
import type { Tensor } from '../../reference/tensor.ts';
import { hiddenReason } from '../hide.ts';
import { batchMatmulDims, convDims, matmulDims, type ConvDims } from './common.ts';

/** 'webgl2' exists only in a browser (the web app, src/web/); the others in Node. */
export type GpujsMode = 'cpu' | 'webasm' | 'headlessgl' | 'webgpu' | 'webgl2' | 'gpu';
export const GPUJS_MODES: readonly GpujsMode[] = ['cpu', 'webasm', 'headlessgl', 'webgpu', 'webgl2', 'gpu'];

/** gpu.js kernel class names that count as each mode. 'gpu' means "any real GPU kernel". */
const EXPECTED_CLASSES: Record<GpujsMode, readonly string[]> = {
  cpu: ['CPUKernel'],
  webasm: ['WebAssemblyKernel'],
  headlessgl: ['HeadlessGLKernel'],
  webgpu: ['WebGPUKernel'],
  webgl2: ['WebGL2Kernel'],
  gpu: ['HeadlessGLKernel', 'WebGLKernel', 'WebGL2Kernel', 'WebGPUKernel'],
};

const SETUP_HINT: Record<GpujsMode, string> = {
  cpu: 'none (always available)',
  webasm: 'none (needs WebAssembly SIMD, i.e. Node ≥ 16)',
  headlessgl: "the optional native addon 'gl' built (apt-get install -y libxi-dev, then JOBS=2 npm ci, which compiles it in about 3 minutes; `npm rebuild gl` does nothing where an earlier install dropped gl) and an X display (run under `xvfb-run -a`, apt-get install -y xvfb libgl1-mesa-dri); on a real GPU also the vendor's GLX libraries",
  webgpu: "a global navigator.gpu (Node 20 has none): npm i webgpu@0.6.2 plus the shim in /work/shared/spec/dependencies.md §2; note that gpu.js WebGPU kernels are asynchronous (they return Promises), which the synchronous Backend interface cannot use",
  webgl2: 'a browser with WebGL2 (Node has none; headless Chromium gets it with --use-angle=swiftshader --enable-unsafe-swiftshader)',
  gpu: "a real GPU backend: see the 'headlessgl' set-up (xvfb-run, libxi-dev, gl built); otherwise gpu.js silently runs WebAssemblyKernel",
};

interface Consts { [name: string]: number }
type KThis = IKernelFunctionThis<Consts>;
type Flat = Float32Array;

// ---- kernel sources (run by gpu.js, not by Node: only `this.thread`, `this.constants`, Math, loops) ----

/** C[b][i][j] = Σ_k op(A[b])[i][k] · op(B[b])[k][j]; strides of op(A), op(B) as constants. */
function matmulKernel(this: KThis, a: Flat, b: Flat): number {
  const idx = this.thread.x;
  const bi = Math.floor((idx + 0.5) / this.constants.MN);
  const rem = idx - bi * this.constants.MN;
  const i = Math.floor((rem + 0.5) / this.constants.N);
  const j = rem - i * this.constants.N;
  const aBase = bi * this.constants.aBatch + i * this.constants.aRow;
  const bBase = bi * this.constants.bBatch + j * this.constants.bCol;
  let sum = 0;
  for (let k = 0; k < this.constants.K; k++) {
    sum += a[aBase + k * this.constants.aCol] * b[bBase + k * this.constants.bRow];
  }
  return sum;
}

/** y[n,o,i,j] = Σ_{c,p,q} w[o,c,p,q] · x[n,c,i·s+p−pad, j·s+q−pad]. */
function convForwardKernel(this: KThis, x: Flat, w: Flat): number {
  const idx = this.thread.x;
  const P = this.constants.Ho * this.constants.Wo;
  const no = Math.floor((idx + 0.5) / P);
  const pos = idx - no * P;
  const n = Math.floor((no + 0.5) / this.constants.Cout);
  const o = no - n * this.constants.Cout;
  const i = Math.floor((pos + 0.5) / this.constants.Wo);
  const j = pos - i * this.constants.Wo;
  let sum = 0;
  for (let c = 0; c < this.constants.Cin; c++) {
    for (let p = 0; p < this.constants.k; p++) {
      const r = i * this.constants.stride + p - this.constants.pad;
      if (r >= 0 && r < this.constants.H) {
        for (let q = 0; q < this.constants.k; q++) {
          const s = j * this.constants.stride + q - this.constants.pad;
          if (s >= 0 && s < this.constants.W) {
            sum += w[((o * this.constants.Cin + c) * this.constants.k + p) * this.constants.k + q]
              * x[((n * this.constants.Cin + c) * this.constants.H + r) * this.constants.W + s];
          }
        }
      }
    }
  }
  return sum;
}

/** dx[n,c,r,s] = Σ_{o,p,q : r = i·st+p−pad, s = j·st+q−pad} w[o,c,p,q] · dy[n,o,i,j] (gather form, no atomics). */
function convBackwardInputKernel(this: KThis, dy: Flat, w: Flat): number {
  const idx = this.thread.x;
  const HW = this.constants.H * this.constants.W;
  const nc = Math.floor((idx + 0.5) / HW);
  const pos = idx - nc * HW;
  const n = Math.floor((nc + 0.5) / this.constants.Cin);
  const c = nc - n * this.constants.Cin;
  const r = Math.floor((pos + 0.5) / this.constants.W);
  const s = pos - r * this.constants.W;
  let sum = 0;
  for (let o = 0; o < this.constants.Cout; o++) {
    for (let p = 0; p < this.constants.k; p++) {
      const ti = r + this.constants.pad - p;
      const i = Math.floor((ti + 0.5) / this.constants.stride);
      if (ti >= 0 && i * this.constants.stride === ti && i < this.constants.Ho) {
        for (let q = 0; q < this.constants.k; q++) {
          const tj = s + this.constants.pad - q;
          const j = Math.floor((tj + 0.5) / this.constants.stride);
          if (tj >= 0 && j * this.constants.stride === tj && j < this.constants.Wo) {
            sum += w[((o * this.constants.Cin + c) * this.constants.k + p) * this.constants.k + q]
              * dy[((n * this.constants.Cout + o) * this.constants.Ho + i) * this.constants.Wo + j];
          }
        }
      }
    }
  }
  return sum;
}

/** dw[o,c,p,q] = Σ_{n,i,j} dy[n,o,i,j] · x[n,c,i·s+p−pad, j·s+q−pad]. */
function convBackwardFilterKernel(this: KThis, dy: Flat, x: Flat): number {
  const idx = this.thread.x;
  const kk = this.constants.k * this.constants.k;
  const oc = Math.floor((idx + 0.5) / kk);
  const pq = idx - oc * kk;
  const o = Math.floor((oc + 0.5) / this.constants.Cin);
  const c = oc - o * this.constants.Cin;
  const p = Math.floor((pq + 0.5) / this.constants.k);
  const q = pq - p * this.constants.k;
  let sum = 0;
  for (let n = 0; n < this.constants.N; n++) {
    for (let i = 0; i < this.constants.Ho; i++) {
      const r = i * this.constants.stride + p - this.constants.pad;
      if (r >= 0 && r < this.constants.H) {
        for (let j = 0; j < this.constants.Wo; j++) {
          const s = j * this.constants.stride + q - this.constants.pad;
          if (s >= 0 && s < this.constants.W) {
            sum += dy[((n * this.constants.Cout + o) * this.constants.Ho + i) * this.constants.Wo + j]
              * x[((n * this.constants.Cin + c) * this.constants.H + r) * this.constants.W + s];
          }
        }
      }
    }
  }
  return sum;
}

// ---- backend ----

export interface GpujsBackendOptions {
  /** gpu.js mode; default 'webasm'. */
  mode?: GpujsMode;
}

export interface GpujsBackend extends Backend {
  readonly mode: GpujsMode;
  /** The gpu.js kernel class that ran the self-check kernel, e.g. 'WebAssemblyKernel'. */
  readonly kernelClass: string;
  /** Number of compiled kernels in the per-shape cache. */
  cachedKernels(): number;
  /** Releases gpu.js resources; the backend must not be used afterwards. */
  destroy(): void;
}

/** gpu.js's version; null where its package.json cannot be read (in the web app's bundle). */
function gpujsVersion(): string | null {
  try {
    return (createRequire(import.meta.url)('gpu.js/package.json') as { version: string }).version;
  } catch {
    return null;
  }
}

function headlessGlDiagnosis(): string {
  let gl = 'installed';
  try {
    createRequire(import.meta.url).resolve('gl');
  } catch {
    gl = 'NOT installed or not built';
  }
  const display = process.env.DISPLAY ? `DISPLAY=${process.env.DISPLAY}` : 'no DISPLAY set';
  return `native addon 'gl' ${gl}, ${display}`;
}

function unavailable(mode: GpujsMode, ran: string): Error {
  const extra = mode === 'headlessgl' || mode === 'gpu' ? ` (${headlessGlDiagnosis()})` : '';
  return new Error(`gpu.js mode '${mode}' requested but not available: ${ran}${extra}. Set-up needed: ${SETUP_HINT[mode]}`);
}

/** The class of the kernel gpu.js actually built (only known after the first call). */
function kernelClassOf(k: IKernelRunShortcut): string {
  const inner = (k as unknown as { kernel?: { constructor?: { name?: string } } }).kernel;
  return inner?.constructor?.name ?? 'unknown';
}

export async function createGpujsBackend(options: GpujsBackendOptions = {}): Promise<GpujsBackend> {
  const mode = options.mode ?? 'webasm';
  if (!GPUJS_MODES.includes(mode)) {
    throw new Error(`unknown gpu.js mode '${String(mode)}': allowed are ${GPUJS_MODES.join(', ')}`);
  }
  const hidden = mode === 'headlessgl' || mode === 'gpu' ? hiddenReason('gl') : null;
  if (hidden !== null) throw unavailable(mode, `headless-gl is ${hidden}`);
  let gpu: GPU;
  try {
    gpu = new GPU({ mode });
  } catch (e) {
    throw unavailable(mode, `gpu.js refused it ("${(e as Error).message}")`);
  }
  const version = gpujsVersion();
  const cache = new Map<string, IKernelRunShortcut>();
  let kernelClass = '';

  function kernel(kind: string, source: (this: KThis, a: Flat, b: Flat) => number, size: number, constants: Consts, longestLoop: number): IKernelRunShortcut {
    const key = `${kind}|${size}|${Object.entries(constants).map(([k, v]) => `${k}=${v}`).join(',')}`;
    let k = cache.get(key);
    if (k === undefined) {
      const settings: KernelSettings = {
        output: [size],
        constants,
        loopMaxIterations: longestLoop + 1,
        precision: 'single',
        tactic: 'precision',
      };
      k = gpu.createKernel(source as unknown as KernelFunction, settings);
      cache.set(key, k);
    }
    return k;
  }

  function run(k: IKernelRunShortcut, a: Flat, b: Flat): ArrayLike<number> {
    const out = k(a, b);
    if (out instanceof Promise) {
      throw unavailable(mode, 'its kernels are asynchronous (returned a Promise)');
    }
    const cls = kernelClassOf(k);
    if (!EXPECTED_CLASSES[mode].includes(cls)) {
      throw unavailable(mode, `gpu.js actually ran ${cls}`);
    }
    return out as unknown as ArrayLike<number>;
  }

  function f32(src: Float64Array, offset: number, length: number): Flat {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = src[offset + i];
    return out;
  }

  function copyOut(dst: Float64Array, offset: number, src: ArrayLike<number>, length: number): void {
    for (let i = 0; i < length; i++) dst[offset + i] = src[i];
  }

  function product(C: Tensor, A: Tensor, B: Tensor, batch: number, M: number, N: number, K: number, transA: boolean, transB: boolean): void {
    const total = batch * M * N;
    if (total === 0) return;
    if (K === 0) { C.data.fill(0, C.offset, C.offset + total); return; }
    const consts: Consts = {
      MN: M * N, N, K,
      aBatch: M * K, aRow: transA ? 1 : K, aCol: transA ? M : 1,
      bBatch: K * N, bRow: transB ? 1 : N, bCol: transB ? K : 1,
    };
    const k = kernel('matmul', matmulKernel, total, consts, K);
    const out = run(k, f32(A.data, A.offset, batch * M * K), f32(B.data, B.offset, batch * K * N));
    copyOut(C.data, C.offset, out, total);
  }

  function convConsts(d: ConvDims): Consts {
    return { N: d.N, Cin: d.Cin, H: d.H, W: d.W, Cout: d.Cout, k: d.k, Ho: d.Ho, Wo: d.Wo, stride: d.stride, pad: d.padding };
  }

  const backend: GpujsBackend = {
    name: `gpujs-${mode}`,
    precision: 'float32',
    mode,
    get kernelClass() { return kernelClass; },
    kernelInfo: () => `gpu.js ${version ?? ''}${version ? ' ' : ''}${kernelClass} (requested mode '${mode}', float32, ${cache.size} cached kernels)`,
    cachedKernels: () => cache.size,
    destroy: () => { cache.clear(); void gpu.destroy(); },

    matmul(C, A, B, transA = false, transB = false) {
      const { M, N, K } = matmulDims(C, A, B, transA, transB);
      product(C, A, B, 1, M, N, K, transA, transB);
    },
    batchMatmul(C, A, B, transA = false, transB = false) {
      const { batch, M, N, K } = batchMatmulDims(C, A, B, transA, transB);
      product(C, A, B, batch, M, N, K, transA, transB);
    },
    conv2dForward(y: Tensor, x: Tensor, w: Tensor, spec: Conv2dSpec) {
      const d = convDims(y, x, w, spec, 'conv2dForward');
      const k = kernel('convForward', convForwardKernel, y.size, convConsts(d), Math.max(d.Cin, d.k));
      copyOut(y.data, 0, run(k, f32(x.data, 0, x.size), f32(w.data, 0, w.size)), y.size);
    },
    conv2dBackwardInput(dx: Tensor, dy: Tensor, w: Tensor, spec: Conv2dSpec) {
      const d = convDims(dy, dx, w, spec, 'conv2dBackwardInput');
      const k = kernel('convBackwardInput', convBackwardInputKernel, dx.size, convConsts(d), Math.max(d.Cout, d.k));
      copyOut(dx.data, 0, run(k, f32(dy.data, 0, dy.size), f32(w.data, 0, w.size)), dx.size);
    },
    conv2dBackwardFilter(dw: Tensor, dy: Tensor, x: Tensor, spec: Conv2dSpec) {
      const d = convDims(dy, x, dw, spec, 'conv2dBackwardFilter');
      const k = kernel('convBackwardFilter', convBackwardFilterKernel, dw.size, convConsts(d), Math.max(d.N, d.Ho, d.Wo));
      copyOut(dw.data, 0, run(k, f32(dy.data, 0, dy.size), f32(x.data, 0, x.size)), dw.size);
    },
  };

  // Self-check: build and run one tiny kernel (with a loop longer than 1000, the gpu.js
  // default cut-off) to learn which kernel class really runs, and that it is right.
  const K = 1100;
  const probeSettings: KernelSettings = {
    output: [1],
    constants: { MN: 1, N: 1, K, aBatch: K, aRow: K, aCol: 1, bBatch: K, bRow: 1, bCol: 1 },
    loopMaxIterations: K + 1,
    precision: 'single',
  };
  const probe = gpu.createKernel(matmulKernel as unknown as KernelFunction, probeSettings);
  let got: ArrayLike<number>;
  try {
    const out = probe(new Float32Array(K).fill(1), new Float32Array(K).fill(0.5));
    if (out instanceof Promise) {
      kernelClass = kernelClassOf(probe);
      throw unavailable(mode, `${kernelClass} is asynchronous (its kernels return Promises)`);
    }
    got = out as unknown as ArrayLike<number>;
  } catch (e) {
    if ((e as Error).message.startsWith('gpu.js mode')) throw e;
    throw unavailable(mode, `building a kernel failed ("${(e as Error).message}")`);
  }
  kernelClass = kernelClassOf(probe);
  if (!EXPECTED_CLASSES[mode].includes(kernelClass)) {
    throw unavailable(mode, `gpu.js actually ran ${kernelClass}`);
  }
  if (got[0] !== K * 0.5) {
    throw new Error(`gpu.js ${kernelClass}: self-check failed: a ${K}-term sum of 0.5 gave ${got[0]}, expected ${K * 0.5} (loop truncation?)`);
  }
  return backend;
}
