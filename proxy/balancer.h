/*
 * Balancing: smooth weighted round-robin (the nginx algorithm: exact per
 * cycle and evenly interleaved) and least_conn, over a pool's eligible
 * servers, with backup servers used only when no other is eligible.
 */
#ifndef BALANCER_H
#define BALANCER_H

#include <stddef.h>

struct pool;
struct server;

/*
 * Picks an index by smooth weighted round-robin over weights[0..n);
 * entries with weight <= 0 or with skip[i] set (skip may be NULL) are not
 * candidates.  cur[] holds the state between calls.  -1 when none.
 */
int		 balancer_wrr(const int *weights, int *cur, size_t n,
		    const unsigned char *skip);
/* Returns nonzero when s may take a new request now. */
int		 balancer_server_eligible(const struct server *);
/* Returns nonzero when the pool has at least one eligible server. */
int		 balancer_pool_up(const struct pool *);
/*
 * Picks a server of the pool by its balance method; exclude (may be NULL)
 * is skipped unless it is the only choice left.  NULL when the pool is down.
 */
struct server	*balancer_pick(struct pool *, const struct server *exclude);
/* Picks a server of the pool that is none of tried[0..ntried), or NULL. */
struct server	*balancer_pick_untried(struct pool *,
		    const struct server *const *tried, size_t ntried);

#endif
