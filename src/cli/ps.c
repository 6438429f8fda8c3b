/* berth ps: the instances of a stack (or of every stack with -a), as a
 * table or as the API's JSON objects (--json). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "core/mem.h"

static void ps_usage(FILE *f)
{
	fprintf(f, "usage: berth ps [options] [SERVICE...]\n"
		   "\n"
		   "Lists the instances of the stack: state (created, waiting, starting,\n"
		   "running, stopping, restarting, crashloop, exited, failed, stopped), pid,\n"
		   "ports, node, restarts and why it is in that state.\n"
		   "\n"
		   "options:\n"
		   "  -a, --all                    every stack\n"
		   "      --json                   the API's JSON objects, one array\n" CLI_COMMON_HELP);
}

static bool selected(json_t *inst, char **svcs, int n)
{
	const char *s = json_string_value(json_object_get(inst, "service")) ?: "";

	if (!n)
		return true;
	for (int i = 0; i < n; i++)
		if (strcmp(svcs[i], s) == 0)
			return true;
	return false;
}

int cli_ps(int argc, char **argv)
{
	static const struct option opts[] = {
		{"all", no_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'J'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_opts o;
	struct api_client c = {.fd = -1};
	bool all = false, as_json = false;
	int ch, rc = 1;
	char *stack = NULL;
	json_t *arr = NULL;

	cli_opts_init(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "af:p:h", opts, NULL)) != -1) {
		if (cli_common_opt(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'a':
			all = true;
			break;
		case 'J':
			as_json = true;
			break;
		case 'h':
			ps_usage(stdout);
			cli_opts_free(&o);
			return 0;
		default:
			ps_usage(stderr);
			cli_opts_free(&o);
			return 2;
		}
	}
	if (!all && !(stack = cli_stack_name(&o)))
		goto out;
	if (cli_connect(&o, &c, false) < 0)
		goto out;
	char path[300];
	if (all)
		snprintf(path, sizeof(path), "/v1/instances");
	else
		snprintf(path, sizeof(path), "/v1/stacks/%s/instances", stack);
	if (cli_call(&c, "ps", "GET", path, NULL, &arr) < 0)
		goto out;
	json_t *sel = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (selected(v, argv + optind, argc - optind))
			json_array_append(sel, v);
	if (as_json) {
		char *text = json_dumps(sel, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
		json_decref(sel);
		rc = 0;
		goto out;
	}
	printf("%-24s %-10s %-8s %-22s %-12s %-8s %s\n", all ? "STACK/INSTANCE" : "INSTANCE", "STATE", "PID",
	       "PORTS", "NODE", "RESTARTS", "STATUS");
	json_array_foreach(sel, i, v) {
		char name[256], pid[16] = "-", ports[256] = "";
		const char *inst = json_string_value(json_object_get(v, "instance")) ?: "?";
		if (all)
			snprintf(name, sizeof(name), "%s/%s", json_string_value(json_object_get(v, "stack")) ?: "?", inst);
		else
			snprintf(name, sizeof(name), "%s", inst);
		if (json_is_integer(json_object_get(v, "pid")))
			snprintf(pid, sizeof(pid), "%lld", (long long)json_integer_value(json_object_get(v, "pid")));
		size_t k, n = 0;
		json_t *p;
		json_array_foreach(json_object_get(v, "ports"), k, p) {
			json_int_t t = json_integer_value(json_object_get(p, "target"));
			json_int_t pub = json_integer_value(json_object_get(p, "published"));
			if (n < sizeof(ports))
				n += (size_t)(t ? snprintf(ports + n, sizeof(ports) - n, "%s%lld->%lld", k ? "," : "",
							   (long long)pub, (long long)t)
						: snprintf(ports + n, sizeof(ports) - n, "%s%lld", k ? "," : "",
							   (long long)pub));
		}
		const char *msg = json_string_value(json_object_get(v, "message"));
		const char *since = json_string_value(json_object_get(v, "since")) ?: "";
		/* A load balancer: where it serves, in place of since. */
		char urls[512] = "";
		size_t u, un = 0;
		json_t *url;
		json_array_foreach(json_object_get(v, "urls"), u, url)
			if (un < sizeof(urls))
				un += (size_t)snprintf(urls + un, sizeof(urls) - un, "%s%s", u ? " " : "", json_string_value(url));
		if (urls[0] && !(msg && *msg))
			since = urls;
		printf("%s%-24s%s %-10s %-8s %-22s %-12s %-8lld %s%s%s\n", cli_color(&o, inst), name, cli_reset(&o),
		       json_string_value(json_object_get(v, "state")) ?: "?", pid, ports[0] ? ports : "-",
		       json_string_value(json_object_get(v, "node")) ?: "?",
		       (long long)json_integer_value(json_object_get(v, "restarts")),
		       msg && *msg ? msg : urls[0] ? "" : "since ", msg && *msg ? "" : since, "");
	}
	json_decref(sel);
	rc = 0;
out:
	json_decref(arr);
	free(stack);
	api_client_close(&c);
	cli_opts_free(&o);
	return rc;
}
