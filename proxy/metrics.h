/*
 * Live figures: counters and latency histograms per route, pool and
 * server, kept across reloads, exported as Prometheus text, and sliding
 * per-second windows per route and pool that the rollout controller
 * judges a canary by.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdint.h>

struct evbuffer;
struct route;
struct pool;
struct server;

/* How a request ended, for the windows. */
enum metrics_outcome {
	METRICS_OK,		/* any response but a 5xx */
	METRICS_5XX,		/* a 5xx from the server or the proxy */
	METRICS_CONNECT_FAIL,	/* never reached a server */
	METRICS_TIMEOUT		/* no response in time */
};

/* Figures of one route and pool over a trailing window. */
struct metrics_window {
	uint64_t	requests;
	uint64_t	ok;
	uint64_t	errors_5xx;
	uint64_t	connect_failures;
	uint64_t	timeouts;
	double		error_rate;	/* (5xx + connect + timeout) / requests */
	double		p95;		/* seconds; 0 without requests */
};

/*
 * Records one finished request: route, pool and server may be NULL (a 404
 * has no route), status is what the client got, usec the total time.
 * O(1), no allocation once the series exists.
 */
void	metrics_request(const struct route *, const struct pool *,
	    const struct server *, int status, enum metrics_outcome,
	    uint64_t usec);
/*
 * Records an attempt that failed before the request went on to another
 * server (a connect failure or timeout, retried): it counts in the
 * windows of route and pool, which judge a canary by its attempts, and
 * in no counter, which count what clients got.
 */
void	metrics_attempt(const struct route *, const struct pool *,
	    enum metrics_outcome, uint64_t usec);
/*
 * Counts a config reload that succeeded (ok) or was refused; main.c calls
 * it after each attempt.
 */
void	metrics_reload(int ok);
/* Counts an active health check of pool/server (the health module). */
void	metrics_health_check(const char *pool, const char *server, int ok);
/*
 * Sets the canary weight a rollout put on its route, in percent; a
 * negative percent removes the series (the rollout is gone).
 */
void	metrics_rollout_weight(const char *route, double percent);
/* Counts a rollback of route with a reason such as "error_rate". */
void	metrics_rollback(const char *route, const char *reason);
/* Counts a request the route's stable pool took for a pool that was down. */
void	metrics_fallback(const char *route, const char *pool);

/*
 * Fills w with route/pool figures over the last seconds (1..600): the
 * current second and the ones before it.  pool NULL sums every pool of
 * the route.
 */
void	metrics_window(const char *route, const char *pool, unsigned seconds,
	    struct metrics_window *w);
/*
 * Fills wc and ws with the figures of the canary and the stable pool of a
 * route over the same window, read at the same instant.
 */
void	metrics_window_pair(const char *route, const char *canary,
	    const char *stable, unsigned seconds, struct metrics_window *wc,
	    struct metrics_window *ws);
/* Appends the Prometheus text exposition of every metric to buf. */
void	metrics_render(struct evbuffer *buf);
/* Frees every series (at exit). */
void	metrics_clear(void);

/* A clock in microseconds, for tests. */
typedef uint64_t (*metrics_clock_cb)(void);
/* Replaces the monotonic clock the windows use; NULL restores it. */
void	metrics_set_clock(metrics_clock_cb);

#endif
