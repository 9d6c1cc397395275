/*
 * JSON strings, as the admin socket, the status endpoint and the rollout
 * controller write them.
 */
#include <stddef.h>

#include <event2/buffer.h>

#include "json.h"

/*
 * Returns the length of the well-formed UTF-8 sequence at s (RFC 3629:
 * no overlong form, no surrogate, nothing above U+10FFFF), 0 when s does
 * not start one.
 */
size_t
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
void
json_str(struct evbuffer *b, const char *s)
{
	unsigned char	ch;
	size_t		n;

	if (s == NULL) {
		evbuffer_add(b, "null", 4);
		return;
	}
	evbuffer_add(b, "\"", 1);
	for (; *s != '\0'; s += n) {
		ch = (unsigned char)*s;
		n = 1;
		if (ch == '"' || ch == '\\')
			evbuffer_add_printf(b, "\\%c", ch);
		else if (ch == '\n')
			evbuffer_add(b, "\\n", 2);
		else if (ch == '\t')
			evbuffer_add(b, "\\t", 2);
		else if (ch < 0x20 || ch == 0x7f)
			evbuffer_add_printf(b, "\\u%04x", ch);
		else if (ch < 0x80 || (n = json_utf8_len(s)) > 0)
			evbuffer_add(b, s, n);
		else {
			n = 1;
			evbuffer_add_printf(b, "\\u%04x", ch);
		}
	}
	evbuffer_add(b, "\"", 1);
}
