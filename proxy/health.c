/*
 * Active health checks on libcurl's multi interface, driven by the event
 * loop through a fetch loop of their own (fetch.c).  Nothing blocks and no thread is involved, so a server that accepts and
 * never answers costs one idle socket until health_timeout, and proxied
 * traffic never waits on a check.
 *
 * Each checked server has a timer; when it fires the server gets a GET of
 * its pool's health_path on a fresh connection to its address, with the
 * Host header of the server as written, within health_timeout.  The first
 * checks of a pool's servers are spread over health_interval so that they
 * do not all fire at once.  A status within health_expect passes; any
 * other status, a timeout or a connection error fails.  health_rise passes
 * in a row bring a server up, health_fall failures in a row take it down.
 * New servers start "checking" and take no traffic until they are up.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "config.h"
#include "conf.h"
#include "fetch.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"
#include "xmalloc.h"

/* The checks of one server; owned by that server (server->check). */
struct health_check {
	struct server		*server;	/* of the current generation */
	CURL			*easy;		/* kept from check to check */
	int			 running;	/* easy is in the multi */
	struct curl_slist	*connect_to;
	struct event		*timer;		/* the next check */
	int			 passes;	/* in a row */
	int			 fails;		/* in a row */
	uint64_t		 nok;
	uint64_t		 nfail;
	char			 last[CURL_ERROR_SIZE];	/* the last result */
	char			 errbuf[CURL_ERROR_SIZE];
};

static void	health_set_state(struct health_check *, enum server_health,
		    const char *);
static void	health_result(struct health_check *, int, const char *);
static void	health_done(struct health_check *, CURLcode);
static void	health_run_cb(evutil_socket_t, short, void *);
static int	health_setup(struct health_check *);
static struct health_check *health_check_new(struct server *);
static void	health_check_cancel(struct health_check *);
static void	health_check_free(struct health_check *);
static size_t	health_discard_cb(char *, size_t, size_t, void *);

static struct event_base		*health_base;
static struct fetch_loop		*health_loop;

/* Returns the name of a state, for logs, the admin socket and metrics. */
const char *
health_state_name(enum server_health state)
{
	switch (state) {
	case HEALTH_UP:
		return ("up");
	case HEALTH_DOWN:
		return ("down");
	case HEALTH_CHECKING:
		return ("checking");
	}
	return ("?");
}

/* Makes every change of a server's health, logging it with its reason. */
static void
health_set_state(struct health_check *hc, enum server_health state,
    const char *why)
{
	struct server	*s = hc->server;

	log_debug("pool %s: server %s: health %s -> %s", s->pool->name,
	    s->name, health_state_name(s->health), health_state_name(state));
	s->health = state;
	log_info("pool %s: server %s: %s %s", s->pool->name, s->name,
	    health_state_name(state), why);
}

/* Counts one check's result and moves the server up or down on a run. */
static void
health_result(struct health_check *hc, int ok, const char *result)
{
	struct server	*s = hc->server;
	struct pool	*p = s->pool;
	char		 why[CURL_ERROR_SIZE + 64];

	snprintf(hc->last, sizeof hc->last, "%s", result);
	metrics_health_check(p->name, s->name, ok);
	log_debug("pool %s: server %s: check %s (%s)", p->name, s->name,
	    ok ? "passed" : "failed", result);
	if (ok) {
		hc->nok++;
		hc->fails = 0;
		hc->passes++;
		if (s->health != HEALTH_UP && hc->passes >= p->health_rise) {
			snprintf(why, sizeof why, "after %d passed check%s",
			    hc->passes, hc->passes == 1 ? "" : "s");
			health_set_state(hc, HEALTH_UP, why);
		}
		return;
	}
	hc->nfail++;
	hc->passes = 0;
	hc->fails++;
	if (s->health != HEALTH_DOWN && hc->fails >= p->health_fall) {
		snprintf(why, sizeof why, "after %d failed check%s (%s)",
		    hc->fails, hc->fails == 1 ? "" : "s", result);
		health_set_state(hc, HEALTH_DOWN, why);
	}
}

/* Judges a finished check by libcurl's result and the status. */
static void
health_done(struct health_check *hc, CURLcode rc)
{
	struct pool	*p = hc->server->pool;
	char		 result[sizeof hc->last];
	long		 status = 0, oserr = 0;
	int		 ok = 0;

	hc->running = 0;
	switch (rc) {
	case CURLE_OK:
		curl_easy_getinfo(hc->easy, CURLINFO_RESPONSE_CODE, &status);
		snprintf(result, sizeof result, "status %ld", status);
		ok = status >= p->health_expect_min &&
		    status <= p->health_expect_max;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(result, sizeof result, "timeout after %ldms",
		    p->health_timeout);
		break;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(hc->easy, CURLINFO_OS_ERRNO, &oserr);
		if (oserr == ECONNREFUSED)
			snprintf(result, sizeof result, "connect refused");
		else if (oserr != 0)
			snprintf(result, sizeof result, "connect failed: %s",
			    strerror((int)oserr));
		else
			snprintf(result, sizeof result, "%s", hc->errbuf);
		break;
	default:
		snprintf(result, sizeof result, "%s", hc->errbuf[0] != '\0' ?
		    hc->errbuf : curl_easy_strerror(rc));
		break;
	}
	health_result(hc, ok, result);
}

/* The fetch loop finished a check. */
static void
health_easy_done(CURL *easy, CURLcode rc, void *priv)
{
	health_done(priv, rc);
}

/* Throws away the body of a health check. */
static size_t
health_discard_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return (size * nmemb);
}

/*
 * Sets up the request of a check.  The URL names the server as written
 * (or the pool's tls_sni), so the Host header and SNI are right, and
 * CURLOPT_CONNECT_TO sends it to the address resolved at load: no name
 * lookup, which could block, and always the address traffic goes to.
 */
static int
health_setup(struct health_check *hc)
{
	struct server		*s = hc->server;
	struct pool		*p = s->pool;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&s->addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&s->addr;
	char			 ip[INET6_ADDRSTRLEN], *url = NULL, *to = NULL;
	const char		*name = s->host;
	int			 port, v6;
	CURLcode		 rc = CURLE_OK;

	if (s->addr.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
		port = ntohs(sin6->sin6_port);
	} else {
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
		port = ntohs(sin->sin_port);
	}
	if (p->tls && p->tls_sni != NULL)
		name = p->tls_sni;
	v6 = strchr(name, ':') != NULL;
	url = xasprintf("%s://%s%s%s:%d%s", p->tls ? "https" : "http",
	    v6 ? "[" : "", name, v6 ? "]" : "", port, p->health_path);
	v6 = s->addr.ss_family == AF_INET6;
	to = xasprintf("::%s%s%s:%d", v6 ? "[" : "", ip, v6 ? "]" : "", port);
	curl_slist_free_all(hc->connect_to);
	if ((hc->connect_to = curl_slist_append(NULL, to)) == NULL)
		goto fail;

	if (hc->easy == NULL && (hc->easy = curl_easy_init()) == NULL)
		goto fail;
#define SET(opt, val)	if (rc == CURLE_OK) rc = curl_easy_setopt(hc->easy, \
			    opt, val)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_CONNECT_TO, hc->connect_to);
	SET(CURLOPT_PRIVATE, (void *)hc);
	SET(CURLOPT_ERRORBUFFER, hc->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_HTTPGET, 1L);
	SET(CURLOPT_TIMEOUT_MS, p->health_timeout);
	SET(CURLOPT_FRESH_CONNECT, 1L);
	SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_USERAGENT, "cutover/" PACKAGE_VERSION " health check");
	SET(CURLOPT_WRITEFUNCTION, health_discard_cb);
	SET(CURLOPT_SSL_VERIFYPEER, p->tls_verify ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, p->tls_verify ? 2L : 0L);
	if (p->tls_ca != NULL)
		SET(CURLOPT_CAINFO, p->tls_ca);
	if (p->tls_cert != NULL) {
		SET(CURLOPT_SSLCERT, p->tls_cert);
		SET(CURLOPT_SSLKEY, p->tls_key != NULL ? p->tls_key :
		    p->tls_cert);
	}
#undef SET
	if (rc != CURLE_OK)
		goto fail;
	free(url);
	free(to);
	return (0);
fail:
	log_warn("pool %s: server %s: cannot set up a health check: %s",
	    p->name, s->name, rc != CURLE_OK ? curl_easy_strerror(rc) :
	    "out of memory");
	free(url);
	free(to);
	return (-1);
}

/* A server's check timer fired: start a check, schedule the next. */
static void
health_run_cb_locked(evutil_socket_t fd, short what, void *arg)
{
	struct health_check	*hc = arg;
	struct pool		*p = hc->server->pool;
	struct timeval		 tv;

	tv.tv_sec = p->health_interval / 1000;
	tv.tv_usec = (p->health_interval % 1000) * 1000;
	evtimer_add(hc->timer, &tv);
	if (hc->running)
		return;		/* health_timeout > health_interval */
	hc->errbuf[0] = '\0';
	if (health_setup(hc) == -1 ||
	    fetch_loop_add(health_loop, hc->easy) == -1) {
		health_result(hc, 0, "cannot start a check");
		return;
	}
	hc->running = 1;
}

WORKER_LOCKED_EVENT_CB(health_run_cb)

/* Makes the check state of a server, not scheduled yet. */
static struct health_check *
health_check_new(struct server *s)
{
	struct health_check	*hc;

	hc = xcalloc(1, sizeof *hc);
	hc->server = s;
	if ((hc->timer = evtimer_new(health_base, health_run_cb, hc)) == NULL)
		fatal("pool %s: server %s: cannot make the check timer",
		    s->pool->name, s->name);
	return (hc);
}

/* Stops the check in flight and the timer of hc. */
static void
health_check_cancel(struct health_check *hc)
{
	evtimer_del(hc->timer);
	if (hc->running) {
		fetch_loop_remove(health_loop, hc->easy);
		hc->running = 0;
	}
}

/* Frees the check state of a server. */
static void
health_check_free(struct health_check *hc)
{
	health_check_cancel(hc);
	if (hc->easy != NULL)
		curl_easy_cleanup(hc->easy);
	curl_slist_free_all(hc->connect_to);
	event_free(hc->timer);
	free(hc);
}

/* Sets the checker up on the event loop. */
int
health_init(struct event_base *base)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return (-1);
	health_base = base;
	if ((health_loop = fetch_loop_new(base, health_easy_done)) == NULL)
		return (-1);
	return (0);
}

/*
 * Starts checking the servers of conf that are not checked yet, so it may
 * run again after a server was added.  A server handed over from the
 * previous generation keeps its state and counts; a new one starts
 * checking.  The first checks of a pool's n servers go at i * interval / n.
 */
void
health_start(struct conf *conf)
{
	struct pool		*p;
	struct server		*s;
	struct health_check	*hc;
	struct timeval		 tv;
	long			 ms;
	size_t			 i, j;

	for (i = 0; i < conf->npools; i++) {
		p = conf->pools[i];
		for (j = 0; j < p->nservers; j++) {
			s = p->servers[j];
			if (p->health_path == NULL) {
				if (s->check != NULL)
					health_check_free(s->check);
				s->check = NULL;
				s->health = HEALTH_UP;
				continue;
			}
			if ((hc = s->check) == NULL) {
				hc = s->check = health_check_new(s);
				s->health = HEALTH_CHECKING;
			} else if (evtimer_pending(hc->timer, NULL))
				continue;	/* checked already */
			ms = p->health_interval * (long)j / (long)p->nservers;
			tv.tv_sec = ms / 1000;
			tv.tv_usec = (ms % 1000) * 1000;
			evtimer_add(hc->timer, &tv);
		}
	}
}

/* Returns the number of passed and failed checks of s. */
void
health_checks(const struct server *s, uint64_t *ok, uint64_t *fail)
{
	const struct health_check	*hc = s->check;

	*ok = hc != NULL ? hc->nok : 0;
	*fail = hc != NULL ? hc->nfail : 0;
}

/* Returns the result of the last check of s, or NULL. */
const char *
health_last_result(const struct server *s)
{
	const struct health_check	*hc = s->check;

	if (hc == NULL || hc->last[0] == '\0')
		return (NULL);
	return (hc->last);
}

/*
 * Hands the checks of from to to, the same server (pool, name, address)
 * in a new generation: its health and its runs of passes and failures go
 * on, and a server that served without checks stays up when checks are
 * turned on.  A check in flight is dropped; health_start() schedules.
 */
void
health_server_move(struct server *from, struct server *to)
{
	struct health_check	*hc = from->check;

	if (to->check != NULL)
		return;
	if (hc == NULL)
		hc = health_check_new(to);
	else
		health_check_cancel(hc);
	from->check = NULL;
	hc->server = to;
	to->check = hc;
	to->health = from->health;
}

/* Stops checking s and frees its check state. */
void
health_server_stop(struct server *s)
{
	if (s->check == NULL)
		return;
	health_check_free(s->check);
	s->check = NULL;
}

/* Stops checking the servers of conf and frees their check state. */
void
health_stop(struct conf *conf)
{
	size_t	i, j;

	for (i = 0; i < conf->npools; i++)
		for (j = 0; j < conf->pools[i]->nservers; j++)
			health_server_stop(conf->pools[i]->servers[j]);
}

/* Frees the checker; every conf must have been stopped. */
void
health_clear(void)
{
	fetch_loop_free(health_loop);
	health_loop = NULL;
	curl_global_cleanup();
}
