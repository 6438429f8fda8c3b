/* Tests for src/spec/interp.c: every interpolation form, escapes, berth's runtime variables, and dotenv files. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "spec/spec-int.h"

TestSuite(spec_interp, .timeout = 10);

/* The variables every test sees: SET=value, EMPTY="", NUM=3; UNSET is not. */
static const char *lookup(void *ctx, const char *name)
{
	static const char *const vars[][2] = {
		{"SET", "value"}, {"EMPTY", ""}, {"NUM", "3"}, {"FOO", "foo"}, {"PORT", "1111"}, {"SP", "a b"},
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (strcmp(vars[i][0], name) == 0)
			return vars[i][1];
	return NULL;
}

static char unset_names[256];

static void unset(void *ctx, const char *name)
{
	strcat(unset_names, name);
	strcat(unset_names, ",");
}

static const struct spec__interp ip = {lookup, unset, NULL};

static void is(const char *in, const char *want)
{
	char *out = NULL, *why = NULL;

	cr_assert_eq(spec__interpolate(&ip, in, &out, &why), 0, "\"%s\": %s", in, why ? why : "");
	cr_expect_str_eq(out, want, "\"%s\" gave \"%s\"", in, out);
	free(out);
}

static void fails(const char *in, const char *msg)
{
	char *out = NULL, *why = NULL;

	cr_expect_eq(spec__interpolate(&ip, in, &out, &why), -1, "\"%s\" gave \"%s\"", in, out ? out : "");
	cr_expect(why && strstr(why, msg), "\"%s\": \"%s\" lacks \"%s\"", in, why ? why : "", msg);
	free(why);
	free(out);
}

Test(spec_interp, plain_forms)
{
	is("", "");
	is("no dollars", "no dollars");
	is("$SET", "value");
	is("${SET}", "value");
	is("a${SET}b", "avalueb");
	is("$SET.$NUM", "value.3");
	is("$SET-x", "value-x");
	is("${SP}", "a b");
}

Test(spec_interp, defaults)
{
	is("${UNSET:-def}", "def");
	is("${EMPTY:-def}", "def");
	is("${SET:-def}", "value");
	is("${UNSET-def}", "def");
	is("${EMPTY-def}", "");
	is("${SET-def}", "value");
	is("${UNSET:-}", "");
	is("${UNSET:-a b c}", "a b c");
	is("${UNSET:-http://x:80/}", "http://x:80/");
}

Test(spec_interp, alternatives)
{
	is("${SET:+alt}", "alt");
	is("${EMPTY:+alt}", "");
	is("${UNSET:+alt}", "");
	is("${SET+alt}", "alt");
	is("${EMPTY+alt}", "alt");
	is("${UNSET+alt}", "");
}

Test(spec_interp, required)
{
	is("${SET:?need it}", "value");
	is("${SET?need it}", "value");
	is("${EMPTY?need it}", "");
	fails("${UNSET:?need UNSET}", "required variable UNSET is missing a value: need UNSET");
	fails("${EMPTY:?must not be empty}", "required variable EMPTY is missing a value: must not be empty");
	fails("${UNSET?}", "required variable UNSET is missing a value");
	/* the message itself is interpolated */
	fails("${UNSET:?set it, $FOO}", "missing a value: set it, foo");
}

Test(spec_interp, nested)
{
	is("${UNSET:-${FOO}}", "foo");
	is("${UNSET:-${UNSET2:-deep}}", "deep");
	is("${SET:-${UNSET:?never evaluated}}", "value");
	is("${UNSET:-$FOO-x}", "foo-x");
	is("${UNSET:-{a}}", "{a}");
}

Test(spec_interp, escapes)
{
	is("$$", "$");
	is("$$SET", "$SET");
	is("a$$b", "a$b");
	is("$${SET}", "${SET}");
	is("$$$SET", "$value");
	is("cost: $$5", "cost: $5");
	is("${UNSET:-$$}", "$");
}

Test(spec_interp, berth_runtime_variables_are_kept)
{
	unset_names[0] = '\0';
	/* PORT is set in this environment on purpose: it must not be used */
	is("$PORT", "$PORT");
	is("${PORT}", "${PORT}");
	is("--port=${PORT} --admin=${PORT_9000}", "--port=${PORT} --admin=${PORT_9000}");
	is("$PORT_3000", "$PORT_3000");
	is("${PORT:-8080}", "${PORT:-8080}");
	is("${endpoints:redis}", "${endpoints:redis}");
	is("${endpoint:redis:primary}", "${endpoint:redis:primary}");
	is("redis://${endpoint:redis:primary}/0?x=$SET", "redis://${endpoint:redis:primary}/0?x=value");
	is("${UNSET:-${PORT}}", "${PORT}");
	/* not runtime names: interpolated like any other */
	is("${PORTS:-p}", "p");
	is("${PORT_X:-q}", "q");
	is("$PORTAL", "");
	cr_expect_str_eq(unset_names, "PORTAL,");
}

Test(spec_interp, unset_is_reported_once_per_use)
{
	unset_names[0] = '\0';
	is("$UNSET and ${UNSET2}", " and ");
	is("${UNSET3:-x}${UNSET4-y}${UNSET5:+z}", "xy");
	cr_expect_str_eq(unset_names, "UNSET,UNSET2,");
}

Test(spec_interp, invalid)
{
	fails("$", "invalid interpolation");
	fails("cost $5", "invalid interpolation");
	fails("${}", "invalid interpolation");
	fails("${1A}", "invalid interpolation");
	fails("${SET", "not closed");
	fails("${SET:x}", "invalid interpolation");
	fails("${SET:}", "invalid interpolation");
	fails("${SET/a/b}", "invalid interpolation");
	fails("${UNSET:-${BAD}", "not closed");
	fails("${UNSET:-$}", "invalid interpolation");
	fails("$ {SET}", "invalid interpolation");
}

/* ---- dotenv ---- */

static struct spec__env env;

static void dotenv_ok(const char *text)
{
	char *why = NULL;
	int line = 0;

	spec__env_free(&env);
	cr_assert_eq(spec__dotenv_parse(text, strlen(text), &ip, &env, &line, &why), 0, "line %d: %s", line,
		     why ? why : "");
}

static void has(const char *k, const char *v)
{
	int i = spec__env_find(&env, k);

	cr_assert(i >= 0, "no %s", k);
	cr_expect_str_eq(env.vals[i], v, "%s", k);
}

Test(spec_interp, dotenv_forms)
{
	dotenv_ok("# comment\n"
		  "\n"
		  "A=1\n"
		  "export B=two words\n"
		  "C = spaced  \n"
		  "D='single $SET \\n'\n"
		  "E=\"double $SET\\n\\t\\\"q\\\" \\$x\"\n"
		  "F=unquoted # comment\n"
		  "G=a#b\n"
		  "H=\n"
		  "I=${A}-${SET}\n"
		  "J=\"multi\n"
		  "line\"\n"
		  "K=${PORT}\n"
		  "A=override\r\n"
		  "L='x' # trailing comment\n"
		  "M=$${SET}\n");
	has("A", "override");
	has("B", "two words");
	has("C", "spaced");
	has("D", "single $SET \\n");
	has("E", "double value\n\t\"q\" $x");
	has("F", "unquoted");
	has("G", "a#b");
	has("H", "");
	has("I", "1-value");
	has("J", "multi\nline");
	has("K", "${PORT}");
	has("L", "x");
	has("M", "${SET}");
	cr_expect_eq(env.n, 13);
	spec__env_free(&env);
}

Test(spec_interp, dotenv_errors)
{
	static const struct {
		const char *text;
		int line;
		const char *msg;
	} bad[] = {
		{"A=1\nnot a line\n", 2, "expected KEY=VALUE"},
		{"A=1\n\nB='open\n", 3, "not closed"},
		{"=x\n", 1, "expected KEY=VALUE"},
		{"1A=x\n", 1, "expected KEY=VALUE"},
		{"A=\"x\" y\n", 1, "after the closing quote"},
		{"A=${UNSET:?need A}\n", 1, "need A"},
		{"A=1\nB=$\n", 2, "invalid interpolation"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct spec__env e = {0};
		char *why = NULL;
		int line = 0;
		cr_expect_eq(spec__dotenv_parse(bad[i].text, strlen(bad[i].text), &ip, &e, &line, &why), -1,
			     "%s", bad[i].text);
		cr_expect_eq(line, bad[i].line, "%s: line %d", bad[i].text, line);
		cr_expect(why && strstr(why, bad[i].msg), "%s: %s", bad[i].text, why ? why : "");
		free(why);
		spec__env_free(&e);
	}
}
