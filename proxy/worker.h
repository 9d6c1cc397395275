/*
 * Event-loop threads (the `workers` key).  See worker.c for the model:
 * the main thread is worker 0, every worker owns its sessions and
 * upstream connections, shared state is touched under one lock.
 */
#ifndef WORKER_H
#define WORKER_H

#include <sys/socket.h>

#include <stdint.h>

#include <event2/util.h>

struct conf;
struct server;
struct event_base;

/* Per worker figures, written by their worker only; see worker_totals. */
struct worker_counts {
	unsigned	sessions;
	unsigned	reading;
	unsigned	active;
	unsigned	idle;
	uint64_t	requests;
	uint64_t	batch_sleeps;	/* batch_wait sleeps (worker_loop) */
	uint64_t	busy_polls;	/* busy polls that found work */
	unsigned	cached_heads;	/* worker_counts_of(): session.c's */
};

struct worker {
	int			 id;
	struct event_base	*base;
	struct conf		*conf;	/* the generation new requests take */
	struct worker_counts	 counts;
	int			 exiting;	/* serves no more */
	struct worker_queue	*queue;	/* work handed over by other threads */
	long			 poll_window;	/* busy_poll's, in us */
	const unsigned		*cached_heads;	/* its thread's, set there; atomic */
};

/* Nonzero once more than one worker runs: the lock is real then. */
extern int			 worker_threaded;
/* The worker of the calling thread. */
extern _Thread_local struct worker *worker_self;

/* Makes the main thread worker 0 on base, with conf; before anything. */
void	 worker_init(struct event_base *, struct conf *);
/* Starts workers 1 .. n-1; -1 when a thread cannot be made. */
int	 worker_start(int n);
/*
 * Closes every worker's sessions, stops and joins the threads; waits for
 * the offloads still running, runs their ends, and abandons those in a
 * name lookup.
 */
void	 worker_stop(void);
/* Frees what worker_init() made; the very last thing. */
void	 worker_clear(void);
/* Runs the calling thread's event loop until it is told to end. */
void	 worker_loop(void);
/* Number of workers running, the main thread included. */
int	 worker_count(void);

/* Gives an accepted client connection to the next worker in turn. */
void	 worker_dispatch(int fd, const struct sockaddr *, int salen,
	    const char *listener);
/* After a reload: every worker moves to conf and hands old's idle
   upstream connections to the servers that stay. */
void	 worker_reload(struct conf *old, struct conf *conf);
/* Has every other worker close its idle upstream connections to s. */
void	 worker_clear_server(struct server *);
/* Graceful shutdown: every worker closes its idle connections. */
void	 worker_shutdown(void);
/* shutdown_grace ran out: every worker closes all its connections. */
void	 worker_close_all(void);

/* Runs fn(arg) on the main thread, under the lock; at once from it. */
void	 worker_run_main(void (*fn)(void *), void *arg);
/*
 * A blocking call for worker_offload() and what follows it.  At exit the
 * work is waited for, unless it is in a name lookup (between
 * worker_offload_lookup_begin() and _end()) or runs for more than 5 s:
 * then abandon(arg) runs on the main thread instead of done, to answer
 * whoever waits, and must leave alone what work writes.  The thread
 * then goes no further, and arg is left to the end of the process.
 */
struct worker_offload_ops {
	void	(*work)(void *);	/* on a thread of its own */
	void	(*done)(void *);	/* then on the main thread */
	void	(*abandon)(void *);	/* at exit, instead of done */
};

/*
 * Runs ops->work(arg) on a thread of its own, then ops->done(arg) on the
 * main thread under the lock: for a blocking call, such as resolving
 * names, that must stay off the event loops.  work must touch no shared
 * state.  Main thread only.
 */
void	 worker_offload(const struct worker_offload_ops *, void *arg);
/*
 * Around a name lookup in work: the exit need not wait for it.  No-ops
 * on any thread but an offload's.
 */
void	 worker_offload_lookup_begin(void);
void	 worker_offload_lookup_end(void);
/* Runs what other threads queued for the main thread; main only. */
void	 worker_main_drain(void);
/* Tells the main thread that a worker's last session closed. */
void	 worker_sessions_gone(void);

/* The figures of worker i, and their sums over all workers. */
void	 worker_counts_of(int, struct worker_counts *);
void	 worker_totals(struct worker_counts *);

/* Adds n to one of the calling worker's figures. */
static inline void
worker_count_add(unsigned *field, int n)
{
	__atomic_store_n(field, *field + n, __ATOMIC_RELAXED);
}

/* The lock around state all workers share; recursive; free at 1 worker. */
void	 worker_lock_slow(void);
void	 worker_unlock_slow(void);

static inline void
worker_lock(void)
{
	if (worker_threaded)
		worker_lock_slow();
}

static inline void
worker_unlock(void)
{
	if (worker_threaded)
		worker_unlock_slow();
}

/*
 * Defines the event callback NAME, which runs NAME_locked(fd, what, arg)
 * under the lock: the main thread's own callbacks (admin sweep, health
 * checks, curl, rollouts) see the shared state whole that way.
 */
#define WORKER_LOCKED_EVENT_CB(name)					\
static void								\
name(evutil_socket_t fd, short what, void *arg)				\
{									\
	worker_lock();							\
	name##_locked(fd, what, arg);					\
	worker_unlock();						\
}

#endif
