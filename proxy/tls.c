/*
 * TLS with OpenSSL.  A config generation owns one context per listener
 * with tls_cert and one per pool with tls = on, built when the config is
 * loaded, so that a reload reads the certificates again and a broken one
 * is refused with the rest of the config.  A connection holds its own
 * reference to its context (SSL_new() takes one), so connections made
 * before a reload live on with the old certificate.
 *
 * A TLS connection is a socket bufferevent whose read and write events
 * (struct bufferevent's ev_read and ev_write, public in
 * bufferevent_struct.h) get callbacks of ours that run OpenSSL on the
 * socket, much as sockread.c does for plain reads: enabling, disabling,
 * watermarks and timeouts work as for any socket bufferevent, and the
 * session and upstream modules drive both kinds alike.  Why not libevent's
 * bufferevent_openssl: it writes only from the event loop (an epoll_ctl()
 * pair and a loop turn per response), writes one record per buffer chain
 * and reads a record in two read() calls.  Here a response goes out as
 * one record in one write() from tls_flush(), and reads take what the
 * socket has (read-ahead) in one read().
 *
 * Listeners offer only http/1.1 by ALPN, so that a client that would speak
 * h2 falls back; they release their read and write buffers while idle
 * (SSL_MODE_RELEASE_BUFFERS): an idle keep-alive client holds about
 * 15 KiB, half of it OpenSSL's SSL object.  Renegotiation is refused: it
 * lets a client make the server redo its costliest work for free.  Their
 * session tickets outlive reloads and their keys rotate (tls_ticket_cb).
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include "log.h"
#include "ocsp.h"
#include "sockread.h"
#include "tls.h"
#include "xmalloc.h"

/* ALPN: length-prefixed protocol names. */
static const unsigned char	tls_alpn[] = "\x08http/1.1";

/*
 * Returns the reason of OpenSSL's first queued error, the one nearest the
 * cause ("no start line" rather than "PEM lib"), emptying the queue.
 */
const char *
tls_reason(void)
{
	unsigned long	 e = ERR_peek_error();
	const char	*r;

	ERR_clear_error();
	if (e == 0 || (r = ERR_reason_error_string(e)) == NULL)
		return ("unknown error");
	return (r);
}

/* Notes why a context cannot be made, msg, and the file at fault. */
static void
tls_ctx_fail(struct tls_ctx_error *err, const char *file, char *msg)
{
	err->msg = msg;
	err->file = file;
}

/*
 * Starts a context of method once each of the n files (NULL: not given)
 * can be read: the reason a file cannot is clearer from fopen() than from
 * OpenSSL.  NULL with *err set.
 */
static SSL_CTX *
tls_ctx_begin(const SSL_METHOD *method, const char *const *files, size_t n,
    struct tls_ctx_error *err)
{
	SSL_CTX	*ctx;
	FILE	*f;
	size_t	 i;

	err->msg = NULL;
	err->file = NULL;
	for (i = 0; i < n; i++) {
		if (files[i] == NULL)
			continue;
		if ((f = fopen(files[i], "r")) == NULL) {
			tls_ctx_fail(err, files[i], xasprintf("cannot read "
			    "%s: %s", files[i], strerror(errno)));
			return (NULL);
		}
		fclose(f);
	}
	if ((ctx = SSL_CTX_new(method)) == NULL)
		tls_ctx_fail(err, NULL, xasprintf("cannot make a TLS "
		    "context: %s", tls_reason()));
	return (ctx);
}

/*
 * What both kinds of context share: reads take whatever the socket has
 * (several records in one read), and a write may take part of the
 * buffer, retried from wherever the buffer is by then.
 */
static void
tls_ctx_modes(SSL_CTX *ctx)
{
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

/*
 * Session tickets.  The keys that encrypt them (a name, an AES-256 key and
 * an HMAC-SHA256 key) are the process's, not a context's: OpenSSL would
 * make new ones for each context, so that each reload would make every
 * client's ticket useless and cost a full handshake per client after each
 * deploy.  A key encrypts new tickets for one period of tls_ticket_rotate,
 * after which the next ticket made brings a new key; it decrypts tickets
 * until it is three periods old, and a ticket it decrypts once it no
 * longer encrypts is renewed under the newest key.  So a stolen key opens
 * no ticket more than three periods old: forward secrecy, in the bounds
 * OpenSSL's two-hour session lifetime sets anyway.  With rotation off,
 * one key lasts the process's life, as nginx's and HAProxy's own do.
 * A key replaced keeps the end its period gave it then, so that a reload
 * to a longer period, or to none, brings no retired key back.
 * Worker threads make and read tickets at once: the keys are under a
 * lock, copied out for each use and wiped after it.
 */
#define TLS_TICKET_KEYS		3	/* ages: periods a key decrypts */

struct tls_ticket_key {
	unsigned char	name[16];
	unsigned char	aes[32];
	unsigned char	hmac[32];
	uint64_t	made;		/* ms, CLOCK_MONOTONIC */
	uint64_t	until;		/* ms: decrypts no longer; 0: newest */
};

static struct tls_ticket_key	tls_ticket_keys[TLS_TICKET_KEYS];
static unsigned			tls_nticket_keys;	/* [0]: newest */
static pthread_rwlock_t		tls_ticket_lock = PTHREAD_RWLOCK_INITIALIZER;
static long			tls_ticket_period = 60 * 60 * 1000;

void
tls_ticket_rotate(long ms)
{
	__atomic_store_n(&tls_ticket_period, ms, __ATOMIC_RELAXED);
}

static uint64_t
tls_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/*
 * The age at now of a key made at made.  A key made after now, by a
 * thread that read the clock after the caller did, is new (0): else each
 * thread that lost that race would make a key of its own, and a few of
 * them at once would push out of the ring the keys of tickets made within
 * the last period.
 */
static uint64_t
tls_ticket_age(uint64_t made, uint64_t now)
{
	return (made >= now ? 0 : now - made);
}

/* Whether a key made at made still encrypts (0 period: no rotation). */
static int
tls_ticket_fresh(uint64_t made, uint64_t now, long period)
{
	return (period == 0 || tls_ticket_age(made, now) < (uint64_t)period);
}

/* Whether key k decrypts no more: three periods old, or past its end. */
static int
tls_ticket_expired(const struct tls_ticket_key *k, uint64_t now,
    long period)
{
	return ((period != 0 && tls_ticket_age(k->made, now) >=
	    (uint64_t)period * TLS_TICKET_KEYS) ||
	    (k->until != 0 && now >= k->until));
}

/* Copies the key that encrypts now to *k, making one when due; -1: none. */
static int
tls_ticket_newest(struct tls_ticket_key *k, uint64_t now, long period)
{
	struct tls_ticket_key	*n = &tls_ticket_keys[0];
	int			 rc = 0;

	pthread_rwlock_rdlock(&tls_ticket_lock);
	if (tls_nticket_keys > 0 && tls_ticket_fresh(n->made, now, period)) {
		*k = *n;
		pthread_rwlock_unlock(&tls_ticket_lock);
		return (0);
	}
	pthread_rwlock_unlock(&tls_ticket_lock);

	pthread_rwlock_wrlock(&tls_ticket_lock);
	/* Another thread may have made it meanwhile. */
	if (tls_nticket_keys == 0 || !tls_ticket_fresh(n->made, now, period)) {
		if (RAND_bytes(k->name, sizeof k->name) == 1 &&
		    RAND_priv_bytes(k->aes, sizeof k->aes) == 1 &&
		    RAND_priv_bytes(k->hmac, sizeof k->hmac) == 1) {
			/*
			 * The key it replaces keeps the end its period gives
			 * it now: a longer period set later, or none, must
			 * not bring back a key already past it.
			 */
			if (tls_nticket_keys > 0)
				n->until = n->made + (uint64_t)period *
				    TLS_TICKET_KEYS;
			memmove(&tls_ticket_keys[1], &tls_ticket_keys[0],
			    (TLS_TICKET_KEYS - 1) * sizeof *n);
			k->made = now;
			k->until = 0;
			*n = *k;
			if (tls_nticket_keys < TLS_TICKET_KEYS)
				tls_nticket_keys++;
			log_debug("tls: new session ticket key");
		} else {
			/* The old key, if any, goes on: nothing breaks. */
			log_error("tls: cannot make a session ticket key: %s",
			    tls_reason());
			rc = tls_nticket_keys > 0 ? 0 : -1;
		}
	}
	if (rc == 0)
		*k = *n;
	pthread_rwlock_unlock(&tls_ticket_lock);
	return (rc);
}

/*
 * Copies the key named name to *k: 1 when it still encrypts, 2 when the
 * ticket is to be renewed, 0 when there is no such key or it is too old.
 */
static int
tls_ticket_named(struct tls_ticket_key *k, const unsigned char *name,
    uint64_t now, long period)
{
	unsigned	i;
	int		rc = 0;

	pthread_rwlock_rdlock(&tls_ticket_lock);
	for (i = 0; i < tls_nticket_keys; i++) {
		if (memcmp(tls_ticket_keys[i].name, name, 16) != 0)
			continue;
		if (tls_ticket_expired(&tls_ticket_keys[i], now, period))
			break;
		*k = tls_ticket_keys[i];
		rc = i == 0 && tls_ticket_fresh(k->made, now, period) ? 1 : 2;
		break;
	}
	pthread_rwlock_unlock(&tls_ticket_lock);
	return (rc);
}

/* OpenSSL's ticket callback: AES-256-CBC and HMAC-SHA256, as its own. */
static int
tls_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	static char		 digest[] = "SHA256";
	OSSL_PARAM		 params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		    digest, 0),
		OSSL_PARAM_construct_end()
	};
	struct tls_ticket_key	 k;
	uint64_t		 now = tls_now_ms();
	long			 period;
	int			 rc;

	period = __atomic_load_n(&tls_ticket_period, __ATOMIC_RELAXED);
	if (enc) {
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(
		    EVP_aes_256_cbc())) != 1 ||
		    tls_ticket_newest(&k, now, period) == -1)
			return (-1);
		memcpy(name, k.name, sizeof k.name);
		rc = 1;
		if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes,
		    iv) != 1)
			rc = -1;
	} else {
		if ((rc = tls_ticket_named(&k, name, now, period)) == 0)
			return (0);
		/*
		 * TLS 1.3 clients use a ticket once (RFC 8446 appendix
		 * C.4): each resumption gets a new one, as OpenSSL's own
		 * keys give.
		 */
		if (SSL_version(ssl) == TLS1_3_VERSION)
			rc = 2;
		if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes,
		    iv) != 1)
			rc = -1;
	}
	if (rc != -1 && EVP_MAC_init(hctx, k.hmac, sizeof k.hmac,
	    params) != 1)
		rc = -1;
	OPENSSL_cleanse(&k, sizeof k);
	return (rc);
}

/*
 * A listener's certificates after its first, each in a context of its
 * own, kept on the first context (ex_data, freed with it) for the SNI
 * callback to choose from.
 */
struct tls_sni {
	SSL_CTX		**ctx;
	size_t		  n;
};
static int		tls_sni_index = -1;
static pthread_once_t	tls_sni_once = PTHREAD_ONCE_INIT;

/* Frees a context's list of others, as OpenSSL frees the context. */
static void
tls_sni_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct tls_sni	*list = ptr;
	size_t		 i;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (list == NULL)
		return;
	for (i = 0; i < list->n; i++)
		SSL_CTX_free(list->ctx[i]);
	free(list->ctx);
	free(list);
}

static void
tls_sni_init(void)
{
	tls_sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    tls_sni_free_cb);
}

/*
 * The client named a server: the first certificate of the listener that
 * covers the name (exactly or by a wildcard), else the first one.
 */
static int
tls_servername_cb(SSL *ssl, int *alert, void *arg)
{
	SSL_CTX		*ctx = SSL_get_SSL_CTX(ssl);
	struct tls_sni	*list;
	const char	*name;
	size_t		 i;

	(void)alert;
	(void)arg;
	if ((name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) ==
	    NULL || tls_sni_index == -1 ||
	    (list = SSL_CTX_get_ex_data(ctx, tls_sni_index)) == NULL ||
	    X509_check_host(SSL_CTX_get0_certificate(ctx), name, 0, 0,
	    NULL) == 1)
		return (SSL_TLSEXT_ERR_OK);
	for (i = 0; i < list->n; i++) {
		if (X509_check_host(SSL_CTX_get0_certificate(list->ctx[i]),
		    name, 0, 0, NULL) == 1) {
			SSL_set_SSL_CTX(ssl, list->ctx[i]);
			break;
		}
	}
	return (SSL_TLSEXT_ERR_OK);
}

void
tls_server_ctx_add(SSL_CTX *ctx, SSL_CTX *more)
{
	struct tls_sni	*list;

	pthread_once(&tls_sni_once, tls_sni_init);
	if ((list = SSL_CTX_get_ex_data(ctx, tls_sni_index)) == NULL) {
		list = xcalloc(1, sizeof *list);
		if (SSL_CTX_set_ex_data(ctx, tls_sni_index, list) != 1)
			fatal("tls: cannot keep a listener's certificates");
	}
	list->ctx = xreallocarray(list->ctx, list->n + 1, sizeof *list->ctx);
	list->ctx[list->n++] = more;
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

/*
 * Gives ctx the certificate chain in cert and its key (in key, or NULL:
 * in cert).  Returns 0, or -1 with *err set.
 */
static int
tls_ctx_use_cert(SSL_CTX *ctx, const char *cert, const char *key,
    struct tls_ctx_error *err)
{
	if (key == NULL)
		key = cert;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_ctx_fail(err, cert, xasprintf("no certificate in %s: %s",
		    cert, tls_reason()));
		return (-1);
	}
	/* Loading checks that the key is the certificate's. */
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    X509_R_KEY_VALUES_MISMATCH) {
			tls_ctx_fail(err, key, xasprintf("the key in %s does "
			    "not match the certificate in %s", key, cert));
			ERR_clear_error();
		} else
			tls_ctx_fail(err, key, xasprintf("no private key in "
			    "%s: %s", key, tls_reason()));
		return (-1);
	}
	return (0);
}

/*
 * The session ID context, which a session must match to be resumed: a
 * hash of the listener's name and of what its tls_client_ca file holds,
 * to fit OpenSSL's 32 bytes.  So a ticket from one listener does not
 * resume on another, and a session made without a client certificate,
 * or with one from a CA since replaced, does not resume where one from
 * the CAs now in the file is required: ticket keys outlive reloads.  A
 * file that cannot be read fails the load of the CAs just after.
 */
static void
tls_server_sid_ctx(SSL_CTX *ctx, const char *id, const char *client_ca)
{
	unsigned char	 md[EVP_MAX_MD_SIZE], buf[4096];
	unsigned int	 mdlen = 0;
	EVP_MD_CTX	*h;
	size_t		 n;
	FILE		*f;
	int		 ok;

	if ((h = EVP_MD_CTX_new()) == NULL)
		fatal("tls: cannot hash: %s", tls_reason());
	ok = EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(h, "listener", 9) == 1 &&
	    EVP_DigestUpdate(h, id, strlen(id) + 1) == 1;
	if (client_ca != NULL && (f = fopen(client_ca, "rb")) != NULL) {
		while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
			ok = EVP_DigestUpdate(h, buf, n) == 1;
		fclose(f);
	}
	if (!ok || EVP_DigestFinal_ex(h, md, &mdlen) != 1 ||
	    mdlen > SSL_MAX_SID_CTX_LENGTH ||
	    SSL_CTX_set_session_id_context(ctx, md, mdlen) != 1)
		fatal("tls: cannot set a session ID context: %s",
		    tls_reason());
	EVP_MD_CTX_free(h);
}

/*
 * tls_client_ca: clients must show a certificate that chains to one of
 * these CAs, whose names go out in the certificate request.
 */
static int
tls_server_client_ca(SSL_CTX *ctx, const char *ca, struct tls_ctx_error *err)
{
	STACK_OF(X509_NAME)	*names;

	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(ca)) == NULL) {
		tls_ctx_fail(err, ca, xasprintf("cannot load the CA "
		    "certificates in %s: %s", ca, tls_reason()));
		return (-1);
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return (0);
}

SSL_CTX *
tls_server_ctx_new(const char *cert, const struct tls_server_opts *opts,
    struct tls_ctx_error *err)
{
	const char	*files[] = { cert, opts->key, opts->client_ca };
	const char	*id = opts->id, *key = opts->key;
	const char	*client_ca = opts->client_ca;
	SSL_CTX		*ctx;

	if ((ctx = tls_ctx_begin(TLS_server_method(), files, 3, err)) == NULL)
		return (NULL);
	pthread_once(&tls_sni_once, tls_sni_init);
	SSL_CTX_set_min_proto_version(ctx, strcmp(opts->min_version,
	    "TLSv1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION);
	/* Clients often close without close_notify: an end like any other. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	tls_ctx_modes(ctx);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	tls_server_sid_ctx(ctx, id, client_ca);
	/*
	 * Tickets are the one way to resume, under keys that rotate: no
	 * cache of sessions by ID, which would resume a TLS 1.2 client for
	 * two hours whatever the keys, and hold up to 20,480 sessions per
	 * context (nginx keeps none by default either).
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_servername_cb);
	if (tls_ctx_use_cert(ctx, cert, key, err) == -1 ||
	    (client_ca != NULL &&
	    tls_server_client_ca(ctx, client_ca, err) == -1) ||
	    (opts->ocsp_stapling != OCSP_OFF &&
	    ocsp_ctx_staple(ctx, cert, opts->ocsp_stapling, err) == -1)) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

SSL_CTX *
tls_client_ctx_new(int verify, const char *ca, const char *cert,
    const char *key, struct tls_ctx_error *err)
{
	const char	*files[] = { ca, cert, key };
	SSL_CTX		*ctx;
	int		 ok;

	if ((ctx = tls_ctx_begin(TLS_client_method(), files, 3, err)) == NULL)
		return (NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/*
	 * A server that closes without close_notify is an error here: it
	 * is how a close-delimited body that was cut short looks.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	tls_ctx_modes(ctx);
	SSL_CTX_set_alpn_protos(ctx, tls_alpn, sizeof tls_alpn - 1);
	if (verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		ok = ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL) :
		    SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1) {
			tls_ctx_fail(err, ca, xasprintf("cannot load the CA "
			    "certificates%s%s: %s", ca != NULL ? " in " : "",
			    ca != NULL ? ca : "", tls_reason()));
			SSL_CTX_free(ctx);
			return (NULL);
		}
	}
	/* A client certificate, for servers that ask for one. */
	if (cert != NULL && tls_ctx_use_cert(ctx, cert, key, err) == -1) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

/*
 * The TLS state of one connection, the argument of its bufferevent's read
 * and write events; freed with the bufferevent by tls_free().
 */
struct tls_conn {
	SSL			*ssl;
	struct bufferevent	*bev;
	enum {
		TLS_CONNECTING,		/* the TCP connect is under way */
		TLS_HANDSHAKE,
		TLS_OPEN,
		TLS_FAILED
	}			 state;
	int			 connect_errno;	/* connect() failed at once */
	unsigned		 accepting:1;
	unsigned		 hs_write:1;	/* ev_write added for the handshake */
	unsigned		 eof:1;		/* seen after data, not told yet */
	unsigned		 unclean:1;	/* end without close_notify */
	char			 err[160];	/* why it failed, for tls_error() */
};

/*
 * Handshakes so far: [0] with servers, [1] with clients; [..][0] done,
 * [..][1] failed.  Atomic: every worker counts.
 */
static uint64_t	tls_handshakes[2][2];

/* One TLS record's worth of plaintext, gathered from a buffer's chains. */
#define TLS_RECORD	16384
static _Thread_local unsigned char	tls_stage[TLS_RECORD];

static void	tls_read_cb(evutil_socket_t, short, void *);
static void	tls_write_cb(evutil_socket_t, short, void *);

/* Returns the state of a TLS bufferevent; NULL for a plain one. */
static struct tls_conn *
tls_conn_of(struct bufferevent *bev)
{
	if (event_get_callback(&bev->ev_read) != tls_read_cb)
		return (NULL);
	return (event_get_callback_arg(&bev->ev_read));
}

void
tls_session_keep(struct bufferevent *bev, void **slot)
{
	struct tls_conn	*tc = tls_conn_of(bev);
	SSL_SESSION	*sess;

	if (tc == NULL || tc->state != TLS_OPEN ||
	    (sess = SSL_get0_session(tc->ssl)) == NULL || sess == *slot ||
	    !SSL_SESSION_is_resumable(sess))
		return;
	SSL_SESSION_up_ref(sess);
	SSL_SESSION_free(*slot);
	*slot = sess;
}

void *
tls_session_ref(void *sess)
{
	if (sess != NULL)
		SSL_SESSION_up_ref(sess);
	return (sess);
}

void
tls_session_free(void *sess)
{
	SSL_SESSION_free(sess);
}

void
tls_handshake_counts(uint64_t c[2][2])
{
	int	i, j;

	for (i = 0; i < 2; i++)
		for (j = 0; j < 2; j++)
			c[i][j] = __atomic_load_n(&tls_handshakes[i][j],
			    __ATOMIC_RELAXED);
}

int
tls_is(struct bufferevent *bev)
{
	return (tls_conn_of(bev) != NULL);
}

/* Notes why tc failed: OpenSSL's queued reasons, the certificate check's. */
static void
tls_note_error(struct tls_conn *tc, const char *what)
{
	unsigned long	 e;
	const char	*r;
	size_t		 off = 0;
	long		 v;

	tc->state = TLS_FAILED;
	tc->err[0] = '\0';
	while ((e = ERR_get_error()) != 0 && off < sizeof tc->err) {
		if ((r = ERR_reason_error_string(e)) == NULL ||
		    strstr(tc->err, r) != NULL)
			continue;
		off += snprintf(tc->err + off, sizeof tc->err - off, "%s%s",
		    off > 0 ? ", " : "", r);
	}
	if ((v = SSL_get_verify_result(tc->ssl)) != X509_V_OK &&
	    off < sizeof tc->err)
		off += snprintf(tc->err + off, sizeof tc->err - off, "%s%s",
		    off > 0 ? ": " : "", X509_verify_cert_error_string(v));
	if (off == 0 && what != NULL)
		snprintf(tc->err, sizeof tc->err, "%s", what);
}

/*
 * Tells the user of tc's bufferevent about an end (EOF, error, timeout,
 * connected).  Reading stops on an end, as libevent's own bufferevents
 * do.  The last thing a callback of ours does: the user may free it all.
 */
static void
tls_tell(struct tls_conn *tc, short events)
{
	struct bufferevent	*bev = tc->bev;
	bufferevent_event_cb	 eventcb;
	void			*cbarg;
	int			 saved = errno;

	bufferevent_getcb(bev, NULL, NULL, &eventcb, &cbarg);
	if (!(events & BEV_EVENT_CONNECTED))
		bufferevent_disable(bev, events & BEV_EVENT_WRITING ?
		    EV_WRITE : EV_READ);
	errno = saved;
	if (eventcb != NULL)
		eventcb(bev, events, cbarg);
}

/*
 * Adds the write event when OpenSSL must write before it can go on (the
 * handshake, or a read that has an answer to send), else leaves it to the
 * output: added while an open connection has output and the user's
 * EV_WRITE, dropped otherwise, so that a writable socket does not spin.
 */
static void
tls_want_write(struct tls_conn *tc, int want)
{
	struct bufferevent	*bev = tc->bev;

	tc->hs_write = want;
	if (want)
		event_add(&bev->ev_write, NULL);
	else if (tc->state == TLS_OPEN &&
	    evbuffer_get_length(bufferevent_get_output(bev)) != 0 &&
	    (bufferevent_get_enabled(bev) & EV_WRITE))
		bufferevent_enable(bev, EV_WRITE);	/* with its timeout */
	else
		event_del(&bev->ev_write);
}

/*
 * A client sent plain HTTP to a TLS listener (OpenSSL saw "GET " where a
 * ClientHello belongs): one try at telling it so in its own terms, as
 * nginx does, before the connection closes.
 */
static void
tls_plain_http(struct tls_conn *tc)
{
	static const char	answer[] = "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 42\r\n"
	    "Connection: close\r\n\r\n"
	    "plain HTTP request sent to a TLS listener\n";

	(void)send(bufferevent_getfd(tc->bev), answer, sizeof answer - 1,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * Moves the handshake on: 1 when it is done, 0 while it waits for the
 * socket, -1 when it failed (noted).
 */
static int
tls_handshake(struct tls_conn *tc)
{
	int	r;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_do_handshake(tc->ssl)) == 1) {
		tc->state = TLS_OPEN;
		tls_want_write(tc, 0);
		return (1);
	}
	switch (SSL_get_error(tc->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		tls_want_write(tc, 0);
		return (0);
	case SSL_ERROR_WANT_WRITE:
		tls_want_write(tc, 1);
		return (0);
	case SSL_ERROR_SYSCALL:
		tls_note_error(tc, errno != 0 ? strerror(errno) :
		    "the peer closed during the handshake");
		return (-1);
	default:
		if (tc->accepting &&
		    ERR_GET_REASON(ERR_peek_error()) == SSL_R_HTTP_REQUEST)
			tls_plain_http(tc);
		tls_note_error(tc, "handshake failed");
		return (-1);
	}
}

/* Ends the TCP connect of a client connection; -1 with errno when it failed. */
static int
tls_connected(struct tls_conn *tc)
{
	socklen_t	len = sizeof tc->connect_errno;
	int		err = tc->connect_errno;

	if (err == 0 && getsockopt(bufferevent_getfd(tc->bev), SOL_SOCKET,
	    SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == EINPROGRESS)
		return (0);
	if (err != 0) {
		errno = err;
		return (-1);
	}
	tc->state = TLS_HANDSHAKE;
	return (1);
}

/*
 * Connect and handshake, from either event.  Returns 1 when the
 * connection is open and the caller goes on, 0 when it waits or told the
 * user (then nothing of tc may be touched).
 */
static int
tls_progress(struct tls_conn *tc)
{
	int	r;

	if (tc->state == TLS_CONNECTING) {
		if ((r = tls_connected(tc)) == -1) {
			tc->state = TLS_FAILED;
			tls_tell(tc, BEV_EVENT_ERROR | BEV_EVENT_WRITING);
			return (0);
		}
		if (r == 0)
			return (0);
	}
	if (tc->state == TLS_HANDSHAKE) {
		if ((r = tls_handshake(tc)) != 0)
			__atomic_add_fetch(&tls_handshakes[tc->accepting][r == -1],
			    1, __ATOMIC_RELAXED);
		if (r == -1) {
			tls_tell(tc, BEV_EVENT_ERROR | BEV_EVENT_READING);
			return (0);
		}
		if (r == 0)
			return (0);
		if (!tc->accepting) {
			tls_tell(tc, BEV_EVENT_CONNECTED);
			return (0);
		}
	}
	return (tc->state == TLS_OPEN);
}

/*
 * Writes the output as records, one for up to 16 KiB, however many chains
 * it spans: 0 when all went, 1 when the socket is full, -1 on an error
 * (noted).
 */
static int
tls_write_out(struct tls_conn *tc)
{
	struct evbuffer	*out = bufferevent_get_output(tc->bev);
	unsigned char	*p;
	size_t		 len, n;
	int		 r = 0, w;

	/* A bufferevent keeps its output's start frozen to all but itself. */
	evbuffer_unfreeze(out, 1);
	while ((len = evbuffer_get_length(out)) > 0) {
		n = len < TLS_RECORD ? len : TLS_RECORD;
		if (evbuffer_get_contiguous_space(out) >= n)
			p = evbuffer_pullup(out, n);
		else {
			evbuffer_copyout(out, tls_stage, n);
			p = tls_stage;
		}
		ERR_clear_error();
		errno = 0;
		if ((w = SSL_write(tc->ssl, p, (int)n)) > 0) {
			evbuffer_drain(out, w);
			continue;
		}
		if (SSL_get_error(tc->ssl, w) == SSL_ERROR_WANT_WRITE) {
			r = 1;
			break;
		}
		tls_note_error(tc, errno != 0 ? strerror(errno) :
		    "write failed");
		r = -1;
		break;
	}
	evbuffer_freeze(out, 1);
	return (r);
}

/*
 * Tells the user, for side (BEV_EVENT_READING or _WRITING), of a timeout
 * or of a failure noted earlier; returns 1 when it did, and the event
 * callback must return at once.
 */
static int
tls_told_end(struct tls_conn *tc, short what, short side)
{
	if (what == EV_TIMEOUT)
		tls_tell(tc, side | BEV_EVENT_TIMEOUT);
	else if (tc->state == TLS_FAILED)
		tls_tell(tc, side | BEV_EVENT_ERROR);
	else
		return (0);
	return (1);
}

/*
 * The socket is readable: decrypt what came into the input.  Everything
 * OpenSSL holds is taken, even past the read watermark (by less than a
 * record or two), since no readable socket would bring it back later.
 */
static void
tls_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tls_conn		*tc = arg;
	struct bufferevent	*bev = tc->bev;
	struct evbuffer		*in = bufferevent_get_input(bev);
	bufferevent_data_cb	 readcb;
	void			*cbarg;
	size_t			 high = 0, got = 0;
	short			 events = BEV_EVENT_READING;
	int			 n;

	(void)fd;
	if (tls_told_end(tc, what, events))
		return;
	if (tc->state != TLS_OPEN && !tls_progress(tc))
		return;
	if (tc->eof) {
		/* Told when reading is on again, as libevent would. */
		if (bufferevent_get_enabled(bev) & EV_READ)
			tls_tell(tc, events | BEV_EVENT_EOF);
		return;
	}
	bufferevent_getwatermark(bev, EV_READ, NULL, &high);
	evbuffer_unfreeze(in, 0);
	do {
		if (high != 0 && evbuffer_get_length(in) >= high &&
		    !SSL_has_pending(tc->ssl))
			break;
		ERR_clear_error();
		errno = 0;
		/* Through the stage: a 100-byte request takes no 16 KiB chain. */
		if ((n = SSL_read(tc->ssl, tls_stage, sizeof tls_stage)) > 0) {
			if (evbuffer_add(in, tls_stage, n) == -1) {
				tls_note_error(tc, "out of memory");
				events |= BEV_EVENT_ERROR;
				break;
			}
			got += n;
			continue;
		}
		switch (SSL_get_error(tc->ssl, n)) {
		case SSL_ERROR_WANT_READ:
			break;
		case SSL_ERROR_WANT_WRITE:
			/* A post-handshake message whose answer must wait. */
			tls_want_write(tc, 1);
			break;
		case SSL_ERROR_ZERO_RETURN:
			events |= BEV_EVENT_EOF;
			break;
		case SSL_ERROR_SYSCALL:
			if (errno == 0) {
				tls_note_error(tc, "closed without close_notify");
				events |= BEV_EVENT_EOF | BEV_EVENT_ERROR;
				break;
			}
			/* FALLTHROUGH */
		default:
			/* No close_notify: an end, and an error (servers). */
			if (ERR_GET_REASON(ERR_peek_error()) ==
			    SSL_R_UNEXPECTED_EOF_WHILE_READING)
				events |= BEV_EVENT_EOF;
			tls_note_error(tc, errno != 0 ? strerror(errno) :
			    "read failed");
			events |= BEV_EVENT_ERROR;
			break;
		}
		break;
	} while (SSL_has_pending(tc->ssl));
	evbuffer_freeze(in, 0);
	if (got > 0) {
		/* Busy polling goes on while reads come (see sockread.c). */
		sockread_count++;
		/* An end is told at the next turn, after the data. */
		tc->eof = (events & BEV_EVENT_EOF) != 0;
		if (events != BEV_EVENT_READING)
			event_active(&bev->ev_read, EV_READ, 1);
		bufferevent_getcb(bev, &readcb, NULL, NULL, &cbarg);
		if (readcb != NULL)
			readcb(bev, cbarg);
		return;
	}
	if (events != BEV_EVENT_READING)
		tls_tell(tc, events);
}

/*
 * The socket is writable: the connect or handshake goes on, a read that
 * had to write goes on, or the output goes out as libevent's own write
 * event would write it, telling the user once it fell to the watermark.
 */
static void
tls_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tls_conn		*tc = arg;
	struct bufferevent	*bev = tc->bev;
	struct evbuffer		*out = bufferevent_get_output(bev);
	bufferevent_data_cb	 writecb;
	void			*cbarg;
	size_t			 before, low = 0;
	int			 r;

	(void)fd;
	if (tls_told_end(tc, what, BEV_EVENT_WRITING))
		return;
	if (tc->state != TLS_OPEN) {
		if (!tls_progress(tc))
			return;
		/*
		 * Open, here rather than in the read event: what came with
		 * the handshake's end (read ahead) waits in OpenSSL, where no
		 * readable socket would show it.
		 */
		if (SSL_has_pending(tc->ssl))
			event_active(&bev->ev_read, EV_READ, 1);
		if (evbuffer_get_length(out) != 0)
			event_active(&bev->ev_write, EV_WRITE, 1);
		return;
	}
	if (tc->hs_write) {
		/* What a read had to write: read again. */
		tls_want_write(tc, 0);
		event_active(&bev->ev_read, EV_READ, 1);
		if (!(bufferevent_get_enabled(bev) & EV_WRITE))
			return;
	}
	before = evbuffer_get_length(out);
	if ((r = tls_write_out(tc)) == -1) {
		tls_tell(tc, BEV_EVENT_ERROR | BEV_EVENT_WRITING);
		return;
	}
	if (evbuffer_get_length(out) == 0)
		event_del(&bev->ev_write);
	bufferevent_getwatermark(bev, EV_WRITE, &low, NULL);
	if (evbuffer_get_length(out) < before &&
	    evbuffer_get_length(out) <= low) {
		bufferevent_getcb(bev, NULL, &writecb, NULL, &cbarg);
		if (writecb != NULL)
			writecb(bev, cbarg);
	}
}

/* Makes a socket bufferevent on fd whose events go through ssl. */
static struct bufferevent *
tls_bufferevent_new(struct event_base *base, SSL *ssl, int fd, int accepting)
{
	struct bufferevent	*bev;
	struct tls_conn		*tc;

	if ((bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) ==
	    NULL)
		return (NULL);
	if (SSL_set_fd(ssl, fd) != 1) {
		ERR_clear_error();
		bufferevent_setfd(bev, -1);
		bufferevent_free(bev);
		return (NULL);
	}
	tc = xcalloc(1, sizeof *tc);
	tc->ssl = ssl;
	tc->bev = bev;
	tc->accepting = accepting;
	tc->state = accepting ? TLS_HANDSHAKE : TLS_CONNECTING;
	/* Neither event is added yet: event_assign() may replace them. */
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	event_assign(&bev->ev_read, base, fd, EV_READ | EV_PERSIST |
	    EV_FINALIZE, tls_read_cb, tc);
	event_assign(&bev->ev_write, base, fd, EV_WRITE | EV_PERSIST |
	    EV_FINALIZE, tls_write_cb, tc);
	return (bev);
}

struct bufferevent *
tls_accept_new(struct event_base *base, SSL_CTX *ctx, int fd)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(ctx)) == NULL) {
		ERR_clear_error();
		return (NULL);
	}
	SSL_set_accept_state(ssl);
	if ((bev = tls_bufferevent_new(base, ssl, fd, 1)) == NULL)
		SSL_free(ssl);
	return (bev);
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
    const struct sockaddr *sa, socklen_t salen, const char *host,
    const char *sni, int verify, void *resume)
{
	struct bufferevent	*bev;
	SSL			*ssl;
	const char		*name = sni;
	int			 ok = 1, err = 0;

	ssl = SSL_new(ctx);
	/* SSL_set_session() takes a reference of its own. */
	if (ssl != NULL && resume != NULL)
		SSL_set_session(ssl, resume);
	SSL_SESSION_free(resume);
	if (ssl == NULL) {
		ERR_clear_error();
		return (NULL);
	}
	SSL_set_connect_state(ssl);
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
	/* A connect that fails at once is told as if it failed later. */
	if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS)
		err = errno;
	if ((bev = tls_bufferevent_new(base, ssl, fd, 0)) == NULL) {
		SSL_free(ssl);
		return (NULL);
	}
	tls_conn_of(bev)->connect_errno = err;
	return (bev);
}

void
tls_flush(struct bufferevent *bev)
{
	struct tls_conn	*tc = tls_conn_of(bev);
	int		 r;

	if (tc->state != TLS_OPEN)
		return;		/* the handshake's end writes it */
	if ((r = tls_write_out(tc)) == 0)
		return;
	/* The write event finishes, or tells the error outside this call. */
	(void)r;
	bufferevent_enable(bev, EV_WRITE);
}

const char *
tls_error(struct bufferevent *bev, char *buf, size_t size)
{
	struct tls_conn	*tc = tls_conn_of(bev);

	snprintf(buf, size, "%s", tc != NULL ? tc->err : "");
	return (buf);
}

/* The events of a bufferevent being freed: never run. */
static void
tls_gone_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

void
tls_cut(struct bufferevent *bev)
{
	struct tls_conn	*tc = tls_conn_of(bev);

	if (tc != NULL)
		tc->unclean = 1;
}

/*
 * Drops tc from its bufferevent: stops the events before their argument
 * goes, and gives them back the bufferevent as their argument, which
 * libevent's finalizers take from them.
 */
static void
tls_conn_drop(struct tls_conn *tc)
{
	struct bufferevent	*bev = tc->bev;
	evutil_socket_t		 fd = bufferevent_getfd(bev);

	bufferevent_disable(bev, EV_READ | EV_WRITE);
	event_del(&bev->ev_read);
	event_del(&bev->ev_write);
	event_assign(&bev->ev_read, bufferevent_get_base(bev), fd,
	    EV_READ | EV_PERSIST | EV_FINALIZE, tls_gone_cb, bev);
	event_assign(&bev->ev_write, bufferevent_get_base(bev), fd,
	    EV_WRITE | EV_PERSIST | EV_FINALIZE, tls_gone_cb, bev);
	free(tc);
}

void
tls_detached_free(void *tls, int clean)
{
	/* close_notify: the end of a body delimited by the close. */
	ERR_clear_error();
	if (clean)
		(void)SSL_shutdown(tls);
	ERR_clear_error();
	SSL_free(tls);
}

void
tls_end(struct bufferevent *bev)
{
	struct tls_conn	*tc;

	if ((tc = tls_conn_of(bev)) != NULL) {
		tls_detached_free(tc->ssl, tc->state == TLS_OPEN &&
		    !tc->unclean);
		tls_conn_drop(tc);
	}
}

void
tls_free(struct bufferevent *bev)
{
	if (bev == NULL)
		return;
	tls_end(bev);
	bufferevent_free(bev);
}

int
tls_pending(struct bufferevent *bev)
{
	struct tls_conn	*tc = tls_conn_of(bev);

	return (tc != NULL && SSL_has_pending(tc->ssl));
}

void *
tls_detach(struct bufferevent *bev)
{
	struct tls_conn	*tc = tls_conn_of(bev);
	SSL		*ssl;

	if (tc == NULL || tc->state != TLS_OPEN || tc->eof || tc->unclean ||
	    tc->hs_write || SSL_has_pending(tc->ssl) ||
	    evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return (NULL);
	ssl = tc->ssl;
	tls_conn_drop(tc);
	return (ssl);
}

struct bufferevent *
tls_attach(struct event_base *base, void *tls, int fd)
{
	struct bufferevent	*bev;

	if ((bev = tls_bufferevent_new(base, tls, fd, 1)) != NULL)
		tls_conn_of(bev)->state = TLS_OPEN;
	return (bev);
}
