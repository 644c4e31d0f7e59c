// Multi-head scaled-dot-product attention, the core between the projections (spec §4.3;
// QKᵀ, the softmax and AV are backpropagated exactly under every rule). No mask (ViT).
//   B = batch, T = sequence length, D = model width, H = heads, dh = D/H, head h owns the
//   channels h·dh … (h+1)·dh − 1 of q, k, v and out.
//   S_h = q_h·k_hᵀ / √dh      (T, T) per batch element and head
//   A_h = softmax(S_h) row-wise
//   out = concat_h A_h·v_h    (B, T, D)
// The q/k/v/output projections are linear layers composed by the model, not part of this file.
import { ops } from '../backend.ts';
import { assertShape, tensor, type Tensor } from '../tensor.ts';

/** Saved by the forward pass for the backward pass. */
export interface AttentionCache {
  heads: number;
  probs: Tensor; // (B·H, T, T) the attention probabilities A, row (b·H + h, i) = weights of query i
}

function dims(name: string, q: Tensor, heads: number) {
  if (q.shape.length !== 3) assertShape(`${name} q`, q, [-1, -1, -1]);
  const [B, T, D] = q.shape;
  if (!Number.isInteger(heads) || heads < 1 || D % heads !== 0) {
    throw new Error(`${name}: ${heads} heads is not allowed for width D = ${D}: heads must be a positive integer dividing D`);
  }
  return { B, T, D, H: heads, dh: D / heads };
}

/** (B, T, D) → (B·H, T, dh): head h of batch b becomes batch entry b·H + h. */
function splitHeads(x: Tensor, H: number): Tensor {
  const [B, T, D] = x.shape, dh = D / H;
  const out = tensor([B * H, T, dh]);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++)
        for (let e = 0; e < dh; e++) out.data[((b * H + h) * T + t) * dh + e] = x.data[(b * T + t) * D + h * dh + e];
  return out;
}

/** (B·H, T, dh) → (B, T, D), the inverse of splitHeads; overwrites x. */
function mergeHeads(x: Tensor, heads: Tensor, H: number): void {
  const [B, T, D] = x.shape, dh = D / H;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++)
        for (let e = 0; e < dh; e++) x.data[(b * T + t) * D + h * dh + e] = heads.data[((b * H + h) * T + t) * dh + e];
}

/**
 * out = concat_h softmax(q_h k_hᵀ/√dh) v_h. Overwrites out; returns the probabilities.
 *   out: (B, T, D)  q: (B, T, D)  k: (B, T, D)  v: (B, T, D)
 */
export function attentionForward(out: Tensor, q: Tensor, k: Tensor, v: Tensor, heads: number): AttentionCache {
  const { B, T, D, H, dh } = dims('attention', q, heads);
  assertShape('attention k', k, [B, T, D]);
  assertShape('attention v', v, [B, T, D]);
  assertShape('attention out', out, [B, T, D]);
  const qh = splitHeads(q, H), kh = splitHeads(k, H), vh = splitHeads(v, H);
  const probs = tensor([B * H, T, T]);
  ops().batchMatmul(probs, qh, kh, false, true); // S = q kᵀ
  const scale = 1 / Math.sqrt(dh);
  for (let row = 0; row < B * H * T; row++) { // softmax(scale·S) in place, max subtracted
    const p_row = row * T;
    let max = -Infinity;
    for (let j = 0; j < T; j++) max = Math.max(max, probs.data[p_row + j] * scale);
    let sum = 0;
    for (let j = 0; j < T; j++) {
      const e = Math.exp(probs.data[p_row + j] * scale - max);
      probs.data[p_row + j] = e;
      sum += e;
    }
    for (let j = 0; j < T; j++) probs.data[p_row + j] /= sum;
  }
  const outh = tensor([B * H, T, dh]);
  ops().batchMatmul(outh, probs, vh); // A v
  mergeHeads(out, outh, H);
  return { heads: H, probs };
}

/**
 * Exact gradients, per head, with dO_h the head's slice of dout:
 *   dv_h = A_hᵀ·dO_h
 *   dA_h = dO_h·v_hᵀ
 *   dS_h = A_h ⊙ (dA_h − rowsum(dA_h ⊙ A_h))        (softmax backward, row-wise)
 *   dq_h = dS_h·k_h / √dh,   dk_h = dS_hᵀ·q_h / √dh
 * All overwritten.
 *   dq, dk, dv: (B, T, D)  dout: (B, T, D)  q, k, v: (B, T, D) the forward inputs
 */
export function attentionBackward(
  dq: Tensor, dk: Tensor, dv: Tensor, dout: Tensor, q: Tensor, k: Tensor, v: Tensor, cache: AttentionCache,
): void {
  const { B, T, D, H, dh } = dims('attention', q, cache.heads);
  for (const [name, t] of [['k', k], ['v', v], ['dout', dout], ['dq', dq], ['dk', dk], ['dv', dv]] as const) {
    assertShape(`attention ${name}`, t, [B, T, D]);
  }
  assertShape('attention cache probs', cache.probs, [B * H, T, T]);
  const probs = cache.probs;
  const qh = splitHeads(q, H), kh = splitHeads(k, H), vh = splitHeads(v, H), douth = splitHeads(dout, H);

  const dvh = tensor([B * H, T, dh]);
  ops().batchMatmul(dvh, probs, douth, true, false); // Aᵀ dO
  const dS = tensor([B * H, T, T]);
  ops().batchMatmul(dS, douth, vh, false, true); // dA = dO vᵀ, turned into dS in place below
  const scale = 1 / Math.sqrt(dh);
  for (let row = 0; row < B * H * T; row++) {
    const p_row = row * T;
    let dot = 0;
    for (let j = 0; j < T; j++) dot += dS.data[p_row + j] * probs.data[p_row + j];
    for (let j = 0; j < T; j++) dS.data[p_row + j] = probs.data[p_row + j] * (dS.data[p_row + j] - dot) * scale;
  }
  const dqh = tensor([B * H, T, dh]), dkh = tensor([B * H, T, dh]);
  ops().batchMatmul(dqh, dS, kh); // dS k
  ops().batchMatmul(dkh, dS, qh, true, false); // dSᵀ q
  mergeHeads(dq, dqh, H);
  mergeHeads(dk, dkh, H);
  mergeHeads(dv, dvh, H);
}
