// ldfa_blas: a minimal N-API binding of a CBLAS single-precision GEMM, zero-copy on JS
// Float32Arrays. The BLAS library is dlopen()ed at run time (Debian's libopenblas0-pthread
// provides libopenblas.so.0), so building needs only a C compiler and Node's headers; the
// cblas_sgemm prototype is declared here rather than taken from a BLAS header.
//
//   load(paths: string[]) -> { library, config, core, threads } | throws naming every path tried
//       core: openblas_get_corename(), the kernel set OpenBLAS's runtime detection (or
//       OPENBLAS_CORETYPE) picked, which the build string in config does not say
//   unload()                                  dlclose the library (before loading it again with
//                                             another OPENBLAS_CORETYPE: src/backends/blas-core.ts)
//   orthonormalize(Y, m, k) -> rank           Y (m, k) row-major float64 ← an orthonormal basis of its
//                                             columns (LAPACK dgeqrf + dorgqr); rank = #|R_jj| > tol·max
//   svd(A, m, n, U, S, VT)                    thin SVD of A (m, n) float64 (LAPACK dgesdd): U (m, k),
//                                             S (k), VT (k, n), k = min(m, n); throws where LAPACK is absent
//   sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)   C = α·op(A)·op(B) + β·C
//   setThreads(n), getThreads()                                          OpenBLAS thread count
//   adam(w, g, m, v, vmax|null, lr, beta1, beta2, eps, weightDecay, c1, c2, decoupled, threads)
//       one Adam/AdamW step on float32 arrays, the update of reference/optim.ts (tested against it),
//       split over `threads` (1 or 2) pthreads; elementwise, so the split does not change the result
//   and the float32 layer kernels of layers.c
#include <math.h>
#include <dlfcn.h>
#include <pthread.h>
#include "pair.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
typedef void (*sgemm_fn)(int order, int transA, int transB, int M, int N, int K, float alpha,
                         const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);
typedef char *(*get_config_fn)(void);
// LAPACK (Fortran calling convention, column-major), exported by OpenBLAS's libopenblas.so.0
typedef void (*dgeqrf_fn)(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork, int *info);
typedef void (*dorgqr_fn)(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work, const int *lwork, int *info);
typedef void (*dgesdd_fn)(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u, const int *ldu,
                          double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info);

static sgemm_fn sgemm = NULL;
static set_threads_fn set_threads = NULL;
static get_threads_fn get_threads = NULL;
static get_config_fn get_config = NULL;
static get_config_fn get_corename = NULL;
static dgeqrf_fn dgeqrf = NULL;
static dorgqr_fn dorgqr = NULL;
static dgesdd_fn dgesdd = NULL;
static void *loaded_handle = NULL;
static char loaded_path[512] = "";

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "ldfa_blas: N-API call failed: " #call); return NULL; } } while (0)

static napi_value throw_msg(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value load(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t count = 0;
  if (argc < 1 || napi_get_array_length(env, argv[0], &count) != napi_ok) return throw_msg(env, "ldfa_blas.load: pass an array of library paths");
  char tried[2048] = "";
  for (uint32_t i = 0; i < count && sgemm == NULL; i++) {
    napi_value item;
    char path[512];
    size_t len = 0;
    CHECK(napi_get_element(env, argv[0], i, &item));
    if (napi_get_value_string_utf8(env, item, path, sizeof path, &len) != napi_ok) return throw_msg(env, "ldfa_blas.load: every path must be a string");
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    const char *why = NULL;
    if (handle == NULL) why = dlerror();
    else {
      sgemm = (sgemm_fn)dlsym(handle, "cblas_sgemm");
      if (sgemm == NULL) { why = "no cblas_sgemm symbol"; dlclose(handle); }
      else {
        set_threads = (set_threads_fn)dlsym(handle, "openblas_set_num_threads");
        get_threads = (get_threads_fn)dlsym(handle, "openblas_get_num_threads");
        get_config = (get_config_fn)dlsym(handle, "openblas_get_config");
        get_corename = (get_config_fn)dlsym(handle, "openblas_get_corename");
        dgeqrf = (dgeqrf_fn)dlsym(handle, "dgeqrf_");
        dorgqr = (dorgqr_fn)dlsym(handle, "dorgqr_");
        dgesdd = (dgesdd_fn)dlsym(handle, "dgesdd_");
        loaded_handle = handle;
        snprintf(loaded_path, sizeof loaded_path, "%s", path);
      }
    }
    if (why != NULL) {
      size_t used = strlen(tried);
      snprintf(tried + used, sizeof tried - used, "%s%s: %s", used ? "; " : "", path, why);
    }
  }
  if (sgemm == NULL) {
    char msg[2200];
    snprintf(msg, sizeof msg, "ldfa_blas: no usable CBLAS library (%s)", tried);
    return throw_msg(env, msg);
  }
  napi_value result, value;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_string_utf8(env, loaded_path, NAPI_AUTO_LENGTH, &value));
  CHECK(napi_set_named_property(env, result, "library", value));
  CHECK(napi_create_string_utf8(env, get_config ? get_config() : "unknown (not OpenBLAS)", NAPI_AUTO_LENGTH, &value));
  CHECK(napi_set_named_property(env, result, "config", value));
  CHECK(napi_create_string_utf8(env, get_corename ? get_corename() : "unknown (not OpenBLAS)", NAPI_AUTO_LENGTH, &value));
  CHECK(napi_set_named_property(env, result, "core", value));
  CHECK(napi_get_boolean(env, dgeqrf && dorgqr && dgesdd, &value));
  CHECK(napi_set_named_property(env, result, "lapack", value));
  CHECK(napi_create_int32(env, get_threads ? get_threads() : 1, &value));
  CHECK(napi_set_named_property(env, result, "threads", value));
  return result;
}

/** A typed-array argument's data pointer and length (in elements, honouring its byteOffset); NULL if it is not of `want`. */
static void *typed_arg(napi_env env, napi_value v, napi_typedarray_type want, size_t *length) {
  napi_typedarray_type type;
  void *data = NULL;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, &data, &buffer, &offset) != napi_ok || type != want) return NULL;
  return data;
}

static float *f32_arg(napi_env env, napi_value v, size_t *length) { return (float *)typed_arg(env, v, napi_float32_array, length); }

static napi_value sgemm_js(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (sgemm == NULL) return throw_msg(env, "ldfa_blas.sgemm: call load() first");
  if (argc != 13) return throw_msg(env, "ldfa_blas.sgemm: takes (transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)");
  bool ta, tb;
  int32_t M, N, K, lda, ldb, ldc;
  double alpha, beta;
  CHECK(napi_get_value_bool(env, argv[0], &ta));
  CHECK(napi_get_value_bool(env, argv[1], &tb));
  CHECK(napi_get_value_int32(env, argv[2], &M));
  CHECK(napi_get_value_int32(env, argv[3], &N));
  CHECK(napi_get_value_int32(env, argv[4], &K));
  CHECK(napi_get_value_double(env, argv[5], &alpha));
  CHECK(napi_get_value_int32(env, argv[7], &lda));
  CHECK(napi_get_value_int32(env, argv[9], &ldb));
  CHECK(napi_get_value_double(env, argv[10], &beta));
  CHECK(napi_get_value_int32(env, argv[12], &ldc));
  size_t la, lb, lc;
  float *A = f32_arg(env, argv[6], &la), *B = f32_arg(env, argv[8], &lb), *C = f32_arg(env, argv[11], &lc);
  if (A == NULL || B == NULL || C == NULL) return throw_msg(env, "ldfa_blas.sgemm: A, B and C must be Float32Arrays");
  if (M < 0 || N < 0 || K < 0) return throw_msg(env, "ldfa_blas.sgemm: M, N, K must be ≥ 0");
  if (M == 0 || N == 0) return NULL;
  // Bounds: the last element each operand's row-major layout touches must lie inside it.
  int rowsA = ta ? K : M, colsA = ta ? M : K, rowsB = tb ? N : K, colsB = tb ? K : N;
  if (lda < (colsA > 1 ? colsA : 1) || ldb < (colsB > 1 ? colsB : 1) || ldc < (N > 1 ? N : 1)) return throw_msg(env, "ldfa_blas.sgemm: a leading dimension is smaller than its row length");
  if ((K > 0 && ((size_t)(rowsA - 1) * lda + colsA > la || (size_t)(rowsB - 1) * ldb + colsB > lb)) || (size_t)(M - 1) * ldc + N > lc) {
    return throw_msg(env, "ldfa_blas.sgemm: an operand is shorter than M, N, K and its leading dimension require");
  }
  sgemm(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, M, N, K, (float)alpha, A, lda, B, ldb, (float)beta, C, ldc);
  return NULL;
}

static napi_value set_threads_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t n;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 1) return throw_msg(env, "ldfa_blas.setThreads: pass an integer ≥ 1");
  if (set_threads != NULL) set_threads(n);
  return NULL;
}

static napi_value get_threads_js(napi_env env, napi_callback_info info) {
  napi_value value;
  CHECK(napi_create_int32(env, get_threads ? get_threads() : 1, &value));
  return value;
}

static napi_value unload_js(napi_env env, napi_callback_info info) {
  if (loaded_handle != NULL) dlclose(loaded_handle);
  loaded_handle = NULL;
  sgemm = NULL; set_threads = NULL; get_threads = NULL; get_config = NULL; get_corename = NULL;
  dgeqrf = NULL; dorgqr = NULL; dgesdd = NULL;
  loaded_path[0] = 0;
  return NULL;
}

static double *f64_arg(napi_env env, napi_value v, size_t *length) { return (double *)typed_arg(env, v, napi_float64_array, length); }

/** Row-major (m, n) → column-major copy (the same matrix, Fortran layout), and back. */
static void to_col_major(double *dst, const double *src, int m, int n) {
  for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) dst[(size_t)j * m + i] = src[(size_t)i * n + j];
}
static void to_row_major(double *dst, const double *src, int m, int n) {
  for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) dst[(size_t)i * n + j] = src[(size_t)j * m + i];
}

static napi_value orthonormalize_js(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (dgeqrf == NULL || dorgqr == NULL) return throw_msg(env, "ldfa_blas.orthonormalize: the loaded BLAS exports no LAPACK dgeqrf_/dorgqr_");
  int32_t m, k;
  size_t len;
  double *Y = argc == 3 ? f64_arg(env, argv[0], &len) : NULL;
  if (Y == NULL || napi_get_value_int32(env, argv[1], &m) != napi_ok || napi_get_value_int32(env, argv[2], &k) != napi_ok) return throw_msg(env, "ldfa_blas.orthonormalize: takes (Y: Float64Array, m, k)");
  if (m < 1 || k < 1 || k > m || (size_t)m * k > len) return throw_msg(env, "ldfa_blas.orthonormalize: needs 1 ≤ k ≤ m and Y of m·k values");
  double *a = malloc(sizeof(double) * ((size_t)m * k + k)), *tau = a + (size_t)m * k, query;
  if (a == NULL) return throw_msg(env, "ldfa_blas.orthonormalize: out of memory");
  to_col_major(a, Y, m, k);
  int lwork = -1, info_ = 0;
  dgeqrf(&m, &k, a, &m, tau, &query, &lwork, &info_);
  lwork = (int)query;
  int lwork2 = -1;
  dorgqr(&m, &k, &k, a, &m, tau, &query, &lwork2, &info_);
  if ((int)query > lwork) lwork = (int)query;
  if (lwork < 1) lwork = 1;
  double *work = malloc(sizeof(double) * lwork);
  if (work == NULL) { free(a); return throw_msg(env, "ldfa_blas.orthonormalize: out of memory"); }
  dgeqrf(&m, &k, a, &m, tau, work, &lwork, &info_);
  // numerical rank from R's diagonal (before dorgqr overwrites it)
  double rmax = 0;
  for (int j = 0; j < k; j++) { double r = fabs(a[(size_t)j * m + j]); if (r > rmax) rmax = r; }
  int rank = 0;
  for (int j = 0; j < k; j++) if (fabs(a[(size_t)j * m + j]) > 1e-12 * rmax && rmax > 0) rank++;
  if (info_ == 0) dorgqr(&m, &k, &k, a, &m, tau, work, &lwork, &info_);
  if (info_ == 0) to_row_major(Y, a, m, k);
  free(work); free(a);
  if (info_ != 0) return throw_msg(env, "ldfa_blas.orthonormalize: LAPACK dgeqrf/dorgqr failed");
  napi_value value;
  CHECK(napi_create_int32(env, rank, &value));
  return value;
}

static napi_value svd_js(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (dgesdd == NULL) return throw_msg(env, "ldfa_blas.svd: the loaded BLAS exports no LAPACK dgesdd_");
  int32_t m, n;
  size_t la, lu, ls, lv;
  double *A = argc == 6 ? f64_arg(env, argv[0], &la) : NULL;
  double *U = argc == 6 ? f64_arg(env, argv[3], &lu) : NULL, *S = argc == 6 ? f64_arg(env, argv[4], &ls) : NULL, *VT = argc == 6 ? f64_arg(env, argv[5], &lv) : NULL;
  if (A == NULL || U == NULL || S == NULL || VT == NULL || napi_get_value_int32(env, argv[1], &m) != napi_ok || napi_get_value_int32(env, argv[2], &n) != napi_ok) {
    return throw_msg(env, "ldfa_blas.svd: takes (A, m, n, U, S, VT), all Float64Arrays but m, n");
  }
  int k = m < n ? m : n;
  if (m < 1 || n < 1 || (size_t)m * n > la || (size_t)m * k > lu || (size_t)k > ls || (size_t)k * n > lv) return throw_msg(env, "ldfa_blas.svd: an array is shorter than m, n require");
  double *a = malloc(sizeof(double) * ((size_t)m * n + (size_t)m * k + (size_t)k * n)), *u = a + (size_t)m * n, *vt = u + (size_t)m * k, query;
  int *iwork = malloc(sizeof(int) * 8 * (size_t)k);
  if (a == NULL || iwork == NULL) { free(a); free(iwork); return throw_msg(env, "ldfa_blas.svd: out of memory"); }
  to_col_major(a, A, m, n);
  const char jobz = 'S';
  int lwork = -1, info_ = 0;
  dgesdd(&jobz, &m, &n, a, &m, S, u, &m, vt, &k, &query, &lwork, iwork, &info_);
  lwork = (int)query > 1 ? (int)query : 1;
  double *work = malloc(sizeof(double) * lwork);
  if (work == NULL) { free(a); free(iwork); return throw_msg(env, "ldfa_blas.svd: out of memory"); }
  dgesdd(&jobz, &m, &n, a, &m, S, u, &m, vt, &k, work, &lwork, iwork, &info_);
  if (info_ == 0) { to_row_major(U, u, m, k); to_row_major(VT, vt, k, n); }
  free(work); free(iwork); free(a);
  if (info_ != 0) return throw_msg(env, "ldfa_blas.svd: LAPACK dgesdd did not converge");
  return NULL;
}

typedef struct {
  float *w, *g, *m, *v, *vmax;
  float lr, b1, b2, eps, inv_c1, inv_c2, gwd, shrink;
} AdamArgs;
typedef struct { const AdamArgs *a; size_t start, end; } AdamRange;

__attribute__((target_clones("avx2", "default")))
static void adam_range(void *range) {
  const AdamRange *r = range;
  const AdamArgs *a = r->a;
  float *w = a->w, *g = a->g, *m = a->m, *v = a->v, *vmax = a->vmax;
  const float lr = a->lr, b1 = a->b1, b2 = a->b2, eps = a->eps, inv_c1 = a->inv_c1, inv_c2 = a->inv_c2, gwd = a->gwd, shrink = a->shrink;
  for (size_t i = r->start; i < r->end; i++) {
    const float gi = g[i] + gwd * w[i];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    if (vmax != NULL) { vi = vmax[i] > vi ? vmax[i] : vi; vmax[i] = vi; }
    w[i] = w[i] * shrink - lr * (mi * inv_c1) / (sqrtf(vi * inv_c2) + eps);
  }
}

/**
 * Adam (Kingma & Ba) with bias corrections c1 = 1 − β₁ᵗ, c2 = 1 − β₂ᵗ; weight decay added to the
 * gradient (Adam) or decoupled, w ← w − lr·wd·w (AdamW); AMSGrad when vmax is given.
 */
static napi_value adam_js(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 14) return throw_msg(env, "ldfa_blas.adam: takes (w, g, m, v, vmax|null, lr, beta1, beta2, eps, weightDecay, c1, c2, decoupled, threads)");
  size_t n, ng, nm, nv, nx = 0;
  float *w = f32_arg(env, argv[0], &n), *g = f32_arg(env, argv[1], &ng), *m = f32_arg(env, argv[2], &nm), *v = f32_arg(env, argv[3], &nv);
  napi_valuetype vmaxType;
  CHECK(napi_typeof(env, argv[4], &vmaxType));
  float *vmax = vmaxType == napi_null ? NULL : f32_arg(env, argv[4], &nx);
  if (w == NULL || g == NULL || m == NULL || v == NULL || (vmaxType != napi_null && vmax == NULL)) return throw_msg(env, "ldfa_blas.adam: w, g, m, v (and vmax unless null) must be Float32Arrays");
  if (ng != n || nm != n || nv != n || (vmax != NULL && nx != n)) return throw_msg(env, "ldfa_blas.adam: w, g, m, v, vmax must have the same length");
  double d[7];
  for (int i = 0; i < 7; i++) CHECK(napi_get_value_double(env, argv[5 + i], &d[i]));
  bool decoupled;
  int32_t threads;
  CHECK(napi_get_value_bool(env, argv[12], &decoupled));
  CHECK(napi_get_value_int32(env, argv[13], &threads));
  AdamArgs args = {
    .w = w, .g = g, .m = m, .v = v, .vmax = vmax, .lr = (float)d[0], .b1 = (float)d[1], .b2 = (float)d[2], .eps = (float)d[3],
    .inv_c1 = (float)(1.0 / d[5]), .inv_c2 = (float)(1.0 / d[6]),
    .gwd = decoupled ? 0.0f : (float)d[4], .shrink = decoupled ? 1.0f - (float)d[0] * (float)d[4] : 1.0f,
  };
  // Memory-bound (7 arrays of n floats pass through): two threads where the caller asks for them
  if (threads >= 2 && n >= 2) {
    AdamRange halves[2] = {{&args, 0, n / 2}, {&args, n / 2, n}};
    run_in_pair(adam_range, &halves[0], &halves[1]);
    return NULL;
  }
  AdamRange all = {&args, 0, n};
  adam_range(&all);
  return NULL;
}

napi_value register_layer_kernels(napi_env env, napi_value exports); // layers.c

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"load", NULL, load, NULL, NULL, NULL, napi_default, NULL},
    {"sgemm", NULL, sgemm_js, NULL, NULL, NULL, napi_default, NULL},
    {"setThreads", NULL, set_threads_js, NULL, NULL, NULL, napi_default, NULL},
    {"getThreads", NULL, get_threads_js, NULL, NULL, NULL, napi_default, NULL},
    {"unload", NULL, unload_js, NULL, NULL, NULL, napi_default, NULL},
    {"orthonormalize", NULL, orthonormalize_js, NULL, NULL, NULL, napi_default, NULL},
    {"svd", NULL, svd_js, NULL, NULL, NULL, napi_default, NULL},
    {"adam", NULL, adam_js, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return register_layer_kernels(env, exports);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
