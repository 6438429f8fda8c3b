/* berth lb: run the load balancer. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "core/log.h"
#include "lb/config.h"
#include "lb/lb.h"

static void lb_usage(FILE *f)
{
	fprintf(f,
		"usage: berth lb -c FILE [options]\n"
		"\n"
		"Runs the load balancer described by FILE (YAML; see docs/lb.md).\n"
		"SIGHUP reloads FILE (a bad file is refused and the running config kept);\n"
		"SIGTERM or SIGINT drains in-flight requests, then exits.\n"
		"\n"
		"options:\n"
		"  -c, --config FILE     config file (required)\n"
		"  -t, --threads N       worker threads (overrides the file; default: cores)\n"
		"      --check           validate the config and exit\n"
		"      --log-level LVL   error | warn | info (default) | debug\n"
		"      --log-format FMT  text (default) | json\n"
		"  -h, --help            this help\n");
}

int cli_lb(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"threads", required_argument, NULL, 't'},
		{"check", no_argument, NULL, 'C'},
		{"log-level", required_argument, NULL, 'L'},
		{"log-format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct lb_options o = {0};
	enum log_level lvl = LOG_LVL_INFO;
	enum log_format fmt = LOG_FMT_TEXT;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.config_path = optarg;
			break;
		case 't': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 64) {
				fprintf(stderr, "berth lb: --threads: expected 1..64, got '%s'\n", optarg);
				return 2;
			}
			o.threads = (int)n;
			break;
		}
		case 'C':
			o.check_only = true;
			break;
		case 'L':
			if (log_level_parse(optarg, &lvl) < 0) {
				fprintf(stderr, "berth lb: --log-level: expected error|warn|info|debug\n");
				return 2;
			}
			break;
		case 'F':
			if (log_format_parse(optarg, &fmt) < 0) {
				fprintf(stderr, "berth lb: --log-format: expected text|json\n");
				return 2;
			}
			break;
		case 'h':
			lb_usage(stdout);
			return 0;
		default:
			lb_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "berth lb: unexpected argument '%s'\n", argv[optind]);
		lb_usage(stderr);
		return 2;
	}
	if (!o.config_path) {
		fprintf(stderr, "berth lb: -c FILE is required\n");
		lb_usage(stderr);
		return 2;
	}
	log_setup(lvl, fmt);
	return lb_run(&o);
}
