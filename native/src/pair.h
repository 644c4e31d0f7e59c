// The addon's second thread (native/src/pair.c).
#pragma once

/** Runs f(here) on this thread and f(there) on the worker, and returns when both are done. */
void run_in_pair(void (*f)(void *), void *here, void *there);
