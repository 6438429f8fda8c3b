/* libFuzzer harness: spec.json through shim_spec_parse, with invariants on
 * the spec or the error, and a format/parse round trip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/shim-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #c);                                    \
			abort();                                                  \
		}                                                                 \
	} while (0)

static void check_strings(char **v, size_t n)
{
	CHECK(v && v[n] == NULL);
	for (size_t i = 0; i < n; i++) {
		CHECK(v[i]);
		size_t len = strlen(v[i]);
		CHECK(len <= SHIM_SPEC_MAX_STRING);
		CHECK(shim__utf8_valid(v[i], len));
	}
}

static void check_spec(const struct shim_spec *s)
{
	CHECK(s->argc >= 1 && s->argc <= SHIM_SPEC_MAX_ITEMS && s->argv[0][0]);
	check_strings(s->argv, s->argc);
	CHECK(s->envc <= SHIM_SPEC_MAX_ITEMS);
	check_strings(s->env, s->envc);
	for (size_t i = 0; i < s->envc; i++)
		CHECK(strchr(s->env[i], '=') && s->env[i][0] != '=');
	CHECK(s->cwd && s->cwd[0] == '/');
	CHECK(s->log && s->log[0] == '/');
	CHECK(!s->user || (s->user[0] && s->user[0] != ':'));
	CHECK(s->stop_signal >= 1 && s->stop_signal <= 64);
	CHECK(s->stop_grace_ms <= SHIM_MAX_STOP_GRACE_MS);
}

static bool same_strings(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shim_spec s, again;
	char *err = NULL, *text;
	size_t len;

	if (shim_spec_parse((const char *)data, size, &s, &err) != 0) {
		/* "spec.json:LINE:COL: message" (or the size refusal), one line */
		CHECK(err && strncmp(err, "spec.json:", 10) == 0);
		for (const char *p = err; *p; p++)
			CHECK(*p != '\n');
		CHECK(s.argv == NULL && s.log == NULL);
		free(err);
		return 0;
	}
	CHECK(!err);
	check_spec(&s);
	/* What the agent would write back parses to the same spec. */
	CHECK(shim_spec_format(&s, &text, &len, &err) == 0);
	CHECK(shim_spec_parse(text, len, &again, &err) == 0);
	CHECK(same_strings(s.argv, s.argc, again.argv, again.argc));
	CHECK(same_strings(s.env, s.envc, again.env, again.envc));
	CHECK(strcmp(s.cwd, again.cwd) == 0 && strcmp(s.log, again.log) == 0);
	CHECK((!s.user && !again.user) || (s.user && again.user && strcmp(s.user, again.user) == 0));
	CHECK(s.stop_signal == again.stop_signal && s.stop_grace_ms == again.stop_grace_ms);
	free(text);
	shim_spec_free(&again);
	shim_spec_free(&s);
	return 0;
}
