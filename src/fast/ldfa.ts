// LDFA's own work on the float32 path: the kernels of reference/rules/ldfa.ts (`LdfaKernels`,
// the truth) with the same signatures, on float32 storage, their products through the backend
// (on the native one, cblas_sgemm on the arrays where they lie, with α and β doing the additions):
//
//   normative   gP̂ = E·Q̂ᵀ, gQ̂ = P̂ᵀ·E with E = P̂Q̂ − W, reassociated so that E (out, in) is never
//               formed:  gP̂ = P̂·(Q̂Q̂ᵀ) − W·Q̂ᵀ,  gQ̂ = (P̂ᵀP̂)·Q̂ − P̂ᵀ·W   (sgemm with β = −1 for the
//               differences). The same math; 4·out·in·r + 4·r²·(in + out) FLOPs instead of 6·out·in·r,
//               and W is read twice instead of E being written and read three times (on the MLP 1024's
//               1024×1024 layer at r = 10: 1.5 ms instead of 6.0; up to rank 32 all of it one call to
//               the addon, normativeLowRank, W·Q̂ᵀ and P̂ᵀ·W in one pass over W: 0.4–0.5 ms); at high rank, where that costs more
//               FLOPs (r > out·in / (2·(in + out)), e.g. 'full'), E is formed as the reference does
//               (one sgemm with β = −1 on a copy of W). It rounds differently: the two
//               terms nearly cancel where P̂Q̂ ≈ W, so the error is float32 rounding of |W|·|Q̂|-sized
//               terms rather than of |E|·|Q̂| (test/fast-ldfa.test.ts bounds it).
//   oja         δ̃ the normalised batch error, in float32 (sums in float64, as the reference; a C loop
//               on the native backend)
//               u = δ̃·P̂ (S, r);  C·P̂ = δ̃ᵀ·u (out, r);  M = P̂ᵀ·(C·P̂) (r, r);
//               gP̂ = P̂·M − C·P̂   (one sgemm with β = −1)
//               The reference writes C·P̂ the same way, δ̃ᵀ(δ̃·P̂), never forming C = δ̃ᵀδ̃; both are
//               a reassociation of (δ̃ᵀδ̃)·P̂: equal in exact arithmetic, different in rounding
//               (test/fast-ldfa.test.ts bounds the difference against C formed explicitly).
//   oja's gQ̂ = zᵀ·x, z = δ·P̂, and the conv r-channel map z: float32 intermediates (`tensor`)
//   oja on a linear layer learning from its own error (ojaLinearGradients), fused on the addon:
//               δ̃ never formed, v = δ·P̂ serves as z and, shifted and scaled, as u; C·P̂ from δᵀ·u
//               (one call, ojaLinear: a statistics pass, v and u, then δᵀ·u and vᵀ·x in register tiles)
//   factorised  gP̂ = dW·Q̂ᵀ, gQ̂ = P̂ᵀ·dW. For a linear layer with a batch smaller than that
//               (N·(in + out) < out·in), through the batch dW = dyᵀ·x was formed from:
//               gP̂ = dyᵀ·(x·Q̂ᵀ), gQ̂ = (dy·P̂)ᵀ·x, 4·N·r·(in + out) FLOPs instead of 4·out·in·r
//               (the MLP 1024's 1024×1024 layer, batch 128: a quarter), up to rank 32 in one call to
//               the addon (factorisedLinear: both projections, then both sums over the samples, in
//               place of four thin sgemm calls). The same math reassociated;
//               it rounds differently (test/fast-ldfa.test.ts bounds it). Otherwise the reference's
//               two products, in one pass over dW up to rank 32 (lowRankSides), else two sgemm.
//   SVD init and re-factorisation (balancedFactors): the randomized SVD's products A·Ω, Aᵀ·Y,
//               A·Z, Yᵀ·A in float32 on the backend; the orthonormalisations (LAPACK QR) and the
//               small SVD (LAPACK dgesdd) in float64; the exact SVD by dgesdd in float64. The
//               random Ω is drawn exactly as the reference draws it, so the generator stays in step.
//               Where the sample covers the whole space (k = min(out, in), e.g. rank 'full'), the
//               randomized SVD is the exact one: computed so, without the power iterations.
//               Without LAPACK (not OpenBLAS), the reference's float64 SVD runs.
// The clamps: elementwise, on the addon for float32 storage (`clamp`, the reference loop's
// values). The feedback optimiser: native Adam on float32 (src/fast/optim.ts, chosen by the trainer).
// Any operand not in float32 storage falls back to the reference kernel.
import { ops } from '../../reference/backend.ts';
import { balancedFactors, type BalancedFactors, type SvdMethod } from '../../reference/linalg.ts';
import { normalTensor } from '../../reference/rng.ts';
import { errorNormalisation, referenceLdfaKernels, type LdfaKernels, type LdfaRule, type OjaNormalisation } from '../../reference/rules/ldfa.ts';
import type { Rule } from '../../reference/rules/rule.ts';
import { assertShape, tensor, type Tensor } from '../../reference/tensor.ts';
import type { NativeBlas } from '../backends/native.ts';
import { float32Tensor, float32View, isFloat32, storeAsFloat32 } from './float32.ts';

const f32 = (t: Tensor) => t.data as unknown as Float32Array;
const NORMALISATION_CODE: Record<OjaNormalisation, 0 | 1 | 2> = { 'max-std': 0, 'max-second-moment': 1, none: 2 };
const allFloat32 = (...ts: Tensor[]) => ts.every(isFloat32);

/** Whether normative's gradients are computed without forming E: when that takes fewer FLOPs (low rank). */
export function normativeReassociated(out: number, inn: number, r: number): boolean {
  return 4 * out * inn * r + 4 * r * r * (inn + out) < 6 * out * inn * r;
}

export function isLdfaRule(rule: Rule): rule is LdfaRule {
  return rule.name === 'ldfa' && typeof (rule as Partial<LdfaRule>).useKernels === 'function';
}

/**
 * Moves an LDFA rule's P̂, Q̂ and their gradients to float32 storage and gives it these float32
 * kernels (the ones it was created with, so that its SVD initialisation ran on them too);
 * returns false (and changes nothing) for any other rule.
 */
export function useFloat32Feedback(rule: Rule, kernels: LdfaKernels): boolean {
  if (!isLdfaRule(rule)) return false;
  for (const t of rule.feedbackStorage()) storeAsFloat32(t);
  rule.useKernels(kernels);
  return true;
}

/** The float32 kernels; `blas` (the native addon) adds α/β products and LAPACK, else ops() alone. */
export function float32LdfaKernels(blas: NativeBlas | null): LdfaKernels {
  const ref = referenceLdfaKernels;
  const scratch = workArrays();
  const asTensor = float32View;

  return {
    tensor: (shape) => float32Tensor(shape),

    /**
     * dx = (dy·P̂)·Q̂: up to rank 32, on the addon in one call (z = dy·P̂ and dx = z·Q̂ row by row,
     * two threads over the samples), else the reference's two products on the backend.
     */
    throughLowRank(P, Q) {
      const products = ref.throughLowRank(P, Q);
      const r = P.shape[1];
      if (!blas || r > LOW_RANK_SIDES_MAX_RANK || P.shape.length !== 2) return products;
      return (dx, dy) => {
        if (!allFloat32(dx, dy, P, Q) || dx.shape.length !== 2) return products(dx, dy);
        const [N, out] = dy.shape, inn = dx.shape[1];
        assertShape('feedback P', P, [out, r]);
        assertShape('feedback Q', Q, [r, inn]);
        blas.kernels.lowRankFeedback(f32(dx).subarray(dx.offset), f32(dy).subarray(dy.offset), f32(P), f32(Q), N, out, inn, r);
      };
    },

    /**
     * gP̂ = E·Q̂ᵀ = P̂·(Q̂Q̂ᵀ) − W·Q̂ᵀ,  gQ̂ = P̂ᵀ·E = (P̂ᵀP̂)·Q̂ − P̂ᵀ·W,  E = P̂Q̂ − W never formed.
     * P̂ (out, r), Q̂ (r, in), W (out, in); Q̂Q̂ᵀ, P̂ᵀP̂ (r, r).
     */
    normativeGradients(gP, gQ, P, Q, W) {
      if (!allFloat32(gP, gQ, P, Q, W)) return ref.normativeGradients(gP, gQ, P, Q, W);
      const [out, r] = P.shape, inn = Q.shape[1];
      if (!normativeReassociated(out, inn, r)) {
        // high rank: forming E is cheaper (6·out·in·r against 4·out·in·r + 4·r²·(in + out))
        const E = asTensor(scratch('E', out * inn), [out, inn]);
        f32(E).set(f32(W).subarray(0, out * inn));
        if (blas) blas.sgemm(false, false, out, inn, r, f32(P), f32(Q), f32(E), 1, -1);
        else {
          const PQ = float32Tensor([out, inn]);
          ops().matmul(PQ, P, Q);
          const e = f32(E), pq = f32(PQ);
          for (let i = 0; i < e.length; i++) e[i] = pq[i] - e[i];
        }
        ops().matmul(gP, E, Q, false, true);
        ops().matmul(gQ, P, E, true, false);
        return;
      }
      // up to rank 32, all of it in one call to the addon, W·Q̂ᵀ and P̂ᵀ·W in one pass over W
      if (blas && r <= LOW_RANK_SIDES_MAX_RANK) return blas.kernels.normativeLowRank(f32(gP), f32(gQ), f32(P), f32(Q), f32(W), out, inn, r);
      const QQ = asTensor(scratch('QQ', r * r), [r, r]), PP = asTensor(scratch('PP', r * r), [r, r]);
      ops().matmul(QQ, Q, Q, false, true);
      ops().matmul(PP, P, P, true, false);
      if (blas) {
        lowRankSides(blas, f32(gP), f32(gQ), f32(W), f32(P), f32(Q), out, inn, r); // W·Q̂ᵀ, P̂ᵀ·W (sgemm above rank 32)
        blas.sgemm(false, false, out, r, r, f32(P), f32(QQ), f32(gP), 1, -1); // P̂·(Q̂Q̂ᵀ) − W·Q̂ᵀ
        blas.sgemm(false, false, r, inn, r, f32(PP), f32(Q), f32(gQ), 1, -1); // (P̂ᵀP̂)·Q̂ − P̂ᵀ·W
        return;
      }
      const WQ = asTensor(scratch('WQ', out * r), [out, r]), PW = asTensor(scratch('PW', r * inn), [r, inn]);
      ops().matmul(WQ, W, Q, false, true);
      ops().matmul(gP, P, QQ);
      ops().matmul(PW, P, W, true, false);
      ops().matmul(gQ, PP, Q);
      const g1 = f32(gP), g2 = f32(gQ), wq = f32(WQ), pw = f32(PW);
      for (let i = 0; i < g1.length; i++) g1[i] -= wq[i];
      for (let i = 0; i < g2.length; i++) g2[i] -= pw[i];
    },

    /**
     * gP̂ = dW·Q̂ᵀ, gQ̂ = P̂ᵀ·dW; for a linear layer whose batch is smaller than that (N·(in + out)
     * < out·in), through the batch: gP̂ = dyᵀ·(x·Q̂ᵀ), gQ̂ = (dy·P̂)ᵀ·x; else in one pass over dW.
     */
    factorisedGradients(gP, gQ, P, Q, dW, batch) {
      if (!allFloat32(gP, gQ, P, Q, dW)) return ref.factorisedGradients(gP, gQ, P, Q, dW);
      const [out, r] = P.shape, inn = Q.shape[1];
      assertShape('factorised dW', dW, [out, inn]);
      if (batch && allFloat32(batch.dy, batch.x) && batch.dy.shape[0] * (inn + out) < out * inn) {
        const N = batch.dy.shape[0];
        assertShape('factorised dy', batch.dy, [N, out]);
        assertShape('factorised x', batch.x, [N, inn]);
        if (blas && r <= LOW_RANK_SIDES_MAX_RANK) {
          // one call: v = dy·P̂ and u = x·Q̂ᵀ, then uᵀ·dy and vᵀ·x as sums over the samples (native/src/layers.c)
          blas.kernels.factorisedLinear(f32(gP), f32(gQ), f32(P), f32(Q), f32(batch.dy).subarray(batch.dy.offset), f32(batch.x).subarray(batch.x.offset), N, out, inn, r);
          return;
        }
        const xQ = asTensor(scratch('xQ', N * r), [N, r]), dyP = asTensor(scratch('dyP', N * r), [N, r]);
        ops().matmul(xQ, batch.x, Q, false, true); // x·Q̂ᵀ (N, r)
        ops().matmul(gP, batch.dy, xQ, true, false); // dyᵀ·(x·Q̂ᵀ) (out, r)
        ops().matmul(dyP, batch.dy, P); // dy·P̂ (N, r)
        ops().matmul(gQ, dyP, batch.x, true, false); // (dy·P̂)ᵀ·x (r, in)
        return;
      }
      if (!blas) return ref.factorisedGradients(gP, gQ, P, Q, dW);
      lowRankSides(blas, f32(gP), f32(gQ), f32(dW).subarray(dW.offset), f32(P), f32(Q), out, inn, r);
    },

    /** gP̂ = P̂·(P̂ᵀ·C·P̂) − C·P̂ with C·P̂ = δ̃ᵀ(δ̃·P̂).   gP, P (out, r), normalised δ̃ (S, out) */
    ojaGradient(gP, P, normalised) {
      if (!allFloat32(gP, P, normalised)) return ref.ojaGradient(gP, P, normalised);
      const [S, out] = normalised.shape, r = P.shape[1];
      const u = asTensor(scratch('u', S * r), [S, r]);
      ops().matmul(u, normalised, P); // δ̃·P̂ (S, r)
      const CP = asTensor(scratch('CP', out * r), [out, r]);
      ops().matmul(CP, normalised, u, true, false); // δ̃ᵀ·(δ̃·P̂) = C·P̂ (out, r)
      const M = asTensor(scratch('M', r * r), [r, r]);
      ops().matmul(M, P, CP, true, false); // P̂ᵀ·C·P̂ (r, r)
      const g = f32(gP), cp = f32(CP);
      if (blas) {
        g.set(cp);
        blas.sgemm(false, false, out, r, r, f32(P), f32(M), g, 1, -1); // P̂·M − C·P̂
      } else {
        ops().matmul(gP, P, M);
        for (let i = 0; i < g.length; i++) g[i] -= cp[i];
      }
    },

    /**
     * oja on a linear layer whose P̂ learns from its own error (rows = dy), fused on the addon
     * without forming δ̃ = (dy − 1·cᵀ)/d (c the centre, d the divisor of normaliseError):
     *   v = dy·P̂ (N, r), which is also z for gQ̂ = vᵀ·x;  u = δ̃·P̂ = (v − 1·(cᵀP̂))/d;
     *   C·P̂ = δ̃ᵀ·u = (dyᵀ·u − c·(1ᵀu))/d = dyᵀ·u/d, since 1ᵀu = 1ᵀδ̃·P̂ = 0 where c ≠ 0
     *   (max-std: δ̃'s columns have mean 0);  gP̂ = P̂·(P̂ᵀ·C·P̂) − C·P̂.
     * The same math reassociated (test/fast-ldfa.test.ts bounds the difference), in one call to
     * the addon (ojaLinear): the statistics, v and u four samples at a time, then dyᵀ·u and vᵀ·x
     * as sums of outer products over the samples, tile by tile in registers (vᵀ·x as P̂ᵀ·dW where
     * out < N), two threads from 1 MFLOP; then M = P̂ᵀ·C·P̂ and gP̂.
     * Otherwise (and above rank 32, where the transposes and element loops there would cost more
     * than the products) the steps one by one.
     */
    ojaLinearGradients(gP, gQ, P, rows, dy, x, how, eps, k, dW) {
      if (!blas || rows !== dy || P.shape[1] > LOW_RANK_SIDES_MAX_RANK || !allFloat32(gP, gQ, P, dy, x)) return ref.ojaLinearGradients(gP, gQ, P, rows, dy, x, how, eps, k);
      const [N, out] = dy.shape, r = P.shape[1], inn = x.shape[1];
      assertShape('oja P', P, [out, r]);
      assertShape('oja x', x, [N, inn]);
      // gQ̂ = P̂ᵀ·dW where that is fewer FLOPs (out < N) and dW is at hand
      const fromDW = dW !== undefined && isFloat32(dW) && out < N;
      if (fromDW) assertShape('oja dW', dW, [out, inn]);
      blas.kernels.ojaLinear(f32(gP), f32(gQ), f32(P), f32(dy).subarray(dy.offset), f32(x).subarray(x.offset), fromDW ? f32(dW).subarray(dW.offset) : null, NORMALISATION_CODE[how], eps, N, out, inn, r);
    },

    normaliseError(rows, how, eps) {
      if (!isFloat32(rows)) return ref.normaliseError(rows, how, eps);
      if (!blas || rows.shape.length !== 2) return normaliseErrorFloat32(rows, how, eps, scratch);
      const [n, f] = rows.shape;
      const out = float32View(scratch('normalised', n * f), [n, f]);
      blas.kernels.normaliseError(f32(out), f32(rows).subarray(rows.offset), n, f, NORMALISATION_CODE[how], eps);
      return out;
    },

    /** (N, C, H, W) → (N·H·W, C) in float32. */
    channelRows(t) {
      if (!isFloat32(t)) return ref.channelRows(t);
      const [N, C, H, W] = t.shape, P = H * W;
      const out = asTensor(scratch('rows', N * P * C), [N * P, C]);
      const src = f32(t), dst = f32(out);
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
        const s = (n * C + c) * P;
        for (let p = 0; p < P; p++) dst[(n * P + p) * C + c] = src[s + p];
      }
      return out;
    },

    /** The gradient clamps: on the addon where t is float32 (the JavaScript loop's values, ~10× faster). */
    clamp(t, c) {
      if (blas && isFloat32(t)) blas.kernels.clamp(f32(t), c);
      else ref.clamp(t, c);
    },

    // W in any storage: the SVD initialisation runs before the weights move to float32
    balancedFactors(W, r, method = 'exact') {
      if (!blas?.lapack) return balancedFactors(W, r, method);
      return lapackBalancedFactors(blas, W, r, method);
    },
  };
}

/** Float32 work arrays reused from call to call, by slot and size. */
function workArrays(): (slot: string, size: number) => Float32Array {
  const arrays = new Map<string, Float32Array>();
  return (slot, size) => {
    const key = `${slot} ${size}`;
    let a = arrays.get(key);
    if (a === undefined) arrays.set(key, a = new Float32Array(size));
    return a;
  };
}

/**
 * The addon's one-pass kernel (native/src/layers.c lowRankSides) beats two cblas_sgemm calls up
 * to this rank (measured on the MLP 1024's 1024×1024 layer, both warm: r = 1: 0.15 against
 * 0.45 ms, r = 10: 0.55 against 0.80, r = 16: 0.80 against 0.88, r = 32: 1.14 against 1.23).
 */
export const LOW_RANK_SIDES_MAX_RANK = 32;

/**
 * AQ (out, r) = A·Q̂ᵀ and PA (r, in) = P̂ᵀ·A (a null AQ with Q, or PA with P, skips that side):
 * one pass over A at low rank, else sgemm.
 */
function lowRankSides(blas: NativeBlas, AQ: Float32Array | null, PA: Float32Array | null, A: Float32Array, P: Float32Array | null, Q: Float32Array | null, out: number, inn: number, r: number): void {
  if (r <= LOW_RANK_SIDES_MAX_RANK) return blas.kernels.lowRankSides(AQ, PA, A, P, Q, out, inn, r);
  if (AQ && Q) blas.sgemm(false, true, out, r, inn, A, Q, AQ);
  if (PA && P) blas.sgemm(true, false, r, inn, out, P, A, PA);
}

/** The reference's normaliseError (reference/rules/ldfa.ts), writing float32; sums in float64 (without the addon). */
function normaliseErrorFloat32(rows: Tensor, how: OjaNormalisation, eps: number, scratch: (slot: string, size: number) => Float32Array): Tensor {
  const [n, f] = rows.shape;
  const x = f32(rows);
  const out = float32View(scratch('normalised', n * f), [n, f]);
  const y = f32(out);
  if (how === 'none') { y.set(x.subarray(0, n * f)); return out; }
  const { centre, divisor } = errorNormalisation(x, n, f, how, eps);
  for (let i = 0; i < n; i++) {
    const row = i * f;
    for (let j = 0; j < f; j++) y[row + j] = (x[row + j] - centre[j]) / divisor;
  }
  return out;
}

/**
 * balancedFactors (reference/linalg.ts) with LAPACK: P̂ = U_r S_r^{1/2}, Q̂ = S_r^{1/2} V_rᵀ from
 * the exact SVD (dgesdd, float64) or the randomized one (the reference's algorithm: products in
 * float32 on the backend, QR and the small SVD in float64). The columns of U follow the
 * reference's sign convention (largest |entry| positive), so P̂, Q̂ match it to rounding where
 * the singular values are distinct.
 */
function lapackBalancedFactors(blas: NativeBlas, W: Tensor, r: number, method: SvdMethod): BalancedFactors {
  const [m, n] = W.shape;
  if (W.shape.length !== 2 || !Number.isInteger(r) || r < 1 || r > Math.min(m, n)) return balancedFactors(W, r, method); // its error
  const lapack = blas.lapack!;
  const exact = (): { U: Float64Array; S: Float64Array; Vt: Float64Array; k: number } => {
    const k = Math.min(m, n);
    const U = new Float64Array(m * k), S = new Float64Array(k), Vt = new Float64Array(k * n);
    lapack.svd(Float64Array.from(W.data.subarray(W.offset, W.offset + m * n)), m, n, U, S, Vt);
    return { U, S, Vt, k };
  };
  let svd: { U: Float64Array; S: Float64Array; Vt: Float64Array; k: number };
  if (method === 'exact') svd = exact();
  else {
    const k = Math.min(r + (method.oversample ?? 5), m, n);
    const spansAll = k === Math.min(m, n); // the sample spans the whole space: the exact SVD
    if (spansAll && !method.onSketch) {
      method.randomized.skipNormals(n * k); // the generator moved on as drawing Ω would
      svd = exact();
    } else {
      const omega = normalTensor(method.randomized, [n, k], 1); // drawn as the reference draws it
      method.onSketch?.(omega);
      if (spansAll) svd = exact();
      else {
        const A = isFloat32(W) ? f32(W).subarray(W.offset, W.offset + m * n) : Float32Array.from(W.data.subarray(W.offset, W.offset + m * n));
        svd = randomizedSvdProducts(blas, A, m, n, k, Float32Array.from(omega.data), method.powerIterations ?? 2) ?? exact();
      }
    }
  }
  const { U, S, Vt, k } = svd;
  // column j's sign: that of its entry of largest magnitude (the first such), as the reference's
  const best = new Float64Array(r), sign = new Float64Array(r).fill(1), root = new Float64Array(r);
  for (let i = 0; i < m; i++) for (let j = 0; j < r; j++) {
    const u = U[i * k + j];
    if (Math.abs(u) > best[j]) { best[j] = Math.abs(u); sign[j] = u < 0 ? -1 : 1; }
  }
  for (let j = 0; j < r; j++) root[j] = Math.sqrt(S[j]);
  const P = tensor([m, r]), Q = tensor([r, n]);
  for (let i = 0; i < m; i++) for (let j = 0; j < r; j++) P.data[i * r + j] = sign[j] * U[i * k + j] * root[j];
  for (let j = 0; j < r; j++) for (let i = 0; i < n; i++) Q.data[j * n + i] = sign[j] * Vt[j * n + i] * root[j];
  return { P, Q, S: S.slice(0, r) };
}

/**
 * Halko et al.'s randomized SVD (reference/linalg.ts randomizedSvd): Y = orth(A·Ω), then
 * Y ← orth(A·orth(Aᵀ·Y)) per power iteration, B = Yᵀ·A = Û S Vᵀ, U = Y·Û. Null when A·Ω is
 * rank-deficient (then A has rank < k and the exact SVD is the answer).
 */
function randomizedSvdProducts(blas: NativeBlas, A: Float32Array, m: number, n: number, k: number, omega: Float32Array, iterations: number):
  { U: Float64Array; S: Float64Array; Vt: Float64Array; k: number } | null {
  const lapack = blas.lapack!;
  const Y32 = new Float32Array(m * k), Z32 = new Float32Array(n * k);
  const orth = (x32: Float32Array, rows: number): Float64Array | null => {
    const x64 = Float64Array.from(x32);
    if (lapack.orthonormalize(x64, rows, k) < k) return null;
    x32.set(x64);
    return x64;
  };
  blas.sgemm(false, false, m, k, n, A, omega, Y32); // A·Ω (m, k)
  let Y = orth(Y32, m);
  for (let q = 0; q < iterations && Y !== null; q++) {
    blas.sgemm(true, false, n, k, m, A, Y32, Z32); // Aᵀ·Y (n, k)
    if (orth(Z32, n) === null) return null;
    blas.sgemm(false, false, m, k, n, A, Z32, Y32); // A·Z (m, k)
    Y = orth(Y32, m);
  }
  if (Y === null) return null;
  const B32 = new Float32Array(k * n);
  blas.sgemm(true, false, k, n, m, Y32, A, B32); // Yᵀ·A (k, n)
  const Ub = new Float64Array(k * k), S = new Float64Array(k), Vt = new Float64Array(k * n);
  lapack.svd(Float64Array.from(B32), k, n, Ub, S, Vt);
  const U = new Float64Array(m * k); // Y·Û in float64
  for (let i = 0; i < m; i++) for (let l = 0; l < k; l++) {
    const y = Y[i * k + l];
    if (y === 0) continue;
    for (let j = 0; j < k; j++) U[i * k + j] += y * Ub[l * k + j];
  }
  return { U, S, Vt, k };
}
