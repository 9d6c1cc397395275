/*
 * Allocators that abort when memory runs out, so callers never check.
 */
#ifndef XMALLOC_H
#define XMALLOC_H

#include <stddef.h>

/* Allocates size bytes or aborts. */
void	*xmalloc(size_t);
/* Allocates zeroed nmemb * size bytes or aborts. */
void	*xcalloc(size_t, size_t);
/* Resizes to nmemb * size bytes, checking overflow, or aborts. */
void	*xreallocarray(void *, size_t, size_t);
/* Duplicates a string or aborts. */
char	*xstrdup(const char *);
/* Duplicates at most n bytes of a string or aborts. */
char	*xstrndup(const char *, size_t);
/* Formats into a new string or aborts. */
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
