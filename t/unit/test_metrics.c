/*
 * Unit tests of the metrics module: counters by code class and the
 * duration histogram as rendered, series that survive a new config
 * generation (and a reused address that now names another server), label
 * escaping, the counters other modules report, and the sliding windows:
 * which seconds a window covers, the ring wrapping after 600 s, outcomes
 * and the p95 read from the log-linear histogram against the exact one.
 * Ends with a micro-benchmark of metrics_request() printed as a comment.
 * Time is a fake clock, so nothing here sleeps.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "conf.h"
#include "cutover.h"
#include "metrics.h"
#include "tap.h"

static uint64_t	 fake_us = 1000000000;

/* The fake clock of the windows. */
static uint64_t
fake_clock(void)
{
	return (fake_us);
}

/* Renders /metrics into a new string. */
static char *
render(void)
{
	struct evbuffer	*buf = evbuffer_new();
	size_t		 len;
	char		*s;

	metrics_render(buf);
	len = evbuffer_get_length(buf);
	s = malloc(len + 1);
	evbuffer_remove(buf, s, len);
	s[len] = '\0';
	evbuffer_free(buf);
	return (s);
}

/* Returns the value of the sample line that starts with prefix, or -1. */
static double
sample(const char *text, const char *prefix)
{
	const char	*p = text;
	size_t		 n = strlen(prefix);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return (strtod(p + n + 1, NULL));
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return (-1);
}

/* The start of the request counter of web/blue/b1, up to its code. */
#define WEB_B1	"cutover_requests_total{route=\"web\",pool=\"blue\"," \
		"server=\"b1\",code="

/* A route, pool and server with names, as a config generation has. */
struct tconf {
	struct route	route;
	struct pool	pool;
	struct server	server;
};

/* Fills t with the given names. */
static void
tconf_init(struct tconf *t, const char *route, const char *pool,
    const char *server)
{
	memset(t, 0, sizeof *t);
	t->route.name = (char *)route;
	t->pool.name = (char *)pool;
	t->server.name = (char *)server;
	t->server.pool = &t->pool;
}

/* Counts by class, the histogram buckets and the series of a 404. */
static void
test_counters(void)
{
	struct tconf	 a;
	char		*text;
	int		 i;

	tconf_init(&a, "web", "blue", "b1");
	for (i = 0; i < 7; i++)
		metrics_request(&a.route, &a.pool, &a.server, 200, METRICS_OK,
		    1000);
	metrics_request(&a.route, &a.pool, &a.server, 502,
	    METRICS_CONNECT_FAIL, 30000);
	metrics_request(&a.route, &a.pool, &a.server, 499, METRICS_OK,
	    2000000);
	metrics_request(NULL, NULL, NULL, 404, METRICS_OK, 50);
	text = render();
	is_int(sample(text, WEB_B1 "\"2xx\"}"), 7, "seven 2xx counted");
	is_int(sample(text, WEB_B1 "\"5xx\"}"), 1, "one 5xx counted");
	is_int(sample(text, WEB_B1 "\"4xx\"}"), 1, "a 499 counts as 4xx");
	is_int(sample(text, "cutover_requests_total{route=\"\",pool=\"\","
	    "server=\"\",code=\"4xx\"}"), 1,
	    "a request without a route has empty labels");
	is_int(sample(text, "cutover_request_duration_seconds_bucket{route="
	    "\"web\",pool=\"blue\",le=\"0.001\"}"), 7,
	    "1 ms falls in le=0.001 (bounds are inclusive)");
	is_int(sample(text, "cutover_request_duration_seconds_bucket{route="
	    "\"web\",pool=\"blue\",le=\"0.025\"}"), 7,
	    "30 ms is above le=0.025");
	is_int(sample(text, "cutover_request_duration_seconds_bucket{route="
	    "\"web\",pool=\"blue\",le=\"0.05\"}"), 8, "30 ms is in le=0.05");
	is_int(sample(text, "cutover_request_duration_seconds_bucket{route="
	    "\"web\",pool=\"blue\",le=\"+Inf\"}"), 9, "+Inf holds all");
	is_int(sample(text, "cutover_request_duration_seconds_count{route="
	    "\"web\",pool=\"blue\"}"), 9, "count matches +Inf");
	ok(fabs(sample(text, "cutover_request_duration_seconds_sum{route="
	    "\"web\",pool=\"blue\"}") - 2.037) < 1e-6, "sum of durations");
	ok(strstr(text, "# TYPE cutover_request_duration_seconds histogram\n")
	    != NULL, "the histogram has its TYPE line");
	free(text);
}

/* Durations on and just past each bound of the histogram. */
static void
test_buckets(void)
{
	static const uint64_t	 le[] = { 1000, 2500, 5000, 10000, 25000,
				    50000, 100000, 250000, 500000, 1000000,
				    2500000, 5000000, 10000000 };
	static const char	*text_le[] = { "0.001", "0.0025", "0.005",
				    "0.01", "0.025", "0.05", "0.1", "0.25",
				    "0.5", "1", "2.5", "5", "10" };
	struct tconf		 a;
	char			*text, prefix[128];
	size_t			 i, bad = 0;

	tconf_init(&a, "edge", "p", "s");
	metrics_request(&a.route, &a.pool, &a.server, 200, METRICS_OK, 0);
	for (i = 0; i < 13; i++) {
		metrics_request(&a.route, &a.pool, &a.server, 200, METRICS_OK,
		    le[i]);
		metrics_request(&a.route, &a.pool, &a.server, 200, METRICS_OK,
		    le[i] + 1);
	}
	text = render();
	/* Bound i holds 0, then both requests of each bound below it. */
	for (i = 0; i < 13; i++) {
		snprintf(prefix, sizeof prefix,
		    "cutover_request_duration_seconds_bucket{route=\"edge\","
		    "pool=\"p\",le=\"%s\"}", text_le[i]);
		if (sample(text, prefix) != 2 * i + 2)
			bad++;
	}
	is_int(bad, 0, "a duration on a bound is in it, one past is not");
	is_int(sample(text, "cutover_request_duration_seconds_bucket{route="
	    "\"edge\",pool=\"p\",le=\"+Inf\"}"), 27, "+Inf holds all 27");
	free(text);
}

/* A new generation with the same names, and a reused address. */
static void
test_reload(void)
{
	struct tconf	*a, *b;
	char		*text;

	a = malloc(sizeof *a);
	tconf_init(a, "web", "blue", "b1");
	metrics_request(&a->route, &a->pool, &a->server, 200, METRICS_OK, 10);
	text = render();
	is_int(sample(text, WEB_B1 "\"2xx\"}"), 8,
	    "a new generation adds to the same series");
	free(text);

	/* Same addresses, other names: must not land in web/blue/b1. */
	tconf_init(a, "api", "green", "g1");
	metrics_request(&a->route, &a->pool, &a->server, 201, METRICS_OK, 10);
	text = render();
	is_int(sample(text, WEB_B1 "\"2xx\"}"), 8,
	    "a reused address does not count in the old series");
	is_int(sample(text, "cutover_requests_total{route=\"api\",pool="
	    "\"green\",server=\"g1\",code=\"2xx\"}"), 1,
	    "it counts in the series of its names");
	free(text);

	b = malloc(sizeof *b);
	tconf_init(b, "web", "blue", "b1");
	metrics_request(&b->route, &b->pool, &b->server, 200, METRICS_OK, 10);
	text = render();
	is_int(sample(text, WEB_B1 "\"2xx\"}"), 9,
	    "another address with the old names finds the old series");
	free(text);
	free(a);
	free(b);
}

/* Escaping of label values and the counters others report. */
static void
test_labels_and_events(void)
{
	char	*text;

	metrics_health_check("blue", "b1", 1);
	metrics_health_check("blue", "b1", 1);
	metrics_health_check("blue", "b1", 0);
	metrics_reload(1);
	metrics_reload(0);
	metrics_reload(1);
	metrics_rollout_weight("web", 25);
	metrics_rollout_weight("gone", 10);
	metrics_rollout_weight("gone", -1);
	metrics_rollback("web", "error_rate");
	metrics_rollback("web", "error_rate");
	metrics_rollback("we\"b\\\n", "p95");
	text = render();
	is_int(sample(text, "cutover_health_checks_total{pool=\"blue\","
	    "server=\"b1\",result=\"pass\"}"), 2, "health checks passed");
	is_int(sample(text, "cutover_health_checks_total{pool=\"blue\","
	    "server=\"b1\",result=\"fail\"}"), 1, "health checks failed");
	is_int(sample(text, "cutover_config_reloads_total{result=\"ok\"}"), 2,
	    "reloads ok");
	is_int(sample(text, "cutover_config_reloads_total{result=\"failed\"}"),
	    1, "reloads failed");
	is_int(sample(text, "cutover_rollout_weight{route=\"web\"}"), 25,
	    "rollout weight");
	ok(strstr(text, "route=\"gone\"") == NULL,
	    "a negative rollout weight removes the series");
	is_int(sample(text, "cutover_rollbacks_total{route=\"web\",reason="
	    "\"error_rate\"}"), 2, "rollbacks by reason");
	is_int(sample(text, "cutover_rollbacks_total{route=\"we\\\"b\\\\\\n\","
	    "reason=\"p95\"}"), 1, "quote, backslash and newline are escaped");
	ok(strstr(text, "# HELP cutover_connections ") != NULL &&
	    strstr(text, "# TYPE cutover_connections gauge\n") != NULL,
	    "connections have HELP and TYPE");
	free(text);
}

/* Which seconds a window covers, outcomes, and the ring's wrap. */
static void
test_window(void)
{
	struct tconf		a;
	struct metrics_window	w, ws;
	int			i;

	metrics_set_clock(fake_clock);
	tconf_init(&a, "win", "canary", "c1");
	/* 10 s ago: 5 requests; now: 3 ok, 1 5xx, 1 connect, 1 timeout. */
	fake_us -= 10 * 1000000;
	for (i = 0; i < 5; i++)
		metrics_request(&a.route, &a.pool, &a.server, 200, METRICS_OK,
		    1000);
	fake_us += 10 * 1000000;
	for (i = 0; i < 3; i++)
		metrics_request(&a.route, &a.pool, &a.server, 200, METRICS_OK,
		    1000);
	metrics_request(&a.route, &a.pool, &a.server, 500, METRICS_5XX, 1000);
	metrics_request(&a.route, &a.pool, &a.server, 502,
	    METRICS_CONNECT_FAIL, 1000);
	metrics_request(&a.route, &a.pool, &a.server, 504, METRICS_TIMEOUT,
	    1000);

	metrics_window("win", "canary", 10, &w);
	is_int(w.requests, 6, "a 10 s window leaves out the 11th second back");
	is_int(w.ok, 3, "ok counted");
	is_int(w.errors_5xx, 1, "5xx counted");
	is_int(w.connect_failures, 1, "connect failures counted");
	is_int(w.timeouts, 1, "timeouts counted");
	ok(fabs(w.error_rate - 0.5) < 1e-9, "error rate is 3 of 6");
	metrics_window("win", "canary", 11, &w);
	is_int(w.requests, 11, "an 11 s window takes it in");
	metrics_window("win", NULL, 11, &w);
	is_int(w.requests, 11, "pool NULL sums the route's pools");
	metrics_window("win", "other", 600, &w);
	ok(w.requests == 0 && w.p95 == 0, "an unknown pool has no requests");
	metrics_window_pair("win", "canary", "other", 600, &w, &ws);
	ok(w.requests == 11 && ws.requests == 0,
	    "the pair reads both pools");

	fake_us += 589 * 1000000ULL;
	metrics_window("win", "canary", 600, &w);
	is_int(w.requests, 11, "589 s later a 600 s window still has all");
	fake_us += 1000000;
	metrics_window("win", "canary", 600, &w);
	is_int(w.requests, 6, "a second later the oldest second has gone");
	fake_us += 10 * 1000000ULL;
	metrics_window("win", "canary", 600, &w);
	is_int(w.requests, 0, "600 s after the last request all has gone");
	/* Second 1600 shares its slot with second 1000. */
	metrics_request(&a.route, &a.pool, &a.server, 200, METRICS_OK, 1000);
	metrics_window("win", "canary", 600, &w);
	is_int(w.requests, 1, "a reused slot starts empty");
}

/* Orders two uint64_t for qsort(). */
static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* p95 from the histogram against the exact nearest-rank p95. */
static void
test_p95(void)
{
	struct tconf		a;
	struct metrics_window	w;
	static uint64_t		v[20000];
	uint64_t		exact;
	double			err, worst = 0;
	int			i, run;

	tconf_init(&a, "p95", "pool", "s");
	srandom(42);
	for (run = 0; run < 6; run++) {
		fake_us += 700 * 1000000ULL;	/* an empty ring */
		for (i = 0; i < 20000; i++) {
			double	u = (random() + 1.0) / 2147483649.0;

			/* Exponential tails of 1 ms to 3 s means. */
			v[i] = 80 + (uint64_t)(-log(u) *
			    (run == 0 ? 1000 : run == 1 ? 8000 :
			    run == 2 ? 40000 : run == 3 ? 250000 :
			    run == 4 ? 900000 : 3000000));
			metrics_request(&a.route, &a.pool, &a.server, 200,
			    METRICS_OK, v[i]);
			if (i % 100 == 99)
				fake_us += 10000;
		}
		qsort(v, 20000, sizeof v[0], cmp_u64);
		exact = v[(20000 * 95 + 99) / 100 - 1];
		metrics_window("p95", "pool", 600, &w);
		err = fabs(w.p95 * 1e6 - exact) / exact;
		if (err > worst)
			worst = err;
	}
	printf("# worst p95 error over 6 distributions: %.2f%%\n",
	    worst * 100);
	ok(worst < 0.035, "p95 within 3.5%% of the exact value");
	fake_us += 700 * 1000000ULL;
	metrics_request(&a.route, &a.pool, &a.server, 200, METRICS_OK,
	    200 * 1000000ULL);
	metrics_window("p95", "pool", 1, &w);
	ok(w.p95 > 100, "beyond the range, p95 is clamped to the top");
}

/* Times metrics_request() on warm series: the best of five runs. */
static void
test_bench(void)
{
	struct tconf		 t[8];
	struct timespec		 t0, t1;
	const char		*names[] = { "a", "b", "c", "d", "e", "f", "g",
				    "h" };
	double			 ns, best = 1e9;
	long			 i, n = 1000000;
	int			 run;

	metrics_set_clock(NULL);
	for (i = 0; i < 8; i++)
		tconf_init(&t[i], "bench", names[i % 2], names[i]);
	for (run = 0; run < 5; run++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < n; i++)
			metrics_request(&t[i & 7].route, &t[i & 7].pool,
			    &t[i & 7].server, 200, METRICS_OK,
			    (i * 7919) % 900000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns = ((t1.tv_sec - t0.tv_sec) * 1e9 +
		    (t1.tv_nsec - t0.tv_nsec)) / n;
		if (ns < best)
			best = ns;
	}
	printf("# metrics_request: %.1f ns per call (best of 5 runs of %ld "
	    "calls over 8 series)\n", best, n);
	ok(best < 5000, "metrics_request costs far less than a request");
}

int
main(void)
{
	cutover.started = time(NULL);
	test_counters();
	test_buckets();
	test_reload();
	test_labels_and_events();
	test_window();
	test_p95();
	test_bench();
	metrics_clear();
	return (done_testing());
}
