/* The volumes key of a service: short and long syntax, host paths resolved. */
#include "spec/spec-int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* ---- volumes ---- */

static const struct yaml_enum vol_types[] = {
	{"bind", SPEC_VOL_BIND}, {"volume", SPEC_VOL_VOLUME}, {"tmpfs", SPEC_VOL_TMPFS}, {NULL, 0},
};

static int f_propagation(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	static const char *const names[] = {"shared", "rshared", "slave", "rslave", "private", "rprivate", NULL};

	for (int i = 0; spec__is_scalar(n) && names[i]; i++) {
		if (strcmp(n->text, names[i]) == 0) {
			free(*(char **)field);
			*(char **)field = xstrdup(n->text);
			return 0;
		}
	}
	return spec__expected(spec__L(y), n, "one of shared, rshared, slave, rslave, private, rprivate");
}

static int f_selinux(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	if (!spec__is_scalar(n) || (strcmp(n->text, "z") != 0 && strcmp(n->text, "Z") != 0))
		return spec__expected(spec__L(y), n, "z or Z");
	free(*(char **)field);
	*(char **)field = xstrdup(n->text);
	return 0;
}

static int f_mode_octal(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	char *end;
	long v = spec__is_scalar(n) ? strtol(n->text, &end, 8) : -1;

	if (!spec__is_scalar(n) || *end || v < 0 || v > 07777)
		return spec__expected(spec__L(y), n, "an octal file mode like 1777 or 0700");
	*(int *)field = (int)v;
	return 0;
}

static const struct yaml_field bind_fields[] = {
	{.key = "propagation", .type = YF_FUNC, .offset = offsetof(struct spec_volume, propagation),
	 .fn = f_propagation, .doc = "mount propagation"},
	{.key = "create_host_path", .type = YF_BOOL, .offset = offsetof(struct spec_volume, create_host_path),
	 .def = "true", .doc = "create the host directory if missing"},
	{.key = "selinux", .type = YF_FUNC, .offset = offsetof(struct spec_volume, selinux), .fn = f_selinux,
	 .doc = "SELinux relabeling, z or Z"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static const struct spec__unsup bind_unsup[] = {{"recursive", SPEC_UNSUPPORTED, NULL}, {NULL, 0, NULL}};

static const struct yaml_field volopt_fields[] = {
	{.key = "nocopy", .type = YF_BOOL, .offset = offsetof(struct spec_volume, nocopy), .def = "false",
	 .doc = "do not copy the image's content into a new volume"},
	{.key = "subpath", .type = YF_FUNC, .offset = offsetof(struct spec_volume, subpath), .fn = spec__f_str,
	 .doc = "mount this path inside the volume"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static const struct spec__unsup volopt_unsup[] = {{"labels", SPEC_UNSUPPORTED, NULL}, {NULL, 0, NULL}};

static const struct yaml_field tmpfs_fields[] = {
	{.key = "size", .type = YF_FUNC, .offset = offsetof(struct spec_volume, tmpfs_size), .fn = spec__f_bytes,
	 .doc = "size limit in bytes"},
	{.key = "mode", .type = YF_FUNC, .offset = offsetof(struct spec_volume, tmpfs_mode), .fn = f_mode_octal,
	 .doc = "permission bits, octal"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static int f_bind(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__apply(spec__L(y), n, bind_fields, bind_unsup, field);
}

static int f_volopt(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__apply(spec__L(y), n, volopt_fields, volopt_unsup, field);
}

static int f_tmpfs(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	return spec__apply(spec__L(y), n, tmpfs_fields, NULL, field);
}

static const struct yaml_field volume_fields[] = {
	{.key = "type", .type = YF_ENUM, .offset = offsetof(struct spec_volume, type), .required = true,
	 .names = vol_types, .doc = "bind, volume or tmpfs"},
	{.key = "source", .type = YF_FUNC, .offset = offsetof(struct spec_volume, source), .fn = spec__f_str,
	 .doc = "host path (bind) or volume name (volume)"},
	{.key = "target", .type = YF_FUNC, .offset = offsetof(struct spec_volume, target), .required = true,
	 .fn = spec__f_str, .doc = "absolute path inside the instance"},
	{.key = "read_only", .type = YF_BOOL, .offset = offsetof(struct spec_volume, read_only), .def = "false",
	 .doc = "mount read-only"},
	{.key = "bind", .type = YF_FUNC, .offset = 0, .fn = f_bind, .doc = "bind options"},
	{.key = "volume", .type = YF_FUNC, .offset = 0, .fn = f_volopt, .doc = "volume options"},
	{.key = "tmpfs", .type = YF_FUNC, .offset = 0, .fn = f_tmpfs, .doc = "tmpfs options"},
	{.key = "x-*", .type = YF_IGNORE},
	{NULL},
};

static const struct spec__unsup volume_unsup[] = {
	{"consistency", SPEC_UNSUPPORTED, NULL},
	{"image", SPEC_UNSUPPORTED, NULL},
	{NULL, 0, NULL},
};

bool spec__is_compose_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

/* Checks a parsed mount and resolves a bind source against the project
 * directory (~ against $HOME). */
static int volume_finish(struct spec__loader *L, const struct yaml_node *at, struct spec_volume *v)
{
	char *abs;

	if (!v->target || v->target[0] != '/')
		return spec__err(L, at, "the target must be an absolute path inside the instance");
	switch (v->type) {
	case SPEC_VOL_BIND:
		if (!v->source)
			return spec__err(L, at, "a bind mount needs a source (a host path)");
		if (v->source[0] == '~' && v->source[1] && v->source[1] != '/')
			return spec__err(L, at, "\"~user\" paths are not supported; write the path out");
		if (v->source[0] == '~') {
			const char *home = spec__lookup(L, "HOME");
			if (!home || home[0] != '/')
				return spec__err(L, at, "\"~\" needs HOME to be set to an absolute path");
			abs = xasprintf("%s%s", home, v->source + 1);
			free(v->source);
			v->source = spec__path_resolve("/", abs);
			free(abs);
			return 0;
		}
		abs = spec__path_resolve(L->st->project_dir, v->source);
		free(v->source);
		v->source = abs;
		return 0;
	case SPEC_VOL_VOLUME:
		if (v->source && !spec__is_compose_name(v->source))
			return spec__err(L, at, "\"%s\" is not a volume name; a host path starts with '/', "
						"'.' or '~'", v->source);
		return 0;
	case SPEC_VOL_TMPFS:
		if (v->source)
			return spec__err(L, at, "a tmpfs mount takes no source");
		return 0;
	}
	return 0;
}

int spec__f_volumes(struct yaml_ctx *y, const struct yaml_node *n, void *field)
{
	struct spec__loader *L = spec__L(y);
	struct spec__psvc *p = PSVC(field);
	struct spec_service *s = &p->s;

	for (int i = 0; i < s->nvolumes; i++)
		spec__volume_clear(&s->volumes[i]);
	s->nvolumes = 0;
	if (yaml_is_null(n))
		return 0;
	if (n->kind != YAML_SEQ)
		return spec__expected(L, n, "a list of mounts");
	for (int i = 0; i < n->nitems; i++) {
		const struct yaml_node *it = n->items[i];
		size_t mark = yaml_path_push_index(&L->y, i);
		struct spec_volume v = {0};
		int rc = 0;

		if (it->kind == YAML_MAP) {
			yaml_fields_defaults(bind_fields, &v);
			rc = spec__apply(L, it, volume_fields, volume_unsup, &v);
		} else if (spec__is_scalar(it)) {
			char *why = NULL;
			if (spec__volume_parse(it->text, &v, &why) < 0)
				rc = spec__err(L, it, "expected \"[SOURCE:]TARGET[:MODE]\" (e.g. \"./data:/data:ro\"), "
						      "got \"%s\": %s", it->text, why);
			free(why);
		} else {
			rc = spec__expected(L, it, "\"[SOURCE:]TARGET[:MODE]\" or a mapping");
		}
		if (rc == 0)
			rc = volume_finish(L, it, &v);
		if (rc == 0) {
			s->volumes = xrealloc(s->volumes, (size_t)(s->nvolumes + 1) * sizeof(*s->volumes));
			p->vol_at = xrealloc(p->vol_at, (size_t)(s->nvolumes + 1) * sizeof(*p->vol_at));
			p->vol_at[s->nvolumes] = it;
			s->volumes[s->nvolumes++] = v;
		} else {
			spec__volume_clear(&v);
		}
		yaml_path_pop(&L->y, mark);
		if (rc < 0)
			return -1;
	}
	return 0;
}
