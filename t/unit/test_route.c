/*
 * Unit tests of routing: route_find()'s precedence (exact host, longest
 * wildcard, any host; then the longest path prefix; listener
 * restrictions), and route_pick_pool()'s choices: match rules in order,
 * the exact smooth weighted split, sticky buckets that stay put and only
 * ever move from stable to canary, issued cookies, and the stable pool
 * standing in for a pool that is down.  Configs and request heads are
 * built by hand.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "balancer.h"
#include "http_parse.h"
#include "route.h"
#include "tap.h"

/* A pool of one ready server. */
struct tpool {
	struct pool	 pool;
	struct server	 srv;
	struct server	*ptr;
};

/* A request head built by hand. */
struct treq {
	char		 buf[4096];
	struct http_msg	 msg;
};

static struct tpool	blue, green, gray;

/* Makes t a pool named name with one eligible server. */
static void
tpool_init(struct tpool *t, const char *name)
{
	memset(t, 0, sizeof *t);
	t->pool.name = (char *)name;
	t->ptr = &t->srv;
	t->pool.servers = &t->ptr;
	t->pool.nservers = 1;
	t->srv.name = (char *)name;
	t->srv.pool = &t->pool;
	t->srv.conf_weight = t->srv.weight = 1;
	t->srv.admin = SERVER_READY;
	t->srv.health = HEALTH_UP;
	t->srv.breaker = BREAKER_CLOSED;
}

/*
 * Builds a GET request head with the given "Name: value" header lines
 * (NULL-terminated), filling the offsets as the parser would.
 */
static struct http_msg *
treq_init(struct treq *q, ...)
{
	struct http_header	*h;
	const char		*line, *colon, *v;
	size_t			 len = 0;
	va_list			 ap;

	memset(q, 0, sizeof *q);
	q->msg.is_request = 1;
	q->msg.method = HTTP_GET;
	q->msg.host = -1;
	len = (size_t)snprintf(q->buf, sizeof q->buf, "GET / HTTP/1.1\r\n");
	va_start(ap, q);
	while ((line = va_arg(ap, const char *)) != NULL) {
		colon = strchr(line, ':');
		h = &q->msg.headers[q->msg.nheaders++];
		h->name_off = (uint32_t)len;
		h->name_len = (uint32_t)(colon - line);
		for (v = colon + 1; *v == ' '; v++)
			;
		h->value_off = (uint32_t)(len + (size_t)(v - line));
		h->value_len = (uint32_t)strlen(v);
		if (h->name_len == 6 && strncmp(line, "Cookie", 6) == 0)
			h->flags |= HTTP_HDR_COOKIE;
		len += (size_t)snprintf(q->buf + len, sizeof q->buf - len,
		    "%s\r\n", line);
	}
	va_end(ap);
	len += (size_t)snprintf(q->buf + len, sizeof q->buf - len, "\r\n");
	q->msg.head_len = len;
	q->msg.pos = len;
	return (&q->msg);
}

/* Makes r a route to all listeners and hosts, prefix "/", no split. */
static void
troute_init(struct route *r, const char *name)
{
	memset(r, 0, sizeof *r);
	r->name = (char *)name;
	r->path_prefix = "/";
	r->path_prefix_len = 1;
}

/* Sets r's split to n (pool, weight) pairs; stable is the first pool. */
static void
troute_split(struct route *r, struct split_entry *e, size_t n, ...)
{
	va_list	ap;
	size_t	i;

	va_start(ap, n);
	for (i = 0; i < n; i++) {
		e[i].pool = va_arg(ap, struct pool *);
		e[i].conf_weight = e[i].weight = va_arg(ap, int);
		e[i].cur = 0;
	}
	va_end(ap);
	r->split = e;
	r->nsplit = n;
	r->stable = e[0].pool;
}

/* A small xorshift for test keys, fixed seed so runs repeat. */
static uint64_t
trand(void)
{
	static uint64_t	x = 88172645463325252ULL;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (x);
}

/* Calls route_find() with NUL-terminated host and path. */
static struct route *
find(const struct conf *cf, const struct listener_conf *l, const char *host,
    const char *path)
{
	return (route_find(cf, l, host, strlen(host), path, strlen(path)));
}

/* Tests route_find(). */
static void
test_find(void)
{
	struct listener_conf	 lmain = { .name = "main" };
	struct listener_conf	 ladmin = { .name = "admin" };
	struct listener_conf	 ladmin2 = { .name = "admin" };
	struct listener_conf	*ladmin_list[] = { &ladmin };
	char			*h_wild[] = { "*.example.com" };
	char			*h_wild2[] = { "*.b.example.com" };
	char			*h_exact[] = { "api.example.com",
				    "API2.Example.com" };
	char			*h_admin[] = { "admin.local" };
	char			*h_only[] = { "only.example.org" };
	struct route		 any, stat, wild, wild2, exact, v1, admin;
	struct route		 only, *routes[8];
	struct conf		 cf;

	troute_init(&any, "any");
	troute_init(&stat, "static");
	stat.path_prefix = "/static";
	stat.path_prefix_len = 7;
	troute_init(&wild, "wild");
	wild.hosts = h_wild;
	wild.nhosts = 1;
	troute_init(&wild2, "wild2");
	wild2.hosts = h_wild2;
	wild2.nhosts = 1;
	troute_init(&exact, "exact");
	exact.hosts = h_exact;
	exact.nhosts = 2;
	troute_init(&v1, "v1");
	v1.hosts = h_exact;
	v1.nhosts = 1;
	v1.path_prefix = "/v1";
	v1.path_prefix_len = 3;
	troute_init(&admin, "admin");
	admin.hosts = h_admin;
	admin.nhosts = 1;
	admin.listeners = ladmin_list;
	admin.nlisteners = 1;
	troute_init(&only, "only");
	only.hosts = h_only;
	only.nhosts = 1;
	only.path_prefix = "/api";
	only.path_prefix_len = 4;

	routes[0] = &any;
	routes[1] = &stat;
	routes[2] = &wild;
	routes[3] = &wild2;
	routes[4] = &exact;
	routes[5] = &v1;
	routes[6] = &admin;
	routes[7] = &only;
	memset(&cf, 0, sizeof cf);
	cf.routes = routes;
	cf.nroutes = 8;

	ok(find(&cf, &lmain, "api.example.com", "/x") == &exact,
	    "an exact host beats a wildcard and any host");
	ok(find(&cf, &lmain, "API.Example.COM", "/x") == &exact,
	    "hosts compare case-insensitively");
	ok(find(&cf, &lmain, "api2.example.com", "/") == &exact,
	    "any of a route's hosts matches, whatever the config's case");
	ok(find(&cf, &lmain, "www.example.com", "/") == &wild,
	    "a wildcard beats any host");
	ok(find(&cf, &lmain, "x.b.example.com", "/") == &wild2,
	    "the longest wildcard suffix wins");
	ok(find(&cf, &lmain, "b.example.com", "/") == &wild,
	    "a wildcard does not match its bare suffix");
	ok(find(&cf, &lmain, "a.b.c.example.com", "/") == &wild,
	    "a wildcard matches deeper subdomains");
	ok(find(&cf, &lmain, "example.com", "/") == &any,
	    "the bare domain of a wildcard falls to any host");
	ok(find(&cf, &lmain, "xexample.com", "/") == &any,
	    "a wildcard suffix matches on a label boundary only");
	ok(find(&cf, &lmain, "other.org", "/") == &any,
	    "an unknown host goes to the route for any host");
	ok(find(&cf, &lmain, "", "/") == &any,
	    "an empty host goes to the route for any host");
	ok(find(&cf, &lmain, "api.example.com", "/v1/users") == &v1,
	    "the longest path prefix wins");
	ok(find(&cf, &lmain, "api.example.com", "/v1") == &v1,
	    "a prefix equal to the path matches");
	ok(find(&cf, &lmain, "api.example.com", "/v1x") == &v1,
	    "a path prefix matches as a byte prefix");
	ok(find(&cf, &lmain, "api.example.com", "/v2") == &exact,
	    "a shorter prefix takes what the longer does not match");
	ok(find(&cf, &lmain, "api.example.com", "/v1?a=b") == &v1,
	    "a query string does not stop a prefix match");
	ok(find(&cf, &lmain, "other.org", "/stat?ic") == &any,
	    "the query string takes no part in a prefix match");
	ok(find(&cf, &lmain, "other.org", "/static/app.js?v=2") == &stat,
	    "the longest prefix wins among routes for any host");
	ok(find(&cf, &lmain, "admin.local", "/") == &any,
	    "a route restricted to another listener is passed over");
	ok(find(&cf, &ladmin, "admin.local", "/") == &admin,
	    "a route restricted to the listener is chosen");
	ok(find(&cf, &ladmin2, "admin.local", "/") == &admin,
	    "listeners are recognised by name across generations");
	ok(find(&cf, NULL, "admin.local", "/") == &any,
	    "without a listener only unrestricted routes match");
	ok(find(&cf, &lmain, "only.example.org", "/api/x") == &only,
	    "an exact host's route matches under its prefix");
	ok(find(&cf, &lmain, "only.example.org", "/web") == NULL,
	    "the host decides first: outside its route's prefix there is none");

	cf.routes = &routes[4];
	cf.nroutes = 1;
	ok(find(&cf, &lmain, "other.org", "/") == NULL,
	    "no route for the host gives NULL");
	cf.nroutes = 0;
	ok(find(&cf, &lmain, "api.example.com", "/") == NULL,
	    "a config without routes gives NULL");
}

/* Tests the exact split without sticky. */
static void
test_split(void)
{
	struct route		 r;
	struct split_entry	 e[2];
	struct route_pick	 pick;
	struct treq		 q;
	int			 c, k, n, exact = 1, fallback = 0;

	troute_init(&r, "split");
	troute_split(&r, e, 2, &blue.pool, 95, &green.pool, 5);
	treq_init(&q, "Host: x", NULL);
	for (c = 0; c < 20; c++) {
		n = 0;
		for (k = 0; k < 100; k++) {
			route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
			if (pick.pool == &green.pool)
				n++;
			fallback |= pick.fallback | pick.set_cookie;
		}
		if (n != 5)
			exact = 0;
	}
	ok(exact,
	    "split blue 95, green 5 sends exactly 5 of every 100 to green");
	ok(!fallback, "a split between pools that are up needs no fallback");

	e[1].weight = 0;
	n = 0;
	for (k = 0; k < 100; k++) {
		route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
		n += pick.pool == &green.pool;
	}
	is_int(n, 0, "a split entry of weight 0 takes no requests");

	is_int((long long)(route_share(&r, 0) * 1000), 100000,
	    "an entry alone with weight has a share of 100%%");
	is_int((long long)(route_share(&r, 1) * 1000), 0,
	    "an entry of weight 0 has a share of 0%%");
	e[1].weight = 5;
	is_int((long long)(route_share(&r, 0) * 1000), 95000,
	    "blue 95, green 5 gives blue a share of 95%%");
	is_int((long long)(route_share(&r, 1) * 1000), 5000,
	    "blue 95, green 5 gives green a share of 5%%");
	is_int((long long)(route_share(&r, 2) * 1000), 0,
	    "an entry out of range has a share of 0%%");
	e[0].weight = 1;
	e[1].weight = 2;
	is_int((long long)(route_share(&r, 1) * 1000), 66666,
	    "shares follow effective weights, not config weights");
}

/* Picks for q on r and returns the pool. */
static struct pool *
pick_for(struct route *r, struct treq *q)
{
	struct route_pick	pick;

	route_pick_pool(r, &q->msg, q->buf, NULL, &pick);
	return (pick.pool);
}

/* Tests match_header and match_cookie rules. */
static void
test_match(void)
{
	struct route		 r;
	struct split_entry	 e[1];
	struct match_rule	 m[3];
	struct route_pick	 pick;
	struct treq		 q;
	struct http_limits	 limits = { 16384, 8192 };

	troute_init(&r, "match");
	troute_split(&r, e, 1, &blue.pool, 1);
	memset(m, 0, sizeof m);
	m[0].kind = MATCH_HEADER;
	m[0].name = "X-Canary";
	m[0].name_len = 8;
	m[0].value = "1";
	m[0].value_len = 1;
	m[0].pool = &green.pool;
	m[1].kind = MATCH_HEADER_PRESENT;
	m[1].name = "X-Beta";
	m[1].name_len = 6;
	m[1].pool = &gray.pool;
	m[2].kind = MATCH_COOKIE;
	m[2].name = "canary";
	m[2].name_len = 6;
	m[2].value = "yes";
	m[2].value_len = 3;
	m[2].pool = &green.pool;
	r.matches = m;
	r.nmatches = 3;

	treq_init(&q, "Host: x", "X-Canary: 1", NULL);
	ok(pick_for(&r, &q) == &green.pool,
	    "a header with the rule's value picks the rule's pool");
	treq_init(&q, "x-canary: 1", NULL);
	ok(pick_for(&r, &q) == &green.pool,
	    "header names compare case-insensitively");
	treq_init(&q, "X-Canary: 11", NULL);
	ok(pick_for(&r, &q) == &blue.pool,
	    "a header with another value falls through to the split");
	treq_init(&q, "X-Canary: 0", "X-Canary: 1", NULL);
	ok(pick_for(&r, &q) == &green.pool,
	    "any of several headers of the name may hold the value");
	treq_init(&q, "X-Beta:", NULL);
	ok(pick_for(&r, &q) == &gray.pool,
	    "a header present with an empty value meets a presence rule");
	treq_init(&q, "Cookie: a=1; canary=yes; b=2", NULL);
	ok(pick_for(&r, &q) == &green.pool,
	    "a cookie among several meets a cookie rule");
	treq_init(&q, "Cookie: a=1;canary=yes", NULL);
	ok(pick_for(&r, &q) == &green.pool,
	    "a cookie after a separator without a space is found");
	treq_init(&q, "Cookie: a=1", "Cookie: canary=yes", NULL);
	ok(pick_for(&r, &q) == &green.pool,
	    "a cookie in a second Cookie header is found");
	treq_init(&q, "Cookie: canary=no; b=yes", NULL);
	ok(pick_for(&r, &q) == &blue.pool,
	    "a cookie with another value does not meet the rule");
	treq_init(&q, "Cookie: xcanary=yes; canaryx=yes", NULL);
	ok(pick_for(&r, &q) == &blue.pool,
	    "cookie names match whole, not as substrings");
	treq_init(&q, "Cookie: Canary=yes", NULL);
	ok(pick_for(&r, &q) == &blue.pool,
	    "cookie names compare exactly");
	treq_init(&q, "X-Cookie: canary=yes", NULL);
	ok(pick_for(&r, &q) == &blue.pool,
	    "cookies are read from Cookie headers only");
	treq_init(&q, "X-Beta: on", "X-Canary: 1", NULL);
	ok(pick_for(&r, &q) == &green.pool,
	    "the first rule that holds wins, whatever the header order");
	treq_init(&q, "Cookie: canary=yes", "X-Beta: on", NULL);
	ok(pick_for(&r, &q) == &gray.pool,
	    "a header rule listed first beats a cookie rule");
	treq_init(&q, "Host: x", NULL);
	ok(pick_for(&r, &q) == &blue.pool,
	    "a request meeting no rule goes by the split");
	route_pick_pool(&r, NULL, NULL, NULL, &pick);
	ok(pick.pool == &blue.pool && !pick.fallback,
	    "without a request head the split decides");

	/* Once through the real parser, whose offsets route.c relies on. */
	memset(&q, 0, sizeof q);
	snprintf(q.buf, sizeof q.buf, "GET /a?b HTTP/1.1\r\nHost: x\r\n"
	    "Cookie: a=1;  canary=yes \r\n\r\n");
	http_msg_init(&q.msg, 1);
	ok(http_parse_head(&q.msg, q.buf, strlen(q.buf), &limits) ==
	    HTTP_PARSE_DONE && pick_for(&r, &q) == &green.pool,
	    "a cookie rule holds on a head parsed by http_parse_head()");
}

/* Tests sticky = cookie, with and without sticky_cookie_set. */
static void
test_sticky_cookie(void)
{
	struct route		 r;
	struct split_entry	 e[2];
	struct route_pick	 pick, again;
	struct treq		 q;
	char			 line[64];
	int			 k, n, same, exact, issued, seen[2];

	/* The canary is listed first, as a rollout's route often is not. */
	troute_init(&r, "sticky");
	troute_split(&r, e, 2, &blue.pool, 95, &green.pool, 5);
	r.sticky = STICKY_COOKIE;
	r.sticky_name = "uid";
	r.sticky_name_len = 3;

	treq_init(&q, "Cookie: a=b; uid=42", NULL);
	route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
	ok(pick.bucket == 42 && pick.pool == &green.pool && !pick.set_cookie,
	    "a decimal sticky cookie is its bucket: 42 falls to the canary");
	treq_init(&q, "Cookie: uid=0499", NULL);
	route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
	ok(pick.bucket == 499 && pick.pool == &green.pool,
	    "bucket 499 is the canary's last of 500");
	treq_init(&q, "Cookie: uid=500", NULL);
	route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
	ok(pick.bucket == 500 && pick.pool == &blue.pool,
	    "bucket 500 is the stable pool's first");
	treq_init(&q, "Cookie: uid=9999", NULL);
	route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
	ok(pick.bucket == 9999 && pick.pool == &blue.pool,
	    "bucket 9999 is the stable pool's");
	treq_init(&q, "Cookie: uid=10000", NULL);
	route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
	is_int(pick.bucket, route_bucket("10000", 5),
	    "a number beyond the buckets is hashed");
	treq_init(&q, "Cookie: uid=alice", NULL);
	route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
	is_int(pick.bucket, route_bucket("alice", 5),
	    "any other cookie value is hashed");
	same = 1;
	for (k = 0; k < 100; k++) {
		route_pick_pool(&r, &q.msg, q.buf, NULL, &again);
		if (again.pool != pick.pool || again.bucket != pick.bucket)
			same = 0;
	}
	ok(same, "the same sticky cookie picks the same pool every time");

	treq_init(&q, "Cookie: other=1", NULL);
	exact = 1;
	for (n = 0, k = 0; k < 200; k++) {
		route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
		n += pick.pool == &green.pool;
		if (pick.set_cookie)
			exact = 0;
	}
	ok(exact && n == 10,
	    "without the cookie nor cookie setting the split is exact");

	r.sticky_cookie_set = 1;
	issued = 1;
	seen[0] = seen[1] = 0;
	for (n = 0, k = 0; k < 2000; k++) {
		route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
		if (!pick.set_cookie || pick.bucket >= ROUTE_BUCKETS ||
		    pick.pool != e[route_bucket_entry(&r, pick.bucket)].pool)
			issued = 0;
		n += pick.pool == &green.pool;
		seen[pick.bucket < 5000]++;
	}
	ok(issued, "without the cookie a bucket is drawn and a cookie issued");
	ok(n > 50 && n < 150 && seen[0] > 800 && seen[1] > 800,
	    "drawn buckets spread over the range (%d of 2000 to the canary)",
	    n);

	route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
	snprintf(line, sizeof line, "Cookie: uid=%u", pick.bucket);
	treq_init(&q, line, NULL);
	route_pick_pool(&r, &q.msg, q.buf, NULL, &again);
	ok(!again.set_cookie && again.bucket == pick.bucket &&
	    again.pool == pick.pool,
	    "the issued cookie brings the client back to its bucket");
}

/* Tests sticky = header and sticky = client_ip. */
static void
test_sticky_key(void)
{
	struct route		 r;
	struct split_entry	 e[2];
	struct route_pick	 pick, again;
	struct treq		 q;
	struct sockaddr_in	 sin, sin2;
	struct sockaddr_in6	 sin6, mapped;
	struct sockaddr_un	 sun;
	unsigned		 b4;
	int			 k, n, same;

	troute_init(&r, "key");
	troute_split(&r, e, 2, &blue.pool, 50, &green.pool, 50);
	r.sticky = STICKY_HEADER;
	r.sticky_name = "X-User";
	r.sticky_name_len = 6;

	treq_init(&q, "x-user: bob", NULL);
	route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
	is_int(pick.bucket, route_bucket("bob", 3),
	    "a sticky header's value is hashed to the bucket");
	same = !pick.set_cookie;
	for (k = 0; k < 50; k++) {
		route_pick_pool(&r, &q.msg, q.buf, NULL, &again);
		same &= again.pool == pick.pool;
	}
	ok(same, "the same sticky header picks the same pool every time");
	treq_init(&q, "Host: x", NULL);
	for (n = 0, k = 0; k < 100; k++)
		n += pick_for(&r, &q) == &green.pool;
	is_int(n, 50, "without the sticky header the split is exact");

	r.sticky = STICKY_CLIENT_IP;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(1000);
	inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
	sin2 = sin;
	sin2.sin_port = htons(2000);
	b4 = route_bucket((const char *)&sin.sin_addr, 4);
	route_pick_pool(&r, &q.msg, q.buf, (struct sockaddr *)&sin, &pick);
	is_int(pick.bucket, b4, "an IPv4 client's 4 address bytes are hashed");
	route_pick_pool(&r, &q.msg, q.buf, (struct sockaddr *)&sin2, &again);
	ok(again.bucket == pick.bucket && again.pool == pick.pool,
	    "the client's port plays no part");

	memset(&sin6, 0, sizeof sin6);
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	route_pick_pool(&r, &q.msg, q.buf, (struct sockaddr *)&sin6, &pick);
	is_int(pick.bucket, route_bucket((const char *)&sin6.sin6_addr, 16),
	    "an IPv6 client's 16 address bytes are hashed");
	mapped = sin6;
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &mapped.sin6_addr);
	route_pick_pool(&r, &q.msg, q.buf, (struct sockaddr *)&mapped, &pick);
	is_int(pick.bucket, b4,
	    "an IPv4-mapped IPv6 client keys as its IPv4 address");

	same = 1;
	for (k = 0; k < 1000; k++) {
		sin.sin_addr.s_addr = (uint32_t)trand();
		route_pick_pool(&r, NULL, NULL, (struct sockaddr *)&sin, &pick);
		route_pick_pool(&r, NULL, NULL, (struct sockaddr *)&sin,
		    &again);
		if (pick.pool != again.pool || pick.bucket != again.bucket)
			same = 0;
	}
	ok(same, "1000 client addresses each keep their pool");

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	for (n = 0, k = 0; k < 100; k++) {
		route_pick_pool(&r, &q.msg, q.buf, (struct sockaddr *)&sun,
		    &pick);
		n += pick.pool == &green.pool;
	}
	is_int(n, 50, "a client without an IP address goes by the split");
	for (n = 0, k = 0; k < 100; k++) {
		route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
		n += pick.pool == &green.pool;
	}
	is_int(n, 50, "an unknown client goes by the split");
}

/* Tests route_bucket() and route_bucket_entry(). */
static void
test_buckets(void)
{
	static unsigned		 keys[10000];
	static unsigned char	 hit[ROUTE_BUCKETS], on_canary[10000];
	struct route		 r;
	struct split_entry	 e[3];
	char			 key[32];
	int			 i, w, n, all, back, exact, grows;
	unsigned		 b;

	for (all = 1, i = 0; i < 200000; i++) {
		snprintf(key, sizeof key, "key-%d", i);
		if ((b = route_bucket(key, strlen(key))) >= ROUTE_BUCKETS)
			all = 0;
		else
			hit[b] = 1;
	}
	for (n = 0, b = 0; b < ROUTE_BUCKETS; b++)
		n += hit[b];
	ok(all && n == ROUTE_BUCKETS,
	    "200000 keys hash into every one of the 10000 buckets");
	ok(route_bucket("", 0) < ROUTE_BUCKETS,
	    "an empty key hashes to a bucket");

	/* Stable listed first; the canary still takes the low buckets. */
	troute_init(&r, "buckets");
	troute_split(&r, e, 3, &blue.pool, 95, &green.pool, 3, &gray.pool, 2);
	ok(route_bucket_entry(&r, 0) == 1 && route_bucket_entry(&r, 299) == 1 &&
	    route_bucket_entry(&r, 300) == 2 &&
	    route_bucket_entry(&r, 499) == 2 &&
	    route_bucket_entry(&r, 500) == 0 &&
	    route_bucket_entry(&r, 9999) == 0,
	    "canaries take the first buckets in split order, stable the rest");
	e[0].weight = e[1].weight = e[2].weight = 0;
	is_int(route_bucket_entry(&r, 0), -1,
	    "no bucket maps when every weight is 0");

	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof key, "%016llx",
		    (unsigned long long)trand());
		keys[i] = route_bucket(key, strlen(key));
	}
	troute_split(&r, e, 2, &blue.pool, 99, &green.pool, 1);
	back = 0;
	exact = 1;
	grows = 1;
	memset(on_canary, 0, sizeof on_canary);
	for (w = 1; w <= 100; w++) {
		e[0].weight = 100 - w;
		e[1].weight = w;
		for (n = 0, b = 0; b < ROUTE_BUCKETS; b++)
			n += route_bucket_entry(&r, b) == 1;
		if (n != w * 100)
			exact = 0;
		for (i = 0; i < 10000; i++) {
			if (route_bucket_entry(&r, keys[i]) == 1)
				on_canary[i] = 1;
			else if (on_canary[i])
				back = 1;
		}
	}
	for (i = 0; i < 10000; i++)
		grows &= on_canary[i];
	ok(exact,
	    "a canary of weight w out of 100 holds exactly w*100 buckets");
	ok(!back, "as the canary grows from 1 to 100 no key moves back to "
	    "stable");
	ok(grows, "at weight 100 every key is on the canary");
}

/* Tests the stable pool standing in for a pool that is down. */
static void
test_fallback(void)
{
	struct route		 r;
	struct split_entry	 e[2];
	struct match_rule	 m;
	struct route_pick	 pick;
	struct treq		 q;
	int			 k, n, fb, null, other;

	troute_init(&r, "fallback");
	troute_split(&r, e, 2, &blue.pool, 95, &green.pool, 5);
	treq_init(&q, "Host: x", NULL);
	green.srv.health = HEALTH_DOWN;
	for (n = fb = other = 0, k = 0; k < 100; k++) {
		route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
		n += pick.pool == &blue.pool;
		fb += pick.fallback;
		other += pick.fallback && pick.pool != &blue.pool;
	}
	ok(n == 100 && fb == 5 && other == 0,
	    "the stable pool takes the down canary's 5 of 100 as a fallback");

	memset(&m, 0, sizeof m);
	m.kind = MATCH_HEADER_PRESENT;
	m.name = "X-Canary";
	m.name_len = 8;
	m.pool = &green.pool;
	r.matches = &m;
	r.nmatches = 1;
	treq_init(&q, "X-Canary: 1", NULL);
	route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
	ok(pick.pool == &blue.pool && pick.fallback,
	    "a match rule's pool that is down gives way to the stable pool");
	r.nmatches = 0;

	blue.srv.breaker = BREAKER_OPEN;
	treq_init(&q, "Host: x", NULL);
	for (null = 0, k = 0; k < 100; k++) {
		route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
		null += pick.pool == NULL && !pick.fallback;
	}
	is_int(null, 100, "no pool is picked when the stable pool is down too");

	green.srv.health = HEALTH_UP;
	for (n = null = 0, k = 0; k < 100; k++) {
		route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
		n += pick.pool == &green.pool;
		null += pick.pool == NULL;
	}
	ok(n == 5 && null == 95,
	    "a down stable pool leaves its own share without a pool");
	blue.srv.breaker = BREAKER_CLOSED;

	e[0].weight = e[1].weight = 0;
	route_pick_pool(&r, &q.msg, q.buf, NULL, &pick);
	ok(pick.pool == &blue.pool && pick.fallback,
	    "a split weighing 0 in all falls back to the stable pool");
}

int
main(void)
{
	tpool_init(&blue, "blue");
	tpool_init(&green, "green");
	tpool_init(&gray, "gray");

	test_find();
	test_split();
	test_match();
	test_sticky_cookie();
	test_sticky_key();
	test_buckets();
	test_fallback();
	return (done_testing());
}
