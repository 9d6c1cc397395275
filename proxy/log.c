/*
 * The error log and the access log.  Lines of the error log carry a
 * timestamp and a level; the access log gets whole lines formatted by
 * the session.  Both are plain stdio streams written line-buffered so a
 * line is never split between two writes of different threads.
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
access_log_write(const char *line, size_t len)
{
	pthread_mutex_lock(&log_mtx);
	if (access_fp != NULL) {
		fwrite(line, 1, len, access_fp);
		fputc('\n', access_fp);
		fflush(access_fp);
	}
	pthread_mutex_unlock(&log_mtx);
}

void
log_close(void)
{
	access_log_open(NULL, 0);
	if (log_fp != NULL && log_fp != stderr)
		fclose(log_fp);
	log_fp = NULL;
	free(log_path);
	log_path = NULL;
}
