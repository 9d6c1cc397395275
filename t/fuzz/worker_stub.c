/*
 * What the conf harness needs of worker.c when scripts/fuzz builds it
 * from sources: the lock that ocsp.c takes (one thread here, so none)
 * and the marks conf.c puts around name lookups for the exit.  The
 * replay build of make check links the real worker.c from libcutover.a.
 */
#include "worker.h"

int	worker_threaded;

void
worker_lock_slow(void)
{
}

void
worker_unlock_slow(void)
{
}

void
worker_offload_lookup_begin(void)
{
}

void
worker_offload_lookup_end(void)
{
}
