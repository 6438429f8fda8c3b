/* The normalized stack as YAML, for `berth config`: spec_to_json()'s data in block style. */
#include "spec/spec-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

static void adds(struct spec__str *o, const char *s)
{
	spec__str_add(o, s, strlen(s));
}

static void indent(struct spec__str *o, int n)
{
	for (int i = 0; i < n; i++)
		spec__str_add(o, " ", 1);
}

/* Whether <s> reads back as the same string when written plain. YAML
 * readers differ (1.1 took yes/no, 0755, 1:30 as numbers or booleans), so
 * anything that could be taken for more than a string is quoted. */
static bool plain_ok(const char *s)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"};
	size_t n = strlen(s);

	if (!n || strchr("-?:,[]{}#&*!|>'\"%@` \t", s[0]) || (s[0] >= '0' && s[0] <= '9') || s[0] == '+' ||
	    s[0] == '.')
		return false;
	if (s[n - 1] == ' ' || s[n - 1] == ':' || strstr(s, ": ") || strstr(s, " #"))
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static void str(struct spec__str *o, const char *s)
{
	if (plain_ok(s)) {
		adds(o, s);
		return;
	}
	spec__str_add(o, "\"", 1);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			spec__str_add(o, esc, 2);
		} else if (c == '\n') {
			adds(o, "\\n");
		} else if (c == '\t') {
			adds(o, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			adds(o, esc);
		} else {
			spec__str_add(o, p, 1);
		}
	}
	spec__str_add(o, "\"", 1);
}

static void scalar(struct spec__str *o, const json_t *v)
{
	char buf[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		str(o, json_string_value(v));
		return;
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		adds(o, buf);
		return;
	case JSON_REAL: {
		double d = json_real_value(v);
		/* the shortest form that reads back as the same double */
		snprintf(buf, sizeof(buf), "%.15g", d);
		if (strtod(buf, NULL) != d)
			snprintf(buf, sizeof(buf), "%.17g", d);
		if (!strpbrk(buf, ".en"))
			strcat(buf, ".0");
		adds(o, buf);
		return;
	}
	case JSON_TRUE:
		adds(o, "true");
		return;
	case JSON_FALSE:
		adds(o, "false");
		return;
	default:
		adds(o, "null");
		return;
	}
}

static bool is_empty_coll(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v) == 0) || (json_is_array(v) && json_array_size(v) == 0);
}

static void node(struct spec__str *o, const json_t *v, int ind);

/* The value after "key:" or "- ": inline if scalar or empty, else on the
 * next lines at <ind>. */
static void value_after(struct spec__str *o, const json_t *v, int ind)
{
	if (is_empty_coll(v)) {
		adds(o, json_is_object(v) ? " {}\n" : " []\n");
	} else if (json_is_object(v) || json_is_array(v)) {
		adds(o, "\n");
		node(o, v, ind);
	} else {
		adds(o, " ");
		scalar(o, v);
		adds(o, "\n");
	}
}

static void node(struct spec__str *o, const json_t *v, int ind)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, x) {
			indent(o, ind);
			str(o, k);
			adds(o, ":");
			value_after(o, x, ind + 2);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			indent(o, ind);
			if (json_is_object(x) && json_object_size(x)) {
				/* "- key: v" then the other keys under the first */
				bool first = true;
				const char *k2;
				json_t *y;
				json_object_foreach(x, k2, y) {
					if (first)
						adds(o, "- ");
					else
						indent(o, ind + 2);
					first = false;
					str(o, k2);
					adds(o, ":");
					value_after(o, y, ind + 4);
				}
			} else if (json_is_array(x) && json_array_size(x)) {
				adds(o, "-\n");
				node(o, x, ind + 2);
			} else {
				adds(o, "-");
				value_after(o, x, ind + 2);
			}
		}
	} else {
		indent(o, ind);
		scalar(o, v);
		adds(o, "\n");
	}
}

char *spec_to_yaml(const struct spec_stack *s)
{
	json_t *j = spec_to_json(s);
	struct spec__str o = {0};

	node(&o, j, 0);
	json_decref(j);
	return o.p ? o.p : xstrdup("{}\n");
}
