/* libFuzzer harness: HTTP/1.1 request heads, with invariants on the result. */
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

/* Whether <s> lies inside <base, n> (an empty NULL slice does too). */
static int inside(struct slice s, const char *base, size_t n)
{
	if (!s.ptr)
		return s.len == 0;
	return s.ptr >= base && s.len <= n && s.ptr - base <= (ptrdiff_t)(n - s.len);
}

static int has_byte(struct slice s, const char *set)
{
	for (size_t i = 0; i < s.len; i++)
		if (s.ptr[i] && strchr(set, s.ptr[i]))
			return 1;
	return memchr(s.ptr ? s.ptr : "", '\0', s.len) != NULL;
}

/* Parses <n> bytes copied to an exact-size block, so ASan sees overreads. */
static int parse_copy(const uint8_t *data, size_t n, struct http1_msg *m,
		      const struct http1_limits *lim)
{
	char *p;

	/* The copy lives until the next call: <m> points into it. */
	free(last_copy);
	p = last_copy = malloc(n ? n : 1);
	memcpy(p, data, n);
	return http1_parse_request(p, n, m, lim);
}

static void check_head(const char *p, size_t size, int rc, const struct http1_msg *m,
		       const struct http1_limits *lim)
{
	size_t n = (size_t)rc;
	int max_headers = lim && lim->max_headers > 0 && lim->max_headers < HTTP1_MAX_HEADERS
				  ? lim->max_headers : HTTP1_MAX_HEADERS;

	CHECK(n <= size && n >= 4);
	CHECK(m->head_len == n);
	CHECK(memcmp(p + n - 4, "\r\n\r\n", 4) == 0);
	CHECK(memmem(p, n - 2, "\r\n\r\n", 4) == NULL); /* the first empty line */
	if (lim && lim->max_head)
		CHECK(n <= lim->max_head);
	CHECK(m->nheaders >= 0 && m->nheaders <= max_headers);
	CHECK(m->version_minor == 0 || m->version_minor == 1);
	CHECK(m->method_str.len > 0 && inside(m->method_str, p, n));
	CHECK(m->target.len > 0 && inside(m->target, p, n));
	CHECK(!has_byte(m->target, " \t\r\n"));
	CHECK(inside(m->path, p, n) || (m->path.len == 1 && m->path.ptr[0] == '/'));
	CHECK(inside(m->host, p, n));
	CHECK(m->status == 0 && m->reason.ptr == NULL);
	for (int i = 0; i < m->nheaders; i++) {
		struct slice name = m->headers[i].name, value = m->headers[i].value;
		CHECK(name.len > 0 && inside(name, p, n));
		CHECK(inside(value, p, n) && value.ptr);
		CHECK(!has_byte(name, " \t\r\n:"));
		CHECK(!has_byte(value, "\r\n"));
		if (value.len) {
			CHECK(value.ptr[0] != ' ' && value.ptr[0] != '\t');
			CHECK(value.ptr[value.len - 1] != ' ' && value.ptr[value.len - 1] != '\t');
		}
		CHECK(value.ptr > name.ptr + name.len - 1 && name.ptr[name.len] == ':');
		if (i > 0)
			CHECK(name.ptr > m->headers[i - 1].value.ptr);
		CHECK(http1_find_header(m, name) != NULL);
	}
	/* Framing. */
	CHECK(m->body != HTTP1_BODY_UNTIL_CLOSE);
	CHECK((m->body == HTTP1_BODY_CHUNKED) == !!(m->flags & HTTP1_F_CHUNKED));
	CHECK(!((m->flags & HTTP1_F_CHUNKED) && (m->flags & HTTP1_F_HAS_CL)));
	if (m->body == HTTP1_BODY_LENGTH)
		CHECK((m->flags & HTTP1_F_HAS_CL) && m->content_length > 0);
	if (m->body == HTTP1_BODY_NONE)
		CHECK(m->content_length == 0);
	CHECK(m->content_length <= INT64_MAX);
	if (m->flags & HTTP1_F_CHUNKED)
		CHECK(m->version_minor == 1);
	/* Connection. */
	if (m->flags & HTTP1_F_WEBSOCKET)
		CHECK(m->flags & HTTP1_F_UPGRADE);
	if (m->flags & HTTP1_F_CONN_CLOSE)
		CHECK(!(m->flags & HTTP1_F_KEEPALIVE));
	if (m->version_minor == 1) {
		CHECK(m->host.ptr != NULL);
		CHECK(!!(m->flags & HTTP1_F_KEEPALIVE) == !(m->flags & HTTP1_F_CONN_CLOSE));
	} else {
		CHECK(!(m->flags & (HTTP1_F_UPGRADE | HTTP1_F_EXPECT_100)));
	}
	if (m->method == HTTP1_M_CONNECT)
		CHECK(m->target.ptr[0] != '/');
	if (m->target.len == 1 && m->target.ptr[0] == '*')
		CHECK(m->method == HTTP1_M_OPTIONS);
}

/* Runs the body that follows the head through the decoders, for coverage
 * and for their own invariants. */
static void check_body(const char *p, size_t len, const struct http1_msg *m)
{
	struct http1_chunked c;
	size_t used;

	if (m->body != HTTP1_BODY_CHUNKED)
		return;
	http1_chunked_init(&c);
	enum http1_chunk_result r = http1_chunked_skip(&c, p, len, &used);
	CHECK(used <= len);
	if (r == HTTP1_CHUNK_MORE)
		CHECK(used == len);
	if (r == HTTP1_CHUNK_DONE && used < len) {
		/* A pipelined request may follow. */
		int rc = http1_parse_request(p + used, len - used, &msg2, NULL);
		if (rc > 0)
			CHECK((size_t)rc <= len - used);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	/* Tight limits derived from the input, to reach the 431 paths. */
	struct http1_limits small = {
		.max_head = 16 + size % 241,
		.max_headers = 1 + (int)(size % 7),
	};
	int rc, rc2;

	rc = http1_parse_request(p, size, &msg, NULL);
	CHECK(rc > 0 || rc == HTTP1_INCOMPLETE || rc == HTTP1_ERR_BAD ||
	      rc == HTTP1_ERR_TOO_LARGE || rc == HTTP1_ERR_TE || rc == HTTP1_ERR_VERSION);
	if (rc > 0) {
		check_head(p, size, rc, &msg, NULL);
		/* The head alone parses the same: nothing after it is read. */
		rc2 = parse_copy(data, (size_t)rc, &msg2, NULL);
		CHECK(rc2 == rc && msg2.flags == msg.flags && msg2.body == msg.body &&
		      msg2.nheaders == msg.nheaders && msg2.content_length == msg.content_length);
		/* Any shorter prefix of a valid head is merely incomplete. */
		CHECK(parse_copy(data, (size_t)rc - 1, &msg2, NULL) == HTTP1_INCOMPLETE);
		CHECK(parse_copy(data, size % (size_t)rc, &msg2, NULL) == HTTP1_INCOMPLETE);
		check_body(p + rc, size - (size_t)rc, &msg);
	} else if (rc == HTTP1_INCOMPLETE) {
		CHECK(size < http1_default_limits.max_head);
		CHECK(parse_copy(data, size / 2, &msg2, NULL) == HTTP1_INCOMPLETE);
	}

	/* The same input under tight limits: either the same head, or 431. */
	rc2 = parse_copy(data, size, &msg2, &small);
	if (rc2 > 0) {
		check_head(last_copy, size, rc2, &msg2, &small);
		CHECK(rc2 == rc);
	}
	if (rc > 0) {
		if ((size_t)rc <= small.max_head && msg.nheaders <= small.max_headers)
			CHECK(rc2 == rc);
		else
			CHECK(rc2 == HTTP1_ERR_TOO_LARGE);
	}
	if (rc == HTTP1_INCOMPLETE)
		CHECK(rc2 == HTTP1_INCOMPLETE || rc2 == HTTP1_ERR_TOO_LARGE);
	return 0;
}
