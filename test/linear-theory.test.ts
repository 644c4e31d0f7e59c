// The linear theory (spec §3) against the reference simulation. Every prediction is a function
// in oracles/linear/; failures print predicted and simulated values side by side.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { multiply } from '../reference/backend.ts';
import { squaredError } from '../reference/layers/losses.ts';
import { balancedFactors, orthonormalBasis, principalAngles, svd } from '../reference/linalg.ts';
import { buildLinearNet } from '../reference/models/mlp.ts';
import { Rng, normalTensor } from '../reference/rng.ts';
import { createRule } from '../reference/rules/index.ts';
import { tensor, transpose2d, type Tensor } from '../reference/tensor.ts';
import {
  authorsInit, closedFormGradients, decoupledBalancedInit, eckartYoungLoss, normativePlateau, predictFixedFeedback,
  predictFixedFeedbackFromCode, rotatedFrame, rotateState, saxeStrength, saxeStrengthDiscrete, saxeTolerance,
  simulateSamples, simulateStatistics, simulateTheory, spectrumTeacher, teacherStatistics, topErrorSubspace,
  matmulIkj, whitenedInputs, whitenedStatistics, type LinearFeedback, type LinearRunOptions, type LinearState,
} from '../oracles/linear/index.ts';

const run = (feedback: LinearFeedback, o: Partial<LinearRunOptions>): LinearRunOptions => ({
  feedback, steps: 100, eta: 0.05, lambda: 0, etaB: 0, etaBDecay: 1, recordEvery: 10, modes: 8, ...o,
});

/** Fails with the predicted and simulated values side by side. */
function expectNear(what: string, simulated: ArrayLike<number>, predicted: ArrayLike<number>, tol: number | ArrayLike<number>): void {
  const bad: string[] = [];
  for (let i = 0; i < predicted.length; i++) {
    const t = typeof tol === 'number' ? tol : tol[i];
    if (!(Math.abs(simulated[i] - predicted[i]) <= t)) bad.push(`  [${i}] simulated ${simulated[i]}  predicted ${predicted[i]}  |diff| ${Math.abs(simulated[i] - predicted[i]).toExponential(3)} > tol ${t.toExponential(3)}`);
  }
  if (simulated.length !== predicted.length) bad.push(`  length: simulated ${simulated.length}, predicted ${predicted.length}`);
  if (bad.length) expect.fail(`${what}: simulated vs predicted\n${bad.slice(0, 8).join('\n')}`);
}

const product = (s: LinearState) => multiply(s.W2, s.W1);

/** A decreasing spectrum with ratio ≤ 0.7 between neighbours (gaps keep the time-scales bounded). */
const spectrum = (count: number, top: number) => Array.from({ length: count }, (_, i) => top * 0.6 ** i);

const small = fc.record({
  n: fc.integer({ min: 2, max: 6 }), k: fc.integer({ min: 2, max: 6 }), m: fc.integer({ min: 2, max: 5 }),
  r: fc.integer({ min: 1, max: 3 }), seed: fc.nat(1e6),
});

describe('oracle 1: the full-sample simulation and the rotated theory iteration', () => {
  it('the reference core on samples gives exactly the closed-form gradients on Σ_xx, Σ_yx', () => {
    fc.assert(fc.property(small, fc.integer({ min: 1, max: 9 }), fc.boolean(), (s, P, lowRank) => {
      const rng = new Rng(s.seed);
      const r = Math.min(s.r, s.m, s.k);
      const X = normalTensor(rng, [P, s.n], 1), Wstar = normalTensor(rng, [s.m, s.n], 1);
      const state = authorsInit(rng, { ...s, r }, 10);
      const net = buildLinearNet({ inputSize: s.n, hidden: [s.k], outputSize: s.m }, rng);
      net.sites[0].weight.value.data.set(state.W1.data);
      net.sites[1].weight.value.data.set(state.W2.data);
      const rule = lowRank
        ? createRule('ldfa', { ldfa: { rank: r, mode: 'fixed', init: 'random' }, inject: { 'fc2.P': state.P, 'fc2.Q': state.Q } })
        : createRule('bp');
      rule.attach(net, rng);
      const out = net.forward(X, true);
      const de = tensor(out.shape);
      squaredError(de, out, multiply(X, Wstar, false, true));
      net.backward(de);
      const expected = closedFormGradients(teacherStatistics(Wstar, X), state, lowRank ? 'ldfa' : 'bp');
      const scale = 1 + Math.max(...expected.dW1.data.map(Math.abs), ...expected.dW2.data.map(Math.abs));
      expectNear('dW2', net.sites[1].weight.grad.data, expected.dW2.data, 1e-12 * scale);
      expectNear('dW1', net.sites[0].weight.grad.data, expected.dW1.data, 1e-12 * scale);
    }), { numRuns: 40 });
  });

  it('with exactly whitened inputs, samples = statistics = rotated theory to ≤ 1e-10', () => {
    const feedbacks: LinearFeedback[] = ['bp', 'fixed', 'normative', 'exact'];
    fc.assert(fc.property(small, fc.constantFrom(...feedbacks), (s, feedback) => {
      const rng = new Rng(s.seed);
      const r = Math.min(s.r, s.m, s.k);
      const X = whitenedInputs(rng, s.n + 3, s.n);
      const Wstar = normalTensor(rng, [s.m, s.n], 1);
      const stats = teacherStatistics(Wstar, X);
      const frame = rotatedFrame(stats.Syx);
      const init = authorsInit(rng, { ...s, r }, 3);
      const o = run(feedback, { steps: 120, eta: 0.1 / (1 + frame.s[0]), lambda: 1e-3, etaB: 0.05, etaBDecay: 0.999 });
      const a = simulateSamples(X, multiply(X, Wstar, false, true), init, o, frame);
      const b = simulateStatistics(stats, init, o, frame);
      const c = simulateTheory(frame.s, rotateState(init, frame), o);
      for (let j = 0; j < a.t.length; j++) {
        expectNear(`σ̂ at t=${a.t[j]}, samples vs theory`, a.sigma[j], c.sigma[j], 1e-10);
        expectNear(`σ̂ at t=${a.t[j]}, statistics vs theory`, b.sigma[j], c.sigma[j], 1e-10);
      }
      expectNear('loss, samples vs theory', a.loss, c.loss, 1e-10);
      expectNear('loss, statistics vs theory', b.loss, c.loss, 1e-10);
      const rotated = rotateState(a.final, frame);
      expectNear('UᵀW₂W₁V (samples) vs W̄₂W̄₁ (theory)', product(rotated).data, product(c.final).data, 1e-10);
      // (exact re-factorises by SVD, whose factor signs are arbitrary: compare P̂Q̂, not P̂)
      if (feedback !== 'bp') expectNear('UᵀP̂Q̂ (samples) vs P̂̄Q̂ (theory)', multiply(rotated.P, rotated.Q).data, multiply(c.final.P, c.final.Q).data, 1e-10);
    }), { numRuns: 24 });
  });

  it('with sampled inputs, theory and simulation differ by O(‖Σ_xx − I‖) = O(√(n/P))', () => {
    // Δ = the simulation on the sampled Σ_xx minus the theory (Σ_xx = I, same Σ_yx), in the frame.
    // For Gaussian x, ε = ‖Σ_xx − I‖₂ ≤ 2√(n/P) + n/P with high probability (Davidson–Szarek),
    // hence O(1/√P). Two checks:
    // 1. First order, for every rule: with Σ_xx(α) = I + α(Σ_xx − I), Δ(α) is linear in α at small
    //    α (Δ(0) = 0 exactly): Δ(α/2)/Δ(α) = ½ + O(α). No constant is assumed.
    // 2. BP's size: ‖Δ‖ ≤ C·‖Σ_yx‖_F·ε. The sampled-input residual differs from the whitened one by
    //    −M(Σ_xx − I), of size ≤ ‖Σ_yx‖·ε, and gradient descent contracts near its fixed point. The
    //    perturbation also couples the modes and moves a learned subspace by about ε/gap (Wedin), so
    //    cases whose k-th and (k+1)-th singular values (k the hidden width) lie within 5 % of s₁ are
    //    left out of this check (fast-check found ratio 2.22 at s = 3.64, 1.73, 1.428, 1.402, k = 3).
    //    C = 2: the largest ratio over 600 random separated cases was 1.72 (printed on failure).
    //    Fixed feedback has no such constant: it is not a descent, and near a slow saddle of its
    //    dynamics one case in 600 reached ratio 6.1 (n = m = k = r = 2), so it gets check 1 only.
    fc.assert(fc.property(small, fc.constantFrom(400, 1600, 6400), (s, P) => {
      const rng = new Rng(s.seed);
      const r = Math.min(s.r, s.m, s.k);
      const X = normalTensor(rng, [P, s.n], 1);
      const Wstar = normalTensor(rng, [s.m, s.n], 1);
      const stats = teacherStatistics(Wstar, X);
      const frame = rotatedFrame(stats.Syx);
      const dev = tensor(stats.Sxx.shape, stats.Sxx.data);
      for (let i = 0; i < s.n; i++) dev.data[i * s.n + i] -= 1;
      const eps = svd(dev).S[0];
      const dev1 = (Math.sqrt(s.n) + 5) / Math.sqrt(P); // Davidson–Szarek with t = 5: fails w.p. ≤ 2e^{−12.5}
      expect(eps).toBeLessThanOrEqual(2 * dev1 + dev1 * dev1);
      const init = authorsInit(rng, { ...s, r }, 1);
      const normS = Math.hypot(...frame.s);
      /** max over t of ‖Δ‖ with Σ_xx = I + α(Σ_xx − I). */
      const deviation = (feedback: LinearFeedback, alpha: number) => {
        const Sxx = tensor(dev.shape, dev.data.map((v) => alpha * v));
        for (let i = 0; i < s.n; i++) Sxx.data[i * s.n + i] += 1;
        const o = run(feedback, { steps: 400, eta: 0.2 / frame.s[0], recordEvery: 400 });
        let worst = 0;
        for (const steps of [50, 200, 400]) {
          const a = simulateStatistics({ ...stats, Sxx }, init, { ...o, steps }, frame);
          const c = simulateTheory(frame.s, rotateState(init, frame), { ...o, steps });
          const diff = multiply(multiply(frame.U, product(a.final), true, false), frame.V);
          const theory = product(c.final);
          worst = Math.max(worst, Math.hypot(...diff.data.map((v, i) => v - theory.data[i])));
        }
        return worst;
      };
      for (const feedback of ['bp', 'fixed'] as const) {
        const [d8, d16] = [1 / 8, 1 / 16].map((alpha) => deviation(feedback, alpha));
        if (d8 > 1e-9 * normS && !(Math.abs(d16 / d8 - 0.5) <= 0.1)) {
          expect.fail(`${feedback}, P=${P}: Δ is not first order in Σ_xx − I: Δ(ε/16)/Δ(ε/8) = ${(d16 / d8).toFixed(3)}, not ½ (Δ(ε/8) = ${d8.toExponential(3)})`);
        }
      }
      const separated = s.k >= frame.s.length || frame.s[s.k - 1] - frame.s[s.k] >= 0.05 * frame.s[0];
      const worst = deviation('bp', 1);
      if (separated && !(worst <= 2 * normS * eps)) expect.fail(`bp, P=${P}: simulated ‖Δ‖ ${worst.toExponential(3)}  predicted bound 2‖Σ_yx‖ε = ${(2 * normS * eps).toExponential(3)} (ε = ${eps.toExponential(3)}, ratio ${(worst / (normS * eps)).toFixed(3)})`);
    }), { numRuns: 15 });
  });
});

describe('BP reference (Saxe et al. 2014) and exact tracking', () => {
  it('decoupled balanced small initialisation: every mode follows a_i(t) of Saxe et al.', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.nat(1e6), (n, extra, seed) => {
      const rng = new Rng(seed);
      const m = Math.max(2, n - 1), d = Math.min(m, n), k = d + extra - 1;
      const s = spectrum(d, 3);
      const Syx = spectrumTeacher(rng, m, n, s);
      const frame = rotatedFrame(Syx);
      const a0 = 1e-3, eta = 0.01;
      const steps = Math.ceil(3 * Math.log(s[d - 1] / a0) / (2 * eta * s[d - 1])); // 3× the slowest mode's t_i
      const tr = simulateStatistics(whitenedStatistics(Syx), decoupledBalancedInit(rng, frame, k, a0, d), run('bp', { steps, eta, recordEvery: 5, modes: d }), frame);
      for (let j = 0; j < tr.t.length; j++) {
        const simulated = tr.sigma[j].map((x, i) => x * frame.s[i]);
        // The discrete GD map is followed to rounding...
        expectNear(`a_i(${tr.t[j]}) vs discrete map`, simulated, s.map((si) => saxeStrengthDiscrete(si, a0, eta, tr.t[j])), 1e-10);
        // ...and the continuous closed form within its discretisation error (saxeTolerance:
        // backward error analysis, ≈ ηs²·ln(s/a₀)/8, taken ×2 plus ηs²).
        expectNear(`a_i(${tr.t[j]}) vs Saxe closed form`, simulated, s.map((si) => saxeStrength(si, a0, eta, tr.t[j])), s.map((si) => saxeTolerance(si, a0, eta)));
      }
      expectNear('final σ̂ (all modes learned)', tr.sigma.at(-1)!, s.map(() => 1), 1e-3);
    }), { numRuns: 12 });
  });

  it('LDFA with exact tracking (P̂Q̂ = W₂ by SVD every step, r = rank W₂) follows BP to machine precision', () => {
    fc.assert(fc.property(small, (s) => {
      const rng = new Rng(s.seed);
      const r = Math.min(s.m, s.k); // = rank W₂ generically
      const X = whitenedInputs(rng, s.n + 2, s.n);
      const Wstar = normalTensor(rng, [s.m, s.n], 1);
      const Y = multiply(X, Wstar, false, true);
      const init = authorsInit(rng, { ...s, r }, 1);
      const o = run('bp', { steps: 150, eta: 0.05, lambda: 1e-4 });
      const bp = simulateSamples(X, Y, init, o);
      const exact = simulateSamples(X, Y, init, { ...o, feedback: 'exact' });
      expectNear('loss (LDFA exact vs BP)', exact.loss, bp.loss, 1e-11);
      expectNear('W₁ (LDFA exact vs BP)', exact.final.W1.data, bp.final.W1.data, 1e-11);
      expectNear('W₂ (LDFA exact vs BP)', exact.final.W2.data, bp.final.W2.data, 1e-11);
    }), { numRuns: 20 });
  });
});

describe('fixed random low-rank feedback (spec §3.3)', () => {
  const setting = fc.record({
    n: fc.integer({ min: 3, max: 6 }), k: fc.integer({ min: 3, max: 6 }), m: fc.integer({ min: 3, max: 5 }),
    r: fc.integer({ min: 1, max: 2 }), seed: fc.nat(1e6),
  });
  const teacher = (rng: Rng, m: number, n: number) => spectrumTeacher(rng, m, n, spectrum(Math.min(m, n), 3));
  /**
   * The slowest time-scale of fixed feedback is set by the smallest non-zero singular value of
   * PΣ_yx (the weakest direction the feedback can see): random P occasionally makes it ~1e-5
   * and convergence arbitrarily slow. The properties are stated for σ_min ≥ 0.1·σ_max, which
   * makes the step budgets below (chosen from the observed ≤ 500-step convergence) safe.
   */
  const wellConditioned = (P: Tensor, Syx: Tensor, d: number) => {
    const sv = svd(multiply(P, Syx, true, false)).S;
    return sv[Math.min(d, sv.length) - 1] >= 0.1 * sv[0];
  };

  it('W₁(0) ∈ range(Q): converges to W₂W₁ = Σ_yxΠ with loss ½‖Σ_yx(I − Π)‖² (to 1e-9)', () => {
    fc.assert(fc.property(setting, (s) => {
      const rng = new Rng(s.seed);
      const Syx = teacher(rng, s.m, s.n);
      const init = authorsInit(rng, s, 1);
      fc.pre(wellConditioned(init.P, Syx, s.r));
      init.W1 = multiply(init.Q, normalTensor(rng, [s.r, s.n], 1e-3), true, false); // Q̂ᵀM₀ = QM₀
      init.W2 = normalTensor(rng, [s.m, s.k], 1e-3);
      const pred = predictFixedFeedbackFromCode(Syx, init.P);
      // η = 0.5/s₁ is stable; the slowest learned direction has rate ≈ η·σ_r(PΣ_yx)²/‖P‖² and
      // the saddle escape takes ≈ ln(s/a₀)/(2ηs) ≈ 10 steps; 3000 steps leave a wide margin
      // (seen: ≤ 1e-15 from 500 steps on).
      const tr = simulateStatistics(whitenedStatistics(Syx), init, run('fixed', { steps: 3000, eta: 0.5 / 3, recordEvery: 3000 }));
      expectNear('W₂W₁ vs Σ_yxΠ', product(tr.final).data, pred.product.data, 1e-9);
      expectNear('loss vs ½‖Σ_yx(I − Π)‖²', [tr.loss.at(-1)!], [pred.loss], 1e-9);
      expect(pred.loss).toBeGreaterThanOrEqual(pred.eckartYoung - 1e-12);
    }), { numRuns: 15 });
  });

  it('small random initialisation (std 1e-4): W₂W₁ reaches Σ_yxΠ within 1e-3', () => {
    // W₁'s initial part outside range(Q), W₁⊥(0) ~ 1e-4, never decays (λ = 0), and W₂ slowly
    // grows along it: the distance to Σ_yxΠ drifts like η·t·‖Σ_yx‖·‖W₁⊥(0)‖·(…) — about 1e-5
    // per 1000 steps here (printed on failure) — so 1e-3 after 4000 steps is a wide margin.
    fc.assert(fc.property(setting, (s) => {
      const rng = new Rng(s.seed);
      const Syx = teacher(rng, s.m, s.n);
      const init = authorsInit(rng, s, 1);
      fc.pre(wellConditioned(init.P, Syx, s.r));
      init.W1 = normalTensor(rng, [s.k, s.n], 1e-4);
      init.W2 = normalTensor(rng, [s.m, s.k], 1e-4);
      const pred = predictFixedFeedbackFromCode(Syx, init.P);
      const tr = simulateStatistics(whitenedStatistics(Syx), init, run('fixed', { steps: 4000, eta: 0.5 / 3, recordEvery: 4000 }));
      expectNear('W₂W₁ vs Σ_yxΠ', product(tr.final).data, pred.product.data, 1e-3);
      expectNear('loss vs L*', [tr.loss.at(-1)!], [pred.loss], 1e-3 * (1 + pred.loss));
    }), { numRuns: 15 });
  });

  it('P aligned with the top-r output directions reaches the optimal ½Σ_{i>r}s_i² with σ̂ = (1…1, 0…)', () => {
    fc.assert(fc.property(setting, (s) => {
      const rng = new Rng(s.seed);
      const Syx = teacher(rng, s.m, s.n);
      const frame = rotatedFrame(Syx);
      const init = authorsInit(rng, s, 1);
      const Ur = tensor([s.m, s.r]);
      for (let i = 0; i < s.m; i++) for (let j = 0; j < s.r; j++) Ur.data[i * s.r + j] = frame.U.data[i * s.m + j];
      init.P = multiply(Ur, orthonormalBasis(normalTensor(rng, [s.r, s.r], 1))); // rows of P: a rotated basis of {u₁…u_r}
      init.W1 = multiply(init.Q, normalTensor(rng, [s.r, s.n], 1e-3), true, false);
      init.W2 = normalTensor(rng, [s.m, s.k], 1e-3);
      const pred = predictFixedFeedbackFromCode(Syx, init.P);
      expectNear('predicted L* vs Eckart–Young', [pred.loss], [eckartYoungLoss(frame.s, s.r)], 1e-10);
      const tr = simulateStatistics(whitenedStatistics(Syx), init, run('fixed', { steps: 3000, eta: 0.5 / 3, recordEvery: 3000 }), frame);
      expectNear('loss vs ½Σ_{i>r}s_i²', [tr.loss.at(-1)!], [eckartYoungLoss(frame.s, s.r)], 1e-8);
      expectNear('σ̂', tr.sigma.at(-1)!, normativePlateau(frame.s, s.r, 8).sigma, 1e-6);
    }), { numRuns: 15 });
  });

  it('r ≥ d = rank Σ_yx: the loss goes to 0', () => {
    fc.assert(fc.property(setting, fc.integer({ min: 1, max: 2 }), (s, d) => {
      const rng = new Rng(s.seed);
      const r = Math.min(Math.max(s.r, d), s.m, s.k);
      const Syx = spectrumTeacher(rng, s.m, s.n, spectrum(d, 3));
      const init = authorsInit(rng, { ...s, r }, 1);
      fc.pre(wellConditioned(init.P, Syx, d));
      init.W1 = normalTensor(rng, [s.k, s.n], 1e-4);
      init.W2 = normalTensor(rng, [s.m, s.k], 1e-4);
      const pred = predictFixedFeedbackFromCode(Syx, init.P);
      expect(pred.loss).toBeLessThan(1e-20);
      // W₁⊥(0) ~ 1e-4 outside range(Q) is never removed (λ = 0): it leaves a loss of order
      // ‖W₂‖²‖W₁⊥‖² ≈ 1e-7 (seen: ≤ 2e-7); 1e-5 is the tolerance.
      const tr = simulateStatistics(whitenedStatistics(Syx), init, run('fixed', { steps: 3000, eta: 0.5 / 3, recordEvery: 3000 }));
      expectNear('final loss vs 0', [tr.loss.at(-1)!], [0], 1e-5);
    }), { numRuns: 15 });
  });

  it('predictFixedFeedback: Π is the projector onto row(PΣ_yx), L* ≥ Eckart–Young, paper and code orientation agree', () => {
    fc.assert(fc.property(small, (s) => {
      const rng = new Rng(s.seed);
      const Syx = normalTensor(rng, [s.m, s.n], 1);
      const P = normalTensor(rng, [s.r, s.m], 1);
      const pred = predictFixedFeedback(Syx, P);
      const Pi = pred.projector;
      expectNear('Π² = Π', multiply(Pi, Pi).data, Pi.data, 1e-10);
      expectNear('Π = Πᵀ', transpose2d(Pi).data, Pi.data, 1e-12);
      expectNear('Π·(PΣ_yx)ᵀ = (PΣ_yx)ᵀ', multiply(Pi, multiply(P, Syx), false, true).data, transpose2d(multiply(P, Syx)).data, 1e-10);
      expect(pred.loss).toBeGreaterThanOrEqual(pred.eckartYoung - 1e-10);
      expect(predictFixedFeedbackFromCode(Syx, transpose2d(P)).loss).toBe(pred.loss);
    }), { numRuns: 40 });
  });
});

describe('adaptive feedback (spec §3.4)', () => {
  const setting = fc.record({
    n: fc.integer({ min: 3, max: 6 }), k: fc.integer({ min: 3, max: 6 }), m: fc.integer({ min: 3, max: 5 }),
    r: fc.integer({ min: 1, max: 2 }), seed: fc.nat(1e6),
  });

  /** Small init (std 1e-3), P̂Q̂ = SVD of W₂(0); η = 0.1/s₁ (stable for unbalanced W), η_b = 0.02 (spec §3.4). */
  function normativeRun(rng: Rng, sz: { n: number; k: number; m: number; r: number }, steps: number, s?: number[]) {
    const Syx = s ? spectrumTeacher(rng, sz.m, sz.n, s) : normalTensor(rng, [sz.m, sz.n], 1);
    const frame = rotatedFrame(Syx);
    const init = authorsInit(rng, sz, 1);
    init.W1 = normalTensor(rng, [sz.k, sz.n], 1e-3);
    init.W2 = normalTensor(rng, [sz.m, sz.k], 1e-3);
    const fac = balancedFactors(init.W2, sz.r);
    init.P = fac.P; init.Q = fac.Q;
    const tr = simulateStatistics(whitenedStatistics(Syx), init, run('normative', { steps, eta: 0.1 / frame.s[0], etaB: 0.02, recordEvery: 100 }), frame);
    return { tr, frame };
  }

  it('normative feedback first reaches the optimal rank-r plateau ½Σ_{i>r}s_i² with σ̂ = (1…1, 0…)', () => {
    // From small init the strongest modes grow first (t_i ∝ 1/s_i): with P̂Q̂ tracking the top-r
    // of W₂ the network is, for a while, fixed feedback with P aligned to u₁…u_r. Seen: the plateau
    // is reached by ≈ 900 steps on 30 random teachers; 3000 steps leave margin.
    fc.assert(fc.property(setting, (sz) => {
      const { tr, frame } = normativeRun(new Rng(sz.seed), sz, 3000, spectrum(Math.min(sz.m, sz.n), 3));
      const plateau = normativePlateau(frame.s, sz.r, 8);
      const j = tr.loss.findIndex((l) => Math.abs(l / plateau.loss - 1) <= 0.02);
      if (j < 0) expect.fail(`never within 2% of the rank-${sz.r} optimum ${plateau.loss}: simulated losses ${tr.loss.filter((_, i) => i % 5 === 0).map((l) => l.toFixed(4)).join(' ')}`);
      expectNear(`σ̂ on the plateau (t=${tr.t[j]})`, tr.sigma[j], plateau.sigma, 0.1);
    }), { numRuns: 10 });
  });

  it('normative feedback then learns further modes (loss below the rank-r optimum)', () => {
    // When the plateau ends depends on how fast tiny off-subspace components grow, which is
    // heavy-tailed in the seed (over seeds 100–129 of this set-up, 28/30 left the plateau within
    // 34 000 steps, the earliest at 1 500). To keep the file fast this checks three of those seeds
    // that leave it early; the plateau property above is the randomised one.
    for (const seed of [102, 103, 111]) {
      const rng = new Rng(seed);
      const sz = { n: 4 + rng.int(3), m: 4 + rng.int(2), k: 4 + rng.int(3), r: 1 + rng.int(2) };
      const { tr, frame } = normativeRun(rng, sz, 9000);
      const optimum = eckartYoungLoss(frame.s, sz.r);
      const onPlateau = tr.loss.findIndex((l) => Math.abs(l / optimum - 1) <= 0.01);
      const beyond = tr.loss.findIndex((l) => l <= 0.8 * optimum);
      if (!(onPlateau >= 0 && beyond > onPlateau)) {
        expect.fail(`seed ${seed}: optimum ${optimum}; simulated losses ${tr.loss.filter((_, i) => i % 5 === 0).map((l) => l.toFixed(3)).join(' ')}`);
      }
      expect(tr.sigma.at(-1)![sz.r]).toBeGreaterThan(0.5);
    }
  });

  it("Oja's rule in the linear setting finds the top error subspace", () => {
    // With Oja faster than the forward learning (η_b = 0.2 on C̃ = C/max_j C_jj, against
    // η = 0.02/s₁: the first mode needs ≈ ln(s₁/a₀)/(2ηs₁) ≈ 350 steps), P̂ converges to the top-r
    // eigenvectors of C = ⟨eeᵀ⟩ ≈ Σ_yxΣ_yxᵀ, i.e. to {u₁…u_r}, before the modes are learned.
    // Oja's subspace error shrinks like exp(−η_b·(λ_r − λ_{r+1})/max_j C_jj · t); with the 0.6
    // spectrum ratio that rate is ≥ 0.2·(1 − 0.36)·0.36^(r−1) ≥ 0.046 for r ≤ 2 (max_j C_jj ≤ s₁²),
    // so 300 steps leave the angle far below the 0.02 rad tolerance (η_b·λ_max(C̃) ≤ 0.2·m ≤ 1: stable).
    fc.assert(fc.property(setting, (sz) => {
      const rng = new Rng(sz.seed);
      const Syx = spectrumTeacher(rng, sz.m, sz.n, spectrum(Math.min(sz.m, sz.n), 3));
      const frame = rotatedFrame(Syx);
      const init = authorsInit(rng, sz, 1);
      init.W1 = normalTensor(rng, [sz.k, sz.n], 1e-3);
      init.W2 = normalTensor(rng, [sz.m, sz.k], 1e-3);
      init.P = normalTensor(rng, [sz.m, sz.r], 0.3);
      init.Q = normalTensor(rng, [sz.r, sz.k], 1e-3);
      const tr = simulateStatistics(whitenedStatistics(Syx), init, run('oja', { steps: 300, eta: 0.02 / frame.s[0], etaB: 0.2, recordEvery: 300 }), frame);
      const M = product(tr.final);
      const R = tensor(Syx.shape);
      for (let i = 0; i < R.data.length; i++) R.data[i] = Syx.data[i] - M.data[i];
      const top = topErrorSubspace(multiply(R, R, false, true), sz.r);
      const Ur = tensor([sz.m, sz.r]);
      for (let i = 0; i < sz.m; i++) for (let j = 0; j < sz.r; j++) Ur.data[i * sz.r + j] = frame.U.data[i * sz.m + j];
      const angles = [Math.max(...principalAngles(tr.final.P, top)), Math.max(...principalAngles(tr.final.P, Ur))];
      expectNear('largest principal angle (rad) between row(P) and [top error subspace, span(u₁…u_r)]', angles, [0, 0], 0.02);
      const PtP = multiply(tr.final.P, tr.final.P, true, false);
      expectNear('PPᵀ = I', PtP.data, multiply(Ur, Ur, true, false).data, 0.02);
    }), { numRuns: 10 });
  });
});

describe("the experiment's float64 kernel", () => {
  it('matmulIkj equals the reference matmul to rounding, for every transpose combination', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.boolean(), fc.boolean(), fc.nat(1e6), (M, N, K, tA, tB, seed) => {
      const rng = new Rng(seed);
      const A = normalTensor(rng, tA ? [K, M] : [M, K], 1), B = normalTensor(rng, tB ? [N, K] : [K, N], 1);
      const expected = multiply(A, B, tA, tB);
      const C = tensor([M, N]);
      C.data.fill(7); // overwritten, not accumulated
      matmulIkj(C, A, B, tA, tB);
      expectNear('C', C.data, expected.data, 1e-12 * (1 + K));
    }), { numRuns: 60 });
  });
});
