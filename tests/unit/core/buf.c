/* Unit tests for the growable byte buffer (src/core/buf.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "core/buf.h"

static bool buf_is(const struct buf *b, const char *s)
{
	return b->data == strlen(s) && (b->data == 0 || memcmp(buf_ptr(b), s, b->data) == 0);
}

Test(buf, append_and_consume)
{
	struct buf b = {0};

	buf_append(&b, "hello", 5);
	buf_appends(&b, " world");
	cr_assert(buf_is(&b, "hello world"));
	cr_assert_geq(b.size, 11);
	buf_consume(&b, 6);
	cr_assert(buf_is(&b, "world"));
	cr_assert_eq(b.head, 6);
	buf_append(&b, "!", 1);
	cr_assert(buf_is(&b, "world!"));
	/* Consuming everything rewinds to the start. */
	buf_consume(&b, 6);
	cr_assert_eq(b.data, 0);
	cr_assert_eq(b.head, 0);
	buf_append(&b, "x", 1);
	buf_consume(&b, 100);
	cr_assert_eq(b.data, 0);
	cr_assert_eq(b.head, 0);
	buf_free(&b);
	cr_assert_null(b.area);
	cr_assert_eq(b.size, 0);
}

Test(buf, empty_append)
{
	struct buf b = {0};

	/* On a never-allocated buffer this computes NULL + 0 and calls
	 * memcpy(NULL, p, 0): undefined behaviour that UBSan reports, until
	 * buf_append() returns early when n == 0. */
	buf_append(&b, "", 0);
	cr_assert_eq(b.data, 0);
	buf_free(&b);
	/* Freeing twice is harmless. */
	buf_free(&b);
}

Test(buf, grows)
{
	struct buf b = {0};
	char chunk[100];

	memset(chunk, 'a', sizeof(chunk));
	for (int i = 0; i < 100; i++)
		buf_append(&b, chunk, sizeof(chunk));
	cr_assert_eq(b.data, 10000);
	cr_assert_geq(b.size, 10000);
	for (size_t i = 0; i < b.data; i++)
		cr_assert_eq(buf_ptr(&b)[i], 'a');
	buf_free(&b);
}

Test(buf, reserve_compacts_before_growing)
{
	struct buf b = {0};
	char *area;
	size_t size;

	buf_reserve(&b, 100);
	area = b.area;
	size = b.size;
	cr_assert_geq(size, 100);
	memset(b.area, 'x', size);
	b.data = size;
	buf_consume(&b, size - 10);
	memcpy(buf_ptr(&b), "0123456789", 10);
	cr_assert_eq(buf_room(&b), 0);
	/* The 10 live bytes move down; no new allocation is needed. */
	buf_reserve(&b, size - 10);
	cr_assert_eq(b.area, area);
	cr_assert_eq(b.size, size);
	cr_assert_eq(b.head, 0);
	cr_assert(buf_is(&b, "0123456789"));
	cr_assert_geq(buf_room(&b), size - 10);
	/* Asking for more than fits after compaction grows, keeping the data. */
	buf_reserve(&b, size);
	cr_assert_gt(b.size, size);
	cr_assert(buf_is(&b, "0123456789"));
	cr_assert_geq(buf_room(&b), size);
	buf_free(&b);
}

Test(buf, reserve_noop_when_room)
{
	struct buf b = {0};
	char *area;

	buf_reserve(&b, 10);
	area = b.area;
	buf_append(&b, "abc", 3);
	buf_reserve(&b, 5);
	cr_assert_eq(b.area, area);
	cr_assert_eq(b.head, 0);
	buf_free(&b);
}

Test(buf, appendf)
{
	struct buf b = {0};

	buf_appendf(&b, "%s %d", "status", 200);
	cr_assert(buf_is(&b, "status 200"));
	buf_appendf(&b, "%s", "");
	cr_assert(buf_is(&b, "status 200"));
	buf_consume(&b, 7);
	buf_appendf(&b, "-%05zu", (size_t)42);
	cr_assert(buf_is(&b, "200-00042"));
	buf_free(&b);
}

Test(buf, appendf_large)
{
	struct buf b = {0};
	char big[5000];

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_appends(&b, "<");
	buf_appendf(&b, "%s>", big);
	cr_assert_eq(b.data, 1 + 4999 + 1);
	cr_assert_eq(buf_ptr(&b)[0], '<');
	cr_assert_eq(buf_ptr(&b)[4999], 'z');
	cr_assert_eq(buf_ptr(&b)[5000], '>');
	buf_free(&b);
}

Test(buf, reset)
{
	struct buf b = {0};

	buf_appends(&b, "abc");
	buf_consume(&b, 1);
	buf_reset(&b);
	cr_assert_eq(b.data, 0);
	cr_assert_eq(b.head, 0);
	cr_assert_eq(buf_room(&b), b.size);
	buf_free(&b);
}
