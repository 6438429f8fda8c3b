/* A watched, in-memory mirror of one store prefix (see mirror.h). */
#include "agent/mirror.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"

#define MIRROR_RETRY_MS 1000 /* after a failed load or a lost watch */

static void load(struct mirror *m);

static void entry_clear(struct mirror_entry *e)
{
	free(e->key);
	free(e->value);
	json_decref(e->json);
	memset(e, 0, sizeof(*e));
}

int mirror_lower_bound(const struct mirror *m, const char *key)
{
	int lo = 0, hi = m->n;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (strcmp(m->e[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct mirror_entry *mirror_get(const struct mirror *m, const char *key)
{
	int i = mirror_lower_bound(m, key);

	return i < m->n && strcmp(m->e[i].key, key) == 0 ? &m->e[i] : NULL;
}

static void set_entry(struct mirror_entry *e, const struct store_kv *kv)
{
	free(e->value);
	json_decref(e->json);
	e->value = xmalloc(kv->value_len + 1);
	if (kv->value_len)
		memcpy(e->value, kv->value, kv->value_len);
	e->value[kv->value_len] = 0;
	e->value_len = kv->value_len;
	e->json = kv->value_len ? json_loadb(kv->value, kv->value_len, 0, NULL) : NULL;
	e->create_rev = kv->create_rev;
	e->mod_rev = kv->mod_rev;
	e->lease = kv->lease;
}

/* Keys with a NUL byte cannot be ours (we write them all); skip them. */
static bool key_ok(const struct store_kv *kv)
{
	return memchr(kv->key, 0, kv->key_len) == NULL;
}

static void apply_put(struct mirror *m, const struct store_kv *kv)
{
	char *key = xstrndup(kv->key, kv->key_len);
	int i = mirror_lower_bound(m, key);

	if (i < m->n && strcmp(m->e[i].key, key) == 0) {
		free(key);
		set_entry(&m->e[i], kv);
		return;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->e = xrealloc(m->e, sizeof(*m->e) * (size_t)m->cap);
	}
	memmove(&m->e[i + 1], &m->e[i], sizeof(*m->e) * (size_t)(m->n - i));
	memset(&m->e[i], 0, sizeof(*m->e));
	m->e[i].key = key;
	m->n++;
	set_entry(&m->e[i], kv);
}

static void apply_delete(struct mirror *m, const struct store_kv *kv)
{
	char *key = xstrndup(kv->key, kv->key_len);
	int i = mirror_lower_bound(m, key);

	if (i < m->n && strcmp(m->e[i].key, key) == 0) {
		entry_clear(&m->e[i]);
		memmove(&m->e[i], &m->e[i + 1], sizeof(*m->e) * (size_t)(m->n - i - 1));
		m->n--;
	}
	free(key);
}

static void on_retry(uv_timer_t *t)
{
	struct mirror *m = t->data;

	if (!m->closing)
		load(m);
}

static void on_retry_closed(uv_handle_t *h)
{
	struct mirror *m = h->data;

	for (int i = 0; i < m->n; i++)
		entry_clear(&m->e[i]);
	free(m->e);
	free(m->prefix);
	free(m);
}

static void maybe_free(struct mirror *m)
{
	if (m->closing && m->pending == 0 && !uv_is_closing((uv_handle_t *)&m->retry))
		uv_close((uv_handle_t *)&m->retry, on_retry_closed);
}

static void on_watch(struct store_watch *w, const struct store_event *evs, int nevs, int err, void *arg)
{
	struct mirror *m = arg;

	if (err) {
		m->w = NULL;
		if (m->closing) {
			m->pending--;
			maybe_free(m);
			return;
		}
		m->pending--;
		log_msg(err == STORE_ERR_COMPACTED ? LOG_LVL_INFO : LOG_LVL_WARN, "agent", 0,
			"watch of %s ended (%s): reloading", m->prefix, store_strerror(err));
		uv_timer_start(&m->retry, on_retry, err == STORE_ERR_COMPACTED ? 0 : MIRROR_RETRY_MS, 0);
		return;
	}
	for (int i = 0; i < nevs; i++) {
		if (!key_ok(&evs[i].kv))
			continue;
		if (evs[i].type == STORE_EV_PUT)
			apply_put(m, &evs[i].kv);
		else
			apply_delete(m, &evs[i].kv);
		if (evs[i].kv.mod_rev > m->rev)
			m->rev = evs[i].kv.mod_rev;
	}
	if (nevs && m->on_change)
		m->on_change(m, m->arg);
}

static void on_range(const struct store_result *r, void *arg)
{
	struct mirror *m = arg;

	m->pending--;
	if (m->closing) {
		maybe_free(m);
		return;
	}
	if (r->err) {
		log_warn("agent", "loading %s: %s; retrying", m->prefix, r->errmsg ? r->errmsg : store_strerror(r->err));
		uv_timer_start(&m->retry, on_retry, MIRROR_RETRY_MS, 0);
		return;
	}
	for (int i = 0; i < m->n; i++)
		entry_clear(&m->e[i]);
	m->n = 0;
	for (int i = 0; i < r->nkvs; i++)
		if (key_ok(&r->kvs[i]))
			apply_put(m, &r->kvs[i]);
	m->rev = r->revision;
	m->ready = true;
	struct store_keys k = {m->prefix, strlen(m->prefix), true};
	if (store_watch(m->st, &k, r->revision + 1, on_watch, m, &m->w) == 0)
		m->pending++;
	else
		uv_timer_start(&m->retry, on_retry, MIRROR_RETRY_MS, 0);
	if (m->on_change)
		m->on_change(m, m->arg);
}

static void load(struct mirror *m)
{
	struct store_keys k = {m->prefix, strlen(m->prefix), true};

	if (store_range(m->st, &k, on_range, m) == 0)
		m->pending++;
	else
		uv_timer_start(&m->retry, on_retry, MIRROR_RETRY_MS, 0);
}

struct mirror *mirror_new(struct store *st, const char *prefix, mirror_change_fn *fn, void *arg)
{
	struct mirror *m = XNEW(struct mirror);

	m->st = st;
	m->prefix = xstrdup(prefix);
	m->on_change = fn;
	m->arg = arg;
	uv_timer_init(st->loop, &m->retry);
	m->retry.data = m;
	load(m);
	return m;
}

void mirror_free(struct mirror *m)
{
	if (!m || m->closing)
		return;
	m->closing = true;
	m->on_change = NULL;
	uv_timer_stop(&m->retry);
	if (m->w) {
		struct store_watch *w = m->w;
		m->w = NULL;
		store_watch_cancel(w);
		m->pending--;
	}
	maybe_free(m);
}
