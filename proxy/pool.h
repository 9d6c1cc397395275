/*
 * Per-server bookkeeping around a request: requests in flight, counters,
 * and the outcome each attempt reports (which the breaker consumes).
 */
#ifndef POOL_H
#define POOL_H

struct server;

enum pool_outcome {
	POOL_OK,		/* a response that is not a 5xx */
	POOL_HTTP_5XX,		/* the server answered 5xx */
	POOL_CONNECT_FAIL,	/* refused, reset or timed out connecting */
	POOL_TIMEOUT,		/* no response within response_timeout */
	POOL_BROKEN,		/* bad or truncated response */
	POOL_ABANDONED		/* the client left or broke its own request:
				   says nothing of the server */
};

/* Counts a request starting on s. */
void	pool_server_begin(struct server *);
/* Counts the end of a request on s with its outcome. */
void	pool_server_end(struct server *, enum pool_outcome);
/* Returns a name for an outcome, for logs. */
const char *pool_outcome_name(enum pool_outcome);

#endif
