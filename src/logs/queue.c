/* An output's queue and thread. Chunks wait in memory up to queue.memory
 * bytes; past that the oldest are written to the output's disk buffer
 * (DATA/logs/buffer/<name>/<seq>-<n>.chunk), so the queue is always
 * [on disk...][in memory...] in seq order, and what is on disk is what a
 * restart must send first. Up to queue.disk bytes; past that the pipeline
 * stops reading the sources this output takes (the files themselves hold
 * the rest) until the output catches up.
 *
 * A chunk is "counted" for its source once it is on disk or sent: only then
 * may the source's saved offset pass it. The thread sends the head, retries
 * with exponential backoff (200 ms doubling to 30 s, with jitter), and on
 * success drops the chunk and its file. */
#include "logs/logs-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 30000

static const struct logs_output_ops *const outputs[] = {
	&logs_out_stdout, &logs_out_file, &logs_out_syslog, &logs_out_redis, &logs_out_elasticsearch,
};

const struct logs_output_ops *logs_output_find(const char *type)
{
	for (size_t i = 0; type && i < sizeof(outputs) / sizeof(outputs[0]); i++)
		if (strcmp(outputs[i]->type, type) == 0)
			return outputs[i];
	return NULL;
}

struct logs_chunk *logs__chunk_new(uint64_t seq, int src, off_t end, struct buf *b, uint32_t n, const char *stack)
{
	struct logs_chunk *c = xcalloc(1, sizeof(*c));

	atomic_init(&c->ref, 1);
	c->seq = seq;
	c->src = src;
	c->end = end;
	c->len = b->data;
	c->data = xmalloc(b->data ? b->data : 1);
	memcpy(c->data, buf_ptr(b), b->data);
	c->n = n;
	c->stack = stack ? xstrdup(stack) : NULL;
	return c;
}

void logs__chunk_unref(struct logs_chunk *c)
{
	if (c && atomic_fetch_sub(&c->ref, 1) == 1) {
		free(c->data);
		free(c->stack);
		free(c);
	}
}

static char *chunk_path(const struct logs_out *o, uint64_t seq, uint32_t n)
{
	return xasprintf("%s/%016" PRIx64 "-%" PRIu32 ".chunk", o->dir, seq, n);
}

static int write_file(const char *path, const char *p, size_t n)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = -1;

	if (fd < 0)
		goto out;
	int wrc = fs_write_all(fd, p, n);
	if (close(fd) == 0 && wrc == 0 && rename(tmp, path) == 0)
		rc = 0;
out:
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* Moves <e> to disk. o->mu held. Returns 0, or -1 (disk full, or an I/O
 * error: it stays in memory). */
static int spill(struct logs_out *o, struct logs__qent *e)
{
	if (!e->c || o->disk_bytes + e->len > o->disk_max)
		return -1;
	char *path = chunk_path(o, e->seq, e->n);
	int rc = write_file(path, e->c->data, e->len);
	if (rc < 0 && !o->spill_failed)
		log_warn("logs", "output %s: cannot write its disk buffer %s: %s", o->name, path, strerror(errno));
	free(path);
	o->spill_failed = rc < 0;
	if (rc < 0)
		return -1;
	logs__chunk_unref(e->c);
	e->c = NULL;
	e->on_disk = true;
	o->mem_bytes -= e->len;
	o->mem_events -= e->n;
	o->disk_bytes += e->len;
	o->disk_events += e->n;
	return 0;
}

/* Tells the pipeline about entries that became durable. o->mu held: the
 * acks are queued and posted after (posting takes the pipeline's lock). */
struct acklist {
	struct logs__ack a[64];
	int n;
};

static void note_counted(struct logs_out *o, struct logs__qent *e, struct acklist *al)
{
	if (e->counted || e->src < 0)
		return;
	e->counted = true;
	if (al->n == 64) {
		for (int i = 0; i < al->n; i++)
			logs__ack_post(o->l, al->a[i].src, al->a[i].seq);
		al->n = 0;
	}
	al->a[al->n++] = (struct logs__ack){e->src, e->seq};
}

static void post_acks(struct logs_out *o, struct acklist *al)
{
	for (int i = 0; i < al->n; i++)
		logs__ack_post(o->l, al->a[i].src, al->a[i].seq);
	al->n = 0;
}

void logs__out_push(struct logs_out *o, struct logs_chunk *c)
{
	struct logs__qent *e = xcalloc(1, sizeof(*e));
	struct acklist al = {.n = 0};

	atomic_fetch_add(&c->ref, 1);
	e->seq = c->seq;
	e->src = c->src;
	e->c = c;
	e->len = c->len;
	e->n = c->n;
	pthread_mutex_lock(&o->mu);
	/* Memory full: the oldest in memory go to disk first, so that what
	 * is on disk stays a prefix of the queue. */
	for (struct logs__qent *q = o->head; q && o->mem_bytes + e->len > o->mem_max; q = q->next)
		if (q->c) {
			if (spill(o, q) < 0)
				break;
			note_counted(o, q, &al);
		}
	o->mem_bytes += e->len;
	o->mem_events += e->n;
	if (o->tail)
		o->tail->next = e;
	else
		o->head = e;
	o->tail = e;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	post_acks(o, &al);
}

bool logs__out_room(struct logs_out *o)
{
	/* Room for the next chunk, whatever it weighs: in memory while under
	 * the limit (so at most one chunk over it), else on disk while a
	 * whole chunk still fits and spilling works. */
	pthread_mutex_lock(&o->mu);
	bool r = o->mem_bytes < o->mem_max || (o->disk_bytes + LOGS_CHUNK_WORST <= o->disk_max && !o->spill_failed);
	pthread_mutex_unlock(&o->mu);
	return r;
}

bool logs__out_empty(struct logs_out *o)
{
	pthread_mutex_lock(&o->mu);
	bool r = !o->head;
	pthread_mutex_unlock(&o->mu);
	return r;
}

static void spill_where(struct logs_out *o, int src)
{
	struct acklist al = {.n = 0};

	pthread_mutex_lock(&o->mu);
	for (struct logs__qent *q = o->head; q; q = q->next) {
		if (!q->c || (src >= 0 && q->src != src))
			continue;
		/* A failed spill ends it: a later chunk on disk past one left
		 * in memory would be sent before it by the next run. */
		if (spill(o, q) < 0)
			break;
		note_counted(o, q, &al);
	}
	pthread_mutex_unlock(&o->mu);
	post_acks(o, &al);
}

void logs__out_spill_all(struct logs_out *o)
{
	spill_where(o, -1);
}

void logs__out_spill_src(struct logs_out *o, int src)
{
	spill_where(o, src);
}

static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *p = NULL;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0) {
		p = xmalloc((size_t)st.st_size + 1);
		size_t got = 0;
		while (got < (size_t)st.st_size) {
			ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		*len = got;
	}
	close(fd);
	return p;
}

/* Waits <ms> or until stopped. o->mu held. Returns true if stopped. */
static bool backoff_wait(struct logs_out *o, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (!o->stop)
		if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) == ETIMEDOUT)
			break;
	return o->stop;
}

static void *worker(void *arg)
{
	struct logs_out *o = arg;
	sigset_t all;

	/* Signals belong to the agent's loop thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	unsigned seed = (unsigned)(uintptr_t)o ^ (unsigned)time(NULL);
	pthread_mutex_lock(&o->mu);
	for (;;) {
		while (!o->stop && !o->head)
			pthread_cond_wait(&o->cv, &o->mu);
		if (o->stop)
			break;
		struct logs__qent *e = o->head;
		struct logs_chunk *c = e->c;
		char *fdata = NULL;
		if (c)
			atomic_fetch_add(&c->ref, 1);
		o->inflight = true;
		uint64_t seq = e->seq;
		uint32_t n = e->n;
		pthread_mutex_unlock(&o->mu);

		struct logs_batch b = {.n = n};
		if (c) {
			b.data = c->data;
			b.len = c->len;
		} else {
			char *path = chunk_path(o, seq, n);
			fdata = read_file(path, &b.len);
			if (!fdata)
				log_error("logs", "output %s: cannot read its disk buffer %s: %s (the chunk is skipped)",
					  o->name, path, strerror(errno));
			free(path);
			b.data = fdata;
			if (!fdata)
				b.n = 0, b.dropped = n;
		}
		bool stopped = false;
		while (b.n > 0) {
			char *err = NULL;
			if (o->ops->send(o->priv, &b, &err) == 0)
				break;
			pthread_mutex_lock(&o->mu);
			o->retries++;
			if (!o->last_error || !err || strcmp(o->last_error, err) != 0)
				log_warn("logs", "output %s: %s (retrying with backoff)", o->name, err ? err : "failed");
			free(o->last_error);
			o->last_error = err;
			o->backoff_ms = o->backoff_ms ? o->backoff_ms * 2 : BACKOFF_MIN_MS;
			if (o->backoff_ms > BACKOFF_MAX_MS)
				o->backoff_ms = BACKOFF_MAX_MS;
			int64_t wait = o->backoff_ms / 2 + rand_r(&seed) % (o->backoff_ms / 2 + 1);
			stopped = backoff_wait(o, wait);
			pthread_mutex_unlock(&o->mu);
			if (stopped)
				break;
		}
		if (stopped) {
			/* Left at the head, to be spilled (or sent by the next run). */
			pthread_mutex_lock(&o->mu);
			o->inflight = false;
			free(b.owned);
			free(fdata);
			logs__chunk_unref(c);
			break;
		}
		struct acklist al = {.n = 0};
		pthread_mutex_lock(&o->mu);
		if (o->last_error) {
			log_info("logs", "output %s: delivering again", o->name);
			free(o->last_error);
			o->last_error = NULL;
		}
		o->backoff_ms = 0;
		o->head = e->next;
		if (!o->head)
			o->tail = NULL;
		o->inflight = false;
		o->ev_out += n - b.dropped;
		o->dropped += b.dropped;
		o->bytes_out += e->len;
		if (e->on_disk) {
			o->disk_bytes -= e->len;
			o->disk_events -= e->n;
			char *path = chunk_path(o, e->seq, e->n);
			unlink(path);
			free(path);
		} else {
			o->mem_bytes -= e->len;
			o->mem_events -= e->n;
		}
		note_counted(o, e, &al);
		pthread_mutex_unlock(&o->mu);
		post_acks(o, &al);
		free(b.owned);
		free(fdata);
		logs__chunk_unref(c);
		logs__chunk_unref(e->c);
		free(e);
		pthread_mutex_lock(&o->mu);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	const struct logs__qent *x = *(struct logs__qent *const *)a, *y = *(struct logs__qent *const *)b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A previous run's disk buffer, in seq order, ahead of anything new. */
static void load_buffer(struct logs_out *o)
{
	DIR *d = opendir(o->dir);
	struct logs__qent **v = NULL;
	int nv = 0, cap = 0;

	if (!d)
		return;
	for (struct dirent *de; (de = readdir(d));) {
		uint64_t seq;
		uint32_t n;
		char tail[16];
		size_t l = strlen(de->d_name);
		if (l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0) {
			char *p = xasprintf("%s/%s", o->dir, de->d_name);
			unlink(p); /* a spill the last run did not finish: its chunk is not counted */
			free(p);
			continue;
		}
		if (sscanf(de->d_name, "%16" SCNx64 "-%" SCNu32 "%15s", &seq, &n, tail) != 3 || strcmp(tail, ".chunk") != 0)
			continue;
		char *p = xasprintf("%s/%s", o->dir, de->d_name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			struct logs__qent *e = xcalloc(1, sizeof(*e));
			e->seq = seq;
			e->src = -1;
			e->n = n;
			e->len = (size_t)st.st_size;
			e->on_disk = e->counted = true;
			if (nv == cap)
				v = xrealloc(v, sizeof(*v) * (size_t)(cap = cap ? cap * 2 : 16));
			v[nv++] = e;
			o->disk_bytes += e->len;
			o->disk_events += n;
		}
		free(p);
	}
	closedir(d);
	if (nv)
		qsort(v, (size_t)nv, sizeof(*v), cmp_u64);
	for (int i = 0; i < nv; i++) {
		if (o->tail)
			o->tail->next = v[i];
		else
			o->head = v[i];
		o->tail = v[i];
	}
	free(v);
	if (nv)
		log_info("logs", "output %s: %d chunks (%" PRIu64 " events) in its disk buffer from the last run", o->name, nv,
			 o->disk_events);
}

uint64_t logs__out_max_seq(const struct logs_out *o)
{
	return o->tail ? o->tail->seq : 0;
}

struct logs_out *logs__out_new(struct logs *l, const char *name, const char *stack, const json_t *cfg, char **err)
{
	const struct logs_output_ops *ops = logs_output_find(json_string_value(json_object_get(cfg, "type")));
	struct logs_out *o;
	const json_t *q = json_object_get(cfg, "queue");
	uint64_t v;

	if (!ops) {
		*err = xasprintf("output %s: unknown type", name);
		return NULL;
	}
	o = xcalloc(1, sizeof(*o));
	o->l = l;
	o->ops = ops;
	o->name = xstrdup(name);
	o->stack = stack ? xstrdup(stack) : NULL;
	o->cfg = json_deep_copy(cfg);
	o->mem_max = 8u << 20;
	o->disk_max = 1ull << 30;
	if (logs__json_size(json_object_get(q, "memory"), &v) == 0)
		o->mem_max = v;
	if (logs__json_size(json_object_get(q, "disk"), &v) == 0)
		o->disk_max = v;
	o->dir = xasprintf("%s/buffer/%s", l->dir, name);
	fs_mkdir_p(o->dir, 0700);
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	o->priv = ops->create(o->cfg);
	load_buffer(o);
	if (pthread_create(&o->th, NULL, worker, o) != 0) {
		*err = xasprintf("output %s: cannot start its thread", name);
		logs__out_free(o);
		return NULL;
	}
	o->started = true;
	return o;
}

void logs__out_stop(struct logs_out *o, int ms)
{
	struct timespec ts;

	if (!o->started)
		return;
	pthread_mutex_lock(&o->mu);
	o->stop = true;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(o->th, NULL, &ts) == 0) {
		o->started = false;
	} else {
		/* Stuck in a send past its own timeouts: left to the process's
		 * exit; its head chunk is not counted, so nothing is lost. */
		log_warn("logs", "output %s did not stop in time", o->name);
	}
}

void logs__out_free(struct logs_out *o)
{
	if (o->started)
		return; /* its thread still runs (see logs__out_stop) */
	for (struct logs__qent *e = o->head, *next; e; e = next) {
		next = e->next;
		logs__chunk_unref(e->c);
		free(e);
	}
	if (o->priv)
		o->ops->destroy(o->priv);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	json_decref(o->cfg);
	free(o->last_error);
	free(o->name);
	free(o->stack);
	free(o->dir);
	free(o);
}
