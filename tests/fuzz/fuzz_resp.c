/* libFuzzer harness: RESP2 replies (src/health/resp.c), with invariants: bounds, structure, prefixes, and an exact round trip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "health/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #c);                                    \
			abort();                                                  \
		}                                                                 \
	} while (0)

static struct health_resp r, r2; /* 8 KiB each: not on the stack */

static int inside(struct slice s, const char *base, size_t n)
{
	if (!s.ptr)
		return s.len == 0;
	return s.ptr >= base && s.len <= n && s.ptr - base <= (ptrdiff_t)(n - s.len);
}

/* Writes node <i> back in RESP; returns the index after its subtree. */
static int encode(const struct health_resp *p, int i, struct buf *b, int depth)
{
	const struct health_resp_node *n = &p->nodes[i];
	static const char types[] = "+-:$*";

	CHECK(i < p->nnodes && depth <= HEALTH_RESP_MAX_DEPTH);
	buf_append(b, &types[n->type], 1);
	switch (n->type) {
	case HEALTH_RESP_SIMPLE:
	case HEALTH_RESP_ERROR:
		CHECK(!memchr(n->str.ptr, '\r', n->str.len) && !memchr(n->str.ptr, '\n', n->str.len));
		buf_append(b, n->str.ptr, n->str.len);
		break;
	case HEALTH_RESP_INTEGER:
		buf_appendf(b, "%lld", (long long)n->integer);
		break;
	case HEALTH_RESP_BULK:
		if (n->null) {
			buf_appends(b, "-1");
			break;
		}
		CHECK(n->str.len <= HEALTH_RESP_MAX_STR);
		buf_append_u64(b, n->str.len);
		buf_append(b, "\r\n", 2);
		buf_append(b, n->str.ptr, n->str.len);
		break;
	case HEALTH_RESP_ARRAY: {
		if (n->null) {
			buf_appends(b, "-1\r\n");
			CHECK(n->next == i + 1);
			return i + 1;
		}
		CHECK(n->integer >= 0 && n->integer < HEALTH_RESP_MAX_NODES);
		buf_append_u64(b, (unsigned long long)n->integer);
		buf_append(b, "\r\n", 2);
		int k = i + 1;
		for (int64_t j = 0; j < n->integer; j++) {
			CHECK(health_resp_item(p, i, (int)j) == k);
			k = encode(p, k, b, depth + 1);
		}
		CHECK(health_resp_item(p, i, (int)n->integer) == -1);
		CHECK(n->next == k);
		return k;
	}
	default:
		CHECK(0);
	}
	buf_append(b, "\r\n", 2);
	CHECK(n->next == i + 1);
	return i + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	int rc = health_resp_parse(p, size, &r);

	CHECK(rc > 0 || rc == HEALTH_RESP_INCOMPLETE || rc == HEALTH_RESP_ERR_BAD || rc == HEALTH_RESP_ERR_LIMIT);
	if (rc > 0) {
		struct buf b = {0};
		size_t n = (size_t)rc;

		CHECK(n <= size && n >= 3);
		CHECK(r.nnodes >= 1 && r.nnodes <= HEALTH_RESP_MAX_NODES);
		CHECK(r.nodes[0].next == r.nnodes);
		for (int i = 0; i < r.nnodes; i++)
			CHECK(inside(r.nodes[i].str, p, n));
		/* canonical: the reply written back is its input, byte for byte */
		CHECK(encode(&r, 0, &b, 0) == r.nnodes);
		CHECK(b.data == n && memcmp(buf_ptr(&b), p, n) == 0);
		buf_free(&b);
		/* a prefix of a reply is incomplete, never bad */
		CHECK(health_resp_parse(p, n - 1, &r2) == HEALTH_RESP_INCOMPLETE);
		CHECK(health_resp_parse(p, n / 2, &r2) == HEALTH_RESP_INCOMPLETE);
		CHECK(health_resp_parse(p, size % n, &r2) == HEALTH_RESP_INCOMPLETE);
		/* the reply alone parses the same as with what follows it */
		CHECK(health_resp_parse(p, n, &r2) == rc && r2.nnodes == r.nnodes);
	} else if (rc == HEALTH_RESP_INCOMPLETE) {
		CHECK(health_resp_parse(p, size / 2, &r2) == HEALTH_RESP_INCOMPLETE);
	} else {
		/* an error stays an error with more bytes */
		uint8_t *more = malloc(size + 4);
		memcpy(more, data, size);
		memcpy(more + size, "\r\n\r\n", 4);
		CHECK(health_resp_parse((const char *)more, size + 4, &r2) == rc);
		free(more);
	}
	return 0;
}
