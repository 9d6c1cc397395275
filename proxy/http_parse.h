/*
 * A strict HTTP/1.x parser: request and response heads (RFC 9112 sections
 * 2-5, field values per RFC 9110 section 5.5) and chunked framing (RFC 9112
 * section 7.1).  It accepts exactly the grammar and never repairs input.
 * The parsers keep their state in a struct, consume whatever bytes have
 * arrived and allocate nothing: header positions are offsets into the
 * caller's buffer.
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS	100

enum http_parse_result {
	HTTP_PARSE_AGAIN,	/* need more bytes */
	HTTP_PARSE_DONE,	/* head (or chunked body) complete */
	HTTP_PARSE_DATA,	/* chunked: chunk data follows */
	HTTP_PARSE_ERROR	/* msg->error says why */
};

enum http_method {
	HTTP_OTHER,
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_CONNECT,
	HTTP_OPTIONS,
	HTTP_TRACE,
	HTTP_PATCH
};

/* Per-header flags. */
#define HTTP_HDR_HOP		0x01	/* hop-by-hop: not forwarded */
#define HTTP_HDR_HOST		0x02
#define HTTP_HDR_CL		0x04	/* Content-Length */
#define HTTP_HDR_TE		0x08	/* Transfer-Encoding */
#define HTTP_HDR_XFF		0x10	/* X-Forwarded-For */
#define HTTP_HDR_COOKIE		0x20
#define HTTP_HDR_XFWD		0x40	/* X-Forwarded-Proto, X-Real-IP */

struct http_header {
	uint32_t	name_off;
	uint32_t	name_len;
	uint32_t	value_off;	/* without surrounding whitespace */
	uint32_t	value_len;
	uint32_t	flags;
};

/* Message flags, valid once the head is parsed. */
#define HTTP_F_CHUNKED		0x001	/* Transfer-Encoding ends in chunked */
#define HTTP_F_HAS_CL		0x002	/* content_length is set */
#define HTTP_F_CONN_CLOSE	0x004	/* Connection: close */
#define HTTP_F_CONN_KEEPALIVE	0x008	/* Connection: keep-alive */
#define HTTP_F_CONN_UPGRADE	0x010	/* Connection: upgrade */
#define HTTP_F_UPGRADE		0x020	/* an Upgrade header is present */
#define HTTP_F_EXPECT_CONTINUE	0x040	/* Expect: 100-continue */
#define HTTP_F_HAS_TE		0x080	/* a Transfer-Encoding header */
#define HTTP_F_CL_REPEATED	0x100	/* Content-Length given twice: forward one */
#define HTTP_F_TE_OTHER		0x200	/* a transfer coding other than chunked:
					   a request is refused, a response
					   left to the caller */
#define HTTP_F_CL_AND_TE	0x400	/* a response with both: TE wins */
#define HTTP_F_TARGET_MIXED	0x800	/* the target has bytes other than
					   pchar, "/" and "?" (parser's own) */
#define HTTP_F_UPGRADE_H2C	0x1000	/* Upgrade offers h2c (RFC 9113
					   3.1 retires it) or is no list
					   of protocols: no tunnel */

struct http_limits {
	size_t		max_header_size;	/* whole head; beyond: 431 */
	size_t		max_uri_size;		/* request target; beyond: 414 */
};

struct http_msg {
	/* Parser state. */
	int			 state;
	size_t			 pos;		/* bytes of the head consumed */
	size_t			 mark;		/* start of the current token */
	int			 is_request;

	/* Request line. */
	enum http_method	 method;
	uint32_t		 method_len;
	uint32_t		 method_off;	/* 0 unless empty lines came first */
	uint32_t		 target_off;
	uint32_t		 target_len;
	/* Status line. */
	int			 status;
	uint32_t		 reason_off;
	uint32_t		 reason_len;

	int			 version_minor;	/* HTTP/1.0 or HTTP/1.1 */
	struct http_header	 headers[HTTP_MAX_HEADERS];
	unsigned		 nheaders;
	int			 host;		/* index of Host, or -1 */
	size_t			 head_len;	/* bytes up to the empty line */
	uint64_t		 content_length;
	unsigned		 flags;

	const char		*error;		/* why parsing failed */
	int			 error_status;	/* 400, 414, 431 or 505 */
};

struct http_chunked {
	int		state;
	uint64_t	remaining;	/* chunk data bytes still to pass */
	uint64_t	size;		/* the chunk-size being read */
	size_t		linelen;	/* bytes of the current framing line */
	unsigned	ndigits;
	const char	*error;
};

/* Prepares msg for a new request (is_request 1) or response head. */
void	http_msg_init(struct http_msg *, int is_request);
/*
 * Parses the head in buf[0..len), resuming at msg->pos; buf must hold the
 * same bytes as on the previous call, plus any that arrived since.
 */
enum http_parse_result http_parse_head(struct http_msg *, const char *buf,
	    size_t len, const struct http_limits *);
/* Returns nonzero when header h's name equals name (case-insensitive). */
int	http_header_is(const struct http_msg *, const char *buf,
	    const struct http_header *h, const char *name);
/* Finds the first header with that name; NULL when absent. */
const struct http_header *http_header_find(const struct http_msg *,
	    const char *buf, const char *name);
/*
 * Splits a request target: the host of an absolute-form one ("http://h/p"),
 * NULL for other forms, and what follows it, path and query.
 */
void	http_target_split(const char *, size_t, const char **host,
	    size_t *hostlen, const char **path, size_t *pathlen);
/* Returns the method's name as a static string ("GET", ...), NULL if other. */
const char *http_method_name(enum http_method);

/* Prepares a chunked body parser. */
void	http_chunked_init(struct http_chunked *);
/*
 * Consumes framing bytes from buf[0..len) and sets *used.  Returns
 * HTTP_PARSE_DATA when c->remaining data bytes follow (the caller passes
 * them on and reports them with http_chunked_consume()), DONE after the
 * last chunk and its trailer section, AGAIN when all of buf was framing,
 * ERROR with c->error set.  Chunk extensions and trailers are checked
 * against the grammar and dropped.
 */
enum http_parse_result http_chunked_parse(struct http_chunked *,
	    const char *buf, size_t len, size_t *used);
/* Records that n bytes of chunk data were passed on. */
void	http_chunked_consume(struct http_chunked *, uint64_t n);

#endif
