/* libFuzzer harness: the JSON progress streams of pulls and builds
 * (src/runner/drivers/docker_wire.c), bytes from the Docker engine or a
 * registry behind it. Fed in pieces of a size the input chooses: texts
 * handed out are NUL-terminated and never empty, and an error, once seen,
 * is kept. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/drivers/docker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_text(void *ctx, const char *t)
{
	size_t *n = ctx;

	if (!t[0] || strlen(t) > DOCKER_PROGRESS_LINE_MAX * 2)
		abort();
	(*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct docker__progress p;
	size_t texts = 0, step = size ? (size_t)data[0] % 17 + 1 : 1;
	bool had_error = false;

	docker__progress_init(&p);
	for (size_t off = 0; off < size; off += step) {
		size_t k = size - off < step ? size - off : step;
		docker__progress_feed(&p, (const char *)data + off, k, on_text, &texts);
		if (had_error && !p.error)
			abort();
		had_error = p.error != NULL;
	}
	docker__progress_finish(&p, on_text, &texts);
	if (had_error && !p.error)
		abort();
	docker__progress_free(&p);
	return 0;
}
