// Float32 layer kernels of the fast training path (src/fast/layers.ts): the elementwise and
// reduction loops around the GEMMs, which in JavaScript cost more than the GEMMs themselves
// (a ReLU over 800k float32 values takes ~6 ms in V8, mostly branch mispredictions; here it is
// a branch-free vector loop). Each implements the reference layer function named beside it
// (reference/layers/*.ts, the truth; test/fast-layers.test.ts compares them). Sums accumulate
// in double, as the reference does.
//
//   activation(kind, y, x)  activationBackward(kind, dx, dy, x)     kind 0 relu, 1 tanh   activation.ts
//   gelu(y, x)  geluBackward(dx, dy, x)                                                    gelu.ts
//   biasAdd(y, b, N, O, P)  biasGrad(db, dy, N, O, P)                                      linear.ts, conv2d.ts
//   layerNorm(y, x, gamma, beta, mean, rstd, C, eps)                                       layernorm.ts
//   layerNormBackward(dx|null, dgamma, dbeta, dy, x, gamma, mean, rstd, C)
//   batchNorm(y, x, gamma, beta, runMean, runVar, mean, rstd, N, C, S, training, momentum, eps)   batchnorm.ts
//   batchNormBackward(dx|null, dgamma, dbeta, dy, x, gamma, mean, rstd, N, C, S, training)
//   maxPool(y, winners, x, N·C, H, W, k, stride, Ho, Wo)                                  pool.ts
//   attention(out, probs, q, k, v, B, T, A, heads)                                         attention.ts
//   attentionBackward(dq, dk, dv, dS, dout, q, k, v, probs, B, T, A, heads)
//   im2col(cols, x, ...geometry)  col2im(dx, cols, ...geometry)  permuteBlocks(dst, src, A, B, P)
//   firstNonFinite(x) -> index or −1                                                       tensor.ts
//   clamp(x, c)   x ← min(c, max(−c, x)) in place (clampInPlace's values)                   tensor.ts
//   laneWidth(n) -> 8 or 16   asks (0) or sets the width of LDFA's lane kernels             (tests)
//   normaliseError(y, x, n, f, how, eps)   LDFA Oja's normalised error                     rules/ldfa.ts
//   lowRankSides(AQ|null, PA|null, A, P|null, Q|null, out, in, r)   A·Q̂ᵀ and P̂ᵀ·A in one pass   rules/ldfa.ts
//   lowRankFeedback(dx, dy, P, Q, N, out, in, r)   LDFA's feedback dx = (dy·P̂)·Q̂, fused      feedback.ts
//   normativeLowRank(gP, gQ, P, Q, W, out, in, r)   normative's gradients at low rank, fused   rules/ldfa.ts
//   ojaLinear(gP, gQ, P, dy, x, dW|null, how, eps, N, out, in, r)   Oja on a linear layer, fused   rules/ldfa.ts
//   factorisedLinear(gP, gQ, P, Q, dy, x, N, out, in, r)   factorised through the batch, fused   rules/ldfa.ts
// (mean, rstd, runMean, runVar: Float64Array, the reference's caches; winners: Int32Array.)
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>
#include "pair.h"

#define MAX_ARGS 16
#define FAIL(msg) do { napi_throw_error(env, NULL, "ldfa_blas." msg); return NULL; } while (0)

/** Arguments of one call, read by position; the first type error is remembered and thrown once. */
typedef struct { napi_env env; napi_value v[MAX_ARGS]; size_t n; const char *error; } Args;

static bool args_read(napi_env env, napi_callback_info info, Args *a, size_t expected) {
  a->env = env; a->n = MAX_ARGS; a->error = NULL;
  if (napi_get_cb_info(env, info, &a->n, a->v, NULL, NULL) != napi_ok || a->n != expected) a->error = "wrong number of arguments";
  return a->error == NULL;
}

// Every reader returns 0 / NULL once an error is recorded, so a kernel reads all its arguments
// and checks once (failed()).
static void *typed(Args *a, size_t i, napi_typedarray_type want, size_t *len, bool nullable) {
  if (a->error) return NULL;
  napi_valuetype t;
  if (nullable && napi_typeof(a->env, a->v[i], &t) == napi_ok && t == napi_null) { *len = 0; return NULL; }
  napi_typedarray_type type;
  void *data = NULL;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(a->env, a->v[i], &type, len, &data, &buffer, &offset) != napi_ok || type != want) {
    a->error = want == napi_float32_array ? "a float32 operand is not a Float32Array" : want == napi_float64_array ? "a statistics operand is not a Float64Array" : "winners is not an Int32Array";
    return NULL;
  }
  return data;
}

/** A typed-array argument with at least `need` elements (null allowed where nullable). */
static void *sized(Args *a, size_t i, napi_typedarray_type want, size_t need, bool nullable) {
  size_t len = 0;
  void *p = typed(a, i, want, &len, nullable);
  if (p != NULL && len < need) { a->error = "an array is shorter than its shape requires"; return NULL; }
  return p;
}

#define f32(a, i, need) ((float *)sized(a, i, napi_float32_array, need, false))
#define f32_or_null(a, i, need) ((float *)sized(a, i, napi_float32_array, need, true))
#define f64(a, i, need) ((double *)sized(a, i, napi_float64_array, need, false))
#define i32(a, i, need) ((int32_t *)sized(a, i, napi_int32_array, need, false))

static int64_t int_arg(Args *a, size_t i) {
  int64_t v = 0;
  if (a->error) return 0;
  if (napi_get_value_int64(a->env, a->v[i], &v) != napi_ok || v < 0) a->error = "a size is not a non-negative integer";
  return v;
}

static double num(Args *a, size_t i) {
  double v = 0;
  if (a->error) return 0;
  if (napi_get_value_double(a->env, a->v[i], &v) != napi_ok) a->error = "a parameter is not a number";
  return v;
}

static bool flag(Args *a, size_t i) {
  bool v = false;
  if (a->error) return false;
  if (napi_get_value_bool(a->env, a->v[i], &v) != napi_ok) a->error = "a flag is not a boolean";
  return v;
}

/** Throws the first argument error as "ldfa_blas.NAME: why" and returns true when there was one. */
static bool failed(Args *a, const char *name) {
  if (a->error == NULL) return false;
  char msg[200];
  snprintf(msg, sizeof msg, "ldfa_blas.%s: %s", name, a->error);
  napi_throw_error(a->env, NULL, msg);
  return true;
}

/** The length of the first argument that is a Float32Array (elementwise kernels size everything by it). */
static size_t length_of(Args *a, size_t i) {
  size_t len = 0;
  typed(a, i, napi_float32_array, &len, false);
  return len;
}

// ---- elementwise ---------------------------------------------------------------------------
// The loops are compiled twice (target_clones), for AVX2 and for any x86-64, the one for this
// CPU chosen at load: the same operations in the same order (no contraction), so the same bytes.

__attribute__((target_clones("avx2", "default")))
static void activation_loop(int64_t kind, float *y, const float *x, size_t n) {
  if (kind == 0) for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
  else for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

__attribute__((target_clones("avx2", "default")))
static void activation_backward_loop(int64_t kind, float *dx, const float *dy, const float *x, size_t n) {
  // dy[i] is read whether or not it passes, so the select compiles to a vector blend (a
  // conditional read is a branch per value: 4.5 ns a value on random signs)
  if (kind == 0) for (size_t i = 0; i < n; i++) { const float g = dy[i]; dx[i] = x[i] > 0.0f ? g : 0.0f; }
  else for (size_t i = 0; i < n; i++) { const float t = tanhf(x[i]); dx[i] = (1.0f - t * t) * dy[i]; }
}

static napi_value activation(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 3);
  int64_t kind = int_arg(&a, 0);
  size_t n = length_of(&a, 2);
  float *y = f32(&a, 1, n), *x = f32(&a, 2, n);
  if (!a.error && kind > 1) a.error = "kind must be 0 (relu) or 1 (tanh)";
  if (failed(&a, "activation")) return NULL;
  activation_loop(kind, y, x, n);
  return NULL;
}

static napi_value activation_backward(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 4);
  int64_t kind = int_arg(&a, 0);
  size_t n = length_of(&a, 3);
  float *dx = f32(&a, 1, n), *dy = f32(&a, 2, n), *x = f32(&a, 3, n);
  if (!a.error && kind > 1) a.error = "kind must be 0 (relu) or 1 (tanh)";
  if (failed(&a, "activationBackward")) return NULL;
  activation_backward_loop(kind, dx, dy, x, n);
  return NULL;
}

// GELU in float arithmetic through the logistic σ, with no cancellation where tanh(u) → −1:
//   ½(1 + tanh u) = σ(2u) = 1/(1 + e^{−2u}),   1 − tanh²u = 4σ(1 − σ)
//   y = x·σ(2u),   dy/dx = σ + 2x·σ(1 − σ)·√(2/π)·(1 + 3·0.044715·x²)
// on an exp the compiler can vectorise (libm's tanh took 20 ns a value, 20% of a ViT step):
// e^x = 2^k·e^r, k = round(x/ln 2), |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial
// (relative error < 2e-7 on that interval).
static const float SQRT_2_OVER_PI = 0.7978845608f, GELU_CUBIC = 0.044715f;

static inline float exp_vectorisable(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 87.0f ? 87.0f : x;
  const float k = (x * 1.44269504f + 12582912.0f) - 12582912.0f; // round to nearest: 1.5·2^23 drops the fraction
  const float r = x - k * 0.693145752f - k * 1.42860677e-6f; // ln 2 split in two for an exact k·ln2
  const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  const int32_t bits = ((int32_t)k + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

static inline float sigmoid_of_twice(float u) {
  return 1.0f / (1.0f + exp_vectorisable(-2.0f * u));
}

__attribute__((target_clones("avx2", "default")))
static void gelu_loop(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = v * sigmoid_of_twice(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
  }
}

__attribute__((target_clones("avx2", "default")))
static void gelu_backward_loop(float *dx, const float *dy, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i], s = sigmoid_of_twice(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
    const float local = s + 2.0f * v * s * (1.0f - s) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * v * v);
    dx[i] = dy[i] * local;
  }
}

static napi_value gelu(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 2);
  size_t n = length_of(&a, 1);
  float *y = f32(&a, 0, n), *x = f32(&a, 1, n);
  if (failed(&a, "gelu")) return NULL;
  gelu_loop(y, x, n);
  return NULL;
}

static napi_value gelu_backward(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 3);
  size_t n = length_of(&a, 2);
  float *dx = f32(&a, 0, n), *dy = f32(&a, 1, n), *x = f32(&a, 2, n);
  if (failed(&a, "geluBackward")) return NULL;
  gelu_backward_loop(dx, dy, x, n);
  return NULL;
}

// ---- bias: y (N, O, P) += b[o];  db[o] = Σ_{n,p} dy[n, o, p]  (P = 1 for a linear layer) ----

__attribute__((target_clones("avx2", "default")))
static void bias_add_loop(float *y, const float *b, size_t N, size_t O, size_t P) {
  for (size_t n = 0; n < N; n++) {
    float *yn = y + n * O * P;
    if (P == 1) for (size_t o = 0; o < O; o++) yn[o] += b[o]; // a linear layer's row: one vector loop
    else for (size_t o = 0; o < O; o++) for (size_t p = 0; p < P; p++) yn[o * P + p] += b[o];
  }
}

/** sums (O doubles) is the caller's work array. */
__attribute__((target_clones("avx2", "default")))
static void bias_grad_loop(float *db, double *sums, const float *dy, size_t N, size_t O, size_t P) {
  for (size_t o = 0; o < O; o++) sums[o] = 0;
  for (size_t n = 0; n < N; n++) {
    const float *gn = dy + n * O * P;
    if (P == 1) for (size_t o = 0; o < O; o++) sums[o] += gn[o]; // the same sums in the same order, as one vector loop
    else for (size_t o = 0; o < O; o++) {
      double s = 0;
      for (size_t p = 0; p < P; p++) s += gn[o * P + p];
      sums[o] += s;
    }
  }
  for (size_t o = 0; o < O; o++) db[o] = (float)sums[o];
}

static napi_value bias_add(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 5);
  size_t N = (size_t)int_arg(&a, 2), O = (size_t)int_arg(&a, 3), P = (size_t)int_arg(&a, 4);
  float *y = f32(&a, 0, N * O * P), *b = f32(&a, 1, O);
  if (failed(&a, "biasAdd")) return NULL;
  bias_add_loop(y, b, N, O, P);
  return NULL;
}

static napi_value bias_grad(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 5);
  size_t N = (size_t)int_arg(&a, 2), O = (size_t)int_arg(&a, 3), P = (size_t)int_arg(&a, 4);
  float *db = f32(&a, 0, O), *dy = f32(&a, 1, N * O * P);
  if (failed(&a, "biasGrad")) return NULL;
  double sums[O > 0 ? O : 1];
  bias_grad_loop(db, sums, dy, N, O, P);
  return NULL;
}

// ---- normalisation ---------------------------------------------------------------------------

static napi_value layer_norm(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 8);
  size_t C = (size_t)int_arg(&a, 6);
  size_t n = length_of(&a, 1), R = C ? n / C : 0;
  float *y = f32(&a, 0, n), *x = f32(&a, 1, n);
  float *gamma = f32(&a, 2, C), *beta = f32(&a, 3, C);
  double *mean = f64(&a, 4, R), *rstd = f64(&a, 5, R);
  double eps = num(&a, 7);
  if (failed(&a, "layerNorm")) return NULL;
  for (size_t r = 0; r < R; r++) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    double sum = 0, sq = 0;
    for (size_t c = 0; c < C; c++) sum += xr[c];
    const double mu = sum / C;
    for (size_t c = 0; c < C; c++) { const double d = xr[c] - mu; sq += d * d; }
    const double rs = 1.0 / sqrt(sq / C + eps);
    for (size_t c = 0; c < C; c++) yr[c] = (float)(gamma[c] * (xr[c] - mu) * rs + beta[c]);
    mean[r] = mu;
    rstd[r] = rs;
  }
  return NULL;
}

static napi_value layer_norm_backward(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 9);
  size_t C = (size_t)int_arg(&a, 8);
  size_t n = length_of(&a, 4), R = C ? n / C : 0;
  float *dx = f32_or_null(&a, 0, n);
  float *dgamma = f32(&a, 1, C), *dbeta = f32(&a, 2, C);
  float *dy = f32(&a, 3, n), *x = f32(&a, 4, n), *gamma = f32(&a, 5, C);
  double *mean = f64(&a, 6, R), *rstd = f64(&a, 7, R);
  if (failed(&a, "layerNormBackward")) return NULL;
  double dg[C > 0 ? C : 1], db[C > 0 ? C : 1];
  for (size_t c = 0; c < C; c++) dg[c] = db[c] = 0;
  for (size_t r = 0; r < R; r++) {
    const float *xr = x + r * C, *dyr = dy + r * C;
    const double mu = mean[r], rs = rstd[r];
    double meanG = 0, meanGXhat = 0;
    for (size_t c = 0; c < C; c++) {
      const double xhat = (xr[c] - mu) * rs, d = dyr[c], g = d * gamma[c];
      dg[c] += d * xhat;
      db[c] += d;
      meanG += g;
      meanGXhat += g * xhat;
    }
    if (dx == NULL) continue;
    meanG /= C;
    meanGXhat /= C;
    float *dxr = dx + r * C;
    for (size_t c = 0; c < C; c++) dxr[c] = (float)(rs * (dyr[c] * gamma[c] - meanG - (xr[c] - mu) * rs * meanGXhat));
  }
  for (size_t c = 0; c < C; c++) { dgamma[c] = (float)dg[c]; dbeta[c] = (float)db[c]; }
  return NULL;
}

static napi_value batch_norm(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 14);
  size_t N = (size_t)int_arg(&a, 8), C = (size_t)int_arg(&a, 9), S = (size_t)int_arg(&a, 10);
  size_t n = N * C * S, M = N * S;
  float *y = f32(&a, 0, n), *x = f32(&a, 1, n);
  float *gamma = f32(&a, 2, C), *beta = f32(&a, 3, C);
  double *runMean = f64(&a, 4, C), *runVar = f64(&a, 5, C);
  double *mean = f64(&a, 6, C), *rstd = f64(&a, 7, C);
  bool training = flag(&a, 11);
  double momentum = num(&a, 12), eps = num(&a, 13);
  if (!a.error && training && M < 2) a.error = "training needs more than 1 value per channel";
  if (failed(&a, "batchNorm")) return NULL;
  for (size_t c = 0; c < C; c++) {
    double mu, variance;
    if (training) {
      double sum = 0, sq = 0;
      for (size_t b = 0; b < N; b++) { const float *xs = x + (b * C + c) * S; for (size_t s = 0; s < S; s++) sum += xs[s]; }
      mu = sum / M;
      for (size_t b = 0; b < N; b++) { const float *xs = x + (b * C + c) * S; for (size_t s = 0; s < S; s++) { const double d = xs[s] - mu; sq += d * d; } }
      variance = sq / M;
      runMean[c] = (1 - momentum) * runMean[c] + momentum * mu;
      runVar[c] = (1 - momentum) * runVar[c] + momentum * variance * M / (M - 1);
    } else {
      mu = runMean[c];
      variance = runVar[c];
    }
    mean[c] = mu;
    rstd[c] = 1.0 / sqrt(variance + eps);
    const float scale = (float)(gamma[c] * rstd[c]), shift = beta[c], fmu = (float)mu;
    for (size_t b = 0; b < N; b++) {
      const float *xs = x + (b * C + c) * S;
      float *ys = y + (b * C + c) * S;
      for (size_t s = 0; s < S; s++) ys[s] = scale * (xs[s] - fmu) + shift;
    }
  }
  return NULL;
}

static napi_value batch_norm_backward(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 12);
  size_t N = (size_t)int_arg(&a, 8), C = (size_t)int_arg(&a, 9), S = (size_t)int_arg(&a, 10);
  size_t n = N * C * S, M = N * S;
  float *dx = f32_or_null(&a, 0, n);
  float *dgamma = f32(&a, 1, C), *dbeta = f32(&a, 2, C);
  float *dy = f32(&a, 3, n), *x = f32(&a, 4, n), *gamma = f32(&a, 5, C);
  double *mean = f64(&a, 6, C), *rstd = f64(&a, 7, C);
  bool training = flag(&a, 11);
  if (failed(&a, "batchNormBackward")) return NULL;
  for (size_t c = 0; c < C; c++) {
    const double mu = mean[c], r = rstd[c], g = gamma[c];
    double sumDy = 0, sumDyXhat = 0;
    for (size_t b = 0; b < N; b++) {
      const float *xs = x + (b * C + c) * S, *dys = dy + (b * C + c) * S;
      for (size_t s = 0; s < S; s++) { sumDy += dys[s]; sumDyXhat += dys[s] * ((xs[s] - mu) * r); }
    }
    dbeta[c] = (float)sumDy;
    dgamma[c] = (float)sumDyXhat;
    if (dx == NULL) continue;
    const double meanG = g * sumDy / M, meanGXhat = g * sumDyXhat / M;
    // training: dx = r·(g·dy − meanG − (x − μ)·r·meanGXhat); eval: dx = r·g·dy
    const float a1 = (float)(r * g), a0 = training ? (float)(-r * meanG) : 0.0f;
    const float a2 = training ? (float)(r * r * meanGXhat) : 0.0f, fmu = (float)mu;
    for (size_t b = 0; b < N; b++) {
      const float *xs = x + (b * C + c) * S, *dys = dy + (b * C + c) * S;
      float *dxs = dx + (b * C + c) * S;
      for (size_t s = 0; s < S; s++) dxs[s] = a1 * dys[s] + a0 - (xs[s] - fmu) * a2;
    }
  }
  return NULL;
}

// ---- pooling -----------------------------------------------------------------------------

static napi_value max_pool(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 10);
  size_t planes = (size_t)int_arg(&a, 3), H = (size_t)int_arg(&a, 4), W = (size_t)int_arg(&a, 5);
  size_t k = (size_t)int_arg(&a, 6), s = (size_t)int_arg(&a, 7);
  size_t Ho = (size_t)int_arg(&a, 8), Wo = (size_t)int_arg(&a, 9);
  float *y = f32(&a, 0, planes * Ho * Wo);
  int32_t *winners = i32(&a, 1, planes * Ho * Wo);
  float *x = f32(&a, 2, planes * H * W);
  if (!a.error && Ho > 0 && Wo > 0 && ((Ho - 1) * s + k > H || (Wo - 1) * s + k > W)) a.error = "the windows do not fit in the input";
  if (failed(&a, "maxPool")) return NULL;
  size_t o = 0;
  for (size_t p = 0; p < planes; p++)
    for (size_t i = 0; i < Ho; i++)
      for (size_t j = 0; j < Wo; j++, o++) {
        // the first maximum in row-major window order, a NaN winning at once (as argmaxOfWindow)
        size_t at = p * H * W + i * s * W + j * s;
        float best = -INFINITY;
        for (size_t u = 0; u < k; u++)
          for (size_t v = 0; v < k; v++) {
            const size_t idx = p * H * W + (i * s + u) * W + j * s + v;
            const float val = x[idx];
            if (isnan(val)) { at = idx; u = k; break; }
            if (val > best) { best = val; at = idx; }
          }
        winners[o] = (int32_t)at;
        y[o] = x[at];
      }
  return NULL;
}

// ---- attention ---------------------------------------------------------------------------
// q, k, v, out: (B, T, A) with head h owning channels h·dh … (h+1)·dh − 1; probs, dS: (B·H, T, T).

typedef struct { size_t B, T, A, H, dh; } AttentionShape;

static AttentionShape attention_shape(Args *a, size_t first) {
  AttentionShape s = {(size_t)int_arg(a, first), (size_t)int_arg(a, first + 1), (size_t)int_arg(a, first + 2), (size_t)int_arg(a, first + 3), 0};
  if (!a->error && (s.H == 0 || s.A % s.H != 0)) a->error = "heads must divide the width";
  if (!a->error) s.dh = s.A / s.H;
  return s;
}

static napi_value attention(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 9);
  const AttentionShape sh = attention_shape(&a, 5);
  const size_t B = sh.B, T = sh.T, A = sh.A, H = sh.H, dh = sh.dh, n = B * T * A;
  float *out = f32(&a, 0, n), *probs = f32(&a, 1, B * H * T * T);
  float *q = f32(&a, 2, n), *k = f32(&a, 3, n), *v = f32(&a, 4, n);
  if (failed(&a, "attention")) return NULL;
  const double scale = 1.0 / sqrt((double)dh);
  for (size_t b = 0; b < B; b++)
    for (size_t h = 0; h < H; h++) {
      float *P = probs + (b * H + h) * T * T;
      const size_t base = b * T * A + h * dh;
      for (size_t i = 0; i < T; i++) {
        const float *qi = q + base + i * A;
        float *row = P + i * T;
        double max = -INFINITY;
        for (size_t j = 0; j < T; j++) {
          const float *kj = k + base + j * A;
          float s = 0;
          for (size_t e = 0; e < dh; e++) s += qi[e] * kj[e];
          row[j] = s;
          const double z = s * scale;
          if (z > max) max = z;
        }
        double sum = 0;
        for (size_t j = 0; j < T; j++) { const double ez = exp(row[j] * scale - max); row[j] = (float)ez; sum += ez; }
        for (size_t j = 0; j < T; j++) row[j] = (float)(row[j] / sum);
        float *oi = out + base + i * A;
        for (size_t e = 0; e < dh; e++) oi[e] = 0;
        for (size_t j = 0; j < T; j++) {
          const float pij = row[j], *vj = v + base + j * A;
          for (size_t e = 0; e < dh; e++) oi[e] += pij * vj[e];
        }
      }
    }
  return NULL;
}

static napi_value attention_backward(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 13);
  const AttentionShape sh = attention_shape(&a, 9);
  const size_t B = sh.B, T = sh.T, A = sh.A, H = sh.H, dh = sh.dh, n = B * T * A, nP = B * H * T * T;
  float *dq = f32(&a, 0, n), *dk = f32(&a, 1, n), *dv = f32(&a, 2, n);
  float *dS = f32(&a, 3, nP), *dout = f32(&a, 4, n);
  float *q = f32(&a, 5, n), *k = f32(&a, 6, n), *v = f32(&a, 7, n);
  float *probs = f32(&a, 8, nP);
  if (failed(&a, "attentionBackward")) return NULL;
  const float scale = (float)(1.0 / sqrt((double)dh));
  memset(dq, 0, n * sizeof(float));
  memset(dk, 0, n * sizeof(float));
  memset(dv, 0, n * sizeof(float));
  for (size_t b = 0; b < B; b++)
    for (size_t h = 0; h < H; h++) {
      const float *P = probs + (b * H + h) * T * T;
      float *G = dS + (b * H + h) * T * T;
      const size_t base = b * T * A + h * dh;
      for (size_t i = 0; i < T; i++) {
        const float *doi = dout + base + i * A, *Pi = P + i * T;
        float *Gi = G + i * T;
        double dot = 0;
        for (size_t j = 0; j < T; j++) {
          const float *vj = v + base + j * A;
          float *dvj = dv + base + j * A;
          float s = 0;
          for (size_t e = 0; e < dh; e++) { s += doi[e] * vj[e]; dvj[e] += Pi[j] * doi[e]; } // dA = dO vᵀ, dv = Aᵀ dO
          Gi[j] = s;
          dot += (double)s * Pi[j];
        }
        for (size_t j = 0; j < T; j++) Gi[j] = (float)(Pi[j] * (Gi[j] - dot)) * scale; // dS, softmax backward
        float *dqi = dq + base + i * A;
        const float *qi = q + base + i * A;
        for (size_t j = 0; j < T; j++) {
          const float g = Gi[j], *kj = k + base + j * A;
          float *dkj = dk + base + j * A;
          for (size_t e = 0; e < dh; e++) { dqi[e] += g * kj[e]; dkj[e] += g * qi[e]; } // dq = dS k, dk = dSᵀ q
        }
      }
    }
  return NULL;
}

// ---- convolution as one GEMM (the layout of src/backends/native.ts) ------------------------
//   cols (Cin·k·k, N·Ho·Wo): cols[(c·k + p)·k + q][n·P + i·Wo + j] = x[n, c, i·s + p − pad, j·s + q − pad] (0 outside)

typedef struct { size_t N, Cin, H, W, k, Ho, Wo, stride, pad; } Geometry;

static Geometry geometry(Args *a, size_t first) {
  Geometry g;
  size_t *f[] = {&g.N, &g.Cin, &g.H, &g.W, &g.k, &g.Ho, &g.Wo, &g.stride, &g.pad};
  for (size_t i = 0; i < 9; i++) *f[i] = (size_t)int_arg(a, first + i);
  if (!a->error && g.stride == 0) a->error = "stride must be ≥ 1";
  return g;
}

/** The output columns j whose input column j·s + q − pad lies inside [0, W). */
static void valid_columns(const Geometry *g, size_t q, size_t *j0, size_t *j1) {
  long first = (long)g->pad - (long)q <= 0 ? 0 : ((long)g->pad - (long)q + (long)g->stride - 1) / (long)g->stride;
  long last = (long)g->W - 1 + (long)g->pad - (long)q; // j·s ≤ last
  long end = last < 0 ? 0 : last / (long)g->stride + 1;
  if (end > (long)g->Wo) end = (long)g->Wo;
  if (first > end) first = end;
  *j0 = (size_t)first;
  *j1 = (size_t)end;
}

static napi_value im2col(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 11);
  Geometry g = geometry(&a, 2);
  const size_t NP = g.N * g.Ho * g.Wo;
  float *cols = f32(&a, 0, g.Cin * g.k * g.k * NP), *x = f32(&a, 1, g.N * g.Cin * g.H * g.W);
  if (failed(&a, "im2col")) return NULL;
  for (size_t c = 0; c < g.Cin; c++)
    for (size_t p = 0; p < g.k; p++)
      for (size_t q = 0; q < g.k; q++) {
        float *row = cols + ((c * g.k + p) * g.k + q) * NP;
        size_t j0, j1;
        valid_columns(&g, q, &j0, &j1);
        for (size_t n = 0; n < g.N; n++) {
          const float *plane = x + (n * g.Cin + c) * g.H * g.W;
          for (size_t i = 0; i < g.Ho; i++) {
            float *t = row + (n * g.Ho + i) * g.Wo;
            const long r = (long)(i * g.stride + p) - (long)g.pad;
            if (r < 0 || r >= (long)g.H) { memset(t, 0, g.Wo * sizeof(float)); continue; }
            const float *src = plane + r * g.W + q - g.pad; // indexed from j0 on, where j·s + q ≥ pad
            for (size_t j = 0; j < j0; j++) t[j] = 0;
            if (g.stride == 1) memcpy(t + j0, src + j0, (j1 - j0) * sizeof(float));
            else for (size_t j = j0; j < j1; j++) t[j] = src[j * g.stride];
            for (size_t j = j1; j < g.Wo; j++) t[j] = 0;
          }
        }
      }
  return NULL;
}

static napi_value col2im(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 11);
  Geometry g = geometry(&a, 2);
  const size_t NP = g.N * g.Ho * g.Wo;
  float *dx = f32(&a, 0, g.N * g.Cin * g.H * g.W), *cols = f32(&a, 1, g.Cin * g.k * g.k * NP);
  if (failed(&a, "col2im")) return NULL;
  memset(dx, 0, g.N * g.Cin * g.H * g.W * sizeof(float));
  for (size_t c = 0; c < g.Cin; c++)
    for (size_t p = 0; p < g.k; p++)
      for (size_t q = 0; q < g.k; q++) {
        const float *row = cols + ((c * g.k + p) * g.k + q) * NP;
        size_t j0, j1;
        valid_columns(&g, q, &j0, &j1);
        for (size_t n = 0; n < g.N; n++) {
          float *plane = dx + (n * g.Cin + c) * g.H * g.W;
          for (size_t i = 0; i < g.Ho; i++) {
            const long r = (long)(i * g.stride + p) - (long)g.pad;
            if (r < 0 || r >= (long)g.H) continue;
            const float *t = row + (n * g.Ho + i) * g.Wo;
            float *dst = plane + r * g.W + q - g.pad;
            for (size_t j = j0; j < j1; j++) dst[j * g.stride] += t[j];
          }
        }
      }
  return NULL;
}

/** dst (B, A, P) = src (A, B, P), P-long blocks. */
static napi_value permute_blocks(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 5);
  size_t A = (size_t)int_arg(&a, 2), B = (size_t)int_arg(&a, 3), P = (size_t)int_arg(&a, 4);
  float *dst = f32(&a, 0, A * B * P), *src = f32(&a, 1, A * B * P);
  if (failed(&a, "permuteBlocks")) return NULL;
  for (size_t i = 0; i < A; i++)
    for (size_t j = 0; j < B; j++) memcpy(dst + (j * A + i) * P, src + (i * B + j) * P, P * sizeof(float));
  return NULL;
}

/** The normalisation argument: 0 max-std, 1 max-second-moment, 2 none. */
static int64_t how_arg(Args *a, size_t i) {
  const int64_t how = int_arg(a, i);
  if (!a->error && how > 2) a->error = "how must be 0 (max-std), 1 (max-second-moment) or 2 (none)";
  return how;
}

/**
 * normaliseError's statistics of rows x (n, f): the column means and second moments (mean,
 * second: zeroed, f values each, double), and the divisor (how 0: max_j std_j + ε, std unbiased;
 * how 1: √(max_j mean_j(x²) + ε)). Vector loops over j: double divisions and square roots are
 * exactly rounded and ISO C mode contracts nothing, so every instruction set gives the same bytes.
 */
__attribute__((target_clones("avx2", "default")))
static double error_stats(const float *x, size_t n, size_t f, int64_t how, double eps, double *mean, double *second, bool reference_order) {
  if (reference_order) { // each term divided by n as it is added, as the reference does
    for (size_t i = 0; i < n; i++) {
      const float *row = x + i * f;
      for (size_t j = 0; j < f; j++) {
        const double v = row[j];
        mean[j] += v / (double)n;
        second[j] += (v * v) / (double)n;
      }
    }
  } else { // the sums, divided once (n divisions instead of 2·n·f; other rounding)
    for (size_t i = 0; i < n; i++) {
      const float *row = x + i * f;
      for (size_t j = 0; j < f; j++) {
        const double v = row[j];
        mean[j] += v;
        second[j] += v * v;
      }
    }
    for (size_t j = 0; j < f; j++) { mean[j] /= (double)n; second[j] /= (double)n; }
  }
  double scale = 0;
  for (size_t j = 0; j < f; j++) {
    const double s = how == 0 ? sqrt(fmax(0, (second[j] - mean[j] * mean[j]) * ((double)n / fmax(1, (double)n - 1)))) : second[j];
    scale = fmax(scale, s);
  }
  scale += eps;
  return how == 0 ? scale : sqrt(scale);
}

/** y = (x − centre) / divisor, row by row (centre: the means for how 0, else none). */
__attribute__((target_clones("avx2", "default")))
static void normalise_rows(float *y, const float *x, size_t n, size_t f, int64_t how, const double *mean, double divisor) {
  for (size_t i = 0; i < n; i++) {
    const float *row = x + i * f;
    float *out = y + i * f;
    if (how == 0) for (size_t j = 0; j < f; j++) out[j] = (float)((row[j] - mean[j]) / divisor);
    else for (size_t j = 0; j < f; j++) out[j] = (float)(row[j] / divisor);
  }
}

/**
 * LDFA Oja's normalised batch error (reference/rules/ldfa.ts normaliseError), rows x (n, f) → y:
 *   how 0 max-std            y = (x − mean) / (max_j std_j + ε), std unbiased
 *   how 1 max-second-moment  y = x / √(max_j mean_j(x²) + ε)
 *   how 2 none               y = x
 * in double, in the reference's order of operations.
 */
static napi_value normalise_error(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 6);
  size_t n = (size_t)int_arg(&a, 2), f = (size_t)int_arg(&a, 3);
  int64_t how = how_arg(&a, 4);
  double eps = num(&a, 5);
  float *y = f32(&a, 0, n * f), *x = f32(&a, 1, n * f);
  if (failed(&a, "normaliseError")) return NULL;
  if (how == 2) { memcpy(y, x, n * f * sizeof(float)); return NULL; }
  double *mean = calloc(2 * (f ? f : 1), sizeof(double)), *second = mean + f;
  if (mean == NULL) FAIL("normaliseError: out of memory");
  normalise_rows(y, x, n, f, how, mean, error_stats(x, n, f, how, eps, mean, second, true));
  free(mean);
  return NULL;
}

// ---- LDFA: A·Q̂ᵀ and P̂ᵀ·A in one pass over A -------------------------------------------------
//
//   AQ (out, r) = A·Q̂ᵀ,   PA (r, in) = P̂ᵀ·A,   A (out, in), P̂ (out, r), Q̂ (r, in)
//
// the two large products of normative's gradients (A = W: gP̂ = P̂·(Q̂Q̂ᵀ) − W·Q̂ᵀ, gQ̂ =
// (P̂ᵀP̂)·Q̂ − P̂ᵀ·W) and all of factorised's (A = dW: gP̂ = dW·Q̂ᵀ, gQ̂ = P̂ᵀ·dW). At low rank
// they are memory-bound: cblas_sgemm packs A for each of them (two reads and a copy of a 4 MB
// W: 0.8 ms, ~50 GFLOP/s, on the MLP 1024 at r = 10), where here each row of A is read once
// from memory and used from L1 by all 2r dot products and r axpys (lanes.h, 16 lanes wide where
// the CPU has AVX-512: 0.25 ms instead of 0.38 on two threads of this project's Zen 4 VM).
// The summation order is fixed by the shape and the CPU alone: dot products in 8 lanes over j
// (16 with AVX-512), the lanes then summed as a fixed tree; PA accumulated over rows i in order,
// in two halves of the rows when the product is large enough to be worth a second thread
// (LOW_RANK_THREADED_FLOPS), the halves then added. So the bytes do not depend on the machine's
// load or thread settings.

static const double LOW_RANK_THREADED_FLOPS = 4e6;
#define LOW_RANK_BLOCK 1024
#define LOW_RANK_ROWS 32

#define INLINE static inline __attribute__((always_inline))
typedef struct { const float *A, *P, *Q; float *AQ, *PA; size_t i0, i1, in, r; } LowRankRows;
/** LDFA's feedback on samples i0 … i1 (lowRankFeedback): dx = z·Q̂ with z = dy·P̂, Pt = P̂ᵀ (r, out). */
typedef struct { float *dx, *z; const float *dy, *Pt, *Q; size_t i0, i1, out, in, r; } FeedbackRows;
/** Oja's and factorised's passes over the batch (ojaLinear, factorisedLinear; see their section). */
typedef struct {
  const float *dy, *x, *Pt; // Pt: P̂ᵀ (r, out)
  const float *Q;           // factorised: Q̂ (r, in), u = x·Q̂ᵀ; NULL for Oja, u = (v − cᵀP̂)/d
  const double *cP; double d;
  float *v, *u, *uTdy, *G; // v, u (N, r); uTdy: uᵀ·δ (r, out); G = vᵀ·x (r, in)
  size_t N, out, in, r;
} BatchJob;

// 8 lanes: every kernel below (lanes, load_lanes, rows_dots, …), and the lane kernels without AVX-512
#define LANES 8
#define V(name) name
#define DOTS_K 2
#define OUTER_K 6
#define LANES_TARGET __attribute__((target_clones("avx2", "default")))
#define LANES_INLINE INLINE
#include "lanes.h" // which undefines these parameters at its end

// 16 lanes: the lane kernels where the CPU has AVX-512 (the pass over W 1.6× the 8-lane pass on
// this project's Zen 4 VM, one thread: the same FLOPs in half the instructions, four of Q̂'s rows
// per four of A; the outer sums ten rows of the result per strip in 32 registers)
#define LANES 16
#define V(name) name##_16
#define DOTS_K 4
#define OUTER_K 10
#define LANES_TARGET __attribute__((target("avx512f")))
// the helpers too: built for the default target, their 16-lane vectors were split into SSE pieces
// before they were inlined (a broadcast through memory in every step of the outer sums)
#define LANES_INLINE static inline __attribute__((always_inline, target("avx512f")))
#include "lanes.h" // which undefines these parameters at its end

/** The width of LDFA's lane kernels (lanes.h): 16 where the CPU has AVX-512, else 8 (0 until first asked); laneWidth sets it. */
static int low_rank_lanes = 0;

static bool cpu_has_avx512(void) { return __builtin_cpu_supports("avx512f"); }

static int low_rank_lanes_in_use(void) {
  if (low_rank_lanes == 0) low_rank_lanes = cpu_has_avx512() ? 16 : 8;
  return low_rank_lanes;
}

/** Rows i0..i1 of A: AQ's rows and their part of PA, at low_rank_lanes_in_use's width. */
static void low_rank_pass(const LowRankRows *job) {
  if (low_rank_lanes_in_use() == 16) low_rank_rows_16(job);
  else low_rank_rows(job);
}

/**
 * laneWidth(n): the width of LDFA's lane kernels (the pass over W of lowRankSides and the kernels
 * built on it, the feedback, Oja's and factorised's passes over the batch): n = 0 asks, 8 or 16
 * sets it (16 only where the CPU has AVX-512), so that the tests run both widths on one machine.
 * Returns the width in use. Not to be called while a kernel runs.
 */
static napi_value lane_width(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 1);
  const int64_t want = int_arg(&a, 0);
  if (!a.error && want != 0 && want != 8 && want != 16) a.error = "the width must be 0 (ask), 8 or 16";
  if (!a.error && want == 16 && !cpu_has_avx512()) a.error = "16 lanes need AVX-512, which this CPU lacks";
  if (failed(&a, "laneWidth")) return NULL;
  if (want != 0) low_rank_lanes = (int)want;
  napi_value value;
  if (napi_create_int64(env, low_rank_lanes_in_use(), &value) != napi_ok) FAIL("laneWidth: napi_create_int64 failed");
  return value;
}

static void low_rank_rows_task(void *job) { low_rank_pass(job); }

/** Whether low_rank_sides_run takes two threads for `sides` (1 or 2) of an (out, in) A at rank r. */
static bool low_rank_sides_threaded(int sides, size_t out, size_t in, size_t r) {
  return sides * 2.0 * (double)out * (double)in * (double)r >= LOW_RANK_THREADED_FLOPS && out >= 2;
}

/** AQ = A·Q̂ᵀ and PA = P̂ᵀ·A (either may be NULL), in two halves of A's rows from LOW_RANK_THREADED_FLOPS; false when out of memory. */
static bool low_rank_sides_run(float *AQ, float *PA, const float *A, const float *P, const float *Q, size_t out, size_t in, size_t r) {
  if (PA != NULL) memset(PA, 0, r * in * sizeof(float));
  LowRankRows all = {A, P, Q, AQ, PA, 0, out, in, r};
  if (!low_rank_sides_threaded((AQ != NULL) + (PA != NULL), out, in, r)) { low_rank_pass(&all); return true; }
  float *second_part = PA == NULL ? NULL : calloc(r * in, sizeof(float));
  if (PA != NULL && second_part == NULL) return false;
  LowRankRows halves[2] = {{A, P, Q, AQ, PA, 0, out / 2, in, r}, {A, P, Q, AQ, second_part, out / 2, out, in, r}};
  run_in_pair(low_rank_rows_task, &halves[0], &halves[1]);
  if (PA != NULL) for (size_t j = 0; j < r * in; j++) PA[j] += second_part[j];
  free(second_part);
  return true;
}

static napi_value low_rank_sides(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 8);
  size_t out = (size_t)int_arg(&a, 5), in = (size_t)int_arg(&a, 6), r = (size_t)int_arg(&a, 7);
  float *AQ = f32_or_null(&a, 0, out * r), *PA = f32_or_null(&a, 1, r * in), *A = f32(&a, 2, out * in);
  float *P = f32_or_null(&a, 3, out * r), *Q = f32_or_null(&a, 4, r * in);
  if (!a.error && ((AQ == NULL) != (Q == NULL) || (PA == NULL) != (P == NULL))) a.error = "AQ needs Q and PA needs P (null skips that side)";
  if (failed(&a, "lowRankSides")) return NULL;
  if (!low_rank_sides_run(AQ, PA, A, P, Q, out, in, r)) FAIL("lowRankSides: out of memory");
  return NULL;
}

/** M (r, r) = A·Bᵀ for A, B (r, width): M[p, c] = the dot product of A's row p and B's row c (rows_dots, four of A's rows at a time). */
INLINE void gram(float *M, const float *A, const float *B, size_t r, size_t width) {
  for (size_t p = 0; p < r;) {
    const int R = p + 4 <= r ? 4 : 1;
    const float *rows[4];
    float *m[4];
    for (int q = 0; q < R; q++) { rows[q] = A + (p + q) * width; m[q] = M + (p + q) * r; }
    rows_dots(R, rows, B, width, r, width, m, true);
    p += (size_t)R;
  }
}

/**
 * G (out, r) = P̂·M − Y from P̂ᵀ (r, out), M (r, r) and Y (out, r): P̂·M's columns as combinations
 * of P̂ᵀ's rows (8 lanes over P̂'s rows, M's rows in order), formed transposed in Gt (r, out).
 */
INLINE void low_rank_times_minus(float *G, float *Gt, const float *Pt, const float *M, const float *Y, size_t out, size_t r) {
  for (size_t c = 0; c < r; c++) combine_rows(Gt + c * out, M + c, r, Pt, r, out);
  for (size_t j = 0; j < out; j++) for (size_t c = 0; c < r; c++) G[j * r + c] = Gt[c * out + j] - Y[j * r + c];
}

/** Pt (r, rows) = P (rows, r) transposed. */
static void transpose_into(float *Pt, const float *P, size_t rows, size_t r) {
  for (size_t j = 0; j < rows; j++) for (size_t c = 0; c < r; c++) Pt[c * rows + j] = P[j * r + c];
}

/** QQ = Q̂Q̂ᵀ and PP = P̂ᵀP̂ (r, r) from Q̂ (r, in) and P̂ᵀ (r, out). */
__attribute__((target_clones("avx2", "default")))
static void normative_grams(float *QQ, float *PP, const float *Q, const float *Pt, size_t out, size_t in, size_t r) {
  gram(QQ, Q, Q, r, in);
  gram(PP, Pt, Pt, r, out);
}

/**
 * gP̂ = P̂·(Q̂Q̂ᵀ) − W·Q̂ᵀ from WQ = W·Q̂ᵀ (out, r), its first term formed transposed (PQQt (r, out));
 * gQ̂ = (P̂ᵀP̂)·Q̂ − P̂ᵀ·W in place over gQ = P̂ᵀ·W (r, in), row by row (row: in values of work).
 */
__attribute__((target_clones("avx2", "default")))
static void normative_differences(float *gP, float *gQ, float *PQQt, float *row, const float *WQ, const float *QQ, const float *PP, const float *Pt, const float *Q, size_t out, size_t in, size_t r) {
  low_rank_times_minus(gP, PQQt, Pt, QQ, WQ, out, r);
  for (size_t p = 0; p < r; p++) {
    combine_rows(row, PP + p * r, 1, Q, r, in);
    for (size_t j = 0; j < in; j++) gQ[p * in + j] = row[j] - gQ[p * in + j];
  }
}

/**
 * LDFA normative on one layer at low rank, E = P̂Q̂ − W never formed (src/fast/ldfa.ts
 * normativeGradients): gP̂ = P̂·(Q̂Q̂ᵀ) − W·Q̂ᵀ (out, r), gQ̂ = (P̂ᵀP̂)·Q̂ − P̂ᵀ·W (r, in) from
 * P̂ (out, r), Q̂ (r, in), W (out, in). W·Q̂ᵀ and P̂ᵀ·W in one pass over W (lowRankSides, the
 * worker woken first); Q̂Q̂ᵀ, P̂ᵀP̂ as dot products of rows; P̂·(Q̂Q̂ᵀ) transposed, as sums of P̂ᵀ's rows.
 */
static napi_value normative_low_rank(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 8);
  size_t out = (size_t)int_arg(&a, 5), in = (size_t)int_arg(&a, 6), r = (size_t)int_arg(&a, 7);
  float *gP = f32(&a, 0, out * r), *gQ = f32(&a, 1, r * in);
  const float *P = f32(&a, 2, out * r), *Q = f32(&a, 3, r * in), *W = f32(&a, 4, out * in);
  if (failed(&a, "normativeLowRank")) return NULL;
  // Pt, WQ, PQQt: (r, out) or (out, r) each; QQ, PP: (r, r); a row of in values
  float *work = calloc(3 * r * out + 2 * r * r + in, sizeof(float));
  if (work == NULL) FAIL("normativeLowRank: out of memory");
  float *Pt = work, *WQ = Pt + r * out, *PQQt = WQ + r * out, *QQ = PQQt + r * out, *PP = QQ + r * r, *row = PP + r * r;
  if (low_rank_sides_threaded(2, out, in, r)) pair_wake(); // up by the hand-off
  transpose_into(Pt, P, out, r);
  normative_grams(QQ, PP, Q, Pt, out, in, r);
  if (!low_rank_sides_run(WQ, gQ, W, P, Q, out, in, r)) { free(work); FAIL("normativeLowRank: out of memory"); }
  normative_differences(gP, gQ, PQQt, row, WQ, QQ, PP, Pt, Q, out, in, r);
  free(work);
  return NULL;
}

// ---- LDFA's feedback on a linear layer: dx = (dy·P̂)·Q̂ -----------------------------------------
//
// At the width of the pass over W (lanes.h feedback_rows): z's dot products differ in the last
// bits between the widths, a CPU always running the same one.

static void feedback_rows_task(void *job) {
  if (low_rank_lanes_in_use() == 16) feedback_rows_16(job);
  else feedback_rows(job);
}

/**
 * The fused feedback takes both threads from this many FLOPs (2·N·r·(out + in)): where half the
 * work outlasts waking the second thread, asleep after OpenBLAS's products (20–35 µs on this
 * project's VM). Below it, e.g. the MLP 1024's 10-class output layer at batch 128 (2.6 MFLOP),
 * one thread took 71–82 µs in the step against 80–90 µs on two. The values do not depend on it.
 */
static const double FEEDBACK_THREADED_FLOPS = 4e6;

/**
 * LDFA's feedback operator on a linear layer (src/fast/ldfa.ts throughLowRank):
 * dx (N, in) = (dy·P̂)·Q̂ from dy (N, out), P̂ (out, r), Q̂ (r, in); r ≤ 64. Two threads over
 * halves of the samples from FEEDBACK_THREADED_FLOPS, the worker woken while P̂ is transposed.
 */
static napi_value low_rank_feedback(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 8);
  size_t N = (size_t)int_arg(&a, 4), out = (size_t)int_arg(&a, 5), in = (size_t)int_arg(&a, 6), r = (size_t)int_arg(&a, 7);
  float *dx = f32(&a, 0, N * in);
  const float *dy = f32(&a, 1, N * out), *P = f32(&a, 2, out * r), *Q = f32(&a, 3, r * in);
  if (!a.error && (r < 1 || r > 64)) a.error = "r must be 1..64";
  if (failed(&a, "lowRankFeedback")) return NULL;
  const bool threaded = 2.0 * (double)N * (double)r * (double)(out + in) >= FEEDBACK_THREADED_FLOPS && N >= 2;
  if (threaded) pair_wake();
  float *work = malloc((r * out + N * r) * sizeof(float)); // P̂ᵀ (r, out), z (N, r)
  if (work == NULL) FAIL("lowRankFeedback: out of memory");
  transpose_into(work, P, out, r);
  FeedbackRows halves[2] = {{dx, work + r * out, dy, work, Q, 0, threaded ? N / 2 : N, out, in, r}, {dx, work + r * out, dy, work, Q, N / 2, N, out, in, r}};
  if (threaded) run_in_pair(feedback_rows_task, &halves[0], &halves[1]);
  else feedback_rows_task(&halves[0]);
  free(work);
  return NULL;
}

// ---- LDFA Oja and factorised on a linear layer, fused, through the batch -----------------------
//
// Oja: with c, d the centre and divisor of normaliseError's statistics of δ (N, out) (never forming δ̃):
//   v = δ·P̂ (N, r)  (also z of gQ̂ = zᵀ·x),   u = δ̃·P̂ = (v − 1·cᵀP̂)/d (N, r),
//   C·P̂ = δ̃ᵀ·u = δᵀ·u/d (out, r)  (1ᵀu = 0 where c ≠ 0),   gQ̂ = vᵀ·x (r, in),
//   M = P̂ᵀ·(C·P̂) (r, r),   gP̂ = P̂·M − C·P̂ (out, r).
// Factorised (gP̂ = dW·Q̂ᵀ, gQ̂ = P̂ᵀ·dW with dW = δᵀ·x): the same two passes with u = x·Q̂ᵀ:
//   v = δ·P̂,  u = x·Q̂ᵀ (N, r);   gP̂ᵀ = uᵀ·δ (r, out),   gQ̂ = vᵀ·x (r, in).
// uᵀ·δ and vᵀ·x are sums over the samples of outer products: each tile of K ≤ 6 rows × 16
// columns (10 rows × 32 columns at 16 lanes) of the result is summed over all samples in
// registers, in sample order, and stored once. Every value is so the same sequential sum,
// whatever the tiling, width or thread split. Oja's M and gP̂ from dot products and combinations
// of rows (oja_small_products).
// The passes (lanes.h) run at the width of the pass over W: v and u's dot products then differ in
// the last bits between the widths; uᵀ·δ and vᵀ·x do not.

/** Samples i0 … i1 of batch_projections, or columns of uᵀ·δ and of G (a0 … a1 and b0 … b1 of outer_sums). */
typedef struct { const BatchJob *job; size_t i0, i1, a0, a1, b0, b1; } BatchPart;

static void batch_projections_task(void *part) {
  const BatchPart *p = part;
  if (low_rank_lanes_in_use() == 16) batch_projections_16(p->job, p->i0, p->i1);
  else batch_projections(p->job, p->i0, p->i1);
}

static void batch_outer_sums_task(void *part) {
  const BatchPart *p = part;
  const BatchJob *job = p->job;
  void (*sums)(float *, const float *, const float *, size_t, size_t, size_t, size_t, size_t) = low_rank_lanes_in_use() == 16 ? outer_sums_16 : outer_sums;
  sums(job->uTdy, job->u, job->dy, job->N, job->r, job->out, p->a0, p->a1);
  sums(job->G, job->v, job->x, job->N, job->r, job->in, p->b0, p->b1);
}

/** The fused Oja and factorised calls take both threads from this many FLOPs (their products' 2·N·r·width). */
static const double BATCH_THREADED_FLOPS = 1e6;

/**
 * The two passes over the samples: v and u (split by samples), then uᵀ·δ and, over gColumns
 * columns (0: none), G = vᵀ·x (split by columns, at multiples of 16); on two threads where
 * `threaded`, the split by shape alone (every value is the same sum either way).
 */
static void batch_passes(const BatchJob *job, bool threaded, size_t gColumns) {
  const size_t N = job->N, out = job->out;
  if (!threaded) {
    BatchPart all = {job, 0, N, 0, out, 0, gColumns};
    batch_projections_task(&all);
    batch_outer_sums_task(&all);
    return;
  }
  const size_t half = N / 2, outHalf = out / 2 - out / 2 % 16, gHalf = gColumns / 2 - gColumns / 2 % 16;
  BatchPart parts[2] = {{job, 0, half, 0, outHalf, 0, gHalf}, {job, half, N, outHalf, out, gHalf, gColumns}};
  run_in_pair(batch_projections_task, &parts[0], &parts[1]);
  run_in_pair(batch_outer_sums_task, &parts[0], &parts[1]);
}

/**
 * C·P̂ = (uᵀ·δ)ᵀ/d (out, r), M = P̂ᵀ·(C·P̂) = (P̂ᵀ·(uᵀ·δ)ᵀ)/d (r, r) and gP̂ = P̂·M − C·P̂ (out, r),
 * from P̂ᵀ (r, out) and uᵀ·δ (r, out): M's entries are dot products of their rows, and gP̂'s
 * columns sums of P̂ᵀ's rows (8 lanes over P̂'s rows j, M's rows p in order; gPt (r, out) holds
 * them transposed).
 */
__attribute__((target_clones("avx2", "default")))
static void oja_small_products(float *gP, float *CP, float *M, float *gPt, const float *Pt, const float *uTdy, double d, size_t out, size_t r) {
  for (size_t j = 0; j < out; j++) for (size_t c = 0; c < r; c++) CP[j * r + c] = (float)(uTdy[c * out + j] / d);
  gram(M, Pt, uTdy, r, out);
  for (size_t e = 0; e < r * r; e++) M[e] = (float)(M[e] / d);
  low_rank_times_minus(gP, gPt, Pt, M, CP, out, r);
}

/**
 * LDFA Oja on a linear layer whose P̂ learns from its own error (src/fast/ldfa.ts
 * ojaLinearGradients): gP (out, r), gQ (r, in) from P̂ (out, r), δ (N, out), x (N, in), the
 * normalisation `how` and ε (normaliseError, its statistics' sums divided once). r ≤ 64.
 * With dW = δᵀ·x (out, in), gQ̂ = P̂ᵀ·dW (lowRankSides' pass) instead of vᵀ·x.
 * From BATCH_THREADED_FLOPS on two threads (samples, then columns, split by shape alone; every
 * value is the same sum either way), the worker woken before the statistics pass so that it is
 * up by the hand-off.
 */
static napi_value oja_linear(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 12);
  size_t N = (size_t)int_arg(&a, 8), out = (size_t)int_arg(&a, 9), in = (size_t)int_arg(&a, 10), r = (size_t)int_arg(&a, 11);
  int64_t how = how_arg(&a, 6);
  double eps = num(&a, 7);
  float *gP = f32(&a, 0, out * r), *gQ = f32(&a, 1, r * in);
  const float *P = f32(&a, 2, out * r), *dy = f32(&a, 3, N * out), *x = f32(&a, 4, N * in), *dW = f32_or_null(&a, 5, out * in);
  if (!a.error && (r < 1 || r > 64)) a.error = "r must be 1..64";
  if (failed(&a, "ojaLinear")) return NULL;
  // doubles: mean, second (out each), cP (r); floats: Pt, uTdy, CP, gPt (r·out each), v, u (N·r each), M (r²)
  const size_t doubles = 2 * out + r, floats = 4 * r * out + 2 * N * r + r * r;
  double *work = calloc(doubles + (floats + 1) / 2, sizeof(double));
  if (work == NULL) FAIL("ojaLinear: out of memory");
  double *mean = work, *second = mean + out, *cP = second + out;
  float *Pt = (float *)(cP + r), *uTdy = Pt + r * out, *CP = uTdy + r * out, *gPt = CP + r * out, *v = gPt + r * out, *u = v + N * r, *M = u + N * r;
  // the statistics (how 2: none, d = 1), and cᵀP̂ (c the means for how 0, else 0)
  const bool threaded = 2.0 * (double)N * (double)r * (double)(2 * out + (dW == NULL ? in : 0)) >= BATCH_THREADED_FLOPS;
  if (threaded) pair_wake(); // awake by the time the statistics are done
  const double d = how == 2 ? 1 : error_stats(dy, N, out, how, eps, mean, second, false);
  if (how == 0) for (size_t j = 0; j < out; j++) for (size_t c = 0; c < r; c++) cP[c] += mean[j] * P[j * r + c];
  transpose_into(Pt, P, out, r);
  const BatchJob job = {.dy = dy, .x = x, .Pt = Pt, .Q = NULL, .cP = cP, .d = d, .v = v, .u = u, .uTdy = uTdy, .G = gQ, .N = N, .out = out, .in = in, .r = r};
  batch_passes(&job, threaded, dW == NULL ? in : 0); // without dW, gQ̂ = vᵀ·x beside uᵀ·δ; else gQ̂ = P̂ᵀ·dW
  if (dW != NULL && !low_rank_sides_run(NULL, gQ, dW, P, NULL, out, in, r)) { free(work); FAIL("ojaLinear: out of memory"); }
  oja_small_products(gP, CP, M, gPt, Pt, uTdy, d, out, r);
  free(work);
  return NULL;
}

/**
 * LDFA factorised on a linear layer through the batch (src/fast/ldfa.ts factorisedGradients):
 * gP (out, r) = dW·Q̂ᵀ = δᵀ·(x·Q̂ᵀ), gQ (r, in) = P̂ᵀ·dW = (δ·P̂)ᵀ·x from P̂ (out, r), Q̂ (r, in),
 * δ (N, out), x (N, in); r ≤ 64. The two passes of batch_passes (u = x·Q̂ᵀ), on two threads from
 * BATCH_THREADED_FLOPS, the worker woken while P̂ is transposed; gP̂ formed transposed.
 */
static napi_value factorised_linear(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 10);
  size_t N = (size_t)int_arg(&a, 6), out = (size_t)int_arg(&a, 7), in = (size_t)int_arg(&a, 8), r = (size_t)int_arg(&a, 9);
  float *gP = f32(&a, 0, out * r), *gQ = f32(&a, 1, r * in);
  const float *P = f32(&a, 2, out * r), *Q = f32(&a, 3, r * in), *dy = f32(&a, 4, N * out), *x = f32(&a, 5, N * in);
  if (!a.error && (r < 1 || r > 64)) a.error = "r must be 1..64";
  if (failed(&a, "factorisedLinear")) return NULL;
  const bool threaded = 4.0 * (double)N * (double)r * (double)(out + in) >= BATCH_THREADED_FLOPS;
  if (threaded) pair_wake(); // awake by the hand-off
  // Pt, gPt (r, out each); v, u (N, r each)
  float *work = malloc((2 * r * out + 2 * N * r) * sizeof(float));
  if (work == NULL) FAIL("factorisedLinear: out of memory");
  float *Pt = work, *gPt = Pt + r * out, *v = gPt + r * out, *u = v + N * r;
  transpose_into(Pt, P, out, r);
  const BatchJob job = {.dy = dy, .x = x, .Pt = Pt, .Q = Q, .v = v, .u = u, .uTdy = gPt, .G = gQ, .N = N, .out = out, .in = in, .r = r};
  batch_passes(&job, threaded, in);
  transpose_into(gP, gPt, r, out);
  free(work);
  return NULL;
}

/** x's first NaN or ±Infinity in [start, end), or −1. */
typedef struct { const float *x; size_t start, end; int64_t found; } NonFiniteSearch;

/**
 * Per block of 256 a branch-free vector loop ORs together "exponent bits all ones" (NaN or
 * ±Infinity); only a block where that is set is searched.
 */
__attribute__((target_clones("avx2", "default")))
static void search_non_finite(void *job) {
  NonFiniteSearch *s = job;
  const uint32_t *bits = (const uint32_t *)s->x;
  s->found = -1;
  for (size_t start = s->start; start < s->end && s->found < 0; start += 256) {
    const size_t end = start + 256 < s->end ? start + 256 : s->end;
    uint32_t any = 0;
    for (size_t i = start; i < end; i++) any |= (bits[i] & 0x7f800000u) == 0x7f800000u;
    if (any) {
      for (size_t i = start; i < end; i++) if (!isfinite(s->x[i])) { s->found = (int64_t)i; break; }
    }
  }
}

/** Arrays of at least this many values are searched (or clamped) in two halves on two threads (memory-bound). */
#define SCAN_THREADED (1u << 18)

/**
 * The index of x's first NaN or ±Infinity, or −1 (reference/tensor.ts firstNonFinite, the trainer's
 * divergence check on every gradient); a large array in two halves, the first half's answer first.
 */
static napi_value first_non_finite(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 1);
  size_t n = 0;
  float *x = typed(&a, 0, napi_float32_array, &n, false);
  if (failed(&a, "firstNonFinite")) return NULL;
  NonFiniteSearch halves[2] = {{x, 0, n / 2, -1}, {x, n / 2, n, -1}};
  if (n >= SCAN_THREADED) run_in_pair(search_non_finite, &halves[0], &halves[1]);
  else { halves[0].end = n; search_non_finite(&halves[0]); }
  const int64_t found = halves[0].found >= 0 ? halves[0].found : halves[1].found;
  napi_value value;
  if (napi_create_int64(env, found, &value) != napi_ok) FAIL("firstNonFinite: napi_create_int64 failed");
  return value;
}

/** x[start … end) clamped to [lo, hi]; NaN stays NaN, as Math.min(hi, Math.max(lo, x)) leaves it. */
typedef struct { float *x; size_t start, end; float lo, hi; } ClampRange;

__attribute__((target_clones("avx2", "default")))
static void clamp_range(void *range) {
  const ClampRange *c = range;
  float *x = c->x;
  const float lo = c->lo, hi = c->hi;
  for (size_t i = c->start; i < c->end; i++) {
    const float v = x[i] < lo ? lo : x[i]; // false for NaN: it stays
    x[i] = v > hi ? hi : v;
  }
}

/**
 * clamp(x, c): x ← min(c, max(−c, x)) elementwise in place, c as float32 (reference/tensor.ts
 * clampInPlace on float32 storage, which rounds c so when it stores it): the gradient and signal
 * clamps. Exact, so it gives the JavaScript loop's values, ±0 included (a NaN stays a NaN; V8's
 * Math.min returns the CPU's default NaN instead), about 10× faster on a 1M array;
 * a large array in two halves on two threads (memory-bound).
 */
static napi_value clamp(napi_env env, napi_callback_info info) {
  Args a;
  args_read(env, info, &a, 2);
  size_t n = 0;
  float *x = typed(&a, 0, napi_float32_array, &n, false);
  const double c = num(&a, 1);
  if (!a.error && !(c >= 0 && isfinite(c))) a.error = "c must be a finite number ≥ 0";
  if (failed(&a, "clamp")) return NULL;
  const float hi = (float)c;
  ClampRange halves[2] = {{x, 0, n / 2, -hi, hi}, {x, n / 2, n, -hi, hi}};
  if (n >= SCAN_THREADED) run_in_pair(clamp_range, &halves[0], &halves[1]);
  else { halves[0].end = n; clamp_range(&halves[0]); }
  return NULL;
}

napi_value register_layer_kernels(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"activation", NULL, activation, NULL, NULL, NULL, napi_default, NULL},
    {"activationBackward", NULL, activation_backward, NULL, NULL, NULL, napi_default, NULL},
    {"biasAdd", NULL, bias_add, NULL, NULL, NULL, napi_default, NULL},
    {"biasGrad", NULL, bias_grad, NULL, NULL, NULL, napi_default, NULL},
    {"gelu", NULL, gelu, NULL, NULL, NULL, napi_default, NULL},
    {"geluBackward", NULL, gelu_backward, NULL, NULL, NULL, napi_default, NULL},
    {"layerNorm", NULL, layer_norm, NULL, NULL, NULL, napi_default, NULL},
    {"layerNormBackward", NULL, layer_norm_backward, NULL, NULL, NULL, napi_default, NULL},
    {"batchNorm", NULL, batch_norm, NULL, NULL, NULL, napi_default, NULL},
    {"batchNormBackward", NULL, batch_norm_backward, NULL, NULL, NULL, napi_default, NULL},
    {"maxPool", NULL, max_pool, NULL, NULL, NULL, napi_default, NULL},
    {"attention", NULL, attention, NULL, NULL, NULL, napi_default, NULL},
    {"attentionBackward", NULL, attention_backward, NULL, NULL, NULL, napi_default, NULL},
    {"im2col", NULL, im2col, NULL, NULL, NULL, napi_default, NULL},
    {"col2im", NULL, col2im, NULL, NULL, NULL, napi_default, NULL},
    {"permuteBlocks", NULL, permute_blocks, NULL, NULL, NULL, napi_default, NULL},
    {"firstNonFinite", NULL, first_non_finite, NULL, NULL, NULL, napi_default, NULL},
    {"clamp", NULL, clamp, NULL, NULL, NULL, napi_default, NULL},
    {"laneWidth", NULL, lane_width, NULL, NULL, NULL, napi_default, NULL},
    {"normaliseError", NULL, normalise_error, NULL, NULL, NULL, napi_default, NULL},
    {"lowRankSides", NULL, low_rank_sides, NULL, NULL, NULL, napi_default, NULL},
    {"lowRankFeedback", NULL, low_rank_feedback, NULL, NULL, NULL, napi_default, NULL},
    {"normativeLowRank", NULL, normative_low_rank, NULL, NULL, NULL, napi_default, NULL},
    {"ojaLinear", NULL, oja_linear, NULL, NULL, NULL, napi_default, NULL},
    {"factorisedLinear", NULL, factorised_linear, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) FAIL("register: napi_define_properties failed");
  return exports;
}
