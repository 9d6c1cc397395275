/*
 * Per-server bookkeeping: every attempt on a server is bracketed by
 * pool_server_begin() and pool_server_end(), which keep the figures the
 * balancer (least_conn), the admin socket and the breaker read, and
 * feed each server's circuit breaker.
 */
#include "breaker.h"
#include "conf.h"
#include "log.h"
#include "pool.h"

void
pool_server_begin(struct server *s)
{
	s->active++;
	s->requests++;
	breaker_begin(s);
}

void
pool_server_end(struct server *s, enum pool_outcome outcome)
{
	if (s->active == 0)
		log_alert("pool %s: server %s: request ended with none active",
		    s->pool->name, s->name);
	else
		s->active--;
	if (outcome != POOL_OK && outcome != POOL_ABANDONED)
		s->errors++;
	breaker_end(s, outcome);
}

const char *
pool_outcome_name(enum pool_outcome outcome)
{
	switch (outcome) {
	case POOL_OK:
		return ("ok");
	case POOL_HTTP_5XX:
		return ("5xx");
	case POOL_CONNECT_FAIL:
		return ("connect failure");
	case POOL_TIMEOUT:
		return ("timeout");
	case POOL_ABANDONED:
		return ("abandoned by the client");
	case POOL_BROKEN:
		return ("bad response");
	}
	return ("?");
}
