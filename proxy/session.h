/*
 * A session: one client connection and the requests it carries, each
 * proxied to an upstream server and answered in order.
 */
#ifndef SESSION_H
#define SESSION_H

#include <sys/socket.h>

struct event_base;

/*
 * Starts a session on an accepted socket; takes ownership of fd.  The
 * listener name must outlive the session (listener_intern()).
 */
void	 session_new(struct event_base *, int fd, const struct sockaddr *,
	    int salen, const char *listener);
/* Starts graceful shutdown: idle sessions close, busy ones close after
 * their current response. */
void	 session_shutdown_all(void);
/* Closes every session at once (shutdown_grace ran out). */
void	 session_close_all(void);
/* Returns the number of open sessions. */
unsigned session_count(void);
/* The calling thread's count of parsed heads kept for reuse, for other
   threads to read with an atomic load. */
const unsigned *session_cached_heads(void);
/* Counts sessions reading a head, busy with a request, and idle. */
void	 session_counts(unsigned *reading, unsigned *active, unsigned *idle);

#endif
