/*
 * Live figures.  Every series lives in a registry of our own keyed by
 * names (route, pool, server, code class, reason...), never by config
 * objects, so counters survive reloads that replace every route, pool and
 * server.  Gauges that describe the running config (split weights, server
 * health and breakers, connections) are read from the current generation
 * when /metrics is rendered, so they need no bookkeeping at all.
 *
 * metrics_request() runs once per request on the event thread.  A small
 * direct-mapped cache keyed by the (route, pool, server) pointers finds
 * the series without hashing names; a hit is confirmed by comparing the
 * names, because a later config generation may reuse the address of a
 * freed server for one with another name.  Once a series exists, a request
 * costs a few increments and no allocation.
 *
 * The windows the rollout controller judges a canary by are rings of 600
 * per-second slots per route and pool.  A slot holds the requests of its
 * second by outcome and a log-linear latency histogram in the manner of
 * HdrHistogram: 16 linear sub-buckets per power of two from 100 us up to
 * 104 s, so a percentile read from it is within about 3% of the true one.
 * A slot is reset the first time it is written in a new second.  There
 * are no locks: everything here runs on the one event thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "config.h"
#include "conf.h"
#include "cutover.h"
#include "metrics.h"
#include "route.h"
#include "session.h"
#include "tls.h"
#include "xmalloc.h"

#define METRICS_RING		600	/* seconds a window can span */
#define METRICS_SUB_BITS	4
#define METRICS_SUB		(1 << METRICS_SUB_BITS)
#define METRICS_UNIT_US		100	/* the fastest latency told apart */
#define METRICS_POWERS		20	/* powers of two: 100 us to 104 s */
#define METRICS_HDR		(1 + METRICS_POWERS * METRICS_SUB)
#define METRICS_CACHE		256	/* entries of the pointer cache */
#define METRICS_KEYBUF		512	/* longer keys are allocated */

/*
 * Upper bounds of the request duration histogram, microseconds, padded to
 * 16 with bounds no duration passes, for the search in metrics_le().
 */
static const uint64_t metrics_le_us[16] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, UINT64_MAX, UINT64_MAX, UINT64_MAX
};
static const char *const metrics_le_text[] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5", "10"
};
#define METRICS_NLE	(sizeof metrics_le_text / sizeof metrics_le_text[0])

/* What a series counts; each kind is one metric family. */
enum metrics_kind {
	METRICS_ROUTE_POOL,	/* duration histogram and window */
	METRICS_REQUESTS,	/* requests by code class, per server */
	METRICS_HEALTH,		/* health checks passed and failed */
	METRICS_ROLLOUT,	/* rollout weight */
	METRICS_ROLLBACK,	/* rollbacks by reason */
	METRICS_FALLBACK,	/* requests the stable pool stood in for */
	METRICS_NKINDS
};

/* One second of a window. */
struct metrics_slot {
	uint64_t	 sec;			/* the second it holds */
	uint32_t	 n[4];			/* by enum metrics_outcome */
	uint32_t	 hdr[METRICS_HDR];	/* latency, log-linear */
};

/*
 * A series and its counters: what n[] holds depends on the kind (code
 * classes 1xx..5xx, histogram buckets, checks passed and failed,
 * rollbacks).  Owned by the registry; freed only by metrics_clear().
 */
struct metrics_series {
	enum metrics_kind	 kind;
	char			*key;		/* kind and names, NUL-joined */
	size_t			 keylen;
	uint32_t		 hash;
	const char		*names[3];	/* labels, pointing into key */
	struct metrics_series	*rp;		/* requests: its route/pool */
	uint64_t		 n[METRICS_NLE + 1];
	uint64_t		 sum_us;	/* route/pool: latency sum */
	double			 value;		/* rollout: weight */
	int			 hidden;	/* rollout: not rendered */
	struct metrics_slot	*ring;		/* route/pool: made when used */
	struct metrics_slot	*slot;		/* route/pool: last written */
	struct metrics_series	*next;		/* same kind, creation order */
};

/* One entry of the pointer cache. */
struct metrics_cache_entry {
	const struct route	*route;
	const struct pool	*pool;
	const struct server	*server;
	struct metrics_series	*s;
};

static struct metrics_series	**metrics_table;	/* open addressing */
static size_t			  metrics_size, metrics_used;
static struct metrics_series	 *metrics_head[METRICS_NKINDS];
static struct metrics_series	**metrics_tail[METRICS_NKINDS];
static struct metrics_cache_entry metrics_cache[METRICS_CACHE];
static uint64_t			  metrics_reloads[2];	/* failed, ok */
static uint64_t			  metrics_coarse_us(void);
static metrics_clock_cb		  metrics_clock = metrics_coarse_us;

/*
 * Returns the monotonic clock at the kernel tick's resolution: plenty for
 * per-second slots, and several times cheaper than a precise reading on
 * the path of every request.
 */
static uint64_t
metrics_coarse_us(void)
{
	struct timespec	ts;

#ifdef CLOCK_MONOTONIC_COARSE
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
	clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* Hashes bytes with FNV-1a. */
static uint32_t
metrics_hash(const char *p, size_t len)
{
	uint32_t	h = 2166136261u;

	while (len-- > 0) {
		h ^= (unsigned char)*p++;
		h *= 16777619u;
	}
	return (h);
}

/* Builds the key of a series into buf (size bytes); returns its length. */
static size_t
metrics_key(char *buf, size_t size, enum metrics_kind kind,
    const char *const names[3])
{
	size_t	len = 1, n;
	int	i;

	if (size > 0)
		buf[0] = 'a' + kind;
	for (i = 0; i < 3; i++) {
		n = strlen(names[i]) + 1;
		if (len + n <= size)
			memcpy(buf + len, names[i], n);
		len += n;
	}
	return (len);
}

/* Doubles the table (or makes the first one) and re-inserts every series. */
static void
metrics_grow(void)
{
	struct metrics_series	**old = metrics_table;
	size_t			  oldsize = metrics_size, i, j;

	metrics_size = oldsize == 0 ? 64 : oldsize * 2;
	metrics_table = xcalloc(metrics_size, sizeof *metrics_table);
	for (i = 0; i < oldsize; i++) {
		if (old[i] == NULL)
			continue;
		j = old[i]->hash & (metrics_size - 1);
		while (metrics_table[j] != NULL)
			j = (j + 1) & (metrics_size - 1);
		metrics_table[j] = old[i];
	}
	free(old);
}

/*
 * Finds the series of a kind with the given names (NULL reads as ""),
 * creating it when create is set; NULL when absent and not created.
 */
static struct metrics_series *
metrics_series_find(enum metrics_kind kind, const char *a, const char *b,
    const char *c, int create)
{
	struct metrics_series	*s;
	const char		*names[3];
	char			 stack[METRICS_KEYBUF], *key = stack;
	size_t			 len, i, j;
	uint32_t		 h;

	names[0] = a != NULL ? a : "";
	names[1] = b != NULL ? b : "";
	names[2] = c != NULL ? c : "";
	if ((len = metrics_key(key, sizeof stack, kind, names)) > sizeof stack)
		metrics_key(key = xmalloc(len), len, kind, names);
	h = metrics_hash(key, len);
	for (j = metrics_size == 0 ? 0 : h & (metrics_size - 1);
	    metrics_size != 0 && (s = metrics_table[j]) != NULL;
	    j = (j + 1) & (metrics_size - 1)) {
		if (s->hash == h && s->keylen == len &&
		    memcmp(s->key, key, len) == 0)
			goto done;
	}
	s = NULL;
	if (!create)
		goto done;
	if (2 * (metrics_used + 1) > metrics_size)
		metrics_grow();
	s = xcalloc(1, sizeof *s);
	s->kind = kind;
	s->keylen = len;
	s->key = xmalloc(len);
	memcpy(s->key, key, len);
	s->hash = h;
	s->names[0] = s->key + 1;
	for (i = 1; i < 3; i++)
		s->names[i] = s->names[i - 1] + strlen(s->names[i - 1]) + 1;
	j = h & (metrics_size - 1);
	while (metrics_table[j] != NULL)
		j = (j + 1) & (metrics_size - 1);
	metrics_table[j] = s;
	metrics_used++;
	if (metrics_tail[kind] == NULL)
		metrics_tail[kind] = &metrics_head[kind];
	*metrics_tail[kind] = s;
	metrics_tail[kind] = &s->next;
done:
	if (key != stack)
		free(key);
	return (s);
}

/* Returns the name of a config object, or NULL for none. */
#define METRICS_NAME(o)	((o) != NULL ? (o)->name : NULL)

/* Compares a series label with a name that may be NULL (""). */
static int
metrics_name_eq(const char *label, const char *name)
{
	return (strcmp(label, name != NULL ? name : "") == 0);
}

/* Picks the cache entry of a pointer triple. */
static struct metrics_cache_entry *
metrics_cache_entry(const struct route *r, const struct pool *p,
    const struct server *sv)
{
	uint64_t	h;

	h = (uint64_t)(uintptr_t)r * 0x9e3779b97f4a7c15ULL ^
	    (uint64_t)(uintptr_t)p * 0xc2b2ae3d27d4eb4fULL ^
	    (uint64_t)(uintptr_t)sv * 0x165667b19e3779f9ULL;
	return (&metrics_cache[(h ^ (h >> 29) ^ (h >> 47)) &
	    (METRICS_CACHE - 1)]);
}

/* Finds or makes the requests series of a route, pool and server. */
static struct metrics_series *
metrics_requests_series(const struct route *r, const struct pool *p,
    const struct server *sv)
{
	struct metrics_cache_entry	*e = metrics_cache_entry(r, p, sv);
	struct metrics_series		*s = e->s;

	if (s != NULL && e->route == r && e->pool == p && e->server == sv &&
	    metrics_name_eq(s->names[0], METRICS_NAME(r)) &&
	    metrics_name_eq(s->names[1], METRICS_NAME(p)) &&
	    metrics_name_eq(s->names[2], METRICS_NAME(sv)))
		return (s);
	s = metrics_series_find(METRICS_REQUESTS, METRICS_NAME(r),
	    METRICS_NAME(p), METRICS_NAME(sv), 1);
	if (s->rp == NULL)
		s->rp = metrics_series_find(METRICS_ROUTE_POOL,
		    METRICS_NAME(r), METRICS_NAME(p), NULL, 1);
	e->route = r;
	e->pool = p;
	e->server = sv;
	e->s = s;
	return (s);
}

/*
 * Returns the duration histogram bucket of usec: the number of bounds it
 * exceeds, found in four steps without a branch to mispredict.
 */
static unsigned
metrics_le(uint64_t usec)
{
	unsigned	i = 0;

	i += (usec > metrics_le_us[i + 7]) << 3;
	i += (usec > metrics_le_us[i + 3]) << 2;
	i += (usec > metrics_le_us[i + 1]) << 1;
	i += usec > metrics_le_us[i];
	return (i);
}

/* Maps a latency to its log-linear histogram bucket. */
static unsigned
metrics_hdr_index(uint64_t usec)
{
	uint64_t	u;
	unsigned	k;

	if (usec < METRICS_UNIT_US)
		return (0);
	/* In units of 100/16 us, u >= 16: its top bit gives the power. */
	u = usec * METRICS_SUB / METRICS_UNIT_US;
	k = 63 - __builtin_clzll(u) - METRICS_SUB_BITS;
	if (k >= METRICS_POWERS)
		return (METRICS_HDR - 1);
	return (1 + k * METRICS_SUB + (unsigned)((u >> k) - METRICS_SUB));
}

/* Returns the middle of a histogram bucket, in seconds. */
static double
metrics_hdr_value(unsigned i)
{
	unsigned	k, sub;

	if (i == 0)
		return (METRICS_UNIT_US / 2 / 1e6);
	k = (i - 1) / METRICS_SUB;
	sub = (i - 1) % METRICS_SUB;
	/* [(16 + sub) << k, (17 + sub) << k) in units of 100/16 us. */
	return ((double)((2 * (METRICS_SUB + sub) + 1) * (1ULL << k)) *
	    METRICS_UNIT_US / (2 * METRICS_SUB) / 1e6);
}

/* Returns the slot of second sec in a route/pool ring, reset if stale. */
static struct metrics_slot *
metrics_slot(struct metrics_series *rp, uint64_t sec)
{
	struct metrics_slot	*slot = rp->slot;

	if (slot != NULL && slot->sec == sec)
		return (slot);
	if (rp->ring == NULL)
		rp->ring = xcalloc(METRICS_RING, sizeof *rp->ring);
	slot = rp->slot = &rp->ring[sec % METRICS_RING];
	if (slot->sec != sec) {
		memset(slot, 0, sizeof *slot);
		slot->sec = sec;
	}
	return (slot);
}

/* Counts an outcome and its time in the current second of rp's window. */
static void
metrics_window_note(struct metrics_series *rp, enum metrics_outcome outcome,
    uint64_t usec)
{
	struct metrics_slot	*slot;

	slot = metrics_slot(rp, metrics_clock() / 1000000);
	slot->n[outcome]++;
	slot->hdr[metrics_hdr_index(usec)]++;
}

/* Counts a finished request: code class, duration bucket, window slot. */
void
metrics_request(const struct route *r, const struct pool *p,
    const struct server *sv, int status, enum metrics_outcome outcome,
    uint64_t usec)
{
	struct metrics_series	*s, *rp;
	unsigned		 class = status / 100;

	s = metrics_requests_series(r, p, sv);
	if (class < 1 || class > 5)
		class = 5;
	s->n[class - 1]++;

	rp = s->rp;
	rp->n[metrics_le(usec)]++;
	rp->sum_us += usec;

	metrics_window_note(rp, outcome, usec);
}

void
metrics_attempt(const struct route *r, const struct pool *p,
    enum metrics_outcome outcome, uint64_t usec)
{
	metrics_window_note(metrics_series_find(METRICS_ROUTE_POOL,
	    METRICS_NAME(r), METRICS_NAME(p), NULL, 1), outcome, usec);
}

/* Adds the seconds of rp's ring that fall in the window to the sums. */
static void
metrics_window_add(const struct metrics_series *rp, uint64_t now,
    unsigned seconds, uint64_t n[4], uint64_t hdr[METRICS_HDR])
{
	const struct metrics_slot	*slot;
	uint64_t			 sec;
	unsigned			 i, j;

	if (rp->ring == NULL)
		return;
	for (i = 0; i < seconds && i <= now; i++) {
		sec = now - i;
		slot = &rp->ring[sec % METRICS_RING];
		if (slot->sec != sec)
			continue;
		for (j = 0; j < 4; j++)
			n[j] += slot->n[j];
		for (j = 0; j < METRICS_HDR; j++)
			hdr[j] += slot->hdr[j];
	}
}

/*
 * Fills w over the window ending at second now; pool NULL sums every pool
 * of the route.
 */
static void
metrics_window_at(const char *route, const char *pool, unsigned seconds,
    uint64_t now, struct metrics_window *w)
{
	struct metrics_series	*rp;
	uint64_t		 n[4] = { 0, 0, 0, 0 }, hdr[METRICS_HDR];
	uint64_t		 rank, seen = 0;
	unsigned		 i;

	memset(w, 0, sizeof *w);
	memset(hdr, 0, sizeof hdr);
	if (seconds < 1)
		seconds = 1;
	if (seconds > METRICS_RING)
		seconds = METRICS_RING;
	if (pool != NULL) {
		if ((rp = metrics_series_find(METRICS_ROUTE_POOL, route, pool,
		    NULL, 0)) != NULL)
			metrics_window_add(rp, now, seconds, n, hdr);
	} else {
		for (rp = metrics_head[METRICS_ROUTE_POOL]; rp != NULL;
		    rp = rp->next) {
			if (metrics_name_eq(rp->names[0], route))
				metrics_window_add(rp, now, seconds, n, hdr);
		}
	}
	w->ok = n[METRICS_OK];
	w->errors_5xx = n[METRICS_5XX];
	w->connect_failures = n[METRICS_CONNECT_FAIL];
	w->timeouts = n[METRICS_TIMEOUT];
	w->requests = w->ok + w->errors_5xx + w->connect_failures +
	    w->timeouts;
	if (w->requests == 0)
		return;
	w->error_rate = (double)(w->requests - w->ok) / w->requests;
	/* The nearest-rank 95th percentile. */
	rank = (w->requests * 95 + 99) / 100;
	for (i = 0; i < METRICS_HDR; i++) {
		if ((seen += hdr[i]) >= rank)
			break;
	}
	w->p95 = metrics_hdr_value(i < METRICS_HDR ? i : METRICS_HDR - 1);
}

/* Reads a route/pool window ending now. */
void
metrics_window(const char *route, const char *pool, unsigned seconds,
    struct metrics_window *w)
{
	metrics_window_at(route, pool, seconds, metrics_clock() / 1000000, w);
}

/* Reads the canary and stable windows ending at the same second. */
void
metrics_window_pair(const char *route, const char *canary,
    const char *stable, unsigned seconds, struct metrics_window *wc,
    struct metrics_window *ws)
{
	uint64_t	now = metrics_clock() / 1000000;

	metrics_window_at(route, canary, seconds, now, wc);
	metrics_window_at(route, stable, seconds, now, ws);
}

/* Counts a reload by its result. */
void
metrics_reload(int ok)
{
	metrics_reloads[ok ? 1 : 0]++;
}

/* Counts a health check of a server by its result. */
void
metrics_health_check(const char *pool, const char *server, int ok)
{
	struct metrics_series	*s;

	s = metrics_series_find(METRICS_HEALTH, pool, server, NULL, 1);
	s->n[ok ? 0 : 1]++;
}

/* Sets or hides the rollout weight gauge of a route. */
void
metrics_rollout_weight(const char *route, double percent)
{
	struct metrics_series	*s;

	s = metrics_series_find(METRICS_ROLLOUT, route, NULL, NULL, 1);
	s->hidden = percent < 0;
	s->value = percent;
}

/* Counts a rollback of a route by its reason. */
void
metrics_rollback(const char *route, const char *reason)
{
	metrics_series_find(METRICS_ROLLBACK, route, reason, NULL, 1)->n[0]++;
}

/* Counts a request of a route that its stable pool took for pool. */
void
metrics_fallback(const char *route, const char *pool)
{
	metrics_series_find(METRICS_FALLBACK, route, pool, NULL, 1)->n[0]++;
}

/* Sets the clock of the windows (tests use a fake one). */
void
metrics_set_clock(metrics_clock_cb cb)
{
	metrics_clock = cb != NULL ? cb : metrics_coarse_us;
}

/* Appends a label value escaped per the exposition format. */
static void
metrics_escape(struct evbuffer *buf, const char *s)
{
	const char	*p;

	for (p = s; *p != '\0'; p++) {
		if (*p != '\\' && *p != '"' && *p != '\n')
			continue;
		evbuffer_add(buf, s, p - s);
		evbuffer_add(buf, *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" :
		    "\\n", 2);
		s = p + 1;
	}
	evbuffer_add(buf, s, p - s);
}

/* Appends the HELP and TYPE lines of a family. */
static void
metrics_family(struct evbuffer *buf, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(buf, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/*
 * Appends one sample: name, labels given as a NULL-terminated list of
 * key, value pairs, then the value as text.
 */
static void
metrics_sample(struct evbuffer *buf, const char *name,
    const char *const *labels, const char *value)
{
	size_t	i;

	evbuffer_add_printf(buf, "%s", name);
	for (i = 0; labels[i] != NULL; i += 2) {
		evbuffer_add_printf(buf, "%s%s=\"", i == 0 ? "{" : ",",
		    labels[i]);
		metrics_escape(buf, labels[i + 1]);
		evbuffer_add(buf, "\"", 1);
	}
	evbuffer_add_printf(buf, "%s %s\n", i == 0 ? "" : "}", value);
}

/* Appends a sample whose value is a counter. */
static void
metrics_sample_u64(struct evbuffer *buf, const char *name,
    const char *const *labels, uint64_t v)
{
	char	text[32];

	snprintf(text, sizeof text, "%llu", (unsigned long long)v);
	metrics_sample(buf, name, labels, text);
}

/* Appends a sample whose value is a gauge. */
static void
metrics_sample_double(struct evbuffer *buf, const char *name,
    const char *const *labels, double v)
{
	char	text[64];

	snprintf(text, sizeof text, "%.10g", v);
	metrics_sample(buf, name, labels, text);
}

/* Renders the request counters and the duration histogram. */
static void
metrics_render_requests(struct evbuffer *buf)
{
	static const char *const classes[] = {
	    "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct metrics_series	*s;
	const char		*l[9];
	uint64_t		 cum;
	size_t			 i;
	char			 sum[64];

	metrics_family(buf, "cutover_requests_total", "counter",
	    "Requests answered, by route, pool, server and status class.");
	l[0] = "route";
	l[2] = "pool";
	l[4] = "server";
	l[6] = "code";
	l[8] = NULL;
	for (s = metrics_head[METRICS_REQUESTS]; s != NULL; s = s->next) {
		l[1] = s->names[0];
		l[3] = s->names[1];
		l[5] = s->names[2];
		for (i = 0; i < 5; i++) {
			l[7] = classes[i];
			metrics_sample_u64(buf, "cutover_requests_total", l,
			    s->n[i]);
		}
	}

	metrics_family(buf, "cutover_request_duration_seconds", "histogram",
	    "Time from a request's head to the end of its response.");
	for (s = metrics_head[METRICS_ROUTE_POOL]; s != NULL; s = s->next) {
		l[1] = s->names[0];
		l[3] = s->names[1];
		l[4] = "le";
		l[6] = NULL;
		for (i = 0, cum = 0; i <= METRICS_NLE; i++) {
			cum += s->n[i];
			l[5] = i < METRICS_NLE ? metrics_le_text[i] : "+Inf";
			metrics_sample_u64(buf,
			    "cutover_request_duration_seconds_bucket", l, cum);
		}
		l[4] = NULL;
		snprintf(sum, sizeof sum, "%.6f", s->sum_us / 1e6);
		metrics_sample(buf, "cutover_request_duration_seconds_sum", l,
		    sum);
		metrics_sample_u64(buf,
		    "cutover_request_duration_seconds_count", l, cum);
	}
}

static uint64_t
metrics_server_up(const struct server *s)
{
	return (s->health == HEALTH_UP);
}

static uint64_t
metrics_server_breaker(const struct server *s)
{
	return (s->breaker == BREAKER_OPEN ? 2 :
	    s->breaker == BREAKER_HALF_OPEN ? 1 : 0);
}

static uint64_t
metrics_server_weight(const struct server *s)
{
	return ((uint64_t)s->weight);
}

static uint64_t
metrics_server_active(const struct server *s)
{
	return (s->active);
}

/* A gauge read from each server of the running config. */
struct metrics_gauge {
	const char	*name;
	const char	*help;
	uint64_t	(*value)(const struct server *);
};

static const struct metrics_gauge metrics_server_gauges[] = {
	{ "cutover_server_up",
	  "1 when the server passes its health checks (or has none).",
	  metrics_server_up },
	{ "cutover_breaker_state",
	  "Circuit breaker of a server: 0 closed, 1 half-open, 2 open.",
	  metrics_server_breaker },
	{ "cutover_server_weight",
	  "Effective balancing weight of a server.",
	  metrics_server_weight },
	{ "cutover_server_active",
	  "Requests in flight on a server.",
	  metrics_server_active },
};

/* Renders the gauges of the running config: splits, servers. */
static void
metrics_render_conf(struct evbuffer *buf, const struct conf *conf)
{
	const struct route	*r;
	const struct pool	*p;
	size_t			 i, j, k;
	const char		*l[5] = { "route", NULL, "pool", NULL, NULL };
	const struct metrics_gauge	*g;

	metrics_family(buf, "cutover_split_weight", "gauge",
	    "Effective share of a route's traffic sent to a pool, percent.");
	for (i = 0; i < conf->nroutes; i++) {
		r = conf->routes[i];
		l[1] = r->name;
		for (j = 0; j < r->nsplit; j++) {
			l[3] = r->split[j].pool->name;
			metrics_sample_double(buf, "cutover_split_weight", l,
			    route_share(r, j));
		}
	}

	l[0] = "pool";
	l[2] = "server";
	for (k = 0; k < sizeof metrics_server_gauges /
	    sizeof metrics_server_gauges[0]; k++) {
		g = &metrics_server_gauges[k];
		metrics_family(buf, g->name, "gauge", g->help);
		for (i = 0; i < conf->npools; i++) {
			p = conf->pools[i];
			l[1] = p->name;
			for (j = 0; j < p->nservers; j++) {
				l[3] = p->servers[j]->name;
				metrics_sample_u64(buf, g->name, l,
				    g->value(p->servers[j]));
			}
		}
	}
}

/* Renders the counters others report: health checks, rollouts, reloads. */
static void
metrics_render_events(struct evbuffer *buf)
{
	struct metrics_series	*s;
	const char		*l[7];
	size_t			 i;

	metrics_family(buf, "cutover_health_checks_total", "counter",
	    "Active health checks, by pool, server and result.");
	l[0] = "pool";
	l[2] = "server";
	l[4] = "result";
	l[6] = NULL;
	for (s = metrics_head[METRICS_HEALTH]; s != NULL; s = s->next) {
		l[1] = s->names[0];
		l[3] = s->names[1];
		for (i = 0; i < 2; i++) {
			l[5] = i == 0 ? "pass" : "fail";
			metrics_sample_u64(buf, "cutover_health_checks_total",
			    l, s->n[i]);
		}
	}

	metrics_family(buf, "cutover_rollout_weight", "gauge",
	    "Canary weight a rollout has set on its route, percent.");
	l[0] = "route";
	l[2] = NULL;
	for (s = metrics_head[METRICS_ROLLOUT]; s != NULL; s = s->next) {
		l[1] = s->names[0];
		if (!s->hidden)
			metrics_sample_double(buf, "cutover_rollout_weight", l,
			    s->value);
	}
	metrics_family(buf, "cutover_rollbacks_total", "counter",
	    "Rollbacks, by route and reason.");
	l[2] = "reason";
	l[4] = NULL;
	for (s = metrics_head[METRICS_ROLLBACK]; s != NULL; s = s->next) {
		l[1] = s->names[0];
		l[3] = s->names[1];
		metrics_sample_u64(buf, "cutover_rollbacks_total", l, s->n[0]);
	}
	metrics_family(buf, "cutover_stable_fallbacks_total", "counter",
	    "Requests a route sent to its stable pool because the pool picked "
	    "for them was down, by route and that pool.");
	l[2] = "pool";
	for (s = metrics_head[METRICS_FALLBACK]; s != NULL; s = s->next) {
		l[1] = s->names[0];
		l[3] = s->names[1];
		metrics_sample_u64(buf, "cutover_stable_fallbacks_total", l,
		    s->n[0]);
	}

	metrics_family(buf, "cutover_config_reloads_total", "counter",
	    "Config reloads, by result.");
	l[0] = "result";
	l[2] = NULL;
	l[1] = "ok";
	metrics_sample_u64(buf, "cutover_config_reloads_total", l,
	    metrics_reloads[1]);
	l[1] = "failed";
	metrics_sample_u64(buf, "cutover_config_reloads_total", l,
	    metrics_reloads[0]);
}

/* Renders the TLS handshakes, with clients and with servers. */
static void
metrics_render_tls(struct evbuffer *buf)
{
	const char	*l[5] = { "peer", NULL, "result", NULL, NULL };
	uint64_t	 c[2][2];
	int		 i, j;

	tls_handshake_counts(c);
	metrics_family(buf, "cutover_tls_handshakes_total", "counter",
	    "TLS handshakes, with clients (listeners) and servers (pools).");
	for (i = 1; i >= 0; i--) {
		l[1] = i ? "client" : "server";
		for (j = 0; j < 2; j++) {
			l[3] = j ? "failed" : "ok";
			metrics_sample_u64(buf, "cutover_tls_handshakes_total",
			    l, c[i][j]);
		}
	}
}

/* Renders the process figures: connections, version, start time. */
static void
metrics_render_process(struct evbuffer *buf)
{
	static const char *const none[] = { NULL };
	const char	*l[3] = { "state", NULL, NULL };
	unsigned	 reading, active, idle;

	session_counts(&reading, &active, &idle);
	metrics_family(buf, "cutover_connections", "gauge",
	    "Client connections open, by state.");
	l[1] = "reading";
	metrics_sample_u64(buf, "cutover_connections", l, reading);
	l[1] = "active";
	metrics_sample_u64(buf, "cutover_connections", l, active);
	l[1] = "idle";
	metrics_sample_u64(buf, "cutover_connections", l, idle);

	metrics_render_tls(buf);

	metrics_family(buf, "cutover_info", "gauge",
	    "Always 1; the version in a label.");
	l[0] = "version";
	l[1] = PACKAGE_VERSION;
	metrics_sample_u64(buf, "cutover_info", l, 1);
	metrics_family(buf, "cutover_start_time_seconds", "gauge",
	    "When the process started, seconds since the Epoch.");
	metrics_sample_u64(buf, "cutover_start_time_seconds", none,
	    (uint64_t)cutover.started);
}

/* Renders every family: counters, then config gauges, then the rest. */
void
metrics_render(struct evbuffer *buf)
{
	metrics_render_requests(buf);
	if (cutover.conf != NULL)
		metrics_render_conf(buf, cutover.conf);
	metrics_render_events(buf);
	metrics_render_process(buf);
}

/* Frees every series and forgets every count. */
void
metrics_clear(void)
{
	struct metrics_series	*s, *next;
	int			 k;

	for (k = 0; k < METRICS_NKINDS; k++) {
		for (s = metrics_head[k]; s != NULL; s = next) {
			next = s->next;
			free(s->ring);
			free(s->key);
			free(s);
		}
		metrics_head[k] = NULL;
		metrics_tail[k] = NULL;
	}
	free(metrics_table);
	metrics_table = NULL;
	metrics_size = metrics_used = 0;
	memset(metrics_cache, 0, sizeof metrics_cache);
	metrics_reloads[0] = metrics_reloads[1] = 0;
}
