/* YAML config files: a positioned node tree built on libfyaml, and table-driven typed getters. */
#ifndef BERTH_CORE_YAML_H
#define BERTH_CORE_YAML_H

/*
 * Why not libfyaml's own document tree: in 0.7.12 a fy_node does not expose
 * its position (there is no fy_node_get_start_mark), only scalar tokens do,
 * and "Config errors say where" (STYLE.md 6) needs a line and column for
 * mappings and sequences too. So yaml_load_*() drive the libfyaml parser and
 * build this small tree from its events, where every node carries its
 * 1-based line and column.
 *
 * While building, the loader also:
 *   - refuses duplicate keys (naming the second one);
 *   - resolves aliases by sharing the anchored node (no copy), and applies
 *     merge keys ("<<: *defaults", explicit keys win, earlier sources win);
 *   - refuses a document that aliases expand beyond YAML_MAX_NODES nodes
 *     (billion laughs) or whose merge keys copy more than that, more than
 *     one document, mapping keys that are not scalars, and strings holding
 *     a NUL byte;
 *   - refuses invalid UTF-8 and the control characters YAML forbids before
 *     libfyaml sees them, and decodes one form of single-quoted scalar
 *     itself: both work around bugs of libfyaml 0.7.12 (see yaml.c).
 *
 * Because of aliases the tree is a DAG: a node may have several parents, so
 * nodes have no parent pointer and the key path of an error message is kept
 * by the caller in struct yaml_ctx while it descends.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YAML_MAX_FILE  (16u << 20) /* bytes; a config file is never this big */
#define YAML_MAX_NODES (1u << 20)  /* nodes after alias expansion */
#define YAML_MAX_DEPTH 256         /* nesting of mappings and sequences */

enum yaml_kind {
	YAML_SCALAR = 0, /* text; a null (empty, "~", "null") is a plain scalar too */
	YAML_SEQ,        /* items */
	YAML_MAP,        /* key/value pairs */
};

struct yaml_pair {
	struct yaml_node *key;    /* always a YAML_SCALAR */
	struct yaml_node *value;
};

struct yaml_node {
	enum yaml_kind kind;
	int line;                 /* 1-based line of the node's first character */
	int col;                  /* 1-based column of the same */
	bool plain;               /* scalar: written without quotes or | > (so "null", "true" keep their meaning) */
	char *text;               /* scalar: unescaped text, NUL-terminated, never holds a NUL itself */
	size_t len;               /* scalar: strlen(text) */
	struct yaml_node **items; /* seq: the items, in file order */
	int nitems;
	struct yaml_pair *pairs;  /* map: file order, keys unique, merge keys applied */
	int npairs;
	uint32_t weight;          /* private: nodes below and including this one, aliases expanded, capped */
	struct yaml_node *all;    /* private: the document's list of every node, for freeing */
};

struct yaml_doc {
	char *file;               /* name used in messages */
	struct yaml_node *root;   /* NULL when the file holds no document (empty, only comments) */
	struct yaml_node *all;    /* every node, for yaml_doc_free() */
};

/* Reads and parses <path>. Returns 0 and a new document in *out, or -1 with
 * *err = "FILE:LINE:COL: message" (heap, the caller frees it); syntax errors
 * carry libfyaml's own message and position. */
int yaml_load_file(const char *path, struct yaml_doc **out, char **err);
/* Same from memory; <name> stands for the file in messages. <buf> is only
 * borrowed for the duration of the call. */
int yaml_load_buffer(const char *name, const char *buf, size_t len, struct yaml_doc **out,
		     char **err);
void yaml_doc_free(struct yaml_doc *d);

/* ---- walking a document and reporting errors ---- */

/* The state of one walk: where we are (key path) and the first error. */
struct yaml_ctx {
	const char *file;         /* borrowed; name used in messages */
	char *err;                /* first error (heap), NULL while all is well */
	void *user;               /* the loader's own state, for YF_FUNC callbacks */
	size_t pathlen;           /* strlen(path) */
	char path[256];           /* "backends.app.servers[1].weight"; truncated if longer */
};

void yaml_ctx_init(struct yaml_ctx *y, const char *file, void *user);
/* Records "FILE:LINE:COL: PATH: message" at node <at> (NULL: line 1, col 1)
 * unless an error is already recorded: the first one is what the user needs.
 * Always returns -1 so callers can write `return yaml_error(...)`. */
int yaml_error(struct yaml_ctx *y, const struct yaml_node *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends ".key" (or "[i]") to the path; returns the mark to restore with
 * yaml_path_pop() once the callee is done with that node. */
size_t yaml_path_push_key(struct yaml_ctx *y, const char *key);
size_t yaml_path_push_index(struct yaml_ctx *y, int i);
void yaml_path_pop(struct yaml_ctx *y, size_t mark);
/* Follows <path> ("outputs[1].path", "" for <n> itself) down from <n> as
 * far as it exists, pushing each step onto y's path, and returns the last
 * node reached: the key node of the last step when <at_key>. For errors
 * that a checker of the JSON form reported by key path. The caller pops
 * back to its own mark. */
const struct yaml_node *yaml_walk_path(struct yaml_ctx *y, const struct yaml_node *n, const char *path, bool at_key);

/* True for a plain "", "~", "null", "Null" or "NULL" (a key with no value). */
bool yaml_is_null(const struct yaml_node *n);
/* For messages: "\"heavy\"" (escaped, shortened), "nothing", "a mapping" or
 * "a list". Writes into <buf> and returns it. */
const char *yaml_describe(const struct yaml_node *n, char *buf, size_t cap);

/* The pair (or only its value) whose key is <key> in mapping <map>; NULL
 * when absent or when <map> is not a mapping. */
const struct yaml_pair *yaml_map_find(const struct yaml_node *map, const char *key);
const struct yaml_node *yaml_map_get(const struct yaml_node *map, const char *key);

/* A mapping is expected at <n>; a null counts as an empty one. <what> names
 * it in the error ("a mapping of backend names to backends"; NULL: "a mapping"). */
int yaml_expect_map(struct yaml_ctx *y, const struct yaml_node *n, const char *what);
/* Lists where a single scalar may stand for a one-item list (bind: :80 or
 * bind: [:80, :81]). Count: a sequence's items, 1 for a non-null scalar, 0
 * for null, -1 for a mapping. Item <i> of such a list. */
int yaml_list_count(const struct yaml_node *n);
const struct yaml_node *yaml_list_item(const struct yaml_node *n, int i);
/* A sequence (or, with <scalar_ok>, a lone scalar) is expected at <n>. */
int yaml_expect_list(struct yaml_ctx *y, const struct yaml_node *n, bool scalar_ok);

/* ---- typed values; each returns 0, or -1 after yaml_error() at <n> ---- */

struct yaml_enum {
	const char *name;
	int value;
};

/* A non-empty string; *out is replaced (the old value freed), caller frees. */
int yaml_get_str(struct yaml_ctx *y, const struct yaml_node *n, char **out);
/* A decimal integer within [min, max]. */
int yaml_get_int(struct yaml_ctx *y, const struct yaml_node *n, long long min, long long max,
		 long long *out);
/* true/false, yes/no, on/off, any case. */
int yaml_get_bool(struct yaml_ctx *y, const struct yaml_node *n, bool *out);
/* A duration (see duration_parse: "250ms", "2s", "1h", bare ms) within [min, max] ms. */
int yaml_get_duration(struct yaml_ctx *y, const struct yaml_node *n, uint64_t min,
		      uint64_t max, uint64_t *out);
/* One of the names of <names> (NULL-terminated); stores its value. */
int yaml_get_enum(struct yaml_ctx *y, const struct yaml_node *n, const struct yaml_enum *names,
		  int *out);
/* One or more non-empty strings, as a list or a single scalar. Replaces
 * *out and *count (the old ones freed); the caller frees each string and the array. */
int yaml_get_strlist(struct yaml_ctx *y, const struct yaml_node *n, char ***out, int *count);

/* Formats <ms> as the largest exact unit: "250ms", "2s", "1h". */
void yaml_format_duration(uint64_t ms, char *dst, size_t cap);

/* ---- options are data: one table row per key of a mapping ---- */

enum yaml_ftype {
	YF_STR = 0,   /* char *, yaml_get_str */
	YF_INT,       /* int, within [min, max] */
	YF_BOOL,      /* bool */
	YF_DURATION,  /* uint64_t ms, within [min, max] */
	YF_ENUM,      /* int-sized enum, one of <names> */
	YF_STRLIST,   /* char ** at offset, int count at offset2 */
	YF_MAP,       /* nested struct at offset, described by <sub> */
	YF_FUNC,      /* anything else: fn(y, node, obj + offset) */
	YF_IGNORE,    /* accepted and skipped; with a key like "x-*", every key of that
		       * prefix (compose's extension keys, a home for &anchors) */
};

struct yaml_field {
	const char *key;                /* a final '*' matches any rest (YF_IGNORE rows) */
	enum yaml_ftype type;
	size_t offset;                  /* of the target field in the struct */
	size_t offset2;                 /* YF_STRLIST: of the int count */
	long long min, max;             /* YF_INT, YF_DURATION (ms): inclusive range */
	const char *def;                /* default, written as in YAML; applied before parsing
					 * for INT, BOOL, DURATION and ENUM, documentation only
					 * for the others (whose zero value must match it) */
	bool required;                  /* missing key is an error (null value is not missing) */
	const struct yaml_enum *names;  /* YF_ENUM */
	const struct yaml_field *sub;   /* YF_MAP */
	int (*fn)(struct yaml_ctx *y, const struct yaml_node *n, void *field); /* YF_FUNC */
	const char *doc;                /* one line for the reference documentation */
};

/* Applies <fields> (terminated by a row with a NULL key, at most 64 rows) to
 * mapping <map> (a null counts as empty) into struct <obj>: defaults first
 * (recursively into YF_MAP rows), then each pair in file order with the
 * key's name pushed on the path. An unknown key is an error that names it,
 * suggests the closest valid key and lists them all; a missing required key
 * is an error at <map>. On success, bit i of *seen (if not NULL) tells
 * whether row i was present. On error, whatever was stored in <obj> stays
 * there for the caller's free function. */
int yaml_map_apply(struct yaml_ctx *y, const struct yaml_node *map,
		   const struct yaml_field *fields, void *obj, uint64_t *seen);
/* Stores the defaults of <fields> into <obj> (see yaml_field.def). */
void yaml_fields_defaults(const struct yaml_field *fields, void *obj);

#endif
