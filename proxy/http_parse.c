/*
 * The strict HTTP/1.x parser.  http_parse_head() walks a request or
 * response head once, keeping its state in struct http_msg so that it can
 * stop wherever the bytes that have arrived end and resume there on the
 * next call.  Character classes come from one lookup table, and the hot
 * states (target, header name, header value) run tight loops over it.
 * Each header is classified as soon as its line ends: Host, Content-Length,
 * Transfer-Encoding and Connection are checked there, and the framing
 * rules that need the whole head (RFC 9112 section 6.3) are applied at the
 * empty line.  http_chunked_parse() does the same for chunked framing: it
 * checks chunk sizes, extensions and trailer fields and leaves the data
 * bytes to the caller.  Nothing is allocated, and whatever the grammar does
 * not allow is refused, never repaired: a proxy that guesses where a
 * message ends is a proxy that can be smuggled through.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http_parse.h"

/* Character classes, from http_class[]. */
#define HTTP_C_TCHAR	0x01	/* token, RFC 9110 section 5.6.2 */
#define HTTP_C_FIELD	0x02	/* field-vchar: VCHAR or obs-text */
#define HTTP_C_VCHAR	0x04	/* VCHAR: request-target */
#define HTTP_C_PATH	0x08	/* pchar, "/", "?": path and query */

#define HTTP_IS_TCHAR(c)	(http_class[(unsigned char)(c)] & HTTP_C_TCHAR)
#define HTTP_IS_FIELD(c)	(http_class[(unsigned char)(c)] & HTTP_C_FIELD)
#define HTTP_IS_VCHAR(c)	(http_class[(unsigned char)(c)] & HTTP_C_VCHAR)
#define HTTP_IS_PATH(c)		(http_class[(unsigned char)(c)] & HTTP_C_PATH)
#define HTTP_IS_WS(c)		((c) == ' ' || (c) == '\t')
#define HTTP_IS_DIGIT(c)	((c) >= '0' && (c) <= '9')
#define HTTP_IS_ALPHA(c)	(((c) >= 'a' && (c) <= 'z') || \
			    ((c) >= 'A' && (c) <= 'Z'))

#define HTTP_EMPTY_LINES_MAX	4	/* CRLFs skipped before a request */
#define HTTP_CHUNK_LINE_MAX	4096	/* a chunk-size or trailer line */
#define HTTP_CHUNK_DIGITS_MAX	16	/* 64 bits of hex */
#define HTTP_TRAILERS_MAX	HTTP_MAX_HEADERS
#define HTTP_LENGTH_MAX		((uint64_t)INT64_MAX)	/* fits off_t */

enum http_head_state {
	HEAD_START,		/* request: empty lines, then the method */
	HEAD_START_LF,
	HEAD_METHOD,
	HEAD_TARGET,
	HEAD_VERSION,		/* "HTTP/1.x", mark at its start */
	HEAD_STATUS,		/* 3DIGIT, mark at its start */
	HEAD_REASON,
	HEAD_LINE_LF,		/* end of the start line */
	HEAD_FIELD_START,
	HEAD_FIELD_NAME,
	HEAD_FIELD_OWS,
	HEAD_FIELD_VALUE,
	HEAD_FIELD_LF,
	HEAD_END_LF,		/* the empty line */
	HEAD_DONE,
	HEAD_ERROR
};

enum http_chunk_state {
	CHUNK_SIZE,
	CHUNK_SIZE_WS,		/* BWS after the size: a ';' must follow */
	CHUNK_EXT_NAME_START,
	CHUNK_EXT_NAME,
	CHUNK_EXT_NAME_WS,
	CHUNK_EXT_VALUE_START,
	CHUNK_EXT_TOKEN,
	CHUNK_EXT_QUOTED,
	CHUNK_EXT_QPAIR,
	CHUNK_EXT_VALUE_END,
	CHUNK_EXT_WS,		/* BWS after a value: a ';' must follow */
	CHUNK_SIZE_LF,
	CHUNK_DATA,
	CHUNK_DATA_CR,
	CHUNK_DATA_LF,
	CHUNK_TRAILER_START,
	CHUNK_TRAILER_NAME,
	CHUNK_TRAILER_VALUE,
	CHUNK_TRAILER_LF,
	CHUNK_END_LF,
	CHUNK_DONE,
	CHUNK_ERROR
};

/* What a header means to the parser beyond its flags. */
enum http_field_kind {
	FIELD_OTHER,
	FIELD_HOST,
	FIELD_CL,
	FIELD_TE,
	FIELD_CONNECTION,
	FIELD_UPGRADE,
	FIELD_EXPECT
};

#define HTTP_NAME(s)	(s), sizeof (s) - 1

static const struct http_field {
	const char		*name;		/* lower case */
	size_t			 len;
	uint32_t		 flags;
	enum http_field_kind	 kind;
} http_fields[] = {
	{ HTTP_NAME("host"), HTTP_HDR_HOST, FIELD_HOST },
	{ HTTP_NAME("content-length"), HTTP_HDR_CL, FIELD_CL },
	{ HTTP_NAME("transfer-encoding"), HTTP_HDR_TE|HTTP_HDR_HOP, FIELD_TE },
	{ HTTP_NAME("connection"), HTTP_HDR_HOP, FIELD_CONNECTION },
	{ HTTP_NAME("keep-alive"), HTTP_HDR_HOP, FIELD_OTHER },
	{ HTTP_NAME("proxy-connection"), HTTP_HDR_HOP, FIELD_OTHER },
	{ HTTP_NAME("te"), HTTP_HDR_HOP, FIELD_OTHER },
	{ HTTP_NAME("trailer"), HTTP_HDR_HOP, FIELD_OTHER },
	{ HTTP_NAME("upgrade"), HTTP_HDR_HOP, FIELD_UPGRADE },
	{ HTTP_NAME("cookie"), HTTP_HDR_COOKIE, FIELD_OTHER },
	{ HTTP_NAME("x-forwarded-for"), HTTP_HDR_XFF, FIELD_OTHER },
	{ HTTP_NAME("x-forwarded-proto"), HTTP_HDR_XFWD, FIELD_OTHER },
	{ HTTP_NAME("x-real-ip"), HTTP_HDR_XFWD, FIELD_OTHER },
	{ HTTP_NAME("expect"), 0, FIELD_EXPECT }
};

static const char *http_method_names[] = {
	[HTTP_OTHER] = NULL,
	[HTTP_GET] = "GET",
	[HTTP_HEAD] = "HEAD",
	[HTTP_POST] = "POST",
	[HTTP_PUT] = "PUT",
	[HTTP_DELETE] = "DELETE",
	[HTTP_CONNECT] = "CONNECT",
	[HTTP_OPTIONS] = "OPTIONS",
	[HTTP_TRACE] = "TRACE",
	[HTTP_PATCH] = "PATCH"
};

/*
 * Bit 0x01: tchar, 0x02: field-vchar, 0x04: VCHAR, 0x08: a character a
 * target's path or query may hold as it is: RFC 3986's pchar, "/" and
 * "?", and the ones browsers send unencoded (the WHATWG URL standard's
 * "[]{}|\^`"), which servers behind nginx and HAProxy get as they are.
 * Not " # < >, which no browser sends unencoded.
 */
static const unsigned char http_class[256] = {
	 0,  0,  0,  0,  0,  0,  0,  0,	/* 00 */
	 0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,	/* 10 */
	 0,  0,  0,  0,  0,  0,  0,  0,
	 0, 15,  6,  7, 15,  7, 15, 15,	/* 20 */
	14, 14, 15, 15, 14, 15, 15, 14,
	15, 15, 15, 15, 15, 15, 15, 15,	/* 30 */
	15, 15, 14, 14,  6, 14,  6, 14,
	14, 15, 15, 15, 15, 15, 15, 15,	/* 40 */
	15, 15, 15, 15, 15, 15, 15, 15,
	15, 15, 15, 15, 15, 15, 15, 15,	/* 50 */
	15, 15, 15, 14, 14, 14, 15, 15,
	15, 15, 15, 15, 15, 15, 15, 15,	/* 60 */
	15, 15, 15, 15, 15, 15, 15, 15,
	15, 15, 15, 15, 15, 15, 15, 15,	/* 70 */
	15, 15, 15, 14, 15, 14, 15,  0,
	 2,  2,  2,  2,  2,  2,  2,  2,	/* 80 */
	 2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,	/* 90 */
	 2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,	/* a0 */
	 2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,	/* b0 */
	 2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,	/* c0 */
	 2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,	/* d0 */
	 2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,	/* e0 */
	 2,  2,  2,  2,  2,  2,  2,  2,
	 2,  2,  2,  2,  2,  2,  2,  2,	/* f0 */
	 2,  2,  2,  2,  2,  2,  2,  2
};

static int		 http_caseeq(const char *, const char *, size_t);
static int		 http_hex(int);
static size_t		 http_skip_ows(const char *, size_t, size_t);
static size_t		 http_skip_token(const char *, size_t, size_t);
static size_t		 http_skip_quoted(const char *, size_t, size_t);
static size_t		 http_skip_params(const char *, size_t, size_t);
static size_t		 http_list_sep(const char *, size_t, size_t);
static int		 http_list_token(const char *, size_t *, size_t,
			    size_t *);
static int		 http_authority_valid(const char *, size_t, int);
static enum http_parse_result http_fail(struct http_msg *, int,
			    const char *);
static const char	*http_bad_byte(int, const char *);
static enum http_method	 http_method_find(const char *, size_t);
static const char	*http_path_check(const struct http_msg *,
			    const char *, size_t);
static const char	*http_target_check(const struct http_msg *,
			    const char *);
static const char	*http_cl_parse(const char *, size_t, uint64_t *, int *);
static const char	*http_te_parse(struct http_msg *, const char *,
			    size_t);
static const char	*http_connection_parse(struct http_msg *,
			    const char *, size_t);
static const char	*http_field_check(struct http_msg *, const char *,
			    struct http_header *, enum http_field_kind);
static enum http_parse_result http_field_done(struct http_msg *,
			    const char *);
static void		 http_connection_hop(struct http_msg *,
			    const char *);
static enum http_parse_result http_head_done(struct http_msg *,
			    const char *);
static enum http_parse_result http_head_start(struct http_msg *,
			    unsigned char);
static enum http_parse_result http_head_lf(struct http_msg *, const char *,
			    unsigned char);
static enum http_parse_result http_head_method(struct http_msg *,
			    const char *, size_t);
static enum http_parse_result http_head_target(struct http_msg *,
			    const char *, size_t, const struct http_limits *);
static enum http_parse_result http_head_version(struct http_msg *,
			    unsigned char);
static enum http_parse_result http_head_status(struct http_msg *,
			    const char *, unsigned char);
static enum http_parse_result http_head_reason(struct http_msg *,
			    const char *, size_t);
static enum http_parse_result http_field_start(struct http_msg *,
			    unsigned char);
static enum http_parse_result http_field_name(struct http_msg *,
			    const char *, size_t);
static enum http_parse_result http_field_value(struct http_msg *,
			    const char *, size_t);
static enum http_parse_result http_head_step(struct http_msg *,
			    const char *, size_t, const struct http_limits *);
static enum http_parse_result http_chunk_fail(struct http_chunked *,
			    const char *);
static enum http_parse_result http_chunk_bad(struct http_chunked *,
			    unsigned char, const char *);
static enum http_parse_result http_chunk_size(struct http_chunked *,
			    unsigned char);
static enum http_parse_result http_chunk_ext(struct http_chunked *,
			    unsigned char);
static enum http_parse_result http_chunk_trailer(struct http_chunked *,
			    unsigned char);
static enum http_parse_result http_chunk_byte(struct http_chunked *,
			    unsigned char);

/* Returns nonzero when a and b hold the same n bytes, ASCII case aside. */
static int
http_caseeq(const char *a, const char *b, size_t n)
{
	unsigned char	ca, cb;

	while (n-- > 0) {
		ca = (unsigned char)*a++;
		cb = (unsigned char)*b++;
		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb)
			return (0);
	}
	return (1);
}

/* Returns the value of hex digit c, or -1. */
static int
http_hex(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Returns the index past any SP and HTAB at s[i]. */
static size_t
http_skip_ows(const char *s, size_t i, size_t len)
{
	while (i < len && HTTP_IS_WS(s[i]))
		i++;
	return (i);
}

/* Returns the index past the token at s[i], or i when there is none. */
static size_t
http_skip_token(const char *s, size_t i, size_t len)
{
	while (i < len && HTTP_IS_TCHAR(s[i]))
		i++;
	return (i);
}

/* Returns the index past the quoted-string at s[i], or i when invalid. */
static size_t
http_skip_quoted(const char *s, size_t i, size_t len)
{
	size_t		j = i + 1;
	unsigned char	c;

	if (i >= len || s[i] != '"')
		return (i);
	while (j < len) {
		c = (unsigned char)s[j];
		if (c == '"')
			return (j + 1);
		if (c == '\\') {
			/* quoted-pair, RFC 9110 section 5.6.4. */
			if (j + 1 == len || (!HTTP_IS_FIELD(s[j + 1]) &&
			    !HTTP_IS_WS(s[j + 1])))
				return (i);
			j += 2;
		} else if (HTTP_IS_FIELD(c) || HTTP_IS_WS(c))
			j++;
		else
			return (i);
	}
	return (i);
}

/*
 * Returns the index past the parameters at s[i] (*( OWS ";" OWS token BWS
 * "=" BWS ( token / quoted-string ) ), RFC 9110 section 5.6.6), or
 * SIZE_MAX when they are malformed.
 */
static size_t
http_skip_params(const char *s, size_t i, size_t len)
{
	size_t	j, k;

	for (;;) {
		j = http_skip_ows(s, i, len);
		if (j == len || s[j] != ';')
			return (i);
		j = http_skip_ows(s, j + 1, len);
		if ((k = http_skip_token(s, j, len)) == j)
			return (SIZE_MAX);
		j = http_skip_ows(s, k, len);
		if (j == len || s[j] != '=')
			return (SIZE_MAX);
		j = http_skip_ows(s, j + 1, len);
		if (j < len && s[j] == '"')
			k = http_skip_quoted(s, j, len);
		else
			k = http_skip_token(s, j, len);
		if (k == j)
			return (SIZE_MAX);
		i = k;
	}
}

/*
 * Steps over what ends a list element at s[i]: OWS, then a comma or the
 * end.  Returns the index past the comma, len at the end, SIZE_MAX when
 * something else follows the element.
 */
static size_t
http_list_sep(const char *s, size_t i, size_t len)
{
	i = http_skip_ows(s, i, len);
	if (i == len)
		return (len);
	if (s[i] != ',')
		return (SIZE_MAX);
	return (i + 1);
}

/*
 * Steps to the next element of a token list at s[*i], over OWS and the
 * empty elements RFC 9110 section 5.6.1.2 lets a list have: returns 1
 * with the token in s[*start..*i), 0 at the end, -1 when the element
 * does not start with a token.
 */
static int
http_list_token(const char *s, size_t *i, size_t len, size_t *start)
{
	while ((*i = http_skip_ows(s, *i, len)) < len && s[*i] == ',')
		(*i)++;
	if (*i == len)
		return (0);
	*start = *i;
	*i = http_skip_token(s, *i, len);
	return (*i == *start ? -1 : 1);
}

/*
 * Checks uri-host [ ":" port ] (RFC 9110 section 7.2, RFC 3986 section
 * 3.2.2): an IP literal in brackets or a reg-name, and a port that
 * need_port makes mandatory.  An empty value is a valid Host (no
 * authority) but never a valid CONNECT target.
 */
static int
http_authority_valid(const char *s, size_t len, int need_port)
{
	static const char	 regname[] = "-._~!$&'()*+,;=";
	size_t			 i = 0, port;
	unsigned char		 c;

	if (len == 0)
		return (!need_port);
	if (s[0] == '[') {
		for (i = 1; i < len && (http_hex(s[i]) != -1 || s[i] == ':' ||
		    s[i] == '.'); i++)
			;
		if (i == 1 || i == len || s[i] != ']')
			return (0);
		i++;
	} else {
		for (; i < len; i++) {
			c = (unsigned char)s[i];
			if (c == '%') {
				if (i + 2 >= len || http_hex(s[i + 1]) == -1 ||
				    http_hex(s[i + 2]) == -1)
					return (0);
				i += 2;
			} else if (!HTTP_IS_ALPHA(c) && !HTTP_IS_DIGIT(c) &&
			    (c == '\0' || strchr(regname, c) == NULL))
				break;
		}
		if (i == 0)
			return (0);
	}
	if (i == len)
		return (!need_port);
	if (s[i++] != ':')
		return (0);
	for (port = i; i < len && HTTP_IS_DIGIT(s[i]); i++)
		;
	return (i == len && (!need_port || i > port));
}

/* Fails msg with an HTTP status and a phrase. */
static enum http_parse_result
http_fail(struct http_msg *msg, int status, const char *error)
{
	msg->state = HEAD_ERROR;
	msg->error_status = status;
	msg->error = error;
	return (HTTP_PARSE_ERROR);
}

/* Names what is wrong with byte c where it does not belong. */
static const char *
http_bad_byte(int c, const char *otherwise)
{
	if (c == '\0')
		return ("nul byte");
	if (c == '\n')
		return ("bare lf");
	return (otherwise);
}

/* Returns the method named by s[0..len); methods are case-sensitive. */
static enum http_method
http_method_find(const char *s, size_t len)
{
	size_t		i;
	const char	*name;

	for (i = HTTP_OTHER + 1; i <= HTTP_PATCH; i++) {
		name = http_method_names[i];
		if (strlen(name) == len && memcmp(name, s, len) == 0)
			return ((enum http_method)i);
	}
	return (HTTP_OTHER);
}

/*
 * A path and query (HTTP_C_PATH).  In the path, which servers decode,
 * "%" comes only before two hex digits; the query is left to the
 * application, as nginx leaves it.  No fragment: clients keep it.
 */
static const char *
http_path_check(const struct http_msg *msg, const char *s, size_t n)
{
	size_t	i;
	int	query = 0;

	/* The scan that found the target's end saw only such bytes. */
	if ((msg->flags & HTTP_F_TARGET_MIXED) == 0)
		return (NULL);
	for (i = 0; i < n; i++) {
		if (HTTP_IS_PATH(s[i])) {
			query |= s[i] == '?';
			continue;
		}
		if (s[i] != '%')
			return (s[i] == '#' ? "fragment in target" :
			    "invalid character in target");
		if (!query && (i + 2 >= n || http_hex(s[i + 1]) == -1 ||
		    http_hex(s[i + 2]) == -1))
			return ("invalid percent-encoding in target");
	}
	return (NULL);
}

/*
 * Checks the request-target's form against the method (RFC 9112 section
 * 3.2): authority-form for CONNECT and only there, asterisk-form only for
 * OPTIONS, otherwise origin-form or absolute-form.
 */
static const char *
http_target_check(const struct http_msg *msg, const char *buf)
{
	const char	*t = buf + msg->target_off;
	size_t		 n = msg->target_len, i, auth;

	if (msg->method == HTTP_CONNECT) {
		if (!http_authority_valid(t, n, 1))
			return ("invalid connect target");
		return (NULL);
	}
	if (t[0] == '/')
		return (http_path_check(msg, t, n));
	if (n == 1 && t[0] == '*') {
		if (msg->method != HTTP_OPTIONS)
			return ("asterisk-form only for options");
		return (NULL);
	}
	/*
	 * absolute-form, of an http or https URI: "//" authority, then an
	 * absolute path and query (RFC 9110 section 4.2).
	 */
	if (n > 7 && http_caseeq(t, "http://", 7))
		i = 7;
	else if (n > 8 && http_caseeq(t, "https://", 8))
		i = 8;
	else
		return ("invalid target");
	for (auth = i; i < n && t[i] != '/' && t[i] != '?'; i++)
		;
	/* No userinfo (RFC 9110 section 4.2.4), and a host. */
	if (i == auth || !http_authority_valid(t + auth, i - auth, 0))
		return ("invalid target");
	return (http_path_check(msg, t + i, n - i));
}
/*
 * Parses a Content-Length value: 1*DIGIT, or a list of identical values,
 * which RFC 9110 section 8.6 lets a recipient take as one.  Signs, spaces
 * inside a number, empty elements and differing values are refused.
 */
static const char *
http_cl_parse(const char *s, size_t len, uint64_t *value, int *count)
{
	size_t		i = 0;
	uint64_t	v, first = 0;
	int		n = 0, d;

	for (;;) {
		if (i == len || !HTTP_IS_DIGIT(s[i]))
			return ("invalid content-length");
		for (v = 0; i < len && HTTP_IS_DIGIT(s[i]); i++) {
			d = s[i] - '0';
			if (v > (HTTP_LENGTH_MAX - (uint64_t)d) / 10)
				return ("content-length too large");
			v = v * 10 + (uint64_t)d;
		}
		if (n++ > 0 && v != first)
			return ("differing content-length values");
		first = v;
		if ((i = http_list_sep(s, i, len)) == SIZE_MAX)
			return ("invalid content-length");
		if (i == len)
			break;
		i = http_skip_ows(s, i, len);
	}
	*value = first;
	*count = n;
	return (NULL);
}

/*
 * Parses a Transfer-Encoding list into msg->flags.  chunked may be applied
 * once and must be last (RFC 9112 section 6.1); a coding after it, even in
 * a later Transfer-Encoding line, is an error.  Empty list elements are
 * skipped as RFC 9110 section 5.6.1.2 asks.
 */
static const char *
http_te_parse(struct http_msg *msg, const char *s, size_t len)
{
	size_t	i = 0, start;
	int	chunked, r;

	while ((r = http_list_token(s, &i, len, &start)) == 1) {
		chunked = i - start == 7 &&
		    http_caseeq(s + start, "chunked", 7);
		if (msg->flags & HTTP_F_CHUNKED) {
			if (chunked)
				return ("chunked applied twice");
			return ("chunked not last");
		}
		if (chunked)
			msg->flags |= HTTP_F_CHUNKED;
		else if ((i = http_skip_params(s, i, len)) == SIZE_MAX)
			return ("invalid transfer-encoding");
		else
			msg->flags |= HTTP_F_TE_OTHER;
		if ((i = http_list_sep(s, i, len)) == SIZE_MAX)
			return ("invalid transfer-encoding");
	}
	return (r == -1 ? "invalid transfer-encoding" : NULL);
}

/* Parses a Connection list, setting the HTTP_F_CONN_* flags it names. */
static const char *
http_connection_parse(struct http_msg *msg, const char *s, size_t len)
{
	size_t	i = 0, start, n;
	int	r;

	while ((r = http_list_token(s, &i, len, &start)) == 1) {
		n = i - start;
		if (n == 5 && http_caseeq(s + start, "close", 5))
			msg->flags |= HTTP_F_CONN_CLOSE;
		else if (n == 10 && http_caseeq(s + start, "keep-alive", 10))
			msg->flags |= HTTP_F_CONN_KEEPALIVE;
		else if (n == 7 && http_caseeq(s + start, "upgrade", 7))
			msg->flags |= HTTP_F_CONN_UPGRADE;
		if ((i = http_list_sep(s, i, len)) == SIZE_MAX)
			return ("invalid connection header");
	}
	return (r == -1 ? "invalid connection header" : NULL);
}

/*
 * Whether an Upgrade value (#protocol, RFC 9110 section 7.8) offers h2c,
 * with or without a version, or is no list of protocols at all: either
 * way no tunnel is made for it.
 */
static int
http_upgrade_h2c(const char *s, size_t len)
{
	size_t	i = 0, start;
	int	r;

	while ((r = http_list_token(s, &i, len, &start)) == 1) {
		if (i - start == 3 && http_caseeq(s + start, "h2c", 3))
			return (1);
		if (i < len && s[i] == '/') {
			start = ++i;
			if ((i = http_skip_token(s, i, len)) == start)
				return (1);
		}
		if ((i = http_list_sep(s, i, len)) == SIZE_MAX)
			return (1);
	}
	return (r == -1);
}

/* Applies what a header of that kind means to msg; returns an error. */
static const char *
http_field_check(struct http_msg *msg, const char *buf,
    struct http_header *h, enum http_field_kind kind)
{
	const char	*v = buf + h->value_off;
	const char	*error;
	uint64_t	 cl;
	int		 n;

	switch (kind) {
	case FIELD_OTHER:
		break;
	case FIELD_HOST:
		/* RFC 9112 section 3.2: one valid Host, in any request. */
		if (!msg->is_request)
			break;
		if (msg->host != -1)
			return ("duplicate host");
		if (!http_authority_valid(v, h->value_len, 0))
			return ("invalid host");
		msg->host = (int)msg->nheaders;
		break;
	case FIELD_CL:
		if ((error = http_cl_parse(v, h->value_len, &cl, &n)) != NULL)
			return (error);
		if ((msg->flags & HTTP_F_HAS_CL) && cl != msg->content_length)
			return ("differing content-length values");
		/* Equal values: the writer sends one (RFC 9110 8.6). */
		if (n > 1 || (msg->flags & HTTP_F_HAS_CL))
			msg->flags |= HTTP_F_CL_REPEATED;
		msg->content_length = cl;
		msg->flags |= HTTP_F_HAS_CL;
		break;
	case FIELD_TE:
		if (msg->is_request && msg->version_minor == 0)
			return ("transfer-encoding in http/1.0 request");
		msg->flags |= HTTP_F_HAS_TE;
		return (http_te_parse(msg, v, h->value_len));
	case FIELD_CONNECTION:
		return (http_connection_parse(msg, v, h->value_len));
	case FIELD_UPGRADE:
		msg->flags |= HTTP_F_UPGRADE;
		if (http_upgrade_h2c(v, h->value_len))
			msg->flags |= HTTP_F_UPGRADE_H2C;
		break;
	case FIELD_EXPECT:
		if (msg->is_request && h->value_len == 12 &&
		    http_caseeq(v, "100-continue", 12))
			msg->flags |= HTTP_F_EXPECT_CONTINUE;
		break;
	}
	return (NULL);
}

/* Classifies the header line just ended and counts it. */
static enum http_parse_result
http_field_done(struct http_msg *msg, const char *buf)
{
	struct http_header	*h = &msg->headers[msg->nheaders];
	const struct http_field	*f;
	const char		*error;
	size_t			 i;

	h->flags = 0;
	for (i = 0; i < sizeof http_fields / sizeof http_fields[0]; i++) {
		f = &http_fields[i];
		if (f->len != h->name_len ||
		    !http_caseeq(buf + h->name_off, f->name, f->len))
			continue;
		h->flags = f->flags;
		if ((error = http_field_check(msg, buf, h, f->kind)) != NULL)
			return (http_fail(msg, 400, error));
		break;
	}
	msg->nheaders++;
	return (HTTP_PARSE_AGAIN);
}

/*
 * Marks as hop-by-hop every header a Connection header names (RFC 9110
 * section 7.6.1).  Host and Content-Length are never dropped that way:
 * "Connection: content-length" would otherwise strip a request's framing
 * on its way upstream and leave its body to be read as the next request.
 */
static void
http_connection_hop(struct http_msg *msg, const char *buf)
{
	struct http_header	*c, *h;
	const char		*s;
	size_t			 i, start, n;
	unsigned		 j, k;

	for (j = 0; j < msg->nheaders; j++) {
		c = &msg->headers[j];
		if (!(c->flags & HTTP_HDR_HOP) ||
		    !http_header_is(msg, buf, c, "connection"))
			continue;
		s = buf + c->value_off;
		i = 0;
		while ((i = http_skip_ows(s, i, c->value_len)) < c->value_len) {
			start = i;
			i = http_skip_token(s, i, c->value_len);
			if ((n = i - start) == 0) {
				i++;	/* an empty element's comma */
				continue;
			}
			for (k = 0; k < msg->nheaders; k++) {
				h = &msg->headers[k];
				if (h->name_len != n ||
				    (h->flags & (HTTP_HDR_HOST|HTTP_HDR_CL)))
					continue;
				if (http_caseeq(buf + h->name_off, s + start,
				    n))
					h->flags |= HTTP_HDR_HOP;
			}
		}
	}
}

/*
 * Applies the framing rules that need the whole head (RFC 9112 section
 * 6.3).  A request with both Content-Length and Transfer-Encoding, or
 * whose final coding is not chunked, has no length both sides agree on and
 * is refused.  A response's Transfer-Encoding overrides Content-Length;
 * without a final chunked, or in HTTP/1.0, the body runs to the close.
 */
static enum http_parse_result
http_head_done(struct http_msg *msg, const char *buf)
{
	if (msg->is_request) {
		if ((msg->flags & HTTP_F_HAS_TE) &&
		    (msg->flags & HTTP_F_HAS_CL))
			return (http_fail(msg, 400,
			    "both content-length and transfer-encoding"));
		if ((msg->flags & HTTP_F_HAS_TE) &&
		    !(msg->flags & HTTP_F_CHUNKED))
			return (http_fail(msg, 400,
			    "final transfer coding not chunked"));
		/* RFC 9112 section 6.1: a coding we cannot undo. */
		if (msg->flags & HTTP_F_TE_OTHER)
			return (http_fail(msg, 501,
			    "transfer coding other than chunked"));
		if (msg->version_minor == 1 && msg->host == -1)
			return (http_fail(msg, 400, "missing host"));
	} else if (msg->flags & HTTP_F_HAS_TE) {
		/*
		 * HTTP_F_TE_OTHER: the caller refuses a body in a coding
		 * other than chunked (a response to HEAD, a 204 or a 304
		 * has none).
		 */
		/* RFC 9112 6.3: TE wins, and the connection is suspect. */
		if (msg->flags & HTTP_F_HAS_CL)
			msg->flags |= HTTP_F_CL_AND_TE;
		msg->flags &= ~(unsigned)HTTP_F_HAS_CL;
		msg->content_length = 0;
		if (msg->version_minor == 0) {
			msg->flags &= ~(unsigned)(HTTP_F_CHUNKED|
			    HTTP_F_CONN_KEEPALIVE);
			msg->flags |= HTTP_F_CONN_CLOSE;
		}
	}
	http_connection_hop(msg, buf);
	msg->state = HEAD_DONE;
	return (HTTP_PARSE_DONE);
}

/* Skips empty lines before a request line (RFC 9112 section 2.2). */
static enum http_parse_result
http_head_start(struct http_msg *msg, unsigned char c)
{
	if (c == '\r') {
		if (msg->pos >= 2 * HTTP_EMPTY_LINES_MAX)
			return (http_fail(msg, 400, "too many empty lines"));
		msg->state = HEAD_START_LF;
		msg->pos++;
		return (HTTP_PARSE_AGAIN);
	}
	if (!HTTP_IS_TCHAR(c))
		return (http_fail(msg, 400,
		    http_bad_byte(c, "invalid method")));
	msg->method_off = (uint32_t)msg->pos;
	msg->state = HEAD_METHOD;
	return (HTTP_PARSE_AGAIN);
}

/* Takes the LF that must follow every CR of the head. */
static enum http_parse_result
http_head_lf(struct http_msg *msg, const char *buf, unsigned char c)
{
	enum http_head_state	state = (enum http_head_state)msg->state;

	if (c != '\n')
		return (http_fail(msg, 400, "bare cr"));
	msg->pos++;
	if (state == HEAD_START_LF)
		msg->state = HEAD_START;
	else if (state == HEAD_LINE_LF)
		msg->state = HEAD_FIELD_START;
	else if (state == HEAD_FIELD_LF) {
		msg->state = HEAD_FIELD_START;
		return (http_field_done(msg, buf));
	} else {
		msg->head_len = msg->pos;
		return (http_head_done(msg, buf));
	}
	return (HTTP_PARSE_AGAIN);
}

/* Scans the method token up to its SP. */
static enum http_parse_result
http_head_method(struct http_msg *msg, const char *buf, size_t end)
{
	size_t	pos = msg->pos;

	while (pos < end && HTTP_IS_TCHAR(buf[pos]))
		pos++;
	msg->pos = pos;
	if (pos == end)
		return (HTTP_PARSE_AGAIN);
	if (buf[pos] != ' ')
		return (http_fail(msg, 400,
		    http_bad_byte(buf[pos], "invalid method")));
	msg->method_len = (uint32_t)(pos - msg->method_off);
	msg->method = http_method_find(buf + msg->method_off, msg->method_len);
	msg->pos++;
	msg->target_off = (uint32_t)msg->pos;
	msg->state = HEAD_TARGET;
	return (HTTP_PARSE_AGAIN);
}

/* Scans the request-target up to its SP; 414 as soon as it is too long. */
static enum http_parse_result
http_head_target(struct http_msg *msg, const char *buf, size_t end,
    const struct http_limits *limits)
{
	size_t		 pos = msg->pos, max = SIZE_MAX;
	const char	*error;

	if (limits != NULL && limits->max_uri_size != 0)
		max = limits->max_uri_size;
	/*
	 * One pass: a target of pchar, "/" and "?" alone, the common case,
	 * needs no second look at its bytes in http_target_check().
	 */
	for (; pos < end && HTTP_IS_VCHAR(buf[pos]); pos++) {
		if (pos - msg->target_off >= max) {
			msg->pos = pos;
			return (http_fail(msg, 414, "target too long"));
		}
		if (!HTTP_IS_PATH(buf[pos]))
			msg->flags |= HTTP_F_TARGET_MIXED;
	}
	msg->pos = pos;
	if (pos == end)
		return (HTTP_PARSE_AGAIN);
	if (buf[pos] == '\r')
		return (http_fail(msg, 400, "missing http version"));
	if (buf[pos] != ' ')
		return (http_fail(msg, 400,
		    http_bad_byte(buf[pos], "invalid character in target")));
	if ((msg->target_len = (uint32_t)(pos - msg->target_off)) == 0)
		return (http_fail(msg, 400, "empty target"));
	if ((error = http_target_check(msg, buf)) != NULL)
		return (http_fail(msg, 400, error));
	msg->pos++;
	msg->mark = msg->pos;
	msg->state = HEAD_VERSION;
	return (HTTP_PARSE_AGAIN);
}

/*
 * Takes one byte of the version, "HTTP/" DIGIT "." DIGIT (RFC 9112
 * section 2.3: case sensitive), ended by CR in a request line and SP in a
 * status line.  Within major version 1, a higher minor version is taken
 * as 1.1, the highest we speak, as section 2.3 says to; another major
 * version is refused with 505 (RFC 9110 section 15.6.6).  The digits are
 * kept in version_minor as major * 10 + minor until the version ends.
 */
static enum http_parse_result
http_head_version(struct http_msg *msg, unsigned char c)
{
	static const char	 prefix[] = "HTTP/";
	size_t			 i = msg->pos - msg->mark;
	int			 v = msg->version_minor;

	if (i < sizeof prefix - 1) {
		if (c != (unsigned char)prefix[i])
			return (http_fail(msg, 400, "invalid http version"));
	} else if (i == sizeof prefix - 1 || i == sizeof prefix + 1) {
		if (!HTTP_IS_DIGIT(c))
			return (http_fail(msg, 400, "invalid http version"));
		msg->version_minor = v * 10 + (c - '0');
	} else if (i == sizeof prefix) {
		if (c != '.')
			return (http_fail(msg, 400, "invalid http version"));
	} else if (i == sizeof prefix + 2 && ((msg->is_request && c == '\r') ||
	    (!msg->is_request && c == ' '))) {
		if (v / 10 != 1)
			return (http_fail(msg, 505,
			    "unsupported http version"));
		msg->version_minor = v % 10 > 0;
		if (msg->is_request)
			msg->state = HEAD_LINE_LF;
		else {
			msg->mark = msg->pos + 1;
			msg->state = HEAD_STATUS;
		}
	} else
		return (http_fail(msg, 400,
		    http_bad_byte(c, "invalid http version")));
	msg->pos++;
	return (HTTP_PARSE_AGAIN);
}

/*
 * Takes one byte of the status code and what follows it: SP and a reason,
 * or, leniently, CR at once, as many servers send no SP after the code.
 */
static enum http_parse_result
http_head_status(struct http_msg *msg, const char *buf, unsigned char c)
{
	const char	*s = buf + msg->mark;
	size_t		 i = msg->pos - msg->mark;

	if (i < 3) {
		if (!HTTP_IS_DIGIT(c))
			return (http_fail(msg, 400, "invalid status code"));
		msg->pos++;
		return (HTTP_PARSE_AGAIN);
	}
	msg->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (msg->status < 100 || msg->status > 599)
		return (http_fail(msg, 400, "invalid status code"));
	if (c == ' ') {
		msg->reason_off = (uint32_t)msg->pos + 1;
		msg->state = HEAD_REASON;
	} else if (c == '\r') {
		msg->reason_off = (uint32_t)msg->pos;
		msg->reason_len = 0;
		msg->state = HEAD_LINE_LF;
	} else
		return (http_fail(msg, 400, "invalid status code"));
	msg->pos++;
	return (HTTP_PARSE_AGAIN);
}

/* Scans the reason-phrase: HTAB, SP, VCHAR and obs-text up to CR. */
static enum http_parse_result
http_head_reason(struct http_msg *msg, const char *buf, size_t end)
{
	size_t	pos = msg->pos;

	while (pos < end && (HTTP_IS_FIELD(buf[pos]) || HTTP_IS_WS(buf[pos])))
		pos++;
	msg->pos = pos;
	if (pos == end)
		return (HTTP_PARSE_AGAIN);
	if (buf[pos] != '\r')
		return (http_fail(msg, 400,
		    http_bad_byte(buf[pos], "invalid reason phrase")));
	msg->reason_len = (uint32_t)(pos - msg->reason_off);
	msg->pos++;
	msg->state = HEAD_LINE_LF;
	return (HTTP_PARSE_AGAIN);
}

/*
 * Starts a header line, or the empty line ending the head.  A line that
 * starts with whitespace is obsolete line folding, which RFC 9112 section
 * 5.2 lets a proxy refuse; so it does.
 */
static enum http_parse_result
http_field_start(struct http_msg *msg, unsigned char c)
{
	struct http_header	*h;

	if (c == '\r') {
		msg->pos++;
		msg->state = HEAD_END_LF;
		return (HTTP_PARSE_AGAIN);
	}
	if (HTTP_IS_WS(c))
		return (http_fail(msg, 400, "obsolete line folding"));
	if (c == ':')
		return (http_fail(msg, 400, "empty header name"));
	if (!HTTP_IS_TCHAR(c))
		return (http_fail(msg, 400,
		    http_bad_byte(c, "invalid header name")));
	if (msg->nheaders == HTTP_MAX_HEADERS)
		return (http_fail(msg, 431, "too many headers"));
	h = &msg->headers[msg->nheaders];
	memset(h, 0, sizeof *h);
	h->name_off = (uint32_t)msg->pos;
	msg->state = HEAD_FIELD_NAME;
	return (HTTP_PARSE_AGAIN);
}

/* Scans a header name up to its colon. */
static enum http_parse_result
http_field_name(struct http_msg *msg, const char *buf, size_t end)
{
	struct http_header	*h = &msg->headers[msg->nheaders];
	size_t			 pos = msg->pos;

	while (pos < end && HTTP_IS_TCHAR(buf[pos]))
		pos++;
	msg->pos = pos;
	if (pos == end)
		return (HTTP_PARSE_AGAIN);
	if (buf[pos] != ':') {
		if (HTTP_IS_WS(buf[pos]))
			return (http_fail(msg, 400, "whitespace before colon"));
		return (http_fail(msg, 400,
		    http_bad_byte(buf[pos], "invalid header name")));
	}
	h->name_len = (uint32_t)(pos - h->name_off);
	msg->pos++;
	msg->state = HEAD_FIELD_OWS;
	return (HTTP_PARSE_AGAIN);
}

/*
 * Scans OWS and a field value up to CR (RFC 9110 section 5.5), keeping
 * value_off and value_len on the value without its surrounding OWS.
 */
static enum http_parse_result
http_field_value(struct http_msg *msg, const char *buf, size_t end)
{
	struct http_header	*h = &msg->headers[msg->nheaders];
	size_t			 pos = msg->pos, vend;
	unsigned char		 c;

	if (msg->state == HEAD_FIELD_OWS) {
		pos = http_skip_ows(buf, pos, end);
		h->value_off = (uint32_t)pos;
		h->value_len = 0;
		if ((msg->pos = pos) == end)
			return (HTTP_PARSE_AGAIN);
		msg->state = HEAD_FIELD_VALUE;
	}
	vend = h->value_off + h->value_len;
	for (; pos < end; pos++) {
		c = (unsigned char)buf[pos];
		if (HTTP_IS_FIELD(c))
			vend = pos + 1;
		else if (!HTTP_IS_WS(c))
			break;
	}
	h->value_len = (uint32_t)(vend - h->value_off);
	msg->pos = pos;
	if (pos == end)
		return (HTTP_PARSE_AGAIN);
	if (buf[pos] != '\r')
		return (http_fail(msg, 400, http_bad_byte(buf[pos],
		    "invalid character in header value")));
	msg->pos++;
	msg->state = HEAD_FIELD_LF;
	return (HTTP_PARSE_AGAIN);
}

/* Runs the state that msg->pos is in over buf[msg->pos..end). */
static enum http_parse_result
http_head_step(struct http_msg *msg, const char *buf, size_t end,
    const struct http_limits *limits)
{
	enum http_head_state	state = (enum http_head_state)msg->state;
	unsigned char		c = (unsigned char)buf[msg->pos];

	switch (state) {
	case HEAD_START:
		return (http_head_start(msg, c));
	case HEAD_START_LF:
	case HEAD_LINE_LF:
	case HEAD_FIELD_LF:
	case HEAD_END_LF:
		return (http_head_lf(msg, buf, c));
	case HEAD_METHOD:
		return (http_head_method(msg, buf, end));
	case HEAD_TARGET:
		return (http_head_target(msg, buf, end, limits));
	case HEAD_VERSION:
		return (http_head_version(msg, c));
	case HEAD_STATUS:
		return (http_head_status(msg, buf, c));
	case HEAD_REASON:
		return (http_head_reason(msg, buf, end));
	case HEAD_FIELD_START:
		return (http_field_start(msg, c));
	case HEAD_FIELD_NAME:
		return (http_field_name(msg, buf, end));
	case HEAD_FIELD_OWS:
	case HEAD_FIELD_VALUE:
		return (http_field_value(msg, buf, end));
	case HEAD_DONE:
	case HEAD_ERROR:
		break;
	}
	return (http_fail(msg, 400, "parser misuse"));
}

/* Prepares msg for a new head; a response starts right at "HTTP/". */
void
http_msg_init(struct http_msg *msg, int is_request)
{
	/* Header slots are cleared as they are taken, not here: 2 KiB. */
	memset(msg, 0, offsetof(struct http_msg, headers));
	memset(&msg->nheaders, 0, sizeof *msg -
	    offsetof(struct http_msg, nheaders));
	msg->is_request = is_request;
	msg->method = HTTP_OTHER;
	msg->host = -1;
	msg->state = is_request ? HEAD_START : HEAD_VERSION;
}

/*
 * Parses as much of the head as has arrived.  Offsets are kept in 32
 * bits, so a head never grows past 4 GB even when max_header_size is 0
 * (no limit).
 */
enum http_parse_result
http_parse_head(struct http_msg *msg, const char *buf, size_t len,
    const struct http_limits *limits)
{
	enum http_parse_result	r;
	size_t			max = UINT32_MAX, end;

	if (msg->state == HEAD_DONE)
		return (HTTP_PARSE_DONE);
	if (msg->state == HEAD_ERROR)
		return (HTTP_PARSE_ERROR);
	if (limits != NULL && limits->max_header_size != 0 &&
	    limits->max_header_size < max)
		max = limits->max_header_size;
	end = len < max ? len : max;
	while (msg->pos < end) {
		if ((r = http_head_step(msg, buf, end, limits)) !=
		    HTTP_PARSE_AGAIN)
			return (r);
	}
	if (msg->pos >= max)
		return (http_fail(msg, 431, "head too large"));
	return (HTTP_PARSE_AGAIN);
}

/* Compares header h's name with name, ASCII case aside. */
int
http_header_is(const struct http_msg *msg, const char *buf,
    const struct http_header *h, const char *name)
{
	size_t	n = strlen(name);

	(void)msg;
	return (h->name_len == n && http_caseeq(buf + h->name_off, name, n));
}

/* Returns the first header called name, or NULL. */
const struct http_header *
http_header_find(const struct http_msg *msg, const char *buf,
    const char *name)
{
	unsigned	i;

	for (i = 0; i < msg->nheaders; i++) {
		if (http_header_is(msg, buf, &msg->headers[i], name))
			return (&msg->headers[i]);
	}
	return (NULL);
}

/* Returns a known method's name, or NULL. */
const char *
http_method_name(enum http_method m)
{
	if ((unsigned)m >= sizeof http_method_names / sizeof
	    http_method_names[0])
		return (NULL);
	return (http_method_names[m]);
}

/* Prepares c for the first chunk-size line. */
void
http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof *c);
	c->state = CHUNK_SIZE;
}

/* Fails c with a phrase. */
static enum http_parse_result
http_chunk_fail(struct http_chunked *c, const char *error)
{
	c->state = CHUNK_ERROR;
	c->error = error;
	return (HTTP_PARSE_ERROR);
}

/* Fails c on byte ch, naming a NUL or a bare LF as such. */
static enum http_parse_result
http_chunk_bad(struct http_chunked *c, unsigned char ch, const char *error)
{
	return (http_chunk_fail(c, http_bad_byte(ch, error)));
}

/*
 * Takes a byte of chunk-size: 1*HEXDIG, at most 16 digits and at most
 * INT64_MAX, then a chunk-ext or CR.  Whitespace after the size is BWS and
 * allowed only before a ';' (RFC 9112 section 7.1.1).
 */
static enum http_parse_result
http_chunk_size(struct http_chunked *c, unsigned char ch)
{
	int	d;

	if (c->state == CHUNK_SIZE && (d = http_hex(ch)) != -1) {
		if (++c->ndigits > HTTP_CHUNK_DIGITS_MAX ||
		    c->size > (HTTP_LENGTH_MAX - (uint64_t)d) / 16)
			return (http_chunk_fail(c, "bad chunk size"));
		c->size = c->size * 16 + (uint64_t)d;
		return (HTTP_PARSE_AGAIN);
	}
	if (c->ndigits == 0)
		return (http_chunk_bad(c, ch, "bad chunk size"));
	if (ch == ';')
		c->state = CHUNK_EXT_NAME_START;
	else if (HTTP_IS_WS(ch))
		c->state = CHUNK_SIZE_WS;
	else if (ch == '\r' && c->state == CHUNK_SIZE)
		c->state = CHUNK_SIZE_LF;
	else
		return (http_chunk_bad(c, ch, "bad chunk size"));
	return (HTTP_PARSE_AGAIN);
}

/*
 * Takes a byte of the chunk extensions, which are checked and dropped:
 * *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ).
 * BWS may follow a name or a value only when more follows on the line.
 */
static enum http_parse_result
http_chunk_ext(struct http_chunked *c, unsigned char ch)
{
	enum http_chunk_state	state = (enum http_chunk_state)c->state;
	enum http_chunk_state	next = CHUNK_ERROR;
	int			ws = HTTP_IS_WS(ch), tchar = HTTP_IS_TCHAR(ch);
	int			in_name;

	in_name = state == CHUNK_EXT_NAME || state == CHUNK_EXT_NAME_WS;
	if (state == CHUNK_EXT_NAME_START) {
		if (ws)
			next = state;
		else if (tchar)
			next = CHUNK_EXT_NAME;
	} else if (state == CHUNK_EXT_VALUE_START) {
		if (ws)
			next = state;
		else if (tchar)
			next = CHUNK_EXT_TOKEN;
		else if (ch == '"')
			next = CHUNK_EXT_QUOTED;
	} else if (state == CHUNK_EXT_QUOTED) {
		if (ch == '"')
			next = CHUNK_EXT_VALUE_END;
		else if (ch == '\\')
			next = CHUNK_EXT_QPAIR;
		else if (HTTP_IS_FIELD(ch) || ws)
			next = state;
	} else if (state == CHUNK_EXT_QPAIR) {
		if (HTTP_IS_FIELD(ch) || ws)
			next = CHUNK_EXT_QUOTED;
	} else if (tchar &&
	    (state == CHUNK_EXT_NAME || state == CHUNK_EXT_TOKEN))
		next = state;
	else if (ch == ';')
		next = CHUNK_EXT_NAME_START;
	else if (ws)
		next = in_name ? CHUNK_EXT_NAME_WS : CHUNK_EXT_WS;
	else if (ch == '=' && in_name)
		next = CHUNK_EXT_VALUE_START;
	else if (ch == '\r' && state != CHUNK_EXT_NAME_WS &&
	    state != CHUNK_EXT_WS)
		next = CHUNK_SIZE_LF;
	if (next == CHUNK_ERROR)
		return (http_chunk_bad(c, ch, "bad chunk extension"));
	c->state = (int)next;
	return (HTTP_PARSE_AGAIN);
}

/* Takes a byte of the trailer section, checked like header fields. */
static enum http_parse_result
http_chunk_trailer(struct http_chunked *c, unsigned char ch)
{
	enum http_chunk_state	state = (enum http_chunk_state)c->state;

	if (state == CHUNK_TRAILER_START) {
		if (ch == '\r') {
			c->state = CHUNK_END_LF;
			return (HTTP_PARSE_AGAIN);
		}
		if (HTTP_IS_WS(ch))
			return (http_chunk_fail(c,
			    "obsolete line folding"));
		if (!HTTP_IS_TCHAR(ch))
			return (http_chunk_bad(c, ch, "bad trailer field"));
		/* ndigits counts the trailer fields once the size is 0. */
		if (++c->ndigits > HTTP_TRAILERS_MAX)
			return (http_chunk_fail(c, "too many trailers"));
		c->state = CHUNK_TRAILER_NAME;
	} else if (state == CHUNK_TRAILER_NAME) {
		if (ch == ':')
			c->state = CHUNK_TRAILER_VALUE;
		else if (HTTP_IS_WS(ch))
			return (http_chunk_fail(c,
			    "whitespace before colon"));
		else if (!HTTP_IS_TCHAR(ch))
			return (http_chunk_bad(c, ch, "bad trailer field"));
	} else {
		if (ch == '\r')
			c->state = CHUNK_TRAILER_LF;
		else if (!HTTP_IS_FIELD(ch) && !HTTP_IS_WS(ch))
			return (http_chunk_bad(c, ch, "bad trailer field"));
	}
	return (HTTP_PARSE_AGAIN);
}

/* Takes one framing byte. */
static enum http_parse_result
http_chunk_byte(struct http_chunked *c, unsigned char ch)
{
	enum http_chunk_state	state = (enum http_chunk_state)c->state;

	switch (state) {
	case CHUNK_SIZE:
	case CHUNK_SIZE_WS:
		return (http_chunk_size(c, ch));
	case CHUNK_EXT_NAME_START:
	case CHUNK_EXT_NAME:
	case CHUNK_EXT_NAME_WS:
	case CHUNK_EXT_VALUE_START:
	case CHUNK_EXT_TOKEN:
	case CHUNK_EXT_QUOTED:
	case CHUNK_EXT_QPAIR:
	case CHUNK_EXT_VALUE_END:
	case CHUNK_EXT_WS:
		return (http_chunk_ext(c, ch));
	case CHUNK_SIZE_LF:
		if (ch != '\n')
			return (http_chunk_fail(c, "bare cr"));
		c->linelen = 0;
		/* Only now is the size known: callers move data by it. */
		c->remaining = c->size;
		c->size = 0;
		c->state = c->remaining == 0 ? CHUNK_TRAILER_START : CHUNK_DATA;
		c->ndigits = 0;
		return (HTTP_PARSE_AGAIN);
	case CHUNK_DATA:	/* here only once the data is all passed */
	case CHUNK_DATA_CR:
		if (ch != '\r')
			return (http_chunk_fail(c, "bad chunk"));
		c->state = CHUNK_DATA_LF;
		return (HTTP_PARSE_AGAIN);
	case CHUNK_DATA_LF:
		if (ch != '\n')
			return (http_chunk_fail(c, "bad chunk"));
		c->linelen = 0;
		c->state = CHUNK_SIZE;
		return (HTTP_PARSE_AGAIN);
	case CHUNK_TRAILER_LF:
	case CHUNK_END_LF:
		if (ch != '\n')
			return (http_chunk_fail(c, "bare cr"));
		c->linelen = 0;
		if (state == CHUNK_END_LF) {
			c->state = CHUNK_DONE;
			return (HTTP_PARSE_DONE);
		}
		c->state = CHUNK_TRAILER_START;
		return (HTTP_PARSE_AGAIN);
	case CHUNK_TRAILER_START:
	case CHUNK_TRAILER_NAME:
	case CHUNK_TRAILER_VALUE:
		return (http_chunk_trailer(c, ch));
	case CHUNK_DONE:
	case CHUNK_ERROR:
		break;
	}
	return (http_chunk_fail(c, "chunked parser misuse"));
}

/*
 * Runs the framing bytes of buf through c, stopping where chunk data
 * starts; the caller passes c->remaining data bytes on by itself.
 */
enum http_parse_result
http_chunked_parse(struct http_chunked *c, const char *buf, size_t len,
    size_t *used)
{
	enum http_parse_result	r;
	size_t			i;

	*used = 0;
	if (c->state == CHUNK_DONE)
		return (HTTP_PARSE_DONE);
	if (c->state == CHUNK_ERROR)
		return (HTTP_PARSE_ERROR);
	for (i = 0; i < len; i++) {
		if (c->state == CHUNK_DATA && c->remaining > 0) {
			*used = i;
			return (HTTP_PARSE_DATA);
		}
		if (++c->linelen > HTTP_CHUNK_LINE_MAX) {
			c->state = CHUNK_ERROR;
			c->error = "chunk line too long";
			*used = i;
			return (HTTP_PARSE_ERROR);
		}
		r = http_chunk_byte(c, (unsigned char)buf[i]);
		if (r != HTTP_PARSE_AGAIN) {
			*used = r == HTTP_PARSE_DONE ? i + 1 : i;
			return (r);
		}
	}
	*used = len;
	return (HTTP_PARSE_AGAIN);
}

/* Counts n data bytes of the current chunk as passed on. */
void
http_chunked_consume(struct http_chunked *c, uint64_t n)
{
	if (n > c->remaining)
		n = c->remaining;
	c->remaining -= n;
}

/*
 * Splits a request target into the host of an absolute-form target (NULL
 * for other forms) and what follows it: the path and query.
 */
void
http_target_split(const char *t, size_t len, const char **host,
    size_t *hostlen, const char **path, size_t *pathlen)
{
	const char	*p, *end = t + len;

	*host = NULL;
	*hostlen = 0;
	*path = t;
	*pathlen = len;
	if (len > 7 && strncasecmp(t, "http://", 7) == 0)
		p = t + 7;
	else if (len > 8 && strncasecmp(t, "https://", 8) == 0)
		p = t + 8;
	else
		return;
	*host = p;
	while (p < end && *p != '/' && *p != '?')
		p++;
	*hostlen = p - *host;
	*path = p;
	*pathlen = end - p;
}
