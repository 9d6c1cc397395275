/*
 * A test aid preloaded into openssl (LD_PRELOAD): time() answers the
 * real time plus CLOCK_SHIFT seconds from the environment (0 without
 * it).  Tests use it to have openssl ocsp sign a response that has
 * already expired, which its options (-ndays, -nmin: from now on) cannot
 * make.
 */
#include <stdlib.h>
#include <time.h>

time_t	time(time_t *);

time_t
time(time_t *t)
{
	struct timespec	 ts;
	const char	*shift;
	time_t		 now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec;
	if ((shift = getenv("CLOCK_SHIFT")) != NULL)
		now += (time_t)strtol(shift, NULL, 10);
	if (t != NULL)
		*t = now;
	return (now);
}
