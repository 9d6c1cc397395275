/*
 * libFuzzer harness: conf_load() on a config file.  The input is written
 * to a memfd and loaded through its /proc/self/fd path, twice: both loads
 * must agree (the loader keeps no state between loads).  A refused config
 * must come with errors, each "FILE:LINE: message" on a line the file has,
 * sorted by line; an accepted one must hold what the checks after parsing
 * promise (a listener, servers in every pool, splits of defined pools that
 * do not sum to 0, names found by conf_find_*()).
 *
 * Host names are not resolved: getaddrinfo() is wrapped (-Wl,--wrap) to
 * take numeric hosts and "localhost" only, so fuzzing sends nothing to a
 * resolver and gives the same result on every machine.
 */
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netdb.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

int	__real_getaddrinfo(const char *, const char *,
	    const struct addrinfo *, struct addrinfo **);
int	__wrap_getaddrinfo(const char *, const char *,
	    const struct addrinfo *, struct addrinfo **);

static int	conf_fd = -1;
static char	conf_path[64];

/* getaddrinfo() for conf.c: numeric hosts and localhost only. */
int
__wrap_getaddrinfo(const char *host, const char *serv,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo	h;

	if (host != NULL && strcmp(host, "localhost") == 0)
		return (__real_getaddrinfo("127.0.0.1", serv, hints, res));
	memset(&h, 0, sizeof h);
	if (hints != NULL)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	return (__real_getaddrinfo(host, serv, &h, res));
}

/* Returns the number of lines getline() reads from data[0..len). */
static int
conf_lines(const uint8_t *data, size_t len)
{
	size_t	i;
	int	n = 0;

	for (i = 0; i < len; i++)
		if (data[i] == '\n')
			n++;
	if (len > 0 && data[len - 1] != '\n')
		n++;
	return (n);
}

/* Checks the errors of a refused config. */
static void
conf_check_errors(const struct conf_errors *errs, int nlines)
{
	size_t		 i, plen = strlen(conf_path);
	const char	*m;
	char		*end;
	long		 line, last = 0;

	FUZZ_CHECK(errs->n > 0);
	for (i = 0; i < errs->n; i++) {
		m = errs->msgs[i];
		FUZZ_CHECK(strncmp(m, conf_path, plen) == 0 && m[plen] == ':');
		line = strtol(m + plen + 1, &end, 10);
		FUZZ_CHECK(end > m + plen + 1 && end[0] == ':' &&
		    end[1] == ' ' && end[2] != '\0');
		/* "no listener defined" names line 1 of an empty file. */
		FUZZ_CHECK(line >= 1 && line <= (nlines > 0 ? nlines : 1));
		FUZZ_CHECK(line >= last);
		last = line;
	}
}

/* Checks what the loader promises of a config it accepted. */
static void
conf_check_conf(const struct conf *c)
{
	const struct route	*r;
	const struct pool	*p;
	const struct server	*s;
	const struct rollout_conf *ro;
	size_t			 i, j;
	int			 total;

	FUZZ_CHECK(c->refcnt == 1);
	FUZZ_CHECK(c->nlisteners > 0);
	for (i = 0; i < c->nlisteners; i++) {
		FUZZ_CHECK(c->listeners[i]->nbinds > 0);
		FUZZ_CHECK(conf_find_listener(c, c->listeners[i]->name) ==
		    c->listeners[i]);
	}
	for (i = 0; i < c->npools; i++) {
		p = c->pools[i];
		FUZZ_CHECK(conf_find_pool(c, p->name) == p);
		FUZZ_CHECK(p->nservers > 0);
		for (j = 0; j < p->nservers; j++) {
			s = p->servers[j];
			FUZZ_CHECK(s->pool == p);
			FUZZ_CHECK(conf_find_server(p, s->name) == s);
			FUZZ_CHECK(s->addrlen > 0 &&
			    s->addrlen <= sizeof s->addr);
			FUZZ_CHECK(s->weight >= 0 && s->weight <= 256);
		}
	}
	for (i = 0; i < c->nroutes; i++) {
		r = c->routes[i];
		FUZZ_CHECK(conf_find_route(c, r->name) == r);
		FUZZ_CHECK(r->nsplit > 0);
		total = 0;
		for (j = 0; j < r->nsplit; j++) {
			FUZZ_CHECK(r->split[j].pool != NULL);
			FUZZ_CHECK(conf_find_pool(c, r->split[j].pool->name) ==
			    r->split[j].pool);
			FUZZ_CHECK(r->split[j].weight >= 0);
			total += r->split[j].weight;
		}
		FUZZ_CHECK(total > 0);
		if (r->stable != NULL)
			FUZZ_CHECK(conf_find_pool(c, r->stable->name) ==
			    r->stable);
		for (j = 0; j < r->nmatches; j++)
			FUZZ_CHECK(r->matches[j].pool != NULL);
		for (j = 0; j < r->nlisteners; j++)
			FUZZ_CHECK(r->listeners[j] != NULL);
	}
	for (i = 0; i < c->nrollouts; i++) {
		ro = c->rollouts[i];
		FUZZ_CHECK(ro->route != NULL && ro->canary != NULL);
		FUZZ_CHECK(ro->nsteps > 0 && ro->steps[ro->nsteps - 1] == 100);
		for (j = 1; j < ro->nsteps; j++)
			FUZZ_CHECK(ro->steps[j] > ro->steps[j - 1]);
	}
}

/* Loads the file; returns the errors joined, or NULL when accepted. */
static char *
conf_check_load(int nlines)
{
	struct conf_errors	 errs;
	struct conf		*c;
	char			*text = NULL;
	size_t			 i, n = 0;

	memset(&errs, 0, sizeof errs);
	if ((c = conf_load(conf_path, &errs)) != NULL) {
		FUZZ_CHECK(errs.n == 0);
		conf_check_conf(c);
		FUZZ_CHECK(conf_ref(c) == c);
		conf_unref(c);
		conf_unref(c);
		return (NULL);
	}
	conf_check_errors(&errs, nlines);
	for (i = 0; i < errs.n; i++)
		n += strlen(errs.msgs[i]) + 1;
	if ((text = malloc(n + 1)) == NULL)
		abort();
	for (n = 0, i = 0; i < errs.n; i++)
		n += (size_t)sprintf(text + n, "%s\n", errs.msgs[i]);
	conf_errors_clear(&errs);
	return (text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char	*first, *second;
	int	 nlines = conf_lines(data, len);

	if (conf_fd == -1) {
		if ((conf_fd = memfd_create("fuzz.conf", 0)) == -1) {
			perror("memfd_create");
			abort();
		}
		snprintf(conf_path, sizeof conf_path, "/proc/self/fd/%d",
		    conf_fd);
	}
	if (ftruncate(conf_fd, 0) == -1 ||
	    pwrite(conf_fd, data, len, 0) != (ssize_t)len) {
		perror("memfd");
		abort();
	}
	first = conf_check_load(nlines);
	second = conf_check_load(nlines);
	FUZZ_CHECK((first == NULL) == (second == NULL));
	if (first != NULL)
		FUZZ_CHECK(strcmp(first, second) == 0);
	free(first);
	free(second);
	return (0);
}
