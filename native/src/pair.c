// A second thread for the addon's two-way loops (Adam, lowRankSides, firstNonFinite): one
// long-lived worker instead of a pthread_create per call (53 µs each on this project's 2-core
// VM, against 23 µs for a hand-off through a condition variable, and a training step of the
// MLP 1024 makes four or five such calls). Between calls the worker sleeps on the condition variable; it
// never spins, since OpenBLAS's threads need the second core between products (see
// OPENBLAS_THREAD_TIMEOUT in src/backends/native.ts). Results never depend on it: each caller
// splits its work by shape alone, and if the worker cannot be started both halves run here in turn.
#include <pthread.h>
#include <stdbool.h>
#include "pair.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, finished = PTHREAD_COND_INITIALIZER;
static void (*job)(void *) = 0;
static void *job_arg = 0;
static unsigned long posted = 0, done = 0;
static enum { NOT_STARTED, RUNNING, FAILED } state = NOT_STARTED;

static void *worker(void *unused) {
  (void)unused;
  pthread_mutex_lock(&lock);
  for (;;) {
    while (done == posted) pthread_cond_wait(&wake, &lock);
    void (*f)(void *) = job;
    void *arg = job_arg;
    pthread_mutex_unlock(&lock);
    f(arg);
    pthread_mutex_lock(&lock);
    done = posted;
    pthread_cond_signal(&finished);
  }
  return 0;
}

void run_in_pair(void (*f)(void *), void *here, void *there) {
  pthread_mutex_lock(&lock);
  if (state == NOT_STARTED) {
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    state = pthread_create(&thread, &attr, worker, 0) == 0 ? RUNNING : FAILED;
    pthread_attr_destroy(&attr);
  }
  if (state == FAILED) {
    pthread_mutex_unlock(&lock);
    f(here);
    f(there);
    return;
  }
  job = f;
  job_arg = there;
  posted++;
  pthread_cond_signal(&wake);
  pthread_mutex_unlock(&lock);
  f(here);
  pthread_mutex_lock(&lock);
  while (done != posted) pthread_cond_wait(&finished, &lock);
  pthread_mutex_unlock(&lock);
}
