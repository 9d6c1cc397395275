/*
 * Unit tests of the circuit breaker, driven the way the data path drives
 * it, through pool_server_begin() and pool_server_end(): consecutive
 * failures open it and a success resets the count; an open breaker lets
 * nothing through and ignores late outcomes; after breaker_recovery it
 * lets exactly one probe through, and only once the requests from before
 * have ended; the probe's outcome closes or reopens it; a reload hands the
 * state to the new server.  The pool and servers are built by hand.
 */
#include <string.h>

#include <event2/event.h>

#include "breaker.h"
#include "conf.h"
#include "log.h"
#include "pool.h"
#include "tap.h"

static struct event_base	*base;

/* Runs the event loop for ms milliseconds. */
static void
run_for(long ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Begins and ends one request on s with the given outcome. */
static void
request(struct server *s, enum pool_outcome outcome)
{
	pool_server_begin(s);
	pool_server_end(s, outcome);
}

int
main(void)
{
	struct pool	 pool, pool2;
	struct server	 srv, srv2, *ptr[1], *ptr2[1];
	struct pool	*pools[1], *pools2[1];
	struct conf	 conf, conf2;
	int		 i;

	log_open(NULL, LOG_LEVEL_WARN);
	base = event_base_new();
	memset(&pool, 0, sizeof pool);
	memset(&srv, 0, sizeof srv);
	memset(&conf, 0, sizeof conf);
	pool.name = "p";
	pool.breaker_failures = 3;
	pool.breaker_recovery = 30;
	pool.servers = ptr;
	pool.nservers = 1;
	ptr[0] = &srv;
	srv.name = "s";
	srv.pool = &pool;
	pools[0] = &pool;
	conf.pools = pools;
	conf.npools = 1;
	breaker_start(base, &conf);

	is_int(srv.breaker, BREAKER_CLOSED, "a new breaker is closed");
	ok(breaker_allows(&srv), "a closed breaker lets requests through");
	request(&srv, POOL_HTTP_5XX);
	request(&srv, POOL_TIMEOUT);
	request(&srv, POOL_OK);
	request(&srv, POOL_CONNECT_FAIL);
	request(&srv, POOL_BROKEN);
	is_int(srv.breaker, BREAKER_CLOSED, "a success resets the count");
	is_int(breaker_failure_count(&srv), 2, "which counts failures since");

	pool_server_begin(&srv);	/* in flight as the breaker opens */
	request(&srv, POOL_HTTP_5XX);
	is_int(srv.breaker, BREAKER_OPEN, "breaker_failures failures in a "
	    "row open it");
	ok(!breaker_allows(&srv), "an open breaker lets nothing through");
	request(&srv, POOL_OK);
	is_int(srv.breaker, BREAKER_OPEN, "an outcome while open changes "
	    "nothing");

	run_for(60);
	is_int(srv.breaker, BREAKER_HALF_OPEN, "breaker_recovery later it "
	    "is half-open");
	ok(!breaker_allows(&srv), "no probe while a request from before is "
	    "in flight");
	pool_server_end(&srv, POOL_OK);
	is_int(srv.breaker, BREAKER_HALF_OPEN, "whose outcome is not taken "
	    "for the probe's");
	ok(breaker_allows(&srv), "then the probe may go");
	pool_server_begin(&srv);
	ok(!breaker_allows(&srv), "and nothing else while it is out");
	pool_server_end(&srv, POOL_HTTP_5XX);
	is_int(srv.breaker, BREAKER_OPEN, "a failed probe opens it again");

	run_for(60);
	is_int(srv.breaker, BREAKER_HALF_OPEN, "half-open again after "
	    "breaker_recovery");
	request(&srv, POOL_OK);
	is_int(srv.breaker, BREAKER_CLOSED, "a successful probe closes it");
	is_int(breaker_failure_count(&srv), 0, "with the count at 0");

	/* A reload hands the breaker over to the new server. */
	for (i = 0; i < 3; i++)
		request(&srv, POOL_CONNECT_FAIL);
	pool2 = pool;
	memset(&srv2, 0, sizeof srv2);
	srv2.name = "s";
	srv2.pool = &pool2;
	pool2.servers = ptr2;
	ptr2[0] = &srv2;
	pools2[0] = &pool2;
	conf2 = conf;
	conf2.pools = pools2;
	breaker_server_move(&srv, &srv2);
	breaker_stop(&conf);
	breaker_start(base, &conf2);
	is_int(srv2.breaker, BREAKER_OPEN, "the new server takes the state");
	request(&srv, POOL_OK);
	is_int(srv2.breaker, BREAKER_OPEN, "the old server feeds it no more");
	run_for(60);
	is_int(srv2.breaker, BREAKER_HALF_OPEN, "its recovery timer carries "
	    "on");
	ok(breaker_allows(&srv2), "and it lets a probe through");

	breaker_stop(&conf2);
	ok(srv2.brk == NULL, "stopping frees the breaker");
	event_base_free(base);
	return (done_testing());
}
