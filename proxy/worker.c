/*
 * Event-loop threads.
 *
 * With workers = 1 (the default) everything runs on the main thread's
 * loop and nothing here locks.  With N > 1 the main thread is worker 0
 * and N - 1 threads run a loop each.  The main thread accepts every
 * client connection and deals them out in turn; a session then lives and
 * dies on its worker together with its upstream connections, and each
 * worker keeps its own idle upstream connections per server (an idle
 * connection is a bufferevent of one loop and must stay on it).
 *
 * What the workers share - the balancer's state, servers' counters and
 * breakers, the live metrics, the health and admin states - is read and
 * written only under one lock.  The data path takes it for the few calls
 * that touch that state (route_pick_pool, balancer_pick, pool_server_*,
 * metrics_request, upstream_get/put); the main thread takes it in each of
 * its own callbacks (admin, status, health checks, rollouts, breaker
 * timers, signals), so those see a consistent picture.  The lock is
 * recursive because a callback holding it may close a session, which
 * takes it again.
 *
 * A worker's objects are touched only by its own thread.  Work for
 * another thread goes through that thread's queue: accepted connections,
 * the end of a reload, a server's idle connections to close, shutdown;
 * and, the other way, a breaker timer to arm or listeners to resume,
 * which only the main thread may do.  A queue is an array swapped out
 * whole when its owner drains it, and an eventfd that wakes the owner.
 *
 * Calls that may block - resolving the names of a config being loaded,
 * or of a server added at run time - run on a short-lived thread of their
 * own (worker_offload), which wakes the main thread to run the rest of
 * the work when it is done; no event loop ever waits for DNS, and
 * neither does the exit: a thread still in a name lookup then is left to
 * the end of the process (worker_offload_abandon).
 */
#include <sys/eventfd.h>
#include <sys/prctl.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "cutover.h"
#include "log.h"
#include "session.h"
#include "sockread.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

enum worker_job_kind {
	JOB_ACCEPT,		/* a client connection to serve */
	JOB_RELOAD,		/* move to conf, hand old's idle conns over */
	JOB_CLEAR,		/* close the idle connections of server */
	JOB_SHUTDOWN,		/* close idle sessions, finish the rest */
	JOB_CLOSE_ALL,		/* close every session now */
	JOB_EXIT,		/* leave the loop */
	JOB_CALL		/* fn(arg), on the main thread */
};

struct worker_job {
	enum worker_job_kind	 kind;
	int			 fd;
	int			 salen;
	struct sockaddr_storage	 ss;
	const char		*listener;	/* interned: outlives jobs */
	struct conf		*old;		/* a reference */
	struct conf		*conf;		/* a reference */
	struct server		*server;
	void			(*fn)(void *);
	void			*arg;
};

struct worker_queue {
	pthread_mutex_t		 mtx;
	struct worker_job	*jobs;		/* filled by other threads */
	size_t			 n, cap;
	struct worker_job	*spare;		/* the owner's, being run */
	size_t			 spare_cap;
	int			 draining;	/* the owner runs jobs */
	int			 efd;
	struct event		*ev;
	pthread_t		 thread;
};

int				 worker_threaded;
_Thread_local struct worker	*worker_self;

static struct worker		*workers;
static int			 nworkers;
static unsigned			 worker_next;	/* round robin of accepts */
static pthread_mutex_t		 worker_mtx;

/*
 * Where an offload stands; atomic.  Its thread moves it between RUNNING
 * and LOOKUP around each name lookup, and to READY when the work
 * returns.  At exit the main thread waits for READY, or moves LOOKUP to
 * ABANDONED; RUNNING too, but only after waiting WORKER_OFFLOAD_WAIT.
 * Each side makes its moves by compare and exchange, so that the first
 * to move settles who owns the offload.
 */
enum worker_offload_state {
	OFFLOAD_RUNNING,
	OFFLOAD_LOOKUP,		/* in a name lookup: not waited for at exit */
	OFFLOAD_READY,		/* the main thread runs done and frees it */
	OFFLOAD_ABANDONED	/* its thread goes no further (_park) */
};

/* The longest the exit waits for an offload that is not in a lookup. */
#define WORKER_OFFLOAD_WAIT	5	/* seconds */

/* A blocking call run on a thread of its own (worker_offload). */
struct worker_offload {
	const struct worker_offload_ops	*ops;
	void				*arg;
	pthread_t			 thread;
	int				 state;
	int				 joined;	/* or had no thread */
	struct worker_offload		*next;
};

/* The offloads whose end the main thread has not run yet; its own. */
static struct worker_offload	*worker_offloads;
/* The offload the calling thread was made for; NULL on any other. */
static _Thread_local struct worker_offload *worker_offload_self;

static void	worker_offload_run_ready(void);
static void	worker_offload_abandon(void);

void
worker_lock_slow(void)
{
	pthread_mutex_lock(&worker_mtx);
}

void
worker_unlock_slow(void)
{
	pthread_mutex_unlock(&worker_mtx);
}

/* Appends a job to w's queue and wakes w when the queue was empty. */
static void
worker_post(struct worker *w, const struct worker_job *job)
{
	struct worker_queue	*q = w->queue;
	uint64_t		 one = 1;
	int			 wake;

	pthread_mutex_lock(&q->mtx);
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 64;
		q->jobs = xreallocarray(q->jobs, q->cap, sizeof *q->jobs);
	}
	q->jobs[q->n++] = *job;
	wake = q->n == 1;
	pthread_mutex_unlock(&q->mtx);
	/* The eventfd only counts: a full one (never here) still wakes. */
	if (wake && write(q->efd, &one, sizeof one) == -1 && errno != EAGAIN)
		log_error("worker %d: cannot wake: %s", w->id, strerror(errno));
}

/* Drops a job that came after its worker stopped serving. */
static void
worker_discard(struct worker_job *job)
{
	switch (job->kind) {
	case JOB_ACCEPT:
		close(job->fd);
		__atomic_sub_fetch(&cutover.connections, 1, __ATOMIC_ACQ_REL);
		break;
	case JOB_RELOAD:
		conf_unref(job->old);
		conf_unref(job->conf);
		break;
	case JOB_CLEAR:
		conf_unref(job->conf);
		break;
	default:
		break;
	}
}

/*
 * Posts a copy of job to every worker but the caller, each copy holding
 * its own references to the generations it names.
 */
static void
worker_post_others(struct worker_job *job)
{
	struct conf	*old = job->old, *conf = job->conf;
	int		 i;

	for (i = 0; i < nworkers; i++) {
		if (&workers[i] == worker_self)
			continue;
		job->old = old != NULL ? conf_ref(old) : NULL;
		job->conf = conf != NULL ? conf_ref(conf) : NULL;
		worker_post(&workers[i], job);
	}
	job->old = old;
	job->conf = conf;
}

/* ... a job that is only its kind. */
static void
worker_post_kind(enum worker_job_kind kind)
{
	struct worker_job	job;

	memset(&job, 0, sizeof job);
	job.kind = kind;
	worker_post_others(&job);
}

/* Runs one job on the calling worker. */
static void
worker_run(struct worker *w, struct worker_job *job)
{
	if (w->exiting) {
		worker_discard(job);
		return;
	}
	switch (job->kind) {
	case JOB_ACCEPT:
		session_new(w->base, job->fd, (struct sockaddr *)&job->ss,
		    job->salen, job->listener);
		break;
	case JOB_RELOAD:
		worker_lock();
		upstream_handover(job->old);
		worker_unlock();
		conf_unref(w->conf);
		w->conf = job->conf;
		conf_unref(job->old);
		break;
	case JOB_CLEAR:
		worker_lock();
		upstream_server_clear_mine(job->server);
		worker_unlock();
		conf_unref(job->conf);
		break;
	case JOB_SHUTDOWN:
		session_shutdown_all();
		break;
	case JOB_CLOSE_ALL:
		session_close_all();
		break;
	case JOB_EXIT:
		w->exiting = 1;
		session_close_all();
		worker_lock();
		upstream_conf_clear_mine(w->conf);
		worker_unlock();
		conf_unref(w->conf);
		w->conf = NULL;
		event_base_loopexit(w->base, NULL);
		break;
	case JOB_CALL:
		worker_lock();
		job->fn(job->arg);
		worker_unlock();
		break;
	}
}

/* Runs everything queued for the calling worker. */
static void
worker_drain(struct worker *w)
{
	struct worker_queue	*q = w->queue;
	struct worker_job	*jobs;
	size_t			 i, n, cap;

	/* A job that drains again would run on the array being run. */
	if (q->draining)
		return;
	q->draining = 1;
	pthread_mutex_lock(&q->mtx);
	jobs = q->jobs;
	n = q->n;
	cap = q->cap;
	q->jobs = q->spare;
	q->cap = q->spare_cap;
	q->n = 0;
	q->spare = jobs;
	q->spare_cap = cap;
	pthread_mutex_unlock(&q->mtx);
	for (i = 0; i < n; i++)
		worker_run(w, &jobs[i]);
	q->draining = 0;
}

static void
worker_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	uint64_t	 n;

	if (read(fd, &n, sizeof n) == -1 && errno != EAGAIN)
		log_error("worker %d: cannot read its queue: %s", w->id,
		    strerror(errno));
	worker_drain(w);
	/* Outside the drain: an end may rely on worker_main_drain(). */
	if (w == &workers[0])
		worker_offload_run_ready();
}

/* Gives w a queue that its loop watches. */
static void
worker_queue_new(struct worker *w)
{
	struct worker_queue	*q;

	q = xcalloc(1, sizeof *q);
	pthread_mutex_init(&q->mtx, NULL);
	if ((q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("worker %d: eventfd: %s", w->id, strerror(errno));
	q->ev = event_new(w->base, q->efd, EV_READ | EV_PERSIST,
	    worker_wake_cb, w);
	if (q->ev == NULL || event_add(q->ev, NULL) == -1)
		fatal("worker %d: cannot watch its queue", w->id);
	w->queue = q;
}

static void
worker_queue_free(struct worker *w)
{
	struct worker_queue	*q = w->queue;

	if (q == NULL)
		return;
	event_free(q->ev);
	close(q->efd);
	free(q->jobs);
	free(q->spare);
	pthread_mutex_destroy(&q->mtx);
	free(q);
	w->queue = NULL;
}

/* Nonzero when the last pass of base's loop was told to end it. */
static int
worker_loop_done(struct event_base *base, int rv)
{
	return (rv != 0 || event_base_got_exit(base) ||
	    event_base_got_break(base));
}

/*
 * The calling thread's timer slack: 1 us while batch_wait is on, where
 * the default (50 us) would outlast the sleep; the default otherwise.
 */
static void
worker_batch_slack(int on)
{
	static _Thread_local int	 slack_on;

	if (on == slack_on)
		return;
#ifdef PR_SET_TIMERSLACK
	prctl(PR_SET_TIMERSLACK, on ? 1000UL : 0UL, 0UL, 0UL, 0UL);
#endif
	slack_on = on;
}

/* Counts one more in a figure of the calling worker (worker_counts_of). */
static void
worker_count_one(uint64_t *field)
{
	__atomic_store_n(field, *field + 1, __ATOMIC_RELAXED);
}

/* batch_wait: sleeps us microseconds off every wait queue, and counts it. */
static void
worker_batch_sleep(struct worker *w, long us)
{
	struct timespec	ts;

	worker_batch_slack(1);
	ts.tv_sec = 0;
	ts.tv_nsec = us * 1000;
	nanosleep(&ts, NULL);
	worker_count_one(&w->counts.batch_sleeps);
}

/* The calling worker's batch_wait, in microseconds; 0 when off. */
static long
worker_batch_wait(const struct worker *w)
{
	return (w->conf != NULL ? w->conf->batch_wait : 0);
}

/* The calling worker's busy_poll, in microseconds; 0 when off. */
static long
worker_busy_poll(const struct worker *w)
{
	return (w->conf != NULL ? w->conf->busy_poll : 0);
}

/*
 * busy_poll: one turn of a loop that polls before it blocks.  A loop that
 * blocks in epoll_wait() each time it has caught up must be woken by
 * whoever sends it the next byte: an interrupt to an idle core and, in a
 * virtual machine, an exit to the hypervisor, paid by the client's or the
 * server's core once or twice per request under dense traffic.  So after
 * a pass the loop goes on polling without blocking for as long as the
 * poll window, counted from the last pass that read from a client or a
 * server; only then does it block.  The window adapts as the kernel's
 * halt polling does: a blocking wait woken within max doubles it (up to
 * max), a longer one halves it, so an idle or sparse loop soon polls no
 * more and a dense one never blocks.  Returns nonzero when the loop ends.
 */
static int
worker_poll_turn(struct worker *w, long max)
{
	unsigned long	 seen;
	uint64_t	 last, t;

	if (w->poll_window > max)
		w->poll_window = max;
	last = cutover_now_us();
	while (w->poll_window > 0) {
		seen = sockread_count;
		if (worker_loop_done(w->base, event_base_loop(w->base,
		    EVLOOP_NONBLOCK | EVLOOP_ONCE)))
			return (1);
		t = cutover_now_us();
		if (sockread_count != seen) {
			last = t;
			worker_count_one(&w->counts.busy_polls);
		} else if (t - last >= (uint64_t)w->poll_window)
			break;
		if (worker_busy_poll(w) != max || worker_batch_wait(w) != 0)
			return (0);	/* reloaded */
	}
	t = cutover_now_us();
	if (worker_loop_done(w->base, event_base_loop(w->base, EVLOOP_ONCE)))
		return (1);
	if (cutover_now_us() - t <= (uint64_t)max)
		w->poll_window = w->poll_window == 0 ? 2 :
		    w->poll_window * 2 > max ? max : w->poll_window * 2;
	else
		w->poll_window /= 2;
	return (0);
}

/*
 * batch_wait: one turn of a loop that sleeps rather than polls.  When a
 * blocking wait and the pass after it took less than BATCH_DENSE times
 * batch_wait, the loop stops blocking: it sleeps batch_wait, off every
 * wait queue so that nobody has to wake it, then takes what arrived
 * meanwhile in one pass, and so on until a pass reads nothing from a
 * client or server.  A pass longer than BATCH_DENSE times batch_wait is
 * followed by the next at once: the loop is saturated and a sleep would
 * only cost throughput.  A message waits at most batch_wait, plus the
 * system's timer latency and one pass; with few requests in flight, that
 * wait is on every request's path and lowers throughput.  Returns nonzero
 * when the loop ends.
 */
#define BATCH_DENSE	4

static int
worker_batch_turn(struct worker *w, long us)
{
	unsigned long	 seen;
	uint64_t	 t0, t1, dense = (uint64_t)us * BATCH_DENSE;

	t0 = cutover_now_us();
	if (worker_loop_done(w->base, event_base_loop(w->base, EVLOOP_ONCE)))
		return (1);
	t1 = cutover_now_us();
	if (t1 - t0 >= dense)
		return (0);
	do {
		if (t1 - t0 < dense)
			worker_batch_sleep(w, us);
		seen = sockread_count;
		t0 = cutover_now_us();
		if (worker_loop_done(w->base, event_base_loop(w->base,
		    EVLOOP_NONBLOCK | EVLOOP_ONCE)))
			return (1);
		t1 = cutover_now_us();
	} while (sockread_count != seen && worker_batch_wait(w) == us);
	return (0);
}

/*
 * The event loop of the calling thread's worker, until it is told to end:
 * in turns of worker_poll_turn() with busy_poll on (the default), of
 * worker_batch_turn() with batch_wait on instead, or of plain blocking
 * passes with both off.  A reload takes effect at the next pass.
 */
void
worker_loop(void)
{
	struct worker	*w = worker_self;
	long		 us, max;
	int		 ended;

	do {
		us = worker_batch_wait(w);
		max = worker_busy_poll(w);
		worker_batch_slack(us > 0);
		if (us > 0)
			ended = worker_batch_turn(w, us);
		else if (max > 0)
			ended = worker_poll_turn(w, max);
		else
			ended = worker_loop_done(w->base,
			    event_base_loop(w->base, EVLOOP_ONCE));
	} while (!ended);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;

	worker_self = w;
	__atomic_store_n(&w->cached_heads, session_cached_heads(),
	    __ATOMIC_RELEASE);
	worker_loop();
	/* What came after the exit: connections nobody will serve. */
	worker_drain(w);
	return (NULL);
}

void
worker_init(struct event_base *base, struct conf *conf)
{
	pthread_mutexattr_t	attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&worker_mtx, &attr);
	pthread_mutexattr_destroy(&attr);
	workers = xcalloc(1, sizeof *workers);
	nworkers = 1;
	workers[0].base = base;
	workers[0].conf = conf;
	workers[0].cached_heads = session_cached_heads();
	worker_self = &workers[0];
}

int
worker_start(int n)
{
	struct event_config	*evcfg;
	struct worker		*w;
	int			 i, rc;

	if (n <= 1)
		return (0);
	workers = xreallocarray(workers, n, sizeof *workers);
	memset(&workers[1], 0, (n - 1) * sizeof *workers);
	worker_self = &workers[0];
	if (workers[0].queue == NULL)
		worker_queue_new(&workers[0]);
	for (i = 1; i < n; i++) {
		w = &workers[i];
		w->id = i;
		if ((evcfg = event_config_new()) == NULL)
			fatal("worker %d: cannot create its event loop", i);
		event_config_set_flag(evcfg,
		    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		w->base = event_base_new_with_config(evcfg);
		event_config_free(evcfg);
		if (w->base == NULL)
			fatal("worker %d: cannot create its event loop", i);
		w->conf = conf_ref(workers[0].conf);
		worker_queue_new(w);
	}
	/* From here on the lock is real and the others may run. */
	worker_threaded = 1;
	nworkers = n;
	for (i = 1; i < n; i++) {
		rc = pthread_create(&workers[i].queue->thread, NULL,
		    worker_main, &workers[i]);
		if (rc != 0) {
			log_error("worker %d: cannot start a thread: %s", i,
			    strerror(rc));
			nworkers = i;
			return (-1);
		}
	}
	log_info("%d workers running", n);
	return (0);
}

void
worker_stop(void)
{
	int	i;

	worker_post_kind(JOB_EXIT);
	for (i = 1; i < nworkers; i++) {
		pthread_join(workers[i].queue->thread, NULL);
		worker_queue_free(&workers[i]);
		event_base_free(workers[i].base);
	}
	/* Nothing may be posted to them from here on. */
	nworkers = 1;
	worker_threaded = 0;
	/* An end may start another offload, before the queue is gone. */
	while (worker_offloads != NULL) {
		worker_offload_abandon();
		worker_drain(&workers[0]);
		worker_offload_run_ready();
	}
	/* Calls queued for the main thread, and accepts nobody took. */
	if (workers[0].queue != NULL) {
		worker_drain(&workers[0]);
		worker_queue_free(&workers[0]);
	}
}

void
worker_clear(void)
{
	free(workers);
	workers = NULL;
	worker_self = NULL;
	pthread_mutex_destroy(&worker_mtx);
}

int
worker_count(void)
{
	return (nworkers);
}

void
worker_dispatch(int fd, const struct sockaddr *sa, int salen,
    const char *listener)
{
	struct worker_job	 job;
	struct worker		*w;

	w = &workers[worker_next++ % (unsigned)nworkers];
	if (w == worker_self) {
		session_new(w->base, fd, sa, salen, listener);
		return;
	}
	memset(&job, 0, sizeof job);
	job.kind = JOB_ACCEPT;
	job.fd = fd;
	job.salen = salen;
	if ((size_t)salen <= sizeof job.ss)
		memcpy(&job.ss, sa, salen);
	job.listener = listener;
	worker_post(w, &job);
}

void
worker_reload(struct conf *old, struct conf *conf)
{
	struct worker_job	job;

	upstream_handover(old);
	workers[0].conf = conf;
	memset(&job, 0, sizeof job);
	job.kind = JOB_RELOAD;
	job.old = old;
	job.conf = conf;
	worker_post_others(&job);
}

void
worker_shutdown(void)
{
	session_shutdown_all();
	worker_post_kind(JOB_SHUTDOWN);
}

void
worker_close_all(void)
{
	session_close_all();
	worker_post_kind(JOB_CLOSE_ALL);
}

/*
 * Has every worker but the caller close its idle upstream connections to
 * s.  Each job holds a reference to s's generation, which keeps s alive:
 * a deleted server is freed only once its generation is otherwise unused.
 */
void
worker_clear_server(struct server *s)
{
	struct worker_job	job;

	memset(&job, 0, sizeof job);
	job.kind = JOB_CLEAR;
	job.server = s;
	job.conf = s->pool->conf;
	worker_post_others(&job);
}

void
worker_run_main(void (*fn)(void *), void *arg)
{
	struct worker_job	job;

	if (!worker_threaded || worker_self == &workers[0]) {
		worker_lock();
		fn(arg);
		worker_unlock();
		return;
	}
	memset(&job, 0, sizeof job);
	job.kind = JOB_CALL;
	job.fn = fn;
	job.arg = arg;
	worker_post(&workers[0], &job);
}

/*
 * The thread of an offload the main thread gave up at exit, back from
 * its lookup or past the wait: the process is ending, and what the work
 * would do next (OpenSSL, the heap, the log) would race the exit's
 * handlers and frees, so it does nothing until the end takes it.  What
 * it made stays reachable from its stack, so no leak is reported.
 */
static void __attribute__((noreturn))
worker_offload_park(void)
{
	for (;;)
		pause();
}

/* Moves o from one state to another on its thread; parks if abandoned. */
static void
worker_offload_move(struct worker_offload *o, int from, int to)
{
	if (!__atomic_compare_exchange_n(&o->state, &from, to, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		worker_offload_park();
}

/*
 * On an offload's thread, before and after a call that may block for as
 * long as a DNS server takes: the exit does not wait for the thread
 * while it is in between.  Elsewhere (the main thread, cutover -t) they
 * do nothing.
 */
void
worker_offload_lookup_begin(void)
{
	if (worker_offload_self != NULL)
		worker_offload_move(worker_offload_self, OFFLOAD_RUNNING,
		    OFFLOAD_LOOKUP);
}

void
worker_offload_lookup_end(void)
{
	if (worker_offload_self != NULL)
		worker_offload_move(worker_offload_self, OFFLOAD_LOOKUP,
		    OFFLOAD_RUNNING);
}

/* Runs the work of o, then wakes the main thread to run its end. */
static void
worker_offload_work(struct worker_offload *o)
{
	uint64_t	one = 1;

	o->ops->work(o->arg);
	worker_offload_move(o, OFFLOAD_RUNNING, OFFLOAD_READY);
	if (write(workers[0].queue->efd, &one, sizeof one) == -1 &&
	    errno != EAGAIN)
		log_error("cannot wake the main thread: %s", strerror(errno));
}

/* The thread of an offload. */
static void *
worker_offload_main(void *arg)
{
	worker_offload_self = arg;
	worker_offload_work(arg);
	return (NULL);
}

/*
 * On the main thread: runs the end of each offload whose work is done,
 * under the lock, never from inside a drain of its queue.  An end may
 * start offloads of its own.
 */
static void
worker_offload_run_ready(void)
{
	struct worker_offload	*o, **op = &worker_offloads;

	while ((o = *op) != NULL) {
		if (__atomic_load_n(&o->state, __ATOMIC_ACQUIRE) !=
		    OFFLOAD_READY) {
			op = &o->next;
			continue;
		}
		*op = o->next;
		if (!o->joined)
			pthread_join(o->thread, NULL);
		worker_lock();
		o->ops->done(o->arg);
		worker_unlock();
		free(o);
		op = &worker_offloads;
	}
}

void
worker_offload(const struct worker_offload_ops *ops, void *arg)
{
	struct worker_offload	*o;
	int			 rc;

	/* At 1 worker the main thread has no queue until it needs one. */
	if (workers[0].queue == NULL)
		worker_queue_new(&workers[0]);
	o = xcalloc(1, sizeof *o);
	o->ops = ops;
	o->arg = arg;
	o->state = OFFLOAD_RUNNING;
	o->next = worker_offloads;
	worker_offloads = o;
	if ((rc = pthread_create(&o->thread, NULL, worker_offload_main,
	    o)) != 0) {
		/* The end still comes later, as the caller expects. */
		log_error("cannot start a thread: %s; blocking instead",
		    strerror(rc));
		o->joined = 1;
		worker_offload_work(o);
	}
}

/*
 * At exit: gives up the offloads in a name lookup rather than wait for
 * it, since one may take as long as the DNS server does.  Each is
 * answered by its abandon, its thread detached and left to end with the
 * process (worker_offload_park).  Any other work is waited for, as it
 * may use what the exit tears down (OpenSSL, the heap, the log), until
 * it is done or in a lookup; worker_stop() then runs the ends of those
 * done, which see the shutdown.  Work that takes longer than
 * WORKER_OFFLOAD_WAIT is given up all the same, to end the exit.
 */
static void
worker_offload_abandon(void)
{
	struct worker_offload	*o, **op;
	struct timespec		 ms = { 0, 1000000 };
	uint64_t		 end;
	int			 state, waiting, late = 0;

	end = cutover_now_us() + WORKER_OFFLOAD_WAIT * 1000000ULL;
	for (;;) {
		waiting = 0;
		op = &worker_offloads;
		while ((o = *op) != NULL) {
			state = __atomic_load_n(&o->state, __ATOMIC_ACQUIRE);
			if (o->joined || state == OFFLOAD_READY) {
				op = &o->next;
				continue;
			}
			if (state == OFFLOAD_RUNNING && !late) {
				waiting++;
				op = &o->next;
				continue;
			}
			/* Lost to the thread's move: look again. */
			if (!__atomic_compare_exchange_n(&o->state, &state,
			    OFFLOAD_ABANDONED, 0, __ATOMIC_ACQ_REL,
			    __ATOMIC_ACQUIRE))
				continue;
			*op = o->next;
			pthread_detach(o->thread);
			worker_lock();
			o->ops->abandon(o->arg);
			worker_unlock();
		}
		if (waiting == 0)
			return;
		if (cutover_now_us() >= end) {
			log_warn("%d offloaded call%s still running after %d "
			    "s: not waited for", waiting, waiting == 1 ? "" :
			    "s", WORKER_OFFLOAD_WAIT);
			late = 1;
			continue;
		}
		nanosleep(&ms, NULL);
	}
}

void
worker_main_drain(void)
{
	if (workers != NULL && workers[0].queue != NULL)
		worker_drain(&workers[0]);
}

static void
worker_gone_cb(void *arg)
{
	if (cutover.shutting_down &&
	    __atomic_load_n(&cutover.connections, __ATOMIC_ACQUIRE) == 0)
		event_base_loopexit(cutover.base, NULL);
}

void
worker_sessions_gone(void)
{
	worker_run_main(worker_gone_cb, NULL);
}

void
worker_counts_of(int i, struct worker_counts *t)
{
	const struct worker_counts	*c = &workers[i].counts;
	const unsigned			*heads;

	t->sessions = __atomic_load_n(&c->sessions, __ATOMIC_RELAXED);
	t->reading = __atomic_load_n(&c->reading, __ATOMIC_RELAXED);
	t->active = __atomic_load_n(&c->active, __ATOMIC_RELAXED);
	t->idle = __atomic_load_n(&c->idle, __ATOMIC_RELAXED);
	t->requests = __atomic_load_n(&c->requests, __ATOMIC_RELAXED);
	t->batch_sleeps = __atomic_load_n(&c->batch_sleeps, __ATOMIC_RELAXED);
	t->busy_polls = __atomic_load_n(&c->busy_polls, __ATOMIC_RELAXED);
	heads = __atomic_load_n(&workers[i].cached_heads, __ATOMIC_ACQUIRE);
	t->cached_heads = heads == NULL ? 0 :
	    __atomic_load_n(heads, __ATOMIC_RELAXED);
}

void
worker_totals(struct worker_counts *t)
{
	struct worker_counts	c;
	int			i;

	memset(t, 0, sizeof *t);
	for (i = 0; workers != NULL && i < nworkers; i++) {
		worker_counts_of(i, &c);
		t->sessions += c.sessions;
		t->reading += c.reading;
		t->active += c.active;
		t->idle += c.idle;
		t->requests += c.requests;
		t->batch_sleeps += c.batch_sleeps;
		t->busy_polls += c.busy_polls;
		t->cached_heads += c.cached_heads;
	}
}
