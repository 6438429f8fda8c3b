/* Unit tests for the CRI log formatter and line splitter (src/runner/shim_cri.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner/shim-int.h"

#define MAXREC 16

/* A capture of emitted records. */
struct capture {
	int n;
	struct {
		enum shim__stream stream;
		bool partial;
		size_t len;
		char *text;
	} r[MAXREC];
};

static void capture_emit(void *ctx, enum shim__stream stream, bool partial, const char *text, size_t len)
{
	struct capture *c = ctx;

	cr_assert_lt(c->n, MAXREC);
	cr_assert_leq(len, SHIM_CRI_MAX_TEXT);
	cr_assert_null(memchr(text, '\n', len), "a record holds a newline");
	c->r[c->n].stream = stream;
	c->r[c->n].partial = partial;
	c->r[c->n].len = len;
	c->r[c->n].text = malloc(len + 1);
	memcpy(c->r[c->n].text, text, len);
	c->r[c->n].text[len] = '\0';
	c->n++;
}

static void capture_free(struct capture *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->r[i].text);
	c->n = 0;
}

static struct shim__cri_line line; /* 16 KiB: not on the stack */

Test(shim_time, format, .timeout = 10)
{
	char out[SHIM_TIME_LEN + 1];
	struct timespec ts = {0, 0};

	shim__time_format(out, &ts);
	cr_assert_str_eq(out, "1970-01-01T00:00:00.000000000Z");
	ts = (struct timespec){1796113800, 123456789};
	shim__time_format(out, &ts);
	cr_assert_str_eq(out, "2026-12-01T08:30:00.123456789Z");
	cr_assert_eq(strlen(out), SHIM_TIME_LEN);
	ts = (struct timespec){1709251199, 999999999};
	shim__time_format(out, &ts);
	cr_assert_str_eq(out, "2024-02-29T23:59:59.999999999Z");
	ts = (struct timespec){4107542400, 1};
	shim__time_format(out, &ts);
	cr_assert_str_eq(out, "2100-03-01T00:00:00.000000001Z");
	ts = (struct timespec){-1, 0};
	shim__time_format(out, &ts);
	cr_assert_str_eq(out, "1969-12-31T23:59:59.000000000Z");
}

Test(shim_time, agrees_with_gmtime, .timeout = 10)
{
	/* Every ~11 hours over 1970..2200, against libc. */
	for (long long s = 0; s < 7258118400LL; s += 40031) {
		struct timespec ts = {(time_t)s, 42};
		time_t t = (time_t)s;
		struct tm tm;
		char want[64], got[SHIM_TIME_LEN + 1];
		gmtime_r(&t, &tm);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S.000000042Z", &tm);
		shim__time_format(got, &ts);
		cr_assert_str_eq(got, want, "at %lld", s);
	}
}

Test(shim_cri, format_record, .timeout = 10)
{
	char out[SHIM_CRI_RECORD_MAX];
	const char *t = "2026-12-01T08:30:00.123456789Z";
	size_t n;

	n = shim__cri_format(out, t, SHIM_STREAM_STDOUT, false, "hello world", 11);
	cr_assert_eq(n, strlen("2026-12-01T08:30:00.123456789Z stdout F hello world\n"));
	cr_assert(memcmp(out, "2026-12-01T08:30:00.123456789Z stdout F hello world\n", n) == 0);
	n = shim__cri_format(out, t, SHIM_STREAM_STDERR, true, "", 0);
	cr_assert(memcmp(out, "2026-12-01T08:30:00.123456789Z stderr P \n", n) == 0);
	/* The biggest record fits the documented maximum exactly. */
	char *text = malloc(SHIM_CRI_MAX_TEXT);
	memset(text, 'x', SHIM_CRI_MAX_TEXT);
	n = shim__cri_format(out, t, SHIM_STREAM_STDERR, true, text, SHIM_CRI_MAX_TEXT);
	cr_assert_eq(n, SHIM_CRI_RECORD_MAX);
	cr_assert_eq(out[n - 1], '\n');
	free(text);
}

Test(shim_cri, lines_and_pieces, .timeout = 10)
{
	struct capture c = {0};

	shim__cri_init(&line, SHIM_STREAM_STDERR);
	shim__cri_feed(&line, "a\n\nb\n", 5, capture_emit, &c);
	cr_assert_eq(c.n, 3);
	cr_assert_str_eq(c.r[0].text, "a");
	cr_assert_str_eq(c.r[1].text, "");
	cr_assert_str_eq(c.r[2].text, "b");
	for (int i = 0; i < 3; i++) {
		cr_assert_not(c.r[i].partial);
		cr_assert_eq(c.r[i].stream, SHIM_STREAM_STDERR);
	}
	capture_free(&c);

	/* Lines cut anywhere by reads come out whole. */
	shim__cri_feed(&line, "he", 2, capture_emit, &c);
	cr_assert_eq(c.n, 0);
	shim__cri_feed(&line, "llo\nwor", 7, capture_emit, &c);
	cr_assert_eq(c.n, 1);
	cr_assert_str_eq(c.r[0].text, "hello");
	shim__cri_feed(&line, "ld", 2, capture_emit, &c);
	cr_assert_eq(c.n, 1);
	/* EOF: the text without a newline is an F record. */
	shim__cri_finish(&line, capture_emit, &c);
	cr_assert_eq(c.n, 2);
	cr_assert_str_eq(c.r[1].text, "world");
	cr_assert_not(c.r[1].partial);
	/* Nothing pending: nothing emitted. */
	shim__cri_finish(&line, capture_emit, &c);
	cr_assert_eq(c.n, 2);
	capture_free(&c);
}

/* Feeds <n> bytes of 'a'..'z' (then a newline when <nl>) in chunks of
 * <chunk>, then EOF; checks the records against <want> ("PPF": kinds) and
 * that their concatenation is the input. */
static void split(size_t n, bool nl, size_t chunk, const char *want)
{
	struct capture c = {0};
	char *in = malloc(n + 1);

	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	in[n] = '\n';
	shim__cri_init(&line, SHIM_STREAM_STDOUT);
	for (size_t off = 0; off < n + nl; off += chunk) {
		size_t k = n + nl - off < chunk ? n + nl - off : chunk;
		shim__cri_feed(&line, in + off, k, capture_emit, &c);
	}
	shim__cri_finish(&line, capture_emit, &c);
	cr_assert_eq((size_t)c.n, strlen(want), "n=%zu nl=%d chunk=%zu: %d records, want %s", n, nl, chunk, c.n,
		     want);
	size_t off = 0;
	for (int i = 0; i < c.n; i++) {
		cr_assert_eq(c.r[i].partial, want[i] == 'P', "n=%zu record %d", n, i);
		if (c.r[i].partial)
			cr_assert_eq(c.r[i].len, SHIM_CRI_MAX_TEXT);
		cr_assert(memcmp(c.r[i].text, in + off, c.r[i].len) == 0);
		off += c.r[i].len;
	}
	cr_assert_eq(off, n);
	capture_free(&c);
	free(in);
}

Test(shim_cri, long_lines_split, .timeout = 10)
{
	size_t chunks[] = {1, 7, 4096, 16384, 16385, 65536};

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		size_t ch = chunks[i];
		if (ch > 1) { /* byte by byte is slow for 40 KiB; once is enough */
			split(40 * 1024, true, ch, "PPF");
			split(40 * 1024, false, ch, "PPF");
		}
		split(SHIM_CRI_MAX_TEXT, true, ch, "F");       /* exactly full, then newline */
		split(SHIM_CRI_MAX_TEXT, false, ch, "F");      /* exactly full at EOF */
		split(SHIM_CRI_MAX_TEXT + 1, false, ch, "PF"); /* one byte over */
		split(SHIM_CRI_MAX_TEXT + 1, true, ch, "PF");
		split(2 * SHIM_CRI_MAX_TEXT, true, ch, "PF");
		split(2 * SHIM_CRI_MAX_TEXT + 1, true, ch, "PPF");
		split(0, true, ch, "F");
		split(0, false, ch, "");
	}
	split(40 * 1024, true, 1, "PPF");
}

Test(shim_cri, space_and_commit, .timeout = 10)
{
	struct capture c = {0};
	size_t avail;

	/* The reader's interface: read straight into the line buffer. */
	shim__cri_init(&line, SHIM_STREAM_STDOUT);
	char *p = shim__cri_space(&line, &avail);
	cr_assert_eq(avail, SHIM_CRI_MAX_TEXT + 1);
	memset(p, 'z', avail);
	shim__cri_commit(&line, avail, capture_emit, &c);
	cr_assert_eq(c.n, 1);
	cr_assert(c.r[0].partial);
	p = shim__cri_space(&line, &avail);
	cr_assert_eq(avail, SHIM_CRI_MAX_TEXT); /* one byte pending */
	memcpy(p, "y\nx", 3);
	shim__cri_commit(&line, 3, capture_emit, &c);
	cr_assert_eq(c.n, 2);
	cr_assert_str_eq(c.r[1].text, "zy");
	cr_assert_not(c.r[1].partial);
	shim__cri_finish(&line, capture_emit, &c);
	cr_assert_str_eq(c.r[2].text, "x");
	capture_free(&c);
}
