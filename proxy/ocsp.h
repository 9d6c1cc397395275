/*
 * OCSP stapling (tls_ocsp_stapling): a listener's certificate's status,
 * read from a file next to it or fetched from the responder the
 * certificate names, given to the clients that ask for it in the
 * handshake.
 */
#ifndef OCSP_H
#define OCSP_H

struct event_base;
struct ssl_ctx_st;
struct tls_ctx_error;

#define OCSP_OFF	0
#define OCSP_FILE	1	/* on: the response in CERT.ocsp */
#define OCSP_FETCH	2	/* fetch: from the certificate's responder */

/*
 * Staples the status of ctx's certificate, from the PEM file cert, as
 * mode says.  -1 with *err set (its msg to free) when the file's response
 * cannot be stapled, or when there is no responder to fetch from.
 */
int	ocsp_ctx_staple(struct ssl_ctx_st *, const char *cert, int mode,
	    struct tls_ctx_error *);
/* Starts fetching responses on the main loop, once fetch.c runs there. */
int	ocsp_init(struct event_base *);
/* Stops every fetch in flight (at exit, before fetch_clear()). */
void	ocsp_clear(void);

#endif
