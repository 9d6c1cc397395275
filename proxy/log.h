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

/*
 * Opens the access log: path, "-" for stdout; NULL or "off" closes it.
 * Every thread's buffered lines go to the file open before.  -1 when
 * path cannot be opened: then the open one stays.
 */
int	 access_log_open(const char *, int json);
/* Returns nonzero when an access log is open. */
int	 access_log_enabled(void);
/* Sets access_log_buffer: bytes of each thread's buffer, 0 for none. */
void	 access_log_buffer(size_t);
/*
 * Writes one access log line (already formatted, without newline)
 * through the calling thread's buffer; returns 1 when the line went into
 * an empty buffer: the caller then has access_log_flush() run soon.
 */
int	 access_log_write(const char *, size_t);
/* Writes what the calling thread's buffer holds. */
void	 access_log_flush(void);
/* The same, and frees the buffer: before the thread ends. */
void	 access_log_thread_end(void);
/* Closes the access and error logs. */
void	 log_close(void);

#endif
