/*
 * Circuit breakers.  Each server of the current config generation has one,
 * fed by pool_server_begin() and pool_server_end(), so it sees every
 * attempt of real traffic and its outcome.  Connect failures, timeouts,
 * 5xx answers and broken responses are failures; any other answer resets
 * the count.  breaker_failures failures in a row open the breaker: the
 * server is ineligible at once, whatever the health checks say.  After
 * breaker_recovery a timer makes it half-open, which lets exactly one
 * probe request through; the probe's success closes the breaker and its
 * failure opens it for another breaker_recovery.
 *
 * The probe must be the only request on the server, so that the next
 * outcome reported is the probe's: pool_server_end() carries no request
 * identity.  Half-open therefore waits until the requests that started
 * before the breaker opened have ended, and lets no other request start
 * while the probe is out.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "breaker.h"
#include "conf.h"
#include "log.h"
#include "pool.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

/* The breaker of one server; owned by that server (server->brk). */
struct breaker {
	struct server	*server;	/* of the current generation */
	int		 failures;	/* consecutive, while closed */
	int		 probe;		/* half-open: the probe is out */
	struct event	*timer;		/* open: breaker_recovery */
};

static void	breaker_set_state(struct breaker *, enum breaker_state,
		    const char *);
static void	breaker_open(struct breaker *, const char *);
static void	breaker_recovery_cb(evutil_socket_t, short, void *);

/* Returns the name of a state, for logs, the admin socket and metrics. */
const char *
breaker_state_name(enum breaker_state state)
{
	switch (state) {
	case BREAKER_CLOSED:
		return ("closed");
	case BREAKER_HALF_OPEN:
		return ("half-open");
	case BREAKER_OPEN:
		return ("open");
	}
	return ("?");
}

/* Makes every state change of a breaker, logging it with its reason. */
static void
breaker_set_state(struct breaker *b, enum breaker_state state,
    const char *why)
{
	struct server	*s = b->server;

	log_debug("pool %s: server %s: breaker %s -> %s", s->pool->name,
	    s->name, breaker_state_name(s->breaker),
	    breaker_state_name(state));
	s->breaker = state;
	b->failures = 0;
	b->probe = 0;
	log_info("pool %s: server %s: breaker %s: %s", s->pool->name, s->name,
	    breaker_state_name(state), why);
}

/* Arms the recovery timer of an open breaker; on the main thread. */
static void
breaker_arm(void *arg)
{
	struct breaker	*b = arg;
	struct timeval	 tv;
	long		 ms = b->server->pool->breaker_recovery;

	if (b->server->breaker != BREAKER_OPEN)
		return;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(b->timer, &tv);
}

/*
 * Opens the breaker for breaker_recovery.  The timer is the main
 * thread's; a worker has it armed there.  Such a call still queued holds
 * a breaker that only the main thread frees, after running the queue.
 */
static void
breaker_open(struct breaker *b, const char *why)
{
	breaker_set_state(b, BREAKER_OPEN, why);
	worker_run_main(breaker_arm, b);
}

/* breaker_recovery passed: let one probe through. */
static void
breaker_recovery_cb(evutil_socket_t fd, short what, void *arg)
{
	struct breaker	*b = arg;
	char		 why[64];

	worker_lock();
	snprintf(why, sizeof why, "breaker_recovery of %ldms passed, "
	    "letting one probe through", b->server->pool->breaker_recovery);
	breaker_set_state(b, BREAKER_HALF_OPEN, why);
	worker_unlock();
}

/* Gives every server of conf without a breaker a closed one. */
void
breaker_start(struct event_base *base, struct conf *conf)
{
	struct breaker	*b;
	struct server	*s;
	size_t		 i, j;

	for (i = 0; i < conf->npools; i++) {
		for (j = 0; j < conf->pools[i]->nservers; j++) {
			s = conf->pools[i]->servers[j];
			if (s->brk != NULL)
				continue;
			b = xcalloc(1, sizeof *b);
			b->server = s;
			b->timer = evtimer_new(base, breaker_recovery_cb, b);
			if (b->timer == NULL)
				fatal("pool %s: server %s: cannot make the "
				    "breaker's timer", s->pool->name, s->name);
			s->breaker = BREAKER_CLOSED;
			s->brk = b;
		}
	}
}

/*
 * Returns nonzero when s may take a new request as far as its breaker is
 * concerned.  Half-open allows the probe only once s is idle (see the top
 * of the file).  A server without a breaker (one of an old generation,
 * or built by a unit test) goes by its state alone.
 */
int
breaker_allows(const struct server *s)
{
	const struct breaker	*b = s->brk;

	switch (s->breaker) {
	case BREAKER_CLOSED:
		return (1);
	case BREAKER_HALF_OPEN:
		return (s->active == 0 && (b == NULL || !b->probe));
	case BREAKER_OPEN:
		return (0);
	}
	return (0);
}

/*
 * Notes a request starting on s.  In half-open it is the probe: it must
 * test the server itself, not an idle connection kept from before the
 * breaker opened, which may be stale (a stale connection is retried and
 * reported as a success), so the idle connections go.
 */
void
breaker_begin(struct server *s)
{
	struct breaker	*b = s->brk;

	if (b == NULL)
		return;
	switch (s->breaker) {
	case BREAKER_CLOSED:
	case BREAKER_OPEN:
		break;
	case BREAKER_HALF_OPEN:
		if (b->probe)
			break;
		b->probe = 1;
		upstream_server_clear(s);
		log_debug("pool %s: server %s: breaker probe sent",
		    s->pool->name, s->name);
		break;
	}
}

/* Feeds the outcome of a request on s to its breaker. */
void
breaker_end(struct server *s, enum pool_outcome outcome)
{
	struct breaker	*b = s->brk;
	char		 why[128];
	int		 failed = outcome != POOL_OK;

	if (b == NULL)
		return;
	if (outcome == POOL_ABANDONED) {
		/* Neither a success nor a failure; a probe may go again. */
		if (s->breaker == BREAKER_HALF_OPEN)
			b->probe = 0;
		return;
	}
	switch (s->breaker) {
	case BREAKER_CLOSED:
		if (!failed) {
			b->failures = 0;
			break;
		}
		if (++b->failures < s->pool->breaker_failures)
			break;
		snprintf(why, sizeof why, "%d consecutive failures, the "
		    "last %s", b->failures, pool_outcome_name(outcome));
		breaker_open(b, why);
		break;
	case BREAKER_OPEN:
		/* A request that started before the breaker opened. */
		break;
	case BREAKER_HALF_OPEN:
		if (!b->probe)
			break;
		if (!failed) {
			breaker_set_state(b, BREAKER_CLOSED,
			    "the probe succeeded");
			break;
		}
		snprintf(why, sizeof why, "the probe failed (%s)",
		    pool_outcome_name(outcome));
		breaker_open(b, why);
		break;
	}
}

/* Returns the consecutive failures s's breaker counts now. */
int
breaker_failure_count(const struct server *s)
{
	const struct breaker	*b = s->brk;

	return (b == NULL ? 0 : b->failures);
}

/*
 * Hands the breaker of from to to, the same server (pool, name and
 * address) in a new config generation.  Requests still in flight on from
 * then feed no breaker: they are few, and the new server's breaker must
 * not outlive its generation's owner.  A probe out on from is forgotten,
 * so half-open lets a new one through on to.
 */
void
breaker_server_move(struct server *from, struct server *to)
{
	struct breaker	*b = from->brk;

	if (b == NULL || to->brk != NULL)
		return;
	from->brk = NULL;
	b->server = to;
	b->probe = 0;
	to->brk = b;
	to->breaker = from->breaker;
}

/* Frees the breaker of s (a server deleted at run time). */
void
breaker_server_stop(struct server *s)
{
	struct breaker	*b = s->brk;

	if (b == NULL)
		return;
	worker_main_drain();
	event_free(b->timer);
	free(b);
	s->brk = NULL;
}

/* Frees the breakers of conf's servers. */
void
breaker_stop(struct conf *conf)
{
	size_t	i, j;

	for (i = 0; i < conf->npools; i++)
		for (j = 0; j < conf->pools[i]->nservers; j++)
			breaker_server_stop(conf->pools[i]->servers[j]);
}
