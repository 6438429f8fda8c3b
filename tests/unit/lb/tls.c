/* Tests for src/lb/tls.c: a real OpenSSL client against lb__tls_conn_*, all in memory. */
#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "lb/lb-int.h"

/* Made fresh for each test (Criterion runs each in its own process). */
static char dir[64];             /* mkdtemp directory */
static char pem_a[128];          /* a.test (SAN), the default */
static char pem_b[128];          /* b.test (SAN) */
static char pem_w[128];          /* *.w.test (SAN) */
static char pem_c[128];          /* CN=c.test, no SAN, key of a */
static struct lb_tls_ctx *tctx;  /* built from a, b, w, c in that order */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "failed: %s", cmd);
}

/* <name>.pem holds the certificate then its key. */
static void make_cert(char *pem, size_t len, const char *name, const char *cn)
{
	sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout %s.key -out %s.crt "
	   "-days 2 -subj '/CN=%s' -addext 'subjectAltName=DNS:%s' 2>/dev/null && "
	   "cat %s.crt %s.key > %s.pem", dir, name, name, cn, cn, name, name, name);
	snprintf(pem, len, "%s/%s.pem", dir, name);
}

static struct lb_tls_ctx *ctx_of(const char **files, int n, char **err)
{
	struct lb_tls_cfg cfg = { .certs = (char **)files, .ncerts = n };

	*err = NULL;
	return lb__tls_ctx_new(&cfg, err);
}

static void setup(void)
{
	char *err = NULL;

	snprintf(dir, sizeof(dir), "/tmp/berth-tls-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	make_cert(pem_a, sizeof(pem_a), "a", "a.test");
	make_cert(pem_b, sizeof(pem_b), "b", "b.test");
	make_cert(pem_w, sizeof(pem_w), "w", "*.w.test");
	/* Reusing a's key saves a key generation; only the CN matters here. */
	sh("cd %s && openssl req -x509 -new -key a.key -out c.crt -days 2 -subj /CN=c.test "
	   "2>/dev/null && cat c.crt a.key > c.pem", dir);
	snprintf(pem_c, sizeof(pem_c), "%s/c.pem", dir);

	const char *files[] = { pem_a, pem_b, pem_w, pem_c };
	tctx = ctx_of(files, 4, &err);
	cr_assert_not_null(tctx, "lb__tls_ctx_new: %s", err ? err : "?");
}

static void teardown(void)
{
	lb__tls_ctx_free(tctx);
	tctx = NULL;
	if (dir[0])
		sh("rm -rf %s", dir);
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 60);

/* ---- an in-memory client ---- */

struct cli {
	SSL_CTX *cctx;             /* client context, one per connection */
	SSL *ssl;                  /* the client */
	BIO *rbio;                 /* what the server sent, for the client to read */
	BIO *wbio;                 /* what the client wrote, for the server */
	struct lb_tls_conn *srv;   /* the code under test */
	struct buf plain;          /* server side: decrypted client data */
	struct buf out;            /* server side: ciphertext not yet delivered */
	int rc;                    /* last lb__tls_conn_input() result */
	size_t trickle;            /* if not 0, feed the server this many bytes per call */
};

static void cli_open_v(struct cli *c, struct lb_tls_ctx *t, const char *sni, int max_version)
{
	memset(c, 0, sizeof(*c));
	c->cctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(c->cctx);
	if (max_version) {
		if (max_version < TLS1_2_VERSION) {
			/* OpenSSL 3 allows TLS < 1.2 only at security level 0. */
			SSL_CTX_set_security_level(c->cctx, 0);
			SSL_CTX_set_min_proto_version(c->cctx, max_version);
			SSL_CTX_set_cipher_list(c->cctx, "ALL:@SECLEVEL=0");
		}
		SSL_CTX_set_max_proto_version(c->cctx, max_version);
	}
	c->ssl = SSL_new(c->cctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_connect_state(c->ssl);
	if (sni)
		SSL_set_tlsext_host_name(c->ssl, sni);
	c->srv = lb__tls_conn_new(t);
}

static void cli_open(struct cli *c, const char *sni)
{
	cli_open_v(c, tctx, sni, 0);
}

static void cli_close(struct cli *c)
{
	lb__tls_conn_free(c->srv);
	SSL_free(c->ssl);
	SSL_CTX_free(c->cctx);
	buf_free(&c->plain);
	buf_free(&c->out);
}

/* Moves bytes both ways (driving the client handshake) until nothing moves.
 * Returns the last lb__tls_conn_input() result. */
static int pump(struct cli *c)
{
	for (int round = 0; round < 1000; round++) {
		bool moved = false;

		if (!SSL_is_init_finished(c->ssl)) {
			SSL_do_handshake(c->ssl);
			ERR_clear_error();
		}
		size_t n = BIO_ctrl_pending(c->wbio);
		if (n) {
			char *tmp = xmalloc(n);
			size_t got = 0;
			cr_assert(BIO_read_ex(c->wbio, tmp, n, &got));
			for (size_t off = 0; off < got;) {
				size_t len = c->trickle && c->trickle < got - off ? c->trickle : got - off;
				c->rc = lb__tls_conn_input(c->srv, tmp + off, len, &c->plain, &c->out);
				off += len;
			}
			free(tmp);
			moved = true;
		}
		if (c->out.data) {
			size_t done = 0;
			cr_assert(BIO_write_ex(c->rbio, buf_ptr(&c->out), c->out.data, &done));
			buf_consume(&c->out, c->out.data);
			moved = true;
		}
		if (!moved)
			return c->rc;
	}
	cr_assert_fail("pump does not settle");
	return -1;
}

static void handshake(struct cli *c)
{
	cr_assert_eq(pump(c), 0);
	cr_assert(SSL_is_init_finished(c->ssl));
	cr_assert(lb__tls_conn_ready(c->srv));
}

/* Reads all the client can decrypt into <into>; returns the SSL_get_error()
 * code that stopped it (WANT_READ when simply out of data). */
static int cli_read(struct cli *c, struct buf *into)
{
	for (;;) {
		size_t got = 0;
		buf_reserve(into, 16384);
		if (SSL_read_ex(c->ssl, buf_tail(into), buf_room(into), &got)) {
			into->data += got;
			continue;
		}
		int e = SSL_get_error(c->ssl, 0);
		ERR_clear_error();
		return e;
	}
}

static void cli_write(struct cli *c, const void *p, size_t n)
{
	size_t done = 0;

	cr_assert(SSL_write_ex(c->ssl, p, n, &done));
	cr_assert_eq(done, n);
}

/* The CN of the certificate the client was shown. */
static void peer_cn(struct cli *c, char *cn, int len)
{
	X509 *x = SSL_get1_peer_certificate(c->ssl);

	cr_assert_not_null(x);
	cr_assert_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, len), 0);
	X509_free(x);
}

static void expect_cert(const char *sni, const char *cn_want)
{
	struct cli c;
	char cn[256];

	cli_open(&c, sni);
	handshake(&c);
	peer_cn(&c, cn, sizeof(cn));
	cr_expect_str_eq(cn, cn_want, "SNI %s", sni ? sni : "(none)");
	if (sni)
		cr_expect_str_eq(lb__tls_conn_sni(c.srv), sni);
	else
		cr_expect_null(lb__tls_conn_sni(c.srv));
	cli_close(&c);
}

static void fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)((i * 131 + seed) ^ (i >> 8));
}

/* ---- certificate selection ---- */

Test(tls, sni_exact)
{
	expect_cert("a.test", "a.test");
	expect_cert("b.test", "b.test");
}

Test(tls, sni_case_and_trailing_dot)
{
	expect_cert("B.Test", "b.test");
	expect_cert("b.test.", "b.test");
}

Test(tls, sni_wildcard_one_label)
{
	expect_cert("x.w.test", "*.w.test");
	expect_cert("X-Y.W.TEST", "*.w.test");
	/* A wildcard covers exactly one label: these fall back to the default. */
	expect_cert("a.b.w.test", "a.test");
	expect_cert("w.test", "a.test");
	expect_cert(".w.test", "a.test");
}

Test(tls, sni_cn_when_no_san)
{
	expect_cert("c.test", "c.test");
}

Test(tls, default_is_first_file)
{
	expect_cert(NULL, "a.test");
	expect_cert("unknown.test", "a.test");

	/* The same files in another order: the new first one is the default. */
	const char *files[] = { pem_b, pem_a };
	char *err;
	struct lb_tls_ctx *t = ctx_of(files, 2, &err);
	struct cli c;
	char cn[256];
	cr_assert_not_null(t);
	cli_open_v(&c, t, NULL, 0);
	handshake(&c);
	peer_cn(&c, cn, sizeof(cn));
	cr_expect_str_eq(cn, "b.test");
	cli_close(&c);
	cli_open_v(&c, t, "a.test", 0);
	handshake(&c);
	peer_cn(&c, cn, sizeof(cn));
	cr_expect_str_eq(cn, "a.test");
	cli_close(&c);
	lb__tls_ctx_free(t);
}

Test(tls, single_cert)
{
	const char *files[] = { pem_w };
	char *err;
	struct lb_tls_ctx *t = ctx_of(files, 1, &err);
	struct cli c;
	char cn[256];

	cr_assert_not_null(t);
	cli_open_v(&c, t, "whatever.test", 0);
	handshake(&c);
	peer_cn(&c, cn, sizeof(cn));
	cr_expect_str_eq(cn, "*.w.test");
	cr_expect_str_eq(lb__tls_conn_sni(c.srv), "whatever.test");
	cli_close(&c);
	lb__tls_ctx_free(t);
}

/* ---- protocol settings ---- */

Test(tls, alpn_http11_never_h2)
{
	static const unsigned char both[] = "\x02h2\x08http/1.1";
	static const unsigned char h2[] = "\x02h2";
	const unsigned char *sel;
	unsigned int len;
	struct cli c;

	cli_open(&c, "a.test");
	SSL_set_alpn_protos(c.ssl, both, sizeof(both) - 1);
	handshake(&c);
	SSL_get0_alpn_selected(c.ssl, &sel, &len);
	cr_assert_eq(len, 8);
	cr_expect_eq(memcmp(sel, "http/1.1", 8), 0);
	cli_close(&c);

	/* After an SNI switch the picked context must answer the same way. */
	cli_open(&c, "b.test");
	SSL_set_alpn_protos(c.ssl, both, sizeof(both) - 1);
	handshake(&c);
	SSL_get0_alpn_selected(c.ssl, &sel, &len);
	cr_assert_eq(len, 8);
	cli_close(&c);

	cli_open(&c, "a.test");
	SSL_set_alpn_protos(c.ssl, h2, sizeof(h2) - 1);
	handshake(&c);
	SSL_get0_alpn_selected(c.ssl, &sel, &len);
	cr_expect_eq(len, 0);
	cli_close(&c);
}

Test(tls, tls12_works)
{
	struct cli c;
	struct buf got = { 0 };

	cli_open_v(&c, tctx, "b.test", TLS1_2_VERSION);
	handshake(&c);
	cr_expect_eq(SSL_version(c.ssl), TLS1_2_VERSION);
	cr_expect_not_null(strstr(SSL_get_cipher_name(c.ssl), "ECDHE"));
	char cn[256];
	peer_cn(&c, cn, sizeof(cn));
	cr_expect_str_eq(cn, "b.test");
	cli_write(&c, "ping", 4);
	cr_assert_eq(pump(&c), 0);
	cr_assert_eq(c.plain.data, 4);
	cr_assert_eq(lb__tls_conn_output(c.srv, "pong", 4, &c.out), 0);
	pump(&c);
	cr_assert_eq(cli_read(&c, &got), SSL_ERROR_WANT_READ);
	cr_assert_eq(got.data, 4);
	cr_expect_eq(memcmp(got.area, "pong", 4), 0);
	buf_free(&got);
	cli_close(&c);
}

Test(tls, tls11_refused)
{
	struct cli c;

	cli_open_v(&c, tctx, "a.test", TLS1_1_VERSION);
	cr_assert_eq(pump(&c), -1);
	cr_expect(!lb__tls_conn_ready(c.srv));
	cr_expect(!SSL_is_init_finished(c.ssl));
	/* Once failed, always failed. */
	cr_expect_eq(lb__tls_conn_input(c.srv, "x", 1, &c.plain, &c.out), -1);
	cr_expect_eq(lb__tls_conn_output(c.srv, "x", 1, &c.out), -1);
	cli_close(&c);
}

Test(tls, garbage_is_fatal_with_an_alert)
{
	struct lb_tls_conn *s = lb__tls_conn_new(tctx);
	struct buf plain = { 0 }, out = { 0 };
	static const char junk[] = "\x16\x03\x01\x00\x05hello, this is no ClientHello";

	cr_expect_eq(lb__tls_conn_input(s, junk, sizeof(junk) - 1, &plain, &out), -1);
	cr_expect_eq(plain.data, 0);
	cr_expect_gt(out.data, 0, "an alert for the client");
	cr_expect_eq(out.data > 0 ? out.area[out.head] : 0, 0x15, "TLS alert record");
	cr_expect_eq(ERR_peek_error(), 0, "error queue left clean");
	lb__tls_conn_free(s);
	buf_free(&plain);
	buf_free(&out);
}

Test(tls, renegotiation_refused)
{
	struct cli c;

	cli_open_v(&c, tctx, "a.test", TLS1_2_VERSION);
	handshake(&c);
	cr_assert(SSL_renegotiate(c.ssl));
	SSL_do_handshake(c.ssl);
	ERR_clear_error();
	pump(&c);
	/* The server answers no_renegotiation; the client's new handshake can
	 * only fail. */
	cr_expect_leq(SSL_do_handshake(c.ssl), 0);
	cr_expect_eq(SSL_get_secure_renegotiation_support(c.ssl), 1);
	cr_expect_eq(SSL_num_renegotiations(c.ssl), 1);
	ERR_clear_error();
	cli_close(&c);
}

/* Tickets from the default context must resume sessions on every
 * certificate, TLS 1.3 and 1.2 alike. */
static void resume(int version)
{
	struct cli c;
	struct buf got = { 0 };
	SSL_SESSION *sess;
	char cn[256];

	cli_open_v(&c, tctx, "b.test", version);
	handshake(&c);
	cli_read(&c, &got);  /* TLS 1.3 tickets arrive after the handshake */
	sess = SSL_get1_session(c.ssl);
	cr_assert_not_null(sess);
	cr_assert(SSL_SESSION_is_resumable(sess));
	cr_expect(!SSL_session_reused(c.ssl));
	/* A client freed without a close_notify marks its session not
	 * resumable (ssl_clear_bad_session), so close cleanly both ways. */
	lb__tls_conn_shutdown(c.srv, &c.out);
	cr_assert_eq(SSL_shutdown(c.ssl), 0);
	cr_assert_eq(pump(&c), 0);
	cli_close(&c);

	cli_open_v(&c, tctx, "b.test", version);
	SSL_set_session(c.ssl, sess);
	handshake(&c);
	cr_expect(SSL_session_reused(c.ssl), "resumed");
	peer_cn(&c, cn, sizeof(cn));
	cr_expect_str_eq(cn, "b.test");
	cli_close(&c);
	SSL_SESSION_free(sess);
	buf_free(&got);
}

Test(tls, resume_tls13)
{
	resume(0);
}

Test(tls, resume_tls12)
{
	resume(TLS1_2_VERSION);
}

/* ---- application data ---- */

Test(tls, data_both_ways)
{
	struct cli c;
	struct buf got = { 0 };
	size_t big = 100 * 1024;
	char *up = xmalloc(big), *down = xmalloc(big);

	fill(up, big, 1);
	fill(down, big, 2);
	cli_open(&c, "a.test");
	handshake(&c);

	cli_write(&c, "hello", 5);
	cr_assert_eq(pump(&c), 0);
	cr_assert_eq(c.plain.data, 5);
	cr_expect_eq(memcmp(buf_ptr(&c.plain), "hello", 5), 0);
	buf_reset(&c.plain);

	cr_assert_eq(lb__tls_conn_output(c.srv, "world", 5, &c.out), 0);
	cr_assert_eq(pump(&c), 0);
	cr_assert_eq(cli_read(&c, &got), SSL_ERROR_WANT_READ);
	cr_assert_eq(got.data, 5);
	cr_expect_eq(memcmp(buf_ptr(&got), "world", 5), 0);
	buf_reset(&got);

	/* 100 KiB each way, in one call each: several records per call. */
	cli_write(&c, up, big);
	cr_assert_eq(pump(&c), 0);
	cr_assert_eq(c.plain.data, big);
	cr_expect_eq(memcmp(buf_ptr(&c.plain), up, big), 0);

	cr_assert_eq(lb__tls_conn_output(c.srv, down, big, &c.out), 0);
	/* Ciphertext overhead: a few dozen bytes per 16 KiB record. */
	cr_expect_lt(c.out.data, big + 7 * 64);
	cr_assert_eq(pump(&c), 0);
	cr_assert_eq(cli_read(&c, &got), SSL_ERROR_WANT_READ);
	cr_assert_eq(got.data, big);
	cr_expect_eq(memcmp(buf_ptr(&got), down, big), 0);

	/* Empty writes are no-ops. */
	cr_expect_eq(lb__tls_conn_output(c.srv, NULL, 0, &c.out), 0);
	cr_expect_eq(c.out.data, 0);

	buf_free(&got);
	free(up);
	free(down);
	cli_close(&c);
}

/* A TLS 1.3 client may send data right behind its Finished: both come in
 * one input() call, and the data must not wait for another. */
Test(tls, data_in_the_finished_flight)
{
	struct cli c;
	char *tmp;
	size_t n;

	cli_open(&c, "a.test");
	for (int i = 0; i < 2; i++) {
		ERR_clear_error();
		SSL_do_handshake(c.ssl);
		if (i == 1)
			break;
		n = BIO_ctrl_pending(c.wbio);
		tmp = xmalloc(n);
		cr_assert_eq(BIO_read(c.wbio, tmp, (int)n), (int)n);
		cr_assert_eq(lb__tls_conn_input(c.srv, tmp, n, &c.plain, &c.out), 0);
		free(tmp);
		cr_assert_eq(BIO_write(c.rbio, buf_ptr(&c.out), (int)c.out.data), (int)c.out.data);
		buf_reset(&c.out);
	}
	cr_assert(SSL_is_init_finished(c.ssl));
	cr_assert(!lb__tls_conn_ready(c.srv));
	cli_write(&c, "right away", 10);
	n = BIO_ctrl_pending(c.wbio);
	tmp = xmalloc(n);
	cr_assert_eq(BIO_read(c.wbio, tmp, (int)n), (int)n);
	cr_assert_eq(lb__tls_conn_input(c.srv, tmp, n, &c.plain, &c.out), 0);
	free(tmp);
	cr_assert(lb__tls_conn_ready(c.srv));
	cr_assert_eq(c.plain.data, 10);
	cr_expect_eq(memcmp(buf_ptr(&c.plain), "right away", 10), 0);
	cli_close(&c);
}

Test(tls, one_byte_at_a_time)
{
	struct cli c;
	char up[3000];

	fill(up, sizeof(up), 3);
	cli_open(&c, "b.test");
	c.trickle = 1;
	handshake(&c);
	cli_write(&c, up, sizeof(up));
	cr_assert_eq(pump(&c), 0);
	cr_assert_eq(c.plain.data, sizeof(up));
	cr_expect_eq(memcmp(buf_ptr(&c.plain), up, sizeof(up)), 0);
	cli_close(&c);
}

Test(tls, output_before_handshake_is_kept)
{
	struct cli c;
	struct buf got = { 0 };
	size_t big = 100 * 1024;
	char *down = xmalloc(big);

	fill(down, big, 4);
	cli_open(&c, "x.w.test");
	/* Before any byte from the client, then after its ClientHello. */
	cr_assert_eq(lb__tls_conn_output(c.srv, "early ", 6, &c.out), 0);
	cr_assert_eq(c.out.data, 0);
	SSL_do_handshake(c.ssl);
	ERR_clear_error();
	size_t n = BIO_ctrl_pending(c.wbio);
	char *hello = xmalloc(n);
	cr_assert_eq(BIO_read(c.wbio, hello, (int)n), (int)n);
	cr_assert_eq(lb__tls_conn_input(c.srv, hello, n, &c.plain, &c.out), 0);
	free(hello);
	cr_assert(!lb__tls_conn_ready(c.srv));
	size_t flight = c.out.data;
	cr_assert_eq(lb__tls_conn_output(c.srv, down, big, &c.out), 0);
	cr_assert_eq(c.out.data, flight, "nothing encrypted before the handshake ends");

	handshake(&c);
	cr_assert_eq(cli_read(&c, &got), SSL_ERROR_WANT_READ);
	cr_assert_eq(got.data, 6 + big);
	cr_expect_eq(memcmp(buf_ptr(&got), "early ", 6), 0);
	cr_expect_eq(memcmp(buf_ptr(&got) + 6, down, big), 0);

	/* And it keeps working normally afterwards. */
	buf_reset(&got);
	cr_assert_eq(lb__tls_conn_output(c.srv, "late", 4, &c.out), 0);
	pump(&c);
	cli_read(&c, &got);
	cr_assert_eq(got.data, 4);
	buf_free(&got);
	free(down);
	cli_close(&c);
}

/* ---- closing ---- */

Test(tls, shutdown_sends_close_notify)
{
	struct cli c;
	struct buf got = { 0 };

	cli_open(&c, "a.test");
	handshake(&c);
	cr_assert_eq(lb__tls_conn_output(c.srv, "bye", 3, &c.out), 0);
	lb__tls_conn_shutdown(c.srv, &c.out);
	cr_assert_gt(c.out.data, 0);
	pump(&c);
	cr_expect_eq(cli_read(&c, &got), SSL_ERROR_ZERO_RETURN);
	cr_expect_eq(got.data, 3, "data before the close_notify arrives");
	cr_expect(SSL_get_shutdown(c.ssl) & SSL_RECEIVED_SHUTDOWN);

	/* The client answers with its own; that is no error for the server. */
	cr_assert_eq(SSL_shutdown(c.ssl), 1);
	cr_expect_eq(pump(&c), 0);
	cr_expect_eq(c.plain.data, 0);
	/* Writing after our close_notify is a caller bug: -1. */
	cr_expect_eq(lb__tls_conn_output(c.srv, "x", 1, &c.out), -1);
	ERR_clear_error();
	buf_free(&got);
	cli_close(&c);
}

Test(tls, shutdown_before_handshake_sends_nothing)
{
	struct lb_tls_conn *s = lb__tls_conn_new(tctx);
	struct buf out = { 0 };

	lb__tls_conn_shutdown(s, &out);
	cr_expect_eq(out.data, 0);
	cr_expect(!lb__tls_conn_ready(s));
	cr_expect_null(lb__tls_conn_sni(s));
	lb__tls_conn_free(s);
	buf_free(&out);
}

Test(tls, client_close_notify_is_not_an_error)
{
	struct cli c;
	struct buf got = { 0 };

	cli_open(&c, "a.test");
	handshake(&c);
	cli_write(&c, "last", 4);
	SSL_shutdown(c.ssl);
	cr_assert_eq(pump(&c), 0);
	cr_assert_eq(c.plain.data, 4);
	/* TLS 1.3 half-close: the server may still answer. */
	cr_assert_eq(lb__tls_conn_output(c.srv, "answer", 6, &c.out), 0);
	pump(&c);
	cli_read(&c, &got);
	cr_expect_eq(got.data, 6);
	/* Bytes after the close_notify are dropped, not decrypted. */
	cr_expect_eq(lb__tls_conn_input(c.srv, "\x17\x03\x03\x00\x01x", 6, &c.plain, &c.out), 0);
	cr_expect_eq(c.plain.data, 4);
	buf_free(&got);
	cli_close(&c);
}

/* ---- bad files ---- */

static void expect_bad(const char *file, const char *why)
{
	const char *files[] = { pem_a, file };
	char *err;

	/* As the second file, so the error names that one and not the first. */
	struct lb_tls_ctx *t = ctx_of(files, 2, &err);
	cr_expect_null(t, "%s", why);
	cr_assert_not_null(err, "%s", why);
	cr_expect_eq(strncmp(err, "tls: ", 5), 0, "%s", err);
	cr_expect_not_null(strstr(err, file), "%s: %s", why, err);
	cr_log_info("%s -> %s", why, err);
	free(err);
	cr_expect_eq(ERR_peek_error(), 0, "error queue left clean");
	lb__tls_ctx_free(t);
}

Test(tls, bad_files)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/missing.pem", dir);
	expect_bad(path, "missing file");

	snprintf(path, sizeof(path), "%s/a.crt", dir);
	expect_bad(path, "certificate without key");

	snprintf(path, sizeof(path), "%s/a.key", dir);
	expect_bad(path, "key without certificate");

	sh("cd %s && cat a.crt b.key > mismatch.pem", dir);
	snprintf(path, sizeof(path), "%s/mismatch.pem", dir);
	expect_bad(path, "key of another certificate");

	/* Another key type goes to another slot; only the check catches it. */
	sh("cd %s && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key && "
	   "cat a.crt ec.key > ectype.pem", dir);
	snprintf(path, sizeof(path), "%s/ectype.pem", dir);
	expect_bad(path, "key of another type");

	/* An encrypted key must fail, not prompt for a password. */
	sh("cd %s && openssl pkey -in a.key -aes128 -passout pass:secret -out enc.key && "
	   "cat a.crt enc.key > enc.pem", dir);
	snprintf(path, sizeof(path), "%s/enc.pem", dir);
	expect_bad(path, "encrypted key");

	sh("cd %s && : > empty.pem", dir);
	snprintf(path, sizeof(path), "%s/empty.pem", dir);
	expect_bad(path, "empty file");
}

Test(tls, free_null)
{
	lb__tls_ctx_free(NULL);
	lb__tls_conn_free(NULL);
}

/* ---- threads ---- */

/* Workers share one context; each runs its own connections. */
static void *worker(void *arg)
{
	static const char *const names[] = { "a.test", "b.test", "q.w.test", "c.test", NULL };
	static const char *const want[] = { "a.test", "b.test", "*.w.test", "c.test", "a.test" };
	uintptr_t id = (uintptr_t)arg;

	for (int i = 0; i < 10; i++) {
		int k = (int)((i + id) % 5);
		struct cli c;
		char cn[256];
		struct buf got = { 0 };
		cli_open(&c, names[k]);
		handshake(&c);
		peer_cn(&c, cn, sizeof(cn));
		cr_assert_str_eq(cn, want[k]);
		cli_write(&c, "q", 1);
		cr_assert_eq(pump(&c), 0);
		cr_assert_eq(c.plain.data, 1);
		cr_assert_eq(lb__tls_conn_output(c.srv, "r", 1, &c.out), 0);
		pump(&c);
		cli_read(&c, &got);
		cr_assert_eq(got.data, 1);
		buf_free(&got);
		cli_close(&c);
	}
	return NULL;
}

Test(tls, threads_share_a_context)
{
	pthread_t th[2];

	for (uintptr_t i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, worker, (void *)i), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
}
