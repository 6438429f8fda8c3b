/* The tcp check: healthy iff a connection to the instance's port opens within the timeout. */
#include "health/health-int.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/mem.h"

struct tcp_priv {
	struct health_conn k;  /* the run's connection */
};

static void tcp_done(struct health_check *c, bool ok, const char *what)
{
	struct tcp_priv *p = c->priv;
	char m[160];

	health__conn_close(&p->k, true);
	snprintf(m, sizeof(m), "%s %s:%d%s%s", ok ? "connected to" : "connect to", c->addr, c->host_port,
		 what ? ": " : "", what ? what : "");
	health__run_done(c, ok, m, NULL, -1);
}

static void on_connected(struct health_conn *k, void *arg)
{
	tcp_done(arg, true, NULL);
}

static void on_data(struct health_conn *k, void *arg)
{
}

static void on_error(struct health_conn *k, int status, void *arg)
{
	tcp_done(arg, false, uv_strerror(status));
}

static const struct health_conn_events tcp_events = {on_connected, on_data, on_error};

static int tcp_init(struct health_check *c)
{
	c->priv = XNEW(struct tcp_priv);
	return 0;
}

static void tcp_run(struct health_check *c)
{
	struct tcp_priv *p = c->priv;
	int r;

	if (c->port_error) {
		health__run_done(c, false, c->port_error, NULL, -1);
		return;
	}
	r = health__conn_open(&p->k, c, 0, &tcp_events, c);
	if (r < 0)
		tcp_done(c, false, uv_strerror(r));
}

static void tcp_timeout(struct health_check *c)
{
	char d[32], m[64];

	health__duration_str(c->cfg.timeout, d, sizeof(d));
	snprintf(m, sizeof(m), "timed out after %s", d);
	tcp_done(c, false, m);
}

static void tcp_cancel(struct health_check *c)
{
	struct tcp_priv *p = c->priv;

	health__conn_close(&p->k, true);
}

static void tcp_release(struct health_check *c)
{
	free(c->priv);
}

const struct health_kind_ops health__tcp_ops = {
	.name = "tcp",
	.kind = HEALTH_KIND_TCP,
	.init = tcp_init,
	.run = tcp_run,
	.timeout = tcp_timeout,
	.cancel = tcp_cancel,
	.release = tcp_release,
};
