/*
 * Active health checks: every server of a pool with a health_path gets
 * GET health_path every health_interval through libcurl's multi interface
 * on the event loop, and goes up after health_rise passes in a row and
 * down after health_fall failures in a row.  The state is kept in
 * server->health for the balancer, the admin socket and /metrics.
 */
#ifndef HEALTH_H
#define HEALTH_H

#include <stdint.h>

#include "conf.h"

struct event_base;

/* Sets the checker up on the event loop; -1 when libcurl cannot start. */
int		 health_init(struct event_base *);
/*
 * Starts checking the servers of conf not checked yet: new servers of
 * pools with a health_path start checking, servers of other pools are up.
 */
void		 health_start(struct conf *);
/* Returns the number of passed and failed checks of s. */
void		 health_checks(const struct server *, uint64_t *ok,
		    uint64_t *fail);
/* Returns the result of the last check of s ("status 503"), or NULL. */
const char	*health_last_result(const struct server *);
/* Returns the name of a state: "up", "down" or "checking". */
const char	*health_state_name(enum server_health);
/* Hands the checks of from to to, the same server in a new generation. */
void		 health_server_move(struct server *from, struct server *to);
/* Stops checking s (a server deleted at run time) and frees its state. */
void		 health_server_stop(struct server *);
/* Stops checking the servers of conf and frees their check state. */
void		 health_stop(struct conf *);
/* Frees the checker. */
void		 health_clear(void);

#endif
