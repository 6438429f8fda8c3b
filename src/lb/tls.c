/* TLS termination on memory BIOs: the session code moves the bytes, we only transform them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "core/mem.h"
#include "lb/lb-int.h"

/* Largest plaintext in one TLS record (RFC 8446 5.1). We move data in pieces
 * of this size so that a record always fits the room we give SSL_read, and
 * so that the memory BIOs, which never shrink, stay about one record big
 * whatever the session hands us at once. */
#define TLS_CHUNK 16384

/* Mozilla "intermediate" TLS 1.2 suites: ECDHE and AEAD only. TLS 1.3
 * suites keep OpenSSL's defaults, which are all fine. */
#define TLS12_CIPHERS                                                   \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"    \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"    \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* One name a certificate answers for. */
struct tls_name {
	char *name;     /* lowercase, no trailing dot; "*.example.com" when wildcard */
	bool wildcard;  /* leading "*." label: matches exactly one label in its place */
	SSL_CTX *ctx;   /* borrowed from lb_tls_ctx.ctx */
};

/* Read-only once built: worker threads share it without locks. */
struct lb_tls_ctx {
	SSL_CTX **ctx;          /* [nctx], one per PEM file, in config order; [0] is the default */
	int nctx;               /* files loaded, == cfg->ncerts once built */
	struct tls_name *names; /* names of every certificate, in file order */
	int nnames;             /* entries in <names> */
};

struct lb_tls_conn {
	SSL *ssl;            /* server side, created on the default context */
	BIO *rbio;           /* ciphertext from the client, owned by ssl */
	BIO *wbio;           /* ciphertext for the client, owned by ssl */
	struct buf pending;  /* plaintext given to output() before the handshake finished */
	bool ready;          /* handshake done and <pending> flushed */
	bool failed;         /* fatal error seen: every call now returns -1 */
};

/* ---- contexts ---- */

/* Fills *err with "tls: <file>: <step>: reason", the reason being the oldest
 * queued OpenSSL error, and empties this thread's queue so that the next
 * SSL_get_error() on this thread is not misled by our leftovers. The step is
 * there because OpenSSL's reasons alone can mislead: a file without a key
 * says "DECODER routines::unsupported". */
static void set_err(char **err, const char *file, const char *step)
{
	unsigned long e = ERR_peek_error();
	char reason[256] = "unknown error";

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	*err = xasprintf("tls: %s: %s: %s", file, step, reason);
}

/* An encrypted key would make OpenSSL prompt on the terminal, which would
 * hang a daemon; refusing makes the load fail with a "bad decrypt" error. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

/* Picks "http/1.1" if the client offers it. Anything else, h2 included, gets
 * no ALPN answer at all: we only speak HTTP/1.1 (and TCP) behind the TLS. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const char h1[] = "http/1.1";

	for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
		unsigned int len = in[i];
		if (i + 1 + len > inlen)
			break;
		if (len == sizeof(h1) - 1 && memcmp(in + i + 1, h1, len) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)len;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/* Does <pattern> (from a certificate) cover <host> (from SNI, no trailing
 * dot)? A wildcard stands for exactly one non-empty leftmost label, so
 * "*.example.com" covers "a.example.com" but not "example.com" nor
 * "a.b.example.com" (RFC 6125 6.4.3). */
static bool name_match(const struct tls_name *n, const char *host)
{
	if (!n->wildcard)
		return strcasecmp(n->name, host) == 0;
	const char *dot = strchr(host, '.');
	return dot && dot != host && strcasecmp(dot, n->name + 1) == 0;
}

/* SNI callback, set on the default context only: OpenSSL calls the one of
 * the context the connection was created with. Exact names win over
 * wildcards, then file order decides. An unknown or missing name keeps the
 * default certificate rather than failing the handshake, as most servers do.
 * Runs on any worker thread; reads <t> only. */
static int on_servername(SSL *ssl, int *al, void *arg)
{
	const struct lb_tls_ctx *t = arg;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char host[256];
	SSL_CTX *pick = NULL;

	if (!sni)
		return SSL_TLSEXT_ERR_OK;
	size_t len = strlen(sni);
	if (len && sni[len - 1] == '.')
		len--;  /* "a.test." is "a.test" (RFC 6066 forbids it, clients send it anyway) */
	if (len == 0 || len >= sizeof(host))
		return SSL_TLSEXT_ERR_OK;
	memcpy(host, sni, len);
	host[len] = '\0';

	for (int pass = 0; pass < 2 && !pick; pass++) {
		for (int i = 0; i < t->nnames; i++) {
			const struct tls_name *n = &t->names[i];
			if (n->wildcard == (pass == 1) && name_match(n, host)) {
				pick = n->ctx;
				break;
			}
		}
	}
	/* Switching only swaps the certificate and key: every context is set up
	 * alike, and tickets and the session cache stay on the default one
	 * (OpenSSL's session_ctx), so resumption works whatever was picked. */
	if (pick && pick != SSL_get_SSL_CTX(ssl))
		SSL_set_SSL_CTX(ssl, pick);
	return SSL_TLSEXT_ERR_OK;
}

/* Records one DNS name of <ctx>'s certificate; <p, len> is not terminated.
 * Names with a NUL inside (a forged certificate) or empty are skipped. */
static void add_name(struct lb_tls_ctx *t, SSL_CTX *ctx, const char *p, size_t len)
{
	if (len && p[len - 1] == '.')
		len--;
	if (len == 0 || memchr(p, '\0', len))
		return;
	t->names = xrealloc(t->names, (size_t)(t->nnames + 1) * sizeof(*t->names));
	struct tls_name *n = &t->names[t->nnames++];
	n->name = xstrndup(p, len);
	for (char *c = n->name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	n->wildcard = len > 2 && p[0] == '*' && p[1] == '.';
	n->ctx = ctx;
}

/* Collects the names of <ctx>'s certificate: its subjectAltName DNS
 * entries, or its subject CN when it has none. Returns how many. */
static int collect_names(struct lb_tls_ctx *t, SSL_CTX *ctx)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int before = t->nnames;

	for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type != GEN_DNS)
			continue;
		add_name(t, ctx, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
			 (size_t)ASN1_STRING_length(gn->d.dNSName));
	}
	GENERAL_NAMES_free(sans);
	if (t->nnames > before)
		return t->nnames - before;

	const X509_NAME *subj = X509_get_subject_name(x);
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (idx >= 0) {
		const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
		unsigned char *utf8 = NULL;
		int len = ASN1_STRING_to_UTF8(&utf8, cn);
		if (len > 0)
			add_name(t, ctx, (const char *)utf8, (size_t)len);
		OPENSSL_free(utf8);
	}
	return t->nnames - before;
}

/* Makes a server context for one PEM file (certificate chain, then key, in
 * any order). Returns NULL with *err set. Main thread. */
static SSL_CTX *ctx_load(const char *file, char **err)
{
	const char *step = "TLS context";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		goto err;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS))
		goto err;
	/* Renegotiation is a DoS lever and buys nothing for HTTP/1.1; compression
	 * is CRIME. Session tickets stay on (no SSL_OP_NO_TICKET). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				 SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_RENEGOTIATION);
	/* Idle keep-alive connections then hold no record buffers (~34 KiB). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Set on every context: after an SNI switch OpenSSL asks the new one. */
	SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
	SSL_CTX_set_default_passwd_cb(ctx, no_password);

	step = "certificate chain";
	if (SSL_CTX_use_certificate_chain_file(ctx, file) != 1)
		goto err;
	step = "private key";
	if (SSL_CTX_use_PrivateKey_file(ctx, file, SSL_FILETYPE_PEM) != 1)
		goto err;
	/* Catches a key of another type than the certificate, which the step
	 * above accepts into its own slot. */
	step = "key does not match the certificate";
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto err;
	return ctx;
err:
	set_err(err, file, step);
	SSL_CTX_free(ctx);
	return NULL;
}

struct lb_tls_ctx *lb__tls_ctx_new(const struct lb_tls_cfg *cfg, char **err)
{
	struct lb_tls_ctx *t = XNEW(struct lb_tls_ctx);

	/* Stale errors from earlier calls on this thread would be blamed on
	 * our files. */
	ERR_clear_error();
	if (cfg->ncerts <= 0) {
		*err = xasprintf("tls: no certificate file");
		goto err;
	}
	t->ctx = XNEWV(SSL_CTX *, cfg->ncerts);
	for (int i = 0; i < cfg->ncerts; i++) {
		SSL_CTX *ctx = ctx_load(cfg->certs[i], err);
		if (!ctx)
			goto err;
		t->ctx[t->nctx++] = ctx;
		if (collect_names(t, ctx) == 0 && i > 0)
			log_warn("lb:tls", "%s: certificate has no DNS name nor CN, "
				 "SNI will never select it", cfg->certs[i]);
	}
	if (t->nctx > 1) {
		SSL_CTX_set_tlsext_servername_callback(t->ctx[0], on_servername);
		SSL_CTX_set_tlsext_servername_arg(t->ctx[0], t);
	}
	return t;
err:
	lb__tls_ctx_free(t);
	return NULL;
}

/* Connections hold references on the SSL_CTXs but not on <t>, which the SNI
 * callback reads: free it only after its last connection (the world's
 * refcount sees to that). */
void lb__tls_ctx_free(struct lb_tls_ctx *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nctx; i++)
		SSL_CTX_free(t->ctx[i]);
	for (int i = 0; i < t->nnames; i++)
		free(t->names[i].name);
	free(t->names);
	free(t->ctx);
	free(t);
}

/* ---- connections ---- */

/* OpenSSL allocation failures follow our out-of-memory policy (STYLE.md 4). */
static void *ssl_check_alloc(void *p, const char *what)
{
	if (!p) {
		log_error("lb:tls", "%s failed: out of memory", what);
		abort();
	}
	return p;
}

struct lb_tls_conn *lb__tls_conn_new(struct lb_tls_ctx *t)
{
	struct lb_tls_conn *c = XNEW(struct lb_tls_conn);

	c->ssl = ssl_check_alloc(SSL_new(t->ctx[0]), "SSL_new");
	c->rbio = ssl_check_alloc(BIO_new(BIO_s_mem()), "BIO_new");
	c->wbio = ssl_check_alloc(BIO_new(BIO_s_mem()), "BIO_new");
	/* An empty read BIO must mean "retry later" (WANT_READ), never EOF: the
	 * socket's EOF is the session's business. */
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_accept_state(c->ssl);
	return c;
}

void lb__tls_conn_free(struct lb_tls_conn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl);  /* frees both BIOs */
	buf_free(&c->pending);
	free(c);
}

/* Moves everything OpenSSL wrote for the client into <out>. */
static void drain(struct lb_tls_conn *c, struct buf *out)
{
	size_t n = BIO_ctrl_pending(c->wbio);
	size_t got = 0;

	if (n == 0)
		return;
	buf_reserve(out, n);
	BIO_read_ex(c->wbio, buf_tail(out), n, &got);
	out->data += got;
}

/* A fatal error <e> from SSL_get_error(): keeps the alert OpenSSL may have
 * queued for the client, and clears this thread's error queue for the next
 * connection. Returns -1. */
static int fail(struct lb_tls_conn *c, int e, struct buf *out)
{
	unsigned long code = ERR_peek_error();
	char reason[256];

	drain(c, out);
	if (code)
		ERR_error_string_n(code, reason, sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "SSL_get_error() = %d", e);
	/* Scanners and aborted handshakes are routine: debug, not warn. */
	log_debug("lb:tls", "%s failed: %s", c->ready ? "record layer" : "handshake", reason);
	ERR_clear_error();
	c->failed = true;
	return -1;
}

/* Encrypts <p, n> into <out>, one record's worth at a time. The write BIO
 * never refuses bytes, so SSL_write_ex() either takes everything or failed
 * for good. Handshake done. */
static int write_all(struct lb_tls_conn *c, const char *p, size_t n, struct buf *out)
{
	while (n > 0) {
		size_t len = n < TLS_CHUNK ? n : TLS_CHUNK;
		size_t done = 0;
		ERR_clear_error();
		if (!SSL_write_ex(c->ssl, p, len, &done))
			return fail(c, SSL_get_error(c->ssl, 0), out);
		drain(c, out);
		p += done;
		n -= done;
	}
	return 0;
}

/* Runs the handshake and decrypts whatever the read BIO holds. Returns 0
 * when more input is needed, -1 on a fatal error. */
static int advance(struct lb_tls_conn *c, struct buf *plain, struct buf *out)
{
	if (!c->ready) {
		ERR_clear_error();
		int r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if (e != SSL_ERROR_WANT_READ)
				return fail(c, e, out);
			drain(c, out);
			return 0;
		}
		/* Our last flight (and TLS 1.3 tickets) go before the data the
		 * session queued during the handshake. */
		drain(c, out);
		c->ready = true;
		if (c->pending.data) {
			int rc = write_all(c, buf_ptr(&c->pending), c->pending.data, out);
			buf_free(&c->pending);
			if (rc < 0)
				return -1;
		}
	}
	/* Checking for input first spares <plain> a 16 KiB reservation when a
	 * call brings no complete record. */
	while (BIO_ctrl_pending(c->rbio) > 0 || SSL_has_pending(c->ssl)) {
		size_t got = 0;
		buf_reserve(plain, TLS_CHUNK);
		ERR_clear_error();
		if (SSL_read_ex(c->ssl, buf_tail(plain), buf_room(plain), &got)) {
			plain->data += got;
			continue;
		}
		int e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_WANT_READ)
			break;
		/* close_notify: the client sends nothing more. Not an error; in
		 * TLS 1.3 it may still read our answer, and the TCP EOF that
		 * follows tells the session. Later input is read and dropped. */
		if (e == SSL_ERROR_ZERO_RETURN) {
			BIO_reset(c->rbio);
			break;
		}
		return fail(c, e, out);
	}
	/* Alerts and TLS 1.3 KeyUpdate answers written while reading. */
	drain(c, out);
	return 0;
}

int lb__tls_conn_input(struct lb_tls_conn *c, const char *p, size_t n, struct buf *plain, struct buf *out)
{
	if (c->failed)
		return -1;
	/* Feeding a record's worth at a time keeps the read BIO small; a record
	 * cut between two pieces waits in it for the next one. */
	do {
		size_t len = n < TLS_CHUNK ? n : TLS_CHUNK;
		size_t done = 0;
		if (len && !BIO_write_ex(c->rbio, p, len, &done))
			ssl_check_alloc(NULL, "BIO_write");
		p += len;
		n -= len;
		if (advance(c, plain, out) < 0)
			return -1;
	} while (n > 0);
	return 0;
}

int lb__tls_conn_output(struct lb_tls_conn *c, const char *p, size_t n, struct buf *out)
{
	if (c->failed)
		return -1;
	if (n == 0)
		return 0;
	if (!c->ready) {
		/* SSL_write() now would drive the handshake from the wrong side;
		 * advance() sends this once the client has finished. */
		buf_append(&c->pending, p, n);
		return 0;
	}
	return write_all(c, p, n, out);
}

/* Before the handshake is done there is nothing to close cleanly (OpenSSL
 * refuses), and after a fatal error the alert already went out. */
void lb__tls_conn_shutdown(struct lb_tls_conn *c, struct buf *out)
{
	if (c->failed || !c->ready)
		return;
	ERR_clear_error();
	SSL_shutdown(c->ssl);
	/* 0 ("sent, the client's has not come yet") is the normal answer; an
	 * error here changes nothing for the caller, who is closing anyway. */
	ERR_clear_error();
	drain(c, out);
}

bool lb__tls_conn_ready(const struct lb_tls_conn *c)
{
	return c->ready;
}

const char *lb__tls_conn_sni(const struct lb_tls_conn *c)
{
	return SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
}
