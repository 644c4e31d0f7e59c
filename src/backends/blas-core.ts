// Which OpenBLAS kernel set ("core") the native backend runs on, chosen and verified at load.
//
// OpenBLAS (a DYNAMIC_ARCH build such as Debian's) picks its kernels at load time from the CPU,
// and on some processors it falls back to a generic core although the CPU and the OS support
// a much faster one (on a machine of this project's kind: "Prescott", 30 GFLOP/s, where the
// AVX-512 "Cooperlake" kernels give 130). The build string openblas_get_config() prints names
// the build target, not the kernels in use; openblas_get_corename() names those.
//
// The choice, in order:
//   1. OPENBLAS_CORETYPE set in the environment: respected, never overridden (some machines set it
//      on purpose, because older OpenBLAS builds compute wrong results or crash on their processor).
//   2. LDFA_BLAS_CORE=default: OpenBLAS's own detection, as loaded.
//      LDFA_BLAS_CORE=<Name> (e.g. Haswell): that core, if it passes the self-test (else an error).
//   3. Otherwise (LDFA_BLAS_CORE unset or 'auto'): OpenBLAS's detection, unless it picked a core
//      of a lower instruction-set level than the CPU supports (/proc/cpuinfo flags, which the
//      kernel clears for features the OS does not enable); then each faster core the CPU
//      supports is tried, best first, in a child process running the self-test
//      (native/core-self-test.cjs: sgemm in every transposed form against a float64
//      recomputation, edge sizes, threaded), and the first that passes is adopted.
// Whatever runs is then self-tested in this process too; a core that fails is refused (the
// native backend reports itself unavailable, and `auto` picks another backend).
//
// Deterministic: the choice depends only on the CPU, the library and the environment, never on
// timing or load. The adopted core is exported to child processes (OPENBLAS_CORETYPE, with
// LDFA_BLAS_CORE_CHOICE saying how it was chosen), so sweep workers and PyTorch in the bench
// run the same kernels.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../package-root.ts';

/** The x86-64 cores of OpenBLAS's DYNAMIC_ARCH by the instruction-set level their kernels need. */
const CORE_LEVEL: Record<string, number> = {
  cooperlake: 5, // AVX-512 with BF16
  skylakex: 4, // AVX-512 F/BW/DQ/VL
  haswell: 3, zen: 3, // AVX2 + FMA
  sandybridge: 2, bulldozer: 2, piledriver: 2, steamroller: 2, excavator: 2, // AVX
};
/** The cores tried, fastest first, and the CPU flags each needs. */
const CANDIDATES: { core: string; flags: string[] }[] = [
  { core: 'Cooperlake', flags: ['avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512_bf16'] },
  { core: 'SkylakeX', flags: ['avx512f', 'avx512bw', 'avx512dq', 'avx512vl'] },
  { core: 'Haswell', flags: ['avx2', 'fma'] },
  { core: 'Sandybridge', flags: ['avx'] },
];

export function coreLevel(core: string): number {
  return CORE_LEVEL[core.toLowerCase()] ?? 1;
}

/** The faster cores this CPU supports than `current`, fastest first. */
export function fasterCores(current: string, cpuFlags: ReadonlySet<string>): string[] {
  return CANDIDATES.filter((c) => c.flags.every((f) => cpuFlags.has(f)) && coreLevel(c.core) > coreLevel(current)).map((c) => c.core);
}

/** The CPU's feature flags (Linux /proc/cpuinfo); empty elsewhere, so nothing is tried there. */
export function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

export interface SelfTestResult { passed: boolean; worst: number; checked: number; failure?: string }

/** How the core in use was chosen, for kernelInfo, result JSON and bench rows. */
export interface CoreChoice {
  /** openblas_get_corename() of the kernels in use. */
  core: string;
  /** environment | forced | default | adopted (see the header). */
  source: 'environment' | 'forced' | 'default' | 'adopted';
  /** OpenBLAS's own pick where it was loaded first (auto). */
  detected?: string;
  /** The children's verdicts on the cores tried. */
  tried: { core: string; passed: boolean; detail: string }[];
  /** This process's self-test of the core in use. */
  selfTest?: SelfTestResult;
}

export function describeChoice(c: CoreChoice): string {
  const how = {
    environment: `OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE} set in the environment, respected`,
    forced: `forced by LDFA_BLAS_CORE=${c.core}`,
    default: 'OpenBLAS\'s own detection',
    adopted: `adopted over OpenBLAS's ${c.detected} after passing the self-test in a child process`,
  }[c.source];
  const tried = c.tried.filter((t) => !t.passed).map((t) => `${t.core} rejected: ${t.detail}`);
  const test = c.selfTest ? `, self-test ${c.selfTest.passed ? 'passed' : 'FAILED'} (${c.selfTest.checked} products, worst error ${c.selfTest.worst.toFixed(2)} of the rounding bound)` : '';
  return `core ${c.core} (${how}${tried.length ? `; ${tried.join('; ')}` : ''})${test}`;
}

/** The addon functions the choice needs. */
export interface CoreAddon {
  load(paths: string[]): { library: string; config: string; core: string; threads: number };
  unload(): void;
  sgemm(...args: unknown[]): void;
  setThreads(n: number): void;
  getThreads(): number;
}

const selfTestModule = (): { selfTest(addon: CoreAddon, maxThreads: number): SelfTestResult } =>
  createRequire(import.meta.url)(join(packageRoot(), 'native', 'core-self-test.cjs'));

/** Runs the self-test of `core` in a child process (a crashing kernel takes only the child down). */
export function selfTestInChild(core: string, libraries: readonly string[]): { passed: boolean; detail: string } {
  const script = join(packageRoot(), 'native', 'core-self-test.cjs');
  if (!existsSync(script)) return { passed: false, detail: `${script} is missing` };
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_CORETYPE: core };
  delete env.OPENBLAS_VERBOSE;
  delete env.LDFA_BLAS_CORE_CHOICE;
  const r = spawnSync(process.execPath, [script, JSON.stringify(libraries)], { env, encoding: 'utf8', timeout: 60_000 });
  if (r.error) return { passed: false, detail: `the child could not run: ${r.error.message}` };
  if (r.signal) return { passed: false, detail: `the child crashed (${r.signal})` };
  let out: { core?: string; passed?: boolean; worst?: number; failure?: string; error?: string };
  try {
    out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return { passed: false, detail: `the child exited ${r.status} without a verdict: ${r.stderr.trim().split('\n').pop() ?? ''}` };
  }
  if (out.error) return { passed: false, detail: out.error };
  if (out.core?.toLowerCase() !== core.toLowerCase()) return { passed: false, detail: `OpenBLAS ran core ${out.core} when asked for ${core} (not a core this OpenBLAS knows, or not one this CPU can run)` };
  return out.passed ? { passed: true, detail: `worst error ${out.worst!.toFixed(2)} of the rounding bound` } : { passed: false, detail: `self-test failed: ${out.failure}` };
}

export interface ChooseOptions {
  env?: NodeJS.ProcessEnv;
  flags?: ReadonlySet<string>;
  /** Replaceable for tests. */
  tryCore?: (core: string, libraries: readonly string[]) => { passed: boolean; detail: string };
}

/**
 * Loads the BLAS library with the core chosen as in the header, self-tests it in this process
 * and returns what was loaded with the choice. Throws when the core in use fails its self-test.
 */
export function loadWithVerifiedCore(addon: CoreAddon, libraries: string[], options: ChooseOptions = {}): { loaded: ReturnType<CoreAddon['load']>; choice: CoreChoice } {
  const env = options.env ?? process.env;
  const tryCore = options.tryCore ?? selfTestInChild;
  const request = env.LDFA_BLAS_CORE ?? 'auto';
  const inherited = parseInheritedChoice(env);
  let choice: CoreChoice;
  let loaded: ReturnType<CoreAddon['load']>;
  if (env.OPENBLAS_CORETYPE && inherited === null) {
    loaded = addon.load(libraries);
    choice = { core: loaded.core, source: 'environment', tried: [] };
  } else if (inherited !== null) {
    loaded = addon.load(libraries); // the parent's verified choice, exported to this child
    choice = { ...inherited, core: loaded.core };
  } else if (request === 'default') {
    loaded = addon.load(libraries);
    choice = { core: loaded.core, source: 'default', detected: loaded.core, tried: [] };
  } else if (request !== 'auto') {
    const verdict = tryCore(request, libraries);
    if (!verdict.passed) throw new Error(`LDFA_BLAS_CORE=${request}: that core is refused: ${verdict.detail}`);
    loaded = loadAs(addon, libraries, request, env);
    choice = { core: loaded.core, source: 'forced', tried: [{ core: request, ...verdict }] };
  } else {
    loaded = addon.load(libraries);
    const detected = loaded.core;
    const tried: CoreChoice['tried'] = [];
    let adopted: string | null = null;
    for (const core of fasterCores(detected, options.flags ?? cpuFlags())) {
      const verdict = tryCore(core, libraries);
      tried.push({ core, ...verdict });
      if (verdict.passed) { adopted = core; break; }
    }
    if (adopted !== null) {
      addon.unload();
      loaded = loadAs(addon, libraries, adopted, env);
      choice = { core: loaded.core, source: 'adopted', detected, tried };
    } else {
      choice = { core: detected, source: 'default', detected, tried };
    }
  }
  if (choice.source !== 'environment' && inherited === null) {
    env.OPENBLAS_CORETYPE = choice.core;
    env.LDFA_BLAS_CORE_CHOICE = JSON.stringify({ source: choice.source, detected: choice.detected, tried: choice.tried });
  }
  choice.selfTest = selfTestModule().selfTest(addon, Math.max(1, loaded.threads));
  if (!choice.selfTest.passed) {
    addon.unload();
    throw new Error(`the BLAS kernels in use (${describeChoice(choice)}) fail the self-test: ${choice.selfTest.failure}; set OPENBLAS_CORETYPE to a core that passes (e.g. Haswell) or LDFA_BLAS_CORE=default`);
  }
  return { loaded, choice };
}

/** Sets OPENBLAS_CORETYPE (read by OpenBLAS when it is loaded) and loads the library with that core. */
function loadAs(addon: CoreAddon, libraries: string[], core: string, env: NodeJS.ProcessEnv): ReturnType<CoreAddon['load']> {
  const saved = process.env.OPENBLAS_CORETYPE;
  process.env.OPENBLAS_CORETYPE = core; // the C environment OpenBLAS reads at load
  try {
    const loaded = addon.load(libraries);
    if (loaded.core.toLowerCase() !== core.toLowerCase()) throw new Error(`OpenBLAS loaded core ${loaded.core} when asked for ${core}`);
    return loaded;
  } finally {
    if (env !== process.env) {
      if (saved === undefined) delete process.env.OPENBLAS_CORETYPE; else process.env.OPENBLAS_CORETYPE = saved;
    }
  }
}

/** A choice exported by a parent process (its OPENBLAS_CORETYPE is then that choice, not the user's). */
function parseInheritedChoice(env: NodeJS.ProcessEnv): Omit<CoreChoice, 'core'> | null {
  if (!env.LDFA_BLAS_CORE_CHOICE || !env.OPENBLAS_CORETYPE) return null;
  try {
    const c = JSON.parse(env.LDFA_BLAS_CORE_CHOICE) as Omit<CoreChoice, 'core'>;
    return { source: c.source, detected: c.detected, tried: c.tried ?? [] };
  } catch {
    return null;
  }
}
