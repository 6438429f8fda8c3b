/* The pipeline's thread: it owns the sources, reads them in turn, hands
 * each chunk to the outputs that take its stack, and moves a source's
 * saved position forward as the outputs acknowledge (logs-int.h). The
 * agent talks to it through a command list and an async handle. */
#include "logs/logs-int.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

enum cmd_kind { CMD_ADD, CMD_REMOVE };

struct logs__cmd {
	struct logs__cmd *next;
	enum cmd_kind kind;
	char *stack, *service;
	int index;
	char *cri_path;
	json_t *xlogs, *stack_outputs;
	char **files;
	int nfiles;
};

static void cmd_free(struct logs__cmd *c)
{
	free(c->stack);
	free(c->service);
	free(c->cri_path);
	json_decref(c->xlogs);
	json_decref(c->stack_outputs);
	for (int i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	free(c);
}

void logs__ack_post(struct logs *l, int src, uint64_t seq)
{
	pthread_mutex_lock(&l->mu);
	if (l->nacks == l->capacks)
		l->acks = xrealloc(l->acks, sizeof(*l->acks) * (size_t)(l->capacks = l->capacks ? l->capacks * 2 : 64));
	l->acks[l->nacks++] = (struct logs__ack){src, seq};
	/* Under the lock: on_wake closes the handle under it too, so no
	 * output thread signals a closed handle (libuv aborts on that). The
	 * acks queued meanwhile are taken by logs_free. */
	if (!l->loop_closed)
		uv_async_send(&l->wake);
	pthread_mutex_unlock(&l->mu);
}

static char *registry_path(const struct logs *l)
{
	return xasprintf("%s/registry.json", l->dir);
}

/* ---- sources ---- */

static bool routed(const struct logs *l, const struct logs_out *o, const struct logs__src *s)
{
	(void)l;
	return !o->stack || strcmp(o->stack, s->inst->stack) == 0;
}

static int nroutes(const struct logs *l, const struct logs__src *s)
{
	int n = 0;
	for (struct logs_out *o = l->outs; o; o = o->next)
		n += routed(l, o, s);
	return n;
}

/* The live source of <key>: a source being let go (its instance gone)
 * does not count, its file's successor gets a source of its own. */
static struct logs__src *src_find_key(struct logs *l, const char *key)
{
	for (struct logs__src *s = l->srcs; s; s = s->next)
		if (!s->gone && strcmp(s->key, key) == 0)
			return s;
	return NULL;
}

static void src_commit(struct logs *l, struct logs__src *s)
{
	while (s->pend && s->pend->waiting <= 0) {
		struct logs__pend *p = s->pend;
		s->committed = p->pos;
		s->pend = p->next;
		if (!s->pend)
			s->pend_tail = NULL;
		free(p);
		l->reg_dirty = true;
	}
}

/* Files the source let go join the "done" list (oldest forgotten). */
static void take_released(struct logs *l, struct logs__src *s)
{
	for (int i = 0; i < s->nreleased; i++) {
		if (l->ndone == LOGS_DONE_MAX) {
			free(l->done[0].key);
			memmove(l->done, l->done + 1, sizeof(*l->done) * (LOGS_DONE_MAX - 1));
			l->ndone--;
		}
		l->done[l->ndone].key = xstrdup("done");
		l->done[l->ndone++].pos = s->released[i];
		l->reg_dirty = true;
	}
	s->nreleased = 0;
}

/* Pushes what the source produced as one chunk to its outputs. */
static void src_ship(struct logs *l, struct logs__src *s, struct buf *b, uint32_t n)
{
	struct logs__pos pos;

	take_released(l, s);
	logs__src_pos(s, &pos);
	if (n == 0) {
		/* Nothing to send (blank reads, cut lines): the position may
		 * still move, once everything before it is acknowledged. */
		if (!s->pend && (pos.off != s->committed.off || pos.ino != s->committed.ino)) {
			s->committed = pos;
			l->reg_dirty = true;
		}
		return;
	}
	struct logs_chunk *c = logs__chunk_new(++l->seq, s->id, pos.off, b, n, s->inst->stack);
	struct logs__pend *p = xcalloc(1, sizeof(*p));
	p->seq = c->seq;
	p->pos = pos;
	p->waiting = nroutes(l, s);
	if (s->pend_tail)
		s->pend_tail->next = p;
	else
		s->pend = p;
	s->pend_tail = p;
	for (struct logs_out *o = l->outs; o; o = o->next)
		if (routed(l, o, s))
			logs__out_push(o, c);
	logs__chunk_unref(c);
	src_commit(l, s);
}

static struct logs__src *src_new(struct logs *l, struct logs__inst *in, const char *path, bool cri, bool globbed,
				 struct logs__input_conf *conf)
{
	struct logs__src *s = xcalloc(1, sizeof(*s));

	s->globbed = globbed;
	s->id = ++l->next_src;
	s->inst = in;
	s->path = xstrdup(path);
	s->key = xasprintf("%s:%s", cri ? "cri" : "file", path);
	s->cri = cri;
	s->conf = conf;
	s->fd = -1;
	s->meta.host = l->host;
	s->meta.stack = in->stack;
	s->meta.service = in->service;
	snprintf(s->meta.instance, sizeof(s->meta.instance), "%s.%d", in->service, in->index);
	s->meta.type = conf->type;
	s->meta.json = conf->json;
	s->meta.json_target = conf->json_target;
	for (int k = 0; k < 2; k++)
		s->join[k].partstart = s->join[k].mlstart = -1;
	/* Resume where the registry says, if it knows this file: by its
	 * name, or (a glob's match, whose files change names as they rotate)
	 * by the identity the name now has; else where a file let go of was
	 * left (app.log, now app.log.1). */
	const struct logs__pos *saved = NULL;
	struct stat st;
	bool have_st = !cri && stat(path, &st) == 0;
	int used = -1;
	for (int i = 0; i < l->nreg; i++)
		if (l->reg[i].key && strcmp(l->reg[i].key, s->key) == 0) {
			if (!globbed || (have_st && l->reg[i].pos.dev == st.st_dev && l->reg[i].pos.ino == st.st_ino))
				used = i;
			break;
		}
	for (int i = 0; used < 0 && globbed && have_st && i < l->nreg; i++)
		if (l->reg[i].key && strncmp(l->reg[i].key, "file:", 5) == 0 && l->reg[i].pos.dev == st.st_dev &&
		    l->reg[i].pos.ino == st.st_ino)
			used = i;
	if (used >= 0)
		saved = &l->reg[used].pos;
	for (int i = l->ndone - 1; !saved && have_st && i >= 0; i--)
		if (l->done[i].pos.dev == st.st_dev && l->done[i].pos.ino == st.st_ino)
			saved = &l->done[i].pos;
	buf_reset(&l->chunkbuf);
	uint32_t n = 0;
	logs__src_open(s, saved, &l->chunkbuf, &n);
	if (!saved)
		logs__src_pos(s, &s->committed);
	if (used >= 0) {
		free(l->reg[used].key);
		l->reg[used].key = NULL;
	}
	s->next = l->srcs;
	l->srcs = s;
	src_ship(l, s, &l->chunkbuf, n);
	l->reg_dirty = true;
	return s;
}

static void src_free(struct logs__src *s)
{
	logs__src_close(s);
	for (struct logs__pend *p = s->pend, *next; p; p = next) {
		next = p->next;
		free(p);
	}
	free(s->path);
	free(s->key);
	free(s);
}

/* ---- instances ---- */

static void inst_free(struct logs__inst *in)
{
	free(in->stack);
	free(in->service);
	free(in->cri_path);
	json_decref(in->xlogs);
	for (int i = 0; i < in->nfiles; i++)
		free(in->files[i]);
	free(in->files);
	logs__conf_free(&in->cri_conf);
	for (int i = 0; i < in->nfile_conf; i++)
		logs__conf_free(&in->file_conf[i]);
	free(in->file_conf);
	free(in);
}

static struct logs__inst *inst_find(struct logs *l, const char *stack, const char *svc, int index)
{
	for (struct logs__inst *in = l->insts; in; in = in->next)
		if (!in->gone && in->index == index && strcmp(in->stack, stack) == 0 && strcmp(in->service, svc) == 0)
			return in;
	return NULL;
}

static bool stack_has_outputs(const struct logs *l, const char *stack)
{
	for (struct logs_out *o = l->outs; o; o = o->next)
		if (!o->stack || strcmp(o->stack, stack) == 0)
			return true;
	return false;
}

/* Whether the file at <p> begins with the bytes <s>'s fingerprint covers. */
static bool same_start(const char *p, const struct logs__src *s)
{
	char tmp[LOGS_FP_LEN];
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t r = fd >= 0 ? pread(fd, tmp, s->fplen, 0) : -1;

	if (fd >= 0)
		close(fd);
	return r == (ssize_t)s->fplen && logs__fp_hash(tmp, s->fplen) == s->fp;
}

/* Expands an instance's globs; new files become sources. A file already
 * followed under another name (a glob that also matches rotated names) is
 * not read twice. */
static void inst_glob(struct logs *l, struct logs__inst *in)
{
	if (in->gone || !stack_has_outputs(l, in->stack))
		return;
	for (int i = 0; i < in->nfiles; i++) {
		bool wild = strpbrk(in->files[i], "*?[") != NULL;
		glob_t g;
		if (glob(in->files[i], GLOB_NOSORT, NULL, &g) != 0)
			continue;
		for (size_t k = 0; k < g.gl_pathc; k++) {
			const char *p = g.gl_pathv[k];
			char *key = xasprintf("file:%s", p);
			struct stat st;
			bool known = src_find_key(l, key) != NULL;
			free(key);
			if (known || stat(p, &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			bool dup = false;
			for (struct logs__src *s = l->srcs; s && !dup; s = s->next)
				dup = s->fd >= 0 && s->dev == st.st_dev && s->ino == st.st_ino;
			/* A copy of a file being read (copytruncate's, before its
			 * source noticed the truncation and drained it): not a
			 * new file. */
			for (struct logs__src *s = l->srcs; s && !dup && wild; s = s->next)
				dup = s->fd >= 0 && !s->cri && s->fplen > 0 && same_start(p, s);
			if (!dup)
				src_new(l, in, p, false, wild, &in->file_conf[i]);
		}
		globfree(&g);
	}
}

/* Makes sure the instance's own log is followed, and its globs. */
static void inst_start(struct logs *l, struct logs__inst *in)
{
	char *key = xasprintf("cri:%s", in->cri_path);
	bool known = src_find_key(l, key) != NULL;

	free(key);
	if (in->gone || !stack_has_outputs(l, in->stack))
		return;
	if (!known)
		src_new(l, in, in->cri_path, true, false, &in->cri_conf);
	inst_glob(l, in);
}

static void src_set_conf(struct logs__src *s, struct logs__inst *in, struct logs__input_conf *conf)
{
	s->inst = in;
	s->conf = conf;
	s->meta.stack = in->stack;
	s->meta.service = in->service;
	s->meta.type = conf->type;
	s->meta.json = conf->json;
	s->meta.json_target = conf->json_target;
}

/* A changed definition of a known instance: its sources carry on (same
 * files, same positions) under the new settings; a file no glob matches
 * any more is let go. */
static void inst_replace(struct logs *l, struct logs__inst *old, struct logs__inst *in)
{
	old->gone = true;
	for (struct logs__src *s = l->srcs; s; s = s->next) {
		if (s->inst != old || s->gone)
			continue;
		if (s->cri) {
			if (strcmp(s->path, in->cri_path) == 0) {
				src_set_conf(s, in, &in->cri_conf);
				continue;
			}
		} else {
			int i = 0;
			while (i < in->nfiles && fnmatch(in->files[i], s->path, FNM_PATHNAME) != 0)
				i++;
			if (i < in->nfiles) {
				src_set_conf(s, in, &in->file_conf[i]);
				continue;
			}
		}
		s->gone = true;
	}
}

static void inst_gone(struct logs *l, struct logs__inst *in)
{
	in->gone = true;
	for (struct logs__src *s = l->srcs; s; s = s->next)
		if (s->inst == in)
			s->gone = true;
}

/* ---- stack outputs ---- */

static void outs_remove(struct logs *l, struct logs_out *o)
{
	for (struct logs_out **pp = &l->outs; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	logs__out_stop(o, 2000);
	logs__out_spill_all(o);
	logs__out_free(o);
}

/* Builds (or rebuilds, when changed) the outputs of a stack. */
static void stack_outputs(struct logs *l, const char *stack, const json_t *outputs)
{
	struct logs__stackouts *so;

	for (so = l->stackouts; so; so = so->next)
		if (strcmp(so->stack, stack) == 0)
			break;
	if (so && json_equal(so->outputs, (json_t *)outputs))
		return;
	if (!so && !outputs)
		return;
	if (!so) {
		so = xcalloc(1, sizeof(*so));
		so->stack = xstrdup(stack);
		so->next = l->stackouts;
		l->stackouts = so;
	}
	for (struct logs_out *o = l->outs, *next; o; o = next) {
		next = o->next;
		if (o->stack && strcmp(o->stack, stack) == 0)
			outs_remove(l, o);
	}
	json_decref(so->outputs);
	so->outputs = outputs ? json_deep_copy(outputs) : NULL;
	size_t i;
	json_t *oc;
	json_array_foreach(so->outputs, i, oc) {
		const char *nm = json_string_value(json_object_get(oc, "name"));
		char *name = xasprintf("%s.%s", stack, nm ? nm : json_string_value(json_object_get(oc, "type")));
		char *err = NULL;
		struct logs_out *o = logs__out_new(l, name, stack, oc, &err);
		if (o) {
			o->next = l->outs;
			l->outs = o;
			if (o->disk_events)
				l->seq = l->seq > logs__out_max_seq(o) ? l->seq : logs__out_max_seq(o);
		} else {
			log_error("logs", "stack %s: %s", stack, err);
		}
		free(err);
		free(name);
	}
}

/* ---- the thread ---- */

static void run_cmds(struct logs *l)
{
	struct logs__cmd *c;

	pthread_mutex_lock(&l->mu);
	c = l->cmds;
	l->cmds = l->cmds_tail = NULL;
	pthread_mutex_unlock(&l->mu);
	while (c) {
		struct logs__cmd *next = c->next;
		struct logs__inst *in = inst_find(l, c->stack, c->service, c->index);
		if (c->kind == CMD_REMOVE) {
			if (in)
				inst_gone(l, in);
		} else {
			stack_outputs(l, c->stack, c->stack_outputs); /* removed ones too */
			bool same = in && json_equal(in->xlogs, c->xlogs) && strcmp(in->cri_path, c->cri_path) == 0 &&
				    in->nfiles == c->nfiles;
			for (int i = 0; same && i < c->nfiles; i++)
				same = strcmp(in->files[i], c->files[i]) == 0;
			if (!same) {
				struct logs__inst *old = in;
				in = xcalloc(1, sizeof(*in));
				in->stack = c->stack;
				in->service = c->service;
				in->index = c->index;
				in->cri_path = c->cri_path;
				in->xlogs = c->xlogs;
				in->files = c->files;
				in->nfiles = c->nfiles;
				c->stack = c->service = c->cri_path = NULL;
				c->xlogs = NULL;
				c->files = NULL;
				c->nfiles = 0;
				logs__conf_service(in->xlogs, &in->cri_conf, &in->file_conf, &in->nfile_conf);
				in->next = l->insts;
				l->insts = in;
				if (old)
					inst_replace(l, old, in);
			}
			inst_start(l, in);
		}
		cmd_free(c);
		c = next;
	}
}

static void run_acks(struct logs *l)
{
	struct logs__ack *a;
	int n;

	pthread_mutex_lock(&l->mu);
	a = l->acks;
	n = l->nacks;
	l->acks = NULL;
	l->nacks = l->capacks = 0;
	pthread_mutex_unlock(&l->mu);
	for (int i = 0; i < n; i++)
		for (struct logs__src *s = l->srcs; s; s = s->next) {
			if (s->id != a[i].src)
				continue;
			for (struct logs__pend *p = s->pend; p; p = p->next)
				if (p->seq == a[i].seq) {
					p->waiting--;
					break;
				}
			src_commit(l, s);
			break;
		}
	free(a);
}

static bool src_room(struct logs *l, const struct logs__src *s)
{
	for (struct logs_out *o = l->outs; o; o = o->next)
		if (routed(l, o, s) && !logs__out_room(o))
			return false;
	return true;
}

static void drop_finished(struct logs *l)
{
	for (struct logs__src **pp = &l->srcs; *pp;) {
		struct logs__src *s = *pp;
		if (s->gone && s->drained && !s->pend) {
			/* Remembered, so that the same file under this or another
			 * name (berth down then up, a claimed shared path) is
			 * not read again from its start. */
			if (!s->cri && s->committed.ino) {
				s->released[0] = s->committed;
				s->nreleased = 1;
				take_released(l, s);
			}
			*pp = s->next;
			src_free(s);
			l->reg_dirty = true; /* its entry goes */
			continue;
		}
		pp = &s->next;
	}
	for (struct logs__inst **pp = &l->insts; *pp;) {
		struct logs__inst *in = *pp;
		bool used = false;
		for (struct logs__src *s = l->srcs; s && !used; s = s->next)
			used = s->inst == in;
		if (in->gone && !used) {
			*pp = in->next;
			inst_free(in);
			continue;
		}
		pp = &in->next;
	}
	/* A stack's outputs outlive its instances until they are empty. */
	for (struct logs_out *o = l->outs, *next; o; o = next) {
		next = o->next;
		bool used = !o->stack;
		for (struct logs__inst *in = l->insts; in && !used; in = in->next)
			used = strcmp(in->stack, o->stack) == 0;
		if (!used && logs__out_empty(o)) {
			for (struct logs__stackouts **sp = &l->stackouts; *sp; sp = &(*sp)->next)
				if (strcmp((*sp)->stack, o->stack) == 0) {
					struct logs__stackouts *so = *sp;
					*sp = so->next;
					json_decref(so->outputs);
					free(so->stack);
					free(so);
					break;
				}
			outs_remove(l, o);
		}
	}
}

static void snapshot_metrics(struct logs *l);

static void on_tick(uv_timer_t *t)
{
	struct logs *l = t->data;
	bool more = false;
	uint64_t now = time_mono_ms();

	run_cmds(l);
	run_acks(l);
	if (now - l->last_glob >= LOGS_GLOB_MS) {
		l->last_glob = now;
		for (struct logs__inst *in = l->insts; in; in = in->next)
			inst_start(l, in);
	}
	for (struct logs__src *s = l->srcs; s; s = s->next) {
		if (s->drained)
			continue;
		if (nroutes(l, s) == 0) {
			/* No output takes it (its stack's were removed): not read;
			 * let go when its instance is. */
			s->drained = s->gone;
			continue;
		}
		if (!src_room(l, s))
			continue;
		uint32_t n = 0;
		buf_reset(&l->chunkbuf);
		more |= logs__src_poll(s, &l->chunkbuf, &n);
		logs__src_flush(s, &l->chunkbuf, &n, false);
		src_ship(l, s, &l->chunkbuf, n);
		if (s->drained)
			for (struct logs_out *o = l->outs; o; o = o->next)
				logs__out_spill_src(o, s->id); /* its file is about to be deleted */
	}
	run_acks(l);
	drop_finished(l);
	if (l->reg_dirty) {
		char *p = registry_path(l);
		if (logs__registry_save(p, l->srcs, l->reg, l->nreg, l->done, l->ndone, l->seq) == 0)
			l->reg_dirty = false;
		free(p);
	}
	/* Under load ticks follow each other at once: the snapshot (text for
	 * every source and output) is built at most every poll interval. */
	if (now - l->last_metrics >= LOGS_POLL_MS) {
		l->last_metrics = now;
		snapshot_metrics(l);
	}
	uv_timer_start(&l->tick, on_tick, more ? 0 : LOGS_POLL_MS, 0);
}

static void on_wake(uv_async_t *a)
{
	struct logs *l = a->data;
	bool stop;

	pthread_mutex_lock(&l->mu);
	stop = l->stopping;
	if (stop)
		l->loop_closed = true;
	pthread_mutex_unlock(&l->mu);
	if (stop) {
		uv_close((uv_handle_t *)&l->tick, NULL);
		uv_close((uv_handle_t *)&l->wake, NULL);
		return;
	}
	/* Commands and acknowledgements are taken on the next tick, now. */
	if (uv_timer_get_due_in(&l->tick) > 0)
		uv_timer_start(&l->tick, on_tick, 0, 0);
}

static void thread_main(void *arg)
{
	struct logs *l = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	uv_run(&l->loop, UV_RUN_DEFAULT);
}

/* ---- metrics ---- */

static void label(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_append(b, "\\", 1);
		if (*s == '\n') {
			buf_appends(b, "\\n");
			continue;
		}
		buf_append(b, s, 1);
	}
}

static void snapshot_metrics(struct logs *l)
{
	struct buf b = {0};
	static const struct {
		const char *name, *help, *type;
	} in_m[] = {
		{"berth_logs_input_events_total", "Events read from a source.", "counter"},
		{"berth_logs_input_bytes_total", "Bytes read from a source.", "counter"},
		{"berth_logs_input_rotations_total", "Times a source's file was replaced (renamed).", "counter"},
		{"berth_logs_input_truncations_total", "Times a source's file was truncated (copytruncate).", "counter"},
	};
	for (size_t m = 0; m < sizeof(in_m) / sizeof(in_m[0]); m++) {
		buf_appendf(&b, "# HELP %s %s\n# TYPE %s %s\n", in_m[m].name, in_m[m].help, in_m[m].name, in_m[m].type);
		for (struct logs__src *s = l->srcs; s; s = s->next) {
			uint64_t v = m == 0 ? s->ev_in : m == 1 ? s->bytes_in : m == 2 ? s->rotations : s->truncations;
			buf_appendf(&b, "%s{stack=\"", in_m[m].name);
			label(&b, s->inst->stack);
			buf_appends(&b, "\",instance=\"");
			label(&b, s->meta.instance);
			buf_appends(&b, "\",path=\"");
			label(&b, s->path);
			buf_appendf(&b, "\"} %" PRIu64 "\n", v);
		}
	}
	static const struct {
		const char *name, *help, *type;
	} out_m[] = {
		{"berth_logs_output_events_total", "Events an output delivered.", "counter"},
		{"berth_logs_output_bytes_total", "Bytes of events an output delivered.", "counter"},
		{"berth_logs_output_retries_total", "Failed sends an output retried.", "counter"},
		{"berth_logs_output_dropped_total", "Events a receiver refused for good.", "counter"},
		{"berth_logs_output_buffered_events", "Events waiting in memory.", "gauge"},
		{"berth_logs_output_buffered_bytes", "Bytes waiting in memory.", "gauge"},
		{"berth_logs_output_disk_events", "Events waiting in the disk buffer.", "gauge"},
		{"berth_logs_output_disk_bytes", "Bytes waiting in the disk buffer.", "gauge"},
	};
	for (size_t m = 0; m < sizeof(out_m) / sizeof(out_m[0]); m++) {
		buf_appendf(&b, "# HELP %s %s\n# TYPE %s %s\n", out_m[m].name, out_m[m].help, out_m[m].name,
			    out_m[m].type);
		for (struct logs_out *o = l->outs; o; o = o->next) {
			pthread_mutex_lock(&o->mu);
			uint64_t v[] = {o->ev_out,     o->bytes_out, o->retries,     o->dropped,
					o->mem_events, o->mem_bytes, o->disk_events, o->disk_bytes};
			pthread_mutex_unlock(&o->mu);
			buf_appendf(&b, "%s{output=\"", out_m[m].name);
			label(&b, o->name);
			buf_appendf(&b, "\",type=\"%s\"} %" PRIu64 "\n", o->ops->type, v[m]);
		}
	}
	pthread_mutex_lock(&l->mu);
	struct buf old = l->metrics;
	l->metrics = b;
	pthread_mutex_unlock(&l->mu);
	buf_free(&old);
}

void logs_metrics(struct logs *l, struct buf *out)
{
	pthread_mutex_lock(&l->mu);
	buf_append(out, buf_ptr(&l->metrics), l->metrics.data);
	pthread_mutex_unlock(&l->mu);
}

/* ---- the agent's side ---- */

static void post(struct logs *l, struct logs__cmd *c)
{
	pthread_mutex_lock(&l->mu);
	if (l->cmds_tail)
		l->cmds_tail->next = c;
	else
		l->cmds = c;
	l->cmds_tail = c;
	if (!l->loop_closed)
		uv_async_send(&l->wake);
	pthread_mutex_unlock(&l->mu);
}

void logs_instance_add(struct logs *l, const struct logs_instance *in)
{
	struct logs__cmd *c = xcalloc(1, sizeof(*c));

	c->kind = CMD_ADD;
	c->stack = xstrdup(in->stack);
	c->service = xstrdup(in->service);
	c->index = in->index;
	c->cri_path = xstrdup(in->cri_path);
	c->xlogs = in->xlogs ? json_deep_copy(in->xlogs) : json_object();
	c->stack_outputs = in->stack_outputs ? json_deep_copy(in->stack_outputs) : NULL;
	c->files = xcalloc((size_t)in->nfiles + 1, sizeof(char *));
	for (int i = 0; i < in->nfiles; i++)
		c->files[i] = xstrdup(in->files[i]);
	c->nfiles = in->nfiles;
	post(l, c);
}

void logs_instance_remove(struct logs *l, const char *stack, const char *service, int index)
{
	struct logs__cmd *c = xcalloc(1, sizeof(*c));

	c->kind = CMD_REMOVE;
	c->stack = xstrdup(stack);
	c->service = xstrdup(service);
	c->index = index;
	post(l, c);
}

struct logs *logs_new(const struct logs_opts *o, char **err)
{
	struct logs *l = xcalloc(1, sizeof(*l));
	uint64_t seq;
	size_t i;
	json_t *oc;

	/* Before any output thread: the elasticsearch output's curl handles
	 * must find libcurl initialised (it counts, so the docker driver's
	 * own call is harmless). */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	l->dir = xasprintf("%s/logs", o->data_dir);
	l->host = xstrdup(o->host);
	if (mkdir(l->dir, 0700) < 0 && errno != EEXIST) {
		*err = xasprintf("%s: %s", l->dir, strerror(errno));
		free(l->dir);
		free(l->host);
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->mu, NULL);
	char *rp = registry_path(l);
	logs__registry_load(rp, &l->reg, &l->nreg, &l->done, &l->ndone, &seq);
	if (!l->done)
		l->done = xcalloc(LOGS_DONE_MAX + 1, sizeof(*l->done));
	/* An entry whose file's directory is gone (an instance removed while
	 * the agent was down) can never be resumed: forgotten, so the
	 * registry does not grow for good. */
	for (int r = 0; r < l->nreg; r++) {
		const char *colon = l->reg[r].key ? strchr(l->reg[r].key, ':') : NULL;
		const char *slash = colon ? strrchr(colon + 1, '/') : NULL;
		struct stat st;
		if (!slash)
			continue;
		char *dir = xstrndup(colon + 1, (size_t)(slash - colon - 1));
		if (*dir && stat(dir, &st) < 0 && errno == ENOENT) {
			free(l->reg[r].key);
			l->reg[r].key = NULL;
		}
		free(dir);
	}
	free(rp);
	l->seq = seq;
	json_array_foreach(o->outputs, i, oc) {
		const char *nm = json_string_value(json_object_get(oc, "name"));
		struct logs_out *out = logs__out_new(l, nm ? nm : json_string_value(json_object_get(oc, "type")), NULL, oc, err);
		if (!out) {
			logs_free(l);
			return NULL;
		}
		out->next = l->outs;
		l->outs = out;
		if (logs__out_max_seq(out) > l->seq)
			l->seq = logs__out_max_seq(out);
	}
	/* /metrics answers from the first moment, disk buffers included. */
	snapshot_metrics(l);
	uv_loop_init(&l->loop);
	uv_async_init(&l->loop, &l->wake, on_wake);
	l->wake.data = l;
	uv_timer_init(&l->loop, &l->tick);
	l->tick.data = l;
	uv_timer_start(&l->tick, on_tick, 0, 0);
	if (uv_thread_create(&l->th, thread_main, l) != 0) {
		*err = xstrdup("cannot start the log pipeline's thread");
		uv_close((uv_handle_t *)&l->tick, NULL);
		uv_close((uv_handle_t *)&l->wake, NULL);
		uv_run(&l->loop, UV_RUN_DEFAULT);
		uv_loop_close(&l->loop);
		l->wake.data = NULL; /* no thread to stop */
		logs_free(l);
		return NULL;
	}
	return l;
}

void logs_free(struct logs *l)
{
	if (!l)
		return;
	if (l->wake.data) {
		pthread_mutex_lock(&l->mu);
		l->stopping = true;
		pthread_mutex_unlock(&l->mu);
		uv_async_send(&l->wake);
		uv_thread_join(&l->th);
		uv_loop_close(&l->loop);
	}
	/* The sources are still here (nothing reads them now): let the
	 * outputs finish their current send, put the rest on disk, and save
	 * the positions that makes durable. */
	for (struct logs_out *o = l->outs; o; o = o->next)
		pthread_mutex_lock(&o->mu), o->stop = true, pthread_cond_broadcast(&o->cv), pthread_mutex_unlock(&o->mu);
	/* One deadline for all of them: a stuck receiver costs 2 s once. */
	uint64_t deadline = time_mono_ms() + 2000;
	bool stuck = false;
	for (struct logs_out *o = l->outs; o; o = o->next) {
		uint64_t now = time_mono_ms();
		logs__out_stop(o, now < deadline ? (int)(deadline - now) : 0);
		stuck |= o->started;
		logs__out_spill_all(o);
	}
	run_acks(l);
	char *p = registry_path(l);
	logs__registry_save(p, l->srcs, l->reg, l->nreg, l->done, l->ndone, l->seq);
	free(p);
	if (stuck) {
		/* A send still blocked past its own timeouts will touch the
		 * output and this struct when it returns: both are left to
		 * the process's exit, which follows. Its chunk was not
		 * counted, so the next run sends it. */
		return;
	}
	for (struct logs_out *o = l->outs, *next; o; o = next) {
		next = o->next;
		logs__out_free(o);
	}
	for (struct logs__src *s = l->srcs, *next; s; s = next) {
		next = s->next;
		src_free(s);
	}
	for (struct logs__inst *in = l->insts, *next; in; in = next) {
		next = in->next;
		inst_free(in);
	}
	for (struct logs__stackouts *so = l->stackouts, *next; so; so = next) {
		next = so->next;
		json_decref(so->outputs);
		free(so->stack);
		free(so);
	}
	for (struct logs__cmd *c = l->cmds, *next; c; c = next) {
		next = c->next;
		cmd_free(c);
	}
	logs__registry_free(l->reg, l->nreg);
	logs__registry_free(l->done, l->ndone);
	free(l->acks);
	buf_free(&l->metrics);
	buf_free(&l->chunkbuf);
	pthread_mutex_destroy(&l->mu);
	free(l->dir);
	free(l->host);
	free(l);
}
