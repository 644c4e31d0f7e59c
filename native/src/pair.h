// The addon's second thread (native/src/pair.c).
#pragma once

/** Runs f(here) on this thread and f(there) on the worker, and returns when both are done. */
void run_in_pair(void (*f)(void *), void *here, void *there);

/** Wakes the worker ahead of a run_in_pair call that is coming soon (it spins a short while, then sleeps again). */
void pair_wake(void);
