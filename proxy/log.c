/*
 * The error log and the access log.  Lines of the error log carry a
 * timestamp and a level; the access log gets whole lines formatted by
 * the session.  Both are plain stdio streams, written under one lock so
 * that a line is never split between two writes of different threads.
 *
 * An error line is written at once.  Access lines gather in a buffer of
 * each thread, of access_log_buffer bytes, written whole when the next
 * line would not fit and by the session's flush timer (about a second
 * after the first line that went into it): a write() per request would
 * cost a proxied request a fifth more system calls.  Lines never
 * straddle two writes, so those of different threads do not mix.  The
 * buffers are listed, so that a reopen (a reload, a rotation, the exit)
 * writes every thread's lines to the file they were logged for first.
 * Locks are taken log_mtx first, then a buffer's own: a thread appends
 * under its buffer's lock alone, uncontended but for a reopen.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

static FILE		*log_fp;
static char		*log_path;
static enum log_level	 log_level = LOG_LEVEL_INFO;
static FILE		*access_fp;
static size_t		 access_cap;	/* access_log_buffer; atomic */

/* A thread's access log buffer. */
struct access_buf {
	pthread_mutex_t		 mtx;
	char			*data;
	size_t			 len;
	size_t			 cap;
	struct access_buf	*next;		/* under log_mtx */
};

static struct access_buf		*access_bufs;	/* under log_mtx */
static _Thread_local struct access_buf	*access_mine;

static void	access_buf_put(struct access_buf *);
static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;

static const char *log_names[] = { "error", "warn", "info", "debug" };

int
log_level_parse(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
		if (strcmp(s, log_names[i]) == 0)
			return ((int)i);
	}
	return (-1);
}

int
log_open(const char *path, enum log_level level)
{
	FILE	*fp;

	/* Workers read it without the lock. */
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
	if (path == NULL || strcmp(path, "stderr") == 0)
		fp = stderr;
	else if ((fp = fopen(path, "a")) == NULL)
		return (-1);
	else
		setvbuf(fp, NULL, _IOLBF, 0);
	/* Workers may be writing a line: swap between two lines. */
	pthread_mutex_lock(&log_mtx);
	if (log_fp != NULL && log_fp != stderr)
		fclose(log_fp);
	log_fp = fp;
	pthread_mutex_unlock(&log_mtx);
	if (fp == stderr) {
		free(log_path);
		log_path = NULL;
	} else if (log_path != path) {
		free(log_path);
		log_path = strdup(path);
	}
	return (0);
}

void
log_reopen(void)
{
	if (log_path != NULL)
		log_open(log_path, log_level);
}

int
log_enabled(enum log_level level)
{
	return (level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED));
}

/* Writes one line: timestamp, level, message. */
static void
log_vwrite(const char *tag, const char *fmt, va_list ap)
{
	struct timeval	 tv;
	struct tm	 tm;
	char		 ts[32];
	FILE		*fp;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_mtx);
	fp = log_fp != NULL ? log_fp : stderr;
	fprintf(fp, "%s.%03ldZ [%s] ", ts, (long)tv.tv_usec / 1000, tag);
	vfprintf(fp, fmt, ap);
	fputc('\n', fp);
	fflush(fp);
	pthread_mutex_unlock(&log_mtx);
}

#define LOG_FUNC(name, level, tag)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	ap;						\
								\
	if (!log_enabled(level))				\
		return;						\
	va_start(ap, fmt);					\
	log_vwrite(tag, fmt, ap);				\
	va_end(ap);						\
}

LOG_FUNC(log_error, LOG_LEVEL_ERROR, "error")
LOG_FUNC(log_warn, LOG_LEVEL_WARN, "warn")
LOG_FUNC(log_info, LOG_LEVEL_INFO, "info")
LOG_FUNC(log_debug, LOG_LEVEL_DEBUG, "debug")
LOG_FUNC(log_alert, LOG_LEVEL_ERROR, "alert")

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

int
access_log_open(const char *path, int json)
{
	struct access_buf	*b;
	FILE			*fp;

	(void)json;
	if (path == NULL || strcmp(path, "off") == 0)
		fp = NULL;
	else if (strcmp(path, "-") == 0)
		fp = stdout;
	else if ((fp = fopen(path, "a")) == NULL)
		return (-1);	/* the open one stays */
	pthread_mutex_lock(&log_mtx);
	/* Every thread's lines go to the file they were logged for. */
	for (b = access_bufs; b != NULL; b = b->next)
		access_buf_put(b);
	if (access_fp != NULL && access_fp != stdout)
		fclose(access_fp);
	__atomic_store_n(&access_fp, fp, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&log_mtx);
	return (0);
}

int
access_log_enabled(void)
{
	return (__atomic_load_n(&access_fp, __ATOMIC_ACQUIRE) != NULL);
}

void
access_log_buffer(size_t cap)
{
	__atomic_store_n(&access_cap, cap, __ATOMIC_RELAXED);
}

/* Writes bytes to the access log, if one is open; under log_mtx. */
static void
access_log_put(const char *buf, size_t len, int newline)
{
	if (access_fp != NULL) {
		fwrite(buf, 1, len, access_fp);
		if (newline)
			fputc('\n', access_fp);
		fflush(access_fp);
	}
}

/* Empties a buffer into the log; under log_mtx. */
static void
access_buf_put(struct access_buf *b)
{
	pthread_mutex_lock(&b->mtx);
	if (b->len > 0)
		access_log_put(b->data, b->len, 0);
	b->len = 0;
	pthread_mutex_unlock(&b->mtx);
}

/* Gives the calling thread a buffer of cap bytes, listed; NULL if none. */
static struct access_buf *
access_buf_new(size_t cap)
{
	struct access_buf	*b;

	if (cap == 0 || (b = calloc(1, sizeof *b)) == NULL)
		return (NULL);
	if ((b->data = malloc(cap)) == NULL) {
		free(b);
		return (NULL);
	}
	b->cap = cap;
	pthread_mutex_init(&b->mtx, NULL);
	pthread_mutex_lock(&log_mtx);
	b->next = access_bufs;
	access_bufs = b;
	pthread_mutex_unlock(&log_mtx);
	return (access_mine = b);
}

int
access_log_write(const char *line, size_t len)
{
	struct access_buf	*b = access_mine;
	size_t			 cap = __atomic_load_n(&access_cap,
				    __ATOMIC_RELAXED);
	int			 first;

	if (b == NULL || b->cap != cap) {
		/* The first line, or access_log_buffer changed (a reload). */
		access_log_thread_end();
		b = access_buf_new(cap);
	}
	if (b == NULL || len + 1 > b->cap) {
		access_log_flush();
		pthread_mutex_lock(&log_mtx);
		access_log_put(line, len, 1);
		pthread_mutex_unlock(&log_mtx);
		return (0);
	}
	pthread_mutex_lock(&b->mtx);
	if (b->len + len + 1 > b->cap) {
		pthread_mutex_unlock(&b->mtx);
		access_log_flush();
		pthread_mutex_lock(&b->mtx);
	}
	first = b->len == 0;
	memcpy(b->data + b->len, line, len);
	b->data[b->len + len] = '\n';
	b->len += len + 1;
	pthread_mutex_unlock(&b->mtx);
	return (first);
}

void
access_log_flush(void)
{
	struct access_buf	*b = access_mine;

	if (b == NULL)
		return;
	pthread_mutex_lock(&log_mtx);
	access_buf_put(b);
	pthread_mutex_unlock(&log_mtx);
}

void
access_log_thread_end(void)
{
	struct access_buf	*b = access_mine, **pp;

	if (b == NULL)
		return;
	pthread_mutex_lock(&log_mtx);
	access_buf_put(b);
	for (pp = &access_bufs; *pp != b; pp = &(*pp)->next)
		;
	*pp = b->next;
	pthread_mutex_unlock(&log_mtx);
	pthread_mutex_destroy(&b->mtx);
	free(b->data);
	free(b);
	access_mine = NULL;
}

void
log_close(void)
{
	access_log_thread_end();
	access_log_open(NULL, 0);
	if (log_fp != NULL && log_fp != stderr)
		fclose(log_fp);
	log_fp = NULL;
	free(log_path);
	log_path = NULL;
}
