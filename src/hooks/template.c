/* The template language (template.h, docs/templates.md): a one-pass
 * compiler from text to a flat list of nodes, and the renderer that walks
 * that list over the catalog. */
#include "hooks/template.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "core/buf.h"
#include "core/mem.h"

/* ---- the compiled form ---- */

enum node_kind {
	N_TEXT = 0, /* literal bytes of the template */
	N_VAR,      /* {{name}}, {{env "X"}}, {{"literal"}} */
	N_SECTION,  /* {{#...}} body {{/...}}: the body once per item, or once if truthy */
	N_INVERTED, /* {{^...}} body {{/...}}: the body once if empty or falsy */
};

enum sect_kind {
	S_VALUE = 0, /* a value's truthiness: {{#@first}}, {{#env "X"}} */
	S_ENDPOINTS, /* {{#endpoints "svc" options}} */
	S_SERVICES,  /* {{#services options}} */
};

/* What the items of a section define, for name lookup. */
enum scope {
	SC_ROOT = 0, /* the template itself: the hook's stack and service */
	SC_EP,       /* an item of {{#endpoints}} */
	SC_SVC,      /* an item of {{#services}} */
};

#define ROOT (1u << SC_ROOT)
#define EP (1u << SC_EP)
#define SVC (1u << SC_SVC)

enum field {
	F_LITERAL = 0, /* a quoted string, ref.str */
	F_ENV,         /* env "NAME": ref.str is NAME */
	F_STACK,
	F_SERVICE,
	F_NAME,
	F_ADDR,
	F_PORT,
	F_HOSTPORT,
	F_INDEX,
	F_NODE,
	F_INSTANCE,
	F_TAGS,
	F_HEALTHY,
	F_HEALTH,
	F_ENDPOINTS,
	F_AT_INDEX,
	F_AT_FIRST,
	F_AT_LAST,
};

struct field_def {
	const char *name;
	enum field f;
	unsigned scopes;   /* bits of enum scope where the name is defined */
};

/* Every name a template can use; docs/templates.md lists the same. */
static const struct field_def field_defs[] = {
	{"stack", F_STACK, ROOT | EP | SVC},
	{"service", F_SERVICE, ROOT | EP | SVC},
	{"name", F_NAME, SVC},
	{"addr", F_ADDR, EP},
	{"port", F_PORT, EP},
	{"hostport", F_HOSTPORT, EP},
	{"index", F_INDEX, EP},
	{"node", F_NODE, EP},
	{"instance", F_INSTANCE, EP},
	{"tags", F_TAGS, EP},
	{"healthy", F_HEALTHY, EP | SVC},
	{"health", F_HEALTH, EP},
	{"endpoints", F_ENDPOINTS, SVC},
	{"@index", F_AT_INDEX, EP | SVC},
	{"@first", F_AT_FIRST, EP | SVC},
	{"@last", F_AT_LAST, EP | SVC},
};

#define NFIELDS (int)(sizeof(field_defs) / sizeof(field_defs[0]))

/* A value: a field of the item at scope <level>, an env variable or a literal. */
struct ref {
	enum field f;
	int level;                 /* index into the scope stack; 0 is the root */
	char *str;                 /* F_LITERAL: the text; F_ENV: the variable's name */
};

struct node {
	enum node_kind kind;
	enum sect_kind sk;         /* N_SECTION, N_INVERTED */
	int line, col;             /* 1-based position of the tag (or of the text) */
	int end;                   /* sections: index of the first node after the body */
	const char *text;          /* N_TEXT: into template.src */
	size_t len;
	struct ref ref;            /* N_VAR, S_VALUE */
	char *label;               /* sections: the name the closing tag repeats */
	char *svc;                 /* S_ENDPOINTS: the service; NULL: the enclosing {{#services}} item's */
	int svc_level;             /* S_ENDPOINTS without a service: that item's scope level */
	int svc_node;              /* ... and the {{#services}} node, or -1 */
	char *stack;               /* stack=; NULL: see docs (the hook's stack, or the item's) */
	char *tag;                 /* tag=; NULL: any */
	bool all;                  /* all: unhealthy endpoints too */
	char *port_name;           /* port="name"; NULL */
	int port_target;           /* port=N (a target port); 0 */
	int level;                 /* N_SECTION over a list: the scope level of its items */
};

struct template {
	char *name;                /* for messages */
	char *src;                 /* a copy of the text, which N_TEXT nodes point into */
	size_t len;
	struct node *n;
	int nn, cap;
};

const char *template_name(const struct template *t)
{
	return t->name;
}

void template_free(struct template *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nn; i++) {
		struct node *n = &t->n[i];
		free(n->ref.str);
		free(n->label);
		free(n->svc);
		free(n->stack);
		free(n->tag);
		free(n->port_name);
	}
	free(t->n);
	free(t->src);
	free(t->name);
	free(t);
}

/* ---- the parser ---- */

struct open_sect {
	int node;                  /* its node */
	bool scoped;               /* it pushed a scope level */
};

struct parser {
	struct template *t;
	const char *s;             /* t->src */
	size_t len;
	int line;                  /* line of the byte being scanned */
	size_t line_start;         /* offset of that line's first byte */
	bool tag_on_line;          /* a tag is already on this line: the next one is not standalone */
	int text_line, text_col;   /* where the pending text starts */
	struct open_sect open[TEMPLATE_MAX_DEPTH];
	int nopen;
	enum scope scope[TEMPLATE_MAX_DEPTH + 1]; /* scope[0] is SC_ROOT */
	int scope_node[TEMPLATE_MAX_DEPTH + 1];   /* the section node of each level (-1 for the root) */
	int nscope;
	char *err;
};

/* Messages are one line: control bytes (from a file name) become '?'. */
static char *one_line(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

static int perr_at(struct parser *P, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int perr_at(struct parser *P, int line, int col, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (P->err)
		return -1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	P->err = one_line(xasprintf("%s:%d:%d: %s", P->t->name, line, col, msg));
	free(msg);
	return -1;
}

/* Column of offset <off>, which is on the current line. */
static int col_of(const struct parser *P, size_t off)
{
	return (int)(off - P->line_start) + 1;
}

static struct node *node_add(struct parser *P, enum node_kind kind, int line, int col)
{
	struct template *t = P->t;

	if (t->nn == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->n = xrealloc(t->n, (size_t)t->cap * sizeof(*t->n));
	}
	struct node *n = &t->n[t->nn++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = line;
	n->col = col;
	n->svc_node = -1;
	return n;
}

/* ---- the lexer of one tag's content ---- */

enum tk {
	TK_END = 0, /* the tag's }} */
	TK_WORD,    /* a name or a bare value: [A-Za-z0-9_@][A-Za-z0-9_.@-]* */
	TK_STRING,  /* "...", with \" \\ \n \t \r */
	TK_NUMBER,  /* digits only */
	TK_EQ,      /* = */
};

struct tok {
	enum tk k;
	size_t off;                /* offset of its first byte */
	size_t len;                /* bytes as written */
	char *str;                 /* heap: the word, the decoded string or the digits */
	long num;                  /* TK_NUMBER, capped at 99999999 */
};

struct lexer {
	struct parser *P;
	size_t pos, end;           /* the rest of the tag's content */
};

static bool word_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '@';
}

static bool word_char(char c)
{
	return word_start(c) || c == '.' || c == '-';
}

static void tok_clear(struct tok *t)
{
	free(t->str);
	memset(t, 0, sizeof(*t));
}

/* The next token into <t> (cleared first). Returns 0, or -1 with P->err. */
static int lex(struct lexer *L, struct tok *t)
{
	struct parser *P = L->P;
	const char *s = P->s;

	tok_clear(t);
	while (L->pos < L->end && (s[L->pos] == ' ' || s[L->pos] == '\t' || s[L->pos] == '\r'))
		L->pos++;
	t->off = L->pos;
	if (L->pos >= L->end) {
		t->k = TK_END;
		return 0;
	}
	char c = s[L->pos];
	if (c == '=') {
		t->k = TK_EQ;
		t->len = 1;
		L->pos++;
		return 0;
	}
	if (c == '"') {
		struct buf b = {0};
		size_t p = L->pos + 1;
		for (;;) {
			/* The tag's end was found outside strings, so the closing
			 * quote is before L->end. */
			if (p >= L->end) {
				buf_free(&b);
				return perr_at(P, P->line, col_of(P, L->pos), "unterminated string: expected a closing \"");
			}
			char d = s[p];
			if (d == '"')
				break;
			if (d == '\\') {
				char e = p + 1 < L->end ? s[p + 1] : '\0';
				const char *rep = e == '"' ? "\"" : e == '\\' ? "\\" : e == 'n' ? "\n" : e == 't' ? "\t"
						  : e == 'r' ? "\r" : NULL;
				if (!rep) {
					buf_free(&b);
					return perr_at(P, P->line, col_of(P, p),
						       "unknown escape in a string: expected \\\", \\\\, \\n, \\t or \\r");
				}
				buf_append(&b, rep, 1);
				p += 2;
				continue;
			}
			buf_append(&b, &d, 1);
			p++;
		}
		t->k = TK_STRING;
		t->len = p + 1 - L->pos;
		t->str = xstrndup(b.data ? buf_ptr(&b) : "", b.data);
		buf_free(&b);
		L->pos = p + 1;
		return 0;
	}
	if (!word_start(c)) {
		char shown[8];
		snprintf(shown, sizeof(shown), (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? "'%c'" : "byte 0x%02x",
			 (unsigned char)c);
		return perr_at(P, P->line, col_of(P, L->pos), "unexpected %s in a tag: expected a name, a \"string\" or }}",
			       shown);
	}
	size_t p = L->pos;
	bool digits = true;
	while (p < L->end && word_char(s[p])) {
		digits &= s[p] >= '0' && s[p] <= '9';
		p++;
	}
	t->len = p - L->pos;
	t->str = xstrndup(s + L->pos, t->len);
	t->k = digits ? TK_NUMBER : TK_WORD;
	if (digits)
		t->num = t->len > 8 ? 99999999 : strtol(t->str, NULL, 10);
	L->pos = p;
	return 0;
}

/* "\"web\"", "=", "the end of the tag" for messages. */
static const char *tok_desc(const struct tok *t, char *dst, size_t cap)
{
	switch (t->k) {
	case TK_END:
		return "the end of the tag";
	case TK_EQ:
		return "=";
	case TK_STRING: {
		/* Escaped as written, so that the message stays on one line. */
		size_t n = 0;
		dst[n++] = '"';
		for (const char *p = t->str; *p && n + 6 < cap; p++) {
			unsigned char c = (unsigned char)*p;
			const char *e = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '"' ? "\\\""
					: c == '\\' ? "\\\\" : NULL;
			if (e)
				n += (size_t)snprintf(dst + n, cap - n, "%s", e);
			else if (c < 0x20 || c == 0x7f)
				n += (size_t)snprintf(dst + n, cap - n, "\\x%02x", c);
			else
				dst[n++] = (char)c;
		}
		dst[n++] = '"';
		dst[n] = '\0';
		return dst;
	}
	default:
		snprintf(dst, cap, "%.40s", t->str);
		return dst;
	}
}

static int expect_end(struct lexer *L, struct tok *t, const char *after)
{
	char d[64];

	if (lex(L, t) < 0)
		return -1;
	if (t->k != TK_END)
		return perr_at(L->P, L->P->line, col_of(L->P, t->off), "unexpected %s after %s: expected }}",
			       tok_desc(t, d, sizeof(d)), after);
	return 0;
}

/* ---- names ---- */

static const char *scope_section(unsigned scopes)
{
	if ((scopes & EP) && (scopes & SVC))
		return "{{#endpoints}} or {{#services}}";
	return scopes & EP ? "{{#endpoints}}" : "{{#services}}";
}

/* Looks <name> up from the innermost scope outwards into <r>. Returns 0,
 * or -1 with an error at offset <off> saying what is known there. */
static int resolve(struct parser *P, const char *name, size_t off, struct ref *r)
{
	for (int lv = P->nscope - 1; lv >= 0; lv--)
		for (int i = 0; i < NFIELDS; i++)
			if (strcmp(field_defs[i].name, name) == 0 && (field_defs[i].scopes & (1u << P->scope[lv]))) {
				r->f = field_defs[i].f;
				r->level = lv;
				return 0;
			}
	if (strcmp(name, "services") == 0 || strcmp(name, "endpoints") == 0)
		return perr_at(P, P->line, col_of(P, off), "%s is a section here: expected {{#%s ...}}...{{/%s}}", name,
			       name, name);
	for (int i = 0; i < NFIELDS; i++)
		if (strcmp(field_defs[i].name, name) == 0)
			return perr_at(P, P->line, col_of(P, off), "\"%s\" is only defined inside %s", name,
				       scope_section(field_defs[i].scopes));
	struct buf b = {0};
	unsigned here = 0;
	for (int lv = 0; lv < P->nscope; lv++)
		here |= 1u << P->scope[lv];
	for (int i = 0; i < NFIELDS; i++) {
		bool dup = false;
		for (int k = 0; k < i && !dup; k++)
			dup = strcmp(field_defs[k].name, field_defs[i].name) == 0;
		if (!dup && (field_defs[i].scopes & here))
			buf_appendf(&b, "%s%s", b.data ? ", " : "", field_defs[i].name);
	}
	buf_appends(&b, ", env \"NAME\"");
	buf_append(&b, "", 1);
	perr_at(P, P->line, col_of(P, off), "unknown name \"%.40s\": expected one of %s", name, buf_ptr(&b));
	buf_free(&b);
	return -1;
}

/* ---- tags ---- */

static int parse_value(struct parser *P, struct lexer *L, struct tok *t, struct ref *r, const char *tagname)
{
	char d[64];

	if (t->k == TK_STRING) {
		r->f = F_LITERAL;
		r->str = t->str;
		t->str = NULL;
		return 0;
	}
	if (t->k != TK_WORD)
		return perr_at(P, P->line, col_of(P, t->off), "expected a name in %s, got %s", tagname,
			       tok_desc(t, d, sizeof(d)));
	if (strcmp(t->str, "env") == 0) {
		size_t at = t->off;
		if (lex(L, t) < 0)
			return -1;
		if (t->k != TK_STRING || !t->str[0])
			return perr_at(P, P->line, col_of(P, t->k == TK_END ? at : t->off),
				       "expected the variable's name in quotes after env: env \"NAME\"");
		r->f = F_ENV;
		r->str = t->str;
		t->str = NULL;
		return 0;
	}
	return resolve(P, t->str, t->off, r);
}

/* An option's value after "key=": a string, a bare word or a number. */
static int option_value(struct parser *P, struct lexer *L, struct tok *t, const char *key)
{
	size_t at = t->off;

	if (lex(L, t) < 0)
		return -1;
	if (t->k != TK_EQ)
		return perr_at(P, P->line, col_of(P, t->k == TK_END ? at : t->off), "expected = after %s", key);
	at = t->off;
	if (lex(L, t) < 0)
		return -1;
	if ((t->k != TK_STRING && t->k != TK_WORD && t->k != TK_NUMBER) || !t->str[0])
		return perr_at(P, P->line, col_of(P, t->k == TK_END ? at : t->off),
			       "expected a value after %s= (a \"string\", a word or a number)", key);
	return 0;
}

static int dup_option(struct parser *P, const struct tok *t, const char *key)
{
	return perr_at(P, P->line, col_of(P, t->off), "%s given twice", key);
}

/* The options of {{#endpoints}} / {{#services}} after their name. */
static int parse_list_options(struct parser *P, struct lexer *L, struct tok *t, struct node *n)
{
	bool health_seen = false;
	char d[64];
	const char *what = n->sk == S_ENDPOINTS ? "healthy, all, tag=, stack= or port=" : "stack=";

	while (t->k != TK_END) {
		if (t->k != TK_WORD)
			return perr_at(P, P->line, col_of(P, t->off), "expected an option of {{#%s}} (%s), got %s", n->label,
				       what, tok_desc(t, d, sizeof(d)));
		struct tok opt = *t;
		opt.str = xstrdup(t->str);
		int rc = 0;
		if (n->sk == S_ENDPOINTS && (strcmp(opt.str, "healthy") == 0 || strcmp(opt.str, "all") == 0)) {
			if (health_seen)
				rc = perr_at(P, P->line, col_of(P, opt.off), "healthy and all: only one of them");
			health_seen = true;
			n->all = opt.str[0] == 'a';
		} else if (strcmp(opt.str, "stack") == 0) {
			if (n->stack)
				rc = dup_option(P, &opt, "stack=");
			else if ((rc = option_value(P, L, t, "stack")) == 0)
				n->stack = xstrdup(t->str);
		} else if (n->sk == S_ENDPOINTS && strcmp(opt.str, "tag") == 0) {
			if (n->tag)
				rc = dup_option(P, &opt, "tag=");
			else if ((rc = option_value(P, L, t, "tag")) == 0)
				n->tag = xstrdup(t->str);
		} else if (n->sk == S_ENDPOINTS && strcmp(opt.str, "port") == 0) {
			if (n->port_name || n->port_target)
				rc = dup_option(P, &opt, "port=");
			else if ((rc = option_value(P, L, t, "port")) == 0) {
				bool digits = strspn(t->str, "0123456789") == strlen(t->str);
				long v = digits ? (strlen(t->str) > 5 ? 99999 : strtol(t->str, NULL, 10)) : 0;
				if (digits && (v < 1 || v > 65535))
					rc = perr_at(P, P->line, col_of(P, t->off),
						     "expected a port number 1..65535 or a port name after port=");
				else if (digits)
					n->port_target = (int)v;
				else
					n->port_name = xstrdup(t->str);
			}
		} else {
			rc = perr_at(P, P->line, col_of(P, opt.off), "unknown option \"%.40s\" of {{#%s}}: expected %s",
				     opt.str, n->label, what);
		}
		tok_clear(&opt);
		if (rc < 0 || lex(L, t) < 0)
			return -1;
	}
	return 0;
}

/* {{#...}} or {{^...}}: pushes a section. */
static int parse_open(struct parser *P, struct lexer *L, bool inverted, int line, int col)
{
	struct tok t = {0};
	char d[64];
	int rc = -1;
	const char *sig = inverted ? "^" : "#";

	if (P->nopen == TEMPLATE_MAX_DEPTH)
		return perr_at(P, line, col, "sections nested deeper than %d", TEMPLATE_MAX_DEPTH);
	if (lex(L, &t) < 0)
		return -1;
	if (t.k != TK_WORD) {
		perr_at(P, P->line, t.k == TK_END ? col : col_of(P, t.off), "expected a section name after {{%s, got %s",
			sig, tok_desc(&t, d, sizeof(d)));
		goto out;
	}
	int idx = P->t->nn;
	struct node *n = node_add(P, inverted ? N_INVERTED : N_SECTION, line, col);
	n->label = xstrdup(t.str);
	bool scoped = false;
	if (strcmp(t.str, "endpoints") == 0) {
		n->sk = S_ENDPOINTS;
		size_t at = t.off + t.len;
		if (lex(L, &t) < 0)
			goto out;
		if (t.k == TK_STRING) {
			if (!t.str[0]) {
				perr_at(P, P->line, col_of(P, t.off), "expected a service name, got \"\"");
				goto out;
			}
			n->svc = t.str;
			t.str = NULL;
			if (lex(L, &t) < 0)
				goto out;
		} else {
			for (int lv = P->nscope - 1; lv > 0 && n->svc_node < 0; lv--)
				if (P->scope[lv] == SC_SVC) {
					n->svc_level = lv;
					n->svc_node = P->scope_node[lv];
				}
			if (n->svc_node < 0) {
				perr_at(P, P->line, col_of(P, t.k == TK_END ? at : t.off),
					"expected the service's name in quotes: {{%sendpoints \"web\"}}", sig);
				goto out;
			}
		}
		if (parse_list_options(P, L, &t, n) < 0)
			goto out;
		scoped = !inverted;
	} else if (strcmp(t.str, "services") == 0) {
		n->sk = S_SERVICES;
		if (lex(L, &t) < 0 || parse_list_options(P, L, &t, n) < 0)
			goto out;
		scoped = !inverted;
	} else {
		n->sk = S_VALUE;
		/* n may move when the template grows: parse_value adds no node. */
		if (parse_value(P, L, &t, &n->ref, sig[0] == '#' ? "{{#...}}" : "{{^...}}") < 0)
			goto out;
		if (n->ref.f == F_LITERAL) {
			perr_at(P, line, col, "a section needs a name, not a \"string\"");
			goto out;
		}
		if (expect_end(L, &t, n->label) < 0)
			goto out;
	}
	P->open[P->nopen++] = (struct open_sect){idx, scoped};
	if (scoped) {
		n->level = P->nscope;
		P->scope[P->nscope] = n->sk == S_ENDPOINTS ? SC_EP : SC_SVC;
		P->scope_node[P->nscope] = idx;
		P->nscope++;
	}
	rc = 0;
out:
	tok_clear(&t);
	return rc;
}

static int parse_close(struct parser *P, struct lexer *L, int line, int col)
{
	struct tok t = {0};
	char d[64];
	int rc = -1;

	if (lex(L, &t) < 0)
		return -1;
	if (t.k != TK_WORD) {
		perr_at(P, P->line, t.k == TK_END ? col : col_of(P, t.off),
			"expected the name of the section to close after {{/, got %s", tok_desc(&t, d, sizeof(d)));
		goto out;
	}
	if (!P->nopen) {
		perr_at(P, line, col, "{{/%.40s}} closes nothing: no section is open", t.str);
		goto out;
	}
	struct open_sect *o = &P->open[P->nopen - 1];
	struct node *n = &P->t->n[o->node];
	if (strcmp(t.str, n->label) != 0) {
		perr_at(P, line, col, "{{/%.40s}} does not close {{%s%s}} opened at %d:%d: expected {{/%s}}", t.str,
			n->kind == N_INVERTED ? "^" : "#", n->label, n->line, n->col, n->label);
		goto out;
	}
	char after[64];
	snprintf(after, sizeof(after), "{{/%s", n->label);
	if (expect_end(L, &t, after) < 0)
		goto out;
	n->end = P->t->nn;
	if (o->scoped)
		P->nscope--;
	P->nopen--;
	rc = 0;
out:
	tok_clear(&t);
	return rc;
}

static int parse_var(struct parser *P, struct lexer *L, int line, int col)
{
	struct tok t = {0};
	struct ref r = {0};
	int rc = -1;

	if (lex(L, &t) < 0)
		return -1;
	if (t.k == TK_END) {
		perr_at(P, line, col, "empty tag: expected a name, env \"NAME\" or a \"string\"");
		goto out;
	}
	if (parse_value(P, L, &t, &r, "{{...}}") < 0)
		goto out;
	if (expect_end(L, &t, r.f == F_LITERAL ? "a string" : r.f == F_ENV ? "env \"NAME\"" : "the name") < 0)
		goto out;
	struct node *n = node_add(P, N_VAR, line, col);
	n->ref = r;
	r.str = NULL;
	rc = 0;
out:
	free(r.str);
	tok_clear(&t);
	return rc;
}

static void emit_text(struct parser *P, size_t from, size_t to, int line, int col)
{
	if (to <= from)
		return;
	struct node *n = node_add(P, N_TEXT, line, col);
	n->text = P->s + from;
	n->len = to - from;
}

/* Finds the end of the tag opened at <start> (its "{{"): *cend is where
 * its content ends (the first "}}" outside a string), *tend the byte after
 * "}}". A comment may span lines; other tags may not. */
static int tag_end(struct parser *P, size_t start, bool comment, size_t *cend, size_t *tend)
{
	const char *s = P->s;
	size_t p = start + 2;

	while (p < P->len) {
		if (s[p] == '}' && p + 1 < P->len && s[p + 1] == '}') {
			*cend = p;
			*tend = p + 2;
			return 0;
		}
		if (!comment && s[p] == '\n')
			break;
		if (!comment && s[p] == '"') {
			size_t q = p + 1;
			while (q < P->len && s[q] != '"' && s[q] != '\n')
				q += s[q] == '\\' && q + 1 < P->len && s[q + 1] != '\n' ? 2 : 1;
			if (q >= P->len || s[q] != '"')
				return perr_at(P, P->line, col_of(P, p), "unterminated string: expected a closing \"");
			p = q + 1;
			continue;
		}
		p++;
	}
	return perr_at(P, P->line, col_of(P, start), comment ? "unclosed comment: expected }}"
							     : "unclosed tag: expected }} on the same line");
}

/* The tag at <start> (its "{{"); text since <text_start> is pending. On
 * return *pos is where scanning resumes and *text_start the pending text. */
static int parse_tag(struct parser *P, size_t start, size_t *text_start, size_t *pos)
{
	const char *s = P->s;
	int line = P->line, col = col_of(P, start);
	char sig = start + 2 < P->len ? s[start + 2] : '\0';
	size_t cend = 0, tend = 0;

	if (tag_end(P, start, sig == '!', &cend, &tend) < 0)
		return -1;
	if (sig == '>')
		return perr_at(P, line, col, "partials ({{>name}}) are not supported");
	if (sig == '=')
		return perr_at(P, line, col, "changing the delimiters is not supported: write {{\"{{\"}} for a literal {{");
	bool standalone = false;
	size_t after = tend;
	if (sig == '!' || sig == '#' || sig == '^' || sig == '/') {
		/* Mustache's standalone lines: a line holding only this tag
		 * and blanks disappears, its newline included. */
		bool blank_before = !P->tag_on_line;
		for (size_t i = P->line_start; i < start && blank_before; i++)
			blank_before = s[i] == ' ' || s[i] == '\t';
		size_t q = tend;
		while (q < P->len && (s[q] == ' ' || s[q] == '\t'))
			q++;
		if (q + 1 < P->len && s[q] == '\r' && s[q + 1] == '\n')
			q++;
		if (blank_before && (q >= P->len || s[q] == '\n')) {
			standalone = true;
			after = q < P->len ? q + 1 : q;
		}
	}
	emit_text(P, *text_start, standalone ? P->line_start : start, P->text_line, P->text_col);
	struct lexer L = {P, start + 2 + (sig == '#' || sig == '^' || sig == '/' || sig == '&'), cend};
	int rc = 0;
	switch (sig) {
	case '!':
		break;
	case '#':
	case '^':
		rc = parse_open(P, &L, sig == '^', line, col);
		break;
	case '/':
		rc = parse_close(P, &L, line, col);
		break;
	default:
		rc = parse_var(P, &L, line, col);
		break;
	}
	if (rc < 0)
		return -1;
	/* Account for the lines the tag (a comment) and a standalone newline span. */
	for (size_t i = start; i < after; i++)
		if (s[i] == '\n') {
			P->line++;
			P->line_start = i + 1;
		}
	P->tag_on_line = !standalone;
	P->text_line = P->line;
	P->text_col = col_of(P, after);
	*pos = after;
	*text_start = after;
	return 0;
}

int template_parse(const char *name, const char *text, size_t len, struct template **out, char **err)
{
	struct template *t = XNEW(struct template);
	struct parser P = {.t = t, .line = 1, .text_line = 1, .text_col = 1};

	*out = NULL;
	t->name = xstrdup(name ? name : "template");
	if (len > TEMPLATE_MAX_SIZE) {
		perr_at(&P, 1, 1, "template larger than %u bytes", TEMPLATE_MAX_SIZE);
		goto fail;
	}
	t->src = xmalloc(len + 1);
	if (len)
		memcpy(t->src, text, len);
	t->src[len] = '\0';
	t->len = len;
	P.s = t->src;
	P.len = len;
	P.scope[0] = SC_ROOT;
	P.scope_node[0] = -1;
	P.nscope = 1;

	size_t pos = 0, text_start = 0;
	while (pos < len) {
		char c = P.s[pos];
		if (c == '\n') {
			P.line++;
			P.line_start = pos + 1;
			P.tag_on_line = false;
			pos++;
			continue;
		}
		if (c == '\0') {
			perr_at(&P, P.line, col_of(&P, pos), "a NUL byte: templates are text");
			goto fail;
		}
		if (c == '{' && pos + 1 < len && P.s[pos + 1] == '{') {
			/* "{{{" is a literal "{" before a tag: handy in nginx blocks. */
			size_t start = pos;
			while (start + 2 < len && P.s[start + 2] == '{')
				start++;
			if (parse_tag(&P, start, &text_start, &pos) < 0)
				goto fail;
			continue;
		}
		pos++;
	}
	emit_text(&P, text_start, len, P.text_line, P.text_col);
	if (P.nopen) {
		struct node *n = &t->n[P.open[P.nopen - 1].node];
		perr_at(&P, n->line, n->col, "{{%s%s}} is never closed: expected {{/%s}} before the end of the template",
			n->kind == N_INVERTED ? "^" : "#", n->label, n->label);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	*err = P.err;
	template_free(t);
	return -1;
}

int template_parse_file(const char *path, struct template **out, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	char *text = NULL;
	size_t n = 0;
	int rc = -1;

	*out = NULL;
	if (fd < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = xasprintf("%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > (off_t)TEMPLATE_MAX_SIZE) {
		*err = xasprintf("%s:1:1: template larger than %u bytes", path, TEMPLATE_MAX_SIZE);
		goto out;
	}
	/* One byte more than the limit tells a file that grew meanwhile. */
	text = xmalloc(TEMPLATE_MAX_SIZE + 1);
	for (;;) {
		ssize_t r = read(fd, text + n, TEMPLATE_MAX_SIZE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*err = xasprintf("%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0 || (n += (size_t)r) > TEMPLATE_MAX_SIZE)
			break;
	}
	rc = template_parse(path, text, n, out, err);
out:
	free(text);
	close(fd);
	return rc;
}

void template_deps(const struct template *t, template_dep_fn *fn, void *arg)
{
	for (int i = 0; i < t->nn; i++) {
		const struct node *n = &t->n[i];
		if (n->kind != N_SECTION && n->kind != N_INVERTED)
			continue;
		if (n->sk == S_SERVICES)
			fn(arg, n->stack, NULL);
		else if (n->sk == S_ENDPOINTS && n->svc)
			fn(arg, n->stack, n->svc);
		else if (n->sk == S_ENDPOINTS)
			fn(arg, n->stack ? n->stack : t->n[n->svc_node].stack, NULL);
	}
}

/* ---- rendering ---- */

struct frame {
	enum scope kind;
	const struct catalog_endpoint *ep; /* SC_EP */
	int port;                  /* SC_EP: the port {{port}} is */
	const char *name;          /* SC_SVC: the service; SC_ROOT: ctx->service */
	const char *stack;         /* SC_SVC, SC_ROOT */
	long long healthy, total;  /* SC_SVC: endpoint counts */
	int pos, count;            /* the item's place in its list */
};

struct render {
	const struct template *t;
	const struct template_ctx *ctx;
	struct buf *out;
	size_t base;               /* out->data before the render */
	size_t max_out;
	uint64_t steps, max_steps;
	struct frame f[TEMPLATE_MAX_DEPTH + 1];
	char *err;
};

static int rerr(struct render *R, const struct node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int rerr(struct render *R, const struct node *n, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	R->err = one_line(xasprintf("%s:%d:%d: %s", R->t->name, n->line, n->col, msg));
	free(msg);
	return -1;
}

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

static void put_bool(struct buf *b, bool v)
{
	buf_appends(b, v ? "true" : "false");
}

static void put_value(const struct render *R, const struct ref *r, struct buf *b)
{
	const struct frame *fr = &R->f[r->level];
	const struct catalog_endpoint *e = fr->ep;

	switch (r->f) {
	case F_LITERAL:
		buf_appends(b, r->str);
		break;
	case F_ENV:
		buf_appends(b, nz(env_get(R->ctx->env, r->str)));
		break;
	case F_STACK:
		buf_appends(b, nz(fr->kind == SC_EP ? e->stack : fr->stack));
		break;
	case F_SERVICE:
	case F_NAME:
		buf_appends(b, nz(fr->kind == SC_EP ? e->service : fr->name));
		break;
	case F_ADDR:
		buf_appends(b, nz(e->addr));
		break;
	case F_PORT:
		buf_append_u64(b, (unsigned long long)fr->port);
		break;
	case F_HOSTPORT:
		if (e->addr && strchr(e->addr, ':'))
			buf_appendf(b, "[%s]:%d", e->addr, fr->port);
		else
			buf_appendf(b, "%s:%d", nz(e->addr), fr->port);
		break;
	case F_INDEX:
		buf_appendf(b, "%d", e->index);
		break;
	case F_NODE:
		buf_appends(b, nz(e->node));
		break;
	case F_INSTANCE:
		buf_appendf(b, "%s.%d", e->service, e->index);
		break;
	case F_TAGS:
		for (int i = 0; i < e->ntags; i++) {
			if (i)
				buf_append(b, ",", 1);
			buf_appends(b, e->tags[i]);
		}
		break;
	case F_HEALTHY:
		if (fr->kind == SC_EP)
			put_bool(b, e->healthy);
		else
			buf_appendf(b, "%lld", fr->healthy);
		break;
	case F_HEALTH:
		buf_appends(b, e->health ? e->health : "none");
		break;
	case F_ENDPOINTS:
		buf_appendf(b, "%lld", fr->total);
		break;
	case F_AT_INDEX:
		buf_appendf(b, "%d", fr->pos);
		break;
	case F_AT_FIRST:
		put_bool(b, fr->pos == 0);
		break;
	case F_AT_LAST:
		put_bool(b, fr->pos == fr->count - 1);
		break;
	}
}

/* Booleans as themselves, numbers when non-zero, strings when non-empty. */
static bool truthy(const struct render *R, const struct ref *r)
{
	const struct frame *fr = &R->f[r->level];
	const struct catalog_endpoint *e = fr->ep;
	const char *s;

	switch (r->f) {
	case F_LITERAL:
		return r->str[0] != '\0';
	case F_ENV:
		return (s = env_get(R->ctx->env, r->str)) && *s;
	case F_STACK:
		return *nz(fr->kind == SC_EP ? e->stack : fr->stack);
	case F_SERVICE:
	case F_NAME:
		return *nz(fr->kind == SC_EP ? e->service : fr->name);
	case F_ADDR:
		return *nz(e->addr);
	case F_NODE:
		return *nz(e->node);
	case F_PORT:
		return fr->port != 0;
	case F_INDEX:
		return e->index != 0;
	case F_HOSTPORT:
	case F_INSTANCE:
	case F_HEALTH:
		return true;
	case F_TAGS:
		return e->ntags > 0;
	case F_HEALTHY:
		return fr->kind == SC_EP ? e->healthy : fr->healthy > 0;
	case F_ENDPOINTS:
		return fr->total > 0;
	case F_AT_INDEX:
		return fr->pos != 0;
	case F_AT_FIRST:
		return fr->pos == 0;
	case F_AT_LAST:
		return fr->pos == fr->count - 1;
	}
	return false;
}

static int render_range(struct render *R, int from, int to);

static int step(struct render *R, const struct node *n)
{
	if (++R->steps > R->max_steps)
		return rerr(R, n, "rendering takes more than %llu steps (sections nested over long lists?)",
			    (unsigned long long)R->max_steps);
	return 0;
}

static int check_output(struct render *R, const struct node *n)
{
	if (R->out->data - R->base > R->max_out)
		return rerr(R, n, "output larger than %zu bytes", R->max_out);
	return 0;
}

/* The port an endpoint section shows for <e>: the first published port, a
 * named one, or the one published for a target port; 0: <e> has none. */
static int pick_port(const struct node *n, const struct catalog_endpoint *e)
{
	if (!n->port_name && !n->port_target)
		return e->port;
	for (int i = 0; i < e->nports; i++)
		if (n->port_name ? e->ports[i].name && strcmp(e->ports[i].name, n->port_name) == 0
				 : e->ports[i].target == n->port_target)
			return e->ports[i].published;
	return 0;
}

static int render_endpoints(struct render *R, const struct node *n, int body, int end)
{
	const struct catalog *c = R->ctx->catalog;
	const char *svc = n->svc ? n->svc : R->f[n->svc_level].name;
	const char *stack = n->stack ? n->stack : n->svc ? R->ctx->stack : R->f[n->svc_level].stack;
	int total = c && svc ? catalog_select(c, stack, svc, n->tag, 0, !n->all, NULL, 0) : 0;
	const struct catalog_endpoint **eps = XNEWV(const struct catalog_endpoint *, (size_t)total + 1);
	int *ports = XNEWV(int, (size_t)total + 1);
	int count = 0, rc = 0;

	if (total)
		catalog_select(c, stack, svc, n->tag, 0, !n->all, eps, total);
	/* Endpoints without the port asked for are left out. */
	for (int i = 0; i < total; i++) {
		int p = pick_port(n, eps[i]);
		if (p || (!n->port_name && !n->port_target)) {
			eps[count] = eps[i];
			ports[count++] = p;
		}
	}
	if (n->kind == N_INVERTED) {
		if (!count)
			rc = render_range(R, body, end);
		goto out;
	}
	for (int i = 0; i < count && rc == 0; i++) {
		R->f[n->level] = (struct frame){.kind = SC_EP, .ep = eps[i], .port = ports[i], .pos = i, .count = count};
		rc = step(R, n);
		if (rc == 0)
			rc = render_range(R, body, end);
	}
out:
	free(eps);
	free(ports);
	return rc;
}

static int render_services(struct render *R, const struct node *n, int body, int end)
{
	const char *stack = n->stack ? n->stack : R->ctx->stack;
	json_t *all = R->ctx->catalog ? catalog_services_json(R->ctx->catalog) : json_array();
	json_t **items = XNEWV(json_t *, json_array_size(all) + 1);
	int count = 0, rc = 0;
	size_t i;
	json_t *v;

	json_array_foreach(all, i, v) {
		const char *st = json_string_value(json_object_get(v, "stack"));
		if (st && (!stack || strcmp(st, stack) == 0))
			items[count++] = v;
	}
	if (n->kind == N_INVERTED) {
		if (!count)
			rc = render_range(R, body, end);
		goto out;
	}
	for (int k = 0; k < count && rc == 0; k++) {
		R->f[n->level] = (struct frame){
			.kind = SC_SVC,
			.name = json_string_value(json_object_get(items[k], "service")),
			.stack = json_string_value(json_object_get(items[k], "stack")),
			.healthy = json_integer_value(json_object_get(items[k], "healthy")),
			.total = json_integer_value(json_object_get(items[k], "endpoints")),
			.pos = k,
			.count = count,
		};
		rc = step(R, n);
		if (rc == 0)
			rc = render_range(R, body, end);
	}
out:
	free(items);
	json_decref(all);
	return rc;
}

static int render_range(struct render *R, int from, int to)
{
	for (int i = from; i < to; i++) {
		const struct node *n = &R->t->n[i];
		if (step(R, n) < 0)
			return -1;
		switch (n->kind) {
		case N_TEXT:
			buf_append(R->out, n->text, n->len);
			break;
		case N_VAR:
			put_value(R, &n->ref, R->out);
			break;
		case N_SECTION:
		case N_INVERTED: {
			int rc;
			if (n->sk == S_ENDPOINTS)
				rc = render_endpoints(R, n, i + 1, n->end);
			else if (n->sk == S_SERVICES)
				rc = render_services(R, n, i + 1, n->end);
			else
				rc = truthy(R, &n->ref) == (n->kind == N_SECTION) ? render_range(R, i + 1, n->end) : 0;
			if (rc < 0)
				return -1;
			i = n->end - 1;
			break;
		}
		}
		if (check_output(R, n) < 0)
			return -1;
	}
	return 0;
}

int template_render(const struct template *t, const struct template_ctx *ctx, struct buf *out, char **err)
{
	struct render R = {
		.t = t,
		.ctx = ctx,
		.out = out,
		.base = out->data,
		.max_out = ctx->max_output ? ctx->max_output : TEMPLATE_MAX_OUTPUT,
		.max_steps = ctx->max_steps ? ctx->max_steps : TEMPLATE_MAX_STEPS,
	};

	R.f[0] = (struct frame){.kind = SC_ROOT, .name = ctx->service, .stack = ctx->stack};
	if (render_range(&R, 0, t->nn) < 0) {
		out->data = R.base;
		*err = R.err;
		return -1;
	}
	return 0;
}
