/*
 * The rollout controller.  Each [rollout NAME] section drives the route
 * NAME: `rollout start` (or auto_start) records the route's effective
 * split as the rollback point and, once the canary pool is up, gives the
 * canary the first step's weight in percent, the route's stable pool the
 * rest and any other pool of the split 0.  A timer judges every running
 * rollout four times a second over the trailing window of the metrics
 * module: the interval plus the current, partial second, capped at 600 s
 * and at the time since the rollout started.
 *
 * Judging goes in this order.  The canary pool down (no eligible server,
 * once it has been seen up) and, over a window of at least min_requests
 * canary requests, max_error_rate, max_error_rate_delta (against the
 * stable pool, when it had min_requests too), max_p95_latency and
 * min_availability (over availability_window) are breaches: the rollout
 * rolls back at once, even when paused.  Then max_latency_ratio pauses
 * for `rollout confirm` (a p95 under 5 ms counts as 5 ms there, so the
 * jitter of a fast service is no reason to stop).  When the step's interval has passed and the
 * window holds min_requests canary requests, the next step is taken, and
 * after the last (100) the rollout is promoted: the canary becomes the
 * only pool of the split.  A window short of min_requests is
 * inconclusive; after three intervals of that the rollout pauses with the
 * reason "not enough traffic".  blue-green has the one step 100.
 *
 * A rollback restores the rollback point exactly, unless that would give
 * the canary a larger share than it has: the canary's weight only goes
 * down while rolling back, so it then gets 0 and the other pools keep
 * the rollback point's weights.
 *
 * Weights change through admin_split_apply(), the path of `set split`,
 * so each change is logged and saved.  Every decision is one info line,
 * kept in the rollout's recent decisions and posted to the webhook: a
 * JSON body per event, sent in order, one at a time, through fetch.c,
 * with a timeout and a bounded retry, from a bounded queue; nothing waits
 * for it.  Rollouts are kept by route name: a reload rebinds them to the
 * new generation and the state file keeps them across restarts, with the
 * times as wall-clock so that a step resumes with its remaining time.
 */
#include <sys/queue.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "admin.h"
#include "balancer.h"
#include "conf.h"
#include "cutover.h"
#include "fetch.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "rollout.h"
#include "route.h"
#include "state.h"
#include "worker.h"
#include "xmalloc.h"

#ifndef TAILQ_FOREACH_SAFE	/* glibc's sys/queue.h lacks it */
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

#define ROLLOUT_TICK_MS		250
#define ROLLOUT_MAXWINDOW	600	/* seconds, the metrics ring */
#define ROLLOUT_NDECISIONS	8
#define ROLLOUT_IDLE_INTERVALS	3	/* without traffic, then pause */
#define ROLLOUT_HOOK_TIMEOUT	2000	/* ms per attempt */
#define ROLLOUT_HOOK_ATTEMPTS	3
#define ROLLOUT_HOOK_QUEUE	64
#define ROLLOUT_RATIO_FLOOR	0.005	/* s: faster p95s count as this */
#define ROLLOUT_PROM_TIMEOUT	2000	/* ms per query */
#define ROLLOUT_PROM_MAXAGE	3000000	/* us a Prometheus figure is fresh */
#define ROLLOUT_PROM_EVERY	1000000	/* us between queries of a figure */
#define ROLLOUT_JSON_MAXDEPTH	32	/* of a Prometheus answer */
#define ROLLOUT_CONFIRMED	"+confirmed"	/* state file: latency ratio waived */

enum rollout_state {
	ROLLOUT_IDLE,
	ROLLOUT_WAITING,	/* started, the canary pool is not up yet */
	ROLLOUT_RUNNING,
	ROLLOUT_PAUSED,		/* by admin, for traffic or for confirm */
	ROLLOUT_PROMOTED,
	ROLLOUT_ROLLED_BACK
};

/* One decision, for show rollouts and the status page. */
struct rollout_decision {
	time_t		 when;
	char		*event;
	char		*text;
};

/* A figure read from Prometheus. */
struct rollout_prom {
	struct fetch	*fetch;		/* the query in flight */
	const char	*route;		/* the rollout's, for logs */
	const char	*name;		/* "error_rate" or "p95" */
	double		 value;
	int64_t		 at;		/* when it came; 0: never */
	int64_t		 asked;		/* when the last query started */
	char		 error[160];	/* the last failure, or "" */
	int		 kind;		/* its kind (enum prom_failure) */
};

/* What went wrong with a query: a new kind is logged, a repeat not. */
enum prom_failure {
	PROM_OK,
	PROM_UNREACHABLE,	/* no answer */
	PROM_STATUS,		/* not 200 */
	PROM_TOO_LARGE,
	PROM_UNSOUND,		/* not one sound figure */
	PROM_NOT_RATIO,		/* an error rate above 1 */
	PROM_NOT_STARTED
};

/* One rollout; owned by the rollout list. */
struct rollout {
	char			*route;
	char			*canary;	/* the pool, as at the start */
	const struct rollout_conf *rc;		/* of the current generation */
	enum rollout_state	 state;
	int			 confirm;	/* paused awaiting confirm */
	int			 confirmed;	/* latency ratio waived */
	int			 seen_up;	/* the canary pool was up */
	size_t			 step;		/* index into rc->steps */
	int			 applied;	/* the step weight last set */
	int64_t			 started;	/* monotonic us */
	int64_t			 step_start;
	int64_t			 paused_at;	/* 0: not paused */
	char			**point_pools;	/* the rollback point */
	int			*point_weights;
	size_t			 npoint;
	char			 reason[512];	/* of a pause or of the end */

	/* The last judgement. */
	unsigned		 window;	/* seconds */
	struct metrics_window	 wc;		/* canary */
	struct metrics_window	 ws;		/* stable */
	unsigned		 avail_window;
	struct metrics_window	 wa;		/* canary, availability */
	struct rollout_prom	 prom_err;
	struct rollout_prom	 prom_p95;
	int			 from_prom;	/* wc's error rate, p95 */

	struct rollout_decision	 decisions[ROLLOUT_NDECISIONS];
	size_t			 ndecisions;	/* ever made */
	TAILQ_ENTRY(rollout)	 entry;
};

/* A webhook event waiting to be posted; owned by the queue. */
struct rollout_hook {
	char			*url;
	char			*body;
	char			*what;		/* "route event", for logs */
	int			 attempts;
	TAILQ_ENTRY(rollout_hook) entry;
};

static const char *rollout_state_names[] = {
	"idle", "waiting", "running", "paused", "promoted", "rolled_back"
};

static struct event_base		*rollout_base;
static struct event			*rollout_timer;
static TAILQ_HEAD(, rollout)		 rollouts =
    TAILQ_HEAD_INITIALIZER(rollouts);
static TAILQ_HEAD(, rollout_hook)	 rollout_hooks =
    TAILQ_HEAD_INITIALIZER(rollout_hooks);
static size_t				 rollout_nhooks;
static struct fetch			*rollout_hook_fetch;
static struct event			*rollout_hook_timer;

static void	rollout_hook_next(void);
static void	rollout_prom_stop(struct rollout *);
static int	rollout_active(const struct rollout *);

/* Returns the monotonic clock in microseconds, signed for arithmetic. */
static int64_t
rollout_now(void)
{
	return ((int64_t)cutover_now_us());
}

/* Returns the wall clock in milliseconds. */
static int64_t
rollout_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * Appends a figure as a JSON number.  +Inf, which a p95 from Prometheus
 * may be, has no JSON spelling of its own: 1e999 is a number out of every
 * double's range, which JSON parsers read as infinity.
 */
static void
rollout_json_num(struct evbuffer *b, double v)
{
	if (isnan(v))
		evbuffer_add(b, "null", 4);
	else if (isinf(v))
		evbuffer_add_printf(b, "%s1e999", v < 0 ? "-" : "");
	else
		evbuffer_add_printf(b, "%.4f", v);
}

/* Finds the rollout of a route; NULL when it has none. */
static struct rollout *
rollout_find(const char *route)
{
	struct rollout	*ro;

	TAILQ_FOREACH(ro, &rollouts, entry) {
		if (strcmp(ro->route, route) == 0)
			return (ro);
	}
	return (NULL);
}

/* Changes the state of a rollout; the one place that does. */
static void
rollout_set_state(struct rollout *ro, enum rollout_state state)
{
	if (ro->state == state)
		return;
	log_debug("rollout %s: %s -> %s", ro->route,
	    rollout_state_names[ro->state], rollout_state_names[state]);
	ro->state = state;
	if (!rollout_active(ro))
		rollout_prom_stop(ro);	/* its answers would judge nothing */
}

/* Returns the index of pool in the route's split, or -1. */
static int
rollout_split_index(const struct route *r, const struct pool *p)
{
	size_t	i;

	for (i = 0; i < r->nsplit; i++) {
		if (r->split[i].pool == p)
			return ((int)i);
	}
	return (-1);
}

/* Returns the canary's effective share of the route in percent. */
static double
rollout_share(const struct rollout *ro)
{
	const struct route	*r = ro->rc->route;
	int			 ci = rollout_split_index(r, ro->rc->canary);

	return (ci == -1 ? 0 : route_share(r, (size_t)ci));
}

/* Returns the weight of the step the rollout is at, in percent. */
static int
rollout_step_weight(const struct rollout *ro)
{
	return (ro->rc->steps[ro->step]);
}

/* Returns how long the current step has run, in microseconds. */
static int64_t
rollout_elapsed(const struct rollout *ro, int64_t now)
{
	if (ro->paused_at != 0)
		now = ro->paused_at;
	return (now > ro->step_start ? now - ro->step_start : 0);
}

/*
 * Queues a webhook event.  When the queue is full the oldest event not
 * being posted goes, so that the latest, which tell where the rollout
 * is now, are the ones kept.
 */
static void
rollout_hook_add(const char *url, char *body, const char *route,
    const char *event)
{
	struct rollout_hook	*h;

	if (rollout_nhooks == ROLLOUT_HOOK_QUEUE) {
		h = TAILQ_FIRST(&rollout_hooks);
		if (rollout_hook_fetch != NULL)	/* the head is in flight */
			h = TAILQ_NEXT(h, entry);
		if (h != NULL) {
			log_warn("rollout webhook: queue full, event %s "
			    "dropped", h->what);
			TAILQ_REMOVE(&rollout_hooks, h, entry);
			free(h->url);
			free(h->body);
			free(h->what);
			free(h);
			rollout_nhooks--;
		} else {
			log_warn("rollout webhook: queue full, event %s %s "
			    "dropped", route, event);
			free(body);
			return;
		}
	}
	h = xcalloc(1, sizeof *h);
	h->url = xstrdup(url);
	h->body = body;
	h->what = xasprintf("%s %s", route, event);
	TAILQ_INSERT_TAIL(&rollout_hooks, h, entry);
	rollout_nhooks++;
	rollout_hook_next();
}

/* Drops the event at the head of the webhook queue. */
static void
rollout_hook_pop(void)
{
	struct rollout_hook	*h = TAILQ_FIRST(&rollout_hooks);

	TAILQ_REMOVE(&rollout_hooks, h, entry);
	rollout_nhooks--;
	free(h->url);
	free(h->body);
	free(h->what);
	free(h);
}

/* A webhook POST finished: next event, or a retry after a pause. */
static void
rollout_hook_done_cb(const struct fetch_result *res, void *arg)
{
	struct rollout_hook	*h = TAILQ_FIRST(&rollout_hooks);
	struct timeval		 tv;
	char			 why[192];

	rollout_hook_fetch = NULL;
	if (res->ok && res->status >= 200 && res->status < 300) {
		log_debug("rollout webhook %s: event %s posted (status %ld)",
		    h->url, h->what, res->status);
		rollout_hook_pop();
		rollout_hook_next();
		return;
	}
	if (res->ok)
		snprintf(why, sizeof why, "status %ld", res->status);
	else
		snprintf(why, sizeof why, "%s", res->error);
	if (h->attempts >= ROLLOUT_HOOK_ATTEMPTS) {
		log_warn("rollout webhook %s: event %s dropped after %d "
		    "attempts: %s", h->url, h->what, h->attempts, why);
		rollout_hook_pop();
		rollout_hook_next();
		return;
	}
	log_info("rollout webhook %s: event %s: %s; retrying", h->url,
	    h->what, why);
	tv.tv_sec = 0;
	tv.tv_usec = 250000 * h->attempts;
	evtimer_add(rollout_hook_timer, &tv);
}

/* Posts the event at the head of the queue unless one is in flight. */
static void
rollout_hook_next(void)
{
	struct rollout_hook	*h;

	while (rollout_hook_fetch == NULL &&
	    !evtimer_pending(rollout_hook_timer, NULL) &&
	    (h = TAILQ_FIRST(&rollout_hooks)) != NULL) {
		h->attempts++;
		rollout_hook_fetch = fetch_start(h->url, h->body,
		    ROLLOUT_HOOK_TIMEOUT, rollout_hook_done_cb, NULL);
		if (rollout_hook_fetch == NULL) {
			log_warn("rollout webhook %s: event %s dropped: "
			    "cannot start a request", h->url, h->what);
			rollout_hook_pop();
		}
	}
}

/* The pause before a webhook retry is over. */
static void
rollout_hook_timer_cb_locked(evutil_socket_t fd, short what, void *arg)
{
	rollout_hook_next();
}

WORKER_LOCKED_EVENT_CB(rollout_hook_timer_cb)

/* Appends the effective weights of the route's split as a JSON object. */
static void
rollout_json_weights(struct evbuffer *b, const struct route *r)
{
	size_t	i;

	evbuffer_add(b, "{", 1);
	for (i = 0; i < r->nsplit; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		json_str(b, r->split[i].pool->name);
		evbuffer_add_printf(b, ":%d", r->split[i].weight);
	}
	evbuffer_add(b, "}", 1);
}

/* Posts an event of a rollout to its webhook, if it has one. */
static void
rollout_hook(struct rollout *ro, const char *event, const char *text)
{
	struct evbuffer	*b;
	const char	*url;
	char		 when[32];
	time_t		 now = time(NULL);
	struct tm	 tm;

	url = ro->rc->webhook != NULL ? ro->rc->webhook :
	    cutover.conf->webhook;
	if (url == NULL)
		return;
	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	evbuffer_add_printf(b, "{\"event\":\"%s\",\"route\":", event);
	json_str(b, ro->route);
	evbuffer_add_printf(b, ",\"canary\":");
	json_str(b, ro->canary);
	evbuffer_add_printf(b, ",\"stable\":");
	json_str(b, ro->rc->route->stable->name);
	evbuffer_add_printf(b, ",\"strategy\":\"%s\",\"state\":\"%s\","
	    "\"step\":%zu,\"steps\":%zu,\"weight\":%.1f,\"weights\":",
	    ro->rc->blue_green ? "blue-green" : "canary",
	    rollout_state_names[ro->state], ro->step + 1, ro->rc->nsteps,
	    rollout_share(ro));
	rollout_json_weights(b, ro->rc->route);
	evbuffer_add_printf(b, ",\"message\":");
	json_str(b, text);
	evbuffer_add_printf(b, ",\"time\":\"%s\"}", when);
	evbuffer_add(b, "", 1);
	rollout_hook_add(url, xstrdup((const char *)evbuffer_pullup(b, -1)),
	    ro->route, event);
	evbuffer_free(b);
}

/*
 * Records a decision: one info line, the rollout's recent decisions and,
 * unless event is NULL, a webhook event.
 */
static void __attribute__((format(printf, 3, 4)))
rollout_decide(struct rollout *ro, const char *event, const char *fmt, ...)
{
	struct rollout_decision	*d;
	va_list			 ap;
	char			*text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		fatal("out of memory");
	va_end(ap);
	log_info("rollout %s: %s", ro->route, text);
	d = &ro->decisions[ro->ndecisions++ % ROLLOUT_NDECISIONS];
	free(d->event);
	free(d->text);
	d->when = time(NULL);
	d->event = xstrdup(event != NULL ? event : "info");
	d->text = text;
	if (event != NULL)
		rollout_hook(ro, event, text);
}

/* Returns the most recent decision's text, or "". */
static const char *
rollout_last_decision(const struct rollout *ro)
{
	if (ro->ndecisions == 0)
		return ("");
	return (ro->decisions[(ro->ndecisions - 1) % ROLLOUT_NDECISIONS].text);
}

/* Saves the state file after a change that moved no weight. */
static void
rollout_save(void)
{
	state_save(cutover.conf);
}

/* Gives the route the weights w[], logged and saved as by set split. */
static void
rollout_apply(struct rollout *ro, const int *w)
{
	struct route	*r = ro->rc->route;
	size_t		 i;
	int		 same = 1;

	for (i = 0; i < r->nsplit; i++) {
		if (r->split[i].weight != w[i])
			same = 0;
	}
	if (same)
		rollout_save();
	else
		admin_split_apply(r, w, "rollout");
	metrics_rollout_weight(ro->route, rollout_share(ro));
}

/*
 * Sets the split for a canary weight of pct percent: the stable pool
 * gets the rest, other pools of the split 0.
 */
static void
rollout_apply_pct(struct rollout *ro, int pct)
{
	struct route	*r = ro->rc->route;
	int		*w, ci, si;

	w = xcalloc(r->nsplit, sizeof *w);
	ci = rollout_split_index(r, ro->rc->canary);
	si = rollout_split_index(r, r->stable);
	w[ci] = pct;
	w[si] = 100 - pct;
	ro->applied = pct;
	rollout_apply(ro, w);
	free(w);
}

/* Records the route's effective split as the rollback point. */
static void
rollout_set_point(struct rollout *ro)
{
	const struct route	*r = ro->rc->route;
	size_t			 i;

	for (i = 0; i < ro->npoint; i++)
		free(ro->point_pools[i]);
	free(ro->point_pools);
	free(ro->point_weights);
	ro->npoint = r->nsplit;
	ro->point_pools = xcalloc(r->nsplit, sizeof *ro->point_pools);
	ro->point_weights = xcalloc(r->nsplit, sizeof *ro->point_weights);
	for (i = 0; i < r->nsplit; i++) {
		ro->point_pools[i] = xstrdup(r->split[i].pool->name);
		ro->point_weights[i] = r->split[i].weight;
	}
}

/* Appends the rollback point as "blue 100, green 0". */
static void
rollout_point_text(struct evbuffer *b, const struct rollout *ro)
{
	size_t	i;

	for (i = 0; i < ro->npoint; i++)
		evbuffer_add_printf(b, "%s%s %d", i > 0 ? ", " : "",
		    ro->point_pools[i], ro->point_weights[i]);
}

/* Enters the first step: the canary pool is up. */
static void
rollout_begin(struct rollout *ro)
{
	int64_t	now = rollout_now();

	ro->step = 0;
	ro->step_start = now;
	ro->paused_at = 0;
	ro->confirmed = 0;
	ro->seen_up = 1;
	ro->reason[0] = '\0';
	rollout_set_state(ro, ROLLOUT_RUNNING);
	rollout_apply_pct(ro, rollout_step_weight(ro));
	if (ro->rc->blue_green)
		rollout_decide(ro, "step", "step 1/1: switched 100%% to %s, "
		    "watching it for %lds", ro->canary,
		    ro->rc->interval / 1000);
	else
		rollout_decide(ro, "step", "step 1/%zu: canary %s at %d%%",
		    ro->rc->nsteps, ro->canary, rollout_step_weight(ro));
}

/* Starts a rollout: rollback point, then the first step or a wait. */
static void
rollout_start(struct rollout *ro, const char *why)
{
	struct evbuffer	*b;

	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	rollout_set_point(ro);
	rollout_point_text(b, ro);
	evbuffer_add(b, "", 1);
	ro->started = rollout_now();
	ro->step = 0;
	ro->step_start = ro->started;
	ro->paused_at = 0;
	ro->confirm = 0;
	ro->reason[0] = '\0';
	ro->seen_up = 0;
	/* An earlier run's figures and failures say nothing of this one. */
	rollout_prom_stop(ro);
	memset(&ro->prom_err, 0, sizeof ro->prom_err);
	memset(&ro->prom_p95, 0, sizeof ro->prom_p95);
	rollout_set_state(ro, ROLLOUT_WAITING);
	rollout_decide(ro, "started", "started (%s): %s to pool %s in %zu "
	    "step%s, rollback point %s", why, ro->rc->blue_green ?
	    "blue-green" : "canary", ro->canary, ro->rc->nsteps,
	    ro->rc->nsteps == 1 ? "" : "s",
	    (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
	if (balancer_pool_up(ro->rc->canary))
		rollout_begin(ro);
	else {
		rollout_decide(ro, NULL, "waiting for pool %s to be up",
		    ro->canary);
		rollout_save();
	}
}

/*
 * Rolls back: restores the rollback point (the canary's weight never
 * goes up), ends rolled_back with the reason.  label names the reason
 * in cutover_rollbacks_total.
 */
static void __attribute__((format(printf, 3, 4)))
rollout_rollback(struct rollout *ro, const char *label, const char *fmt, ...)
{
	struct route	*r = ro->rc->route;
	struct evbuffer	*b;
	va_list		 ap;
	size_t		 i, j;
	int		*w, ci, total = 0, capped = 0;
	double		 before = rollout_share(ro);

	va_start(ap, fmt);
	vsnprintf(ro->reason, sizeof ro->reason, fmt, ap);
	va_end(ap);
	w = xcalloc(r->nsplit, sizeof *w);
	for (i = 0; i < r->nsplit; i++) {
		for (j = 0; j < ro->npoint; j++) {
			if (strcmp(ro->point_pools[j],
			    r->split[i].pool->name) == 0)
				w[i] = ro->point_weights[j];
		}
		total += w[i];
	}
	ci = rollout_split_index(r, ro->rc->canary);
	if (total > 0 && 100.0 * w[ci] / total > before + 1e-9) {
		total -= w[ci];
		w[ci] = 0;
		capped = 1;
	}
	if (total == 0)
		w[rollout_split_index(r, r->stable)] = 100;
	ro->paused_at = 0;
	ro->confirm = 0;
	rollout_set_state(ro, ROLLOUT_ROLLED_BACK);
	metrics_rollback(ro->route, label);
	rollout_apply(ro, w);
	free(w);
	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	if (capped)
		evbuffer_add_printf(b, "; the rollback point gave the canary "
		    "more than its %.1f%%, so it gets 0", before);
	evbuffer_add(b, "", 1);
	rollout_decide(ro, "rolled_back", "rolled back at step %zu/%zu: %s; "
	    "split restored%s", ro->step + 1, ro->rc->nsteps, ro->reason,
	    (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
}

/* Promotes: the canary becomes the route's only pool, at 100. */
static void
rollout_promote(struct rollout *ro, const char *why)
{
	struct route	*r = ro->rc->route;
	int		*w;

	w = xcalloc(r->nsplit, sizeof *w);
	w[rollout_split_index(r, ro->rc->canary)] = 100;
	ro->paused_at = 0;
	ro->confirm = 0;
	snprintf(ro->reason, sizeof ro->reason, "%s", why);
	rollout_set_state(ro, ROLLOUT_PROMOTED);
	rollout_apply(ro, w);
	free(w);
	rollout_decide(ro, "promoted", "promoted: %s; pool %s takes 100%%",
	    why, ro->canary);
}

/* Pauses a running rollout with a reason. */
static void
rollout_pause(struct rollout *ro, int confirm, const char *reason)
{
	snprintf(ro->reason, sizeof ro->reason, "%s", reason);
	ro->confirm = confirm;
	ro->paused_at = rollout_now();
	rollout_set_state(ro, ROLLOUT_PAUSED);
	rollout_decide(ro, "paused", "paused at step %zu/%zu: %s%s",
	    ro->step + 1, ro->rc->nsteps, reason, confirm ?
	    "; waiting for rollout confirm or rollout abort" : "");
	rollout_save();
}

/*
 * Resumes a paused rollout.  The step's clock does not count the pause,
 * except after a pause for want of traffic, which starts the step over.
 */
static void
rollout_resume(struct rollout *ro, const char *how)
{
	int64_t	now = rollout_now();

	if (strncmp(ro->reason, "not enough traffic", 18) == 0)
		ro->step_start = now;
	else if (ro->paused_at != 0)
		ro->step_start += now - ro->paused_at;
	ro->paused_at = 0;
	if (ro->confirm)
		ro->confirmed = 1;
	ro->confirm = 0;
	ro->reason[0] = '\0';
	rollout_set_state(ro, ROLLOUT_RUNNING);
	rollout_decide(ro, "resumed", "resumed at step %zu/%zu (%s)",
	    ro->step + 1, ro->rc->nsteps, how);
	rollout_save();
}

/* Moves to the next step, or promotes after the last. */
static void
rollout_next(struct rollout *ro)
{
	char	why[160];

	if (ro->step + 1 >= ro->rc->nsteps) {
		snprintf(why, sizeof why, "every step passed (%llu canary "
		    "requests in the last %us, error rate %.3f, p95 %.3fs)",
		    (unsigned long long)ro->wc.requests, ro->window,
		    ro->wc.error_rate, ro->wc.p95);
		rollout_promote(ro, why);
		return;
	}
	ro->step++;
	ro->step_start = rollout_now();
	ro->confirmed = 0;
	rollout_apply_pct(ro, rollout_step_weight(ro));
	rollout_decide(ro, "step", "step %zu/%zu: canary %s at %d%% (the "
	    "last %us: %llu canary requests, error rate %.3f, p95 %.3fs)",
	    ro->step + 1, ro->rc->nsteps, ro->canary,
	    rollout_step_weight(ro), ro->window,
	    (unsigned long long)ro->wc.requests, ro->wc.error_rate,
	    ro->wc.p95);
}

/* Returns a window length in seconds for span ms, capped. */
static unsigned
rollout_window_len(long span_ms, int64_t since_us)
{
	long	s, cap;

	s = (span_ms + 999) / 1000 + 1;
	cap = (long)((since_us + 999999) / 1000000) + 1;
	if (s > cap)
		s = cap;
	if (s > ROLLOUT_MAXWINDOW)
		s = ROLLOUT_MAXWINDOW;
	return (s < 1 ? 1 : (unsigned)s);
}

/*
 * Skips the JSON value at *pp and the blanks around it, checking its
 * syntax; -1 when it is not JSON or nests deeper than
 * ROLLOUT_JSON_MAXDEPTH (a hostile answer must not run the stack out).
 * Strings keep their escapes: the caller compares only plain words.
 */
static int
rollout_json_skip(const char **pp, int depth)
{
	const char	*p = *pp + strspn(*pp, " \t\r\n");
	char		 close;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if ((unsigned char)*p < 0x20)
				return (-1);
			if (*p == '\\' && *++p == '\0')
				return (-1);
		}
		p++;
	} else if (*p == '{' || *p == '[') {
		if (depth == ROLLOUT_JSON_MAXDEPTH)
			return (-1);
		close = *p == '{' ? '}' : ']';
		p += 1 + strspn(p + 1, " \t\r\n");
		while (*p != close) {
			if (close == '}' && (*p != '"' ||
			    rollout_json_skip(&p, depth + 1) == -1 ||
			    *p++ != ':'))
				return (-1);
			if (rollout_json_skip(&p, depth + 1) == -1)
				return (-1);
			if (*p == close)
				break;
			if (*p++ != ',')
				return (-1);
			p += strspn(p, " \t\r\n");
			if (*p == close)
				return (-1);	/* a trailing comma */
		}
		p++;
	} else if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
		p += 4;
	else if (strncmp(p, "false", 5) == 0)
		p += 5;
	else if (*p == '-' || (*p >= '0' && *p <= '9')) {
		p += *p == '-';
		if (*p < '0' || *p > '9')
			return (-1);
		p += strspn(p, "0123456789");
		if (*p == '.' && (p[1] < '0' || p[1] > '9'))
			return (-1);
		if (*p == '.')
			p += 1 + strspn(p + 1, "0123456789");
		if (*p == 'e' || *p == 'E') {
			p++;
			p += *p == '+' || *p == '-';
			if (*p < '0' || *p > '9')
				return (-1);
			p += strspn(p, "0123456789");
		}
	} else
		return (-1);
	*pp = p + strspn(p, " \t\r\n");
	return (0);
}

/*
 * Returns the value of member key of the object at p, or NULL; p is JSON
 * that rollout_json_skip() accepted.
 */
static const char *
rollout_json_member(const char *p, const char *key)
{
	size_t	len = strlen(key);
	int	match;

	p += strspn(p, " \t\r\n");
	if (*p++ != '{')
		return (NULL);
	p += strspn(p, " \t\r\n");
	while (*p == '"') {
		match = strncmp(p + 1, key, len) == 0 && p[len + 1] == '"';
		rollout_json_skip(&p, 0);
		p++;			/* the colon */
		p += strspn(p, " \t\r\n");
		if (match)
			return (p);
		rollout_json_skip(&p, 0);
		if (*p == ',')
			p += 1 + strspn(p + 1, " \t\r\n");
	}
	return (NULL);
}

/* Returns nonzero when the JSON value at p is the string word. */
static int
rollout_json_is(const char *p, const char *word)
{
	size_t	len = strlen(word);

	return (p != NULL && *p == '"' && strncmp(p + 1, word, len) == 0 &&
	    p[len + 1] == '"');
}

/*
 * Reads the one number of a Prometheus instant query answer: a vector of
 * one series or a scalar, its value a string as Prometheus writes floats.
 * An answer that is not JSON, an error, no series or several, and a
 * value that is NaN or negative (an error rate and a p95 never are) get
 * the reason in err and -1: none of them may pass for a healthy figure.
 */
static int
rollout_prom_parse(const char *body, double *v, char *err, size_t errlen)
{
	const char	*p = body, *data, *type, *res, *val;
	char		 num[64], *end;
	size_t		 n, len;

	if (rollout_json_skip(&p, 0) == -1 || *p != '\0' || *body == '\0') {
		snprintf(err, errlen, "the answer is not JSON");
		return (-1);
	}
	if (!rollout_json_is(rollout_json_member(body, "status"),
	    "success")) {
		if ((p = rollout_json_member(body, "error")) != NULL &&
		    *p == '"')
			snprintf(err, errlen, "the answer is an error: %.*s",
			    (int)strcspn(p + 1, "\""), p + 1);
		else
			snprintf(err, errlen, "the answer is not a success");
		return (-1);
	}
	if ((data = rollout_json_member(body, "data")) == NULL ||
	    (type = rollout_json_member(data, "resultType")) == NULL ||
	    (res = rollout_json_member(data, "result")) == NULL ||
	    *res != '[') {
		snprintf(err, errlen, "no result in the answer");
		return (-1);
	}
	if (rollout_json_is(type, "scalar"))
		val = res;
	else if (rollout_json_is(type, "vector")) {
		p = res + 1 + strspn(res + 1, " \t\r\n");
		for (n = 0; *p != ']'; n++) {
			rollout_json_skip(&p, 0);
			p += *p == ',';
		}
		if (n != 1) {
			snprintf(err, errlen, n == 0 ? "the query returned no "
			    "series" : "the query returned %zu series, not "
			    "one", n);
			return (-1);
		}
		val = rollout_json_member(res + 1, "value");
	} else {
		snprintf(err, errlen, "the result is not a vector or a "
		    "scalar");
		return (-1);
	}
	/* [ time, "value" ] */
	if (val == NULL || *val++ != '[' || rollout_json_skip(&val, 0) == -1 ||
	    *val++ != ',') {
		snprintf(err, errlen, "no value in the answer");
		return (-1);
	}
	val += strspn(val, " \t\r\n");
	if (*val != '"' || (len = strcspn(val + 1, "\"")) >= sizeof num) {
		snprintf(err, errlen, "no value in the answer");
		return (-1);
	}
	memcpy(num, val + 1, len);
	num[len] = '\0';
	errno = 0;
	*v = strtod(num, &end);
	if (len == 0 || *end != '\0' || strchr("+-.0123456789INin",
	    num[0]) == NULL || strpbrk(num, "xX(") != NULL ||
	    (errno == ERANGE && fabs(*v) > 1)) {
		snprintf(err, errlen, "the value \"%s\" is not a number", num);
		return (-1);
	}
	if (isnan(*v)) {
		snprintf(err, errlen, "the value is NaN");
		return (-1);
	}
	if (*v < 0) {
		snprintf(err, errlen, "the value %s is negative", num);
		return (-1);
	}
	return (0);
}

/* A Prometheus query finished. */
static void
rollout_prom_done_cb(const struct fetch_result *res, void *arg)
{
	struct rollout_prom	*pr = arg;
	char			 errstr[128];
	double			 v;
	int			 was = pr->kind;

	pr->fetch = NULL;
	if (!res->ok) {
		pr->kind = PROM_UNREACHABLE;
		snprintf(pr->error, sizeof pr->error, "cannot reach "
		    "Prometheus: %s", res->error);
	} else if (res->status != 200) {
		pr->kind = PROM_STATUS;
		snprintf(pr->error, sizeof pr->error, "Prometheus answered "
		    "status %ld", res->status);
	} else if (res->truncated) {
		pr->kind = PROM_TOO_LARGE;
		snprintf(pr->error, sizeof pr->error, "Prometheus: the answer "
		    "is larger than 64 KiB");
	} else if (rollout_prom_parse(res->body, &v, errstr,
	    sizeof errstr) == -1) {
		pr->kind = PROM_UNSOUND;
		snprintf(pr->error, sizeof pr->error, "Prometheus: %s",
		    errstr);
	/* An error rate above 1 is a percentage or a count: no ratio. */
	} else if (strcmp(pr->name, "error_rate") == 0 && v > 1) {
		pr->kind = PROM_NOT_RATIO;
		snprintf(pr->error, sizeof pr->error, "Prometheus: the error "
		    "rate %g is above 1: the query must give a ratio", v);
	} else {
		pr->kind = PROM_OK;
		pr->value = v;
		pr->at = rollout_now();
		pr->error[0] = '\0';
	}
	/*
	 * Once per kind of failure and per recovery, not per query: a
	 * Prometheus that comes back broken in another way says so.
	 */
	if (pr->kind != was && pr->kind != PROM_OK)
		log_warn("rollout %s: %s query: %s", pr->route, pr->name,
		    pr->error);
	else if (pr->kind != was)
		log_info("rollout %s: %s query: Prometheus answers again",
		    pr->route, pr->name);
}

/* Appends s to b with {route} and {pool} replaced, URL-encoded. */
static void
rollout_prom_query(struct evbuffer *b, const char *s, const char *route,
    const char *pool)
{
	const char	*v;
	char		*sub;

	for (; *s != '\0'; s++) {
		v = NULL;
		if (strncmp(s, "{route}", 7) == 0) {
			v = route;
			s += 6;
		} else if (strncmp(s, "{pool}", 6) == 0) {
			v = pool;
			s += 5;
		}
		sub = xasprintf("%c", *s);
		for (v = v != NULL ? v : sub; *v != '\0'; v++) {
			if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' &&
			    *v <= 'Z') || (*v >= '0' && *v <= '9') ||
			    strchr("-._~", *v) != NULL)
				evbuffer_add(b, v, 1);
			else
				evbuffer_add_printf(b, "%%%02X",
				    (unsigned char)*v);
		}
		free(sub);
	}
}

/*
 * Starts a query of Prometheus for one figure, once a second at most and
 * unless one is running.
 */
static void
rollout_prom_start(struct rollout *ro, struct rollout_prom *pr,
    const char *name, const char *query, int64_t now)
{
	struct evbuffer	*b;
	const char	*base = ro->rc->prometheus_url;
	size_t		 len = strlen(base);

	if (pr->fetch != NULL || (pr->asked != 0 &&
	    now - pr->asked < ROLLOUT_PROM_EVERY))
		return;
	pr->asked = now;
	pr->route = ro->route;
	pr->name = name;
	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	evbuffer_add_printf(b, "%.*s/api/v1/query?query=", (int)(len > 0 &&
	    base[len - 1] == '/' ? len - 1 : len), base);
	rollout_prom_query(b, query, ro->route, ro->canary);
	evbuffer_add(b, "", 1);
	pr->fetch = fetch_start((const char *)evbuffer_pullup(b, -1), NULL,
	    ROLLOUT_PROM_TIMEOUT, rollout_prom_done_cb, pr);
	if (pr->fetch == NULL) {
		pr->kind = PROM_NOT_STARTED;
		snprintf(pr->error, sizeof pr->error, "cannot start a "
		    "Prometheus query");
	}
	evbuffer_free(b);
}

/* Stops the Prometheus queries of a rollout. */
static void
rollout_prom_stop(struct rollout *ro)
{
	if (ro->prom_err.fetch != NULL)
		fetch_cancel(ro->prom_err.fetch);
	if (ro->prom_p95.fetch != NULL)
		fetch_cancel(ro->prom_p95.fetch);
	ro->prom_err.fetch = ro->prom_p95.fetch = NULL;
}

/*
 * Reads the figures of the trailing windows.  With metrics = prometheus
 * the canary's error rate and p95 come from Prometheus instead, and -1
 * says they are missing (the reason in ro->prom_*.error).
 */
static int
rollout_measure(struct rollout *ro, int64_t now)
{
	const struct rollout_conf	*rc = ro->rc;
	int64_t				 since = now - ro->started;

	ro->window = rollout_window_len(rc->interval, since);
	metrics_window_pair(ro->route, ro->canary, rc->route->stable->name,
	    ro->window, &ro->wc, &ro->ws);
	ro->avail_window = rollout_window_len(rc->availability_window, since);
	metrics_window(ro->route, ro->canary, ro->avail_window, &ro->wa);
	ro->from_prom = 0;
	if (rc->prometheus_url == NULL)
		return (0);
	rollout_prom_start(ro, &ro->prom_err, "error_rate",
	    rc->error_rate_query, now);
	rollout_prom_start(ro, &ro->prom_p95, "p95", rc->p95_query, now);
	if (ro->prom_err.at == 0 || now - ro->prom_err.at >
	    ROLLOUT_PROM_MAXAGE || ro->prom_p95.at == 0 ||
	    now - ro->prom_p95.at > ROLLOUT_PROM_MAXAGE)
		return (-1);
	ro->wc.error_rate = ro->prom_err.value;
	ro->wc.p95 = ro->prom_p95.value;
	ro->from_prom = 1;
	return (0);
}

/*
 * Returns nonzero when a server of the pool that could take traffic has
 * no health verdict yet: a reload that gives it a new address, or a
 * restart, puts it in its first checks, which is no sign of it down.
 */
static int
rollout_pool_checking(const struct pool *p)
{
	const struct server	*s;
	size_t			 i;

	for (i = 0; i < p->nservers; i++) {
		s = p->servers[i];
		if (s->weight > 0 && s->admin == SERVER_READY &&
		    s->health == HEALTH_CHECKING)
			return (1);
	}
	return (0);
}

/* Checks the breaches of the figures; as rollout_breach() below. */
static int
rollout_breach_figures(struct rollout *ro)
{
	const struct rollout_conf	*rc = ro->rc;
	const struct metrics_window	*wc = &ro->wc, *ws = &ro->ws;
	double				 avail;

	if (wc->requests < (uint64_t)rc->min_requests)
		return (0);
	if (wc->error_rate > rc->max_error_rate && ro->from_prom) {
		rollout_rollback(ro, "error_rate", "error_rate %.3f above "
		    "max_error_rate %.3f (from Prometheus; %llu canary "
		    "requests here in the last %us)", wc->error_rate,
		    rc->max_error_rate, (unsigned long long)wc->requests,
		    ro->window);
		return (1);
	}
	if (wc->error_rate > rc->max_error_rate) {
		rollout_rollback(ro, "error_rate", "error_rate %.3f above "
		    "max_error_rate %.3f (%llu of %llu canary requests "
		    "failed in the last %us)", wc->error_rate,
		    rc->max_error_rate, (unsigned long long)(wc->requests -
		    wc->ok), (unsigned long long)wc->requests, ro->window);
		return (1);
	}
	if (ws->requests >= (uint64_t)rc->min_requests &&
	    wc->error_rate - ws->error_rate > rc->max_error_rate_delta) {
		rollout_rollback(ro, "error_rate_delta", "error_rate_delta "
		    "%.3f above max_error_rate_delta %.3f (canary %.3f%s, "
		    "stable %.3f over the last %us)", wc->error_rate -
		    ws->error_rate, rc->max_error_rate_delta, wc->error_rate,
		    ro->from_prom ? " from Prometheus" : "", ws->error_rate,
		    ro->window);
		return (1);
	}
	if (wc->p95 * 1000 > rc->max_p95_latency) {
		rollout_rollback(ro, "p95_latency", "p95_latency %.3fs above "
		    "max_p95_latency %.3fs (%s%llu canary requests%s in the "
		    "last %us)", wc->p95, rc->max_p95_latency / 1000.0,
		    ro->from_prom ? "from Prometheus; " : "",
		    (unsigned long long)wc->requests, ro->from_prom ?
		    " here" : "", ro->window);
		return (1);
	}
	if (ro->wa.requests >= (uint64_t)rc->min_requests) {
		avail = (double)ro->wa.ok / ro->wa.requests;
		if (avail < rc->min_availability) {
			rollout_rollback(ro, "availability", "availability "
			    "%.3f below min_availability %.3f (%llu of %llu "
			    "canary requests succeeded in the last %us)",
			    avail, rc->min_availability,
			    (unsigned long long)ro->wa.ok,
			    (unsigned long long)ro->wa.requests,
			    ro->avail_window);
			return (1);
		}
	}
	return (0);
}

/*
 * Checks the breaches: rolls back and returns 1 on the first found.  The
 * figures need min_requests canary requests; a pool down needs none, but
 * when the figures breach too (a canary answering errors opens its
 * breakers), they are the reason: they say why it went down.  The reason
 * says when the canary's figure came from Prometheus (the request counts
 * are always this proxy's).
 */
static int
rollout_breach(struct rollout *ro)
{
	const struct rollout_conf	*rc = ro->rc;
	const struct metrics_window	*wc = &ro->wc;
	int				 down;

	if ((down = !balancer_pool_up(rc->canary)) && (!ro->seen_up ||
	    rollout_pool_checking(rc->canary)))
		return (0);
	if (!down)
		ro->seen_up = 1;
	if (rollout_breach_figures(ro))
		return (1);
	if (!down)
		return (0);
	rollout_rollback(ro, "pool_down", "canary pool %s is down (no "
	    "eligible server; %llu of %llu canary requests failed in the "
	    "last %us)", ro->canary, (unsigned long long)(wc->requests -
	    wc->ok), (unsigned long long)wc->requests, ro->window);
	return (1);
}

/* Judges one started rollout. */
static void
rollout_eval(struct rollout *ro, int64_t now)
{
	const struct rollout_conf	*rc = ro->rc;
	int64_t				 elapsed;
	char				 why[256];
	double				 ratio;
	int				 missing;

	switch (ro->state) {
	case ROLLOUT_IDLE:
	case ROLLOUT_PROMOTED:
	case ROLLOUT_ROLLED_BACK:
		return;
	case ROLLOUT_WAITING:
		if (balancer_pool_up(rc->canary))
			rollout_begin(ro);
		return;
	case ROLLOUT_RUNNING:
	case ROLLOUT_PAUSED:
		break;
	}
	missing = rollout_measure(ro, now) == -1;
	if (rollout_breach(ro))
		return;
	if (ro->state == ROLLOUT_PAUSED)
		return;
	if (missing) {
		if (ro->prom_err.error[0] == '\0' &&
		    ro->prom_p95.error[0] == '\0' &&
		    rollout_elapsed(ro, now) < ROLLOUT_PROM_MAXAGE)
			return;		/* the first answers are coming */
		snprintf(why, sizeof why, "no figures from Prometheus: %s",
		    ro->prom_err.error[0] != '\0' ? ro->prom_err.error :
		    ro->prom_p95.error[0] != '\0' ? ro->prom_p95.error :
		    "no answer yet");
		rollout_pause(ro, 0, why);
		return;
	}
	ratio = fmax(ro->wc.p95, ROLLOUT_RATIO_FLOOR) /
	    fmax(ro->ws.p95, ROLLOUT_RATIO_FLOOR);
	if (!ro->confirmed && ro->ws.requests >= (uint64_t)rc->min_requests &&
	    ro->wc.requests >= (uint64_t)rc->min_requests &&
	    ratio > rc->max_latency_ratio) {
		snprintf(why, sizeof why, "latency_ratio %.2f above "
		    "max_latency_ratio %.2f (canary p95 %.3fs, stable p95 "
		    "%.3fs)", ratio, rc->max_latency_ratio, ro->wc.p95,
		    ro->ws.p95);
		rollout_pause(ro, 1, why);
		return;
	}
	elapsed = rollout_elapsed(ro, now);
	if (elapsed < (int64_t)rc->interval * 1000)
		return;
	if (ro->wc.requests < (uint64_t)rc->min_requests) {
		if (elapsed < (int64_t)rc->interval * 1000 *
		    ROLLOUT_IDLE_INTERVALS)
			return;
		snprintf(why, sizeof why, "not enough traffic: %llu canary "
		    "requests in the last %us, min_requests %d",
		    (unsigned long long)ro->wc.requests, ro->window,
		    rc->min_requests);
		rollout_pause(ro, 0, why);
		return;
	}
	rollout_next(ro);
}

/* The controller's tick: judges every rollout. */
static void
rollout_tick_cb_locked(evutil_socket_t fd, short what, void *arg)
{
	struct rollout	*ro;
	int64_t		 now = rollout_now();

	if (cutover.conf == NULL)
		return;
	TAILQ_FOREACH(ro, &rollouts, entry)
		rollout_eval(ro, now);
}

WORKER_LOCKED_EVENT_CB(rollout_tick_cb)

/* Makes an idle rollout for a section. */
static struct rollout *
rollout_new(const struct rollout_conf *rc)
{
	struct rollout	*ro;

	ro = xcalloc(1, sizeof *ro);
	ro->route = xstrdup(rc->name);
	ro->canary = xstrdup(rc->canary->name);
	ro->rc = rc;
	ro->state = ROLLOUT_IDLE;
	TAILQ_INSERT_TAIL(&rollouts, ro, entry);
	return (ro);
}

/* Frees a rollout. */
static void
rollout_free(struct rollout *ro)
{
	size_t	i;

	TAILQ_REMOVE(&rollouts, ro, entry);
	rollout_prom_stop(ro);
	for (i = 0; i < ro->npoint; i++)
		free(ro->point_pools[i]);
	free(ro->point_pools);
	free(ro->point_weights);
	for (i = 0; i < ROLLOUT_NDECISIONS; i++) {
		free(ro->decisions[i].event);
		free(ro->decisions[i].text);
	}
	free(ro->route);
	free(ro->canary);
	free(ro);
}

/* Returns nonzero while a rollout is under way. */
static int
rollout_active(const struct rollout *ro)
{
	switch (ro->state) {
	case ROLLOUT_WAITING:
	case ROLLOUT_RUNNING:
	case ROLLOUT_PAUSED:
		return (1);
	case ROLLOUT_IDLE:
	case ROLLOUT_PROMOTED:
	case ROLLOUT_ROLLED_BACK:
		return (0);
	}
	return (0);
}

/* Finds the section of a route in conf; NULL when there is none. */
static const struct rollout_conf *
rollout_conf_find(const struct conf *conf, const char *route)
{
	size_t	i;

	for (i = 0; i < conf->nrollouts; i++) {
		if (strcmp(conf->rollouts[i]->name, route) == 0)
			return (conf->rollouts[i]);
	}
	return (NULL);
}

int
rollout_init(struct event_base *base)
{
	struct timeval	tv = { 0, ROLLOUT_TICK_MS * 1000 };

	rollout_base = base;
	if (fetch_init(base) == -1)
		return (-1);
	if ((rollout_timer = event_new(base, -1, EV_PERSIST, rollout_tick_cb,
	    NULL)) == NULL)
		return (-1);
	if ((rollout_hook_timer = evtimer_new(base, rollout_hook_timer_cb,
	    NULL)) == NULL)
		return (-1);
	evtimer_add(rollout_timer, &tv);
	return (0);
}

/*
 * Edited steps give a running or paused rollout's current step another
 * weight: it is served at once, or the split and the step shown would
 * disagree until the next step.
 */
static void
rollout_reweigh(struct rollout *ro)
{
	int	w;

	if ((ro->state != ROLLOUT_RUNNING && ro->state != ROLLOUT_PAUSED) ||
	    (w = rollout_step_weight(ro)) == ro->applied)
		return;
	rollout_decide(ro, "step", "step %zu/%zu: the reload changed the "
	    "steps: canary %s at %d%% (was %d%%)", ro->step + 1,
	    ro->rc->nsteps, ro->canary, w, ro->applied);
	rollout_apply_pct(ro, w);
}

void
rollout_reload(struct conf *conf)
{
	const struct rollout_conf	*rc;
	struct rollout			*ro, *next;
	size_t				 i;

	TAILQ_FOREACH_SAFE(ro, &rollouts, entry, next) {
		rc = rollout_conf_find(conf, ro->route);
		if (rc != NULL && strcmp(rc->canary->name, ro->canary) == 0) {
			ro->rc = rc;
			if (ro->step >= rc->nsteps)
				ro->step = rc->nsteps - 1;
			rollout_reweigh(ro);
			continue;
		}
		if (rollout_active(ro))
			log_info("rollout %s: %s: the rollout to %s ends where "
			    "it is, split kept", ro->route, rc == NULL ?
			    "its [rollout] section is gone" :
			    "the config names another canary", ro->canary);
		if (rc == NULL)
			metrics_rollout_weight(ro->route, -1);
		rollout_free(ro);
	}
	for (i = 0; i < conf->nrollouts; i++) {
		rc = conf->rollouts[i];
		if ((ro = rollout_find(rc->name)) == NULL)
			ro = rollout_new(rc);
		if (ro->state == ROLLOUT_IDLE && rc->auto_start)
			rollout_start(ro, "auto_start");
	}
}

int
rollout_exists(const char *route)
{
	return (rollout_find(route) != NULL);
}

int
rollout_command(const char *verb, const char *route, char *err,
    size_t errlen)
{
	struct rollout	*ro;

	if ((ro = rollout_find(route)) == NULL) {
		snprintf(err, errlen, "no [rollout] for route %s", route);
		return (-1);
	}
	if (strcmp(verb, "start") == 0) {
		if (rollout_active(ro))
			goto state;
		rollout_start(ro, "admin");
		return (0);
	}
	if (!rollout_active(ro))
		goto state;
	if (strcmp(verb, "abort") == 0) {
		rollout_rollback(ro, "abort", "aborted by admin");
		return (0);
	}
	if (strcmp(verb, "promote") == 0) {
		/* All traffic to a pool that cannot take it: an outage. */
		if (!balancer_pool_up(ro->rc->canary)) {
			snprintf(err, errlen, "canary pool %s is down (no "
			    "eligible server): not promoted; abort, then "
			    "switch, forces it", ro->canary);
			return (-1);
		}
		rollout_promote(ro, "promoted by admin");
		return (0);
	}
	if (strcmp(verb, "pause") == 0 && ro->state == ROLLOUT_RUNNING) {
		rollout_pause(ro, 0, "paused by admin");
		return (0);
	}
	if (strcmp(verb, "resume") == 0 && ro->state == ROLLOUT_PAUSED) {
		rollout_resume(ro, "resumed by admin");
		return (0);
	}
	if (strcmp(verb, "confirm") == 0 && ro->state == ROLLOUT_PAUSED &&
	    ro->confirm) {
		rollout_resume(ro, "confirmed by admin");
		return (0);
	}
state:
	snprintf(err, errlen, "rollout %s is %s%s: cannot %s it", route,
	    rollout_state_names[ro->state], ro->state == ROLLOUT_PAUSED &&
	    !ro->confirm ? " (not awaiting confirm)" : "", verb);
	return (-1);
}

/* Returns the seconds to the next step, or -1 when none is due. */
static double
rollout_next_in(const struct rollout *ro, int64_t now)
{
	double	left;

	if (ro->state != ROLLOUT_RUNNING)
		return (-1);
	left = (ro->rc->interval * 1000.0 - rollout_elapsed(ro, now)) / 1e6;
	return (left > 0 ? left : 0);
}

/* Appends one rollout as a JSON object. */
static void
rollout_json_one(struct evbuffer *b, const struct rollout *ro)
{
	const struct rollout_conf	*rc = ro->rc;
	const struct rollout_decision	*d;
	int64_t				 now = rollout_now();
	size_t				 i, n, k;
	char				 when[32];
	struct tm			 tm;

	evbuffer_add_printf(b, "{\"route\":");
	json_str(b, ro->route);
	evbuffer_add_printf(b, ",\"canary\":");
	json_str(b, ro->canary);
	evbuffer_add_printf(b, ",\"stable\":");
	json_str(b, rc->route->stable->name);
	evbuffer_add_printf(b, ",\"strategy\":\"%s\",\"state\":\"%s\","
	    "\"awaiting_confirm\":%s,\"reason\":", rc->blue_green ?
	    "blue-green" : "canary", rollout_state_names[ro->state],
	    ro->confirm ? "true" : "false");
	json_str(b, ro->reason);
	evbuffer_add_printf(b, ",\"step\":%zu,\"steps\":%zu,"
	    "\"step_weight\":%d,\"weight\":%.1f,\"weights\":",
	    ro->state == ROLLOUT_IDLE ? 0 : ro->step + 1, rc->nsteps,
	    ro->state == ROLLOUT_IDLE ? 0 : rollout_step_weight(ro),
	    rollout_share(ro));
	rollout_json_weights(b, rc->route);
	evbuffer_add_printf(b, ",\"step_list\":[");
	for (i = 0; i < rc->nsteps; i++)
		evbuffer_add_printf(b, "%s%d", i > 0 ? "," : "",
		    rc->steps[i]);
	evbuffer_add_printf(b, "],\"interval\":%.3f,\"step_elapsed\":%.3f,"
	    "\"next_step_in\":%.3f,", rc->interval / 1000.0,
	    rollout_active(ro) && ro->state != ROLLOUT_WAITING ?
	    rollout_elapsed(ro, now) / 1e6 : 0.0, rollout_next_in(ro, now));
	evbuffer_add_printf(b, "\"window\":{\"seconds\":%u,\"requests\":%llu,"
	    "\"errors\":%llu,\"error_rate\":", ro->window,
	    (unsigned long long)ro->wc.requests,
	    (unsigned long long)(ro->wc.requests - ro->wc.ok));
	rollout_json_num(b, ro->wc.error_rate);
	evbuffer_add_printf(b, ",\"p95\":");
	rollout_json_num(b, ro->wc.p95);
	evbuffer_add_printf(b, ",\"stable_requests\":%llu,"
	    "\"stable_error_rate\":%.4f,\"stable_p95\":%.4f},",
	    (unsigned long long)ro->ws.requests, ro->ws.error_rate,
	    ro->ws.p95);
	evbuffer_add_printf(b, "\"availability\":{\"seconds\":%u,"
	    "\"requests\":%llu,\"value\":%.4f},\"metrics\":",
	    ro->avail_window, (unsigned long long)ro->wa.requests,
	    ro->wa.requests > 0 ? (double)ro->wa.ok / ro->wa.requests : 1.0);
	json_str(b, rc->prometheus_url != NULL ? "prometheus" :
	    "local");
	evbuffer_add_printf(b, ",\"rollback_point\":{");
	for (i = 0; i < ro->npoint; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		json_str(b, ro->point_pools[i]);
		evbuffer_add_printf(b, ":%d", ro->point_weights[i]);
	}
	evbuffer_add_printf(b, "},\"last_decision\":");
	json_str(b, rollout_last_decision(ro));
	evbuffer_add_printf(b, ",\"decisions\":[");
	n = ro->ndecisions < ROLLOUT_NDECISIONS ? ro->ndecisions :
	    ROLLOUT_NDECISIONS;
	for (i = 0; i < n; i++) {
		k = (ro->ndecisions - n + i) % ROLLOUT_NDECISIONS;
		d = &ro->decisions[k];
		gmtime_r(&d->when, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		evbuffer_add_printf(b, "%s{\"time\":\"%s\",\"event\":",
		    i > 0 ? "," : "", when);
		json_str(b, d->event);
		evbuffer_add_printf(b, ",\"text\":");
		json_str(b, d->text);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add(b, "]}", 2);
}

void
rollout_json(struct evbuffer *b, const char *route)
{
	const struct rollout	*ro;
	int			 first = 1;

	if (route != NULL) {
		if ((ro = rollout_find(route)) != NULL)
			rollout_json_one(b, ro);
		else
			evbuffer_add(b, "null", 4);
		return;
	}
	evbuffer_add(b, "[", 1);
	TAILQ_FOREACH(ro, &rollouts, entry) {
		if (!first)
			evbuffer_add(b, ",", 1);
		first = 0;
		rollout_json_one(b, ro);
	}
	evbuffer_add(b, "]", 1);
}

int
rollout_view(size_t i, struct rollout_view *v)
{
	const struct rollout	*ro;
	size_t			 k;

	TAILQ_FOREACH(ro, &rollouts, entry) {
		if (i-- == 0)
			break;
	}
	if (ro == NULL)
		return (-1);
	memset(v, 0, sizeof *v);
	v->route = ro->route;
	v->canary = ro->canary;
	v->state = rollout_state_names[ro->state];
	v->reason = ro->reason;
	v->step = ro->state == ROLLOUT_IDLE ? 0 : ro->step + 1;
	v->steps = ro->rc->nsteps;
	v->weight = rollout_share(ro);
	for (k = 0; k < ROLLOUT_VIEW_DECISIONS && k < ro->ndecisions &&
	    k < ROLLOUT_NDECISIONS; k++) {
		v->when[k] = ro->decisions[(ro->ndecisions - 1 - k) %
		    ROLLOUT_NDECISIONS].when;
		v->text[k] = ro->decisions[(ro->ndecisions - 1 - k) %
		    ROLLOUT_NDECISIONS].text;
	}
	v->ndecisions = k;
	return (0);
}

/* Appends one rollout as text lines. */
static void
rollout_show_one(struct evbuffer *b, const struct rollout *ro)
{
	const struct rollout_conf	*rc = ro->rc;
	double				 next = rollout_next_in(ro, rollout_now());

	evbuffer_add_printf(b, "rollout %s: %s to %s, %s", ro->route,
	    rc->blue_green ? "blue-green" : "canary", ro->canary,
	    rollout_state_names[ro->state]);
	if (ro->confirm)
		evbuffer_add_printf(b, " (awaiting confirm)");
	if (ro->state != ROLLOUT_IDLE)
		evbuffer_add_printf(b, ", step %zu/%zu at %d%%", ro->step + 1,
		    rc->nsteps, rollout_step_weight(ro));
	evbuffer_add_printf(b, ", canary weight %.1f%%\n", rollout_share(ro));
	if (ro->reason[0] != '\0')
		evbuffer_add_printf(b, "  reason: %s\n", ro->reason);
	if (rollout_active(ro))
		evbuffer_add_printf(b, "  window %us: %llu canary requests, "
		    "error rate %.3f, p95 %.3fs; stable %llu requests, error "
		    "rate %.3f, p95 %.3fs\n", ro->window,
		    (unsigned long long)ro->wc.requests, ro->wc.error_rate,
		    ro->wc.p95, (unsigned long long)ro->ws.requests,
		    ro->ws.error_rate, ro->ws.p95);
	if (next >= 0)
		evbuffer_add_printf(b, "  next step in %.1fs\n", next);
	if (ro->npoint > 0) {
		evbuffer_add_printf(b, "  rollback point: ");
		rollout_point_text(b, ro);
		evbuffer_add(b, "\n", 1);
	}
	if (ro->ndecisions > 0)
		evbuffer_add_printf(b, "  last decision: %s\n",
		    rollout_last_decision(ro));
}

void
rollout_show(struct evbuffer *b, const char *route)
{
	const struct rollout	*ro;

	TAILQ_FOREACH(ro, &rollouts, entry) {
		if (route == NULL || strcmp(ro->route, route) == 0)
			rollout_show_one(b, ro);
	}
	if (TAILQ_EMPTY(&rollouts))
		evbuffer_add_printf(b, "no rollouts\n");
}

/* Converts a monotonic time to wall-clock milliseconds (0 stays 0). */
static long long
rollout_to_wall(int64_t mono, int64_t now, int64_t wall)
{
	if (mono == 0)
		return (0);
	return ((long long)(wall - (now - mono) / 1000));
}

char *
rollout_state_text(void)
{
	const struct rollout	*ro;
	struct evbuffer		*b;
	int64_t			 now = rollout_now(), wall = rollout_wall_ms();
	const char		*state;
	char			*text;
	size_t			 i;

	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	TAILQ_FOREACH(ro, &rollouts, entry) {
		if (ro->state == ROLLOUT_IDLE)
			continue;
		state = ro->confirm ? "confirm" :
		    rollout_state_names[ro->state];
		evbuffer_add_printf(b, "rollout %s %s %s%s %zu %lld %lld %lld ",
		    ro->route, ro->canary, state, ro->confirmed &&
		    rollout_active(ro) ? ROLLOUT_CONFIRMED : "", ro->step,
		    rollout_to_wall(ro->started, now, wall),
		    rollout_to_wall(ro->step_start, now, wall),
		    rollout_to_wall(ro->paused_at, now, wall));
		for (i = 0; i < ro->npoint; i++)
			evbuffer_add_printf(b, "%s%s=%d", i > 0 ? "," : "",
			    ro->point_pools[i], ro->point_weights[i]);
		evbuffer_add_printf(b, " %s\n", ro->reason[0] != '\0' ?
		    ro->reason : "-");
	}
	evbuffer_add(b, "", 1);
	text = xstrdup((const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
	return (text);
}

/* One parsed rollout record. */
struct rollout_record {
	char		*f[8];		/* route .. point */
	const char	*reason;
	int		 state;
	long long	 num[4];	/* step, started, step_start, paused */
	int		 confirm;
	int		 confirmed;
};

/* Parses a record into rec (fields point into buf); NULL or a phrase. */
static const char *
rollout_record_parse(char *buf, struct rollout_record *rec)
{
	char	*p = buf, *end;
	size_t	 n, i;

	memset(rec, 0, sizeof *rec);
	for (n = 0; n < 8; n++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return ("wrong number of fields");
		rec->f[n] = p;
		p += strcspn(p, " ");
		if (*p != '\0')
			*p++ = '\0';
	}
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return ("wrong number of fields");
	rec->reason = p;
	rec->state = -1;
	n = strlen(rec->f[2]);
	if (n > strlen(ROLLOUT_CONFIRMED) && strcmp(rec->f[2] + n -
	    strlen(ROLLOUT_CONFIRMED), ROLLOUT_CONFIRMED) == 0) {
		rec->f[2][n - strlen(ROLLOUT_CONFIRMED)] = '\0';
		rec->confirmed = 1;
	}
	if (strcmp(rec->f[2], "confirm") == 0) {
		rec->state = ROLLOUT_PAUSED;
		rec->confirm = 1;
	}
	for (i = ROLLOUT_WAITING; i <= ROLLOUT_ROLLED_BACK; i++) {
		if (strcmp(rec->f[2], rollout_state_names[i]) == 0)
			rec->state = (int)i;
	}
	if (rec->state == -1)
		return ("bad rollout state");
	for (i = 3; i < 7; i++) {
		if (rec->f[i][0] < '0' || rec->f[i][0] > '9')
			return ("bad number");
		errno = 0;
		rec->num[i - 3] = strtoll(rec->f[i], &end, 10);
		if (errno != 0 || *end != '\0')
			return ("bad number");
	}
	if (rec->num[0] > 100)
		return ("bad step");
	for (p = rec->f[7]; *p != '\0'; p = end) {
		end = p + strcspn(p, ",");
		if (memchr(p, '=', end - p) == NULL)
			return ("bad rollback point");
		if (*end == ',')
			end++;
	}
	return (NULL);
}

const char *
rollout_state_check(const char *text)
{
	struct rollout_record	 rec;
	const char		*errstr;
	char			*buf = xstrdup(text);

	errstr = rollout_record_parse(buf, &rec);
	free(buf);
	return (errstr);
}

/* Converts wall-clock milliseconds to monotonic time (0 stays 0). */
static int64_t
rollout_from_wall(long long ms, int64_t now, int64_t wall)
{
	if (ms == 0)
		return (0);
	return (now - (wall - (int64_t)ms) * 1000);
}

void
rollout_state_restore(const struct conf *conf, const char *text)
{
	const struct rollout_conf	*rc;
	struct rollout_record		 rec;
	struct rollout			*ro;
	char				*buf = xstrdup(text), *p, *eq, *end;
	int64_t				 now = rollout_now();
	int64_t				 wall = rollout_wall_ms();

	if (rollout_record_parse(buf, &rec) != NULL)
		goto done;
	if ((rc = rollout_conf_find(conf, rec.f[0])) == NULL) {
		log_info("state: rollout %s: no [rollout] section any more; "
		    "forgotten", rec.f[0]);
		goto done;
	}
	if (strcmp(rc->canary->name, rec.f[1]) != 0) {
		log_info("state: rollout %s: the config names canary %s, not "
		    "%s; the rollout of %s is forgotten", rec.f[0],
		    rc->canary->name, rec.f[1], rec.f[1]);
		goto done;
	}
	if ((ro = rollout_find(rc->name)) != NULL)
		rollout_free(ro);
	ro = rollout_new(rc);
	ro->state = rec.state;
	ro->confirm = rec.confirm;
	ro->confirmed = rec.confirmed;
	ro->step = (size_t)rec.num[0] < rc->nsteps ? (size_t)rec.num[0] :
	    rc->nsteps - 1;
	/*
	 * What the restored split gives the canary, which the steps of the
	 * config may no longer say: rollout_reload() compares.
	 */
	ro->applied = (int)(rollout_share(ro) + 0.5);
	ro->started = rollout_from_wall(rec.num[1], now, wall);
	ro->step_start = rollout_from_wall(rec.num[2], now, wall);
	ro->paused_at = rollout_from_wall(rec.num[3], now, wall);
	if (ro->state != ROLLOUT_PAUSED)
		ro->paused_at = 0;
	else if (ro->paused_at == 0)
		ro->paused_at = now;
	/*
	 * A rollout past its wait saw the canary up before the restart: the
	 * canary down is a breach again once its checks have a verdict.
	 */
	ro->seen_up = ro->state == ROLLOUT_RUNNING ||
	    ro->state == ROLLOUT_PAUSED;
	if (strcmp(rec.reason, "-") != 0)
		snprintf(ro->reason, sizeof ro->reason, "%s", rec.reason);
	for (p = rec.f[7]; *p != '\0'; p = end) {
		end = p + strcspn(p, ",");
		if (*end == ',')
			*end++ = '\0';
		eq = strchr(p, '=');
		*eq = '\0';
		ro->point_pools = xreallocarray(ro->point_pools,
		    ro->npoint + 1, sizeof *ro->point_pools);
		ro->point_weights = xreallocarray(ro->point_weights,
		    ro->npoint + 1, sizeof *ro->point_weights);
		ro->point_pools[ro->npoint] = xstrdup(p);
		ro->point_weights[ro->npoint++] = atoi(eq + 1);
	}
	metrics_rollout_weight(ro->route, rollout_share(ro));
	if (rollout_active(ro))
		rollout_decide(ro, NULL, "restored from the state file: %s at "
		    "step %zu/%zu, %.1fs into the step",
		    rollout_state_names[ro->state], ro->step + 1, rc->nsteps,
		    rollout_elapsed(ro, now) / 1e6);
done:
	free(buf);
}

void
rollout_clear(void)
{
	struct rollout		*ro;

	while ((ro = TAILQ_FIRST(&rollouts)) != NULL)
		rollout_free(ro);
	if (rollout_hook_fetch != NULL)
		fetch_cancel(rollout_hook_fetch);
	rollout_hook_fetch = NULL;
	while (!TAILQ_EMPTY(&rollout_hooks))
		rollout_hook_pop();
	if (rollout_timer != NULL)
		event_free(rollout_timer);
	if (rollout_hook_timer != NULL)
		event_free(rollout_hook_timer);
	rollout_timer = rollout_hook_timer = NULL;
	fetch_clear();
}
