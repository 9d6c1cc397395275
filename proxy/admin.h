/*
 * The admin socket: a unix stream socket speaking the line protocol of
 * SPEC section 3, for cutoverctl and deploy scripts.
 */
#ifndef ADMIN_H
#define ADMIN_H

struct conf_errors;
struct event_base;
struct route;

/*
 * Asks for a reload of the config: 0 with *seq the reload whose result
 * admin_reload_done() will give, or -1 at once with the reasons in errs.
 */
typedef int	(*admin_reload_fn)(unsigned long *seq, struct conf_errors *errs);

/*
 * Listens on path (mode 0600; a stale socket left by a dead process is
 * replaced).  -1, logged, when it cannot.
 */
int	 admin_open(struct event_base *, const char *path, admin_reload_fn);
/*
 * Gives route r the weights w[] (one per split entry) in one change, as
 * `set split` does: logged as old -> new on behalf of who ("admin",
 * "rollout") and saved to the state file.
 */
void	 admin_split_apply(struct route *r, const int *w, const char *who);
/*
 * Answers the clients waiting for reload seq: ok, or rc -1 and the
 * reasons in errs, each "FILE:LINE: message" or a sentence.
 */
void	 admin_reload_done(unsigned long seq, int rc,
	    const struct conf_errors *errs);
/*
 * Before a reload changes anything: opens the socket at path when it
 * moved; -1 with the reason in errs when it cannot.
 */
int	 admin_prepare(const char *path, struct conf_errors *errs);
/* Closes what admin_prepare() opened, for a reload refused after it. */
void	 admin_abort(void);
/* Moves the socket to the path of a reloaded config if it changed. */
void	 admin_reload(const char *path);
/*
 * The event loop has ended: an answer still to come is the last one its
 * client gets; no further command is read.
 */
void	 admin_ended(void);
/*
 * Closes the socket and every admin client, and removes the socket file;
 * the answers queued are sent first, for up to a second in all.
 */
void	 admin_close(void);

#endif
