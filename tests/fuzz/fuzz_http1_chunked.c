/* libFuzzer harness: the chunked decoder gives the same answer for any split. */
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

struct outcome {
	enum http1_chunk_result r; /* final result: MORE, DONE or ERROR */
	size_t used;               /* input bytes consumed in total */
	size_t outn;               /* decoded bytes */
	char *out;                 /* the decoded bytes, size + 1 allocated */
};

/* Feeds <p, n> to a fresh decoder in pieces of <step> bytes (0: at once),
 * each copied to an exact-size block so ASan sees overreads. */
static void decode(const char *p, size_t n, size_t step, struct outcome *o)
{
	struct http1_chunked c;
	size_t off = 0;

	http1_chunked_init(&c);
	o->r = HTTP1_CHUNK_MORE;
	o->outn = 0;
	do {
		size_t piece = step && step < n - off ? step : n - off, pos = 0, k;
		char *blk = malloc(piece ? piece : 1);
		struct slice d;

		memcpy(blk, p + off, piece);
		for (;;) {
			k = (size_t)-1;
			o->r = http1_chunked_feed(&c, blk + pos, piece - pos, &k, &d);
			CHECK(k <= piece - pos);
			if (o->r != HTTP1_CHUNK_DATA)
				break;
			CHECK(d.len > 0 && d.ptr >= blk + pos && d.ptr + d.len == blk + pos + k);
			memcpy(o->out + o->outn, d.ptr, d.len);
			o->outn += d.len;
			pos += k;
		}
		CHECK(o->r == HTTP1_CHUNK_MORE || o->r == HTTP1_CHUNK_DONE ||
		      o->r == HTTP1_CHUNK_ERROR);
		if (o->r == HTTP1_CHUNK_MORE)
			CHECK(k == piece - pos);
		pos += k;
		free(blk);
		off += pos;
	} while (o->r == HTTP1_CHUNK_MORE && off < n);
	o->used = off;
	CHECK(o->outn <= o->used);
	if (o->r == HTTP1_CHUNK_MORE)
		CHECK(o->used == n);

	/* The end is sticky. */
	if (o->r != HTTP1_CHUNK_MORE) {
		size_t k = 99;
		struct slice d;
		CHECK(http1_chunked_feed(&c, p, n, &k, &d) == o->r && k == 0);
	}
}

static void same(const struct outcome *a, const struct outcome *b)
{
	CHECK(a->r == b->r);
	CHECK(a->used == b->used);
	CHECK(a->outn == b->outn);
	CHECK(memcmp(a->out, b->out, a->outn) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct outcome all, other;
	struct http1_chunked c;
	size_t used;

	all.out = malloc(size + 1);
	other.out = malloc(size + 1);
	decode(p, size, 0, &all);
	if (all.r == HTTP1_CHUNK_DONE) {
		/* A complete body ends with the CRLF of its last line. */
		CHECK(all.used >= 5 && memcmp(p + all.used - 2, "\r\n", 2) == 0);
	}
	decode(p, size, 1, &other);
	same(&all, &other);
	for (size_t step = 2; step <= 7; step += 5) {
		decode(p, size, step, &other);
		same(&all, &other);
	}
	if (size > 2) {
		decode(p, size, size / 2 + 1, &other);
		same(&all, &other);
	}
	http1_chunked_init(&c);
	CHECK(http1_chunked_skip(&c, p, size, &used) == all.r && used == all.used);
	free(all.out);
	free(other.out);
	return 0;
}
