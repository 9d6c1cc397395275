/*
 * JSON strings.
 */
#ifndef JSON_H
#define JSON_H

struct evbuffer;

/* Appends s as a JSON string, escaped; null for NULL. */
void	json_str(struct evbuffer *, const char *);

#endif
