/*
 * The control plane's HTTP client: rollout webhooks and Prometheus
 * queries.  It drives its own libcurl multi handle from the event loop in
 * the way health.c does (libcurl's socket callback says which sockets to
 * watch, its timer callback when to call back, and each libevent callback
 * hands the event to curl_multi_socket_action()), but on a handle of its
 * own, so that a slow webhook never shares a queue with health checks.
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
#include "xmalloc.h"

#define FETCH_MAXBODY	(64 * 1024)

/* One request in flight; owned by the fetch list. */
struct fetch {
	CURL			*easy;
	struct curl_slist	*headers;
	char			*json;		/* the POST body */
	char			*body;		/* the response, bounded */
	size_t			 len;
	fetch_done_cb		 done;
	void			*arg;
	char			 errbuf[CURL_ERROR_SIZE];
	TAILQ_ENTRY(fetch)	 entry;
};

/* A socket libcurl asked us to watch; owned by the client. */
struct fetch_sock {
	curl_socket_t			 fd;
	struct event			*ev;
	TAILQ_ENTRY(fetch_sock)		 entry;
};

static void	fetch_sock_cb(evutil_socket_t, short, void *);

static struct event_base		*fetch_base;
static CURLM				*fetch_multi;
static struct event			*fetch_timer;
static TAILQ_HEAD(, fetch)		 fetch_list =
    TAILQ_HEAD_INITIALIZER(fetch_list);
static TAILQ_HEAD(, fetch_sock)		 fetch_socks =
    TAILQ_HEAD_INITIALIZER(fetch_socks);

/* Frees a fetch taken out of the multi handle. */
static void
fetch_free(struct fetch *f)
{
	TAILQ_REMOVE(&fetch_list, f, entry);
	if (f->easy != NULL) {
		curl_multi_remove_handle(fetch_multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	curl_slist_free_all(f->headers);
	free(f->json);
	free(f->body);
	free(f);
}

/* Hands the requests libcurl has finished to their callbacks. */
static void
fetch_read_done(void)
{
	struct fetch_result	 res;
	struct fetch		*f;
	CURLMsg			*msg;
	char			*priv;
	int			 left;

	while ((msg = curl_multi_info_read(fetch_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		f = (struct fetch *)(void *)priv;
		memset(&res, 0, sizeof res);
		res.ok = msg->data.result == CURLE_OK;
		if (res.ok)
			curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE,
			    &res.status);
		else
			res.error = f->errbuf[0] != '\0' ? f->errbuf :
			    curl_easy_strerror(msg->data.result);
		res.body = f->body != NULL ? f->body : "";
		res.len = f->len;
		curl_multi_remove_handle(fetch_multi, f->easy);
		f->done(&res, f->arg);
		fetch_free(f);
	}
}

/* A watched socket is ready: tell libcurl (which may free fs). */
static void
fetch_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	int	action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(fetch_multi, fd, action, &running);
	fetch_read_done();
}

/* libcurl's socket callback: watch fd for what it asks, or stop. */
static int
fetch_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct fetch_sock	*fs = socketp;
	short			 events = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (fs != NULL) {
			TAILQ_REMOVE(&fetch_socks, fs, entry);
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
		fs->fd = fd;
		if ((fs->ev = event_new(fetch_base, fd, events, fetch_sock_cb,
		    fs)) == NULL)
			fatal("fetch: cannot watch a socket");
		TAILQ_INSERT_TAIL(&fetch_socks, fs, entry);
		curl_multi_assign(fetch_multi, fd, fs);
	} else {
		event_del(fs->ev);
		event_assign(fs->ev, fetch_base, fd, events, fetch_sock_cb,
		    fs);
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
	struct timeval	tv;

	if (timeout_ms < 0) {
		evtimer_del(fetch_timer);
		return (0);
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(fetch_timer, &tv);
	return (0);
}

/* libcurl's timer ran out. */
static void
fetch_curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	int	running;

	curl_multi_socket_action(fetch_multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	fetch_read_done();
}

/* Keeps up to FETCH_MAXBODY bytes of a response body. */
static size_t
fetch_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct fetch	*f = arg;
	size_t		 n = size * nmemb, keep;

	keep = n;
	if (f->len + keep > FETCH_MAXBODY)
		keep = FETCH_MAXBODY - f->len;
	if (keep > 0) {
		f->body = xreallocarray(f->body, f->len + keep + 1, 1);
		memcpy(f->body + f->len, ptr, keep);
		f->len += keep;
		f->body[f->len] = '\0';
	}
	return (n);
}

int
fetch_init(struct event_base *base)
{
	fetch_base = base;
	if ((fetch_multi = curl_multi_init()) == NULL)
		return (-1);
	if ((fetch_timer = evtimer_new(base, fetch_curl_timer_cb,
	    NULL)) == NULL)
		return (-1);
	curl_multi_setopt(fetch_multi, CURLMOPT_SOCKETFUNCTION,
	    fetch_socket_cb);
	curl_multi_setopt(fetch_multi, CURLMOPT_TIMERFUNCTION,
	    fetch_timer_cb);
	return (0);
}

struct fetch *
fetch_start(const char *url, const char *json, long timeout_ms,
    fetch_done_cb done, void *arg)
{
	struct fetch	*f;
	CURLcode	 rc = CURLE_OK;

	if (fetch_multi == NULL)
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
		if (f->headers == NULL)
			goto fail;
		SET(CURLOPT_HTTPHEADER, f->headers);
		SET(CURLOPT_POSTFIELDS, f->json);
		SET(CURLOPT_POSTFIELDSIZE, (long)strlen(f->json));
	} else
		SET(CURLOPT_HTTPGET, 1L);
#undef SET
	if (rc != CURLE_OK ||
	    curl_multi_add_handle(fetch_multi, f->easy) != CURLM_OK)
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
	struct fetch		*f;
	struct fetch_sock	*fs;

	while ((f = TAILQ_FIRST(&fetch_list)) != NULL)
		fetch_free(f);
	if (fetch_multi != NULL)
		curl_multi_cleanup(fetch_multi);
	fetch_multi = NULL;
	while ((fs = TAILQ_FIRST(&fetch_socks)) != NULL) {
		TAILQ_REMOVE(&fetch_socks, fs, entry);
		event_free(fs->ev);
		free(fs);
	}
	if (fetch_timer != NULL)
		event_free(fetch_timer);
	fetch_timer = NULL;
}
