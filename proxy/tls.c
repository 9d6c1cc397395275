/*
 * TLS with OpenSSL.  A config generation owns one context per listener
 * with tls_cert and one per pool with tls = on, built when the config is
 * loaded, so that a reload reads the certificates again and a broken one
 * is refused with the rest of the config.  A connection holds its own
 * reference to its context (SSL_new() takes one), so connections made
 * before a reload live on with the old certificate.
 *
 * Connections are libevent's bufferevent_openssl bufferevents on the
 * socket: the session and upstream modules drive them as they drive plain
 * ones, except that their writes go through libevent (tls_is()).
 *
 * Listeners offer only http/1.1 by ALPN, so that a client that would speak
 * h2 falls back; they release their read and write buffers while idle
 * (SSL_MODE_RELEASE_BUFFERS), which keeps an idle keep-alive client at a
 * few KiB.  Renegotiation is refused: it lets a client make the server
 * redo its costliest work for free.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "tls.h"
#include "xmalloc.h"

/* ALPN: length-prefixed protocol names. */
static const unsigned char	tls_alpn[] = "\x08http/1.1";

/*
 * Returns the reason of OpenSSL's first queued error, the one nearest the
 * cause ("no start line" rather than "PEM lib"), emptying the queue.
 */
static const char *
tls_reason(void)
{
	unsigned long	 e = ERR_peek_error();
	const char	*r;

	ERR_clear_error();
	if (e == 0 || (r = ERR_reason_error_string(e)) == NULL)
		return ("unknown error");
	return (r);
}

/* Returns nonzero when path can be opened, else sets *err. */
static int
tls_readable(const char *path, char **err)
{
	FILE	*f;

	if ((f = fopen(path, "r")) == NULL) {
		*err = xasprintf("cannot read %s: %s", path, strerror(errno));
		return (0);
	}
	fclose(f);
	return (1);
}

/* Picks http/1.1 from what the client offers, or no protocol at all. */
static int
tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char	*sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, tls_alpn, sizeof tls_alpn - 1,
	    in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return (SSL_TLSEXT_ERR_NOACK);
	*out = sel;
	return (SSL_TLSEXT_ERR_OK);
}

SSL_CTX *
tls_server_ctx_new(const char *cert, const char *key, const char *min_version,
    char **err)
{
	SSL_CTX	*ctx;

	*err = NULL;
	if (key == NULL)
		key = cert;
	if (!tls_readable(cert, err) || !tls_readable(key, err))
		return (NULL);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*err = xasprintf("cannot make a TLS context: %s", tls_reason());
		return (NULL);
	}
	SSL_CTX_set_min_proto_version(ctx, strcmp(min_version, "TLSv1.3") == 0 ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"cutover",
	    7);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*err = xasprintf("no certificate in %s: %s", cert,
		    tls_reason());
		goto fail;
	}
	/* Loading checks that the key is the certificate's. */
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    X509_R_KEY_VALUES_MISMATCH) {
			*err = xasprintf("the key in %s does not match the "
			    "certificate in %s", key, cert);
			ERR_clear_error();
		} else
			*err = xasprintf("no private key in %s: %s", key,
			    tls_reason());
		goto fail;
	}
	return (ctx);
fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

SSL_CTX *
tls_client_ctx_new(int verify, const char *ca, char **err)
{
	SSL_CTX	*ctx;
	int	 ok;

	*err = NULL;
	if (ca != NULL && !tls_readable(ca, err))
		return (NULL);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		*err = xasprintf("cannot make a TLS context: %s", tls_reason());
		return (NULL);
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_alpn_protos(ctx, tls_alpn, sizeof tls_alpn - 1);
	if (verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		ok = ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL) :
		    SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1) {
			*err = xasprintf("cannot load the CA certificates%s%s: "
			    "%s", ca != NULL ? " in " : "",
			    ca != NULL ? ca : "", tls_reason());
			SSL_CTX_free(ctx);
			return (NULL);
		}
	}
	return (ctx);
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

/* Wraps ssl, set up, into a bufferevent on fd; frees ssl on failure. */
static struct bufferevent *
tls_bufferevent(struct event_base *base, SSL *ssl, int fd,
    enum bufferevent_ssl_state state)
{
	struct bufferevent	*bev;

	bev = bufferevent_openssl_socket_new(base, fd, ssl, state,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return (NULL);
	/* A peer that closes without close_notify ends like a plain one. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return (bev);
}

struct bufferevent *
tls_accept_new(struct event_base *base, SSL_CTX *ctx, int fd)
{
	SSL	*ssl;

	if ((ssl = SSL_new(ctx)) == NULL) {
		ERR_clear_error();
		return (NULL);
	}
	return (tls_bufferevent(base, ssl, fd, BUFFEREVENT_SSL_ACCEPTING));
}

/* Whether host is an IPv4 or IPv6 address rather than a name. */
static int
tls_is_address(const char *host)
{
	unsigned char	buf[sizeof(struct in6_addr)];

	return (inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1);
}

struct bufferevent *
tls_connect_new(struct event_base *base, SSL_CTX *ctx, int fd,
    const char *host, const char *sni, int verify)
{
	SSL		*ssl;
	const char	*name = sni;
	int		 ok = 1;

	if ((ssl = SSL_new(ctx)) == NULL) {
		ERR_clear_error();
		return (NULL);
	}
	if (name == NULL && !tls_is_address(host))
		name = host;
	/* SNI carries names only (RFC 6066 section 3). */
	if (name != NULL)
		ok = SSL_set_tlsext_host_name(ssl, name);
	if (ok && verify)
		ok = name != NULL ? SSL_set1_host(ssl, name) :
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	if (!ok) {
		ERR_clear_error();
		SSL_free(ssl);
		return (NULL);
	}
	return (tls_bufferevent(base, ssl, fd, BUFFEREVENT_SSL_CONNECTING));
}

int
tls_is(struct bufferevent *bev)
{
	return (bufferevent_openssl_get_ssl(bev) != NULL);
}

const char *
tls_error(struct bufferevent *bev, char *buf, size_t size)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long	 e;
	const char	*r;
	size_t		 off = 0;
	long		 v;

	buf[0] = '\0';
	if (ssl == NULL)
		return (buf);
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if ((r = ERR_reason_error_string(e)) == NULL || off >= size ||
		    strstr(buf, r) != NULL)
			continue;
		off += snprintf(buf + off, size - off, "%s%s",
		    off > 0 ? ", " : "", r);
	}
	if ((v = SSL_get_verify_result(ssl)) != X509_V_OK && off < size)
		snprintf(buf + off, size - off, "%s%s", off > 0 ? ": " : "",
		    X509_verify_cert_error_string(v));
	return (buf);
}
