/* libFuzzer harness: the log pipeline's configuration checks
 * (logs/config.c) over any JSON value, as a compose file or agent.yml can
 * give them: a check either accepts, and then the settings can be read, or
 * refuses with a reason and a key path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "logs/logs-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(int (*check)(const json_t *, char **, char **, bool *), const json_t *j, bool service)
{
	char *why = NULL, *at = NULL;
	bool at_key = false;
	int rc = check(j, &why, &at, &at_key);

	if (rc < 0 && (!why || !at))
		abort();
	if (rc == 0 && service) {
		struct logs__input_conf cri, *files;
		int nfiles;
		logs__conf_service(j, &cri, &files, &nfiles);
		logs__conf_free(&cri);
		for (int i = 0; i < nfiles; i++)
			logs__conf_free(&files[i]);
		free(files);
	}
	free(why);
	free(at);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);

	if (!j)
		return 0;
	one(logs_check_outputs, j, false);
	one(logs_check_service, j, true);
	one(logs_check_stack, j, false);
	json_decref(j);
	return 0;
}
