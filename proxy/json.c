/*
 * JSON strings, as the admin socket, the status endpoint and the rollout
 * controller write them.
 */
#include <stddef.h>
#include <string.h>

#include <event2/buffer.h>

#include "json.h"

/*
 * Returns the length of the well-formed UTF-8 sequence at s (RFC 3629:
 * no overlong form, no surrogate, nothing above U+10FFFF), 0 when s does
 * not start one.
 */
static size_t
json_utf8_len(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned		 c;
	size_t			 n, i;

	if (*p < 0x80)
		return (1);
	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2, c = *p & 0x1f;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3, c = *p & 0x0f;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4, c = *p & 0x07;
	else
		return (0);
	/* A NUL ends the loop too: it is no continuation byte. */
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (c >= 0xd800 && c <= 0xdfff) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return (0);
	return (n);
}

/*
 * UTF-8 goes out as it is, and a byte that is not part of well-formed
 * UTF-8 as \u00XX: JSON text must be UTF-8, and a strict parser refuses a
 * whole document over one such byte, while "caf\u00c3\u00a9" would read
 * as "cafÃ©".  Config strings and reasons may hold any byte.
 */
size_t
json_char(const char *s, char out[JSON_CHAR_MAX], size_t *used)
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		ch = (unsigned char)*s;
	size_t			n;

	*used = 1;
	out[0] = '\\';
	if (ch == '"' || ch == '\\') {
		out[1] = ch;
		return (2);
	}
	if (ch == '\n' || ch == '\t') {
		out[1] = ch == '\n' ? 'n' : 't';
		return (2);
	}
	if (ch >= 0x20 && ch != 0x7f &&
	    (ch < 0x80 || (n = json_utf8_len(s)) > 0)) {
		*used = ch < 0x80 ? 1 : n;
		memcpy(out, s, *used);
		return (*used);
	}
	memcpy(out + 1, "u00", 3);
	out[4] = hex[ch >> 4];
	out[5] = hex[ch & 15];
	return (6);
}

void
json_str(struct evbuffer *b, const char *s)
{
	char	e[JSON_CHAR_MAX];
	size_t	n;

	if (s == NULL) {
		evbuffer_add(b, "null", 4);
		return;
	}
	evbuffer_add(b, "\"", 1);
	for (; *s != '\0'; s += n)
		evbuffer_add(b, e, json_char(s, e, &n));
	evbuffer_add(b, "\"", 1);
}
