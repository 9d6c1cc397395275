/*
 * Connections to upstream servers: opening them, and keeping up to the
 * pool's `keepalive` idle ones per server for reuse.
 */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <sys/queue.h>
#include <stdint.h>

struct bufferevent;
struct conf;
struct event_base;
struct server;

/* One connection to a server; owned by its session, or idle by its list. */
struct upstream_conn {
	struct bufferevent		*bev;
	struct server			*server;
	int				 reused;	/* came from the idle list */
	int				 tls;		/* speaks TLS */
	uint64_t			 requests;	/* requests it carried */
	TAILQ_ENTRY(upstream_conn)	 entry;
};

/*
 * Returns an idle connection to s (unless fresh is set), or a new one
 * still connecting (the caller sees BEV_EVENT_CONNECTED or an error) with
 * the read high and write low watermarks given.  NULL when no socket could
 * be made.  The caller sets the callbacks.
 */
struct upstream_conn	*upstream_get(struct event_base *, struct server *,
			    size_t rhigh, size_t wlow, int fresh);
/* Keeps a clean connection idle for reuse, or frees it; takes ownership. */
void			 upstream_put(struct upstream_conn *);
/* Closes and frees a connection. */
void			 upstream_free(struct upstream_conn *);
/* Returns the number of idle connections to s, on all workers. */
unsigned		 upstream_idle_count(const struct server *);
/* Closes every idle connection to s, on all workers (main thread). */
void			 upstream_server_clear(struct server *);
/* Closes the calling worker's idle connections to s. */
void			 upstream_server_clear_mine(struct server *);
/* ... and those to every server of a generation. */
void			 upstream_conf_clear_mine(struct conf *);
/*
 * After a reload, on each worker: hands the calling worker's idle
 * connections to each server of old to its successor (same pool, name
 * and address), closes the others.
 */
void			 upstream_handover(struct conf *old);


#endif
