/* A mirror of one key prefix of the store, kept current by a watch: the
 * in-memory view each agent component reconciles from (stacks, allocations,
 * nodes, status). It loads with a range, then follows a watch from the
 * range's revision + 1; after a compaction error or a lost watch it loads
 * again, so the view never has a gap. */
#ifndef BERTH_AGENT_MIRROR_H
#define BERTH_AGENT_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "store/store.h"

struct mirror_entry {
	char *key;                   /* full key, NUL-terminated */
	char *value;                 /* NUL-terminated (values here are JSON text) */
	size_t value_len;
	json_t *json;                /* value parsed, or NULL if it is not JSON */
	int64_t create_rev, mod_rev, lease;
};

struct mirror;
/* Called after the view changed (a batch of events, or a reload). */
typedef void mirror_change_fn(struct mirror *m, void *arg);

struct mirror {
	struct store *st;
	char *prefix;
	struct mirror_entry *e;      /* sorted by key */
	int n, cap;
	int64_t rev;                 /* the store revision the view reflects */
	bool ready;                  /* loaded at least once */
	mirror_change_fn *on_change;
	void *arg;
	/* private */
	struct store_watch *w;
	uv_timer_t retry;
	bool closing;
	int pending;                 /* store operations in flight */
};

struct mirror *mirror_new(struct store *st, const char *prefix, mirror_change_fn *fn, void *arg);
/* Stops following and frees the mirror once nothing is in flight. */
void mirror_free(struct mirror *m);
const struct mirror_entry *mirror_get(const struct mirror *m, const char *key);
/* Index of the first entry whose key starts with <prefix> (or m->n). */
int mirror_lower_bound(const struct mirror *m, const char *key);

#endif
