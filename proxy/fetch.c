/*
 * The control plane's HTTP client: rollout webhooks and Prometheus
 * queries, and the loop that drives libcurl from libevent for it and for
 * the health checks.  A fetch loop is one multi handle: libcurl's socket
 * callback says which sockets to watch, its timer callback when to call
 * back, and each libevent callback hands the event to
 * curl_multi_socket_action().  The client and the health checker each have
 * a loop of their own, so a slow webhook never shares a queue with checks.
 * Each request is one easy handle on a fresh connection with a timeout;
 * its result goes to the caller's callback once, from the event loop.
 * Retries are the caller's business.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "config.h"
#include "fetch.h"
#include "log.h"
#include "worker.h"
#include "xmalloc.h"

#define FETCH_MAXBODY	(64 * 1024)

/* One request in flight; owned by the fetch list. */
struct fetch {
	CURL			*easy;
	struct curl_slist	*headers;
	char			*json;		/* the POST body */
	char			*body;		/* the response, bounded */
	size_t			 len;
	int			 truncated;	/* passed FETCH_MAXBODY */
	fetch_done_cb		 done;
	void			*arg;
	char			 errbuf[CURL_ERROR_SIZE];
	TAILQ_ENTRY(fetch)	 entry;
};

/* A socket libcurl asked a loop to watch; owned by the loop. */
struct fetch_sock {
	struct fetch_loop		*loop;
	curl_socket_t			 fd;
	struct event			*ev;
	TAILQ_ENTRY(fetch_sock)		 entry;
};

/* A libcurl multi handle driven by the event loop; owned by its user. */
struct fetch_loop {
	struct event_base		*base;
	CURLM				*multi;
	struct event			*timer;
	fetch_loop_done_cb		 done;
	TAILQ_HEAD(, fetch_sock)	 socks;
};

static void	fetch_sock_cb(evutil_socket_t, short, void *);

static struct fetch_loop		*fetch_loop;	/* the client's */
static TAILQ_HEAD(, fetch)		 fetch_list =
    TAILQ_HEAD_INITIALIZER(fetch_list);

/* Frees a fetch taken out of the multi handle. */
static void
fetch_free(struct fetch *f)
{
	TAILQ_REMOVE(&fetch_list, f, entry);
	if (f->easy != NULL) {
		fetch_loop_remove(fetch_loop, f->easy);
		curl_easy_cleanup(f->easy);
	}
	curl_slist_free_all(f->headers);
	free(f->json);
	free(f->body);
	free(f);
}

/* Hands the transfers libcurl has finished to the loop's callback. */
static void
fetch_loop_read_done(struct fetch_loop *l)
{
	CURLMsg	*msg;
	char	*priv;
	int	 left;

	while ((msg = curl_multi_info_read(l->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		curl_multi_remove_handle(l->multi, msg->easy_handle);
		l->done(msg->easy_handle, msg->data.result, priv);
	}
}

/* A request of the client finished: hand its result to the caller. */
static void
fetch_done(CURL *easy, CURLcode rc, void *priv)
{
	struct fetch		*f = priv;
	struct fetch_result	 res;

	memset(&res, 0, sizeof res);
	res.ok = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && f->truncated);
	res.truncated = f->truncated;
	if (res.ok)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &res.status);
	else
		res.error = f->errbuf[0] != '\0' ? f->errbuf :
		    curl_easy_strerror(rc);
	res.body = f->body != NULL ? f->body : "";
	res.len = f->len;
	f->done(&res, f->arg);
	fetch_free(f);
}

/* A watched socket is ready: tell libcurl (which may free fs). */
static void
fetch_sock_cb_locked(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_sock	*fs = arg;
	struct fetch_loop	*l = fs->loop;
	int			 action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(l->multi, fd, action, &running);
	fetch_loop_read_done(l);
}

WORKER_LOCKED_EVENT_CB(fetch_sock_cb)

/* libcurl's socket callback: watch fd for what it asks, or stop. */
static int
fetch_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct fetch_loop	*l = userp;
	struct fetch_sock	*fs = socketp;
	short			 events = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (fs != NULL) {
			TAILQ_REMOVE(&l->socks, fs, entry);
			event_free(fs->ev);
			free(fs);
		}
		return (0);
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (fs == NULL) {
		fs = xcalloc(1, sizeof *fs);
		fs->loop = l;
		fs->fd = fd;
		if ((fs->ev = event_new(l->base, fd, events, fetch_sock_cb,
		    fs)) == NULL)
			fatal("fetch: cannot watch a socket");
		TAILQ_INSERT_TAIL(&l->socks, fs, entry);
		curl_multi_assign(l->multi, fd, fs);
	} else {
		event_del(fs->ev);
		event_assign(fs->ev, l->base, fd, events, fetch_sock_cb, fs);
	}
	event_add(fs->ev, NULL);
	return (0);
}

/*
 * libcurl's timer callback: call it back in timeout_ms, or never (-1).
 * libcurl must not be called from here, so even 0 goes through the loop.
 */
static int
fetch_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct fetch_loop	*l = userp;
	struct timeval		 tv;

	if (timeout_ms < 0) {
		evtimer_del(l->timer);
		return (0);
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(l->timer, &tv);
	return (0);
}

/* libcurl's timer ran out. */
static void
fetch_curl_timer_cb_locked(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_loop	*l = arg;
	int			 running;

	curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	fetch_loop_read_done(l);
}

WORKER_LOCKED_EVENT_CB(fetch_curl_timer_cb)

/*
 * Keeps up to FETCH_MAXBODY bytes of a response body, and stops the
 * transfer past that: a peer sending without end must not keep the
 * client reading until the timeout.
 */
static size_t
fetch_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct fetch	*f = arg;
	size_t		 n = size * nmemb, keep;

	keep = n;
	if (f->len + keep > FETCH_MAXBODY) {
		keep = FETCH_MAXBODY - f->len;
		f->truncated = 1;
	}
	if (keep > 0) {
		f->body = xreallocarray(f->body, f->len + keep + 1, 1);
		memcpy(f->body + f->len, ptr, keep);
		f->len += keep;
		f->body[f->len] = '\0';
	}
	return (f->truncated ? 0 : n);
}

struct fetch_loop *
fetch_loop_new(struct event_base *base, fetch_loop_done_cb done)
{
	struct fetch_loop	*l;

	l = xcalloc(1, sizeof *l);
	l->base = base;
	l->done = done;
	TAILQ_INIT(&l->socks);
	if ((l->multi = curl_multi_init()) == NULL ||
	    (l->timer = evtimer_new(base, fetch_curl_timer_cb, l)) == NULL) {
		fetch_loop_free(l);
		return (NULL);
	}
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, fetch_socket_cb);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, (void *)l);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, fetch_timer_cb);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, (void *)l);
	return (l);
}

int
fetch_loop_add(struct fetch_loop *l, CURL *easy)
{
	return (curl_multi_add_handle(l->multi, easy) == CURLM_OK ? 0 : -1);
}

void
fetch_loop_remove(struct fetch_loop *l, CURL *easy)
{
	curl_multi_remove_handle(l->multi, easy);
}

void
fetch_loop_free(struct fetch_loop *l)
{
	struct fetch_sock	*fs;

	if (l == NULL)
		return;
	if (l->multi != NULL)
		curl_multi_cleanup(l->multi);
	while ((fs = TAILQ_FIRST(&l->socks)) != NULL) {
		TAILQ_REMOVE(&l->socks, fs, entry);
		event_free(fs->ev);
		free(fs);
	}
	if (l->timer != NULL)
		event_free(l->timer);
	free(l);
}

int
fetch_init(struct event_base *base)
{
	if ((fetch_loop = fetch_loop_new(base, fetch_done)) == NULL)
		return (-1);
	return (0);
}

struct fetch *
fetch_start(const char *url, const char *json, long timeout_ms,
    fetch_done_cb done, void *arg)
{
	struct fetch	*f;
	CURLcode	 rc = CURLE_OK;

	if (fetch_loop == NULL)
		return (NULL);
	f = xcalloc(1, sizeof *f);
	f->done = done;
	f->arg = arg;
	TAILQ_INSERT_TAIL(&fetch_list, f, entry);
	if ((f->easy = curl_easy_init()) == NULL)
		goto fail;
#define SET(opt, val)	if (rc == CURLE_OK) rc = curl_easy_setopt(f->easy, \
			    opt, val)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PRIVATE, (void *)f);
	SET(CURLOPT_ERRORBUFFER, f->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_USERAGENT, "cutover/" PACKAGE_VERSION);
	SET(CURLOPT_WRITEFUNCTION, fetch_write_cb);
	SET(CURLOPT_WRITEDATA, (void *)f);
	if (json != NULL) {
		f->json = xstrdup(json);
		f->headers = curl_slist_append(NULL,
		    "Content-Type: application/json");
		/*
		 * No "Expect: 100-continue", which libcurl adds to large
		 * bodies (past 1 MiB in 7.88, so no event of ours today): a
		 * receiver that never sends 100 would hold each event up to
		 * a second.
		 */
		if (f->headers == NULL ||
		    curl_slist_append(f->headers, "Expect:") == NULL)
			goto fail;
		SET(CURLOPT_HTTPHEADER, f->headers);
		SET(CURLOPT_POSTFIELDS, f->json);
		SET(CURLOPT_POSTFIELDSIZE, (long)strlen(f->json));
	} else
		SET(CURLOPT_HTTPGET, 1L);
#undef SET
	if (rc != CURLE_OK || fetch_loop_add(fetch_loop, f->easy) == -1)
		goto fail;
	return (f);
fail:
	log_warn("fetch %s: cannot start: %s", url, rc != CURLE_OK ?
	    curl_easy_strerror(rc) : "libcurl refused");
	fetch_free(f);
	return (NULL);
}

void
fetch_cancel(struct fetch *f)
{
	fetch_free(f);
}

void
fetch_clear(void)
{
	struct fetch	*f;

	while ((f = TAILQ_FIRST(&fetch_list)) != NULL)
		fetch_free(f);
	fetch_loop_free(fetch_loop);
	fetch_loop = NULL;
}
