/*
 * Unit tests for the strict HTTP/1.x parser: request and response heads,
 * the framing rules against request smuggling, limits, header flags and
 * the chunked body parser.  Every message is also fed a byte at a time to
 * check that the parsers resume where they stopped, and each call gets a
 * heap copy of exactly the bytes that have arrived so that ASan catches
 * any read past them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "tap.h"

/* A refused head: sizeof, not strlen, as some hold a NUL. */
#define V(what, head, error)	{ what, head, sizeof (head) - 1, error }

static const struct http_limits limits = { 8192, 1024 };

struct chunk_run {
	enum http_parse_result	 r;
	char			 data[256];
	size_t			 datalen;
	size_t			 used;		/* bytes consumed in all */
	const char		*error;
};

static enum http_parse_result head_feed(struct http_msg *, int, const char *,
		    size_t, size_t, const struct http_limits *);
static enum http_parse_result head_parse(struct http_msg *, int,
		    const char *);
static void	 chunk_feed(struct chunk_run *, const char *, size_t, size_t);
static int	 value_is(const struct http_msg *, const char *, const char *,
		    const char *);

/*
 * Parses the head in s[0..len) at step bytes a call, each call on a fresh
 * heap copy of exactly the bytes that have arrived.
 */
static enum http_parse_result
head_feed(struct http_msg *msg, int is_request, const char *s, size_t len,
    size_t step, const struct http_limits *lim)
{
	enum http_parse_result	 r = HTTP_PARSE_AGAIN;
	size_t			 avail = 0;
	char			*copy;

	http_msg_init(msg, is_request);
	while (r == HTTP_PARSE_AGAIN && avail < len) {
		avail = avail + step < len ? avail + step : len;
		if ((copy = malloc(avail)) == NULL)
			abort();
		memcpy(copy, s, avail);
		r = http_parse_head(msg, copy, avail, lim);
		free(copy);
	}
	return (r);
}

/* Parses a whole head at once with the default limits. */
static enum http_parse_result
head_parse(struct http_msg *msg, int is_request, const char *s)
{
	return (head_feed(msg, is_request, s, strlen(s), strlen(s), &limits));
}

/* Runs s[0..len) through the chunked parser, step bytes arriving at once. */
static void
chunk_feed(struct chunk_run *cr, const char *s, size_t len, size_t step)
{
	struct http_chunked	 c;
	size_t			 off = 0, avail = 0, used, n;
	char			*copy = NULL;

	memset(cr, 0, sizeof *cr);
	http_chunked_init(&c);
	avail = step < len ? step : len;
	for (;;) {
		free(copy);
		if ((copy = malloc(avail - off + 1)) == NULL)
			abort();
		memcpy(copy, s + off, avail - off);
		cr->r = http_chunked_parse(&c, copy, avail - off, &used);
		off += used;
		if (cr->r == HTTP_PARSE_DATA && off < avail) {
			n = avail - off;
			if (n > c.remaining)
				n = (size_t)c.remaining;
			if (cr->datalen + n <= sizeof cr->data) {
				memcpy(cr->data + cr->datalen, s + off, n);
				cr->datalen += n;
			}
			http_chunked_consume(&c, n);
			off += n;
			continue;
		}
		if (cr->r == HTTP_PARSE_DONE || cr->r == HTTP_PARSE_ERROR ||
		    avail == len)
			break;
		avail = avail + step < len ? avail + step : len;
	}
	free(copy);
	cr->used = off;
	cr->error = c.error;
}

/* Returns nonzero when header name is present with exactly value want. */
static int
value_is(const struct http_msg *msg, const char *buf, const char *name,
    const char *want)
{
	const struct http_header	*h;

	if ((h = http_header_find(msg, buf, name)) == NULL)
		return (0);
	return (h->value_len == strlen(want) &&
	    memcmp(buf + h->value_off, want, h->value_len) == 0);
}

/* A plain GET and the fields it fills in. */
static void
test_get(void)
{
	const char	*s = "GET /index.html?a=b HTTP/1.1\r\n"
			    "Host: example.com:8080\r\n"
			    "User-Agent:  curl/8.0 \t\r\n"
			    "X-Empty: \r\n"
			    "Accept: */*\r\n\r\n";
	struct http_msg	 msg;

	is_int(head_parse(&msg, 1, s), HTTP_PARSE_DONE,
	    "a plain GET parses");
	is_int(msg.method, HTTP_GET, "its method is GET");
	is_int(msg.method_off, 0, "the method starts at offset 0");
	is_int(msg.method_len, 3, "the method is 3 bytes");
	ok(msg.target_len == 15 &&
	    memcmp(s + msg.target_off, "/index.html?a=b", 15) == 0,
	    "the target is /index.html?a=b");
	is_int(msg.version_minor, 1, "the version is HTTP/1.1");
	is_int(msg.nheaders, 4, "four headers are stored");
	is_int(msg.host, 0, "Host is the first header");
	ok(msg.headers[0].flags == HTTP_HDR_HOST, "Host carries HTTP_HDR_HOST");
	ok(value_is(&msg, s, "user-agent", "curl/8.0"),
	    "a value loses its leading and trailing whitespace");
	ok(value_is(&msg, s, "X-EMPTY", ""), "an empty value is allowed");
	ok(http_header_find(&msg, s, "Cookie") == NULL,
	    "http_header_find returns NULL for an absent header");
	is_int(msg.head_len, strlen(s), "head_len covers the whole head");
	is_int(msg.flags, 0, "a plain GET has no framing flags");
	is_str(http_method_name(msg.method), "GET",
	    "http_method_name names GET");
	is_str(http_method_name(HTTP_OTHER), NULL,
	    "http_method_name returns NULL for another method");
	is_int(http_parse_head(&msg, s, strlen(s), &limits), HTTP_PARSE_DONE,
	    "calling again after DONE still says DONE");
}

/* A POST with a body: the body stays unread. */
static void
test_post(void)
{
	const char	*s = "POST /form HTTP/1.1\r\nHost: a\r\n"
			    "Content-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n";
	struct http_msg	 msg;

	is_int(head_parse(&msg, 1, s), HTTP_PARSE_DONE,
	    "a POST with Content-Length parses");
	is_int(msg.method, HTTP_POST, "its method is POST");
	ok(msg.flags == HTTP_F_HAS_CL, "only HTTP_F_HAS_CL is set");
	is_int(msg.content_length, 5, "content_length is 5");
	is_int(msg.head_len, strlen(s) - strlen("helloGET / HTTP/1.1\r\n"),
	    "head_len stops before the body and the pipelined request");
	ok(msg.headers[1].flags == HTTP_HDR_CL,
	    "Content-Length carries HTTP_HDR_CL");

	/* RFC 9110 8.6: equal values, as a list or in two fields. */
	is_int(head_parse(&msg, 1, "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 3, 3\r\n\r\n"), HTTP_PARSE_DONE,
	    "a Content-Length list of equal values parses");
	ok(msg.flags == (HTTP_F_HAS_CL | HTTP_F_CL_REPEATED) &&
	    msg.content_length == 3, "it is flagged to be sent as one value");
	is_int(head_parse(&msg, 1, "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 3\r\ncontent-length: 3\r\n\r\n"),
	    HTTP_PARSE_DONE, "two equal Content-Length fields parse");
	ok(msg.flags == (HTTP_F_HAS_CL | HTTP_F_CL_REPEATED),
	    "they are flagged to be sent as one");
}

/* A chunked request. */
static void
test_chunked_request(void)
{
	const char	*s = "PUT /up HTTP/1.1\r\nHost: a\r\n"
			    "Transfer-Encoding: Chunked\r\n\r\n5\r\n";
	struct http_msg	 msg;

	is_int(head_parse(&msg, 1, s), HTTP_PARSE_DONE,
	    "a chunked request parses");
	ok(msg.flags == (HTTP_F_CHUNKED|HTTP_F_HAS_TE),
	    "it is chunked and has Transfer-Encoding");
	ok(msg.headers[1].flags == (HTTP_HDR_TE|HTTP_HDR_HOP),
	    "Transfer-Encoding is flagged TE and hop-by-hop");
	is_int(msg.head_len, strlen(s) - 3, "the chunked body is left unread");

	/* RFC 9112 6.1: a coding the proxy cannot undo gets 501. */
	is_int(head_parse(&msg, 1, "PUT /up HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: gzip, chunked\r\n\r\n"), HTTP_PARSE_ERROR,
	    "a request with gzip before chunked is refused");
	is_int(msg.error_status, 501, "with 501");
	is_str(msg.error, "transfer coding other than chunked",
	    "as a transfer coding other than chunked");
}

/* Other request forms and leniencies the grammar allows. */
static void
test_request_forms(void)
{
	struct http_msg	 msg;
	const char	*s;

	is_int(head_parse(&msg, 1, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
	    HTTP_PARSE_DONE, "OPTIONS * is accepted");
	is_int(head_parse(&msg, 1,
	    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
	    HTTP_PARSE_DONE, "CONNECT to host:port is accepted");
	is_int(head_parse(&msg, 1,
	    "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"),
	    HTTP_PARSE_DONE, "CONNECT to an IPv6 literal is accepted");
	is_int(head_parse(&msg, 1,
	    "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n"),
	    HTTP_PARSE_DONE, "an absolute-form target is accepted");
	is_int(head_parse(&msg, 1,
	    "GET HTTPS://[::1]:8443?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
	    HTTP_PARSE_DONE, "one with an IPv6 host and only a query too");
	is_int(head_parse(&msg, 1, "GET /a%2Fb/c[1]|{x}^\\`;=@:!$&'()*+,~"
	    "?q=[x]&y=100%&z=%zz/? HTTP/1.1\r\nHost: a\r\n\r\n"),
	    HTTP_PARSE_DONE, "what browsers send unencoded is accepted, and "
	    "any %% in a query");
	is_int(head_parse(&msg, 1, "GET / HTTP/1.0\r\n\r\n"), HTTP_PARSE_DONE,
	    "an HTTP/1.0 request needs no Host");
	is_int(msg.version_minor, 0, "its version is HTTP/1.0");
	is_int(msg.host, -1, "host is -1 without a Host header");
	is_int(head_parse(&msg, 1, "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	    HTTP_PARSE_DONE, "an unknown method is accepted");
	is_int(msg.method, HTTP_OTHER, "it is HTTP_OTHER");
	s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	is_int(head_parse(&msg, 1, s), HTTP_PARSE_DONE,
	    "empty lines before a request line are skipped");
	is_int(msg.method_off, 4, "method_off is past the empty lines");
	is_int(msg.head_len, strlen(s), "head_len counts the empty lines");
	s = "GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9\r\n\r\n";
	is_int(head_parse(&msg, 1, s), HTTP_PARSE_DONE,
	    "obs-text in a value is accepted");
	is_int(head_parse(&msg, 1, "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5, 5\r\nContent-Length: 5\r\n\r\n"),
	    HTTP_PARSE_DONE, "identical duplicate Content-Length is accepted");
	is_int(msg.content_length, 5, "its length is 5");
	is_int(head_parse(&msg, 1, "GET / HTTP/1.1\r\nHost:\r\n\r\n"),
	    HTTP_PARSE_DONE, "an empty Host is accepted");
	is_int(head_parse(&msg, 1, "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 9223372036854775807\r\n\r\n"), HTTP_PARSE_DONE,
	    "Content-Length up to INT64_MAX is accepted");
}

/* Each smuggling vector and malformed head is refused with a reason. */
static void
test_refused(void)
{
	static const struct {
		const char	*what;
		const char	*head;
		size_t		 len;
		const char	*error;
	} t[] = {
	V("both Content-Length and Transfer-Encoding",
	  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n",
	  "both content-length and transfer-encoding"),
	V("Transfer-Encoding before Content-Length",
	  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	  "Content-Length: 0\r\n\r\n",
	  "both content-length and transfer-encoding"),
	V("two differing Content-Length headers",
	  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	  "Content-Length: 6\r\n\r\n",
	  "differing content-length values"),
	V("a Content-Length list 5, 6",
	  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
	  "differing content-length values"),
	V("Content-Length +5",
	  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
	  "invalid content-length"),
	V("Content-Length '5 5'",
	  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  5 5\r\n\r\n",
	  "invalid content-length"),
	V("Content-Length -1",
	  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
	  "invalid content-length"),
	V("an empty Content-Length",
	  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
	  "invalid content-length"),
	V("Content-Length with an empty list element",
	  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,,5\r\n\r\n",
	  "invalid content-length"),
	V("Content-Length past INT64_MAX",
	  "POST / HTTP/1.1\r\nHost: a\r\n"
	  "Content-Length: 9223372036854775808\r\n\r\n",
	  "content-length too large"),
	V("Transfer-Encoding: gzip in a request",
	  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
	  "final transfer coding not chunked"),
	V("Transfer-Encoding: chunked, gzip",
	  "POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunked, gzip\r\n\r\n",
	  "chunked not last"),
	V("Transfer-Encoding: chunked twice in one line",
	  "POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: chunked, chunked\r\n\r\n",
	  "chunked applied twice"),
	V("Transfer-Encoding: chunked in two lines",
	  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n",
	  "chunked applied twice"),
	V("a quoted Transfer-Encoding",
	  "POST / HTTP/1.1\r\nHost: a\r\n"
	  "Transfer-Encoding: \"chunked\"\r\n\r\n",
	  "invalid transfer-encoding"),
	V("Transfer-Encoding in HTTP/1.0",
	  "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	  "transfer-encoding in http/1.0 request"),
	V("obsolete line folding",
	  "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n",
	  "obsolete line folding"),
	V("whitespace before the first header",
	  "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
	  "obsolete line folding"),
	V("whitespace before a colon",
	  "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	  "whitespace before colon"),
	V("a bare CR in a value",
	  "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n",
	  "bare cr"),
	V("a bare CR ending a line",
	  "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\r\n\r\n",
	  "bare cr"),
	V("a NUL in a value",
	  "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n",
	  "nul byte"),
	V("a NUL in the target",
	  "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n",
	  "nul byte"),
	V("a control byte in a value",
	  "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\001b\r\n\r\n",
	  "invalid character in header value"),
	V("DEL in a value",
	  "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\177b\r\n\r\n",
	  "invalid character in header value"),
	V("a ( in a header name",
	  "GET / HTTP/1.1\r\nHo(st: x\r\n\r\n",
	  "invalid header name"),
	V("an empty header name",
	  "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n",
	  "empty header name"),
	V("a missing Host in HTTP/1.1",
	  "GET / HTTP/1.1\r\nX-A: b\r\n\r\n",
	  "missing host"),
	V("two Host headers",
	  "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	  "duplicate host"),
	V("two Host headers in HTTP/1.0",
	  "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
	  "duplicate host"),
	V("a Host with a space",
	  "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	  "invalid host"),
	V("a Host with a path",
	  "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
	  "invalid host"),
	V("a lowercase http/1.1",
	  "GET / http/1.1\r\nHost: a\r\n\r\n",
	  "invalid http version"),
	V("HTTP/2 without a minor version",
	  "GET / HTTP/2\r\nHost: a\r\n\r\n",
	  "invalid http version"),
	V("HTTP/1. without a minor version",
	  "GET / HTTP/1.\r\nHost: a\r\n\r\n",
	  "invalid http version"),
	V("HTTP/1.x",
	  "GET / HTTP/1.x\r\nHost: a\r\n\r\n",
	  "invalid http version"),
	V("HTTP/1.10",
	  "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
	  "invalid http version"),
	V("a space after the version",
	  "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
	  "invalid http version"),
	V("two spaces before the target",
	  "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
	  "empty target"),
	V("a tab after the method",
	  "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid method"),
	V("a request line without version",
	  "GET /\r\n\r\n",
	  "missing http version"),
	V("a bare LF ending the request line",
	  "GET / HTTP/1.1\nHost: a\r\n\r\n",
	  "bare lf"),
	V("a bare LF ending a header line",
	  "GET / HTTP/1.1\r\nHost: a\n\r\n",
	  "bare lf"),
	V("a bare LF ending the head",
	  "GET / HTTP/1.1\r\nHost: a\r\n\n",
	  "bare lf"),
	V("an origin target without slash",
	  "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid target"),
	V("asterisk-form for GET",
	  "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
	  "asterisk-form only for options"),
	V("CONNECT to a path",
	  "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid connect target"),
	V("CONNECT without a port",
	  "CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid connect target"),
	V("a fragment in the target",
	  "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
	  "fragment in target"),
	V("a quote in the target",
	  "GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid character in target"),
	V("a < in the query",
	  "GET /?a<b HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid character in target"),
	V("a % without hex digits in the path",
	  "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid percent-encoding in target"),
	V("a % cut short at the end of the path",
	  "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid percent-encoding in target"),
	V("an absolute-form target of another scheme",
	  "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid target"),
	V("an absolute-form target with userinfo",
	  "GET http://u@a/b HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid target"),
	V("an absolute-form target without a host",
	  "GET http:///b HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid target"),
	V("a fragment in an absolute-form target",
	  "GET http://a/b#c HTTP/1.1\r\nHost: a\r\n\r\n",
	  "fragment in target"),
	V("a raw UTF-8 byte in the target",
	  "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
	  "invalid character in target"),
	V("a Connection header that is not a token list",
	  "GET / HTTP/1.1\r\nHost: a\r\nConnection: close;x\r\n\r\n",
	  "invalid connection header"),
	V("too many empty lines before the request",
	  "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	  "too many empty lines")
	};
	struct http_msg	 msg;
	const char	*error;
	size_t		 i, len, pos;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		len = t[i].len;
		is_int(head_feed(&msg, 1, t[i].head, len, len, &limits),
		    HTTP_PARSE_ERROR, "%s is refused", t[i].what);
		is_int(msg.error_status, 400, "%s gets 400", t[i].what);
		is_str(msg.error, t[i].error, "%s is refused as \"%s\"",
		    t[i].what, t[i].error);
		is_int(http_parse_head(&msg, t[i].head, len, &limits),
		    HTTP_PARSE_ERROR, "%s stays an error when called again",
		    t[i].what);
		error = msg.error;
		pos = msg.pos;
		head_feed(&msg, 1, t[i].head, len, 1, &limits);
		ok(msg.error == error && msg.pos == pos,
		    "%s fed a byte at a time fails at the same byte",
		    t[i].what);
	}
}

/* 414 for a long target, 431 for a big head or too many headers. */
static void
test_limits(void)
{
	struct http_limits	 lim = { 200, 20 };
	struct http_msg		 msg;
	char			 buf[16384];
	const char		*s;
	size_t			 i, len;
	int			 n;

	s = "GET /aaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n";
	is_int(head_feed(&msg, 1, s, strlen(s), 1, &lim), HTTP_PARSE_DONE,
	    "a target of exactly max_uri_size is accepted");
	is_int(msg.target_len, 20, "that target is 20 bytes");
	s = "GET /aaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n";
	is_int(head_feed(&msg, 1, s, strlen(s), strlen(s), &lim),
	    HTTP_PARSE_ERROR, "a target one byte longer is refused");
	is_int(msg.error_status, 414, "it gets 414");
	is_str(msg.error, "target too long", "its reason is target too long");
	is_int(head_feed(&msg, 1, "GET /aaaaaaaaaaaaaaaaaaaa", 25, 1, &lim),
	    HTTP_PARSE_ERROR, "414 comes before the request line is complete");
	is_int(msg.error_status, 414, "early detection also gets 414");

	len = (size_t)snprintf(buf, sizeof buf,
	    "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %0200d\r\n\r\n", 0);
	is_int(head_feed(&msg, 1, buf, len, len, &lim), HTTP_PARSE_ERROR,
	    "a head over max_header_size is refused");
	is_int(msg.error_status, 431, "it gets 431");
	is_int(head_feed(&msg, 1, buf, 201, 201, &lim), HTTP_PARSE_ERROR,
	    "431 comes before the head is complete");
	is_int(head_feed(&msg, 1, buf, 200, 7, &lim), HTTP_PARSE_ERROR,
	    "431 comes as soon as max_header_size bytes are not a head");
	is_int(msg.error_status, 431, "early detection also gets 431");

	len = (size_t)snprintf(buf, sizeof buf,
	    "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %0164d\r\n\r\n", 0);
	is_int(len, 200, "a head of exactly 200 bytes is built");
	is_int(head_feed(&msg, 1, buf, len, 1, &lim), HTTP_PARSE_DONE,
	    "a head of exactly max_header_size is accepted");

	for (n = 0, len = 0; n < 2; n++) {
		len = (size_t)snprintf(buf, sizeof buf,
		    "GET / HTTP/1.1\r\nHost: a\r\n");
		for (i = 1; i < HTTP_MAX_HEADERS + (size_t)n; i++)
			len += (size_t)snprintf(buf + len, sizeof buf - len,
			    "X-H%zu: %zu\r\n", i, i);
		len += (size_t)snprintf(buf + len, sizeof buf - len, "\r\n");
		if (n == 0) {
			is_int(head_feed(&msg, 1, buf, len, len, &limits),
			    HTTP_PARSE_DONE, "HTTP_MAX_HEADERS headers fit");
			is_int(msg.nheaders, HTTP_MAX_HEADERS,
			    "all of them are stored");
		} else {
			is_int(head_feed(&msg, 1, buf, len, len, &limits),
			    HTTP_PARSE_ERROR, "one header more is refused");
			is_int(msg.error_status, 431, "too many headers get 431");
			is_str(msg.error, "too many headers",
			    "its reason is too many headers");
		}
	}
}

/* Hop-by-hop and other header flags, and the Connection flags. */
static void
test_flags(void)
{
	const char	*s = "GET / HTTP/1.1\r\nHost: a\r\n"
			    "Connection: close, X-Secret,,Keep-Alive\r\n"
			    "connection: Upgrade, content-length, host\r\n"
			    "Keep-Alive: timeout=5\r\n"
			    "X-Secret: 1\r\n"
			    "TE: trailers\r\n"
			    "Trailer: X-T\r\n"
			    "Proxy-Connection: keep-alive\r\n"
			    "Upgrade: websocket\r\n"
			    "X-Forwarded-For: 10.0.0.1\r\n"
			    "X-Forwarded-Proto: http\r\n"
			    "X-Real-IP: 10.0.0.1\r\n"
			    "Cookie: a=b\r\n"
			    "Expect: 100-Continue\r\n"
			    "Content-Length: 0\r\n"
			    "X-Other: 1\r\n\r\n";
	static const struct {
		const char	*name;
		uint32_t	 flags;
	} t[] = {
		{ "Host", HTTP_HDR_HOST },
		{ "Connection", HTTP_HDR_HOP },
		{ "Keep-Alive", HTTP_HDR_HOP },
		{ "X-Secret", HTTP_HDR_HOP },
		{ "TE", HTTP_HDR_HOP },
		{ "Trailer", HTTP_HDR_HOP },
		{ "Proxy-Connection", HTTP_HDR_HOP },
		{ "Upgrade", HTTP_HDR_HOP },
		{ "X-Forwarded-For", HTTP_HDR_XFF },
		{ "X-Forwarded-Proto", HTTP_HDR_XFWD },
		{ "X-Real-IP", HTTP_HDR_XFWD },
		{ "Cookie", HTTP_HDR_COOKIE },
		{ "Expect", 0 },
		{ "Content-Length", HTTP_HDR_CL },
		{ "X-Other", 0 }
	};
	struct http_msg			 msg;
	const struct http_header	*h;
	size_t				 i;

	is_int(head_parse(&msg, 1, s), HTTP_PARSE_DONE,
	    "a request with every special header parses");
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		h = http_header_find(&msg, s, t[i].name);
		ok(h != NULL && h->flags == t[i].flags,
		    "%s has flags %#x", t[i].name, (unsigned)t[i].flags);
	}
	ok(msg.headers[2].flags == HTTP_HDR_HOP,
	    "the second Connection header is hop-by-hop too");
	ok(msg.flags == (HTTP_F_CONN_CLOSE|HTTP_F_CONN_KEEPALIVE|
	    HTTP_F_CONN_UPGRADE|HTTP_F_UPGRADE|HTTP_F_EXPECT_CONTINUE|
	    HTTP_F_HAS_CL), "Connection, Upgrade and Expect set their flags");

	/*
	 * An h2c offer is flagged, alone, with a version, or in a list; so
	 * is a value that is no list of protocols.
	 */
	{
		static const struct {
			const char	*upgrade;
			int		 h2c;
		} u[] = {
			{ "h2c", 1 }, { "H2C", 1 }, { "websocket, h2c", 1 },
			{ "h2c/1.0 ,x", 1 }, { "h2", 0 }, { "h2cx", 0 },
			{ "websocket", 0 }, { "x/h2c", 0 }, { "@, h2c", 1 },
			{ "websocket/", 1 }, { "a b", 1 },
		};
		char	 head[128];
		size_t	 j;

		for (j = 0; j < sizeof u / sizeof u[0]; j++) {
			snprintf(head, sizeof head, "GET / HTTP/1.1\r\n"
			    "Host: a\r\nUpgrade: %s\r\n\r\n", u[j].upgrade);
			ok(head_parse(&msg, 1, head) == HTTP_PARSE_DONE &&
			    !!(msg.flags & HTTP_F_UPGRADE_H2C) == u[j].h2c,
			    "Upgrade: %s %s flagged", u[j].upgrade,
			    u[j].h2c ? "is" : "is not");
		}
	}

	s = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n"
	    "Content-Length: 1\r\n\r\n";
	is_int(head_parse(&msg, 1, s), HTTP_PARSE_DONE,
	    "an unknown expectation parses");
	ok(!(msg.flags & HTTP_F_EXPECT_CONTINUE),
	    "it does not set HTTP_F_EXPECT_CONTINUE");
}

/*
 * Versions (RFC 9112 section 2.3): a higher minor version of HTTP/1 is
 * taken as HTTP/1.1; another major version is refused with 505, in a
 * request and in a status line, whole or fed a byte at a time.
 */
static void
test_versions(void)
{
	static const char	*later[] = { "1.2", "1.9" };
	static const char	*other[] = { "2.0", "0.9", "3.1", "9.9" };
	struct http_msg		 msg;
	char			 buf[128];
	size_t			 i, step;

	for (i = 0; i < sizeof later / sizeof later[0]; i++) {
		snprintf(buf, sizeof buf, "GET / HTTP/%s\r\nHost: a\r\n\r\n",
		    later[i]);
		is_int(head_parse(&msg, 1, buf), HTTP_PARSE_DONE,
		    "an HTTP/%s request parses", later[i]);
		is_int(msg.version_minor, 1, "as HTTP/1.1");
		ok(msg.host == 0 && msg.nheaders == 1,
		    "its headers are read as an HTTP/1.1 request's");
		snprintf(buf, sizeof buf, "HTTP/%s 200 OK\r\n"
		    "Content-Length: 0\r\n\r\n", later[i]);
		is_int(head_parse(&msg, 0, buf), HTTP_PARSE_DONE,
		    "an HTTP/%s status line parses", later[i]);
		ok(msg.version_minor == 1 && msg.status == 200,
		    "as HTTP/1.1, status 200");
	}
	for (i = 0; i < sizeof other / sizeof other[0]; i++) {
		for (step = 1; step <= 64; step += 63) {
			snprintf(buf, sizeof buf, "GET / HTTP/%s\r\n"
			    "Host: a\r\n\r\n", other[i]);
			is_int(head_feed(&msg, 1, buf, strlen(buf), step,
			    &limits), HTTP_PARSE_ERROR,
			    "an HTTP/%s request is refused (%zu at a time)",
			    other[i], step);
			ok(msg.error_status == 505 && strcmp(msg.error,
			    "unsupported http version") == 0,
			    "with 505, unsupported http version");
		}
		snprintf(buf, sizeof buf, "HTTP/%s 200 OK\r\n\r\n", other[i]);
		is_int(head_parse(&msg, 0, buf), HTTP_PARSE_ERROR,
		    "an HTTP/%s status line is refused", other[i]);
	}
}

/* Response heads. */
static void
test_responses(void)
{
	struct http_msg	 msg;
	const char	*s;

	s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
	is_int(head_parse(&msg, 0, s), HTTP_PARSE_DONE, "a 200 parses");
	is_int(msg.status, 200, "its status is 200");
	ok(msg.reason_len == 2 && memcmp(s + msg.reason_off, "OK", 2) == 0,
	    "its reason is OK");
	ok(msg.flags == HTTP_F_HAS_CL && msg.content_length == 3,
	    "its length is 3");
	is_int(msg.head_len, strlen(s) - 3, "its head_len stops at the body");

	is_int(head_parse(&msg, 0, "HTTP/1.1 204 No Content\r\n\r\n"),
	    HTTP_PARSE_DONE, "a 204 parses");
	is_int(msg.status, 204, "its status is 204");
	is_int(msg.reason_len, 10, "its reason is No Content");
	is_int(head_parse(&msg, 0, "HTTP/1.1 404 \r\n\r\n"), HTTP_PARSE_DONE,
	    "an empty reason after SP parses");
	is_int(head_parse(&msg, 0, "HTTP/1.1 200\r\n\r\n"), HTTP_PARSE_DONE,
	    "a status line without SP after the code is accepted");
	is_int(msg.reason_len, 0, "its reason is empty");
	is_int(head_parse(&msg, 0, "HTTP/1.1 200 caf\xe9 ok\r\n\r\n"),
	    HTTP_PARSE_DONE, "obs-text in a reason is accepted");

	is_int(head_parse(&msg, 0, "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n"),
	    HTTP_PARSE_DONE, "a chunked response with Content-Length parses");
	ok(msg.flags == (HTTP_F_CHUNKED|HTTP_F_HAS_TE|HTTP_F_CL_AND_TE),
	    "it is chunked, HTTP_F_HAS_CL is cleared, both are flagged");
	/* Left to the caller, which refuses a body so coded. */
	is_int(head_parse(&msg, 0, "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n"), HTTP_PARSE_DONE,
	    "a response ending in gzip parses");
	ok(msg.flags == (HTTP_F_HAS_TE | HTTP_F_TE_OTHER),
	    "flagged with a coding other than chunked");
	is_int(head_parse(&msg, 0, "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: gzip, chunked\r\n\r\n"), HTTP_PARSE_DONE,
	    "so does a response with gzip before chunked");
	ok(msg.flags == (HTTP_F_HAS_TE | HTTP_F_TE_OTHER | HTTP_F_CHUNKED),
	    "flagged chunked and with another coding");
	is_int(head_parse(&msg, 0, "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 2, 2\r\n\r\n"), HTTP_PARSE_DONE,
	    "a response with a list of equal lengths parses");
	ok(msg.flags == (HTTP_F_HAS_CL | HTTP_F_CL_REPEATED),
	    "it is flagged to be sent as one value");
	is_int(head_parse(&msg, 0, "HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"),
	    HTTP_PARSE_DONE, "an HTTP/1.0 response without length parses");
	ok(msg.flags == 0 && msg.version_minor == 0,
	    "it has no length: close-delimited");
	is_int(head_parse(&msg, 0, "HTTP/1.0 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), HTTP_PARSE_DONE,
	    "an HTTP/1.0 response with Transfer-Encoding parses");
	ok(msg.flags == (HTTP_F_HAS_TE|HTTP_F_CONN_CLOSE),
	    "its framing is distrusted: read to the close");
	is_int(head_parse(&msg, 0, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n"),
	    HTTP_PARSE_DONE, "a 101 parses");
	ok(msg.flags == (HTTP_F_CONN_UPGRADE|HTTP_F_UPGRADE),
	    "it carries the upgrade flags");
	is_int(head_parse(&msg, 0, "HTTP/1.1 200 OK\r\nHost: a\r\n"
	    "Host: b\r\n\r\n"), HTTP_PARSE_DONE,
	    "Host rules do not apply to responses");

	is_int(head_parse(&msg, 0, "HTTP/1.1 20 OK\r\n\r\n"), HTTP_PARSE_ERROR,
	    "a two-digit status is refused");
	is_str(msg.error, "invalid status code", "as an invalid status code");
	is_int(head_parse(&msg, 0, "HTTP/1.1 099 x\r\n\r\n"), HTTP_PARSE_ERROR,
	    "a status below 100 is refused");
	is_int(head_parse(&msg, 0, "HTTP/1.1 2000 x\r\n\r\n"),
	    HTTP_PARSE_ERROR, "a four-digit status is refused");
	is_int(head_parse(&msg, 0, "HTTP/1.1 200 OK\n\r\n"), HTTP_PARSE_ERROR,
	    "a bare LF after the status line is refused");
	is_int(head_parse(&msg, 0, "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 1\r\nContent-Length: 2\r\n\r\n"),
	    HTTP_PARSE_ERROR, "differing Content-Length in a response is refused");
	is_int(head_parse(&msg, 0, "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked, gzip\r\n\r\n"), HTTP_PARSE_ERROR,
	    "chunked not last in a response is refused");
	is_int(head_parse(&msg, 0, "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
	    HTTP_PARSE_ERROR, "obs-fold in a response is refused");
	is_int(head_parse(&msg, 0, "\r\nHTTP/1.1 200 OK\r\n\r\n"),
	    HTTP_PARSE_ERROR, "empty lines before a status line are refused");
}

/* Byte-by-byte feeding gives what parsing at once gives. */
static void
test_resume(void)
{
	static const struct {
		int		 is_request;
		const char	*s;
	} t[] = {
		{ 1, "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\n"
		    "Connection: keep-alive, X-A\r\nX-A:  1 \r\n\r\n" },
		{ 1, "\r\nPOST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		    "Expect: 100-continue\r\n\r\nhello" },
		{ 1, "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
		    "\r\n\r\n0\r\n\r\n" },
		{ 1, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n" },
		{ 1, "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n" },
		{ 1, "GET / HTTP/1.1\r\nHost : a\r\n\r\n" },
		{ 0, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		    "Content-Length: 3\r\nSet-Cookie: a=b\r\n\r\n" },
		{ 0, "HTTP/1.1 304\r\nETag: \"x\"\r\n\r\n" }
	};
	struct http_msg	 a, b;
	size_t		 i, j, len;
	int		 same;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		len = strlen(t[i].s);
		head_feed(&a, t[i].is_request, t[i].s, len, len, &limits);
		head_feed(&b, t[i].is_request, t[i].s, len, 1, &limits);
		same = a.state == b.state && a.head_len == b.head_len &&
		    a.flags == b.flags && a.nheaders == b.nheaders &&
		    a.host == b.host && a.status == b.status &&
		    a.content_length == b.content_length &&
		    a.error_status == b.error_status &&
		    a.target_off == b.target_off &&
		    a.target_len == b.target_len &&
		    a.method_off == b.method_off &&
		    ((a.error == NULL && b.error == NULL) ||
		    (a.error != NULL && b.error != NULL &&
		    strcmp(a.error, b.error) == 0));
		for (j = 0; same && j < a.nheaders; j++)
			same = memcmp(&a.headers[j], &b.headers[j],
			    sizeof a.headers[j]) == 0;
		ok(same, "message %zu fed a byte at a time parses the same",
		    i + 1);
	}
}

/* Two pipelined requests in one buffer. */
static void
test_pipeline(void)
{
	const char	*s = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
			    "GET /2 HTTP/1.1\r\nHost: b\r\n\r\n";
	struct http_msg	 msg;
	size_t		 first;

	is_int(head_parse(&msg, 1, s), HTTP_PARSE_DONE,
	    "the first pipelined request parses");
	first = msg.head_len;
	is_int(first, strlen(s) / 2, "it stops at the second request");
	is_int(head_parse(&msg, 1, s + first), HTTP_PARSE_DONE,
	    "the second pipelined request parses from head_len");
	ok(value_is(&msg, s + first, "host", "b"), "its Host is b");
}

/* The chunked body parser. */
static void
test_chunked(void)
{
	static const char	 body[] = "5\r\nhello\r\n"
				    "6;name=value;x = \"q\\\"s\" ; flag\r\n"
				    " world\r\n"
				    "10\r\n0123456789abcdef\r\n"
				    "0\r\nX-Trailer: t\r\nX-Sum:\r\n\r\n"
				    "NEXT";
	static const struct {
		const char	*what;
		const char	*s;
		const char	*error;
	} bad[] = {
		{ "a size 0x5", "0x5\r\nhello\r\n0\r\n\r\n", "bad chunk size" },
		{ "a size -1", "-1\r\n", "bad chunk size" },
		{ "an empty size", "\r\n", "bad chunk size" },
		{ "a size of 17 hex digits", "fffffffffffffffff\r\n",
		  "bad chunk size" },
		{ "a size of 17 digits with leading zeros",
		  "00000000000000005\r\n", "bad chunk size" },
		{ "a size past INT64_MAX", "8000000000000000\r\n",
		  "bad chunk size" },
		{ "a size with a trailing space", "5 \r\nhello\r\n",
		  "bad chunk size" },
		{ "a size with a leading space", " 5\r\n", "bad chunk size" },
		{ "a bare LF after the size", "5\nhello\r\n", "bare lf" },
		{ "a bare CR after the size", "5\rhello\r\n", "bare cr" },
		{ "data followed by X", "5\r\nhelloX\r\n0\r\n\r\n",
		  "bad chunk" },
		{ "data followed by a bare LF", "5\r\nhello\n0\r\n\r\n",
		  "bad chunk" },
		{ "data too long for its size", "3\r\nhello\r\n", "bad chunk" },
		{ "an extension without a name", "5;\r\n",
		  "bad chunk extension" },
		{ "an extension with trailing whitespace", "5;a \r\n",
		  "bad chunk extension" },
		{ "an extension value with trailing whitespace",
		  "5;a=b \r\n", "bad chunk extension" },
		{ "an extension with an empty value", "5;a=\r\n",
		  "bad chunk extension" },
		{ "an unterminated quoted extension", "5;a=\"b\r\n",
		  "bad chunk extension" },
		{ "an extension with text after a quote", "5;a=\"b\"c\r\n",
		  "bad chunk extension" },
		{ "a NUL in an extension", "5;a\0b\r\n", "nul byte" },
		{ "an obs-folded trailer", "0\r\nX: a\r\n b\r\n\r\n",
		  "obsolete line folding" },
		{ "whitespace before a trailer colon", "0\r\nX : a\r\n\r\n",
		  "whitespace before colon" },
		{ "a bare CR in a trailer", "0\r\nX: a\rb\r\n\r\n", "bare cr" },
		{ "a trailer without colon", "0\r\nX\r\n\r\n",
		  "bad trailer field" },
		{ "a bare LF ending the trailers", "0\r\n\n", "bare lf" }
	};
	struct chunk_run	 cr, one;
	char			 big[5000];
	size_t			 i, len;

	chunk_feed(&cr, body, sizeof body - 1, sizeof body);
	is_int(cr.r, HTTP_PARSE_DONE, "a chunked body parses at once");
	ok(cr.datalen == 27 && memcmp(cr.data,
	    "hello world0123456789abcdef", 27) == 0,
	    "its data is passed on and extensions and trailers dropped");
	is_int(cr.used, sizeof body - 1 - 4,
	    "the bytes after the last chunk are not consumed");
	chunk_feed(&one, body, sizeof body - 1, 1);
	ok(one.r == HTTP_PARSE_DONE && one.datalen == cr.datalen &&
	    memcmp(one.data, cr.data, cr.datalen) == 0 && one.used == cr.used,
	    "fed a byte at a time it gives the same data");
	chunk_feed(&one, body, sizeof body - 1, 7);
	ok(one.r == HTTP_PARSE_DONE && one.datalen == cr.datalen &&
	    memcmp(one.data, cr.data, cr.datalen) == 0 && one.used == cr.used,
	    "fed 7 bytes at a time it gives the same data");
	chunk_feed(&cr, body, 20, 20);
	is_int(cr.r, HTTP_PARSE_AGAIN, "a truncated body asks for more");

	chunk_feed(&cr, "5 ;a\r\nhello\r\n0\r\n\r\n", 19, 1);
	is_int(cr.r, HTTP_PARSE_DONE,
	    "whitespace between size and extension is accepted");
	chunk_feed(&cr, "A\r\n0123456789\r\n0\r\n\r\n", 21, 3);
	ok(cr.r == HTTP_PARSE_DONE && cr.datalen == 10,
	    "an uppercase hex size is accepted");
	chunk_feed(&cr, "7fffffffffffffff\r\n", 18, 18);
	is_int(cr.r, HTTP_PARSE_AGAIN, "a size of INT64_MAX is accepted");

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		len = strlen(bad[i].s);
		if (strcmp(bad[i].what, "a NUL in an extension") == 0)
			len = 7;
		chunk_feed(&cr, bad[i].s, len, len);
		is_int(cr.r, HTTP_PARSE_ERROR, "%s is refused", bad[i].what);
		is_str(cr.error, bad[i].error, "%s is refused as \"%s\"",
		    bad[i].what, bad[i].error);
		chunk_feed(&one, bad[i].s, len, 1);
		ok(one.r == HTTP_PARSE_ERROR && one.used == cr.used,
		    "%s fed a byte at a time fails at the same byte",
		    bad[i].what);
	}

	memset(big, 'a', sizeof big);
	big[0] = '1';
	big[1] = ';';
	chunk_feed(&cr, big, sizeof big, 512);
	is_int(cr.r, HTTP_PARSE_ERROR, "an endless chunk line is refused");
	is_str(cr.error, "chunk line too long", "as chunk line too long");
}

/*
 * A size line split across reads: remaining must stay 0 until the line
 * ends, since the relay moves data by it.
 */
static void
test_chunk_size_split(void)
{
	struct http_chunked	c;
	size_t			used;
	enum http_parse_result	r;

	http_chunked_init(&c);
	r = http_chunked_parse(&c, "100", 3, &used);
	ok(r == HTTP_PARSE_AGAIN && used == 3, "a partial size line is taken");
	is_int(c.remaining, 0, "no data is announced before the line ends");
	r = http_chunked_parse(&c, "00\r\n", 4, &used);
	is_int(c.remaining, 0x10000, "the size counts once its line ends");
	r = http_chunked_parse(&c, "x", 1, &used);
	ok(r == HTTP_PARSE_DATA && used == 0, "then data follows");
}

int
main(void)
{
	test_chunk_size_split();
	test_get();
	test_post();
	test_chunked_request();
	test_request_forms();
	test_refused();
	test_limits();
	test_flags();
	test_responses();
	test_versions();
	test_resume();
	test_pipeline();
	test_chunked();
	return (done_testing());
}
