// A second thread for the addon's two-way loops (Adam, lowRankSides, ojaLinear, firstNonFinite):
// one long-lived worker instead of a pthread_create per call (53 µs each on this project's 2-core
// VM). Results never depend on it: each caller splits its work by shape alone, and if the worker
// cannot be started both halves run here in turn.
//
// Waking a sleeping thread on this VM takes 20–30 µs (the idle virtual CPU must be woken), about
// what a half of a 50 µs loop saves. So the worker, having finished a job, spins for a short
// while (PAIR_SPIN_NS) before it sleeps on the condition variable, and a caller that knows a
// two-way loop is coming can wake it ahead (pair_wake) while it does work of its own. The spin is
// short because OpenBLAS's threads need the second core between products (see
// OPENBLAS_THREAD_TIMEOUT in src/backends/native.ts). The caller likewise spins for the
// worker's half before it sleeps.
#define _POSIX_C_SOURCE 199309L
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include "pair.h"

static const long PAIR_SPIN_NS = 60000, CALLER_SPIN_NS = 400000;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, finished = PTHREAD_COND_INITIALIZER;
// job and job_arg are written and read under the lock; posted and done are also read without it
static void (*job)(void *) = 0; // 0: a wake-up call, nothing to run
static void *job_arg = 0;
static atomic_ulong posted = 0, done = 0;
static enum { NOT_STARTED, RUNNING, FAILED } state = NOT_STARTED;

static long elapsed_ns(const struct timespec *since) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

/** Spins until the (increasing) *counter reaches `target` or `ns` pass; whether it reached it. */
static bool spin_until_reaches(atomic_ulong *counter, unsigned long target, long ns) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (unsigned spins = 0;; spins++) {
    if (atomic_load_explicit(counter, memory_order_acquire) >= target) return true;
    if (spins % 64 == 63 && elapsed_ns(&start) > ns) return false;
    __builtin_ia32_pause();
  }
}

static void *worker(void *unused) {
  (void)unused;
  unsigned long seen = 0;
  for (;;) {
    if (!spin_until_reaches(&posted, seen + 1, PAIR_SPIN_NS)) {
      pthread_mutex_lock(&lock);
      while (atomic_load(&posted) == seen) pthread_cond_wait(&wake, &lock);
      pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    seen = atomic_load(&posted);
    void (*f)(void *) = job;
    void *arg = job_arg;
    job = 0;
    pthread_mutex_unlock(&lock);
    if (f) f(arg);
    pthread_mutex_lock(&lock);
    atomic_store_explicit(&done, seen, memory_order_release);
    pthread_cond_signal(&finished);
    pthread_mutex_unlock(&lock);
  }
  return 0;
}

/** Starts the worker on first use; whether it runs. Called with the lock held. */
static bool worker_running(void) {
  if (state == NOT_STARTED) {
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    state = pthread_create(&thread, &attr, worker, 0) == 0 ? RUNNING : FAILED;
    pthread_attr_destroy(&attr);
  }
  return state == RUNNING;
}

/** Posts f(arg) (or, f = 0, a wake-up) to the worker; with the lock held. */
static unsigned long post(void (*f)(void *), void *arg) {
  job = f;
  job_arg = arg;
  const unsigned long n = atomic_fetch_add(&posted, 1) + 1;
  pthread_cond_signal(&wake);
  return n;
}

void pair_wake(void) {
  pthread_mutex_lock(&lock);
  // a worker still busy, or already awake for an earlier wake-up, needs none
  if (worker_running() && atomic_load(&done) == atomic_load(&posted)) post(0, 0);
  pthread_mutex_unlock(&lock);
}

void run_in_pair(void (*f)(void *), void *here, void *there) {
  pthread_mutex_lock(&lock);
  if (!worker_running()) {
    pthread_mutex_unlock(&lock);
    f(here);
    f(there);
    return;
  }
  const unsigned long n = post(f, there);
  pthread_mutex_unlock(&lock);
  f(here);
  if (spin_until_reaches(&done, n, CALLER_SPIN_NS)) return;
  pthread_mutex_lock(&lock);
  while (atomic_load(&done) < n) pthread_cond_wait(&finished, &lock);
  pthread_mutex_unlock(&lock);
}
