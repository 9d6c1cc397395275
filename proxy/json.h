/*
 * JSON strings.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

struct evbuffer;

/* The longest a character of a JSON string takes escaped: \u00XX. */
#define JSON_CHAR_MAX	6
/*
 * Writes the character at s (not NUL) as a JSON string holds it to out,
 * escaped if need be; returns its length and sets *used to the bytes of
 * s it took (a whole UTF-8 sequence, or 1).
 */
size_t	json_char(const char *, char [JSON_CHAR_MAX], size_t *);
/* Appends s as a JSON string, escaped; null for NULL. */
void	json_str(struct evbuffer *, const char *);

#endif
