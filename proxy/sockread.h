/*
 * Reading a bufferevent's socket without libevent's ioctl(FIONREAD).
 */
#ifndef SOCKREAD_H
#define SOCKREAD_H

struct bufferevent;

/* Reads that brought data, on the calling thread (see worker_loop). */
extern _Thread_local unsigned long	sockread_count;

/*
 * Makes bev read its socket with sockread's callback, its input held
 * under high bytes (0: unbounded); once per bufferevent, while its read
 * event is not added.  See sockread.c.
 */
void	sockread_install(struct bufferevent *, size_t);
/*
 * Reads bev's socket once, now, as its read event would, whether that
 * event is added or not; the callbacks run as for that event.
 */
void	sockread_now(struct bufferevent *);

#endif
