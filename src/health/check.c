/* Running one instance's check on the loop: scheduling runs, counting results, calling back, stopping. */
#include "health/health-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"

/*
 * One check is three timers and whatever its kind opens for a run:
 *
 *   run_timer  fires when the next run is due; a run starts only once the
 *              previous run's handles are all closed (nrun == 0), so runs
 *              never overlap, not even with a killed exec still dying;
 *   deadline   the running run's timeout: the kind ends the run, failed;
 *   fsm_timer  the initializing timeout, which needs no result to strike.
 *
 * The next run is scheduled <interval> after a run ends (start_interval
 * while failures do not count yet), as docker and HAProxy do: a slow check
 * stretches the period instead of piling up.
 */

static void on_run_timer(uv_timer_t *t);

/* ---- helpers ---- */

const char *health__env_get(const struct health_check *c, const char *name)
{
	size_t n = strlen(name);

	if (!c->env)
		return getenv(name);
	for (char **e = c->env; *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static bool tag_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
	       ch == '_';
}

int health__tags_parse(const char *s, size_t len, char *out, size_t cap, const char **tags)
{
	size_t o = 0;
	int n = 0;

	for (size_t i = 0; i <= len && n < HEALTH_MAX_TAGS;) {
		size_t j = i;
		while (j < len && s[j] != ',')
			j++;
		size_t a = i, b = j;
		while (a < b && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
			b--;
		bool ok = b > a && b - a <= 63 && o + (b - a) + 1 <= cap;
		for (size_t k = a; ok && k < b; k++)
			ok = tag_char(s[k]);
		for (int k = 0; ok && k < n; k++)
			ok = !(strlen(tags[k]) == b - a && memcmp(tags[k], s + a, b - a) == 0);
		if (ok) {
			memcpy(out + o, s + a, b - a);
			out[o + (b - a)] = '\0';
			tags[n++] = out + o;
			o += b - a + 1;
		}
		i = j + 1;
	}
	return n;
}

/* Length of the valid UTF-8 sequence at <p> (at most <n> bytes), 0 if
 * there is none (RFC 3629: no overlongs, surrogates or past U+10FFFF). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char b = p[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		len = 2;
	else if (b >= 0xe0 && b <= 0xef)
		len = 3, lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
	else if (b >= 0xf0 && b <= 0xf4)
		len = 4, lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

char *health__text(const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_len(u + i, len - i);
		if (n == 0 || (n == 1 && ((u[i] < 0x20 && u[i] != '\n' && u[i] != '\t') || u[i] == 0x7f))) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	while (o > 0 && (out[o - 1] == '\n' || out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	out[o] = '\0';
	return out;
}

/* ---- the check's life ---- */

static void check_free(struct health_check *c)
{
	if (c->ops)
		c->ops->release(c);
	health_config_free(&c->cfg);
	for (char **e = c->env; e && *e; e++)
		free(*e);
	free(c->env);
	for (int i = 0; i < c->ntags; i++)
		free(c->tags[i]);
	free(c->message);
	free(c->port_error);
	free(c->name);
	free(c->addr);
	free(c->cwd);
	free(c->user);
	free(c);
}

static void handle_closed(struct health_check *c)
{
	BUG_ON(c->nhandles <= 0);
	if (--c->nhandles == 0 && c->dead)
		check_free(c);
}

static void on_timer_close(uv_handle_t *h)
{
	handle_closed(h->data);
}

void health__run_handle_open(struct health_check *c)
{
	c->nhandles++;
	c->nrun++;
}

void health__run_handle_closed(struct health_check *c)
{
	BUG_ON(c->nrun <= 0);
	c->nrun--;
	/* A run that came due while the last one was still closing starts
	 * now, from its own timer so that no kind is re-entered from a close
	 * callback of its own. */
	if (c->nrun == 0 && !c->dead && !c->running && !uv_is_active((uv_handle_t *)&c->run_timer))
		uv_timer_start(&c->run_timer, on_run_timer, 0, 0);
	handle_closed(c);
}

static void notify(struct health_check *c)
{
	if (c->dead || !c->cb)
		return;
	c->cb(c, c->fsm.state, (const char *const *)c->tags, c->ntags, c->message, c->arg);
}

static void set_message(struct health_check *c, const char *m)
{
	free(c->message);
	c->message = xstrdup(m ? m : "");
}

/* Replaces the tags; true when they changed. */
static bool set_tags(struct health_check *c, const char *const *tags, int ntags)
{
	bool same = ntags == c->ntags;

	for (int i = 0; same && i < ntags; i++)
		same = strcmp(tags[i], c->tags[i]) == 0;
	if (same)
		return false;
	for (int i = 0; i < c->ntags; i++)
		free(c->tags[i]);
	c->ntags = ntags < HEALTH_MAX_TAGS ? ntags : HEALTH_MAX_TAGS;
	for (int i = 0; i < c->ntags; i++)
		c->tags[i] = xstrdup(tags[i]);
	return true;
}

static void on_fsm_timer(uv_timer_t *t);

static void arm_fsm_timer(struct health_check *c)
{
	uint64_t at = health__fsm_deadline(&c->fsm), now = uv_now(c->loop);

	if (at == UINT64_MAX) {
		uv_timer_stop(&c->fsm_timer);
		return;
	}
	uv_timer_start(&c->fsm_timer, on_fsm_timer, at > now ? at - now : 0, 0);
}

static void on_fsm_timer(uv_timer_t *t)
{
	struct health_check *c = t->data;
	char d[32], m[96];

	if (c->dead || !health__fsm_tick(&c->fsm, uv_now(c->loop)))
		return;
	health__duration_str(c->fsm.init_timeout, d, sizeof(d));
	snprintf(m, sizeof(m), "not healthy within the initializing timeout of %s", d);
	set_message(c, m);
	log_info("health", "%s: %s check: unhealthy (%s)", c->name, c->ops->name, m);
	notify(c);
}

void health__run_done(struct health_check *c, bool ok, const char *message, const char *const *tags,
		      int ntags)
{
	uint64_t now = uv_now(c->loop);
	enum health_state was = c->fsm.state;
	bool changed, tags_changed = false;

	if (c->dead || !c->running)
		return;
	c->running = false;
	uv_timer_stop(&c->deadline);
	set_message(c, message);
	changed = health__fsm_result(&c->fsm, ok, now);
	if (ntags >= 0)
		tags_changed = set_tags(c, tags, ntags);
	arm_fsm_timer(c);
	uv_timer_start(&c->run_timer, on_run_timer,
		       health__fsm_in_grace(&c->fsm, now) ? c->cfg.start_interval : c->cfg.interval, 0);
	if (!ok)
		log_debug("health", "%s: %s check failed: %s", c->name, c->ops->name, c->message);
	if (changed)
		log_info("health", "%s: %s check: %s -> %s%s%s", c->name, c->ops->name, health_state_name(was),
			 health_state_name(c->fsm.state), c->message[0] ? ": " : "", c->message);
	if (changed || tags_changed)
		notify(c);
}

static void on_deadline(uv_timer_t *t)
{
	struct health_check *c = t->data;

	if (c->running && !c->dead)
		c->ops->timeout(c);
}

static void on_run_timer(uv_timer_t *t)
{
	struct health_check *c = t->data;

	if (c->dead || c->running)
		return;
	/* Still closing the last run's handles: health__run_handle_closed()
	 * restarts this timer once they are gone. */
	if (c->nrun > 0)
		return;
	c->running = true;
	if (c->cfg.kind != HEALTH_KIND_TTL)
		uv_timer_start(&c->deadline, on_deadline, c->cfg.timeout ? c->cfg.timeout : 1, 0);
	c->ops->run(c);
}

void health__duration_str(uint64_t ms, char *dst, size_t cap)
{
	if (ms % 1000 == 0)
		snprintf(dst, cap, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(dst, cap, "%llums", (unsigned long long)ms);
}

/* Finds the host port to check and fills c->sa; a problem becomes
 * c->port_error, which every run reports. Returns -1 only for an address
 * that is not numeric (the caller's mistake). */
static int resolve_target(struct health_check *c, const struct health_target *t)
{
	int port = 0;

	if (c->cfg.port) {
		for (int i = 0; i < t->nports; i++)
			if (t->ports[i].target == c->cfg.port)
				port = t->ports[i].host;
		if (!port)
			c->port_error = xasprintf("port %d is not a port of the instance", c->cfg.port);
	} else if (t->nports > 0) {
		port = t->ports[0].host;
	} else {
		c->port_error = xstrdup("the instance has no port to check (give x-berth.check.port and ports:)");
	}
	if (port < 0 || port > 65535) {
		free(c->port_error);
		c->port_error = xasprintf("host port %d out of range", port);
		port = 0;
	}
	c->host_port = port;
	if (uv_ip4_addr(c->addr, port, (struct sockaddr_in *)&c->sa) == 0)
		return 0;
	if (uv_ip6_addr(c->addr, port, (struct sockaddr_in6 *)&c->sa) == 0)
		return 0;
	return -1;
}

struct health_check *health_check_start(uv_loop_t *loop, const struct health_config *cfg,
					const struct health_target *t, health_cb *cb, void *arg)
{
	const struct health_kind_ops *ops = health__kind_find(cfg->kind);
	struct health_check *c;

	if (cfg->kind != HEALTH_KIND_NONE && !ops) {
		log_error("health", "%s: unknown check kind %d", t->name ? t->name : "instance", (int)cfg->kind);
		return NULL;
	}
	c = XNEW(struct health_check);
	c->loop = loop;
	c->ops = ops;
	health_config_copy(&c->cfg, cfg);
	if (c->cfg.rise < 1)
		c->cfg.rise = 1;
	if (c->cfg.fall < 1)
		c->cfg.fall = 1;
	if (!c->cfg.interval)
		c->cfg.interval = 1;
	if (!c->cfg.start_interval)
		c->cfg.start_interval = c->cfg.interval;
	c->name = xstrdup(t->name ? t->name : "instance");
	c->addr = xstrdup(t->addr ? t->addr : "127.0.0.1");
	c->cb = cb;
	c->arg = arg;
	c->message = xstrdup("");
	if (t->env) {
		int n = 0;
		while (t->env[n])
			n++;
		c->env = XNEWV(char *, (size_t)n + 1);
		for (int i = 0; i < n; i++)
			c->env[i] = xstrdup(t->env[i]);
	}
	c->cwd = t->cwd ? xstrdup(t->cwd) : NULL;
	c->user = t->user ? xstrdup(t->user) : NULL;
	if (resolve_target(c, t) < 0) {
		log_error("health", "%s: address \"%s\" is not a numeric IP address", c->name, c->addr);
		c->ops = NULL;
		check_free(c);
		return NULL;
	}
	if (ops && ops->init(c) < 0) {
		c->ops = NULL; /* init cleaned up after itself */
		check_free(c);
		return NULL;
	}
	uv_timer_init(loop, &c->run_timer);
	uv_timer_init(loop, &c->deadline);
	uv_timer_init(loop, &c->fsm_timer);
	c->run_timer.data = c->deadline.data = c->fsm_timer.data = c;
	c->nhandles = 3;
	if (!ops) {
		c->fsm.state = HEALTH_NONE;
		return c;
	}
	health__fsm_init(&c->fsm, c->cfg.rise, c->cfg.fall, c->cfg.start_period,
			 t->restarted ? c->cfg.reinitializing_timeout : c->cfg.initializing_timeout, uv_now(loop));
	arm_fsm_timer(c);
	/* A ttl check's "run" is its lapse: the first one is due a TTL after
	 * the start; any other kind runs at once. */
	uv_timer_start(&c->run_timer, on_run_timer, c->cfg.kind == HEALTH_KIND_TTL ? c->cfg.ttl : 0, 0);
	return c;
}

void health_check_stop(struct health_check *c)
{
	if (!c || c->dead)
		return;
	c->dead = true;
	if (c->running && c->ops)
		c->ops->cancel(c);
	c->running = false;
	uv_close((uv_handle_t *)&c->run_timer, on_timer_close);
	uv_close((uv_handle_t *)&c->deadline, on_timer_close);
	uv_close((uv_handle_t *)&c->fsm_timer, on_timer_close);
}

enum health_state health_check_state(const struct health_check *c)
{
	return c->fsm.state;
}

const char *health_check_message(const struct health_check *c)
{
	return c->message;
}

int health_check_tags(const struct health_check *c, const char *const **tags)
{
	*tags = (const char *const *)c->tags;
	return c->ntags;
}

const struct health_config *health_check_config(const struct health_check *c)
{
	return &c->cfg;
}

/* ---- ttl: results from the API ---- */

static int ttl_result(struct health_check *c, bool ok, const char *note)
{
	if (!c || c->dead || c->cfg.kind != HEALTH_KIND_TTL)
		return UV_EINVAL;
	/* A ttl run is instantaneous, so none is ever in progress here. */
	BUG_ON(c->running);
	c->running = true;
	health__run_done(c, ok, note ? note : "", NULL, -1);
	return 0;
}

int health_ttl_pass(struct health_check *c, const char *note)
{
	return ttl_result(c, true, note);
}

int health_ttl_fail(struct health_check *c, const char *note)
{
	return ttl_result(c, false, note);
}
