/* Shared inside src/spec/ only: the loader's state, its node tree, and the parsers of compose's string forms. */
#ifndef BERTH_SPEC_SPEC_INT_H
#define BERTH_SPEC_SPEC_INT_H

/*
 * How a load goes (load.c drives it):
 *
 *   1. each compose file is read by core/yaml into a positioned tree, then
 *      copied into a tree of struct spec__node, interpolating every scalar
 *      value on the way (tree.c, interp.c); each node remembers its file;
 *   2. each copy is parsed on its own (SPEC_PASS_FILE, parse.c): this is
 *      where type errors, unknown keys and unsupported keys are reported,
 *      with the file, line and column of the offending node;
 *   3. the copies are normalized (short forms that merge differently from
 *      their long form, like environment lists, become mappings) and merged
 *      in order by the compose spec's rules (tree.c);
 *   4. the merged tree is parsed again into the stack (SPEC_PASS_MERGED): it
 *      can no longer hold type errors, so this pass only builds;
 *   5. rancher-compose.yml is applied, then everything that spans keys or
 *      services is checked (validate.c): replicas, dependencies, host ports.
 *
 * Nodes of the merged tree come from different files, and core/yaml's
 * messages take their file name from struct yaml_ctx; so whoever reports an
 * error at a node first points y.file at that node's file (spec__err()).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/yaml.h"
#include "spec/spec.h"

#define SPEC_MAX_NODES  (256u << 10) /* nodes of one file after aliases are expanded */
#define SPEC_MAX_RANGE  1024         /* ports in one short-syntax range */
#define SPEC_ENV_MAX    (1u << 20)   /* bytes of a .env or env_file file */

/* A growable string, always NUL-terminated; p is NULL until the first
 * append (core/buf.h is for I/O buffers: it keeps no NUL). */
struct spec__str {
	char *p;
	size_t len, cap;
};
void spec__str_add(struct spec__str *s, const char *p, size_t n);

/* ---- values.c: compose's string forms, pure functions ---- */

/* The inverse: "1h2m3s4ms", "0s". */
void spec__duration_format(uint64_t ms, char *dst, size_t cap);
/* Compose byte values: "512", "512b", "64k", "512M", "1.5g", "2gb", "1GiB"
 * (binary multiples, any case). 0, or -1. */
int spec__bytes_parse(const char *s, uint64_t *out);
/* "SIGTERM", "TERM", "sigterm" or a number 1..64. 0, or -1. */
int spec__signal_parse(const char *s, int *signo);
/* Splits a command line into words the way a POSIX shell would, but only
 * quoting: '...', "..." (where \ escapes " \ $ ` and newline) and \ outside
 * quotes; no variables, globs or operators. Returns 0 with a new argv
 * (*argc words, NULL-terminated), or -1 with *why (static text). */
int spec__shell_split(const char *s, char ***argv, int *argc, const char **why);
void spec__argv_free(char **argv, int argc);
/* A compose short-syntax port "[[IP:]HOST:]CONTAINER[/PROTO]" (ranges
 * allowed) into a new array of *n ports. 0, or -1 with *why (heap, NULL
 * when the text is not of the form at all). */
int spec__port_parse(const char *s, struct spec_port **ports, int *n, char **why);
/* An expose entry "PORT[-PORT][/PROTO]" into a new array. Same contract. */
int spec__expose_parse(const char *s, struct spec_expose **out, int *n, char **why);
/* A short-syntax volume "[SOURCE:]TARGET[:MODE,...]" into <v> (zeroed by
 * the caller); the source is left as written. 0, or -1 with *why (heap). */
int spec__volume_parse(const char *s, struct spec_volume *v, char **why);
/* <p> made absolute against <dir> (itself absolute) and normalized without
 * touching the disk: no ".", "..", or repeated '/'. A new string. */
char *spec__path_resolve(const char *dir, const char *p);
/* An IPv4 or IPv6 address, numeric, brackets excluded. */
bool spec__is_ip(const char *s);
/* Frees what a spec_port / spec_volume owns (not the struct). */
void spec__port_clear(struct spec_port *p);
void spec__volume_clear(struct spec_volume *v);

/* ---- interp.c: ${VAR} interpolation, and .env files ---- */

/* An ordered set of variables; a NULL value is a name without one. */
struct spec__env {
	char **keys;
	char **vals;
	int n, cap;
};

/* Sets <k> (replacing its value, keeping its place) to a copy of <v> (may be NULL). */
void spec__env_set(struct spec__env *e, const char *k, const char *v);
/* The index of <k>, or -1. */
int spec__env_find(const struct spec__env *e, const char *k);
void spec__env_free(struct spec__env *e);

/* Where interpolation finds variables: <lookup> returns a value (borrowed
 * until the next call) or NULL when unset; <unset> (may be NULL) hears of
 * each variable used without a default while unset. */
struct spec__interp {
	const char *(*lookup)(void *ctx, const char *name);
	void (*unset)(void *ctx, const char *name);
	void *ctx;
};

/* Interpolates <in> as compose does ($VAR, ${VAR}, ${VAR:-d}, ${VAR-d},
 * ${VAR:?msg}, ${VAR?msg}, ${VAR:+alt}, ${VAR+alt}, nested in d/msg/alt,
 * $$ for $), leaving what berth resolves at instance start untouched:
 * $PORT, $PORT_<n>, ${PORT...}, ${PORT_<n>...}, ${endpoints:...} and
 * ${endpoint:...}. Returns 0 with *out (heap), or -1 with *why (heap). */
int spec__interpolate(const struct spec__interp *ip, const char *in, char **out, char **why);
/* True if <s> holds a '$' that interpolation would act on or keep. */
bool spec__has_dollar(const char *s);
/* Parses a dotenv file's text (KEY=VALUE lines, export, # comments,
 * '...' literal and "..." escaped values over several lines) into <out>;
 * unquoted and double-quoted values are interpolated with <ip> first and
 * the file's earlier keys second. Returns 0, or -1 with *line and *why
 * (heap). */
int spec__dotenv_parse(const char *text, size_t len, const struct spec__interp *ip,
		       struct spec__env *out, int *line, char **why);

/* ---- the loader ---- */

/* A node of the loader's trees: a core/yaml node plus its origin. Every
 * node the loader handles is one of these, so spec__file_of() is safe on
 * any of them. */
struct spec__node {
	struct yaml_node n;       /* first: a yaml_node pointer converts back */
	const char *file;         /* name for messages, owned by the loader */
	bool interpolated;        /* scalar held a $ expression: a string now, never a null */
	struct spec__node *next;  /* the loader's list of every node, for freeing */
};

static inline const char *spec__file_of(const struct yaml_node *n)
{
	return ((const struct spec__node *)n)->file;
}

enum spec__pass {
	SPEC_PASS_FILE = 0,   /* one file alone: report type errors and unsupported keys */
	SPEC_PASS_MERGED,     /* the merged tree: build the stack */
	SPEC_PASS_RANCHER,    /* rancher-compose.yml */
};

/* A key compose knows and berth does not act on (one table per mapping). */
enum spec__ukind {
	SPEC_UNSUPPORTED = 0, /* warned ("not supported by berth, ignored"); --strict: an error */
	SPEC_OBSOLETE,        /* warned even with --strict (top-level version:) */
	SPEC_REFUSED,         /* an error: ignoring it would run something else than meant */
};

struct spec__unsup {
	const char *key;
	enum spec__ukind kind;
	const char *why;      /* appended to the message; NULL */
};

struct spec__envfile {
	char *path;                 /* as written */
	bool required;              /* default true */
	const struct yaml_node *at;
};

/* A service while it is being parsed, and where its parts came from. */
struct spec__psvc {
	struct spec_service s;
	const struct yaml_node *at;          /* the service's mapping (its key when null) */
	const struct yaml_node *key;         /* the service's name in services: */
	int scale;                           /* scale:, -1 when absent */
	const struct yaml_node *scale_at;
	const struct yaml_node *replicas_at; /* deploy.replicas */
	const struct yaml_node *mode_at;     /* deploy.mode */
	int rancher_scale;                   /* -1 when absent */
	const struct yaml_node *rancher_scale_at;
	struct spec__env env;                /* environment as written; NULL value: bare KEY */
	struct spec__envfile *env_files;
	int nenv_files;
	const struct yaml_node **port_at;    /* per s.ports entry: its item */
	const struct yaml_node **vol_at;     /* per s.volumes entry */
	const struct yaml_node *deps_at;     /* depends_on */
	bool enabled;                        /* by profiles */
};

struct spec__loader {
	const struct spec_load_opts *o;
	struct yaml_ctx y;               /* y.file is switched to the node's file at each error */
	struct spec_stack *st;           /* being built */
	enum spec__pass pass;
	struct spec__env env;            /* o->env */
	struct spec__env dotenv;         /* .env of the project directory */
	struct spec__node *nodes;        /* every node, for freeing */
	size_t nnodes;                   /* of the file being copied, for SPEC_MAX_NODES */
	char **names;                    /* file names the nodes point to */
	int nnames;
	char **warned;                   /* variables already warned about */
	int nwarned;
	const char *copy_file;           /* file being copied */
	const struct yaml_node *copy_at; /* scalar being interpolated, for warnings */
	struct spec__psvc *svcs;         /* SPEC_PASS_MERGED: the services, file order */
	int nsvcs;
	struct spec__psvc *cur;          /* the service being parsed */
	struct spec__psvc scratch;       /* where SPEC_PASS_FILE parses services, then drops them */
	const struct yaml_node *vols_at; /* top-level volumes (merged) */
	char *name_from_file;            /* top-level name: */
	const struct yaml_node *name_at;
	const char *home;                /* $HOME for ~ in volumes */
};

/* Error at <n> (NULL: line 1 of the current file): "FILE:LINE:COL: PATH: msg". Returns -1. */
int spec__err(struct spec__loader *L, const struct yaml_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A warning in the same form, added to the stack's list. */
void spec__warn(struct spec__loader *L, const struct yaml_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The loader of a walk: yaml_ctx.user. */
static inline struct spec__loader *spec__L(struct yaml_ctx *y)
{
	return y->user;
}
/* Variable <name> as interpolation sees it: o->env, then the process
 * environment (unless o->no_process_env), then .env. NULL: unset. */
const char *spec__lookup(struct spec__loader *L, const char *name);
/* Reads a regular file of at most <max> bytes into *buf (heap, NUL
 * terminated) and *len. 0, or -1 with *why (heap). Never blocks on a FIFO
 * or a device: those are refused. */
int spec__read_small(const char *path, size_t max, char **buf, size_t *len, char **why);
/* A heap copy of <s> for the loader's lifetime (file names of nodes). */
const char *spec__keep(struct spec__loader *L, const char *s);

/* tree.c */
/* Copies <d>'s tree into loader nodes of file <file>, interpolating scalar
 * values. Returns the root (a null scalar for an empty file) or NULL after
 * an error. */
struct yaml_node *spec__copy_doc(struct spec__loader *L, const struct yaml_doc *d, const char *file);
/* New loader nodes. */
struct yaml_node *spec__node_new(struct spec__loader *L, enum yaml_kind kind, const struct yaml_node *pos);
struct yaml_node *spec__scalar_new(struct spec__loader *L, const struct yaml_node *pos, const char *text,
				   bool plain);
/* Rewrites short forms whose merge differs from their long form (see
 * tree.c's table), in place. */
void spec__normalize(struct spec__loader *L, struct yaml_node *root);
/* <over> merged onto <base> by the compose rules; either may be NULL. */
struct yaml_node *spec__merge(struct spec__loader *L, struct yaml_node *base, struct yaml_node *over);
/* A node as JSON: mappings, lists, and scalars typed like YAML 1.2's core
 * schema (null, true/false, integers, floats, else strings). New reference. */
json_t *spec__node_to_json(const struct yaml_node *n);
void spec__nodes_free(struct spec__loader *L);

/* json.c: json_string(), with bytes that are not UTF-8 (from the
 * environment, say) replaced by U+FFFD rather than failing. */
json_t *spec__json_str(const char *s);

/* parse.c */
/* Applies <fields> to mapping <map> into <obj> after setting unsupported
 * keys (<unsup>, may be NULL) aside: warned about in SPEC_PASS_FILE. */
int spec__apply(struct spec__loader *L, const struct yaml_node *map, const struct yaml_field *fields,
		const struct spec__unsup *unsup, void *obj);
/* Handles a key found in <unsup> (NULL if not there); returns 1 when the
 * key was set aside, 0 when it is not in the table, -1 after an error. */
int spec__unsup_key(struct spec__loader *L, const struct yaml_node *key, const struct spec__unsup *unsup);
/* The whole compose document at <root>; in SPEC_PASS_MERGED the services
 * land in L->svcs. */
int spec__parse_project(struct spec__loader *L, const struct yaml_node *root);
void spec__psvc_clear(struct spec__psvc *p);
/* Typed getters that first point y.file at <n>'s file. */
int spec__get_str(struct spec__loader *L, const struct yaml_node *n, char **out);
int spec__get_int(struct spec__loader *L, const struct yaml_node *n, long long min, long long max,
		  long long *out);
int spec__get_bool(struct spec__loader *L, const struct yaml_node *n, bool *out);
int spec__get_duration(struct spec__loader *L, const struct yaml_node *n, uint64_t *out);

/* ---- shared by the key tables of parse.c, ports.c, mounts.c, deploy.c ---- */

#define SPEC_COUNT_MAX 1000000 /* retries, parallelism, pids, ...: anything past this is a typo */

/* The struct spec__psvc a service-level YF_FUNC row gets as <field>. */
#define PSVC(field) ((struct spec__psvc *)(field))

/* A scalar that is not a null. */
bool spec__is_scalar(const struct yaml_node *n);
/* "expected <what>, got <n described>" at <n>; returns -1. */
int spec__expected(struct spec__loader *L, const struct yaml_node *n, const char *what);
/* A list of non-empty strings (with <one>, or a single string) into a new
 * NULL-terminated array, replacing *out and *count. */
int spec__get_strlist(struct spec__loader *L, const struct yaml_node *n, bool one, char ***out, int *count);
/* A labels-like mapping or KEY=VALUE list into a sorted spec_kv array. */
int spec__parse_labels(struct spec__loader *L, const struct yaml_node *n, struct spec_kv **out, int *cnt);
/* Letters, digits, '-' and '_', 1..63 long: a DNS label. */
bool spec__is_label(const char *s);
/* A compose volume or profile name: [A-Za-z0-9][A-Za-z0-9_.-]*. */
bool spec__is_compose_name(const char *s);
/* YF_FUNC rows: a compose duration (uint64_t ms), a byte size (uint64_t),
 * a string (char *, replaced). */
int spec__f_duration(struct yaml_ctx *y, const struct yaml_node *n, void *field);
int spec__f_bytes(struct yaml_ctx *y, const struct yaml_node *n, void *field);
int spec__f_str(struct yaml_ctx *y, const struct yaml_node *n, void *field);
/* The service keys whose tables live in their own files; <field> is the
 * struct spec__psvc. */
int spec__f_ports(struct yaml_ctx *y, const struct yaml_node *n, void *field);
int spec__f_expose(struct yaml_ctx *y, const struct yaml_node *n, void *field);
int spec__f_volumes(struct yaml_ctx *y, const struct yaml_node *n, void *field);
int spec__f_deploy(struct yaml_ctx *y, const struct yaml_node *n, void *field);
/* deploy.c: every deploy default; replicas -1 ("not given"). */
void spec__deploy_defaults(struct spec_deploy *d);

/* rancher.c: rancher-compose.yml's tree onto L->svcs. */
int spec__parse_rancher(struct spec__loader *L, const struct yaml_node *root);

/* validate.c: resolves replicas, environment and profiles, then checks what
 * spans keys and services. */
int spec__finish(struct spec__loader *L);

/* qsort() that accepts an empty (NULL) array, which qsort itself may not
 * be given. */
static inline void spec__sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

/* stack.c */
void spec__service_clear(struct spec_service *s);
int spec__kv_cmp(const void *a, const void *b);

#endif
