/* YAML config files: libfyaml events built into a positioned tree, and typed getters over it. */
#include "core/yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

/* ---- errors and paths ---- */

void yaml_ctx_init(struct yaml_ctx *y, const char *file, void *user)
{
	memset(y, 0, sizeof(*y));
	y->file = file;
	y->user = user;
}

static int verror_at(struct yaml_ctx *y, int line, int col, const char *fmt, va_list ap)
{
	char *msg;

	if (y->err)
		return -1;
	msg = xvasprintf(fmt, ap);
	if (y->pathlen)
		y->err = xasprintf("%s:%d:%d: %s: %s", y->file, line, col, y->path, msg);
	else
		y->err = xasprintf("%s:%d:%d: %s", y->file, line, col, msg);
	free(msg);
	return -1;
}

static int error_at(struct yaml_ctx *y, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int error_at(struct yaml_ctx *y, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror_at(y, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

int yaml_error(struct yaml_ctx *y, const struct yaml_node *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror_at(y, at ? at->line : 1, at ? at->col : 1, fmt, ap);
	va_end(ap);
	return -1;
}

static size_t path_append(struct yaml_ctx *y, const char *s)
{
	size_t mark = y->pathlen;
	size_t room = sizeof(y->path) - 1 - y->pathlen;
	size_t n = strlen(s);

	/* A path longer than the buffer only loses its tail; pop still
	 * restores the right prefix because marks are plain lengths. */
	if (n > room)
		n = room;
	memcpy(y->path + y->pathlen, s, n);
	y->pathlen += n;
	y->path[y->pathlen] = '\0';
	return mark;
}

size_t yaml_path_push_key(struct yaml_ctx *y, const char *key)
{
	size_t mark = y->pathlen;

	if (y->pathlen)
		path_append(y, ".");
	path_append(y, key);
	return mark;
}

size_t yaml_path_push_index(struct yaml_ctx *y, int i)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "[%d]", i);
	return path_append(y, buf);
}

void yaml_path_pop(struct yaml_ctx *y, size_t mark)
{
	BUG_ON(mark > y->pathlen);
	y->pathlen = mark;
	y->path[mark] = '\0';
}

/* ---- building the tree from parser events ---- */

/* A mapping or sequence being built. */
struct frame {
	struct yaml_node *n;
	struct yaml_node *key; /* map: a key still waiting for its value */
	int cap;               /* allocated items or pairs */
	char *anchor;          /* registered only once the collection is complete,
				* so an alias inside it cannot make a cycle */
	bool flow;             /* opened by a [ or { token */
};

struct anchor {
	char *name;
	struct yaml_node *n;
};

struct builder {
	struct yaml_ctx y;       /* path stays empty: positions say enough here */
	struct yaml_doc *d;
	const char *buf;         /* the input, for locating its end */
	size_t len;
	struct frame *stack;
	int depth, stack_cap;
	struct anchor *anchors;
	int nanchors, anchors_cap;
	int line, col;           /* last known position, 1-based */
	int ndocs;
	size_t merged;           /* pairs copied by merge keys so far, see map_finish() */
};

static struct yaml_node *node_new(struct builder *b, enum yaml_kind kind, int line, int col)
{
	struct yaml_node *n = XNEW(struct yaml_node);

	n->kind = kind;
	n->line = line;
	n->col = col;
	n->weight = 1;
	n->all = b->d->all;
	b->d->all = n;
	return n;
}

static uint32_t weight_add(uint32_t a, uint32_t b)
{
	return (a > YAML_MAX_NODES - b) ? YAML_MAX_NODES : a + b;
}

static int attach(struct builder *b, struct yaml_node *n)
{
	struct frame *f;

	if (b->depth == 0) {
		b->d->root = n;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (f->n->kind == YAML_SEQ) {
		if (f->n->nitems == f->cap) {
			f->cap = f->cap ? 2 * f->cap : 8;
			f->n->items = xrealloc(f->n->items, (size_t)f->cap * sizeof(*f->n->items));
		}
		f->n->items[f->n->nitems++] = n;
		return 0;
	}
	if (!f->key) {
		if (n->kind != YAML_SCALAR)
			return yaml_error(&b->y, n, "mapping keys must be plain strings, not %s",
					  n->kind == YAML_MAP ? "mappings" : "lists");
		f->key = n;
		return 0;
	}
	if (f->n->npairs == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 8;
		f->n->pairs = xrealloc(f->n->pairs, (size_t)f->cap * sizeof(*f->n->pairs));
	}
	f->n->pairs[f->n->npairs++] = (struct yaml_pair){f->key, n};
	f->key = NULL;
	return 0;
}

static void anchor_add(struct builder *b, const char *name, struct yaml_node *n)
{
	if (b->nanchors == b->anchors_cap) {
		b->anchors_cap = b->anchors_cap ? 2 * b->anchors_cap : 8;
		b->anchors = xrealloc(b->anchors, (size_t)b->anchors_cap * sizeof(*b->anchors));
	}
	b->anchors[b->nanchors++] = (struct anchor){xstrdup(name), n};
}

static struct yaml_node *anchor_find(struct builder *b, const char *name)
{
	/* From the end: YAML lets a later anchor of the same name shadow an
	 * earlier one for the aliases that follow it. */
	for (int i = b->nanchors - 1; i >= 0; i--)
		if (strcmp(b->anchors[i].name, name) == 0)
			return b->anchors[i].n;
	return NULL;
}

/* Copies a token's text; NULL (error recorded) if it holds a NUL byte,
 * which C strings could not carry faithfully. */
static char *token_text(struct builder *b, struct fy_token *t, size_t *lenp, const struct yaml_node *at)
{
	size_t len = 0;
	const char *s = t ? fy_token_get_text(t, &len) : NULL;

	if (!s)
		len = 0;
	if (len && memchr(s, '\0', len)) {
		yaml_error(&b->y, at, "strings may not contain a NUL byte");
		return NULL;
	}
	if (lenp)
		*lenp = len;
	return xstrndup(s ? s : "", len);
}

/* A scalar's text. libfyaml 0.7.12 decodes two or more adjacent '' escapes
 * of a single-quoted scalar wrongly ('x''''y' reads as x''' instead of
 * x''y) and leaks while doing it, so such scalars are decoded here from
 * the source bytes. Only the one-line form: a multi-line one would also
 * need YAML's line folding, and nobody writes that in a config. */
static char *scalar_text(struct builder *b, struct fy_token *t, size_t *lenp, const struct yaml_node *at)
{
	const struct fy_mark *s = fy_token_start_mark(t), *e = fy_token_end_mark(t);
	const char *raw;
	size_t rlen, o = 0;
	char *out;

	if (fy_token_scalar_style(t) != FYSS_SINGLE_QUOTED || !s || !e ||
	    e->input_pos < s->input_pos || e->input_pos > b->len)
		return token_text(b, t, lenp, at);
	raw = b->buf + s->input_pos;
	rlen = e->input_pos - s->input_pos;
	if (!memmem(raw, rlen, "''''", 4))
		return token_text(b, t, lenp, at);
	if (memchr(raw, '\n', rlen) || memchr(raw, '\r', rlen)) {
		yaml_error(&b->y, at, "a single-quoted string over several lines with '' escapes "
			   "side by side is not supported; use double quotes");
		return NULL;
	}
	out = xmalloc(rlen + 1);
	for (size_t i = 0; i < rlen; i++) {
		out[o++] = raw[i];
		if (raw[i] == '\'' && i + 1 < rlen && raw[i + 1] == '\'')
			i++;
	}
	out[o] = '\0';
	*lenp = o;
	return out;
}

static void event_pos(struct builder *b, struct fy_event *ev, int *line, int *col)
{
	const struct fy_mark *m = fy_event_start_mark(ev);

	/* Empty scalars (a key with no value) have no mark: use the last
	 * position seen, which is their key's. */
	if (m) {
		b->line = m->line + 1;
		b->col = m->column + 1;
	}
	*line = b->line;
	*col = b->col;
}

/* Sorting candidates of a mapping: by key, explicit pairs before merged
 * ones, then in file order. */
struct cand {
	struct yaml_pair p;
	int order;
	bool explicit;
};

static int cand_cmp_key(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = strcmp(x->p.key->text, y->p.key->text);

	if (c)
		return c;
	if (x->explicit != y->explicit)
		return x->explicit ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

static int cand_cmp_order(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return (x->order > y->order) - (x->order < y->order);
}

static bool is_merge_key(const struct yaml_node *k)
{
	return k->plain && strcmp(k->text, "<<") == 0;
}

/* Applies merge keys and refuses duplicate keys in the mapping just closed. */
static int map_finish(struct builder *b, struct yaml_node *n)
{
	struct cand *c;
	int nc = 0, cap = n->npairs, kept = 0, rc = -1;
	const struct yaml_node *merge_seen = NULL;

	for (int i = 0; i < n->npairs; i++) {
		const struct yaml_node *v = n->pairs[i].value;
		if (!is_merge_key(n->pairs[i].key))
			continue;
		if (merge_seen)
			return yaml_error(&b->y, n->pairs[i].key, "duplicate key \"<<\"");
		merge_seen = n->pairs[i].key;
		/* At the key: the value is often an alias, whose node sits
		 * where the anchor was defined, far from this use. */
		if (v->kind == YAML_SCALAR)
			return yaml_error(&b->y, n->pairs[i].key,
					  "merge key \"<<\" needs a mapping or a list of mappings");
		for (int j = 0; v->kind == YAML_SEQ && j < v->nitems; j++)
			if (v->items[j]->kind != YAML_MAP)
				return yaml_error(&b->y, n->pairs[i].key,
						  "merge key \"<<\" needs a mapping or a list of mappings, item %d is not",
						  j);
		/* The weight guard bounds what one merge can copy; this budget
		 * bounds all of them, since siblings each merging a big
		 * mapping are only weighed when their parent closes. */
		cap += (int)v->weight;
		b->merged += v->weight;
		if (b->merged > YAML_MAX_NODES)
			return yaml_error(&b->y, n->pairs[i].key,
					  "merge keys copy more than %u entries in this file", YAML_MAX_NODES);
	}
	if (n->npairs < 2 && !merge_seen)
		return 0;

	c = XNEWV(struct cand, (size_t)cap);
	for (int i = 0; i < n->npairs; i++) {
		const struct yaml_node *v = n->pairs[i].value;
		if (!is_merge_key(n->pairs[i].key)) {
			c[nc] = (struct cand){n->pairs[i], nc, true};
			nc++;
			continue;
		}
		int nsrc = v->kind == YAML_MAP ? 1 : v->nitems;
		for (int s = 0; s < nsrc; s++) {
			const struct yaml_node *src = v->kind == YAML_MAP ? v : v->items[s];
			for (int j = 0; j < src->npairs; j++) {
				c[nc] = (struct cand){src->pairs[j], nc, false};
				nc++;
			}
		}
	}
	BUG_ON(nc > cap);

	qsort(c, (size_t)nc, sizeof(*c), cand_cmp_key);
	for (int i = 0; i < nc;) {
		int j = i + 1;
		if (j < nc && c[j].explicit && strcmp(c[i].p.key->text, c[j].p.key->text) == 0) {
			char key[64];
			yaml_error(&b->y, c[j].p.key, "duplicate key %s",
				   yaml_describe(c[j].p.key, key, sizeof(key)));
			goto out;
		}
		while (j < nc && strcmp(c[i].p.key->text, c[j].p.key->text) == 0)
			j++;
		c[kept++] = c[i];
		i = j;
	}
	qsort(c, (size_t)kept, sizeof(*c), cand_cmp_order);

	n->pairs = xrealloc(n->pairs, (size_t)(kept ? kept : 1) * sizeof(*n->pairs));
	n->npairs = kept;
	for (int i = 0; i < kept; i++)
		n->pairs[i] = c[i].p;
	rc = 0;
out:
	free(c);
	return rc;
}

static int collection_start(struct builder *b, struct fy_event *ev, enum yaml_kind kind)
{
	struct fy_token *at = kind == YAML_MAP ? ev->mapping_start.anchor : ev->sequence_start.anchor;
	int line, col;
	struct yaml_node *n;
	struct frame *f;

	event_pos(b, ev, &line, &col);
	n = node_new(b, kind, line, col);
	if (b->depth == YAML_MAX_DEPTH)
		return yaml_error(&b->y, n, "nested deeper than %d levels", YAML_MAX_DEPTH);
	if (b->depth == b->stack_cap) {
		b->stack_cap = b->stack_cap ? 2 * b->stack_cap : 16;
		b->stack = xrealloc(b->stack, (size_t)b->stack_cap * sizeof(*b->stack));
	}
	f = &b->stack[b->depth++];
	memset(f, 0, sizeof(*f));
	f->n = n;
	/* Only a real bracket: the implicit one-pair mapping of [a: b] has none. */
	f->flow = (kind == YAML_MAP ? ev->mapping_start.mapping_start
				    : ev->sequence_start.sequence_start) != NULL &&
		  fy_event_get_node_style(ev) == FYNS_FLOW;
	if (at && !(f->anchor = token_text(b, at, NULL, n)))
		return -1;
	return 0;
}

static int collection_end(struct builder *b)
{
	struct frame *f = &b->stack[b->depth - 1];
	struct yaml_node *n = f->n;
	char *anchor = f->anchor;

	BUG_ON(f->key); /* the parser never ends a mapping between key and value */
	if (n->kind == YAML_MAP && map_finish(b, n) < 0)
		goto err;
	for (int i = 0; i < n->nitems; i++)
		n->weight = weight_add(n->weight, n->items[i]->weight);
	for (int i = 0; i < n->npairs; i++) {
		n->weight = weight_add(n->weight, n->pairs[i].key->weight);
		n->weight = weight_add(n->weight, n->pairs[i].value->weight);
	}
	if (n->weight >= YAML_MAX_NODES) {
		yaml_error(&b->y, n, "this expands to more than %u nodes (through aliases?)",
			   YAML_MAX_NODES);
		goto err;
	}
	b->depth--;
	if (anchor) {
		anchor_add(b, anchor, n);
		free(anchor);
	}
	return attach(b, n);
err:
	/* Left on the stack: builder_free() frees the anchor name. */
	return -1;
}

static int on_event(struct builder *b, struct fy_event *ev)
{
	struct yaml_node *n;
	int line, col;

	switch (ev->type) {
	case FYET_DOCUMENT_START:
		event_pos(b, ev, &line, &col);
		if (++b->ndocs > 1)
			return error_at(&b->y, line, col,
					"a config file holds one YAML document, this is a second one");
		return 0;
	case FYET_MAPPING_START:
		return collection_start(b, ev, YAML_MAP);
	case FYET_SEQUENCE_START:
		return collection_start(b, ev, YAML_SEQ);
	case FYET_MAPPING_END:
	case FYET_SEQUENCE_END:
		event_pos(b, ev, &line, &col);
		return collection_end(b);
	case FYET_SCALAR: {
		enum fy_scalar_style st = fy_token_scalar_style(ev->scalar.value);
		event_pos(b, ev, &line, &col);
		/* Quoted scalars are marked at their first character inside
		 * the quotes; point at the quote, where the user looks. */
		if ((st == FYSS_SINGLE_QUOTED || st == FYSS_DOUBLE_QUOTED) && col > 1)
			col--;
		n = node_new(b, YAML_SCALAR, line, col);
		n->plain = st == FYSS_PLAIN;
		if (!(n->text = scalar_text(b, ev->scalar.value, &n->len, n)))
			return -1;
		if (ev->scalar.anchor) {
			char *name = token_text(b, ev->scalar.anchor, NULL, n);
			if (!name)
				return -1;
			anchor_add(b, name, n);
			free(name);
		}
		return attach(b, n);
	}
	case FYET_ALIAS: {
		char *name;
		event_pos(b, ev, &line, &col);
		if (col > 1)
			col--; /* marked after the '*' */
		if (!(name = token_text(b, ev->alias.anchor, NULL, NULL)))
			return -1;
		n = anchor_find(b, name);
		if (!n)
			error_at(&b->y, line, col,
				 "alias *%s needs an anchor &%s complete before it (a node cannot contain itself)",
				 name, name);
		free(name);
		return n ? attach(b, n) : -1;
	}
	default:
		return 0;
	}
}

/* Turns libfyaml's first collected diagnostic into our error. */
static void syntax_error(struct builder *b, struct fy_diag *diag)
{
	void *it = NULL;
	struct fy_diag_error *e;
	int eline, ecol, line = 1, col = 1, end_line = 1, end_col = 1;

	while ((e = fy_diag_errors_iterate(diag, &it)))
		if (e->type >= FYET_ERROR && e->msg)
			break;
	if (!e) {
		error_at(&b->y, b->line, b->col, "invalid YAML");
		return;
	}
	/* libfyaml reports these 1-based already (unlike struct fy_mark). */
	eline = e->line > 0 ? e->line : b->line;
	ecol = e->column > 0 ? e->column : b->col;

	/* An unclosed [ or { is reported at the end of the input, which tells
	 * the user nothing: point at the bracket still open instead. Columns
	 * here count bytes, libfyaml's count characters; being at the end only
	 * needs the line to agree. */
	for (size_t i = 0; i < b->len; i++) {
		char ch = b->buf[i];
		if (ch == '\n') {
			line++;
			col = 1;
			continue;
		}
		col++;
		if (ch != ' ' && ch != '\t' && ch != '\r') {
			end_line = line;
			end_col = col;
		}
	}
	/* The outermost bracket: events lag the scanner, so an inner
	 * collection may look open here although its bracket was closed. */
	for (int i = 0; i < b->depth; i++) {
		const struct yaml_node *open = b->stack[i].n;
		if (!b->stack[i].flow)
			continue;
		if (eline > end_line || (eline == end_line && ecol >= end_col)) {
			error_at(&b->y, open->line, open->col, "%s", e->msg);
		} else {
			/* Noticed further on, often lines later: say which
			 * bracket the parser was still inside. */
			error_at(&b->y, eline, ecol, "%s (inside the '%c' opened at line %d, column %d)",
				 e->msg, open->kind == YAML_SEQ ? '[' : '{', open->line, open->col);
		}
		return;
	}
	error_at(&b->y, eline, ecol, "%s", e->msg);
}

/* Refuses what YAML itself refuses in a stream (YAML 1.2 c-printable):
 * invalid or overlong UTF-8, surrogates, C0 controls other than tab, LF
 * and CR, DEL, C1 controls but NEL, U+FFFE and U+FFFF. Done before
 * libfyaml sees the bytes because 0.7.12 loops forever or reads out of
 * bounds on some invalid UTF-8 (upstream libfyaml#101, #175, #318, #370,
 * fixed after that release). */
static int check_text(struct builder *b)
{
	const unsigned char *p = (const unsigned char *)b->buf, *end = p + b->len;
	int line = 1, col = 1;

	while (p < end) {
		unsigned c = *p;
		int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
		static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};

		if (n == 0 || end - p < n)
			goto bad;
		for (int i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7f ||
		    (cp >= 0x80 && cp < 0xa0 && cp != 0x85) || cp == 0xfffe || cp == 0xffff)
			return error_at(&b->y, line, col, "control character U+%04X is not allowed in YAML",
					(unsigned)cp);
		if (cp == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
		p += n;
		continue;
bad:
		return error_at(&b->y, line, col, "invalid UTF-8 (byte 0x%02X); the file must be UTF-8", *p);
	}
	return 0;
}

static void builder_free(struct builder *b)
{
	for (int i = 0; i < b->depth; i++)
		free(b->stack[i].anchor);
	free(b->stack);
	for (int i = 0; i < b->nanchors; i++)
		free(b->anchors[i].name);
	free(b->anchors);
}

int yaml_load_buffer(const char *name, const char *buf, size_t len, struct yaml_doc **out,
		     char **err)
{
	struct builder b = {0};
	struct fy_diag_cfg dcfg;
	struct fy_diag *diag;
	struct fy_parser *p;
	struct fy_parse_cfg pcfg = {0};
	struct fy_event *ev;
	int rc = 0;

	*out = NULL;
	*err = NULL;
	yaml_ctx_init(&b.y, name, NULL);
	b.d = XNEW(struct yaml_doc);
	b.d->file = xstrdup(name);
	b.buf = buf;
	b.len = len;
	b.line = b.col = 1;
	if (check_text(&b) < 0) {
		*err = b.y.err;
		yaml_doc_free(b.d);
		return -1;
	}

	/* Collect libfyaml's diagnostics instead of letting it print them;
	 * the first one becomes our "FILE:LINE:COL: message". */
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = NULL;
	dcfg.level = FYET_ERROR;
	dcfg.colorize = false;
	diag = fy_diag_create(&dcfg);
	if (!diag)
		abort();
	fy_diag_set_collect_errors(diag, true);
	pcfg.flags = FYPCF_QUIET | FYPCF_DISABLE_MMAP_OPT;
	pcfg.diag = diag;
	p = fy_parser_create(&pcfg);
	if (!p || fy_parser_set_string(p, len ? buf : "", len) != 0)
		abort();

	while (rc == 0 && (ev = fy_parser_parse(p))) {
		rc = on_event(&b, ev);
		fy_parser_event_free(p, ev);
	}
	if (rc == 0 && fy_parser_get_stream_error(p)) {
		syntax_error(&b, diag);
		rc = -1;
	}
	fy_parser_destroy(p);
	fy_diag_destroy(diag); /* fy_diag_unref() would leak the collected errors */

	BUG_ON(rc < 0 && !b.y.err);
	if (rc == 0) {
		BUG_ON(b.depth != 0);
		*out = b.d;
	} else {
		*err = b.y.err;
		yaml_doc_free(b.d);
	}
	builder_free(&b);
	return rc;
}

int yaml_load_file(const char *path, struct yaml_doc **out, char **err)
{
	int fd, rc;
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = xasprintf("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		*err = xasprintf("%s: is a directory, not a YAML file", path);
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r;
		if (len == cap) {
			cap = cap ? 2 * cap : 8192;
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*err = xasprintf("%s: cannot read: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > YAML_MAX_FILE) {
			*err = xasprintf("%s: larger than %u MiB, not a config file", path,
					 YAML_MAX_FILE >> 20);
			goto fail;
		}
	}
	close(fd);
	rc = yaml_load_buffer(path, buf, len, out, err);
	free(buf);
	return rc;
fail:
	close(fd);
	free(buf);
	return -1;
}

void yaml_doc_free(struct yaml_doc *d)
{
	struct yaml_node *n, *next;

	if (!d)
		return;
	for (n = d->all; n; n = next) {
		next = n->all;
		free(n->text);
		free(n->items);
		free(n->pairs);
		free(n);
	}
	free(d->file);
	free(d);
}

/* ---- queries ---- */

bool yaml_is_null(const struct yaml_node *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

	if (!n || n->kind != YAML_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->text, nulls[i]) == 0)
			return true;
	return false;
}

const char *yaml_describe(const struct yaml_node *n, char *buf, size_t cap)
{
	size_t o = 0, max = 40;

	if (!n || (n->kind == YAML_SCALAR && n->plain && n->len == 0)) {
		snprintf(buf, cap, "nothing");
		return buf;
	}
	if (n->kind != YAML_SCALAR) {
		snprintf(buf, cap, "%s", n->kind == YAML_MAP ? "a mapping" : "a list");
		return buf;
	}
	/* Quoted and escaped so that odd bytes stay visible and the message
	 * stays one line; long values are cut, they add nothing. */
	if (cap < 16) {
		snprintf(buf, cap, "?");
		return buf;
	}
	buf[o++] = '"';
	for (size_t i = 0; i < n->len && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)n->text[i];
		if (i == max) {
			o += (size_t)snprintf(buf + o, cap - o, "...");
			break;
		}
		if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, cap - o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	snprintf(buf + o, cap - o, "\"");
	return buf;
}

const struct yaml_pair *yaml_map_find(const struct yaml_node *map, const char *key)
{
	if (!map || map->kind != YAML_MAP)
		return NULL;
	for (int i = 0; i < map->npairs; i++)
		if (strcmp(map->pairs[i].key->text, key) == 0)
			return &map->pairs[i];
	return NULL;
}

const struct yaml_node *yaml_map_get(const struct yaml_node *map, const char *key)
{
	const struct yaml_pair *p = yaml_map_find(map, key);

	return p ? p->value : NULL;
}

int yaml_expect_map(struct yaml_ctx *y, const struct yaml_node *n, const char *what)
{
	char got[64];

	if (n->kind == YAML_MAP || yaml_is_null(n))
		return 0;
	return yaml_error(y, n, "expected %s, got %s", what ? what : "a mapping",
			  yaml_describe(n, got, sizeof(got)));
}

int yaml_list_count(const struct yaml_node *n)
{
	if (n->kind == YAML_SEQ)
		return n->nitems;
	if (n->kind == YAML_MAP)
		return -1;
	return yaml_is_null(n) ? 0 : 1;
}

const struct yaml_node *yaml_list_item(const struct yaml_node *n, int i)
{
	if (n->kind == YAML_SEQ)
		return (i >= 0 && i < n->nitems) ? n->items[i] : NULL;
	return (i == 0 && n->kind == YAML_SCALAR && !yaml_is_null(n)) ? n : NULL;
}

int yaml_expect_list(struct yaml_ctx *y, const struct yaml_node *n, bool scalar_ok)
{
	char got[64];

	if (n->kind == YAML_SEQ || yaml_is_null(n) || (scalar_ok && n->kind == YAML_SCALAR))
		return 0;
	return yaml_error(y, n, "expected a list%s, got %s", scalar_ok ? " or a single value" : "",
			  yaml_describe(n, got, sizeof(got)));
}

/* ---- typed values ---- */

/* Strict decimal: optional '-', digits, nothing else (no "0x", "1e3", " 5"). */
static int int_from_text(const char *s, long long *out)
{
	const char *p = s + (*s == '-');
	char *end;
	long long v;

	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int bool_from_text(const char *s, bool *out)
{
	static const char *const t[] = {"true", "yes", "on"};
	static const char *const f[] = {"false", "no", "off"};

	for (int i = 0; i < 3; i++) {
		if (strcasecmp(s, t[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, f[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int enum_from_text(const struct yaml_enum *names, const char *s, int *out)
{
	for (; names->name; names++) {
		if (strcmp(names->name, s) == 0) {
			*out = names->value;
			return 0;
		}
	}
	return -1;
}

void yaml_format_duration(uint64_t ms, char *dst, size_t cap)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms && ms % units[i].ms == 0) {
			snprintf(dst, cap, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	}
	snprintf(dst, cap, "%llums", (unsigned long long)ms);
}

/* A non-null scalar is expected; <what> names it ("an integer 0..256"). */
static int expect_scalar(struct yaml_ctx *y, const struct yaml_node *n, const char *what)
{
	char got[64];

	if (n->kind == YAML_SCALAR && !yaml_is_null(n))
		return 0;
	return yaml_error(y, n, "expected %s, got %s", what, yaml_describe(n, got, sizeof(got)));
}

int yaml_get_str(struct yaml_ctx *y, const struct yaml_node *n, char **out)
{
	if (expect_scalar(y, n, "a string") < 0)
		return -1;
	if (n->len == 0)
		return yaml_error(y, n, "expected a non-empty string");
	free(*out);
	*out = xstrdup(n->text);
	return 0;
}

int yaml_get_int(struct yaml_ctx *y, const struct yaml_node *n, long long min, long long max,
		 long long *out)
{
	char what[80], got[64];
	long long v;

	snprintf(what, sizeof(what), "an integer %lld..%lld", min, max);
	if (expect_scalar(y, n, what) < 0)
		return -1;
	if (int_from_text(n->text, &v) < 0 || v < min || v > max)
		return yaml_error(y, n, "expected %s, got %s", what, yaml_describe(n, got, sizeof(got)));
	*out = v;
	return 0;
}

int yaml_get_bool(struct yaml_ctx *y, const struct yaml_node *n, bool *out)
{
	static const char what[] = "true or false (or yes/no, on/off)";
	char got[64];

	if (expect_scalar(y, n, what) < 0)
		return -1;
	if (bool_from_text(n->text, out) < 0)
		return yaml_error(y, n, "expected %s, got %s", what, yaml_describe(n, got, sizeof(got)));
	return 0;
}

int yaml_get_duration(struct yaml_ctx *y, const struct yaml_node *n, uint64_t min,
		      uint64_t max, uint64_t *out)
{
	char what[96], lo[24], hi[24], got[64];
	uint64_t v;

	yaml_format_duration(min, lo, sizeof(lo));
	yaml_format_duration(max, hi, sizeof(hi));
	snprintf(what, sizeof(what), "a duration %s..%s like 250ms, 2s, 5m, 1h", lo, hi);
	if (expect_scalar(y, n, what) < 0)
		return -1;
	if (duration_parse(n->text, &v) < 0 || v < min || v > max)
		return yaml_error(y, n, "expected %s, got %s", what, yaml_describe(n, got, sizeof(got)));
	*out = v;
	return 0;
}

static void enum_list(const struct yaml_enum *names, char *buf, size_t cap)
{
	size_t o = 0;

	buf[0] = '\0';
	for (; names->name && o < cap; names++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", names->name);
}

int yaml_get_enum(struct yaml_ctx *y, const struct yaml_node *n, const struct yaml_enum *names,
		  int *out)
{
	char what[256], got[64];

	memcpy(what, "one of ", 7);
	enum_list(names, what + 7, sizeof(what) - 7);
	if (expect_scalar(y, n, what) < 0)
		return -1;
	if (enum_from_text(names, n->text, out) < 0)
		return yaml_error(y, n, "expected %s, got %s", what, yaml_describe(n, got, sizeof(got)));
	return 0;
}

int yaml_get_strlist(struct yaml_ctx *y, const struct yaml_node *n, char ***out, int *count)
{
	int cnt = yaml_list_count(n);

	if (yaml_expect_list(y, n, true) < 0)
		return -1;
	if (cnt == 0)
		return yaml_error(y, n, "expected at least one string");
	for (int i = 0; i < *count; i++)
		free((*out)[i]);
	free(*out);
	/* Count set before filling: on error the caller frees a partly
	 * filled, NULL-padded array with its usual code. */
	*out = XNEWV(char *, (size_t)cnt);
	*count = cnt;
	for (int i = 0; i < cnt; i++) {
		size_t mark = n->kind == YAML_SEQ ? yaml_path_push_index(y, i) : y->pathlen;
		int rc = yaml_get_str(y, yaml_list_item(n, i), &(*out)[i]);
		yaml_path_pop(y, mark);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- tables ---- */

/* Optimal string alignment distance (Levenshtein plus swaps), for "did
 * you mean": typos are mostly one missing, extra or swapped letter. */
static int edit_distance(const char *a, const char *b)
{
	enum { MAX = 32 };
	int d[MAX + 1][MAX + 1];
	int la = (int)strlen(a), lb = (int)strlen(b);

	if (la > MAX || lb > MAX)
		return MAX;
	for (int i = 0; i <= la; i++)
		d[i][0] = i;
	for (int j = 0; j <= lb; j++)
		d[0][j] = j;
	for (int i = 1; i <= la; i++) {
		for (int j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

static int unknown_key(struct yaml_ctx *y, const struct yaml_node *key,
		       const struct yaml_field *fields)
{
	char valid[512], got[64];
	const char *best = NULL;
	int best_d = 3;
	size_t o = 0;

	valid[0] = '\0';
	for (const struct yaml_field *f = fields; f->key; f++) {
		int d = edit_distance(key->text, f->key);
		/* Close enough to be a typo, not just another short word. */
		if (d < best_d && d * 3 <= (int)strlen(f->key)) {
			best = f->key;
			best_d = d;
		}
		if (o < sizeof(valid))
			o += (size_t)snprintf(valid + o, sizeof(valid) - o, "%s%s", o ? ", " : "", f->key);
	}
	yaml_describe(key, got, sizeof(got));
	if (best)
		return yaml_error(y, key, "unknown key %s, did you mean \"%s\"? (valid keys: %s)", got,
				  best, valid);
	return yaml_error(y, key, "unknown key %s (valid keys: %s)", got, valid);
}

void yaml_fields_defaults(const struct yaml_field *fields, void *obj)
{
	for (const struct yaml_field *f = fields; f->key; f++) {
		void *field = (char *)obj + f->offset;
		long long i;
		uint64_t ms;

		if (f->type == YF_MAP) {
			yaml_fields_defaults(f->sub, field);
			continue;
		}
		if (!f->def)
			continue;
		/* A default that does not parse is a bug in the table. */
		switch (f->type) {
		case YF_INT:
			BUG_ON(int_from_text(f->def, &i) < 0 || i < f->min || i > f->max);
			*(int *)field = (int)i;
			break;
		case YF_BOOL:
			BUG_ON(bool_from_text(f->def, (bool *)field) < 0);
			break;
		case YF_DURATION:
			BUG_ON(duration_parse(f->def, &ms) < 0);
			*(uint64_t *)field = ms;
			break;
		case YF_ENUM:
			BUG_ON(enum_from_text(f->names, f->def, (int *)field) < 0);
			break;
		default:
			break; /* documentation only */
		}
	}
}

static bool key_matches(const char *pattern, const char *key)
{
	size_t n = strlen(pattern);

	if (n && pattern[n - 1] == '*')
		return strncmp(pattern, key, n - 1) == 0;
	return strcmp(pattern, key) == 0;
}

static int apply_row(struct yaml_ctx *y, const struct yaml_field *f, const struct yaml_node *v,
		     void *obj)
{
	void *field = (char *)obj + f->offset;
	long long i;

	switch (f->type) {
	case YF_STR:
		return yaml_get_str(y, v, (char **)field);
	case YF_INT:
		if (yaml_get_int(y, v, f->min, f->max, &i) < 0)
			return -1;
		*(int *)field = (int)i;
		return 0;
	case YF_BOOL:
		return yaml_get_bool(y, v, (bool *)field);
	case YF_DURATION:
		return yaml_get_duration(y, v, (uint64_t)f->min, (uint64_t)f->max, (uint64_t *)field);
	case YF_ENUM:
		return yaml_get_enum(y, v, f->names, (int *)field);
	case YF_STRLIST:
		return yaml_get_strlist(y, v, (char ***)field, (int *)((char *)obj + f->offset2));
	case YF_MAP:
		return yaml_map_apply(y, v, f->sub, field, NULL);
	case YF_FUNC:
		return f->fn(y, v, field);
	case YF_IGNORE:
		return 0;
	}
	BUG_ON(1);
	return -1;
}

int yaml_map_apply(struct yaml_ctx *y, const struct yaml_node *map,
		   const struct yaml_field *fields, void *obj, uint64_t *seen)
{
	uint64_t got = 0;
	int nf = 0;

	while (fields[nf].key)
		nf++;
	BUG_ON(nf > 64);
	if (yaml_expect_map(y, map, NULL) < 0)
		return -1;
	yaml_fields_defaults(fields, obj);
	for (int i = 0; i < map->npairs; i++) {
		const struct yaml_node *k = map->pairs[i].key;
		int row = 0, rc;
		size_t mark;

		while (row < nf && !key_matches(fields[row].key, k->text))
			row++;
		if (row == nf)
			return unknown_key(y, k, fields);
		got |= UINT64_C(1) << row;
		mark = yaml_path_push_key(y, k->text);
		rc = apply_row(y, &fields[row], map->pairs[i].value, obj);
		yaml_path_pop(y, mark);
		if (rc < 0)
			return -1;
	}
	for (int row = 0; row < nf; row++)
		if (fields[row].required && !(got & (UINT64_C(1) << row)))
			return yaml_error(y, map, "missing required key \"%s\"", fields[row].key);
	if (seen)
		*seen = got;
	return 0;
}

const struct yaml_node *yaml_walk_path(struct yaml_ctx *y, const struct yaml_node *n, const char *path, bool at_key)
{
	const char *p = path;

	while (*p) {
		if (*p == '.')
			p++;
		if (*p == '[') {
			int i = atoi(p + 1);
			p += strcspn(p, "]");
			p += *p == ']';
			if (n->kind != YAML_SEQ || i < 0 || i >= n->nitems)
				break;
			yaml_path_push_index(y, i);
			n = n->items[i];
			continue;
		}
		size_t len = strcspn(p, ".[");
		char *k = xstrndup(p, len);
		const struct yaml_pair *pk = n->kind == YAML_MAP ? yaml_map_find(n, k) : NULL;
		p += len;
		if (pk)
			yaml_path_push_key(y, k);
		free(k);
		if (!pk)
			break;
		n = at_key && !*p ? pk->key : pk->value;
	}
	return n;
}
