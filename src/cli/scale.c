/* berth scale, stop, start, restart: change what runs of a deployed stack.
 *   berth scale web=5 db=1     replicas per service (until the next berth up)
 *   berth stop [SERVICE...]    stop instances, keep them (berth start resumes)
 *   berth start [SERVICE...]
 *   berth restart [SERVICE...] stop then start every instance again */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "core/mem.h"

static void usage(FILE *f, const char *cmd)
{
	if (strcmp(cmd, "scale") == 0)
		fprintf(f, "usage: berth scale [options] SERVICE=REPLICAS...\n"
			   "\n"
			   "Sets how many instances of each service run; higher indexes go first when\n"
			   "scaling down. Lasts until the next berth up (which deploys the file's counts).\n");
	else
		fprintf(f, "usage: berth %s [options] [SERVICE...]\n\n%s\n", cmd,
			strcmp(cmd, "stop") == 0      ? "Stops the services' instances (all services by default); they stay\n"
							"listed as stopped until berth start or berth down."
			: strcmp(cmd, "start") == 0   ? "Starts stopped services again (all by default)."
						      : "Stops and starts every instance of the services again (all by default).");
	fprintf(f, "\noptions:\n  -d, --detach                 do not wait for the instances\n" CLI_COMMON_HELP);
}

static bool settled(json_t *inst)
{
	const char *st = json_string_value(json_object_get(inst, "state")) ?: "";

	return strcmp(st, "starting") != 0 && strcmp(st, "stopping") != 0 && strcmp(st, "created") != 0 &&
	       strcmp(st, "waiting") != 0;
}

/* Whether the change asked for has played out, from the instance list. */
static bool change_done(const char *cmd, json_t *args, json_t *insts, json_int_t rev)
{
	size_t i;
	json_t *v;

	json_array_foreach(insts, i, v) {
		const char *svc = json_string_value(json_object_get(v, "service")) ?: "";
		const char *st = json_string_value(json_object_get(v, "state")) ?: "";
		bool named = strcmp(cmd, "scale") == 0 ? json_object_get(args, svc) != NULL : !json_array_size(args);
		for (size_t k = 0; !named && k < json_array_size(args); k++)
			named = strcmp(json_string_value(json_array_get(args, k)) ?: "", svc) == 0;
		if (!named)
			continue;
		if (!settled(v))
			return false;
		if (strcmp(cmd, "stop") == 0 && strcmp(st, "stopped") && strcmp(st, "exited") && strcmp(st, "failed"))
			return false;
		if (strcmp(cmd, "start") == 0 && strcmp(st, "stopped") == 0)
			return false;
		/* restart: every instance has been through a new run since. */
		if (strcmp(cmd, "restart") == 0 && json_integer_value(json_object_get(v, "mod_rev")) <= rev)
			return false;
	}
	if (strcmp(cmd, "scale") == 0) {
		const char *k;
		json_t *want;
		json_object_foreach(args, k, want) {
			json_int_t n = 0;
			json_array_foreach(insts, i, v)
				n += strcmp(json_string_value(json_object_get(v, "service")) ?: "", k) == 0;
			if (n != json_integer_value(want))
				return false;
		}
	}
	return true;
}

static int run(int argc, char **argv, const char *cmd)
{
	static const struct option opts[] = {
		{"detach", no_argument, NULL, 'd'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_opts o;
	struct api_client c = {.fd = -1};
	bool detach = false;
	int ch, rc = 1;
	char *stack = NULL;
	json_t *body = NULL, *resp = NULL;

	cli_opts_init(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "df:p:h", opts, NULL)) != -1) {
		if (cli_common_opt(&o, ch, optarg))
			continue;
		if (ch == 'd') {
			detach = true;
			continue;
		}
		if (ch == 'h') {
			usage(stdout, cmd);
			cli_opts_free(&o);
			return 0;
		}
		usage(stderr, cmd);
		cli_opts_free(&o);
		return 2;
	}
	bool scale = strcmp(cmd, "scale") == 0;
	json_t *args = scale ? json_object() : json_array();
	for (int i = optind; i < argc; i++) {
		if (!scale) {
			json_array_append_new(args, json_string(argv[i]));
			continue;
		}
		char *eq = strchr(argv[i], '=');
		char *end = NULL;
		long n = eq ? strtol(eq + 1, &end, 10) : -1;
		if (!eq || eq == argv[i] || !eq[1] || *end || n < 0) {
			fprintf(stderr, "berth scale: %s: expected SERVICE=REPLICAS, e.g. web=3\n", argv[i]);
			json_decref(args);
			cli_opts_free(&o);
			return 2;
		}
		*eq = 0;
		json_object_set_new(args, argv[i], json_integer(n));
	}
	if (scale && json_object_size(args) == 0) {
		usage(stderr, cmd);
		json_decref(args);
		cli_opts_free(&o);
		return 2;
	}
	body = json_pack("{s:o}", "services", args);
	if (!(stack = cli_stack_name(&o)) || cli_connect(&o, &c, false) < 0)
		goto out;
	char path[300];
	snprintf(path, sizeof(path), "/v1/stacks/%s/%s", stack, cmd);
	if (cli_call(&c, cmd, "POST", path, body, &resp) < 0)
		goto out;
	if (!detach) {
		/* Bounded wait for the change to play out. */
		json_int_t rev = json_integer_value(json_object_get(resp, "revision"));
		char ipath[300];
		bool done = false;
		snprintf(ipath, sizeof(ipath), "/v1/stacks/%s/instances", stack);
		for (int tries = 0; tries < 1200 && !done; tries++) {
			json_t *insts = NULL;
			if (cli_call(&c, cmd, "GET", ipath, NULL, &insts) < 0)
				goto out;
			done = change_done(cmd, json_object_get(body, "services"), insts, rev);
			json_decref(insts);
			if (!done) {
				struct timespec ts = {0, 50 * 1000 * 1000};
				nanosleep(&ts, NULL);
			}
		}
		if (!done)
			fprintf(stderr, "berth %s: some instances are still starting or stopping (see berth ps)\n", cmd);
	}
	size_t i;
	json_t *v;
	printf("%s:", cmd);
	json_array_foreach(json_object_get(resp, "services"), i, v)
		printf(" %s", json_string_value(v));
	printf("\n");
	rc = 0;
out:
	json_decref(body);
	json_decref(resp);
	free(stack);
	api_client_close(&c);
	cli_opts_free(&o);
	return rc;
}

int cli_scale(int argc, char **argv)
{
	return run(argc, argv, "scale");
}

int cli_stop(int argc, char **argv)
{
	return run(argc, argv, "stop");
}

int cli_start(int argc, char **argv)
{
	return run(argc, argv, "start");
}

int cli_restart(int argc, char **argv)
{
	return run(argc, argv, "restart");
}
