/*
 * JSON strings.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

struct evbuffer;

/*
 * Returns the length of the well-formed UTF-8 sequence at s, 0 when s
 * does not start one.
 */
size_t	json_utf8_len(const char *);
/* Appends s as a JSON string, escaped; null for NULL. */
void	json_str(struct evbuffer *, const char *);

#endif
