/* libFuzzer harness: HTTP/1.1 response heads, with invariants on the result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #c);                                    \
			abort();                                                  \
		}                                                                 \
	} while (0)

static struct http1_msg msg, msg2; /* 3 KiB each: not on the stack */
static char *last_copy;             /* see parse_copy() */

static int inside(struct slice s, const char *base, size_t n)
{
	if (!s.ptr)
		return s.len == 0;
	return s.ptr >= base && s.len <= n && s.ptr - base <= (ptrdiff_t)(n - s.len);
}

static int has_crlf(struct slice s)
{
	return memchr(s.ptr, '\r', s.len) || memchr(s.ptr, '\n', s.len);
}

static int parse_copy(const uint8_t *data, size_t n, struct http1_msg *m,
		      enum http1_method meth, const struct http1_limits *lim)
{
	char *p;

	/* The copy lives until the next call: <m> points into it. */
	free(last_copy);
	p = last_copy = malloc(n ? n : 1);
	memcpy(p, data, n);
	return http1_parse_response(p, n, m, meth, lim);
}

static void check_head(const char *p, size_t size, int rc, const struct http1_msg *m,
		       enum http1_method meth)
{
	size_t n = (size_t)rc;

	CHECK(n <= size && n >= 4);
	CHECK(m->head_len == n);
	CHECK(memcmp(p + n - 4, "\r\n\r\n", 4) == 0);
	CHECK(memmem(p, n - 2, "\r\n\r\n", 4) == NULL);
	CHECK(m->nheaders >= 0 && m->nheaders <= HTTP1_MAX_HEADERS);
	CHECK(m->version_minor == 0 || m->version_minor == 1);
	CHECK(m->status >= 100 && m->status <= 999);
	CHECK(inside(m->reason, p, n) && m->reason.ptr && !has_crlf(m->reason));
	CHECK(m->method_str.ptr == NULL && m->target.ptr == NULL && m->path.ptr == NULL);
	for (int i = 0; i < m->nheaders; i++) {
		struct slice name = m->headers[i].name, value = m->headers[i].value;
		CHECK(name.len > 0 && inside(name, p, n) && name.ptr[name.len] == ':');
		CHECK(inside(value, p, n) && value.ptr && !has_crlf(value));
		CHECK(!memchr(name.ptr, ' ', name.len));
	}
	/* Framing (RFC 9112 6.3). */
	if (meth == HTTP1_M_HEAD || m->status < 200 || m->status == 204 || m->status == 304)
		CHECK(m->body == HTTP1_BODY_NONE);
	if (meth == HTTP1_M_CONNECT && m->status / 100 == 2)
		CHECK(m->body == HTTP1_BODY_NONE);
	if (m->body == HTTP1_BODY_CHUNKED)
		CHECK(m->flags & HTTP1_F_CHUNKED);
	if (m->body == HTTP1_BODY_LENGTH)
		CHECK((m->flags & HTTP1_F_HAS_CL) && m->content_length > 0);
	if (m->body == HTTP1_BODY_UNTIL_CLOSE)
		CHECK(!(m->flags & (HTTP1_F_HAS_CL | HTTP1_F_CHUNKED | HTTP1_F_KEEPALIVE)));
	CHECK(!((m->flags & HTTP1_F_CHUNKED) && (m->flags & HTTP1_F_HAS_CL)));
	if (m->flags & HTTP1_F_CHUNKED)
		CHECK(m->version_minor == 1);
	if (m->flags & HTTP1_F_UPGRADE)
		CHECK(m->status == 101);
	if (m->flags & HTTP1_F_WEBSOCKET)
		CHECK(m->flags & HTTP1_F_UPGRADE);
	if (m->flags & HTTP1_F_CONN_CLOSE)
		CHECK(!(m->flags & HTTP1_F_KEEPALIVE));
	CHECK(!(m->flags & HTTP1_F_EXPECT_100));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum http1_method methods[] = {HTTP1_M_GET, HTTP1_M_HEAD, HTTP1_M_CONNECT,
						    HTTP1_M_POST};
	const char *p = (const char *)data;
	struct http1_limits small = {
		.max_head = 16 + size % 241,
		.max_headers = 1 + (int)(size % 7),
	};
	int rc, rc2;

	rc = http1_parse_response(p, size, &msg, HTTP1_M_GET, NULL);
	CHECK(rc > 0 || rc == HTTP1_INCOMPLETE || rc == HTTP1_ERR_BAD ||
	      rc == HTTP1_ERR_TOO_LARGE || rc == HTTP1_ERR_TE || rc == HTTP1_ERR_VERSION);
	if (rc > 0) {
		check_head(p, size, rc, &msg, HTTP1_M_GET);
		CHECK(parse_copy(data, (size_t)rc, &msg2, HTTP1_M_GET, NULL) == rc);
		CHECK(msg2.flags == msg.flags && msg2.body == msg.body && msg2.status == msg.status);
		CHECK(parse_copy(data, (size_t)rc - 1, &msg2, HTTP1_M_GET, NULL) == HTTP1_INCOMPLETE);
		CHECK(parse_copy(data, size % (size_t)rc, &msg2, HTTP1_M_GET, NULL) ==
		      HTTP1_INCOMPLETE);
	} else if (rc == HTTP1_INCOMPLETE) {
		CHECK(parse_copy(data, size / 2, &msg2, HTTP1_M_GET, NULL) == HTTP1_INCOMPLETE);
	}
	/* The request method changes the body, never whether the head is valid. */
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		rc2 = parse_copy(data, size, &msg2, methods[i], NULL);
		CHECK(rc2 == rc);
		if (rc2 > 0) {
			check_head(last_copy, size, rc2, &msg2, methods[i]);
			CHECK(msg2.status == msg.status && msg2.nheaders == msg.nheaders);
			CHECK((msg2.flags & ~HTTP1_F_KEEPALIVE) == (msg.flags & ~HTTP1_F_KEEPALIVE));
		}
	}
	rc2 = parse_copy(data, size, &msg2, HTTP1_M_GET, &small);
	if (rc2 > 0) {
		CHECK(rc2 == rc && (size_t)rc2 <= small.max_head && msg2.nheaders <= small.max_headers);
		check_head(last_copy, size, rc2, &msg2, HTTP1_M_GET);
	}
	if (rc > 0) {
		if ((size_t)rc <= small.max_head && msg.nheaders <= small.max_headers)
			CHECK(rc2 == rc);
		else
			CHECK(rc2 == HTTP1_ERR_TOO_LARGE);
	}
	return 0;
}
