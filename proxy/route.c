/*
 * Routing.  route_find() chooses a request's route the way nginx chooses
 * a virtual host and then a location: among the routes open to the
 * listener, the host decides first (an exact name, then the longest
 * matching "*.suffix", then routes for any host), and among the routes
 * that share that best host match the longest path_prefix wins.
 *
 * route_pick_pool() then chooses the pool: the first match rule that
 * holds, else the sticky key's bucket, else the split's smooth weighted
 * round-robin, which is exact per cycle (95/5 sends exactly 5 of every
 * 100 to the second pool).  Buckets are laid out canaries first and the
 * stable pool last, so as a canary's share grows buckets only move from
 * stable to canary, never back.  When the pool chosen is down, the stable
 * pool stands in.
 */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "balancer.h"
#include "http_parse.h"
#include "route.h"

/* Host ranks: higher wins; a wildcard ranks 2 + its suffix length. */
#define ROUTE_HOST_NONE		0
#define ROUTE_HOST_ANY		1
#define ROUTE_HOST_WILDCARD	2
#define ROUTE_HOST_EXACT	SIZE_MAX

static int		 route_listener_ok(const struct route *,
			    const struct listener_conf *);
static size_t		 route_host_rank(const struct route *, const char *,
			    size_t);
static struct pool	*route_match(const struct route *,
			    const struct http_msg *, const char *);
static int		 route_match_header(const struct match_rule *,
			    const struct http_msg *, const char *);
static int		 route_cookie_pair(const char *, const char *,
			    const char **, size_t *, const char **, size_t *);
static int		 route_cookie_find(const struct http_msg *,
			    const char *, const char *, size_t, const char *,
			    size_t, const char **, size_t *);
static int		 route_sticky_bucket(const struct route *,
			    const struct http_msg *, const char *,
			    const struct sockaddr *, struct route_pick *);
static int		 route_split_wrr(struct route *);
static uint64_t		 route_random(void);

/* Returns nonzero when route r accepts requests from listener l. */
static int
route_listener_ok(const struct route *r, const struct listener_conf *l)
{
	size_t	i;

	if (r->nlisteners == 0)
		return (1);
	if (l == NULL)
		return (0);
	/* By name too: a listener outlives the generation it was bound in. */
	for (i = 0; i < r->nlisteners; i++) {
		if (r->listeners[i] == l ||
		    strcmp(r->listeners[i]->name, l->name) == 0)
			return (1);
	}
	return (0);
}

/* Ranks how well route r's hosts match host; ROUTE_HOST_NONE: not at all. */
static size_t
route_host_rank(const struct route *r, const char *host, size_t hostlen)
{
	const char	*h, *suffix;
	size_t		 i, len, rank = ROUTE_HOST_NONE;

	if (r->nhosts == 0)
		return (ROUTE_HOST_ANY);
	for (i = 0; i < r->nhosts; i++) {
		h = r->hosts[i];
		len = strlen(h);
		if (len > 1 && h[0] == '*' && h[1] == '.') {
			/* "*.example.com" matches subdomains only. */
			suffix = h + 1;
			len--;
			if (hostlen > len && ROUTE_HOST_WILDCARD + len > rank &&
			    strncasecmp(host + hostlen - len, suffix, len) == 0)
				rank = ROUTE_HOST_WILDCARD + len;
		} else if (len == hostlen && strncasecmp(host, h, len) == 0)
			return (ROUTE_HOST_EXACT);
	}
	return (rank);
}

/* Finds the route for a request on listener l; NULL when none matches. */
struct route *
route_find(const struct conf *cf, const struct listener_conf *l,
    const char *host, size_t hostlen, const char *path, size_t pathlen)
{
	struct route	*r, *best = NULL;
	const char	*q;
	size_t		 i, rank, best_rank = ROUTE_HOST_NONE;
	size_t		 plen, best_plen = 0;

	if (pathlen > 0 && (q = memchr(path, '?', pathlen)) != NULL)
		pathlen = q - path;

	for (i = 0; i < cf->nroutes; i++) {
		r = cf->routes[i];
		if (!route_listener_ok(r, l))
			continue;
		if ((rank = route_host_rank(r, host, hostlen)) > best_rank)
			best_rank = rank;
	}
	if (best_rank == ROUTE_HOST_NONE)
		return (NULL);

	/* Among the best host's routes, the longest prefix; ties: first. */
	for (i = 0; i < cf->nroutes; i++) {
		r = cf->routes[i];
		if (!route_listener_ok(r, l) ||
		    route_host_rank(r, host, hostlen) != best_rank)
			continue;
		plen = r->path_prefix != NULL ? r->path_prefix_len : 0;
		if (plen > pathlen ||
		    (plen > 0 && memcmp(path, r->path_prefix, plen) != 0))
			continue;
		if (best == NULL || plen > best_plen) {
			best = r;
			best_plen = plen;
		}
	}
	return (best);
}

/* Returns nonzero when a header of match_header rule m's name holds. */
static int
route_match_header(const struct match_rule *m, const struct http_msg *msg,
    const char *buf)
{
	const struct http_header	*h;
	unsigned			 i;

	for (i = 0; i < msg->nheaders; i++) {
		h = &msg->headers[i];
		if (!http_header_is(msg, buf, h, m->name))
			continue;
		if (m->kind == MATCH_HEADER_PRESENT)
			return (1);
		if (h->value_len == m->value_len &&
		    memcmp(buf + h->value_off, m->value, m->value_len) == 0)
			return (1);
	}
	return (0);
}

/*
 * Splits the cookie pair p..end ("name=value", RFC 6265 section 4.2.1)
 * into trimmed name and value; -1 when it has no '='.
 */
static int
route_cookie_pair(const char *p, const char *end, const char **name,
    size_t *namelen, const char **val, size_t *vallen)
{
	const char	*eq;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((eq = memchr(p, '=', end - p)) == NULL)
		return (-1);
	*name = p;
	*namelen = eq - p;
	while (*namelen > 0 && (p[*namelen - 1] == ' ' ||
	    p[*namelen - 1] == '\t'))
		(*namelen)--;
	*val = eq + 1;
	while (*val < end && (**val == ' ' || **val == '\t'))
		(*val)++;
	*vallen = end - *val;
	return (0);
}

/*
 * Finds cookie name in the Cookie headers, whose pairs are separated by
 * "; " (tolerating a missing or extra space).  Names are compared
 * exactly.  With want set, only a pair with that exact value counts.
 * Returns nonzero and the value when found.
 */
static int
route_cookie_find(const struct http_msg *msg, const char *buf,
    const char *name, size_t namelen, const char *want, size_t wantlen,
    const char **val, size_t *vallen)
{
	const struct http_header	*h;
	const char			*p, *end, *semi, *next, *n, *v;
	size_t				 nlen, vlen;
	unsigned			 i;

	for (i = 0; i < msg->nheaders; i++) {
		h = &msg->headers[i];
		if (!http_header_is(msg, buf, h, "cookie"))
			continue;
		end = buf + h->value_off + h->value_len;
		for (p = buf + h->value_off; p < end; p = next) {
			if ((semi = memchr(p, ';', end - p)) == NULL)
				semi = end;
			next = semi < end ? semi + 1 : end;
			if (route_cookie_pair(p, semi, &n, &nlen, &v,
			    &vlen) == -1)
				continue;
			if (nlen != namelen || memcmp(n, name, nlen) != 0)
				continue;
			if (want != NULL && (vlen != wantlen ||
			    memcmp(v, want, vlen) != 0))
				continue;
			*val = v;
			*vallen = vlen;
			return (1);
		}
	}
	return (0);
}

/* Returns the pool of the first match rule that holds, NULL if none. */
static struct pool *
route_match(const struct route *r, const struct http_msg *msg,
    const char *buf)
{
	const struct match_rule	*m;
	const char		*v;
	size_t			 i, vlen;

	if (msg == NULL)
		return (NULL);
	for (i = 0; i < r->nmatches; i++) {
		m = &r->matches[i];
		switch (m->kind) {
		case MATCH_HEADER:
		case MATCH_HEADER_PRESENT:
			if (route_match_header(m, msg, buf))
				return (m->pool);
			break;
		case MATCH_COOKIE:
			if (route_cookie_find(msg, buf, m->name, m->name_len,
			    m->value, m->value_len, &v, &vlen))
				return (m->pool);
			break;
		}
	}
	return (NULL);
}

/* Returns a random 64-bit number from a per-thread xorshift64* state. */
static uint64_t
route_random(void)
{
	static _Thread_local uint64_t	 x;
	struct timespec			 ts;

	if (x == 0) {
		/* Seeded once per thread; bucket choice is not a secret. */
		if (getrandom(&x, sizeof x, GRND_NONBLOCK) != sizeof x) {
			timespec_get(&ts, TIME_UTC);
			x = (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^
			    (uint64_t)getpid() << 16 ^ (uintptr_t)&x;
		}
		if (x == 0)
			x = 0x9e3779b97f4a7c15ULL;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return (x * 0x2545f4914f6cdd1dULL);
}

/*
 * Sets pick->bucket from the route's sticky key and returns 0, or returns
 * -1 when the request has no key.  A sticky cookie holding a decimal
 * bucket number (as issued) is that bucket; any other value is hashed.
 */
static int
route_sticky_bucket(const struct route *r, const struct http_msg *msg,
    const char *buf, const struct sockaddr *client, struct route_pick *pick)
{
	const struct http_header	*h;
	const struct sockaddr_in6	*sin6;
	const unsigned char		*a;
	const char			*v;
	size_t				 i, vlen;
	unsigned			 b;

	switch (r->sticky) {
	case STICKY_OFF:
		return (-1);
	case STICKY_COOKIE:
		if (msg != NULL && route_cookie_find(msg, buf, r->sticky_name,
		    r->sticky_name_len, NULL, 0, &v, &vlen)) {
			b = 0;
			for (i = 0; i < vlen && v[i] >= '0' && v[i] <= '9'; i++)
				b = b * 10 + (v[i] - '0');
			if (vlen == 0 || vlen > 4 || i != vlen)
				b = route_bucket(v, vlen);
			pick->bucket = b;
			return (0);
		}
		if (!r->sticky_cookie_set)
			return (-1);
		pick->bucket = route_random() % ROUTE_BUCKETS;
		pick->set_cookie = 1;
		return (0);
	case STICKY_HEADER:
		if (msg == NULL || (h = http_header_find(msg, buf,
		    r->sticky_name)) == NULL)
			return (-1);
		pick->bucket = route_bucket(buf + h->value_off, h->value_len);
		return (0);
	case STICKY_CLIENT_IP:
		if (client == NULL)
			return (-1);
		if (client->sa_family == AF_INET) {
			a = (const unsigned char *)
			    &((const struct sockaddr_in *)client)->sin_addr;
			pick->bucket = route_bucket((const char *)a, 4);
			return (0);
		}
		if (client->sa_family != AF_INET6)
			return (-1);
		sin6 = (const struct sockaddr_in6 *)client;
		a = sin6->sin6_addr.s6_addr;
		/* ::ffff:a.b.c.d keys as a.b.c.d, as on an IPv4 listener. */
		if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\377\377", 12) == 0)
			pick->bucket = route_bucket((const char *)a + 12, 4);
		else
			pick->bucket = route_bucket((const char *)a, 16);
		return (0);
	}
	return (-1);
}

/*
 * Picks a split entry by the same smooth weighted round-robin as
 * balancer_wrr(), in place over the entries; -1 when all weigh 0.
 */
static int
route_split_wrr(struct route *r)
{
	struct split_entry	*e;
	long			 total = 0;
	int			 best = -1;
	size_t			 i;

	for (i = 0; i < r->nsplit; i++) {
		e = &r->split[i];
		if (e->weight <= 0)
			continue;
		e->cur += e->weight;
		total += e->weight;
		if (best == -1 || e->cur > r->split[best].cur)
			best = (int)i;
	}
	if (best != -1)
		r->split[best].cur -= (int)total;
	return (best);
}

/* Picks the pool for a request on route r. */
void
route_pick_pool(struct route *r, const struct http_msg *msg,
    const char *buf, const struct sockaddr *client, struct route_pick *pick)
{
	struct pool	*p;
	int		 i;

	memset(pick, 0, sizeof *pick);
	if ((p = route_match(r, msg, buf)) == NULL) {
		if (route_sticky_bucket(r, msg, buf, client, pick) == 0)
			i = route_bucket_entry(r, pick->bucket);
		else
			i = route_split_wrr(r);
		if (i != -1)
			p = r->split[i].pool;
	}
	if (p == NULL || !balancer_pool_up(p)) {
		if (r->stable != NULL && r->stable != p &&
		    balancer_pool_up(r->stable)) {
			pick->down = p;
			p = r->stable;
			pick->fallback = 1;
		} else
			p = NULL;
	}
	pick->pool = p;
}

/*
 * Hashes a sticky key to a bucket: FNV-1a 64 over the bytes, then
 * MurmurHash3's finalizer so that keys differing only in their last bytes
 * (neighbouring addresses) spread over all buckets.
 */
unsigned
route_bucket(const char *key, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return ((unsigned)(h % ROUTE_BUCKETS));
}

/*
 * Maps a bucket to a split entry.  The entries take consecutive ranges of
 * buckets in proportion to their weights, the non-stable ones first in
 * split order and the stable pool's entry last; with one canary its range
 * [0, share) only grows as its weight does.  -1 when all weigh 0.
 */
int
route_bucket_entry(const struct route *r, unsigned bucket)
{
	uint64_t	total = 0, cum = 0;
	size_t		i, stable = r->nsplit;

	for (i = 0; i < r->nsplit; i++) {
		if (r->split[i].weight > 0)
			total += (uint64_t)r->split[i].weight;
		if (stable == r->nsplit && r->split[i].pool == r->stable)
			stable = i;
	}
	if (total == 0)
		return (-1);
	bucket %= ROUTE_BUCKETS;

	for (i = 0; i < r->nsplit; i++) {
		if (i == stable || r->split[i].weight <= 0)
			continue;
		cum += (uint64_t)r->split[i].weight;
		if (bucket < cum * ROUTE_BUCKETS / total)
			return ((int)i);
	}
	/* The stable entry takes the buckets the canaries left. */
	if (stable != r->nsplit && r->split[stable].weight > 0)
		return ((int)stable);
	return (-1);
}

/* Returns the effective share of split entry i in percent (0-100). */
double
route_share(const struct route *r, size_t i)
{
	long	total = 0;
	size_t	j;

	if (i >= r->nsplit || r->split[i].weight <= 0)
		return (0.0);
	for (j = 0; j < r->nsplit; j++) {
		if (r->split[j].weight > 0)
			total += r->split[j].weight;
	}
	return (100.0 * r->split[i].weight / total);
}
