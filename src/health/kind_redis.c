/* The redis check: ROLE (after AUTH when a password is given); healthy iff answered; tags primary, replica or sentinel. */
#include "health/health-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "health/resp.h"

/*
 * ROLE answers on a primary ("master", offset, replicas), a replica
 * ("slave", primary host, port, link state, offset) and a Sentinel
 * ("sentinel", [primary names]); Redis 5+ and Valkey have it. It needs no
 * dataset access, so it is safe under ACLs that allow just "+role". Both
 * commands go in one write; the replies come back in order.
 */

#define REDIS_MAX_READ (64u << 10) /* bytes of replies we read */

struct redis_priv {
	struct health_conn k;     /* the run's connection */
	struct health_resp resp;  /* parse scratch (6 KiB: not on the stack) */
	size_t pos;               /* bytes of rbuf already parsed */
	int want;                 /* replies still expected: AUTH (if sent) then ROLE */
	bool auth;                /* AUTH was sent */
};

static void redis_done(struct health_check *c, bool ok, const char *msg, const char *tag)
{
	struct redis_priv *p = c->priv;
	const char *tags[1] = {tag};

	health__conn_close(&p->k, true);
	health__run_done(c, ok, msg, tags, tag ? 1 : -1);
}

static void fail(struct health_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct health_check *c, const char *fmt, ...)
{
	va_list ap;
	char m[512];

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	redis_done(c, false, m, NULL);
}

static bool str_is(const struct health_resp_node *n, const char *s)
{
	return n->type == HEALTH_RESP_BULK && !n->null && slice_eq(n->str, slice_from(s));
}

/* Judges ROLE's reply (node 0 of p->resp). */
static void judge_role(struct health_check *c)
{
	struct redis_priv *p = c->priv;
	const struct health_resp *r = &p->resp;
	const struct health_resp_node *role;
	char m[256];
	int i;

	if (r->nodes[0].type == HEALTH_RESP_ERROR) {
		char *e = health__text(r->nodes[0].str.ptr, r->nodes[0].str.len);
		fail(c, "ROLE: %s", e);
		free(e);
		return;
	}
	if ((i = health_resp_item(r, 0, 0)) < 0) {
		fail(c, "%s", "ROLE: unexpected reply");
		return;
	}
	role = &r->nodes[i];
	if (str_is(role, "master")) {
		int reps = health_resp_item(r, 0, 2);
		snprintf(m, sizeof(m), "role master, %d replica(s)",
			 reps >= 0 && r->nodes[reps].type == HEALTH_RESP_ARRAY ? (int)r->nodes[reps].integer : 0);
		redis_done(c, true, m, "primary");
	} else if (str_is(role, "slave") || str_is(role, "replica")) {
		int h = health_resp_item(r, 0, 1), port = health_resp_item(r, 0, 2), st = health_resp_item(r, 0, 3);
		const struct health_resp_node *hn = h >= 0 ? &r->nodes[h] : NULL, *sn = st >= 0 ? &r->nodes[st] : NULL;
		snprintf(m, sizeof(m), "role replica of %.*s:%lld, link %.*s",
			 hn && hn->type == HEALTH_RESP_BULK ? (int)(hn->str.len > 64 ? 64 : hn->str.len) : 1,
			 hn && hn->type == HEALTH_RESP_BULK ? hn->str.ptr : "?",
			 port >= 0 && r->nodes[port].type == HEALTH_RESP_INTEGER ? (long long)r->nodes[port].integer : 0LL,
			 sn && sn->type == HEALTH_RESP_BULK ? (int)(sn->str.len > 32 ? 32 : sn->str.len) : 1,
			 sn && sn->type == HEALTH_RESP_BULK ? sn->str.ptr : "?");
		/* printf-ed bytes from the wire: make them text */
		char *t = health__text(m, strlen(m));
		redis_done(c, true, t, "replica");
		free(t);
	} else if (str_is(role, "sentinel")) {
		redis_done(c, true, "role sentinel", "sentinel");
	} else {
		char *t = health__text(role->str.ptr, role->str.len > 64 ? 64 : role->str.len);
		fail(c, "ROLE: unknown role \"%s\"", t);
		free(t);
	}
}

static void on_data(struct health_conn *k, void *arg)
{
	struct health_check *c = arg;
	struct redis_priv *p = c->priv;

	while (p->want > 0) {
		int n = health_resp_parse(buf_ptr(&k->rbuf) + p->pos, k->rbuf.data - p->pos, &p->resp);
		if (n == HEALTH_RESP_INCOMPLETE)
			return;
		if (n < 0) {
			fail(c, "%s", n == HEALTH_RESP_ERR_LIMIT ? "reply too large" : "malformed reply (not RESP2)");
			return;
		}
		p->pos += (size_t)n;
		if (p->want-- == 2) {
			/* AUTH's reply */
			const struct health_resp_node *a = &p->resp.nodes[0];
			if (a->type == HEALTH_RESP_ERROR) {
				char *e = health__text(a->str.ptr, a->str.len);
				fail(c, "AUTH: %s", e);
				free(e);
				return;
			}
			continue;
		}
		judge_role(c);
		return;
	}
}

static void on_connected(struct health_conn *k, void *arg)
{
	struct health_check *c = arg;
	struct redis_priv *p = c->priv;
	struct buf b = {0};
	const char *pass = c->cfg.password;

	if (!pass && c->cfg.password_env) {
		pass = health__env_get(c, c->cfg.password_env);
		if (!pass) {
			fail(c, "password_env: %s is not set in the instance's environment", c->cfg.password_env);
			return;
		}
	}
	p->auth = pass != NULL;
	p->want = p->auth ? 2 : 1;
	if (p->auth) {
		const char *auth[] = {"AUTH", pass};
		health_resp_command(&b, 2, auth);
	}
	const char *role[] = {"ROLE"};
	health_resp_command(&b, 1, role);
	health__conn_send(k, buf_ptr(&b), b.data);
	buf_free(&b);
}

static void on_error(struct health_conn *k, int status, void *arg)
{
	struct health_check *c = arg;

	if (!k->connected)
		fail(c, "connect to %s:%d: %s", c->addr, c->host_port, uv_strerror(status));
	else if (status == UV_ENOBUFS)
		fail(c, "%s", "reply too large");
	else if (status == UV_EOF)
		fail(c, "%s", "connection closed before the reply");
	else
		fail(c, "%s", uv_strerror(status));
}

static const struct health_conn_events redis_events = {on_connected, on_data, on_error};

static int redis_init(struct health_check *c)
{
	c->priv = XNEW(struct redis_priv);
	return 0;
}

static void redis_run(struct health_check *c)
{
	struct redis_priv *p = c->priv;
	char m[160];
	int r;

	if (c->port_error) {
		health__run_done(c, false, c->port_error, NULL, -1);
		return;
	}
	p->pos = 0;
	p->want = 1;
	r = health__conn_open(&p->k, c, REDIS_MAX_READ, &redis_events, c);
	if (r < 0) {
		snprintf(m, sizeof(m), "connect to %s:%d: %s", c->addr, c->host_port, uv_strerror(r));
		redis_done(c, false, m, NULL);
	}
}

static void redis_timeout(struct health_check *c)
{
	char d[32];

	health__duration_str(c->cfg.timeout, d, sizeof(d));
	fail(c, "timed out after %s", d);
}

static void redis_cancel(struct health_check *c)
{
	struct redis_priv *p = c->priv;

	health__conn_close(&p->k, true);
}

static void redis_release(struct health_check *c)
{
	free(c->priv);
}

const struct health_kind_ops health__redis_ops = {
	.name = "redis",
	.kind = HEALTH_KIND_REDIS,
	.init = redis_init,
	.run = redis_run,
	.timeout = redis_timeout,
	.cancel = redis_cancel,
	.release = redis_release,
};
