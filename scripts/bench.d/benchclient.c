/*
 * benchclient: the small HTTP/1.1 client of scripts/bench.
 *
 *   benchclient hold PORT N SECONDS [PATH]
 *	opens N keep-alive connections to 127.0.0.1:PORT, sends one request
 *	on each and reads its response, prints "held N errors E", then holds
 *	the connections for SECONDS and prints "closed K" (connections the
 *	proxy closed or that sent unexpected bytes meanwhile).
 *
 *   benchclient tlshold PORT N SECONDS [PATH]
 *	the same over TLS (OpenSSL's defaults: TLS 1.3 with the bench's
 *	proxies; the certificate is not verified), each handshake done
 *	before its request.
 *
 *   benchclient count PORT CONNS REQUESTS [PATH]
 *	sends exactly REQUESTS requests over CONNS keep-alive connections
 *	(one request in flight per connection) and prints "done R errors E
 *	seconds S".
 *
 * A response counts as good when its status is 2xx and its body, framed by
 * Content-Length, arrives whole.  Exit status: 0 without errors, 1 with.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

struct conn {
	int	fd;
	SSL	*ssl;		/* tlshold */
	char	buf[32768];
	size_t	len;
	int	busy;		/* a request is under way */
};

static struct sockaddr_in	addr;
static char			req[256];
static size_t			reqlen;
static long			errors;
static SSL_CTX			*tls;		/* tlshold */

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static int
conn_open(struct conn *c)
{
	int	one = 1;

	c->len = 0;
	c->busy = 0;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) == -1) {
		close(c->fd);
		c->fd = -1;
		return (-1);
	}
	/* The socket blocks: the handshake is over when SSL_connect returns. */
	if (tls != NULL && ((c->ssl = SSL_new(tls)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1)) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		close(c->fd);
		c->fd = -1;
		return (-1);
	}
	return (0);
}

static int
conn_send(struct conn *c)
{
	if (c->ssl != NULL ? SSL_write(c->ssl, req, (int)reqlen) !=
	    (int)reqlen : write(c->fd, req, reqlen) != (ssize_t)reqlen)
		return (-1);
	c->busy = 1;
	return (0);
}

/*
 * Reads what is there; returns 1 when a whole response arrived, 0 when
 * more is needed, -1 on an error or a bad response.
 */
static int
conn_read(struct conn *c)
{
	ssize_t	 n;
	char	*end, *cl;
	size_t	 head, body;

	if (c->ssl != NULL)
		n = SSL_read(c->ssl, c->buf + c->len,
		    (int)(sizeof c->buf - 1 - c->len));
	else
		n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
	if (n <= 0)
		return (n == -1 && errno == EAGAIN ? 0 : -1);
	c->len += n;
	c->buf[c->len] = '\0';
	if ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
		return (c->len >= sizeof c->buf - 1 ? -1 : 0);
	head = end + 4 - c->buf;
	if (strncmp(c->buf, "HTTP/1.1 2", 10) != 0)
		return (-1);
	if ((cl = strcasestr(c->buf, "\r\ncontent-length:")) == NULL ||
	    cl > end)
		return (-1);
	body = strtoul(cl + 17, NULL, 10);
	if (head + body > sizeof c->buf - 1)
		return (-1);
	if (c->len < head + body)
		return (0);
	if (c->len > head + body)
		return (-1);	/* nothing was asked for */
	c->len = 0;
	c->busy = 0;
	return (1);
}

/* Reads on every busy connection until none is busy (or timeout). */
static void
wait_all(struct conn *cs, int n, struct pollfd *pfd, int timeout_ms)
{
	double	deadline = now() + timeout_ms / 1000.0;
	int	i, busy, r;

	for (;;) {
		busy = 0;
		for (i = 0; i < n; i++) {
			pfd[i].fd = cs[i].busy ? cs[i].fd : -1;
			pfd[i].events = POLLIN;
			busy += cs[i].busy;
		}
		if (busy == 0 || now() > deadline)
			break;
		if (poll(pfd, n, 1000) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if ((r = conn_read(&cs[i])) == -1) {
				errors++;
				cs[i].busy = 0;
				close(cs[i].fd);
				cs[i].fd = -1;
			}
		}
	}
	for (i = 0; i < n; i++)
		if (cs[i].busy) {
			errors++;
			cs[i].busy = 0;
		}
}

static int
hold(int n, int secs)
{
	struct conn	*cs = calloc(n, sizeof *cs);
	struct pollfd	*pfd = calloc(n, sizeof *pfd);
	double		 end;
	int		 i, closed = 0, open = 0;

	if (cs == NULL || pfd == NULL)
		return (2);
	for (i = 0; i < n; i++) {
		if (conn_open(&cs[i]) == -1 || conn_send(&cs[i]) == -1) {
			errors++;
			continue;
		}
		/* Keep at most 256 requests in flight while opening. */
		if (i % 256 == 255)
			wait_all(cs, i + 1, pfd, 10000);
	}
	wait_all(cs, n, pfd, 10000);
	for (i = 0; i < n; i++)
		open += cs[i].fd != -1;
	printf("held %d errors %ld\n", open, errors);
	fflush(stdout);
	end = now() + secs;
	for (i = 0; i < n; i++) {
		pfd[i].fd = cs[i].fd;
		pfd[i].events = POLLIN;
	}
	while (now() < end) {
		if (poll(pfd, n, 200) <= 0)
			continue;
		for (i = 0; i < n; i++)
			if (pfd[i].revents != 0) {
				closed++;
				pfd[i].fd = -1;
			}
	}
	printf("closed %d\n", closed);
	return (errors || closed ? 1 : 0);
}

static int
count(int nconns, long total)
{
	struct conn	*cs = calloc(nconns, sizeof *cs);
	struct pollfd	*pfd = calloc(nconns, sizeof *pfd);
	long		 sent = 0, done = 0;
	double		 t0 = now();
	int		 i, r;

	if (cs == NULL || pfd == NULL)
		return (2);
	for (i = 0; i < nconns; i++)
		if (conn_open(&cs[i]) == -1) {
			fprintf(stderr, "benchclient: connect: %s\n",
			    strerror(errno));
			return (2);
		}
	for (i = 0; i < nconns && sent < total; i++, sent++)
		if (conn_send(&cs[i]) == -1)
			return (2);
	while (done + errors < total) {
		for (i = 0; i < nconns; i++) {
			pfd[i].fd = cs[i].busy ? cs[i].fd : -1;
			pfd[i].events = POLLIN;
		}
		if ((r = poll(pfd, nconns, 10000)) <= 0) {
			fprintf(stderr, "benchclient: stalled\n");
			errors += total - done - errors;
			break;
		}
		for (i = 0; i < nconns; i++) {
			if (pfd[i].revents == 0)
				continue;
			r = conn_read(&cs[i]);
			if (r == 0)
				continue;
			if (r == -1) {
				errors++;
				close(cs[i].fd);
				if (conn_open(&cs[i]) == -1)
					return (2);
			} else
				done++;
			if (sent < total && conn_send(&cs[i]) == 0)
				sent++;
		}
	}
	printf("done %ld errors %ld seconds %.3f\n", done, errors, now() - t0);
	return (errors ? 1 : 0);
}

int
main(int argc, char **argv)
{
	const char	*path = "/";

	if (argc < 5) {
		fprintf(stderr, "usage: benchclient hold PORT N SECONDS [PATH]"
		    "\n       benchclient tlshold PORT N SECONDS [PATH]"
		    "\n       benchclient count PORT CONNS REQUESTS [PATH]\n");
		return (2);
	}
	if (argc > 5)
		path = argv[5];
	addr.sin_family = AF_INET;
	addr.sin_port = htons(atoi(argv[2]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\n"
	    "User-Agent: benchclient\r\n\r\n", path);
	if (strcmp(argv[1], "hold") == 0)
		return (hold(atoi(argv[3]), atoi(argv[4])));
	if (strcmp(argv[1], "tlshold") == 0) {
		if ((tls = SSL_CTX_new(TLS_client_method())) == NULL) {
			fprintf(stderr, "benchclient: no TLS context\n");
			return (2);
		}
		return (hold(atoi(argv[3]), atoi(argv[4])));
	}
	if (strcmp(argv[1], "count") == 0)
		return (count(atoi(argv[3]), atol(argv[4])));
	fprintf(stderr, "benchclient: unknown mode %s\n", argv[1]);
	return (2);
}
