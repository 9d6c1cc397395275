/*
 * Checks shared by fuzz_http_request.c and fuzz_http_response.c: what a
 * parsed head must satisfy, and http_parse_head() run over one input in
 * one call, again (deterministic), in two pieces and a byte at a time
 * (incremental), each way giving the same message.  Pieces are copied to
 * buffers of their exact size, so that a read past the bytes that have
 * arrived is one AddressSanitizer sees.
 */
#ifndef HTTP_CHECK_H
#define HTTP_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_parse.h"

/* Small enough for inputs of a few KiB to reach 414 and 431. */
static const struct http_limits	http_check_limits = { 2048, 256 };

/* Returns nonzero when c is a tchar (RFC 9110 section 5.6.2). */
static int
http_check_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return (1);
	return (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Checks that [off, off + n) lies inside the head of msg. */
static void
http_check_span(const struct http_msg *msg, uint32_t off, uint32_t n)
{
	FUZZ_CHECK((uint64_t)off + n <= msg->head_len);
}

/*
 * Returns the value of the first number in a Content-Length value, as a
 * recipient reading it alone would take it; UINT64_MAX when none.
 */
static uint64_t
http_check_cl_value(const char *v, size_t n)
{
	uint64_t	x = 0;
	size_t		i;

	if (n == 0 || v[0] < '0' || v[0] > '9')
		return (UINT64_MAX);
	for (i = 0; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		if (x > (UINT64_MAX - 9) / 10)
			return (UINT64_MAX);
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	return (x);
}

/*
 * Checks the framing of an accepted head byte by byte, independently of
 * the parser's state machine: empty lines before a request line are CRLF
 * pairs, every CR in the head is followed by LF and every LF preceded by
 * CR, no NUL, the head ends at its first empty line, and each header is
 * one line of its own, "name:" OWS value OWS CRLF, with every line after
 * the start line a header.  A head whose lines the parser counted
 * differently from how a downstream server would is a request smuggled.
 */
static void
http_check_lines(const struct http_msg *msg, const char *buf)
{
	const struct http_header	*h;
	size_t				 start = 0, k, line, lines = 0;
	unsigned			 i;

	if (msg->is_request) {
		start = msg->method_off;
		FUZZ_CHECK(start % 2 == 0 && start <= 8);
		for (k = 0; k < start; k += 2)
			FUZZ_CHECK(buf[k] == '\r' && buf[k + 1] == '\n');
	}
	for (k = start; k < msg->head_len; k++) {
		FUZZ_CHECK(buf[k] != '\0');
		if (buf[k] == '\r')
			FUZZ_CHECK(k + 1 < msg->head_len && buf[k + 1] == '\n');
		if (buf[k] == '\n')
			FUZZ_CHECK(k > start && buf[k - 1] == '\r');
		/* The first empty line ends the head. */
		if (k + 4 < msg->head_len)
			FUZZ_CHECK(memcmp(buf + k, "\r\n\r\n", 4) != 0);
	}
	/* Lines after the start line, the empty line excluded. */
	for (k = start, line = 0; k + 1 < msg->head_len; k++) {
		if (buf[k] != '\r')
			continue;
		if (line++ > 0 && k + 2 < msg->head_len)
			lines++;
	}
	FUZZ_CHECK(lines == msg->nheaders);
	for (i = 0; i < msg->nheaders; i++) {
		h = &msg->headers[i];
		/* A header starts a line... */
		FUZZ_CHECK(h->name_off >= start + 2 &&
		    buf[h->name_off - 2] == '\r' && buf[h->name_off - 1] == '\n');
		/* ...its value is all between the colon and the CRLF... */
		for (k = h->name_off + h->name_len + 1; k < h->value_off; k++)
			FUZZ_CHECK(buf[k] == ' ' || buf[k] == '\t');
		for (k = h->value_off + h->value_len; buf[k] != '\r'; k++)
			FUZZ_CHECK(buf[k] == ' ' || buf[k] == '\t');
		/* ...and the next header starts the next line. */
		if (i + 1 < msg->nheaders)
			FUZZ_CHECK(msg->headers[i + 1].name_off == k + 2);
		else
			FUZZ_CHECK(k + 4 == msg->head_len);
	}
}

/*
 * Checks that the flags the proxy frames the body by agree with the
 * headers as a server behind it reads them: one Host in a request, the
 * length each Content-Length gives, a Transfer-Encoding seen as such.
 */
static void
http_check_framing(const struct http_msg *msg, const char *buf)
{
	const struct http_header	*h;
	unsigned			 i, nhost = 0, ncl = 0, nte = 0;

	for (i = 0; i < msg->nheaders; i++) {
		h = &msg->headers[i];
		if (http_header_is(msg, buf, h, "host")) {
			if (nhost++ == 0 && msg->is_request)
				FUZZ_CHECK(msg->host == (int)i);
		}
		if (http_header_is(msg, buf, h, "content-length")) {
			ncl++;
			FUZZ_CHECK(h->flags & HTTP_HDR_CL);
			if (msg->flags & HTTP_F_HAS_CL)
				FUZZ_CHECK(http_check_cl_value(buf +
				    h->value_off, h->value_len) ==
				    msg->content_length);
		}
		if (http_header_is(msg, buf, h, "transfer-encoding")) {
			nte++;
			FUZZ_CHECK(h->flags & HTTP_HDR_TE);
			FUZZ_CHECK(h->flags & HTTP_HDR_HOP);
		}
		if (http_header_is(msg, buf, h, "connection"))
			FUZZ_CHECK(h->flags & HTTP_HDR_HOP);
	}
	if (msg->is_request) {
		FUZZ_CHECK(nhost == (msg->host != -1 ? 1u : 0u));
		FUZZ_CHECK((ncl > 0) == ((msg->flags & HTTP_F_HAS_CL) != 0));
		if (ncl > 1)
			FUZZ_CHECK(msg->flags & HTTP_F_CL_REPEATED);
	} else if (nte == 0)
		FUZZ_CHECK((ncl > 0) == ((msg->flags & HTTP_F_HAS_CL) != 0));
	else
		FUZZ_CHECK(!(msg->flags & HTTP_F_HAS_CL) &&
		    ((ncl > 0) == ((msg->flags & HTTP_F_CL_AND_TE) != 0)));
	FUZZ_CHECK((nte > 0) == ((msg->flags & HTTP_F_HAS_TE) != 0));
}

/* Checks what a head the parser accepted must satisfy. */
static void
http_check_done(const struct http_msg *msg, const char *buf, size_t len,
    const struct http_limits *lim)
{
	const struct http_header	*h;
	const char			*name;
	unsigned			 i, j;

	FUZZ_CHECK(msg->head_len == msg->pos);
	FUZZ_CHECK(msg->head_len >= 4 && msg->head_len <= len);
	FUZZ_CHECK(memcmp(buf + msg->head_len - 4, "\r\n\r\n", 4) == 0);
	if (lim != NULL && lim->max_header_size != 0)
		FUZZ_CHECK(msg->head_len <= lim->max_header_size);
	FUZZ_CHECK(msg->version_minor == 0 || msg->version_minor == 1);
	FUZZ_CHECK(msg->nheaders <= HTTP_MAX_HEADERS);
	FUZZ_CHECK(msg->error == NULL);
	if (msg->is_request) {
		http_check_span(msg, msg->method_off, msg->method_len);
		http_check_span(msg, msg->target_off, msg->target_len);
		FUZZ_CHECK(msg->method_len > 0 && msg->target_len > 0);
		FUZZ_CHECK(msg->target_off == msg->method_off +
		    msg->method_len + 1);
		for (i = 0; i < msg->method_len; i++)
			FUZZ_CHECK(http_check_tchar(buf[msg->method_off + i]));
		if ((name = http_method_name(msg->method)) != NULL)
			FUZZ_CHECK(strlen(name) == msg->method_len &&
			    memcmp(name, buf + msg->method_off,
			    msg->method_len) == 0);
		if (lim != NULL && lim->max_uri_size != 0)
			FUZZ_CHECK(msg->target_len <= lim->max_uri_size);
		for (i = 0; i < msg->target_len; i++)
			FUZZ_CHECK((unsigned char)buf[msg->target_off + i] >
			    ' ' && buf[msg->target_off + i] != 0x7f);
		/* RFC 9112 section 6.3: no length both sides agree on. */
		FUZZ_CHECK(!((msg->flags & HTTP_F_HAS_CL) &&
		    (msg->flags & HTTP_F_HAS_TE)));
		if (msg->flags & HTTP_F_HAS_TE)
			FUZZ_CHECK(msg->flags & HTTP_F_CHUNKED);
		if (msg->version_minor == 1)
			FUZZ_CHECK(msg->host != -1);
		if (msg->host != -1) {
			FUZZ_CHECK((unsigned)msg->host < msg->nheaders);
			FUZZ_CHECK(msg->headers[msg->host].flags &
			    HTTP_HDR_HOST);
		}
	} else {
		FUZZ_CHECK(msg->status >= 100 && msg->status <= 599);
		FUZZ_CHECK(memcmp(buf, "HTTP/1.", 7) == 0);
		http_check_span(msg, msg->reason_off, msg->reason_len);
		FUZZ_CHECK(msg->host == -1);
		if (msg->flags & HTTP_F_HAS_TE)
			FUZZ_CHECK(!(msg->flags & HTTP_F_HAS_CL));
	}
	if (msg->flags & HTTP_F_CHUNKED)
		FUZZ_CHECK(msg->flags & HTTP_F_HAS_TE);
	if (!(msg->flags & HTTP_F_HAS_CL))
		FUZZ_CHECK(msg->content_length == 0);
	FUZZ_CHECK(msg->content_length <= INT64_MAX);
	for (i = 0; i < msg->nheaders; i++) {
		h = &msg->headers[i];
		http_check_span(msg, h->name_off, h->name_len);
		http_check_span(msg, h->value_off, h->value_len);
		FUZZ_CHECK(h->name_len > 0);
		FUZZ_CHECK(h->value_off > h->name_off + h->name_len);
		FUZZ_CHECK(buf[h->name_off + h->name_len] == ':');
		for (j = 0; j < h->name_len; j++)
			FUZZ_CHECK(http_check_tchar(buf[h->name_off + j]));
		if (h->value_len > 0) {
			/* The value is kept without its surrounding OWS. */
			FUZZ_CHECK(buf[h->value_off] != ' ' &&
			    buf[h->value_off] != '\t');
			FUZZ_CHECK(buf[h->value_off + h->value_len - 1] !=
			    ' ' && buf[h->value_off + h->value_len - 1] !=
			    '\t');
		}
		for (j = 0; j < h->value_len; j++)
			FUZZ_CHECK(buf[h->value_off + j] != '\r' &&
			    buf[h->value_off + j] != '\n' &&
			    buf[h->value_off + j] != '\0');
		if (i > 0)
			FUZZ_CHECK(h->name_off > msg->headers[i - 1].value_off +
			    msg->headers[i - 1].value_len);
		if (h->flags & HTTP_HDR_HOST)
			FUZZ_CHECK(http_header_is(msg, buf, h, "host"));
		if (h->flags & HTTP_HDR_CL)
			FUZZ_CHECK(http_header_is(msg, buf, h,
			    "content-length"));
		/* Framing headers are never dropped by a Connection list. */
		if (http_header_is(msg, buf, h, "content-length") ||
		    (msg->is_request && http_header_is(msg, buf, h, "host")))
			FUZZ_CHECK(!(h->flags & HTTP_HDR_HOP));
	}
	http_check_lines(msg, buf);
	http_check_framing(msg, buf);
}

/* Checks what one call's result says about msg. */
static void
http_check_result(enum http_parse_result r, const struct http_msg *msg,
    const char *buf, size_t len, const struct http_limits *lim)
{
	switch (r) {
	case HTTP_PARSE_AGAIN:
		/* Everything that arrived was taken: the next call resumes. */
		FUZZ_CHECK(msg->pos == len);
		FUZZ_CHECK(msg->error == NULL);
		break;
	case HTTP_PARSE_DONE:
		http_check_done(msg, buf, len, lim);
		break;
	case HTTP_PARSE_ERROR:
		FUZZ_CHECK(msg->error != NULL);
		/*
		 * 501: a request with a coding other than chunked; 505: a
		 * version "HTTP/" DIGIT "." DIGIT of another major version.
		 */
		FUZZ_CHECK(msg->error_status == 400 ||
		    msg->error_status == 414 || msg->error_status == 431 ||
		    (msg->is_request && msg->error_status == 501) ||
		    msg->error_status == 505);
		if (msg->error_status == 505)
			FUZZ_CHECK(msg->version_minor / 10 != 1);
		FUZZ_CHECK(msg->pos <= len);
		break;
	case HTTP_PARSE_DATA:
		FUZZ_CHECK(!"http_parse_head() returned DATA");
		break;
	}
}

/* Checks that two parses of the same bytes left the same message. */
static void
http_check_same(const struct http_msg *a, const struct http_msg *b)
{
	FUZZ_CHECK(a->state == b->state);
	FUZZ_CHECK(a->pos == b->pos);
	FUZZ_CHECK(a->method == b->method);
	FUZZ_CHECK(a->method_off == b->method_off);
	FUZZ_CHECK(a->method_len == b->method_len);
	FUZZ_CHECK(a->target_off == b->target_off);
	FUZZ_CHECK(a->target_len == b->target_len);
	FUZZ_CHECK(a->status == b->status);
	FUZZ_CHECK(a->reason_off == b->reason_off);
	FUZZ_CHECK(a->reason_len == b->reason_len);
	FUZZ_CHECK(a->version_minor == b->version_minor);
	FUZZ_CHECK(a->nheaders == b->nheaders);
	FUZZ_CHECK(memcmp(a->headers, b->headers,
	    a->nheaders * sizeof a->headers[0]) == 0);
	FUZZ_CHECK(a->host == b->host);
	FUZZ_CHECK(a->head_len == b->head_len);
	FUZZ_CHECK(a->content_length == b->content_length);
	FUZZ_CHECK(a->flags == b->flags);
	FUZZ_CHECK(a->error_status == b->error_status);
	FUZZ_CHECK((a->error == NULL) == (b->error == NULL));
	if (a->error != NULL)
		FUZZ_CHECK(strcmp(a->error, b->error) == 0);
}

/* Parses data[0..len) as it would arrive: split at cut, each part copied. */
static enum http_parse_result
http_check_split(struct http_msg *msg, const uint8_t *data, size_t len,
    size_t cut, int is_request, const struct http_limits *lim)
{
	enum http_parse_result	 r;
	char			*buf;

	http_msg_init(msg, is_request);
	if ((buf = malloc(cut > 0 ? cut : 1)) == NULL)
		abort();
	memcpy(buf, data, cut);
	r = http_parse_head(msg, buf, cut, lim);
	http_check_result(r, msg, buf, cut, lim);
	free(buf);
	if (r != HTTP_PARSE_AGAIN)
		return (r);
	if ((buf = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	memcpy(buf, data, len);
	r = http_parse_head(msg, buf, len, lim);
	http_check_result(r, msg, buf, len, lim);
	free(buf);
	return (r);
}

/* Runs every check on one input, parsed as a request or a response. */
static void
http_check_input(const uint8_t *data, size_t len, int is_request)
{
	static struct http_msg	 one, again, split, bytes, nolim;
	const char		*buf = (const char *)data;
	const struct http_limits *lim = &http_check_limits;
	enum http_parse_result	 r, r2;
	size_t			 i;

	http_msg_init(&one, is_request);
	r = http_parse_head(&one, buf, len, lim);
	http_check_result(r, &one, buf, len, lim);

	/* A second run over the same bytes gives the same message. */
	http_msg_init(&again, is_request);
	r2 = http_parse_head(&again, buf, len, lim);
	FUZZ_CHECK(r == r2);
	http_check_same(&one, &again);
	/* Once DONE or ERROR, further calls only repeat the verdict. */
	if (r != HTTP_PARSE_AGAIN) {
		r2 = http_parse_head(&again, buf, len, lim);
		FUZZ_CHECK(r == r2);
		http_check_same(&one, &again);
	}

	/* In two pieces, cut in the middle and where the first byte says. */
	r2 = http_check_split(&split, data, len, len / 2, is_request, lim);
	FUZZ_CHECK(r == r2);
	http_check_same(&one, &split);
	if (len > 0) {
		r2 = http_check_split(&split, data, len, data[0] % len,
		    is_request, lim);
		FUZZ_CHECK(r == r2);
		http_check_same(&one, &split);
	}

	/* A byte at a time, as a slow client sends it. */
	http_msg_init(&bytes, is_request);
	r2 = HTTP_PARSE_AGAIN;
	for (i = 0; i <= len && r2 == HTTP_PARSE_AGAIN; i++) {
		r2 = http_parse_head(&bytes, buf, i, lim);
		http_check_result(r2, &bytes, buf, i, lim);
	}
	FUZZ_CHECK(r == r2);
	http_check_same(&one, &bytes);

	/* Limits only refuse: a head accepted under them is without. */
	http_msg_init(&nolim, is_request);
	r2 = http_parse_head(&nolim, buf, len, NULL);
	http_check_result(r2, &nolim, buf, len, NULL);
	if (r == HTTP_PARSE_DONE) {
		FUZZ_CHECK(r2 == HTTP_PARSE_DONE);
		http_check_same(&one, &nolim);
	}
}

#endif
