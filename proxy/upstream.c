/*
 * Connections to upstream servers.  A session borrows one for a request
 * and gives it back when the exchange ended cleanly (the whole request
 * sent, the whole response read, neither side asked to close).  Up to the
 * pool's `keepalive` idle connections per server wait in a list; an idle
 * one that the server closes, or that receives bytes nobody asked for, is
 * freed at once, and one idle for response_timeout is closed.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "conf.h"
#include "log.h"
#include "sockread.h"
#include "tls.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

/*
 * The idle connections of one server on one worker.  server->idle holds
 * one per worker, since a connection belongs to one worker's loop; it
 * is made on first use and freed with the server.  With several workers
 * the lists are read and changed under the worker lock only.
 */
struct upstream_idle {
	TAILQ_HEAD(, upstream_conn)	 conns;
	unsigned			 n;
};

/* The calling worker's idle list of s; NULL when s never had one. */
static struct upstream_idle *
upstream_idle_mine(const struct server *s)
{
	struct upstream_idle	*all = s->idle;

	return (all != NULL ? &all[worker_self->id] : NULL);
}

static struct upstream_idle *
upstream_idle_of(struct server *s)
{
	struct upstream_idle	*all;
	int			 i, n = worker_count();

	if ((all = s->idle) == NULL) {
		all = xcalloc(n, sizeof *all);
		for (i = 0; i < n; i++)
			TAILQ_INIT(&all[i].conns);
		s->idle = all;
	}
	return (&all[worker_self->id]);
}

/* Removes c from its server's idle list. */
static void
upstream_idle_del(struct upstream_conn *c)
{
	struct upstream_idle	*ui = upstream_idle_mine(c->server);

	TAILQ_REMOVE(&ui->conns, c, entry);
	ui->n--;
}

/* An idle connection became readable, closed or timed out: drop it. */
static void
upstream_idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct upstream_conn	*c = arg;

	log_debug("pool %s: server %s: idle connection closed (%s)",
	    c->server->pool->name, c->server->name,
	    (what & BEV_EVENT_TIMEOUT) ? "timeout" :
	    (what & BEV_EVENT_EOF) ? "closed by server" : "error");
	worker_lock();
	upstream_idle_del(c);
	worker_unlock();
	upstream_free(c);
}

static void
upstream_idle_read_cb(struct bufferevent *bev, void *arg)
{
	struct upstream_conn	*c = arg;

	log_debug("pool %s: server %s: idle connection sent unexpected data",
	    c->server->pool->name, c->server->name);
	worker_lock();
	upstream_idle_del(c);
	worker_unlock();
	upstream_free(c);
}

struct upstream_conn *
upstream_get(struct event_base *base, struct server *s, size_t rhigh,
    size_t wlow, int fresh)
{
	struct upstream_idle	*ui;
	struct upstream_conn	*c = NULL;
	struct bufferevent	*bev = NULL;
	struct timeval		 tv;
	void			*resume;
	int			 fd = -1, one = 1, tls = s->pool->tls_ctx != NULL;

	if (!fresh) {
		worker_lock();
		if ((ui = upstream_idle_mine(s)) != NULL &&
		    (c = TAILQ_FIRST(&ui->conns)) != NULL)
			upstream_idle_del(c);
		worker_unlock();
	}
	if (c != NULL) {
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
		c->reused = 1;
		return (c);
	}

	fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (s->addr.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (tls) {
		worker_lock();
		resume = tls_session_ref(s->tls_session);
		worker_unlock();
		bev = tls_connect_new(base, s->pool->tls_ctx, fd,
		    (struct sockaddr *)&s->addr, s->addrlen, s->host,
		    s->pool->tls_sni, s->pool->tls_verify, resume);
	} else
		bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		goto fail;
	fd = -1;
	/*
	 * Set once for the connection's life, busy or idle: re-arming them
	 * per request costs more than the requests themselves.
	 */
	tv.tv_sec = s->pool->response_timeout / 1000;
	tv.tv_usec = (s->pool->response_timeout % 1000) * 1000;
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_setwatermark(bev, EV_WRITE, wlow, 0);
	/* A TLS connection is connecting already, with events of its own. */
	if (tls)
		bufferevent_setwatermark(bev, EV_READ, 0, rhigh);
	else {
		if (bufferevent_socket_connect(bev,
		    (struct sockaddr *)&s->addr, (int)s->addrlen) == -1)
			goto fail;
		/* After the connect, which assigns the events anew. */
		sockread_install(bev, rhigh);
	}
	c = xcalloc(1, sizeof *c);
	c->bev = bev;
	c->server = s;
	c->tls = tls;
	return (c);
fail:
	log_warn("pool %s: server %s: cannot connect: %s", s->pool->name,
	    s->name, strerror(errno));
	if (bev != NULL)
		tls_free(bev);
	if (fd != -1)
		close(fd);
	return (NULL);
}

void
upstream_put(struct upstream_conn *c)
{
	struct server		*s = c->server;
	struct upstream_idle	*ui;

	if (s->pool->keepalive <= 0 ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) != 0) {
		upstream_free(c);
		return;
	}
	worker_lock();
	/* A server of a replaced generation keeps no idle list to leak. */
	if (s->retired ||
	    (ui = upstream_idle_of(s))->n >= (unsigned)s->pool->keepalive) {
		worker_unlock();
		upstream_free(c);
		return;
	}
	TAILQ_INSERT_HEAD(&ui->conns, c, entry);
	ui->n++;
	if (c->tls)
		tls_session_keep(c->bev, &s->tls_session);
	worker_unlock();
	bufferevent_setcb(c->bev, upstream_idle_read_cb, NULL,
	    upstream_idle_event_cb, c);
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_enable(c->bev, EV_READ);
}

void
upstream_free(struct upstream_conn *c)
{
	if (c == NULL)
		return;
	/* Its TLS session, if it ended well, makes the next connect cheaper. */
	if (c->tls) {
		worker_lock();
		tls_session_keep(c->bev, &c->server->tls_session);
		worker_unlock();
	}
	tls_free(c->bev);
	free(c);
}

unsigned
upstream_idle_count(const struct server *s)
{
	const struct upstream_idle	*all = s->idle;
	unsigned			 n = 0;
	int				 i;

	if (all != NULL)
		for (i = 0; i < worker_count(); i++)
			n += all[i].n;
	return (n);
}

void
upstream_server_clear_mine(struct server *s)
{
	struct upstream_idle	*ui = upstream_idle_mine(s);
	struct upstream_conn	*c;

	if (ui == NULL)
		return;
	while ((c = TAILQ_FIRST(&ui->conns)) != NULL) {
		upstream_idle_del(c);
		upstream_free(c);
	}
}

void
upstream_server_clear(struct server *s)
{
	upstream_server_clear_mine(s);
	worker_clear_server(s);
}

void
upstream_handover(struct conf *old)
{
	struct upstream_idle	*ui;
	struct upstream_conn	*c;
	struct server		*s;
	size_t			 i, j;

	for (i = 0; i < old->npools; i++) {
		for (j = 0; j < old->pools[i]->nservers; j++) {
			s = old->pools[i]->servers[j];
			if (s->successor != NULL &&
			    (ui = upstream_idle_mine(s)) != NULL) {
				while ((c = TAILQ_FIRST(&ui->conns)) != NULL) {
					upstream_idle_del(c);
					/*
					 * The reload read tls_ca and the
					 * other TLS keys anew: a TLS
					 * connection is checked again.
					 */
					if (c->tls ||
					    s->successor->pool->tls_ctx != NULL) {
						upstream_free(c);
						continue;
					}
					c->server = s->successor;
					upstream_put(c);
				}
			}
			upstream_server_clear_mine(s);
		}
	}
}

void
upstream_conf_clear_mine(struct conf *conf)
{
	size_t	i, j;

	for (i = 0; i < conf->npools; i++)
		for (j = 0; j < conf->pools[i]->nservers; j++)
			upstream_server_clear_mine(conf->pools[i]->servers[j]);
}
