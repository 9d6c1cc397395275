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
 * straddle two writes, so those of different threads do not mix.
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
static _Thread_local char	*access_buf;
static _Thread_local size_t	 access_len, access_buf_cap;
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
	FILE	*fp;

	(void)json;
	/* This thread's lines belong to the file they were logged for. */
	access_log_flush();
	if (path == NULL || strcmp(path, "off") == 0)
		fp = NULL;
	else if (strcmp(path, "-") == 0)
		fp = stdout;
	else if ((fp = fopen(path, "a")) == NULL)
		fp = NULL;
	pthread_mutex_lock(&log_mtx);
	if (access_fp != NULL && access_fp != stdout)
		fclose(access_fp);
	__atomic_store_n(&access_fp, fp, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&log_mtx);
	return (fp == NULL && path != NULL && strcmp(path, "off") != 0 ?
	    -1 : 0);
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

/* Writes bytes to the access log, if one is open. */
static void
access_log_put(const char *buf, size_t len, int newline)
{
	pthread_mutex_lock(&log_mtx);
	if (access_fp != NULL) {
		fwrite(buf, 1, len, access_fp);
		if (newline)
			fputc('\n', access_fp);
		fflush(access_fp);
	}
	pthread_mutex_unlock(&log_mtx);
}

int
access_log_write(const char *line, size_t len)
{
	size_t	cap = __atomic_load_n(&access_cap, __ATOMIC_RELAXED);
	int	first;

	if (cap != access_buf_cap) {
		/* access_log_buffer changed (a reload). */
		access_log_thread_end();
		access_buf_cap = cap;
	}
	if (access_buf == NULL && cap > 0)
		access_buf = malloc(cap);
	if (access_buf == NULL || len + 1 > cap) {
		access_log_flush();
		access_log_put(line, len, 1);
		return (0);
	}
	if (access_len + len + 1 > cap)
		access_log_flush();
	first = access_len == 0;
	memcpy(access_buf + access_len, line, len);
	access_buf[access_len + len] = '\n';
	access_len += len + 1;
	return (first);
}

void
access_log_flush(void)
{
	if (access_len == 0)
		return;
	access_log_put(access_buf, access_len, 0);
	access_len = 0;
}

void
access_log_thread_end(void)
{
	access_log_flush();
	free(access_buf);
	access_buf = NULL;
	access_buf_cap = 0;
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
