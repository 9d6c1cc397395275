/*
 * The rollout controller: progressive canary and blue/green rollouts of
 * SPEC section 2 [rollout] that move a route's split step by step while
 * the canary's live figures stay good, and put the split back as it was
 * when a threshold is breached.  One rollout per [rollout] section, kept
 * by route name across reloads and in the state file across restarts.
 */
#ifndef ROLLOUT_H
#define ROLLOUT_H

#include <stddef.h>
#include <time.h>

struct conf;
struct evbuffer;
struct event_base;

/* Sets the controller up on the event loop; -1 when it cannot. */
int		 rollout_init(struct event_base *);
/*
 * Binds the rollouts to conf, the generation just published (at start
 * and after each reload): rollouts whose section went away end, new
 * sections get an idle rollout, and idle ones with auto_start start.
 */
void		 rollout_reload(struct conf *);
/*
 * Runs an admin verb (start, pause, resume, confirm, abort, promote) on
 * the rollout of route; -1 with a phrase in err when it cannot.
 */
int		 rollout_command(const char *verb, const char *route,
		    char *err, size_t errlen);
/* Returns nonzero when route has a rollout. */
int		 rollout_exists(const char *route);
/* Appends the rollout of route, or every rollout (NULL), as text. */
void		 rollout_show(struct evbuffer *, const char *route);
/*
 * Appends the rollout of route as a JSON object, or every rollout as a
 * JSON array when route is NULL.
 */
void		 rollout_json(struct evbuffer *, const char *route);

#define ROLLOUT_VIEW_DECISIONS	5

/*
 * What the status page shows of a rollout, as its script reads it from
 * the JSON; the strings are the rollout's, valid until the next event.
 */
struct rollout_view {
	const char	*route;
	const char	*canary;
	const char	*state;
	const char	*reason;	/* "" when none */
	size_t		 step;		/* from 1; 0 while idle */
	size_t		 steps;
	double		 weight;	/* the canary's share, percent */
	size_t		 ndecisions;	/* the last ones, newest first */
	time_t		 when[ROLLOUT_VIEW_DECISIONS];
	const char	*text[ROLLOUT_VIEW_DECISIONS];
};

/* Fills v with the i-th rollout; -1 when there are no more. */
int		 rollout_view(size_t i, struct rollout_view *v);

/*
 * The state file's rollout records, "rollout ROUTE ..." lines: the text
 * of every rollout that was started (the caller frees it), a check of one
 * record's syntax (NULL or a phrase), and its restoring into conf, a
 * generation not yet published.
 */
char		*rollout_state_text(void);
const char	*rollout_state_check(const char *);
void		 rollout_state_restore(const struct conf *, const char *);

/* Frees every rollout and stops the controller (at exit). */
void		 rollout_clear(void);

#endif
