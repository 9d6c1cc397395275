/*
 * The test backend: a small HTTP/1.1 origin server that the tests and the
 * demo put behind cutover.  It is written by hand on bufferevents rather
 * than on evhttp so that it controls framing to the byte: it can send a
 * chunked body in pieces, claim a longer body than it sends and then reset
 * the connection, answer with a close-delimited body, or echo the raw head
 * it received.  Each request says what it wants in its query string, so a
 * test needs no setup:
 *
 *	status=N	answer with status N (200-599)
 *	delay=MS	wait MS after the request head before anything else
 *	size=N		a body of N pattern bytes ('a' + offset % 26)
 *	chunked=1	a chunked body, in several chunks
 *	chunkdelay=MS	wait MS between chunks (streaming tests)
 *	die=N		claim a longer body, send N bytes of it, then RST
 *	fin=1		with die=: a plain close (FIN) instead of the RST, and
 *			over TLS without close_notify, as a crash would
 *	close=1		Connection: close, then close
 *	echo=1		the request body as the body, streamed
 *	echo=count	"bytes=N sum=HEX\n": count and SHA-1 of the request body
 *	headers=1	the request head, verbatim, as the body
 *	hang=1		never answer
 *	reset=1		RST at once, without an answer
 *	noheaders-close=1  no Content-Length: the body ends when we close
 *	interim=1NN	send an interim 1NN response before the final one
 *	interims=N	with interim=: N of them (at most 1000000)
 *	bad=1		a malformed status line, then close
 *	bad=2		two different Content-Length values, then close
 *	bad=3		a head cut short, then RST
 *	bad=4		Transfer-Encoding: gzip (never asked for), then close
 *	bad=5		"Content-Length: 5, 5": to pass on as one value
 *	bad=6		Content-Length and a chunked body, kept alive: the
 *			proxy must not reuse the connection
 *	bad=7		a 204 with Content-Length: 0, kept alive
 *
 * GET /health answers "ok" (status from -H, delay from -D), GET /ws with
 * Upgrade: websocket switches to an echo tunnel after a 101, and
 * GET /_control?status=N&delay=MS&health=N&health_delay=MS changes the
 * defaults at run time.  SIGUSR1 makes /health answer 503, SIGUSR2 undoes
 * it.  With -k MS, keep-alive connections idle for MS are closed.
 *
 * Bodies of any size stream both ways with bounded buffers: request
 * bodies are consumed as they arrive, response bodies are generated from
 * the write watermark callback, and reading stops while the output is
 * full.  -l LOGFILE appends "conn=N METHOD TARGET" for each request and
 * "conn=N BAD reason" for each one refused with 400.  SIGTERM and SIGINT
 * exit 0.
 *
 * With -t PEM (a certificate and its key) it speaks TLS, and each response
 * says in X-TLS-SNI the server name the client asked for ("-": none) and
 * in X-TLS-Resumed whether the client resumed a session (1) or not (0).
 * With -C CA as well it asks clients for a certificate that CA signed,
 * refuses those without, and names the client's in X-TLS-Client (its CN).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define HEAD_MAX	65536		/* longest request head */
#define LINE_MAX_CHUNK	4096		/* longest chunk-size or trailer line */
#define IN_HIGH		(256 * 1024)	/* stop reading the socket above this */
#define OUT_HIGH	(256 * 1024)	/* stop producing output above this */
#define OUT_LOW		(64 * 1024)	/* resume producing below this */
#define CHUNK_MAX	16384		/* largest chunk we send */
#define LINGER_MS	2000		/* lingering close: longest wait for EOF */
#define RST_WAIT_MS	10000		/* die=: longest wait for the ACKs */

enum conn_state {
	CONN_HEAD,		/* waiting for a request head */
	CONN_DELAY,		/* the delay= timer runs */
	CONN_BODY,		/* consuming the request body */
	CONN_RESPOND,		/* producing the response body */
	CONN_TUNNEL,		/* after a 101: echo raw bytes */
	CONN_HANG,		/* hang=1: discard input, never answer */
	CONN_FLUSH,		/* last bytes queued: write them, then close */
	CONN_LINGER,		/* write side shut: discard input until EOF */
	CONN_RESET_WAIT		/* die=: wait until the peer has it all, RST */
};

enum body_framing {
	BODY_NONE,
	BODY_LENGTH,
	BODY_CHUNKED
};

enum chunk_state {
	CHUNK_SIZE,
	CHUNK_DATA,
	CHUNK_DATA_CRLF,
	CHUNK_TRAILER
};

enum echo_mode {
	ECHO_OFF,
	ECHO_RAW,
	ECHO_COUNT
};

struct sha1 {
	uint32_t	h[5];
	uint64_t	len;
	uint8_t		buf[64];
	size_t		n;
};

/* One request: what its head said and what its query asks for. */
struct request {
	char		*head;		/* the raw head, NUL-terminated */
	size_t		 head_len;
	char		 method[32];
	char		*target;	/* points into a copy owned here */
	int		 minor;		/* HTTP/1.minor */
	int		 keepalive;
	int		 expect_continue;
	int		 upgrade_ws;
	char		 ws_key[64];

	enum body_framing framing;
	uint64_t	 body_left;	/* Content-Length or current chunk */
	enum chunk_state chunk;
	uint64_t	 body_bytes;	/* decoded body bytes seen */
	struct sha1	 sum;

	int		 status;
	int		 interim;
	long		 interims;
	long		 delay_ms;
	long		 chunkdelay_ms;
	int		 has_size;
	uint64_t	 size;
	int		 chunked;
	int		 has_die;
	uint64_t	 die;
	int		 fin;
	int		 close;
	enum echo_mode	 echo;
	int		 headers;
	int		 hang;
	int		 reset;
	int		 noheaders_close;
	int		 bad;
	int		 is_health;
	int		 is_control;
};

/* The response body being produced by conn_fill(). */
struct response {
	const char	*fixed;		/* body text, or NULL for the pattern */
	uint64_t	 total;		/* length of the whole body */
	uint64_t	 limit;		/* bytes to produce (fewer with die=) */
	uint64_t	 done;		/* bytes produced so far */
	int		 chunked;
	uint64_t	 chunk_size;
	int		 die;
	int		 fin;		/* die= ends with a bare FIN */
	int		 close;		/* close the connection afterwards */
	int		 waiting;	/* chunkdelay timer pending */
};

/* A client connection; owned by the global list, freed by conn_free(). */
struct conn {
	TAILQ_ENTRY(conn) entry;
	struct bufferevent *bev;
	struct event	*timer;
	uint64_t	 id;		/* X-Conn */
	uint64_t	 nreq;		/* X-Req */
	enum conn_state	 state;
	int		 eof;		/* the client sent FIN */
	long		 waited_ms;	/* time spent in CONN_RESET_WAIT */
	char		*body;		/* owned text for response.fixed */
	struct request	 req;
	struct response	 resp;
};

static TAILQ_HEAD(, conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static struct event_base *base;
static const char	*name = "backend";
static FILE		*reqlog;
static uint64_t		 conn_seq;
static int		 health_status = 200;
static int		 health_override;	/* 503 after SIGUSR1 */
static long		 health_delay_ms;
static int		 default_status = 200;
static long		 default_delay_ms;
static long		 idle_ms;		/* -k: close idle keep-alive */
static SSL_CTX		*tls_ctx;		/* -t: speak TLS */
static char		 pattern[CHUNK_MAX + 32];

static int	conn_process(struct conn *);
static void	conn_free(struct conn *);

/* SHA-1 (FIPS 180-4), for echo=count and Sec-WebSocket-Accept. */
static void
sha1_init(struct sha1 *s)
{
	static const uint32_t h[5] = {
		0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0
	};

	memcpy(s->h, h, sizeof h);
	s->len = 0;
	s->n = 0;
}

#define ROL(x, n)	(((x) << (n)) | ((x) >> (32 - (n))))

static void
sha1_block(struct sha1 *s, const uint8_t *p)
{
	uint32_t	w[80], a, b, c, d, e, f, k, t;
	int		i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 80; i++)
		w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = ROL(a, 5) + f + e + k + w[i];
		e = d; d = c; c = ROL(b, 30); b = a; a = t;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e;
}

static void
sha1_update(struct sha1 *s, const void *data, size_t len)
{
	const uint8_t	*p = data;
	size_t		 take;

	s->len += len;
	while (len > 0) {
		if (s->n == 0 && len >= 64) {
			sha1_block(s, p);
			p += 64;
			len -= 64;
			continue;
		}
		take = 64 - s->n < len ? 64 - s->n : len;
		memcpy(s->buf + s->n, p, take);
		s->n += take;
		p += take;
		len -= take;
		if (s->n == 64) {
			sha1_block(s, s->buf);
			s->n = 0;
		}
	}
}

static void
sha1_final(struct sha1 *s, uint8_t out[20])
{
	uint64_t	bits = s->len * 8;
	uint8_t		pad[72];
	size_t		padlen;
	int		i;

	padlen = (s->n < 56 ? 56 : 120) - s->n;
	memset(pad, 0, sizeof pad);
	pad[0] = 0x80;
	for (i = 0; i < 8; i++)
		pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(s, pad, padlen + 8);
	for (i = 0; i < 20; i++)
		out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

/* Base64 of len bytes into out, which has room for 4 * (len + 2) / 3 + 1. */
static void
base64(const uint8_t *in, size_t len, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t	i;
	uint32_t v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = tab[v & 63];
	}
	if (i < len) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* Parses a decimal number made of digits only; -1 when it is not one. */
static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t	v = 0;
	size_t		i;

	if (len == 0 || len > 19)
		return (-1);
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (-1);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return (0);
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 100: return ("Continue");
	case 101: return ("Switching Protocols");
	case 103: return ("Early Hints");
	case 200: return ("OK");
	case 201: return ("Created");
	case 204: return ("No Content");
	case 301: return ("Moved Permanently");
	case 302: return ("Found");
	case 304: return ("Not Modified");
	case 400: return ("Bad Request");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 413: return ("Content Too Large");
	case 429: return ("Too Many Requests");
	case 500: return ("Internal Server Error");
	case 502: return ("Bad Gateway");
	case 503: return ("Service Unavailable");
	case 504: return ("Gateway Timeout");
	default: return ("Status");
	}
}

/* Arms the connection's timer; the timer callback acts on the state. */
static void
conn_timer_set(struct conn *c, long ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* Frees a connection; its socket is closed (reset if SO_LINGER was set). */
static void
conn_free(struct conn *c)
{
	TAILQ_REMOVE(&conns, c, entry);
	event_free(c->timer);
	bufferevent_free(c->bev);
	free(c->req.head);
	free(c->req.target);
	free(c->body);
	free(c);
}

/* Closes with a TCP reset (SO_LINGER with a zero timeout); fin=1: a FIN. */
static void
conn_reset(struct conn *c)
{
	struct linger	l = { 1, 0 };
	SSL		*ssl;

	if (c->resp.fin) {
		/* A crash: the kernel's FIN, no TLS close_notify. */
		if ((ssl = bufferevent_openssl_get_ssl(c->bev)) != NULL)
			SSL_set_quiet_shutdown(ssl, 1);
		shutdown(bufferevent_getfd(c->bev), SHUT_WR);
		conn_free(c);
		return;
	}
	setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &l,
	    sizeof l);
	conn_free(c);
}

/* Queues the last bytes, then closes gracefully (see CONN_FLUSH). */
static void
conn_finish(struct conn *c)
{
	c->state = CONN_FLUSH;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

/* Forgets the finished request before the next one is read. */
static void
conn_request_clear(struct conn *c)
{
	free(c->req.head);
	free(c->req.target);
	free(c->body);
	c->body = NULL;
	memset(&c->req, 0, sizeof c->req);
	memset(&c->resp, 0, sizeof c->resp);
}

/* Writes a response head with our identification headers. */
static void
conn_send_head(struct conn *c, int status, const char *framing, int close,
    const char *extra)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	const char	*conn_hdr = "", *sni = NULL;
	char		 client[128] = "";
	X509		*peer;
	SSL		*ssl;

	if ((ssl = bufferevent_openssl_get_ssl(c->bev)) != NULL &&
	    (sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) == NULL)
		sni = "-";
	if (ssl != NULL && (peer = SSL_get0_peer_certificate(ssl)) != NULL) {
		memcpy(client, "X-TLS-Client: ", 14);
		if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
		    NID_commonName, client + 14, sizeof client - 16) < 0)
			strcpy(client + 14, "?");
		strcat(client, "\r\n");
	}
	if (close)
		conn_hdr = "Connection: close\r\n";
	else if (c->req.minor == 0)
		conn_hdr = "Connection: keep-alive\r\n";
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "X-Backend: %s\r\nX-Conn: %" PRIu64 "\r\nX-Req: %" PRIu64 "\r\n"
	    "Content-Type: text/plain\r\n%s%s%s%s%s%s%s%s\r\n",
	    status, reason_phrase(status), name, c->id, c->nreq,
	    framing, conn_hdr, extra != NULL ? extra : "",
	    sni != NULL ? "X-TLS-SNI: " : "", sni != NULL ? sni : "",
	    sni != NULL ? "\r\n" : "", ssl == NULL ? "" :
	    SSL_session_reused(ssl) ? "X-TLS-Resumed: 1\r\n" :
	    "X-TLS-Resumed: 0\r\n", client);
}

/* Answers 400 to input we cannot parse and closes. */
static void
conn_bad_request(struct conn *c, const char *why)
{
	char	 framing[64];
	char	 body[128];

	if (reqlog != NULL) {
		fprintf(reqlog, "conn=%" PRIu64 " BAD %s\n", c->id, why);
		fflush(reqlog);
	}
	snprintf(body, sizeof body, "bad request: %s\n", why);
	snprintf(framing, sizeof framing, "Content-Length: %zu\r\n",
	    strlen(body));
	conn_send_head(c, 400, framing, 1, NULL);
	evbuffer_add(bufferevent_get_output(c->bev), body, strlen(body));
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	conn_finish(c);
}

/* Whether the comma-separated header value holds token (any case). */
static int
header_has_token(const char *value, const char *token)
{
	size_t		 tlen = strlen(token), n;
	const char	*p = value;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == tlen && strncasecmp(p, token, n) == 0)
			return (1);
		p += strcspn(p, ",");
	}
	return (0);
}

/* Reads one query parameter into the request; -1 for a bad value. */
static int
request_param(struct request *r, const char *k, size_t klen, const char *v,
    size_t vlen)
{
	uint64_t	n;

#define KEY(s)	(klen == sizeof(s) - 1 && memcmp(k, s, klen) == 0)
	if (KEY("echo") && vlen == 5 && memcmp(v, "count", 5) == 0) {
		r->echo = ECHO_COUNT;
		return (0);
	}
	if (!KEY("status") && !KEY("delay") && !KEY("size") &&
	    !KEY("chunked") && !KEY("die") && !KEY("fin") && !KEY("close") &&
	    !KEY("echo") &&
	    !KEY("headers") && !KEY("hang") && !KEY("reset") &&
	    !KEY("noheaders-close") && !KEY("chunkdelay") && !KEY("interim") &&
	    !KEY("interims") &&
	    !KEY("bad"))
		return (0);
	if (vlen == 0) {
		v = "1";
		vlen = 1;
	}
	if (parse_u64(v, vlen, &n) == -1)
		return (-1);
	if (KEY("status")) {
		if (n < 200 || n > 599)
			return (-1);
		r->status = (int)n;
	} else if (KEY("interim")) {
		if (n < 100 || n > 199 || n == 101)
			return (-1);
		r->interim = (int)n;
	} else if (KEY("interims")) {
		if (n > 1000000)
			return (-1);
		r->interims = (long)n;
	} else if (KEY("delay"))
		r->delay_ms = n > 3600000 ? 3600000 : (long)n;
	else if (KEY("chunkdelay"))
		r->chunkdelay_ms = n > 60000 ? 60000 : (long)n;
	else if (KEY("size")) {
		r->has_size = 1;
		r->size = n;
	} else if (KEY("die")) {
		r->has_die = 1;
		r->die = n;
	} else if (KEY("fin"))
		r->fin = n != 0;
	else if (KEY("chunked"))
		r->chunked = n != 0;
	else if (KEY("close"))
		r->close = n != 0;
	else if (KEY("echo"))
		r->echo = n != 0 ? ECHO_RAW : ECHO_OFF;
	else if (KEY("headers"))
		r->headers = n != 0;
	else if (KEY("hang"))
		r->hang = n != 0;
	else if (KEY("reset"))
		r->reset = n != 0;
	else if (KEY("noheaders-close"))
		r->noheaders_close = n != 0;
	else if (KEY("bad")) {
		if (n > 7)
			return (-1);
		r->bad = (int)n;
	}
#undef KEY
	return (0);
}

/* Splits the query string of the target into parameters. */
static int
request_parse_query(struct request *r, const char *q)
{
	const char	*amp, *eq, *end;

	while (*q != '\0' && *q != '#') {
		end = q + strcspn(q, "&#");
		amp = end;
		eq = memchr(q, '=', (size_t)(end - q));
		if (eq == NULL)
			eq = end;
		if (eq > q && request_param(r, q, (size_t)(eq - q),
		    eq < end ? eq + 1 : end,
		    eq < end ? (size_t)(end - eq - 1) : 0) == -1)
			return (-1);
		q = *amp == '&' ? amp + 1 : amp;
	}
	return (0);
}

/* Sets the path flags (health, control, websocket) from the target. */
static void
request_parse_path(struct request *r)
{
	const char	*p = r->target;
	size_t		 len;

	if (strncasecmp(p, "http://", 7) == 0) {
		p += 7;
		p += strcspn(p, "/?");
	}
	len = strcspn(p, "?#");
	if (len == 7 && memcmp(p, "/health", 7) == 0)
		r->is_health = 1;
	else if (len == 9 && memcmp(p, "/_control", 9) == 0)
		r->is_control = 1;
	else if (len == 3 && memcmp(p, "/ws", 3) == 0 &&
	    strcmp(r->method, "GET") == 0 && r->upgrade_ws)
		return;
	r->upgrade_ws = 0;
}

/* Parses the request line; returns NULL or why it is bad. */
static const char *
request_parse_line(struct request *r, char *line)
{
	char	*sp1, *sp2, *p;

	if ((sp1 = strchr(line, ' ')) == NULL ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL || strchr(sp2 + 1, ' '))
		return ("malformed request line");
	*sp1 = *sp2 = '\0';
	if (sp1 == line || (size_t)(sp1 - line) >= sizeof r->method)
		return ("bad method");
	for (p = line; *p != '\0'; p++)
		if (!isalpha((unsigned char)*p) && *p != '-' && *p != '_')
			return ("bad method");
	strcpy(r->method, line);
	if (sp2 == sp1 + 1)
		return ("empty target");
	for (p = sp1 + 1; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return ("bad target");
	if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
		r->minor = 1;
	else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
		r->minor = 0;
	else
		return ("unsupported version");
	r->keepalive = r->minor == 1;
	if ((r->target = strdup(sp1 + 1)) == NULL)
		abort();
	return (NULL);
}

/* Acts on one header field; returns NULL or why it is bad. */
static const char *
request_parse_field(struct request *r, char *line, int *seen_cl)
{
	char		*colon, *v, *end, *p;
	uint64_t	 n;

	if (*line == ' ' || *line == '\t')
		return ("obsolete line folding");
	if ((colon = strchr(line, ':')) == NULL || colon == line)
		return ("malformed header field");
	for (p = line; p < colon; p++)
		if (!isgraph((unsigned char)*p) || strchr("\"(),/;<=>?@[\\]{}",
		    *p) != NULL)
			return ("bad header name");
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (end = v + strlen(v); end > v && (end[-1] == ' ' ||
	    end[-1] == '\t'); end--)
		;
	*end = '\0';
	if (strcasecmp(line, "Content-Length") == 0) {
		if (parse_u64(v, strlen(v), &n) == -1)
			return ("bad content-length");
		if (*seen_cl && n != r->body_left)
			return ("conflicting content-length");
		*seen_cl = 1;
		r->body_left = n;
	} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
		if ((p = strrchr(v, ',')) == NULL)
			p = v;
		else
			p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strcasecmp(p, "chunked") != 0 || r->framing == BODY_CHUNKED)
			return ("unsupported transfer-encoding");
		r->framing = BODY_CHUNKED;
	} else if (strcasecmp(line, "Connection") == 0) {
		if (header_has_token(v, "close"))
			r->keepalive = 0;
		else if (header_has_token(v, "keep-alive"))
			r->keepalive = 1;
	} else if (strcasecmp(line, "Expect") == 0) {
		if (strcasecmp(v, "100-continue") == 0)
			r->expect_continue = r->minor == 1;
	} else if (strcasecmp(line, "Upgrade") == 0) {
		if (header_has_token(v, "websocket"))
			r->upgrade_ws = 1;
	} else if (strcasecmp(line, "Sec-WebSocket-Key") == 0) {
		snprintf(r->ws_key, sizeof r->ws_key, "%s", v);
	}
	return (NULL);
}

/* Parses the head r->head; returns NULL or why it is bad. */
static const char *
request_parse(struct request *r)
{
	char		*copy, *line, *next;
	const char	*why = NULL;
	int		 seen_cl = 0;

	if (strlen(r->head) != r->head_len)
		return ("NUL in head");
	if ((copy = strdup(r->head)) == NULL)
		abort();
	line = copy;
	next = strstr(line, "\r\n");
	*next = '\0';
	if (strchr(line, '\r') != NULL || strchr(line, '\n') != NULL)
		why = "bare CR or LF";
	else
		why = request_parse_line(r, line);
	while (why == NULL) {
		line = next + 2;
		next = strstr(line, "\r\n");
		*next = '\0';
		if (*line == '\0')
			break;
		if (strchr(line, '\r') != NULL || strchr(line, '\n') != NULL)
			why = "bare CR or LF";
		else
			why = request_parse_field(r, line, &seen_cl);
	}
	if (why == NULL && seen_cl && r->framing == BODY_CHUNKED)
		why = "both content-length and transfer-encoding";
	if (why == NULL && seen_cl && r->body_left > 0)
		r->framing = BODY_LENGTH;
	if (why == NULL && r->framing == BODY_CHUNKED)
		r->body_left = 0;
	if (why == NULL) {
		request_parse_path(r);
		if (strchr(r->target, '?') != NULL &&
		    request_parse_query(r, strchr(r->target, '?') + 1) == -1)
			why = "bad query parameter";
	}
	free(copy);
	return (why);
}

/* Appends one line to the request log given with -l. */
static void
conn_log_request(struct conn *c)
{
	if (reqlog == NULL)
		return;
	fprintf(reqlog, "conn=%" PRIu64 " %s %s\n", c->id, c->req.method,
	    c->req.target);
	fflush(reqlog);
}

/*
 * Reads a request head from the input.  Returns 1 when a request was
 * parsed, 0 when more input is needed, -1 when the head was refused (the
 * 400 is queued and the connection is closing).
 */
static int
conn_read_head(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr	 p;
	unsigned char		 crlf[2];
	const char		*why;
	size_t			 len;

	/* RFC 9112 section 2.2: ignore empty lines before a request. */
	while (evbuffer_copyout(in, crlf, 2) == 2 && crlf[0] == '\r' &&
	    crlf[1] == '\n')
		evbuffer_drain(in, 2);
	p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (p.pos == -1) {
		if (evbuffer_get_length(in) > HEAD_MAX) {
			conn_bad_request(c, "head too large");
			return (-1);
		}
		return (0);
	}
	len = (size_t)p.pos + 4;
	if (len > HEAD_MAX) {
		conn_bad_request(c, "head too large");
		return (-1);
	}
	if ((c->req.head = malloc(len + 1)) == NULL)
		abort();
	evbuffer_remove(in, c->req.head, len);
	c->req.head[len] = '\0';
	c->req.head_len = len;
	evtimer_del(c->timer);
	c->req.status = default_status;
	c->req.delay_ms = default_delay_ms;
	c->nreq++;
	if ((why = request_parse(&c->req)) != NULL) {
		conn_bad_request(c, why);
		return (-1);
	}
	if (c->req.is_health) {
		c->req.status = health_override ? 503 : health_status;
		c->req.delay_ms = health_delay_ms;
		request_parse_query(&c->req, strchr(c->req.target, '?') ?
		    strchr(c->req.target, '?') + 1 : "");
	}
	conn_log_request(c);
	return (1);
}

/* Whether the response to this request has no body (RFC 9110 6.4.1). */
static int
request_no_body(const struct request *r)
{
	return (strcmp(r->method, "HEAD") == 0 || r->status == 204 ||
	    r->status == 304);
}

/* Applies /_control parameters to the defaults; -1 for a bad value. */
static int
control_apply(const char *q)
{
	char		 key[32];
	uint64_t	 n;
	size_t		 klen, vlen;
	const char	*eq, *end;

	while (*q != '\0') {
		end = q + strcspn(q, "&#");
		eq = memchr(q, '=', (size_t)(end - q));
		if (eq == NULL || (klen = (size_t)(eq - q)) >= sizeof key)
			return (-1);
		memcpy(key, q, klen);
		key[klen] = '\0';
		vlen = (size_t)(end - eq - 1);
		if (parse_u64(eq + 1, vlen, &n) == -1)
			return (-1);
		if (strcmp(key, "status") == 0 && n >= 200 && n <= 599)
			default_status = (int)n;
		else if (strcmp(key, "delay") == 0)
			default_delay_ms = (long)n;
		else if (strcmp(key, "health") == 0 && n >= 200 && n <= 599) {
			health_status = (int)n;
			health_override = 0;
		} else if (strcmp(key, "health_delay") == 0)
			health_delay_ms = (long)n;
		else
			return (-1);
		q = *end == '&' ? end + 1 : end;
		if (*end == '#')
			break;
	}
	return (0);
}

/* Sends the 101 and turns the connection into an echo tunnel. */
static void
conn_start_tunnel(struct conn *c)
{
	struct sha1	s;
	uint8_t		digest[20];
	char		accept[64], extra[128];

	extra[0] = '\0';
	if (c->req.ws_key[0] != '\0') {
		sha1_init(&s);
		sha1_update(&s, c->req.ws_key, strlen(c->req.ws_key));
		sha1_update(&s, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
		sha1_final(&s, digest);
		base64(digest, sizeof digest, accept);
		snprintf(extra, sizeof extra, "Sec-WebSocket-Accept: %s\r\n",
		    accept);
	}
	evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nX-Backend: %s\r\nX-Conn: %" PRIu64 "\r\n"
	    "X-Req: %" PRIu64 "\r\n%s\r\n", name, c->id, c->nreq, extra);
	c->state = CONN_TUNNEL;
}

/* Starts the streamed echo: the head now, the body as it arrives. */
static void
conn_start_echo(struct conn *c)
{
	char	framing[64];

	if (c->req.framing == BODY_CHUNKED && c->req.minor == 1) {
		c->resp.chunked = 1;
		conn_send_head(c, c->req.status,
		    "Transfer-Encoding: chunked\r\n", !c->req.keepalive, NULL);
		return;
	}
	if (c->req.framing == BODY_CHUNKED) {
		/* An HTTP/1.0 client cannot take chunks: end by closing. */
		c->req.keepalive = 0;
		conn_send_head(c, c->req.status, "", 1, NULL);
		return;
	}
	snprintf(framing, sizeof framing, "Content-Length: %" PRIu64 "\r\n",
	    c->req.framing == BODY_LENGTH ? c->req.body_left : 0);
	conn_send_head(c, c->req.status, framing, !c->req.keepalive, NULL);
}

/* After the head (and the delay): 101, 100 Continue, echo head, body. */
static int
conn_begin(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	long		 i;

	if (c->req.upgrade_ws) {
		conn_start_tunnel(c);
		return (0);
	}
	if (c->req.expect_continue && c->req.framing != BODY_NONE)
		evbuffer_add_printf(out, "HTTP/1.1 100 Continue\r\n\r\n");
	for (i = 0; c->req.interim != 0 &&
	    i < (c->req.interims > 0 ? c->req.interims : 1); i++)
		evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
		    "Link: </style.css>; rel=preload\r\n\r\n", c->req.interim,
		    reason_phrase(c->req.interim));
	if (c->req.echo == ECHO_RAW)
		conn_start_echo(c);
	if (c->req.echo == ECHO_COUNT)
		sha1_init(&c->req.sum);
	c->state = CONN_BODY;
	return (0);
}

/* Takes n decoded body bytes from the input into the request's sink. */
static void
conn_body_data(struct conn *c, size_t n)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec	 v[16];
	int			 i, nv;
	size_t			 left, done;

	c->req.body_bytes += n;
	switch (c->req.echo) {
	case ECHO_RAW:
		if (c->resp.chunked)
			evbuffer_add_printf(out, "%zx\r\n", n);
		evbuffer_remove_buffer(in, out, n);
		if (c->resp.chunked)
			evbuffer_add(out, "\r\n", 2);
		return;
	case ECHO_COUNT:
		for (left = n; left > 0; left -= done) {
			nv = evbuffer_peek(in, (ev_ssize_t)left, NULL, v, 16);
			done = 0;
			for (i = 0; i < nv && i < 16 && done < left; i++) {
				if (v[i].iov_len > left - done)
					v[i].iov_len = left - done;
				sha1_update(&c->req.sum, v[i].iov_base,
				    v[i].iov_len);
				done += v[i].iov_len;
			}
			evbuffer_drain(in, done);
		}
		return;
	case ECHO_OFF:
		evbuffer_drain(in, n);
		return;
	}
}

/* Reads a CRLF-terminated line of at most LINE_MAX_CHUNK; 0 if partial. */
static int
conn_read_line(struct conn *c, char *buf, size_t size)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr	 p;
	size_t			 len;

	p = evbuffer_search_eol(in, NULL, &len, EVBUFFER_EOL_CRLF_STRICT);
	if (p.pos == -1)
		return (evbuffer_get_length(in) > size ? -1 : 0);
	if ((size_t)p.pos >= size)
		return (-1);
	evbuffer_remove(in, buf, (size_t)p.pos);
	buf[p.pos] = '\0';
	evbuffer_drain(in, 2);
	return (1);
}

/* One step of the chunked decoder; 1 progress, 0 need input, -1 bad. */
static int
conn_body_chunked(struct conn *c, size_t room)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	char		 line[LINE_MAX_CHUNK + 1], *end;
	size_t		 avail = evbuffer_get_length(in), n;
	int		 r;

	switch (c->req.chunk) {
	case CHUNK_SIZE:
		if ((r = conn_read_line(c, line, sizeof line)) != 1)
			return (r);
		line[strcspn(line, ";")] = '\0';
		errno = 0;
		if (!isxdigit((unsigned char)line[0]) || strlen(line) > 15)
			return (-1);
		c->req.body_left = strtoull(line, &end, 16);
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end != '\0' || errno != 0)
			return (-1);
		c->req.chunk = c->req.body_left == 0 ? CHUNK_TRAILER :
		    CHUNK_DATA;
		return (1);
	case CHUNK_DATA:
		n = avail < c->req.body_left ? avail : (size_t)c->req.body_left;
		if (n > room)
			n = room;
		if (n == 0)
			return (0);
		conn_body_data(c, n);
		c->req.body_left -= n;
		if (c->req.body_left == 0)
			c->req.chunk = CHUNK_DATA_CRLF;
		return (1);
	case CHUNK_DATA_CRLF:
		if ((r = conn_read_line(c, line, sizeof line)) != 1)
			return (r);
		if (line[0] != '\0')
			return (-1);
		c->req.chunk = CHUNK_SIZE;
		return (1);
	case CHUNK_TRAILER:
		if ((r = conn_read_line(c, line, sizeof line)) != 1)
			return (r);
		if (line[0] == '\0')
			c->req.framing = BODY_NONE;
		return (1);
	}
	return (-1);
}

/*
 * Consumes the request body.  Returns 1 when it is complete, 0 when more
 * input or output room is needed, -1 when the framing is bad.
 */
static int
conn_read_body(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	size_t		 room, n;
	int		 r;

	for (;;) {
		room = SIZE_MAX;
		if (c->req.echo == ECHO_RAW) {
			if (evbuffer_get_length(out) >= OUT_HIGH)
				return (0);
			room = OUT_HIGH - evbuffer_get_length(out);
		}
		switch (c->req.framing) {
		case BODY_NONE:
			return (1);
		case BODY_LENGTH:
			n = evbuffer_get_length(in);
			if (n > c->req.body_left)
				n = (size_t)c->req.body_left;
			if (n > room)
				n = room;
			if (n == 0)
				return (0);
			conn_body_data(c, n);
			c->req.body_left -= n;
			if (c->req.body_left == 0)
				c->req.framing = BODY_NONE;
			break;
		case BODY_CHUNKED:
			if ((r = conn_body_chunked(c, room)) != 1)
				return (r);
			break;
		}
	}
}

/* bad=: answers that no proxy may pass on; then close or reset. */
static void
conn_send_bad(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	switch (c->req.bad) {
	case 1:
		evbuffer_add_printf(out, "HTTP/1.1 2x0 Broken\r\n"
		    "X-Backend: %s\r\nContent-Length: 5\r\n\r\nbroke", name);
		break;
	case 2:
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nX-Backend: %s\r\n"
		    "Content-Length: 5\r\nContent-Length: 7\r\n\r\nbroke",
		    name);
		break;
	case 4:
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nX-Backend: %s\r\n"
		    "Transfer-Encoding: gzip\r\n\r\nnot gzip", name);
		break;
	case 5:
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nX-Backend: %s\r\n"
		    "Content-Length: 5, 5\r\n\r\nhello", name);
		break;
	case 6:
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nX-Backend: %s\r\n"
		    "X-Conn: %" PRIu64 "\r\nContent-Length: 3\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		    name, c->id);
		c->state = CONN_RESPOND;
		return;
	case 7:
		evbuffer_add_printf(out, "HTTP/1.1 204 No Content\r\n"
		    "X-Backend: %s\r\nContent-Length: 0\r\n\r\n", name);
		c->state = CONN_RESPOND;
		return;
	default:
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nX-Backend: %s\r\n"
		    "Content-Le", name);
		c->resp.die = 1;
		break;
	}
	c->resp.close = 1;
	c->state = CONN_RESPOND;
}

/* Picks the body, framing and head of the answer and sends the head. */
static void
conn_start_response(struct conn *c)
{
	struct request	*r = &c->req;
	struct response	*s = &c->resp;
	uint8_t		 digest[20];
	char		 framing[64];
	int		 i, n;

	if (r->bad != 0 && !r->is_control) {
		conn_send_bad(c);
		return;
	}

	if (r->is_control) {
		/* Its parameters are the new defaults, not this answer's. */
		r->status = control_apply(strchr(r->target, '?') ?
		    strchr(r->target, '?') + 1 : "") == 0 ? 200 : 400;
		s->fixed = r->status == 200 ? "ok\n" :
		    "bad control parameter\n";
		r->has_die = r->has_size = r->chunked = 0;
	} else if (r->is_health)
		s->fixed = r->status < 400 ? "ok\n" : "unhealthy\n";
	else if (r->headers)
		s->fixed = r->head;
	else if (r->echo == ECHO_COUNT) {
		sha1_final(&r->sum, digest);
		if ((c->body = malloc(80)) == NULL)
			abort();
		n = snprintf(c->body, 80, "bytes=%" PRIu64 " sum=",
		    r->body_bytes);
		for (i = 0; i < 20; i++)
			n += snprintf(c->body + n, 80 - (size_t)n, "%02x",
			    digest[i]);
		snprintf(c->body + n, 80 - (size_t)n, "\n");
		s->fixed = c->body;
	} else if (!r->has_size) {
		if (asprintf(&c->body, "%s\n", name) == -1)
			abort();
		s->fixed = c->body;
	}
	s->total = s->fixed != NULL ? strlen(s->fixed) : r->size;
	s->limit = s->total;
	s->close = !r->keepalive || r->close || r->noheaders_close;
	if (r->has_die) {
		s->die = 1;
		s->fin = r->fin;
		s->fixed = NULL;	/* die= sends pattern bytes */
		if (!r->has_size || r->size <= r->die)
			s->total = r->die + 1024;
		s->limit = r->die;
		s->close = 1;
	}
	if (request_no_body(r)) {
		s->limit = 0;
		if (r->status == 204 || r->status == 304)
			framing[0] = '\0';
		else
			snprintf(framing, sizeof framing,
			    "Content-Length: %" PRIu64 "\r\n", s->total);
	} else if (r->noheaders_close || (r->chunked && r->minor == 0)) {
		s->close = 1;
		framing[0] = '\0';
	} else if (r->chunked) {
		s->chunked = 1;
		s->chunk_size = (s->total + 2) / 3;
		if (s->chunk_size > CHUNK_MAX)
			s->chunk_size = CHUNK_MAX;
		if (s->chunk_size == 0)
			s->chunk_size = 1;
		snprintf(framing, sizeof framing,
		    "Transfer-Encoding: chunked\r\n");
	} else
		snprintf(framing, sizeof framing,
		    "Content-Length: %" PRIu64 "\r\n", s->total);
	conn_send_head(c, r->status, framing, s->close && !s->die, NULL);
	c->state = CONN_RESPOND;
}

/* Adds n body bytes starting at offset s->done. */
static void
conn_add_body(struct conn *c, size_t n)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	struct response	*s = &c->resp;

	if (s->fixed != NULL)
		evbuffer_add(out, s->fixed + s->done, n);
	else
		evbuffer_add(out, pattern + s->done % 26, n);
	s->done += n;
}

/*
 * Produces the response body up to the output high watermark.  Returns 1
 * when all of it is queued, 0 when waiting for room or for a timer.
 */
static int
conn_fill(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	struct response	*s = &c->resp;
	uint64_t	 n;

	while (s->done < s->limit) {
		if (s->waiting || evbuffer_get_length(out) >= OUT_HIGH)
			return (0);
		n = s->limit - s->done;
		if (s->chunked && n > s->chunk_size)
			n = s->chunk_size;
		if (n > CHUNK_MAX)
			n = CHUNK_MAX;
		if (s->chunked)
			evbuffer_add_printf(out, "%" PRIx64 "\r\n", n);
		conn_add_body(c, (size_t)n);
		if (s->chunked)
			evbuffer_add(out, "\r\n", 2);
		if (s->chunked && c->req.chunkdelay_ms > 0 &&
		    s->done < s->limit) {
			s->waiting = 1;
			conn_timer_set(c, c->req.chunkdelay_ms);
		}
	}
	if (s->chunked && !s->die && !request_no_body(&c->req))
		evbuffer_add(out, "0\r\n\r\n", 5);
	return (1);
}

/* The response is queued: next request, graceful close or reset. */
static void
conn_request_done(struct conn *c)
{
	if (c->resp.die) {
		c->state = CONN_RESET_WAIT;
		c->waited_ms = 0;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		return;
	}
	if (c->resp.close || !c->req.keepalive) {
		conn_finish(c);
		return;
	}
	conn_request_clear(c);
	c->state = CONN_HEAD;
	if (idle_ms > 0)
		conn_timer_set(c, idle_ms);
}

/* Bytes the kernel has not yet had acknowledged; 0 when unknown. */
static int
conn_unacked(struct conn *c)
{
	int	n = 0;

#ifdef SIOCOUTQ
	if (ioctl(bufferevent_getfd(c->bev), SIOCOUTQ, &n) == -1)
		n = 0;
#endif
	return (n);
}

/* Handles the states that only move or discard bytes; -1 if freed. */
static int
conn_process_io(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	SSL		*ssl;
	size_t		 n;

	switch (c->state) {
	case CONN_TUNNEL:
		n = evbuffer_get_length(in);
		if (evbuffer_get_length(out) < OUT_HIGH) {
			if (n > OUT_HIGH - evbuffer_get_length(out))
				n = OUT_HIGH - evbuffer_get_length(out);
			evbuffer_remove_buffer(in, out, n);
		}
		if (c->eof && evbuffer_get_length(in) == 0)
			conn_finish(c);
		return (c->state == CONN_FLUSH ? conn_process(c) : 0);
	case CONN_HANG:
	case CONN_LINGER:
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->eof) {
			conn_free(c);
			return (-1);
		}
		return (0);
	case CONN_FLUSH:
		if (evbuffer_get_length(out) > 0)
			return (0);
		/*
		 * Shut our side and read until EOF so that no RST eats it;
		 * over TLS close_notify first, which ends a close-delimited
		 * body (RFC 9112 section 9.8).  The output is empty: nothing
		 * of libevent's is overtaken.
		 */
		if ((ssl = bufferevent_openssl_get_ssl(c->bev)) != NULL)
			(void)SSL_shutdown(ssl);
		shutdown(bufferevent_getfd(c->bev), SHUT_WR);
		bufferevent_disable(c->bev, EV_WRITE);
		bufferevent_enable(c->bev, EV_READ);
		c->state = CONN_LINGER;
		conn_timer_set(c, LINGER_MS);
		return (conn_process_io(c));
	case CONN_RESET_WAIT:
		if (evbuffer_get_length(out) > 0)
			return (0);
		if (conn_unacked(c) > 0 && c->waited_ms < RST_WAIT_MS) {
			c->waited_ms += 5;
			conn_timer_set(c, 5);
			return (0);
		}
		conn_reset(c);
		return (-1);
	default:
		return (0);
	}
}

/*
 * Moves the connection as far as the input, the output room and the
 * timers allow.  Returns -1 when the connection was freed.
 */
static int
conn_process(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	int		 r;

	for (;;) {
		switch (c->state) {
		case CONN_HEAD:
			if (evbuffer_get_length(out) >= OUT_HIGH)
				return (0);
			if ((r = conn_read_head(c)) == 0) {
				if (!c->eof)
					return (0);
				conn_finish(c);
				break;
			}
			if (r == -1)
				break;
			if (c->req.reset) {
				conn_reset(c);
				return (-1);
			}
			if (c->req.hang) {
				c->state = CONN_HANG;
				break;
			}
			if (c->req.delay_ms > 0) {
				c->state = CONN_DELAY;
				conn_timer_set(c, c->req.delay_ms);
				return (0);
			}
			conn_begin(c);
			break;
		case CONN_DELAY:
			return (0);
		case CONN_BODY:
			if ((r = conn_read_body(c)) == -1) {
				if (c->req.echo == ECHO_RAW) {
					/* The echo head is out: cut it. */
					conn_reset(c);
					return (-1);
				}
				conn_bad_request(c, "bad chunked framing");
				break;
			}
			if (r == 0) {
				if (!c->eof)
					return (0);
				conn_free(c);
				return (-1);
			}
			if (c->req.echo == ECHO_RAW) {
				if (c->resp.chunked)
					evbuffer_add(out, "0\r\n\r\n", 5);
				c->resp.close = !c->req.keepalive;
				conn_request_done(c);
			} else
				conn_start_response(c);
			break;
		case CONN_RESPOND:
			if (conn_fill(c) == 0)
				return (0);
			conn_request_done(c);
			break;
		case CONN_TUNNEL:
		case CONN_HANG:
		case CONN_FLUSH:
		case CONN_LINGER:
		case CONN_RESET_WAIT:
			return (conn_process_io(c));
		}
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		c->eof = 1;
		conn_process(c);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(c);
}

/* The connection's single timer: what it means depends on the state. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	(void)what;
	switch (c->state) {
	case CONN_DELAY:
		conn_begin(c);
		break;
	case CONN_RESPOND:
		c->resp.waiting = 0;
		break;
	case CONN_LINGER:
		conn_free(c);
		return;
	case CONN_HEAD:
		/* -k: an idle keep-alive connection is closed. */
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
			conn_finish(c);
		break;
	case CONN_BODY:
	case CONN_TUNNEL:
	case CONN_HANG:
	case CONN_FLUSH:
	case CONN_RESET_WAIT:
		break;
	}
	conn_process(c);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct conn	*c;
	int		 one = 1;

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	if ((c = calloc(1, sizeof *c)) == NULL)
		abort();
	c->id = ++conn_seq;
	if (tls_ctx != NULL) {
		SSL	*ssl = SSL_new(tls_ctx);

		if (ssl == NULL)
			abort();
		c->bev = bufferevent_openssl_socket_new(base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else
		c->bev = bufferevent_socket_new(base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(base, conn_timer_cb, c);
	if (c->bev == NULL || c->timer == NULL)
		abort();
	TAILQ_INSERT_TAIL(&conns, c, entry);
	/* Small writes (chunkdelay=, interim responses) go out at once. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, IN_HIGH);
	bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (idle_ms > 0)
		conn_timer_set(c, idle_ms);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	switch (sig) {
	case SIGUSR1:
		health_override = 1;
		break;
	case SIGUSR2:
		health_override = 0;
		break;
	default:
		event_base_loopbreak(base);
		break;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: backend -p PORT [-a ADDR] [-n NAME] "
	    "[-l LOGFILE] [-H STATUS] [-D MS] [-s STATUS] [-d MS] [-k MS] "
	    "[-t PEM [-C CA]]\n");
	exit(2);
}

/* Parses a number option within [min, max] or exits with usage. */
static long
opt_num(const char *s, long min, long max)
{
	uint64_t	n;

	if (parse_u64(s, strlen(s), &n) == -1 || n < (uint64_t)min ||
	    n > (uint64_t)max)
		usage();
	return ((long)n);
}

int
main(int argc, char *argv[])
{
	struct evconnlistener	*listener;
	struct sockaddr_in	 sin;
	struct event		*sigs[4];
	const int		 signums[4] = { SIGTERM, SIGINT, SIGUSR1,
				    SIGUSR2 };
	socklen_t		 slen = sizeof sin;
	const char		*addr = "127.0.0.1", *client_ca = NULL;
	long			 port = -1;
	size_t			 i;
	int			 ch;

	while ((ch = getopt(argc, argv, "a:C:D:d:H:k:l:n:p:s:t:")) != -1) {
		switch (ch) {
		case 'C':
			client_ca = optarg;
			break;
		case 't':
			if ((tls_ctx = SSL_CTX_new(TLS_server_method())) ==
			    NULL ||
			    SSL_CTX_use_certificate_chain_file(tls_ctx,
			    optarg) != 1 ||
			    SSL_CTX_use_PrivateKey_file(tls_ctx, optarg,
			    SSL_FILETYPE_PEM) != 1) {
				fprintf(stderr, "backend: %s: cannot load a "
				    "certificate and key\n", optarg);
				ERR_print_errors_fp(stderr);
				return (1);
			}
			break;
		case 'k':
			idle_ms = opt_num(optarg, 0, 3600000);
			break;
		case 'a':
			addr = optarg;
			break;
		case 'D':
			health_delay_ms = opt_num(optarg, 0, 3600000);
			break;
		case 'd':
			default_delay_ms = opt_num(optarg, 0, 3600000);
			break;
		case 'H':
			health_status = (int)opt_num(optarg, 200, 599);
			break;
		case 'l':
			if ((reqlog = fopen(optarg, "a")) == NULL) {
				perror(optarg);
				return (1);
			}
			break;
		case 'n':
			name = optarg;
			break;
		case 'p':
			port = opt_num(optarg, 0, 65535);
			break;
		case 's':
			default_status = (int)opt_num(optarg, 200, 599);
			break;
		default:
			usage();
		}
	}
	if (port == -1 || optind != argc ||
	    (client_ca != NULL && tls_ctx == NULL))
		usage();
	if (client_ca != NULL) {
		if (SSL_CTX_load_verify_locations(tls_ctx, client_ca,
		    NULL) != 1) {
			fprintf(stderr, "backend: %s: cannot load\n",
			    client_ca);
			return (1);
		}
		SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	for (i = 0; i < sizeof pattern; i++)
		pattern[i] = (char)('a' + i % 26);
	signal(SIGPIPE, SIG_IGN);

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "backend: bad address %s\n", addr);
		return (1);
	}
	if ((base = event_base_new()) == NULL)
		abort();
	listener = evconnlistener_new_bind(base, accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 511,
	    (struct sockaddr *)&sin, sizeof sin);
	if (listener == NULL) {
		fprintf(stderr, "backend: %s:%ld: %s\n", addr, port,
		    strerror(errno));
		return (1);
	}
	for (i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(base, signums[i], signal_cb, NULL);
		event_add(sigs[i], NULL);
	}
	getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&sin,
	    &slen);
	printf("port=%d\nready\n", ntohs(sin.sin_port));
	fflush(stdout);

	event_base_dispatch(base);

	while (!TAILQ_EMPTY(&conns))
		conn_free(TAILQ_FIRST(&conns));
	for (i = 0; i < 4; i++)
		event_free(sigs[i]);
	evconnlistener_free(listener);
	event_base_free(base);
	SSL_CTX_free(tls_ctx);
	if (reqlog != NULL)
		fclose(reqlog);
	return (0);
}
