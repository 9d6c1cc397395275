/*
 * The configuration loader.  The file is read line by line through our own
 * reader, which counts lines, follows the [kind NAME] sections and refuses
 * malformed and over-long lines itself; inih splits the remaining lines
 * into keys and values and hands them to conf_key_cb(), which looks each
 * key up in its section's table.  Errors are kept as "FILE:LINE: message"
 * and parsing goes on, so one run reports them all.  References between
 * sections (a route's pools and listeners, a rollout's route and canary)
 * are resolved once the whole file is read, since a pool may be defined
 * after the route that uses it; every object keeps its line for that.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netdb.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "conf.h"
#include "log.h"
#include "ocsp.h"
#include "tls.h"
#include "worker.h"
#include "xmalloc.h"

/* The longest config line taken; inih alone takes 198 characters. */
#define CONF_LINE_MAX	65536

/*
 * The longest duration a key takes, a year.  Timers add durations to
 * clocks in microseconds and the rollout controller multiplies the
 * interval: a larger value would overflow there and come out as a
 * deadline already past - a rollout through every step at once.
 */
#define CONF_DURATION_MAX	(8760L * 60 * 60 * 1000)

#ifndef CUTOVER_SOCK
#define CUTOVER_SOCK	"/run/cutover.sock"
#endif

#define CONF_MAXKEYS	32

enum conf_kind {
	CONF_NONE,		/* before the first section */
	CONF_SKIP,		/* in a section whose header was refused */
	CONF_GLOBAL,
	CONF_LISTENER,
	CONF_POOL,
	CONF_ROUTE,
	CONF_ROLLOUT
};

enum conf_type {
	CONF_T_STRING,		/* char *, replaced */
	CONF_T_INT,		/* int in [min, max] */
	CONF_T_DURATION,	/* long milliseconds, at least min */
	CONF_T_SIZE,		/* size_t bytes, at least min */
	CONF_T_SIZE64,		/* uint64_t bytes, at least min */
	CONF_T_BOOL,		/* int, on or off */
	CONF_T_DOUBLE,		/* double in [min, max] */
	CONF_T_FN		/* parsed by fn */
};

enum conf_ref_kind {
	CONF_REF_LISTENER,	/* route listener */
	CONF_REF_SPLIT,		/* route split entry */
	CONF_REF_STABLE,	/* route stable */
	CONF_REF_MATCH,		/* route match_header or match_cookie */
	CONF_REF_CANARY		/* rollout canary */
};

struct conf_parse;

/* One key of a section's table. */
struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;		/* of the field in its struct */
	long		 min;
	long		 max;
	int		 repeat;
	void		(*fn)(struct conf_parse *, const char *, const char *);
};

/* A reference by name, resolved after the whole file is read. */
struct conf_pending {
	enum conf_ref_kind	 kind;
	void			*obj;	/* the route or rollout */
	size_t			 idx;	/* in the array the reference fills */
	char			*name;
	const char		*key;
	int			 line;
};

/* One error, sorted by line before it is handed out. */
struct conf_msg {
	int			 line;
	size_t			 seq;
	char			*text;
};

/* The state of one load; owned by conf_load(). */
struct conf_parse {
	struct conf		*conf;
	const char		*file;
	FILE			*fp;
	char			*buf;		/* getline()'s buffer */
	size_t			 bufsize;
	int			 line;

	enum conf_kind		 kind;		/* the current section */
	void			*obj;
	char			*where;		/* "pool blue", for messages */
	int			 section_line;
	const struct conf_key	*keys;
	int			 seen[CONF_MAXKEYS];	/* first line per key */
	int			 global_line;

	int			 status_line;

	struct conf_pending	*pending;
	size_t			 npending;
	struct conf_msg		*msgs;
	size_t			 nmsgs;
};

static const char	*conf_phrase(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	conf_error(struct conf_parse *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	conf_key_cb(void *, const char *, const char *, const char *);
static void	conf_key_error(struct conf_parse *, const char *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
static void	conf_global_admin_socket(struct conf_parse *, const char *,
		    const char *);
static void	conf_global_status_listen(struct conf_parse *, const char *,
		    const char *);
static void	conf_global_batch_wait(struct conf_parse *, const char *,
		    const char *);
static void	conf_global_tls_ticket_rotate(struct conf_parse *,
		    const char *, const char *);
static void	conf_global_busy_poll(struct conf_parse *, const char *,
		    const char *);
static void	conf_global_workers(struct conf_parse *, const char *,
		    const char *);
static void	conf_global_access_log(struct conf_parse *, const char *,
		    const char *);
static void	conf_global_access_log_format(struct conf_parse *,
		    const char *, const char *);
static void	conf_global_error_log(struct conf_parse *, const char *,
		    const char *);
static void	conf_global_log_level(struct conf_parse *, const char *,
		    const char *);
static void	conf_url(struct conf_parse *, const char *, const char *);
static void	conf_listener_bind(struct conf_parse *, const char *,
		    const char *);
static void	conf_listener_tls_cert(struct conf_parse *, const char *,
		    const char *);
static void	conf_listener_tls_ocsp_stapling(struct conf_parse *,
		    const char *, const char *);
static void	conf_listener_tls_min_version(struct conf_parse *,
		    const char *, const char *);
static void	conf_pool_server(struct conf_parse *, const char *,
		    const char *);
static void	conf_pool_balance(struct conf_parse *, const char *,
		    const char *);
static void	conf_pool_health_path(struct conf_parse *, const char *,
		    const char *);
static void	conf_pool_health_expect(struct conf_parse *, const char *,
		    const char *);
static void	conf_route_listener(struct conf_parse *, const char *,
		    const char *);
static void	conf_route_host(struct conf_parse *, const char *,
		    const char *);
static void	conf_route_path_prefix(struct conf_parse *, const char *,
		    const char *);
static void	conf_route_split(struct conf_parse *, const char *,
		    const char *);
static void	conf_route_stable(struct conf_parse *, const char *,
		    const char *);
static void	conf_route_match(struct conf_parse *, const char *,
		    const char *);
static void	conf_route_sticky(struct conf_parse *, const char *,
		    const char *);
static void	conf_rollout_strategy(struct conf_parse *, const char *,
		    const char *);
static void	conf_rollout_canary(struct conf_parse *, const char *,
		    const char *);
static void	conf_rollout_steps(struct conf_parse *, const char *,
		    const char *);
static void	conf_rollout_step(struct conf_parse *, const char *,
		    const char *);
static void	conf_rollout_metrics(struct conf_parse *, const char *,
		    const char *);

#define G(f)	offsetof(struct conf, f)
#define L(f)	offsetof(struct listener_conf, f)
#define P(f)	offsetof(struct pool, f)
#define R(f)	offsetof(struct route, f)
#define O(f)	offsetof(struct rollout_conf, f)

static const struct conf_key conf_global_keys[] = {
	{ "admin_socket", CONF_T_FN, 0, 0, 0, 0, conf_global_admin_socket },
	{ "admin_timeout", CONF_T_DURATION, G(admin_timeout), 1000, 0, 0,
	    NULL },
	{ "state_file", CONF_T_STRING, G(state_file), 0, 0, 0, NULL },
	{ "status_listen", CONF_T_FN, 0, 0, 0, 0, conf_global_status_listen },
	{ "workers", CONF_T_FN, 0, 0, 0, 0, conf_global_workers },
	{ "batch_wait", CONF_T_FN, 0, 0, 0, 0, conf_global_batch_wait },
	{ "busy_poll", CONF_T_FN, 0, 0, 0, 0, conf_global_busy_poll },
	{ "tls_ticket_rotate", CONF_T_FN, 0, 0, 0, 0,
	    conf_global_tls_ticket_rotate },
	{ "max_connections", CONF_T_INT, G(max_connections), 1, 10000000, 0,
	    NULL },
	{ "access_log", CONF_T_FN, 0, 0, 0, 0, conf_global_access_log },
	{ "access_log_format", CONF_T_FN, 0, 0, 0, 0,
	    conf_global_access_log_format },
	{ "access_log_buffer", CONF_T_SIZE, G(access_log_buffer), 0,
	    16 * 1024 * 1024, 0, NULL },
	{ "error_log", CONF_T_FN, 0, 0, 0, 0, conf_global_error_log },
	{ "log_level", CONF_T_FN, 0, 0, 0, 0, conf_global_log_level },
	{ "client_header_timeout", CONF_T_DURATION, G(client_header_timeout),
	    1, 0, 0, NULL },
	{ "client_body_timeout", CONF_T_DURATION, G(client_body_timeout),
	    1, 0, 0, NULL },
	{ "keepalive_timeout", CONF_T_DURATION, G(keepalive_timeout),
	    0, 0, 0, NULL },
	{ "max_header_size", CONF_T_SIZE, G(max_header_size), 1, 0, 0, NULL },
	{ "max_uri_size", CONF_T_SIZE, G(max_uri_size), 1, 0, 0, NULL },
	{ "max_body_size", CONF_T_SIZE64, G(max_body_size), 0, 0, 0, NULL },
	{ "shutdown_grace", CONF_T_DURATION, G(shutdown_grace), 0, 0, 0, NULL },
	{ "webhook", CONF_T_FN, G(webhook), 0, 0, 0, conf_url },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_listener_keys[] = {
	{ "bind", CONF_T_FN, 0, 0, 0, 1, conf_listener_bind },
	{ "tls_cert", CONF_T_FN, 0, 0, 0, 1, conf_listener_tls_cert },
	{ "tls_key", CONF_T_STRING, L(tls_key), 0, 0, 0, NULL },
	{ "tls_min_version", CONF_T_FN, 0, 0, 0, 0,
	    conf_listener_tls_min_version },
	{ "tls_client_ca", CONF_T_STRING, L(tls_client_ca), 0, 0, 0, NULL },
	{ "tls_ocsp_stapling", CONF_T_FN, 0, 0, 0, 0,
	    conf_listener_tls_ocsp_stapling },
	{ "forwarded_headers", CONF_T_BOOL, L(forwarded_headers), 0, 0, 0,
	    NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_pool_keys[] = {
	{ "server", CONF_T_FN, 0, 0, 0, 1, conf_pool_server },
	{ "balance", CONF_T_FN, 0, 0, 0, 0, conf_pool_balance },
	{ "health_path", CONF_T_FN, 0, 0, 0, 0, conf_pool_health_path },
	{ "health_interval", CONF_T_DURATION, P(health_interval), 1, 0, 0,
	    NULL },
	{ "health_timeout", CONF_T_DURATION, P(health_timeout), 1, 0, 0,
	    NULL },
	{ "health_rise", CONF_T_INT, P(health_rise), 1, 100, 0, NULL },
	{ "health_fall", CONF_T_INT, P(health_fall), 1, 100, 0, NULL },
	{ "health_expect", CONF_T_FN, 0, 0, 0, 0, conf_pool_health_expect },
	{ "breaker_failures", CONF_T_INT, P(breaker_failures), 1, 10000, 0,
	    NULL },
	{ "breaker_recovery", CONF_T_DURATION, P(breaker_recovery), 1, 0, 0,
	    NULL },
	{ "connect_timeout", CONF_T_DURATION, P(connect_timeout), 1, 0, 0,
	    NULL },
	{ "response_timeout", CONF_T_DURATION, P(response_timeout), 1, 0, 0,
	    NULL },
	{ "keepalive", CONF_T_INT, P(keepalive), 0, 10000, 0, NULL },
	{ "retries", CONF_T_INT, P(retries), 0, 10, 0, NULL },
	{ "tls", CONF_T_BOOL, P(tls), 0, 0, 0, NULL },
	{ "tls_verify", CONF_T_BOOL, P(tls_verify), 0, 0, 0, NULL },
	{ "tls_sni", CONF_T_STRING, P(tls_sni), 0, 0, 0, NULL },
	{ "tls_ca", CONF_T_STRING, P(tls_ca), 0, 0, 0, NULL },
	{ "tls_cert", CONF_T_STRING, P(tls_cert), 0, 0, 0, NULL },
	{ "tls_key", CONF_T_STRING, P(tls_key), 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_route_keys[] = {
	{ "listener", CONF_T_FN, 0, 0, 0, 1, conf_route_listener },
	{ "host", CONF_T_FN, 0, 0, 0, 1, conf_route_host },
	{ "path_prefix", CONF_T_FN, 0, 0, 0, 0, conf_route_path_prefix },
	{ "split", CONF_T_FN, 0, 0, 0, 0, conf_route_split },
	{ "stable", CONF_T_FN, 0, 0, 0, 0, conf_route_stable },
	{ "match_header", CONF_T_FN, 0, 0, 0, 1, conf_route_match },
	{ "match_cookie", CONF_T_FN, 0, 0, 0, 1, conf_route_match },
	{ "sticky", CONF_T_FN, 0, 0, 0, 0, conf_route_sticky },
	{ "sticky_cookie_set", CONF_T_BOOL, R(sticky_cookie_set), 0, 0, 0,
	    NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

static const struct conf_key conf_rollout_keys[] = {
	{ "strategy", CONF_T_FN, 0, 0, 0, 0, conf_rollout_strategy },
	{ "canary", CONF_T_FN, 0, 0, 0, 0, conf_rollout_canary },
	{ "steps", CONF_T_FN, 0, 0, 0, 0, conf_rollout_steps },
	{ "step", CONF_T_FN, 0, 0, 0, 0, conf_rollout_step },
	{ "interval", CONF_T_DURATION, O(interval), 1, 0, 0, NULL },
	{ "min_requests", CONF_T_INT, O(min_requests), 0, 1000000, 0, NULL },
	{ "max_error_rate", CONF_T_DOUBLE, O(max_error_rate), 0, 1, 0, NULL },
	{ "max_p95_latency", CONF_T_DURATION, O(max_p95_latency), 1, 0, 0,
	    NULL },
	{ "max_error_rate_delta", CONF_T_DOUBLE, O(max_error_rate_delta),
	    0, 1, 0, NULL },
	{ "max_latency_ratio", CONF_T_DOUBLE, O(max_latency_ratio), 1, 100, 0,
	    NULL },
	{ "min_availability", CONF_T_DOUBLE, O(min_availability), 0, 1, 0,
	    NULL },
	{ "availability_window", CONF_T_DURATION, O(availability_window),
	    1, 0, 0, NULL },
	{ "auto_start", CONF_T_BOOL, O(auto_start), 0, 0, 0, NULL },
	{ "webhook", CONF_T_FN, O(webhook), 0, 0, 0, conf_url },
	{ "metrics", CONF_T_FN, 0, 0, 0, 0, conf_rollout_metrics },
	{ "error_rate_query", CONF_T_STRING, O(error_rate_query), 0, 0, 0,
	    NULL },
	{ "p95_query", CONF_T_STRING, O(p95_query), 0, 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL }
};

#undef G
#undef L
#undef P
#undef R
#undef O

#define CONF_NKEYS(t)	(sizeof (t) / sizeof (t)[0] - 1)
_Static_assert(CONF_NKEYS(conf_global_keys) <= CONF_MAXKEYS &&
    CONF_NKEYS(conf_listener_keys) <= CONF_MAXKEYS &&
    CONF_NKEYS(conf_pool_keys) <= CONF_MAXKEYS &&
    CONF_NKEYS(conf_route_keys) <= CONF_MAXKEYS &&
    CONF_NKEYS(conf_rollout_keys) <= CONF_MAXKEYS,
    "a key table is larger than conf_parse.seen");

static const int conf_default_steps[] = { 5, 10, 25, 50, 100 };

/* Holds a phrase built by a value parser, valid until its next call. */
static _Thread_local char conf_phrase_buf[256];

/* Formats a phrase into conf_phrase_buf and returns it. */
static const char *
conf_phrase(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(conf_phrase_buf, sizeof conf_phrase_buf, fmt, ap);
	va_end(ap);
	return (conf_phrase_buf);
}

void
conf_errors_add(struct conf_errors *errs, const char *fmt, ...)
{
	va_list	ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("out of memory");
	va_end(ap);
	errs->msgs = xreallocarray(errs->msgs, errs->n + 1,
	    sizeof *errs->msgs);
	errs->msgs[errs->n++] = msg;
}

/* Returns nonzero when s is a section, server or pool name. */
static int
conf_valid_name(const char *s)
{
	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && strchr("_.-", *s) == NULL)
			return (0);
	}
	return (1);
}

/* Returns nonzero when s is an HTTP token (RFC 9110 5.6.2). */
static int
conf_valid_token(const char *s, size_t len)
{
	size_t	i;

	if (len == 0)
		return (0);
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("!#$%&'*+-.^_`|~", s[i]) == NULL)
			return (0);
	}
	return (1);
}

/* Reads decimal digits at the start of s into n; a phrase on error. */
static const char *
conf_digits(const char *s, unsigned long long *n, const char **end)
{
	unsigned long long	v = 0;
	unsigned		d;

	if (!isdigit((unsigned char)*s))
		return ("invalid number");
	for (; isdigit((unsigned char)*s); s++) {
		d = *s - '0';
		if (v > (ULLONG_MAX - d) / 10)
			return ("too large");
		v = v * 10 + d;
	}
	*n = v;
	*end = s;
	return (NULL);
}

/* Parses an optionally negative integer taking all of s. */
static const char *
conf_integer(const char *s, long long *n)
{
	unsigned long long	 v;
	const char		*end;
	int			 neg = 0;

	if (*s == '-') {
		neg = 1;
		s++;
	}
	if (conf_digits(s, &v, &end) != NULL || *end != '\0')
		return ("invalid number");
	if (v > LLONG_MAX)
		return ("too large");
	*n = neg ? -(long long)v : (long long)v;
	return (NULL);
}

/* Parses a plain decimal fraction ("0.05", "2") taking all of s. */
static const char *
conf_decimal(const char *s, double *d)
{
	char	*end;
	size_t	 i, dots = 0;

	if (*s == '\0' || *s == '.')
		return ("invalid number");
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '.')
			dots++;
		else if (!isdigit((unsigned char)s[i]))
			return ("invalid number");
	}
	if (dots > 1 || s[i - 1] == '.')
		return ("invalid number");
	errno = 0;
	*d = strtod(s, &end);
	if (errno != 0 || *end != '\0')
		return ("invalid number");
	return (NULL);
}

/* Parses a duration: a number with ms, s, m or h, or a bare 0. */
const char *
conf_duration(const char *s, long *ms)
{
	unsigned long long	 n;
	const char		*u, *errstr;
	long			 mult;

	if (*s == '\0')
		return ("empty value");
	if ((errstr = conf_digits(s, &n, &u)) != NULL)
		return (strcmp(errstr, "too large") == 0 ? errstr :
		    "invalid duration");
	if (*u == '\0') {
		if (n != 0)
			return ("missing unit");
		mult = 1;
	} else if (strcmp(u, "ms") == 0)
		mult = 1;
	else if (strcmp(u, "s") == 0)
		mult = 1000;
	else if (strcmp(u, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(u, "h") == 0)
		mult = 60 * 60 * 1000;
	else
		return ("unknown unit");
	if (n > (unsigned long long)(LONG_MAX / mult))
		return ("too large");
	*ms = (long)n * mult;
	return (NULL);
}

/* Parses a size: bytes, or a number with k, m or g (powers of 1024). */
const char *
conf_size(const char *s, uint64_t *bytes)
{
	unsigned long long	 n;
	const char		*u, *errstr;
	uint64_t		 mult;

	if (*s == '\0')
		return ("empty value");
	if ((errstr = conf_digits(s, &n, &u)) != NULL)
		return (strcmp(errstr, "too large") == 0 ? errstr :
		    "invalid size");
	if (*u == '\0')
		mult = 1;
	else if (strcmp(u, "k") == 0)
		mult = 1024;
	else if (strcmp(u, "m") == 0)
		mult = 1024 * 1024;
	else if (strcmp(u, "g") == 0)
		mult = 1024 * 1024 * 1024;
	else
		return ("unknown unit");
	if (n > UINT64_MAX / mult)
		return ("too large");
	*bytes = (uint64_t)n * mult;
	return (NULL);
}

/* Parses on or off. */
const char *
conf_bool(const char *s, int *b)
{
	if (strcmp(s, "on") == 0)
		*b = 1;
	else if (strcmp(s, "off") == 0)
		*b = 0;
	else
		return ("invalid boolean");
	return (NULL);
}

/* Checks a port number: digits only, 1-65535. */
static const char *
conf_port(const char *s)
{
	unsigned long long	 n;
	const char		*end;

	if (*s == '\0')
		return ("missing port");
	if (conf_digits(s, &n, &end) != NULL || *end != '\0')
		return ("invalid port");
	if (n < 1 || n > 65535)
		return ("port out of range 1-65535");
	return (NULL);
}

/*
 * Parses ADDR:PORT, [V6]:PORT, or *:PORT and :PORT for any IPv4 address;
 * host names are resolved now and the first address kept.
 */
const char *
conf_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo		 hints, *res = NULL;
	struct sockaddr_in	*sin;
	const char		*port, *errstr = NULL;
	char			*host = NULL;
	const char		*end;
	int			 rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (*s == '\0')
		return ("empty value");
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end == s + 1) {
			errstr = "invalid address";
			goto done;
		}
		if (end[1] != ':') {
			errstr = "missing port";
			goto done;
		}
		host = xstrndup(s + 1, end - s - 1);
		port = end + 2;
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	} else {
		if ((end = strrchr(s, ':')) == NULL) {
			errstr = "missing port";
			goto done;
		}
		host = xstrndup(s, end - s);
		port = end + 1;
		if (strchr(host, ':') != NULL) {
			errstr = "IPv6 address needs brackets";
			goto done;
		}
	}
	if ((errstr = conf_port(port)) != NULL)
		goto done;
	if (*host == '\0' || strcmp(host, "*") == 0) {
		memset(ss, 0, sizeof *ss);
		sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((unsigned short)atoi(port));
		*len = sizeof *sin;
		goto done;
	}
	/* The exit does not wait for a lookup on an offload's thread. */
	worker_offload_lookup_begin();
	rc = getaddrinfo(host, port, &hints, &res);
	worker_offload_lookup_end();
	if (rc != 0 || res == NULL) {
		errstr = hints.ai_family == AF_INET6 ? "invalid address" :
		    "cannot resolve host";
		goto done;
	}
	memset(ss, 0, sizeof *ss);
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
done:
	if (res != NULL)
		freeaddrinfo(res);
	free(host);
	return (errstr);
}

/* Parses one "weight=N" or "backup" option of a server line. */
static const char *
conf_server_option(struct server *s, const char *opt, int *seen_weight)
{
	long long	n;

	if (strcmp(opt, "backup") == 0) {
		if (s->backup)
			return (conf_phrase("option \"%s\" given twice", opt));
		s->backup = 1;
		return (NULL);
	}
	if (strncmp(opt, "weight=", 7) != 0)
		return (conf_phrase("unknown option \"%s\"", opt));
	if (*seen_weight)
		return (conf_phrase("option \"weight\" given twice"));
	*seen_weight = 1;
	if (conf_integer(opt + 7, &n) != NULL)
		return (conf_phrase("invalid weight \"%s\"", opt + 7));
	if (n < 0 || n > 256)
		return (conf_phrase("weight %s out of range 0-256", opt + 7));
	s->conf_weight = s->weight = (int)n;
	return (NULL);
}

/* Parses "NAME HOST:PORT [weight=N] [backup]" into a new server. */
const char *
conf_server(const char *line, struct server **sp)
{
	return (conf_server_at(line, NULL, 0, sp));
}

const char *
conf_server_at(const char *line, const struct sockaddr_storage *ss,
    socklen_t sslen, struct server **sp)
{
	struct server	*s;
	char		*copy, *word, *next, *colon;
	const char	*errstr = NULL;
	int		 seen_weight = 0;
	size_t		 i;

	*sp = NULL;
	s = xcalloc(1, sizeof *s);
	s->conf_weight = s->weight = 1;
	s->admin = SERVER_READY;
	s->health = HEALTH_UP;
	s->breaker = BREAKER_CLOSED;
	copy = xstrdup(line);
	next = copy;
	for (i = 0; (word = strsep(&next, " \t")) != NULL; ) {
		if (*word == '\0')
			continue;
		switch (i++) {
		case 0:
			if (!conf_valid_name(word))
				errstr = conf_phrase("invalid name \"%s\"",
				    word);
			s->name = xstrdup(word);
			break;
		case 1:
			/* ss is a server's that was parsed here before. */
			if (ss != NULL) {
				memcpy(&s->addr, ss, sslen);
				s->addrlen = sslen;
			} else if ((errstr = conf_addr(word, &s->addr,
			    &s->addrlen)) != NULL) {
				errstr = conf_phrase("%s \"%s\"", errstr, word);
				break;
			}
			s->addr_text = xstrdup(word);
			colon = strrchr(word, ':');
			if (*word == '[')
				s->host = xstrndup(word + 1, colon - word - 2);
			else
				s->host = xstrndup(word, colon - word);
			s->port = xstrdup(colon + 1);
			break;
		default:
			errstr = conf_server_option(s, word, &seen_weight);
			break;
		}
		if (errstr != NULL)
			goto fail;
	}
	if (i == 0)
		errstr = "missing name";
	else if (i == 1)
		errstr = "missing address";
	if (errstr != NULL)
		goto fail;
	free(copy);
	*sp = s;
	return (NULL);
fail:
	free(copy);
	conf_server_free(s);
	return (errstr);
}

/* Frees a server made by conf_server(). */
void
conf_server_free(struct server *s)
{
	if (s == NULL)
		return;
	free(s->name);
	free(s->host);
	free(s->port);
	free(s->addr_text);
	/* upstream.c's idle lists, empty on every worker by now. */
	free(s->idle);
	tls_session_free(s->tls_session);
	free(s);
}

/* Records an error at line; the text is "FILE:LINE: " and the message. */
static void
conf_error(struct conf_parse *p, int line, const char *fmt, ...)
{
	struct conf_msg	*m;
	va_list		 ap;
	char		*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (msg == NULL)
		msg = xstrdup("out of memory");
	p->msgs = xreallocarray(p->msgs, p->nmsgs + 1, sizeof *p->msgs);
	m = &p->msgs[p->nmsgs];
	m->line = line;
	m->seq = p->nmsgs++;
	if (line > 0)
		m->text = xasprintf("%s:%d: %s", p->file, line, msg);
	else
		m->text = xasprintf("%s: %s", p->file, msg);
	free(msg);
}

/* Records an error about key on the current line: "WHERE: KEY: ...". */
static void
conf_key_error(struct conf_parse *p, const char *key, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	conf_error(p, p->line, "%s: %s: %s", p->where, key,
	    msg != NULL ? msg : "out of memory");
	free(msg);
}

/* Returns the name inih and the tables use for a section kind. */
static const char *
conf_kind_name(enum conf_kind kind)
{
	switch (kind) {
	case CONF_NONE:
	case CONF_SKIP:
		break;
	case CONF_GLOBAL:
		return ("global");
	case CONF_LISTENER:
		return ("listener");
	case CONF_POOL:
		return ("pool");
	case CONF_ROUTE:
		return ("route");
	case CONF_ROLLOUT:
		return ("rollout");
	}
	return ("");
}

/* Returns the first line key was given on in this section, or 0. */
static int
conf_seen(struct conf_parse *p, const char *key)
{
	size_t	i;

	for (i = 0; p->keys[i].name != NULL; i++) {
		if (strcmp(p->keys[i].name, key) == 0)
			return (p->seen[i]);
	}
	return (0);
}

/* Queues a reference by name to resolve once the file is read. */
static void
conf_pending_add(struct conf_parse *p, enum conf_ref_kind kind, void *obj,
    size_t idx, const char *key, const char *name)
{
	struct conf_pending	*r;

	p->pending = xreallocarray(p->pending, p->npending + 1,
	    sizeof *p->pending);
	r = &p->pending[p->npending++];
	r->kind = kind;
	r->obj = obj;
	r->idx = idx;
	r->key = key;
	r->name = xstrdup(name);
	r->line = p->line;
}

/* Trims leading and trailing white space in place. */
static char *
conf_trim(char *s)
{
	size_t	len;

	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	return (s);
}

/* Sets a key of a simple type, or hands it to its function. */
static void
conf_set(struct conf_parse *p, const struct conf_key *k, const char *value)
{
	char		*field = (char *)p->obj + k->off;
	const char	*errstr;
	long long	 n;
	long		 ms;
	uint64_t	 bytes;
	double		 d;
	int		 b;

	switch (k->type) {
	case CONF_T_STRING:
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		break;
	case CONF_T_INT:
		if ((errstr = conf_integer(value, &n)) != NULL)
			conf_key_error(p, k->name, "%s \"%s\"", errstr, value);
		else if (n < k->min || n > k->max)
			conf_key_error(p, k->name, "%s out of range %ld-%ld",
			    value, k->min, k->max);
		else
			*(int *)field = (int)n;
		break;
	case CONF_T_DURATION:
		if ((errstr = conf_duration(value, &ms)) != NULL)
			conf_key_error(p, k->name, "%s \"%s\"", errstr, value);
		else if (ms < k->min && k->min == 1)
			conf_key_error(p, k->name, "must not be 0");
		else if (ms < k->min)
			/* admin_timeout's 500ms is not 0: name the floor. */
			conf_key_error(p, k->name, "%s is below the minimum "
			    "%ld%s", value, k->min % 1000 == 0 ? k->min / 1000 :
			    k->min, k->min % 1000 == 0 ? "s" : "ms");
		else if (ms > CONF_DURATION_MAX)
			conf_key_error(p, k->name, "%s is above the maximum "
			    "%ldh", value, CONF_DURATION_MAX / (60 * 60 * 1000));
		else
			*(long *)field = ms;
		break;
	case CONF_T_SIZE:
	case CONF_T_SIZE64:
		if ((errstr = conf_size(value, &bytes)) != NULL)
			conf_key_error(p, k->name, "%s \"%s\"", errstr, value);
		else if (bytes < (uint64_t)k->min)
			conf_key_error(p, k->name, "must not be 0");
		else if (k->max > 0 && bytes > (uint64_t)k->max)
			conf_key_error(p, k->name, "%s is more than %ld bytes",
			    value, k->max);
		else if (k->type == CONF_T_SIZE64)
			*(uint64_t *)field = bytes;
		else if (bytes > SIZE_MAX)
			conf_key_error(p, k->name, "too large \"%s\"", value);
		else
			*(size_t *)field = (size_t)bytes;
		break;
	case CONF_T_BOOL:
		if ((errstr = conf_bool(value, &b)) != NULL)
			conf_key_error(p, k->name, "%s \"%s\"", errstr, value);
		else
			*(int *)field = b;
		break;
	case CONF_T_DOUBLE:
		if ((errstr = conf_decimal(value, &d)) != NULL)
			conf_key_error(p, k->name, "%s \"%s\"", errstr, value);
		else if (d < k->min || d > k->max)
			conf_key_error(p, k->name, "%s out of range %ld-%ld",
			    value, k->min, k->max);
		else
			*(double *)field = d;
		break;
	case CONF_T_FN:
		k->fn(p, k->name, value);
		break;
	}
}

/* admin_socket: a path that fits a unix socket address. */
static void
conf_global_admin_socket(struct conf_parse *p, const char *key,
    const char *value)
{
	struct sockaddr_un	sun;

	if (strlen(value) >= sizeof sun.sun_path) {
		conf_key_error(p, key, "path too long (limit %zu bytes)",
		    sizeof sun.sun_path - 1);
		return;
	}
	free(p->conf->admin_socket);
	p->conf->admin_socket = xstrdup(value);
}

/* status_listen: ADDR:PORT or off. */
static void
conf_global_status_listen(struct conf_parse *p, const char *key,
    const char *value)
{
	const char	*errstr;

	free(p->conf->status_listen);
	p->conf->status_listen = NULL;
	p->status_line = 0;
	if (strcmp(value, "off") == 0)
		return;
	if ((errstr = conf_addr(value, &p->conf->status_addr,
	    &p->conf->status_addrlen)) != NULL) {
		conf_key_error(p, key, "%s \"%s\"", errstr, value);
		return;
	}
	p->conf->status_listen = xstrdup(value);
	p->status_line = p->line;
}

/* workers: a count, or auto for one per online CPU. */
static void
conf_global_workers(struct conf_parse *p, const char *key, const char *value)
{
	const char	*errstr;
	long long	 n;
	long		 cpus;

	if (strcmp(value, "auto") == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		p->conf->workers = cpus < 1 ? 1 : cpus > 1024 ? 1024 :
		    (int)cpus;
		return;
	}
	if ((errstr = conf_integer(value, &n)) != NULL)
		conf_key_error(p, key, "%s \"%s\"", errstr, value);
	else if (n < 1 || n > 1024)
		conf_key_error(p, key, "%s out of range 1-1024", value);
	else
		p->conf->workers = (int)n;
}

/* A time in us or ms, at most 1ms; 0 or off (batch_wait, busy_poll). */
static void
conf_global_short_wait(struct conf_parse *p, const char *key,
    const char *value, long *out)
{
	unsigned long long	 n;
	const char		*u;

	if (strcmp(value, "off") == 0) {
		*out = 0;
		return;
	}
	if (conf_digits(value, &n, &u) != NULL ||
	    (*u == '\0' && n != 0) ||
	    (*u != '\0' && strcmp(u, "us") != 0 && strcmp(u, "ms") != 0)) {
		conf_key_error(p, key, "invalid value \"%s\" (a time in us "
		    "or ms, 0 or off)", value);
		return;
	}
	if (strcmp(u, "ms") == 0)
		n = n > 1 ? 1001 : n * 1000;
	if (n > 1000) {
		conf_key_error(p, key, "%s out of range 0-1ms", value);
		return;
	}
	*out = (long)n;
}

static void
conf_global_batch_wait(struct conf_parse *p, const char *key,
    const char *value)
{
	conf_global_short_wait(p, key, value, &p->conf->batch_wait);
}

static void
conf_global_busy_poll(struct conf_parse *p, const char *key,
    const char *value)
{
	conf_global_short_wait(p, key, value, &p->conf->busy_poll);
}

/* tls_ticket_rotate: a duration from 1s to 24h, or off. */
static void
conf_global_tls_ticket_rotate(struct conf_parse *p, const char *key,
    const char *value)
{
	const char	*errstr;
	long		 ms;

	if (strcmp(value, "off") == 0) {
		p->conf->tls_ticket_rotate = 0;
		return;
	}
	if ((errstr = conf_duration(value, &ms)) != NULL)
		conf_key_error(p, key, "%s \"%s\" (a duration or off)", errstr,
		    value);
	else if (ms < 1000 || ms > 24 * 60 * 60 * 1000L)
		conf_key_error(p, key, "%s out of range 1s-24h", value);
	else
		p->conf->tls_ticket_rotate = ms;
}

/*
 * The end of [global]: batch_wait replaces busy polling while it is on, so
 * both given on is a contradiction, not a choice.
 */
static void
conf_global_end(struct conf_parse *p)
{
	int	line = conf_seen(p, "busy_poll");

	if (line != 0 && conf_seen(p, "batch_wait") != 0 &&
	    p->conf->busy_poll > 0 && p->conf->batch_wait > 0)
		conf_error(p, line, "busy_poll and batch_wait exclude each "
		    "other: set one of them to off");
}

/* access_log: a path, - for stdout, or off. */
static void
conf_global_access_log(struct conf_parse *p, const char *key,
    const char *value)
{
	(void)key;
	free(p->conf->access_log);
	p->conf->access_log = NULL;
	if (strcmp(value, "off") != 0)
		p->conf->access_log = xstrdup(value);
}

/* access_log_format: combined or json. */
static void
conf_global_access_log_format(struct conf_parse *p, const char *key,
    const char *value)
{
	if (strcmp(value, "combined") == 0)
		p->conf->access_log_json = 0;
	else if (strcmp(value, "json") == 0)
		p->conf->access_log_json = 1;
	else
		conf_key_error(p, key, "unknown format \"%s\"", value);
}

/* error_log: a path, or stderr. */
static void
conf_global_error_log(struct conf_parse *p, const char *key,
    const char *value)
{
	(void)key;
	free(p->conf->error_log);
	p->conf->error_log = NULL;
	if (strcmp(value, "stderr") != 0)
		p->conf->error_log = xstrdup(value);
}

/* log_level: debug, info, warn or error. */
static void
conf_global_log_level(struct conf_parse *p, const char *key,
    const char *value)
{
	int	level;

	if ((level = log_level_parse(value)) == -1)
		conf_key_error(p, key, "unknown level \"%s\"", value);
	else
		p->conf->log_level = level;
}

/* webhook: an http:// or https:// URL, into the key's string field. */
static void
conf_url(struct conf_parse *p, const char *key, const char *value)
{
	const struct conf_key	*k;
	char			**field;

	if ((strncmp(value, "http://", 7) != 0 &&
	    strncmp(value, "https://", 8) != 0) || strpbrk(value, " \t")) {
		conf_key_error(p, key, "invalid URL \"%s\"", value);
		return;
	}
	for (k = p->keys; strcmp(k->name, key) != 0; k++)
		;
	field = (char **)((char *)p->obj + k->off);
	free(*field);
	*field = xstrdup(value);
}

/* bind (repeat): one address of a listener. */
static void
conf_listener_bind(struct conf_parse *p, const char *key, const char *value)
{
	struct listener_conf	*l = p->obj;
	struct bind_addr	*b;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	const char		*errstr;

	if ((errstr = conf_addr(value, &ss, &len)) != NULL) {
		conf_key_error(p, key, "%s \"%s\"", errstr, value);
		return;
	}
	l->binds = xreallocarray(l->binds, l->nbinds + 1, sizeof *l->binds);
	b = &l->binds[l->nbinds++];
	b->text = xstrdup(value);
	b->addr = ss;
	b->addrlen = len;
	b->line = p->line;
}

/* tls_cert (repeat): a PEM file; the certificates after the first by SNI. */
static void
conf_listener_tls_cert(struct conf_parse *p, const char *key,
    const char *value)
{
	struct listener_conf	*l = p->obj;

	(void)key;
	l->tls_cert = xreallocarray(l->tls_cert, l->ntls_cert + 1,
	    sizeof *l->tls_cert);
	l->tls_cert[l->ntls_cert].path = xstrdup(value);
	l->tls_cert[l->ntls_cert++].line = p->line;
}

/* tls_min_version: TLSv1.2 or TLSv1.3. */
static void
conf_listener_tls_min_version(struct conf_parse *p, const char *key,
    const char *value)
{
	struct listener_conf	*l = p->obj;

	if (strcmp(value, "TLSv1.2") != 0 && strcmp(value, "TLSv1.3") != 0) {
		conf_key_error(p, key, "unknown version \"%s\"", value);
		return;
	}
	free(l->tls_min_version);
	l->tls_min_version = xstrdup(value);
}

/* tls_ocsp_stapling: a flag, or fetch. */
static void
conf_listener_tls_ocsp_stapling(struct conf_parse *p, const char *key,
    const char *value)
{
	struct listener_conf	*l = p->obj;
	int			 b;

	if (strcmp(value, "fetch") == 0)
		l->tls_ocsp_stapling = OCSP_FETCH;
	else if (conf_bool(value, &b) == NULL)
		l->tls_ocsp_stapling = b ? OCSP_FILE : OCSP_OFF;
	else
		conf_key_error(p, key, "invalid value \"%s\" (on, off or "
		    "fetch)", value);
}

/* server (repeat): NAME HOST:PORT [weight=N] [backup]. */
static void
conf_pool_server(struct conf_parse *p, const char *key, const char *value)
{
	struct pool	*pool = p->obj;
	struct server	*s, *old;
	const char	*errstr;
	char		*name;
	size_t		 len;

	if ((errstr = conf_server(value, &s)) != NULL) {
		len = strcspn(value, " \t");
		name = xstrndup(value, len);
		if (conf_valid_name(name))
			conf_error(p, p->line, "%s: %s %s: %s", p->where, key,
			    name, errstr);
		else
			conf_key_error(p, key, "%s", errstr);
		free(name);
		return;
	}
	if ((old = conf_find_server(pool, s->name)) != NULL) {
		conf_error(p, p->line, "%s: %s %s: duplicate name (first at "
		    "line %d)", p->where, key, s->name, old->line);
		conf_server_free(s);
		return;
	}
	s->line = p->line;
	s->pool = pool;
	pool->servers = xreallocarray(pool->servers, pool->nservers + 1,
	    sizeof *pool->servers);
	pool->servers[pool->nservers++] = s;
}

/* balance: roundrobin or least_conn. */
static void
conf_pool_balance(struct conf_parse *p, const char *key, const char *value)
{
	struct pool	*pool = p->obj;

	if (strcmp(value, "roundrobin") == 0)
		pool->balance = BALANCE_ROUNDROBIN;
	else if (strcmp(value, "least_conn") == 0)
		pool->balance = BALANCE_LEAST_CONN;
	else
		conf_key_error(p, key, "unknown method \"%s\"", value);
}

/* Checks an absolute path without white space; a phrase on error. */
static const char *
conf_check_path(const char *value)
{
	if (*value != '/')
		return ("does not start with \"/\"");
	if (strpbrk(value, " \t") != NULL)
		return ("contains white space");
	return (NULL);
}

/* health_path: the path of active checks. */
static void
conf_pool_health_path(struct conf_parse *p, const char *key,
    const char *value)
{
	struct pool	*pool = p->obj;
	const char	*errstr;

	if ((errstr = conf_check_path(value)) != NULL) {
		conf_key_error(p, key, "\"%s\" %s", value, errstr);
		return;
	}
	free(pool->health_path);
	pool->health_path = xstrdup(value);
}

/* health_expect: a status code or a range of them, e.g. 200-399. */
static void
conf_pool_health_expect(struct conf_parse *p, const char *key,
    const char *value)
{
	struct pool		*pool = p->obj;
	unsigned long long	 lo, hi;
	const char		*end;

	if (conf_digits(value, &lo, &end) != NULL)
		goto bad;
	hi = lo;
	if (*end == '-' && conf_digits(end + 1, &hi, &end) != NULL)
		goto bad;
	if (*end != '\0' || lo < 100 || hi > 599 || lo > hi)
		goto bad;
	pool->health_expect_min = (int)lo;
	pool->health_expect_max = (int)hi;
	return;
bad:
	conf_key_error(p, key, "invalid status range \"%s\"", value);
}

/* listener (repeat): a listener the route is served on. */
static void
conf_route_listener(struct conf_parse *p, const char *key, const char *value)
{
	struct route	*r = p->obj;
	size_t		 i;

	if (!conf_valid_name(value)) {
		conf_key_error(p, key, "invalid name \"%s\"", value);
		return;
	}
	for (i = 0; i < p->npending; i++) {
		if (p->pending[i].kind == CONF_REF_LISTENER &&
		    p->pending[i].obj == r &&
		    strcmp(p->pending[i].name, value) == 0) {
			conf_key_error(p, key, "\"%s\" listed twice", value);
			return;
		}
	}
	r->listeners = xreallocarray(r->listeners, r->nlisteners + 1,
	    sizeof *r->listeners);
	r->listeners[r->nlisteners] = NULL;
	conf_pending_add(p, CONF_REF_LISTENER, r, r->nlisteners++, key, value);
}

/* Returns nonzero when s is a host name, IP literal or *.suffix. */
static int
conf_valid_host(const char *s)
{
	const char	*label;

	if (s[0] == '[')
		return (strlen(s) > 2 && s[strlen(s) - 1] == ']' &&
		    strspn(s + 1, "0123456789abcdef:.") == strlen(s) - 2);
	if (s[0] == '*' && s[1] == '.')
		s += 2;
	label = s;
	for (;; s++) {
		if (*s == '.' || *s == '\0') {
			if (s == label)
				return (0);
			if (*s == '\0')
				return (1);
			label = s + 1;
		} else if (!isalnum((unsigned char)*s) && *s != '-' &&
		    *s != '_')
			return (0);
	}
}

/* host (repeat): an exact host or *.suffix, kept in lower case. */
static void
conf_route_host(struct conf_parse *p, const char *key, const char *value)
{
	struct route	*r = p->obj;
	char		*host;
	size_t		 i;

	host = xstrdup(value);
	for (i = 0; host[i] != '\0'; i++)
		host[i] = tolower((unsigned char)host[i]);
	if (!conf_valid_host(host)) {
		conf_key_error(p, key, "invalid host \"%s\"", value);
		free(host);
		return;
	}
	for (i = 0; i < r->nhosts; i++) {
		if (strcmp(r->hosts[i], host) == 0) {
			conf_key_error(p, key, "\"%s\" listed twice", host);
			free(host);
			return;
		}
	}
	r->hosts = xreallocarray(r->hosts, r->nhosts + 1, sizeof *r->hosts);
	r->hosts[r->nhosts++] = host;
}

/* path_prefix: the prefix of the paths the route takes. */
static void
conf_route_path_prefix(struct conf_parse *p, const char *key,
    const char *value)
{
	struct route	*r = p->obj;
	const char	*errstr;

	if ((errstr = conf_check_path(value)) != NULL) {
		conf_key_error(p, key, "\"%s\" %s", value, errstr);
		return;
	}
	free(r->path_prefix);
	r->path_prefix = xstrdup(value);
	r->path_prefix_len = strlen(value);
}

/* Parses one "POOL WEIGHT" entry of a split; a phrase on error. */
static const char *
conf_split_entry(char *entry, char **name, int *weight)
{
	char		*w;
	long long	 n;

	entry = conf_trim(entry);
	if ((w = strpbrk(entry, " \t")) == NULL)
		return (conf_phrase("expected \"POOL WEIGHT\", not \"%s\"",
		    entry));
	*w++ = '\0';
	w = conf_trim(w);
	if (!conf_valid_name(entry))
		return (conf_phrase("invalid pool name \"%s\"", entry));
	if (conf_integer(w, &n) != NULL)
		return (conf_phrase("pool %s: invalid weight \"%s\"", entry,
		    w));
	if (n < 0 || n > 10000)
		return (conf_phrase("pool %s: weight %s out of range 0-10000",
		    entry, w));
	*name = entry;
	*weight = (int)n;
	return (NULL);
}

/* split: POOL WEIGHT[, POOL WEIGHT...]. */
static void
conf_route_split(struct conf_parse *p, const char *key, const char *value)
{
	struct route		*r = p->obj;
	struct split_entry	*split = NULL;
	char			*copy, *next, *entry, **names = NULL;
	const char		*errstr = NULL;
	size_t			 n = 0, i;
	int			 weight = 0, sum = 0;

	copy = next = xstrdup(value);
	while ((entry = strsep(&next, ",")) != NULL) {
		names = xreallocarray(names, n + 1, sizeof *names);
		split = xreallocarray(split, n + 1, sizeof *split);
		if ((errstr = conf_split_entry(entry, &names[n],
		    &weight)) != NULL)
			goto fail;
		for (i = 0; i < n; i++) {
			if (strcmp(names[i], names[n]) == 0) {
				errstr = conf_phrase("pool \"%s\" listed "
				    "twice", names[n]);
				goto fail;
			}
		}
		memset(&split[n], 0, sizeof split[n]);
		split[n].conf_weight = split[n].weight = weight;
		sum += weight;
		n++;
	}
	if (sum == 0) {
		errstr = "weights sum to 0";
		goto fail;
	}
	r->split = split;
	r->nsplit = n;
	for (i = 0; i < n; i++)
		conf_pending_add(p, CONF_REF_SPLIT, r, i, key, names[i]);
	free(names);
	free(copy);
	return;
fail:
	conf_key_error(p, key, "%s", errstr);
	free(split);
	free(names);
	free(copy);
}

/* stable: the pool traffic falls back to. */
static void
conf_route_stable(struct conf_parse *p, const char *key, const char *value)
{
	if (!conf_valid_name(value)) {
		conf_key_error(p, key, "invalid pool name \"%s\"", value);
		return;
	}
	conf_pending_add(p, CONF_REF_STABLE, p->obj, 0, key, value);
}

/*
 * Splits "LEFT -> POOL" at the last arrow; a phrase on error.  LEFT and
 * POOL are trimmed in place.
 */
static const char *
conf_match_arrow(char *s, char **left, char **pool)
{
	char	*arrow, *a;

	for (arrow = NULL, a = s; (a = strstr(a, "->")) != NULL; a++)
		arrow = a;
	if (arrow == NULL)
		return ("missing \"-> POOL\"");
	*arrow = '\0';
	*left = conf_trim(s);
	*pool = conf_trim(arrow + 2);
	if (!conf_valid_name(*pool))
		return (conf_phrase("invalid pool name \"%s\"", *pool));
	return (NULL);
}

/* Parses a match_header value into m; a phrase on error. */
static const char *
conf_match_header(char *left, struct match_rule *m)
{
	char	*colon, *value;

	if ((colon = strchr(left, ':')) == NULL) {
		m->kind = MATCH_HEADER_PRESENT;
		value = NULL;
	} else {
		m->kind = MATCH_HEADER;
		*colon = '\0';
		value = conf_trim(colon + 1);
		if (*value == '\0')
			return ("missing header value after \":\"");
	}
	left = conf_trim(left);
	if (!conf_valid_token(left, strlen(left)))
		return (conf_phrase("invalid header name \"%s\"", left));
	m->name = xstrdup(left);
	m->value = value != NULL ? xstrdup(value) : NULL;
	return (NULL);
}

/* Parses a match_cookie value into m; a phrase on error. */
static const char *
conf_match_cookie(char *left, struct match_rule *m)
{
	char	*eq, *value;
	size_t	 i;

	m->kind = MATCH_COOKIE;
	if ((eq = strchr(left, '=')) == NULL)
		return ("expected \"NAME=VALUE -> POOL\"");
	*eq = '\0';
	left = conf_trim(left);
	value = conf_trim(eq + 1);
	if (!conf_valid_token(left, strlen(left)))
		return (conf_phrase("invalid cookie name \"%s\"", left));
	if (*value == '\0')
		return ("missing cookie value after \"=\"");
	for (i = 0; value[i] != '\0'; i++) {
		/* cookie-octet, RFC 6265 section 4.1.1 */
		if (value[i] <= 0x20 || value[i] >= 0x7f ||
		    strchr("\",;\\", value[i]) != NULL)
			return (conf_phrase("invalid cookie value \"%s\"",
			    value));
	}
	m->name = xstrdup(left);
	m->value = xstrdup(value);
	return (NULL);
}

/* match_header, match_cookie (repeat): a rule evaluated before the split. */
static void
conf_route_match(struct conf_parse *p, const char *key, const char *value)
{
	struct route		*r = p->obj;
	struct match_rule	 m;
	const char		*errstr;
	char			*copy, *left, *pool;

	memset(&m, 0, sizeof m);
	copy = xstrdup(value);
	if ((errstr = conf_match_arrow(copy, &left, &pool)) == NULL) {
		if (strcmp(key, "match_header") == 0)
			errstr = conf_match_header(left, &m);
		else
			errstr = conf_match_cookie(left, &m);
	}
	if (errstr != NULL) {
		conf_key_error(p, key, "%s", errstr);
		free(m.name);
		free(m.value);
		free(copy);
		return;
	}
	m.name_len = strlen(m.name);
	m.value_len = m.value != NULL ? strlen(m.value) : 0;
	m.line = p->line;
	r->matches = xreallocarray(r->matches, r->nmatches + 1,
	    sizeof *r->matches);
	r->matches[r->nmatches] = m;
	conf_pending_add(p, CONF_REF_MATCH, r, r->nmatches++, key, pool);
	free(copy);
}

/* sticky: cookie NAME, header NAME, client_ip or off. */
static void
conf_route_sticky(struct conf_parse *p, const char *key, const char *value)
{
	struct route		*r = p->obj;
	enum sticky_kind	 kind;
	const char		*name;
	size_t			 len;

	len = strcspn(value, " \t");
	name = value + len + strspn(value + len, " \t");
	if (len == 6 && strncmp(value, "cookie", len) == 0)
		kind = STICKY_COOKIE;
	else if (len == 6 && strncmp(value, "header", len) == 0)
		kind = STICKY_HEADER;
	else if (strcmp(value, "client_ip") == 0)
		kind = STICKY_CLIENT_IP;
	else if (strcmp(value, "off") == 0)
		kind = STICKY_OFF;
	else {
		conf_key_error(p, key, "unknown kind \"%s\"", value);
		return;
	}
	if (kind == STICKY_COOKIE || kind == STICKY_HEADER) {
		if (*name == '\0') {
			conf_key_error(p, key, "missing %s name", kind ==
			    STICKY_COOKIE ? "cookie" : "header");
			return;
		}
		if (!conf_valid_token(name, strlen(name))) {
			conf_key_error(p, key, "invalid %s name \"%s\"", kind ==
			    STICKY_COOKIE ? "cookie" : "header", name);
			return;
		}
	}
	free(r->sticky_name);
	r->sticky_name = NULL;
	r->sticky_name_len = 0;
	r->sticky = kind;
	if (kind == STICKY_COOKIE || kind == STICKY_HEADER) {
		r->sticky_name = xstrdup(name);
		r->sticky_name_len = strlen(name);
	}
}

/* strategy: canary or blue-green. */
static void
conf_rollout_strategy(struct conf_parse *p, const char *key,
    const char *value)
{
	struct rollout_conf	*ro = p->obj;

	if (strcmp(value, "canary") == 0)
		ro->blue_green = 0;
	else if (strcmp(value, "blue-green") == 0)
		ro->blue_green = 1;
	else
		conf_key_error(p, key, "unknown strategy \"%s\"", value);
}

/* canary: the pool of the new version. */
static void
conf_rollout_canary(struct conf_parse *p, const char *key,
    const char *value)
{
	if (!conf_valid_name(value)) {
		conf_key_error(p, key, "invalid pool name \"%s\"", value);
		return;
	}
	conf_pending_add(p, CONF_REF_CANARY, p->obj, 0, key, value);
}

/* Replaces a rollout's steps. */
static void
conf_rollout_set_steps(struct rollout_conf *ro, int *steps, size_t n)
{
	free(ro->steps);
	ro->steps = steps;
	ro->nsteps = n;
}

/* steps: ascending percentages ending at 100, e.g. 5,10,25,50,100. */
static void
conf_rollout_steps(struct conf_parse *p, const char *key, const char *value)
{
	char		*copy, *next, *word;
	int		*steps = NULL;
	size_t		 n = 0;
	long long	 v;
	int		 line;

	if ((line = conf_seen(p, "step")) != 0) {
		conf_key_error(p, key, "conflicts with step (line %d)", line);
		return;
	}
	copy = next = xstrdup(value);
	while ((word = strsep(&next, ",")) != NULL) {
		word = conf_trim(word);
		if (conf_integer(word, &v) != NULL) {
			conf_key_error(p, key, "invalid step \"%s\"", word);
			goto fail;
		}
		if (v < 1 || v > 100) {
			conf_key_error(p, key, "%s out of range 1-100", word);
			goto fail;
		}
		if (n > 0 && v <= steps[n - 1]) {
			conf_key_error(p, key, "%s is not above %d", word,
			    steps[n - 1]);
			goto fail;
		}
		steps = xreallocarray(steps, n + 1, sizeof *steps);
		steps[n++] = (int)v;
	}
	if (steps[n - 1] != 100) {
		conf_key_error(p, key, "last step is %d, not 100",
		    steps[n - 1]);
		goto fail;
	}
	conf_rollout_set_steps(p->obj, steps, n);
	free(copy);
	return;
fail:
	free(steps);
	free(copy);
}

/* step: equal increments of N percent up to 100. */
static void
conf_rollout_step(struct conf_parse *p, const char *key, const char *value)
{
	int		*steps;
	size_t		 n, i;
	long long	 v;
	int		 line;

	if ((line = conf_seen(p, "steps")) != 0) {
		conf_key_error(p, key, "conflicts with steps (line %d)", line);
		return;
	}
	if (conf_integer(value, &v) != NULL) {
		conf_key_error(p, key, "invalid number \"%s\"", value);
		return;
	}
	if (v < 1 || v > 100) {
		conf_key_error(p, key, "%s out of range 1-100", value);
		return;
	}
	n = (100 + v - 1) / v;
	steps = xcalloc(n, sizeof *steps);
	for (i = 0; i < n; i++)
		steps[i] = (int)((i + 1) * v > 100 ? 100 : (i + 1) * v);
	conf_rollout_set_steps(p->obj, steps, n);
}

/* metrics: local or prometheus URL. */
static void
conf_rollout_metrics(struct conf_parse *p, const char *key,
    const char *value)
{
	struct rollout_conf	*ro = p->obj;
	const char		*url;

	free(ro->prometheus_url);
	ro->prometheus_url = NULL;
	if (strcmp(value, "local") == 0)
		return;
	if (strncmp(value, "prometheus", 10) != 0 ||
	    (value[10] != ' ' && value[10] != '\t')) {
		conf_key_error(p, key, "expected \"local\" or \"prometheus "
		    "URL\", not \"%s\"", value);
		return;
	}
	url = value + 10 + strspn(value + 10, " \t");
	if ((strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) || strpbrk(url, " \t")) {
		conf_key_error(p, key, "invalid URL \"%s\"", url);
		return;
	}
	ro->prometheus_url = xstrdup(url);
}

/* Returns a new listener with the defaults of SPEC 2. */
static struct listener_conf *
conf_listener_new(const char *name, int line)
{
	struct listener_conf	*l;

	l = xcalloc(1, sizeof *l);
	l->name = xstrdup(name);
	l->line = line;
	l->tls_min_version = xstrdup("TLSv1.2");
	l->forwarded_headers = 1;
	return (l);
}

/* Returns a new pool with the defaults of SPEC 2. */
static struct pool *
conf_pool_new(const char *name, int line)
{
	struct pool	*pool;

	pool = xcalloc(1, sizeof *pool);
	pool->name = xstrdup(name);
	pool->line = line;
	pool->balance = BALANCE_ROUNDROBIN;
	pool->health_interval = 2000;
	pool->health_timeout = 1000;
	pool->health_rise = 2;
	pool->health_fall = 3;
	pool->health_expect_min = 200;
	pool->health_expect_max = 399;
	pool->breaker_failures = 5;
	pool->breaker_recovery = 30000;
	pool->connect_timeout = 2000;
	pool->response_timeout = 60000;
	pool->keepalive = 32;
	pool->retries = 1;
	pool->tls = 0;
	pool->tls_verify = 1;
	return (pool);
}

/* Returns a new route with the defaults of SPEC 2. */
static struct route *
conf_route_new(const char *name, int line)
{
	struct route	*r;

	r = xcalloc(1, sizeof *r);
	r->name = xstrdup(name);
	r->line = line;
	r->path_prefix = xstrdup("/");
	r->path_prefix_len = 1;
	r->sticky = STICKY_OFF;
	return (r);
}

/* Returns a new rollout with the defaults of SPEC 2. */
static struct rollout_conf *
conf_rollout_new(const char *name, int line)
{
	struct rollout_conf	*ro;
	int			*steps;

	ro = xcalloc(1, sizeof *ro);
	ro->name = xstrdup(name);
	ro->line = line;
	steps = xcalloc(sizeof conf_default_steps / sizeof *steps,
	    sizeof *steps);
	memcpy(steps, conf_default_steps, sizeof conf_default_steps);
	ro->steps = steps;
	ro->nsteps = sizeof conf_default_steps / sizeof *steps;
	ro->interval = 5 * 60 * 1000;
	ro->min_requests = 20;
	ro->max_error_rate = 0.05;
	ro->max_p95_latency = 2000;
	ro->max_error_rate_delta = 0.02;
	ro->max_latency_ratio = 2.0;
	ro->min_availability = 0.95;
	ro->availability_window = 2 * 60 * 1000;
	return (ro);
}

/* Returns a new generation holding the [global] defaults of SPEC 2. */
static struct conf *
conf_new(const char *path)
{
	struct conf	*c;

	c = xcalloc(1, sizeof *c);
	c->refcnt = 1;
	c->path = xstrdup(path);
	c->admin_socket = xstrdup(CUTOVER_SOCK);
	c->status_listen = xstrdup("127.0.0.1:9901");
	/* Numeric: resolves nothing. */
	(void)conf_addr(c->status_listen, &c->status_addr, &c->status_addrlen);
	c->workers = 1;
	c->busy_poll = CONF_BUSY_POLL;
	c->tls_ticket_rotate = 60 * 60 * 1000;
	c->max_connections = 10000;
	c->log_level = LOG_LEVEL_INFO;
	c->client_header_timeout = 10 * 1000;
	c->client_body_timeout = 60 * 1000;
	c->keepalive_timeout = 60 * 1000;
	c->max_header_size = 16 * 1024;
	c->access_log_buffer = 64 * 1024;
	c->max_uri_size = 8 * 1024;
	c->max_body_size = 0;
	c->shutdown_grace = 30 * 1000;
	c->admin_timeout = 30 * 1000;
	return (c);
}

/* Returns the line of the section of that kind and name, or 0. */
static int
conf_section_line(struct conf *c, enum conf_kind kind, const char *name)
{
	struct rollout_conf	*ro;
	size_t			 i;

	switch (kind) {
	case CONF_NONE:
	case CONF_SKIP:
	case CONF_GLOBAL:
		break;
	case CONF_LISTENER:
		if (conf_find_listener(c, name) != NULL)
			return (conf_find_listener(c, name)->line);
		break;
	case CONF_POOL:
		if (conf_find_pool(c, name) != NULL)
			return (conf_find_pool(c, name)->line);
		break;
	case CONF_ROUTE:
		if (conf_find_route(c, name) != NULL)
			return (conf_find_route(c, name)->line);
		break;
	case CONF_ROLLOUT:
		for (i = 0; i < c->nrollouts; i++) {
			ro = c->rollouts[i];
			if (strcmp(ro->name, name) == 0)
				return (ro->line);
		}
		break;
	}
	return (0);
}

/* Creates the object of a [kind NAME] section and makes it current. */
static void
conf_section_add(struct conf_parse *p, enum conf_kind kind, const char *name)
{
	struct conf	*c = p->conf;
	void		*obj = NULL;

	switch (kind) {
	case CONF_NONE:
	case CONF_SKIP:
	case CONF_GLOBAL:
		break;
	case CONF_LISTENER:
		obj = conf_listener_new(name, p->line);
		c->listeners = xreallocarray(c->listeners, c->nlisteners + 1,
		    sizeof *c->listeners);
		c->listeners[c->nlisteners++] = obj;
		p->keys = conf_listener_keys;
		break;
	case CONF_POOL:
		obj = conf_pool_new(name, p->line);
		((struct pool *)obj)->conf = c;
		c->pools = xreallocarray(c->pools, c->npools + 1,
		    sizeof *c->pools);
		c->pools[c->npools++] = obj;
		p->keys = conf_pool_keys;
		break;
	case CONF_ROUTE:
		obj = conf_route_new(name, p->line);
		c->routes = xreallocarray(c->routes, c->nroutes + 1,
		    sizeof *c->routes);
		c->routes[c->nroutes++] = obj;
		p->keys = conf_route_keys;
		break;
	case CONF_ROLLOUT:
		obj = conf_rollout_new(name, p->line);
		c->rollouts = xreallocarray(c->rollouts, c->nrollouts + 1,
		    sizeof *c->rollouts);
		c->rollouts[c->nrollouts++] = obj;
		p->keys = conf_rollout_keys;
		break;
	}
	p->obj = obj;
}

/* Opens a section from the text between the brackets of its header. */
static void
conf_section_begin(struct conf_parse *p, char *header)
{
	static const enum conf_kind	 kinds[] = { CONF_GLOBAL,
	    CONF_LISTENER, CONF_POOL, CONF_ROUTE, CONF_ROLLOUT };
	enum conf_kind			 kind = CONF_SKIP;
	char				*name;
	size_t				 i, len;
	int				 line;

	memset(p->seen, 0, sizeof p->seen);
	p->kind = CONF_SKIP;
	p->section_line = p->line;
	header = conf_trim(header);
	len = strcspn(header, " \t");
	name = conf_trim(header + len);
	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strlen(conf_kind_name(kinds[i])) == len &&
		    strncmp(conf_kind_name(kinds[i]), header, len) == 0)
			kind = kinds[i];
	}
	if (kind == CONF_SKIP) {
		conf_error(p, p->line, "unknown section kind \"%.*s\"",
		    (int)len, header);
		return;
	}
	if (kind == CONF_GLOBAL) {
		if (*name != '\0') {
			conf_error(p, p->line, "section \"%s\": global takes "
			    "no name", header);
			return;
		}
		if (p->global_line != 0) {
			conf_error(p, p->line, "global: duplicate section "
			    "(first at line %d)", p->global_line);
			return;
		}
		p->global_line = p->line;
		p->kind = CONF_GLOBAL;
		p->obj = p->conf;
		p->keys = conf_global_keys;
		p->where = xstrdup("global");
		return;
	}
	if (*name == '\0') {
		conf_error(p, p->line, "section \"%s\": missing name", header);
		return;
	}
	if (!conf_valid_name(name)) {
		conf_error(p, p->line, "section \"%s\": invalid name \"%s\"",
		    header, name);
		return;
	}
	if ((line = conf_section_line(p->conf, kind, name)) != 0) {
		conf_error(p, p->line, "%s %s: duplicate section (first at "
		    "line %d)", conf_kind_name(kind), name, line);
		return;
	}
	p->kind = kind;
	p->where = xasprintf("%s %s", conf_kind_name(kind), name);
	conf_section_add(p, kind, name);
}

/*
 * Makes a TLS listener's context, or refuses TLS keys that would do
 * nothing without tls_cert.
 */
static void
conf_listener_tls(struct conf_parse *p, struct listener_conf *l)
{
	static const char	*keys[] = { "tls_key", "tls_min_version",
				    "tls_client_ca", "tls_ocsp_stapling" };
	struct tls_server_opts	 opts = { l->name, l->tls_key,
				    l->tls_min_version, l->tls_client_ca,
				    l->tls_ocsp_stapling };
	struct ssl_ctx_st	*more;
	struct tls_ctx_error	 err;
	size_t			 i;
	int			 line, ca_reported = 0;

	if (l->ntls_cert == 0) {
		for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if ((line = conf_seen(p, keys[i])) != 0)
				conf_error(p, line, "%s: %s: needs tls_cert",
				    p->where, keys[i]);
		return;
	}
	if (l->ntls_cert > 1 && (line = conf_seen(p, "tls_key")) != 0) {
		conf_error(p, line, "%s: tls_key: with several tls_cert, each "
		    "file holds its own key", p->where);
		return;
	}
	/*
	 * Every file is looked at, so that each error is reported, and
	 * tls_client_ca's once, at its own line.
	 */
	for (i = 0; i < l->ntls_cert; i++) {
		more = tls_server_ctx_new(l->tls_cert[i].path, &opts, &err);
		if (more == NULL) {
			if (err.file == NULL || err.file != l->tls_client_ca)
				line = err.file != NULL &&
				    err.file == l->tls_key ?
				    conf_seen(p, "tls_key") :
				    l->tls_cert[i].line;
			else if (!ca_reported++)
				line = conf_seen(p, "tls_client_ca");
			else
				line = 0;
			if (line != 0)
				conf_error(p, line, "%s: %s", p->where,
				    err.msg);
			free(err.msg);
		} else if (i == 0)
			l->tls_ctx = more;
		else if (l->tls_ctx != NULL)
			tls_server_ctx_add(l->tls_ctx, more);
		else
			tls_ctx_free(more);
	}
}

/* Checks what a listener section needs once all its keys are read. */
static void
conf_listener_end(struct conf_parse *p, struct listener_conf *l)
{
	if (l->nbinds == 0 && conf_seen(p, "bind") == 0)
		conf_error(p, l->line, "%s: no bind address", p->where);
	conf_listener_tls(p, l);
}

/* Checks what a route section needs once all its keys are read. */
static void
conf_route_end(struct conf_parse *p, struct route *r)
{
	int	line;

	if (conf_seen(p, "split") == 0)
		conf_error(p, r->line, "%s: no split", p->where);
	if (r->sticky_cookie_set && r->sticky != STICKY_COOKIE &&
	    (line = conf_seen(p, "sticky_cookie_set")) != 0)
		conf_error(p, line, "%s: sticky_cookie_set: needs sticky = "
		    "cookie NAME", p->where);
}

/* Checks what a rollout section needs once all its keys are read. */
static void
conf_rollout_end(struct conf_parse *p, struct rollout_conf *ro)
{
	int	line, qline;

	if (conf_seen(p, "canary") == 0)
		conf_error(p, ro->line, "%s: no canary", p->where);
	if (ro->blue_green) {
		if ((line = conf_seen(p, "steps")) != 0 ||
		    (line = conf_seen(p, "step")) != 0)
			conf_error(p, line, "%s: %s: not used by strategy "
			    "blue-green", p->where, conf_seen(p, "steps") ?
			    "steps" : "step");
		conf_rollout_set_steps(ro, xcalloc(1, sizeof *ro->steps), 1);
		ro->steps[0] = 100;
	}
	line = conf_seen(p, "metrics");
	if (ro->prometheus_url != NULL) {
		if (ro->error_rate_query == NULL)
			conf_error(p, line, "%s: metrics: prometheus needs "
			    "error_rate_query", p->where);
		if (ro->p95_query == NULL)
			conf_error(p, line, "%s: metrics: prometheus needs "
			    "p95_query", p->where);
	} else {
		if ((qline = conf_seen(p, "error_rate_query")) != 0)
			conf_error(p, qline, "%s: error_rate_query: needs "
			    "metrics = prometheus URL", p->where);
		if ((qline = conf_seen(p, "p95_query")) != 0)
			conf_error(p, qline, "%s: p95_query: needs "
			    "metrics = prometheus URL", p->where);
	}
}

/*
 * Makes the context of a pool with tls = on, or refuses TLS keys that
 * would do nothing without it.
 */
static void
conf_pool_tls(struct conf_parse *p, struct pool *pool)
{
	static const char	*keys[] = { "tls_verify", "tls_sni", "tls_ca",
				    "tls_cert", "tls_key" };
	struct tls_ctx_error	 err;
	size_t			 i;
	int			 line;

	if (!pool->tls) {
		for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			if ((line = conf_seen(p, keys[i])) != 0)
				conf_error(p, line, "%s: %s: needs tls = on",
				    p->where, keys[i]);
		}
		return;
	}
	if (pool->tls_ca != NULL && !pool->tls_verify &&
	    (line = conf_seen(p, "tls_ca")) != 0) {
		conf_error(p, line, "%s: tls_ca: needs tls_verify = on",
		    p->where);
		return;
	}
	if (pool->tls_key != NULL && pool->tls_cert == NULL) {
		conf_error(p, conf_seen(p, "tls_key"), "%s: tls_key: needs "
		    "tls_cert", p->where);
		return;
	}
	pool->tls_ctx = tls_client_ctx_new(pool->tls_verify, pool->tls_ca,
	    pool->tls_cert, pool->tls_key, &err);
	if (pool->tls_ctx == NULL) {
		/* At the line of the file at fault. */
		line = err.file == NULL ? conf_seen(p, "tls") :
		    err.file == pool->tls_ca ? conf_seen(p, "tls_ca") :
		    err.file == pool->tls_cert ? conf_seen(p, "tls_cert") :
		    err.file == pool->tls_key ? conf_seen(p, "tls_key") :
		    conf_seen(p, "tls");
		conf_error(p, line, "%s: %s", p->where, err.msg);
		free(err.msg);
	}
}

/* Checks what a pool section needs once all its keys are read. */
static void
conf_pool_end(struct conf_parse *p, struct pool *pool)
{
	int	line;

	conf_pool_tls(p, pool);

	if (pool->nservers == 0 && conf_seen(p, "server") == 0)
		conf_error(p, p->section_line, "%s: no server", p->where);
	/* A check still out when the next one is due would skip it. */
	if (pool->health_path != NULL &&
	    pool->health_timeout > pool->health_interval) {
		if ((line = conf_seen(p, "health_timeout")) == 0)
			line = conf_seen(p, "health_interval");
		conf_error(p, line, "%s: health_timeout %ldms is longer than "
		    "health_interval %ldms", p->where, pool->health_timeout,
		    pool->health_interval);
	}
}

/* Closes the current section, checking what it needs. */
static void
conf_section_end(struct conf_parse *p)
{
	switch (p->kind) {
	case CONF_NONE:
	case CONF_SKIP:
		break;
	case CONF_GLOBAL:
		conf_global_end(p);
		break;
	case CONF_LISTENER:
		conf_listener_end(p, p->obj);
		break;
	case CONF_POOL:
		conf_pool_end(p, p->obj);
		break;
	case CONF_ROUTE:
		conf_route_end(p, p->obj);
		break;
	case CONF_ROLLOUT:
		conf_rollout_end(p, p->obj);
		break;
	}
	free(p->where);
	p->where = NULL;
	p->obj = NULL;
	p->kind = CONF_NONE;
}

/*
 * Checks the syntax of a line with leading white space gone, opening a
 * section on a header; -1 when the line is refused.  inih would refuse the
 * same lines, but only tells the first one and not why.
 */
static int
conf_check_line(struct conf_parse *p, char *line)
{
	char	*end, *s;

	if (*line == '\0' || *line == '#' || *line == ';')
		return (0);
	if (*line == '[') {
		conf_section_end(p);
		if ((end = strchr(line, ']')) == NULL) {
			conf_error(p, p->line, "syntax error: section header "
			    "without \"]\"");
			p->kind = CONF_SKIP;
			return (-1);
		}
		s = end + 1 + strspn(end + 1, " \t");
		if (*s != '\0' && *s != '#' && *s != ';') {
			conf_error(p, p->line, "syntax error: text after "
			    "section header");
			p->kind = CONF_SKIP;
			return (-1);
		}
		*end = '\0';
		conf_section_begin(p, line + 1);
		*end = ']';
		return (0);
	}
	for (s = line; *s != '\0' && *s != '=' && *s != ':'; s++) {
		if (*s == ';' && s > line && isspace((unsigned char)s[-1]))
			break;
	}
	if (*s != '=') {
		conf_error(p, p->line, "syntax error: expected KEY = VALUE");
		return (-1);
	}
	if (s == line) {
		conf_error(p, p->line, "syntax error: missing key before "
		    "\"=\"");
		return (-1);
	}
	return (0);
}

/*
 * A line longer than Debian's inih takes (its buffer holds 200 bytes),
 * which a webhook or Prometheus URL with a token easily is: split here
 * as inih splits the others - the key before "=", the value after it,
 * both trimmed, the value up to a ";" after white space - and handed to
 * conf_key_cb() as inih would.  conf_check_line() has seen the "=".
 */
static void
conf_long_line(struct conf_parse *p, char *line)
{
	char	*eq, *name, *value, *end;

	if (*line == '\0' || *line == '#' || *line == ';' || *line == '[')
		return;
	eq = strchr(line, '=');
	*eq = '\0';
	name = line;
	for (end = eq; end > name && isspace((unsigned char)end[-1]); end--)
		;
	*end = '\0';
	value = eq + 1 + strspn(eq + 1, " \t");
	for (end = value; *end != '\0'; end++) {
		if (*end == ';' && end > value &&
		    isspace((unsigned char)end[-1]))
			break;
	}
	while (end > value && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	conf_key_cb(p, NULL, name, value);
}

/*
 * The reader given to inih: one line per call, counted.  Leading white
 * space is dropped, so inih never takes a line for the continuation of the
 * one before.  Lines that are over-long, hold a NUL or fail
 * conf_check_line() are reported here and passed on empty.
 */
static char *
conf_read_cb(char *str, int num, void *arg)
{
	struct conf_parse	*p = arg;
	ssize_t			 len;
	char			*line;

	errno = 0;
	if ((len = getline(&p->buf, &p->bufsize, p->fp)) == -1) {
		if (ferror(p->fp))
			conf_error(p, p->line + 1, "read error: %s",
			    strerror(errno));
		return (NULL);
	}
	p->line++;
	line = p->buf;
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (p->line == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	if (strlen(line) != (size_t)len) {
		conf_error(p, p->line, "NUL byte in line");
		line = "";
	} else if (len > CONF_LINE_MAX) {
		conf_error(p, p->line, "line too long (limit %d characters)",
		    CONF_LINE_MAX);
		line = "";
	} else {
		line += strspn(line, " \t");
		if (conf_check_line(p, line) == -1)
			line = "";
		else if ((size_t)len + 2 > (size_t)num) {
			conf_long_line(p, line);
			line = "";
		}
	}
	snprintf(str, num, "%s\n", line);
	return (str);
}

/* The handler given to inih: one key of the current section. */
static int
conf_key_cb(void *arg, const char *section, const char *name,
    const char *value)
{
	struct conf_parse	*p = arg;
	const struct conf_key	*k;
	size_t			 i;

	(void)section;	/* we follow sections in conf_read_cb */
	switch (p->kind) {
	case CONF_NONE:
		conf_error(p, p->line, "key \"%s\" outside any section", name);
		return (1);
	case CONF_SKIP:
		return (1);
	case CONF_GLOBAL:
	case CONF_LISTENER:
	case CONF_POOL:
	case CONF_ROUTE:
	case CONF_ROLLOUT:
		break;
	}
	for (i = 0, k = p->keys; k->name != NULL; i++, k++) {
		if (strcmp(k->name, name) == 0)
			break;
	}
	if (k->name == NULL) {
		conf_error(p, p->line, "%s: unknown key \"%s\"", p->where,
		    name);
		return (1);
	}
	if (p->seen[i] != 0 && !k->repeat) {
		conf_key_error(p, name, "duplicate key (first at line %d)",
		    p->seen[i]);
		return (1);
	}
	if (p->seen[i] == 0)
		p->seen[i] = p->line;
	if (*value == '\0') {
		conf_key_error(p, name, "missing value");
		return (1);
	}
	conf_set(p, k, value);
	return (1);
}

/* Finds a pool for a reference, reporting it when it is not defined. */
static struct pool *
conf_resolve_pool(struct conf_parse *p, struct conf_pending *r,
    const char *where, const char *name)
{
	struct pool	*pool;

	if ((pool = conf_find_pool(p->conf, r->name)) == NULL)
		conf_error(p, r->line, "%s %s: %s: pool \"%s\" is not defined",
		    where, name, r->key, r->name);
	return (pool);
}

/* Returns nonzero when pool p is in the split of route r. */
static int
conf_in_split(const struct route *r, const struct pool *p)
{
	size_t	i;

	for (i = 0; i < r->nsplit; i++) {
		if (r->split[i].pool == p)
			return (1);
	}
	return (0);
}

/* Resolves the references of routes and rollouts to other sections. */
static void
conf_resolve(struct conf_parse *p)
{
	struct conf_pending	*r;
	struct route		*route;
	struct rollout_conf	*ro;
	size_t			 i;

	for (i = 0; i < p->npending; i++) {
		r = &p->pending[i];
		route = r->kind == CONF_REF_CANARY ? NULL : r->obj;
		switch (r->kind) {
		case CONF_REF_LISTENER:
			route->listeners[r->idx] = conf_find_listener(p->conf,
			    r->name);
			if (route->listeners[r->idx] == NULL)
				conf_error(p, r->line, "route %s: %s: listener "
				    "\"%s\" is not defined", route->name,
				    r->key, r->name);
			break;
		case CONF_REF_SPLIT:
			route->split[r->idx].pool = conf_resolve_pool(p, r,
			    "route", route->name);
			break;
		case CONF_REF_STABLE:
			route->stable = conf_resolve_pool(p, r, "route",
			    route->name);
			break;
		case CONF_REF_MATCH:
			route->matches[r->idx].pool = conf_resolve_pool(p, r,
			    "route", route->name);
			break;
		case CONF_REF_CANARY:
			break;
		}
	}
	for (i = 0; i < p->conf->nroutes; i++) {
		route = p->conf->routes[i];
		if (route->stable == NULL && route->nsplit > 0)
			route->stable = route->split[0].pool;
	}
	for (i = 0; i < p->conf->nrollouts; i++) {
		ro = p->conf->rollouts[i];
		if ((ro->route = conf_find_route(p->conf, ro->name)) == NULL)
			conf_error(p, ro->line, "rollout %s: route \"%s\" is "
			    "not defined", ro->name, ro->name);
	}
	for (i = 0; i < p->npending; i++) {
		r = &p->pending[i];
		if (r->kind != CONF_REF_CANARY)
			continue;
		ro = r->obj;
		if ((ro->canary = conf_resolve_pool(p, r, "rollout",
		    ro->name)) == NULL || ro->route == NULL)
			continue;
		if (ro->canary == ro->route->stable)
			conf_error(p, r->line, "rollout %s: canary: pool "
			    "\"%s\" is the stable pool of route %s",
			    ro->name, r->name, ro->route->name);
		else if (!conf_in_split(ro->route, ro->canary))
			conf_error(p, r->line, "rollout %s: canary: pool "
			    "\"%s\" is not in the split of route %s",
			    ro->name, r->name, ro->route->name);
		else if (!conf_in_split(ro->route, ro->route->stable))
			conf_error(p, ro->line, "rollout %s: the stable pool "
			    "%s of route %s is not in its split", ro->name,
			    ro->route->stable->name, ro->route->name);
	}
}

/* Returns nonzero when two socket addresses are the same. */
static int
conf_addr_equal(const struct sockaddr_storage *a, socklen_t alen,
    const struct sockaddr_storage *b, socklen_t blen)
{
	return (alen == blen && memcmp(a, b, alen) == 0);
}

/*
 * Returns nonzero when two addresses cannot both be bound: the same one,
 * or the same port of one family with the wildcard address on either
 * side, which Linux refuses with EADDRINUSE even with SO_REUSEADDR.  A
 * listener's IPv6 sockets are V6ONLY, so the families do not meet.
 */
static int
conf_addr_clash(const struct sockaddr_storage *a, socklen_t alen,
    const struct sockaddr_storage *b, socklen_t blen)
{
	const struct sockaddr_in	*a4 = (const struct sockaddr_in *)a;
	const struct sockaddr_in	*b4 = (const struct sockaddr_in *)b;
	const struct sockaddr_in6	*a6 = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6	*b6 = (const struct sockaddr_in6 *)b;

	if (conf_addr_equal(a, alen, b, blen))
		return (1);
	if (a->ss_family != b->ss_family)
		return (0);
	if (a->ss_family == AF_INET)
		return (a4->sin_port == b4->sin_port &&
		    (a4->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    b4->sin_addr.s_addr == htonl(INADDR_ANY)));
	if (a->ss_family == AF_INET6)
		return (a6->sin6_port == b6->sin6_port &&
		    (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ||
		    IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr)));
	return (0);
}

/* Finds a bind given before listener i's bind j that clashes with it. */
static const struct bind_addr *
conf_find_bind(struct conf_parse *p, size_t i, size_t j,
    const struct listener_conf **lp)
{
	const struct listener_conf	*l;
	const struct bind_addr		*b = &p->conf->listeners[i]->binds[j];
	size_t				 i2, j2;

	for (i2 = 0; i2 <= i; i2++) {
		l = p->conf->listeners[i2];
		for (j2 = 0; j2 < (i2 == i ? j : l->nbinds); j2++) {
			if (conf_addr_clash(&b->addr, b->addrlen,
			    &l->binds[j2].addr, l->binds[j2].addrlen)) {
				*lp = l;
				return (&l->binds[j2]);
			}
		}
	}
	return (NULL);
}

/*
 * Reports a bind address given twice, across or within listeners, and the
 * status endpoint on a listener's address, the default one included: the
 * second bind() would fail, and only at start or at the reload.
 */
static void
conf_check_binds(struct conf_parse *p)
{
	const struct listener_conf	*l, *l2;
	const struct bind_addr		*b, *b2;
	size_t				 i, j;

	for (i = 0; i < p->conf->nlisteners; i++) {
		l = p->conf->listeners[i];
		for (j = 0; j < l->nbinds; j++) {
			b = &l->binds[j];
			if ((b2 = conf_find_bind(p, i, j, &l2)) == NULL)
				;
			else if (conf_addr_equal(&b->addr, b->addrlen,
			    &b2->addr, b2->addrlen))
				conf_error(p, b->line, "listener %s: bind: %s "
				    "already bound by listener %s (line %d)",
				    l->name, b->text, l2->name, b2->line);
			else
				conf_error(p, b->line, "listener %s: bind: %s "
				    "clashes with %s of listener %s (line %d)",
				    l->name, b->text, b2->text, l2->name,
				    b2->line);
			if (p->conf->status_listen == NULL ||
			    !conf_addr_clash(&b->addr, b->addrlen,
			    &p->conf->status_addr, p->conf->status_addrlen))
				continue;
			if (p->status_line != 0)
				conf_error(p, p->status_line, "global: "
				    "status_listen: %s also bound by listener "
				    "%s (line %d)", p->conf->status_listen,
				    l->name, b->line);
			else
				conf_error(p, b->line, "listener %s: bind: %s "
				    "clashes with the default status_listen %s",
				    l->name, b->text, p->conf->status_listen);
		}
	}
}

/* Returns nonzero when two routes could serve the same listener. */
static int
conf_routes_share_listener(const struct route *a, const struct route *b)
{
	size_t	i, j;

	if (a->nlisteners == 0 || b->nlisteners == 0)
		return (1);
	for (i = 0; i < a->nlisteners; i++) {
		for (j = 0; j < b->nlisteners; j++) {
			if (a->listeners[i] != NULL &&
			    a->listeners[i] == b->listeners[j])
				return (1);
		}
	}
	return (0);
}

/* Returns the host two routes both take ("any" for none), or NULL. */
static const char *
conf_routes_share_host(const struct route *a, const struct route *b)
{
	size_t	i, j;

	if (a->nhosts == 0 && b->nhosts == 0)
		return ("any");
	for (i = 0; i < a->nhosts; i++) {
		for (j = 0; j < b->nhosts; j++) {
			if (strcmp(a->hosts[i], b->hosts[j]) == 0)
				return (a->hosts[i]);
		}
	}
	return (NULL);
}

/*
 * Reports two routes that would tie for a request: same path_prefix, a
 * host in common and a listener in common.  The route choice rules
 * (host, then longest prefix) could not tell them apart.
 */
static void
conf_check_routes(struct conf_parse *p)
{
	struct route	*a, *b;
	const char	*host;
	size_t		 i, j;

	for (i = 0; i < p->conf->nroutes; i++) {
		b = p->conf->routes[i];
		for (j = 0; j < i; j++) {
			a = p->conf->routes[j];
			if (strcmp(a->path_prefix, b->path_prefix) != 0 ||
			    (host = conf_routes_share_host(a, b)) == NULL ||
			    !conf_routes_share_listener(a, b))
				continue;
			conf_error(p, b->line, "route %s: same host %s and "
			    "path_prefix %s as route %s (line %d)", b->name,
			    host, b->path_prefix, a->name, a->line);
			break;
		}
	}
}

/* Orders errors by line, then by the order they were found. */
static int
conf_msg_cmp(const void *a, const void *b)
{
	const struct conf_msg	*ma = a, *mb = b;

	if (ma->line != mb->line)
		return (ma->line < mb->line ? -1 : 1);
	return (ma->seq < mb->seq ? -1 : ma->seq > mb->seq);
}

/* Frees a generation and everything it owns. */
static void
conf_free(struct conf *c)
{
	struct listener_conf	*l;
	struct pool		*pool;
	struct route		*r;
	struct rollout_conf	*ro;
	size_t			 i, j;

	for (i = 0; i < c->nlisteners; i++) {
		l = c->listeners[i];
		for (j = 0; j < l->nbinds; j++)
			free(l->binds[j].text);
		free(l->binds);
		free(l->name);
		for (j = 0; j < l->ntls_cert; j++)
			free(l->tls_cert[j].path);
		free(l->tls_cert);
		free(l->tls_key);
		free(l->tls_min_version);
		free(l->tls_client_ca);
		tls_ctx_free(l->tls_ctx);
		free(l);
	}
	for (i = 0; i < c->npools; i++) {
		pool = c->pools[i];
		for (j = 0; j < pool->nservers; j++)
			conf_server_free(pool->servers[j]);
		free(pool->servers);
		free(pool->name);
		free(pool->health_path);
		free(pool->tls_sni);
		free(pool->tls_ca);
		free(pool->tls_cert);
		free(pool->tls_key);
		tls_ctx_free(pool->tls_ctx);
		free(pool);
	}
	for (i = 0; i < c->nroutes; i++) {
		r = c->routes[i];
		for (j = 0; j < r->nhosts; j++)
			free(r->hosts[j]);
		for (j = 0; j < r->nmatches; j++) {
			free(r->matches[j].name);
			free(r->matches[j].value);
		}
		free(r->hosts);
		free(r->matches);
		free(r->listeners);
		free(r->split);
		free(r->name);
		free(r->path_prefix);
		free(r->sticky_name);
		free(r);
	}
	for (i = 0; i < c->nrollouts; i++) {
		ro = c->rollouts[i];
		free(ro->name);
		free(ro->steps);
		free(ro->webhook);
		free(ro->prometheus_url);
		free(ro->error_rate_query);
		free(ro->p95_query);
		free(ro);
	}
	free(c->listeners);
	free(c->pools);
	free(c->routes);
	free(c->rollouts);
	free(c->path);
	free(c->admin_socket);
	free(c->state_file);
	free(c->status_listen);
	free(c->access_log);
	free(c->error_log);
	free(c->webhook);
	free(c);
}

/* Hands the errors found, in line order, to errs (which may be NULL). */
static void
conf_give_errors(struct conf_parse *p, struct conf_errors *errs)
{
	size_t	i;

	qsort(p->msgs, p->nmsgs, sizeof *p->msgs, conf_msg_cmp);
	for (i = 0; i < p->nmsgs; i++) {
		if (errs == NULL) {
			free(p->msgs[i].text);
			continue;
		}
		errs->msgs = xreallocarray(errs->msgs, errs->n + 1,
		    sizeof *errs->msgs);
		errs->msgs[errs->n++] = p->msgs[i].text;
	}
	free(p->msgs);
	p->msgs = NULL;
	p->nmsgs = 0;
}

/* Reads, checks and returns a generation; NULL with every error in errs. */
struct conf *
conf_load(const char *path, struct conf_errors *errs)
{
	struct conf_parse	 p;
	struct conf		*c = NULL;
	size_t			 i;
	int			 rc;

	memset(&p, 0, sizeof p);
	p.file = path;
	if ((p.fp = fopen(path, "r")) == NULL) {
		conf_error(&p, 0, "cannot open: %s", strerror(errno));
		goto done;
	}
	c = p.conf = conf_new(path);
	rc = ini_parse_stream(conf_read_cb, &p, conf_key_cb, &p);
	conf_section_end(&p);
	if (rc == -2)
		conf_error(&p, p.line, "out of memory");
	else if (rc > 0 && p.nmsgs == 0)
		conf_error(&p, rc, "syntax error");
	if (ferror(p.fp))
		goto done;
	conf_resolve(&p);
	if (c->nlisteners == 0)
		conf_error(&p, p.line > 0 ? p.line : 1, "no listener defined");
	conf_check_binds(&p);
	conf_check_routes(&p);
done:
	if (p.fp != NULL)
		fclose(p.fp);
	free(p.buf);
	free(p.where);
	for (i = 0; i < p.npending; i++)
		free(p.pending[i].name);
	free(p.pending);
	if (p.nmsgs == 0)
		return (c);
	conf_give_errors(&p, errs);
	if (c != NULL)
		conf_free(c);
	return (NULL);
}

/* Takes a reference; workers may hold a generation on other threads. */
struct conf *
conf_ref(struct conf *c)
{
	__atomic_add_fetch(&c->refcnt, 1, __ATOMIC_RELAXED);
	return (c);
}

/* Drops a reference, freeing the generation with the last one. */
void
conf_unref(struct conf *c)
{
	if (c == NULL)
		return;
	if (__atomic_sub_fetch(&c->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		conf_free(c);
}

/* Frees the messages of errs. */
void
conf_errors_clear(struct conf_errors *errs)
{
	size_t	i;

	for (i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->n = 0;
}

int
conf_int(const char *s, int min, int max, int *v)
{
	char	*end;
	long	 n;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return (-1);
	*v = (int)n;
	return (0);
}

const char *
conf_admin_name(enum server_admin a)
{
	switch (a) {
	case SERVER_READY:
		return ("ready");
	case SERVER_DRAIN:
		return ("drain");
	case SERVER_MAINT:
		return ("maint");
	}
	return ("?");
}

int
conf_admin_parse(const char *s, enum server_admin *a)
{
	if (strcmp(s, "ready") == 0)
		*a = SERVER_READY;
	else if (strcmp(s, "drain") == 0)
		*a = SERVER_DRAIN;
	else if (strcmp(s, "maint") == 0)
		*a = SERVER_MAINT;
	else
		return (-1);
	return (0);
}

const char *
conf_sticky_name(enum sticky_kind k)
{
	switch (k) {
	case STICKY_OFF:
		return ("off");
	case STICKY_COOKIE:
		return ("cookie");
	case STICKY_HEADER:
		return ("header");
	case STICKY_CLIENT_IP:
		return ("client_ip");
	}
	return ("?");
}

/* Finds a pool by name. */
struct pool *
conf_find_pool(const struct conf *c, const char *name)
{
	size_t	i;

	for (i = 0; i < c->npools; i++) {
		if (strcmp(c->pools[i]->name, name) == 0)
			return (c->pools[i]);
	}
	return (NULL);
}

/* Finds a route by name. */
struct route *
conf_find_route(const struct conf *c, const char *name)
{
	size_t	i;

	for (i = 0; i < c->nroutes; i++) {
		if (strcmp(c->routes[i]->name, name) == 0)
			return (c->routes[i]);
	}
	return (NULL);
}

/* Finds a listener by name. */
struct listener_conf *
conf_find_listener(const struct conf *c, const char *name)
{
	size_t	i;

	for (i = 0; i < c->nlisteners; i++) {
		if (strcmp(c->listeners[i]->name, name) == 0)
			return (c->listeners[i]);
	}
	return (NULL);
}

/*
 * Finds the listener with a bind that takes connections to the local
 * address sa: the same address and port, or the wildcard of its family
 * on that port.  When sa is itself a wildcard, any bind of its family on
 * its port: one that a bind on sa would clash with.
 */
struct listener_conf *
conf_find_listener_addr(const struct conf *c, const struct sockaddr *sa)
{
	const struct sockaddr_in	*in = (const struct sockaddr_in *)sa, *b4;
	const struct sockaddr_in6	*in6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in6	*b6;
	const struct bind_addr		*b;
	size_t				 i, j;

	for (i = 0; i < c->nlisteners; i++) {
		for (j = 0; j < c->listeners[i]->nbinds; j++) {
			b = &c->listeners[i]->binds[j];
			if (b->addr.ss_family != sa->sa_family)
				continue;
			b4 = (const struct sockaddr_in *)&b->addr;
			b6 = (const struct sockaddr_in6 *)&b->addr;
			if (sa->sa_family == AF_INET &&
			    b4->sin_port == in->sin_port &&
			    (b4->sin_addr.s_addr == htonl(INADDR_ANY) ||
			    in->sin_addr.s_addr == htonl(INADDR_ANY) ||
			    b4->sin_addr.s_addr == in->sin_addr.s_addr))
				return (c->listeners[i]);
			if (sa->sa_family == AF_INET6 &&
			    b6->sin6_port == in6->sin6_port &&
			    (IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr) ||
			    IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) ||
			    IN6_ARE_ADDR_EQUAL(&b6->sin6_addr,
			    &in6->sin6_addr)))
				return (c->listeners[i]);
		}
	}
	return (NULL);
}

/* Finds a server of a pool by name. */
struct server *
conf_find_server(const struct pool *pool, const char *name)
{
	size_t	i;

	for (i = 0; i < pool->nservers; i++) {
		if (strcmp(pool->servers[i]->name, name) == 0)
			return (pool->servers[i]);
	}
	return (NULL);
}
