/* Unit tests for the slice helpers (src/core/str.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"

Test(str, slice_from_and_eq)
{
	struct slice s = slice_from("abc");

	cr_assert_eq(s.len, 3);
	cr_assert(slice_eq(s, SLICE_LIT("abc")));
	cr_assert_not(slice_eq(s, SLICE_LIT("abd")));
	cr_assert_not(slice_eq(s, SLICE_LIT("ab")));
	cr_assert_eq(slice_from(NULL).len, 0);
	cr_assert(slice_eq(SLICE_NULL, SLICE_LIT("")));
}

Test(str, slice_eq_ci)
{
	cr_assert(slice_eq_ci(SLICE_LIT("Content-Length"), SLICE_LIT("content-length")));
	cr_assert(slice_eq_ci(SLICE_LIT("HOST"), SLICE_LIT("host")));
	cr_assert(slice_eq_ci(SLICE_LIT(""), SLICE_NULL));
	cr_assert_not(slice_eq_ci(SLICE_LIT("host"), SLICE_LIT("hosts")));
	cr_assert_not(slice_eq_ci(SLICE_LIT("host"), SLICE_LIT("hist")));
	/* Only ASCII letters fold: '@' is not '`', '[' is not '{'. */
	cr_assert_not(slice_eq_ci(SLICE_LIT("@"), SLICE_LIT("`")));
	cr_assert_not(slice_eq_ci(SLICE_LIT("["), SLICE_LIT("{")));
	cr_assert_not(slice_eq_ci(SLICE_LIT("\xc3\xa9"), SLICE_LIT("\xc3\x89")));
}

Test(str, slice_starts_with)
{
	cr_assert(slice_starts_with(SLICE_LIT("/api/v1"), SLICE_LIT("/api")));
	cr_assert(slice_starts_with(SLICE_LIT("/api"), SLICE_LIT("")));
	cr_assert_not(slice_starts_with(SLICE_LIT("/ap"), SLICE_LIT("/api")));
	/* Case-sensitive. */
	cr_assert_not(slice_starts_with(SLICE_LIT("/API"), SLICE_LIT("/api")));
}

Test(str, slice_trim)
{
	struct slice s = slice_trim(SLICE_LIT(" \t a b \t "));

	cr_assert(slice_eq(s, SLICE_LIT("a b")));
	cr_assert_eq(slice_trim(SLICE_LIT("   ")).len, 0);
	cr_assert_eq(slice_trim(SLICE_LIT("")).len, 0);
	cr_assert(slice_eq(slice_trim(SLICE_LIT("x")), SLICE_LIT("x")));
	/* Only spaces and tabs: CR and LF stay. */
	cr_assert(slice_eq(slice_trim(SLICE_LIT("\rx\n")), SLICE_LIT("\rx\n")));
}

Test(str, slice_list_has_token)
{
	struct slice v = SLICE_LIT("keep-alive, Upgrade ,\tclose");

	cr_assert(slice_list_has_token(v, SLICE_LIT("upgrade")));
	cr_assert(slice_list_has_token(v, SLICE_LIT("KEEP-ALIVE")));
	cr_assert(slice_list_has_token(v, SLICE_LIT("close")));
	cr_assert_not(slice_list_has_token(v, SLICE_LIT("clos")));
	cr_assert_not(slice_list_has_token(v, SLICE_LIT("keep")));
	cr_assert(slice_list_has_token(SLICE_LIT("close"), SLICE_LIT("close")));
	cr_assert_not(slice_list_has_token(SLICE_LIT("closed"), SLICE_LIT("close")));
	cr_assert_not(slice_list_has_token(SLICE_LIT(""), SLICE_LIT("close")));
	cr_assert(slice_list_has_token(SLICE_LIT(",,close,"), SLICE_LIT("close")));
	cr_assert_not(slice_list_has_token(SLICE_LIT("a b"), SLICE_LIT("a")));
}

Test(str, slice_to_u64)
{
	uint64_t v = 42;

	cr_assert_eq(slice_to_u64(SLICE_LIT("0"), &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(slice_to_u64(SLICE_LIT("12345"), &v), 0);
	cr_assert_eq(v, 12345);
	cr_assert_eq(slice_to_u64(SLICE_LIT("0007"), &v), 0);
	cr_assert_eq(v, 7);
	cr_assert_eq(slice_to_u64(SLICE_LIT("9223372036854775807"), &v), 0);
	cr_assert_eq(v, UINT64_C(9223372036854775807));
}

Test(str, slice_to_u64_junk)
{
	static const char *bad[] = {
		"", "+1", "-1", " 1", "1 ", "1a", "0x10", "1.0", "1,2",
		"9223372036854775808", "18446744073709551615", "18446744073709551616",
		"99999999999999999999999999",
	};
	uint64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(slice_to_u64(slice_from(bad[i]), &v), -1, "\"%s\"", bad[i]);
		cr_assert_eq(v, 42, "\"%s\" wrote the output", bad[i]);
	}
}

Test(str, hash64)
{
	/* Ring positions must not move between builds or runs: pinned values
	 * (FNV-1a 64, then the splitmix64 finalizer). */
	cr_assert_eq(hash64("", 0), UINT64_C(0xf52a15e9a9b5e89b));
	cr_assert_eq(hash64("hello", 5), UINT64_C(0x16fe05a1c75bcd0f));
	cr_assert_eq(hash64("10.0.0.1:8080", 13), UINT64_C(0xe6be330c3d44a2e2));
	cr_assert_eq(hash64("hello", 5), hash64("hello", 5));
	cr_assert_neq(hash64("hello", 5), hash64("hellp", 5));
	cr_assert_neq(hash64("hello", 5), hash64("hello", 4));
}

Test(str, hash64_spread)
{
	/* Short keys differing in one character land far apart: each output
	 * bit flips for roughly half of them. */
	int ones[64] = {0};
	char key[16];

	for (int i = 0; i < 1000; i++) {
		int n = snprintf(key, sizeof(key), "srv%d", i);
		uint64_t h = hash64(key, (size_t)n);
		for (int b = 0; b < 64; b++)
			ones[b] += (int)(h >> b & 1);
	}
	for (int b = 0; b < 64; b++)
		cr_assert(ones[b] > 400 && ones[b] < 600, "bit %d set %d times", b, ones[b]);
}
