/* Growable byte buffers. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

void buf_free(struct buf *b)
{
	free(b->area);
	b->area = NULL;
	b->size = b->head = b->data = 0;
}

void buf_reserve(struct buf *b, size_t n)
{
	if (buf_room(b) >= n)
		return;
	if (b->head) {
		/* Moving the live bytes down is cheaper than growing. */
		memmove(b->area, b->area + b->head, b->data);
		b->head = 0;
		if (buf_room(b) >= n)
			return;
	}
	size_t want = b->size ? b->size : 256;
	while (want - b->data < n)
		want *= 2;
	b->area = xrealloc(b->area, want);
	b->size = want;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	/* An empty append to a never-allocated buffer must not touch NULL. */
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(buf_tail(b), p, n);
	b->data += n;
}

void buf_appends(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_append_u64(struct buf *b, unsigned long long v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_append(b, tmp + sizeof(tmp) - n, n);
}

void buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(buf_tail(b), (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->data += (size_t)n;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->data) {
		b->head = b->data = 0;
		return;
	}
	b->head += n;
	b->data -= n;
}
