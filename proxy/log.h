/*
 * The error log (levels, to stderr or a file) and the access log.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/* Parses "debug", "info", "warn" or "error"; -1 when unknown. */
int	 log_level_parse(const char *);
/* Opens the error log: path, or NULL/"stderr" for stderr; -1 on error. */
int	 log_open(const char *, enum log_level);
/* Reopens the error log file (after rotation). */
void	 log_reopen(void);
/* Returns nonzero when messages of that level are written. */
int	 log_enabled(enum log_level);

void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Reports a broken invariant the proxy survives; tests fail on it. */
void	 log_alert(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Logs and exits 1: only at startup or for unsurvivable invariants. */
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Opens the access log: path, "-" for stdout; NULL or "off" closes it. */
int	 access_log_open(const char *, int json);
/* Returns nonzero when an access log is open. */
int	 access_log_enabled(void);
/* Writes one access log line (already formatted, without newline). */
void	 access_log_write(const char *, size_t);
/* Closes the access and error logs. */
void	 log_close(void);

#endif
