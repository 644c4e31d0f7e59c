// Learning dynamics of the two-layer linear network (spec §3.1), three ways:
//
//   simulateSamples     the reference core itself: buildLinearNet (no bias) + squaredError +
//                       a rule's feedback, full-batch GD over all P samples. The ground truth,
//                       but O(P·n·k) per step.
//   simulateStatistics  the same GD written on the sufficient statistics Σ_xx, Σ_yx, Σ_yy of
//                       the sample. With L = (1/2P)Σ_μ‖y_μ − W₂W₁x_μ‖² the gradients are
//                       exactly  −∂L/∂W₂ = R·W₁ᵀ,  −(feedback update of W₁) = B·R,
//                       R = Σ_yx − W₂W₁Σ_xx  (m, n),
//                       so this is *exact* full-batch GD, not an approximation; it costs
//                       O(m·n·(n + k)) per step whatever P is, which is what makes the
//                       authors' P = 10⁵ set-up affordable (test: "statistics = samples").
//   simulateTheory      the "theory" iteration in the rotated frame of Σ_yx = USVᵀ, assuming
//                       Σ_xx = I: W̄₂ = UᵀW₂, W̄₁ = W₁V, P̄ = PU, and R̄ = S − W̄₂W̄₁ with S
//                       rectangular diagonal. With exactly whitened inputs it equals the other
//                       two after rotation; with sampled inputs it differs by O(‖Σ_xx − I‖) =
//                       O(√(n/P)) (oracle 1, spec §3.1).
//
// One GD step, every rule, all updates from the pre-step state (spec §3.1):
//   W₂ ← W₂ + η R W₁ᵀ − λW₂
//   W₁ ← W₁ + η B R − λW₁,   B = W₂ᵀ (BP) or B = QP = Q̂ᵀP̂ᵀ (LDFA)
//   fixed      P̂, Q̂ frozen (low-rank FA, §2.3 A)
//   normative  P̂ ← P̂ − η_b E Q̂ᵀ,  Q̂ ← Q̂ − η_b P̂ᵀE,  E = P̂Q̂ − W₂ (reference normativeGradients);
//              in paper orientation Q ← Q + η_b(W₂ᵀ − QP)Pᵀ, P ← P + η_bQᵀ(W₂ᵀ − QP) (§2.3 B);
//              η_b ← η_b·etaBDecay after every step (0.999 in the authors' set-up)
//   exact      P̂Q̂ = best rank-r approximation of W₂ after every step (balancedFactors: exact
//              tracking; with r ≥ rank W₂ it is BP, §3.2)
//   oja        P̂ ← P̂ − η_b·gP̂ with Oja's subspace gradient gP̂ = −(C̃P̂ − P̂P̂ᵀC̃P̂) on the
//              error covariance C = ⟨eeᵀ⟩, e = y − W₂W₁x, scaled C̃ = C / max_j C_jj (the
//              population form of the v1 code's max-std normalisation, §2.3 C1);
//              Q̂ ← Q̂ − η P̂ᵀ(−R W₁ᵀ) − λQ̂ (Kolen–Pollack-like: Q̂ gets the forward update of W₂
//              seen through P̂, with the same η and decay as W).
import { multiply } from '../../reference/backend.ts';
import { balancedFactors } from '../../reference/linalg.ts';
import { squaredError } from '../../reference/layers/losses.ts';
import { buildLinearNet } from '../../reference/models/mlp.ts';
import { Rng } from '../../reference/rng.ts';
import { createRule } from '../../reference/rules/index.ts';
import { normativeGradients } from '../../reference/rules/ldfa.ts';
import { tensor, type Tensor } from '../../reference/tensor.ts';
import { cloneState, type LinearState, type LinearStatistics, type RotatedFrame } from './setup.ts';

export type LinearFeedback = 'bp' | 'fixed' | 'normative' | 'exact' | 'oja';
export const LINEAR_FEEDBACKS: readonly LinearFeedback[] = ['bp', 'fixed', 'normative', 'exact', 'oja'];

export interface LinearRunOptions {
  feedback: LinearFeedback;
  steps: number;
  /** forward learning rate η */
  eta: number;
  /** weight decay: −λW per step */
  lambda: number;
  /** feedback learning rate η_b (normative, oja) */
  etaB: number;
  /** η_b ← η_b·etaBDecay after every step (1 = no decay) */
  etaBDecay: number;
  /** record loss and σ̂ every this many steps (and at the last step) */
  recordEvery: number;
  /** how many modes σ̂_i to record */
  modes: number;
}

export const AUTHORS_RUN: Omit<LinearRunOptions, 'feedback'> = {
  steps: 5000, eta: 2.5e-3, lambda: 1e-5, etaB: 1e-3, etaBDecay: 0.999, recordEvery: 10, modes: 8,
};

export interface Trajectory {
  /** step counts at which the values were recorded (state after t steps) */
  t: number[];
  /** the loss at t */
  loss: number[];
  /** sigma[j][i] = σ̂_i(t_j) = [UᵀW₂W₁V]_ii / s_i (empty when no frame was given) */
  sigma: number[][];
  /** the state after the last step */
  final: LinearState;
}

function checkOptions(o: LinearRunOptions): void {
  if (!LINEAR_FEEDBACKS.includes(o.feedback)) throw new Error(`unknown linear feedback '${o.feedback}': allowed are ${LINEAR_FEEDBACKS.join(', ')}`);
  if (!Number.isInteger(o.steps) || o.steps < 0) throw new Error(`steps must be an integer ≥ 0, got ${o.steps}`);
  if (!Number.isInteger(o.recordEvery) || o.recordEvery < 1) throw new Error(`recordEvery must be an integer ≥ 1, got ${o.recordEvery}`);
  for (const [name, v] of [['eta', o.eta], ['lambda', o.lambda], ['etaB', o.etaB], ['etaBDecay', o.etaBDecay]] as const) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a finite number ≥ 0, got ${v}`);
  }
}

const records = (t: number, o: LinearRunOptions) => t % o.recordEvery === 0 || t === o.steps;

/** σ̂_i = u_iᵀ M v_i / s_i for the top `modes` modes. M: (m, n) */
export function normalisedStrengths(M: Tensor, frame: RotatedFrame, modes: number): number[] {
  const [m, n] = M.shape;
  const count = Math.min(modes, frame.s.length);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let a = 0; a < m; a++) {
      const u = frame.U.data[a * m + i];
      if (u === 0) continue;
      let row = 0;
      for (let b = 0; b < n; b++) row += M.data[a * n + b] * frame.V.data[b * n + i];
      sum += u * row;
    }
    out.push(sum / frame.s[i]);
  }
  return out;
}

/** What one step needs from the data: the residual R (m, n), the loss, and (oja) C = ⟨eeᵀ⟩. */
interface Residual {
  R: Tensor;
  M: Tensor;
  loss: number;
  covariance: () => Tensor;
}

/** Oja's subspace gradient from a covariance: gP̂ = −(C P̂ − P̂ (P̂ᵀ C P̂)).  C: (m, m)  P̂: (m, r) */
export function ojaGradientFromCovariance(P: Tensor, C: Tensor): Tensor {
  const CP = multiply(C, P);
  const PPtCP = multiply(P, multiply(P, CP, true, false));
  const g = tensor(P.shape);
  for (let i = 0; i < g.data.length; i++) g.data[i] = -(CP.data[i] - PPtCP.data[i]);
  return g;
}

/** One GD step in place (see the header). */
function step(state: LinearState, res: Residual, o: LinearRunOptions, etaB: number): void {
  const { W1, W2, P, Q } = state;
  const { R } = res;
  const dW2 = multiply(R, W1, false, true); // R W₁ᵀ (m, k)
  const BR = o.feedback === 'bp' ? multiply(W2, R, true, false) : multiply(Q, multiply(P, R, true, false), true, false); // (k, n)
  let gP: Tensor | null = null, gQ: Tensor | null = null;
  if (o.feedback === 'normative') {
    gP = tensor(P.shape); gQ = tensor(Q.shape);
    normativeGradients(gP, gQ, P, Q, W2);
  } else if (o.feedback === 'oja') {
    const C = res.covariance();
    let scale = 0;
    const m = C.shape[0];
    for (let j = 0; j < m; j++) scale = Math.max(scale, C.data[j * m + j]);
    for (let i = 0; i < C.data.length; i++) C.data[i] /= scale + 1e-300;
    gP = ojaGradientFromCovariance(P, C);
    gQ = multiply(P, dW2, true, false); // P̂ᵀ R W₁ᵀ = −(Kolen–Pollack gradient)
    for (let i = 0; i < gQ.data.length; i++) gQ.data[i] = -gQ.data[i];
  }
  const { eta, lambda } = o;
  for (let i = 0; i < W2.data.length; i++) W2.data[i] += eta * dW2.data[i] - lambda * W2.data[i];
  for (let i = 0; i < W1.data.length; i++) W1.data[i] += eta * BR.data[i] - lambda * W1.data[i];
  if (o.feedback === 'normative') {
    for (let i = 0; i < P.data.length; i++) P.data[i] -= etaB * gP!.data[i];
    for (let i = 0; i < Q.data.length; i++) Q.data[i] -= etaB * gQ!.data[i];
  } else if (o.feedback === 'oja') {
    for (let i = 0; i < P.data.length; i++) P.data[i] -= etaB * gP!.data[i];
    for (let i = 0; i < Q.data.length; i++) Q.data[i] -= eta * gQ!.data[i] + lambda * Q.data[i];
  } else if (o.feedback === 'exact') {
    const f = balancedFactors(W2, P.shape[1]);
    P.data.set(f.P.data);
    Q.data.set(f.Q.data);
  }
}

function run(init: LinearState, o: LinearRunOptions, residual: (s: LinearState) => Residual, sigmaOf: ((M: Tensor) => number[]) | null): Trajectory {
  checkOptions(o);
  const state = cloneState(init);
  if (o.feedback === 'exact') {
    const f = balancedFactors(state.W2, state.P.shape[1]);
    state.P.data.set(f.P.data); state.Q.data.set(f.Q.data);
  }
  const out: Trajectory = { t: [], loss: [], sigma: [], final: state };
  let etaB = o.etaB;
  for (let t = 0; ; t++) {
    const res = residual(state);
    if (records(t, o)) {
      out.t.push(t);
      out.loss.push(res.loss);
      if (sigmaOf) out.sigma.push(sigmaOf(res.M));
    }
    if (t === o.steps) break;
    step(state, res, o, etaB);
    etaB *= o.etaBDecay;
  }
  return out;
}

function frobeniusDot(A: Tensor, B: Tensor): number {
  let s = 0;
  for (let i = 0; i < A.data.length; i++) s += A.data[i] * B.data[i];
  return s;
}

/**
 * Full-batch GD on the sufficient statistics (exact for the sample they came from).
 *   R = Σ_yx − MΣ_xx, M = W₂W₁;  L = ½tr Σ_yy − ⟨M, Σ_yx⟩ + ½⟨MΣ_xx, M⟩;
 *   C = Σ_yy − MΣ_yxᵀ − Σ_yxMᵀ + MΣ_xxMᵀ.
 * σ̂ is recorded when `frame` (of Σ_yx) is given.
 */
export function simulateStatistics(stats: LinearStatistics, init: LinearState, o: LinearRunOptions, frame?: RotatedFrame): Trajectory {
  const { Sxx, Syx, Syy } = stats;
  const m = Syy.shape[0];
  let traceYY = 0;
  for (let i = 0; i < m; i++) traceYY += Syy.data[i * m + i];
  return run(init, o, (s) => {
    const M = multiply(s.W2, s.W1);
    const MSxx = multiply(M, Sxx);
    const R = tensor(Syx.shape);
    for (let i = 0; i < R.data.length; i++) R.data[i] = Syx.data[i] - MSxx.data[i];
    const loss = 0.5 * traceYY - frobeniusDot(M, Syx) + 0.5 * frobeniusDot(MSxx, M);
    const covariance = () => {
      const C = multiply(MSxx, M, false, true);
      const MSyxT = multiply(M, Syx, false, true);
      for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) {
        C.data[a * m + b] += Syy.data[a * m + b] - MSyxT.data[a * m + b] - MSyxT.data[b * m + a];
      }
      return C;
    };
    return { R, M, loss, covariance };
  }, frame ? (M) => normalisedStrengths(M, frame, o.modes) : null);
}

/**
 * The "theory" iteration in the rotated frame (Σ_xx = I assumed): the state is W̄₁ = W₁V,
 * W̄₂ = UᵀW₂, P̂̄ = UᵀP̂, Q̂ (rotateState), and R̄ = S − W̄₂W̄₁ with S (m, n) rectangular diagonal
 * holding s. L = ½‖R̄‖² (noiseless teacher), σ̂_i = [W̄₂W̄₁]_ii / s_i, C = R̄R̄ᵀ.
 */
export function simulateTheory(s: Float64Array, rotatedInit: LinearState, o: LinearRunOptions): Trajectory {
  const m = rotatedInit.W2.shape[0], n = rotatedInit.W1.shape[1];
  if (s.length !== Math.min(m, n)) throw new Error(`simulateTheory: ${s.length} singular values given for an (${m}, ${n}) Σ_yx: min(m, n) = ${Math.min(m, n)} are required`);
  return run(rotatedInit, o, (state) => {
    const M = multiply(state.W2, state.W1);
    const R = tensor([m, n]);
    let loss = 0;
    for (let i = 0; i < R.data.length; i++) R.data[i] = -M.data[i];
    for (let i = 0; i < s.length; i++) R.data[i * n + i] += s[i];
    for (const v of R.data) loss += 0.5 * v * v;
    return { R, M, loss, covariance: () => multiply(R, R, false, true) };
  }, (M) => {
    const out: number[] = [];
    for (let i = 0; i < Math.min(o.modes, s.length); i++) out.push(M.data[i * n + i] / s[i]);
    return out;
  });
}

/**
 * Full-batch GD on the reference core: buildLinearNet (fc1 = W₁, fc2 = W₂, no bias), the
 * reference rule (bp; ldfa with mode fixed / normative, P̂ and Q̂ injected; 'exact' = ldfa
 * normative with SVD re-factorisation after every step), squaredError over all P rows of
 * X (P, n), Y (P, m), weights updated W ← W − η·grad − λW, feedback P̂ ← P̂ − η_b·grad.
 * Oja is not offered here: the reference Oja rule works on a mini-batch's summed covariance,
 * whose scale differs from the population C̃ used above.
 */
export function simulateSamples(X: Tensor, Y: Tensor, init: LinearState, o: LinearRunOptions, frame?: RotatedFrame): Trajectory {
  checkOptions(o);
  if (o.feedback === 'oja') throw new Error('simulateSamples: oja is not available on samples (see the doc comment); use simulateStatistics');
  const [k, n] = init.W1.shape, m = init.W2.shape[0], r = init.P.shape[1];
  const net = buildLinearNet({ inputSize: n, hidden: [k], outputSize: m }, new Rng(0));
  const [fc1, fc2] = net.sites;
  fc1.weight.value.data.set(init.W1.data);
  fc2.weight.value.data.set(init.W2.data);
  const inject = { 'fc2.P': tensor(init.P.shape, init.P.data), 'fc2.Q': tensor(init.Q.shape, init.Q.data) };
  const rule = o.feedback === 'bp' ? createRule('bp')
    : o.feedback === 'exact' ? createRule('ldfa', { ldfa: { rank: r, mode: 'normative', init: 'svd', svdEvery: 1 } })
      : createRule('ldfa', { ldfa: { rank: r, mode: o.feedback, init: 'random' }, inject });
  rule.attach(net, new Rng(0));
  const out: Trajectory = { t: [], loss: [], sigma: [], final: cloneState(init) };
  let etaB = o.etaB;
  for (let t = 0; ; t++) {
    const prediction = net.forward(X, true);
    const de = tensor(prediction.shape);
    const loss = squaredError(de, prediction, Y);
    if (records(t, o)) {
      out.t.push(t);
      out.loss.push(loss);
      if (frame) out.sigma.push(normalisedStrengths(multiply(fc2.weight.value, fc1.weight.value), frame, o.modes));
    }
    if (t === o.steps) break;
    net.backward(de);
    rule.feedbackGradients();
    for (const p of net.params()) {
      const w = p.value.data, g = p.grad.data;
      for (let i = 0; i < w.length; i++) w[i] -= o.eta * g[i] + o.lambda * w[i];
    }
    if (o.feedback === 'normative') {
      for (const p of rule.feedbackParams()) {
        const w = p.value.data, g = p.grad.data;
        for (let i = 0; i < w.length; i++) w[i] -= etaB * g[i];
      }
    }
    rule.afterStep(t + 1);
    etaB *= o.etaBDecay;
  }
  const feedback = rule.feedbackTensors();
  out.final = {
    W1: tensor(fc1.weight.value.shape, fc1.weight.value.data),
    W2: tensor(fc2.weight.value.shape, fc2.weight.value.data),
    P: feedback['fc2.P'] ? tensor(feedback['fc2.P'].shape, feedback['fc2.P'].data) : tensor(init.P.shape),
    Q: feedback['fc2.Q'] ? tensor(feedback['fc2.Q'].shape, feedback['fc2.Q'].data) : tensor(init.Q.shape),
  };
  return out;
}

/**
 * The gradients the reference core computes on samples, in closed form (the identity the
 * statistics simulation rests on): grad W₂ = −R W₁ᵀ and feedback grad W₁ = −B R with
 * R = Σ_yx − W₂W₁Σ_xx and B = W₂ᵀ (bp) or Q̂ᵀP̂ᵀ (ldfa).
 */
export function closedFormGradients(stats: LinearStatistics, state: LinearState, feedback: 'bp' | 'ldfa'): { dW1: Tensor; dW2: Tensor } {
  const MSxx = multiply(multiply(state.W2, state.W1), stats.Sxx);
  const R = tensor(stats.Syx.shape);
  for (let i = 0; i < R.data.length; i++) R.data[i] = MSxx.data[i] - stats.Syx.data[i]; // −R
  const dW2 = multiply(R, state.W1, false, true);
  const dW1 = feedback === 'bp' ? multiply(state.W2, R, true, false) : multiply(state.Q, multiply(state.P, R, true, false), true, false);
  return { dW1, dW2 };
}
