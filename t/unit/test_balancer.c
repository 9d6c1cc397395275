/*
 * Unit tests of the balancer: smooth weighted round-robin is exact per
 * cycle and evenly interleaved, servers that may not take requests are
 * never picked, backups stand in only when no primary can, least_conn
 * prefers the least busy server and an excluded server gives way.  Pools
 * are built by hand; no config is loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "balancer.h"
#include "tap.h"

#define MAXN	128

struct tpool {
	struct pool	 pool;
	struct server	 srv[MAXN];
	struct server	*ptr[MAXN];
};

/* Builds a roundrobin pool of n ready servers with the given weights. */
static void
tpool_init(struct tpool *t, size_t n, const int *weights)
{
	size_t	i;

	memset(t, 0, sizeof *t);
	t->pool.name = "p";
	t->pool.servers = t->ptr;
	t->pool.nservers = n;
	t->pool.balance = BALANCE_ROUNDROBIN;
	for (i = 0; i < n; i++) {
		t->ptr[i] = &t->srv[i];
		t->srv[i].pool = &t->pool;
		t->srv[i].conf_weight = weights[i];
		t->srv[i].weight = weights[i];
		t->srv[i].admin = SERVER_READY;
		t->srv[i].health = HEALTH_UP;
		t->srv[i].breaker = BREAKER_CLOSED;
	}
}

/* Returns the index of s in t, or -1 (NULL or foreign). */
static int
tpool_index(const struct tpool *t, const struct server *s)
{
	size_t	i;

	for (i = 0; i < t->pool.nservers; i++) {
		if (s == &t->srv[i])
			return ((int)i);
	}
	return (-1);
}

/*
 * Runs cycles full cycles of balancer_wrr over weights and returns
 * nonzero when every cycle gave each index exactly its weight.
 */
static int
wrr_exact(const int *weights, size_t n, const unsigned char *skip,
    int cycles)
{
	int	cur[MAXN] = { 0 }, count[MAXN];
	int	total = 0, c, k, i;
	size_t	j;

	for (j = 0; j < n; j++) {
		if (weights[j] > 0 && (skip == NULL || !skip[j]))
			total += weights[j];
	}
	for (c = 0; c < cycles; c++) {
		memset(count, 0, sizeof count);
		for (k = 0; k < total; k++) {
			if ((i = balancer_wrr(weights, cur, n, skip)) < 0)
				return (0);
			count[i]++;
		}
		for (j = 0; j < n; j++) {
			if (count[j] != (weights[j] > 0 &&
			    (skip == NULL || !skip[j]) ? weights[j] : 0))
				return (0);
		}
	}
	return (1);
}

/* Tests balancer_wrr() alone. */
static void
test_wrr(void)
{
	int		 w95[] = { 95, 5 }, w111[] = { 1, 1, 1 };
	int		 w511[] = { 5, 1, 1 }, wz[] = { 0, 3, 0, 1, -2 };
	int		 w00[] = { 0, 0 }, wbig[MAXN];
	int		 cur[MAXN] = { 0 };
	int		 seq511[] = { 0, 0, 1, 0, 2, 0, 0 };
	unsigned char	 skip[] = { 0, 1, 0 };
	int		 i, prev, adjacent, green, ok511, zero_picked;
	size_t		 j;

	ok(wrr_exact(w95, 2, NULL, 50),
	    "weights 95/5 give exactly 95 and 5 in each of 50 cycles");
	ok(wrr_exact(w111, 3, NULL, 100),
	    "weights 1/1/1 give each index one pick per cycle");
	ok(wrr_exact(w511, 3, NULL, 100),
	    "weights 5/1/1 give exactly 5, 1 and 1 per cycle");
	ok(wrr_exact(wz, 5, NULL, 100),
	    "zero and negative weights take no picks while the others stay "
	    "exact");
	ok(wrr_exact(w511, 3, skip, 100),
	    "a skipped index takes no picks while the others stay exact");

	memset(cur, 0, sizeof cur);
	ok511 = 1;
	for (i = 0; i < 70; i++) {
		if (balancer_wrr(w511, cur, 3, NULL) != seq511[i % 7])
			ok511 = 0;
	}
	ok(ok511, "weights 5/1/1 follow nginx's sequence a a b a c a a");

	memset(cur, 0, sizeof cur);
	prev = -1;
	adjacent = 0;
	green = 0;
	for (i = 0; i < 1000; i++) {
		j = (size_t)balancer_wrr(w95, cur, 2, NULL);
		if (j == 1) {
			green++;
			if (prev == 1)
				adjacent = 1;
		}
		prev = (int)j;
	}
	ok(!adjacent,
	    "weights 95/5 never pick the second index twice in a row");
	is_int(green, 50,
	    "weights 95/5 pick the second index 50 times in 1000");

	memset(cur, 0, sizeof cur);
	is_int(balancer_wrr(w111, cur, 3, NULL), 0,
	    "a tie goes to the lowest index");

	memset(cur, 0, sizeof cur);
	zero_picked = 0;
	for (i = 0; i < 400; i++) {
		j = (size_t)balancer_wrr(wz, cur, 5, NULL);
		if (wz[j] <= 0)
			zero_picked = 1;
	}
	ok(!zero_picked, "an index of weight 0 is never picked");

	memset(cur, 0, sizeof cur);
	is_int(balancer_wrr(w00, cur, 2, NULL), -1,
	    "all weights 0 give -1");
	is_int(balancer_wrr(w111, cur, 0, NULL), -1, "no entries give -1");

	for (j = 0; j < MAXN; j++)
		wbig[j] = (int)(j % 7) + 1;
	ok(wrr_exact(wbig, MAXN, NULL, 5),
	    "128 entries of mixed weights stay exact per cycle");
}

/* Counts picks per server over n picks; returns the number of NULLs. */
static int
pick_counts(struct tpool *t, const struct server *exclude, int n,
    int *count)
{
	int	i, k, none = 0;

	memset(count, 0, sizeof(int) * MAXN);
	for (k = 0; k < n; k++) {
		if ((i = tpool_index(t, balancer_pick(&t->pool, exclude))) < 0)
			none++;
		else
			count[i]++;
	}
	return (none);
}

/* Tests eligibility and balancer_pool_up(). */
static void
test_eligible(void)
{
	struct tpool	 t;
	int		 w[] = { 1 };
	struct server	*s = &t.srv[0];

	tpool_init(&t, 1, w);
	ok(balancer_server_eligible(s),
	    "a ready, up, closed server is eligible");
	s->weight = 0;
	ok(!balancer_server_eligible(s),
	    "a server of weight 0 is not eligible");
	s->weight = 1;
	s->admin = SERVER_DRAIN;
	ok(!balancer_server_eligible(s), "a draining server is not eligible");
	s->admin = SERVER_MAINT;
	ok(!balancer_server_eligible(s), "a server in maint is not eligible");
	s->admin = SERVER_READY;
	s->health = HEALTH_DOWN;
	ok(!balancer_server_eligible(s), "a server down is not eligible");
	s->health = HEALTH_CHECKING;
	ok(!balancer_server_eligible(s),
	    "a server not yet through health_rise is not eligible");
	s->health = HEALTH_UP;
	s->breaker = BREAKER_OPEN;
	ok(!balancer_server_eligible(s),
	    "a server with an open breaker is not eligible");
	ok(!balancer_pool_up(&t.pool),
	    "a pool without eligible servers is down");
	ok(balancer_pick(&t.pool, NULL) == NULL, "a down pool picks no server");
	s->breaker = BREAKER_HALF_OPEN;
	ok(balancer_server_eligible(s),
	    "a half-open server with nothing in flight is eligible");
	s->active = 1;
	ok(!balancer_server_eligible(s),
	    "a half-open server with its probe in flight is not eligible");
	s->breaker = BREAKER_CLOSED;
	ok(balancer_pool_up(&t.pool), "a pool with an eligible server is up");
	ok(!balancer_pool_up(NULL), "no pool is down");
	ok(balancer_pick(NULL, NULL) == NULL, "no pool picks no server");
}

/* Tests balancer_pick() with roundrobin. */
static void
test_pick_rr(void)
{
	struct tpool	 t;
	int		 w31[] = { 3, 1 }, w5[] = { 1, 1, 1, 1, 1 };
	int		 wb[] = { 2, 1, 1, 1 }, wbig[MAXN], count[MAXN];
	int		 none, i, exact;
	size_t		 j;

	tpool_init(&t, 2, w31);
	none = pick_counts(&t, NULL, 400, count);
	ok(none == 0 && count[0] == 300 && count[1] == 100,
	    "roundrobin with weights 3/1 picks 300 and 100 of 400");

	tpool_init(&t, 5, w5);
	t.srv[0].admin = SERVER_DRAIN;
	t.srv[1].admin = SERVER_MAINT;
	t.srv[2].health = HEALTH_DOWN;
	t.srv[3].breaker = BREAKER_OPEN;
	none = pick_counts(&t, NULL, 100, count);
	ok(none == 0 && count[4] == 100,
	    "draining, maint, down and open-breaker servers are never picked");

	/* Servers 2 and 3 are backups (weights 1/1). */
	tpool_init(&t, 4, wb);
	t.srv[2].backup = 1;
	t.srv[3].backup = 1;
	none = pick_counts(&t, NULL, 300, count);
	ok(none == 0 && count[0] == 200 && count[1] == 100 &&
	    count[2] == 0 && count[3] == 0,
	    "backups take nothing while a primary is eligible");
	t.srv[0].health = HEALTH_DOWN;
	none = pick_counts(&t, NULL, 100, count);
	ok(none == 0 && count[1] == 100 && count[2] == 0,
	    "backups take nothing while one primary is left");
	t.srv[1].admin = SERVER_DRAIN;
	none = pick_counts(&t, NULL, 100, count);
	ok(none == 0 && count[2] == 50 && count[3] == 50,
	    "backups share the load when no primary is eligible");
	ok(balancer_pool_up(&t.pool),
	    "a pool with only backups eligible is up");
	t.srv[2].breaker = BREAKER_OPEN;
	t.srv[3].weight = 0;
	ok(balancer_pick(&t.pool, NULL) == NULL,
	    "no server is picked when no primary nor backup is eligible");

	for (j = 0; j < MAXN; j++)
		wbig[j] = (int)(j % 4);
	tpool_init(&t, MAXN, wbig);
	exact = 1;
	for (i = 0; i < 3; i++) {
		pick_counts(&t, NULL, 3 * 32 * 2, count);
		for (j = 0; j < MAXN; j++) {
			if (count[j] != wbig[j])
				exact = 0;
		}
	}
	ok(exact, "a pool of 128 servers is exact per cycle");
}

/* Tests balancer_pick() with least_conn. */
static void
test_pick_lc(void)
{
	struct tpool	 t;
	int		 w[] = { 1, 1, 1 }, w31[] = { 3, 1 }, count[MAXN];
	int		 none;

	tpool_init(&t, 3, w);
	t.pool.balance = BALANCE_LEAST_CONN;
	t.srv[0].active = 4;
	t.srv[1].active = 2;
	t.srv[2].active = 7;
	none = pick_counts(&t, NULL, 10, count);
	ok(none == 0 && count[1] == 10,
	    "least_conn picks the server with the fewest requests in flight");

	t.srv[0].active = 2;
	none = pick_counts(&t, NULL, 10, count);
	ok(none == 0 && count[0] == 5 && count[1] == 5 && count[2] == 0,
	    "least_conn takes turns between equally busy servers");

	t.srv[1].health = HEALTH_DOWN;
	t.srv[0].active = 9;
	none = pick_counts(&t, NULL, 5, count);
	ok(none == 0 && count[2] == 5,
	    "least_conn skips an idle server that is not eligible");

	tpool_init(&t, 2, w31);
	t.pool.balance = BALANCE_LEAST_CONN;
	ok(tpool_index(&t, balancer_pick(&t.pool, NULL)) == 0,
	    "least_conn breaks a tie by weight");
	t.srv[0].cur_weight = t.srv[1].cur_weight = 0;
	none = pick_counts(&t, NULL, 40, count);
	ok(none == 0 && count[0] == 30 && count[1] == 10,
	    "least_conn shares equally busy servers by weight");
}

/* Tests the exclude argument of balancer_pick(). */
static void
test_pick_exclude(void)
{
	struct tpool	 t;
	int		 w[] = { 1, 1, 1 }, count[MAXN];
	int		 none;

	tpool_init(&t, 3, w);
	none = pick_counts(&t, &t.srv[0], 10, count);
	ok(none == 0 && count[0] == 0 && count[1] == 5 && count[2] == 5,
	    "an excluded server is skipped while others are eligible");

	t.srv[1].admin = SERVER_MAINT;
	t.srv[2].health = HEALTH_DOWN;
	ok(tpool_index(&t, balancer_pick(&t.pool, &t.srv[0])) == 0,
	    "an excluded server is picked when it is the only choice");

	t.srv[2].health = HEALTH_UP;
	t.srv[2].backup = 1;
	ok(tpool_index(&t, balancer_pick(&t.pool, &t.srv[0])) == 2,
	    "an excluded last primary gives way to a backup");

	t.pool.balance = BALANCE_LEAST_CONN;
	t.srv[2].backup = 0;
	t.srv[1].admin = SERVER_READY;
	t.srv[1].active = 5;
	none = pick_counts(&t, &t.srv[0], 10, count);
	ok(none == 0 && count[0] == 0 && count[2] == 10,
	    "least_conn passes over an excluded idle server");

	t.srv[0].health = HEALTH_DOWN;
	t.srv[1].health = HEALTH_DOWN;
	t.srv[2].health = HEALTH_DOWN;
	ok(balancer_pick(&t.pool, &t.srv[0]) == NULL,
	    "an excluded server that is not eligible is not picked");
}

int
main(void)
{
	test_wrr();
	test_eligible();
	test_pick_rr();
	test_pick_lc();
	test_pick_exclude();
	return (done_testing());
}
