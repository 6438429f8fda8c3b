/* The redis output: each batch is one RPUSH of its events (JSON text, one
 * list element each) onto <key>, which is what Logstash's redis input
 * reads with data_type => "list". The reply (the list's new length, or an
 * error) is read before the batch counts as delivered. Replies are parsed
 * by health/resp.c, the bounded RESP parser the redis check uses. */
#include "logs/output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mem.h"
#include "health/resp.h"

struct out_redis {
	char *addr, *key, *password;
	int db;
	int fd;
};

static int check(const json_t *cfg, char **why, const char **at)
{
	const char *k;
	json_t *v;

	if (!json_object_get(cfg, "address")) {
		*why = xstrdup("a redis output needs an address (HOST:PORT)");
		*at = NULL;
		return -1;
	}
	json_object_foreach((json_t *)cfg, k, v) {
		*at = k;
		if (!strcmp(k, "address")) {
			if (!json_string_value(v)) {
				*why = xstrdup("expected HOST:PORT");
				return -1;
			}
			if (logs_net_check_addr(json_string_value(v), why) < 0)
				return -1;
		} else if (!strcmp(k, "key") || !strcmp(k, "password")) {
			if (!json_string_value(v) || !*json_string_value(v)) {
				*why = xstrdup("expected a string");
				return -1;
			}
		} else if (!strcmp(k, "db")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535) {
				*why = xstrdup("expected a database number");
				return -1;
			}
		} else {
			*why = xstrdup("unknown key (redis takes address, key, password, db)");
			return -1;
		}
	}
	return 0;
}

static void *create(const json_t *cfg)
{
	struct out_redis *o = xcalloc(1, sizeof(*o));
	const char *key = json_string_value(json_object_get(cfg, "key"));
	const char *pw = json_string_value(json_object_get(cfg, "password"));

	o->addr = xstrdup(json_string_value(json_object_get(cfg, "address")));
	o->key = xstrdup(key ? key : "logstash");
	o->password = pw ? xstrdup(pw) : NULL;
	o->db = (int)json_integer_value(json_object_get(cfg, "db"));
	o->fd = -1;
	return o;
}

/* Reads one reply. Returns 0 with its first node's type in *type (and an
 * error's text in *err), or -1 with *err. */
static int reply(struct out_redis *o, struct buf *in, int *type, char **err)
{
	struct health_resp *r = xmalloc(sizeof(*r));
	int rc = -1;

	buf_reset(in);
	for (;;) {
		int n = health_resp_parse(buf_ptr(in), in->data, r);
		if (n > 0) {
			*type = r->nodes[0].type;
			if (*type == HEALTH_RESP_ERROR)
				*err = xasprintf("redis %s: %.*s", o->addr, (int)r->nodes[0].str.len, r->nodes[0].str.ptr);
			rc = 0;
			break;
		}
		if (n < 0) {
			*err = xasprintf("redis %s: not a RESP reply", o->addr);
			break;
		}
		buf_reserve(in, 4096);
		ssize_t got = recv(o->fd, buf_tail(in), buf_room(in), 0);
		if (got <= 0) {
			*err = xasprintf("redis %s: %s", o->addr, got < 0 ? strerror(errno) : "connection closed");
			break;
		}
		in->data += (size_t)got;
	}
	free(r);
	return rc;
}

static int command(struct out_redis *o, int argc, const char *const *argv, char **err)
{
	struct buf b = {0}, in = {0};
	int type, rc;

	health_resp_command(&b, argc, argv);
	rc = logs_net_write_all(o->fd, buf_ptr(&b), b.data, err);
	if (rc == 0)
		rc = reply(o, &in, &type, err) < 0 || type == HEALTH_RESP_ERROR ? -1 : 0;
	buf_free(&b);
	buf_free(&in);
	return rc;
}

static int connect_(struct out_redis *o, char **err)
{
	char db[16];

	if ((o->fd = logs_net_connect(o->addr, 0, 10000, err)) < 0)
		return -1;
	snprintf(db, sizeof(db), "%d", o->db);
	if ((o->password && command(o, 2, (const char *const[]){"AUTH", o->password}, err) < 0) ||
	    (o->db && command(o, 2, (const char *const[]){"SELECT", db}, err) < 0)) {
		close(o->fd);
		o->fd = -1;
		return -1;
	}
	return 0;
}

static int send_(void *priv, struct logs_batch *b, char **err)
{
	struct out_redis *o = priv;
	struct buf out = {0}, in = {0};
	int type, rc;

	if (o->fd < 0 && connect_(o, err) < 0)
		return -1;
	buf_appendf(&out, "*%u\r\n$5\r\nRPUSH\r\n$%zu\r\n%s\r\n", b->n + 2, strlen(o->key), o->key);
	uint32_t n = 0;
	const char *p = b->data, *line;
	size_t len;
	for (; logs_batch_next(&p, b->data + b->len, &line, &len); n++) {
		buf_appendf(&out, "$%zu\r\n", len);
		buf_append(&out, line, len);
		buf_append(&out, "\r\n", 2);
	}
	if (n != b->n) {
		/* The count written first must match: rebuild with the real one. */
		struct buf fix = {0};
		char *body = strstr(buf_ptr(&out), "\r\n") + 2;
		buf_appendf(&fix, "*%u\r\n", n + 2);
		buf_append(&fix, body, out.data - (size_t)(body - buf_ptr(&out)));
		buf_free(&out);
		out = fix;
	}
	rc = logs_net_write_all(o->fd, buf_ptr(&out), out.data, err);
	if (rc == 0)
		rc = reply(o, &in, &type, err) < 0 || type != HEALTH_RESP_INTEGER ? -1 : 0;
	if (rc < 0 && !*err)
		*err = xasprintf("redis %s: unexpected reply to RPUSH", o->addr);
	if (rc < 0) {
		close(o->fd);
		o->fd = -1;
	}
	buf_free(&out);
	buf_free(&in);
	return rc;
}

static void destroy(void *priv)
{
	struct out_redis *o = priv;
	if (o->fd >= 0)
		close(o->fd);
	free(o->addr);
	free(o->key);
	free(o->password);
	free(o);
}

const struct logs_output_ops logs_out_redis = {
	.type = "redis",
	.check = check,
	.create = create,
	.send = send_,
	.destroy = destroy,
};
