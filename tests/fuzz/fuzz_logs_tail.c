/* libFuzzer harness: the log pipeline's source (logs/tail.c) and event
 * encoder (logs/event.c) over a file of any bytes. The first byte picks
 * the mode: bit 0 CRI records, bit 1 a multiline pattern, bit 2 JSON
 * messages as fields. Every event handed out must be one line of valid
 * JSON (UTF-8, no raw control characters) whose message is at most
 * LOGS_MAX_LINE bytes; nothing may crash or leak. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "logs/logs-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #c);                                    \
			abort();                                                  \
		}                                                                 \
	} while (0)

static void check_events(struct buf *out, uint32_t n)
{
	char *p = buf_ptr(out), *end = p + out->data;
	uint32_t seen = 0;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		CHECK(nl);
		json_error_t je;
		json_t *j = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
		if (!j)
			fprintf(stderr, "not JSON: %s\n", je.text);
		CHECK(j);
		CHECK(json_string_length(json_object_get(j, "message")) <= 4 * (size_t)LOGS_MAX_LINE);
		CHECK(json_is_string(json_object_get(j, "@timestamp")));
		json_decref(j);
		seen++;
		p = nl + 1;
	}
	CHECK(seen == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/berth-fuzz-tail-XXXXXX";
	struct logs__input_conf conf = {0};
	struct logs__src s = {0};
	struct buf out = {0};
	uint32_t n = 0;
	int fd;

	if (size < 1 || (fd = mkstemp(path)) < 0)
		return 0;
	if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	if (data[0] & 2) {
		regcomp(&conf.ml, "^[^ \t]", REG_EXTENDED | REG_NOSUB);
		conf.has_ml = true;
	}
	conf.json = data[0] & 4 ? 1 : 0;
	conf.type = "t";
	s.path = path;
	s.cri = data[0] & 1;
	s.conf = &conf;
	s.fd = -1;
	s.meta = (struct logs__meta){.host = "h", .stack = "s", .service = "v", .instance = "v.1", .type = "t",
				     .json = conf.json};
	for (int k = 0; k < 2; k++)
		s.join[k].partstart = s.join[k].mlstart = -1;
	logs__src_open(&s, NULL, &out, &n);
	for (int i = 0; i < 64 && logs__src_poll(&s, &out, &n); i++)
		;
	logs__src_flush(&s, &out, &n, false);
	logs__src_flush(&s, &out, &n, true);
	check_events(&out, n);
	struct logs__pos pos;
	logs__src_pos(&s, &pos);
	CHECK(pos.off >= 0 && pos.off <= (off_t)size);
	logs__src_close(&s);
	buf_free(&out);
	if (conf.has_ml)
		regfree(&conf.ml);
	unlink(path);
	return 0;
}
