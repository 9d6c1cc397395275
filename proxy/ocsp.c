/*
 * OCSP stapling.  A listener context with tls_ocsp_stapling gets a staple:
 * the response given to clients that ask for the certificate's status
 * (status_request), so that they need not ask the CA themselves.
 *
 * With "on" the response is the DER file CERT.ocsp, fetched by a tool of
 * the operator's and read at start and at each reload; one that cannot be
 * stapled (about another certificate, badly signed, revoked, out of date)
 * refuses the config.  With "fetch" cutover asks the responder named in
 * the certificate (its Authority Information Access) itself, by HTTP GET
 * (RFC 6960 appendix A.1) through fetch.c on the main loop, never
 * blocking it: at once, then halfway to the response's nextUpdate, and
 * after a failure again in 1 s, 2 s, 4 s... up to an hour.  A response
 * that fails the checks is not stapled and the one before stays; a reload
 * takes the current response of the same certificate over, so that a
 * responder down during a deploy costs nothing.
 *
 * Contexts are made on the config loader's thread and freed on whichever
 * thread drops the last reference; handshakes read the staple on the
 * workers.  So the list of staples being fetched, their reference counts
 * and their responses are under ocsp_lock; fetching is the main thread's.
 */
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/event.h>

#include "fetch.h"
#include "log.h"
#include "ocsp.h"
#include "tls.h"
#include "xmalloc.h"

#define OCSP_FILE_MAX		(1024 * 1024)	/* no response is larger */
#define OCSP_FETCH_MS		10000		/* a fetch's time limit */
#define OCSP_RETRY_MAX		3600		/* s, between failed fetches */
#define OCSP_REFRESH_MIN	60		/* s, between good fetches */
#define OCSP_REFRESH_MAX	(12 * 3600)
#define OCSP_REFRESH_NONE	3600		/* without a nextUpdate */

#define OCSP_NO_ISSUER	"the certificate file holds no issuer certificate " \
			"to match it against"

struct ocsp_staple {
	TAILQ_ENTRY(ocsp_staple) entry;	/* on ocsp_list: those with get */
	int			 gone;		/* its context is freed */
	int			 refs;		/* the context's, a fetch's */

	/* Set when made, read only after. */
	char			*cert;		/* the PEM file, for logs */
	char			*get;		/* responder URL and request */
	X509			*leaf;
	X509			*issuer;

	/* The response stapled; NULL: none yet. */
	unsigned char		*der;
	size_t			 len;
	time_t			 next_update;	/* 0: none given */

	/* The main thread's. */
	struct fetch		*fetch;		/* in flight */
	time_t			 due;		/* the next fetch */
	long			 retry;		/* s; 0: the last one worked */
};

static TAILQ_HEAD(, ocsp_staple) ocsp_list = TAILQ_HEAD_INITIALIZER(ocsp_list);
static pthread_mutex_t		 ocsp_lock = PTHREAD_MUTEX_INITIALIZER;
static int			 ocsp_index = -1;
static pthread_once_t		 ocsp_once = PTHREAD_ONCE_INIT;
static struct event		*ocsp_timer;

/* Drops a reference; the last frees the staple.  Under ocsp_lock. */
static void
ocsp_unref_locked(struct ocsp_staple *s)
{
	if (--s->refs > 0)
		return;
	if (s->get != NULL)
		TAILQ_REMOVE(&ocsp_list, s, entry);
	X509_free(s->leaf);
	X509_free(s->issuer);
	free(s->cert);
	free(s->get);
	free(s->der);
	free(s);
}

/*
 * The context is freed: its staple is fetched no more.  One with a fetch
 * in flight stays listed until the fetch ends, so that ocsp_clear() can
 * still cancel it at exit.
 */
static void
ocsp_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct ocsp_staple	*s = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (s == NULL)
		return;
	pthread_mutex_lock(&ocsp_lock);
	s->gone = 1;
	ocsp_unref_locked(s);
	pthread_mutex_unlock(&ocsp_lock);
}

static void
ocsp_index_init(void)
{
	ocsp_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    ocsp_free_cb);
}

/*
 * A client asked for the certificate's status: the response, unless it
 * has expired since (a stale one would make a client that checks it
 * refuse the connection; none only costs it a lookup).
 */
static int
ocsp_status_cb(SSL *ssl, void *arg)
{
	struct ocsp_staple	*s;
	unsigned char		*der = NULL;
	size_t			 len = 0;

	(void)arg;
	s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ocsp_index);
	if (s == NULL)
		return (SSL_TLSEXT_ERR_NOACK);
	pthread_mutex_lock(&ocsp_lock);
	if (s->der != NULL && (s->next_update == 0 ||
	    time(NULL) <= s->next_update)) {
		/* OpenSSL frees what it is given. */
		der = OPENSSL_memdup(s->der, s->len);
		len = s->len;
	}
	pthread_mutex_unlock(&ocsp_lock);
	if (der == NULL)
		return (SSL_TLSEXT_ERR_NOACK);
	if (SSL_set_tlsext_status_ocsp_resp(ssl, der, (long)len) != 1) {
		OPENSSL_free(der);
		return (SSL_TLSEXT_ERR_NOACK);
	}
	return (SSL_TLSEXT_ERR_OK);
}

/* The certificate's issuer, from the chain its file gave; NULL: none. */
static X509 *
ocsp_issuer(SSL_CTX *ctx, X509 *leaf)
{
	STACK_OF(X509)	*chain = NULL;
	int		 i;

	if (SSL_CTX_get0_chain_certs(ctx, &chain) != 1 || chain == NULL)
		return (NULL);
	for (i = 0; i < sk_X509_num(chain); i++)
		if (X509_check_issued(sk_X509_value(chain, i), leaf) ==
		    X509_V_OK)
			return (sk_X509_value(chain, i));
	return (NULL);
}

/*
 * Checks the response's signature: by the issuer itself, or by a
 * responder certificate the response carries and the issuer signed.
 */
static int
ocsp_verify(OCSP_BASICRESP *basic, X509 *issuer)
{
	STACK_OF(X509)	*certs;
	X509_STORE	*st;
	int		 ok = 0;

	if ((st = X509_STORE_new()) == NULL ||
	    (certs = sk_X509_new_null()) == NULL) {
		X509_STORE_free(st);
		return (-1);
	}
	if (X509_STORE_add_cert(st, issuer) == 1 &&
	    X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN) == 1 &&
	    sk_X509_push(certs, issuer) > 0)
		ok = OCSP_basic_verify(basic, certs, st, OCSP_TRUSTOTHER) == 1;
	sk_X509_free(certs);
	X509_STORE_free(st);
	return (ok ? 0 : -1);
}

/*
 * Checks that the DER response der[0..len) can be stapled: whole, about
 * this certificate, signed for its issuer, "good" and current.  NULL with
 * *next_update set (0: none given), or why not (to free).
 */
static char *
ocsp_check(const unsigned char *der, long len, X509 *leaf, X509 *issuer,
    time_t *next_update)
{
	OCSP_RESPONSE		*resp = NULL;
	OCSP_BASICRESP		*basic = NULL;
	OCSP_CERTID		*id = NULL;
	ASN1_GENERALIZEDTIME	*thisupd, *nextupd;
	const unsigned char	*p = der;
	struct tm		 tm;
	char			*why = NULL;
	int			 status, reason;

	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, len)) == NULL)
		why = xasprintf("not a DER OCSP response: %s", tls_reason());
	else if (p - der != len)
		why = xasprintf("%ld bytes after the response",
		    len - (long)(p - der));
	else if ((status = OCSP_response_status(resp)) !=
	    OCSP_RESPONSE_STATUS_SUCCESSFUL)
		why = xasprintf("the responder answered \"%s\"",
		    OCSP_response_status_str(status));
	else if ((basic = OCSP_response_get1_basic(resp)) == NULL ||
	    (id = OCSP_cert_to_id(NULL, leaf, issuer)) == NULL)
		why = xasprintf("cannot read it: %s", tls_reason());
	else if (ocsp_verify(basic, issuer) == -1)
		why = xasprintf("its signature does not check out against the "
		    "issuer: %s", tls_reason());
	else if (OCSP_resp_find_status(basic, id, &status, &reason, NULL,
	    &thisupd, &nextupd) != 1)
		why = xstrdup("it is not about this certificate");
	else if (status != V_OCSP_CERTSTATUS_GOOD)
		why = xasprintf("the certificate is %s",
		    OCSP_cert_status_str(status));
	/*
	 * The five minutes of skew are for thisUpdate only: one whose
	 * nextUpdate has passed would not be stapled (ocsp_status_cb).
	 */
	else if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1 ||
	    (nextupd != NULL && X509_cmp_current_time(nextupd) != 1)) {
		why = xstrdup("it is out of date");
		ERR_clear_error();
	} else {
		*next_update = 0;
		if (nextupd != NULL && ASN1_TIME_to_tm(nextupd, &tm) == 1)
			*next_update = timegm(&tm);
	}
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(basic);
	OCSP_RESPONSE_free(resp);
	return (why);
}

/*
 * The URL that asks the certificate's responder for its status: the
 * responder's, "/", and the DER request in base64, URL-encoded.  NULL,
 * with *why, when the certificate names no http(s) responder.
 */
static char *
ocsp_get_url(X509 *leaf, X509 *issuer, const char **why)
{
	STACK_OF(OPENSSL_STRING)	*urls;
	OCSP_REQUEST			*req = NULL;
	OCSP_CERTID			*id = NULL;
	unsigned char			*der = NULL, *b64 = NULL;
	const char			*url = NULL, *u;
	char				*get = NULL, *q;
	int				 i, n;

	urls = X509_get1_ocsp(leaf);
	for (i = 0; i < sk_OPENSSL_STRING_num(urls) && url == NULL; i++) {
		u = sk_OPENSSL_STRING_value(urls, i);
		if (strncmp(u, "http://", 7) == 0 ||
		    strncmp(u, "https://", 8) == 0)
			url = u;
	}
	*why = "the certificate names no OCSP responder (http or https)";
	if (url == NULL)
		goto done;
	*why = "cannot make an OCSP request";
	if ((req = OCSP_REQUEST_new()) == NULL ||
	    (id = OCSP_cert_to_id(NULL, leaf, issuer)) == NULL ||
	    OCSP_request_add0_id(req, id) == NULL)
		goto done;
	id = NULL;	/* the request's now */
	if ((n = i2d_OCSP_REQUEST(req, &der)) <= 0)
		goto done;
	b64 = xmalloc(4 * (((size_t)n + 2) / 3) + 1);
	EVP_EncodeBlock(b64, der, n);
	/* Each base64 byte takes at most 3 URL-encoded. */
	get = xmalloc(strlen(url) + 1 + 3 * strlen((char *)b64) + 1);
	q = get + sprintf(get, "%s%s", url,
	    url[strlen(url) - 1] == '/' ? "" : "/");
	for (i = 0; b64[i] != '\0'; i++) {
		if (b64[i] == '+' || b64[i] == '/' || b64[i] == '=')
			q += sprintf(q, "%%%02X", b64[i]);
		else
			*q++ = (char)b64[i];
	}
	*q = '\0';
	*why = NULL;
done:
	free(b64);
	OPENSSL_free(der);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	X509_email_free(urls);
	return (get);
}

/* Reads CERT.ocsp into the staple; the error (to free) when it cannot. */
static char *
ocsp_read_file(struct ocsp_staple *s, const char *cert)
{
	unsigned char	*der;
	char		*path, *why, *msg;
	long		 len;
	FILE		*f;

	path = xasprintf("%s.ocsp", cert);
	if ((f = fopen(path, "rb")) == NULL) {
		msg = xasprintf("tls_ocsp_stapling: cannot read %s: %s", path,
		    strerror(errno));
		free(path);
		return (msg);
	}
	der = xmalloc(OCSP_FILE_MAX);
	len = (long)fread(der, 1, OCSP_FILE_MAX, f);
	fclose(f);
	if (s->issuer == NULL)
		why = xstrdup(OCSP_NO_ISSUER);
	else if ((why = ocsp_check(der, len, s->leaf, s->issuer,
	    &s->next_update)) == NULL) {
		s->len = (size_t)len;
		s->der = xmalloc(s->len);
		memcpy(s->der, der, s->len);
	}
	free(der);
	msg = NULL;
	if (why != NULL)
		msg = xasprintf("tls_ocsp_stapling: %s: %s", path, why);
	free(why);
	free(path);
	return (msg);
}

/*
 * A staple to fetch: on the list, due at once, unless a staple of the
 * same certificate (a context of the config before a reload) has a
 * response still current, which it takes over with its schedule.
 */
static void
ocsp_list_add(struct ocsp_staple *s)
{
	struct ocsp_staple	*o;
	time_t			 now = time(NULL);

	s->due = now;
	pthread_mutex_lock(&ocsp_lock);
	TAILQ_FOREACH(o, &ocsp_list, entry) {
		if (o->gone || strcmp(o->get, s->get) != 0 || o->der == NULL ||
		    (o->next_update != 0 && o->next_update < now))
			continue;
		s->der = xmalloc(o->len);
		memcpy(s->der, o->der, o->len);
		s->len = o->len;
		s->next_update = o->next_update;
		s->due = o->due;
		break;
	}
	TAILQ_INSERT_TAIL(&ocsp_list, s, entry);
	pthread_mutex_unlock(&ocsp_lock);
}

int
ocsp_ctx_staple(SSL_CTX *ctx, const char *cert, int mode,
    struct tls_ctx_error *err)
{
	struct ocsp_staple	*s;
	X509			*leaf = SSL_CTX_get0_certificate(ctx), *issuer;
	const char		*why = OCSP_NO_ISSUER;

	pthread_once(&ocsp_once, ocsp_index_init);
	err->msg = NULL;
	err->file = cert;
	s = xcalloc(1, sizeof *s);
	s->refs = 1;
	s->cert = xstrdup(cert);
	X509_up_ref(leaf);
	s->leaf = leaf;
	if ((issuer = ocsp_issuer(ctx, leaf)) != NULL) {
		X509_up_ref(issuer);
		s->issuer = issuer;
	}
	if (mode == OCSP_FILE)
		err->msg = ocsp_read_file(s, cert);
	else if (issuer == NULL ||
	    (s->get = ocsp_get_url(leaf, issuer, &why)) == NULL)
		err->msg = xasprintf("tls_ocsp_stapling: %s: %s", cert, why);
	if (err->msg != NULL) {
		pthread_mutex_lock(&ocsp_lock);
		ocsp_unref_locked(s);
		pthread_mutex_unlock(&ocsp_lock);
		return (-1);
	}
	if (mode == OCSP_FETCH)
		ocsp_list_add(s);
	if (SSL_CTX_set_ex_data(ctx, ocsp_index, s) != 1)
		fatal("tls: cannot keep an OCSP staple");
	SSL_CTX_set_tlsext_status_cb(ctx, ocsp_status_cb);
	err->file = NULL;
	return (0);
}

/* When to fetch again after a response good until next_update. */
static time_t
ocsp_refresh(time_t now, time_t next_update)
{
	time_t	half;

	if (next_update == 0)
		return (now + OCSP_REFRESH_NONE);
	half = next_update > now ? (next_update - now) / 2 : 0;
	if (half < OCSP_REFRESH_MIN)
		half = OCSP_REFRESH_MIN;
	if (half > OCSP_REFRESH_MAX)
		half = OCSP_REFRESH_MAX;
	return (now + half);
}

/* A fetch ended: the new response, or a retry later. */
static void
ocsp_fetch_done(const struct fetch_result *res, void *arg)
{
	struct ocsp_staple	*s = arg;
	unsigned char		*der = NULL;
	char			*why = NULL, until[32];
	time_t			 now = time(NULL), next = 0;
	struct tm		 tm;

	if (!res->ok)
		why = xasprintf("no answer: %s", res->error);
	else if (res->status != 200)
		why = xasprintf("status %ld", res->status);
	else if (res->truncated)
		why = xasprintf("an answer larger than %zu bytes", res->len);
	else
		why = ocsp_check((const unsigned char *)res->body,
		    (long)res->len, s->leaf, s->issuer, &next);
	if (why == NULL) {
		der = xmalloc(res->len);
		memcpy(der, res->body, res->len);
	}

	pthread_mutex_lock(&ocsp_lock);
	s->fetch = NULL;
	if (s->gone) {
		/* Its context is freed. */
	} else if (why == NULL) {
		free(s->der);
		s->der = der;
		der = NULL;
		s->len = res->len;
		s->next_update = next;
		s->due = ocsp_refresh(now, next);
		s->retry = 0;
		if (next != 0 && gmtime_r(&next, &tm) != NULL)
			strftime(until, sizeof until, "%Y-%m-%d %H:%M:%S UTC",
			    &tm);
		else
			snprintf(until, sizeof until, "no end given");
		log_info("tls_ocsp_stapling %s: a response from the "
		    "responder, good until %s", s->cert, until);
	} else {
		s->retry = s->retry == 0 ? 1 : s->retry * 2 > OCSP_RETRY_MAX ?
		    OCSP_RETRY_MAX : s->retry * 2;
		s->due = now + s->retry;
		log_warn("tls_ocsp_stapling %s: %s; %s, fetching again in "
		    "%lds", s->cert, why, s->der != NULL ? "the response "
		    "before stays" : "nothing to staple", s->retry);
	}
	ocsp_unref_locked(s);
	pthread_mutex_unlock(&ocsp_lock);
	free(der);
	free(why);
}

/* Each second: starts the fetches that are due. */
static void
ocsp_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ocsp_staple	*s;
	time_t			 now = time(NULL);

	(void)fd;
	(void)what;
	(void)arg;
	pthread_mutex_lock(&ocsp_lock);
	TAILQ_FOREACH(s, &ocsp_list, entry) {
		if (s->gone || s->fetch != NULL || s->due > now)
			continue;
		/* Done is never called from fetch_start() itself. */
		if ((s->fetch = fetch_start(s->get, NULL, OCSP_FETCH_MS,
		    ocsp_fetch_done, s)) == NULL) {
			s->due = now + OCSP_REFRESH_MIN;
			continue;
		}
		s->refs++;
	}
	pthread_mutex_unlock(&ocsp_lock);
}

int
ocsp_init(struct event_base *base)
{
	struct timeval	tv = { 1, 0 };

	if ((ocsp_timer = event_new(base, -1, EV_PERSIST, ocsp_tick_cb,
	    NULL)) == NULL)
		return (-1);
	evtimer_add(ocsp_timer, &tv);
	return (0);
}

void
ocsp_clear(void)
{
	struct ocsp_staple	*s, *next;

	if (ocsp_timer != NULL)
		event_free(ocsp_timer);
	ocsp_timer = NULL;
	pthread_mutex_lock(&ocsp_lock);
	for (s = TAILQ_FIRST(&ocsp_list); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->fetch == NULL)
			continue;
		fetch_cancel(s->fetch);
		s->fetch = NULL;
		ocsp_unref_locked(s);
	}
	pthread_mutex_unlock(&ocsp_lock);
}
