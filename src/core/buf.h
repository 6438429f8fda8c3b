/* A growable byte buffer: live bytes are area[head, head + data). */
#ifndef BERTH_CORE_BUF_H
#define BERTH_CORE_BUF_H

#include <stddef.h>

struct buf {
	char *area;  /* storage, owned, may be NULL when size == 0 */
	size_t size; /* allocated bytes */
	size_t head; /* offset of the first live byte */
	size_t data; /* number of live bytes */
};

void buf_free(struct buf *b);
/* Makes room for <n> more bytes at the tail, compacting before growing. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_appends(struct buf *b, const char *s);
/* Appends <v> in decimal: the hot paths' replacement for buf_appendf. */
void buf_append_u64(struct buf *b, unsigned long long v);
/* Drops <n> bytes from the front. */
void buf_consume(struct buf *b, size_t n);

static inline char *buf_ptr(const struct buf *b) { return b->area + b->head; }
static inline char *buf_tail(const struct buf *b) { return b->area + b->head + b->data; }
static inline size_t buf_room(const struct buf *b) { return b->size - b->head - b->data; }
static inline void buf_reset(struct buf *b) { b->head = b->data = 0; }

#endif
