// The python3 that runs the PyTorch adapter, found through the bench's probe torchUnavailable()
// (bench/run.ts), so LDFA_HIDE=torch hides it and LDFA_REQUIRE=torch demands it.
import { TORCH_PYTHON, torchUnavailable } from '../../bench/run.ts';
import { requiredHere } from './backends.ts';

/** The first python3 that imports torch (the one on PATH, or Debian's), or null with the reason logged. */
export function torchPythonOrSkip(suite: string): string | null {
  const probes = ['python3', TORCH_PYTHON].map((python) => ({ python, missing: torchUnavailable(python) }));
  const found = probes.find((p) => p.missing === null);
  if (found) return found.python;
  const why = probes.map((p) => p.missing).join('; ');
  if (requiredHere('torch')) throw new Error(`torch is required here (LDFA_REQUIRE=${process.env.LDFA_REQUIRE}) but ${why}`);
  console.warn(`${suite}: skipping the PyTorch adapter: ${why}`);
  return null;
}
