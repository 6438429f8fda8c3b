/* libFuzzer harness: reading an instance's log file (agent/logs.c). The
 * framing is the shim's, the text is whatever the program printed, and a
 * file can be damaged: any bytes must be read without a crash, every line
 * handed out NUL-terminated and within LOGS_MAX_LINE. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/logs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_line(const struct log_line *l, void *arg)
{
	size_t *count = arg;

	if (l->len > LOGS_MAX_LINE || l->text[l->len] != 0) {
		fprintf(stderr, "bad line handed out\n");
		abort();
	}
	(*count)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/berth-fuzz-cri-XXXXXX";
	int fd = mkstemp(path);
	struct log_reader r;
	size_t count = 0;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	/* Every record alone, then the whole file through a reader. */
	for (size_t i = 0, start = 0; i < size; i++) {
		if (data[i] != '\n')
			continue;
		char t[40];
		bool is_err, partial;
		const char *text;
		size_t tlen;
		if (logs_parse_record((const char *)data + start, i - start, t, sizeof(t), &is_err, &partial, &text,
				      &tlen) == 0 &&
		    (text < (const char *)data + start || text + tlen > (const char *)data + i)) {
			fprintf(stderr, "record text outside the record\n");
			abort();
		}
		start = i + 1;
	}
	log_reader_init(&r, path, 0);
	log_reader_poll(&r, 0, on_line, &count, NULL);
	log_reader_free(&r);
	log_reader_init(&r, path, 0);
	bool more = true;
	for (int guard = 0; more && guard < 100000; guard++)
		log_reader_poll(&r, 16, on_line, &count, &more);
	struct log_line *lines;
	int n;
	log_reader_free(&r);
	log_reader_init(&r, path, 0);
	if (logs_read(&r, 3, "", &lines, &n) == 0) {
		if (n > 3)
			abort();
		logs_lines_free(lines, n);
	}
	log_reader_free(&r);
	unlink(path);
	return 0;
}
