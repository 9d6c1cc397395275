/*
 * Circuit breakers, one per server, fed by the outcomes of real traffic:
 * closed, open after breaker_failures consecutive failures, half-open
 * after breaker_recovery with room for exactly one probe request, closed
 * again when the probe succeeds.  The state is mirrored in
 * server->breaker for the balancer, the admin socket and /metrics.
 */
#ifndef BREAKER_H
#define BREAKER_H

#include "conf.h"
#include "pool.h"

struct event_base;

/* Gives every server of conf without a breaker a closed one. */
void		 breaker_start(struct event_base *, struct conf *);
/* Returns nonzero when s's breaker lets a new request through now. */
int		 breaker_allows(const struct server *);
/* Notes a request starting on s; in half-open it is the probe. */
void		 breaker_begin(struct server *);
/* Feeds the outcome of a request on s to its breaker. */
void		 breaker_end(struct server *, enum pool_outcome);
/* Returns the consecutive failures s's breaker counts now. */
int		 breaker_failure_count(const struct server *);
/* Hands the breaker of from to to, the same server in a new generation. */
void		 breaker_server_move(struct server *from, struct server *to);
/* Frees the breaker of s (a server deleted at run time). */
void		 breaker_server_stop(struct server *);
/* Frees the breakers of conf's servers. */
void		 breaker_stop(struct conf *);
/* Returns the name of a state: "closed", "open" or "half-open". */
const char	*breaker_state_name(enum breaker_state);

#endif
