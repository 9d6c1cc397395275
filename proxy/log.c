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

	log_level = level;
	if (path == NULL || strcmp(path, "stderr") == 0) {
		if (log_fp != NULL && log_fp != stderr)
			fclose(log_fp);
		log_fp = stderr;
		free(log_path);
		log_path = NULL;
		return (0);
	}
	if ((fp = fopen(path, "a")) == NULL)
		return (-1);
	setvbuf(fp, NULL, _IOLBF, 0);
	if (log_fp != NULL && log_fp != stderr)
		fclose(log_fp);
	log_fp = fp;
	if (log_path != path) {
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
	return (level <= log_level);
}

/* Writes one line: timestamp, level, message. */
static void
log_vwrite(const char *tag, const char *fmt, va_list ap)
{
	struct timeval	 tv;
	struct tm	 tm;
	char		 ts[32];
	FILE		*fp = log_fp != NULL ? log_fp : stderr;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_mtx);
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
	if (access_fp != NULL && access_fp != stdout)
		fclose(access_fp);
	access_fp = NULL;
	if (path == NULL || strcmp(path, "off") == 0)
		return (0);
	if (strcmp(path, "-") == 0)
		fp = stdout;
	else if ((fp = fopen(path, "a")) == NULL)
		return (-1);
	access_fp = fp;
	return (0);
}

int
access_log_enabled(void)
{
	return (access_fp != NULL);
}

void
access_log_write(const char *line, size_t len)
{
	if (access_fp == NULL)
		return;
	pthread_mutex_lock(&log_mtx);
	fwrite(line, 1, len, access_fp);
	fputc('\n', access_fp);
	fflush(access_fp);
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
