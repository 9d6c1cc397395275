/*
 * Routing: choosing the route of a request (host, then longest path
 * prefix) and the pool within it (match rules, then sticky bucket or the
 * split's smooth weighted round-robin, then the stable pool when the pool
 * picked is down).
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <sys/socket.h>
#include <stddef.h>

struct conf;
struct route;
struct pool;
struct listener_conf;
struct http_msg;

#define ROUTE_BUCKETS	10000

/* The outcome of choosing a pool. */
struct route_pick {
	struct pool	*pool;		/* NULL: no pool up (503) */
	int		 fallback;	/* the stable pool stood in */
	struct pool	*down;		/* ... for this pool, or NULL */
	int		 set_cookie;	/* sticky_cookie_set: issue a cookie */
	unsigned	 bucket;	/* the bucket, for that cookie */
};

/*
 * Finds the route for a request received on listener l with the given host
 * (port and trailing dot already removed, may be empty) and path.  NULL
 * when no route matches.
 */
struct route	*route_find(const struct conf *, const struct listener_conf *l,
		    const char *host, size_t hostlen, const char *path,
		    size_t pathlen);
/*
 * Picks the pool for a request on route r: msg and buf are the parsed head,
 * client the peer address (for sticky client_ip).
 */
void		 route_pick_pool(struct route *r, const struct http_msg *msg,
		    const char *buf, const struct sockaddr *client,
		    struct route_pick *pick);
/* Hashes a sticky key to a bucket 0..ROUTE_BUCKETS-1. */
unsigned	 route_bucket(const char *key, size_t len);
/* Maps a bucket to a split entry index: canaries first, stable last. */
int		 route_bucket_entry(const struct route *, unsigned bucket);
/* Returns the effective share of split entry i in percent (0-100). */
double		 route_share(const struct route *, size_t i);

#endif
