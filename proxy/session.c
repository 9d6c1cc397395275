/*
 * The data path.  A session owns one client connection and, while a
 * request is under way, one borrowed upstream connection.  It reads a
 * request head, picks the route, pool and server, writes a cleaned head
 * upstream and then streams both bodies at once, each direction bounded:
 * bytes move from a source's input to a destination's output only while
 * that output is below RELAY_HIGH, and the source's read watermark stops
 * the socket reads meanwhile.  Requests are handled one at a time, so
 * pipelined requests wait in the client's input and are answered in order.
 *
 * A keep-alive connection idle between requests for IDLE_REDUCE_MS is
 * reduced to a struct session_idle: its bufferevent, buffers and timer are
 * freed and only the socket, the peer, the TLS state of a TLS one and a
 * plain event with what is left of keepalive_timeout stay.  The client's
 * next bytes build a new session that reads them.
 *
 * Functions that may close the session return -1 after doing so; their
 * callers return at once without touching it.
 */
#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "balancer.h"
#include "conf.h"
#include "cutover.h"
#include "http_parse.h"
#include "json.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "route.h"
#include "session.h"
#include "sockread.h"
#include "tls.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

#define RELAY_HIGH	(64 * 1024)	/* output bytes before reads stop */
#define RELAY_LOW	(16 * 1024)	/* output bytes before they resume */
#define LINGER_MS	5000		/* flushing a last answer; lingering */
#define FLUSH_ROUNDS	16		/* direct write rounds per event */
#define STICKY_MAX_AGE	(30 * 86400)
#define SESSION_MAX_TRIED 11		/* attempts: retries is 10 at most */

/*
 * Idle time after which a keep-alive connection between requests gives
 * back all it holds but its socket: about 1.6 KiB of session, bufferevent,
 * evbuffers and timer, against some 200 bytes reduced.  A busy client's
 * next request comes far sooner, so its session stays whole and the
 * request path allocates nothing; a connection idle this long pays some
 * 10,000 instructions, a peek and one more trip through the loop (no
 * epoll_ctl) when its next request wakes it.  Short, because freed memory
 * is reused but mostly not returned to the system (only whole free pages
 * are, see the parsed heads below): the connections answered within the
 * last IDLE_REDUCE_MS are whole at once, and the peak of a burst of them
 * stays in the RSS.
 */
#define IDLE_REDUCE_MS	20

/*
 * How long a new connection's client goes unwatched while its first
 * request waits for the server (session_first_read()): most answers
 * come sooner, and the connection then never needs a read event.
 */
#define WATCH_MS	100

enum session_state {
	SESSION_READ_HEAD,	/* waiting for a request head */
	SESSION_CONNECTING,	/* connecting to the server */
	SESSION_PROXYING,	/* request and response under way */
	SESSION_TUNNEL,		/* after a 101: raw bytes both ways */
	SESSION_CLOSING		/* flushing the last answer, then close */
};

enum body_kind {
	BODY_NONE,
	BODY_LENGTH,		/* Content-Length */
	BODY_CHUNKED,
	BODY_CLOSE		/* until the server closes */
};

enum timer_kind {
	TIMER_NONE,
	TIMER_IDLE,		/* keepalive_timeout between requests */
	TIMER_REDUCE,		/* its first IDLE_REDUCE_MS, then reduce */
	TIMER_HEADER,		/* client_header_timeout */
	TIMER_CONNECT,		/* connect_timeout */
	TIMER_RESPONSE,		/* response_timeout to the first byte */
	TIMER_WATCH,		/* WATCH_MS of one of those two, then watch the
				   client (session_first_read()) */
	TIMER_LINGER		/* flushing before close */
};

union session_peer {
	struct sockaddr		sa;
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;
};

/* One client connection; owned by the session list. */
struct session {
	TAILQ_ENTRY(session)	 entry;
	struct event_base	*base;
	struct bufferevent	*cbev;		/* the client */
	struct upstream_conn	*up;		/* borrowed for a request */
	struct event		 timer;		/* embedded */
	enum timer_kind		 timer_kind;
	long			 idle_left;	/* keepalive_timeout, or what
						   watch_kind has left, ms */
	enum timer_kind		 watch_kind;	/* TIMER_WATCH stands for */
	enum session_state	 state;
	const char		*listener;	/* interned by listener.c */
	union session_peer	 peer;
	char			 peer_ip[INET6_ADDRSTRLEN];
	unsigned		 nrequests;

	/* The request under way. */
	struct conf		*conf;		/* the generation it started on */
	struct listener_conf	*lc;
	struct route		*route;
	struct pool		*pool;
	struct server		*server;
	struct route_pick	 pick;
	int			 attempts;
	int			 fresh_retry;
	/* The servers picked for the request: retries go to others. */
	const struct server	*tried[SESSION_MAX_TRIED];
	size_t			 ntried;
	struct http_msg		*req;		/* from the free list while busy */
	struct http_msg		*resp;
	struct http_chunked	 req_chunk;
	struct http_chunked	 resp_chunk;
	enum body_kind		 req_body;
	enum body_kind		 resp_body;
	uint64_t		 req_left;
	uint64_t		 resp_left;
	uint64_t		 req_bytes;	/* body bytes received */
	uint64_t		 bytes_out;	/* bytes sent to the client */
	int			 status;	/* status sent to the client */
	uint64_t		 t_start;
	uint64_t		 t_upstream;
	uint64_t		 t_first_byte;
	char			*logreq;	/* request facts for the access log */
	size_t			 logreq_cap;	/* its size; kept */
	enum metrics_outcome	 outcome;
	unsigned		 logged:1;		/* counted and logged */
	unsigned		 head_in_input:1;
	unsigned		 head_sent:1;
	unsigned		 req_done:1;
	unsigned		 resp_started:1;	/* bytes came from upstream */
	unsigned		 resp_head_done:1;
	unsigned		 resp_head_sent:1;	/* head went to the client */
	unsigned		 resp_done:1;
	unsigned		 resp_out_chunked:1;
	unsigned		 counted:1;		/* pool_server_begin() ran */
	unsigned		 keepalive:1;		/* client connection stays */
	unsigned		 up_keepalive:1;
	unsigned		 is_head:1;
	unsigned		 upgrade:1;
	unsigned		 client_eof:1;
	unsigned		 up_eof:1;		/* the server closed */
	unsigned		 up_err:1;		/* ... with an error */
	unsigned		 close_after:1;		/* shutdown: close when done */
	unsigned		 tls:1;			/* the client speaks TLS */
	unsigned		 forwarded:1;	/* its listener's forwarded_headers */
	unsigned		 read_later:1;	/* read event not added yet */
};

/*
 * A client connection idle between requests, reduced to what its next
 * request needs; owned by its worker's idle list, where it counts as an
 * idle session.  The event is embedded so that one small allocation is
 * all an idle connection holds.
 */
struct session_idle {
	TAILQ_ENTRY(session_idle) entry;
	struct event		 ev;		/* readable, or time is up */
	const char		*listener;
	union session_peer	 peer;
	unsigned		 nrequests:30;
	unsigned		 forwarded:1;	/* as struct session's */
	unsigned		 draining:1;	/* session_shut()'s */
	uint64_t		 deadline;	/* keepalive_timeout ends, us */
	void			*tls;		/* tls_detach()'s; NULL: plain */
};

/* The calling worker's sessions; TAILQ_INIT'ed by its first one. */
static _Thread_local TAILQ_HEAD(session_list, session) sessions;
/* The session session_first_read() reads; NULL once it is freed. */
static _Thread_local struct session	*session_first;
/* ... and its reduced ones, the same way. */
static _Thread_local TAILQ_HEAD(session_idle_list, session_idle)
    idle_sessions;

/*
 * Parsed heads are big (offsets of up to HTTP_MAX_HEADERS headers) and
 * needed only while a request is under way, so an idle keep-alive
 * connection holds none: they come from this free list.  The list grows
 * to the peak of requests under way at once; so that a burst does not
 * stay in the RSS for the process's life, each MSG_TRIM_MS the entries
 * no request took over that time are freed, down to MSG_KEEP, and when
 * that gave back many, malloc_trim() returns the pages left free (by
 * them and by the sessions of the burst, reduced since) to the system.
 * Steady traffic takes the same entries over and over and loses none.
 */
#define MSG_CACHE	1024
#define MSG_KEEP	32		/* entries never trimmed */
#define MSG_TRIM_MS	500
#define MSG_TRIM_PAGES	64		/* entries freed that call for a trim */
static const struct timeval msg_trim_tv = {
	MSG_TRIM_MS / 1000, MSG_TRIM_MS % 1000 * 1000
};
static _Thread_local struct http_msg	*msg_cache[MSG_CACHE];
/* Read by show info on another thread (session_cached_heads()). */
static _Thread_local unsigned		 msg_ncache;
static _Thread_local unsigned		 msg_low;	/* fewest since a trim */
static _Thread_local struct event	*msg_trim_ev;	/* NULL: not armed */

/* How soon a line in the access log's buffer is written (log.c). */
#define ACCESS_FLUSH_MS	1000
static const struct timeval access_flush_tv = {
	ACCESS_FLUSH_MS / 1000, ACCESS_FLUSH_MS % 1000 * 1000
};
static _Thread_local struct event	*access_flush_ev;

const unsigned *
session_cached_heads(void)
{
	return (&msg_ncache);
}

/* Sets the count of the list; others read it (session_cached_heads()). */
static void
session_msg_count(unsigned n)
{
	__atomic_store_n(&msg_ncache, n, __ATOMIC_RELAXED);
}

static void
session_msg_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	unsigned	n = 0;

	while (msg_low > MSG_KEEP && msg_ncache > MSG_KEEP) {
		free(msg_cache[msg_ncache - 1]);
		session_msg_count(msg_ncache - 1);
		msg_low--;
		n++;
	}
	if (n >= MSG_TRIM_PAGES)
		malloc_trim(0);
	msg_low = msg_ncache;
	if (msg_ncache > MSG_KEEP)
		evtimer_add(msg_trim_ev, &msg_trim_tv);
	else {
		event_free(msg_trim_ev);
		msg_trim_ev = NULL;
	}
}

/* Takes a parsed-head struct from the free list, initialised. */
static struct http_msg *
session_msg_get(int is_request)
{
	struct http_msg	*m;

	if (msg_ncache > 0) {
		m = msg_cache[msg_ncache - 1];
		session_msg_count(msg_ncache - 1);
		if (msg_ncache < msg_low)
			msg_low = msg_ncache;
	} else
		m = xmalloc(sizeof *m);
	http_msg_init(m, is_request);
	return (m);
}

/* Gives a parsed-head struct back; NULL is fine. */
static void
session_msg_put(struct http_msg *m)
{
	if (m == NULL)
		return;
	if (msg_ncache == MSG_CACHE) {
		free(m);
		return;
	}
	msg_cache[msg_ncache] = m;
	session_msg_count(msg_ncache + 1);
	if (msg_ncache > MSG_KEEP && msg_trim_ev == NULL) {
		/* Without a timer the list is not trimmed: nothing breaks. */
		if ((msg_trim_ev = evtimer_new(worker_self->base,
		    session_msg_trim_cb, NULL)) == NULL)
			return;
		msg_low = msg_ncache;
		evtimer_add(msg_trim_ev, &msg_trim_tv);
	}
}

static void	session_client_read_cb(struct bufferevent *, void *);
static void	session_client_write_cb(struct bufferevent *, void *);
static void	session_client_event_cb(struct bufferevent *, short, void *);
static void	session_up_read_cb(struct bufferevent *, void *);
static void	session_up_write_cb(struct bufferevent *, void *);
static void	session_up_event_cb(struct bufferevent *, short, void *);
static void	session_timer_cb(evutil_socket_t, short, void *);
static int	session_read_head(struct session *);
static int	session_connect(struct session *);
static int	session_pump_request(struct session *);
static int	session_pump_response(struct session *);
static int	session_pump_tunnel(struct session *);
static int	session_error(struct session *, int, const char *);
static int	session_up_gone(struct session *);
static void	session_access_log(struct session *);
static int	session_abort(struct session *, const char *);
static void	session_read_on(struct session *);
static int	session_check_first_chunk(struct session *);
static void	session_close(struct session *, const char *);
static void	session_cut_short(struct session *);
static void	session_shut(struct session *);
static void	session_drain_cb(evutil_socket_t, short, void *);
static struct session_idle *session_record(struct session *,
		    event_callback_fn, long);
static void	session_hand_over(struct session *, struct session_idle *);
static int	session_input_pending(struct session *);
static void	session_free(struct session *);
static void	session_gone(void);
static void	session_idle_cb(evutil_socket_t, short, void *);
static void	session_keepalive(struct session *, long);

static const char *
session_state_name(enum session_state st)
{
	switch (st) {
	case SESSION_READ_HEAD:
		return ("read-head");
	case SESSION_CONNECTING:
		return ("connecting");
	case SESSION_PROXYING:
		return ("proxying");
	case SESSION_TUNNEL:
		return ("tunnel");
	case SESSION_CLOSING:
		return ("closing");
	}
	return ("?");
}

/*
 * Where the figures of show info and cutover_connections count a session:
 * active while a request is under way, idle between requests of a
 * keep-alive connection, reading while a head is awaited or arriving.
 */
static unsigned *
session_bucket(enum session_state st, enum timer_kind tk)
{
	struct worker_counts	*c = &worker_self->counts;

	if (st != SESSION_READ_HEAD)
		return (&c->active);
	return (tk == TIMER_IDLE || tk == TIMER_REDUCE ? &c->idle :
	    &c->reading);
}

/* Moves s from one bucket to another as its state or timer changes. */
static void
session_recount(struct session *s, enum session_state st, enum timer_kind tk)
{
	unsigned	*from = session_bucket(s->state, s->timer_kind);
	unsigned	*to = session_bucket(st, tk);

	if (from != to) {
		worker_count_add(from, -1);
		worker_count_add(to, 1);
	}
}

/* Changes state, logging old -> new at debug level. */
static void
session_set_state(struct session *s, enum session_state st)
{
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("client %s: %s -> %s", s->peer_ip,
		    session_state_name(s->state), session_state_name(st));
	session_recount(s, st, s->timer_kind);
	s->state = st;
	/* Waits for the client: its read event is needed now. */
	if (st == SESSION_READ_HEAD || st == SESSION_TUNNEL)
		session_read_on(s);
}

/*
 * Arms the session's one timer for ms milliseconds with a meaning.  The
 * connect_timeout or response_timeout of a client not watched yet
 * (session_first_read()) stops after WATCH_MS to watch it.
 */
static void
session_timer(struct session *s, enum timer_kind kind, long ms)
{
	struct timeval	tv;

	if ((kind == TIMER_CONNECT || kind == TIMER_RESPONSE) &&
	    s->read_later && ms > WATCH_MS) {
		s->idle_left = ms - WATCH_MS;
		s->watch_kind = kind;
		kind = TIMER_WATCH;
		ms = WATCH_MS;
	}
	session_recount(s, s->state, kind);
	s->timer_kind = kind;
	if (kind == TIMER_NONE) {
		evtimer_del(&s->timer);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(&s->timer, &tv);
}

/*
 * Writes what bev's output holds at once.  EV_WRITE stays disabled while
 * the socket takes everything, so a request costs no epoll_ctl pair for
 * arming and disarming writability; libevent takes over (and the write
 * timeout runs) only when the socket is full.  A write error is left for
 * libevent to report through the event callback.  tls: bev speaks TLS.
 */
static void
session_flush(struct bufferevent *bev, int tls)
{
	struct evbuffer	*out = bufferevent_get_output(bev);

	if (evbuffer_get_length(out) == 0 ||
	    (bufferevent_get_enabled(bev) & EV_WRITE))
		return;
	if (tls) {
		tls_flush(bev);
		return;
	}
	/* A bufferevent keeps its output's start frozen to all but itself. */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) != 0)
		bufferevent_enable(bev, EV_WRITE);
}

/* Returns nonzero when bev's writes are left to libevent. */
static int
session_write_armed(struct bufferevent *bev)
{
	return ((bufferevent_get_enabled(bev) & EV_WRITE) != 0);
}

/*
 * Flushes both sides; called at the end of each event the session took.
 * A flush that empties an output is a write callback that will not come,
 * so bytes waiting on the other side are moved here; after a few rounds
 * the rest goes through libevent, which lets other sessions run.
 */
static void
session_flush_all(struct session *s)
{
	struct upstream_conn	*u;
	struct evbuffer		*in;
	size_t			 before;
	int			 round, progress;

	for (round = 0; ; round++) {
		if (round == FLUSH_ROUNDS) {
			if (evbuffer_get_length(bufferevent_get_output(s->cbev)))
				bufferevent_enable(s->cbev, EV_WRITE);
			if (s->up != NULL && evbuffer_get_length(
			    bufferevent_get_output(s->up->bev)))
				bufferevent_enable(s->up->bev, EV_WRITE);
			return;
		}
		session_flush(s->cbev, s->tls);
		if (s->up != NULL && s->state != SESSION_CONNECTING)
			session_flush(s->up->bev, s->up->tls);
		if (s->up == NULL || (s->state != SESSION_PROXYING &&
		    s->state != SESSION_TUNNEL))
			return;
		progress = 0;
		u = s->up;
		in = bufferevent_get_input(u->bev);
		if ((before = evbuffer_get_length(in)) > 0 &&
		    !session_write_armed(s->cbev)) {
			if (session_pump_response(s) == -1)
				return;
			/* The request may have ended: u may be gone. */
			if (s->up != u)
				continue;
			progress |= evbuffer_get_length(in) < before;
		}
		in = bufferevent_get_input(s->cbev);
		if ((before = evbuffer_get_length(in)) > 0 &&
		    (s->state == SESSION_TUNNEL || !s->req_done) &&
		    !session_write_armed(u->bev)) {
			if (s->state == SESSION_TUNNEL) {
				if (session_pump_tunnel(s) == -1)
					return;
			} else if (session_pump_request(s) == -1)
				return;
			if (s->up != u)
				continue;
			progress |= evbuffer_get_length(in) < before;
		}
		if (!progress)
			return;
	}
}

/* A write callback ran: with the output empty, libevent lets go again. */
static void
session_write_done(struct bufferevent *bev)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

/* Sets the client's read timeout (body gaps) and write timeout. */
static void
session_client_timeouts(struct session *s, int reading_body)
{
	struct timeval	rtv, wtv;
	long		ms = worker_self->conf->client_body_timeout;

	wtv.tv_sec = ms / 1000;
	wtv.tv_usec = (ms % 1000) * 1000;
	rtv = wtv;
	bufferevent_set_timeouts(s->cbev, reading_body ? &rtv : NULL, &wtv);
}

/*
 * Writes an IPv4 address in dotted decimal.  Every new connection makes
 * one, and inet_ntop() goes through sprintf(): some 1,700 instructions,
 * a twentieth of what a request on a connection of its own costs.
 */
static void
session_ipv4_text(const struct in_addr *in, char *buf, size_t size)
{
	const unsigned char	*b = (const unsigned char *)&in->s_addr;
	char			 t[INET_ADDRSTRLEN], *p = t;
	int			 i;

	for (i = 0; i < 4; i++) {
		if (b[i] >= 100)
			*p++ = '0' + b[i] / 100;
		if (b[i] >= 10)
			*p++ = '0' + b[i] / 10 % 10;
		*p++ = '0' + b[i] % 10;
		*p++ = i < 3 ? '.' : '\0';
	}
	if ((size_t)(p - t) <= size)
		memcpy(buf, t, p - t);
	else if (size > 0)
		buf[0] = '\0';
}

/* Writes a client's address as logs and X-Forwarded-For show it. */
static void
session_peer_text(const struct sockaddr *sa, char *buf, size_t size)
{
	if (sa->sa_family == AF_INET)
		session_ipv4_text(&((const struct sockaddr_in *)sa)->sin_addr,
		    buf, size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, size);
	else
		snprintf(buf, size, "unix");
}

/*
 * The [listener] of conf that a client connection belongs to: the one
 * named as the socket that accepted it was, or, when a reload renamed or
 * dropped that, the one that now binds the connection's local address.
 * NULL when none does: the connection goes on, taken only by routes that
 * name no listener.
 */
static struct listener_conf *
session_listener_of(const struct conf *conf, const char *name, int fd)
{
	struct listener_conf	*lc;
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof ss;

	if ((lc = conf_find_listener(conf, name)) != NULL)
		return (lc);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return (NULL);
	return (conf_find_listener_addr(conf, (struct sockaddr *)&ss));
}

/*
 * Sets up a session reading a request head on a client socket, its timer
 * armed as tk for ms; tls is the TLS state of a reduced idle connection
 * (tls_detach()), else NULL.  Returns NULL when it cannot; fd and tls
 * stay the caller's then, else the session owns them.
 */
static struct session *
session_start(struct event_base *base, int fd, const struct sockaddr *sa,
    int salen, const char *listener, void *tls, enum timer_kind tk, long ms)
{
	struct session		*s;
	struct listener_conf	*lc;
	size_t			 rhigh;

	s = xcalloc(1, sizeof *s);
	s->base = base;
	s->listener = listener;
	if ((size_t)salen <= sizeof s->peer)
		memcpy(&s->peer, sa, salen);
	session_peer_text(sa, s->peer_ip, sizeof s->peer_ip);
	/*
	 * A new connection speaks TLS if its listener does now; a reduced
	 * idle one (TIMER_IDLE) as it did, whatever a reload did since.
	 */
	lc = session_listener_of(worker_self->conf, listener, fd);
	s->forwarded = lc != NULL ? lc->forwarded_headers : 1;
	if (tls != NULL) {
		s->tls = 1;
		s->cbev = tls_attach(base, tls, fd);
	} else if (tk == TIMER_HEADER && lc != NULL && lc->tls_ctx != NULL) {
		s->tls = 1;
		s->cbev = tls_accept_new(base, lc->tls_ctx, fd);
	} else
		s->cbev = bufferevent_socket_new(base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (s->cbev == NULL) {
		log_error("client %s: cannot set up connection", s->peer_ip);
		free(s);
		return (NULL);
	}
	evtimer_assign(&s->timer, base, session_timer_cb, s);
	rhigh = worker_self->conf->max_header_size + 1;
	if (rhigh < RELAY_HIGH)
		rhigh = RELAY_HIGH;
	if (!s->tls)
		sockread_install(s->cbev, rhigh);
	else
		bufferevent_setwatermark(s->cbev, EV_READ, 0, rhigh);
	bufferevent_setwatermark(s->cbev, EV_WRITE, RELAY_LOW, 0);
	bufferevent_setcb(s->cbev, session_client_read_cb,
	    session_client_write_cb, session_client_event_cb, s);
	/* bufferevent_socket_new() enables EV_WRITE: flushes do that job. */
	bufferevent_disable(s->cbev, EV_WRITE);
	/* A new plain connection is read first (session_first_read()). */
	if (!s->tls && tk == TIMER_HEADER)
		s->read_later = 1;
	else
		bufferevent_enable(s->cbev, EV_READ);
	session_client_timeouts(s, 0);
	s->state = SESSION_READ_HEAD;
	s->timer_kind = tk;
	worker_count_add(session_bucket(s->state, s->timer_kind), 1);
	/*
	 * A TLS record may hold no request byte (a KeyUpdate), which no read
	 * callback tells of: a woken TLS connection is reduced again if
	 * nothing else comes.
	 */
	if (tls != NULL)
		session_keepalive(s, ms);
	else
		session_timer(s, tk, ms);
	if (sessions.tqh_last == NULL)
		TAILQ_INIT(&sessions);
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	worker_count_add(&worker_self->counts.sessions, 1);
	return (s);
}

/*
 * Adds the client's read event that a new connection went without so
 * far (session_first_read()).
 */
static void
session_read_on(struct session *s)
{
	if (!s->read_later)
		return;
	s->read_later = 0;
	bufferevent_enable(s->cbev, EV_READ);
}

/*
 * A plain connection just accepted is read at once: its request is
 * usually there already.  When that brought a whole request without a
 * body, the read event is added only once the session waits for the
 * client again, for its next request or in a tunnel
 * (session_set_state()), so that a connection that ends after one answer
 * costs no epoll_ctl() pair: the kernel forgets the socket at its close
 * without being told.  HAProxy reads its new connections so too.  The
 * client goes unwatched for WATCH_MS of the connect or of the wait for
 * the answer (TIMER_WATCH, which goes on when the answer starts): a
 * client that reset its connection meanwhile is noticed then, or at the
 * answer's write.
 */
static void
session_first_read(struct session *s)
{
	session_first = s;
	sockread_now(s->cbev);
	if (session_first == NULL)
		return;		/* closed */
	session_first = NULL;
	if (s->state == SESSION_READ_HEAD || s->req_body != BODY_NONE)
		session_read_on(s);
}

void
session_new(struct event_base *base, int fd, const struct sockaddr *sa,
    int salen, const char *listener)
{
	struct session	*s;

	if ((s = session_start(base, fd, sa, salen, listener, NULL,
	    TIMER_HEADER, worker_self->conf->client_header_timeout)) == NULL) {
		close(fd);
		session_gone();
		return;
	}
	if (s->read_later)
		session_first_read(s);
}

static void
session_resume_cb(void *arg)
{
	listener_resume_all();
}

/*
 * A client connection is gone: counts it off, lets the listeners accept
 * again below max_connections, and ends a graceful shutdown with the last
 * one.  Both of those belong to the main thread.
 */
static void
session_gone(void)
{
	unsigned	n;

	n = __atomic_sub_fetch(&cutover.connections, 1, __ATOMIC_SEQ_CST);
	if (listener_paused() &&
	    n < (unsigned)worker_self->conf->max_connections)
		worker_run_main(session_resume_cb, NULL);
	if (n == 0 && __atomic_load_n(&cutover.shutting_down,
	    __ATOMIC_ACQUIRE))
		worker_sessions_gone();
}

/* Ends the attempt on the current server with an outcome. */
static void
session_server_end(struct session *s, enum pool_outcome outcome)
{
	if (s->counted) {
		worker_lock();
		pool_server_end(s->server, outcome);
		worker_unlock();
		s->counted = 0;
	}
}

/* Drops the upstream connection: back to the idle list when clean. */
static void
session_release_upstream(struct session *s, int reusable)
{
	if (s->up == NULL)
		return;
	if (reusable) {
		s->up->requests++;
		upstream_put(s->up);
	} else
		upstream_free(s->up);
	s->up = NULL;
}

/* Forgets the request under way, keeping the connection. */
static void
session_reset_request(struct session *s)
{
	if (s->head_in_input) {
		evbuffer_drain(bufferevent_get_input(s->cbev),
		    s->req->head_len);
		s->head_in_input = 0;
	}
	session_msg_put(s->req);
	session_msg_put(s->resp);
	s->req = s->resp = NULL;
	if (s->conf != NULL)
		conf_unref(s->conf);
	s->conf = NULL;
	s->lc = NULL;
	s->route = NULL;
	s->pool = NULL;
	s->server = NULL;
	if (s->logreq != NULL)
		s->logreq[0] = '\0';	/* none: the buffer stays */
	s->attempts = 0;
	s->ntried = 0;
	s->fresh_retry = 0;
	s->req_bytes = s->bytes_out = 0;
	s->status = 0;
	s->outcome = METRICS_OK;
	s->logged = 0;
	s->t_start = 0;
	s->head_sent = s->req_done = s->resp_started = 0;
	s->resp_head_done = s->resp_head_sent = s->resp_done = 0;
	s->resp_out_chunked = s->up_keepalive = s->is_head = s->upgrade = 0;
	s->up_eof = 0;
}

/*
 * The one teardown: stops events, releases what the session took in
 * reverse order, logs why, frees it.
 */
static void
session_close(struct session *s, const char *reason)
{
	bufferevent_disable(s->cbev, EV_READ | EV_WRITE);
	evtimer_del(&s->timer);
	if (s->up != NULL) {
		/* Failures of the server ended the attempt already. */
		session_server_end(s, POOL_ABANDONED);
		session_release_upstream(s, 0);
	}
	session_server_end(s, POOL_ABANDONED);
	session_cut_short(s);
	if (s->conf != NULL && s->state != SESSION_TUNNEL &&
	    s->state != SESSION_CLOSING) {
		/* A request cut short: count what the client got. */
		if (s->status == 0)
			s->status = 499;
		else if (s->status < 500 && s->up_eof)
			s->outcome = METRICS_5XX;
		session_access_log(s);
	}
	log_debug("client %s: closed after %u requests: %s", s->peer_ip,
	    s->nrequests, reason);
	s->head_in_input = 0;
	session_reset_request(s);
	session_free(s);
	session_gone();
}

/*
 * A response cut short ends without close_notify, so that a TLS client
 * does not take it for whole; a no-op on a plain connection.
 */
static void
session_cut_short(struct session *s)
{
	if (s->resp_head_sent && !s->resp_done)
		tls_cut(s->cbev);
}

/* Frees a session that holds no request; its socket goes with cbev's. */
static void
session_free(struct session *s)
{
	if (s == session_first)
		session_first = NULL;
	evtimer_del(&s->timer);
	tls_free(s->cbev);
	free(s->logreq);
	TAILQ_REMOVE(&sessions, s, entry);
	worker_count_add(&worker_self->counts.sessions, -1);
	worker_count_add(session_bucket(s->state, s->timer_kind), -1);
	free(s);
}

/*
 * Waits ms (keepalive_timeout) for the next request, reducing the session
 * after IDLE_REDUCE_MS of it.
 */
static void
session_keepalive(struct session *s, long ms)
{
	if (ms > IDLE_REDUCE_MS) {
		s->idle_left = ms - IDLE_REDUCE_MS;
		session_timer(s, TIMER_REDUCE, IDLE_REDUCE_MS);
	} else
		session_timer(s, TIMER_IDLE, ms);
}

/* Whether the client's bytes wait in the session, or in OpenSSL for it. */
static int
session_input_held(struct session *s)
{
	return (evbuffer_get_length(bufferevent_get_input(s->cbev)) != 0 ||
	    (s->tls && tls_pending(s->cbev)));
}

/*
 * Reduces a session idle between requests to a struct session_idle that
 * keeps the socket, its TLS state and the rest of keepalive_timeout.
 * Called from the session's timer; the session is gone when it returns,
 * unless the last response is still leaving for a slow client, or OpenSSL
 * holds bytes of the next request, which is looked at again later.
 */
static void
session_reduce(struct session *s)
{
	struct session_idle	*i;
	int			 idle;

	/* Nothing under way, nothing waiting here or in OpenSSL. */
	idle = s->state == SESSION_READ_HEAD && s->req == NULL &&
	    !session_input_held(s) &&
	    evbuffer_get_length(bufferevent_get_output(s->cbev)) == 0;
	/*
	 * Shutting down: a session brought back by bytes that held no
	 * request (a TLS KeyUpdate) goes now.
	 */
	if (idle && s->close_after) {
		session_close(s, "shutting down");
		return;
	}
	if (!idle || s->client_eof) {
		session_keepalive(s, s->idle_left);
		return;
	}
	i = session_record(s, session_idle_cb, s->idle_left);
	i->forwarded = s->forwarded;
	if (s->tls && (i->tls = tls_detach(s->cbev)) == NULL) {
		event_del(&i->ev);
		free(i);
		session_keepalive(s, s->idle_left);
		return;
	}
	log_debug("client %s: idle after %u requests, reduced", s->peer_ip,
	    s->nrequests);
	session_hand_over(s, i);
}

/*
 * A record for s's socket, watched by cb for ms; what s is made of goes
 * with session_hand_over().  The event watches the socket before the
 * bufferevent lets go of it, so that epoll is not told to drop the
 * socket and take it back.
 */
static struct session_idle *
session_record(struct session *s, event_callback_fn cb, long ms)
{
	struct session_idle	*i;
	struct timeval		 tv;

	i = xcalloc(1, sizeof *i);
	i->listener = s->listener;
	i->peer = s->peer;
	i->nrequests = s->nrequests;
	i->deadline = cutover_now_us() + (uint64_t)ms * 1000;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_assign(&i->ev, s->base, bufferevent_getfd(s->cbev),
	    EV_READ | EV_PERSIST, cb, i);
	event_add(&i->ev, &tv);
	return (i);
}

/*
 * Frees s, its socket now i's: i counts as an idle connection, on the
 * worker's list of them.
 */
static void
session_hand_over(struct session *s, struct session_idle *i)
{
	if (idle_sessions.tqh_last == NULL)
		TAILQ_INIT(&idle_sessions);
	TAILQ_INSERT_TAIL(&idle_sessions, i, entry);
	/* Freeing cbev must not close the socket. */
	bufferevent_setfd(s->cbev, -1);
	s->head_in_input = 0;
	session_reset_request(s);
	session_free(s);
	worker_count_add(&worker_self->counts.sessions, 1);
	worker_count_add(&worker_self->counts.idle, 1);
}

/* Frees an idle record; its event is stopped, its socket closed or taken. */
static void
session_idle_free(struct session_idle *i)
{
	TAILQ_REMOVE(&idle_sessions, i, entry);
	worker_count_add(&worker_self->counts.sessions, -1);
	worker_count_add(&worker_self->counts.idle, -1);
	free(i);
}

/*
 * Closes an idle connection; session_close() for a reduced one.  A TLS
 * one sends close_notify first when clean is set.
 */
static void
session_idle_close(struct session_idle *i, int clean, const char *reason)
{
	char	ip[INET6_ADDRSTRLEN];

	if (log_enabled(LOG_LEVEL_DEBUG)) {
		session_peer_text(&i->peer.sa, ip, sizeof ip);
		log_debug("client %s: closed after %u requests: %s", ip,
		    i->nrequests, reason);
	}
	event_del(&i->ev);
	if (i->tls != NULL)
		tls_detached_free(i->tls, clean);
	close(event_get_fd(&i->ev));
	session_idle_free(i);
	session_gone();
}

/*
 * Looks at what a client socket holds without taking it: above 0 when
 * bytes wait, 0 at end of file, -1 with errno otherwise (EAGAIN: none).
 */
static ssize_t
session_peek(int fd)
{
	char	c;

	return (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT));
}

/*
 * An idle connection's socket is readable (a request, an EOF or a reset)
 * or keepalive_timeout ran out.  A new session takes the socket over and
 * reads the request as it would have if never reduced.
 */
static void
session_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session_idle	*i = arg;
	struct session		*s;
	uint64_t		 now = cutover_now_us();
	ssize_t			 n;

	if (!(what & EV_READ)) {
		session_idle_close(i, 1, "keepalive_timeout");
		return;
	}
	/*
	 * Most keep-alive connections end here, closed by the client: a peek
	 * tells that from a request without building a session and a 4 KiB
	 * read buffer only to close them.
	 */
	if ((n = session_peek(fd)) == 0) {
		session_idle_close(i, 0, "client closed");
		return;
	}
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR)
			session_idle_close(i, 0, strerror(errno));
		return;
	}
	/* cbev watches the socket before i->ev stops: no epoll change. */
	s = session_start(event_get_base(&i->ev), fd, &i->peer.sa,
	    sizeof i->peer, i->listener, i->tls, TIMER_IDLE, i->deadline > now ?
	    (long)((i->deadline - now + 999) / 1000) : 0);
	if (s == NULL) {
		session_idle_close(i, 1, "cannot set up connection");
		return;
	}
	s->nrequests = i->nrequests;
	s->forwarded = i->forwarded;
	event_del(&i->ev);
	session_idle_free(i);
}

/*
 * Starts closing: no more reads, flush what is queued, then close.
 * Returns -1 like session_close(): the caller must stop processing.
 */
static int
session_linger(struct session *s)
{
	struct evbuffer	*out = bufferevent_get_output(s->cbev);

	if (s->up != NULL) {
		session_server_end(s, POOL_ABANDONED);
		session_release_upstream(s, 0);
	}
	bufferevent_disable(s->cbev, EV_READ);
	session_set_state(s, SESSION_CLOSING);
	session_flush(s->cbev, s->tls);
	if (evbuffer_get_length(out) == 0) {
		session_shut(s);
		return (-1);
	}
	bufferevent_setwatermark(s->cbev, EV_WRITE, 0, 0);
	session_timer(s, TIMER_LINGER, LINGER_MS);
	return (-1);
}

/*
 * The last answer went to the kernel.  Closing a socket that holds bytes
 * the client sent and nobody read makes the kernel reset the connection
 * and drop what of the answer is still queued or in flight (RFC 9112
 * 9.6).  Such a connection lingers instead, as nginx's do: the session
 * is freed (a TLS one after its close_notify), the socket is half-closed
 * and left to a record like an idle one's, and what the client still
 * sends is dropped unread, encrypted or not, until the client closes too
 * or LINGER_MS pass.  It counts as an idle connection meanwhile.
 */
static void
session_shut(struct session *s)
{
	struct session_idle	*i;
	int			 fd = bufferevent_getfd(s->cbev);

	if (s->client_eof || !session_input_pending(s)) {
		session_close(s, "done");
		return;
	}
	session_cut_short(s);
	i = session_record(s, session_drain_cb, LINGER_MS);
	i->draining = 1;
	log_debug("client %s: unread bytes after the last answer, lingering",
	    s->peer_ip);
	tls_end(s->cbev);	/* its close_notify goes first */
	session_hand_over(s, i);
	(void)shutdown(fd, SHUT_WR);
}

/*
 * A lingering connection's socket is readable, or LINGER_MS ran out:
 * its bytes are dropped in the kernel (MSG_TRUNC), never copied, a few
 * reads per turn; its end or the deadline closes it.
 */
static void
session_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session_idle	*i = arg;
	struct timeval		 tv;
	uint64_t		 now = cutover_now_us();
	ssize_t			 n = 1;
	int			 k;

	if (!(what & EV_READ) || now >= i->deadline) {
		session_idle_close(i, 0, "lingering close ran out");
		return;
	}
	for (k = 0; k < 4 && n > 0; k++)
		n = recv(fd, NULL, 1 << 20, MSG_TRUNC | MSG_DONTWAIT);
	if (n == 0) {
		session_idle_close(i, 0, "client closed after the last answer");
		return;
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		session_idle_close(i, 0, strerror(errno));
		return;
	}
	/* EV_PERSIST would give the whole LINGER_MS again: what is left. */
	tv.tv_sec = (i->deadline - now) / 1000000;
	tv.tv_usec = (i->deadline - now) % 1000000;
	event_add(&i->ev, &tv);
}

/* Copies len bytes to p and ends them with a NUL; returns past it. */
static char *
session_put_field(char *p, const char *v, size_t len)
{
	memcpy(p, v, len);
	p[len] = '\0';
	return (p + len + 1);
}

/*
 * Captures what the access log needs of the request head, as the
 * strings method, target, protocol, referer and user agent one after
 * another, in a buffer the session keeps for its next requests.
 */
static void
session_capture_request(struct session *s, const char *buf)
{
	const struct http_msg		*m = s->req;
	const struct http_header	*h;
	const char			*ua = "-", *ref = "-";
	size_t				 ualen = 1, reflen = 1, need;
	char				*p, proto[] = "HTTP/1.1";

	if (!access_log_enabled())
		return;
	if ((h = http_header_find(m, buf, "user-agent")) != NULL) {
		ua = buf + h->value_off;
		ualen = h->value_len;
	}
	if ((h = http_header_find(m, buf, "referer")) != NULL) {
		ref = buf + h->value_off;
		reflen = h->value_len;
	}
	need = m->method_len + m->target_len + sizeof proto + reflen +
	    ualen + 4;
	if (need > s->logreq_cap) {
		free(s->logreq);
		s->logreq_cap = need < 512 ? 512 : need;
		s->logreq = xmalloc(s->logreq_cap);
	}
	proto[sizeof proto - 2] = '0' + m->version_minor;
	p = session_put_field(s->logreq, buf + m->method_off, m->method_len);
	p = session_put_field(p, buf + m->target_off, m->target_len);
	p = session_put_field(p, proto, sizeof proto - 1);
	p = session_put_field(p, ref, reflen);
	(void)session_put_field(p, ua, ualen);
}

/*
 * An access log line being built: appends stop at the buffer's last
 * byte, so that an overlong field cuts the line short but never breaks
 * it.  The line is built with these rather than snprintf(), which took
 * two thirds of what logging a request cost.
 */
struct log_line {
	char	buf[8192];
	size_t	len;
};

static void
line_cat(struct log_line *l, const char *v, size_t len)
{
	if (len > sizeof l->buf - 1 - l->len)
		len = sizeof l->buf - 1 - l->len;
	memcpy(l->buf + l->len, v, len);
	l->len += len;
}

#define line_lit(l, lit)	line_cat((l), (lit), sizeof(lit) - 1)

static void
line_str(struct log_line *l, const char *v)
{
	line_cat(l, v, strlen(v));
}

/* Appends n in decimal. */
static void
line_num(struct log_line *l, uint64_t n)
{
	char	t[24], *p = t + sizeof t;

	do {
		*--p = '0' + n % 10;
		n /= 10;
	} while (n != 0);
	line_cat(l, p, t + sizeof t - p);
}

/* Appends a time in microseconds as seconds with three decimals. */
static void
line_secs(struct log_line *l, uint64_t us)
{
	uint64_t	ms = (us + 500) / 1000;
	char		frac[4];

	frac[0] = '.';
	frac[1] = '0' + ms / 100 % 10;
	frac[2] = '0' + ms / 10 % 10;
	frac[3] = '0' + ms % 10;
	line_num(l, ms / 1000);
	line_cat(l, frac, sizeof frac);
}

/*
 * Appends the run of *v that neither format escapes (printable ASCII but
 * a quote and a backslash), up to end, and moves *v past it.  Returns 1
 * when *v is then a byte to escape, 0 at its end or at end.
 */
static inline int
line_run(struct log_line *l, const char **v, size_t end)
{
	const char	*p = *v;
	unsigned char	 c;

	while ((c = (unsigned char)*p) >= 0x20 && c < 0x7f && c != '"' &&
	    c != '\\')
		p++;
	if ((size_t)(p - *v) > end - l->len) {
		line_cat(l, *v, end - l->len);
		return (0);
	}
	line_cat(l, *v, p - *v);
	*v = p;
	return (c != '\0');
}

/*
 * Appends v as the combined format quotes it, as nginx does: a quote, a
 * backslash and bytes outside printable ASCII as \xHH, so that a field
 * cannot end early or forge another.  At most budget bytes, cut short at
 * a whole escape: the budgets of a line's fields add up to less than its
 * buffer (as line_json()'s), so that the fields after a long one are
 * never lost.
 */
static inline void
line_esc(struct log_line *l, const char *v, size_t budget)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			 end = l->len + budget;
	unsigned char		 c;
	char			 e[4] = { '\\', 'x', 0, 0 };

	if (end > sizeof l->buf - 1)
		end = sizeof l->buf - 1;
	while (line_run(l, &v, end) && l->len + sizeof e <= end) {
		c = (unsigned char)*v++;
		e[2] = hex[c >> 4];
		e[3] = hex[c & 15];
		line_cat(l, e, sizeof e);
	}
}

/*
 * Appends a JSON string (json_char()), of at most budget bytes, cut short
 * if need be: the budgets of a line's strings add up to less than its
 * buffer, so that every line stays whole JSON.  NULL is "".
 */
static void
line_json(struct log_line *l, const char *v, size_t budget)
{
	size_t	end = l->len + budget, n, len;
	char	e[JSON_CHAR_MAX];

	if (end > sizeof l->buf - 1)
		end = sizeof l->buf - 1;
	if (l->len + 2 > end)
		return;
	end -= 1;		/* the closing quote */
	line_lit(l, "\"");
	while (v != NULL && line_run(l, &v, end) &&
	    l->len + (len = json_char(v, e, &n)) <= end) {
		line_cat(l, e, len);
		v += n;
	}
	line_lit(l, "\"");
}

/*
 * The access log's time of day, in the JSON format's UTC form or the
 * combined format's local one, formatted once a second per thread.
 */
static const char *
session_log_time(int json, size_t *len)
{
	static _Thread_local char	ts[2][40];
	static _Thread_local size_t	tslen[2];
	static _Thread_local time_t	at[2];
	time_t				now = time(NULL);
	struct tm			tm;

	json = json != 0;
	if (tslen[json] == 0 || at[json] != now) {
		if (json) {
			gmtime_r(&now, &tm);
			tslen[1] = strftime(ts[1], sizeof ts[1],
			    "%Y-%m-%dT%H:%M:%SZ", &tm);
		} else {
			localtime_r(&now, &tm);
			tslen[0] = strftime(ts[0], sizeof ts[0],
			    "%d/%b/%Y:%H:%M:%S %z", &tm);
		}
		at[json] = now;
	}
	*len = tslen[json];
	return (ts[json]);
}

/*
 * What each field of an access log line may take of its 8 KiB once
 * escaped, in either format: the method and names, the target, and the
 * referer and user agent.  With the rest (under 400 bytes) a line always
 * fits whole.
 */
#define FIELD_SHORT	256
#define FIELD_TARGET	4096
#define FIELD_HEADER	1024

static void
session_access_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	access_log_flush();
}

/* Has the calling worker's access log buffer written in ACCESS_FLUSH_MS. */
static void
session_access_flush_soon(void)
{
	if (access_flush_ev == NULL && (access_flush_ev = evtimer_new(
	    worker_self->base, session_access_flush_cb, NULL)) == NULL) {
		access_log_flush();
		return;
	}
	evtimer_add(access_flush_ev, &access_flush_tv);
}

/* Counts the request that just ended and writes its access log line. */
static void
session_access_log(struct session *s)
{
	struct log_line	 l;
	const char	*method, *target, *proto, *ref, *ua, *ts;
	size_t		 tslen;
	uint64_t	 t;
	int		 json;

	if (s->logged || s->t_start == 0)
		return;
	s->logged = 1;
	if (s->outcome == METRICS_OK && s->status >= 500)
		s->outcome = METRICS_5XX;
	worker_lock();
	metrics_request(s->route, s->pool, s->server, s->status, s->outcome,
	    cutover_now_us() - s->t_start);
	worker_unlock();
	if (!access_log_enabled() || s->logreq == NULL || s->logreq[0] == '\0')
		return;
	method = s->logreq;
	target = method + strlen(method) + 1;
	proto = target + strlen(target) + 1;
	ref = proto + strlen(proto) + 1;
	ua = ref + strlen(ref) + 1;
	t = cutover_now_us();
	json = s->conf->access_log_json;
	ts = session_log_time(json, &tslen);
	l.len = 0;
	if (json) {
		line_lit(&l, "{\"time\":\"");
		line_cat(&l, ts, tslen);
		line_lit(&l, "\",\"client\":\"");
		line_str(&l, s->peer_ip);
		line_lit(&l, "\",\"method\":");
		line_json(&l, method, FIELD_SHORT);
		line_lit(&l, ",\"target\":");
		line_json(&l, target, FIELD_TARGET);
		line_lit(&l, ",\"protocol\":\"");
		line_str(&l, proto);
		line_lit(&l, "\",\"status\":");
		line_num(&l, (unsigned)s->status);
		line_lit(&l, ",\"bytes\":");
		line_num(&l, s->bytes_out);
		line_lit(&l, ",\"route\":");
		line_json(&l, s->route ? s->route->name : NULL, FIELD_SHORT);
		line_lit(&l, ",\"pool\":");
		line_json(&l, s->pool ? s->pool->name : NULL, FIELD_SHORT);
		line_lit(&l, ",\"server\":");
		line_json(&l, s->server ? s->server->name : NULL, FIELD_SHORT);
		line_lit(&l, ",\"upstream_time\":");
		line_secs(&l, s->t_first_byte > s->t_upstream ?
		    s->t_first_byte - s->t_upstream : 0);
		line_lit(&l, ",\"request_time\":");
		line_secs(&l, t - s->t_start);
		line_lit(&l, ",\"referer\":");
		line_json(&l, ref, FIELD_HEADER);
		line_lit(&l, ",\"user_agent\":");
		line_json(&l, ua, FIELD_HEADER);
		line_lit(&l, "}");
	} else {
		line_str(&l, s->peer_ip);
		line_lit(&l, " - - [");
		line_cat(&l, ts, tslen);
		line_lit(&l, "] \"");
		line_esc(&l, method, FIELD_SHORT);
		line_lit(&l, " ");
		line_esc(&l, target, FIELD_TARGET);
		line_lit(&l, " ");
		line_str(&l, proto);
		line_lit(&l, "\" ");
		line_num(&l, (unsigned)s->status);
		line_lit(&l, " ");
		line_num(&l, s->bytes_out);
		line_lit(&l, " \"");
		line_esc(&l, ref, FIELD_HEADER);
		line_lit(&l, "\" \"");
		line_esc(&l, ua, FIELD_HEADER);
		line_lit(&l, "\"");
	}
	if (access_log_write(l.buf, l.len))
		session_access_flush_soon();
}

static const char *
session_reason(int status)
{
	switch (status) {
	case 400:
		return ("Bad Request");
	case 404:
		return ("Not Found");
	case 408:
		return ("Request Timeout");
	case 413:
		return ("Content Too Large");
	case 414:
		return ("URI Too Long");
	case 431:
		return ("Request Header Fields Too Large");
	case 500:
		return ("Internal Server Error");
	case 501:
		return ("Not Implemented");
	case 502:
		return ("Bad Gateway");
	case 503:
		return ("Service Unavailable");
	case 504:
		return ("Gateway Timeout");
	case 505:
		return ("HTTP Version Not Supported");
	}
	return ("Error");
}

/*
 * Answers the client with an error of the proxy's own, logs why and
 * closes the connection once the answer is out.  When part of a response
 * already went to the client, nothing can be said: the connection is
 * closed at once so a truncated body is never taken for a whole one.
 */
static int
session_error(struct session *s, int status, const char *why)
{
	struct evbuffer	*out = bufferevent_get_output(s->cbev);
	const char	*reason = session_reason(status);
	char		 body[128];
	int		 n;

	if (status >= 500)
		log_warn("route %s, pool %s, server %s, client %s: %d: %s",
		    s->route ? s->route->name : "-",
		    s->pool ? s->pool->name : "-",
		    s->server ? s->server->name : "-", s->peer_ip, status, why);
	else
		log_info("route %s, client %s: %d: %s",
		    s->route ? s->route->name : "-", s->peer_ip, status, why);
	if (s->resp_head_sent) {
		session_close(s, why);
		return (-1);
	}
	if (s->t_start == 0)
		s->t_start = cutover_now_us();
	n = snprintf(body, sizeof body, "%d %s\n", status, reason);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain"
	    "\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", status,
	    reason, n);
	if (!s->is_head)
		evbuffer_add(out, body, n);
	s->status = status;
	s->bytes_out += n;
	/* Whole: a TLS client gets close_notify after it. */
	s->resp_head_sent = s->resp_done = 1;
	session_access_log(s);
	return (session_linger(s));
}

/*
 * The server failed after part of its response went to the client: send
 * what arrived, then close, so the client sees a short body (or a chunked
 * body without its last chunk) and never takes it for a whole one.
 */
static int
session_abort(struct session *s, const char *why)
{
	log_warn("route %s, pool %s, server %s, client %s: %s",
	    s->route->name, s->pool->name, s->server->name, s->peer_ip, why);
	if (s->outcome == METRICS_OK)
		s->outcome = METRICS_5XX;
	session_access_log(s);
	s->keepalive = 0;
	tls_cut(s->cbev);
	return (session_linger(s));
}

/* Strips a port and a trailing dot from a Host value. */
static void
session_host_trim(const char *h, size_t *len)
{
	size_t	n = *len, i;

	if (n > 0 && h[0] == '[') {
		for (i = 0; i < n && h[i] != ']'; i++)
			;
		*len = i < n ? i + 1 : n;
		return;
	}
	for (i = 0; i < n && h[i] != ':'; i++)
		;
	n = i;
	if (n > 0 && h[n - 1] == '.')
		n--;
	*len = n;
}

/*
 * Writes one Content-Length field for a message that repeated the same
 * value, as a list or in several fields; returns its length.
 */
static size_t
session_put_length(char *p, uint64_t n)
{
	return ((size_t)sprintf(p, "Content-Length: %llu\r\n",
	    (unsigned long long)n));
}

/*
 * Appends the request head for the server: the request line in
 * origin-form as HTTP/1.1, the end-to-end headers, our X-Forwarded-*
 * headers and the framing we chose.
 */
static void
session_write_request_head(struct session *s, const char *buf,
    struct evbuffer *out)
{
	const struct http_msg		*m = s->req;
	const struct http_header	*h, *xff = NULL, *upg = NULL;
	const char			*host, *path;
	size_t				 hostlen, pathlen, need, off = 0;
	struct evbuffer_iovec		 v;
	char				*p;
	unsigned			 i, drop;
	int				 fwd = s->forwarded;

	http_target_split(buf + m->target_off, m->target_len, &host, &hostlen,
	    &path, &pathlen);
	/* RFC 9112 3.2.4: "OPTIONS http://h" asks about the server: "*". */
	if (pathlen == 0) {
		path = m->method == HTTP_OPTIONS ? "*" : "/";
		pathlen = 1;
	}
	/*
	 * RFC 9112 section 3.2: every HTTP/1.1 request has a Host; one in
	 * absolute-form gets the target's (3.2.2), an HTTP/1.0 one without
	 * a Host gets the server's address.
	 */
	if (host == NULL && m->host < 0) {
		host = s->server->addr_text;
		hostlen = strlen(host);
	}
	need = m->head_len + 2 * INET6_ADDRSTRLEN + 192 + hostlen;
	if (evbuffer_reserve_space(out, need, &v, 1) < 1)
		fatal("cannot reserve %zu bytes of buffer", need);
	p = v.iov_base;
#define PUT(src, n) do { memcpy(p + off, (src), (n)); off += (n); } while (0)
#define PUTS(str) PUT((str), sizeof(str) - 1)
	PUT(buf + m->method_off, m->method_len);
	PUTS(" ");
	/* "http://host?q" asks for "/?q". */
	if (path[0] == '?')
		PUTS("/");
	PUT(path, pathlen);
	PUTS(" HTTP/1.1\r\n");
	if (host != NULL) {
		PUTS("Host: ");
		PUT(host, hostlen);
		PUTS("\r\n");
	}
	/* Fields written anew below, or not at all. */
	drop = HTTP_HDR_HOP | (host != NULL ? HTTP_HDR_HOST : 0) |
	    (fwd ? HTTP_HDR_XFWD : 0) |
	    (m->flags & HTTP_F_CL_REPEATED ? HTTP_HDR_CL : 0);
	for (i = 0; i < m->nheaders; i++) {
		h = &m->headers[i];
		/* Written below, from the first X-Forwarded-For line on. */
		if (h->flags & HTTP_HDR_XFF && fwd) {
			if (xff == NULL)
				xff = h;
			continue;
		}
		/* Hop-by-hop, but kept for the tunnel. */
		if (s->upgrade && http_header_is(m, buf, h, "upgrade")) {
			upg = h;
			continue;
		}
		if (h->flags & drop)
			continue;
		if ((m->flags & HTTP_F_EXPECT_CONTINUE) &&
		    http_header_is(m, buf, h, "expect"))
			continue;
		PUT(buf + h->name_off, h->name_len);
		PUTS(": ");
		PUT(buf + h->value_off, h->value_len);
		PUTS("\r\n");
	}
	if (upg != NULL) {
		PUTS("Connection: upgrade\r\nUpgrade: ");
		PUT(buf + upg->value_off, upg->value_len);
		PUTS("\r\n");
	}
	if (fwd) {
		/*
		 * Several X-Forwarded-For lines are one list, in their
		 * order (RFC 9110 section 5.3): keeping only one would drop
		 * hops from the chain.  Each line dropped held more bytes
		 * than the ", " it costs here, so need still holds.
		 */
		PUTS("X-Forwarded-For: ");
		for (h = xff; h != NULL && h < m->headers + m->nheaders; h++) {
			if (!(h->flags & HTTP_HDR_XFF) || h->value_len == 0)
				continue;
			PUT(buf + h->value_off, h->value_len);
			PUTS(", ");
		}
		PUT(s->peer_ip, strlen(s->peer_ip));
		if (s->tls)
			PUTS("\r\nX-Forwarded-Proto: https\r\nX-Real-IP: ");
		else
			PUTS("\r\nX-Forwarded-Proto: http\r\nX-Real-IP: ");
		PUT(s->peer_ip, strlen(s->peer_ip));
		PUTS("\r\n");
	}
	if (s->req_body == BODY_CHUNKED)
		PUTS("Transfer-Encoding: chunked\r\n");
	if (m->flags & HTTP_F_CL_REPEATED)
		off += session_put_length(p + off, m->content_length);
	PUTS("\r\n");
#undef PUT
#undef PUTS
	v.iov_len = off;
	evbuffer_commit_space(out, &v, 1);
}

/* Appends the response head for the client. */
static void
session_write_response_head(struct session *s, const char *buf,
    struct evbuffer *out)
{
	const struct http_msg		*m = s->resp;
	const struct http_header	*h;
	size_t				 need, off = 0;
	struct evbuffer_iovec		 v;
	char				*p, num[64];
	unsigned			 i;
	int				 n, tunnel = m->status == 101;
	/*
	 * Content-Length: none on a 204 (RFC 9110 8.6) or beside
	 * Transfer-Encoding; one field for a value given several times.
	 */
	int				 drop_cl = (m->flags & HTTP_F_HAS_TE) ||
					    m->status == 204;
	int				 one_cl = !drop_cl &&
					    (m->flags & HTTP_F_CL_REPEATED);

	need = m->head_len + 256 + (s->route && s->route->sticky_name ?
	    s->route->sticky_name_len : 0);
	if (evbuffer_reserve_space(out, need, &v, 1) < 1)
		fatal("cannot reserve %zu bytes of buffer", need);
	p = v.iov_base;
#define PUT(src, n) do { memcpy(p + off, (src), (n)); off += (n); } while (0)
#define PUTS(str) PUT((str), sizeof(str) - 1)
	PUTS("HTTP/1.1 ");
	p[off++] = '0' + m->status / 100;
	p[off++] = '0' + m->status / 10 % 10;
	p[off++] = '0' + m->status % 10;
	PUTS(" ");
	PUT(buf + m->reason_off, m->reason_len);
	PUTS("\r\n");
	for (i = 0; i < m->nheaders; i++) {
		h = &m->headers[i];
		if (tunnel && (http_header_is(m, buf, h, "upgrade") ||
		    http_header_is(m, buf, h, "connection"))) {
			/* RFC 9110 7.8: the 101 keeps them. */
		} else if (h->flags & HTTP_HDR_HOP)
			continue;
		if ((h->flags & HTTP_HDR_CL) && (drop_cl || one_cl))
			continue;
		PUT(buf + h->name_off, h->name_len);
		PUTS(": ");
		PUT(buf + h->value_off, h->value_len);
		PUTS("\r\n");
	}
	if (s->resp_out_chunked)
		PUTS("Transfer-Encoding: chunked\r\n");
	else if (one_cl)
		off += session_put_length(p + off, m->content_length);
	if (!tunnel && m->status >= 200) {
		if (!s->keepalive)
			PUTS("Connection: close\r\n");
		else if (s->req->version_minor == 0)
			PUTS("Connection: keep-alive\r\n");
	}
	if (s->pick.set_cookie && m->status >= 200 && !tunnel) {
		PUTS("Set-Cookie: ");
		PUT(s->route->sticky_name, s->route->sticky_name_len);
		n = snprintf(num, sizeof num, "=%u; Path=/; Max-Age=%d; "
		    "HttpOnly\r\n", s->pick.bucket, STICKY_MAX_AGE);
		PUT(num, n);
	}
	PUTS("\r\n");
#undef PUT
#undef PUTS
	v.iov_len = off;
	evbuffer_commit_space(out, &v, 1);
	s->bytes_out += off;
}

/* Moves up to n bytes, or all when n is 0 and all is set. */
static size_t
session_move(struct evbuffer *src, struct evbuffer *dst, uint64_t n,
    int chunk)
{
	size_t	avail = evbuffer_get_length(src), room, len;

	len = avail;
	if (n < len)
		len = n;
	room = evbuffer_get_length(dst);
	room = room >= RELAY_HIGH ? 0 : RELAY_HIGH - room;
	if (len > room)
		len = room;
	if (len == 0)
		return (0);
	if (chunk)
		evbuffer_add_printf(dst, "%zx\r\n", len);
	evbuffer_remove_buffer(src, dst, len);
	if (chunk)
		evbuffer_add(dst, "\r\n", 2);
	return (len);
}

/*
 * Streams one body from src to dst with bounded output.  Returns 1 when
 * the body is complete, 0 when it waits for bytes or room, -1 on bad
 * chunked framing.  rechunk re-encodes data as chunks; dechunked data
 * goes out raw.
 */
static int
session_relay_body(struct evbuffer *src, struct evbuffer *dst,
    enum body_kind kind, uint64_t *left, struct http_chunked *ch,
    int rechunk, uint64_t *moved)
{
	struct evbuffer_iovec	v;
	enum http_parse_result	r;
	size_t			used, n;

	switch (kind) {
	case BODY_NONE:
		return (1);
	case BODY_LENGTH:
		n = session_move(src, dst, *left, 0);
		*left -= n;
		*moved += n;
		return (*left == 0);
	case BODY_CLOSE:
		n = session_move(src, dst, UINT64_MAX, rechunk);
		*moved += n;
		return (0);
	case BODY_CHUNKED:
		break;
	}
	for (;;) {
		if (ch->remaining > 0) {
			n = session_move(src, dst, ch->remaining, rechunk);
			http_chunked_consume(ch, n);
			*moved += n;
			if (ch->remaining > 0)
				return (0);
		}
		if (evbuffer_get_length(src) == 0 ||
		    evbuffer_peek(src, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return (0);
		r = http_chunked_parse(ch, v.iov_base, v.iov_len, &used);
		evbuffer_drain(src, used);
		switch (r) {
		case HTTP_PARSE_AGAIN:
			if (used == 0) {
				log_alert("chunked parser made no progress "
				    "on %zu bytes", v.iov_len);
				return (-1);
			}
			continue;
		case HTTP_PARSE_DATA:
			if (used == 0 && ch->remaining == 0) {
				log_alert("chunked parser gave no data");
				return (-1);
			}
			continue;
		case HTTP_PARSE_DONE:
			if (rechunk)
				evbuffer_add(dst, "0\r\n\r\n", 5);
			return (1);
		case HTTP_PARSE_ERROR:
			return (-1);
		}
	}
}

/*
 * Picks a server in s->pool (or the stable pool) that the request was not
 * tried on yet and connects to it.  On a retry, exclude is the server
 * that failed and status/why say how.
 */
static int
session_pick_server(struct session *s, const struct server *exclude,
    int status, const char *why)
{
	struct server	*srv;
	struct pool	*stable = s->route->stable;

	worker_lock();
	srv = balancer_pick_untried(s->pool, s->tried, s->ntried);
	if (srv == NULL && stable != NULL && stable != s->pool) {
		srv = balancer_pick_untried(stable, s->tried, s->ntried);
		if (srv != NULL) {
			log_info("route %s, pool %s: no server left, using "
			    "stable pool %s", s->route->name, s->pool->name,
			    stable->name);
			s->pool = stable;
		}
	}
	/* Counted before the lock goes, so that least_conn sees it. */
	if (srv != NULL) {
		pool_server_begin(srv);
		s->counted = 1;
		if (s->ntried < SESSION_MAX_TRIED)
			s->tried[s->ntried++] = srv;
	}
	worker_unlock();
	if (srv == NULL && exclude != NULL) {
		s->outcome = status == 504 ? METRICS_TIMEOUT :
		    METRICS_CONNECT_FAIL;
		return (session_error(s, status, why));
	}
	if (srv == NULL)
		return (session_error(s, 503, "no eligible server in the pool "
		    "nor in the stable pool"));
	s->server = srv;
	return (session_connect(s));
}

/* Handles a request head that parsed: route, pick, connect. */
static int
session_start_request(struct session *s, const char *buf)
{
	const struct http_msg		*m = s->req;
	const struct http_header	*h;
	const char			*host, *path;
	size_t				 hostlen, pathlen;

	s->conf = conf_ref(worker_self->conf);
	s->nrequests++;
	__atomic_store_n(&worker_self->counts.requests,
	    worker_self->counts.requests + 1, __ATOMIC_RELAXED);
	s->t_start = cutover_now_us();
	s->t_first_byte = 0;
	s->resp = session_msg_get(0);
	s->is_head = m->method == HTTP_HEAD;
	session_capture_request(s, buf);
	/* A listener dropped since keeps what it forwarded. */
	s->lc = session_listener_of(s->conf, s->listener,
	    bufferevent_getfd(s->cbev));
	if (s->lc != NULL)
		s->forwarded = s->lc->forwarded_headers;
	if (m->version_minor == 1)
		s->keepalive = !(m->flags & HTTP_F_CONN_CLOSE);
	else
		s->keepalive = (m->flags & HTTP_F_CONN_KEEPALIVE) != 0;
	/* keepalive_timeout = 0 keeps none: the answer says so. */
	if (s->close_after || s->conf->keepalive_timeout == 0 ||
	    __atomic_load_n(&cutover.shutting_down, __ATOMIC_RELAXED))
		s->keepalive = 0;

	if (m->flags & HTTP_F_CHUNKED) {
		s->req_body = BODY_CHUNKED;
		http_chunked_init(&s->req_chunk);
	} else if ((m->flags & HTTP_F_HAS_CL) && m->content_length > 0) {
		s->req_body = BODY_LENGTH;
		s->req_left = m->content_length;
	} else
		s->req_body = BODY_NONE;
	if (s->conf->max_body_size > 0 && s->req_body == BODY_LENGTH &&
	    m->content_length > s->conf->max_body_size)
		return (session_error(s, 413, "body larger than "
		    "max_body_size"));
	if (s->req_body == BODY_CHUNKED && session_check_first_chunk(s) == -1)
		return (-1);
	/*
	 * An h2c offer goes on as a plain request, its Upgrade dropped as
	 * hop-by-hop: a tunnel of HTTP/2 to the server would carry requests
	 * that no route chose and no log line shows (h2c smuggling), for a
	 * mechanism RFC 9113 retired.
	 */
	s->upgrade = (m->flags & HTTP_F_UPGRADE) &&
	    (m->flags & HTTP_F_CONN_UPGRADE) && m->version_minor == 1 &&
	    !(m->flags & HTTP_F_UPGRADE_H2C);

	http_target_split(buf + m->target_off, m->target_len, &host, &hostlen,
	    &path, &pathlen);
	if (host == NULL && m->host >= 0) {
		h = &m->headers[m->host];
		host = buf + h->value_off;
		hostlen = h->value_len;
	}
	if (host == NULL)
		hostlen = 0;
	session_host_trim(host, &hostlen);
	/* A reverse proxy opens no tunnels to hosts its clients name. */
	if (m->method == HTTP_CONNECT)
		return (session_error(s, 501, "CONNECT is not supported"));
	/* "http://host", "http://host?q" and "*" are routed as "/". */
	if (pathlen == 0 || path[0] == '?' || path[0] == '*') {
		path = "/";
		pathlen = 1;
	}
	s->route = route_find(s->conf, s->lc, host, hostlen, path, pathlen);
	if (s->route == NULL)
		return (session_error(s, 404, "no route"));
	worker_lock();
	route_pick_pool(s->route, m, buf, &s->peer.sa, &s->pick);
	if (s->pick.fallback)
		metrics_fallback(s->route->name, s->pick.down != NULL ?
		    s->pick.down->name : "");
	worker_unlock();
	if ((s->pool = s->pick.pool) == NULL)
		return (session_error(s, 503, "no pool of the route is up"));
	return (session_pick_server(s, NULL, 0, NULL));
}

/* Parses what the client sent so far of a request head. */
static int
session_read_head(struct session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->cbev);
	struct http_limits	 lim;
	enum http_parse_result	 r;
	size_t			 len = evbuffer_get_length(in);
	const char		*buf;

	if (len == 0) {
		/* A half-closed client still gets what is queued for it. */
		if (s->client_eof)
			return (session_linger(s));
		return (0);
	}
	if (s->timer_kind == TIMER_IDLE || s->timer_kind == TIMER_REDUCE)
		session_timer(s, TIMER_HEADER,
		    worker_self->conf->client_header_timeout);
	if (s->req == NULL)
		s->req = session_msg_get(1);
	lim.max_header_size = worker_self->conf->max_header_size;
	lim.max_uri_size = worker_self->conf->max_uri_size;
	if (len > lim.max_header_size + 1)
		len = lim.max_header_size + 1;
	buf = (const char *)evbuffer_pullup(in, len);
	r = http_parse_head(s->req, buf, len, &lim);
	switch (r) {
	case HTTP_PARSE_AGAIN:
	case HTTP_PARSE_DATA:
		if (s->client_eof)
			return (session_linger(s));
		return (0);
	case HTTP_PARSE_ERROR:
		s->keepalive = 0;
		return (session_error(s, s->req->error_status ?
		    s->req->error_status : 400, s->req->error ?
		    s->req->error : "bad request"));
	case HTTP_PARSE_DONE:
		break;
	}
	s->head_in_input = 1;
	session_timer(s, TIMER_NONE, 0);
	return (session_start_request(s, buf));
}

/* Connects to s->server, or borrows an idle connection to it. */
static int
session_connect(struct session *s)
{
	struct upstream_conn	*c;

	s->t_upstream = cutover_now_us();
	s->up_eof = 0;
	s->up_err = 0;
	s->resp_started = 0;
	if ((c = upstream_get(s->base, s->server,
	    s->conf->max_header_size + 1 > RELAY_HIGH ?
	    s->conf->max_header_size + 1 : RELAY_HIGH, RELAY_LOW,
	    s->fresh_retry)) == NULL) {
		session_server_end(s, POOL_CONNECT_FAIL);
		return (session_error(s, 502, "cannot create a socket"));
	}
	s->up = c;
	bufferevent_setcb(c->bev, session_up_read_cb, session_up_write_cb,
	    session_up_event_cb, s);
	if (c->reused) {
		bufferevent_enable(c->bev, EV_READ);
		return (session_pump_request(s));
	}
	/* EV_WRITE tells when the connection is made. */
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	session_set_state(s, SESSION_CONNECTING);
	session_timer(s, TIMER_CONNECT, s->pool->connect_timeout);
	return (0);
}

/*
 * The attempt on the current server failed before anything reached it:
 * retry on another server of the pool or the stable pool while retries
 * last (POST included: the server never saw it), else answer status.
 */
static int
session_retry(struct session *s, int status, const char *why)
{
	struct server	*failed = s->server;

	log_warn("route %s, pool %s, server %s, client %s: %s",
	    s->route->name, s->pool->name, failed->name, s->peer_ip, why);
	session_server_end(s, POOL_CONNECT_FAIL);
	session_release_upstream(s, 0);
	session_timer(s, TIMER_NONE, 0);
	s->head_sent = 0;
	if (s->attempts++ >= s->pool->retries) {
		s->outcome = status == 504 ? METRICS_TIMEOUT :
		    METRICS_CONNECT_FAIL;
		return (session_error(s, status, why));
	}
	/*
	 * The retry may end well elsewhere: the failure still counts
	 * against this pool, a canary's error rate among them.
	 */
	worker_lock();
	metrics_attempt(s->route, s->pool, status == 504 ? METRICS_TIMEOUT :
	    METRICS_CONNECT_FAIL, cutover_now_us() - s->t_start);
	worker_unlock();
	return (session_pick_server(s, failed, status, why));
}

/*
 * Checks the chunked framing that already arrived behind the head, up to
 * the first chunk's data, so that a request with a bad first chunk size
 * never reaches a server.  Framing errors further on abort the upstream
 * request before its end: the server never sees a complete message.
 */
static int
session_check_first_chunk(struct session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->cbev);
	struct evbuffer_ptr	 pos;
	struct evbuffer_iovec	 v[4];
	struct http_chunked	 ch;
	enum http_parse_result	 r = HTTP_PARSE_AGAIN;
	size_t			 used;
	int			 i, n;

	if (evbuffer_ptr_set(in, &pos, s->req->head_len, EVBUFFER_PTR_SET)
	    == -1)
		return (0);
	http_chunked_init(&ch);
	n = evbuffer_peek(in, -1, &pos, v, 4);
	for (i = 0; i < n && i < 4 && r == HTTP_PARSE_AGAIN; i++) {
		r = http_chunked_parse(&ch, v[i].iov_base, v[i].iov_len,
		    &used);
		if (used < v[i].iov_len && r == HTTP_PARSE_AGAIN)
			break;
	}
	if (r == HTTP_PARSE_ERROR)
		return (session_error(s, 400, ch.error ? ch.error :
		    "bad chunked body"));
	return (0);
}

/* Sends the head once connected, then streams the request body. */
static int
session_send_head(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->cbev);
	const char	*buf;


	buf = (const char *)evbuffer_pullup(in, s->req->head_len);
	session_write_request_head(s, buf, bufferevent_get_output(s->up->bev));
	s->head_sent = 1;
	if (s->req_body != BODY_NONE) {
		/* From here on the request cannot be replayed. */
		evbuffer_drain(in, s->req->head_len);
		s->head_in_input = 0;
		if (s->req->flags & HTTP_F_EXPECT_CONTINUE &&
		    s->req->version_minor == 1)
			evbuffer_add(bufferevent_get_output(s->cbev),
			    "HTTP/1.1 100 Continue\r\n\r\n", 25);
		session_client_timeouts(s, 1);
	}
	session_set_state(s, SESSION_PROXYING);
	session_timer(s, TIMER_RESPONSE, s->pool->response_timeout);
	return (0);
}

/* Moves request body bytes from the client to the server. */
static int
session_pump_request(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->cbev);
	struct timeval	 tv;
	uint64_t	 before;
	int		 r;

	if (s->up == NULL)
		return (0);
	if (!s->head_sent && session_send_head(s) == -1)
		return (-1);
	if (s->req_done)
		return (0);
	before = s->req_bytes;
	r = session_relay_body(in, bufferevent_get_output(s->up->bev),
	    s->req_body, &s->req_left, &s->req_chunk, s->req_body ==
	    BODY_CHUNKED, &s->req_bytes);
	if (s->req_bytes != before && !s->resp_head_done) {
		/*
		 * response_timeout runs from the last body byte passed on,
		 * not from the head: an upload that moves is never a 504,
		 * one the server stops taking still is.  Interim answers
		 * (100, 103) leave the wait for the final one as it was.
		 */
		tv.tv_sec = s->pool->response_timeout / 1000;
		tv.tv_usec = (s->pool->response_timeout % 1000) * 1000;
		bufferevent_set_timeouts(s->up->bev, &tv, NULL);
		if (!s->resp_started)
			session_timer(s, TIMER_RESPONSE,
			    s->pool->response_timeout);
	}
	if (r == -1)
		return (session_error(s, 400, s->req_chunk.error ?
		    s->req_chunk.error : "bad chunked body"));
	if (s->conf->max_body_size > 0 && s->req_bytes >
	    s->conf->max_body_size)
		return (session_error(s, 413, "chunked body larger than "
		    "max_body_size"));
	if (r == 1) {
		s->req_done = 1;
		session_client_timeouts(s, 0);
	} else if (s->client_eof && evbuffer_get_length(in) == 0) {
		session_close(s, "client closed in a request body");
		return (-1);
	}
	return (0);
}

/* Finishes a request whose response is complete. */
static int
session_end_request(struct session *s)
{
	int	reusable, code = s->resp->status;

	session_server_end(s, code >= 500 ? POOL_HTTP_5XX : POOL_OK);
	reusable = s->up_keepalive && s->req_done && evbuffer_get_length(
	    bufferevent_get_output(s->up->bev)) == 0;
	session_release_upstream(s, reusable);
	session_timer(s, TIMER_NONE, 0);
	session_access_log(s);
	if (!s->req_done)
		s->keepalive = 0;	/* unread body bytes: cannot go on */
	if (!s->keepalive) {
		session_reset_request(s);
		return (session_linger(s));
	}
	session_reset_request(s);
	session_set_state(s, SESSION_READ_HEAD);
	session_keepalive(s, worker_self->conf->keepalive_timeout);
	/* A pipelined request may be waiting already. */
	return (session_read_head(s));
}

/* Decides how the response body is framed, both ways. */
static void
session_response_framing(struct session *s)
{
	const struct http_msg	*m = s->resp;

	s->resp_out_chunked = 0;
	if (s->is_head || m->status < 200 || m->status == 204 ||
	    m->status == 304)
		s->resp_body = BODY_NONE;
	else if (m->flags & HTTP_F_CHUNKED) {
		s->resp_body = BODY_CHUNKED;
		http_chunked_init(&s->resp_chunk);
		if (s->req->version_minor == 1)
			s->resp_out_chunked = 1;
		else
			s->keepalive = 0;
	} else if (m->flags & HTTP_F_HAS_CL) {
		s->resp_body = m->content_length > 0 ? BODY_LENGTH : BODY_NONE;
		s->resp_left = m->content_length;
	} else {
		s->resp_body = BODY_CLOSE;
		if (s->req->version_minor == 1)
			s->resp_out_chunked = 1;
		else
			s->keepalive = 0;
	}
	/*
	 * A server that sends both Content-Length and Transfer-Encoding
	 * may disagree with us on where the response ends: its connection
	 * is not reused, as HAProxy does.
	 */
	s->up_keepalive = s->resp_body != BODY_CLOSE &&
	    !(m->flags & (HTTP_F_CONN_CLOSE | HTTP_F_CL_AND_TE)) &&
	    (m->version_minor == 1 || (m->flags & HTTP_F_CONN_KEEPALIVE));
	if (!s->req_done)
		s->keepalive = 0;
}

/* Switches to a raw tunnel after a 101 (RFC 9110 section 15.2.2). */
static int
session_start_tunnel(struct session *s)
{
	struct timeval	tv = { 3600, 0 };

	session_timer(s, TIMER_NONE, 0);
	session_set_state(s, SESSION_TUNNEL);
	s->keepalive = 0;
	s->req_body = BODY_CLOSE;
	s->resp_body = BODY_CLOSE;
	s->resp_out_chunked = 0;
	session_access_log(s);
	bufferevent_set_timeouts(s->cbev, &tv, NULL);
	bufferevent_set_timeouts(s->up->bev, &tv, NULL);
	return (0);
}

/* Moves tunnel bytes both ways; once the server closed, flushes and ends. */
static int
session_pump_tunnel(struct session *s)
{
	struct evbuffer	*uin = bufferevent_get_input(s->up->bev);

	session_move(bufferevent_get_input(s->cbev),
	    bufferevent_get_output(s->up->bev), UINT64_MAX, 0);
	session_move(uin, bufferevent_get_output(s->cbev), UINT64_MAX, 0);
	if (s->up_eof && evbuffer_get_length(uin) == 0)
		return (session_linger(s));
	return (0);
}

/* Parses the response head; handles 1xx, 101 and the final head. */
static int
session_response_head(struct session *s)
{
	struct evbuffer		*uin = bufferevent_get_input(s->up->bev);
	struct evbuffer		*cout = bufferevent_get_output(s->cbev);
	struct http_limits	 lim;
	enum http_parse_result	 r;
	size_t			 len = evbuffer_get_length(uin);
	const char		*buf;

	lim.max_header_size = s->conf->max_header_size;
	lim.max_uri_size = s->conf->max_uri_size;
	if (len > lim.max_header_size + 1)
		len = lim.max_header_size + 1;
	buf = (const char *)evbuffer_pullup(uin, len);
	r = http_parse_head(s->resp, buf, len, &lim);
	if (r == HTTP_PARSE_AGAIN || r == HTTP_PARSE_DATA)
		return (0);
	if (r == HTTP_PARSE_ERROR) {
		session_server_end(s, POOL_BROKEN);
		return (session_error(s, 502, s->resp->error ?
		    s->resp->error : "bad response head"));
	}
	if (s->resp->status == 101 && s->upgrade) {
		session_write_response_head(s, buf, cout);
		evbuffer_drain(uin, s->resp->head_len);
		s->status = 101;
		s->resp_head_sent = 1;
		if (s->head_in_input) {
			evbuffer_drain(bufferevent_get_input(s->cbev),
			    s->req->head_len);
			s->head_in_input = 0;
		}
		return (session_start_tunnel(s));
	}
	if (s->resp->status < 200) {
		/* Interim: pass 1xx on to HTTP/1.1 clients, parse again. */
		if (s->resp->status != 101 && s->req->version_minor == 1 &&
		    !(s->req->flags & HTTP_F_EXPECT_CONTINUE &&
		    s->resp->status == 100))
			session_write_response_head(s, buf, cout);
		evbuffer_drain(uin, s->resp->head_len);
		if (s->resp->status == 101) {
			session_server_end(s, POOL_BROKEN);
			return (session_error(s, 502, "101 to a request "
			    "without upgrade"));
		}
		http_msg_init(s->resp, 0);
		return (1);
	}
	s->resp_head_done = 1;
	if (s->head_in_input) {
		evbuffer_drain(bufferevent_get_input(s->cbev),
		    s->req->head_len);
		s->head_in_input = 0;
	}
	session_response_framing(s);
	/*
	 * The server may apply another coding only if the request's TE
	 * asked for it, and TE, hop-by-hop, is never forwarded: such a
	 * body cannot be passed on as what it is.
	 */
	if ((s->resp->flags & HTTP_F_TE_OTHER) && s->resp_body != BODY_NONE) {
		session_server_end(s, POOL_BROKEN);
		return (session_error(s, 502, "transfer coding other than "
		    "chunked"));
	}
	s->status = s->resp->status;
	session_write_response_head(s, buf, cout);
	s->resp_head_sent = 1;
	evbuffer_drain(uin, s->resp->head_len);
	/* The connection's read timeout (response_timeout) bounds gaps. */
	return (1);
}

/* Reads what the server sent: the head, then body bytes. */
static int
session_pump_response(struct session *s)
{
	struct evbuffer	*uin;
	int		 r;

	if (s->up == NULL)
		return (0);
	uin = bufferevent_get_input(s->up->bev);
	if (s->state == SESSION_TUNNEL)
		return (session_pump_tunnel(s));
	if (!s->resp_started && evbuffer_get_length(uin) > 0) {
		s->resp_started = 1;
		s->t_first_byte = cutover_now_us();
		/* A watch goes on: a long answer needs the client watched. */
		if (s->timer_kind == TIMER_RESPONSE)
			session_timer(s, TIMER_NONE, 0);
	}
	while (!s->resp_head_done) {
		if (evbuffer_get_length(uin) == 0)
			return (s->up_eof ? session_up_gone(s) : 0);
		/*
		 * Interim heads go to the client only as fast as it takes
		 * them; the client's write callback comes back here.  Not a
		 * head cut short, even if the server has closed since.
		 */
		if (evbuffer_get_length(bufferevent_get_output(s->cbev)) >=
		    RELAY_HIGH) {
			bufferevent_enable(s->cbev, EV_WRITE);
			return (0);
		}
		if ((r = session_response_head(s)) == -1)
			return (-1);
		if (r == 0)
			return (s->up_eof ? session_up_gone(s) : 0);
		if (s->state == SESSION_TUNNEL)
			return (session_pump_tunnel(s));
	}
	r = session_relay_body(uin, bufferevent_get_output(s->cbev),
	    s->resp_body, &s->resp_left, &s->resp_chunk, s->resp_out_chunked,
	    &s->bytes_out);
	if (r == -1) {
		session_server_end(s, POOL_BROKEN);
		return (session_error(s, 502, s->resp_chunk.error ?
		    s->resp_chunk.error : "bad chunked response"));
	}
	if (r == 1) {
		s->resp_done = 1;
		return (session_end_request(s));
	}
	if (s->up_eof && evbuffer_get_length(uin) == 0)
		return (session_up_gone(s));
	return (0);
}

static void
session_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;
	int		 r = 0;

	switch (s->state) {
	case SESSION_READ_HEAD:
		r = session_read_head(s);
		break;
	case SESSION_CONNECTING:
		break;
	case SESSION_PROXYING:
		r = session_pump_request(s);
		break;
	case SESSION_TUNNEL:
		r = session_pump_tunnel(s);
		break;
	case SESSION_CLOSING:
		evbuffer_drain(bufferevent_get_input(bev), -1);
		return;
	}
	if (r != -1)
		session_flush_all(s);
}

/*
 * Returns why a connection failed: OpenSSL's reasons on a TLS one that
 * has some, else the socket's error.
 */
static const char *
session_error_text(struct bufferevent *bev, char *buf, size_t size)
{
	if (*tls_error(bev, buf, size) != '\0')
		return (buf);
	return (evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* The client drained its output: more response bytes may move. */
static void
session_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;
	int		 r = 0;

	switch (s->state) {
	case SESSION_READ_HEAD:
	case SESSION_CONNECTING:
		break;
	case SESSION_PROXYING:
		r = session_pump_response(s);
		break;
	case SESSION_TUNNEL:
		r = session_pump_tunnel(s);
		break;
	case SESSION_CLOSING:
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			session_shut(s);
		return;
	}
	if (r != -1) {
		session_write_done(bev);
		session_flush_all(s);
	}
}

static void
session_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	char		 why[160];

	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_READING) && s->state == SESSION_PROXYING &&
		    !s->req_done) {
			session_error(s, 408, "client_body_timeout");
			return;
		}
		session_close(s, (what & BEV_EVENT_WRITING) ?
		    "client stopped reading" : "client timed out");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		session_close(s, session_error_text(bev, why, sizeof why));
		return;
	}
	if (what & BEV_EVENT_EOF) {
		s->client_eof = 1;
		switch (s->state) {
		case SESSION_READ_HEAD:
			if (session_read_head(s) != -1)
				session_flush_all(s);
			return;
		case SESSION_PROXYING:
			if (!s->req_done && session_pump_request(s) != -1)
				session_flush_all(s);
			return;
		case SESSION_CONNECTING:
			/*
			 * A client may half-close once its request is out
			 * (RFC 9112 9.6): its body may be all here, behind
			 * the head.  One that cannot be is dropped now;
			 * once connected, session_pump_request() sends the
			 * rest and ends a chunked body cut short.
			 */
			if (s->req_body == BODY_LENGTH &&
			    evbuffer_get_length(bufferevent_get_input(bev)) -
			    (s->head_in_input ? s->req->head_len : 0) <
			    s->req_left)
				session_close(s, "client closed before the "
				    "body was sent");
			return;
		case SESSION_TUNNEL:
		case SESSION_CLOSING:
			session_close(s, "client closed");
			return;
		}
	}
}

/* The server's output drained: more request bytes may move. */
static void
session_up_write_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;
	int		 r = 0;

	if (s->state == SESSION_TUNNEL)
		r = session_pump_tunnel(s);
	else if (s->state == SESSION_PROXYING)
		r = session_pump_request(s);
	if (r != -1 && s->up != NULL) {
		session_write_done(bev);
		session_flush_all(s);
	}
}

static void
session_up_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	if (s->state != SESSION_PROXYING && s->state != SESSION_TUNNEL)
		return;
	if (session_pump_response(s) != -1)
		session_flush_all(s);
}

/*
 * Returns nonzero when the request may be sent again after a connection
 * closed before any answer: idempotent and without a body (RFC 9110
 * section 9.2.2, RFC 9112 section 9.3.1).
 */
static int
session_replayable(const struct session *s)
{
	if (s->req_body != BODY_NONE)
		return (0);
	switch (s->req->method) {
	case HTTP_GET:
	case HTTP_HEAD:
	case HTTP_OPTIONS:
	case HTTP_TRACE:
	case HTTP_PUT:
	case HTTP_DELETE:
		return (1);
	case HTTP_OTHER:
	case HTTP_POST:
	case HTTP_CONNECT:
	case HTTP_PATCH:
		return (0);
	}
	return (0);
}

/*
 * The server closed and every byte it sent was handled: a close-delimited
 * body ends here; anything else is a failure, retried when the server saw
 * nothing it could have acted on.
 */
static int
session_up_gone(struct session *s)
{
	if (s->resp_head_done && s->resp_body == BODY_CLOSE && !s->up_err) {
		if (s->resp_out_chunked)
			evbuffer_add(bufferevent_get_output(s->cbev),
			    "0\r\n\r\n", 5);
		s->up_keepalive = 0;
		s->resp_done = 1;
		return (session_end_request(s));
	}
	if (s->resp_head_sent) {
		session_server_end(s, POOL_BROKEN);
		return (session_abort(s, "upstream closed in the response "
		    "body"));
	}
	if (!s->resp_started && s->up->reused && session_replayable(s) &&
	    !s->fresh_retry) {
		/* A kept-alive connection the server had closed: go again. */
		log_debug("pool %s: server %s: idle connection was stale",
		    s->pool->name, s->server->name);
		session_server_end(s, POOL_ABANDONED);
		session_release_upstream(s, 0);
		session_timer(s, TIMER_NONE, 0);
		s->head_sent = 0;
		s->fresh_retry = 1;
		worker_lock();
		pool_server_begin(s->server);
		worker_unlock();
		s->counted = 1;
		return (session_connect(s));
	}
	if (!s->resp_started && session_replayable(s) && s->fresh_retry) {
		/*
		 * A fresh connection to the server whose kept-alive one was
		 * stale failed too: the server is going away (a killed one
		 * still accepts for a moment), so another server gets it.
		 */
		return (session_retry(s, 502, "upstream closed before "
		    "responding"));
	}
	session_server_end(s, POOL_BROKEN);
	return (session_error(s, 502, s->resp_started ? "upstream sent a "
	    "truncated response head" : "upstream closed before responding"));
}

static void
session_up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	char		 why[256], tlswhy[160];

	if (what & BEV_EVENT_CONNECTED) {
		session_timer(s, TIMER_NONE, 0);
		session_set_state(s, SESSION_PROXYING);
		bufferevent_disable(bev, EV_WRITE);
		if (session_pump_request(s) == -1)
			return;
		if (s->up != NULL && session_pump_response(s) == -1)
			return;
		session_flush_all(s);
		return;
	}
	if (s->state == SESSION_CONNECTING) {
		snprintf(why, sizeof why, "cannot connect to %s: %s",
		    s->server->addr_text, session_error_text(bev, tlswhy,
		    sizeof tlswhy));
		if (session_retry(s, 502, why) != -1)
			session_flush_all(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		session_server_end(s, POOL_TIMEOUT);
		if (s->resp_head_sent) {
			s->outcome = METRICS_TIMEOUT;
			session_abort(s, "response_timeout in the body");
		} else {
			s->outcome = METRICS_TIMEOUT;
			session_error(s, 504, "response_timeout");
		}
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		/* A reset is no end of a close-delimited body. */
		log_debug("pool %s: server %s: %s", s->pool->name,
		    s->server->name, session_error_text(bev, tlswhy,
		    sizeof tlswhy));
		s->up_err = 1;
	}
	s->up_eof = 1;
	if (session_pump_response(s) != -1)
		session_flush_all(s);
}

static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;
	enum timer_kind	 kind = s->timer_kind;

	/* Counted by its timer: a close must not take it off idle twice. */
	session_recount(s, s->state, TIMER_NONE);
	s->timer_kind = TIMER_NONE;
	switch (kind) {
	case TIMER_NONE:
		break;
	case TIMER_IDLE:
		session_close(s, "keepalive_timeout");
		break;
	case TIMER_REDUCE:
		session_reduce(s);
		break;
	case TIMER_HEADER:
		if (evbuffer_get_length(bufferevent_get_input(s->cbev)) == 0)
			session_close(s, "client_header_timeout, nothing sent");
		else
			session_error(s, 408, "client_header_timeout");
		break;
	case TIMER_CONNECT:
		if (session_retry(s, 504, "connect_timeout") != -1)
			session_flush_all(s);
		break;
	case TIMER_WATCH:
		session_read_on(s);
		if (s->watch_kind == TIMER_RESPONSE && s->resp_started)
			break;		/* no response_timeout: it began */
		session_timer(s, s->watch_kind, s->idle_left);
		break;
	case TIMER_RESPONSE:
		s->outcome = METRICS_TIMEOUT;
		session_server_end(s, POOL_TIMEOUT);
		session_error(s, 504, "response_timeout");
		break;
	case TIMER_LINGER:
		session_close(s, "client did not take the last answer");
		break;
	}
}

/*
 * Whether the client sent bytes not read yet.  A worker may run a
 * connection's accept and the shutdown in one go, before the request that
 * waits in the socket was read: such a session is not idle.
 */
static int
session_input_pending(struct session *s)
{
	return (session_input_held(s) ||
	    session_peek(bufferevent_getfd(s->cbev)) > 0);
}

void
session_shutdown_all(void)
{
	struct session		*s, *next;
	struct session_idle	*i, *inext;

	/*
	 * A request already in the socket is served, as below.  Lingering
	 * connections end by themselves, within LINGER_MS.
	 */
	TAILQ_FOREACH_SAFE(i, &idle_sessions, entry, inext) {
		if (i->draining)
			continue;
		if (session_peek(event_get_fd(&i->ev)) > 0)
			session_idle_cb(event_get_fd(&i->ev), EV_READ, i);
		else
			session_idle_close(i, 1, "shutting down");
	}
	TAILQ_FOREACH_SAFE(s, &sessions, entry, next) {
		s->close_after = 1;
		s->keepalive = 0;
		if (s->state == SESSION_READ_HEAD && !session_input_pending(s))
			session_close(s, "shutting down");
	}
}

void
session_close_all(void)
{
	struct session		*s;
	struct session_idle	*i;

	while ((i = TAILQ_FIRST(&idle_sessions)) != NULL)
		session_idle_close(i, 1, "shutdown_grace ran out");
	while ((s = TAILQ_FIRST(&sessions)) != NULL)
		session_close(s, "shutdown_grace ran out");
	while (msg_ncache > 0) {
		free(msg_cache[msg_ncache - 1]);
		session_msg_count(msg_ncache - 1);
	}
	if (msg_trim_ev != NULL) {
		event_free(msg_trim_ev);
		msg_trim_ev = NULL;
	}
	access_log_thread_end();
	if (access_flush_ev != NULL) {
		event_free(access_flush_ev);
		access_flush_ev = NULL;
	}
}

unsigned
session_count(void)
{
	return (__atomic_load_n(&cutover.connections, __ATOMIC_RELAXED));
}

void
session_counts(unsigned *reading, unsigned *active, unsigned *idle)
{
	struct worker_counts	t;

	worker_totals(&t);
	*reading = t.reading;
	*active = t.active;
	*idle = t.idle;
}
