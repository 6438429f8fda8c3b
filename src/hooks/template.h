/* The template language of on_change hooks: a small Mustache-like language
 * over the catalog, written here (DESIGN.md 7, 10); docs/templates.md is the
 * user's reference.
 *
 * A template is compiled once (template_parse) and rendered many times
 * (template_render), each time against the catalog as it is then. Parsing
 * checks everything that does not depend on the data: tags, section
 * nesting, names (a name is looked up in the enclosing sections when the
 * template is compiled, so a typo or {{addr}} outside {{#endpoints}} is a
 * parse error) and options. Every message is one line,
 * "NAME:LINE:COL: message", at the tag (or the part of it) at fault.
 *
 * Nothing is HTML-escaped: templates render configuration files.
 *
 * Rendering is synchronous and bounded: the output by ctx->max_output, the
 * work by ctx->max_steps (nested sections over long lists multiply). Not
 * thread-safe; a compiled template is immutable and may be rendered
 * against several contexts. */
#ifndef BERTH_HOOKS_TEMPLATE_H
#define BERTH_HOOKS_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct catalog;

#define TEMPLATE_MAX_SIZE (1u << 20)     /* bytes of template text */
#define TEMPLATE_MAX_DEPTH 32            /* sections nested in one another */
#define TEMPLATE_MAX_OUTPUT (16u << 20)  /* bytes one render may produce (default) */
#define TEMPLATE_MAX_STEPS 10000000u     /* nodes one render may visit (default) */

struct template;

/* What a render reads. Everything is borrowed for the call. */
struct template_ctx {
	const struct catalog *catalog; /* NULL: an empty catalog */
	const char *stack;             /* the hook's stack: {{stack}}, and the default of stack=;
					* NULL: sections without stack= see every stack */
	const char *service;           /* the hook's service: {{service}}; NULL: "" */
	char *const *env;              /* "KEY=VALUE" entries, NULL-terminated, for {{env "KEY"}};
					* NULL: none */
	size_t max_output;             /* bytes; 0: TEMPLATE_MAX_OUTPUT */
	uint64_t max_steps;            /* 0: TEMPLATE_MAX_STEPS */
};

/* Compiles <len> bytes of <text> (borrowed for the call; need not be NUL
 * terminated). <name> stands for the template in messages (copied).
 * Returns 0 and a new template in *out (free with template_free), or -1
 * with *out NULL and *err = "NAME:LINE:COL: message" (heap, the caller
 * frees it). */
int template_parse(const char *name, const char *text, size_t len, struct template **out, char **err);

/* Reads the regular file <path> (at most TEMPLATE_MAX_SIZE bytes) and
 * compiles it, named <path> in messages. Same contract; a file that cannot
 * be read gives "PATH: reason". */
int template_parse_file(const char *path, struct template **out, char **err);

/* Renders <t> against <ctx>, appending to <out>. Returns 0, or -1 with
 * *err = "NAME:LINE:COL: message" (heap) naming the tag at which a limit
 * was reached; <out> is then left as it was before the call. */
int template_render(const struct template *t, const struct template_ctx *ctx, struct buf *out, char **err);

void template_free(struct template *t);

/* The name given to template_parse (borrowed from <t>). */
const char *template_name(const struct template *t);

/* What a template reads from the catalog: <fn> is called once for each
 * {{#endpoints}} / {{^endpoints}} / {{#services}} section with the stack it
 * names (NULL: the hook's own) and the service (NULL: any service of that
 * stack, for {{#services}} and the sections inside it). The hook engine
 * watches these. */
typedef void template_dep_fn(void *arg, const char *stack, const char *service);
void template_deps(const struct template *t, template_dep_fn *fn, void *arg);

#endif
