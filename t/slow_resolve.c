/*
 * A test aid preloaded into cutover (LD_PRELOAD): getaddrinfo() of a host
 * named "hang-N.invalid" sleeps N seconds, then fails as a lookup does
 * when no DNS server answers; any other name goes to the real
 * getaddrinfo().  Tests use it to hold a config load or an "add server"
 * in a name lookup for as long as they need, without a DNS server.  The
 * names are of the .invalid domain (RFC 6761), which no real lookup ever
 * answers.
 *
 * Likewise fopen() of a path whose last part starts "slow-open-N" sleeps
 * N seconds before opening it, to hold a load in what is not a lookup:
 * reading a certificate, by cutover or by OpenSSL (which calls fopen64).
 * It says so on stderr first, so that a test knows when the sleep began.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int	(*getaddrinfo_fn)(const char *, const char *,
		    const struct addrinfo *, struct addrinfo **);
typedef FILE	*(*fopen_fn)(const char *, const char *);

int	getaddrinfo(const char *, const char *, const struct addrinfo *,
	    struct addrinfo **);
FILE	*fopen(const char *, const char *);
FILE	*fopen64(const char *, const char *);

/* Sleeps n seconds, signals or not. */
static void
slow_sleep(long n)
{
	struct timespec	ts;

	ts.tv_sec = n;
	ts.tv_nsec = 0;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

int
getaddrinfo(const char *host, const char *serv, const struct addrinfo *hints,
    struct addrinfo **res)
{
	getaddrinfo_fn	 real;
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
	slow_sleep(n);
	return (EAI_AGAIN);
}

/* Sleeps first if path is a slow-open-N one, then calls the real name. */
static FILE *
slow_fopen(const char *name, const char *path, const char *mode)
{
	fopen_fn	 real;
	const char	*base;
	char		 msg[256];
	long		 n;
	int		 len;

	base = (base = strrchr(path, '/')) != NULL ? base + 1 : path;
	if (strncmp(base, "slow-open-", 10) == 0 &&
	    (n = strtol(base + 10, NULL, 10)) > 0) {
		len = snprintf(msg, sizeof msg, "slow_resolve: %s %s: "
		    "sleeping %ld s\n", name, path, n);
		if (len > 0 && (size_t)len < sizeof msg)
			(void)write(STDERR_FILENO, msg, len);
		slow_sleep(n);
	}
	if ((real = (fopen_fn)dlsym(RTLD_NEXT, name)) == NULL) {
		errno = ENOSYS;
		return (NULL);
	}
	return (real(path, mode));
}

FILE *
fopen(const char *path, const char *mode)
{
	return (slow_fopen("fopen", path, mode));
}

FILE *
fopen64(const char *path, const char *mode)
{
	return (slow_fopen("fopen64", path, mode));
}
