/* Unit tests for the strict HTTP/1.1 codec (src/http/http1.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "http/http1.h"

/* Each input is copied to a heap block of exactly its size, so that ASan
 * reports any read past the end. The copy lives until the next parse. */
static char *copy;

static const char *exact(const char *s, size_t n)
{
	free(copy);
	copy = xmalloc(n ? n : 1);
	memcpy(copy, s, n);
	return copy;
}

static int req_lim(const char *s, struct http1_msg *m, const struct http1_limits *lim)
{
	size_t n = strlen(s);
	return http1_parse_request(exact(s, n), n, m, lim);
}

static int req(const char *s, struct http1_msg *m)
{
	return req_lim(s, m, NULL);
}

/* For inputs holding NUL bytes. */
static int req_n(const char *s, size_t n, struct http1_msg *m)
{
	return http1_parse_request(exact(s, n), n, m, NULL);
}

static int resp(const char *s, enum http1_method meth, struct http1_msg *m)
{
	size_t n = strlen(s);
	return http1_parse_response(exact(s, n), n, m, meth, NULL);
}

static bool slice_is(struct slice s, const char *lit)
{
	return s.len == strlen(lit) && (s.len == 0 || memcmp(s.ptr, lit, s.len) == 0);
}

#define assert_slice(s, lit)                                                     \
	cr_assert(slice_is((s), (lit)), "%s is \"%.*s\", expected \"%s\"", #s,    \
		  (int)(s).len, (s).ptr ? (s).ptr : "", (lit))

static struct http1_msg m; /* 3 KiB: kept off the small test stacks */

/* A request is accepted, and its head is the whole string. */
#define assert_req_ok(s)                                                         \
	do {                                                                     \
		int rc_ = req((s), &m);                                          \
		cr_assert_eq(rc_, (int)strlen(s), "rc %d for %s", rc_, (s));      \
	} while (0)

#define assert_req_rc(s, want)                                                   \
	do {                                                                     \
		int rc_ = req((s), &m);                                          \
		cr_assert_eq(rc_, (want), "rc %d, expected %d for \"%s\"", rc_,  \
			     (want), (s));                                       \
	} while (0)

#define assert_resp_rc(s, meth, want)                                            \
	do {                                                                     \
		int rc_ = resp((s), (meth), &m);                                 \
		cr_assert_eq(rc_, (want), "rc %d, expected %d for \"%s\"", rc_,  \
			     (want), (s));                                       \
	} while (0)

/* ---- valid requests ---- */

Test(http1_request, simple_get)
{
	const char *s = "GET /index.html?x=1&y=2 HTTP/1.1\r\n"
			"Host: example.com\r\n"
			"User-Agent: berth-test/1.0\r\n"
			"Accept: */*\r\n"
			"\r\n";

	assert_req_ok(s);
	cr_assert_eq(m.method, HTTP1_M_GET);
	assert_slice(m.method_str, "GET");
	assert_slice(m.target, "/index.html?x=1&y=2");
	assert_slice(m.path, "/index.html");
	assert_slice(m.host, "example.com");
	cr_assert_eq(m.version_minor, 1);
	cr_assert_eq(m.flags, HTTP1_F_KEEPALIVE);
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
	cr_assert_eq(m.content_length, 0);
	cr_assert_eq(m.head_len, strlen(s));
	cr_assert_eq(m.nheaders, 3);
	assert_slice(m.headers[0].name, "Host");
	assert_slice(m.headers[1].name, "User-Agent");
	assert_slice(m.headers[1].value, "berth-test/1.0");
	assert_slice(m.headers[2].value, "*/*");
	cr_assert_eq(m.status, 0);
}

Test(http1_request, minimal_http10)
{
	assert_req_ok("GET / HTTP/1.0\r\n\r\n");
	cr_assert_eq(m.version_minor, 0);
	cr_assert_eq(m.nheaders, 0);
	cr_assert_null(m.host.ptr);
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
}

Test(http1_request, post_content_length)
{
	const char *s = "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
	int rc = req(s, &m);

	cr_assert_eq(rc, (int)strlen(s) - 5);
	cr_assert_eq(m.method, HTTP1_M_POST);
	cr_assert_eq(m.body, HTTP1_BODY_LENGTH);
	cr_assert_eq(m.content_length, 5);
	cr_assert(m.flags & HTTP1_F_HAS_CL);
	cr_assert_eq(m.flags & HTTP1_F_CHUNKED, 0);
}

Test(http1_request, content_length_zero_has_no_body)
{
	assert_req_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
	cr_assert(m.flags & HTTP1_F_HAS_CL);
	cr_assert_eq(m.content_length, 0);
}

Test(http1_request, post_chunked)
{
	assert_req_ok("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
	cr_assert_eq(m.body, HTTP1_BODY_CHUNKED);
	cr_assert(m.flags & HTTP1_F_CHUNKED);
	cr_assert_eq(m.flags & HTTP1_F_HAS_CL, 0);
	/* Coding names are case-insensitive. */
	assert_req_ok("POST /up HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  ChUnKeD \r\n\r\n");
	cr_assert_eq(m.body, HTTP1_BODY_CHUNKED);
}

Test(http1_request, pipelined)
{
	const char *s = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
			"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
			"GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
	size_t n = strlen(s), off = 0;
	const char *buf = exact(s, n);
	int rc;

	rc = http1_parse_request(buf, n, &m, NULL);
	cr_assert_eq(rc, 28);
	assert_slice(m.path, "/a");
	cr_assert_eq(m.nheaders, 1);
	off += (size_t)rc;
	rc = http1_parse_request(buf + off, n - off, &m, NULL);
	cr_assert_gt(rc, 0);
	assert_slice(m.path, "/b");
	cr_assert_eq(m.nheaders, 2);
	cr_assert_eq(m.content_length, 3);
	off += (size_t)rc + 3;
	rc = http1_parse_request(buf + off, n - off, &m, NULL);
	cr_assert_eq((size_t)rc, n - off);
	assert_slice(m.path, "/c");
}

Test(http1_request, pipelined_after_bad_is_not_reached)
{
	/* A bare LF in the first head is not excused by a valid second head. */
	assert_req_rc("GET / HTTP/1.1\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		      HTTP1_ERR_BAD);
}

Test(http1_request, value_trimming)
{
	assert_req_ok("GET / HTTP/1.1\r\nHost:h\r\nX-A:   a b \t \r\nX-B:\r\nX-C: \t\r\n\r\n");
	assert_slice(m.headers[0].value, "h");
	assert_slice(m.headers[1].value, "a b");
	assert_slice(m.headers[2].value, "");
	assert_slice(m.headers[3].value, "");
	cr_assert_not_null(m.headers[2].value.ptr);
}

Test(http1_request, obs_text_in_value_allowed)
{
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\n\r\n");
	assert_slice(m.headers[1].value, "caf\xc3\xa9");
}

Test(http1_request, find_header)
{
	const struct http1_header *h;

	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nX-Trace: 1\r\nx-trace: 2\r\n\r\n");
	h = http1_find_header(&m, SLICE_LIT("X-TRACE"));
	cr_assert_not_null(h);
	assert_slice(h->value, "1");
	cr_assert_null(http1_find_header(&m, SLICE_LIT("X-Trac")));
	cr_assert_null(http1_find_header(&m, SLICE_LIT("Cookie")));
}

Test(http1_request, methods)
{
	static const struct {
		const char *name;
		enum http1_method m;
	} cases[] = {
		{"GET", HTTP1_M_GET},         {"HEAD", HTTP1_M_HEAD},
		{"POST", HTTP1_M_POST},       {"PUT", HTTP1_M_PUT},
		{"DELETE", HTTP1_M_DELETE},   {"OPTIONS", HTTP1_M_OPTIONS},
		{"TRACE", HTTP1_M_TRACE},     {"PATCH", HTTP1_M_PATCH},
		{"PURGE", HTTP1_M_OTHER},     {"get", HTTP1_M_OTHER},
		{"GETS", HTTP1_M_OTHER},      {"M-SEARCH", HTTP1_M_OTHER},
	};
	char buf[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s /x HTTP/1.1\r\nHost: h\r\n\r\n", cases[i].name);
		assert_req_ok(buf);
		cr_assert_eq(m.method, cases[i].m, "method %s", cases[i].name);
		assert_slice(m.method_str, cases[i].name);
	}
}

Test(http1_request, idempotent)
{
	cr_assert(http1_method_idempotent(HTTP1_M_GET));
	cr_assert(http1_method_idempotent(HTTP1_M_HEAD));
	cr_assert(http1_method_idempotent(HTTP1_M_PUT));
	cr_assert(http1_method_idempotent(HTTP1_M_DELETE));
	cr_assert(http1_method_idempotent(HTTP1_M_OPTIONS));
	cr_assert(http1_method_idempotent(HTTP1_M_TRACE));
	cr_assert_not(http1_method_idempotent(HTTP1_M_POST));
	cr_assert_not(http1_method_idempotent(HTTP1_M_PATCH));
	cr_assert_not(http1_method_idempotent(HTTP1_M_CONNECT));
	cr_assert_not(http1_method_idempotent(HTTP1_M_OTHER));
}

Test(http1_request, every_prefix_is_incomplete)
{
	const char *s = "POST /p?q HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n"
			"Connection: keep-alive\r\n\r\n";
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		int rc = http1_parse_request(exact(s, i), i, &m, NULL);
		cr_assert_eq(rc, HTTP1_INCOMPLETE, "prefix %zu gave %d", i, rc);
	}
	cr_assert_eq(http1_parse_request(exact(s, n), n, &m, NULL), (int)n);
}

/* ---- request smuggling vectors and malformed requests ---- */

Test(http1_smuggling, cl_and_te)
{
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		      "Content-Length: 4\r\n\r\n", HTTP1_ERR_BAD);
	/* Even when the coding is one we refuse anyway. */
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
		      "Content-Length: 4\r\n\r\n", HTTP1_ERR_BAD);
}

Test(http1_smuggling, duplicate_content_length)
{
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
		      "Content-Length: 6\r\n\r\n", HTTP1_ERR_BAD);
	/* Equal duplicates are harmless. */
	assert_req_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
		      "content-length: 5\r\n\r\n");
	cr_assert_eq(m.content_length, 5);
	cr_assert_eq(m.body, HTTP1_BODY_LENGTH);
}

Test(http1_smuggling, content_length_lists)
{
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n",
		      HTTP1_ERR_BAD);
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n",
		      HTTP1_ERR_BAD);
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ,5\r\n\r\n",
		      HTTP1_ERR_BAD);
	assert_req_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5,5\r\n\r\n");
	cr_assert_eq(m.content_length, 5);
}

Test(http1_smuggling, content_length_syntax)
{
	static const char *bad[] = {
		"+5", "-5", "5a", "0x5", "5 5", "", "1e3", "5.0",
		"9223372036854775808", "99999999999999999999999",
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf),
			 "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n\r\n", bad[i]);
		assert_req_rc(buf, HTTP1_ERR_BAD);
	}
	assert_req_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n");
	cr_assert_eq(m.content_length, UINT64_C(9223372036854775807));
	assert_req_ok("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n");
	cr_assert_eq(m.content_length, 7);
}

Test(http1_smuggling, obs_fold)
{
	assert_req_rc("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n", HTTP1_ERR_BAD);
	/* Whitespace between the start line and the first header. */
	assert_req_rc("GET / HTTP/1.1\r\n Host: h\r\n\r\n", HTTP1_ERR_BAD);
}

Test(http1_smuggling, space_before_colon)
{
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n",
		      HTTP1_ERR_BAD);
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding\t: chunked\r\n\r\n",
		      HTTP1_ERR_BAD);
}

Test(http1_smuggling, nul_in_value)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n";

	cr_assert_eq(req_n(s, sizeof(s) - 1, &m), HTTP1_ERR_BAD);
	/* Refused before the head is complete, too. */
	cr_assert_eq(req_n(s, 33, &m), HTTP1_ERR_BAD);
}

Test(http1_smuggling, nul_elsewhere)
{
	static const char in_target[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char in_name[] = "GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n";

	cr_assert_eq(req_n(in_target, sizeof(in_target) - 1, &m), HTTP1_ERR_BAD);
	cr_assert_eq(req_n(in_name, sizeof(in_name) - 1, &m), HTTP1_ERR_BAD);
}

Test(http1_smuggling, bare_lf)
{
	assert_req_rc("GET / HTTP/1.1\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET / HTTP/1.1\r\nHost: h\r\n\n", HTTP1_ERR_BAD);
	assert_req_rc("GET / HTTP/1.1\r\nHost: h\n\r\n", HTTP1_ERR_BAD);
	/* A head made only of bare LFs never completes: refused early. */
	assert_req_rc("GET / HTTP/1.1\nHost: h\n\n", HTTP1_ERR_BAD);
	assert_req_rc("\n", HTTP1_ERR_BAD);
}

Test(http1_smuggling, bare_cr)
{
	assert_req_rc("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET / HTTP/1.1\rHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET / HTTP/1.1\r\nHost: h\r\n\rX\r\n\r\n", HTTP1_ERR_BAD);
	/* Incomplete, but the bare CR is already certain. */
	assert_req_rc("GET / HTTP/1.1\r\nHost: h\rX", HTTP1_ERR_BAD);
}

Test(http1_smuggling, te_unknown_coding)
{
	static const char *codings[] = {
		"gzip", "identity", "gzip, chunked", "chunked, gzip", "deflate",
		"chunked;q=1", "xchunked", "chunked-false",
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
		snprintf(buf, sizeof(buf),
			 "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: %s\r\n\r\n", codings[i]);
		assert_req_rc(buf, HTTP1_ERR_TE);
	}
	/* Several headers join into one list. */
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_TE);
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		      "Transfer-Encoding: identity\r\n\r\n", HTTP1_ERR_TE);
}

Test(http1_smuggling, te_chunked_twice)
{
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		      HTTP1_ERR_BAD);
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_BAD);
}

Test(http1_smuggling, te_empty_elements)
{
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked\r\n\r\n",
		      HTTP1_ERR_BAD);
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n",
		      HTTP1_ERR_BAD);
}

Test(http1_smuggling, te_in_http10)
{
	assert_req_rc("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		      HTTP1_ERR_BAD);
}

Test(http1_smuggling, te_value_tricks)
{
	/* A vertical tab or a form feed in the value is a CTL. */
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \x0b" "chunked\r\n\r\n",
		      HTTP1_ERR_BAD);
	assert_req_rc("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\x0c\r\n\r\n",
		      HTTP1_ERR_BAD);
	/* A look-alike header name is just another header: no chunked body. */
	assert_req_ok("POST / HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\n\r\n");
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
}

Test(http1_request, host_rules)
{
	assert_req_rc("GET / HTTP/1.1\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET / HTTP/1.1\r\nX: y\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_ok("GET / HTTP/1.0\r\n\r\n");
	/* An empty Host is allowed (RFC 9112 3.2). */
	assert_req_ok("GET / HTTP/1.1\r\nHost:\r\n\r\n");
	assert_slice(m.host, "");
	assert_req_ok("GET / HTTP/1.0\r\nHOST: x.example:81\r\n\r\n");
	assert_slice(m.host, "x.example:81");
}

Test(http1_request, bad_request_line)
{
	static const char *bad[] = {
		" / HTTP/1.1",        /* empty method */
		"G(T / HTTP/1.1",     /* non-token method */
		"G@T / HTTP/1.1",
		"GET\t/ HTTP/1.1",    /* HT is not SP */
		"GET  HTTP/1.1",      /* empty target */
		"GET  / HTTP/1.1",    /* two spaces */
		"GET /  HTTP/1.1",
		"GET / HTTP/1.1 ",    /* trailing space */
		"GET /a\x01 HTTP/1.1", /* CTL in target */
		"GET /a\tb HTTP/1.1",
		"GET /a\x7f HTTP/1.1",
		"GET /",              /* HTTP/0.9 */
		"GET / ",
		"GET / HTTP/1",
		"GET / HTTP/1.",
		"GET / http/1.1",
		"GET / HTTP/1.10",
		"GET / HTTP/11",
		"GET / HTTP/a.1",
		"GET / HTTP/1.1x",
		"GET",
		"",
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s\r\nHost: h\r\n\r\n", bad[i]);
		assert_req_rc(buf, HTTP1_ERR_BAD);
	}
}

Test(http1_request, leading_empty_line_refused)
{
	assert_req_rc("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("\r\n\r\n", HTTP1_ERR_BAD);
}

Test(http1_request, bad_header_lines)
{
	static const char *bad[] = {
		": value",      /* empty name */
		"NoColon",      /* no colon */
		"No Colon here",
		"X(Y): z",      /* non-token name */
		"X\xc3\xa9: z", /* non-ASCII name */
		"X-A: a\x7f",   /* DEL */
		"X-A: a\x01",   /* CTL */
		"X-A: a\x1b[0m",
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n\r\n", bad[i]);
		assert_req_rc(buf, HTTP1_ERR_BAD);
	}
}

Test(http1_request, versions)
{
	assert_req_rc("GET / HTTP/1.2\r\nHost: h\r\n\r\n", HTTP1_ERR_VERSION);
	assert_req_rc("GET / HTTP/2.0\r\nHost: h\r\n\r\n", HTTP1_ERR_VERSION);
	assert_req_rc("GET / HTTP/0.9\r\nHost: h\r\n\r\n", HTTP1_ERR_VERSION);
	assert_req_rc("GET / HTTP/3.0\r\n\r\n", HTTP1_ERR_VERSION);
	/* The HTTP/2 connection preface. */
	assert_req_rc("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP1_ERR_VERSION);
}

/* ---- limits (431) ---- */

static char *header_block(int nheaders, const char *terminator)
{
	struct buf {
		char *p;
		size_t n;
	} b = {xmalloc(64 + (size_t)nheaders * 32), 0};

	b.n = (size_t)sprintf(b.p, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 1; i < nheaders; i++)
		b.n += (size_t)sprintf(b.p + b.n, "X-Header-%d: v\r\n", i);
	strcpy(b.p + b.n, terminator);
	return b.p;
}

Test(http1_limits, defaults)
{
	cr_assert_eq(http1_default_limits.max_head, 16384);
	cr_assert_eq(http1_default_limits.max_headers, 100);
}

Test(http1_limits, head_too_large_complete)
{
	struct http1_limits lim = {.max_head = 64, .max_headers = 100};
	const char *s = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	size_t n = strlen(s);

	cr_assert_eq(req_lim(s, &m, &lim), HTTP1_ERR_TOO_LARGE);
	/* Exactly max_head is fine, one byte less is not. */
	lim.max_head = n;
	cr_assert_eq(req_lim(s, &m, &lim), (int)n);
	lim.max_head = n - 1;
	cr_assert_eq(req_lim(s, &m, &lim), HTTP1_ERR_TOO_LARGE);
}

Test(http1_limits, head_too_large_incomplete)
{
	struct http1_limits lim = {.max_head = 64, .max_headers = 100};
	const char *s = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	size_t n = strlen(s);

	cr_assert_gt(n, 64);
	cr_assert_eq(http1_parse_request(exact(s, 63), 63, &m, &lim), HTTP1_INCOMPLETE);
	cr_assert_eq(http1_parse_request(exact(s, 64), 64, &m, &lim), HTTP1_ERR_TOO_LARGE);
	cr_assert_eq(http1_parse_request(exact(s, n), n, &m, &lim), HTTP1_ERR_TOO_LARGE);
}

Test(http1_limits, default_max_head)
{
	static char s[20001];
	static const char start[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ";

	memcpy(s, start, sizeof(start) - 1);
	memset(s + sizeof(start) - 1, 'a', sizeof(s) - sizeof(start));
	s[sizeof(s) - 1] = '\0';
	cr_assert_eq(req(s, &m), HTTP1_ERR_TOO_LARGE);
	cr_assert_eq(http1_parse_request(exact(s, 16383), 16383, &m, NULL), HTTP1_INCOMPLETE);
	cr_assert_eq(http1_parse_request(exact(s, 16384), 16384, &m, NULL), HTTP1_ERR_TOO_LARGE);
}

Test(http1_limits, complete_head_after_max_is_too_large)
{
	/* A valid head ending past max_head is too large even though it
	 * would parse. */
	struct http1_limits lim = {.max_head = 30};

	cr_assert_eq(req_lim("GET / HTTP/1.1\r\nHost: hhhhhhhhhhh\r\n\r\n", &m, &lim),
		     HTTP1_ERR_TOO_LARGE);
}

Test(http1_limits, too_many_headers)
{
	struct http1_limits lim = {.max_head = 16384, .max_headers = 3};
	char *s;

	s = header_block(3, "\r\n");
	cr_assert_eq(req_lim(s, &m, &lim), (int)strlen(s));
	cr_assert_eq(m.nheaders, 3);
	free(s);
	s = header_block(4, "\r\n");
	cr_assert_eq(req_lim(s, &m, &lim), HTTP1_ERR_TOO_LARGE);
	free(s);
}

Test(http1_limits, too_many_headers_incomplete)
{
	struct http1_limits lim = {.max_head = 16384, .max_headers = 3};
	char *s;

	/* Three complete headers and a partial fourth: maybe fine. */
	s = header_block(3, "X-Part");
	cr_assert_eq(req_lim(s, &m, &lim), HTTP1_INCOMPLETE);
	free(s);
	/* Four complete header lines: certainly too many. */
	s = header_block(4, "");
	cr_assert_eq(req_lim(s, &m, &lim), HTTP1_ERR_TOO_LARGE);
	free(s);
}

Test(http1_limits, default_max_headers)
{
	char *s;

	s = header_block(100, "\r\n");
	cr_assert_eq(req(s, &m), (int)strlen(s));
	cr_assert_eq(m.nheaders, 100);
	free(s);
	s = header_block(101, "\r\n");
	cr_assert_eq(req(s, &m), HTTP1_ERR_TOO_LARGE);
	free(s);
	s = header_block(101, "");
	cr_assert_eq(req(s, &m), HTTP1_ERR_TOO_LARGE);
	free(s);
}

Test(http1_limits, max_headers_clamped)
{
	/* More than the array holds is clamped; zero means the default. */
	struct http1_limits big = {.max_head = 1 << 20, .max_headers = 1000};
	struct http1_limits zero = {0};
	char *s = header_block(101, "\r\n");

	cr_assert_eq(req_lim(s, &m, &big), HTTP1_ERR_TOO_LARGE);
	cr_assert_eq(req_lim(s, &m, &zero), HTTP1_ERR_TOO_LARGE);
	free(s);
	s = header_block(100, "\r\n");
	cr_assert_eq(req_lim(s, &m, &zero), (int)strlen(s));
	free(s);
}

/* ---- connection management ---- */

Test(http1_keepalive, http11)
{
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
	cr_assert(m.flags & HTTP1_F_CONN_CLOSE);
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n");
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
	/* Several Connection headers. */
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nConnection: close\r\n\r\n");
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
	cr_assert(m.flags & HTTP1_F_CONN_CLOSE);
	/* "closed" is not "close". */
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
}

Test(http1_keepalive, http10)
{
	assert_req_ok("GET / HTTP/1.0\r\n\r\n");
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
	assert_req_ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
	assert_req_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
	/* close wins over keep-alive. */
	assert_req_ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
	assert_req_ok("GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n");
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
	/* The Keep-Alive header itself is not the token. */
	assert_req_ok("GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n");
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
}

Test(http1_upgrade, websocket)
{
	assert_req_ok("GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		      "Sec-WebSocket-Version: 13\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_UPGRADE);
	cr_assert(m.flags & HTTP1_F_WEBSOCKET);
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
	assert_req_ok("GET /chat HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
		      "Upgrade: WebSocket\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_WEBSOCKET);
}

Test(http1_upgrade, needs_both_headers)
{
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
	cr_assert_eq(m.flags & (HTTP1_F_UPGRADE | HTTP1_F_WEBSOCKET), 0);
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n");
	cr_assert_eq(m.flags & (HTTP1_F_UPGRADE | HTTP1_F_WEBSOCKET), 0);
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade:\r\n\r\n");
	cr_assert_eq(m.flags & (HTTP1_F_UPGRADE | HTTP1_F_WEBSOCKET), 0);
}

Test(http1_upgrade, other_protocols)
{
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
		      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_UPGRADE);
	cr_assert_eq(m.flags & HTTP1_F_WEBSOCKET, 0);
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n"
		      "Upgrade: foo/2, websocket/13\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_WEBSOCKET);
	assert_req_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n"
		      "Upgrade: websockets\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_UPGRADE);
	cr_assert_eq(m.flags & HTTP1_F_WEBSOCKET, 0);
}

Test(http1_upgrade, ignored_in_http10)
{
	assert_req_ok("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
	cr_assert_eq(m.flags & (HTTP1_F_UPGRADE | HTTP1_F_WEBSOCKET), 0);
}

Test(http1_expect, continue_100)
{
	assert_req_ok("PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_EXPECT_100);
	assert_req_ok("PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nexpect: 100-Continue\r\n\r\n");
	cr_assert(m.flags & HTTP1_F_EXPECT_100);
	assert_req_ok("PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n");
	cr_assert_eq(m.flags & HTTP1_F_EXPECT_100, 0);
	assert_req_ok("PUT /f HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(m.flags & HTTP1_F_EXPECT_100, 0);
	/* HTTP/1.0 has no 100 Continue: the expectation is ignored. */
	assert_req_ok("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
	cr_assert_eq(m.flags & HTTP1_F_EXPECT_100, 0);
}

/* ---- request-target forms ---- */

Test(http1_target, absolute_form)
{
	assert_req_ok("GET http://example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
	assert_slice(m.host, "example.com:8080");
	assert_slice(m.path, "/a/b");
	assert_slice(m.target, "http://example.com:8080/a/b?q=1");
	assert_req_ok("GET HTTPS://Example.com/ HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_slice(m.host, "Example.com");
	assert_slice(m.path, "/");
	/* No path at all means "/". */
	assert_req_ok("GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_slice(m.host, "example.com");
	assert_slice(m.path, "/");
	assert_req_ok("GET http://example.com?x HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_slice(m.host, "example.com");
	assert_slice(m.path, "/");
	/* HTTP/1.0 needs no Host header even then. */
	assert_req_ok("GET http://[::1]:81/x HTTP/1.0\r\n\r\n");
	assert_slice(m.host, "[::1]:81");
	assert_slice(m.path, "/x");
}

Test(http1_target, absolute_form_refused)
{
	assert_req_rc("GET http://user@evil.com/ HTTP/1.1\r\nHost: x\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET http:// HTTP/1.1\r\nHost: x\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET http:/x HTTP/1.1\r\nHost: x\r\n\r\n", HTTP1_ERR_BAD);
	/* Host is still required in HTTP/1.1 (RFC 9112 3.2). */
	assert_req_rc("GET http://example.com/ HTTP/1.1\r\n\r\n", HTTP1_ERR_BAD);
}

Test(http1_target, origin_form)
{
	assert_req_ok("GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_slice(m.path, "/a");
	assert_req_ok("GET /?x HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_slice(m.path, "/");
	assert_req_ok("GET //double HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_slice(m.path, "//double");
	assert_req_rc("GET index.html HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET ?x HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
}

Test(http1_target, asterisk_form)
{
	assert_req_ok("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
	cr_assert_eq(m.method, HTTP1_M_OPTIONS);
	assert_slice(m.target, "*");
	assert_req_rc("GET * HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("OPTIONS ** HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_ok("OPTIONS /x HTTP/1.1\r\nHost: h\r\n\r\n");
}

Test(http1_target, authority_form)
{
	assert_req_ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
	cr_assert_eq(m.method, HTTP1_M_CONNECT);
	assert_slice(m.target, "example.com:443");
	assert_slice(m.host, "example.com:443");
	assert_req_ok("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_req_rc("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("CONNECT example.com: HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("CONNECT :443 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("CONNECT u@example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("CONNECT http://example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
	assert_req_rc("GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_ERR_BAD);
}

/* ---- responses ---- */

Test(http1_response, ok_with_length)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";

	cr_assert_eq(resp(s, HTTP1_M_GET, &m), (int)strlen(s) - 5);
	cr_assert_eq(m.status, 200);
	assert_slice(m.reason, "OK");
	cr_assert_eq(m.version_minor, 1);
	cr_assert_eq(m.body, HTTP1_BODY_LENGTH);
	cr_assert_eq(m.content_length, 5);
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
	cr_assert(m.flags & HTTP1_F_HAS_CL);
	cr_assert_eq(m.nheaders, 2);
	cr_assert_null(m.target.ptr);
	cr_assert_null(m.path.ptr);
}

Test(http1_response, reason_phrases)
{
	cr_assert_gt(resp("HTTP/1.1 404 Not  Found Here\r\nContent-Length: 0\r\n\r\n", HTTP1_M_GET, &m), 0);
	assert_slice(m.reason, "Not  Found Here");
	cr_assert_gt(resp("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", HTTP1_M_GET, &m), 0);
	assert_slice(m.reason, "");
	/* The SP before an empty reason may be missing. */
	cr_assert_gt(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", HTTP1_M_GET, &m), 0);
	assert_slice(m.reason, "");
	cr_assert_eq(m.status, 200);
}

Test(http1_response, no_body_statuses)
{
	assert_resp_rc("HTTP/1.1 204 No Content\r\n\r\n", HTTP1_M_GET, 27);
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
	cr_assert_gt(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
	cr_assert_gt(resp("HTTP/1.1 100 Continue\r\n\r\n", HTTP1_M_POST, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
	cr_assert_eq(m.status, 100);
	cr_assert_gt(resp("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
}

Test(http1_response, head_response)
{
	cr_assert_gt(resp("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", HTTP1_M_HEAD, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
	cr_assert_eq(m.content_length, 100);
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
	cr_assert_gt(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP1_M_HEAD, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
	/* Not even until close: a HEAD response has no body at all. */
	cr_assert_gt(resp("HTTP/1.1 200 OK\r\n\r\n", HTTP1_M_HEAD, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
}

Test(http1_response, until_close)
{
	cr_assert_gt(resp("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_UNTIL_CLOSE);
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
	cr_assert_gt(resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_UNTIL_CLOSE);
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
}

Test(http1_response, keepalive_rules)
{
	cr_assert_gt(resp("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
	cr_assert_gt(resp("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
	cr_assert_gt(resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.flags & HTTP1_F_KEEPALIVE, 0);
	cr_assert(m.flags & HTTP1_F_CONN_CLOSE);
}

Test(http1_response, chunked)
{
	cr_assert_gt(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_CHUNKED);
	cr_assert(m.flags & HTTP1_F_CHUNKED);
	cr_assert(m.flags & HTTP1_F_KEEPALIVE);
}

Test(http1_response, chunked_with_trailers_end_to_end)
{
	const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
			"4\r\nWiki\r\n6;note=x\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n"
			"0\r\nX-Sum: 42\r\nX-Other: y\r\n\r\n"
			"HTTP/1.1 204 No Content\r\n\r\n";
	size_t n = strlen(s), off, used;
	const char *buf = exact(s, n);
	struct http1_chunked c;
	struct slice d;
	char out[64];
	size_t outn = 0;
	enum http1_chunk_result r;
	int rc = http1_parse_response(buf, n, &m, HTTP1_M_GET, NULL);

	cr_assert_gt(rc, 0);
	cr_assert_eq(m.body, HTTP1_BODY_CHUNKED);
	off = (size_t)rc;
	http1_chunked_init(&c);
	while ((r = http1_chunked_feed(&c, buf + off, n - off, &used, &d)) == HTTP1_CHUNK_DATA) {
		memcpy(out + outn, d.ptr, d.len);
		outn += d.len;
		off += used;
	}
	cr_assert_eq(r, HTTP1_CHUNK_DONE);
	off += used;
	cr_assert_eq(outn, 24);
	cr_assert(memcmp(out, "Wikipedia in \r\n\r\nchunks.", 24) == 0);
	/* The next response starts right where the body ended. */
	rc = http1_parse_response(buf + off, n - off, &m, HTTP1_M_GET, NULL);
	cr_assert_eq((size_t)rc, n - off);
	cr_assert_eq(m.status, 204);
}

Test(http1_response, upgrade_101)
{
	cr_assert_gt(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
			  HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.status, 101);
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
	cr_assert(m.flags & HTTP1_F_UPGRADE);
	cr_assert(m.flags & HTTP1_F_WEBSOCKET);
	/* A 101 without Upgrade is no switch. */
	cr_assert_gt(resp("HTTP/1.1 101 Switching Protocols\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.flags & HTTP1_F_UPGRADE, 0);
	/* Only a 101 switches protocols. */
	cr_assert_gt(resp("HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\nContent-Length: 0\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.flags & (HTTP1_F_UPGRADE | HTTP1_F_WEBSOCKET), 0);
	cr_assert_gt(resp("HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
			  "Content-Length: 0\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.flags & HTTP1_F_UPGRADE, 0);
}

Test(http1_response, connect)
{
	cr_assert_gt(resp("HTTP/1.1 200 Connection Established\r\n\r\n", HTTP1_M_CONNECT, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_NONE);
	cr_assert_gt(resp("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 3\r\n\r\n", HTTP1_M_CONNECT, &m), 0);
	cr_assert_eq(m.body, HTTP1_BODY_LENGTH);
}

Test(http1_response, framing_errors)
{
	assert_resp_rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP1_M_GET, HTTP1_ERR_TE);
	assert_resp_rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HTTP1_M_GET, HTTP1_ERR_TE);
	assert_resp_rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		       HTTP1_M_GET, HTTP1_ERR_BAD);
	assert_resp_rc("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP1_M_GET, HTTP1_ERR_BAD);
	assert_resp_rc("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
		       HTTP1_M_GET, HTTP1_ERR_BAD);
	assert_resp_rc("HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n", HTTP1_M_GET, HTTP1_ERR_BAD);
	assert_resp_rc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		       HTTP1_M_GET, HTTP1_ERR_BAD);
	assert_resp_rc("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", HTTP1_M_GET, HTTP1_ERR_BAD);
}

Test(http1_response, bad_status_lines)
{
	static const char *bad[] = {
		"HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 099 Low", "HTTP/1.1 2x0 OK",
		"HTTP/1.1  200 OK", "HTTP/1.1 -20 OK", "HTTP/1.1 200 O\x01K", "HTTP/1.1",
		"HTTP/1.1 ", "HTTP/1.1 20", "http/1.1 200 OK", "HTTP/1.1\t200 OK",
		"HTTP/2 200", "ICY 200 OK", "", "HTTP/1.1 200 OK\rX",
	};
	char buf[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s\r\nContent-Length: 0\r\n\r\n", bad[i]);
		assert_resp_rc(buf, HTTP1_M_GET, HTTP1_ERR_BAD);
	}
	assert_resp_rc("HTTP/2.0 200 OK\r\n\r\n", HTTP1_M_GET, HTTP1_ERR_VERSION);
	assert_resp_rc("HTTP/1.2 200 OK\r\n\r\n", HTTP1_M_GET, HTTP1_ERR_VERSION);
	cr_assert_gt(resp("HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n", HTTP1_M_GET, &m), 0);
	cr_assert_eq(m.status, 999);
}

Test(http1_response, every_prefix_is_incomplete)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n";
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		int rc = http1_parse_response(exact(s, i), i, &m, HTTP1_M_GET, NULL);
		cr_assert_eq(rc, HTTP1_INCOMPLETE, "prefix %zu gave %d", i, rc);
	}
}

Test(http1_response, limits)
{
	struct http1_limits lim = {.max_head = 32, .max_headers = 2};

	cr_assert_eq(http1_parse_response(exact("HTTP/1.1 200 OK\r\nX-Long-Header: aaaaaaaaaaaaa", 43), 43,
					  &m, HTTP1_M_GET, &lim), HTTP1_ERR_TOO_LARGE);
	lim.max_head = 1024;
	assert_resp_rc("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", HTTP1_M_GET, 31);
	cr_assert_eq(http1_parse_response(exact("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 37), 37,
					  &m, HTTP1_M_GET, &lim), HTTP1_ERR_TOO_LARGE);
}

Test(http1, reason)
{
	static const int codes[] = {100, 101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307,
				    308, 400, 401, 403, 404, 405, 408, 411, 413, 414, 415, 417,
				    429, 431, 500, 501, 502, 503, 504, 505};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		cr_assert_str_neq(http1_reason(codes[i]), "Unknown", "code %d", codes[i]);
	cr_assert_str_eq(http1_reason(200), "OK");
	cr_assert_str_eq(http1_reason(400), "Bad Request");
	cr_assert_str_eq(http1_reason(404), "Not Found");
	cr_assert_str_eq(http1_reason(431), "Request Header Fields Too Large");
	cr_assert_str_eq(http1_reason(502), "Bad Gateway");
	cr_assert_str_eq(http1_reason(299), "Unknown");
	cr_assert_str_eq(http1_reason(0), "Unknown");
	cr_assert_str_eq(http1_reason(-1), "Unknown");
}

/* ---- chunked bodies ---- */

/* Decodes <in> in pieces: the first piece is <first> bytes, the others
 * <step> bytes (0: all at once). Returns the final result; the decoded data
 * goes to <out>, the bytes consumed in total to *used. */
static enum http1_chunk_result decode(const char *in, size_t n, size_t first, size_t step,
				      char *out, size_t *outn, size_t *used)
{
	struct http1_chunked c;
	enum http1_chunk_result r = HTTP1_CHUNK_MORE;
	size_t off = 0;

	http1_chunked_init(&c);
	*outn = 0;
	while (off < n || n == 0) {
		size_t piece = n - off;
		if (off == 0 && first && first < piece)
			piece = first;
		else if (off > 0 && step && step < piece)
			piece = step;
		/* Each piece in its own exact-size block, for ASan. */
		char *blk = xmalloc(piece ? piece : 1);
		size_t pos = 0, k;
		struct slice d;

		memcpy(blk, in + off, piece);
		for (;;) {
			r = http1_chunked_feed(&c, blk + pos, piece - pos, &k, &d);
			cr_assert_leq(k, piece - pos);
			if (r == HTTP1_CHUNK_DATA) {
				cr_assert_gt(d.len, 0);
				cr_assert(d.ptr >= blk + pos && d.ptr + d.len == blk + pos + k);
				memcpy(out + *outn, d.ptr, d.len);
				*outn += d.len;
				pos += k;
				continue;
			}
			pos += k;
			break;
		}
		free(blk);
		off += pos;
		if (r != HTTP1_CHUNK_MORE || n == 0)
			break;
	}
	*used = off;
	return r;
}

/* Checks one chunked body: all at once, byte by byte, and split in two at
 * every position all give the same result, data and consumed count. */
static void check_chunked(const char *in, size_t n, enum http1_chunk_result want,
			  const char *want_data, size_t want_used)
{
	char *ref = xmalloc(n + 1), *out = xmalloc(n + 1); /* decoded <= encoded */
	size_t refn, refused, outn, used;
	enum http1_chunk_result r;

	r = decode(in, n, 0, 0, ref, &refn, &refused);
	cr_assert_eq(r, want, "result %d, expected %d for \"%.*s\"", r, want, (int)n, in);
	if (want_data) {
		cr_assert_eq(refn, strlen(want_data));
		cr_assert(memcmp(ref, want_data, refn) == 0);
	}
	if (want_used != (size_t)-1)
		cr_assert_eq(refused, want_used, "consumed %zu, expected %zu", refused, want_used);
	r = decode(in, n, 1, 1, out, &outn, &used);
	cr_assert_eq(r, want, "byte by byte: %d", r);
	cr_assert_eq(outn, refn);
	cr_assert(memcmp(out, ref, outn) == 0);
	cr_assert_eq(used, refused);
	for (size_t split = 1; split < n; split++) {
		r = decode(in, n, split, 0, out, &outn, &used);
		cr_assert_eq(r, want, "split at %zu: %d", split, r);
		cr_assert_eq(outn, refn, "split at %zu", split);
		cr_assert(memcmp(out, ref, outn) == 0);
		cr_assert_eq(used, refused, "split at %zu", split);
	}
	free(ref);
	free(out);
}

#define CHECK_OK(lit, data) check_chunked((lit), sizeof(lit) - 1, HTTP1_CHUNK_DONE, (data), sizeof(lit) - 1)
#define CHECK_ERR(lit) check_chunked((lit), sizeof(lit) - 1, HTTP1_CHUNK_ERROR, NULL, (size_t)-1)
#define CHECK_MORE(lit) check_chunked((lit), sizeof(lit) - 1, HTTP1_CHUNK_MORE, NULL, sizeof(lit) - 1)

Test(http1_chunked, simple)
{
	CHECK_OK("5\r\nhello\r\n0\r\n\r\n", "hello");
	CHECK_OK("0\r\n\r\n", "");
	CHECK_OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
	CHECK_OK("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
	CHECK_OK("00000005\r\nhello\r\n000\r\n\r\n", "hello");
	CHECK_OK("1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", "\r\n");
}

Test(http1_chunked, extensions)
{
	CHECK_OK("5;foo=bar\r\nhello\r\n0\r\n\r\n", "hello");
	CHECK_OK("5;a;b=\"q s\"\r\nhello\r\n0;last\r\n\r\n", "hello");
	CHECK_ERR("5;a\nb\r\nhello\r\n0\r\n\r\n");
	CHECK_ERR("5;a\rb\r\nhello\r\n0\r\n\r\n");
	CHECK_ERR("5;a\x01\r\nhello\r\n0\r\n\r\n");
	static const char nul[] = "5;a\0\r\nhello\r\n0\r\n\r\n";
	check_chunked(nul, sizeof(nul) - 1, HTTP1_CHUNK_ERROR, NULL, 3);
}

Test(http1_chunked, trailers)
{
	CHECK_OK("5\r\nhello\r\n0\r\nX-Sum: abc\r\nY:z\r\nEmpty:\r\n\r\n", "hello");
	CHECK_ERR("0\r\nX: a\r\n b\r\n\r\n");    /* obs-fold */
	CHECK_ERR("0\r\nX: a\r\n\tb\r\n\r\n");
	CHECK_ERR("0\r\nNoColon\r\n\r\n");
	CHECK_ERR("0\r\nX : a\r\n\r\n");         /* space before colon */
	CHECK_ERR("0\r\n: a\r\n\r\n");           /* empty name */
	CHECK_ERR("0\r\nX: a\nY: b\r\n\r\n");    /* bare LF */
	CHECK_ERR("0\r\nX: a\x01\r\n\r\n");
	CHECK_ERR("0\r\n\r\r\n");                /* bare CR in the final line */
	CHECK_ERR("0\r\n\n");
}

/* Makes "0\r\n" and a trailer section of exactly <total> bytes, final CRLF
 * included, made of well-formed "X:vvv" lines. Returns its length. */
static size_t trailer_body(char *s, size_t total)
{
	size_t i = 3, left = total - 2;

	memcpy(s, "0\r\n", 3);
	while (left > 0) {
		size_t line = left < 1000 ? left : 1000;
		if (left - line > 0 && left - line < 4)
			line = left - 4;
		memcpy(s + i, "X:", 2);
		memset(s + i + 2, 'v', line - 4);
		memcpy(s + i + line - 2, "\r\n", 2);
		i += line;
		left -= line;
	}
	memcpy(s + i, "\r\n", 2);
	return i + 2;
}

Test(http1_chunked, trailer_limit)
{
	char *s = xmalloc(3 + 16385);
	size_t n;

	/* 16 KiB of trailers, final CRLF included, is the most. */
	n = trailer_body(s, 16384);
	cr_assert_eq(n, 3 + 16384);
	check_chunked(s, n, HTTP1_CHUNK_DONE, "", n);
	n = trailer_body(s, 16385);
	check_chunked(s, n, HTTP1_CHUNK_ERROR, "", 3 + 16384);
	free(s);
}

Test(http1_chunked, bad_sizes)
{
	CHECK_ERR("zz\r\nhello\r\n0\r\n\r\n");
	CHECK_ERR("-1\r\nhello\r\n0\r\n\r\n");
	CHECK_ERR("+5\r\nhello\r\n0\r\n\r\n");
	CHECK_ERR(" 5\r\nhello\r\n0\r\n\r\n");
	CHECK_ERR("5 \r\nhello\r\n0\r\n\r\n");
	CHECK_ERR("5\t\r\nhello\r\n0\r\n\r\n");
	CHECK_ERR("5 ;x\r\nhello\r\n0\r\n\r\n");
	CHECK_ERR("0x5\r\nhello\r\n0\r\n\r\n");
	CHECK_ERR("\r\nhello\r\n0\r\n\r\n");     /* empty size */
	CHECK_ERR(";x\r\nhello\r\n0\r\n\r\n");
	CHECK_ERR("5\nhello\r\n0\r\n\r\n");       /* bare LF */
	CHECK_ERR("5\rhello\r\n0\r\n\r\n");       /* bare CR */
	CHECK_ERR("g\r\n");
}

Test(http1_chunked, huge_sizes)
{
	/* 2^62 is the largest size: the data is simply not all there. */
	CHECK_MORE("4000000000000000\r\nabc");
	CHECK_MORE("00000004000000000000000\r\nabc");
	CHECK_ERR("4000000000000001\r\n");
	CHECK_ERR("8000000000000000\r\n");
	CHECK_ERR("ffffffffffffffff\r\n");
	CHECK_ERR("10000000000000000\r\n");  /* 2^64: would wrap to 0 */
	CHECK_ERR("fffffffffffffffffffffffff\r\n");
}

Test(http1_chunked, size_line_limit)
{
	char s[2048];

	/* 1024 bytes of size line (CRLF excluded) pass, 1025 do not. */
	memset(s, '0', 1024);
	memcpy(s + 1024, "\r\n\r\n", 4);
	check_chunked(s, 1028, HTTP1_CHUNK_DONE, "", 1028);
	memset(s, '0', 1025);
	memcpy(s + 1025, "\r\n\r\n", 4);
	check_chunked(s, 1029, HTTP1_CHUNK_ERROR, NULL, 1024);
	/* The same with a long extension. */
	s[0] = '5';
	s[1] = ';';
	memset(s + 2, 'e', 1100);
	memcpy(s + 1102, "\r\nhello\r\n0\r\n\r\n", 14);
	check_chunked(s, 1116, HTTP1_CHUNK_ERROR, NULL, 1024);
}

Test(http1_chunked, data_must_end_in_crlf)
{
	CHECK_ERR("5\r\nhelloX\r\n0\r\n\r\n");
	CHECK_ERR("5\r\nhello\n0\r\n\r\n");
	CHECK_ERR("5\r\nhello\r0\r\n\r\n");
	CHECK_ERR("5\r\nhello world\r\n0\r\n\r\n");
	CHECK_ERR("5\r\nhell\r\n0\r\n\r\n");
}

Test(http1_chunked, incomplete)
{
	CHECK_MORE("");
	CHECK_MORE("5");
	CHECK_MORE("5\r\nhel");
	CHECK_MORE("5\r\nhello\r\n");
	CHECK_MORE("5\r\nhello\r\n0\r\n");
	CHECK_MORE("5\r\nhello\r\n0\r\nX: y\r\n");
	CHECK_MORE("0\r\n\r");
}

Test(http1_chunked, stops_at_the_end)
{
	const char *s = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	struct http1_chunked c;
	size_t used;
	struct slice d;

	/* DONE reports only the bytes of the body; a pipelined message after
	 * it is left alone. */
	check_chunked(s, strlen(s), HTTP1_CHUNK_DONE, "abc", 13);
	http1_chunked_init(&c);
	cr_assert_eq(http1_chunked_skip(&c, s, strlen(s), &used), HTTP1_CHUNK_DONE);
	cr_assert_eq(used, 13);
	/* After DONE, always DONE with nothing consumed. */
	cr_assert_eq(http1_chunked_feed(&c, s + 13, strlen(s) - 13, &used, &d), HTTP1_CHUNK_DONE);
	cr_assert_eq(used, 0);
	cr_assert_eq(http1_chunked_feed(&c, s, 0, &used, &d), HTTP1_CHUNK_DONE);
	cr_assert_eq(used, 0);
}

Test(http1_chunked, error_is_sticky)
{
	struct http1_chunked c;
	size_t used = 99;
	struct slice d;

	http1_chunked_init(&c);
	cr_assert_eq(http1_chunked_feed(&c, "5\r\nhe", 5, &used, &d), HTTP1_CHUNK_DATA);
	cr_assert_eq(used, 5);
	assert_slice(d, "he");
	cr_assert_eq(http1_chunked_feed(&c, "lloX", 4, &used, &d), HTTP1_CHUNK_DATA);
	assert_slice(d, "llo");
	cr_assert_eq(http1_chunked_feed(&c, "X", 1, &used, &d), HTTP1_CHUNK_ERROR);
	cr_assert_eq(used, 0);
	cr_assert_eq(http1_chunked_feed(&c, "\r\n0\r\n\r\n", 7, &used, &d), HTTP1_CHUNK_ERROR);
	cr_assert_eq(used, 0);
}

Test(http1_chunked, error_position)
{
	/* *consumed stops right before the offending byte. */
	check_chunked("5\r\nhello\r\nzz", 12, HTTP1_CHUNK_ERROR, "hello", 10);
	check_chunked("5\r\nhelloX", 9, HTTP1_CHUNK_ERROR, "hello", 8);
}

Test(http1_chunked, skip)
{
	const char *s = "4\r\nWiki\r\n5\r\npedia\r\n0\r\nA: b\r\n\r\n";
	size_t n = strlen(s), used, total = 0;
	struct http1_chunked c;
	enum http1_chunk_result r;

	http1_chunked_init(&c);
	cr_assert_eq(http1_chunked_skip(&c, s, n, &used), HTTP1_CHUNK_DONE);
	cr_assert_eq(used, n);
	/* Byte by byte. */
	http1_chunked_init(&c);
	for (size_t i = 0; i < n; i++) {
		r = http1_chunked_skip(&c, s + i, 1, &used);
		total += used;
		cr_assert_eq(r, i + 1 < n ? HTTP1_CHUNK_MORE : HTTP1_CHUNK_DONE, "at %zu", i);
		cr_assert_eq(used, 1);
	}
	cr_assert_eq(total, n);
	http1_chunked_init(&c);
	cr_assert_eq(http1_chunked_skip(&c, s, 10, &used), HTTP1_CHUNK_MORE);
	cr_assert_eq(used, 10);
	http1_chunked_init(&c);
	cr_assert_eq(http1_chunked_skip(&c, "4\r\nWikiX", 8, &used), HTTP1_CHUNK_ERROR);
	cr_assert_eq(used, 7);
}

Test(http1_chunked, large_chunk_spans)
{
	/* A chunk bigger than one read: spans come back as they arrive. */
	struct http1_chunked c;
	struct slice d;
	size_t used;
	char blk[100];

	memset(blk, 'x', sizeof(blk));
	http1_chunked_init(&c);
	cr_assert_eq(http1_chunked_feed(&c, "12c\r\n", 5, &used, &d), HTTP1_CHUNK_MORE);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(http1_chunked_feed(&c, blk, sizeof(blk), &used, &d), HTTP1_CHUNK_DATA);
		cr_assert_eq(used, 100);
		cr_assert_eq(d.len, 100);
	}
	cr_assert_eq(http1_chunked_feed(&c, "\r\n0\r\n\r\n", 7, &used, &d), HTTP1_CHUNK_DONE);
	cr_assert_eq(used, 7);
}

Test(http1, empty_input)
{
	struct http1_chunked c;
	struct slice d;
	size_t used = 99;

	cr_assert_eq(http1_parse_request(NULL, 0, &m, NULL), HTTP1_INCOMPLETE);
	cr_assert_eq(http1_parse_response(NULL, 0, &m, HTTP1_M_GET, NULL), HTTP1_INCOMPLETE);
	http1_chunked_init(&c);
	cr_assert_eq(http1_chunked_feed(&c, NULL, 0, &used, &d), HTTP1_CHUNK_MORE);
	cr_assert_eq(used, 0);
	used = 99;
	cr_assert_eq(http1_chunked_skip(&c, NULL, 0, &used), HTTP1_CHUNK_MORE);
	cr_assert_eq(used, 0);
}

Test(http1_limits, zero_max_head_means_default)
{
	struct http1_limits lim = {.max_head = 0, .max_headers = 5};
	char *s = header_block(5, "\r\n");

	cr_assert_eq(req_lim(s, &m, &lim), (int)strlen(s));
	free(s);
}
