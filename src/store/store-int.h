/* Internals shared by store.c and the backends; no other component includes this. */
#ifndef BERTH_STORE_STORE_INT_H
#define BERTH_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

/* etcd's MaxLeaseTTL: a longer grant is refused (STORE_ERR_INVALID). */
#define STORE_MAX_TTL_S 9000000000LL

/* The common part of every watch: a backend embeds it first in its own
 * watch struct, so store_watch_cancel() finds the ops table. */
struct store_watch {
	struct store *st; /* the store the watch was started on */
};

/* A heap copy of <p, n> followed by a NUL byte that n does not count (handy
 * for values that hold text). Never NULL, even for n == 0. */
char *store__memdup(const void *p, size_t n);

/* Deep copy of <n> kvs in the layout store_result_free() releases: one
 * array, each key and value its own allocation. NULL when n == 0. */
struct store_kv *store__kvs_copy(const struct store_kv *kvs, int n);
void store__kvs_free(struct store_kv *kvs, int n);

/* Whether <key, key_len> is covered by <keys>. */
bool store__keys_match(const struct store_keys *keys, const char *key, size_t key_len);

/* The end of the range of keys starting with <p, n>: writes into <out>
 * (room for n bytes) the smallest key greater than all of them and returns
 * its length, or 0 when there is no such key (<p> is empty or all 0xff:
 * the range is open-ended). */
size_t store__prefix_end(const char *p, size_t n, char *out);

#endif
