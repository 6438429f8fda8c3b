/* berth agent: run the node daemon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "cli/cli.h"
#include "core/mem.h"

static void agent_usage(FILE *f)
{
	fprintf(f, "usage: berth agent [options]\n"
		   "\n"
		   "Runs the agent of this node: the store, the scheduler, the runner that starts\n"
		   "and supervises instances, and the API (unix socket DATA_DIR/berth.sock).\n"
		   "SIGTERM or SIGINT stops the agent; instances keep running under their shims\n"
		   "and the next agent on the same data dir adopts them.\n"
		   "\n"
		   "Settings, lowest to highest: built-in defaults, DATA_DIR/agent.yml,\n"
		   "agent.$BERTH_ENV.yml beside it, BERTH_* variables, these flags:\n"
		   "\n");
	agent_config_usage(f);
	fprintf(f, "  --print-config           show the resulting settings and where each came from\n"
		   "  -h, --help               this help\n");
}

int cli_agent(int argc, char **argv)
{
	struct agent_flag flags[64] = {0};
	int nflags = 0;
	bool print = false;
	struct agent_config cfg;
	char *err = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			agent_usage(stdout);
			return 0;
		}
		if (strcmp(a, "--print-config") == 0) {
			print = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "berth agent: unexpected argument '%s'\n", a);
			return 2;
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		char nbuf[64];
		const char *value;
		if (eq) {
			snprintf(nbuf, sizeof(nbuf), "%.*s", (int)(eq - name), name);
			name = nbuf;
			value = eq + 1;
		} else {
			if (i + 1 >= argc) {
				fprintf(stderr, "berth agent: --%s needs a value\n", name);
				return 2;
			}
			value = argv[++i];
		}
		if (!agent_config_is_flag(name)) {
			fprintf(stderr, "berth agent: unknown option --%s (see berth agent --help)\n", name);
			return 2;
		}
		if (nflags == 64) {
			fprintf(stderr, "berth agent: too many options\n");
			return 2;
		}
		flags[nflags].name = xstrdup(name);
		flags[nflags].value = value;
		nflags++;
	}
	int rc = agent_config_resolve(flags, nflags, NULL, &cfg, &err);
	for (int i = 0; i < nflags; i++)
		free((char *)flags[i].name);
	if (rc < 0) {
		fprintf(stderr, "berth agent: %s\n", err);
		free(err);
		agent_config_free(&cfg);
		return 2;
	}
	if (print) {
		agent_config_print(&cfg, stdout);
		agent_config_free(&cfg);
		return 0;
	}
	rc = agent_run(&cfg);
	agent_config_free(&cfg);
	return rc;
}
