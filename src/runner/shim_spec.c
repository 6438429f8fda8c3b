/* spec.json: what the agent asks the shim to run, parsed strictly because
 * a shim trusts nothing it did not write. Compiles on its own with
 * shim_json.c (the fuzz harness does). */
#include "runner/shim-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keys, for the duplicate check: bit i set once keys[i] was seen. */
enum spec_key {
	K_ARGV = 0, /* the first key. Please keep at zero. */
	K_ENV,
	K_CWD,
	K_USER,
	K_LOG,
	K_STOP_SIGNAL,
	K_STOP_GRACE_MS,
	K_COUNT,
};

static const char *const keys[K_COUNT] = {
	[K_ARGV] = "argv",
	[K_ENV] = "env",
	[K_CWD] = "cwd",
	[K_USER] = "user",
	[K_LOG] = "log",
	[K_STOP_SIGNAL] = "stop_signal",
	[K_STOP_GRACE_MS] = "stop_grace_ms",
};

void shim_spec_free(struct shim_spec *s)
{
	for (size_t i = 0; s->argv && i < s->argc; i++)
		free(s->argv[i]);
	for (size_t i = 0; s->env && i < s->envc; i++)
		free(s->env[i]);
	free(s->argv);
	free(s->env);
	free(s->cwd);
	free(s->user);
	free(s->log);
	memset(s, 0, sizeof(*s));
}

/* What makes an "env" entry valid: "K=V" with a non-empty K. */
static const char *env_problem(const char *e)
{
	const char *eq = strchr(e, '=');
	if (!eq)
		return "has no '='";
	if (eq == e)
		return "has an empty name";
	return NULL;
}

/* What makes a "user" valid: "USER" or "USER:GROUP", both non-empty,
 * without a second ':' or a control byte. Names resolve at start. */
static const char *user_problem(const char *u)
{
	const char *colon = strchr(u, ':');
	if (!*u || colon == u)
		return "the user part is empty";
	if (colon && (!colon[1] || strchr(colon + 1, ':')))
		return "expected USER or USER:GROUP";
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p < 0x20)
			return "has a control byte";
	return NULL;
}

/* Reads an array of strings for "argv" or "env" into *vec / *count
 * (NULL-terminated). */
static int string_array(struct shim__json *j, const char *name, char ***vec, size_t *count)
{
	bool first = true;
	size_t n = 0, cap = 0;
	char **v = NULL;
	char label[32];
	int r;

	if (shim__json_expect(j, '[') < 0)
		return -1;
	while ((r = shim__json_element(j, &first)) > 0) {
		if (n == SHIM_SPEC_MAX_ITEMS) {
			r = shim__json_fail(j, "%s: more than %d entries", name, SHIM_SPEC_MAX_ITEMS);
			break;
		}
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 8;
			v = shim__xrealloc(v, cap * sizeof(*v));
		}
		snprintf(label, sizeof(label), "%s[%zu]", name, n);
		if ((r = shim__json_string(j, label, SHIM_SPEC_MAX_STRING, &v[n], NULL)) < 0)
			break;
		v[++n] = NULL;
	}
	if (!v)
		v = shim__xmalloc(sizeof(*v));
	v[n] = NULL;
	/* Hand over what was read even on failure: the caller frees it. */
	*vec = v;
	*count = n;
	return r < 0 ? -1 : 0;
}

static int path_value(struct shim__json *j, const char *name, char **out)
{
	const char *at = j->p;

	if (shim__json_string(j, name, 4095, out, NULL) < 0)
		return -1;
	if ((*out)[0] != '/') {
		j->p = at;
		return shim__json_fail(j, "%s: expected an absolute path", name);
	}
	return 0;
}

static int parse_member(struct shim__json *j, enum spec_key k, struct shim_spec *s)
{
	long long v;
	const char *at;

	switch (k) {
	case K_ARGV:
		at = j->p;
		if (string_array(j, "argv", &s->argv, &s->argc) < 0)
			return -1;
		if (s->argc == 0 || !s->argv[0][0]) {
			j->p = at;
			return shim__json_fail(j, "argv: needs a non-empty program name");
		}
		return 0;
	case K_ENV:
		at = j->p;
		if (string_array(j, "env", &s->env, &s->envc) < 0)
			return -1;
		for (size_t i = 0; i < s->envc; i++) {
			const char *why = env_problem(s->env[i]);
			if (why) {
				j->p = at;
				return shim__json_fail(j, "env[%zu]: %s", i, why);
			}
		}
		return 0;
	case K_CWD:
		return path_value(j, "cwd", &s->cwd);
	case K_USER: {
		if (shim__json_null(j))
			return 0;
		at = j->p;
		if (shim__json_string(j, "user", 255, &s->user, NULL) < 0)
			return -1;
		const char *why = user_problem(s->user);
		if (why) {
			j->p = at;
			return shim__json_fail(j, "user: %s", why);
		}
		return 0;
	}
	case K_LOG:
		return path_value(j, "log", &s->log);
	case K_STOP_SIGNAL:
		if (shim__json_int(j, "stop_signal", 1, 64, &v) < 0)
			return -1;
		s->stop_signal = (int)v;
		return 0;
	case K_STOP_GRACE_MS:
		if (shim__json_int(j, "stop_grace_ms", 0, SHIM_MAX_STOP_GRACE_MS, &v) < 0)
			return -1;
		s->stop_grace_ms = (unsigned)v;
		return 0;
	case K_COUNT:
		break;
	}
	return shim__json_fail(j, "unreachable");
}

int shim_spec_parse(const char *buf, size_t len, struct shim_spec *out, char **err)
{
	struct shim__json j;
	unsigned seen = 0;
	bool first = true;
	char key[32];
	int r;

	memset(out, 0, sizeof(*out));
	out->stop_signal = SHIM_DEFAULT_STOP_SIGNAL;
	out->stop_grace_ms = SHIM_DEFAULT_STOP_GRACE_MS;
	shim__json_init(&j, SHIM_SPEC_FILE, buf, len);
	if (len > SHIM_SPEC_MAX_BYTES) {
		*err = shim__asprintf("%s: larger than %d bytes", SHIM_SPEC_FILE, SHIM_SPEC_MAX_BYTES);
		return -1;
	}
	if (shim__json_expect(&j, '{') < 0)
		goto fail;
	while ((r = shim__json_member(&j, &first, key, sizeof(key))) > 0) {
		enum spec_key k = 0;
		while (k < K_COUNT && strcmp(key, keys[k]) != 0)
			k++;
		if (k == K_COUNT) {
			shim__json_fail(&j, "unknown key \"%s\"", shim__printable(key));
			goto fail;
		}
		if (seen & 1u << k) {
			shim__json_fail(&j, "duplicate key \"%s\"", key);
			goto fail;
		}
		seen |= 1u << k;
		if (parse_member(&j, k, out) < 0)
			goto fail;
	}
	if (r < 0 || shim__json_end(&j) < 0)
		goto fail;
	if (!(seen & 1u << K_ARGV)) {
		shim__json_fail(&j, "missing \"argv\"");
		goto fail;
	}
	if (!(seen & 1u << K_LOG)) {
		shim__json_fail(&j, "missing \"log\"");
		goto fail;
	}
	if (!out->env) {
		out->env = shim__xmalloc(sizeof(*out->env));
		out->env[0] = NULL;
	}
	if (!out->cwd)
		out->cwd = shim__xstrdup("/");
	*err = NULL;
	return 0;
fail:
	*err = j.err;
	shim_spec_free(out);
	return -1;
}

/* ---- writing, for the agent ---- */

static const char *check_str(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		return "is too long";
	if (!shim__utf8_valid(s, n))
		return "is not UTF-8";
	return NULL;
}

int shim_spec_format(const struct shim_spec *s, char **out, size_t *outlen, char **err)
{
	struct shim__sb b = {0};
	const char *why;

	if (s->argc < 1 || s->argc > SHIM_SPEC_MAX_ITEMS || !s->argv[0][0]) {
		*err = shim__asprintf("argv: needs 1 to %d entries and a program name", SHIM_SPEC_MAX_ITEMS);
		return -1;
	}
	if (s->envc > SHIM_SPEC_MAX_ITEMS) {
		*err = shim__asprintf("env: more than %d entries", SHIM_SPEC_MAX_ITEMS);
		return -1;
	}
	if (!s->log || s->log[0] != '/' || (s->cwd && s->cwd[0] != '/')) {
		*err = shim__asprintf("log and cwd must be absolute paths");
		return -1;
	}
	if (s->stop_signal < 1 || s->stop_signal > 64 || s->stop_grace_ms > SHIM_MAX_STOP_GRACE_MS) {
		*err = shim__asprintf("stop_signal or stop_grace_ms out of range");
		return -1;
	}
	shim__sb_adds(&b, "{\n  \"argv\": [");
	for (size_t i = 0; i < s->argc; i++) {
		if ((why = check_str(s->argv[i], SHIM_SPEC_MAX_STRING))) {
			*err = shim__asprintf("argv[%zu] %s", i, why);
			goto fail;
		}
		if (i)
			shim__sb_adds(&b, ", ");
		shim__sb_add_jstr(&b, s->argv[i]);
	}
	shim__sb_adds(&b, "],\n  \"env\": [");
	for (size_t i = 0; i < s->envc; i++) {
		if ((why = check_str(s->env[i], SHIM_SPEC_MAX_STRING)) || (why = env_problem(s->env[i]))) {
			*err = shim__asprintf("env[%zu] %s", i, why);
			goto fail;
		}
		if (i)
			shim__sb_adds(&b, ", ");
		shim__sb_add_jstr(&b, s->env[i]);
	}
	shim__sb_adds(&b, "],\n");
	const char *paths[2][2] = {{"cwd", s->cwd}, {"log", s->log}};
	for (int i = 0; i < 2; i++) {
		if (!paths[i][1])
			continue;
		if ((why = check_str(paths[i][1], 4095))) {
			*err = shim__asprintf("%s %s", paths[i][0], why);
			goto fail;
		}
		shim__sb_addf(&b, "  \"%s\": ", paths[i][0]);
		shim__sb_add_jstr(&b, paths[i][1]);
		shim__sb_adds(&b, ",\n");
	}
	if (s->user) {
		if ((why = check_str(s->user, 255)) || (why = user_problem(s->user))) {
			*err = shim__asprintf("user %s", why);
			goto fail;
		}
		shim__sb_adds(&b, "  \"user\": ");
		shim__sb_add_jstr(&b, s->user);
		shim__sb_adds(&b, ",\n");
	}
	shim__sb_addf(&b, "  \"stop_signal\": %d,\n  \"stop_grace_ms\": %u\n}\n", s->stop_signal,
		      s->stop_grace_ms);
	if (b.len > SHIM_SPEC_MAX_BYTES) {
		*err = shim__asprintf("larger than %d bytes", SHIM_SPEC_MAX_BYTES);
		goto fail;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
fail:
	free(b.p);
	return -1;
}

int shim_spec_write(const char *dir, const struct shim_spec *s, char **err)
{
	char *text;
	size_t len;
	int rc = -1;

	if (shim_spec_format(s, &text, &len, err) < 0)
		return -1;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		*err = shim__asprintf("%s: %s", dir, strerror(errno));
		goto out;
	}
	/* 0600: the environment may hold secrets. */
	rc = shim__write_file_at(dirfd, SHIM_SPEC_FILE, text, len, 0600, err);
	close(dirfd);
out:
	free(text);
	return rc;
}
