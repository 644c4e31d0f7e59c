// Backend benchmarks. `npm run bench` (tsx bench/run.ts [--backends a,b,...] [--only parts]).
// `--backend NAME` is `--backends NAME`; `auto` is always measured as well. `--only` takes a
// comma-separated subset of matmul, conv, mlpStep, ldfaBackwardRatio, archStep, vsTorch (the
// JSON then holds only those, and `parts` says which ran); without it everything runs (minutes
// on 2 cores). JSON result on stdout, progress on stderr. Compare ratios measured in one run;
// absolute times depend on the machine (reported under `machine`).
//
// matmul, conv and ldfaBackwardRatio's layer rows go through the Backend interface with float64
// tensors, so they include the float64 ↔ float32 conversions a caller pays. Whole training
// steps (mlpStep, archStep, vsTorch) run createTrainer's step: on a float32 backend, the
// float32 path where the model allows it (each row's `path`, or trainer.path, says).
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setBackend, withBackend, type Backend, type Conv2dSpec } from '../reference/backend.ts';
import { throughLowRank, throughMatrix, type Feedback } from '../reference/feedback.ts';
import { linearBackward } from '../reference/layers/linear.ts';
import { referenceBackend } from '../reference/kernels.ts';
import { softmaxCrossEntropy } from '../reference/layers/losses.ts';
import { Rng, normalTensor, uniformTensor } from '../reference/rng.ts';
import { tensor, type Tensor } from '../reference/tensor.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/config.ts';
import { createTrainer } from '../src/train.ts';
import { createBackend, isBackendName, BACKEND_NAMES, type BackendName } from '../src/backends/registry.ts';
import { batches, type Dataset } from '../src/data/dataset.ts';
import { hiddenReason } from '../src/hide.ts';
import { cnnBase } from '../src/experiments/recipes/cnn.ts';
import { halfEpochSteps, mlpBase } from '../src/experiments/recipes/common.ts';
import { stepFlops } from '../src/flops.ts';
import { ldfaOptionsOf } from '../src/config.ts';
import { createNativeBackend, createNativeBlas, type LayerKernels, type NativeBlas } from '../src/backends/native.ts';
import { vit } from '../src/experiments/recipes/vit.ts';

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** Longest single call we are willing to run; sizes predicted to take longer are skipped. */
const MAX_CALL_S = 20;
/** Time budget per measured cell (repetitions stop after this, at least one runs). */
const CELL_BUDGET_S = 3;

export function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
  };
}

/** Median wall time in ms of fn over up to maxReps runs (after one warm-up), within the cell budget. */
function timeIt(fn: () => void, maxReps = 10, warmup = true): { ms: number; reps: number } {
  if (warmup) fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxReps) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
    if (performance.now() - start > CELL_BUDGET_S * 1000) break;
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], reps: times.length };
}

const round = (x: number, digits = 3) => +x.toPrecision(digits);

// ---- matmul ----

/** `skipped`: not run, predicted too slow; `note`: ran, but took longer than the limit. */
export interface MatmulRow { backend: string; n: number; gflops?: number; ms?: number; reps?: number; skipped?: string; note?: string }

export function benchMatmul(backends: Backend[], sizes = [128, 256, 512, 1024]): MatmulRow[] {
  const rows: MatmulRow[] = [];
  for (const be of backends) {
    let lastMs = 0, lastN = 0;
    for (const n of sizes) {
      const predictedS = lastN > 0 ? (lastMs * (n / lastN) ** 3) / 1000 : 0;
      if (predictedS > MAX_CALL_S) {
        rows.push({ backend: be.name, n, skipped: `predicted ${predictedS.toFixed(0)} s per call from n=${lastN} (n³ scaling) exceeds the ${MAX_CALL_S} s limit` });
        log(`matmul ${be.name} n=${n}: skipped (predicted ${predictedS.toFixed(0)} s)`);
        continue;
      }
      const rng = new Rng(n);
      const A = uniformTensor(rng, [n, n], 1), B = uniformTensor(rng, [n, n], 1), C = tensor([n, n]);
      // skip the warm-up when one call is already long (the reference at n=1024 takes seconds)
      const slow = predictedS > 2;
      const { ms, reps } = timeIt(() => be.matmul(C, A, B), slow ? 1 : 10, !slow);
      const gflops = (2 * n ** 3) / (ms / 1000) / 1e9;
      const row: MatmulRow = { backend: be.name, n, gflops: round(gflops), ms: round(ms), reps };
      if (ms > MAX_CALL_S * 1000) {
        row.note = `ran because n=${lastN} predicted ${predictedS.toFixed(0)} s (n³ scaling), but took ${(ms / 1000).toFixed(1)} s, over the ${MAX_CALL_S} s limit (cache effects grow faster than n³)`;
      }
      lastMs = ms; lastN = n;
      rows.push(row);
      log(`matmul ${be.name} n=${n}: ${gflops.toFixed(2)} GFLOP/s (${ms.toFixed(1)} ms, ${reps} reps)`);
    }
  }
  return rows;
}

// ---- conv ----

export interface ConvShape { N: number; Cin: number; Cout: number; H: number; W: number; k: number; stride: number; padding: number }
export interface ConvRow { backend: string; shape: string; op: 'forward' | 'backwardInput' | 'backwardFilter'; gflops: number; ms: number; reps: number }

export const CONV_SHAPES: ConvShape[] = [
  { N: 32, Cin: 3, Cout: 16, H: 32, W: 32, k: 3, stride: 1, padding: 1 }, // first layer of a small CNN
  { N: 32, Cin: 16, Cout: 32, H: 16, W: 16, k: 3, stride: 1, padding: 1 }, // a deeper layer
  { N: 32, Cin: 32, Cout: 64, H: 16, W: 16, k: 3, stride: 2, padding: 1 }, // strided down-sampling
];

export function benchConv(backends: Backend[], shapes = CONV_SHAPES): ConvRow[] {
  const rows: ConvRow[] = [];
  for (const s of shapes) {
    const spec: Conv2dSpec = { stride: s.stride, padding: s.padding };
    const Ho = Math.floor((s.H + 2 * s.padding - s.k) / s.stride) + 1, Wo = Math.floor((s.W + 2 * s.padding - s.k) / s.stride) + 1;
    const flops = 2 * s.N * s.Cout * Ho * Wo * s.Cin * s.k * s.k; // multiply-adds of the dense sum, padding taps included
    const label = `N${s.N} ${s.Cin}→${s.Cout} ${s.H}×${s.W} k${s.k} s${s.stride} p${s.padding}`;
    const rng = new Rng(1);
    const x = uniformTensor(rng, [s.N, s.Cin, s.H, s.W], 1), w = uniformTensor(rng, [s.Cout, s.Cin, s.k, s.k], 1);
    const dy = uniformTensor(rng, [s.N, s.Cout, Ho, Wo], 1);
    const y = tensor(dy.shape), dx = tensor(x.shape), dw = tensor(w.shape);
    for (const be of backends) {
      const ops = {
        forward: () => be.conv2dForward(y, x, w, spec),
        backwardInput: () => be.conv2dBackwardInput(dx, dy, w, spec),
        backwardFilter: () => be.conv2dBackwardFilter(dw, dy, x, spec),
      } as const;
      for (const op of ['forward', 'backwardInput', 'backwardFilter'] as const) {
        const { ms, reps } = timeIt(ops[op], 10);
        const gflops = flops / (ms / 1000) / 1e9;
        rows.push({ backend: be.name, shape: label, op, gflops: round(gflops), ms: round(ms), reps });
        log(`conv ${label} ${op} ${be.name}: ${gflops.toFixed(2)} GFLOP/s (${ms.toFixed(1)} ms)`);
      }
    }
  }
  return rows;
}

// ---- LDFA backward cost at the layer level (issue target: LDFA r=10 backward ≤ 0.6× BP's) ----

export interface LdfaRatioRow {
  backend: string; width: number; batch: number; rank: number;
  /** t(dx under throughLowRank) / t(dx under throughMatrix): the part LDFA shrinks. */
  inputGradientRatio: number;
  /** t(full linearBackward: dW + db + dx) LDFA / BP; dW = dyᵀ·x costs the same under both rules. */
  fullLinearBackwardRatio: number;
  ms: { bpInputGradient: number; ldfaInputGradient: number; bpFullBackward: number; ldfaFullBackward: number };
}

export function benchLdfaBackwardRatio(backends: Backend[], width = 1024, batch = 128, rank = 10): LdfaRatioRow[] {
  const rows: LdfaRatioRow[] = [];
  const rng = new Rng(2);
  const x = uniformTensor(rng, [batch, width], 1), dy = uniformTensor(rng, [batch, width], 1);
  const W = uniformTensor(rng, [width, width], 1 / Math.sqrt(width));
  const P = uniformTensor(rng, [width, rank], 1 / Math.sqrt(width)), Q = uniformTensor(rng, [rank, width], 1 / Math.sqrt(rank));
  const dx = tensor([batch, width]), dW = tensor([width, width]), db = tensor([width]);
  const bp: Feedback = throughMatrix(W), ldfa: Feedback = throughLowRank(P, Q);
  for (const be of backends) {
    // The four timings are interleaved rep by rep (so machine noise hits all of them alike),
    // with one warm-up each, at least 3 and at most 15 reps within ~4 cell budgets; medians.
    const fns = [() => bp(dx, dy), () => ldfa(dx, dy), () => linearBackward(dx, dW, db, dy, x, bp), () => linearBackward(dx, dW, db, dy, x, ldfa)];
    const times: number[][] = fns.map(() => []);
    withBackend(be, () => {
      for (const f of fns) f();
      const start = performance.now();
      for (let rep = 0; rep < 15; rep++) {
        fns.forEach((f, i) => {
          const t0 = performance.now();
          f();
          times[i].push(performance.now() - t0);
        });
        if (rep >= 2 && performance.now() - start > 4 * CELL_BUDGET_S * 1000) break;
      }
    });
    const [bpIn, ldfaIn, bpFull, ldfaFull] = times.map((ts) => ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]);
    const row: LdfaRatioRow = {
      backend: be.name, width, batch, rank,
      inputGradientRatio: round(ldfaIn / bpIn),
      fullLinearBackwardRatio: round(ldfaFull / bpFull),
      ms: { bpInputGradient: round(bpIn), ldfaInputGradient: round(ldfaIn), bpFullBackward: round(bpFull), ldfaFullBackward: round(ldfaFull) },
    };
    rows.push(row);
    log(`ldfa r=${rank} width ${width} batch ${batch} ${be.name}: input-gradient ratio ${row.inputGradientRatio}, full linear-backward ratio ${row.fullLinearBackwardRatio}`);
  }
  return rows;
}

// ---- mlpStep: one whole training step of the MLP 784-1024-1024-10, batch 128 ----

/** The rules timed; LDFA at r = 10 with fixed and with normative feedback learning. */
export const MLP_STEP_RULES: { rule: string; rank: number | null; config: Partial<TrainConfig> }[] = [
  { rule: 'bp', rank: null, config: { rule: 'bp' } },
  { rule: 'fa', rank: null, config: { rule: 'fa' } },
  { rule: 'ldfa fixed', rank: 10, config: { rule: 'ldfa', feedback: 'fixed', rank: 10, svdEvery: 0 } },
  // feedbackInit 'random': normative's default SVD init factorises each 1024×1024 W with
  // reference/linalg.ts's full float64 SVD, which takes minutes per layer on this machine;
  // the cost of a step does not depend on the init.
  { rule: 'ldfa normative', rank: 10, config: { rule: 'ldfa', feedback: 'normative', rank: 10, svdEvery: 0, feedbackInit: 'random' } },
];

export interface MlpStepShape { input: readonly number[]; hidden: readonly number[]; classes: number; batch: number }
export const MLP_STEP_SHAPE: MlpStepShape = { input: [1, 28, 28], hidden: [1024, 1024], classes: 10, batch: 128 };

/** Backends the mlpStep is timed on (the others are far slower than gpujs-webasm or not CPU-runnable here). */
const MLP_STEP_BACKENDS = ['reference', 'native', 'wasm', 'gpujs-webasm', 'gpujs-headlessgl', 'gpujs', 'auto'];

export interface MlpStepRow {
  backend: string; rule: string; rank: number | null;
  /** Median ms of trainer.step (forward + loss + backward + feedback learning + Adam steps). */
  ms: number; reps: number; warmup: boolean; note?: string;
}

function mlpConfig(backend: string, rule: Partial<TrainConfig>, shape: MlpStepShape): TrainConfig {
  return { ...DEFAULT_CONFIG, arch: 'mlp', hidden: [...shape.hidden], batch: shape.batch, backend, ...rule };
}

function mlpBatch(shape: MlpStepShape): { x: Tensor; y: Int32Array } {
  const rng = new Rng(3);
  const x = normalTensor(rng, [shape.batch, ...shape.input], 1);
  return { x, y: new Int32Array(shape.batch).map(() => rng.int(shape.classes)) };
}

/**
 * trainer.step time per backend and rule, the backend installed with setBackend. Fast
 * backends: one warm-up step, then up to 10 within the cell budget (median). Slow ones
 * (a step > 2 s: reference, gpu.js on the CPU) run 2 timed steps without a separate warm-up
 * on the reference (nothing to compile) and after one warm-up on gpu.js (kernel compilation).
 */
export function benchMlpStep(backends: Backend[], shape = MLP_STEP_SHAPE): MlpStepRow[] {
  const rows: MlpStepRow[] = [];
  const { x, y } = mlpBatch(shape);
  for (const be of backends) {
    if (!MLP_STEP_BACKENDS.includes(be.name)) continue;
    setBackend(be);
    try {
      for (const r of MLP_STEP_RULES) {
        const trainer = createTrainer(mlpConfig(be.name, r.config, shape), shape.input, shape.classes);
        const needsWarmup = be.name !== 'reference';
        if (needsWarmup) trainer.step(x, y);
        const t0 = performance.now();
        trainer.step(x, y);
        const first = performance.now() - t0;
        const slow = first > 2000;
        const times = [first];
        const start = performance.now();
        while (times.length < (slow ? 2 : 10) && (slow || performance.now() - start < CELL_BUDGET_S * 1000)) {
          const t = performance.now();
          trainer.step(x, y);
          times.push(performance.now() - t);
        }
        times.sort((a, b) => a - b);
        const ms = times[Math.floor(times.length / 2)];
        const row: MlpStepRow = { backend: be.name, rule: r.rule, rank: r.rank, ms: round(ms), reps: times.length, warmup: needsWarmup };
        if (slow) row.note = `slow (${(first / 1000).toFixed(1)} s per step): only ${times.length} timed steps`;
        rows.push(row);
        log(`mlpStep ${be.name} ${r.rule}${r.rank !== null ? ` r=${r.rank}` : ''}: ${ms.toFixed(1)} ms (${times.length} reps)`);
      }
    } finally {
      setBackend(referenceBackend);
    }
  }
  return rows;
}

/** The backward pass of the whole MLP (model.backward: every layer's dW, db and the signal sent down), LDFA r = 10 against BP. */
export interface ModelBackwardRatio {
  backend: string; kernel: string; rank: number; width: number; batch: number;
  /** median t(model.backward) LDFA fixed r=10 / median t(model.backward) BP. */
  backwardRatio: number;
  /** The same for the whole trainer.step (adds forward, loss, feedback learning, optimiser). */
  stepRatio: number;
  ms: { bpBackward: number; ldfaBackward: number; bpStep: number; ldfaStep: number };
  reps: number;
}

/**
 * On one backend (auto), BP and LDFA r=10 (fixed feedback; model.backward does not depend on
 * how the feedback learns) trainers are stepped alternately: each repetition runs, for each
 * rule, forward + loss (untimed), model.backward (timed), then a whole trainer.step (timed).
 * One warm-up repetition, then up to 15 within ~4 cell budgets (at least 5); medians.
 */
export function benchModelBackwardRatio(be: Backend, shape = MLP_STEP_SHAPE): ModelBackwardRatio {
  const { x, y } = mlpBatch(shape);
  setBackend(be);
  try {
    const trainers = [MLP_STEP_RULES[0], MLP_STEP_RULES[2]].map((r) => createTrainer(mlpConfig(be.name, r.config, shape), shape.input, shape.classes));
    const backward: number[][] = [[], []], step: number[][] = [[], []];
    const start = performance.now();
    for (let rep = -1; rep < 15; rep++) {
      trainers.forEach((tr, i) => {
        const logits = tr.model.forward(x, true);
        const de = tensor(logits.shape);
        softmaxCrossEntropy(de, logits, y);
        const t0 = performance.now();
        tr.model.backward(de);
        const t1 = performance.now();
        tr.step(x, y);
        const t2 = performance.now();
        if (rep >= 0) { backward[i].push(t1 - t0); step[i].push(t2 - t1); }
      });
      if (rep >= 4 && performance.now() - start > 4 * CELL_BUDGET_S * 1000) break;
    }
    const med = (ts: number[]) => [...ts].sort((a, b) => a - b)[Math.floor(ts.length / 2)];
    const [bpB, ldfaB, bpS, ldfaS] = [med(backward[0]), med(backward[1]), med(step[0]), med(step[1])];
    const row: ModelBackwardRatio = {
      backend: be.name, kernel: be.kernelInfo(), rank: 10, width: shape.hidden[0], batch: shape.batch,
      backwardRatio: round(ldfaB / bpB), stepRatio: round(ldfaS / bpS),
      ms: { bpBackward: round(bpB), ldfaBackward: round(ldfaB), bpStep: round(bpS), ldfaStep: round(ldfaS) },
      reps: backward[0].length,
    };
    log(`model backward LDFA r=10 / BP on ${be.name}: ${row.backwardRatio} (step ${row.stepRatio}, ${row.reps} reps)`);
    return row;
  } finally {
    setBackend(referenceBackend);
  }
}

// ---- vsTorch: the same MLP training loops in PyTorch, interleaved with ours ----

/**
 * The issue's two MNIST-sized MLPs (BP, Adam lr 1e-3, cross-entropy), one pass over `samples`
 * images: half of the issue's 20,000 and a third of its 60,000 images, so that two interleaved
 * rounds fit in minutes on a loaded 2-core machine (samples/s does not depend on the count).
 */
export const VS_TORCH_SHAPES: { hidden: number[]; batch: number; samples: number }[] = [
  { hidden: [1024, 1024], batch: 128, samples: 10000 },
  { hidden: [256, 256], batch: 64, samples: 20000 },
];
export const TORCH_PYTHON = process.env.LDFA_BENCH_PYTHON ?? '/usr/bin/python3';
const TORCH_SCRIPT = fileURLToPath(new URL('./torch_mlp.py', import.meta.url));

export interface VsTorchRow {
  model: string; batch: number; samples: number;
  /** samples/s per round (interleaved: ours, PyTorch 1 thread, PyTorch 2 threads in each round). */
  ours: number[]; torch1: number[]; torch2: number[];
  /** median(ours) / max(median(torch1), median(torch2)): ours against PyTorch at its faster thread count. */
  ratio: number;
  /** The ratio of each round alone. */
  ratioPerRound: number[];
  oursPath: string;
  /** The OpenBLAS core each side ran (ours: the native backend's; PyTorch: what its process loaded). */
  core: { ours: string | null; torch: string | null };
}

/** Why PyTorch cannot run here, or null. */
export function torchUnavailable(python = TORCH_PYTHON): string | null {
  const hidden = hiddenReason('torch');
  if (hidden !== null) return `PyTorch is ${hidden}`;
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.error) return `${python} cannot run: ${r.error.message}`;
  return r.status === 0 ? null : `${python} cannot import torch (apt-get install python3-torch): ${r.stderr.trim().split('\n').pop()}`;
}

function torchSamplesPerSecond(shape: { hidden: number[]; batch: number; samples: number }, threads: number, python: string): { samplesPerSecond: number; torch: string; blasCore: string | null } {
  const spec = { input: 784, hidden: shape.hidden, classes: 10, batch: shape.batch, samples: shape.samples, threads, seed: 1, warmupSteps: 3 };
  const r = spawnSync(python, [TORCH_SCRIPT, JSON.stringify(spec)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench/torch_mlp.py failed (exit ${r.status}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** Our trainer (BP, Adam, the current backend) over one shuffled pass of random MNIST-sized images, after 3 warm-up steps. */
export function oursSamplesPerSecond(shape: { hidden: number[]; batch: number; samples: number }, backendName: string): { samplesPerSecond: number; path: string } {
  const rng = new Rng(1);
  const data: Dataset = {
    name: 'random', x: normalTensor(rng, [shape.samples, 784], 1).data, y: new Int32Array(shape.samples).map(() => rng.int(10)),
    n: shape.samples, shape: [1, 28, 28], classes: 10,
  };
  const trainer = createTrainer({ ...DEFAULT_CONFIG, arch: 'mlp', hidden: shape.hidden, batch: shape.batch, rule: 'bp', optimizer: 'adam', lr: 1e-3, backend: backendName }, [1, 28, 28], 10);
  let warm = 0;
  for (const b of batches(data, shape.batch, new Rng(2))) { trainer.step(b.x, b.y); if (++warm === 3) break; }
  const t0 = performance.now();
  for (const b of batches(data, shape.batch, new Rng(3))) trainer.step(b.x, b.y);
  return { samplesPerSecond: shape.samples / ((performance.now() - t0) / 1000), path: trainer.path };
}

/** `rounds` interleaved rounds per shape; the backend is the one installed (setBackend). */
export function benchVsTorch(backendName: string, shapes = VS_TORCH_SHAPES, rounds = 2, python = TORCH_PYTHON): { torch: string; rows: VsTorchRow[] } {
  let torchVersion = '';
  const rows = shapes.map((shape) => {
    const row: VsTorchRow = { model: `784-${shape.hidden.join('-')}-10`, batch: shape.batch, samples: shape.samples, ours: [], torch1: [], torch2: [], ratio: 0, ratioPerRound: [], oursPath: '', core: { ours: nativeCore(), torch: null } };
    for (let round = 0; round < rounds; round++) {
      const ours = oursSamplesPerSecond(shape, backendName);
      row.oursPath = ours.path;
      row.ours.push(round3(ours.samplesPerSecond));
      for (const threads of [1, 2] as const) {
        const t = torchSamplesPerSecond(shape, threads, python);
        torchVersion = t.torch;
        row.core.torch = t.blasCore;
        (threads === 1 ? row.torch1 : row.torch2).push(round3(t.samplesPerSecond));
      }
      row.ratioPerRound.push(round3(row.ours[round] / Math.max(row.torch1[round], row.torch2[round])));
      log(`vsTorch ${row.model} batch ${shape.batch} round ${round + 1}: ours ${row.ours[round]} samples/s, PyTorch 1 thread ${row.torch1[round]}, 2 threads ${row.torch2[round]}`);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
    row.ratio = round3(med(row.ours) / Math.max(med(row.torch1), med(row.torch2)));
    return row;
  });
  return { torch: torchVersion, rows };
}

const round3 = (x: number) => round(x, 3);

/** The OpenBLAS core the native backend runs, or null where it is unavailable. */
function nativeCore(): string | null {
  try {
    return createNativeBlas().core.core;
  } catch {
    return null;
  }
}

// ---- archStep: a CNN and a ViT step (the quick recipes' models), each backend against wasm ----

export interface ArchStepRow { arch: string; backend: string; ms: number; reps: number; path: string }

/** The bp configurations of the cnn and vit quick recipes (MNIST-sized input). */
export function archStepConfigs(): { arch: string; config: TrainConfig }[] {
  const overrides = { data: 'mnist' as const };
  return [
    { arch: 'cnn (quick recipe: conv 16 → 32, batch norm, max-pool, batch 64)', config: { ...cnnBase('quick', overrides), rule: 'bp' } },
    { arch: 'vit (quick recipe: patch 7, dim 64, depth 2, 4 heads, batch 64)', config: { ...vit.runs('quick', overrides)[0].config, rule: 'bp' } },
  ];
}

/** Median trainer.step ms per architecture and backend, backends interleaved step by step. */
export function benchArchStep(backends: Backend[], configs = archStepConfigs(), input = [1, 28, 28], classes = 10): ArchStepRow[] {
  const rows: ArchStepRow[] = [];
  for (const { arch, config } of configs) {
    const rng = new Rng(4);
    const x = normalTensor(rng, [config.batch, ...input], 1);
    const y = new Int32Array(config.batch).map(() => rng.int(classes));
    // wasm on the float64 path is the auto backend of before the native backend and the float32 path
    const trainers = backends.map((be) => withBackend(be, () => createTrainer({ ...config, backend: be.name }, input, classes, { float32Path: be.name !== 'wasm' })));
    const times: number[][] = backends.map(() => []);
    const start = performance.now();
    for (let rep = -1; rep < 15; rep++) {
      backends.forEach((be, i) => withBackend(be, () => {
        const t0 = performance.now();
        trainers[i].step(x, y);
        if (rep >= 0) times[i].push(performance.now() - t0);
      }));
      if (rep >= 2 && performance.now() - start > 4 * CELL_BUDGET_S * 1000) break;
    }
    backends.forEach((be, i) => {
      const ts = times[i].sort((a, b) => a - b);
      rows.push({ arch, backend: be.name, ms: round(ts[Math.floor(ts.length / 2)]), reps: ts.length, path: trainers[i].path });
      log(`archStep ${arch} ${be.name}: ${ts[Math.floor(ts.length / 2)].toFixed(1)} ms (${trainers[i].path})`);
    });
  }
  return rows;
}

// ---- ldfaVsBp: each LDFA mode's training step against BP's, beside the FLOP ratio ----

export const LDFA_MODES = ['fixed', 'normative', 'oja', 'factorised'] as const;
export const LDFA_RANKS: (number | 'full')[] = [1, 10, 'full'];

export interface LdfaVsBpModel { model: string; config: TrainConfig; input: number[]; classes: number }

/** The issue's four models: MLP 784-1024-1024-10 (batch 128), the rank-sweep MLP 256×3 with batch norm, and the cnn and vit quick recipes' models. */
export function ldfaVsBpModels(): LdfaVsBpModel[] {
  const mnist = { input: [1, 28, 28], classes: 10 };
  const mlp256 = mlpBase('quick', { data: 'mnist' });
  return [
    { model: 'mlp 784-1024-1024-10, batch 128', config: { ...DEFAULT_CONFIG, arch: 'mlp', hidden: [1024, 1024], batch: 128 }, ...mnist },
    { model: 'mlp 784-256-256-256-10 batch norm, batch 64 (rank-sweep quick)', config: mlp256, ...mnist },
    { model: 'cnn quick (conv 16 → 32, batch norm, max-pool, batch 64)', config: cnnBase('quick', { data: 'mnist' }), ...mnist },
    { model: 'vit quick (patch 7, dim 64, depth 2, 4 heads, batch 64)', config: vit.runs('quick', { data: 'mnist' })[0].config, ...mnist },
  ];
}

export interface LdfaVsBpRow {
  model: string; mode: string; rank: number | 'full'; ranks: Record<string, number>;
  /** Median over repetitions of (this step's ms / the ms of the BP step taken right next to it). */
  wallRatio: number;
  /** FLOPs of the step (pass + the rule's own update, src/flops.ts) / BP's. */
  flopRatio: number;
  /** The same with the SVD re-factorisation amortised at the recipe's schedule (normative). */
  flopRatioWithSvd: number;
  /** wallRatio ≤ flopRatio + 0.05 */
  withinFlops: boolean;
  ms: number; bpMs: number; path: string;
  /** normative: one re-factorisation (all layers) in ms, every svdEvery steps, and its share of the training time. */
  svd?: { ms: number; every: number; shareOfTraining: number };
}

/** One shared fake batch per model. */
function modelBatch(m: LdfaVsBpModel): { x: Tensor; y: Int32Array } {
  const rng = new Rng(5);
  return { x: normalTensor(rng, [m.config.batch, ...m.input], 1), y: new Int32Array(m.config.batch).map(() => rng.int(m.classes)) };
}

/**
 * BP and every mode × rank on the installed backend, each LDFA step paired with an adjacent BP
 * step; one warm-up repetition, then up to `reps` within the time budget. Re-factorisation is timed on its own (rule.afterStep at its step) and reported
 * as a share of training time at the recipe's schedule; the stepped trainers do not re-factorise.
 */
export function benchLdfaVsBp(backendName: string, models = ldfaVsBpModels(), reps = 18, budgetS = 40): LdfaVsBpRow[] {
  const rows: LdfaVsBpRow[] = [];
  for (const m of models) {
    const { x, y } = modelBatch(m);
    const variants = [{ mode: 'bp', rank: 0 as number | 'full' }, ...LDFA_MODES.flatMap((mode) => LDFA_RANKS.map((rank) => ({ mode, rank })))];
    const svdEvery = m.config.svdEvery > 0 ? m.config.svdEvery : halfEpochSteps({ ...m.config, limitTrain: m.config.limitTrain ?? 10000 });
    const trainers = variants.map((v) => createTrainer({
      // normative re-factorises at the recipe's schedule, which the timed steps (fewer) do not reach
      ...m.config, backend: backendName, ...(v.mode === 'bp' ? { rule: 'bp' } : { rule: 'ldfa', feedback: v.mode as TrainConfig['feedback'], rank: v.rank, svdEvery: v.mode === 'normative' ? svdEvery : 0 }),
    } as TrainConfig, m.input, m.classes));
    // Each LDFA step is paired with a BP step right next to it (which comes first alternates), and
    // the pair's ratio is taken: on a shared machine the load changes from second to second, and a
    // ratio of two adjacent steps is what it disturbs least. The variants' order rotates.
    // Each timed step follows an untimed step of the same trainer, as in training, where a step
    // finds the caches as its own previous step left them: timed right after another trainer's
    // step, every step found its W, moments and buffers evicted, which cost the memory-bound work
    // (LDFA's passes over W) more than the GEMMs (MLP 1024, r = 10: normative 0.892 × BP timed
    // cold, 0.861–0.879 in three runs timed so; BP 9.7 ms either way).
    const times: number[][] = variants.map(() => []), ratios: number[][] = variants.map(() => []);
    const timed = (i: number) => { trainers[i].step(x, y); const t0 = performance.now(); trainers[i].step(x, y); return performance.now() - t0; };
    const start = performance.now();
    // two steps per repetition; normative must not reach its re-factorisation step (timed apart)
    for (let rep = -1; rep < Math.min(reps, Math.floor((svdEvery - 1) / 2) - 1); rep++) {
      for (let j = 0; j < variants.length - 1; j++) {
        const i = 1 + ((j + Math.max(0, rep)) % (variants.length - 1));
        const [first, second] = (rep + j) % 2 === 0 ? [0, i] : [i, 0];
        const t = [timed(first), timed(second)];
        if (rep < 0) continue;
        const [bp, ldfa] = first === 0 ? t : [t[1], t[0]];
        times[0].push(bp); times[i].push(ldfa); ratios[i].push(ldfa / bp);
      }
      if (rep >= 3 && performance.now() - start > budgetS * 1000) break;
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
    const bpFlops = stepFlops(trainers[0].model, trainers[0].rule, m.config.batch).total.all;
    const bpMs = med(times[0]);
    variants.forEach((v, i) => {
      if (v.mode === 'bp') return;
      const tr = trainers[i];
      const options = { ...ldfaOptionsOf({ ...m.config, rule: 'ldfa', feedback: v.mode as TrainConfig['feedback'], rank: v.rank } as TrainConfig) };
      const flops = stepFlops(tr.model, tr.rule, m.config.batch, { ...options, svdEvery: 0 });
      const withSvd = stepFlops(tr.model, tr.rule, m.config.batch, { ...options, svdEvery: v.mode === 'normative' ? svdEvery : 0 });
      const wallRatio = med(ratios[i]);
      const row: LdfaVsBpRow = {
        model: m.model, mode: v.mode, rank: v.rank, ranks: tr.rule.summary().ranks as Record<string, number>,
        wallRatio: round(wallRatio), flopRatio: round(flops.total.withRule / bpFlops), flopRatioWithSvd: round(withSvd.total.withRule / bpFlops),
        withinFlops: wallRatio <= flops.total.withRule / bpFlops + 0.05,
        ms: round(med(times[i])), bpMs: round(bpMs), path: tr.path,
      };
      if (v.mode === 'normative') {
        const svdTimes: number[] = [];
        for (let k = 0; k < 3; k++) {
          const t0 = performance.now();
          tr.rule.afterStep(svdEvery); // a step at which it re-factorises
          svdTimes.push(performance.now() - t0);
        }
        const svdMs = med(svdTimes);
        row.svd = { ms: round(svdMs), every: svdEvery, shareOfTraining: round(svdMs / (svdMs + svdEvery * med(times[i]))) };
      }
      rows.push(row);
      log(`ldfaVsBp ${m.model} ${v.mode} r=${v.rank}: wall ${row.wallRatio} × BP (FLOPs ${row.flopRatio}; with SVD ${row.flopRatioWithSvd})${row.svd ? `, SVD ${row.svd.ms} ms every ${svdEvery} steps = ${(100 * row.svd.shareOfTraining).toFixed(1)} % of training` : ''}`);
    });
  }
  return rows;
}

// ---- sgemmPeak: each GEMM shape of the MLP steps at 1 and 2 threads, and the step's fraction of it ----

export interface GemmShape { M: number; N: number; K: number; transA: boolean; transB: boolean; what: string }

/** The GEMMs of one BP step of an MLP (batch N, widths w₀ … w_L): forward, input gradient (but the first layer's), weight gradient. */
export function mlpGemms(widths: readonly number[], N: number): GemmShape[] {
  const out: GemmShape[] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const [i, o] = [widths[l], widths[l + 1]];
    out.push({ M: N, N: o, K: i, transA: false, transB: true, what: `fc${l + 1} forward y = x·Wᵀ` });
    out.push({ M: o, N: i, K: N, transA: true, transB: false, what: `fc${l + 1} dW = dyᵀ·x` });
    if (l > 0) out.push({ M: N, N: i, K: o, transA: false, transB: false, what: `fc${l + 1} dx = dy·W` });
  }
  return out;
}

export interface SgemmPeakRow { model: string; shapes: (GemmShape & { gflops1: number; gflops2: number })[];
  /** The step's GEMM FLOPs over the time they take at each shape's best thread count. */
  peakGflops: number; stepMs: number; stepGflops: number; fractionOfPeak: number; core: string }

/** Best-of-reps GFLOP/s of one shape at a pinned thread count. */
function gemmGflops(blas: NativeBlas, s: GemmShape, threads: number): number {
  const A = new Float32Array(s.M * s.K).map((_, i) => ((i * 7919) % 13) / 13 - 0.5), B = new Float32Array(s.K * s.N).map((_, i) => ((i * 104729) % 17) / 17 - 0.5);
  const C = new Float32Array(s.M * s.N);
  blas.pinThreads(threads);
  try {
    blas.sgemm(s.transA, s.transB, s.M, s.N, s.K, A, B, C);
    let best = Infinity;
    const start = performance.now();
    for (let r = 0; r < 30 && (r < 5 || performance.now() - start < 1000); r++) {
      const t0 = performance.now();
      blas.sgemm(s.transA, s.transB, s.M, s.N, s.K, A, B, C);
      best = Math.min(best, performance.now() - t0);
    }
    return (2 * s.M * s.N * s.K) / (best / 1000) / 1e9;
  } finally {
    blas.pinThreads(0);
  }
}

/** Per model: every GEMM shape's peak (1 and 2 threads), and the BP step's achieved fraction of it (median of interleaved steps). */
export const SGEMM_PEAK_MODELS = [{ widths: [784, 1024, 1024, 10], batch: 128 }, { widths: [784, 256, 256, 10], batch: 64 }];

export function benchSgemmPeak(backendName: string, models = SGEMM_PEAK_MODELS): SgemmPeakRow[] {
  const blas = createNativeBlas();
  return models.map(({ widths, batch }) => {
    const shapes = mlpGemms(widths, batch).map((s) => ({ ...s, gflops1: round(gemmGflops(blas, s, 1)), gflops2: round(gemmGflops(blas, s, 2)) }));
    const flops = shapes.reduce((a, s) => a + 2 * s.M * s.N * s.K, 0);
    const idealS = shapes.reduce((a, s) => a + (2 * s.M * s.N * s.K) / (Math.max(s.gflops1, s.gflops2) * 1e9), 0);
    const side = Math.sqrt(widths[0]);
    const m: LdfaVsBpModel = { model: '', config: { ...DEFAULT_CONFIG, arch: 'mlp', hidden: widths.slice(1, -1), batch, backend: backendName }, input: [1, side, side], classes: widths[widths.length - 1] };
    const { x, y } = modelBatch(m);
    const trainer = createTrainer(m.config, m.input, m.classes);
    const times: number[] = [];
    for (let k = 0; k < 25; k++) { const t0 = performance.now(); trainer.step(x, y); if (k >= 3) times.push(performance.now() - t0); }
    const stepMs = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
    const row: SgemmPeakRow = {
      model: `mlp ${widths.join('-')}, batch ${batch}`, shapes, peakGflops: round(flops / idealS / 1e9), stepMs: round(stepMs),
      stepGflops: round(flops / (stepMs / 1000) / 1e9), fractionOfPeak: round((idealS * 1000) / stepMs), core: blas.core.core,
    };
    log(`sgemmPeak ${row.model}: step ${row.stepMs} ms = ${row.stepGflops} GFLOP/s, ${(100 * row.fractionOfPeak).toFixed(0)} % of the shapes' peak ${row.peakGflops} GFLOP/s (core ${row.core})`);
    return row;
  });
}

// ---- stepProfile: where the time of the MLP 1024 step goes, kernel by kernel ----

export interface StepProfileRow {
  rule: string; stepMs: number;
  /** The native calls, by kind (sgemm by transposition and M×N×K), ms per step and calls per step, largest first. */
  parts: { what: string; ms: number; calls: number }[];
  /** The sgemm calls' share of the step, and the time outside every native call (JavaScript, allocation). */
  gemmMs: number; gemmShare: number; otherMs: number;
}

/**
 * BP and each LDFA mode at r = 10 on the MLP 784-1024-1024-10, batch 128 (or other widths): `steps` trainer steps
 * each with every native call timed (sgemm, Adam and the addon's kernels, by wrapping the native
 * BLAS object's entries for the duration; restored after). The calls are synchronous, so their
 * times add up; what is left of the step is the JavaScript around them.
 */
export function benchStepProfile(steps = 150, hidden = [1024, 1024], batch = 128): StepProfileRow[] {
  const blas = createNativeBlas() as { -readonly [K in keyof NativeBlas]: NativeBlas[K] };
  const original = { sgemm: blas.sgemm, adam: blas.adam, kernels: blas.kernels };
  const spent = new Map<string, { ms: number; calls: number }>();
  const timed = <A extends unknown[], R>(what: (args: A) => string, f: (...args: A) => R) => (...args: A): R => {
    const t0 = performance.now();
    try { return f(...args); } finally {
      const key = what(args), s = spent.get(key) ?? { ms: 0, calls: 0 };
      s.ms += performance.now() - t0; s.calls++;
      spent.set(key, s);
    }
  };
  blas.sgemm = timed(([ta, tb, M, N, K]) => `sgemm ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'} ${M}×${N}×${K}`, original.sgemm);
  blas.adam = timed(() => 'adam', original.adam);
  const kernels: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(original.kernels)) {
    const f = (original.kernels as unknown as Record<string, unknown>)[name];
    kernels[name] = typeof f === 'function' ? timed(() => name, (f as (...a: unknown[]) => unknown).bind(original.kernels)) : f;
  }
  blas.kernels = kernels as unknown as LayerKernels;
  try {
    const backend = createNativeBackend(); // carries the timed kernels to the float32 layers
    return withBackend(backend, () => ['bp', ...LDFA_MODES].map((rule) => {
      const m: LdfaVsBpModel = { model: '', config: { ...DEFAULT_CONFIG, arch: 'mlp', hidden, batch, backend: 'native', ...(rule === 'bp' ? { rule: 'bp' } : { rule: 'ldfa', feedback: rule as TrainConfig['feedback'], rank: 10, svdEvery: 0 }) } as TrainConfig, input: [1, 28, 28], classes: 10 };
      const { x, y } = modelBatch(m);
      const trainer = createTrainer(m.config, m.input, m.classes);
      for (let k = 0; k < 10; k++) trainer.step(x, y);
      spent.clear();
      const t0 = performance.now();
      for (let k = 0; k < steps; k++) trainer.step(x, y);
      const stepMs = (performance.now() - t0) / steps;
      const parts = [...spent].map(([what, s]) => ({ what, ms: round(s.ms / steps), calls: round(s.calls / steps) })).sort((a, b) => b.ms - a.ms);
      const gemmMs = parts.filter((p) => p.what.startsWith('sgemm')).reduce((a, p) => a + p.ms, 0);
      const row: StepProfileRow = {
        rule: rule === 'bp' ? 'bp' : `ldfa ${rule} r=10`, stepMs: round(stepMs), parts, gemmMs: round(gemmMs), gemmShare: round(gemmMs / stepMs),
        otherMs: round(stepMs - parts.reduce((a, p) => a + p.ms, 0)),
      };
      log(`stepProfile ${row.rule}: ${row.stepMs} ms, sgemm ${row.gemmMs} ms (${(100 * row.gemmShare).toFixed(0)} %), ${parts.filter((p) => !p.what.startsWith('sgemm')).slice(0, 4).map((p) => `${p.what} ${p.ms}`).join(', ')}, outside native calls ${row.otherMs} ms`);
      return row;
    }));
  } finally {
    Object.assign(blas, original);
  }
}

// ---- main ----

const DEFAULT_BACKENDS: BackendName[] = ['reference', 'native', 'wasm', 'gpujs-webasm', 'gpujs-cpu', 'gpujs-headlessgl', 'gpujs-webgpu'];

export const BENCH_PARTS = ['matmul', 'conv', 'mlpStep', 'ldfaBackwardRatio', 'archStep', 'vsTorch', 'ldfaVsBp', 'sgemmPeak', 'stepProfile'] as const;
export type BenchPart = (typeof BENCH_PARTS)[number];

/** `--backends a,b` (or `--backend a`) and `--only part,part`, checked against what is allowed. */
export function parseBenchArgs(argv: readonly string[]): { names: BackendName[]; parts: BenchPart[] } {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    if (i < 0) return null;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v.split(',').filter(Boolean);
  };
  const names = value('--backends') ?? value('--backend') ?? DEFAULT_BACKENDS;
  for (const n of names) if (!isBackendName(n)) throw new Error(`unknown backend '${n}': allowed are ${BACKEND_NAMES.join(', ')}`);
  const parts = value('--only') ?? [...BENCH_PARTS];
  for (const p of parts) {
    if (!(BENCH_PARTS as readonly string[]).includes(p)) throw new Error(`--only '${p}' is not allowed: allowed are ${BENCH_PARTS.join(', ')}`);
  }
  return { names: names as BackendName[], parts: parts as BenchPart[] };
}

async function main(): Promise<void> {
  const { names, parts } = parseBenchArgs(process.argv.slice(2));
  const runs = (part: BenchPart) => parts.includes(part);
  const backends: Backend[] = [];
  const unavailable: { backend: string; reason: string }[] = [];
  for (const name of names) {
    try {
      const be = await createBackend(name);
      backends.push(be);
      log(`${name}: ${be.kernelInfo()}`);
    } catch (e) {
      unavailable.push({ backend: name, reason: (e as Error).message });
      log(`${name}: unavailable (${(e as Error).message.split('. Set-up needed')[0]})`);
    }
  }
  const auto = await createBackend('auto');
  log(auto.kernelInfo());
  const mlpStep = runs('mlpStep') ? benchMlpStep([...backends, { ...auto, name: 'auto' }]) : undefined;
  const layerRatios = runs('ldfaBackwardRatio') ? benchLdfaBackwardRatio(backends) : undefined;
  const modelRatio = runs('ldfaBackwardRatio') ? benchModelBackwardRatio({ ...auto, name: 'auto' }) : undefined;
  const archBackends = [backends.find((b) => b.name === 'wasm') ?? await createBackend('wasm'), { ...auto, name: 'auto' }];
  const archStep = runs('archStep') ? benchArchStep(archBackends) : undefined;
  const torchMissing = runs('vsTorch') ? torchUnavailable() : null;
  if (torchMissing !== null) log(`vsTorch skipped: ${torchMissing}`);
  setBackend(auto);
  const vsTorch = runs('vsTorch') && torchMissing === null ? benchVsTorch('auto') : undefined;
  const nativeHere = nativeCore() !== null;
  if (nativeHere) setBackend(await createBackend('native'));
  const ldfaVsBp = runs('ldfaVsBp') ? benchLdfaVsBp(nativeHere ? 'native' : 'auto') : undefined;
  const sgemmPeak = runs('sgemmPeak') && nativeHere ? benchSgemmPeak('native') : undefined;
  const stepProfile = runs('stepProfile') && nativeHere ? benchStepProfile() : undefined;
  setBackend(referenceBackend);
  let blasCore: unknown = null;
  try { blasCore = createNativeBlas().core; } catch (e) { blasCore = { unavailable: (e as Error).message }; }
  const bpMs = (backend: string) => mlpStep?.find((r) => r.backend === backend && r.rule === 'bp')?.ms;
  const refMs = bpMs('reference'), autoMs = bpMs('auto');
  const result = {
    machine: machine(),
    note: 'matmul and conv: medians through the Backend interface with float64 tensors (float32 backends convert); mlpStep, archStep, vsTorch: whole trainer steps, on the float32 path (src/fast/) on float32 backends where the model allows it; compare ratios within this run',
    ...(parts.length < BENCH_PARTS.length ? { parts } : {}),
    backends: backends.map((b) => ({ name: b.name, precision: b.precision, kernel: b.kernelInfo() })),
    unavailable,
    auto: auto.kernelInfo(),
    blasCore,
    loadAverage: os.loadavg().map((x) => round(x)),
    ...(runs('matmul') ? { matmul: benchMatmul(backends) } : {}),
    ...(runs('conv') ? { conv: benchConv(backends) } : {}),
    ...(modelRatio && layerRatios ? {
      ldfaBackwardRatio: {
        meaning: 'value = model.ratio: median time of the whole MLP 784-1024-1024-10 backward pass (model.backward, batch 128) under LDFA r=10 divided by BP\'s, on the auto backend, interleaved repetitions; issue target ≤ 0.6. model.stepRatio: the same for the whole training step. layer: one 1024×1024 linear layer, batch 128, per backend: inputGradientRatio = t(dx via P̂, Q̂) / t(dx via W), fullLinearBackwardRatio = t(dW + db + dx) LDFA / BP.',
        value: modelRatio.backwardRatio,
        model: modelRatio,
        layer: layerRatios,
      },
    } : {}),
    ...(mlpStep ? {
      mlpStep,
      mlpStepNote: 'mlpStep rows: median ms of one trainer.step (forward + loss + backward + feedback learning + Adam) of the MLP 784-1024-1024-10, batch 128, per backend (setBackend) and rule; backend "auto" is what --backend auto picks. ldfa normative uses feedbackInit random (the SVD init of a 1024×1024 W takes minutes in reference/linalg.ts; a step costs the same). The reference and gpu.js steps take seconds: 2 timed steps only (see reps, note).',
      autoSpeedupNote: 'autoSpeedupOverReference = mlpStep ms of reference / of auto, rule bp (issue target ≥ 5)',
      autoSpeedupOverReference: refMs !== undefined && autoMs !== undefined ? round(refMs / autoMs) : null,
    } : {}),
    ...(archStep ? {
      archStep,
      archStepNote: 'archStep rows: median ms of one trainer.step (BP, the quick recipes\' cnn and vit models, batch 64, MNIST-sized input), wasm on the float64 path (the auto backend before the native backend and the float32 path) and auto interleaved step by step; speedupOverWasm = ms on wasm / ms on auto (issue target ≥ 3). path: float32 = the float32 training path (src/fast/), float64 = the Backend interface with float64 tensors.',
      archStepSpeedupOverWasm: Object.fromEntries([...new Set(archStep.map((r) => r.arch))].map((arch) => {
        const ms = (b: string) => archStep.find((r) => r.arch === arch && r.backend === b)!.ms;
        return [arch, round(ms('wasm') / ms('auto'))];
      })),
    } : {}),
    ...(ldfaVsBp ? {
      ldfaVsBp: {
        meaning: 'per model, mode and rank: wallRatio = median over repetitions of t(LDFA step) / t(the BP step taken right before or after it) (trainer.step on the native backend, or auto where native is missing; each timed step right after an untimed step of the same trainer, as in training); flopRatio = FLOPs of the step with the rule\'s own update (src/flops.ts total.withRule) / BP\'s, without re-factorisation (the stepped trainers do not re-factorise); flopRatioWithSvd adds the SVD re-factorisation amortised at the recipe\'s schedule (svd.every); svd.ms: one re-factorisation of every layer, svd.shareOfTraining its share of training time at that schedule. Target (issue 21): on the MLP 1024 at r = 10, every mode\'s wallRatio ≤ flopRatio + 0.05 (withinFlops).',
        rows: ldfaVsBp,
        mlp1024AtRank10WithinFlops: ldfaVsBp.filter((r) => r.model.startsWith('mlp 784-1024') && r.rank === 10).every((r) => r.withinFlops),
      },
    } : {}),
    ...(sgemmPeak ? {
      sgemmPeak: {
        meaning: 'per MLP: each GEMM of its BP step at 1 and 2 threads (cblas_sgemm, best of up to 30 calls, threads pinned), peakGflops = the step\'s GEMM FLOPs / their time at each shape\'s faster thread count; stepGflops = those FLOPs / the median BP trainer.step time (Adam, batch of random images); fractionOfPeak = the time the GEMMs alone would take at peak / the step time (issue 21 target ≥ 0.5 for the MLP 1024).',
        rows: sgemmPeak,
      },
    } : {}),
    ...(stepProfile ? {
      stepProfile: {
        meaning: 'where the time of one trainer.step of the MLP 784-1024-1024-10 (batch 128, Adam, native backend) goes, for BP and each LDFA mode at r = 10: every native call timed (ms and calls per step, largest first); gemmShare = the sgemm calls\' share of the step; otherMs = the step\'s time outside every native call (JavaScript). The calls are timed one by one, which adds a little to each step.',
        rows: stepProfile,
      },
    } : {}),
    ...(runs('vsTorch') ? {
      vsTorch: vsTorch ? {
        meaning: 'samples/s of one shuffled pass over random MNIST-sized images (784 inputs, 10 classes), BP, Adam lr 1e-3, cross-entropy, ReLU MLP with bias: ours (ldfa trainer on auto) and PyTorch (bench/torch_mlp.py, torch.set_num_threads 1 and 2), interleaved in rounds; ratio = median ours / PyTorch at its faster thread count (issue target ≥ 0.33 for both models).',
        torch: vsTorch.torch, python: TORCH_PYTHON, rows: vsTorch.rows,
      } : { skipped: torchMissing },
    } : {}),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(() => process.exit(0), (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
