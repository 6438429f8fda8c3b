/* Unit tests for the spec.json parser and writer (src/runner/shim_spec.c). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/shim-int.h"

static int parse(const char *text, struct shim_spec *s, char **err)
{
	return shim_spec_parse(text, strlen(text), s, err);
}

Test(shim_spec, minimal_defaults, .timeout = 10)
{
	struct shim_spec s;
	char *err = NULL;

	cr_assert_eq(parse("{\"argv\": [\"x\"], \"log\": \"/l\"}", &s, &err), 0, "%s", err);
	cr_assert_null(err);
	cr_assert_eq(s.argc, 1);
	cr_assert_str_eq(s.argv[0], "x");
	cr_assert_null(s.argv[1]);
	cr_assert_eq(s.envc, 0);
	cr_assert_not_null(s.env);
	cr_assert_null(s.env[0]);
	cr_assert_str_eq(s.cwd, "/");
	cr_assert_null(s.user);
	cr_assert_str_eq(s.log, "/l");
	cr_assert_eq(s.stop_signal, 15);
	cr_assert_eq(s.stop_grace_ms, 10000);
	shim_spec_free(&s);
	cr_assert_null(s.argv);
	shim_spec_free(&s); /* twice is harmless */
}

Test(shim_spec, every_key, .timeout = 10)
{
	const char *text =
		"\r\n\t {\n"
		"  \"argv\": [\"/bin/sh\", \"-c\", \"\", \"echo hi\"],\n"
		"  \"env\": [\"PATH=/bin\", \"EMPTY=\", \"EQ=a=b\"],\n"
		"  \"cwd\": \"/srv/app\",\n"
		"  \"user\": \"app:staff\",\n"
		"  \"log\": \"/var/log/x.log\",\n"
		"  \"stop_signal\": 3,\n"
		"  \"stop_grace_ms\": 0\n"
		"}\n";
	struct shim_spec s;
	char *err = NULL;

	cr_assert_eq(parse(text, &s, &err), 0, "%s", err);
	cr_assert_eq(s.argc, 4);
	cr_assert_str_eq(s.argv[2], "");
	cr_assert_str_eq(s.argv[3], "echo hi");
	cr_assert_null(s.argv[4]);
	cr_assert_eq(s.envc, 3);
	cr_assert_str_eq(s.env[2], "EQ=a=b");
	cr_assert_null(s.env[3]);
	cr_assert_str_eq(s.cwd, "/srv/app");
	cr_assert_str_eq(s.user, "app:staff");
	cr_assert_eq(s.stop_signal, 3);
	cr_assert_eq(s.stop_grace_ms, 0);
	shim_spec_free(&s);

	cr_assert_eq(parse("{\"argv\":[\"x\"],\"log\":\"/l\",\"user\":null,\"stop_grace_ms\":86400000,"
			   "\"stop_signal\":64}", &s, &err), 0, "%s", err);
	cr_assert_null(s.user);
	cr_assert_eq(s.stop_grace_ms, 86400000u);
	cr_assert_eq(s.stop_signal, 64);
	shim_spec_free(&s);
}

Test(shim_spec, escapes_and_utf8, .timeout = 10)
{
	struct shim_spec s;
	char *err = NULL;

	cr_assert_eq(parse("{\"argv\": [\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\\ud83d\\ude00\", "
			   "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\", \"\\u0001\\u007f\"], \"log\": \"/l\"}",
			   &s, &err), 0, "%s", err);
	cr_assert_str_eq(s.argv[0], "a\"b\\c/d\b\f\n\r\t");
	cr_assert_str_eq(s.argv[1], "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	cr_assert_str_eq(s.argv[2], s.argv[1]);
	cr_assert_str_eq(s.argv[3], "\x01\x7f");
	shim_spec_free(&s);
}

/* Each input must be refused with a message that contains <want>. */
static const struct {
	const char *text;
	const char *want;
} bad[] = {
	{"", "expected '{', got end of input"},
	{"[]", "expected '{'"},
	{"\xef\xbb\xbf{}", "expected '{', got byte 0xef"},
	{"{", "got end of input"},
	{"{}", "missing \"argv\""},
	{"{\"argv\":[\"x\"]}", "missing \"log\""},
	{"{\"argv\":[\"x\"],\"log\":\"/l\"} x", "after the document"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\"}{}", "after the document"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"image\":\"a\"}", "unknown key \"image\""},
	{"{\"argv\":[\"x\"],\"argv\":[\"y\"],\"log\":\"/l\"}", "duplicate key \"argv\""},
	{"{'argv':[\"x\"]}", "expected a key"},
	{"{argv:[\"x\"]}", "expected a key"},
	{"{\"argv\" [\"x\"]}", "expected ':'"},
	{"{\"argv\":[\"x\"] \"log\":\"/l\"}", "expected ',' or '}'"},
	{"{\"argv\":[\"x\" \"y\"],\"log\":\"/l\"}", "expected ',' or ']'"},
	{"{\"argv\":[\"x\",],\"log\":\"/l\"}", "trailing comma"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",}", "trailing comma"},
	{"{\"argv\":[],\"log\":\"/l\"}", "argv: needs a non-empty program name"},
	{"{\"argv\":[\"\"],\"log\":\"/l\"}", "argv: needs a non-empty program name"},
	{"{\"argv\":\"x\",\"log\":\"/l\"}", "expected '['"},
	{"{\"argv\":{},\"log\":\"/l\"}", "expected '['"},
	{"{\"argv\":[1],\"log\":\"/l\"}", "argv[0]: expected a string"},
	{"{\"argv\":[\"x\",null],\"log\":\"/l\"}", "argv[1]: expected a string"},
	{"{\"argv\":[\"x\",[\"y\"]],\"log\":\"/l\"}", "argv[1]: expected a string"},
	{"{\"argv\":[\"x\"],\"env\":[\"NOEQ\"],\"log\":\"/l\"}", "env[0]: has no '='"},
	{"{\"argv\":[\"x\"],\"env\":[\"A=1\",\"=v\"],\"log\":\"/l\"}", "env[1]: has an empty name"},
	{"{\"argv\":[\"x\"],\"env\":null,\"log\":\"/l\"}", "expected '['"},
	{"{\"argv\":[\"x\"],\"log\":\"l\"}", "log: expected an absolute path"},
	{"{\"argv\":[\"x\"],\"log\":\"\"}", "log: expected an absolute path"},
	{"{\"argv\":[\"x\"],\"log\":null}", "log: expected a string"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"cwd\":\"srv\"}", "cwd: expected an absolute path"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"user\":\"\"}", "user: the user part is empty"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"user\":\":g\"}", "user: the user part is empty"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"user\":\"u:\"}", "user: expected USER or USER:GROUP"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"user\":\"u:g:h\"}", "user: expected USER or USER:GROUP"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"user\":\"u\\ng\"}", "user: has a control byte"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"user\":1000}", "user: expected a string"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_signal\":0}", "stop_signal: expected an integer from 1 to 64"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_signal\":65}", "stop_signal: expected an integer from 1 to 64"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_signal\":-1}", "stop_signal: expected an integer from 1 to 64"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_signal\":\"15\"}", "stop_signal: expected an integer, got '\"'"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_signal\":15.0}", "stop_signal: expected an integer"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_signal\":1e1}", "stop_signal: expected an integer"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_signal\":015}", "stop_signal: leading zero"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_signal\":-}", "stop_signal: expected an integer"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_signal\":null}", "stop_signal: expected an integer"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_grace_ms\":86400001}", "stop_grace_ms: expected an integer from 0 to 86400000"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_grace_ms\":99999999999999999999999}", "stop_grace_ms: expected an integer from 0"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_grace_ms\":-9223372036854775808}", "stop_grace_ms: expected an integer from 0"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_grace_ms\":-99999999999999999999}", "stop_grace_ms: expected an integer from 0"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"stop_grace_ms\":true}", "stop_grace_ms: expected an integer"},
	{"{\"argv\":[\"a\tb\"],\"log\":\"/l\"}", "argv[0]: control byte 0x09 in a string"},
	{"{\"argv\":[\"a\nb\"],\"log\":\"/l\"}", "argv[0]: control byte 0x0a in a string"},
	{"{\"argv\":[\"a\\u0000b\"],\"log\":\"/l\"}", "argv[0]: NUL (\\u0000) is not allowed"},
	{"{\"argv\":[\"\\ud83d\"],\"log\":\"/l\"}", "argv[0]: lone high surrogate"},
	{"{\"argv\":[\"\\ud83dx\"],\"log\":\"/l\"}", "argv[0]: lone high surrogate"},
	{"{\"argv\":[\"\\ude00\"],\"log\":\"/l\"}", "argv[0]: lone low surrogate"},
	{"{\"argv\":[\"\\ud83d\\u0041\"],\"log\":\"/l\"}", "argv[0]: bad surrogate pair"},
	{"{\"argv\":[\"\\u12\"],\"log\":\"/l\"}", "bad \\u escape"},
	{"{\"argv\":[\"\\u12", "truncated \\u escape"},
	{"{\"argv\":[\"\\x41\"],\"log\":\"/l\"}", "argv[0]: bad escape '\\x'"},
	{"{\"argv\":[\"\\'\"],\"log\":\"/l\"}", "argv[0]: bad escape '\\''"},
	{"{\"argv\":[\"abc", "argv[0]: unterminated string"},
	{"{\"argv\":[\"abc\\", "argv[0]: unterminated string"},
	{"{\"argv\":[\"\xff\"],\"log\":\"/l\"}", "argv[0]: invalid UTF-8"},
	{"{\"argv\":[\"\xc0\xaf\"],\"log\":\"/l\"}", "argv[0]: invalid UTF-8"},
	{"{\"argv\":[\"\xe0\x80\xaf\"],\"log\":\"/l\"}", "argv[0]: invalid UTF-8"},
	{"{\"argv\":[\"\xed\xa0\x80\"],\"log\":\"/l\"}", "argv[0]: invalid UTF-8"},
	{"{\"argv\":[\"\xf4\x90\x80\x80\"],\"log\":\"/l\"}", "argv[0]: invalid UTF-8"},
	{"{\"argv\":[\"\xe2\x82\"],\"log\":\"/l\"}", "argv[0]: invalid UTF-8"},
	{"{\"argv\":[\"x\"],\"log\":\"/l\",\"\xff\":1}", "key: invalid UTF-8"},
};

Test(shim_spec, refuses_bad_input, .timeout = 10)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct shim_spec s;
		char *err = NULL;
		int r = parse(bad[i].text, &s, &err);
		cr_assert_eq(r, -1, "accepted #%zu: %s", i, bad[i].text);
		cr_assert_not_null(err, "#%zu", i);
		cr_assert(strstr(err, bad[i].want), "#%zu %s:\n  got  %s\n  want %s", i, bad[i].text, err,
			  bad[i].want);
		cr_assert(strncmp(err, "spec.json:", 10) == 0, "%s", err);
		cr_assert_null(strchr(err, '\n'), "%s", err);
		/* A failed parse leaves nothing to free. */
		cr_assert_null(s.argv);
		cr_assert_null(s.log);
		free(err);
	}
}

Test(shim_spec, error_positions, .timeout = 10)
{
	struct shim_spec s;
	char *err = NULL;

	cr_assert_eq(parse("{\n  \"argv\": [\"x\"],\n  \"log\": \"/l\",\n  \"stop_signal\": 99\n}", &s, &err), -1);
	cr_assert_str_eq(err, "spec.json:4:18: stop_signal: expected an integer from 1 to 64");
	free(err);
}

Test(shim_spec, limits, .timeout = 20)
{
	struct shim_spec s;
	char *err = NULL;
	size_t cap = SHIM_SPEC_MAX_BYTES + 64;
	char *big = malloc(cap);

	/* The largest string is accepted, one byte more is not. */
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = SHIM_SPEC_MAX_STRING + (size_t)extra;
		int k = snprintf(big, cap, "{\"log\":\"/l\",\"argv\":[\"");
		memset(big + k, 'a', n);
		snprintf(big + k + n, cap - (size_t)k - n, "\"]}");
		int r = shim_spec_parse(big, strlen(big), &s, &err);
		if (!extra) {
			cr_assert_eq(r, 0, "%s", err);
			cr_assert_eq(strlen(s.argv[0]), SHIM_SPEC_MAX_STRING);
			shim_spec_free(&s);
		} else {
			cr_assert_eq(r, -1);
			cr_assert(strstr(err, "argv[0]: longer than"), "%s", err);
			free(err);
		}
	}
	/* An escape that would cross the limit. */
	{
		int k = snprintf(big, cap, "{\"log\":\"/l\",\"argv\":[\"");
		memset(big + k, 'a', SHIM_SPEC_MAX_STRING - 1);
		snprintf(big + k + SHIM_SPEC_MAX_STRING - 1, 32, "\\u00e9\"]}");
		cr_assert_eq(shim_spec_parse(big, strlen(big), &s, &err), -1);
		cr_assert(strstr(err, "longer than"), "%s", err);
		free(err);
	}
	/* Entries: SHIM_SPEC_MAX_ITEMS, then one more. */
	for (int extra = 0; extra <= 1; extra++) {
		size_t k = (size_t)snprintf(big, cap, "{\"log\":\"/l\",\"argv\":[\"x\"],\"env\":[");
		for (int i = 0; i < SHIM_SPEC_MAX_ITEMS + extra; i++)
			k += (size_t)snprintf(big + k, cap - k, "%s\"A=1\"", i ? "," : "");
		snprintf(big + k, cap - k, "]}");
		int r = shim_spec_parse(big, strlen(big), &s, &err);
		if (!extra) {
			cr_assert_eq(r, 0, "%s", err);
			cr_assert_eq(s.envc, SHIM_SPEC_MAX_ITEMS);
			shim_spec_free(&s);
		} else {
			cr_assert_eq(r, -1);
			cr_assert(strstr(err, "env: more than 8192 entries"), "%s", err);
			free(err);
		}
	}
	/* The whole document. */
	memset(big, ' ', SHIM_SPEC_MAX_BYTES + 1);
	cr_assert_eq(shim_spec_parse(big, SHIM_SPEC_MAX_BYTES + 1, &s, &err), -1);
	cr_assert(strstr(err, "larger than"), "%s", err);
	free(err);
	free(big);
}

Test(shim_spec, format_round_trip, .timeout = 10)
{
	char *argv[] = {"/bin/echo", "quote \" back \\ nl \n tab \t ctl \x01 \xc3\xa9", "", NULL};
	char *env[] = {"PATH=/bin", "X=\x7f", NULL};
	struct shim_spec in = {
		.argv = argv, .argc = 3, .env = env, .envc = 2, .cwd = "/tmp", .user = "1000:1000",
		.log = "/var/log/a b.log", .stop_signal = 2, .stop_grace_ms = 1234,
	};
	struct shim_spec out;
	char *text, *err = NULL;
	size_t len;

	cr_assert_eq(shim_spec_format(&in, &text, &len, &err), 0, "%s", err);
	cr_assert_eq(strlen(text), len);
	cr_assert_eq(shim_spec_parse(text, len, &out, &err), 0, "%s\n%s", err, text);
	cr_assert_eq(out.argc, 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_str_eq(out.argv[i], argv[i]);
	cr_assert_eq(out.envc, 2);
	cr_assert_str_eq(out.env[1], env[1]);
	cr_assert_str_eq(out.cwd, "/tmp");
	cr_assert_str_eq(out.user, "1000:1000");
	cr_assert_str_eq(out.log, in.log);
	cr_assert_eq(out.stop_signal, 2);
	cr_assert_eq(out.stop_grace_ms, 1234);
	shim_spec_free(&out);
	free(text);

	/* What the parser would refuse is refused on the way out too. */
	char *badv[] = {"x\xff", NULL};
	in.argv = badv;
	in.argc = 1;
	cr_assert_eq(shim_spec_format(&in, &text, &len, &err), -1);
	cr_assert(strstr(err, "argv[0] is not UTF-8"), "%s", err);
	free(err);
	in.argv = argv;
	in.log = "rel";
	cr_assert_eq(shim_spec_format(&in, &text, &len, &err), -1);
	free(err);
	in.log = "/l";
	char *bade[] = {"NOEQ", NULL};
	in.env = bade;
	in.envc = 1;
	cr_assert_eq(shim_spec_format(&in, &text, &len, &err), -1);
	cr_assert(strstr(err, "env[0] has no '='"), "%s", err);
	free(err);
}

Test(shim_spec, write_file, .timeout = 10)
{
	char dir[] = "/tmp/berth-unit-spec-XXXXXX";
	char *argv[] = {"sleep", "1", NULL};
	char *env[] = {NULL};
	struct shim_spec in = {.argv = argv, .argc = 2, .env = env, .log = "/l", .stop_signal = 15};
	struct shim_spec out;
	char *buf, *err = NULL, path[128];
	size_t len;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(shim_spec_write(dir, &in, &err), 0, "%s", err);
	snprintf(path, sizeof(path), "%s/spec.json", dir);
	cr_assert_eq(shim__read_file_at(AT_FDCWD, path, SHIM_SPEC_MAX_BYTES, &buf, &len, &err), 0, "%s", err);
	cr_assert_eq(shim_spec_parse(buf, len, &out, &err), 0, "%s", err);
	cr_assert_str_eq(out.argv[1], "1");
	cr_assert_str_eq(out.cwd, "/"); /* no cwd written: the default */
	shim_spec_free(&out);
	free(buf);
	cr_assert_eq(shim_spec_write("/nonexistent/dir", &in, &err), -1);
	cr_assert(strstr(err, "/nonexistent/dir"), "%s", err);
	free(err);
	unlink(path);
	rmdir(dir);
}
