/*
 * The process-wide state every module shares, and the clock.
 */
#include <time.h>

#include "cutover.h"
#include "worker.h"

struct cutover	 cutover;

uint64_t
cutover_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

uint64_t
cutover_requests(void)
{
	struct worker_counts	t;

	worker_totals(&t);
	return (t.requests);
}
