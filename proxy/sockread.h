/*
 * Reading a bufferevent's socket without libevent's ioctl(FIONREAD).
 */
#ifndef SOCKREAD_H
#define SOCKREAD_H

struct bufferevent;

/* Makes bev read its socket with sockread's callback; see sockread.c. */
void	sockread_install(struct bufferevent *);

#endif
