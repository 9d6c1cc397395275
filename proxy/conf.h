/*
 * The configuration: an INI file parsed with inih into one immutable,
 * reference-counted generation.  A request keeps the generation it started
 * on; a reload builds a new one and swaps it in.  Fields take the names of
 * their config keys.  Durations are milliseconds, sizes bytes.
 *
 * The few fields marked "runtime" change while the proxy runs (admin
 * commands, balancer state); with several workers they are touched under
 * the worker lock only (worker.c).
 */
#ifndef CONF_H
#define CONF_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

struct ssl_ctx_st;
struct upstream_conn;

enum balance {
	BALANCE_ROUNDROBIN,
	BALANCE_LEAST_CONN
};

enum server_admin {
	SERVER_READY,
	SERVER_DRAIN,
	SERVER_MAINT
};

enum server_health {
	HEALTH_UP,		/* passing checks, or no checks configured */
	HEALTH_DOWN,
	HEALTH_CHECKING		/* new server, not yet passed health_rise */
};

enum breaker_state {
	BREAKER_CLOSED,
	BREAKER_HALF_OPEN,
	BREAKER_OPEN
};

enum sticky_kind {
	STICKY_OFF,
	STICKY_COOKIE,
	STICKY_HEADER,
	STICKY_CLIENT_IP
};

enum match_kind {
	MATCH_HEADER,		/* NAME: VALUE -> POOL */
	MATCH_HEADER_PRESENT,	/* NAME -> POOL */
	MATCH_COOKIE		/* NAME=VALUE -> POOL */
};

struct pool;

/* One upstream server of a pool; owned by its pool. */
struct server {
	char			*name;
	char			*host;		/* as written */
	char			*port;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			*addr_text;	/* HOST:PORT */
	int			 conf_weight;	/* from the config */
	int			 backup;
	int			 line;
	struct pool		*pool;

	/* runtime */
	int			 added;		/* by the admin socket */
	int			 retired;	/* deleted or replaced: no reuse */
	struct server		*successor;	/* the one that took over */
	int			 weight;	/* effective weight */
	int			 cur_weight;	/* smooth WRR state */
	enum server_admin	 admin;
	enum server_health	 health;
	enum breaker_state	 breaker;
	unsigned		 active;	/* requests in flight */
	uint64_t		 requests;
	uint64_t		 errors;
	void			*idle;		/* upstream module's idle list */
	void			*check;		/* health module's state */
	void			*brk;		/* breaker module's state */
	void			*tls_session;	/* tls.c's, to resume */
};

/* A pool of servers; owned by the conf. */
struct pool {
	struct conf		*conf;		/* its generation */
	char			*name;
	int			 line;
	struct server		**servers;
	size_t			 nservers;
	enum balance		 balance;
	char			*health_path;	/* NULL: no active checks */
	long			 health_interval;
	long			 health_timeout;
	int			 health_rise;
	int			 health_fall;
	int			 health_expect_min;
	int			 health_expect_max;
	int			 breaker_failures;
	long			 breaker_recovery;
	long			 connect_timeout;
	long			 response_timeout;
	int			 keepalive;
	int			 retries;
	int			 tls;
	int			 tls_verify;
	char			*tls_sni;
	char			*tls_ca;	/* NULL: the system's CAs */
	char			*tls_cert;	/* client certificate, or NULL */
	char			*tls_key;	/* NULL: in tls_cert */
	struct ssl_ctx_st	*tls_ctx;	/* with tls: made at load */
};

/* One bind address of a listener. */
struct bind_addr {
	char			*text;		/* as written */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 line;
};

/* One tls_cert of a listener. */
struct tls_cert_file {
	char			*path;
	int			 line;
};

/* A [listener NAME] section; owned by the conf. */
struct listener_conf {
	char			*name;
	int			 line;
	struct bind_addr	*binds;
	size_t			 nbinds;
	struct tls_cert_file	*tls_cert;	/* the first is the default */
	size_t			 ntls_cert;
	char			*tls_key;	/* NULL: in the tls_cert file */
	char			*tls_min_version;
	char			*tls_client_ca;	/* NULL: no client certificate */
	int			 tls_ocsp_stapling; /* OCSP_OFF, _FILE, _FETCH */
	struct ssl_ctx_st	*tls_ctx;	/* with tls_cert: made at load */
	int			 forwarded_headers;
};

/* One entry of a route's split. */
struct split_entry {
	struct pool		*pool;
	int			 conf_weight;	/* from the config */
	int			 weight;	/* runtime: effective weight */
	int			 cur;		/* runtime: smooth WRR state */
};

/* One match_header or match_cookie rule. */
struct match_rule {
	enum match_kind		 kind;
	char			*name;
	size_t			 name_len;
	char			*value;		/* NULL for MATCH_HEADER_PRESENT */
	size_t			 value_len;
	struct pool		*pool;
	int			 line;
};

/* A [route NAME] section; owned by the conf. */
struct route {
	char			*name;
	int			 line;
	struct listener_conf	**listeners;	/* none: all listeners */
	size_t			 nlisteners;
	char			**hosts;	/* none: any host */
	size_t			 nhosts;
	char			*path_prefix;
	size_t			 path_prefix_len;
	struct split_entry	*split;
	size_t			 nsplit;
	struct pool		*stable;
	struct match_rule	*matches;	/* in config order */
	size_t			 nmatches;
	enum sticky_kind	 sticky;
	char			*sticky_name;	/* cookie or header name */
	size_t			 sticky_name_len;
	int			 sticky_cookie_set;
};

/* A [rollout NAME] section; NAME is the route it drives. */
struct rollout_conf {
	char			*name;
	int			 line;
	struct route		*route;
	int			 blue_green;	/* strategy */
	struct pool		*canary;
	int			*steps;		/* percent, ascending, ends at 100 */
	size_t			 nsteps;
	long			 interval;
	int			 min_requests;
	double			 max_error_rate;
	long			 max_p95_latency;
	double			 max_error_rate_delta;
	double			 max_latency_ratio;
	double			 min_availability;
	long			 availability_window;
	int			 auto_start;
	char			*webhook;
	char			*prometheus_url;	/* NULL: local metrics */
	char			*error_rate_query;
	char			*p95_query;
};

/* busy_poll's default: the longest a worker polls before it blocks, in us. */
#define CONF_BUSY_POLL	50

/* One configuration generation. */
struct conf {
	int			 refcnt;
	char			*path;

	/* [global] */
	char			*admin_socket;
	long			 admin_timeout;	/* ms a silent client is kept */
	char			*state_file;
	char			*status_listen;	/* NULL when off */
	struct sockaddr_storage	 status_addr;	/* status_listen resolved */
	socklen_t		 status_addrlen;
	int			 workers;
	long			 batch_wait;	/* microseconds; 0: off */
	long			 busy_poll;	/* microseconds; 0: off */
	long			 tls_ticket_rotate; /* ms; 0: off */
	int			 max_connections;
	char			*access_log;	/* NULL when off */
	int			 access_log_json;
	size_t			 access_log_buffer;	/* per thread; 0: none */
	char			*error_log;	/* NULL: stderr */
	int			 log_level;
	long			 client_header_timeout;
	long			 client_body_timeout;
	long			 keepalive_timeout;
	size_t			 max_header_size;
	size_t			 max_uri_size;
	uint64_t		 max_body_size;	/* 0: unlimited */
	long			 shutdown_grace;
	char			*webhook;

	struct listener_conf	**listeners;
	size_t			 nlisteners;
	struct pool		**pools;
	size_t			 npools;
	struct route		**routes;
	size_t			 nroutes;
	struct rollout_conf	**rollouts;
	size_t			 nrollouts;
};

/* Error messages of a failed load, each "FILE:LINE: message". */
struct conf_errors {
	char			**msgs;
	size_t			 n;
};

/* Parses and checks path; NULL with errs filled when it has errors. */
struct conf	*conf_load(const char *path, struct conf_errors *errs);
/* Takes a reference. */
struct conf	*conf_ref(struct conf *);
/* Drops a reference; frees the generation at zero. */
void		 conf_unref(struct conf *);
/* Frees the messages of errs. */
/* Appends a message, formatted, to errs (a reload's reasons to refuse). */
void		 conf_errors_add(struct conf_errors *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 conf_errors_clear(struct conf_errors *);

/* Finds a pool, route, listener or server by name; NULL when absent. */
struct pool	*conf_find_pool(const struct conf *, const char *);
struct route	*conf_find_route(const struct conf *, const char *);
struct listener_conf *conf_find_listener(const struct conf *, const char *);
struct sockaddr;
struct listener_conf *conf_find_listener_addr(const struct conf *,
	    const struct sockaddr *);
struct server	*conf_find_server(const struct pool *, const char *);

/*
 * Value parsers: they know nothing of files and return NULL on success or
 * a phrase saying what is wrong ("unknown unit").
 */
const char	*conf_duration(const char *, long *ms);
const char	*conf_size(const char *, uint64_t *bytes);
const char	*conf_bool(const char *, int *);
const char	*conf_addr(const char *, struct sockaddr_storage *,
		    socklen_t *);
/* Parses a decimal integer in [min, max]; -1 when it is not one. */
int		 conf_int(const char *, int min, int max, int *);
/* Returns "ready", "drain" or "maint". */
const char	*conf_admin_name(enum server_admin);
/* Parses "ready", "drain" or "maint"; -1 when it is none. */
int		 conf_admin_parse(const char *, enum server_admin *);
/* Returns the config word of a sticky kind ("cookie", ...). */
const char	*conf_sticky_name(enum sticky_kind);
/* Parses "NAME HOST:PORT [weight=N] [backup]" into a new server. */
const char	*conf_server(const char *, struct server **);
/* The same with HOST:PORT resolved already to ss (when not NULL). */
const char	*conf_server_at(const char *, const struct sockaddr_storage *ss,
		    socklen_t, struct server **);
/* Frees a server made by conf_server(). */
void		 conf_server_free(struct server *);

#endif
