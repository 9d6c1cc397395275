/*
 * The admin socket.  A unix stream socket, mode 0600, that takes only
 * peers running as the proxy's user or as root (SO_PEERCRED).  Each client
 * sends one command a line and gets an answer that ends with an empty
 * line; errors start with "error: ".  Commands are looked up in a table,
 * as relayd's control socket does: the longest run of keywords that
 * matches picks the entry, whose argument counts and usage the dispatcher
 * checks before calling the handler.
 *
 * A change (split, weight, server state, added or deleted server) writes
 * the runtime fields of the current generation, so it applies to the next
 * request at once while requests in flight keep what they picked; it is
 * logged as "old -> new" and saved to the state file.  A deleted server
 * stays allocated until its generation is released, since a session still
 * holding that generation may point at it.
 *
 * Limits: lines of 4096 bytes, 16 clients at once, admin_timeout (30 s
 * by default) without a byte read from a client closes it.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/queue.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "admin.h"
#include "breaker.h"
#include "conf.h"
#include "cutover.h"
#include "health.h"
#include "json.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "rollout.h"
#include "route.h"
#include "session.h"
#include "state.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

#define ADMIN_MAXLINE		4096
#define ADMIN_MAXCLIENTS	16
#define ADMIN_MAXARGS		64
#define ADMIN_MAXOUT		(1024 * 1024)	/* queued: stop reading */
#define ADMIN_FLUSH		1000		/* ms to send answers at exit */

/*
 * One admin connection; owned by the client list.  A command that waits
 * for work off the event loop (reload, add server) holds the client's
 * later commands, unread, until it is answered: answers keep their order.
 */
struct admin_client {
	struct bufferevent		*bev;
	int				 closing;	/* flush, then free */
	int				 waiting;	/* for an answer below */
	int				 eof;		/* seen while waiting */
	unsigned long			 reload_seq;	/* the reload it waits for */
	struct admin_add		*add;		/* the add it waits for */
	struct event			*gone;		/* while waiting */
	TAILQ_ENTRY(admin_client)	 entry;
};

/*
 * An "add server" whose address is being resolved off the event loop;
 * its offload's (worker.h): freed by admin_add_done() or, abandoned at
 * exit, left to the end of the process with the thread that holds it.
 */
struct admin_add {
	struct admin_client	*c;		/* NULL once the client left */
	char			*pool;
	char			*name;
	char			*spec;		/* "NAME HOST:PORT [weight=N]" */
	struct server		*s;		/* the result... */
	char			*err;		/* ...or why not */
};

/* A server deleted from a generation that sessions may still hold. */
struct admin_retired {
	struct conf		*conf;		/* a reference */
	struct server		*server;
	struct admin_retired	*next;
};

/* A command being answered. */
struct admin_req {
	struct admin_client	*c;
	struct evbuffer		*out;
	const struct admin_cmd	*cmd;
	int			 argc;		/* after the keywords */
	char			**argv;
	int			 json;		/* a final "json" was given */
	int			 later;		/* answered once work is done */
};

/* One entry of the command table. */
struct admin_cmd {
	const char	*name;		/* keywords, space separated */
	int		 min;		/* arguments after the keywords */
	int		 max;
	int		 json;		/* takes a final "json" */
	const char	*usage;
	const char	*help;
	void		(*fn)(struct admin_req *);
};

static void	admin_help(struct admin_req *);
static void	admin_show_info(struct admin_req *);
static void	admin_show_routes(struct admin_req *);
static void	admin_show_pools(struct admin_req *);
static void	admin_show_rollouts(struct admin_req *);
static void	admin_show_metrics(struct admin_req *);
static void	admin_set_split(struct admin_req *);
static void	admin_switch(struct admin_req *);
static void	admin_set_weight(struct admin_req *);
static void	admin_set_server(struct admin_req *);
static void	admin_add_server(struct admin_req *);
static void	admin_del_server(struct admin_req *);
static void	admin_rollout(struct admin_req *);
static void	admin_reload_cmd(struct admin_req *);
static void	admin_add_work(void *);
static void	admin_add_done(void *);
static void	admin_add_abandon(void *);
static void	admin_add_free(void *);
static void	admin_wait(struct admin_req *);
static void	admin_req_later(struct admin_req *, struct admin_client *);
static void	admin_resume(struct admin_client *);
static void	admin_client_free(struct admin_client *);
static void	admin_read_cb_locked(struct bufferevent *, void *);
static void	admin_event_cb_locked(struct bufferevent *, short, void *);
static void	admin_quit(struct admin_req *);

static const struct admin_cmd admin_cmds[] = {
	{ "help", 0, 0, 0, "help",
	    "list the commands", admin_help },
	{ "show info", 0, 0, 1, "show info [json]",
	    "version, pid, uptime, config file, connections", admin_show_info },
	{ "show routes", 0, 0, 1, "show routes [json]",
	    "splits as configured and effective, stable, sticky, matches",
	    admin_show_routes },
	{ "show pools", 0, 0, 1, "show pools [json]",
	    "servers: weight, health, breaker, state, requests, errors",
	    admin_show_pools },
	{ "show rollouts", 0, 0, 1, "show rollouts [json]",
	    "rollouts and their progress", admin_show_rollouts },
	{ "show metrics", 0, 0, 1, "show metrics [json]",
	    "the Prometheus text of /metrics", admin_show_metrics },
	{ "set split", 2, ADMIN_MAXARGS, 0,
	    "set split ROUTE POOL=W [POOL=W ...]",
	    "set split weights (0-10000) of a route", admin_set_split },
	{ "switch", 2, 2, 0, "switch ROUTE POOL",
	    "send 100% of a route to one pool at once", admin_switch },
	{ "set weight", 2, 2, 0, "set weight POOL/SERVER W",
	    "set a server's weight (0-256)", admin_set_weight },
	{ "set server", 2, 2, 0, "set server POOL/SERVER ready|drain|maint",
	    "take a server in or out of service", admin_set_server },
	{ "add server", 3, 4, 0, "add server POOL NAME HOST:PORT [weight=N]",
	    "add a server to a pool", admin_add_server },
	{ "del server", 1, 1, 0, "del server POOL/SERVER",
	    "delete a drained server", admin_del_server },
	{ "rollout start", 1, 1, 0, "rollout start ROUTE",
	    "start the route's rollout", admin_rollout },
	{ "rollout pause", 1, 1, 0, "rollout pause ROUTE",
	    "pause it", admin_rollout },
	{ "rollout resume", 1, 1, 0, "rollout resume ROUTE",
	    "resume it", admin_rollout },
	{ "rollout confirm", 1, 1, 0, "rollout confirm ROUTE",
	    "confirm a step waiting for it", admin_rollout },
	{ "rollout abort", 1, 1, 0, "rollout abort ROUTE",
	    "roll back to the split before the start", admin_rollout },
	{ "rollout promote", 1, 1, 0, "rollout promote ROUTE",
	    "send everything to the canary and end", admin_rollout },
	{ "rollout status", 1, 1, 1, "rollout status ROUTE [json]",
	    "the rollout's progress", admin_rollout },
	{ "reload", 0, 0, 0, "reload",
	    "reload the config file", admin_reload_cmd },
	{ "quit", 0, 0, 0, "quit",
	    "close the connection", admin_quit },
};

static const struct worker_offload_ops admin_add_ops = {
	admin_add_work, admin_add_done, admin_add_abandon
};


static struct evconnlistener	*admin_el;
static char			*admin_path;
static dev_t			 admin_dev;
static ino_t			 admin_ino;
static struct evconnlistener	*admin_next_el;	/* admin_prepare()'s */
static char			*admin_next_path;
static dev_t			 admin_next_dev;
static ino_t			 admin_next_ino;
static admin_reload_fn		 admin_reload_cb;
static TAILQ_HEAD(, admin_client) admin_clients =
    TAILQ_HEAD_INITIALIZER(admin_clients);
static unsigned			 admin_nclients;
static struct admin_retired	*admin_retired;
static struct event		*admin_sweep_ev;
static struct event		*admin_rest_ev;	/* accept failed: wait */
static int			 admin_loop_ended;

/* Appends an error answer line. */
static void __attribute__((format(printf, 2, 3)))
admin_error(struct admin_req *req, const char *fmt, ...)
{
	va_list	ap;

	evbuffer_add(req->out, "error: ", 7);
	va_start(ap, fmt);
	evbuffer_add_vprintf(req->out, fmt, ap);
	va_end(ap);
	evbuffer_add(req->out, "\n", 1);
}

/* Appends the answer of a change that went through. */
static void
admin_ok(struct admin_req *req)
{
	evbuffer_add(req->out, "ok\n", 3);
}


/* Appends "name": to a JSON object, with a comma unless first. */
static void
admin_json_key(struct evbuffer *b, const char *name, int first)
{
	if (!first)
		evbuffer_add(b, ",", 1);
	json_str(b, name);
	evbuffer_add(b, ":", 1);
}

/* Lists the commands. */
static void
admin_help(struct admin_req *req)
{
	size_t	i;

	for (i = 0; i < sizeof admin_cmds / sizeof admin_cmds[0]; i++)
		evbuffer_add_printf(req->out, "%-43s %s\n",
		    admin_cmds[i].usage, admin_cmds[i].help);
}

/* Appends LABEL and one figure of every worker: 0 sessions, 1 requests,
   2 batch_wait sleeps, 3 busy polls that found work, 4 parsed heads
   kept for reuse. */
static void
admin_workers_figure(struct evbuffer *b, const char *label, int which)
{
	struct worker_counts	wc;
	int			i;

	evbuffer_add_printf(b, "%s", label);
	for (i = 0; i < worker_count(); i++) {
		worker_counts_of(i, &wc);
		evbuffer_add_printf(b, "%s %llu", i ? "," : "",
		    which == 0 ? (unsigned long long)wc.sessions :
		    which == 1 ? (unsigned long long)wc.requests :
		    which == 2 ? (unsigned long long)wc.batch_sleeps :
		    which == 3 ? (unsigned long long)wc.busy_polls :
		    (unsigned long long)wc.cached_heads);
	}
}

/* Version, pid, uptime, config, connections by state, requests. */
static void
admin_show_info(struct admin_req *req)
{
	struct evbuffer	*b = req->out;
	const struct conf *conf = cutover.conf;
	struct worker_counts wc;
	unsigned	 reading, active, idle;
	long		 uptime = (long)(time(NULL) - cutover.started);
	int		 i;

	session_counts(&reading, &active, &idle);
	if (!req->json) {
		evbuffer_add_printf(b, "version: %s\npid: %ld\nuptime: %lds\n"
		    "config: %s\nstate file: %s\nadmin socket: %s\n"
		    "listening sockets: %u\n"
		    "connections: %u (reading %u, active %u, idle %u)\n"
		    "accepted: %llu\nrequests: %llu\nshutting down: %s\n",
		    PACKAGE_VERSION, (long)getpid(), uptime, cutover.conf_path,
		    conf->state_file != NULL ? conf->state_file : "none",
		    admin_path != NULL ? admin_path : "none",
		    listener_count(), session_count(), reading, active, idle,
		    (unsigned long long)cutover.accepted,
		    (unsigned long long)cutover_requests(),
		    cutover.shutting_down ? "yes" : "no");
		/* Per worker: an uneven spread shows here. */
		evbuffer_add_printf(b, "workers: %d (", worker_count());
		admin_workers_figure(b, "sessions", 0);
		admin_workers_figure(b, "; requests", 1);
		admin_workers_figure(b, "; batch sleeps", 2);
		admin_workers_figure(b, "; busy polls", 3);
		admin_workers_figure(b, "; cached heads", 4);
		evbuffer_add_printf(b, ")\n");
		return;
	}
	evbuffer_add(b, "{", 1);
	admin_json_key(b, "version", 1);
	json_str(b, PACKAGE_VERSION);
	evbuffer_add_printf(b, ",\"pid\":%ld,\"uptime\":%ld", (long)getpid(),
	    uptime);
	admin_json_key(b, "config", 0);
	json_str(b, cutover.conf_path);
	admin_json_key(b, "state_file", 0);
	json_str(b, conf->state_file);
	admin_json_key(b, "admin_socket", 0);
	json_str(b, admin_path);
	evbuffer_add_printf(b, ",\"listening_sockets\":%u,\"connections\":"
	    "{\"total\":%u,\"reading\":%u,\"active\":%u,\"idle\":%u},"
	    "\"accepted\":%llu,\"requests\":%llu,\"shutting_down\":%s,"
	    "\"workers\":[",
	    listener_count(), session_count(), reading, active, idle,
	    (unsigned long long)cutover.accepted,
	    (unsigned long long)cutover_requests(),
	    cutover.shutting_down ? "true" : "false");
	for (i = 0; i < worker_count(); i++) {
		worker_counts_of(i, &wc);
		evbuffer_add_printf(b, "%s{\"sessions\":%u,\"requests\":%llu,"
		    "\"batch_sleeps\":%llu,\"busy_polls\":%llu,"
		    "\"cached_heads\":%u}",
		    i ? "," : "", wc.sessions,
		    (unsigned long long)wc.requests,
		    (unsigned long long)wc.batch_sleeps,
		    (unsigned long long)wc.busy_polls, wc.cached_heads);
	}
	evbuffer_add_printf(b, "]}\n");
}

/* Appends a route's split as "blue 90, green 10". */
static void
admin_split_text(struct evbuffer *b, const struct route *r, int conf)
{
	size_t	i;

	for (i = 0; i < r->nsplit; i++)
		evbuffer_add_printf(b, "%s%s %d", i > 0 ? ", " : "",
		    r->split[i].pool->name, conf ? r->split[i].conf_weight :
		    r->split[i].weight);
}

/* Appends a match rule as written in the config. */
static void
admin_match_text(struct evbuffer *b, const struct match_rule *m)
{
	switch (m->kind) {
	case MATCH_HEADER:
		evbuffer_add_printf(b, "match_header %s: %s -> %s", m->name,
		    m->value, m->pool->name);
		break;
	case MATCH_HEADER_PRESENT:
		evbuffer_add_printf(b, "match_header %s -> %s", m->name,
		    m->pool->name);
		break;
	case MATCH_COOKIE:
		evbuffer_add_printf(b, "match_cookie %s=%s -> %s", m->name,
		    m->value, m->pool->name);
		break;
	}
}

/* Appends one route as text. */
static void
admin_route_text(struct evbuffer *b, const struct route *r)
{
	size_t	i, w = 4;

	evbuffer_add_printf(b, "route %s: host ", r->name);
	if (r->nhosts == 0)
		evbuffer_add_printf(b, "any");
	for (i = 0; i < r->nhosts; i++)
		evbuffer_add_printf(b, "%s%s", i > 0 ? " " : "", r->hosts[i]);
	evbuffer_add_printf(b, ", path_prefix %s, listener ", r->path_prefix);
	if (r->nlisteners == 0)
		evbuffer_add_printf(b, "all");
	for (i = 0; i < r->nlisteners; i++)
		evbuffer_add_printf(b, "%s%s", i > 0 ? " " : "",
		    r->listeners[i]->name);
	evbuffer_add_printf(b, ", stable %s, sticky %s", r->stable->name,
	    conf_sticky_name(r->sticky));
	if (r->sticky == STICKY_COOKIE || r->sticky == STICKY_HEADER)
		evbuffer_add_printf(b, " %s", r->sticky_name);
	if (r->sticky_cookie_set)
		evbuffer_add_printf(b, " (cookie set)");
	evbuffer_add(b, "\n", 1);
	for (i = 0; i < r->nsplit; i++) {
		if (strlen(r->split[i].pool->name) > w)
			w = strlen(r->split[i].pool->name);
	}
	evbuffer_add_printf(b, "  %-*s  configured  effective   share\n",
	    (int)w, "pool");
	for (i = 0; i < r->nsplit; i++)
		evbuffer_add_printf(b, "  %-*s  %10d  %9d  %5.1f%%\n", (int)w,
		    r->split[i].pool->name, r->split[i].conf_weight,
		    r->split[i].weight, route_share(r, i));
	for (i = 0; i < r->nmatches; i++) {
		evbuffer_add(b, "  ", 2);
		admin_match_text(b, &r->matches[i]);
		evbuffer_add(b, "\n", 1);
	}
}

/* Appends one route as a JSON object. */
static void
admin_route_json(struct evbuffer *b, const struct route *r)
{
	const struct match_rule	*m;
	size_t			 i;

	evbuffer_add(b, "{", 1);
	admin_json_key(b, "name", 1);
	json_str(b, r->name);
	admin_json_key(b, "hosts", 0);
	evbuffer_add(b, "[", 1);
	for (i = 0; i < r->nhosts; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		json_str(b, r->hosts[i]);
	}
	evbuffer_add(b, "]", 1);
	admin_json_key(b, "path_prefix", 0);
	json_str(b, r->path_prefix);
	admin_json_key(b, "listeners", 0);
	evbuffer_add(b, "[", 1);
	for (i = 0; i < r->nlisteners; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		json_str(b, r->listeners[i]->name);
	}
	evbuffer_add(b, "]", 1);
	admin_json_key(b, "stable", 0);
	json_str(b, r->stable->name);
	admin_json_key(b, "sticky", 0);
	evbuffer_add(b, "{", 1);
	admin_json_key(b, "kind", 1);
	json_str(b, conf_sticky_name(r->sticky));
	admin_json_key(b, "name", 0);
	json_str(b, r->sticky_name);
	evbuffer_add_printf(b, ",\"cookie_set\":%s}",
	    r->sticky_cookie_set ? "true" : "false");
	admin_json_key(b, "split", 0);
	evbuffer_add(b, "[", 1);
	for (i = 0; i < r->nsplit; i++) {
		evbuffer_add(b, i > 0 ? ",{" : "{", i > 0 ? 2 : 1);
		admin_json_key(b, "pool", 1);
		json_str(b, r->split[i].pool->name);
		evbuffer_add_printf(b, ",\"conf_weight\":%d,\"weight\":%d,"
		    "\"share\":%.2f}", r->split[i].conf_weight,
		    r->split[i].weight, route_share(r, i));
	}
	evbuffer_add(b, "]", 1);
	admin_json_key(b, "matches", 0);
	evbuffer_add(b, "[", 1);
	for (i = 0; i < r->nmatches; i++) {
		m = &r->matches[i];
		evbuffer_add(b, i > 0 ? ",{" : "{", i > 0 ? 2 : 1);
		admin_json_key(b, "kind", 1);
		json_str(b, m->kind == MATCH_COOKIE ? "cookie" :
		    m->kind == MATCH_HEADER ? "header" : "header_present");
		admin_json_key(b, "name", 0);
		json_str(b, m->name);
		admin_json_key(b, "value", 0);
		json_str(b, m->value);
		admin_json_key(b, "pool", 0);
		json_str(b, m->pool->name);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add(b, "]}", 2);
}

/* Routes: the split as configured and as effective, and the rest. */
static void
admin_show_routes(struct admin_req *req)
{
	const struct conf	*conf = cutover.conf;
	size_t			 i;

	if (req->json)
		evbuffer_add(req->out, "{\"routes\":[", 11);
	for (i = 0; i < conf->nroutes; i++) {
		if (!req->json) {
			admin_route_text(req->out, conf->routes[i]);
			continue;
		}
		if (i > 0)
			evbuffer_add(req->out, ",", 1);
		admin_route_json(req->out, conf->routes[i]);
	}
	if (req->json)
		evbuffer_add(req->out, "]}\n", 3);
	else if (conf->nroutes == 0)
		evbuffer_add_printf(req->out, "no routes\n");
}

/* Appends one pool as text: a line, then a table of its servers. */
static void
admin_pool_text(struct evbuffer *b, const struct pool *p)
{
	const struct server	*s;
	size_t			 i, wn = 6, wa = 7;

	evbuffer_add_printf(b, "pool %s: %s, health checks %s\n", p->name,
	    p->balance == BALANCE_LEAST_CONN ? "least_conn" : "roundrobin",
	    p->health_path != NULL ? p->health_path : "off");
	for (i = 0; i < p->nservers; i++) {
		s = p->servers[i];
		if (strlen(s->name) > wn)
			wn = strlen(s->name);
		if (strlen(s->addr_text) > wa)
			wa = strlen(s->addr_text);
	}
	evbuffer_add_printf(b, "  %-*s  %-*s  weight  conf  health    "
	    "breaker    state  active  requests  errors  idle\n", (int)wn,
	    "server", (int)wa, "address");
	for (i = 0; i < p->nservers; i++) {
		s = p->servers[i];
		evbuffer_add_printf(b, "  %-*s  %-*s  %6d  %4d  %-8s  %-9s  "
		    "%-5s  %6u  %8llu  %6llu  %4u%s%s\n", (int)wn, s->name,
		    (int)wa, s->addr_text, s->weight, s->conf_weight,
		    health_state_name(s->health),
		    breaker_state_name(s->breaker),
		    conf_admin_name(s->admin), s->active,
		    (unsigned long long)s->requests,
		    (unsigned long long)s->errors, upstream_idle_count(s),
		    s->backup ? "  backup" : "", s->added ? "  added" : "");
	}
}

/* Appends one pool as a JSON object. */
static void
admin_pool_json(struct evbuffer *b, const struct pool *p)
{
	const struct server	*s;
	uint64_t		 ok, fail;
	size_t			 i;

	evbuffer_add(b, "{", 1);
	admin_json_key(b, "name", 1);
	json_str(b, p->name);
	admin_json_key(b, "balance", 0);
	json_str(b, p->balance == BALANCE_LEAST_CONN ? "least_conn" :
	    "roundrobin");
	admin_json_key(b, "health_path", 0);
	json_str(b, p->health_path);
	admin_json_key(b, "servers", 0);
	evbuffer_add(b, "[", 1);
	for (i = 0; i < p->nservers; i++) {
		s = p->servers[i];
		evbuffer_add(b, i > 0 ? ",{" : "{", i > 0 ? 2 : 1);
		admin_json_key(b, "name", 1);
		json_str(b, s->name);
		admin_json_key(b, "address", 0);
		json_str(b, s->addr_text);
		evbuffer_add_printf(b, ",\"weight\":%d,\"conf_weight\":%d",
		    s->weight, s->conf_weight);
		admin_json_key(b, "health", 0);
		json_str(b, health_state_name(s->health));
		admin_json_key(b, "breaker", 0);
		json_str(b, breaker_state_name(s->breaker));
		admin_json_key(b, "state", 0);
		json_str(b, conf_admin_name(s->admin));
		health_checks(s, &ok, &fail);
		evbuffer_add_printf(b, ",\"active\":%u,\"requests\":%llu,"
		    "\"errors\":%llu,\"idle\":%u,\"backup\":%s,\"added\":%s,"
		    "\"checks_ok\":%llu,\"checks_failed\":%llu,"
		    "\"breaker_failures\":%d", s->active,
		    (unsigned long long)s->requests,
		    (unsigned long long)s->errors, upstream_idle_count(s),
		    s->backup ? "true" : "false", s->added ? "true" : "false",
		    (unsigned long long)ok, (unsigned long long)fail,
		    breaker_failure_count(s));
		admin_json_key(b, "last_check", 0);
		json_str(b, health_last_result(s));
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add(b, "]}", 2);
}

/* Pools and their servers. */
static void
admin_show_pools(struct admin_req *req)
{
	const struct conf	*conf = cutover.conf;
	size_t			 i;

	if (req->json)
		evbuffer_add(req->out, "{\"pools\":[", 10);
	for (i = 0; i < conf->npools; i++) {
		if (!req->json) {
			admin_pool_text(req->out, conf->pools[i]);
			continue;
		}
		if (i > 0)
			evbuffer_add(req->out, ",", 1);
		admin_pool_json(req->out, conf->pools[i]);
	}
	if (req->json)
		evbuffer_add(req->out, "]}\n", 3);
}

/* show rollouts [json]: every rollout and its progress (rollout.c). */
static void
admin_show_rollouts(struct admin_req *req)
{
	if (!req->json) {
		rollout_show(req->out, NULL);
		return;
	}
	evbuffer_add(req->out, "{\"rollouts\":", 12);
	rollout_json(req->out, NULL);
	evbuffer_add(req->out, "}\n", 2);
}

/*
 * One sample line of the Prometheus text as JSON: {"name":...,
 * "labels":{...},"value":...}.  Label values lose the text format's
 * escapes (\\, \" and \n) and get JSON's; a value that JSON has no number
 * for (NaN, +Inf, -Inf) stays a string.  -1 when the line is not a sample.
 */
static int
admin_metric_sample_json(struct evbuffer *b, char *line)
{
	char	*p = line, *name, *value, *v, *w;
	int	 first = 1;

	name = p;
	p += strcspn(p, "{ ");
	evbuffer_add(b, "{\"name\":", 8);
	if (*p == '{') {
		*p++ = '\0';
		json_str(b, name);
		evbuffer_add(b, ",\"labels\":{", 11);
		while (*p != '}') {
			v = p + strcspn(p, "=");
			if (*v != '=' || v[1] != '"')
				return (-1);
			*v = '\0';
			admin_json_key(b, p, first);
			first = 0;
			/* Unescapes in place: w never passes v. */
			for (w = v += 2; *v != '"'; v++, w++) {
				if (*v == '\0')
					return (-1);
				if (*v == '\\' && v[1] != '\0')
					*w = *++v == 'n' ? '\n' : *v;
				else
					*w = *v;
			}
			*w = '\0';
			json_str(b, p + strlen(p) + 2);
			p = v + 1;
			if (*p == ',')
				p++;
		}
		evbuffer_add(b, "}", 1);
		p++;
	} else {
		if (*p != ' ')
			return (-1);
		*p = '\0';
		json_str(b, name);
		p++;
	}
	value = p + strspn(p, " ");
	value[strcspn(value, " ")] = '\0';
	evbuffer_add(b, ",\"value\":", 9);
	if (strspn(value, "0123456789.eE+-") == strlen(value) &&
	    strpbrk(value, "0123456789") != NULL && value[0] != '+')
		evbuffer_add(b, value, strlen(value));
	else
		json_str(b, value);
	evbuffer_add(b, "}", 1);
	return (0);
}

/*
 * The Prometheus text, without empty lines (they end an answer); with
 * json, one object: {"metrics":[{"name":...,"type":...,"help":...,
 * "samples":[...]}]}, a family per "# TYPE" line with the samples after it.
 */
static void
admin_show_metrics(struct admin_req *req)
{
	struct evbuffer	*tmp, *one, *b = req->out;
	char		*line, *help = NULL;
	const char	*type;
	size_t		 len;
	int		 family = 0, sample = 0;

	if ((tmp = evbuffer_new()) == NULL || (one = evbuffer_new()) == NULL) {
		if (tmp != NULL)
			evbuffer_free(tmp);
		admin_error(req, "out of memory");
		return;
	}
	metrics_render(tmp);
	if (req->json)
		evbuffer_add(b, "{\"metrics\":[", 12);
	while ((line = evbuffer_readln(tmp, &len, EVBUFFER_EOL_LF)) != NULL) {
		if (len == 0)
			;
		else if (!req->json) {
			evbuffer_add(b, line, len);
			evbuffer_add(b, "\n", 1);
		} else if (strncmp(line, "# HELP ", 7) == 0) {
			free(help);
			help = line;
			continue;
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			len = strcspn(line + 7, " ");
			type = line[7 + len] == ' ' ? line + 8 + len : "";
			line[7 + len] = '\0';
			evbuffer_add_printf(b, "%s{\"name\":", family++ ?
			    "]}," : "");
			json_str(b, line + 7);
			evbuffer_add(b, ",\"type\":", 8);
			json_str(b, type);
			evbuffer_add(b, ",\"help\":", 8);
			/* "# HELP name text", for this family. */
			json_str(b, help != NULL && strncmp(help + 7,
			    line + 7, len) == 0 && help[7 + len] == ' ' ?
			    help + 8 + len : "");
			evbuffer_add(b, ",\"samples\":[", 12);
			sample = 0;
		} else if (line[0] != '#' && family > 0) {
			/* A line it cannot read leaves nothing behind. */
			evbuffer_drain(one, evbuffer_get_length(one));
			if (admin_metric_sample_json(one, line) == -1)
				log_warn("admin: show metrics json: cannot "
				    "read a sample line");
			else {
				if (sample++ > 0)
					evbuffer_add(b, ",", 1);
				evbuffer_add_buffer(b, one);
			}
		}
		free(line);
	}
	free(help);
	if (req->json)
		evbuffer_add_printf(b, "%s]}\n", family ? "]}" : "");
	else if (evbuffer_get_length(tmp) > 0) {
		evbuffer_add_buffer(b, tmp);
		evbuffer_add(b, "\n", 1);
	}
	evbuffer_free(one);
	evbuffer_free(tmp);
}

/* Finds a route; answers an error and returns NULL when absent. */
static struct route *
admin_route(struct admin_req *req, const char *name)
{
	struct route	*r;

	if ((r = conf_find_route(cutover.conf, name)) == NULL)
		admin_error(req, "no route \"%s\"", name);
	return (r);
}

/*
 * Finds the server of "POOL/SERVER"; answers an error and returns NULL
 * when it is malformed or absent.
 */
static struct server *
admin_server(struct admin_req *req, const char *arg, struct pool **pp)
{
	struct pool	*p;
	struct server	*s;
	const char	*slash;
	char		*pool;

	if ((slash = strchr(arg, '/')) == NULL || slash == arg ||
	    slash[1] == '\0') {
		admin_error(req, "usage: %s", req->cmd->usage);
		return (NULL);
	}
	pool = xstrndup(arg, slash - arg);
	p = conf_find_pool(cutover.conf, pool);
	if (p == NULL)
		admin_error(req, "no pool \"%s\"", pool);
	free(pool);
	if (p == NULL)
		return (NULL);
	if ((s = conf_find_server(p, slash + 1)) == NULL) {
		admin_error(req, "pool %s: no server \"%s\"", p->name,
		    slash + 1);
		return (NULL);
	}
	if (pp != NULL)
		*pp = p;
	return (s);
}

/* Saves the state after a change; a failure is logged by state_save(). */
static void
admin_changed(void)
{
	state_save(cutover.conf);
}

/*
 * Gives a route the weights w[] (one per split entry) in one change, logs
 * it as old -> new on behalf of who and saves it.  The smooth round-robin
 * state starts over, so the new split is exact from the next request on.
 */
void
admin_split_apply(struct route *r, const int *w, const char *who)
{
	struct evbuffer	*b;
	size_t		 i;

	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	admin_split_text(b, r, 0);
	evbuffer_add(b, " -> ", 4);
	for (i = 0; i < r->nsplit; i++) {
		r->split[i].weight = w[i];
		r->split[i].cur = 0;
	}
	admin_split_text(b, r, 0);
	evbuffer_add(b, "", 1);
	log_info("%s: route %s: split %s", who, r->name,
	    (const char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
	admin_changed();
}

/* set split ROUTE POOL=W [POOL=W ...]: the pools not named keep theirs. */
static void
admin_set_split(struct admin_req *req)
{
	struct route	*r;
	int		*w = NULL;
	unsigned char	*seen = NULL;
	const char	*eq;
	size_t		 i, len;
	int		 a, total = 0;

	if ((r = admin_route(req, req->argv[0])) == NULL)
		return;
	w = xcalloc(r->nsplit, sizeof *w);
	seen = xcalloc(r->nsplit, 1);
	for (i = 0; i < r->nsplit; i++)
		w[i] = r->split[i].weight;
	for (a = 1; a < req->argc; a++) {
		if ((eq = strchr(req->argv[a], '=')) == NULL ||
		    eq == req->argv[a]) {
			admin_error(req, "usage: %s", req->cmd->usage);
			goto done;
		}
		len = eq - req->argv[a];
		for (i = 0; i < r->nsplit; i++) {
			if (strlen(r->split[i].pool->name) == len &&
			    strncmp(r->split[i].pool->name, req->argv[a],
			    len) == 0)
				break;
		}
		if (i == r->nsplit) {
			admin_error(req, "route %s: pool \"%.*s\" is not in "
			    "its split", r->name, (int)len, req->argv[a]);
			goto done;
		}
		if (seen[i]++) {
			admin_error(req, "route %s: pool %s given twice",
			    r->name, r->split[i].pool->name);
			goto done;
		}
		if (conf_int(eq + 1, 0, 10000, &w[i]) == -1) {
			admin_error(req, "route %s: pool %s: weight \"%s\" "
			    "out of range 0-10000", r->name,
			    r->split[i].pool->name, eq + 1);
			goto done;
		}
	}
	for (i = 0; i < r->nsplit; i++)
		total += w[i];
	if (total == 0) {
		admin_error(req, "route %s: the weights would all be 0",
		    r->name);
		goto done;
	}
	admin_split_apply(r, w, "admin");
	admin_ok(req);
done:
	free(seen);
	free(w);
}

/* switch ROUTE POOL: 100 to POOL, 0 to the others, in one change. */
static void
admin_switch(struct admin_req *req)
{
	struct route	*r;
	int		*w;
	size_t		 i;
	int		 found = 0;

	if ((r = admin_route(req, req->argv[0])) == NULL)
		return;
	w = xcalloc(r->nsplit, sizeof *w);
	for (i = 0; i < r->nsplit; i++) {
		if (strcmp(r->split[i].pool->name, req->argv[1]) == 0) {
			w[i] = 100;
			found = 1;
		}
	}
	if (!found)
		admin_error(req, "route %s: pool \"%s\" is not in its split",
		    r->name, req->argv[1]);
	else {
		admin_split_apply(r, w, "admin");
		admin_ok(req);
	}
	free(w);
}

/* set weight POOL/SERVER W */
static void
admin_set_weight(struct admin_req *req)
{
	struct pool	*p;
	struct server	*s;
	size_t		 i;
	int		 w;

	if ((s = admin_server(req, req->argv[0], &p)) == NULL)
		return;
	if (conf_int(req->argv[1], 0, 256, &w) == -1) {
		admin_error(req, "pool %s: server %s: weight \"%s\" out of "
		    "range 0-256", p->name, s->name, req->argv[1]);
		return;
	}
	log_info("admin: pool %s: server %s: weight %d -> %d", p->name,
	    s->name, s->weight, w);
	s->weight = w;
	for (i = 0; i < p->nservers; i++)
		p->servers[i]->cur_weight = 0;
	admin_changed();
	admin_ok(req);
}

/* set server POOL/SERVER ready|drain|maint */
static void
admin_set_server(struct admin_req *req)
{
	struct pool		*p;
	struct server		*s;
	enum server_admin	 st;

	if ((s = admin_server(req, req->argv[0], &p)) == NULL)
		return;
	if (conf_admin_parse(req->argv[1], &st) == -1) {
		admin_error(req, "usage: %s", req->cmd->usage);
		return;
	}
	log_info("admin: pool %s: server %s: %s -> %s (%u requests in "
	    "flight)", p->name, s->name, conf_admin_name(s->admin),
	    conf_admin_name(st), s->active);
	s->admin = st;
	/* maint takes no traffic: its idle connections go too. */
	if (st == SERVER_MAINT)
		upstream_server_clear(s);
	admin_changed();
	admin_ok(req);
}

/*
 * The pool of the running generation a server named name can be added
 * to, or NULL with the error appended.
 */
static struct pool *
admin_add_pool(struct admin_req *req, const char *pool, const char *name)
{
	struct pool	*p;

	if (cutover.shutting_down)
		admin_error(req, "shutting down");
	else if ((p = conf_find_pool(cutover.conf, pool)) == NULL)
		admin_error(req, "no pool \"%s\"", pool);
	else if (conf_find_server(p, name) != NULL)
		admin_error(req, "pool %s: server %s exists already", p->name,
		    name);
	else
		return (p);
	return (NULL);
}

/* add server POOL NAME HOST:PORT [weight=N] */
static void
admin_add_server(struct admin_req *req)
{
	struct admin_add	*a;
	struct pool		*p;

	if ((p = admin_add_pool(req, req->argv[0], req->argv[1])) == NULL)
		return;
	if (req->argc == 4 && strncmp(req->argv[3], "weight=", 7) != 0) {
		admin_error(req, "usage: %s", req->cmd->usage);
		return;
	}
	/* Resolving HOST may take a while: not on the event loop. */
	a = xcalloc(1, sizeof *a);
	a->c = req->c;
	a->pool = xstrdup(p->name);
	a->name = xstrdup(req->argv[1]);
	a->spec = xasprintf("%s %s%s%s", req->argv[1], req->argv[2],
	    req->argc == 4 ? " " : "", req->argc == 4 ? req->argv[3] : "");
	req->c->add = a;
	admin_wait(req);
	worker_offload(&admin_add_ops, a);
}

/* On a thread of its own: parses the server, resolving its address. */
static void
admin_add_work(void *arg)
{
	struct admin_add	*a = arg;
	const char		*errstr;

	/* conf_phrase()'s buffer is the thread's own: copy it out. */
	if ((errstr = conf_server(a->spec, &a->s)) != NULL)
		a->err = xstrdup(errstr);
}

/*
 * Back on the main thread: adds the server to the pool of that name in the
 * running generation, which a reload may have replaced meanwhile.  A
 * client that left before the answer does not take its command back.
 */
static void
admin_add_done(void *arg)
{
	struct admin_add	*a = arg;
	struct admin_client	*c = a->c;
	struct admin_req	 req;
	struct pool		*p;
	struct server		*s = a->s;

	admin_req_later(&req, c);
	if (a->err != NULL)
		admin_error(&req, "pool %s: server %s: %s", a->pool, a->name,
		    a->err);
	else if ((p = admin_add_pool(&req, a->pool, a->name)) != NULL) {
		s->pool = p;
		s->added = 1;
		p->servers = xreallocarray(p->servers, p->nservers + 1,
		    sizeof *p->servers);
		p->servers[p->nservers++] = s;
		/* Both skip the servers that have their state already. */
		breaker_start(cutover.base, cutover.conf);
		health_start(cutover.conf);
		log_info("admin: pool %s: server %s %s added, weight %d",
		    p->name, s->name, s->addr_text, s->weight);
		a->s = NULL;
		admin_changed();
		admin_ok(&req);
	}
	if (c != NULL) {
		c->add = NULL;
		admin_resume(c);
	} else
		evbuffer_free(req.out);
	admin_add_free(a);
}

/*
 * At exit, while the address is still being resolved: the client gets
 * the answer a command after the shutdown gets.  a->s and a->err are the
 * thread's, and so is a once this returns.
 */
static void
admin_add_abandon(void *arg)
{
	struct admin_add	*a = arg;
	struct admin_client	*c = a->c;
	struct admin_req	 req;

	if (c == NULL)
		return;
	admin_req_later(&req, c);
	admin_error(&req, "shutting down");
	c->add = NULL;
	admin_resume(c);
}

/* Frees an add, with the server it made unless that was added. */
static void
admin_add_free(void *arg)
{
	struct admin_add	*a = arg;

	conf_server_free(a->s);
	free(a->pool);
	free(a->name);
	free(a->spec);
	free(a->err);
	free(a);
}

/*
 * Stops the health checks and the breaker of one server.  The health and
 * breaker modules stop a whole generation only, so they get a view of it
 * holding just s.
 * TODO: health_server_stop() and breaker_server_stop() would say it.
 */
static void
admin_server_stop(struct pool *p, struct server *s)
{
	struct conf	 view;
	struct pool	 pool = *p, *pools[1] = { &pool };
	struct server	*servers[1] = { s };

	memset(&view, 0, sizeof view);
	pool.servers = servers;
	pool.nservers = 1;
	view.pools = pools;
	view.npools = 1;
	health_stop(&view);
	breaker_stop(&view);
}

/* Returns how many retired servers hold a reference to conf. */
static int
admin_retired_refs(const struct conf *conf)
{
	struct admin_retired	*r;
	int			 n = 0;

	for (r = admin_retired; r != NULL; r = r->next)
		if (r->conf == conf)
			n++;
	return (n);
}

/*
 * Frees retired servers whose generation only we still hold.  Each
 * server deleted from a generation holds a reference of its own, so the
 * generation is ours once its count is down to those.
 */
static void
admin_sweep_cb_locked(evutil_socket_t fd, short what, void *arg)
{
	struct admin_retired	**rp = &admin_retired, *r;
	struct timeval		 tv = { 1, 0 };

	while ((r = *rp) != NULL) {
		if (r->conf == cutover.conf ||
		    __atomic_load_n(&r->conf->refcnt, __ATOMIC_ACQUIRE) >
		    admin_retired_refs(r->conf)) {
			rp = &r->next;
			continue;
		}
		*rp = r->next;
		/*
		 * del server cleared every worker's idle list and marked the
		 * server retired, so none refills; the clear jobs it posted
		 * held the generation, so they have run.  Posting more here
		 * would hand the workers a server freed the next line.
		 */
		upstream_server_clear_mine(r->server);
		conf_server_free(r->server);
		conf_unref(r->conf);
		free(r);
	}
	if (admin_retired != NULL && admin_sweep_ev != NULL)
		evtimer_add(admin_sweep_ev, &tv);
}

WORKER_LOCKED_EVENT_CB(admin_sweep_cb)

/* Keeps a deleted server until its generation is released. */
static void
admin_retire(struct server *s)
{
	struct admin_retired	*r;
	struct timeval		 tv = { 1, 0 };

	r = xcalloc(1, sizeof *r);
	r->conf = conf_ref(cutover.conf);
	r->server = s;
	r->next = admin_retired;
	admin_retired = r;
	if (admin_sweep_ev != NULL)
		evtimer_add(admin_sweep_ev, &tv);
}

/* del server POOL/SERVER: only once drained. */
static void
admin_del_server(struct admin_req *req)
{
	struct pool	*p;
	struct server	*s;
	size_t		 i;

	if ((s = admin_server(req, req->argv[0], &p)) == NULL)
		return;
	if (s->admin == SERVER_READY) {
		admin_error(req, "pool %s: server %s is ready: set it to drain "
		    "or maint first", p->name, s->name);
		return;
	}
	if (s->active > 0) {
		admin_error(req, "pool %s: server %s still has %u requests in "
		    "flight", p->name, s->name, s->active);
		return;
	}
	if (p->nservers == 1) {
		admin_error(req, "pool %s: server %s is the pool's only "
		    "server", p->name, s->name);
		return;
	}
	for (i = 0; p->servers[i] != s; i++)
		;
	memmove(&p->servers[i], &p->servers[i + 1],
	    (p->nservers - i - 1) * sizeof *p->servers);
	p->nservers--;
	for (i = 0; i < p->nservers; i++)
		p->servers[i]->cur_weight = 0;
	s->retired = 1;
	upstream_server_clear(s);
	admin_server_stop(p, s);
	if (!s->added)
		state_server_deleted(p, s);
	log_info("admin: pool %s: server %s %s deleted", p->name, s->name,
	    s->addr_text);
	admin_retire(s);
	admin_changed();
	admin_ok(req);
}

/* rollout VERB ROUTE, and rollout status ROUTE [json]: see rollout.c. */
static void
admin_rollout(struct admin_req *req)
{
	const char	*verb = req->cmd->name + strlen("rollout ");
	char		 err[256];

	if (admin_route(req, req->argv[0]) == NULL)
		return;
	if (!rollout_exists(req->argv[0])) {
		admin_error(req, "rollout: no [rollout] for route %s",
		    req->argv[0]);
		return;
	}
	if (strcmp(verb, "status") == 0) {
		if (req->json) {
			rollout_json(req->out, req->argv[0]);
			evbuffer_add(req->out, "\n", 1);
		} else
			rollout_show(req->out, req->argv[0]);
		return;
	}
	log_info("admin: rollout %s %s", verb, req->argv[0]);
	if (rollout_command(verb, req->argv[0], err, sizeof err) == -1)
		admin_error(req, "rollout: %s", err);
	else
		admin_ok(req);
}

/* Appends the answer of a reload: ok, or every error of the config. */
static void
admin_reload_answer(struct admin_req *req, int rc,
    const struct conf_errors *errs)
{
	size_t	i;

	if (rc == 0) {
		admin_ok(req);
		return;
	}
	admin_error(req, "reload refused");
	for (i = 0; i < errs->n; i++)
		evbuffer_add_printf(req->out, "%s\n", errs->msgs[i]);
}

/* reload: answered when the config, loaded off the event loop, applied. */
static void
admin_reload_cmd(struct admin_req *req)
{
	struct conf_errors	errs = { NULL, 0 };

	log_info("admin: reload");
	if (admin_reload_cb(&req->c->reload_seq, &errs) == -1)
		admin_reload_answer(req, -1, &errs);
	else
		admin_wait(req);
	conf_errors_clear(&errs);
}

void
admin_reload_done(unsigned long seq, int rc, const struct conf_errors *errs)
{
	struct admin_client	*c, *next;
	struct admin_req	 req;

	for (c = TAILQ_FIRST(&admin_clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!c->waiting || c->add != NULL || c->reload_seq != seq)
			continue;
		admin_req_later(&req, c);
		admin_reload_answer(&req, rc, errs);
		admin_resume(c);
	}
}

/* quit: answers, then closes once the answer is out. */
static void
admin_quit(struct admin_req *req)
{
	evbuffer_add_printf(req->out, "bye\n");
	req->c->closing = 1;
	bufferevent_disable(req->c->bev, EV_READ);
}

/* Returns how many keywords of cmd start argv, 0 when they do not all. */
static int
admin_cmd_match(const struct admin_cmd *cmd, int argc, char **argv)
{
	const char	*k = cmd->name;
	size_t		 len;
	int		 n = 0;

	while (*k != '\0') {
		len = strcspn(k, " ");
		if (n == argc || strlen(argv[n]) != len ||
		    strncmp(argv[n], k, len) != 0)
			return (0);
		n++;
		k += len;
		if (*k == ' ')
			k++;
	}
	return (n);
}

/* Answers one command line. */
static void
admin_dispatch(struct admin_client *c, char *line)
{
	struct admin_req	 req;
	const struct admin_cmd	*cmd = NULL;
	char			*argv[ADMIN_MAXARGS + 4], *next = line, *w;
	size_t			 i;
	int			 argc = 0, n, best = 0, prefix = 0;

	while ((w = strsep(&next, " \t")) != NULL) {
		if (*w == '\0')
			continue;
		if (argc == ADMIN_MAXARGS + 3) {
			evbuffer_add_printf(bufferevent_get_output(c->bev),
			    "error: too many words\n\n");
			return;
		}
		argv[argc++] = w;
	}
	if (argc == 0)
		return;
	for (i = 0; i < sizeof admin_cmds / sizeof admin_cmds[0]; i++) {
		if ((n = admin_cmd_match(&admin_cmds[i], argc, argv)) > best) {
			best = n;
			cmd = &admin_cmds[i];
		}
		if (strncmp(admin_cmds[i].name, argv[0], strlen(argv[0])) ==
		    0 && admin_cmds[i].name[strlen(argv[0])] == ' ')
			prefix = 1;
	}
	memset(&req, 0, sizeof req);
	req.c = c;
	req.out = bufferevent_get_output(c->bev);
	req.cmd = cmd;
	if (cmd == NULL && prefix && argc == 1) {
		admin_error(&req, "incomplete command \"%s\"; try help",
		    argv[0]);
		goto done;
	}
	if (cmd == NULL) {
		admin_error(&req, "unknown command \"%s%s%s\"; try help",
		    argv[0], prefix ? " " : "", prefix ? argv[1] : "");
		goto done;
	}
	req.argc = argc - best;
	req.argv = argv + best;
	if (cmd->json && req.argc > cmd->min &&
	    strcmp(req.argv[req.argc - 1], "json") == 0) {
		req.json = 1;
		req.argc--;
	}
	if (req.argc < cmd->min || req.argc > cmd->max) {
		admin_error(&req, "usage: %s", cmd->usage);
		goto done;
	}
	log_debug("admin: %s", cmd->name);
	cmd->fn(&req);
	if (req.later)
		return;
done:
	evbuffer_add(req.out, "\n", 1);
}

/*
 * The socket of a client waiting for an answer became readable.  A client
 * gone for good - closed, with nothing sent after the command it waits
 * for - frees its slot now rather than when the answer comes, which a
 * slow DNS server may hold up for long, and lets repeated tries lock
 * nobody out.  One that only shut down its sending half still waits for
 * its answer, and commands sent after the one it waits for still run in
 * their turn: both keep the slot until the answer.  One-shot, as data
 * that stays unread keeps the socket readable.
 */
static void
admin_gone_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin_client	*c = arg;
	struct pollfd		 pfd;
	int			 unread;

	worker_lock();
	pfd.fd = fd;
	pfd.events = 0;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) == 1 && pfd.revents & (POLLHUP | POLLERR) &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
	    (ioctl(fd, FIONREAD, &unread) == -1 || unread == 0)) {
		log_debug("admin: client gone while waiting for an answer");
		admin_client_free(c);
	}
	worker_unlock();
}

/*
 * The command of req is answered later: the client's next commands stay
 * unread until admin_resume(); meanwhile its socket is watched for the
 * client leaving (admin_gone_cb).
 */
static void
admin_wait(struct admin_req *req)
{
	struct admin_client	*c = req->c;

	req->later = 1;
	c->waiting = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (c->gone == NULL && (c->gone = event_new(bufferevent_get_base(
	    c->bev), bufferevent_getfd(c->bev), EV_READ, admin_gone_cb,
	    c)) == NULL)
		fatal("out of memory");
	event_add(c->gone, NULL);
}

/*
 * A request to answer the command c waits on; when c left, the answer
 * goes to a buffer of its own, for the caller to free.
 */
static void
admin_req_later(struct admin_req *req, struct admin_client *c)
{
	memset(req, 0, sizeof *req);
	req->c = c;
	req->out = c != NULL ? bufferevent_get_output(c->bev) : evbuffer_new();
	if (req->out == NULL)
		fatal("out of memory");
}

/* Ends the answer c waited for and goes on with its next commands. */
static void
admin_resume(struct admin_client *c)
{
	evbuffer_add(bufferevent_get_output(c->bev), "\n", 1);
	c->waiting = 0;
	event_del(c->gone);
	if (admin_loop_ended) {
		c->closing = 1;
		return;
	}
	if (c->eof) {
		admin_event_cb_locked(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING,
		    c);
		return;
	}
	bufferevent_enable(c->bev, EV_READ);
	admin_read_cb_locked(c->bev, c);
}

/* Frees a client. */
static void
admin_client_free(struct admin_client *c)
{
	if (c->add != NULL)
		c->add->c = NULL;
	TAILQ_REMOVE(&admin_clients, c, entry);
	admin_nclients--;
	/* Before the bufferevent closes the socket it watches. */
	if (c->gone != NULL)
		event_free(c->gone);
	bufferevent_free(c->bev);
	free(c);
}

/* Answers the complete lines received, while answers do not pile up. */
static void
admin_read_cb_locked(struct bufferevent *bev, void *arg)
{
	struct admin_client	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer		*out = bufferevent_get_output(bev);
	char			*line;
	size_t			 len;

	while (!c->closing && !c->waiting) {
		if (evbuffer_get_length(out) >= ADMIN_MAXOUT) {
			/* The write callback picks up from here. */
			bufferevent_disable(bev, EV_READ);
			return;
		}
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
		if (line == NULL && evbuffer_get_length(in) <= ADMIN_MAXLINE)
			return;
		if (line == NULL || len > ADMIN_MAXLINE) {
			evbuffer_add_printf(out, "error: line too long (limit "
			    "%d bytes)\n\n", ADMIN_MAXLINE);
			c->closing = 1;
		} else if (memchr(line, '\0', len) != NULL) {
			evbuffer_add_printf(out, "error: NUL byte in the "
			    "command\n\n");
			c->closing = 1;
		} else {
			if (len > 0 && line[len - 1] == '\r')
				line[len - 1] = '\0';
			admin_dispatch(c, line);
		}
		free(line);
	}
	/* Closing, or a command waits: read nothing more for now. */
	bufferevent_disable(bev, EV_READ);
}

/* The main thread's callbacks run under the worker lock (worker.c). */
static void
admin_read_cb(struct bufferevent *bev, void *arg)
{
	worker_lock();
	admin_read_cb_locked(bev, arg);
	worker_unlock();
}

/* The answers went out: go on reading, or free a closing client. */
static void
admin_write_cb(struct bufferevent *bev, void *arg)
{
	struct admin_client	*c = arg;

	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			admin_client_free(c);
		return;
	}
	if (c->waiting)
		return;
	bufferevent_enable(bev, EV_READ);
	admin_read_cb(bev, c);
	if (c->closing &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		admin_client_free(c);
}

/* End of input: answer a last line without newline, flush, close. */
static void
admin_event_cb_locked(struct bufferevent *bev, short what, void *arg)
{
	struct admin_client	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	size_t			 len;

	if (what & BEV_EVENT_EOF && !(what & BEV_EVENT_ERROR)) {
		if (!c->waiting)
			admin_read_cb_locked(bev, c);
		len = evbuffer_get_length(in);
		if (!c->closing && !c->waiting && len > 0 &&
		    len <= ADMIN_MAXLINE) {
			line = xmalloc(len + 1);
			evbuffer_remove(in, line, len);
			line[len] = '\0';
			if (memchr(line, '\0', len) == NULL) {
				/* As admin_read_cb_locked(): no final CR. */
				if (line[len - 1] == '\r')
					line[len - 1] = '\0';
				admin_dispatch(c, line);
			}
			free(line);
		}
		if (c->waiting) {
			c->eof = 1;	/* admin_resume() comes back here */
			return;
		}
		c->closing = 1;
		if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
			return;
	} else if (what & BEV_EVENT_TIMEOUT)
		log_debug("admin: client silent for admin_timeout: closed");
	admin_client_free(c);
}

/* A last command may be dispatched: under the lock, as admin_read_cb. */
static void
admin_event_cb(struct bufferevent *bev, short what, void *arg)
{
	worker_lock();
	admin_event_cb_locked(bev, what, arg);
	worker_unlock();
}

/* Sends a last answer on a socket we do not keep, and closes it. */
static void
admin_refuse(evutil_socket_t fd, const char *msg)
{
	send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* Out of descriptors: the socket rests as the listeners do. */
static void
admin_accept_error_cb(struct evconnlistener *el, void *arg)
{
	int	saved = errno;

	log_error("admin socket: accept: %s", strerror(saved));
	if (admin_rest_ev != NULL)
		listener_rest(el, admin_rest_ev, saved);
}

/* The rest is over: the socket open now (a reload may have moved it). */
static void
admin_wake_cb_locked(evutil_socket_t fd, short what, void *arg)
{
	if (admin_el != NULL)
		evconnlistener_enable(admin_el);
}

WORKER_LOCKED_EVENT_CB(admin_wake_cb)

/* Takes a new admin client once it passed the uid check. */
static void
admin_accept_cb(struct evconnlistener *el, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct admin_client	*c;
	struct bufferevent	*bev;
	struct ucred		 cred;
	socklen_t		 len = sizeof cred;
	long			 ms = cutover.conf->admin_timeout;
	struct timeval		 tv = { ms / 1000, (ms % 1000) * 1000 };

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("admin: cannot tell the peer's uid: %s",
		    strerror(errno));
		admin_refuse(fd, "error: permission denied\n\n");
		return;
	}
	if (cred.uid != geteuid() && cred.uid != 0) {
		log_warn("admin: uid %ld, pid %ld refused: permission denied",
		    (long)cred.uid, (long)cred.pid);
		admin_refuse(fd, "error: permission denied\n\n");
		return;
	}
	if (admin_nclients >= ADMIN_MAXCLIENTS) {
		log_warn("admin: pid %ld refused: %d clients already",
		    (long)cred.pid, ADMIN_MAXCLIENTS);
		admin_refuse(fd, "error: too many admin clients\n\n");
		return;
	}
	bev = bufferevent_socket_new(evconnlistener_get_base(el), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->bev = bev;
	TAILQ_INSERT_TAIL(&admin_clients, c, entry);
	admin_nclients++;
	bufferevent_setcb(bev, admin_read_cb, admin_write_cb, admin_event_cb,
	    c);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ);
}

/*
 * Makes path free for a new socket: a socket nobody listens on is left by
 * a dead process and removed; anything else stays and is an error.
 */
static int
admin_unlink_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat	st;
	int		fd, rc;

	if (lstat(path, &st) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return (-1);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return (-1);
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	close(fd);
	if (rc == 0 || errno == EAGAIN) {
		errno = EADDRINUSE;
		return (-1);
	}
	if (errno != ECONNREFUSED)
		return (-1);
	log_info("admin socket %s: removing the stale socket of a dead "
	    "process", path);
	return (unlink(path));
}

/* Opens a listening socket at path; NULL, logged, when it cannot. */
static struct evconnlistener *
admin_listen(struct event_base *base, const char *path, dev_t *dev,
    ino_t *ino)
{
	struct sockaddr_un	 sun;
	struct evconnlistener	*el;
	struct stat		 st;
	mode_t			 mask;
	int			 fd = -1, bound = 0, saved;
	const char		*what = "socket";

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	memcpy(sun.sun_path, path, strlen(path));
	what = "replace";
	if (admin_unlink_stale(path, &sun) == -1)
		goto fail;
	what = "socket";
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		goto fail;
	/* Mode 0600 from the start: no window where others may connect. */
	mask = umask(0177);
	what = "bind";
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(mask);
		goto fail;
	}
	umask(mask);
	bound = 1;
	what = "stat";
	if (stat(path, &st) == -1)
		goto fail;
	what = "listen";
	el = evconnlistener_new(base, admin_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE, ADMIN_MAXCLIENTS, fd);
	if (el == NULL)
		goto fail;
	evconnlistener_set_error_cb(el, admin_accept_error_cb);
	*dev = st.st_dev;
	*ino = st.st_ino;
	log_info("admin socket %s: listening", path);
	return (el);
fail:
	saved = errno;
	log_error("admin socket %s: cannot %s: %s", path, what,
	    errno == EADDRINUSE && !bound ? "in use by another process (is "
	    "cutover running already?)" : errno == EEXIST ? "exists and is "
	    "not a socket" : strerror(errno));
	if (fd != -1)
		close(fd);
	if (bound)
		unlink(path);
	/* admin_prepare() gives the reason to the reload's answer. */
	errno = saved;
	return (NULL);
}

/* Removes our socket file, unless another process replaced it since. */
static void
admin_unlink(const char *path, dev_t dev, ino_t ino)
{
	struct stat	st;

	if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		unlink(path);
}

int
admin_open(struct event_base *base, const char *path, admin_reload_fn fn)
{
	if ((admin_el = admin_listen(base, path, &admin_dev,
	    &admin_ino)) == NULL)
		return (-1);
	admin_path = xstrdup(path);
	admin_reload_cb = fn;
	admin_sweep_ev = evtimer_new(base, admin_sweep_cb, NULL);
	if ((admin_rest_ev = evtimer_new(base, admin_wake_cb, NULL)) == NULL)
		fatal("out of memory");
	return (0);
}

int
admin_prepare(const char *path, struct conf_errors *errs)
{
	if (admin_el == NULL || strcmp(path, admin_path) == 0)
		return (0);
	admin_next_el = admin_listen(evconnlistener_get_base(admin_el), path,
	    &admin_next_dev, &admin_next_ino);
	if (admin_next_el == NULL) {
		conf_errors_add(errs, "admin_socket: cannot listen on %s: %s",
		    path, strerror(errno));
		return (-1);
	}
	admin_next_path = xstrdup(path);
	return (0);
}

void
admin_abort(void)
{
	if (admin_next_el == NULL)
		return;
	evconnlistener_free(admin_next_el);
	admin_unlink(admin_next_path, admin_next_dev, admin_next_ino);
	free(admin_next_path);
	admin_next_el = NULL;
	admin_next_path = NULL;
}

void
admin_reload(const char *path)
{
	struct evconnlistener	*el;
	dev_t			 dev;
	ino_t			 ino;

	if (admin_next_el != NULL) {
		evconnlistener_free(admin_el);
		admin_unlink(admin_path, admin_dev, admin_ino);
		log_info("admin socket moved from %s to %s", admin_path,
		    admin_next_path);
		free(admin_path);
		admin_el = admin_next_el;
		admin_path = admin_next_path;
		admin_dev = admin_next_dev;
		admin_ino = admin_next_ino;
		admin_next_el = NULL;
		admin_next_path = NULL;
		return;
	}
	if (admin_el == NULL || strcmp(path, admin_path) == 0)
		return;
	el = admin_listen(evconnlistener_get_base(admin_el), path, &dev,
	    &ino);
	if (el == NULL) {
		log_error("admin socket: staying on %s", admin_path);
		return;
	}
	evconnlistener_free(admin_el);
	admin_unlink(admin_path, admin_dev, admin_ino);
	log_info("admin socket moved from %s to %s", admin_path, path);
	free(admin_path);
	admin_el = el;
	admin_path = xstrdup(path);
	admin_dev = dev;
	admin_ino = ino;
}

void
admin_ended(void)
{
	admin_loop_ended = 1;
}

/*
 * The loop has ended: sends the answers still queued to c, such as a
 * reload the shutdown refused, waiting for the socket until deadline.
 */
static void
admin_flush(struct admin_client *c, uint64_t deadline)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	struct pollfd	 pfd;
	uint64_t	 now;

	/* The bufferevent keeps its output's front frozen otherwise. */
	evbuffer_unfreeze(out, 1);
	pfd.fd = bufferevent_getfd(c->bev);
	pfd.events = POLLOUT;
	while (evbuffer_get_length(out) > 0) {
		if (evbuffer_write(out, pfd.fd) > 0)
			continue;
		if ((errno != EAGAIN && errno != EINTR) ||
		    (now = cutover_now_us()) >= deadline ||
		    poll(&pfd, 1, (int)((deadline - now + 999) / 1000)) <= 0)
			return;
	}
}

void
admin_close(void)
{
	struct admin_client	*c;
	struct admin_retired	*r;
	uint64_t		 deadline;

	deadline = cutover_now_us() + ADMIN_FLUSH * 1000;

	while ((c = TAILQ_FIRST(&admin_clients)) != NULL) {
		admin_flush(c, deadline);
		admin_client_free(c);
	}
	while ((r = admin_retired) != NULL) {
		admin_retired = r->next;
		/* The other workers are stopped: see admin_sweep_cb_locked. */
		upstream_server_clear_mine(r->server);
		conf_server_free(r->server);
		conf_unref(r->conf);
		free(r);
	}
	if (admin_sweep_ev != NULL)
		event_free(admin_sweep_ev);
	if (admin_rest_ev != NULL)
		event_free(admin_rest_ev);
	admin_sweep_ev = admin_rest_ev = NULL;
	if (admin_el != NULL) {
		evconnlistener_free(admin_el);
		admin_unlink(admin_path, admin_dev, admin_ino);
	}
	admin_el = NULL;
	free(admin_path);
	admin_path = NULL;
}
