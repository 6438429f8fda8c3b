/* Unit tests of the RESP2 parser and command writer (src/health/resp.c). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/resp.h"

static struct health_resp r;

static int parse(const char *s)
{
	return health_resp_parse(s, strlen(s), &r);
}

/* Every proper prefix of a valid reply is incomplete, never bad. */
static void prefixes_incomplete(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		cr_expect_eq(health_resp_parse(s, i, &r), HEALTH_RESP_INCOMPLETE, "prefix %zu of %s", i, s);
}

Test(health_resp, simple_error_integer, .timeout = 5)
{
	cr_assert_eq(parse("+OK\r\n"), 5);
	cr_expect_eq(r.nnodes, 1);
	cr_expect_eq(r.nodes[0].type, HEALTH_RESP_SIMPLE);
	cr_expect(slice_eq(r.nodes[0].str, SLICE_LIT("OK")));
	cr_assert_eq(parse("-NOAUTH Authentication required.\r\n"), 34);
	cr_expect_eq(r.nodes[0].type, HEALTH_RESP_ERROR);
	cr_expect(slice_eq(r.nodes[0].str, SLICE_LIT("NOAUTH Authentication required.")));
	cr_assert_eq(parse(":0\r\n"), 4);
	cr_expect_eq(r.nodes[0].integer, 0);
	cr_assert_eq(parse(":-42\r\n"), 6);
	cr_expect_eq(r.nodes[0].integer, -42);
	cr_assert_eq(parse(":9223372036854775807\r\n"), 22);
	cr_expect_eq(r.nodes[0].integer, INT64_MAX);
	cr_assert_eq(parse(":-9223372036854775808\r\n"), 23);
	cr_expect_eq(r.nodes[0].integer, INT64_MIN);
	cr_assert_eq(parse("+\r\n"), 3, "an empty simple string");
	prefixes_incomplete("-ERR x\r\n");
	prefixes_incomplete(":-12\r\n");
}

Test(health_resp, bulk_and_null, .timeout = 5)
{
	cr_assert_eq(parse("$6\r\nmaster\r\n"), 12);
	cr_expect_eq(r.nodes[0].type, HEALTH_RESP_BULK);
	cr_expect(slice_eq(r.nodes[0].str, SLICE_LIT("master")));
	cr_assert_eq(health_resp_parse("$4\r\na\r\nb\r\n", 10, &r), 10, "CRLF inside a bulk is data");
	cr_expect_eq(r.nodes[0].str.len, 4);
	cr_assert_eq(parse("$0\r\n\r\n"), 6);
	cr_assert_eq(parse("$-1\r\n"), 5);
	cr_expect(r.nodes[0].null);
	cr_assert_eq(parse("*-1\r\n"), 5);
	cr_expect(r.nodes[0].null);
	cr_expect_eq(r.nodes[0].type, HEALTH_RESP_ARRAY);
	cr_assert_eq(health_resp_parse("$3\r\na\0b\r\n", 9, &r), 9, "binary safe");
	prefixes_incomplete("$6\r\nmaster\r\n");
}

Test(health_resp, role_replies, .timeout = 5)
{
	const char *master = "*3\r\n$6\r\nmaster\r\n:3129659\r\n*2\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9001\r\n"
			     "$7\r\n3129242\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9002\r\n$7\r\n3129543\r\n";
	const char *slave = "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n$9\r\nconnected\r\n:3167038\r\n";
	const char *sentinel = "*2\r\n$8\r\nsentinel\r\n*2\r\n$13\r\nresque-master\r\n$21\r\nhtml-fragments-master\r\n";
	int i;

	cr_assert_eq(parse(master), (int)strlen(master));
	cr_expect_eq(r.nodes[0].integer, 3);
	cr_expect_eq(r.nnodes, 12);
	i = health_resp_item(&r, 0, 0);
	cr_expect(slice_eq(r.nodes[i].str, SLICE_LIT("master")));
	i = health_resp_item(&r, 0, 2);
	cr_expect_eq(r.nodes[i].type, HEALTH_RESP_ARRAY);
	cr_expect_eq(r.nodes[i].integer, 2);
	int second = health_resp_item(&r, i, 1);
	cr_expect(slice_eq(r.nodes[health_resp_item(&r, second, 1)].str, SLICE_LIT("9002")));
	cr_expect_eq(health_resp_item(&r, 0, 3), -1);
	cr_expect_eq(health_resp_item(&r, 1, 0), -1, "not an array");
	cr_expect_eq(r.nodes[0].next, r.nnodes);
	prefixes_incomplete(master);

	cr_assert_eq(parse(slave), (int)strlen(slave));
	cr_expect_eq(r.nodes[health_resp_item(&r, 0, 2)].integer, 9000);
	cr_assert_eq(parse(sentinel), (int)strlen(sentinel));
	cr_expect(slice_eq(r.nodes[health_resp_item(&r, 0, 0)].str, SLICE_LIT("sentinel")));
}

Test(health_resp, pipelined_replies, .timeout = 5)
{
	const char *two = "+OK\r\n*1\r\n$6\r\nmaster\r\n";

	cr_assert_eq(parse(two), 5, "one reply at a time");
	cr_assert_eq(parse(two + 5), (int)strlen(two) - 5);
}

Test(health_resp, strict, .timeout = 5)
{
	static const char *const bad[] = {
		":01\r\n", ":-0\r\n", ":+1\r\n", ": 1\r\n", ":1 \r\n", ":\r\n", ":-\r\n",
		":9223372036854775808\r\n", ":-9223372036854775809\r\n", ":1\n", ":1\rx",
		"+OK\n", "+O\rK\r\n", "+OK\r\r\n",
		"$-2\r\n", "$01\r\nx\r\n", "$1\r\nxy\r\n", "$1\r\nx\rx", "$1\r\nx\n\r",
		"*-2\r\n", "*01\r\n", "*1\r\n!", "_\r\n", "#t\r\n", ",1.5\r\n", "%1\r\n", "~1\r\n",
		">1\r\n", "(1\r\n", "=3\r\ntxt\r\n", "|1\r\n", "PING\r\n", "\r\n", "x",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(parse(bad[i]), HEALTH_RESP_ERR_BAD, "%s", bad[i]);
	cr_expect_eq(health_resp_parse("", 0, &r), HEALTH_RESP_INCOMPLETE);
}

Test(health_resp, limits, .timeout = 5)
{
	char big[64];
	char *deep;

	snprintf(big, sizeof(big), "$%u\r\n", HEALTH_RESP_MAX_STR + 1);
	cr_expect_eq(parse(big), HEALTH_RESP_ERR_LIMIT, "known too big before it arrives");
	snprintf(big, sizeof(big), "*%d\r\n", HEALTH_RESP_MAX_NODES);
	cr_expect_eq(parse(big), HEALTH_RESP_ERR_LIMIT);
	snprintf(big, sizeof(big), "*%d\r\n", HEALTH_RESP_MAX_NODES - 1);
	cr_expect_eq(parse(big), HEALTH_RESP_INCOMPLETE);

	/* depth: MAX_DEPTH nested arrays are fine, one more is not */
	deep = calloc(1, 1024);
	for (int d = 0; d < HEALTH_RESP_MAX_DEPTH; d++)
		strcat(deep, "*1\r\n");
	strcat(deep, ":1\r\n");
	cr_expect_eq(parse(deep), (int)strlen(deep));
	deep[0] = '\0';
	for (int d = 0; d <= HEALTH_RESP_MAX_DEPTH; d++)
		strcat(deep, "*1\r\n");
	strcat(deep, ":1\r\n");
	cr_expect_eq(parse(deep), HEALTH_RESP_ERR_LIMIT);
	free(deep);

	/* a simple string that never ends is over the limit, not incomplete forever */
	size_t n = HEALTH_RESP_MAX_STR + 2;
	char *line = malloc(n);
	line[0] = '+';
	memset(line + 1, 'a', n - 1);
	cr_expect_eq(health_resp_parse(line, n, &r), HEALTH_RESP_ERR_LIMIT);
	cr_expect_eq(health_resp_parse(line, n - 1, &r), HEALTH_RESP_INCOMPLETE);
	free(line);
}

Test(health_resp, command_writer, .timeout = 5)
{
	struct buf b = {0};
	const char *argv[] = {"AUTH", "s3cret", ""};

	health_resp_command(&b, 3, argv);
	cr_expect_eq(b.data, strlen("*3\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n$0\r\n\r\n"));
	cr_expect_eq(memcmp(buf_ptr(&b), "*3\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n$0\r\n\r\n", b.data), 0);
	/* and it parses back */
	cr_expect_eq(health_resp_parse(buf_ptr(&b), b.data, &r), (int)b.data);
	cr_expect_eq(r.nnodes, 4);
	buf_free(&b);
}
