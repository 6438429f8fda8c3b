/* libFuzzer harness: the elasticsearch output's reading of a _bulk answer
 * (logs/outputs/elasticsearch.c), bytes from the network. The first byte
 * is the batch's size; every verdict must be 0, 1 or 2, and a refused
 * item must come with its description. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logs/output.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char v[256];
	char *why = NULL;

	if (size < 1)
		return 0;
	uint32_t n = data[0];
	memset(v, 0xee, sizeof(v));
	if (logs_es_bulk_verdicts((const char *)data + 1, size - 1, n, v, &why) == 0) {
		bool refused = false;
		for (uint32_t i = 0; i < n; i++) {
			if (v[i] > 2)
				abort();
			refused |= v[i] != 0;
		}
		if (refused && !why)
			abort();
	} else if (why) {
		abort();
	}
	free(why);
	return 0;
}
