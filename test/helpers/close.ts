// Tolerant comparison in the style of llm.c's validate_result: an element passes when
// |actual − expected| ≤ atol + rtol·|expected|. On failure the message lists the first
// mismatches and the largest absolute difference, so a failing test says where and by how much.
import { expect } from 'vitest';

export interface Tolerance { atol: number; rtol: number }

export const FLOAT64_EXACT: Tolerance = { atol: 1e-12, rtol: 1e-12 };
export const FLOAT32: Tolerance = { atol: 1e-5, rtol: 1e-4 };

export function compareArrays(
  name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, showFirst = 5,
): { ok: boolean; message: string; maxAbsDiff: number } {
  if (actual.length !== expected.length) {
    return { ok: false, message: `${name}: length ${actual.length} but ${expected.length} expected`, maxAbsDiff: Infinity };
  }
  let maxAbsDiff = 0, maxAt = -1, bad = 0;
  const lines: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    const pass = diff <= tol.atol + tol.rtol * Math.abs(expected[i]) || (Number.isNaN(diff) && Number.isNaN(actual[i]) && Number.isNaN(expected[i]));
    if (!(diff <= maxAbsDiff) || Number.isNaN(diff)) { maxAbsDiff = Number.isNaN(diff) ? Infinity : diff; maxAt = i; }
    if (!pass) {
      bad++;
      if (lines.length < showFirst) lines.push(`  [${i}] actual ${actual[i]} expected ${expected[i]} diff ${diff.toExponential(3)}`);
    }
  }
  const message = bad === 0
    ? `${name}: OK (max |diff| ${maxAbsDiff.toExponential(3)})`
    : `${name}: ${bad} of ${expected.length} values outside atol ${tol.atol} + rtol ${tol.rtol}·|ref|; first mismatches:\n${lines.join('\n')}\n  max |diff| ${maxAbsDiff.toExponential(3)} at [${maxAt}]`;
  return { ok: bad === 0, message, maxAbsDiff };
}

export function expectClose(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance = FLOAT64_EXACT): void {
  const result = compareArrays(name, actual, expected, tol);
  if (!result.ok) expect.fail(result.message);
}
