/* libFuzzer harness: one compose file through spec_load_buffer, with invariants on the stack (and its JSON round trip) or on the error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #c);                                    \
			abort();                                                  \
		}                                                                 \
	} while (0)

static void check_stack(const struct spec_stack *st)
{
	json_t *j1, *j2;
	struct spec_stack *back = NULL;
	char *err = NULL, *yaml;
	int *order;

	CHECK(st->name && st->name[0] && st->project_dir && st->project_dir[0] == '/');
	for (int i = 0; i < st->nservices; i++) {
		const struct spec_service *s = &st->services[i];
		CHECK(s->name && spec_service_find(st, s->name) == s);
		CHECK(i == 0 || strcmp(st->services[i - 1].name, s->name) < 0);
		CHECK(s->image || s->build || s->ncommand);
		CHECK(s->deploy.replicas >= 0 && s->deploy.replicas <= SPEC_MAX_REPLICAS);
		CHECK(s->deploy.mode != SPEC_MODE_GLOBAL || s->deploy.replicas == 0);
		for (int k = 0; k < s->nports; k++) {
			CHECK(s->ports[k].target >= 1 && s->ports[k].target <= 65535);
			CHECK(s->ports[k].published >= 0 && s->ports[k].published <= 65535);
			CHECK(!s->ports[k].published_end || s->ports[k].published_end > s->ports[k].published);
		}
		for (int k = 0; k < s->nvolumes; k++)
			CHECK(s->volumes[k].target && s->volumes[k].target[0] == '/');
		for (int k = 0; k < s->nenvironment; k++)
			CHECK(strchr(s->environment[k], '=') && s->environment[k][0] != '=');
		for (int k = 0; k < s->ndepends_on; k++)
			CHECK(spec_service_find(st, s->depends_on[k].service) &&
			      strcmp(s->depends_on[k].service, s->name) != 0);
	}
	/* the stored form reads back to the same stored form */
	j1 = spec_to_json(st);
	CHECK(j1);
	CHECK(spec_from_json(j1, &back, &err) == 0 && back && !err);
	j2 = spec_to_json(back);
	CHECK(json_equal(j1, j2));
	/* a loaded stack never has a dependency cycle */
	order = calloc((size_t)st->nservices + 1, sizeof(*order));
	CHECK(spec_start_order(st, order) == 0);
	free(order);
	yaml = spec_to_yaml(st);
	CHECK(yaml && yaml[0]);
	free(yaml);
	json_decref(j1);
	json_decref(j2);
	spec_stack_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A fixed environment and a project directory that does not exist, so
	 * that no run depends on the machine (.env and env_file files are not
	 * found, except absolute env_file paths, which are only read). */
	static const char *const env[] = {"HOME=/home/fuzz", "TAG=1.0", "EMPTY=", "COMPOSE_PROFILES=dev"};
	struct spec_load_opts o = {
		.env = env, .nenv = 4, .no_process_env = true, .project_dir = "/nonexistent/berth-fuzz",
	};
	struct spec_stack *st = NULL;
	char *err = NULL;

	if (spec_load_buffer("compose.yml", (const char *)data, size, &o, &st, &err) == 0) {
		CHECK(st && !err);
		check_stack(st);
		spec_stack_free(st);
	} else {
		CHECK(!st && err && err[0]);
		for (const char *p = err; *p; p++)
			CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	free(err);
	return 0;
}
