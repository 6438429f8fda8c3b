/* The hook engine (hooks.h): per service, its on_change hooks with their
 * debounce, render and command, and its pre_start requests. */
#include "hooks/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "hooks/hooks-int.h"
#include "hooks/template.h"
#include "spec/spec.h"

/* One service's hooks. Shared by the engine's list, its hooks and its
 * pre_start requests, each holding a reference: a hook whose command is
 * being killed outlives the service's removal. */
struct hook_svc {
	struct hook_svc *next;
	struct hooks *h;
	int refs;
	bool listed;               /* in h->svcs */
	char *stack, *name;
	char *project_dir;         /* the commands' cwd */
	char **env;                /* NULL-terminated copy, or NULL: the agent's environment */
	char *log_path;            /* DATA/instances/<stack>/<svc>/hooks.log */
	json_t *on_change;         /* as configured (a reference): an equal one keeps the hooks */
	struct hook **hooks;       /* the current on_change hooks */
	int nhooks;
	char *pre_start;           /* command line, or NULL */
	uint64_t pre_timeout;      /* ms */
};

/* One on_change entry. */
struct hook {
	struct hooks *h;
	struct hook_svc *svc;      /* a reference */
	int idx;                   /* in the service's list, for messages and events */
	struct hooks__onchange oc; /* its config, owned */
	struct stat src_st;        /* of the template file last compiled */
	uv_timer_t timer;          /* the debounce */
	bool timer_closed;
	bool in_burst;             /* changes seen, the timer pending */
	uint64_t burst_start;      /* uv_now() at the burst's first change */
	bool pending;              /* fired while its command ran: fire once more at its end */
	bool first_done;           /* the first fire has rendered (pre_start waits for it) */
	bool stopping;
	struct hooks__cmd *cmd;    /* the running command, or NULL */
};

struct hooks_pre {
	struct hooks *h;
	struct hooks_pre *next, *prev;  /* h->pres */
	struct hook_svc *svc;      /* a reference, or NULL: no hooks */
	char *stack, *name;
	int index;
	char **env;                /* the instance's, copied, or NULL */
	void (*done)(int status, void *arg);
	void *arg;
	uv_timer_t timer;          /* defers the start (and the end when nothing runs) to the loop */
	bool waiting;              /* for the service's hooks' first render */
	bool canceled;
	bool finished;             /* done was called */
	struct hooks__cmd *cmd;
};

struct hooks {
	uv_loop_t *loop;
	const struct catalog *catalog;
	char *data_dir;
	char *shell;
	void (*event)(const struct hooks_event *ev, void *arg);
	void *arg;
	struct hook_svc *svcs;
	struct hooks_pre *pres;
	int live;                  /* hooks and pre_start requests not freed yet */
	bool freeing;
	void (*free_done)(void *arg);
	void *free_arg;
	uv_timer_t timer;          /* closed last: hooks_free's done comes from its close callback */
};

static void emit(struct hooks *h, struct hooks_event ev)
{
	if (h->event)
		h->event(&ev, h->arg);
}

/* ---- environments ---- */

static int envc(char *const *env)
{
	int n = 0;

	while (env && env[n])
		n++;
	return n;
}

static char **env_copy(char *const *env)
{
	if (!env)
		return NULL;
	int n = envc(env);
	char **c = XNEWV(char *, (size_t)n + 1);
	for (int i = 0; i < n; i++)
		c[i] = xstrdup(env[i]);
	return c;
}

static void env_free(char **env)
{
	for (int i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

static bool env_equal(char *const *a, char *const *b)
{
	if (!a || !b)
		return a == b;
	int n = envc(a);
	if (n != envc(b))
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

/* <base> (NULL: the agent's environment) with <extra> "K=V" entries set
 * over it. A new array for env_free(). */
static char **env_with(char *const *base, char **extra, int nextra)
{
	char *const *b = base ? base : environ;
	int n = envc(b), k = 0;
	char **out = XNEWV(char *, (size_t)(n + nextra) + 1);

	for (int i = 0; i < n; i++) {
		bool replaced = false;
		for (int x = 0; x < nextra && !replaced; x++) {
			size_t l = strcspn(extra[x], "=") + 1;
			replaced = strncmp(b[i], extra[x], l) == 0;
		}
		if (!replaced)
			out[k++] = xstrdup(b[i]);
	}
	for (int x = 0; x < nextra; x++)
		out[k++] = xstrdup(extra[x]);
	return out;
}

/* ---- services ---- */

static void check_freed(struct hooks *h);

static void svc_unref(struct hook_svc *s)
{
	if (--s->refs)
		return;
	free(s->stack);
	free(s->name);
	free(s->project_dir);
	env_free(s->env);
	free(s->log_path);
	json_decref(s->on_change);
	free(s->hooks);
	free(s->pre_start);
	free(s);
}

static struct hook_svc *svc_find(struct hooks *h, const char *stack, const char *name)
{
	for (struct hook_svc *s = h->svcs; s; s = s->next)
		if (strcmp(s->stack, stack) == 0 && strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static bool svc_rendered(const struct hook_svc *s)
{
	for (int i = 0; i < s->nhooks; i++)
		if (!s->hooks[i]->first_done)
			return false;
	return true;
}

static void pre_go(uv_timer_t *t);

/* Lets the pre_start requests that waited for <s>'s first renders go. */
static void release_waiters(struct hooks *h, struct hook_svc *s)
{
	if (s->listed && !svc_rendered(s))
		return;
	for (struct hooks_pre *p = h->pres; p; p = p->next)
		if (p->svc == s && p->waiting) {
			p->waiting = false;
			uv_timer_start(&p->timer, pre_go, 0, 0);
		}
}

/* ---- one on_change hook ---- */

static void hook_maybe_free(struct hook *k)
{
	struct hooks *h = k->h;

	if (!k->timer_closed || k->cmd)
		return;
	hooks__onchange_clear(&k->oc);
	svc_unref(k->svc);
	free(k);
	h->live--;
	check_freed(h);
}

static void hook_timer_closed(uv_handle_t *hd)
{
	struct hook *k = hd->data;

	k->timer_closed = true;
	hook_maybe_free(k);
}

/* Stops <k>: no more fires, its command killed. Frees it later, never
 * from inside this call. */
static void hook_stop(struct hook *k)
{
	if (k->stopping)
		return;
	k->stopping = true;
	uv_close((uv_handle_t *)&k->timer, hook_timer_closed);
	if (k->cmd)
		hooks__cmd_kill(k->cmd, UV_ECANCELED);
}

static void hook_fire(struct hook *k);

static void hook_cmd_done(struct hooks__cmd *c, int status, void *arg)
{
	struct hook *k = arg;
	struct hook_svc *s = k->svc;

	k->cmd = NULL;
	if (status == 0)
		log_info("hooks", "%s/%s: on_change[%d]: the command exited 0", s->stack, s->name, k->idx);
	else if (status == UV_ETIMEDOUT)
		log_warn("hooks", "%s/%s: on_change[%d]: the command was killed after its timeout of %llums", s->stack,
			 s->name, k->idx, (unsigned long long)k->oc.timeout);
	else if (status > 0)
		log_warn("hooks", "%s/%s: on_change[%d]: the command exited with status %d", s->stack, s->name, k->idx,
			 status);
	emit(k->h, (struct hooks_event){.kind = HOOKS_EV_RUN_EXITED, .stack = s->stack, .service = s->name,
					.hook = k->idx, .status = status});
	if (k->stopping) {
		hook_maybe_free(k);
		return;
	}
	if (k->pending) {
		k->pending = false;
		hook_fire(k);
	}
}

static void hook_run(struct hook *k)
{
	struct hook_svc *s = k->svc;
	char *extra[2] = {xasprintf("BERTH_STACK=%s", s->stack), xasprintf("BERTH_SERVICE=%s", s->name)};
	char **env = env_with(s->env, extra, 2);
	int rc = hooks__cmd_start(k->h->loop, k->h->shell, k->oc.run, s->project_dir, env, s->log_path, k->oc.timeout,
				  hook_cmd_done, k, &k->cmd);

	env_free(env);
	free(extra[0]);
	free(extra[1]);
	if (rc < 0) {
		k->cmd = NULL;
		log_errno(LOG_LVL_ERROR, "hooks", rc, "%s/%s: on_change[%d]: cannot run %s -c in %s", s->stack, s->name,
			  k->idx, k->h->shell, s->project_dir ? s->project_dir : ".");
		emit(k->h, (struct hooks_event){.kind = HOOKS_EV_RUN_EXITED, .stack = s->stack, .service = s->name,
						.hook = k->idx, .status = rc});
		return;
	}
	log_debug("hooks", "%s/%s: on_change[%d]: running %s (pid %d)", s->stack, s->name, k->idx, k->oc.run,
		  (int)k->cmd->pid);
	emit(k->h, (struct hooks_event){.kind = HOOKS_EV_RUN_STARTED, .stack = s->stack, .service = s->name,
					.hook = k->idx, .pid = (int)k->cmd->pid});
}

/* Recompiles the template when its file changed since it was compiled;
 * a file that no longer compiles keeps the old template (and says so). */
static void hook_reload(struct hook *k)
{
	struct stat st;

	if (stat(k->oc.src, &st) < 0)
		return;
	if (st.st_dev == k->src_st.st_dev && st.st_ino == k->src_st.st_ino && st.st_size == k->src_st.st_size &&
	    st.st_mtim.tv_sec == k->src_st.st_mtim.tv_sec && st.st_mtim.tv_nsec == k->src_st.st_mtim.tv_nsec)
		return;
	k->src_st = st;
	struct template *t;
	char *err;
	if (template_parse_file(k->oc.src, &t, &err) < 0) {
		log_error("hooks", "%s/%s: on_change[%d]: %s (the template as it was before is used)", k->svc->stack,
			  k->svc->name, k->idx, err);
		free(err);
		return;
	}
	hooks__onchange_set_template(&k->oc, t);
}

/* Whether <path> holds exactly <b>. */
static bool file_equals(const char *path, const struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	bool eq = false;
	char chunk[16384];
	size_t off = 0;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != b->data)
		goto out;
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || off + (size_t)r > b->data)
			goto out;
		if (r == 0)
			break;
		if (memcmp(chunk, buf_ptr(b) + off, (size_t)r) != 0)
			goto out;
		off += (size_t)r;
	}
	eq = off == b->data;
out:
	close(fd);
	return eq;
}

/* Writes <b> to a temp file beside <dest>, then renames it over <dest>.
 * The new file keeps dest's permission bits (0644 for a new one). */
static int write_atomic(const char *dest, const struct buf *b, char **err)
{
	const char *slash = strrchr(dest, '/');
	char *tmp = slash ? xasprintf("%.*s/.%s.berth-XXXXXX", (int)(slash - dest), dest, slash + 1)
			  : xasprintf(".%s.berth-XXXXXX", dest);
	struct stat st;
	mode_t mode = stat(dest, &st) == 0 ? st.st_mode & 07777 : 0644;
	int fd = mkostemp(tmp, O_CLOEXEC), rc = -1;

	if (fd < 0) {
		*err = xasprintf("cannot create a temp file beside %s: %s", dest, strerror(errno));
		free(tmp);
		return -1;
	}
	for (size_t off = 0; off < b->data;) {
		ssize_t w = write(fd, buf_ptr(b) + off, b->data - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			*err = xasprintf("cannot write %s: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		*err = xasprintf("cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		*err = xasprintf("cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, dest) < 0) {
		*err = xasprintf("cannot rename %s to %s: %s", tmp, dest, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* Renders <k>'s template into its dest: 1 written, 0 unchanged, -1 failed. */
static int hook_render(struct hook *k)
{
	struct hook_svc *s = k->svc;
	struct template_ctx ctx = {.catalog = k->h->catalog, .stack = s->stack, .service = s->name,
				   .env = s->env ? s->env : environ};
	struct buf out = {0};
	char *err = NULL;
	int rc = -1;

	hook_reload(k);
	if (template_render(k->oc.tmpl, &ctx, &out, &err) == 0) {
		if (file_equals(k->oc.dest, &out))
			rc = 0;
		else if (write_atomic(k->oc.dest, &out, &err) == 0)
			rc = 1;
	}
	buf_free(&out);
	struct hooks_event ev = {.stack = s->stack, .service = s->name, .hook = k->idx, .dest = k->oc.dest};
	if (rc < 0) {
		log_error("hooks", "%s/%s: on_change[%d]: %s: %s is kept as it is", s->stack, s->name, k->idx, err,
			  k->oc.dest);
		ev.kind = HOOKS_EV_RENDER_FAILED;
		ev.msg = err;
	} else if (rc == 0) {
		log_debug("hooks", "%s/%s: on_change[%d]: %s unchanged", s->stack, s->name, k->idx, k->oc.dest);
		ev.kind = HOOKS_EV_UNCHANGED;
	} else {
		log_info("hooks", "%s/%s: on_change[%d]: wrote %s", s->stack, s->name, k->idx, k->oc.dest);
		ev.kind = HOOKS_EV_RENDERED;
	}
	emit(k->h, ev);
	free(err);
	return rc;
}

static void hook_fire(struct hook *k)
{
	if (k->stopping)
		return;
	if (k->cmd) {
		/* Never concurrently with itself: once more when it ends. */
		k->pending = true;
		return;
	}
	bool run = k->oc.run != NULL;
	if (k->oc.tmpl)
		run = hook_render(k) == 1 && run;
	if (!k->first_done) {
		k->first_done = true;
		release_waiters(k->h, k->svc);
	}
	/* An event callback may have stopped it. */
	if (run && !k->stopping)
		hook_run(k);
}

static void hook_on_timer(uv_timer_t *t)
{
	struct hook *k = t->data;

	k->in_burst = false;
	hook_fire(k);
}

/* A watched service changed: fire MIN after the last change of the
 * burst, but at most MAX after its first (consul-template's wait). */
static void hook_change(struct hook *k)
{
	uv_loop_t *loop = k->h->loop;
	uint64_t now = uv_now(loop);

	if (k->stopping)
		return;
	/* The first fire, still to come, renders the latest catalog anyway. */
	if (!k->first_done && uv_is_active((uv_handle_t *)&k->timer))
		return;
	if (!k->in_burst) {
		k->in_burst = true;
		k->burst_start = now;
	}
	uint64_t due = now + k->oc.wait_min, last = k->burst_start + k->oc.wait_max;
	if (due > last)
		due = last;
	uv_timer_start(&k->timer, hook_on_timer, due > now ? due - now : 0, 0);
}

static struct hook *hook_new(struct hooks *h, struct hook_svc *s, int idx, struct hooks__onchange *oc)
{
	struct hook *k = XNEW(struct hook);

	k->h = h;
	k->svc = s;
	s->refs++;
	k->idx = idx;
	k->oc = *oc;
	memset(oc, 0, sizeof(*oc));
	if (k->oc.src)
		stat(k->oc.src, &k->src_st);
	uv_timer_init(h->loop, &k->timer);
	k->timer.data = k;
	h->live++;
	/* It fires once at start, so that dest exists. */
	uv_timer_start(&k->timer, hook_on_timer, 0, 0);
	return k;
}

/* ---- pre_start ---- */

static void pre_closed(uv_handle_t *hd)
{
	struct hooks_pre *p = hd->data;
	struct hooks *h = p->h;

	if (p->prev)
		p->prev->next = p->next;
	else
		h->pres = p->next;
	if (p->next)
		p->next->prev = p->prev;
	if (p->svc)
		svc_unref(p->svc);
	free(p->stack);
	free(p->name);
	env_free(p->env);
	free(p);
	h->live--;
	check_freed(h);
}

static void pre_finish(struct hooks_pre *p, int status)
{
	p->finished = true;
	if (status > 0)
		log_warn("hooks", "%s/%s.%d: pre_start: exited with status %d", p->stack, p->name, p->index, status);
	else if (status < 0)
		log_warn("hooks", "%s/%s.%d: pre_start: %s", p->stack, p->name, p->index,
			 status == UV_ETIMEDOUT ? "killed at its timeout" : uv_strerror(status));
	p->done(status, p->arg);
	uv_close((uv_handle_t *)&p->timer, pre_closed);
}

static void pre_cmd_done(struct hooks__cmd *c, int status, void *arg)
{
	struct hooks_pre *p = arg;

	p->cmd = NULL;
	emit(p->h, (struct hooks_event){.kind = HOOKS_EV_PRE_START_EXITED, .stack = p->stack, .service = p->name,
					.hook = -1, .index = p->index, .status = status});
	pre_finish(p, p->canceled ? UV_ECANCELED : status);
}

static void pre_go(uv_timer_t *t)
{
	struct hooks_pre *p = t->data;
	struct hook_svc *s = p->svc;

	if (p->canceled) {
		pre_finish(p, UV_ECANCELED);
		return;
	}
	if (!s || !s->pre_start) {
		pre_finish(p, 0);
		return;
	}
	char *extra[4] = {xasprintf("BERTH_STACK=%s", p->stack), xasprintf("BERTH_SERVICE=%s", p->name),
			  xasprintf("BERTH_INSTANCE=%s.%d", p->name, p->index), xasprintf("BERTH_INDEX=%d", p->index)};
	char **env = env_with(p->env ? p->env : s->env, extra, 4);
	int rc = hooks__cmd_start(p->h->loop, p->h->shell, s->pre_start, s->project_dir, env, s->log_path,
				  s->pre_timeout, pre_cmd_done, p, &p->cmd);
	env_free(env);
	for (int i = 0; i < 4; i++)
		free(extra[i]);
	if (rc < 0) {
		p->cmd = NULL;
		log_errno(LOG_LVL_ERROR, "hooks", rc, "%s/%s.%d: pre_start: cannot run %s -c in %s", p->stack, p->name,
			  p->index, p->h->shell, s->project_dir ? s->project_dir : ".");
		pre_finish(p, rc);
	}
}

int hooks_pre_start(struct hooks *h, const char *stack, const char *svc, int index, char *const *env,
		    void (*done)(int status, void *arg), void *arg, struct hooks_pre **out)
{
	struct hooks_pre *p = XNEW(struct hooks_pre);
	struct hook_svc *s = svc_find(h, stack, svc);

	p->h = h;
	p->stack = xstrdup(stack);
	p->name = xstrdup(svc);
	p->index = index;
	p->env = env_copy(env);
	p->done = done;
	p->arg = arg;
	p->canceled = h->freeing;
	if (s) {
		p->svc = s;
		s->refs++;
	}
	p->next = h->pres;
	if (h->pres)
		h->pres->prev = p;
	h->pres = p;
	h->live++;
	uv_timer_init(h->loop, &p->timer);
	p->timer.data = p;
	if (s && !svc_rendered(s) && !p->canceled)
		p->waiting = true;
	else
		uv_timer_start(&p->timer, pre_go, 0, 0);
	if (out)
		*out = p;
	return 0;
}

void hooks_pre_cancel(struct hooks_pre *p)
{
	if (p->finished || p->canceled)
		return;
	p->canceled = true;
	if (p->cmd) {
		hooks__cmd_kill(p->cmd, UV_ECANCELED);
		return;
	}
	p->waiting = false;
	uv_timer_start(&p->timer, pre_go, 0, 0);
}

/* ---- the engine ---- */

struct hooks *hooks_new(uv_loop_t *loop, const struct hooks_opts *o)
{
	struct hooks *h = XNEW(struct hooks);

	h->loop = loop;
	h->catalog = o->catalog;
	h->data_dir = o->data_dir ? xstrdup(o->data_dir) : NULL;
	h->shell = xstrdup(o->shell ? o->shell : "/bin/sh");
	h->event = o->event;
	h->arg = o->arg;
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	return h;
}

/* Stops <s>'s hooks and takes it off the list; <cancel>: its pre_start
 * requests end with UV_ECANCELED, otherwise they go on without waiting. */
static void svc_detach(struct hooks *h, struct hook_svc *s, bool cancel)
{
	for (struct hook_svc **pp = &h->svcs; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	s->listed = false;
	for (int i = 0; i < s->nhooks; i++)
		hook_stop(s->hooks[i]);
	s->nhooks = 0;
	for (struct hooks_pre *p = h->pres; p; p = p->next)
		if (p->svc == s && cancel)
			hooks_pre_cancel(p);
	if (!cancel) {
		free(s->pre_start);
		s->pre_start = NULL;
		release_waiters(h, s);
	}
	svc_unref(s);
}

int hooks_set_service(struct hooks *h, const char *stack, const struct spec_service *svc, const char *project_dir,
		      char *const *env, char **err)
{
	struct hooks__conf c = {0};
	char *msg = NULL, *at = NULL;
	bool at_key = false;

	if (h->freeing) {
		*err = xstrdup("the hook engine is stopping");
		return -1;
	}
	if (hooks__conf_parse(svc->x_berth, project_dir, &c, &msg, &at, &at_key) < 0) {
		*err = xasprintf("%s/%s: x-berth.%s: %s", stack, svc->name, at, msg);
		free(msg);
		free(at);
		return -1;
	}
	struct hook_svc *s = svc_find(h, stack, svc->name);
	if (!c.noc && !c.pre_start) {
		if (s)
			svc_detach(h, s, false);
		hooks__conf_clear(&c);
		return 0;
	}
	if (!s) {
		s = XNEW(struct hook_svc);
		s->h = h;
		s->refs = 1;
		s->listed = true;
		s->stack = xstrdup(stack);
		s->name = xstrdup(svc->name);
		s->log_path = xasprintf("%s/instances/%s/%s/%s", h->data_dir ? h->data_dir : ".", stack, svc->name,
					HOOKS_LOG_FILE);
		s->next = h->svcs;
		h->svcs = s;
	}
	bool same = (s->on_change ? c.on_change && json_equal(s->on_change, c.on_change) : !c.on_change) &&
		    s->project_dir && project_dir && strcmp(s->project_dir, project_dir) == 0 && env_equal(s->env, env);
	free(s->project_dir);
	s->project_dir = project_dir ? xstrdup(project_dir) : NULL;
	env_free(s->env);
	s->env = env_copy(env);
	free(s->pre_start);
	s->pre_start = c.pre_start;
	s->pre_timeout = c.pre_timeout;
	c.pre_start = NULL;
	if (!same) {
		for (int i = 0; i < s->nhooks; i++)
			hook_stop(s->hooks[i]);
		free(s->hooks);
		s->hooks = XNEWV(struct hook *, (size_t)c.noc + 1);
		s->nhooks = 0;
		for (int i = 0; i < c.noc; i++)
			s->hooks[s->nhooks++] = hook_new(h, s, i, &c.oc[i]);
		json_decref(s->on_change);
		s->on_change = c.on_change;
		c.on_change = NULL;
		release_waiters(h, s);
	}
	hooks__conf_clear(&c);
	return 0;
}

void hooks_remove_service(struct hooks *h, const char *stack, const char *svc)
{
	struct hook_svc *s = svc_find(h, stack, svc);

	if (s)
		svc_detach(h, s, true);
	for (struct hooks_pre *p = h->pres; p; p = p->next)
		if (!p->svc && strcmp(p->stack, stack) == 0 && strcmp(p->name, svc) == 0)
			hooks_pre_cancel(p);
}

void hooks_remove_stack(struct hooks *h, const char *stack)
{
	for (struct hook_svc *s = h->svcs, *next; s; s = next) {
		next = s->next;
		if (strcmp(s->stack, stack) == 0)
			svc_detach(h, s, true);
	}
	for (struct hooks_pre *p = h->pres; p; p = p->next)
		if (!p->svc && strcmp(p->stack, stack) == 0)
			hooks_pre_cancel(p);
}

void hooks_catalog_changed(struct hooks *h, const char *stack, const char *svc)
{
	for (struct hook_svc *s = h->svcs; s; s = s->next)
		for (int i = 0; i < s->nhooks; i++) {
			struct hook *k = s->hooks[i];
			for (int w = 0; w < k->oc.nwatch; w++) {
				const struct hooks__watch *x = &k->oc.watch[w];
				if (strcmp(x->stack ? x->stack : s->stack, stack) == 0 &&
				    (!x->service || strcmp(x->service, svc) == 0)) {
					hook_change(k);
					break;
				}
			}
		}
}

static void engine_closed(uv_handle_t *hd)
{
	struct hooks *h = hd->data;
	void (*done)(void *) = h->free_done;
	void *arg = h->free_arg;

	free(h->data_dir);
	free(h->shell);
	free(h);
	if (done)
		done(arg);
}

static void check_freed(struct hooks *h)
{
	if (h->freeing && !h->live && !uv_is_closing((uv_handle_t *)&h->timer))
		uv_close((uv_handle_t *)&h->timer, engine_closed);
}

void hooks_free(struct hooks *h, void (*done)(void *arg), void *arg)
{
	if (h->freeing)
		return;
	h->freeing = true;
	h->free_done = done;
	h->free_arg = arg;
	while (h->svcs)
		svc_detach(h, h->svcs, true);
	for (struct hooks_pre *p = h->pres; p; p = p->next)
		hooks_pre_cancel(p);
	check_freed(h);
}
