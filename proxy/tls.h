/*
 * TLS with OpenSSL: the contexts a config generation holds (one per
 * listener with tls_cert, one per pool with tls = on) and the connections
 * made from them, as bufferevent_openssl bufferevents.
 */
#ifndef TLS_H
#define TLS_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct event_base;
struct ssl_ctx_st;
struct ssl_st;

/*
 * Why a context could not be made: the message (to free) and the file at
 * fault, one of the paths given (NULL: none in particular).
 */
struct tls_ctx_error {
	char		*msg;
	const char	*file;
};

/* The reason of OpenSSL's first queued error; empties the queue. */
const char	*tls_reason(void);

/* What a listener's TLS contexts are made with, besides a certificate. */
struct tls_server_opts {
	const char	*id;		/* the listener's name */
	const char	*key;		/* PEM key; NULL: in the cert file */
	const char	*min_version;	/* "TLSv1.2" or "TLSv1.3" */
	const char	*client_ca;	/* CAs clients must show; NULL: none */
	int		 ocsp_stapling;	/* OCSP_OFF, OCSP_FILE or OCSP_FETCH */
};

/*
 * Returns a server context for a listener: the certificate chain in the
 * PEM file cert, and opts.  NULL with *err set (its msg to free) when a
 * file cannot be used.
 */
struct ssl_ctx_st *tls_server_ctx_new(const char *cert,
	    const struct tls_server_opts *, struct tls_ctx_error *);
/*
 * Adds a listener's further certificate, in a context of its own from
 * tls_server_ctx_new(), to its first context: a client that names a
 * server (SNI) gets the first certificate covering the name.  The first
 * context owns the other from then on.
 */
void	 tls_server_ctx_add(struct ssl_ctx_st *, struct ssl_ctx_st *);
/*
 * Sets how long a session ticket key encrypts new tickets (ms; 0: for the
 * process's life), for every listener (tls_ticket_rotate).
 */
void	 tls_ticket_rotate(long);
/*
 * Returns a client context for a pool: it verifies servers against ca (a
 * PEM bundle; NULL: the system's) when verify is set, and shows them the
 * certificate in cert (NULL: none) with its key (NULL: in cert).  NULL
 * with *err set.
 */
struct ssl_ctx_st *tls_client_ctx_new(int verify, const char *ca,
	    const char *cert, const char *key, struct tls_ctx_error *);
/* Drops a context; the connections made from it keep it while they live. */
void	 tls_ctx_free(struct ssl_ctx_st *);

/*
 * Returns a socket bufferevent that accepts a TLS client on fd (and
 * closes it when freed); NULL when it cannot, with fd still the caller's.
 */
struct bufferevent *tls_accept_new(struct event_base *, struct ssl_ctx_st *,
	    int fd);
/*
 * Starts connecting fd to sa and returns a socket bufferevent that will
 * speak TLS to the server: enabling EV_WRITE (and EV_READ) on it leads to
 * BEV_EVENT_CONNECTED once the handshake is done, or to an error.  SNI
 * and the name checked are sni, else host unless host is an address (then
 * the certificate must name that address).  resume, a reference from
 * tls_session_ref() or NULL, is offered to the server and dropped.  NULL
 * when it cannot, with fd still the caller's.
 */
struct bufferevent *tls_connect_new(struct event_base *, struct ssl_ctx_st *,
	    int fd, const struct sockaddr *, socklen_t, const char *host,
	    const char *sni, int verify, void *resume);
/*
 * Server sessions to resume (SSL_SESSION, opaque here): keeps bev's in
 * *slot when it can be resumed and is not there yet; returns a reference
 * to one for tls_connect_new() (resume, which takes it; NULL: none); frees
 * one.  The caller guards the slot.
 */
void	 tls_session_keep(struct bufferevent *, void **slot);
void	*tls_session_ref(void *);
void	 tls_session_free(void *);
/*
 * Handshakes since the start, by all workers: c[0] with servers, c[1]
 * with clients; c[..][0] done, c[..][1] failed.
 */
void	 tls_handshake_counts(uint64_t c[2][2]);
/* Whether a bufferevent speaks TLS. */
int	 tls_is(struct bufferevent *);
/*
 * Writes a TLS bufferevent's output now, leaving what the socket does not
 * take (or an error) to its write event, which it enables.
 */
void	 tls_flush(struct bufferevent *);
/*
 * Writes why TLS failed on bev into buf (OpenSSL's reasons, the
 * certificate check's) and returns buf; "" when TLS noted nothing.
 */
const char *tls_error(struct bufferevent *, char *buf, size_t size);
/*
 * Makes a TLS bufferevent end without close_notify: what it sent was cut
 * short (HTTP/1.0 has no other way to tell a close-delimited body was).
 * Nothing for a plain one.
 */
void	 tls_cut(struct bufferevent *);
/*
 * Frees a bufferevent, TLS or not; a TLS one that is open sends its
 * close_notify first, unless cut.
 */
void	 tls_free(struct bufferevent *);
/*
 * The same for the TLS state alone: bev is left a plain bufferevent on
 * the same socket (a lingering close drops what the client still sends).
 */
void	 tls_end(struct bufferevent *);
/*
 * Whether OpenSSL holds bytes of bev read from the socket, a partial
 * record among them; 0 for a plain one.
 */
int	 tls_pending(struct bufferevent *bev);
/*
 * An idle client connection's TLS state without its bufferevent (SSL,
 * opaque here).  tls_detach() takes it out of bev, which is left a plain
 * socket bufferevent to free without closing the socket, and returns it;
 * NULL, with bev untouched, unless bev is an open TLS connection with
 * nothing read ahead or left to write.  tls_attach() makes a bufferevent
 * on fd for that connection again (and closes fd when freed); NULL when
 * it cannot, with the state and fd still the caller's.  tls_detached_free()
 * frees the state, sending close_notify first when clean is set.
 */
void	*tls_detach(struct bufferevent *bev);
struct bufferevent *tls_attach(struct event_base *, void *tls, int fd);
void	 tls_detached_free(void *tls, int clean);

#endif
