/* libFuzzer harness: the body of PUT /v1/stacks/NAME (the agent reads the
 * stack spec from JSON that any API client sends): json_loadb, then
 * spec_from_json; a spec that loads must survive the canonical round trip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	struct spec_stack *s = NULL, *back = NULL;
	char *err = NULL;

	if (!j)
		return 0;
	if (spec_from_json(j, &s, &err) == 0) {
		json_t *j1 = spec_to_json(s);
		if (spec_from_json(j1, &back, &err) != 0) {
			fprintf(stderr, "round trip refused its own output: %s\n", err);
			abort();
		}
		json_t *j2 = spec_to_json(back);
		if (!json_equal(j1, j2)) {
			fprintf(stderr, "round trip changed the spec\n");
			abort();
		}
		json_decref(j1);
		json_decref(j2);
		spec_stack_free(back);
		spec_stack_free(s);
	} else if (!err || !err[0]) {
		fprintf(stderr, "refused without a message\n");
		abort();
	}
	free(err);
	json_decref(j);
	return 0;
}
