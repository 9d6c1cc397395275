/*
 * The status endpoint on status_listen: /live, /ready, /metrics, /status
 * (an HTML page) and /status.json, served on the main event loop.
 */
#ifndef STATUS_H
#define STATUS_H

struct conf;
struct conf_errors;
struct event_base;
struct evbuffer;

/* Opens the endpoint of conf->status_listen (none when off); -1 logged. */
int	 status_start(struct event_base *, const struct conf *);
/*
 * Before a reload applies conf: opens its endpoint when status_listen
 * moved; -1 with the reason in errs when the address cannot be bound.
 */
int	 status_prepare(struct event_base *, const struct conf *old,
	    const struct conf *, struct conf_errors *);
/* Closes what status_prepare() opened, for a reload refused after it. */
void	 status_abort(void);
/*
 * Follows a reload: moves the endpoint when status_listen changed, and
 * keeps the old one when the new address cannot be bound; -1 logged then.
 */
int	 status_reload(struct event_base *, const struct conf *);
/* Appends the JSON document of /status.json to buf. */
void	 status_render_json(struct evbuffer *buf);
/* Appends the HTML page of /status to buf. */
void	 status_render_html(struct evbuffer *buf);
/* Closes the endpoint and its connections (at exit). */
void	 status_stop(void);

#endif
