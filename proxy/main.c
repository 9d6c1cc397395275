/*
 * The cutover daemon: parses the command line, loads the config, opens
 * the listeners and runs the event loop in the foreground until SIGTERM or
 * SIGINT, when it stops accepting, lets requests in flight finish within
 * shutdown_grace and exits 0.  SIGHUP reloads the config.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "conf.h"
#include "cutover.h"
#include "listener.h"
#include "log.h"
#include "session.h"
#include "upstream.h"

struct cutover	 cutover;

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

/*
 * Reloads the config: a config with errors leaves the running one
 * untouched.  Runtime state of servers and splits that did not change is
 * carried over, and idle upstream connections move to the new servers.
 */
static int
main_reload(void)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*conf, *old = cutover.conf;
	struct pool		*op;
	struct server		*os, *ns;
	size_t			 i, j;

	if ((conf = conf_load(cutover.conf_path, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			log_error("reload refused: %s", errs.msgs[i]);
		conf_errors_clear(&errs);
		return (-1);
	}
	for (i = 0; i < conf->npools; i++) {
		if ((op = conf_find_pool(old, conf->pools[i]->name)) == NULL)
			continue;
		for (j = 0; j < conf->pools[i]->nservers; j++) {
			ns = conf->pools[i]->servers[j];
			if ((os = conf_find_server(op, ns->name)) == NULL ||
			    strcmp(os->addr_text, ns->addr_text) != 0)
				continue;
			upstream_server_move(os, ns);
		}
	}
	main_clear_upstreams(old);
	cutover.conf = conf;
	conf_unref(old);
	log_info("config reloaded from %s", cutover.conf_path);
	return (0);
}

static void
main_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warn("shutdown_grace ran out with %u sessions open",
	    session_count());
	session_close_all();
	event_base_loopexit(cutover.base, NULL);
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
	cutover.shutting_down = 1;
	listener_close_all();
	session_shutdown_all();
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
	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reloading");
		main_reload();
		break;
	case SIGUSR1:
		log_reopen();
		break;
	case SIGTERM:
	case SIGINT:
		main_shutdown();
		break;
	}
}

int
main(int argc, char **argv)
{
	struct conf_errors	 errs = { NULL, 0 };
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
	if (cutover.conf->workers > 1) {
		fprintf(stderr, "%s: workers %d: only one worker is supported "
		    "yet\n", cutover.conf_path, cutover.conf->workers);
		conf_unref(cutover.conf);
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
	if (access_log_open(cutover.conf->access_log,
	    cutover.conf->access_log_json) == -1)
		fatal("access_log %s: %s", cutover.conf->access_log,
		    strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	if ((cutover.base = event_base_new()) == NULL)
		fatal("cannot create the event loop");
	if (listener_open_all(cutover.base, cutover.conf) == -1)
		fatal("cannot open the listeners");
	for (i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(cutover.base, signums[i],
		    main_signal_cb, NULL);
		evsignal_add(sigs[i], NULL);
	}
	cutover.started = time(NULL);
	log_info("cutover %s started, pid %ld, config %s", PACKAGE_VERSION,
	    (long)getpid(), cutover.conf_path);

	event_base_dispatch(cutover.base);

	log_info("cutover stopped");
	listener_close_all();
	session_close_all();
	for (i = 0; i < 4; i++)
		event_free(sigs[i]);
	if (ev_grace != NULL)
		event_free(ev_grace);
	main_clear_upstreams(cutover.conf);
	conf_unref(cutover.conf);
	event_base_free(cutover.base);
	libevent_global_shutdown();
	log_close();
	return (0);
}
