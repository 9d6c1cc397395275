/*
 * The cutover daemon: parses the command line, loads the config, opens
 * the listeners and runs the event loop in the foreground until SIGTERM or
 * SIGINT, when it stops accepting, lets requests in flight finish within
 * shutdown_grace and exits 0.  SIGHUP reloads the config.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "admin.h"
#include "breaker.h"
#include "conf.h"
#include "cutover.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "ocsp.h"
#include "rollout.h"
#include "session.h"
#include "state.h"
#include "status.h"
#include "tls.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

static struct event	*ev_grace;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: cutover [-tV] [-c file]\n");
	exit(1);
}

/* Prints every error of a failed load. */
static void
main_print_errors(const struct conf_errors *errs)
{
	size_t	i;

	for (i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->msgs[i]);
}

/* Closes the idle upstream connections of every server of conf. */
static void
main_clear_upstreams(struct conf *conf)
{
	size_t	i, j;

	for (i = 0; i < conf->npools; i++)
		for (j = 0; j < conf->pools[i]->nservers; j++)
			upstream_server_clear(conf->pools[i]->servers[j]);
}

/* Logs every error of a refused reload. */
static void
main_reload_refused(const struct conf_errors *errs)
{
	size_t	i;

	for (i = 0; i < errs->n; i++)
		log_error("reload refused: %s", errs->msgs[i]);
	metrics_reload(0);
}

/* Refuses a reload because the process is shutting down. */
static void
main_reload_shutting_down(struct conf_errors *errs)
{
	conf_errors_add(errs, "shutting down");
	main_reload_refused(errs);
}

/*
 * Hands what a server that stays (same pool, name and address) holds at
 * run time and the config does not describe to its successor: counters,
 * health checks and breaker; its idle upstream connections follow on
 * each worker (worker_reload).  Weights and
 * admin states follow state.c's rule.  Every old server is marked
 * retired, so that a connection a request in flight gives back is closed
 * rather than kept idle on a generation about to go.  Returns how many
 * servers stayed.
 */
static size_t
main_carry_servers(struct conf *old, struct conf *conf)
{
	struct pool	*op;
	struct server	*os, *ns;
	size_t		 i, j, kept = 0;

	for (i = 0; i < conf->npools; i++) {
		if ((op = conf_find_pool(old, conf->pools[i]->name)) == NULL)
			continue;
		for (j = 0; j < conf->pools[i]->nservers; j++) {
			ns = conf->pools[i]->servers[j];
			if ((os = conf_find_server(op, ns->name)) == NULL ||
			    strcmp(os->addr_text, ns->addr_text) != 0)
				continue;
			ns->requests = os->requests;
			ns->errors = os->errors;
			os->successor = ns;
			health_server_move(os, ns);
			breaker_server_move(os, ns);
			kept++;
		}
	}
	for (i = 0; i < old->npools; i++)
		for (j = 0; j < old->pools[i]->nservers; j++)
			old->pools[i]->servers[j]->retired = 1;
	return (kept);
}

/* Checks that a log file of a reload can be opened; errs says why not. */
static int
main_check_log(const char *key, const char *path, struct conf_errors *errs)
{
	FILE	*fp;

	if (path == NULL || strcmp(path, "-") == 0)
		return (0);
	if ((fp = fopen(path, "a")) == NULL) {
		conf_errors_add(errs, "%s %s: %s", key, path,
		    strerror(errno));
		return (-1);
	}
	fclose(fp);
	return (0);
}

/*
 * Applies a config loaded for a reload; conf is NULL when the load failed
 * with errs.  The new config was parsed and checked whole; here its new
 * listening sockets are opened before anything changes: on any error the
 * running generation stays untouched and every error is logged.  Then
 * the runtime state carries over (state.c: a value edited in the file
 * wins, others keep their runtime value), servers that stay hand over
 * their connections, checks and breakers, and the new generation is
 * swapped in; requests in flight finish on the one they started with,
 * since each holds a reference to it.
 */
static int
main_reload_apply(struct conf *conf, struct conf_errors *errs)
{
	struct conf	*old = cutover.conf;
	size_t		 i, kept, nservers = 0;

	if (conf == NULL)
		goto refused;
	if (cutover.shutting_down) {
		conf_unref(conf);
		main_reload_shutting_down(errs);
		return (-1);
	}
	/*
	 * What the start would refuse refuses the reload too, before
	 * anything changes: a log that cannot be opened, a status_listen
	 * or admin_socket that cannot be bound.  Else the answer would be
	 * ok while the old socket stays or the access log stops.
	 */
	if (main_check_log("error_log", conf->error_log, errs) == -1 ||
	    main_check_log("access_log", conf->access_log, errs) == -1 ||
	    status_prepare(cutover.base, old, conf, errs) == -1) {
		conf_unref(conf);
		goto refused;
	}
	if (admin_prepare(conf->admin_socket, errs) == -1 ||
	    listener_sync(cutover.base, conf, errs) == -1) {
		admin_abort();
		status_abort();
		conf_unref(conf);
		goto refused;
	}
	state_carry(old, conf);
	kept = main_carry_servers(old, conf);
	health_stop(old);
	breaker_stop(old);
	worker_reload(old, conf);
	cutover.conf = conf;
	conf_unref(old);
	breaker_start(cutover.base, conf);
	health_start(conf);
	status_reload(cutover.base, conf);
	rollout_reload(conf);
	metrics_reload(1);
	tls_ticket_rotate(conf->tls_ticket_rotate);

	if (log_open(conf->error_log, conf->log_level) == -1)
		log_error("error_log %s: %s", conf->error_log,
		    strerror(errno));
	access_log_buffer(conf->access_log_buffer);
	if (access_log_open(conf->access_log, conf->access_log_json) == -1)
		log_error("access_log %s: %s", conf->access_log,
		    strerror(errno));
	admin_reload(conf->admin_socket);
	state_save(conf);
	if (conf->workers != worker_count())
		log_warn("workers %d: takes effect at the next start; %d "
		    "running", conf->workers, worker_count());
	for (i = 0; i < conf->npools; i++)
		nservers += conf->pools[i]->nservers;
	log_info("config reloaded from %s: %zu routes, %zu pools, %zu "
	    "servers (%zu kept), %u listening sockets", cutover.conf_path,
	    conf->nroutes, conf->npools, nservers, kept, listener_count());
	return (0);
refused:
	main_reload_refused(errs);
	return (-1);
}

/* The reloads asked for; the main thread's. */
static struct {
	int			 running;	/* a load runs */
	int			 again;		/* asked for while it ran */
	unsigned long		 seq;		/* of the load running or last run */
} main_loads;

/*
 * One config load, run off the event loops; its offload's (worker.h):
 * freed by main_load_done() or, abandoned at exit, left to the end of
 * the process with the thread that holds it.
 */
struct main_load {
	unsigned long		 seq;
	struct conf		*conf;		/* its result; NULL: refused */
	struct conf_errors	 errs;
};

static int	main_reload(unsigned long *, struct conf_errors *);
static void	main_load_work(void *);
static void	main_load_done(void *);
static void	main_load_abandon(void *);

static const struct worker_offload_ops main_load_ops = {
	main_load_work, main_load_done, main_load_abandon
};

/* On a thread of its own: reads, parses and resolves the config. */
static void
main_load_work(void *arg)
{
	struct main_load	*l = arg;

	l->conf = conf_load(cutover.conf_path, &l->errs);
}

/* A load ended: starts the next one if a reload was asked for meanwhile. */
static void
main_load_next(void)
{
	struct conf_errors	errs = { NULL, 0 };
	unsigned long		seq;

	main_loads.running = 0;
	if (!main_loads.again)
		return;
	main_loads.again = 0;
	if (main_reload(&seq, &errs) == -1)
		admin_reload_done(main_loads.seq + 1, -1, &errs);
	conf_errors_clear(&errs);
}

/* Back on the main thread: applies the load, answers, starts the next. */
static void
main_load_done(void *arg)
{
	struct main_load	*l = arg;
	int			 rc;

	rc = main_reload_apply(l->conf, &l->errs);
	admin_reload_done(l->seq, rc, &l->errs);
	conf_errors_clear(&l->errs);
	free(l);
	main_load_next();
}

/*
 * At exit, while the load is in a name lookup (a slow DNS server) or
 * outlasts the exit's wait: it is refused as shutting down, as
 * main_reload_apply() would refuse it once done, so that the exit need
 * not wait for it.  l->conf and l->errs are the thread's: only the seq
 * is read.
 */
static void
main_load_abandon(void *arg)
{
	struct main_load	*l = arg;
	struct conf_errors	 errs = { NULL, 0 };

	main_reload_shutting_down(&errs);
	admin_reload_done(l->seq, -1, &errs);
	conf_errors_clear(&errs);
	main_load_next();
}

/*
 * Asks for a reload (SIGHUP and the admin command reload).  The config is
 * loaded - read, parsed, its names resolved - on a thread of its own, so
 * that a slow DNS server never holds up traffic, then applied on the main
 * thread (main_reload_apply).  Asked for while a load runs, the reload is
 * the next load, which starts when this one ends: the file may have
 * changed after it was read.  *seq is the load that answers, whose result
 * goes to admin_reload_done().  -1 with errs at once when shutting down.
 */
static int
main_reload(unsigned long *seq, struct conf_errors *errs)
{
	struct main_load	*l;

	if (cutover.shutting_down) {
		main_reload_shutting_down(errs);
		return (-1);
	}
	if (main_loads.running) {
		main_loads.again = 1;
		*seq = main_loads.seq + 1;
		return (0);
	}
	main_loads.running = 1;
	l = xcalloc(1, sizeof *l);
	l->seq = *seq = ++main_loads.seq;
	worker_offload(&main_load_ops, l);
	return (0);
}


static void
main_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_lock();
	log_warn("shutdown_grace ran out with %u sessions open",
	    session_count());
	worker_close_all();
	event_base_loopexit(cutover.base, NULL);
	worker_unlock();
}

/* Starts a graceful shutdown. */
static void
main_shutdown(void)
{
	struct timeval	tv;
	long		ms = cutover.conf->shutdown_grace;

	if (cutover.shutting_down)
		return;
	log_info("shutting down: %u connections open", session_count());
	__atomic_store_n(&cutover.shutting_down, 1, __ATOMIC_RELEASE);
	listener_close_all();
	worker_shutdown();
	if (session_count() == 0) {
		event_base_loopexit(cutover.base, NULL);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	ev_grace = evtimer_new(cutover.base, main_grace_cb, NULL);
	evtimer_add(ev_grace, &tv);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct conf_errors	errs = { NULL, 0 };
	unsigned long		seq;

	worker_lock();
	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reloading");
		main_reload(&seq, &errs);
		conf_errors_clear(&errs);
		break;
	case SIGUSR1:
		/* After rotation, as nginx does on SIGUSR1: both logs. */
		log_reopen();
		if (access_log_open(cutover.conf->access_log,
		    cutover.conf->access_log_json) == -1)
			log_error("access_log %s: %s: the log stays where it "
			    "was", cutover.conf->access_log, strerror(errno));
		break;
	case SIGTERM:
	case SIGINT:
		main_shutdown();
		break;
	}
	worker_unlock();
}

int
main(int argc, char **argv)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct event_config	*evcfg;
	struct event		*sigs[4];
	int			 signums[4] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };
	int			 ch, test = 0, i;

	cutover.conf_path = CUTOVER_CONF;
	while ((ch = getopt(argc, argv, "c:tV")) != -1) {
		switch (ch) {
		case 'c':
			cutover.conf_path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("cutover %s\n", PACKAGE_VERSION);
			return (0);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if ((cutover.conf = conf_load(cutover.conf_path, &errs)) == NULL) {
		main_print_errors(&errs);
		conf_errors_clear(&errs);
		return (1);
	}
	if (test) {
		printf("%s: ok\n", cutover.conf_path);
		conf_unref(cutover.conf);
		return (0);
	}

	if (log_open(cutover.conf->error_log, cutover.conf->log_level) == -1) {
		fprintf(stderr, "cutover: error_log %s: %s\n",
		    cutover.conf->error_log, strerror(errno));
		return (1);
	}
	access_log_buffer(cutover.conf->access_log_buffer);
	if (access_log_open(cutover.conf->access_log,
	    cutover.conf->access_log_json) == -1)
		fatal("access_log %s: %s", cutover.conf->access_log,
		    strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	tls_ticket_rotate(cutover.conf->tls_ticket_rotate);
	/*
	 * No locking in libevent: each loop is run by one thread only
	 * (worker.c).  The changelist folds the add/del pairs of each write
	 * into one epoll_ctl, or none.
	 */
	if ((evcfg = event_config_new()) == NULL)
		fatal("cannot create the event loop");
	event_config_set_flag(evcfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	cutover.base = event_base_new_with_config(evcfg);
	event_config_free(evcfg);
	if (cutover.base == NULL)
		fatal("cannot create the event loop");
	worker_init(cutover.base, cutover.conf);
	if (health_init(cutover.base) == -1)
		fatal("cannot set up libcurl for health checks");
	if (rollout_init(cutover.base) == -1)
		fatal("cannot set up the rollout controller");
	if (ocsp_init(cutover.base) == -1)
		fatal("cannot set up OCSP stapling");
	state_restore(cutover.conf);
	/* Before the listeners: once they accept, the socket answers too. */
	if (admin_open(cutover.base, cutover.conf->admin_socket,
	    main_reload) == -1)
		fatal("cannot open the admin socket");
	if (listener_open_all(cutover.base, cutover.conf) == -1)
		fatal("cannot open the listeners");
	/* After the listeners, so that /ready never answers before them. */
	if (status_start(cutover.base, cutover.conf) == -1)
		fatal("cannot open the status endpoint");
	breaker_start(cutover.base, cutover.conf);
	health_start(cutover.conf);
	rollout_reload(cutover.conf);
	for (i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(cutover.base, signums[i],
		    main_signal_cb, NULL);
		evsignal_add(sigs[i], NULL);
	}
	if (worker_start(cutover.conf->workers) == -1)
		fatal("cannot start %d workers", cutover.conf->workers);
	cutover.started = time(NULL);
	log_info("cutover %s started, pid %ld, config %s", PACKAGE_VERSION,
	    (long)getpid(), cutover.conf_path);

	worker_loop();

	log_info("cutover stopped");
	admin_ended();
	listener_close_all();
	worker_stop();
	session_close_all();
	listener_names_clear();
	admin_close();
	for (i = 0; i < 4; i++)
		event_free(sigs[i]);
	if (ev_grace != NULL)
		event_free(ev_grace);
	ocsp_clear();	/* its fetches, before rollout_clear() ends fetch.c */
	rollout_clear();
	health_stop(cutover.conf);
	breaker_stop(cutover.conf);
	health_clear();
	status_stop();
	main_clear_upstreams(cutover.conf);
	conf_unref(cutover.conf);
	state_clear();
	metrics_clear();
	worker_clear();
	event_base_free(cutover.base);
	libevent_global_shutdown();
	log_close();
	return (0);
}
