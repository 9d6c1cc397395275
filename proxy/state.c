/*
 * Runtime state and the state file.  Rather than replaying a log of admin
 * commands, the state is what a generation's runtime fields say that its
 * config does not: a split entry whose weight differs from its
 * conf_weight, a server whose weight or admin state was changed, a server
 * added at run time, and a server of the config deleted at run time.
 * state_capture() reads those records off a generation; state_apply()
 * writes them into a new one by the rule of SPEC section 5: each record
 * carries the config value it was based on, and when the new config's
 * value differs, the config changed since the previous load and wins;
 * otherwise the runtime value stays.
 *
 * A reload carries the records of the running generation, not of the
 * file, so a state file that could not be written loses nothing.  At
 * start the records come from the file.  Its format, one record a line,
 * fields separated by spaces (names and addresses hold none):
 *
 *	cutover-state 1
 *	split ROUTE POOL WEIGHT CONFIGURED
 *	server POOL NAME HOST:PORT WEIGHT CONFIGURED ready|drain|maint
 *	added POOL NAME HOST:PORT WEIGHT INITIAL ready|drain|maint
 *	deleted POOL NAME HOST:PORT
 *	rollout ROUTE CANARY STATE STEP STARTED STEP_START PAUSED POINT REASON
 *
 * A rollout record is the rollout module's (rollout.c): its state (with
 * "+confirmed" when `rollout confirm` waived the step's latency ratio),
 * step, the times as wall-clock milliseconds and its rollback point.
 * Those records come only from the file at start: across a reload the
 * rollout module keeps its rollouts itself.  Lines starting with # are
 * comments.  A file that breaks this grammar is reported with its line
 * and ignored as a whole: half a state is worse than none.  The line
 * limit only bounds what a corrupt file makes us read: a rollout record
 * lists every pool of its route's split and a reason of up to 511 bytes.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "rollout.h"
#include "state.h"
#include "xmalloc.h"

#define STATE_VERSION	1
#define STATE_MAXLINE	(1024 * 1024)
#define STATE_MAXFIELDS	8

enum state_kind {
	STATE_SPLIT,		/* a route's split entry */
	STATE_SERVER,		/* a server of the config */
	STATE_ADDED,		/* a server added at run time */
	STATE_DELETED,		/* a server of the config deleted at run time */
	STATE_ROLLOUT		/* a rollout, as rollout.c wrote it */
};

/* One record. */
struct state_item {
	enum state_kind		 kind;
	char			*a;		/* route, pool, or a rollout */
	char			*b;		/* pool, or server */
	char			*addr;		/* HOST:PORT of a server */
	int			 weight;	/* the runtime value */
	int			 conf_weight;	/* the value it was based on */
	enum server_admin	 admin;
	const struct server	*from;		/* added, in the old generation */
};

/* A set of records; owned by whoever made it. */
struct state {
	struct state_item	*items;
	size_t			 n;
};

/* The servers of the config deleted at run time, kept across reloads. */
static struct state	 state_deleted;


/* Appends a record; the strings are copied. */
static void
state_add(struct state *st, enum state_kind kind, const char *a,
    const char *b, const char *addr, int weight, int conf_weight,
    enum server_admin admin)
{
	struct state_item	*it;

	st->items = xreallocarray(st->items, st->n + 1, sizeof *st->items);
	it = &st->items[st->n++];
	it->kind = kind;
	it->a = xstrdup(a);
	it->b = xstrdup(b);
	it->addr = addr != NULL ? xstrdup(addr) : NULL;
	it->weight = weight;
	it->conf_weight = conf_weight;
	it->admin = admin;
	it->from = NULL;
}

/* Frees the records of st. */
static void
state_reset(struct state *st)
{
	size_t	i;

	for (i = 0; i < st->n; i++) {
		free(st->items[i].a);
		free(st->items[i].b);
		free(st->items[i].addr);
	}
	free(st->items);
	st->items = NULL;
	st->n = 0;
}

/* Reads the records off a generation. */
static void
state_capture(const struct conf *conf, struct state *st)
{
	const struct route	*r;
	const struct pool	*p;
	const struct server	*s;
	const struct state_item	*it;
	size_t			 i, j;

	for (i = 0; i < conf->nroutes; i++) {
		r = conf->routes[i];
		for (j = 0; j < r->nsplit; j++) {
			if (r->split[j].weight == r->split[j].conf_weight)
				continue;
			state_add(st, STATE_SPLIT, r->name,
			    r->split[j].pool->name, NULL, r->split[j].weight,
			    r->split[j].conf_weight, SERVER_READY);
		}
	}
	for (i = 0; i < conf->npools; i++) {
		p = conf->pools[i];
		for (j = 0; j < p->nservers; j++) {
			s = p->servers[j];
			if (s->added) {
				state_add(st, STATE_ADDED, p->name, s->name,
				    s->addr_text, s->weight, s->conf_weight,
				    s->admin);
				st->items[st->n - 1].from = s;
			} else if (s->weight != s->conf_weight ||
			    s->admin != SERVER_READY)
				state_add(st, STATE_SERVER, p->name, s->name,
				    s->addr_text, s->weight, s->conf_weight,
				    s->admin);
		}
	}
	for (i = 0; i < state_deleted.n; i++) {
		it = &state_deleted.items[i];
		state_add(st, STATE_DELETED, it->a, it->b, it->addr, 0, 0,
		    SERVER_READY);
	}
}

/* Parses one record line into st; a phrase when it is malformed. */
static const char *
state_parse_line(char *line, struct state *st)
{
	char			*f[STATE_MAXFIELDS], *next = line, *w;
	size_t			 n = 0;
	int			 weight = 0, conf_weight = 0;
	enum server_admin	 admin = SERVER_READY;
	int			 wmax;
	enum state_kind		 kind;

	while ((w = strsep(&next, " \t")) != NULL) {
		if (*w == '\0')
			continue;
		if (n == STATE_MAXFIELDS)
			return ("too many fields");
		f[n++] = w;
	}
	if (n == 0)
		return (NULL);
	if (strcmp(f[0], "split") == 0 && n == 5)
		kind = STATE_SPLIT;
	else if (strcmp(f[0], "server") == 0 && n == 7)
		kind = STATE_SERVER;
	else if (strcmp(f[0], "added") == 0 && n == 7)
		kind = STATE_ADDED;
	else if (strcmp(f[0], "deleted") == 0 && n == 4)
		kind = STATE_DELETED;
	else if (strcmp(f[0], "split") == 0 || strcmp(f[0], "server") == 0 ||
	    strcmp(f[0], "added") == 0 || strcmp(f[0], "deleted") == 0)
		return ("wrong number of fields");
	else
		return ("unknown record");
	wmax = kind == STATE_SPLIT ? 10000 : 256;
	if (kind == STATE_SPLIT) {
		if (conf_int(f[3], 0, wmax, &weight) == -1 ||
		    conf_int(f[4], 0, wmax, &conf_weight) == -1)
			return ("bad weight");
		state_add(st, kind, f[1], f[2], NULL, weight, conf_weight,
		    SERVER_READY);
		return (NULL);
	}
	if (strchr(f[3], ':') == NULL)
		return ("bad address");
	if (kind != STATE_DELETED) {
		if (conf_int(f[4], 0, wmax, &weight) == -1 ||
		    conf_int(f[5], 0, wmax, &conf_weight) == -1)
			return ("bad weight");
		if (conf_admin_parse(f[6], &admin) == -1)
			return ("bad server state");
	}
	state_add(st, kind, f[1], f[2], f[3], weight, conf_weight, admin);
	return (NULL);
}

/*
 * Reads the state file into st.  -1 when it is missing (errno ENOENT,
 * logged at info) or unreadable or corrupt (logged at warn): st is then
 * left empty.
 */
static int
state_load(const char *path, struct state *st)
{
	FILE		*fp;
	char		*line = NULL;
	size_t		 size = 0;
	ssize_t		 len;
	int		 lineno = 0, seen_version = 0, version;
	const char	*errstr = NULL;

	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			log_info("state file %s: not found, starting from the "
			    "config alone", path);
		else
			log_warn("state file %s: cannot open: %s; ignored",
			    path, strerror(errno));
		return (-1);
	}
	while ((len = getline(&line, &size, fp)) != -1) {
		lineno++;
		if (len > STATE_MAXLINE) {
			errstr = "line too long";
			break;
		}
		if (memchr(line, '\0', len) != NULL) {
			errstr = "NUL byte";
			break;
		}
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else {
			errstr = "truncated line";
			break;
		}
		if (len == 0 || line[0] == '#')
			continue;
		if (!seen_version) {
			if (strncmp(line, "cutover-state ", 14) != 0 ||
			    conf_int(line + 14, 0, INT_MAX, &version) == -1) {
				errstr = "not a cutover state file";
				break;
			}
			if (version != STATE_VERSION) {
				errstr = "unknown version";
				break;
			}
			seen_version = 1;
			continue;
		}
		if (strncmp(line, "rollout ", 8) == 0) {
			if ((errstr = rollout_state_check(line + 8)) != NULL)
				break;
			state_add(st, STATE_ROLLOUT, line + 8, "", NULL, 0, 0,
			    SERVER_READY);
			continue;
		}
		if ((errstr = state_parse_line(line, st)) != NULL)
			break;
	}
	if (errstr == NULL && ferror(fp)) {
		log_warn("state file %s: cannot read: %s; ignored", path,
		    strerror(errno));
		goto fail;
	}
	if (errstr == NULL && !seen_version) {
		lineno = lineno > 0 ? lineno : 1;
		errstr = "not a cutover state file";
	}
	if (errstr != NULL) {
		log_warn("state file %s:%d: %s; the state file is ignored",
		    path, lineno, errstr);
		goto fail;
	}
	free(line);
	fclose(fp);
	return (0);
fail:
	free(line);
	fclose(fp);
	state_reset(st);
	return (-1);
}

/* Finds the split entry of pool name in route r; NULL when absent. */
static struct split_entry *
state_find_split(struct route *r, const char *name)
{
	size_t	i;

	for (i = 0; i < r->nsplit; i++) {
		if (strcmp(r->split[i].pool->name, name) == 0)
			return (&r->split[i]);
	}
	return (NULL);
}

/* Finds the config server a record names: same pool, name and address. */
static struct server *
state_find_server(const struct conf *conf, const struct state_item *it,
    struct pool **pp)
{
	struct pool	*p;
	struct server	*s;

	if ((p = conf_find_pool(conf, it->a)) == NULL)
		return (NULL);
	if (pp != NULL)
		*pp = p;
	if ((s = conf_find_server(p, it->b)) == NULL || s->added ||
	    strcmp(s->addr_text, it->addr) != 0)
		return (NULL);
	return (s);
}

/* Applies a split record. */
static void
state_apply_split(struct conf *conf, const struct state_item *it)
{
	struct route		*r;
	struct split_entry	*e;

	if ((r = conf_find_route(conf, it->a)) == NULL ||
	    (e = state_find_split(r, it->b)) == NULL) {
		log_info("state: route %s: pool %s is no longer in the split; "
		    "its weight %d is dropped", it->a, it->b, it->weight);
		return;
	}
	if (e->conf_weight != it->conf_weight) {
		log_info("state: route %s: pool %s: the config changed its "
		    "weight from %d to %d: the config wins over %d", it->a,
		    it->b, it->conf_weight, e->conf_weight, it->weight);
		return;
	}
	e->weight = it->weight;
}

/* Applies a record of a config server's weight and admin state. */
static void
state_apply_server(struct conf *conf, const struct state_item *it)
{
	struct server	*s;

	if ((s = state_find_server(conf, it, NULL)) == NULL) {
		log_info("state: pool %s: server %s %s is no longer in the "
		    "config; its state is dropped", it->a, it->b, it->addr);
		return;
	}
	if (s->conf_weight == it->conf_weight)
		s->weight = it->weight;
	else if (it->weight != it->conf_weight)
		log_info("state: pool %s: server %s: the config changed its "
		    "weight from %d to %d: the config wins over %d", it->a,
		    it->b, it->conf_weight, s->conf_weight, it->weight);
	s->admin = it->admin;
}

/* Re-adds a server added at run time. */
static void
state_apply_added(struct conf *conf, const struct state_item *it)
{
	struct pool	*p;
	struct server	*s;
	const char	*errstr;
	char		*spec;

	if ((p = conf_find_pool(conf, it->a)) == NULL) {
		log_info("state: pool %s is gone: server %s %s added at run "
		    "time is dropped", it->a, it->b, it->addr);
		return;
	}
	if (conf_find_server(p, it->b) != NULL) {
		log_info("state: pool %s: server %s is in the config now: the "
		    "config wins over the server added at run time", it->a,
		    it->b);
		return;
	}
	/* At a reload, its address as resolved when it was added. */
	spec = xasprintf("%s %s weight=%d", it->b, it->addr, it->conf_weight);
	errstr = conf_server_at(spec, it->from != NULL ? &it->from->addr :
	    NULL, it->from != NULL ? it->from->addrlen : 0, &s);
	free(spec);
	if (errstr != NULL) {
		log_warn("state: pool %s: server %s %s: %s; dropped", it->a,
		    it->b, it->addr, errstr);
		return;
	}
	s->pool = p;
	s->added = 1;
	s->weight = it->weight;
	s->admin = it->admin;
	p->servers = xreallocarray(p->servers, p->nservers + 1,
	    sizeof *p->servers);
	p->servers[p->nservers++] = s;
}

/*
 * Deletes again a config server deleted at run time; keeps the record.
 * The last server of its pool waits in later, when later is not NULL,
 * for the servers added at run time: they are applied after deletions,
 * and the deletion went through at run time because they were there.
 */
static void
state_apply_deleted(struct conf *conf, const struct state_item *it,
    struct state *kept, struct state *later)
{
	struct pool	*p = NULL;
	struct server	*s;
	size_t		 i;

	if ((s = state_find_server(conf, it, &p)) == NULL) {
		log_info("state: pool %s: server %s %s deleted at run time is "
		    "no longer in the config; forgotten", it->a, it->b,
		    it->addr);
		return;
	}
	if (p->nservers == 1 && later != NULL) {
		state_add(later, STATE_DELETED, it->a, it->b, it->addr, 0, 0,
		    SERVER_READY);
		return;
	}
	if (p->nservers == 1) {
		log_warn("state: pool %s: server %s is the pool's only server: "
		    "kept despite its deletion at run time", it->a, it->b);
		return;
	}
	for (i = 0; p->servers[i] != s; i++)
		;
	memmove(&p->servers[i], &p->servers[i + 1],
	    (p->nservers - i - 1) * sizeof *p->servers);
	p->nservers--;
	conf_server_free(s);
	state_add(kept, STATE_DELETED, it->a, it->b, it->addr, 0, 0,
	    SERVER_READY);
}

/*
 * Applies records to a generation not yet published.  Deletions go first,
 * so that a server deleted and added again under its name comes back as
 * added.  A split left with every weight at 0 takes the config's split.
 */
static void
state_apply(const struct state *st, struct conf *conf)
{
	struct state	 kept = { NULL, 0 }, later = { NULL, 0 };
	struct route	*r;
	size_t		 i, j;
	long		 total;
	enum state_kind	 order[] = { STATE_DELETED, STATE_SERVER, STATE_ADDED,
			    STATE_SPLIT, STATE_ROLLOUT };
	size_t		 k;

	for (k = 0; k < sizeof order / sizeof order[0]; k++) {
		for (i = 0; i < st->n; i++) {
			if (st->items[i].kind != order[k])
				continue;
			switch (st->items[i].kind) {
			case STATE_SPLIT:
				state_apply_split(conf, &st->items[i]);
				break;
			case STATE_SERVER:
				state_apply_server(conf, &st->items[i]);
				break;
			case STATE_ADDED:
				state_apply_added(conf, &st->items[i]);
				break;
			case STATE_DELETED:
				state_apply_deleted(conf, &st->items[i],
				    &kept, &later);
				break;
			case STATE_ROLLOUT:
				rollout_state_restore(conf, st->items[i].a);
				break;
			}
		}
	}
	/* The last servers of their pools, now that the added are back. */
	for (i = 0; i < later.n; i++)
		state_apply_deleted(conf, &later.items[i], &kept, NULL);
	state_reset(&later);
	state_reset(&state_deleted);
	state_deleted = kept;

	for (i = 0; i < conf->nroutes; i++) {
		r = conf->routes[i];
		for (total = 0, j = 0; j < r->nsplit; j++)
			total += r->split[j].weight;
		if (total > 0)
			continue;
		log_warn("state: route %s: the split would weigh 0 in all: "
		    "the config's split wins", r->name);
		for (j = 0; j < r->nsplit; j++)
			r->split[j].weight = r->split[j].conf_weight;
	}
}

void
state_restore(struct conf *conf)
{
	struct state	st = { NULL, 0 };

	state_reset(&state_deleted);
	if (conf->state_file == NULL)
		return;
	if (state_load(conf->state_file, &st) == -1)
		return;
	state_apply(&st, conf);
	log_info("state file %s: %zu records restored", conf->state_file,
	    st.n);
	state_reset(&st);
	/* Drop the records the config overrode, so they cannot come back. */
	state_save(conf);
}

void
state_carry(const struct conf *old, struct conf *conf)
{
	struct state	st = { NULL, 0 };

	state_capture(old, &st);
	state_apply(&st, conf);
	state_reset(&st);
}

/* Formats the records of st as the file's text. */
static char *
state_format(const struct state *st, size_t *lenp)
{
	const struct state_item	*it;
	char			*text, *line;
	size_t			 len, i;

	text = xasprintf("# cutover state file, written by cutover: see "
	    "cutover.conf(5)\ncutover-state %d\n", STATE_VERSION);
	for (i = 0; i < st->n; i++) {
		it = &st->items[i];
		line = NULL;
		switch (it->kind) {
		case STATE_SPLIT:
			line = xasprintf("split %s %s %d %d\n", it->a, it->b,
			    it->weight, it->conf_weight);
			break;
		case STATE_SERVER:
		case STATE_ADDED:
			line = xasprintf("%s %s %s %s %d %d %s\n",
			    it->kind == STATE_ADDED ? "added" : "server",
			    it->a, it->b, it->addr, it->weight,
			    it->conf_weight, conf_admin_name(it->admin));
			break;
		case STATE_DELETED:
			line = xasprintf("deleted %s %s %s\n", it->a, it->b,
			    it->addr);
			break;
		case STATE_ROLLOUT:
			line = xasprintf("rollout %s\n", it->a);
			break;
		}
		len = strlen(text);
		text = xreallocarray(text, len + strlen(line) + 1, 1);
		memcpy(text + len, line, strlen(line) + 1);
		free(line);
	}
	line = rollout_state_text();
	len = strlen(text);
	text = xreallocarray(text, len + strlen(line) + 1, 1);
	memcpy(text + len, line, strlen(line) + 1);
	free(line);
	*lenp = strlen(text);
	return (text);
}

/* Writes len bytes of buf to fd whole. */
static int
state_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Flushes a directory entry change (the rename) to disk. */
static int
state_sync_dir(const char *path)
{
	char	*copy, *dir;
	int	 fd, rc = 0;

	copy = xstrdup(path);
	dir = dirname(copy);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		rc = -1;
	else {
		if (fsync(fd) == -1 && errno != EINVAL)
			rc = -1;
		close(fd);
	}
	free(copy);
	return (rc);
}

int
state_save(const struct conf *conf)
{
	struct state	 st = { NULL, 0 };
	const char	*path = conf->state_file, *what = "write it";
	char		*tmp = NULL, *text = NULL;
	size_t		 len;
	int		 fd = -1, saved;

	if (path == NULL)
		return (0);
	state_capture(conf, &st);
	text = state_format(&st, &len);
	tmp = xasprintf("%s.XXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		what = "create a temp file beside it";
		free(tmp);
		tmp = NULL;
		goto fail;
	}
	if (state_write_all(fd, text, len) == -1)
		goto fail;
	what = "fsync it";
	if (fsync(fd) == -1)
		goto fail;
	what = "close it";
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	what = "rename the temp file over it";
	if (rename(tmp, path) == -1)
		goto fail;
	free(tmp);
	tmp = NULL;
	if (state_sync_dir(path) == -1)
		log_warn("state file %s: written, but its directory cannot be "
		    "synced: %s", path, strerror(errno));
	log_debug("state file %s: %zu records written", path, st.n);
	free(text);
	state_reset(&st);
	return (0);
fail:
	saved = errno;
	log_error("state file %s: cannot %s: %s; the old file stays", path,
	    what, strerror(saved));
	if (fd != -1)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(text);
	state_reset(&st);
	return (-1);
}

void
state_server_deleted(const struct pool *p, const struct server *s)
{
	state_add(&state_deleted, STATE_DELETED, p->name, s->name,
	    s->addr_text, 0, 0, SERVER_READY);
}

void
state_clear(void)
{
	state_reset(&state_deleted);
}
