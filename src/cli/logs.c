/* berth logs: the merged logs of a stack's instances, prefixed and coloured
 * by instance like `docker compose logs`. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "core/mem.h"

static void logs_usage(FILE *f)
{
	fprintf(f, "usage: berth logs [options] [SERVICE...]\n"
		   "\n"
		   "Prints the instances' stdout and stderr, merged by time, as \"service.index | line\".\n"
		   "\n"
		   "options:\n"
		   "  -f, --follow                 keep printing new lines (Ctrl-C ends)\n"
		   "  -n, --tail N                 only the last N lines of each instance (default: all)\n"
		   "      --since T                lines since T: RFC 3339 (2026-12-01T08:00:00Z) or a\n"
		   "                               duration ago (10m, 2h)\n"
		   "  -t, --timestamps             show each line's time\n" CLI_COMMON_HELP
		   "\nNote: -f follows; the compose file is given with --file.\n");
}

static void on_sigint(int sig)
{
	api_interrupted = 1;
}

struct ctx {
	struct cli_opts *o;
	bool ts;
	bool follow;
};

static int on_line(const char *line, size_t len, void *arg)
{
	struct ctx *c = arg;
	json_t *j = json_loadb(line, len, 0, NULL);

	if (j)
		cli_print_log(c->o, j, c->ts);
	json_decref(j);
	/* Followed lines must show as they come, even into a pipe. */
	if (c->follow)
		fflush(stdout);
	return 0;
}

int cli_logs(int argc, char **argv)
{
	/* -f is --follow here, as in docker compose logs; the file is --file. */
	static const struct option opts[] = {
		{"follow", no_argument, NULL, 'F'},
		{"tail", required_argument, NULL, 'n'},
		{"since", required_argument, NULL, 'S'},
		{"timestamps", no_argument, NULL, 't'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_opts o;
	struct api_client c = {.fd = -1};
	bool follow = false, ts = false;
	const char *tail = NULL, *since = NULL;
	int ch, rc = 1;
	char *stack = NULL;

	cli_opts_init(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "fn:p:th", opts, NULL)) != -1) {
		if ((ch == 'f' && !optarg) || ch == 'F') {
			follow = true;
			continue;
		}
		if (cli_common_opt(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'n':
			tail = optarg;
			break;
		case 'S':
			since = optarg;
			break;
		case 't':
			ts = true;
			break;
		case 'h':
			logs_usage(stdout);
			cli_opts_free(&o);
			return 0;
		default:
			logs_usage(stderr);
			cli_opts_free(&o);
			return 2;
		}
	}
	if (!(stack = cli_stack_name(&o)) || cli_connect(&o, &c, false) < 0)
		goto out;
	char q[2048], enc[512];
	size_t n = (size_t)snprintf(q, sizeof(q), "/v1/logs?stack=%s", api_urlencode(stack, enc, sizeof(enc)));
	if (follow)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&follow=1");
	if (tail)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&tail=%s", api_urlencode(tail, enc, sizeof(enc)));
	if (since)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "&since=%s", api_urlencode(since, enc, sizeof(enc)));
	for (int i = optind; i < argc && n < sizeof(q); i++)
		n += (size_t)snprintf(q + n, sizeof(q) - n, "%s%s", i == optind ? "&services=" : ",",
				      api_urlencode(argv[i], enc, sizeof(enc)));
	struct sigaction sa = {.sa_handler = on_sigint};
	sigaction(SIGINT, &sa, NULL);
	struct ctx cx = {&o, ts, follow};
	char *err = NULL;
	int sr = api_stream(&c, "GET", q, NULL, on_line, &cx, &err);
	if (sr < 0) {
		fprintf(stderr, "berth logs: %s\n", err);
		free(err);
		goto out;
	}
	rc = 0;
out:
	fflush(stdout);
	free(stack);
	api_client_close(&c);
	cli_opts_free(&o);
	return rc;
}
