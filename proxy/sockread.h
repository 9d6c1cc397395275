/*
 * Reading a bufferevent's socket without libevent's ioctl(FIONREAD).
 */
#ifndef SOCKREAD_H
#define SOCKREAD_H

struct bufferevent;

/* Reads that brought data, on the calling thread (see worker_loop). */
extern _Thread_local unsigned long	sockread_count;

/* Makes bev read its socket with sockread's callback; see sockread.c. */
void	sockread_install(struct bufferevent *);

#endif
