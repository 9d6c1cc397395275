/*
 * Balancing within a pool.  roundrobin is nginx's smooth weighted
 * round-robin: on each pick every candidate's current weight grows by its
 * weight, the largest current weight wins and drops by the candidates'
 * total.  Over a cycle of total picks each candidate gets exactly its
 * weight, spread as evenly as possible (95/5 never puts two of the five
 * side by side).  least_conn narrows the candidates to those with the
 * fewest requests in flight and then does the same, so equal servers take
 * turns and weights still count.  Backup servers are candidates only when
 * no other server is eligible.
 *
 * Picks run for every request, so nothing here allocates: the loops walk
 * the pool's servers in place whatever the pool's size.
 */
#include <stddef.h>

#include "conf.h"
#include "balancer.h"
#include "breaker.h"

static struct server	*balancer_pick_tier(struct pool *, int,
			    const struct server *const *, size_t);
static int		 balancer_tried(const struct server *,
			    const struct server *const *, size_t);

/* Picks an index of weights[] by smooth weighted round-robin. */
int
balancer_wrr(const int *weights, int *cur, size_t n,
    const unsigned char *skip)
{
	size_t	i;
	long	total = 0;
	int	best = -1;

	for (i = 0; i < n; i++) {
		if (weights[i] <= 0 || (skip != NULL && skip[i]))
			continue;
		cur[i] += weights[i];
		total += weights[i];
		/* Strictly greater, so a tie goes to the lowest index. */
		if (best == -1 || cur[i] > cur[best])
			best = (int)i;
	}
	if (best != -1)
		cur[best] -= (int)total;
	return (best);
}

/*
 * Returns nonzero when s may take a new request now: weight, admin state
 * and health allow it, and so does its breaker (which, half-open, lets
 * only its one probe through).
 */
int
balancer_server_eligible(const struct server *s)
{
	if (s->weight <= 0 || s->admin != SERVER_READY ||
	    s->health != HEALTH_UP)
		return (0);
	return (breaker_allows(s));
}

/* Returns nonzero when the pool has at least one eligible server. */
int
balancer_pool_up(const struct pool *p)
{
	size_t	i;

	if (p == NULL)
		return (0);
	for (i = 0; i < p->nservers; i++) {
		if (balancer_server_eligible(p->servers[i]))
			return (1);
	}
	return (0);
}

/* Returns nonzero when s is one of the n servers of tried. */
static int
balancer_tried(const struct server *s, const struct server *const *tried,
    size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (tried[i] == s)
			return (1);
	return (0);
}

/*
 * Picks among the eligible servers whose backup flag is backup, leaving
 * out the ntried of tried: smooth weighted round-robin over all of them,
 * or for least_conn over those with the fewest requests in flight.
 */
static struct server *
balancer_pick_tier(struct pool *p, int backup,
    const struct server *const *tried, size_t ntried)
{
	struct server	*s, *best = NULL;
	unsigned	 least = 0;
	int		 found = 0;
	long		 total = 0;
	size_t		 i;

	if (p->balance == BALANCE_LEAST_CONN) {
		for (i = 0; i < p->nservers; i++) {
			s = p->servers[i];
			if ((s->backup != 0) != backup ||
			    balancer_tried(s, tried, ntried) ||
			    !balancer_server_eligible(s))
				continue;
			if (!found || s->active < least)
				least = s->active;
			found = 1;
		}
		if (!found)
			return (NULL);
	}

	for (i = 0; i < p->nservers; i++) {
		s = p->servers[i];
		if ((s->backup != 0) != backup ||
		    balancer_tried(s, tried, ntried) ||
		    !balancer_server_eligible(s))
			continue;
		if (p->balance == BALANCE_LEAST_CONN && s->active != least)
			continue;
		s->cur_weight += s->weight;
		total += s->weight;
		if (best == NULL || s->cur_weight > best->cur_weight)
			best = s;
	}
	if (best != NULL)
		best->cur_weight -= (int)total;
	return (best);
}

/*
 * Picks a server of the pool.  As nginx does when a server failed for
 * this request, an excluded primary gives way to the backups: the order
 * is the other primaries, the other backups, then exclude itself.
 */
struct server *
balancer_pick(struct pool *p, const struct server *exclude)
{
	struct server	*s;

	if ((s = balancer_pick_untried(p, &exclude, exclude != NULL)) != NULL ||
	    exclude == NULL)
		return (s);
	/* No other server is eligible: exclude is the only choice. */
	return (balancer_pick_tier(p, exclude->backup != 0, NULL, 0));
}

/*
 * Picks a server of the pool that is none of the ntried of tried, the
 * servers a request failed on already, primaries before backups; NULL
 * when there is none.  Leaving out only the last one failed would let a
 * retry go back to a server that failed before it while a good one is
 * never tried.
 */
struct server *
balancer_pick_untried(struct pool *p, const struct server *const *tried,
    size_t ntried)
{
	struct server	*s;

	if (p == NULL)
		return (NULL);
	if ((s = balancer_pick_tier(p, 0, tried, ntried)) != NULL)
		return (s);
	return (balancer_pick_tier(p, 1, tried, ntried));
}
