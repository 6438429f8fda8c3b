/* libFuzzer harness: the template language (hooks/template.c). Any bytes
 * must compile or be refused with "NAME:LINE:COL: message"; whatever
 * compiles must render against a small fixed catalog within the limits it
 * is given, the same way twice, or fail naming a tag. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/buf.h"
#include "hooks/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct catalog *cat;

static void put(const char *stack, const char *svc, int idx, const char *addr, int port, bool healthy, char *tag)
{
	struct catalog_port ports[2] = {{.target = 3000, .published = port, .name = "http"},
					{.target = 9000, .published = port + 1, .name = "admin"}};
	char *tags[1] = {tag};
	struct catalog_endpoint ep = {.stack = (char *)stack, .service = (char *)svc, .index = idx, .node = "n1",
				      .addr = (char *)addr, .port = port, .ports = ports, .nports = 2, .tags = tags,
				      .ntags = tag ? 1 : 0, .healthy = healthy, .health = healthy ? "healthy" : "unhealthy"};
	catalog_put(cat, &ep);
}

static void setup(void)
{
	const char *svcs[] = {"app", "redis", "idle"};

	cat = catalog_new();
	put("shop", "app", 1, "10.0.0.1", 31001, true, "primary");
	put("shop", "app", 2, "10.0.0.2", 31002, false, NULL);
	put("shop", "app", 3, "fd00::3", 31003, true, NULL);
	put("shop", "redis", 1, "10.0.1.1", 6379, true, "replica");
	put("shop", "redis", 2, "10.0.1.2", 6380, true, "primary");
	put("other", "web", 1, "10.0.2.1", 8080, true, NULL);
	catalog_declare(cat, "shop", svcs, 3);
}

static void dep(void *arg, const char *stack, const char *svc)
{
	(void)stack;
	if (svc && !*svc)
		abort(); /* a service name is never empty */
	(*(int *)arg)++;
}

static void check_msg(const char *err)
{
	if (!err || strncmp(err, "fuzz.tmpl:", 10) != 0 || strchr(err, '\n')) {
		fprintf(stderr, "bad message: %s\n", err ? err : "(none)");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const env[] = {"DOMAIN=example.com", "EMPTY=", NULL};
	struct template_ctx ctx = {.catalog = NULL, .stack = "shop", .service = "proxy", .env = env,
				   .max_output = 1 << 16, .max_steps = 100000};
	struct template *t = NULL;
	struct buf a = {0}, b = {0};
	char *err = NULL;
	int ndeps = 0;

	if (!cat)
		setup();
	ctx.catalog = cat;
	if (template_parse("fuzz.tmpl", (const char *)data, size, &t, &err) < 0) {
		check_msg(err);
		free(err);
		return 0;
	}
	template_deps(t, dep, &ndeps);
	int ra = template_render(t, &ctx, &a, &err);
	if (ra < 0) {
		check_msg(err);
		free(err);
		err = NULL;
		if (a.data != 0)
			abort(); /* a failed render leaves the buffer as it was */
	} else if (a.data > ctx.max_output) {
		abort();
	}
	int rb = template_render(t, &ctx, &b, &err);
	free(err);
	if (ra != rb || a.data != b.data || (a.data && memcmp(buf_ptr(&a), buf_ptr(&b), a.data) != 0))
		abort(); /* rendering is a pure function of the template and the catalog */
	/* No catalog, no stack: every stack, nothing at all. */
	ctx.catalog = NULL;
	ctx.stack = NULL;
	buf_reset(&b);
	err = NULL;
	if (template_render(t, &ctx, &b, &err) < 0)
		check_msg(err);
	free(err);
	buf_free(&a);
	buf_free(&b);
	template_free(t);
	return 0;
}
