/* libFuzzer harness: a container's log stream (src/runner/drivers/docker_wire.c),
 * bytes from the Docker engine: the frame demuxer, the timestamps and the
 * CRI records made of them. The input is fed twice, whole and split at a
 * point it chooses, and both must produce the same records; every record
 * must be one well-formed CRI line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/drivers/docker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #c);                                    \
			abort();                                                  \
		}                                                                 \
	} while (0)

static uint64_t run(const uint8_t *data, size_t size, size_t cut, int fd)
{
	struct docker__demux d;
	struct docker__logw w;
	struct timespec since = {.tv_sec = size ? data[0] : 0};

	docker__demux_init(&d);
	docker__logw_init(&w, fd, size && data[0] & 1 ? &since : NULL);
	int a = docker__demux_feed(&d, (const char *)data, cut, docker__logw_frame, &w);
	int b = docker__demux_feed(&d, (const char *)data + cut, size - cut, docker__logw_frame, &w);
	CHECK(a <= 0 && b <= 0);
	CHECK(a == 0 || b == -1 || cut == size);
	docker__logw_finish(&w);
	docker__demux_free(&d);
	return w.records;
}

static void check_lines(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *text = malloc((size_t)n + 1);

	CHECK(pread(fd, text, (size_t)n, 0) == n);
	text[n] = 0;
	for (char *p = text; p < text + n;) {
		char *nl = memchr(p, '\n', (size_t)(text + n - p));
		CHECK(nl);
		struct timespec ts;
		CHECK(nl - p >= SHIM_TIME_LEN + 10);
		CHECK(docker__parse_time(p, SHIM_TIME_LEN, &ts) == 0);
		CHECK(memcmp(p + SHIM_TIME_LEN, " stdout ", 8) == 0 || memcmp(p + SHIM_TIME_LEN, " stderr ", 8) == 0);
		CHECK(p[SHIM_TIME_LEN + 8] == 'F' || p[SHIM_TIME_LEN + 8] == 'P');
		CHECK(nl - p - (SHIM_TIME_LEN + 10) <= SHIM_CRI_MAX_TEXT);
		p = nl + 1;
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/berth-fuzz-dkframes-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return 0;
	unlink(path);
	uint64_t whole = run(data, size, size, -1);
	uint64_t split = run(data, size, size ? data[size - 1] % (size + 1) : 0, fd);
	CHECK(whole == split);
	check_lines(fd);
	close(fd);
	return 0;
}
