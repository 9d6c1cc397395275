/*
 * Outgoing HTTP requests of the control plane (rollout webhooks, queries
 * to Prometheus) on libcurl's multi interface, driven by the event loop:
 * they never block the loop nor wait on one another.
 */
#ifndef FETCH_H
#define FETCH_H

#include <stddef.h>

#include <curl/curl.h>

struct event_base;
struct fetch;
struct fetch_loop;

/* Called when a transfer of a loop ends, with its CURLOPT_PRIVATE. */
typedef void	(*fetch_loop_done_cb)(CURL *, CURLcode, void *);

/* Makes a multi handle driven by the event loop; NULL on failure. */
struct fetch_loop *fetch_loop_new(struct event_base *, fetch_loop_done_cb);
/* Starts a prepared easy handle on the loop; -1 when libcurl refuses. */
int		 fetch_loop_add(struct fetch_loop *, CURL *);
/* Takes an easy handle off the loop (a finished one is off already). */
void		 fetch_loop_remove(struct fetch_loop *, CURL *);
/* Frees the loop; its easy handles must be off it. */
void		 fetch_loop_free(struct fetch_loop *);

/* What a finished request got. */
struct fetch_result {
	int		 ok;		/* a response came, of any status */
	long		 status;	/* 0 without a response */
	const char	*body;		/* NUL-terminated, at most 64k kept */
	size_t		 len;
	int		 truncated;	/* the body was longer: cut, unread */
	const char	*error;		/* why there is no response */
};

/* Called once with the result; the fetch is freed when it returns. */
typedef void	(*fetch_done_cb)(const struct fetch_result *, void *);

/* Sets the client up on the event loop; -1 when libcurl cannot start. */
int		 fetch_init(struct event_base *);
/*
 * Starts a GET of url, or a POST of json when json is not NULL, within
 * timeout_ms.  NULL, with done not called, when it cannot start.
 */
struct fetch	*fetch_start(const char *url, const char *json,
		    long timeout_ms, fetch_done_cb done, void *arg);
/* Stops a fetch in flight without calling its callback, and frees it. */
void		 fetch_cancel(struct fetch *);
/* Cancels every fetch and frees the client (at exit). */
void		 fetch_clear(void);

#endif
