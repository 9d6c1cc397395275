/*
 * Unit tests of the config loader: the value parsers, a full config's
 * fields, the defaults of SPEC 2, the reader's handling of odd lines, and
 * the corpus of broken configs in t/conf-errors (each file lists the
 * "LINE: message" errors it must produce) loaded through conf_load().
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "tap.h"

#ifndef CUTOVER_SOCK
#define CUTOVER_SOCK	"/run/cutover.sock"
#endif

static char	*tmp_paths[64];
static size_t	 ntmp_paths;

/* Writes text to a new file under /tmp and returns its path. */
static const char *
write_conf(const char *text)
{
	char	 path[] = "/tmp/test_conf.XXXXXX";
	FILE	*fp;
	int	 fd;

	if ((fd = mkstemp(path)) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		perror("mkstemp");
		exit(2);
	}
	fputs(text, fp);
	fclose(fp);
	tmp_paths[ntmp_paths] = strdup(path);
	return (tmp_paths[ntmp_paths++]);
}

/* Removes the files write_conf() made. */
static void
remove_confs(void)
{
	size_t	i;

	for (i = 0; i < ntmp_paths; i++) {
		unlink(tmp_paths[i]);
		free(tmp_paths[i]);
	}
}

/*
 * Joins errs into one string, one message a line, with the "PATH:" prefix
 * taken off so expectations do not depend on the temp file's name.
 */
static char *
join_errors(const struct conf_errors *errs, const char *path)
{
	static char	 buf[8192];
	size_t		 i, plen = strlen(path), off = 0;
	const char	*m;

	buf[0] = '\0';
	for (i = 0; i < errs->n; i++) {
		m = errs->msgs[i];
		if (strncmp(m, path, plen) == 0 && m[plen] == ':')
			m += plen + 1;
		off += snprintf(buf + off, sizeof buf - off, "%s%s",
		    i > 0 ? "\n" : "", m);
		if (off >= sizeof buf)
			break;
	}
	return (buf);
}

/* Loads text; returns the conf, or NULL with its errors in *msgs. */
static struct conf *
load(const char *text, const char **msgs)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	const char		*path;

	path = write_conf(text);
	c = conf_load(path, &errs);
	*msgs = join_errors(&errs, path);
	conf_errors_clear(&errs);
	return (c);
}

/* Checks that text is refused with exactly the errors want. */
static void
refused(const char *text, const char *want, const char *what)
{
	struct conf	*c;
	const char	*msgs;

	c = load(text, &msgs);
	ok(c == NULL, "%s: the config is refused", what);
	is_str(msgs, want, "%s: the errors are reported", what);
	conf_unref(c);
}

/* Returns the port of a socket address in host order. */
static int
addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohs(((const struct sockaddr_in *)ss)->sin_port));
	return (ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
}

/* Formats the address of a socket address. */
static const char *
addr_host(const struct sockaddr_storage *ss)
{
	static char	buf[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		    buf, sizeof buf);
	else
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)ss)->sin6_addr, buf,
		    sizeof buf);
	return (buf);
}

/* conf_duration(): units, a bare 0, and the phrases for bad values. */
static void
test_duration(void)
{
	static const struct {
		const char	*in;
		long		 ms;
		const char	*err;
	} t[] = {
		{ "500ms", 500, NULL },
		{ "2s", 2000, NULL },
		{ "5m", 300000, NULL },
		{ "1h", 3600000, NULL },
		{ "0", 0, NULL },
		{ "0s", 0, NULL },
		{ "5", 0, "missing unit" },
		{ "5x", 0, "unknown unit" },
		{ "5S", 0, "unknown unit" },
		{ "1.5s", 0, "unknown unit" },
		{ "", 0, "empty value" },
		{ "soon", 0, "invalid duration" },
		{ "-1s", 0, "invalid duration" },
		{ "99999999999999999999999s", 0, "too large" },
		{ "9999999999999999h", 0, "too large" },
	};
	size_t	i;
	long	ms;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		ms = -1;
		is_str(conf_duration(t[i].in, &ms), t[i].err,
		    "conf_duration(\"%s\") says %s", t[i].in,
		    t[i].err ? t[i].err : "ok");
		if (t[i].err == NULL)
			is_int(ms, t[i].ms, "conf_duration(\"%s\") is %ld ms",
			    t[i].in, t[i].ms);
	}
}

/* conf_size(): bytes, k, m and g, and the phrases for bad values. */
static void
test_size(void)
{
	static const struct {
		const char	*in;
		uint64_t	 bytes;
		const char	*err;
	} t[] = {
		{ "0", 0, NULL },
		{ "100", 100, NULL },
		{ "16k", 16384, NULL },
		{ "8k", 8192, NULL },
		{ "1m", 1048576, NULL },
		{ "2g", 2147483648ULL, NULL },
		{ "16K", 0, "unknown unit" },
		{ "16kb", 0, "unknown unit" },
		{ "k", 0, "invalid size" },
		{ "", 0, "empty value" },
		{ "99999999999999999999g", 0, "too large" },
		{ "99999999999g", 0, "too large" },
	};
	size_t		i;
	uint64_t	bytes;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		bytes = 7;
		is_str(conf_size(t[i].in, &bytes), t[i].err,
		    "conf_size(\"%s\") says %s", t[i].in,
		    t[i].err ? t[i].err : "ok");
		if (t[i].err == NULL)
			is_int(bytes, t[i].bytes, "conf_size(\"%s\") is %llu",
			    t[i].in, (unsigned long long)t[i].bytes);
	}
}

/* conf_bool(): on and off only. */
static void
test_bool(void)
{
	int	b = -1;

	ok(conf_bool("on", &b) == NULL && b == 1, "conf_bool(\"on\") is 1");
	ok(conf_bool("off", &b) == NULL && b == 0, "conf_bool(\"off\") is 0");
	is_str(conf_bool("yes", &b), "invalid boolean",
	    "conf_bool(\"yes\") is refused");
	is_str(conf_bool("ON", &b), "invalid boolean",
	    "conf_bool(\"ON\") is refused");
}

/* conf_addr(): IPv4, IPv6, any-address forms, names and bad values. */
static void
test_addr(void)
{
	static const struct {
		const char	*in;
		const char	*err;
	} bad[] = {
		{ "127.0.0.1", "missing port" },
		{ "127.0.0.1:", "missing port" },
		{ "127.0.0.1:0", "port out of range 1-65535" },
		{ "127.0.0.1:65536", "port out of range 1-65535" },
		{ "127.0.0.1:http", "invalid port" },
		{ "127.0.0.1:80x", "invalid port" },
		{ "::1:8080", "IPv6 address needs brackets" },
		{ "[::1]8080", "missing port" },
		{ "[::1:8080", "invalid address" },
		{ "[]:8080", "invalid address" },
		{ "[localhost]:8080", "invalid address" },
		{ "", "empty value" },
	};
	struct sockaddr_storage	ss;
	socklen_t		len;
	size_t			i;

	ok(conf_addr("127.0.0.1:8080", &ss, &len) == NULL &&
	    ss.ss_family == AF_INET && addr_port(&ss) == 8080 &&
	    strcmp(addr_host(&ss), "127.0.0.1") == 0 &&
	    len == sizeof(struct sockaddr_in),
	    "conf_addr(\"127.0.0.1:8080\") is IPv4 127.0.0.1 port 8080");
	ok(conf_addr("[::1]:8443", &ss, &len) == NULL &&
	    ss.ss_family == AF_INET6 && addr_port(&ss) == 8443 &&
	    strcmp(addr_host(&ss), "::1") == 0 &&
	    len == sizeof(struct sockaddr_in6),
	    "conf_addr(\"[::1]:8443\") is IPv6 ::1 port 8443");
	ok(conf_addr("[::]:80", &ss, &len) == NULL &&
	    ss.ss_family == AF_INET6 && strcmp(addr_host(&ss), "::") == 0,
	    "conf_addr(\"[::]:80\") is the IPv6 any address");
	ok(conf_addr("*:8080", &ss, &len) == NULL &&
	    ss.ss_family == AF_INET && addr_port(&ss) == 8080 &&
	    strcmp(addr_host(&ss), "0.0.0.0") == 0,
	    "conf_addr(\"*:8080\") is 0.0.0.0 port 8080");
	ok(conf_addr(":65535", &ss, &len) == NULL &&
	    ss.ss_family == AF_INET && addr_port(&ss) == 65535 &&
	    strcmp(addr_host(&ss), "0.0.0.0") == 0,
	    "conf_addr(\":65535\") is 0.0.0.0 port 65535");
	ok(conf_addr("localhost:1", &ss, &len) == NULL && addr_port(&ss) == 1,
	    "conf_addr(\"localhost:1\") resolves the name");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		is_str(conf_addr(bad[i].in, &ss, &len), bad[i].err,
		    "conf_addr(\"%s\") says %s", bad[i].in, bad[i].err);
}

/* conf_server(): fields of a new server and the phrases for bad lines. */
static void
test_server(void)
{
	static const struct {
		const char	*in;
		const char	*err;
	} bad[] = {
		{ "", "missing name" },
		{ "b1", "missing address" },
		{ "b/1 127.0.0.1:80", "invalid name \"b/1\"" },
		{ "b1 127.0.0.1", "missing port \"127.0.0.1\"" },
		{ "b1 127.0.0.1:80 weight=300",
		    "weight 300 out of range 0-256" },
		{ "b1 127.0.0.1:80 weight=-1", "weight -1 out of range 0-256" },
		{ "b1 127.0.0.1:80 weight=x", "invalid weight \"x\"" },
		{ "b1 127.0.0.1:80 weight=", "invalid weight \"\"" },
		{ "b1 127.0.0.1:80 weight=2 weight=3",
		    "option \"weight\" given twice" },
		{ "b1 127.0.0.1:80 backup backup",
		    "option \"backup\" given twice" },
		{ "b1 127.0.0.1:80 heavy", "unknown option \"heavy\"" },
	};
	struct server	*s;
	size_t		 i;

	is_str(conf_server("b1 127.0.0.1:9001", &s), NULL,
	    "conf_server() takes NAME HOST:PORT");
	if (s != NULL) {
		is_str(s->name, "b1", "the server's name is b1");
		is_str(s->host, "127.0.0.1", "its host is 127.0.0.1");
		is_str(s->port, "9001", "its port is 9001");
		is_str(s->addr_text, "127.0.0.1:9001",
		    "its addr_text is as written");
		is_int(addr_port(&s->addr), 9001, "its address is resolved");
		is_int(s->conf_weight, 1, "its weight defaults to 1");
		is_int(s->weight, 1, "its effective weight starts at 1");
		is_int(s->backup, 0, "it is not a backup");
		ok(s->admin == SERVER_READY && s->health == HEALTH_UP &&
		    s->breaker == BREAKER_CLOSED,
		    "it starts ready, up, breaker closed");
	}
	conf_server_free(s);
	is_str(conf_server("  g2\t[::1]:9002  weight=0 backup ", &s), NULL,
	    "conf_server() takes weight=0, backup and extra blanks");
	if (s != NULL) {
		is_str(s->host, "::1", "an IPv6 host loses its brackets");
		is_str(s->addr_text, "[::1]:9002", "addr_text keeps them");
		is_int(s->conf_weight, 0, "weight=0 is kept");
		is_int(s->backup, 1, "backup is set");
	}
	conf_server_free(s);
	is_str(conf_server("b3 127.0.0.1:9003 weight=256", &s), NULL,
	    "weight=256 is the largest weight");
	conf_server_free(s);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		s = (struct server *)1;
		is_str(conf_server(bad[i].in, &s), bad[i].err,
		    "conf_server(\"%s\") says %s", bad[i].in, bad[i].err);
		ok(s == NULL, "and makes no server");
	}
	conf_server_free(NULL);
}

static const char full_conf[] =
    "# every key that is built, set to something other than its default\n"
    "[global]\n"
    "admin_socket = /tmp/cutover-test.sock\n"
    "state_file = /var/lib/cutover/state\n"
    "status_listen = 127.0.0.1:19901\n"
    "workers = 4\n"
    "max_connections = 500\n"
    "access_log = /var/log/cutover/access.log\n"
    "access_log_format = json\n"
    "error_log = /var/log/cutover/error.log\n"
    "log_level = debug\n"
    "client_header_timeout = 5s\n"
    "client_body_timeout = 30s\n"
    "keepalive_timeout = 0\n"
    "max_header_size = 32k\n"
    "max_uri_size = 4k\n"
    "max_body_size = 10m\n"
    "shutdown_grace = 500ms\n"
    "\n"
    "[listener web]\n"
    "bind = 127.0.0.1:18080\n"
    "bind = [::1]:18080\n"
    "forwarded_headers = off\n"
    "\n"
    "[listener admin]\n"
    "bind = *:18081\n"
    "\n"
    "[route app]\n"
    "listener = web\n"
    "host = WWW.Example.COM\n"
    "host = *.example.net\n"
    "path_prefix = /api\n"
    "split = blue 95, green 5, red 0\n"
    "stable = green\n"
    "match_header = X-Canary: 1 -> green\n"
    "match_header = X-Beta -> red\n"
    "match_cookie = beta=yes -> green\n"
    "sticky = cookie cutover_b\n"
    "sticky_cookie_set = on\n"
    "\n"
    "[route other]\n"
    "split = red 1\n"
    "sticky = header X-User\n"
    "\n"
    "[route third]\n"
    "path_prefix = /third\n"
    "split = red 1\n"
    "sticky = client_ip\n"
    "\n"
    "# pools may follow the routes that use them\n"
    "[pool blue]\n"
    "server = b1 127.0.0.1:9001\n"
    "server = b2 127.0.0.1:9002 weight=3 backup\n"
    "balance = least_conn\n"
    "health_path = /healthz\n"
    "health_interval = 500ms\n"
    "health_timeout = 250ms\n"
    "health_rise = 4\n"
    "health_fall = 6\n"
    "health_expect = 200-204\n"
    "breaker_failures = 9\n"
    "breaker_recovery = 1m\n"
    "connect_timeout = 3s\n"
    "response_timeout = 1h\n"
    "keepalive = 0\n"
    "retries = 3\n"
    "\n"
    "[pool green]\n"
    "server = g1 localhost:9101\n"
    "health_expect = 204\n"
    "\n"
    "[pool red]\n"
    "server = r1 127.0.0.1:9201\n";

/* A config setting every built key: each value lands in its field. */
static void
test_full(void)
{
	struct conf		*c;
	struct listener_conf	*web, *admin;
	struct pool		*blue, *green, *red;
	struct route		*r, *other, *third;
	struct server		*b2;
	const char		*msgs;

	c = load(full_conf, &msgs);
	ok(c != NULL, "the full config loads");
	is_str(msgs, "", "with no errors");
	if (c == NULL)
		return;
	is_int(c->refcnt, 1, "a new generation has one reference");
	is_str(c->admin_socket, "/tmp/cutover-test.sock", "admin_socket");
	is_str(c->state_file, "/var/lib/cutover/state", "state_file");
	is_str(c->status_listen, "127.0.0.1:19901", "status_listen");
	ok(addr_port(&c->status_addr) == 19901 &&
	    strcmp(addr_host(&c->status_addr), "127.0.0.1") == 0,
	    "status_listen resolved");
	is_int(c->workers, 4, "workers");
	is_int(c->max_connections, 500, "max_connections");
	is_str(c->access_log, "/var/log/cutover/access.log", "access_log");
	is_int(c->access_log_json, 1, "access_log_format json");
	is_str(c->error_log, "/var/log/cutover/error.log", "error_log");
	is_int(c->log_level, LOG_LEVEL_DEBUG, "log_level debug");
	is_int(c->client_header_timeout, 5000, "client_header_timeout");
	is_int(c->client_body_timeout, 30000, "client_body_timeout");
	is_int(c->keepalive_timeout, 0, "keepalive_timeout 0");
	is_int(c->max_header_size, 32768, "max_header_size");
	is_int(c->max_uri_size, 4096, "max_uri_size");
	is_int(c->max_body_size, 10485760, "max_body_size");
	is_int(c->shutdown_grace, 500, "shutdown_grace");
	ok(c->webhook == NULL, "no webhook");

	is_int(c->nlisteners, 2, "two listeners");
	web = conf_find_listener(c, "web");
	admin = conf_find_listener(c, "admin");
	ok(web != NULL && admin != NULL, "conf_find_listener finds both");
	ok(conf_find_listener(c, "nope") == NULL,
	    "conf_find_listener(\"nope\") is NULL");
	if (web == NULL || admin == NULL)
		goto done;
	is_int(web->line, 20, "listener web's line is 20");
	is_int(web->nbinds, 2, "listener web has two binds");
	is_str(web->binds[0].text, "127.0.0.1:18080", "the first as written");
	is_int(web->binds[0].line, 21, "the first bind's line is 21");
	is_int(web->binds[1].addr.ss_family, AF_INET6, "the second is IPv6");
	is_int(web->forwarded_headers, 0, "forwarded_headers off");
	is_str(web->tls_min_version, "TLSv1.2", "tls_min_version default");
	ok(web->ntls_cert == 0 && web->tls_key == NULL && web->tls_ctx == NULL,
	    "no TLS");
	is_str(addr_host(&admin->binds[0].addr), "0.0.0.0",
	    "*:PORT binds every IPv4 address");
	is_int(admin->forwarded_headers, 1, "forwarded_headers default on");

	blue = conf_find_pool(c, "blue");
	green = conf_find_pool(c, "green");
	red = conf_find_pool(c, "red");
	ok(blue != NULL && green != NULL && red != NULL,
	    "conf_find_pool finds the three pools");
	ok(conf_find_pool(c, "Blue") == NULL, "pool names are exact");
	if (blue == NULL || green == NULL || red == NULL)
		goto done;
	is_int(blue->nservers, 2, "pool blue has two servers");
	b2 = conf_find_server(blue, "b2");
	ok(b2 != NULL && b2 == blue->servers[1], "conf_find_server finds b2");
	ok(conf_find_server(blue, "g1") == NULL,
	    "conf_find_server looks in its pool only");
	if (b2 != NULL) {
		is_int(b2->conf_weight, 3, "b2 weight=3");
		is_int(b2->weight, 3, "b2 effective weight 3");
		is_int(b2->backup, 1, "b2 is a backup");
		is_int(b2->line, 53, "b2's line is 53");
		ok(b2->pool == blue, "b2 points to its pool");
	}
	is_int(blue->balance, BALANCE_LEAST_CONN, "balance least_conn");
	is_str(blue->health_path, "/healthz", "health_path");
	is_int(blue->health_interval, 500, "health_interval");
	is_int(blue->health_timeout, 250, "health_timeout");
	is_int(blue->health_rise, 4, "health_rise");
	is_int(blue->health_fall, 6, "health_fall");
	is_int(blue->health_expect_min, 200, "health_expect min");
	is_int(blue->health_expect_max, 204, "health_expect max");
	is_int(blue->breaker_failures, 9, "breaker_failures");
	is_int(blue->breaker_recovery, 60000, "breaker_recovery");
	is_int(blue->connect_timeout, 3000, "connect_timeout");
	is_int(blue->response_timeout, 3600000, "response_timeout");
	is_int(blue->keepalive, 0, "keepalive");
	is_int(blue->retries, 3, "retries");
	ok(green->health_expect_min == 204 && green->health_expect_max == 204,
	    "health_expect 204 is a range of one");
	is_str(green->servers[0]->host, "localhost", "a host name is kept");

	r = conf_find_route(c, "app");
	other = conf_find_route(c, "other");
	third = conf_find_route(c, "third");
	ok(r != NULL && other != NULL && third != NULL,
	    "conf_find_route finds the three routes");
	if (r == NULL || other == NULL || third == NULL)
		goto done;
	is_int(r->line, 28, "route app's line is 28");
	ok(r->nlisteners == 1 && r->listeners[0] == web,
	    "route app is on listener web");
	ok(r->nhosts == 2 && strcmp(r->hosts[0], "www.example.com") == 0 &&
	    strcmp(r->hosts[1], "*.example.net") == 0,
	    "hosts are kept in lower case, wildcard included");
	is_str(r->path_prefix, "/api", "path_prefix");
	is_int(r->path_prefix_len, 4, "path_prefix_len");
	is_int(r->nsplit, 3, "the split has three entries");
	ok(r->split[0].pool == blue && r->split[0].conf_weight == 95 &&
	    r->split[0].weight == 95, "blue 95");
	ok(r->split[1].pool == green && r->split[1].conf_weight == 5,
	    "green 5");
	ok(r->split[2].pool == red && r->split[2].conf_weight == 0, "red 0");
	ok(r->stable == green, "stable = green");
	is_int(r->nmatches, 3, "three match rules");
	ok(r->matches[0].kind == MATCH_HEADER &&
	    strcmp(r->matches[0].name, "X-Canary") == 0 &&
	    r->matches[0].name_len == 8 &&
	    strcmp(r->matches[0].value, "1") == 0 &&
	    r->matches[0].value_len == 1 && r->matches[0].pool == green &&
	    r->matches[0].line == 35,
	    "match_header X-Canary: 1 -> green");
	ok(r->matches[1].kind == MATCH_HEADER_PRESENT &&
	    strcmp(r->matches[1].name, "X-Beta") == 0 &&
	    r->matches[1].value == NULL && r->matches[1].pool == red,
	    "match_header X-Beta -> red tests presence");
	ok(r->matches[2].kind == MATCH_COOKIE &&
	    strcmp(r->matches[2].name, "beta") == 0 &&
	    strcmp(r->matches[2].value, "yes") == 0 &&
	    r->matches[2].pool == green, "match_cookie beta=yes -> green");
	ok(r->sticky == STICKY_COOKIE && strcmp(r->sticky_name,
	    "cutover_b") == 0 && r->sticky_name_len == 9,
	    "sticky = cookie cutover_b");
	is_int(r->sticky_cookie_set, 1, "sticky_cookie_set on");
	ok(other->nlisteners == 0 && other->nhosts == 0,
	    "route other takes every listener and host");
	is_str(other->path_prefix, "/", "path_prefix defaults to /");
	ok(other->stable == red, "stable defaults to the split's first pool");
	ok(other->sticky == STICKY_HEADER && strcmp(other->sticky_name,
	    "X-User") == 0, "sticky = header X-User");
	ok(third->sticky == STICKY_CLIENT_IP && third->sticky_name == NULL,
	    "sticky = client_ip");
	is_int(c->nrollouts, 0, "no rollout");
done:
	ok(conf_ref(c) == c && c->refcnt == 2, "conf_ref takes a reference");
	conf_unref(c);
	is_int(c->refcnt, 1, "conf_unref drops it");
	conf_unref(c);
	conf_unref(NULL);
}

/* A minimal config gets every default of SPEC 2. */
static void
test_defaults(void)
{
	struct conf	*c;
	struct pool	*p;
	struct route	*r;
	const char	*msgs;

	c = load("[listener web]\nbind = 127.0.0.1:8080\n"
	    "[pool p]\nserver = s 127.0.0.1:9000\n"
	    "[route r]\nsplit = p 1\n", &msgs);
	ok(c != NULL, "a minimal config loads");
	is_str(msgs, "", "with no errors");
	if (c == NULL)
		return;
	is_str(c->admin_socket, CUTOVER_SOCK, "admin_socket default");
	ok(c->state_file == NULL, "state_file default none");
	is_str(c->status_listen, "127.0.0.1:9901", "status_listen default");
	ok(c->status_addrlen > 0 && addr_port(&c->status_addr) == 9901 &&
	    strcmp(addr_host(&c->status_addr), "127.0.0.1") == 0,
	    "status_listen default resolved, for the endpoint to open");
	is_int(c->workers, 1, "workers default 1");
	is_int(c->max_connections, 10000, "max_connections default");
	ok(c->access_log == NULL, "access_log default off");
	is_int(c->access_log_json, 0, "access_log_format default combined");
	ok(c->error_log == NULL, "error_log default stderr");
	is_int(c->log_level, LOG_LEVEL_INFO, "log_level default info");
	is_int(c->client_header_timeout, 10000, "client_header_timeout 10s");
	is_int(c->client_body_timeout, 60000, "client_body_timeout 60s");
	is_int(c->keepalive_timeout, 60000, "keepalive_timeout 60s");
	is_int(c->max_header_size, 16384, "max_header_size 16k");
	is_int(c->max_uri_size, 8192, "max_uri_size 8k");
	is_int(c->max_body_size, 0, "max_body_size 0");
	is_int(c->shutdown_grace, 30000, "shutdown_grace 30s");
	ok(c->webhook == NULL, "webhook default none");
	is_int(c->listeners[0]->forwarded_headers, 1, "forwarded_headers on");
	is_str(c->listeners[0]->tls_min_version, "TLSv1.2",
	    "tls_min_version TLSv1.2");
	p = c->pools[0];
	is_int(p->balance, BALANCE_ROUNDROBIN, "balance roundrobin");
	ok(p->health_path == NULL, "no health_path");
	is_int(p->health_interval, 2000, "health_interval 2s");
	is_int(p->health_timeout, 1000, "health_timeout 1s");
	is_int(p->health_rise, 2, "health_rise 2");
	is_int(p->health_fall, 3, "health_fall 3");
	ok(p->health_expect_min == 200 && p->health_expect_max == 399,
	    "health_expect 200-399");
	is_int(p->breaker_failures, 5, "breaker_failures 5");
	is_int(p->breaker_recovery, 30000, "breaker_recovery 30s");
	is_int(p->connect_timeout, 2000, "connect_timeout 2s");
	is_int(p->response_timeout, 60000, "response_timeout 60s");
	is_int(p->keepalive, 32, "keepalive 32");
	is_int(p->retries, 1, "retries 1");
	ok(p->tls == 0 && p->tls_verify == 1 && p->tls_sni == NULL,
	    "tls off, tls_verify on, no tls_sni");
	r = c->routes[0];
	ok(r->nlisteners == 0 && r->nhosts == 0, "listener all, host any");
	ok(strcmp(r->path_prefix, "/") == 0 && r->path_prefix_len == 1,
	    "path_prefix /");
	ok(r->stable == p, "stable is the split's first pool");
	ok(r->nmatches == 0 && r->sticky == STICKY_OFF &&
	    r->sticky_name == NULL && r->sticky_cookie_set == 0,
	    "no matches, sticky off");
	conf_unref(c);
}

/* Values with special meanings: auto, off, stderr. */
static void
test_special_values(void)
{
	struct conf	*c;
	const char	*msgs;
	long		 cpus = sysconf(_SC_NPROCESSORS_ONLN);

	c = load("[global]\nworkers = auto\nstatus_listen = off\n"
	    "access_log = -\nerror_log = stderr\n"
	    "[listener web]\nbind = 127.0.0.1:8080\n", &msgs);
	ok(c != NULL, "workers auto, status_listen off load");
	is_str(msgs, "", "with no errors");
	if (c == NULL)
		return;
	is_int(c->workers, cpus < 1 ? 1 : cpus, "workers auto is one per CPU");
	ok(c->status_listen == NULL, "status_listen off is NULL");
	is_str(c->access_log, "-", "access_log - is kept for stdout");
	ok(c->error_log == NULL, "error_log stderr is NULL");
	conf_unref(c);
}

/* batch_wait and busy_poll: short waits in us or ms, and never both on. */
static void
test_short_waits(void)
{
	static const struct {
		const char	*value;
		long		 us;
		const char	*error;
	} t[] = {
		{ "20us", 20, NULL },
		{ "1000us", 1000, NULL },
		{ "1ms", 1000, NULL },
		{ "0", 0, NULL },
		{ "0us", 0, NULL },
		{ "off", 0, NULL },
		{ "1001us", 0, "1001us out of range 0-1ms" },
		{ "2ms", 0, "2ms out of range 0-1ms" },
		{ "20", 0, "invalid value \"20\" (a time in us or ms, 0 or off)" },
		{ "20s", 0, "invalid value \"20s\" (a time in us or ms, 0 or off)" },
		{ "-5us", 0, "invalid value \"-5us\" (a time in us or ms, 0 or off)" },
		{ "soon", 0, "invalid value \"soon\" (a time in us or ms, 0 or off)" },
	};
	static const char *const keys[] = { "batch_wait", "busy_poll" };
	struct conf	*c;
	const char	*msgs;
	char		 text[256], want[256];
	size_t		 i, k;
	long		 got;

	c = load("[listener web]\nbind = 127.0.0.1:8080\n", &msgs);
	ok(c != NULL && c->batch_wait == 0, "batch_wait is off by default");
	ok(c != NULL && c->busy_poll == 50, "busy_poll is 50us by default");
	conf_unref(c);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < sizeof t / sizeof t[0]; i++) {
			snprintf(text, sizeof text, "[global]\n%s = %s\n"
			    "[listener web]\nbind = 127.0.0.1:8080\n", keys[k],
			    t[i].value);
			if (t[i].error == NULL) {
				c = load(text, &msgs);
				got = c == NULL ? -1 : k == 0 ? c->batch_wait :
				    c->busy_poll;
				ok(got == t[i].us, "%s = %s is %ld us", keys[k],
				    t[i].value, t[i].us);
				conf_unref(c);
				continue;
			}
			snprintf(want, sizeof want, "2: global: %s: %s",
			    keys[k], t[i].error);
			refused(text, want, t[i].value);
		}
	}

	/* batch_wait replaces the default busy polling without a word... */
	c = load("[global]\nbatch_wait = 20us\n[listener web]\n"
	    "bind = 127.0.0.1:8080\n", &msgs);
	ok(c != NULL && c->batch_wait == 20,
	    "batch_wait on with busy_poll left at its default");
	conf_unref(c);
	c = load("[global]\nbusy_poll = off\nbatch_wait = 1ms\n"
	    "[listener web]\nbind = 127.0.0.1:8080\n", &msgs);
	ok(c != NULL && c->batch_wait == 1000 && c->busy_poll == 0,
	    "batch_wait on with busy_poll off");
	conf_unref(c);
	/* ...but both given on is refused, at the busy_poll line. */
	refused("[global]\nbatch_wait = 20us\nbusy_poll = 10us\n"
	    "[listener web]\nbind = 127.0.0.1:8080\n",
	    "3: busy_poll and batch_wait exclude each other: set one of them "
	    "to off", "both on");
}

/* The reader: comments, indentation, CRLF, BOM, NUL, long lines. */
static void
test_reader(void)
{
	struct conf	*c;
	const char	*msgs;
	char		 text[1024], want[256], *big;
	int		 n;

	c = load("\xef\xbb\xbf# a BOM, then comments of both kinds\r\n"
	    "; a comment\r\n"
	    "[listener web] ; a comment after a header\r\n"
	    "    bind = 127.0.0.1:8080 ; a comment after a value\r\n"
	    "\t# an indented comment\r\n"
	    "\tforwarded_headers=off\r\n", &msgs);
	ok(c != NULL, "a config with a BOM, CRLF, comments and indentation "
	    "loads");
	is_str(msgs, "", "with no errors");
	if (c != NULL) {
		is_str(c->listeners[0]->binds[0].text, "127.0.0.1:8080",
		    "an inline comment is not part of the value");
		is_int(c->listeners[0]->forwarded_headers, 0,
		    "an indented key is a key, not a continuation");
	}
	conf_unref(c);

	/* Longer than Debian's inih takes: split as inih would. */
	snprintf(text, sizeof text, "[global]\nwebhook = "
	    "https://hooks.example.com/%0300d?token=x  ; a comment\n"
	    "[listener web]\n   bind =   127.0.0.1:8080%200s\n", 0, "");
	c = load(text, &msgs);
	ok(c != NULL, "lines of 350 and 230 characters are read");
	is_str(msgs, "", "with no errors");
	if (c != NULL) {
		ok(c->webhook != NULL && strlen(c->webhook) == 334 &&
		    strcmp(c->webhook + 325, "0?token=x") == 0 ?
		    1 : 0, "the long value is whole, without the comment");
		is_str(c->listeners[0]->binds[0].text, "127.0.0.1:8080",
		    "and trimmed like a short one");
	}
	conf_unref(c);
	snprintf(text, sizeof text, "[listener web]\nbind = 127.0.0.1:8080\n"
	    "forwarded_headers = o%0200d\n", 0);
	snprintf(want, sizeof want, "3: listener web: forwarded_headers: "
	    "invalid boolean \"o%0200d\"", 0);
	refused(text, want, "a long line's value is checked like any");
	if ((big = malloc(70000)) == NULL)
		abort();
	n = snprintf(big, 70000, "[listener web]\nbind = 127.0.0.1:8080\n#");
	memset(big + n, 'x', 70000 - n - 2);
	big[69998] = '\n';
	big[69999] = '\0';
	refused(big, "3: line too long (limit 65536 characters)",
	    "a line of 69,960 characters");
	free(big);

	refused("", "1: no listener defined", "an empty file");
	refused("[listener web]\nbind = 127.0.0.1:8080\n[pool p]\n"
	    "[listener web2]\nbind = 127.0.0.1:8081\n",
	    "3: pool p: no server", "a section with no keys");
	refused("[listener web]\nbind = 127.0.0.1:8080\n[route]\n"
	    "split = nope 1\nbogus = 1\n[pool p]\nserver\n",
	    "3: section \"route\": missing name\n"
	    "6: pool p: no server\n"
	    "7: syntax error: expected KEY = VALUE",
	    "keys of a refused section are skipped");
}

/* A file holding a NUL byte: the line is refused, the rest is read. */
static void
test_nul(void)
{
	static const char	 text[] = "[listener web]\n"
	    "bind = 127.0.0.1:8080\nforwarded_headers = o\0ff\nworkers = 2\n";
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	const char		*path;
	FILE			*fp;

	path = write_conf("");
	if ((fp = fopen(path, "w")) == NULL)
		return;
	fwrite(text, 1, sizeof text - 1, fp);
	fclose(fp);
	c = conf_load(path, &errs);
	ok(c == NULL, "a NUL byte refuses the config");
	is_str(join_errors(&errs, path),
	    "3: NUL byte in line\n"
	    "4: listener web: unknown key \"workers\"",
	    "the NUL's line is reported and the next line still read");
	conf_errors_clear(&errs);
	conf_unref(c);
}

/* A missing file; a valid rollout; a rollout on the stable pool. */
static void
test_misc(void)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;

	c = conf_load("/nonexistent/cutover.conf", &errs);
	ok(c == NULL && errs.n == 1, "a missing file is one error");
	if (errs.n == 1)
		is_str(errs.msgs[0], "/nonexistent/cutover.conf: cannot open: "
		    "No such file or directory", "saying why");
	conf_errors_clear(&errs);
	ok(errs.n == 0 && errs.msgs == NULL, "conf_errors_clear empties errs");
	ok(conf_load("/nonexistent/cutover.conf", NULL) == NULL,
	    "errs may be NULL");

	c = conf_load(write_conf("[listener web]\nbind = 127.0.0.1:8080\n"
	    "[pool blue]\nserver = b1 127.0.0.1:9001\n"
	    "[pool green]\nserver = g1 127.0.0.1:9002\n"
	    "[route app]\nsplit = blue 100, green 0\n"
	    "[rollout app]\nstrategy = canary\ncanary = green\n"
	    "step = 30\ninterval = 1m\nmin_requests = 0\n"
	    "max_error_rate = 0.1\nmax_p95_latency = 500ms\n"
	    "max_error_rate_delta = 0\nmax_latency_ratio = 1.5\n"
	    "min_availability = 1\navailability_window = 30s\n"
	    "auto_start = on\nwebhook = http://hooks.example.com/x\n"
	    "metrics = prometheus https://prom.example.com\n"
	    "error_rate_query = sum(rate(x{route=\"{route}\"}[1m]))\n"
	    "p95_query = histogram_quantile(0.95, y)\n"), &errs);
	ok(c != NULL && c->nrollouts == 1, "a rollout setting every key loads");
	if (c != NULL && c->nrollouts == 1) {
		ok(c->rollouts[0]->nsteps == 4 && c->rollouts[0]->steps[0] == 30
		    && c->rollouts[0]->steps[3] == 100,
		    "step = 30 gives 30, 60, 90, 100");
		ok(c->rollouts[0]->interval == 60000 &&
		    c->rollouts[0]->max_p95_latency == 500 &&
		    c->rollouts[0]->auto_start == 1 &&
		    strcmp(c->rollouts[0]->canary->name, "green") == 0,
		    "its values are parsed");
	}
	conf_errors_clear(&errs);
	conf_unref(c);
	refused("[listener web]\nbind = 127.0.0.1:8080\n"
	    "[pool blue]\nserver = b1 127.0.0.1:9001\n"
	    "[route app]\nsplit = blue 100\n"
	    "[rollout app]\ncanary = blue\nstrategy = blue-green\n",
	    "8: rollout app: canary: pool \"blue\" is the stable pool of "
	    "route app", "a rollout whose canary is the stable pool");
	refused("[listener a]\nbind = 127.0.0.1:8080\n"
	    "[listener b]\nbind = 127.0.0.1:8081\n"
	    "[pool p]\nserver = s 127.0.0.1:9000\n"
	    "[route r1]\nlistener = a\nsplit = p 1\n"
	    "[route r2]\nlistener = b\nsplit = p 1\n"
	    "[route r3]\nsplit = p 1\n",
	    "13: route r3: same host any and path_prefix / as route r1 "
	    "(line 7)", "routes on different listeners do not tie");
}

/* Reads the "# expect: LINE: message" header of a corpus file. */
static char *
corpus_expected(const char *path)
{
	static char	 buf[8192];
	char		 line[1024];
	size_t		 off = 0;
	FILE		*fp;

	buf[0] = '\0';
	if ((fp = fopen(path, "r")) == NULL)
		return (buf);
	while (fgets(line, sizeof line, fp) != NULL &&
	    strncmp(line, "# expect: ", 10) == 0 && off < sizeof buf) {
		off += snprintf(buf + off, sizeof buf - off, "%s%s",
		    off > 0 ? "\n" : "", line + 10);
		if (buf[off - 1] == '\n')
			buf[--off] = '\0';
	}
	fclose(fp);
	return (buf);
}

/* Orders corpus file names. */
static int
corpus_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Loads every .conf file of t/conf-errors and compares its errors. */
static void
test_corpus(const char *srcdir)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct dirent		*de;
	struct conf		*c;
	DIR			*d;
	char			 dir[1024], path[2048], *want, *got;
	char			*names[256];
	size_t			 n = 0, i, len;

	snprintf(dir, sizeof dir, "%s/t/conf-errors", srcdir);
	if ((d = opendir(dir)) == NULL) {
		ok(0, "cannot open the corpus %s", dir);
		return;
	}
	while ((de = readdir(d)) != NULL && n < 256) {
		len = strlen(de->d_name);
		if (len > 5 && strcmp(de->d_name + len - 5, ".conf") == 0)
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof names[0], corpus_cmp);
	ok(n >= 25, "the corpus holds at least 25 broken configs (%zu)", n);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		want = strdup(corpus_expected(path));
		c = conf_load(path, &errs);
		got = join_errors(&errs, path);
		ok(c == NULL && *want != '\0', "%s is refused", names[i]);
		is_str(got, want, "%s reports exactly its expected errors",
		    names[i]);
		conf_errors_clear(&errs);
		conf_unref(c);
		free(want);
		free(names[i]);
	}
}

/* The example configs load, and demo.conf holds what scripts/demo needs. */
static void
test_examples(const char *srcdir)
{
	struct conf_errors	 errs = { NULL, 0 };
	struct conf		*c;
	struct route		*r;
	char			 path[1024];

	snprintf(path, sizeof path, "%s/conf/cutover.conf", srcdir);
	c = conf_load(path, &errs);
	ok(c != NULL, "conf/cutover.conf loads");
	if (errs.n > 0)
		printf("# %s\n", errs.msgs[0]);
	conf_errors_clear(&errs);
	conf_unref(c);

	snprintf(path, sizeof path, "%s/conf/demo.conf", srcdir);
	c = conf_load(path, &errs);
	ok(c != NULL, "conf/demo.conf loads");
	conf_errors_clear(&errs);
	if (c == NULL)
		return;
	is_str(c->status_listen, "127.0.0.1:9901", "demo status_listen");
	ok(c->access_log == NULL, "demo access_log off");
	ok(c->nlisteners == 1 && strcmp(c->listeners[0]->name, "web") == 0 &&
	    strcmp(c->listeners[0]->binds[0].text, "127.0.0.1:8080") == 0,
	    "demo listener web on 127.0.0.1:8080");
	ok(conf_find_pool(c, "blue") != NULL &&
	    strcmp(conf_find_pool(c, "blue")->servers[0]->addr_text,
	    "127.0.0.1:9001") == 0, "demo pool blue: b1 127.0.0.1:9001");
	ok(conf_find_pool(c, "green") != NULL &&
	    strcmp(conf_find_pool(c, "green")->servers[0]->addr_text,
	    "127.0.0.1:9002") == 0, "demo pool green: g1 127.0.0.1:9002");
	r = conf_find_route(c, "app");
	ok(r != NULL && r->nsplit == 2 && r->split[0].conf_weight == 90 &&
	    r->split[1].conf_weight == 10 && r->nmatches == 1 &&
	    r->matches[0].kind == MATCH_HEADER &&
	    strcmp(r->matches[0].name, "X-Canary") == 0,
	    "demo route app: blue 90, green 10, X-Canary: 1 -> green");
	conf_unref(c);
}

/* Runs the tests; the corpus and examples are under CUTOVER_SRCDIR. */
int
main(void)
{
	const char	*srcdir;

	if ((srcdir = getenv("CUTOVER_SRCDIR")) == NULL)
		srcdir = ".";
	test_duration();
	test_size();
	test_bool();
	test_addr();
	test_server();
	test_full();
	test_defaults();
	test_special_values();
	test_short_waits();
	test_reader();
	test_nul();
	test_misc();
	test_corpus(srcdir);
	test_examples(srcdir);
	remove_confs();
	return (done_testing());
}
