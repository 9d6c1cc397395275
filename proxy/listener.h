/*
 * Listening sockets: one per bind address of each [listener], accepting
 * client connections into sessions.
 */
#ifndef LISTENER_H
#define LISTENER_H

struct conf;
struct conf_errors;
struct event;
struct event_base;
struct evconnlistener;

/* Opens every bind of conf's listeners; -1 (logged) when one fails. */
int	 listener_open_all(struct event_base *, const struct conf *);
/*
 * Makes the open sockets those of conf (a reload): addresses that stay
 * keep their socket, added ones open, removed ones close.  -1 when an
 * added one cannot open, with the reason appended to errs (may be NULL):
 * then nothing changed.
 */
int	 listener_sync(struct event_base *, const struct conf *,
	    struct conf_errors *);
/* Stops accepting on every listener (shutdown, max_connections). */
void	 listener_pause_all(void);
/* Starts accepting again, once below max_connections. */
void	 listener_resume_all(void);
/* Whether the listeners are paused; from any thread. */
int	 listener_paused(void);
/* Closes every listening socket. */
void	 listener_close_all(void);
/* Returns a copy of a listener name that lives until names are cleared. */
const char *listener_intern(const char *);
/* Frees the interned names (at exit, once no session is left). */
void	 listener_names_clear(void);
/* Returns the number of listening sockets open. */
unsigned listener_count(void);
 /*
 * For the other listening sockets (status endpoint, admin socket): a
 * timer that enables el again, and the rest after an accept failed with
 * err: when the failure would repeat at once (no descriptor or memory
 * left), el is disabled until the timer fires.  Nonzero when it rests.
 */
struct event	*listener_rest_timer(struct event_base *,
		    struct evconnlistener *);
int		 listener_rest(struct evconnlistener *, struct event *, int);

#endif
