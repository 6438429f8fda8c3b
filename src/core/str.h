/* Slices that do not own their bytes, and small string helpers. */
#ifndef BERTH_CORE_STR_H
#define BERTH_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A view into someone else's bytes: valid as long as they are. */
struct slice {
	const char *ptr;
	size_t len;
};

#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})
#define SLICE_NULL ((struct slice){NULL, 0})

static inline struct slice slice_from(const char *s)
{
	return (struct slice){s, s ? strlen(s) : 0};
}

static inline bool slice_eq(struct slice a, struct slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* ASCII case-insensitive comparison (header names, tokens). */
bool slice_eq_ci(struct slice a, struct slice b);
bool slice_starts_with(struct slice s, struct slice prefix);
/* Trims spaces and tabs at both ends. */
struct slice slice_trim(struct slice s);
/* Finds token <tok> (case-insensitive) in a comma-separated list value. */
bool slice_list_has_token(struct slice list, struct slice tok);
/* Parses a non-negative decimal; -1 on junk or overflow past INT64_MAX. */
int slice_to_u64(struct slice s, uint64_t *out);

/* 64-bit FNV-1a, then a final mix: good enough spread for ring positions. */
uint64_t hash64(const void *p, size_t len);

#endif
