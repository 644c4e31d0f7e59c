// ndarray-ops against the explicit loops of reference/tensor.ts, for the elementwise helpers it
// could replace (a += b, a *= s, ‖a‖₂). `tsx bench/ndarray-ops.ts` prints JSON: per size, the
// median time per call of each, measured interleaved (loop, ops, loop, ops, …) so machine noise
// hits both alike, and ops/loop. ndarray-ops compiles each operation on first use (new Function)
// and then dispatches on the arrays' dtype and layout on every call: that is the per-call cost.
import ops from 'ndarray-ops';
import { machine } from './run.ts';
import { Rng, uniformTensor } from '../reference/rng.ts';
import type { Tensor } from '../reference/tensor.ts';

const loops = {
  addeq(a: Tensor, b: Tensor) { const x = a.data, y = b.data; for (let i = 0; i < x.length; i++) x[i] += y[i]; },
  mulseq(a: Tensor, s: number) { const x = a.data; for (let i = 0; i < x.length; i++) x[i] *= s; },
  norm2(a: Tensor) { let s = 0; for (const v of a.data) s += v * v; return Math.sqrt(s); },
};

function perCallNs(fn: () => void, calls: number): number {
  const t0 = performance.now();
  for (let c = 0; c < calls; c++) fn();
  return ((performance.now() - t0) * 1e6) / calls;
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
const rng = new Rng(1);
const rows = [];
for (const size of [10, 256, 4096, 65536, 1 << 20]) {
  const a = uniformTensor(rng, [size], 1), b = uniformTensor(rng, [size], 1);
  const calls = Math.max(3, Math.round(2e7 / size));
  const pairs: Record<string, [() => void, () => void]> = {
    'a += b': [() => loops.addeq(a, b), () => ops.addeq(a, b)],
    'a *= s': [() => loops.mulseq(a, 1.0000001), () => ops.mulseq(a, 1.0000001)],
    '‖a‖₂': [() => loops.norm2(a), () => ops.norm2(a)],
  };
  for (const [op, [loop, nd]] of Object.entries(pairs)) {
    const loopNs: number[] = [], opsNs: number[] = [];
    for (let rep = 0; rep < 7; rep++) {
      loopNs.push(perCallNs(loop, calls));
      opsNs.push(perCallNs(nd, calls));
    }
    const l = median(loopNs.slice(1)), o = median(opsNs.slice(1)); // the first round is warm-up
    rows.push({ op, size, loopNs: +l.toPrecision(3), opsNs: +o.toPrecision(3), opsOverLoop: +(o / l).toPrecision(3) });
  }
}
process.stdout.write(`${JSON.stringify({ machine: machine(), rows }, null, 2)}\n`);
