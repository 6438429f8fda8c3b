/* The syslog output: RFC 5424 messages over TCP with octet-counting
 * framing (RFC 6587 3.4.1) or over UDP, one datagram each (RFC 5426).
 *
 *   <PRI>1 TIMESTAMP HOST APP-NAME PROCID MSGID [berth@32473 ...] MESSAGE
 *
 * APP-NAME is the service, PROCID the instance ("web.1"), MSGID the stream
 * (stdout/stderr) or "file"; the structured data repeats stack, service,
 * instance and stream or path. 32473 is the enterprise number RFC 5612
 * reserves for examples and documentation: berth has none of its own.
 * stdout and file lines are severity info, stderr lines err, as Docker's
 * syslog driver does. Plain TCP has no acknowledgement: an event is
 * delivered once the kernel took it (RELP would be needed for more). */
#include "logs/output.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mem.h"

#define UDP_MAX 65000

static const char *const facilities[] = {"kern",   "user",   "mail",   "daemon", "auth",   "syslog",
					 "lpr",    "news",   "uucp",   "cron",   "authpriv", "ftp",
					 "ntp",    "audit",  "alert",  "clock",  "local0", "local1",
					 "local2", "local3", "local4", "local5", "local6", "local7"};

struct out_syslog {
	char *addr;
	bool udp;
	int facility;
	int fd;
};

static int facility_of(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v) >= 0 && json_integer_value(v) <= 23 ? (int)json_integer_value(v) : -1;
	for (int i = 0; json_string_value(v) && i < 24; i++)
		if (strcmp(json_string_value(v), facilities[i]) == 0)
			return i;
	return -1;
}

static int check(const json_t *cfg, char **why, const char **at)
{
	const char *k;
	json_t *v;

	if (!json_object_get(cfg, "address")) {
		*why = xstrdup("a syslog output needs an address (HOST:PORT)");
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
		} else if (!strcmp(k, "protocol")) {
			if (!json_string_value(v) || (strcmp(json_string_value(v), "tcp") && strcmp(json_string_value(v), "udp"))) {
				*why = xstrdup("expected tcp or udp");
				return -1;
			}
		} else if (!strcmp(k, "facility")) {
			if (facility_of(v) < 0) {
				*why = xstrdup("expected a facility: a name (user, daemon, local0 ... local7, ...) or 0-23");
				return -1;
			}
		} else {
			*why = xstrdup("unknown key (syslog takes address, protocol, facility)");
			return -1;
		}
	}
	return 0;
}

static void *create(const json_t *cfg)
{
	struct out_syslog *o = xcalloc(1, sizeof(*o));
	const char *p = json_string_value(json_object_get(cfg, "protocol"));

	o->addr = xstrdup(json_string_value(json_object_get(cfg, "address")));
	o->udp = p && strcmp(p, "udp") == 0;
	o->facility = json_object_get(cfg, "facility") ? facility_of(json_object_get(cfg, "facility")) : 16;
	o->fd = -1;
	return o;
}

/* A header field: printable US-ASCII without spaces, at most <max>. */
static void field(struct buf *b, const char *s, size_t max)
{
	size_t n = 0;
	for (; s && *s && n < max; s++)
		if (*s > 32 && *s < 127) {
			buf_append(b, s, 1);
			n++;
		}
	if (n == 0)
		buf_append(b, "-", 1);
}

static void param(struct buf *b, const char *name, const char *v)
{
	if (!v)
		return;
	buf_appendf(b, " %s=\"", name);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\' || *v == ']')
			buf_append(b, "\\", 1);
		buf_append(b, v, 1);
	}
	buf_append(b, "\"", 1);
}

/* One event as an RFC 5424 message. */
static void format(const struct out_syslog *o, json_t *e, struct buf *m)
{
	const char *stream = json_string_value(json_object_get(e, "stream"));
	const json_t *jm = json_object_get(e, "message");
	int sev = stream && strcmp(stream, "stderr") == 0 ? 3 : 6;

	buf_appendf(m, "<%d>1 ", o->facility * 8 + sev);
	field(m, json_string_value(json_object_get(e, "@timestamp")), 32);
	buf_append(m, " ", 1);
	field(m, json_string_value(json_object_get(e, "host")), 255);
	buf_append(m, " ", 1);
	field(m, json_string_value(json_object_get(e, "service")), 48);
	buf_append(m, " ", 1);
	field(m, json_string_value(json_object_get(e, "instance")), 128);
	buf_append(m, " ", 1);
	field(m, stream ? stream : "file", 32);
	buf_appends(m, " [berth@32473");
	param(m, "stack", json_string_value(json_object_get(e, "stack")));
	param(m, "service", json_string_value(json_object_get(e, "service")));
	param(m, "instance", json_string_value(json_object_get(e, "instance")));
	param(m, "stream", stream);
	param(m, "path", json_string_value(json_object_get(e, "path")));
	buf_appends(m, "] ");
	if (json_is_string(jm)) /* may hold a NUL: by length */
		buf_append(m, json_string_value(jm), json_string_length(jm));
}

/* A TCP peer that closed is noticed before writing into the void. */
static bool peer_closed(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, 0) <= 0)
		return false;
	return (p.revents & (POLLHUP | POLLERR)) || recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static int send_(void *priv, struct logs_batch *b, char **err)
{
	struct out_syslog *o = priv;
	struct buf out = {0}, m = {0};
	int rc = 0;

	if (o->fd >= 0 && !o->udp && peer_closed(o->fd)) {
		close(o->fd);
		o->fd = -1;
	}
	if (o->fd < 0 && (o->fd = logs_net_connect(o->addr, o->udp, 5000, err)) < 0)
		return -1;
	const char *p = b->data, *line;
	size_t n;
	while (rc == 0 && logs_batch_next(&p, b->data + b->len, &line, &n)) {
		json_t *e = json_loadb(line, n, JSON_ALLOW_NUL, NULL);
		if (!e) {
			b->dropped++; /* not an event (a damaged disk buffer): counted, not sent */
			continue;
		}
		buf_reset(&m);
		format(o, e, &m);
		json_decref(e);
		if (o->udp) {
			size_t len = m.data < UDP_MAX ? m.data : UDP_MAX;
			if (send(o->fd, buf_ptr(&m), len, MSG_NOSIGNAL) < 0) {
				*err = xasprintf("send to %s: %s", o->addr, strerror(errno));
				rc = -1;
			}
		} else {
			buf_appendf(&out, "%zu ", m.data);
			buf_append(&out, buf_ptr(&m), m.data);
		}
	}
	if (rc == 0 && !o->udp && out.data)
		rc = logs_net_write_all(o->fd, buf_ptr(&out), out.data, err);
	if (rc < 0) {
		close(o->fd);
		o->fd = -1;
	}
	buf_free(&out);
	buf_free(&m);
	return rc;
}

static void destroy(void *priv)
{
	struct out_syslog *o = priv;
	if (o->fd >= 0)
		close(o->fd);
	free(o->addr);
	free(o);
}

const struct logs_output_ops logs_out_syslog = {
	.type = "syslog",
	.check = check,
	.create = create,
	.send = send_,
	.destroy = destroy,
};
