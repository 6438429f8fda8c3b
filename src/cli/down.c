/* berth down: remove a stack; its instances are stopped (stop_signal, then
 * SIGKILL after stop_grace_period) and forgotten. Waits until none is left. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "core/mem.h"

static void down_usage(FILE *f)
{
	fprintf(f, "usage: berth down [options]\n"
		   "\n"
		   "Removes the stack: every instance is stopped (stop_signal, then SIGKILL after\n"
		   "its stop_grace_period) and its state removed. Waits until none is left.\n"
		   "\n"
		   "options:\n"
		   "      --timeout SECONDS        how long to wait (default 120)\n" CLI_COMMON_HELP);
}

static bool never(json_t *inst)
{
	return false;
}

int cli_down(int argc, char **argv)
{
	static const struct option opts[] = {
		{"timeout", required_argument, NULL, 'T'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_opts o;
	struct api_client c = {.fd = -1};
	long timeout = 120;
	int ch, rc = 1;
	char *stack = NULL;

	cli_opts_init(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "f:p:h", opts, NULL)) != -1) {
		if (cli_common_opt(&o, ch, optarg))
			continue;
		if (ch == 'T') {
			timeout = strtol(optarg, NULL, 10);
			continue;
		}
		if (ch == 'h') {
			down_usage(stdout);
			cli_opts_free(&o);
			return 0;
		}
		down_usage(stderr);
		cli_opts_free(&o);
		return 2;
	}
	stack = cli_stack_name(&o);
	if (!stack || cli_connect(&o, &c, false) < 0)
		goto out;
	char path[300];
	snprintf(path, sizeof(path), "/v1/stacks/%s", stack);
	if (cli_call(&c, "down", "DELETE", path, NULL, NULL) < 0)
		goto out;
	printf("Stack %s: removing...\n", stack);
	fflush(stdout);
	/* Done when no instance record is left (the runner deletes each one
	 * after its process group is gone). */
	int w = cli_wait_instances(&c, stack, never, true, (int)(timeout * 1000));
	if (w == 0) {
		printf("Stack %s removed.\n", stack);
		rc = 0;
	} else if (w == 1) {
		fprintf(stderr, "berth down: instances of %s still stopping after %lds (see berth ps -p %s)\n", stack,
			timeout, stack);
	}
out:
	free(stack);
	api_client_close(&c);
	cli_opts_free(&o);
	return rc;
}
