/* ${VAR} interpolation as compose does it (minus what berth resolves at instance start), and dotenv files. */
#include "spec/spec-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* ---- variable sets ---- */

int spec__env_find(const struct spec__env *e, const char *k)
{
	for (int i = 0; i < e->n; i++)
		if (strcmp(e->keys[i], k) == 0)
			return i;
	return -1;
}

void spec__env_set(struct spec__env *e, const char *k, const char *v)
{
	int i = spec__env_find(e, k);

	if (i >= 0) {
		free(e->vals[i]);
		e->vals[i] = v ? xstrdup(v) : NULL;
		return;
	}
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 16;
		e->keys = xrealloc(e->keys, (size_t)e->cap * sizeof(*e->keys));
		e->vals = xrealloc(e->vals, (size_t)e->cap * sizeof(*e->vals));
	}
	e->keys[e->n] = xstrdup(k);
	e->vals[e->n] = v ? xstrdup(v) : NULL;
	e->n++;
}

void spec__env_free(struct spec__env *e)
{
	for (int i = 0; i < e->n; i++) {
		free(e->keys[i]);
		free(e->vals[i]);
	}
	free(e->keys);
	free(e->vals);
	memset(e, 0, sizeof(*e));
}

/* ---- interpolation ---- */

void spec__str_add(struct spec__str *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static bool name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* PORT and PORT_<digits>: the ports berth hands each instance (DESIGN.md 4). */
static bool is_runtime_name(const char *s, size_t n)
{
	if (n < 4 || memcmp(s, "PORT", 4) != 0)
		return false;
	if (n == 4)
		return true;
	if (n == 5 || s[4] != '_')
		return false;
	for (size_t i = 5; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

struct ip_run {
	const struct spec__interp *ip;
	char *why;         /* first error */
	int depth;
};

static int fail(struct ip_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct ip_run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->why)
		return -1;
	va_start(ap, fmt);
	r->why = xvasprintf(fmt, ap);
	va_end(ap);
	return -1;
}

static int invalid(struct ip_run *r)
{
	return fail(r, "invalid interpolation: '$' must start $NAME, ${NAME...} or $$ (a literal $)");
}

/* The end of the ${...} starting at <p> (just after "${"): the '}' that
 * closes it, counting nested ${...}. NULL when it is not closed. */
static const char *closing_brace(const char *p)
{
	int depth = 1;

	for (; *p; p++) {
		if (p[0] == '$' && p[1] == '$') {
			p++;
			continue;
		}
		if (p[0] == '$' && p[1] == '{') {
			depth++;
			p++;
			continue;
		}
		if (*p == '}' && --depth == 0)
			return p;
	}
	return NULL;
}

static int expand(struct ip_run *r, const char **pp, bool in_brace, struct spec__str *out, bool eval);

/* After "${" at *pp. */
static int braced(struct ip_run *r, const char **pp, struct spec__str *out, bool eval)
{
	const char *start = *pp - 2, *p = *pp, *name, *close;
	size_t nlen;
	const char *val = NULL;
	char op = 0;
	bool colon = false, use_word = false;
	struct spec__str word = {0};
	int rc = -1;

	close = closing_brace(p);
	if (!close)
		return fail(r, "invalid interpolation: a \"${\" is not closed");
	/* Catalog references and berth's own ports stay for the runner,
	 * whatever follows the name. */
	if (strncmp(p, "endpoints:", 10) == 0 || strncmp(p, "endpoint:", 9) == 0) {
		if (eval)
			spec__str_add(out, start, (size_t)(close + 1 - start));
		*pp = close + 1;
		return 0;
	}
	name = p;
	while (name_char(*p))
		p++;
	nlen = (size_t)(p - name);
	if (!nlen || !name_start(*name))
		return invalid(r);
	if (is_runtime_name(name, nlen)) {
		if (eval)
			spec__str_add(out, start, (size_t)(close + 1 - start));
		*pp = close + 1;
		return 0;
	}
	if (*p == ':') {
		colon = true;
		p++;
	}
	if (*p == '-' || *p == '?' || *p == '+')
		op = *p++;
	else if (*p != '}' || colon)
		return invalid(r);

	char *vname = xstrndup(name, nlen);
	if (eval)
		val = r->ip->lookup(r->ip->ctx, vname);
	if (eval) {
		bool unset = !val, empty = !val || !*val;
		switch (op) {
		case '-':
			use_word = colon ? empty : unset;
			break;
		case '?':
			use_word = colon ? empty : unset;
			break;
		case '+':
			use_word = colon ? !empty : !unset;
			break;
		default:
			break;
		}
	}
	/* The word is parsed always (a syntax error is one whatever the
	 * environment) but evaluated only when it is used, like a shell. */
	if (op) {
		if (expand(r, &p, true, &word, eval && use_word) < 0)
			goto out;
		if (*p != '}') {
			invalid(r);
			goto out;
		}
	}
	p++;
	if (eval) {
		if (op == '?' && use_word) {
			if (word.len)
				fail(r, "required variable %s is missing a value: %s", vname, word.p);
			else
				fail(r, "required variable %s is missing a value", vname);
			goto out;
		}
		if (op == '-' || op == '+') {
			if (use_word)
				spec__str_add(out, word.p ? word.p : "", word.len);
			else if (op == '-')
				spec__str_add(out, val, strlen(val));
		} else {
			if (!val && !op && r->ip->unset)
				r->ip->unset(r->ip->ctx, vname);
			if (val)
				spec__str_add(out, val, strlen(val));
		}
	}
	*pp = p;
	rc = 0;
out:
	free(vname);
	free(word.p);
	return rc;
}

/* Expands from *pp to the end of the string, or (in_brace) to the '}'
 * closing the current ${...}, left at *pp. Appends to <out> only when <eval>. */
static int expand(struct ip_run *r, const char **pp, bool in_brace, struct spec__str *out, bool eval)
{
	const char *p = *pp;

	if (++r->depth > 32)
		return fail(r, "interpolation nested deeper than 32 levels");
	while (*p && !(in_brace && *p == '}')) {
		const char *dollar = p;
		if (*p != '$') {
			const char *q = p;
			while (*q && *q != '$' && !(in_brace && *q == '}'))
				q++;
			if (eval)
				spec__str_add(out, p, (size_t)(q - p));
			p = q;
			continue;
		}
		p++;
		if (*p == '$') {
			if (eval)
				spec__str_add(out, "$", 1);
			p++;
		} else if (*p == '{') {
			p++;
			if (braced(r, &p, out, eval) < 0)
				return -1;
		} else if (name_start(*p)) {
			const char *name = p;
			while (name_char(*p))
				p++;
			if (!eval)
				continue;
			if (is_runtime_name(name, (size_t)(p - name))) {
				spec__str_add(out, dollar, (size_t)(p - dollar));
				continue;
			}
			char *vname = xstrndup(name, (size_t)(p - name));
			const char *val = r->ip->lookup(r->ip->ctx, vname);
			if (val)
				spec__str_add(out, val, strlen(val));
			else if (r->ip->unset)
				r->ip->unset(r->ip->ctx, vname);
			free(vname);
		} else {
			return invalid(r);
		}
	}
	r->depth--;
	*pp = p;
	return 0;
}

int spec__interpolate(const struct spec__interp *ip, const char *in, char **out, char **why)
{
	struct ip_run r = {ip, NULL, 0};
	struct spec__str b = {0};
	const char *p = in;

	*out = NULL;
	*why = NULL;
	if (expand(&r, &p, false, &b, true) < 0) {
		free(b.p);
		*why = r.why;
		return -1;
	}
	*out = b.p ? b.p : xstrdup("");
	return 0;
}

bool spec__has_dollar(const char *s)
{
	return strchr(s, '$') != NULL;
}

/* ---- dotenv ---- */

struct dotenv_look {
	const struct spec__interp *outer;
	const struct spec__env *self;
};

static const char *dotenv_lookup(void *ctx, const char *name)
{
	struct dotenv_look *d = ctx;
	const char *v = d->outer->lookup(d->outer->ctx, name);
	int i;

	if (v)
		return v;
	i = spec__env_find(d->self, name);
	return i >= 0 ? d->self->vals[i] : NULL;
}

static void dotenv_unset(void *ctx, const char *name)
{
	struct dotenv_look *d = ctx;

	if (d->outer->unset)
		d->outer->unset(d->outer->ctx, name);
}

static bool key_char(char c)
{
	return name_char(c) || c == '.' || c == '-';
}

int spec__dotenv_parse(const char *text, size_t len, const struct spec__interp *ip,
		       struct spec__env *out, int *linep, char **why)
{
	struct dotenv_look look = {ip, out};
	struct spec__interp inner = {dotenv_lookup, dotenv_unset, &look};
	const char *p = text, *end = text + len;
	int line = 1;

	*why = NULL;
	if (memchr(text, '\0', len)) {
		*linep = 1;
		*why = xasprintf("holds a NUL byte");
		return -1;
	}
	while (p < end) {
		const char *k, *ke;
		struct spec__str raw = {0};
		char *key, *val = NULL;
		int start_line = line;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && (*p == '\n' || *p == '\r' || *p == '#')) {
			while (p < end && *p != '\n')
				p++;
			if (p < end) {
				p++;
				line++;
			}
			continue;
		}
		if (p == end)
			break;
		if ((size_t)(end - p) > 7 && strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
			p += 7;
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
		}
		k = p;
		while (p < end && key_char(*p))
			p++;
		ke = p;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (k == ke || !name_start(*k) || p == end || *p != '=') {
			*linep = line;
			*why = xasprintf("expected KEY=VALUE");
			return -1;
		}
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && (*p == '\'' || *p == '"')) {
			char q = *p++;
			for (; p < end && *p != q; p++) {
				if (*p == '\n')
					line++;
				if (q == '"' && *p == '\\' && p + 1 < end) {
					static const char from[] = "nrt\"\\$", to[] = "\n\r\t\"\\$";
					const char *c = strchr(from, p[1]);
					if (c && p[1]) {
						p++;
						/* an escaped $ must survive interpolation */
						if (*c == '$')
							spec__str_add(&raw, "$$", 2);
						else
							spec__str_add(&raw, &to[c - from], 1);
						continue;
					}
				}
				if (q == '"' && *p == '$' && p + 1 < end && p[1] == '$') {
					spec__str_add(&raw, "$$", 2);
					p++;
					continue;
				}
				if (q == '\'' && *p == '$') {
					/* literal: escape for the shared interpolation below */
					spec__str_add(&raw, "$$", 2);
					continue;
				}
				spec__str_add(&raw, p, 1);
			}
			if (p == end) {
				free(raw.p);
				*linep = start_line;
				*why = xasprintf("a %c is not closed", q);
				return -1;
			}
			p++;
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p < end && *p == '#') {
				while (p < end && *p != '\n')
					p++;
			}
			if (p < end && *p == '\r')
				p++;
			if (p < end && *p != '\n') {
				free(raw.p);
				*linep = line;
				*why = xasprintf("unexpected text after the closing quote");
				return -1;
			}
		} else {
			const char *v = p, *ve;
			while (p < end && *p != '\n') {
				/* " #" starts a comment; "a#b" is a value */
				if (*p == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t'))
					break;
				p++;
			}
			ve = p;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
				ve--;
			spec__str_add(&raw, v, (size_t)(ve - v));
			while (p < end && *p != '\n')
				p++;
		}
		key = xstrndup(k, (size_t)(ke - k));
		if (spec__interpolate(&inner, raw.p ? raw.p : "", &val, why) < 0) {
			free(raw.p);
			free(key);
			*linep = start_line;
			return -1;
		}
		spec__env_set(out, key, val);
		free(key);
		free(val);
		free(raw.p);
		if (p < end) {
			p++;
			line++;
		}
	}
	return 0;
}
