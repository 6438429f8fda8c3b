/* The ports and expose keys of a service: short and long syntax. */
#include "spec/spec-int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* ---- ports and expose ---- */

static const char port_form[] = "\"[HOST:]CONTAINER[/PROTO]\" (e.g. \"8080:3000\")";

static void port_add(struct spec__psvc *p, const struct spec_port *port, const struct yaml_node *at)
{
	struct spec_service *s = &p->s;

	s->ports = xrealloc(s->ports, (size_t)(s->nports + 1) * sizeof(*s->ports));
	p->port_at = xrealloc(p->port_at, (size_t)(s->nports + 1) * sizeof(*p->port_at));
	s->ports[s->nports] = *port;
	p->port_at[s->nports] = at;
	s->nports++;
}

struct port_row {
	struct spec_port p;
	int published_end;
};

static const struct yaml_enum protos[] = {{"tcp", SPEC_PROTO_TCP}, {"udp", SPEC_PROTO_UDP}, {NULL, 0}};
static const struct yaml_enum port_modes[] = {{"ingress", SPEC_PORT_INGRESS}, {"host", SPEC_PORT_HOST},
					      {NULL, 0}};

static int f_port_target(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	long long v;

	if (spec__get_int(spec__L(y), n, 1, 65535, &v) < 0)
		return -1;
	*(int *)field = (int)v;
	return 0;
}

static int f_port_published(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct port_row *r = field;
	struct spec_port *ports = NULL;
	char *why = NULL, *text;
	int cnt = 0;

	if (!spec__is_scalar(n))
		return spec__expected(L, n, "a host port like 8080 or a range like 8000-8010");
	/* through the short-syntax parser: "PUBLISHED:1" has the same rules */
	text = xasprintf("%s:1", n->text);
	if (spec__port_parse(text, &ports, &cnt, &why) < 0 || strchr(n->text, ':')) {
		int rc = why ? spec__err(L, n, "expected a host port like 8080 or a range like 8000-8010, "
					       "got \"%s\": %s", n->text, why)
			     : spec__expected(L, n, "a host port like 8080 or a range like 8000-8010");
		free(text);
		free(why);
		free(ports);
		return rc;
	}
	r->p.published = ports[0].published;
	r->published_end = ports[0].published_end;
	spec__port_clear(&ports[0]);
	free(ports);
	free(text);
	return 0;
}

static int f_host_ip(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	if (!spec__is_scalar(n) || !spec__is_ip(n->text))
		return spec__expected(spec__L(y), n, "an IP address like 127.0.0.1 or ::1");
	free(*(char **)field);
	*(char **)field = xstrdup(n->text);
	return 0;
}

bool spec__is_label(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_'))
			return false;
	return true;
}

static int f_port_name(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	if (!spec__is_scalar(n) || !spec__is_label(n->text))
		return spec__expected(spec__L(y), n, "a name of letters, digits, '-' or '_' (it becomes a DNS label)");
	free(*(char **)field);
	*(char **)field = xstrdup(n->text);
	return 0;
}

static const struct yaml_field port_fields[] = {
	{.key = "target", .type = YF_FUNC, .offset = offsetof(struct port_row, p.target), .required = true,
	 .fn = f_port_target, .doc = "the port the instance listens on"},
	{.key = "published", .type = YF_FUNC, .offset = 0, .fn = f_port_published,
	 .doc = "fixed host port or range; absent: berth picks one per instance"},
	{.key = "host_ip", .type = YF_FUNC, .offset = offsetof(struct port_row, p.host_ip), .fn = f_host_ip,
	 .doc = "address to bind"},
	{.key = "protocol", .type = YF_ENUM, .offset = offsetof(struct port_row, p.protocol), .def = "tcp",
	 .names = protos, .doc = "tcp or udp"},
	{.key = "mode", .type = YF_ENUM, .offset = offsetof(struct port_row, p.mode), .def = "ingress",
	 .names = port_modes, .doc = "recorded; berth publishes on the instance's node either way"},
	{.key = "name", .type = YF_FUNC, .offset = offsetof(struct port_row, p.name), .fn = f_port_name,
	 .doc = "names the port for DNS SRV lookups"},
	{.key = "app_protocol", .type = YF_FUNC, .offset = offsetof(struct port_row, p.app_protocol),
	 .fn = spec__f_str, .doc = "application protocol (http, grpc, ...), recorded"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

int spec__f_ports(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec__psvc *p = PSVC(field);

	for (int i = 0; i < p->s.nports; i++)
		spec__port_clear(&p->s.ports[i]);
	p->s.nports = 0;
	if (yaml_is_null(n))
		return 0;
	if (n->kind != YAML_SEQ)
		return spec__expected(L, n, "a list of ports");
	for (int i = 0; i < n->nitems; i++) {
		const struct yaml_node *it = n->items[i];
		size_t mark = yaml_path_push_index(&L->y, i);
		int rc = 0;

		if (it->kind == YAML_MAP) {
			struct port_row r = {{0}, 0};
			rc = spec__apply(L, it, port_fields, NULL, &r);
			r.p.published_end = r.published_end;
			if (rc == 0)
				port_add(p, &r.p, it);
			else
				spec__port_clear(&r.p);
		} else if (spec__is_scalar(it)) {
			struct spec_port *ports;
			char *why;
			int cnt;
			if (spec__port_parse(it->text, &ports, &cnt, &why) < 0) {
				if (why)
					rc = spec__err(L, it, "expected %s, got \"%s\": %s", port_form, it->text, why);
				else
					rc = spec__err(L, it, "expected %s, got \"%s\"", port_form, it->text);
				free(why);
			} else {
				for (int k = 0; k < cnt; k++)
					port_add(p, &ports[k], it);
				free(ports);
			}
		} else {
			rc = spec__expected(L, it, port_form);
		}
		yaml_path_pop(&L->y, mark);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int spec__f_expose(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec_service *s = &PSVC(field)->s;

	s->nexpose = 0;
	if (yaml_is_null(n))
		return 0;
	if (n->kind != YAML_SEQ)
		return spec__expected(L, n, "a list of ports");
	for (int i = 0; i < n->nitems; i++) {
		const struct yaml_node *it = n->items[i];
		size_t mark = yaml_path_push_index(&L->y, i);
		struct spec_expose *e = NULL;
		char *why = NULL;
		int cnt = 0, rc = 0;
		if (!spec__is_scalar(it) || spec__expose_parse(it->text, &e, &cnt, &why) < 0) {
			char got[64];
			rc = spec__err(L, it, "expected a port like 3000, 3000/udp or 3000-3005, got %s%s%s",
				       yaml_describe(it, got, sizeof(got)), why ? ": " : "", why ? why : "");
		} else {
			s->expose = xrealloc(s->expose, (size_t)(s->nexpose + cnt) * sizeof(*s->expose));
			memcpy(s->expose + s->nexpose, e, (size_t)cnt * sizeof(*e));
			s->nexpose += cnt;
		}
		free(e);
		free(why);
		yaml_path_pop(&L->y, mark);
		if (rc < 0)
			return -1;
	}
	return 0;
}
