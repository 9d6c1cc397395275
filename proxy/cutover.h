/*
 * What every module shares: the process-wide state of the daemon.
 */
#ifndef CUTOVER_H
#define CUTOVER_H

#include <stdint.h>
#include <time.h>

struct event_base;
struct conf;

#ifndef CUTOVER_CONF
#define CUTOVER_CONF	"/etc/cutover/cutover.conf"
#endif
#ifndef CUTOVER_SOCK
#define CUTOVER_SOCK	"/run/cutover.sock"
#endif

/* Process-wide state; owned by main.c. */
struct cutover {
	struct event_base	*base;
	struct conf		*conf;		/* the current generation */
	const char		*conf_path;
	time_t			 started;
	int			 shutting_down;
	unsigned		 connections;	/* client connections open;
						   atomic: workers close them */
	uint64_t		 accepted;
};

extern struct cutover	 cutover;

/* Returns a monotonic clock reading in microseconds. */
uint64_t	 cutover_now_us(void);
/* Returns the number of requests taken so far, by all workers. */
uint64_t	 cutover_requests(void);

#endif
