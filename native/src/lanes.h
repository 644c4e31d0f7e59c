// The addon's lane kernels, written once for a vector width: layers.c includes this file twice,
// with LANES 8 (one AVX register, two SSE ones; compiled for AVX2 and any x86-64) and LANES 16
// (one AVX-512 register, where the CPU has AVX-512): the pass over W, the feedback and the passes
// over the batch. Before each inclusion it defines LANES, V(name) (the names of that width: name
// itself for 8, name_16 for 16), DOTS_K (how many of Q̂'s rows block_dots takes beside four rows
// of A: 2 in AVX2's 16 registers, 4 in AVX-512's 32), OUTER_K (rows of a tile of the outer sums:
// 6 and 10), LANES_TARGET (the instruction sets the entry points are compiled for) and
// LANES_INLINE (how the helpers are declared); the file undefines them at its end.
//
// Multiplies and adds stay separate operations (ISO C mode does not contract them), so every
// instruction set that runs one width rounds alike. The two widths sum a dot product's lanes in
// different groups (j mod 8, j mod 16), so their AQ differ in the last bits; a CPU always runs the
// same width, chosen by its features, never by load. PA's sums (over rows, per column) do not
// depend on the width.

typedef float V(lanes) __attribute__((vector_size(LANES * sizeof(float))));
LANES_INLINE V(lanes) V(load_lanes)(const float *p) { V(lanes) v; memcpy(&v, p, sizeof v); return v; }
LANES_INLINE void V(store_lanes)(float *p, V(lanes) v) { memcpy(p, &v, sizeof v); }
/** c in every lane, as an initialiser (one broadcast instruction). */
LANES_INLINE V(lanes) V(broadcast)(float c) {
#if LANES == 16
  return (V(lanes)){c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c};
#else
  return (V(lanes)){c, c, c, c, c, c, c, c};
#endif
}
/**
 * The lanes' sum as a tree: for 8, ((v₀ + v₄) + (v₂ + v₆)) + ((v₁ + v₅) + (v₃ + v₇)); 16 lanes
 * are first folded to 8 (v_l + v_{l+8}).
 */
LANES_INLINE float V(lane_sum)(V(lanes) v) {
  float h[8];
  for (int l = 0; l < 8; l++) h[l] = LANES == 16 ? v[l] + v[(l + 8) % LANES] : v[l];
  const float a0 = h[0] + h[4], a1 = h[1] + h[5], a2 = h[2] + h[6], a3 = h[3] + h[7];
  return (a0 + a2) + (a1 + a3);
}

/**
 * One column block (width values from column j0) of R rows of A, a[ρ] pointing at the block:
 * the dot products with Q̂'s rows k … k + K − 1 (R·K running sums side by side, so that no
 * chain of additions waits on the adder), added to AQ (set by the first block).
 */
LANES_INLINE void V(block_dots)(int R, int K, const float *const *a, const float *Q, size_t in, size_t k, size_t width, float *const *aq, bool first) {
  const size_t full = width - width % LANES;
  V(lanes) s[4][4];
  for (int p = 0; p < R; p++) for (int q = 0; q < K; q++) s[p][q] = V(broadcast)(0);
  for (size_t j = 0; j < full; j += LANES) {
    V(lanes) w[4];
    for (int q = 0; q < K; q++) w[q] = V(load_lanes)(Q + (k + q) * in + j);
    for (int p = 0; p < R; p++) {
      const V(lanes) v = V(load_lanes)(a[p] + j);
      for (int q = 0; q < K; q++) s[p][q] += v * w[q];
    }
  }
  for (int p = 0; p < R; p++) for (int q = 0; q < K; q++) {
    float t = V(lane_sum)(s[p][q]);
    for (size_t j = full; j < width; j++) t += a[p][j] * Q[(k + q) * in + j];
    aq[p][k + q] = first ? t : aq[p][k + q] + t;
  }
}

/**
 * All r dot products of R rows of A (one column block) with Q̂'s rows (row stride `in`): two of
 * Q̂'s rows at a time for four rows of A, four at a time for one, then one by one.
 */
LANES_INLINE void V(rows_dots)(int R, const float *const *a, const float *Q, size_t in, size_t r, size_t width, float *const *aq, bool first) {
  const int K = R == 4 ? DOTS_K : 4;
  size_t k = 0;
  for (; k + K <= r; k += K) V(block_dots)(R, K, a, Q, in, k, width, aq, first);
  for (; k < r; k++) V(block_dots)(R, 1, a, Q, in, k, width, aq, first);
}

/** The same block's part of PA: PA[k, block] += Σ_ρ P̂[i_ρ, k]·A[i_ρ, block], added row by row in order. */
LANES_INLINE void V(block_axpys)(int R, const float *const *a, const float *const *p, float *PA, size_t in, size_t r, size_t width) {
  const size_t full = width - width % LANES;
  for (size_t k = 0; k < r; k++) {
    V(lanes) b[8];
    for (int q = 0; q < R; q++) b[q] = V(broadcast)(p[q][k]);
    float *row = PA + k * in;
    size_t j = 0;
    for (; j < full; j += LANES) {
      V(lanes) t = V(load_lanes)(row + j);
      for (int q = 0; q < R; q++) t = t + b[q] * V(load_lanes)(a[q] + j);
      V(store_lanes)(row + j, t);
    }
    for (; j < width; j++) {
      float t = row[j];
      for (int q = 0; q < R; q++) t = t + p[q][k] * a[q][j];
      row[j] = t;
    }
  }
}

/** R rows from i, one column block: their dot products and their part of PA. */
LANES_INLINE void V(block_rows)(int R, const LowRankRows *job, size_t i, size_t j0, size_t width) {
  const size_t in = job->in, r = job->r;
  const float *a[8], *p[8];
  float *aq[8];
  for (int q = 0; q < R; q++) {
    a[q] = job->A + (i + q) * in + j0;
    p[q] = job->P == NULL ? NULL : job->P + (i + q) * r;
    aq[q] = job->AQ == NULL ? NULL : job->AQ + (i + q) * r;
  }
  if (job->AQ != NULL) {
    if (R == 8) { V(rows_dots)(4, a, job->Q + j0, in, r, width, aq, j0 == 0); V(rows_dots)(4, a + 4, job->Q + j0, in, r, width, aq + 4, j0 == 0); }
    else V(rows_dots)(R, a, job->Q + j0, in, r, width, aq, j0 == 0);
  }
  if (job->PA != NULL) V(block_axpys)(R, a, p, job->PA + j0, in, r, width);
}

/**
 * Rows i0..i1 of A: AQ's rows, and their part of PA (PA zeroed by the caller). A is taken in
 * blocks of LOW_RANK_ROWS rows × LOW_RANK_BLOCK columns (whole rows up to 1024 wide: narrower
 * blocks, whose slices of Q̂ and PA would stay in L1, measured slower), so that each value of A
 * comes from memory once, the next rows prefetched. Rows go eight at a time: each load of PA then
 * serves eight rows, each load of Q̂ four. The sums' order depends on the shape alone.
 */
LANES_TARGET
static void V(low_rank_rows)(const LowRankRows *job) {
  for (size_t rows0 = job->i0; rows0 < job->i1; rows0 += LOW_RANK_ROWS) {
    const size_t rows1 = job->i1 - rows0 < LOW_RANK_ROWS ? job->i1 : rows0 + LOW_RANK_ROWS;
    for (size_t j0 = 0; j0 < job->in; j0 += LOW_RANK_BLOCK) {
      const size_t width = job->in - j0 < LOW_RANK_BLOCK ? job->in - j0 : LOW_RANK_BLOCK;
      size_t i = rows0;
      for (; i + 8 <= rows1; i += 8) {
        // the next eight rows' block, on its way in while these eight are worked on
        if (i + 16 <= job->i1) for (size_t q = 8; q < 16; q++) for (size_t j = 0; j < width; j += 16) __builtin_prefetch(job->A + (i + q) * job->in + j0 + j);
        V(block_rows)(8, job, i, j0, width);
      }
      for (; i + 4 <= rows1; i += 4) V(block_rows)(4, job, i, j0, width);
      for (; i < rows1; i++) V(block_rows)(1, job, i, j0, width);
    }
  }
}

/**
 * y (width) = Σ_q c[q·stride]·B[q, ·] over B's r rows (width each) in order, LANES lanes over the
 * columns, eight vectors at a time (each coefficient loaded once for eight vectors, eight sums
 * side by side so that none waits on the adder). Each value is the same sum at either width.
 */
LANES_INLINE void V(combine_rows)(float *y, const float *c, size_t stride, const float *B, size_t r, size_t width) {
  size_t j = 0;
  for (; j + 8 * LANES <= width; j += 8 * LANES) {
    V(lanes) s[8];
    for (int g = 0; g < 8; g++) s[g] = V(broadcast)(0);
    for (size_t q = 0; q < r; q++) {
      const V(lanes) cq = V(broadcast)(c[q * stride]);
      for (int g = 0; g < 8; g++) s[g] = s[g] + cq * V(load_lanes)(B + q * width + j + LANES * (size_t)g);
    }
    for (int g = 0; g < 8; g++) V(store_lanes)(y + j + LANES * (size_t)g, s[g]);
  }
  for (; j + LANES <= width; j += LANES) {
    V(lanes) s = V(broadcast)(0);
    for (size_t q = 0; q < r; q++) s = s + V(broadcast)(c[q * stride]) * V(load_lanes)(B + q * width + j);
    V(store_lanes)(y + j, s);
  }
  for (; j < width; j++) {
    float s = 0;
    for (size_t q = 0; q < r; q++) s = s + c[q * stride] * B[q * width + j];
    y[j] = s;
  }
}

/**
 * LDFA's feedback, samples i0 … i1: z_i = dy_i·P̂ (dot products with P̂ᵀ's rows, four samples at
 * a time), then dx_i = z_i·Q̂ (a combination of Q̂'s rows). Every value of a sample's row from that
 * sample alone.
 */
LANES_TARGET
static void V(feedback_rows)(const FeedbackRows *job) {
  const size_t out = job->out, in = job->in, r = job->r;
  for (size_t i = job->i0; i < job->i1;) {
    const int R = job->i1 - i >= 4 ? 4 : 1;
    const float *dyr[4];
    float *zr[4];
    for (int q = 0; q < R; q++) { dyr[q] = job->dy + (i + q) * out; zr[q] = job->z + (i + q) * r; }
    V(rows_dots)(R, dyr, job->Pt, out, r, out, zr, true);
    for (int q = 0; q < R; q++) V(combine_rows)(job->dx + (i + q) * in, zr[q], 1, job->Q, r, in);
    i += (size_t)R;
  }
}

/** Oja's and factorised's samples i0 … i1: v_i = δ_i·P̂ (dot products with P̂ᵀ's rows) and u_i, four samples at a time. */
LANES_TARGET
static void V(batch_projections)(const BatchJob *job, size_t i0, size_t i1) {
  const size_t out = job->out, in = job->in, r = job->r;
  for (size_t i = i0; i < i1;) {
    const int R = i1 - i >= 4 ? 4 : 1;
    const float *dyr[4], *xr[4];
    float *vw[4], *uw[4];
    for (int q = 0; q < R; q++) { dyr[q] = job->dy + (i + q) * out; xr[q] = job->x + (i + q) * in; vw[q] = job->v + (i + q) * r; uw[q] = job->u + (i + q) * r; }
    V(rows_dots)(R, dyr, job->Pt, out, r, out, vw, true);
    if (job->Q != NULL) V(rows_dots)(R, xr, job->Q, in, r, in, uw, true);
    else for (size_t e = i * r; e < (i + (size_t)R) * r; e++) job->u[e] = (float)(((double)job->v[e] - job->cP[e % r]) / job->d);
    i += (size_t)R;
  }
}

/**
 * C[k + q, j …] = Σ_i a[i, k + q]·b[i, j …] for q < K and `groups` groups of LANES columns (or
 * one column, groups 0), the sum over the samples i in order; a (N, r), b (N, width), C (r, width).
 * `next` (or NULL): the next strip of b, fetched towards the cache meanwhile (b's rows lie a row
 * apart in memory, too far apart for the hardware to fetch them ahead).
 */
LANES_INLINE void V(outer_tile)(int K, int groups, float *C, const float *a, const float *b, size_t N, size_t r, size_t width, size_t k, size_t j, const float *next) {
  if (groups == 0) {
    for (int q = 0; q < K; q++) {
      float s = 0;
      for (size_t i = 0; i < N; i++) s = s + a[i * r + k + q] * b[i * width + j];
      C[(k + q) * width + j] = s;
    }
    return;
  }
  V(lanes) s[OUTER_K][2];
  for (int q = 0; q < K; q++) for (int g = 0; g < groups; g++) s[q][g] = V(broadcast)(0);
  for (size_t i = 0; i < N; i++) {
    if (next != NULL) __builtin_prefetch(next + i * width, 0, 2);
    V(lanes) x[2];
    for (int g = 0; g < groups; g++) x[g] = V(load_lanes)(b + i * width + j + LANES * (size_t)g);
    for (int q = 0; q < K; q++) {
      const V(lanes) c = V(broadcast)(a[i * r + k + q]);
      for (int g = 0; g < groups; g++) s[q][g] = s[q][g] + c * x[g];
    }
  }
  for (int q = 0; q < K; q++) for (int g = 0; g < groups; g++) V(store_lanes)(C + (k + q) * width + j + LANES * (size_t)g, s[q][g]);
}

/** All of C's rows for one strip of columns (j, `groups` as V(outer_tile)): OUTER_K rows at a time, the strip then in L1. */
LANES_INLINE void V(outer_strip)(int groups, float *C, const float *a, const float *b, size_t N, size_t r, size_t width, size_t j, const float *next) {
  size_t k = 0;
  for (; k + OUTER_K <= r; k += OUTER_K, next = NULL) V(outer_tile)(OUTER_K, groups, C, a, b, N, r, width, k, j, next);
  switch (r - k) { // a constant K for each call, so that its loops unroll
#if OUTER_K > 6
    case 9: V(outer_tile)(9, groups, C, a, b, N, r, width, k, j, next); break;
    case 8: V(outer_tile)(8, groups, C, a, b, N, r, width, k, j, next); break;
    case 7: V(outer_tile)(7, groups, C, a, b, N, r, width, k, j, next); break;
    case 6: V(outer_tile)(6, groups, C, a, b, N, r, width, k, j, next); break;
#endif
    case 5: V(outer_tile)(5, groups, C, a, b, N, r, width, k, j, next); break;
    case 4: V(outer_tile)(4, groups, C, a, b, N, r, width, k, j, next); break;
    case 3: V(outer_tile)(3, groups, C, a, b, N, r, width, k, j, next); break;
    case 2: V(outer_tile)(2, groups, C, a, b, N, r, width, k, j, next); break;
    case 1: V(outer_tile)(1, groups, C, a, b, N, r, width, k, j, next); break;
    default: break;
  }
}

/**
 * Columns j0 … j1 of C (r, width) = aᵀ·b, a (N, r), b (N, width): strips of 2·LANES columns, then
 * LANES, then 1. Every value is the same sequential sum over the samples at either width.
 */
LANES_TARGET
static void V(outer_sums)(float *C, const float *a, const float *b, size_t N, size_t r, size_t width, size_t j0, size_t j1) {
  size_t j = j0;
  for (; j + 2 * LANES <= j1; j += 2 * LANES) V(outer_strip)(2, C, a, b, N, r, width, j, j + 4 * LANES <= j1 ? b + j + 2 * LANES : NULL);
  for (; j + LANES <= j1; j += LANES) V(outer_strip)(1, C, a, b, N, r, width, j, NULL);
  for (; j < j1; j++) V(outer_strip)(0, C, a, b, N, r, width, j, NULL);
}

#undef LANES
#undef V
#undef DOTS_K
#undef OUTER_K
#undef LANES_TARGET
#undef LANES_INLINE
