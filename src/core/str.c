/* Slice helpers. */
#include "core/str.h"

static inline unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

bool slice_eq_ci(struct slice a, struct slice b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (lower((unsigned char)a.ptr[i]) != lower((unsigned char)b.ptr[i]))
			return false;
	return true;
}

bool slice_starts_with(struct slice s, struct slice prefix)
{
	return s.len >= prefix.len && memcmp(s.ptr, prefix.ptr, prefix.len) == 0;
}

struct slice slice_trim(struct slice s)
{
	while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
		s.ptr++;
		s.len--;
	}
	while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
		s.len--;
	return s;
}

bool slice_list_has_token(struct slice list, struct slice tok)
{
	size_t i = 0;

	while (i <= list.len) {
		size_t j = i;
		while (j < list.len && list.ptr[j] != ',')
			j++;
		struct slice item = slice_trim((struct slice){list.ptr + i, j - i});
		if (slice_eq_ci(item, tok))
			return true;
		i = j + 1;
	}
	return false;
}

int slice_to_u64(struct slice s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned)(unsigned char)s.ptr[i] - '0';
		if (d > 9)
			return -1;
		if (v > (UINT64_C(0x7fffffffffffffff) - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

uint64_t hash64(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	/* FNV alone clusters short keys; finish with a splitmix64 round. */
	h ^= h >> 30;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64_C(0x94d049bb133111eb);
	h ^= h >> 31;
	return h;
}
