/* The loader's node trees: copies of each file with ${VAR}s interpolated, normalized, then merged by the compose rules. */
#include "spec/spec-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* ---- nodes ---- */

static struct yaml_node *alloc_node(struct spec__loader *L, enum yaml_kind kind, int line, int col,
				    const char *file)
{
	struct spec__node *sn = XNEW(struct spec__node);

	sn->n.kind = kind;
	sn->n.line = line;
	sn->n.col = col;
	sn->n.weight = 1;
	sn->file = file;
	sn->next = L->nodes;
	L->nodes = sn;
	return &sn->n;
}

struct yaml_node *spec__node_new(struct spec__loader *L, enum yaml_kind kind, const struct yaml_node *pos)
{
	return alloc_node(L, kind, pos->line, pos->col, spec__file_of(pos));
}

struct yaml_node *spec__scalar_new(struct spec__loader *L, const struct yaml_node *pos, const char *text,
				   bool plain)
{
	struct yaml_node *n = spec__node_new(L, YAML_SCALAR, pos);

	n->text = xstrdup(text);
	n->len = strlen(text);
	n->plain = plain;
	return n;
}

void spec__nodes_free(struct spec__loader *L)
{
	struct spec__node *sn, *next;

	for (sn = L->nodes; sn; sn = next) {
		next = sn->next;
		free(sn->n.text);
		free(sn->n.items);
		free(sn->n.pairs);
		free(sn);
	}
	L->nodes = NULL;
}

static void seq_add(struct yaml_node *seq, struct yaml_node *item)
{
	/* Loader sequences grow one item at a time; they stay small. */
	seq->items = xrealloc(seq->items, (size_t)(seq->nitems + 1) * sizeof(*seq->items));
	seq->items[seq->nitems++] = item;
}

static void map_add(struct yaml_node *map, struct yaml_node *key, struct yaml_node *value)
{
	map->pairs = xrealloc(map->pairs, (size_t)(map->npairs + 1) * sizeof(*map->pairs));
	map->pairs[map->npairs++] = (struct yaml_pair){key, value};
}

static struct yaml_pair *map_find(struct yaml_node *map, const char *key)
{
	for (int i = 0; i < map->npairs; i++)
		if (strcmp(map->pairs[i].key->text, key) == 0)
			return &map->pairs[i];
	return NULL;
}

/* ---- copying with interpolation ---- */

static const char *copy_lookup(void *ctx, const char *name)
{
	return spec__lookup(ctx, name);
}

static void copy_unset(void *ctx, const char *name)
{
	struct spec__loader *L = ctx;

	/* Once per variable, as compose does: the value is the same everywhere. */
	for (int i = 0; i < L->nwarned; i++)
		if (strcmp(L->warned[i], name) == 0)
			return;
	L->warned = xrealloc(L->warned, (size_t)(L->nwarned + 1) * sizeof(*L->warned));
	L->warned[L->nwarned++] = xstrdup(name);
	spec__warn(L, L->copy_at, "variable \"%s\" is not set, using an empty string", name);
}

/* Copies <n> (a node of a core/yaml document: no file of its own);
 * aliases are expanded, each copy interpolated on its own. */
static struct yaml_node *copy(struct spec__loader *L, const struct yaml_node *n, bool is_key)
{
	struct yaml_node *c;

	if (++L->nnodes > SPEC_MAX_NODES) {
		spec__err(L, NULL, "this file expands to more than %u nodes (through aliases?)",
			  SPEC_MAX_NODES);
		return NULL;
	}
	c = alloc_node(L, n->kind, n->line, n->col, L->copy_file);
	switch (n->kind) {
	case YAML_SCALAR: {
		struct spec__interp ip = {copy_lookup, copy_unset, L};
		char *out, *why;
		c->plain = n->plain;
		/* Values only: compose never interpolates keys. */
		if (is_key || !spec__has_dollar(n->text)) {
			c->text = xstrdup(n->text);
			c->len = n->len;
			return c;
		}
		L->copy_at = c;
		if (spec__interpolate(&ip, n->text, &out, &why) < 0) {
			spec__err(L, c, "%s", why);
			free(why);
			return NULL;
		}
		c->text = out;
		c->len = strlen(out);
		/* A value built by interpolation is a string, never a null:
		 * "${UNSET}" is "", not a missing value. */
		c->plain = false;
		((struct spec__node *)c)->interpolated = true;
		return c;
	}
	case YAML_SEQ:
		c->items = XNEWV(struct yaml_node *, (size_t)(n->nitems ? n->nitems : 1));
		for (int i = 0; i < n->nitems; i++) {
			size_t mark = yaml_path_push_index(&L->y, i);
			c->items[i] = copy(L, n->items[i], false);
			yaml_path_pop(&L->y, mark);
			if (!c->items[i])
				return NULL;
			c->nitems++;
		}
		return c;
	case YAML_MAP:
		c->pairs = XNEWV(struct yaml_pair, (size_t)(n->npairs ? n->npairs : 1));
		for (int i = 0; i < n->npairs; i++) {
			struct yaml_pair *p = &c->pairs[i];
			size_t mark;
			if (!(p->key = copy(L, n->pairs[i].key, true)))
				return NULL;
			mark = yaml_path_push_key(&L->y, p->key->text);
			p->value = copy(L, n->pairs[i].value, false);
			yaml_path_pop(&L->y, mark);
			if (!p->value)
				return NULL;
			c->npairs++;
		}
		return c;
	}
	return NULL;
}

struct yaml_node *spec__copy_doc(struct spec__loader *L, const struct yaml_doc *d, const char *file)
{
	L->copy_file = spec__keep(L, file);
	L->y.file = L->copy_file;
	L->nnodes = 0;
	if (!d->root) {
		/* An empty file: a null, as in a file holding only "~". */
		struct yaml_node *n = alloc_node(L, YAML_SCALAR, 1, 1, L->copy_file);
		n->text = xstrdup("");
		n->plain = true;
		return n;
	}
	return copy(L, d->root, false);
}

/* ---- key paths for the rule tables ---- */

#define PATH_MAX_SEGS 8

struct segs {
	const char *s[PATH_MAX_SEGS];
	int n;
};

/* <pattern> ("services.*.ports") against the path; '*' is any one segment. */
static bool segs_match(const struct segs *p, const char *pattern)
{
	int i = 0;

	for (const char *q = pattern; *q; i++) {
		const char *dot = strchr(q, '.');
		size_t len = dot ? (size_t)(dot - q) : strlen(q);
		if (i >= p->n)
			return false;
		if (!(len == 1 && *q == '*') && (strlen(p->s[i]) != len || strncmp(p->s[i], q, len) != 0))
			return false;
		q += len + (dot != NULL);
	}
	return i == p->n;
}

/* ---- normalization: short forms that merge differently ---- */

/* "KEY=VALUE" lists into mappings; a bare KEY maps to null (environment:
 * take it from the shell) or to "" (labels). Later repeats win. */
static struct yaml_node *kv_list_to_map(struct spec__loader *L, struct yaml_node *seq, bool bare_null)
{
	struct yaml_node *map = spec__node_new(L, YAML_MAP, seq);

	for (int i = 0; i < seq->nitems; i++) {
		struct yaml_node *it = seq->items[i], *k, *v;
		const char *eq;
		struct yaml_pair *old;
		char *key;

		if (it->kind != YAML_SCALAR)
			continue; /* refused by SPEC_PASS_FILE already */
		eq = strchr(it->text, '=');
		key = eq ? xstrndup(it->text, (size_t)(eq - it->text)) : xstrdup(it->text);
		k = spec__scalar_new(L, it, key, true);
		if (eq)
			v = spec__scalar_new(L, it, eq + 1, false);
		else
			v = spec__scalar_new(L, it, "", bare_null);
		free(key);
		if ((old = map_find(map, k->text)))
			old->value = v;
		else
			map_add(map, k, v);
	}
	return map;
}

static struct yaml_node *norm_env(struct spec__loader *L, struct yaml_node *v)
{
	return v->kind == YAML_SEQ ? kv_list_to_map(L, v, true) : v;
}

static struct yaml_node *norm_labels(struct spec__loader *L, struct yaml_node *v)
{
	return v->kind == YAML_SEQ ? kv_list_to_map(L, v, false) : v;
}

/* build: DIR -> build: {context: DIR} */
static struct yaml_node *norm_build(struct spec__loader *L, struct yaml_node *v)
{
	struct yaml_node *map;

	if (v->kind != YAML_SCALAR || yaml_is_null(v))
		return v;
	map = spec__node_new(L, YAML_MAP, v);
	map_add(map, spec__scalar_new(L, v, "context", true), v);
	return map;
}

/* depends_on: [a, b] -> {a: {}, b: {}}: an empty entry, so that merging
 * the list form onto the long form keeps the condition given there. */
static struct yaml_node *norm_depends(struct spec__loader *L, struct yaml_node *v)
{
	struct yaml_node *map;

	if (v->kind != YAML_SEQ)
		return v;
	map = spec__node_new(L, YAML_MAP, v);
	for (int i = 0; i < v->nitems; i++) {
		struct yaml_node *it = v->items[i];
		if (it->kind != YAML_SCALAR || map_find(map, it->text))
			continue;
		map_add(map, it, spec__node_new(L, YAML_MAP, it));
	}
	return map;
}

/* env_file: a.env -> env_file: [a.env] */
static struct yaml_node *norm_one_list(struct spec__loader *L, struct yaml_node *v)
{
	struct yaml_node *seq;

	if (v->kind != YAML_SCALAR || yaml_is_null(v))
		return v;
	seq = spec__node_new(L, YAML_SEQ, v);
	seq_add(seq, v);
	return seq;
}

static const struct {
	const char *path;
	struct yaml_node *(*fn)(struct spec__loader *L, struct yaml_node *v);
} norm_rules[] = {
	{"services.*.environment", norm_env},
	{"services.*.build", norm_build},
	{"services.*.build.args", norm_env},
	{"services.*.labels", norm_labels},
	{"services.*.deploy.labels", norm_labels},
	{"services.*.depends_on", norm_depends},
	{"services.*.env_file", norm_one_list},
};

static void normalize(struct spec__loader *L, struct yaml_node *map, struct segs *path)
{
	if (map->kind != YAML_MAP || path->n == PATH_MAX_SEGS)
		return;
	for (int i = 0; i < map->npairs; i++) {
		struct yaml_pair *p = &map->pairs[i];
		path->s[path->n++] = p->key->text;
		for (size_t r = 0; r < sizeof(norm_rules) / sizeof(norm_rules[0]); r++)
			if (segs_match(path, norm_rules[r].path))
				p->value = norm_rules[r].fn(L, p->value);
		/* No rule reaches below four levels. */
		if (path->n < 4)
			normalize(L, p->value, path);
		path->n--;
	}
}

void spec__normalize(struct spec__loader *L, struct yaml_node *root)
{
	struct segs path = {{0}, 0};

	normalize(L, root, &path);
}

/* ---- merging ---- */

enum merge_kind {
	MERGE_DEFAULT = 0, /* mappings by key, recursively; lists appended; scalars replaced */
	MERGE_REPLACE,     /* the later file's value wins whole */
	MERGE_UNIQUE,      /* list items with the same key() replace each other, others append */
};

/* "[ip]:published:target/proto" of a port item, the compose unique key. */
static char *port_key(const struct yaml_node *it)
{
	struct spec_port *ports = NULL;
	char *why = NULL, *key, *text;
	int n = 0;

	if (it->kind == YAML_MAP) {
		/* the long form as a short one, so that both give the same key */
		const struct yaml_node *t = yaml_map_get(it, "target"), *pub = yaml_map_get(it, "published"),
				       *ip = yaml_map_get(it, "host_ip"), *proto = yaml_map_get(it, "protocol");
		const char *ts = t && t->kind == YAML_SCALAR ? t->text : "";
		const char *ps = pub && pub->kind == YAML_SCALAR ? pub->text : "";
		const char *is = ip && ip->kind == YAML_SCALAR ? ip->text : "";
		const char *prs = proto && proto->kind == YAML_SCALAR ? proto->text : "tcp";
		if (*is)
			text = xasprintf(strchr(is, ':') ? "[%s]:%s:%s/%s" : "%s:%s:%s/%s", is, ps, ts, prs);
		else if (*ps)
			text = xasprintf("%s:%s/%s", ps, ts, prs);
		else
			text = xasprintf("%s/%s", ts, prs);
	} else {
		text = xstrdup(it->kind == YAML_SCALAR ? it->text : "");
	}
	if (spec__port_parse(text, &ports, &n, &why) < 0 || n == 0) {
		free(why);
		return text; /* cannot happen after SPEC_PASS_FILE; still a key */
	}
	key = xasprintf("%s|%d-%d|%d+%d|%d", ports[0].host_ip ? ports[0].host_ip : "", ports[0].published,
			ports[0].published_end, ports[0].target, n, (int)ports[0].protocol);
	for (int i = 0; i < n; i++)
		spec__port_clear(&ports[i]);
	free(ports);
	free(text);
	return key;
}

static char *volume_key(const struct yaml_node *it)
{
	struct spec_volume v = {0};
	char *why = NULL, *key;

	if (it->kind == YAML_MAP) {
		const struct yaml_node *t = yaml_map_get(it, "target");
		return xstrdup(t && t->kind == YAML_SCALAR ? t->text : "");
	}
	if (it->kind != YAML_SCALAR || spec__volume_parse(it->text, &v, &why) < 0) {
		free(why);
		spec__volume_clear(&v);
		return xstrdup(it->kind == YAML_SCALAR ? it->text : "");
	}
	key = xstrdup(v.target);
	spec__volume_clear(&v);
	return key;
}

static char *env_file_key(const struct yaml_node *it)
{
	if (it->kind == YAML_MAP) {
		const struct yaml_node *p = yaml_map_get(it, "path");
		return xstrdup(p && p->kind == YAML_SCALAR ? p->text : "");
	}
	return xstrdup(it->kind == YAML_SCALAR ? it->text : "");
}

static char *scalar_key(const struct yaml_node *it)
{
	return xstrdup(it->kind == YAML_SCALAR ? it->text : "");
}

static const struct {
	const char *path;
	enum merge_kind kind;
	char *(*key)(const struct yaml_node *item);
} merge_rules[] = {
	{"services.*.command", MERGE_REPLACE, NULL},
	{"services.*.entrypoint", MERGE_REPLACE, NULL},
	{"services.*.healthcheck.test", MERGE_REPLACE, NULL},
	{"services.*.ports", MERGE_UNIQUE, port_key},
	{"services.*.volumes", MERGE_UNIQUE, volume_key},
	{"services.*.env_file", MERGE_UNIQUE, env_file_key},
	{"services.*.expose", MERGE_UNIQUE, scalar_key},
	{"services.*.profiles", MERGE_UNIQUE, scalar_key},
	{"services.*.deploy.placement.constraints", MERGE_UNIQUE, scalar_key},
};

static struct yaml_node *merge_unique(struct spec__loader *L, struct yaml_node *base, struct yaml_node *over,
				      char *(*keyfn)(const struct yaml_node *))
{
	struct yaml_node *seq = spec__node_new(L, YAML_SEQ, base);
	char **keys = XNEWV(char *, (size_t)(base->nitems + over->nitems + 1));
	int nkeys = 0;

	for (int src = 0; src < 2; src++) {
		struct yaml_node *from = src ? over : base;
		for (int i = 0; i < from->nitems; i++) {
			char *k = keyfn(from->items[i]);
			int j = 0;
			while (j < nkeys && strcmp(keys[j], k) != 0)
				j++;
			if (j < nkeys) {
				seq->items[j] = from->items[i]; /* same key: the later one, in place */
				free(k);
				continue;
			}
			seq_add(seq, from->items[i]);
			keys[nkeys++] = k;
		}
	}
	for (int i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	return seq;
}

static struct yaml_node *merge(struct spec__loader *L, struct yaml_node *base, struct yaml_node *over,
			       struct segs *path)
{
	enum merge_kind kind = MERGE_DEFAULT;
	char *(*keyfn)(const struct yaml_node *) = NULL;

	if (!base || yaml_is_null(base))
		return over ? over : base;
	/* An override that says nothing changes nothing (compose's !reset,
	 * which would clear the value, is not supported). */
	if (!over || yaml_is_null(over))
		return base;
	for (size_t r = 0; r < sizeof(merge_rules) / sizeof(merge_rules[0]); r++) {
		if (segs_match(path, merge_rules[r].path)) {
			kind = merge_rules[r].kind;
			keyfn = merge_rules[r].key;
		}
	}
	/* Extension keys are replaced whole at any depth, as compose does. */
	if (kind == MERGE_REPLACE || (path->n && strncmp(path->s[path->n - 1], "x-", 2) == 0))
		return over;
	if (base->kind == YAML_MAP && over->kind == YAML_MAP) {
		struct yaml_node *m = spec__node_new(L, YAML_MAP, base);
		for (int i = 0; i < base->npairs; i++)
			map_add(m, base->pairs[i].key, base->pairs[i].value);
		for (int i = 0; i < over->npairs; i++) {
			struct yaml_pair *p = map_find(m, over->pairs[i].key->text);
			if (!p) {
				map_add(m, over->pairs[i].key, over->pairs[i].value);
				continue;
			}
			if (path->n == PATH_MAX_SEGS) {
				p->value = over->pairs[i].value;
				continue;
			}
			path->s[path->n++] = over->pairs[i].key->text;
			p->value = merge(L, p->value, over->pairs[i].value, path);
			path->n--;
		}
		return m;
	}
	if (base->kind == YAML_SEQ && over->kind == YAML_SEQ) {
		struct yaml_node *s;
		if (kind == MERGE_UNIQUE)
			return merge_unique(L, base, over, keyfn);
		s = spec__node_new(L, YAML_SEQ, base);
		for (int i = 0; i < base->nitems; i++)
			seq_add(s, base->items[i]);
		for (int i = 0; i < over->nitems; i++)
			seq_add(s, over->items[i]);
		return s;
	}
	return over;
}

struct yaml_node *spec__merge(struct spec__loader *L, struct yaml_node *base, struct yaml_node *over)
{
	struct segs path = {{0}, 0};

	return merge(L, base, over, &path);
}

/* ---- nodes as JSON ---- */

static json_t *scalar_to_json(const struct yaml_node *n)
{
	static const char *const trues[] = {"true", "True", "TRUE"}, *const falses[] = {"false", "False", "FALSE"};
	const char *s = n->text, *p = s;
	bool interpolated = ((const struct spec__node *)n)->interpolated;

	if (!n->plain && !interpolated)
		return spec__json_str(s);
	if (n->plain && yaml_is_null(n))
		return json_null();
	for (int i = 0; i < 3; i++) {
		if (strcmp(s, trues[i]) == 0)
			return json_true();
		if (strcmp(s, falses[i]) == 0)
			return json_false();
	}
	/* YAML 1.2 core schema numbers: [-+]?[0-9]+ and the usual floats. */
	if (*p == '-' || *p == '+')
		p++;
	if (*p >= '0' && *p <= '9') {
		const char *q = p;
		while (*q >= '0' && *q <= '9')
			q++;
		if (!*q) {
			char *end;
			long long v;
			errno = 0;
			v = strtoll(s, &end, 10);
			if (!errno && !*end)
				return json_integer(v);
			return spec__json_str(s); /* too big for an integer: keep every digit */
		}
	}
	if ((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9')) {
		const char *q = p;
		bool digits = false;
		while (*q >= '0' && *q <= '9')
			q++, digits = true;
		if (*q == '.')
			for (q++; *q >= '0' && *q <= '9'; q++)
				digits = true;
		if (digits && (*q == 'e' || *q == 'E')) {
			q++;
			if (*q == '-' || *q == '+')
				q++;
			if (!(*q >= '0' && *q <= '9'))
				return spec__json_str(s);
			while (*q >= '0' && *q <= '9')
				q++;
		}
		if (digits && !*q) {
			double d = strtod(s, NULL);
			if (d - d == 0) /* finite: JSON has no inf or nan */
				return json_real(d);
		}
	}
	return spec__json_str(s);
}

json_t *spec__node_to_json(const struct yaml_node *n)
{
	json_t *j;

	switch (n->kind) {
	case YAML_SCALAR:
		return scalar_to_json(n);
	case YAML_SEQ:
		j = json_array();
		for (int i = 0; i < n->nitems; i++)
			json_array_append_new(j, spec__node_to_json(n->items[i]));
		return j;
	case YAML_MAP:
		j = json_object();
		for (int i = 0; i < n->npairs; i++) {
			json_t *k = spec__json_str(n->pairs[i].key->text);
			json_object_set_new(j, json_string_value(k), spec__node_to_json(n->pairs[i].value));
			json_decref(k);
		}
		return j;
	}
	return json_null();
}
