// LDFA_HIDE: the optional components' probes report the named ones unavailable, so that a
// machine that has them installed behaves as one without them (a new user's bare machine):
//   LDFA_HIDE=native,gl,chromium,torch,fashion npm test
// The probes: createNativeBlas() (src/backends/native.ts), gpu.js's 'headlessgl' and 'gpu'
// modes (src/backends/gpujs.ts), chromiumMissing() (src/web/chromium.ts), torchUnavailable()
// (bench/run.ts) and fashionMnistMissing() (src/data/fashion.ts). The CLI, the benchmarks and
// the tests all ask these, so a hidden component takes the same path as an absent one.
// Browser-safe (gpujs.ts is in the web app's bundle): no Node imports, `process` may not exist.

/** Each component LDFA_HIDE may name, and what hiding it stands for. */
export const HIDEABLE = {
  native: 'the native backend (as if no CBLAS library loaded)',
  gl: "gpu.js's headless-gl kernels (as if the 'gl' addon or the X display were missing)",
  chromium: "the web app's browser tests and page benchmark (as if chromium were not installed)",
  torch: 'PyTorch (as if python3-torch were not installed)',
  fashion: "Fashion-MNIST's Debian package directory (as if dataset-fashion-mnist were not installed)",
} as const;
export type Hideable = keyof typeof HIDEABLE;

const HIDEABLE_NAMES = Object.keys(HIDEABLE) as Hideable[];

function hideVariable(): string {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.LDFA_HIDE ?? '';
}

/** The components LDFA_HIDE names; an unknown name throws, naming the allowed ones. */
export function hiddenComponents(value = hideVariable()): Set<Hideable> {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of names) {
    if (!(HIDEABLE_NAMES as string[]).includes(name)) {
      throw new Error(`LDFA_HIDE names '${name}', which is not a component: allowed are ${HIDEABLE_NAMES.join(', ')} (comma-separated)`);
    }
  }
  return new Set(names as Hideable[]);
}

/** Why `component` counts as unavailable because LDFA_HIDE hides it, or null when it is not hidden. */
export function hiddenReason(component: Hideable): string | null {
  return hiddenComponents().has(component) ? `hidden by LDFA_HIDE=${hideVariable()}` : null;
}
