/*
 * A test aid preloaded into cutover (LD_PRELOAD): getaddrinfo() of a host
 * named "hang-N.invalid" sleeps N seconds, then fails as a lookup does
 * when no DNS server answers; any other name goes to the real
 * getaddrinfo().  Tests use it to hold a config load or an "add server"
 * in a name lookup for as long as they need, without a DNS server.  The
 * names are of the .invalid domain (RFC 6761), which no real lookup ever
 * answers.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int	(*getaddrinfo_fn)(const char *, const char *,
		    const struct addrinfo *, struct addrinfo **);

int	getaddrinfo(const char *, const char *, const struct addrinfo *,
	    struct addrinfo **);

int
getaddrinfo(const char *host, const char *serv, const struct addrinfo *hints,
    struct addrinfo **res)
{
	getaddrinfo_fn	 real;
	struct timespec	 ts;
	char		*end;
	long		 n;

	if (host == NULL || strncmp(host, "hang-", 5) != 0 ||
	    (n = strtol(host + 5, &end, 10)) < 0 ||
	    strcmp(end, ".invalid") != 0) {
		/* Looked up each time: two threads may be here at once. */
		if ((real = (getaddrinfo_fn)dlsym(RTLD_NEXT,
		    "getaddrinfo")) == NULL)
			return (EAI_SYSTEM);
		return (real(host, serv, hints, res));
	}
	ts.tv_sec = n;
	ts.tv_nsec = 0;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
	return (EAI_AGAIN);
}
