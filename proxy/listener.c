/*
 * Listening sockets.  Each bind address of each [listener] gets one
 * evconnlistener; an accepted connection becomes a session that knows the
 * listener by name, so it finds the listener's current settings in
 * whatever config generation is live when each request arrives.  A reload
 * keeps the socket of every address that stays (never closed and
 * reopened, so no connection attempt is refused), opens the added ones
 * and closes the removed ones; connections accepted earlier are sessions
 * of their own and are not touched.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "conf.h"
#include "cutover.h"
#include "listener.h"
#include "log.h"
#include "session.h"
#include "worker.h"
#include "xmalloc.h"

/* One listening socket; owned by the listener list. */
struct listener {
	const char		*name;		/* interned [listener NAME] */
	char			*text;		/* the bind address as written */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 keep;		/* listener_sync(): stays */
	struct evconnlistener	*el;
	struct event		*backoff;	/* accept failed: wait */
	struct listener		*next;
};

/* How long a listener rests after accept ran out of descriptors. */
#define LISTENER_BACKOFF_MS	500

static struct listener	*listeners;
static int		 listeners_paused;

/*
 * Listener names as sessions hold them: a session may outlive its
 * listening socket (shutdown, a bind removed by a reload), so names stay
 * until listener_names_clear() at exit.
 */
struct listener_name {
	struct listener_name	*next;
	char			 name[];
};
static struct listener_name	*listener_names;

const char *
listener_intern(const char *name)
{
	struct listener_name	*n;
	size_t			 len = strlen(name);

	for (n = listener_names; n != NULL; n = n->next) {
		if (strcmp(n->name, name) == 0)
			return (n->name);
	}
	n = xmalloc(sizeof *n + len + 1);
	memcpy(n->name, name, len + 1);
	n->next = listener_names;
	listener_names = n;
	return (n->name);
}

void
listener_names_clear(void)
{
	struct listener_name	*n;

	while ((n = listener_names) != NULL) {
		listener_names = n->next;
		free(n);
	}
}

/* Hands an accepted connection to a new session. */
static void
listener_accept_cb(struct evconnlistener *el, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener	*l = arg;
	unsigned	 n;
	int		 one = 1;

	if (cutover.shutting_down) {
		close(fd);
		return;
	}
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* Counted here, so that the limit holds while workers catch up. */
	n = __atomic_add_fetch(&cutover.connections, 1, __ATOMIC_SEQ_CST);
	cutover.accepted++;
	worker_dispatch(fd, sa, salen, l->name);
	if (n >= (unsigned)cutover.conf->max_connections) {
		listener_pause_all();
		/*
		 * A worker may have closed a connection, this one even,
		 * before the pause showed: it asked for no resume.
		 */
		listener_resume_all();
	}
}

/* The wait after a failed accept is over: accept again, unless paused. */
static void
listener_backoff_cb_locked(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;

	if (!listeners_paused && !cutover.shutting_down)
		evconnlistener_enable(l->el);
}

WORKER_LOCKED_EVENT_CB(listener_backoff_cb)

/* The wait after a failed accept is over: accept again. */
static void
listener_wake_cb_locked(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(arg);
}

WORKER_LOCKED_EVENT_CB(listener_wake_cb)

struct event *
listener_rest_timer(struct event_base *base, struct evconnlistener *el)
{
	struct event	*ev;

	if ((ev = evtimer_new(base, listener_wake_cb, el)) == NULL)
		fatal("out of memory");
	return (ev);
}

/*
 * EMFILE and friends must not spin the loop: the connection stays in the
 * backlog, so the socket stays readable and accept fails again at once,
 * some 100000 times a second, each logged.  The listener rests for
 * LISTENER_BACKOFF_MS instead, as nginx's do, while connections that
 * close free descriptors.
 */
int
listener_rest(struct evconnlistener *el, struct event *timer, int err)
{
	struct timeval	tv = { 0, LISTENER_BACKOFF_MS * 1000 };

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return (0);
	evconnlistener_disable(el);
	evtimer_add(timer, &tv);
	return (1);
}

/* Logs an accept error, and rests the listener where it would repeat. */
static void
listener_error_cb(struct evconnlistener *el, void *arg)
{
	struct listener	*l = arg;
	int		 saved = errno;

	log_error("listener %s: %s: accept: %s", l->name, l->text,
	    strerror(saved));
	listener_rest(el, l->backoff, saved);
}

/* Opens one bind address onto the list at head; errs may be NULL. */
static int
listener_open(struct event_base *base, const struct listener_conf *lc,
    const struct bind_addr *b, struct listener **head,
    struct conf_errors *errs)
{
	struct listener		*l;
	struct evconnlistener	*el;
	int			 fd = -1, one = 1, saved;

	fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
		goto fail;
	if (b->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&b->addr, b->addrlen) == -1)
		goto fail;
	el = evconnlistener_new(base, listener_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE, 1024, fd);
	if (el == NULL)
		goto fail;
	l = xcalloc(1, sizeof *l);
	l->name = listener_intern(lc->name);
	l->text = xstrdup(b->text);
	memcpy(&l->addr, &b->addr, b->addrlen);
	l->addrlen = b->addrlen;
	l->el = el;
	if ((l->backoff = evtimer_new(base, listener_backoff_cb, l)) == NULL)
		fatal("out of memory");
	evconnlistener_set_cb(el, listener_accept_cb, l);
	evconnlistener_set_error_cb(el, listener_error_cb);
	l->next = *head;
	*head = l;
	log_info("listener %s: listening on %s", lc->name, b->text);
	return (0);
fail:
	saved = errno;
	log_error("listener %s: cannot listen on %s: %s", lc->name, b->text,
	    strerror(saved));
	if (errs != NULL)
		conf_errors_add(errs, "listener %s: cannot listen on %s: %s",
		    lc->name, b->text, strerror(saved));
	if (fd != -1)
		close(fd);
	return (-1);
}

int
listener_open_all(struct event_base *base, const struct conf *conf)
{
	size_t	i, j;

	for (i = 0; i < conf->nlisteners; i++) {
		for (j = 0; j < conf->listeners[i]->nbinds; j++) {
			if (listener_open(base, conf->listeners[i],
			    &conf->listeners[i]->binds[j], &listeners,
			    NULL) == -1)
				return (-1);
		}
	}
	return (0);
}

/* Finds the open socket of an address; NULL when there is none. */
static struct listener *
listener_find(struct listener *head, const struct bind_addr *b)
{
	struct listener	*l;

	for (l = head; l != NULL; l = l->next) {
		if (l->addrlen == b->addrlen &&
		    memcmp(&l->addr, &b->addr, b->addrlen) == 0)
			return (l);
	}
	return (NULL);
}

/* Closes and frees one listening socket. */
static void
listener_free(struct listener *l)
{
	evconnlistener_free(l->el);
	event_free(l->backoff);
	free(l->text);
	free(l);
}

int
listener_sync(struct event_base *base, const struct conf *conf,
    struct conf_errors *errs)
{
	struct listener_conf	*lc;
	struct listener		*fresh = NULL, *l, **lp;
	size_t			 i, j;

	/* Open the added addresses first: on failure nothing changed. */
	for (i = 0; i < conf->nlisteners; i++) {
		lc = conf->listeners[i];
		for (j = 0; j < lc->nbinds; j++) {
			if (listener_find(listeners, &lc->binds[j]) != NULL ||
			    listener_find(fresh, &lc->binds[j]) != NULL)
				continue;
			if (listener_open(base, lc, &lc->binds[j], &fresh,
			    errs) == 0)
				continue;
			while ((l = fresh) != NULL) {
				fresh = l->next;
				listener_free(l);
			}
			return (-1);
		}
	}
	for (l = listeners; l != NULL; l = l->next)
		l->keep = 0;
	for (i = 0; i < conf->nlisteners; i++) {
		lc = conf->listeners[i];
		for (j = 0; j < lc->nbinds; j++) {
			if ((l = listener_find(listeners,
			    &lc->binds[j])) == NULL)
				continue;
			l->keep = 1;
			/* An address moved to another [listener]. */
			if (strcmp(l->name, lc->name) != 0)
				l->name = listener_intern(lc->name);
		}
	}
	for (lp = &listeners; (l = *lp) != NULL; ) {
		if (l->keep) {
			lp = &l->next;
			continue;
		}
		*lp = l->next;
		log_info("listener %s: no longer listening on %s", l->name,
		    l->text);
		listener_free(l);
	}
	while ((l = fresh) != NULL) {
		fresh = l->next;
		if (listeners_paused)
			evconnlistener_disable(l->el);
		l->next = listeners;
		listeners = l;
	}
	return (0);
}

void
listener_pause_all(void)
{
	struct listener	*l;

	if (listeners_paused)
		return;
	for (l = listeners; l != NULL; l = l->next)
		evconnlistener_disable(l->el);
	/* Ordered with the count (listener_accept_cb, session_gone). */
	__atomic_store_n(&listeners_paused, 1, __ATOMIC_SEQ_CST);
	if (!cutover.shutting_down)
		log_warn("max_connections reached: not accepting for now");
}

void
listener_resume_all(void)
{
	struct listener	*l;

	/*
	 * The count is read here, not by the caller: workers close
	 * connections at any time, and a resume asked for a while ago may
	 * find the listeners full again.
	 */
	if (!listeners_paused || cutover.shutting_down ||
	    __atomic_load_n(&cutover.connections, __ATOMIC_SEQ_CST) >=
	    (unsigned)cutover.conf->max_connections)
		return;
	for (l = listeners; l != NULL; l = l->next)
		evconnlistener_enable(l->el);
	__atomic_store_n(&listeners_paused, 0, __ATOMIC_RELEASE);
}

void
listener_close_all(void)
{
	struct listener	*l;

	while ((l = listeners) != NULL) {
		listeners = l->next;
		listener_free(l);
	}
	__atomic_store_n(&listeners_paused, 0, __ATOMIC_RELEASE);
}

int
listener_paused(void)
{
	return (__atomic_load_n(&listeners_paused, __ATOMIC_SEQ_CST));
}

unsigned
listener_count(void)
{
	struct listener	*l;
	unsigned	 n = 0;

	for (l = listeners; l != NULL; l = l->next)
		n++;
	return (n);
}
