/*
 * libFuzzer harness: the admin socket's command parsing.  admin.c is
 * compiled into this file, so that its static reader and dispatcher can be
 * driven without a socket or an event loop: the input arrives in the
 * input buffer of a bufferevent with no fd, admin_read_cb_locked() and, at
 * the end, the EOF event answer it, and the output buffer is drained as a
 * peer reading the answers would.  The commands run against a generation
 * loaded from a fixed config, made anew for each input.  What lies beyond
 * the admin module (workers, health checks, breakers, rollouts, metrics,
 * the state file) is replaced by the stubs below, and worker_offload()
 * runs its work once the dispatcher has returned, as the real one does on
 * a thread of its own.
 *
 * Checked: every command line gets exactly one answer, ended by an empty
 * line and holding none, in the protocol of admin.c's opening comment
 * (counted by admin_check_expect() from the input alone); a server
 * deleted by "del server" is freed once its generation is released.
 * FUZZ_ADMIN_DEBUG set in the environment prints the answers.
 */
#include <sys/mman.h>

#include "admin.c"

#include "fuzz.h"

struct cutover	 cutover;
int		 worker_threaded;

/* The fixed config: pools of 3 and 1 servers, a route with a rollout. */
static const char	admin_conf_text[] =
	"[listener web]\n"
	"bind = 127.0.0.1:8080\n"
	"[pool blue]\n"
	"server = b1 127.0.0.1:9001\n"
	"server = b2 127.0.0.1:9002 weight=5\n"
	"server = b3 127.0.0.1:9003 backup\n"
	"[pool green]\n"
	"server = g1 127.0.0.1:9004\n"
	"[route app]\n"
	"split = blue 90, green 10\n"
	"match_header = X-Canary: 1 -> green\n"
	"[route other]\n"
	"host = other.example\n"
	"split = blue 1\n"
	"stable = blue\n"
	"[rollout app]\n"
	"canary = green\n";

static char		 admin_conf_path[64];
static void		(*admin_pending_work)(void *);
static void		(*admin_pending_done)(void *);
static void		*admin_pending_arg;
static char		*admin_out;
static size_t		 admin_outlen;

/* Stubs of the modules admin.c calls: they answer, and start nothing. */
void
breaker_start(struct event_base *base, struct conf *c)
{
	(void)base;
	(void)c;
}

void
breaker_stop(struct conf *c)
{
	(void)c;
}

int
breaker_failure_count(const struct server *s)
{
	(void)s;
	return (0);
}

const char *
breaker_state_name(enum breaker_state st)
{
	(void)st;
	return ("closed");
}

void
health_start(struct conf *c)
{
	(void)c;
}

void
health_stop(struct conf *c)
{
	(void)c;
}

void
health_checks(const struct server *s, uint64_t *ok, uint64_t *failed)
{
	(void)s;
	*ok = *failed = 0;
}

const char *
health_last_result(const struct server *s)
{
	(void)s;
	return (NULL);
}

const char *
health_state_name(enum server_health h)
{
	(void)h;
	return ("up");
}

unsigned
listener_count(void)
{
	return (1);
}

int
listener_rest(struct evconnlistener *el, struct event *ev, int err)
{
	(void)el;
	(void)ev;
	(void)err;
	return (0);
}

/* Ends with an empty line, which show metrics must not pass on. */
void
metrics_render(struct evbuffer *b)
{
	evbuffer_add_printf(b, "# TYPE cutover_up gauge\ncutover_up 1\n\n"
	    "cutover_last 1");
}

int
rollout_command(const char *verb, const char *route, char *err,
    size_t len)
{
	(void)route;
	if (strcmp(verb, "confirm") == 0) {
		snprintf(err, len, "nothing to confirm");
		return (-1);
	}
	return (0);
}

int
rollout_exists(const char *route)
{
	return (strcmp(route, "app") == 0);
}

void
rollout_show(struct evbuffer *b, const char *route)
{
	evbuffer_add_printf(b, "rollout %s: idle\n", route ? route : "app");
}

void
rollout_json(struct evbuffer *b, const char *route)
{
	evbuffer_add_printf(b, "{\"route\":\"%s\"}", route ? route : "app");
}

double
route_share(const struct route *r, size_t i)
{
	size_t	j;
	int	total = 0;

	for (j = 0; j < r->nsplit; j++)
		total += r->split[j].weight;
	return (total > 0 ? (double)r->split[i].weight / total : 0);
}

unsigned
session_count(void)
{
	return (0);
}

void
session_counts(unsigned *reading, unsigned *active, unsigned *idle)
{
	*reading = *active = *idle = 0;
}

int
state_save(const struct conf *c)
{
	(void)c;
	return (0);
}

void
state_server_deleted(const struct pool *p, const struct server *s)
{
	(void)p;
	(void)s;
}

unsigned
upstream_idle_count(const struct server *s)
{
	(void)s;
	return (0);
}

void
upstream_server_clear(struct server *s)
{
	(void)s;
}

void
upstream_server_clear_mine(struct server *s)
{
	(void)s;
}

int
worker_count(void)
{
	return (1);
}

void
worker_counts_of(int i, struct worker_counts *wc)
{
	(void)i;
	memset(wc, 0, sizeof *wc);
}

void
worker_lock_slow(void)
{
}

void
worker_unlock_slow(void)
{
}

/* Keeps the work for LLVMFuzzerTestOneInput() to run, one at a time. */
void
worker_offload(const struct worker_offload_ops *ops, void *arg)
{
	FUZZ_CHECK(admin_pending_work == NULL);
	admin_pending_work = ops->work;
	admin_pending_done = ops->done;
	admin_pending_arg = arg;
}

/* Its work runs on the fuzzer's thread, where no exit waits for it. */
void
worker_offload_lookup_begin(void)
{
}

void
worker_offload_lookup_end(void)
{
}

uint64_t
cutover_now_us(void)
{
	return (0);
}

uint64_t
cutover_requests(void)
{
	return (0);
}

/* A reload: refused at once, as when the file does not parse. */
static int
admin_check_reload(unsigned long *seq, struct conf_errors *errs)
{
	*seq = 1;
	errs->msgs = xcalloc(1, sizeof *errs->msgs);
	errs->msgs[0] = xstrdup("fuzz.conf:1: reload refused by the harness");
	errs->n = 1;
	return (-1);
}

/* Names a server "HOST:PORT" of conf_server() would resolve: no names. */
int
__real_getaddrinfo(const char *, const char *, const struct addrinfo *,
    struct addrinfo **);
int
__wrap_getaddrinfo(const char *, const char *, const struct addrinfo *,
    struct addrinfo **);

int
__wrap_getaddrinfo(const char *host, const char *serv,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo	h;

	memset(&h, 0, sizeof h);
	if (hints != NULL)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	return (__real_getaddrinfo(host, serv, &h, res));
}

/*
 * Returns how many answers the commands of line[0..len) get (0 or 1), and
 * sets *closes when the connection ends after it.
 */
static size_t
admin_check_line(const char *line, size_t len, int *closes)
{
	size_t	i = 0, start, words = 0;
	int	quit = 0;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	while (i < len) {
		if (line[i] == ' ' || line[i] == '\t') {
			i++;
			continue;
		}
		for (start = i; i < len && line[i] != ' ' && line[i] != '\t';
		    i++)
			;
		quit = words == 0 && i - start == 4 &&
		    memcmp(line + start, "quit", 4) == 0;
		words++;
	}
	*closes = quit && words == 1;
	return (words > 0);
}

/* Counts the answers that data[0..len) must get, from the input alone. */
static size_t
admin_check_expect(const uint8_t *data, size_t len)
{
	const char	*s = (const char *)data, *nl;
	size_t		 pos = 0, n = 0, l;
	int		 closes = 0;

	while (pos < len && !closes) {
		nl = memchr(s + pos, '\n', len - pos);
		l = nl != NULL ? (size_t)(nl - (s + pos)) : len - pos;
		if (l > ADMIN_MAXLINE)
			return (n + 1);		/* line too long, closed */
		if (memchr(s + pos, '\0', l) != NULL)
			return (nl != NULL ? n + 1 : n);
		n += admin_check_line(s + pos, l, &closes);
		if (nl == NULL)
			break;
		pos += l + 1;
	}
	return (n);
}

/* Takes what the client was answered, as its peer would read it. */
static void
admin_check_drain(struct bufferevent *bev)
{
	struct evbuffer	*out = bufferevent_get_output(bev);
	size_t		 n = evbuffer_get_length(out);

	if (n == 0)
		return;
	if ((admin_out = realloc(admin_out, admin_outlen + n)) == NULL)
		abort();
	evbuffer_remove(out, admin_out + admin_outlen, n);
	admin_outlen += n;
}

/* Runs an offloaded "add server" the dispatcher left, if any. */
static int
admin_check_offload(void)
{
	void	(*work)(void *) = admin_pending_work;
	void	(*done)(void *) = admin_pending_done;

	if (work == NULL)
		return (0);
	admin_pending_work = NULL;
	admin_pending_done = NULL;
	work(admin_pending_arg);
	done(admin_pending_arg);
	return (1);
}

/* Answers the input, then the EOF, as the event loop would. */
static void
admin_check_client(struct bufferevent *bev, struct admin_client *c)
{
	int	eof = 0;

	admin_read_cb_locked(bev, c);
	for (;;) {
		admin_check_drain(bev);
		if (admin_check_offload())
			continue;
		if (admin_nclients == 0)
			break;
		if (c->closing || c->waiting) {
			/* All is written: admin_write_cb() frees it. */
			if (!c->waiting)
				admin_write_cb(bev, c);
			else
				FUZZ_CHECK(!"a command waits for nothing");
			continue;
		}
		if (evbuffer_get_length(bufferevent_get_input(bev)) >
		    ADMIN_MAXLINE ||
		    evbuffer_search_eol(bufferevent_get_input(bev), NULL, NULL,
		    EVBUFFER_EOL_LF).pos != -1) {
			/* Reading stopped on answers piling up: resumed. */
			admin_write_cb(bev, c);
			continue;
		}
		if (eof)
			FUZZ_CHECK(!"a client left open after its eof");
		eof = 1;
		admin_event_cb_locked(bev, BEV_EVENT_EOF | BEV_EVENT_READING,
		    c);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct admin_client	*c;
	struct bufferevent	*bev;
	struct conf		*conf;
	size_t			 i, empty = 0;
	int			 fd;

	if (cutover.base == NULL) {
		cutover.base = event_base_new();
		fd = memfd_create("admin.conf", 0);
		if (cutover.base == NULL || fd == -1 || write(fd,
		    admin_conf_text, sizeof admin_conf_text - 1) == -1)
			abort();
		snprintf(admin_conf_path, sizeof admin_conf_path,
		    "/proc/self/fd/%d", fd);
		cutover.conf_path = admin_conf_path;
		admin_reload_cb = admin_check_reload;
		log_open(NULL, LOG_LEVEL_ERROR);
	}
	if ((cutover.conf = conf_load(admin_conf_path, &errs)) == NULL)
		abort();
	if ((bev = bufferevent_socket_new(cutover.base, -1, 0)) == NULL)
		abort();
	/* No socket: the harness fills the input and drains the output. */
	evbuffer_unfreeze(bufferevent_get_input(bev), 0);
	evbuffer_unfreeze(bufferevent_get_output(bev), 1);
	c = xcalloc(1, sizeof *c);
	c->bev = bev;
	TAILQ_INSERT_TAIL(&admin_clients, c, entry);
	admin_nclients++;
	evbuffer_add(bufferevent_get_input(bev), data, len);
	admin_outlen = 0;
	admin_check_client(bev, c);
	FUZZ_CHECK(admin_nclients == 0 && TAILQ_EMPTY(&admin_clients));
	/* bufferevent_free() leaves the freeing to the loop: let it run. */
	event_base_loop(cutover.base, EVLOOP_NONBLOCK);

	/* One answer a command, each ended by the only empty line in it. */
	FUZZ_CHECK(admin_outlen == 0 || admin_out[admin_outlen - 1] == '\n');
	for (i = 0; i < admin_outlen; i++) {
		if (admin_out[i] == '\n' &&
		    (i == 0 || admin_out[i - 1] == '\n'))
			empty++;
	}
	if (getenv("FUZZ_ADMIN_DEBUG") != NULL)
		fprintf(stderr, "%zu answers:\n%.*s", empty, (int)admin_outlen,
		    admin_out);
	FUZZ_CHECK(empty == admin_check_expect(data, len));

	/* The generation released, every deleted server is freed. */
	conf = cutover.conf;
	cutover.conf = NULL;
	conf_unref(conf);
	admin_sweep_cb_locked(-1, 0, NULL);
	FUZZ_CHECK(admin_retired == NULL);
	return (0);
}
