/* berth config: load the compose file(s) and print the normalized stack, or the first error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/mem.h"
#include "spec/spec.h"

static void config_usage(FILE *f)
{
	fprintf(f,
		"usage: berth config [-f FILE]... [-p NAME] [--project-directory DIR]\n"
		"                    [--profile P]... [--json] [--strict] [--services] [-q]\n"
		"\n"
		"Loads the compose files as `berth up` would (merging them in order,\n"
		"interpolating ${VAR}s from the environment and .env, applying\n"
		"rancher-compose.yml), validates them, and prints the normalized stack.\n"
		"Warnings (unsupported keys, unset variables) go to stderr; an invalid\n"
		"file prints FILE:LINE:COL: PATH: message and exits 1. See docs/compose.md.\n"
		"\n"
		"options:\n"
		"  -f, --file FILE            compose file, repeatable (default: compose.yaml,\n"
		"                             compose.yml, docker-compose.yaml or\n"
		"                             docker-compose.yml, plus its override file)\n"
		"  -p, --project-name NAME    project name (default: COMPOSE_PROJECT_NAME,\n"
		"                             name:, or the project directory's name)\n"
		"      --project-directory D  where relative paths and .env are (default:\n"
		"                             the first file's directory)\n"
		"      --profile P            enable a profile, repeatable (also COMPOSE_PROFILES)\n"
		"      --json                 print JSON (the form berth stores) instead of YAML\n"
		"      --strict               unsupported keys are errors, not warnings\n"
		"      --services             print only the service names, one a line\n"
		"  -q, --quiet                validate only, print nothing on success\n"
		"  -h, --help                 this help\n");
}

int cli_config(int argc, char **argv)
{
	enum { OPT_PROJECT_DIR = 256, OPT_PROFILE, OPT_JSON, OPT_STRICT, OPT_SERVICES };
	static const struct option opts[] = {
		{"file", required_argument, NULL, 'f'},
		{"project-name", required_argument, NULL, 'p'},
		{"project-directory", required_argument, NULL, OPT_PROJECT_DIR},
		{"profile", required_argument, NULL, OPT_PROFILE},
		{"json", no_argument, NULL, OPT_JSON},
		{"strict", no_argument, NULL, OPT_STRICT},
		{"services", no_argument, NULL, OPT_SERVICES},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	/* argv outlives the load, so the option arrays can borrow from it */
	const char **files = XNEWV(const char *, (size_t)argc + 1);
	const char **profiles = XNEWV(const char *, (size_t)argc + 1);
	struct spec_load_opts o = {.files = files, .profiles = profiles};
	bool json = false, services = false, quiet = false;
	struct spec_stack *st = NULL;
	char *err = NULL;
	int c, rc = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:p:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			files[o.nfiles++] = optarg;
			break;
		case 'p':
			o.project_name = optarg;
			break;
		case OPT_PROJECT_DIR:
			o.project_dir = optarg;
			break;
		case OPT_PROFILE:
			profiles[o.nprofiles++] = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_STRICT:
			o.strict = true;
			break;
		case OPT_SERVICES:
			services = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			config_usage(stdout);
			rc = 0;
			goto out;
		default:
			config_usage(stderr);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "berth config: unexpected argument '%s'\n", argv[optind]);
		config_usage(stderr);
		goto out;
	}
	if (spec_load(&o, &st, &err) < 0) {
		fprintf(stderr, "berth config: %s\n", err);
		free(err);
		rc = 1;
		goto out;
	}
	for (int i = 0; i < st->nwarnings; i++)
		fprintf(stderr, "berth config: warning: %s\n", st->warnings[i]);
	rc = 0;
	if (quiet)
		goto out;
	if (services) {
		for (int i = 0; i < st->nservices; i++)
			printf("%s\n", st->services[i].name);
	} else if (json) {
		json_t *j = spec_to_json(st);
		char *text = json_dumps(j, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
		json_decref(j);
	} else {
		char *text = spec_to_yaml(st);
		fputs(text, stdout);
		free(text);
	}
	if (fflush(stdout) != 0) {
		perror("berth config: stdout");
		rc = 1;
	}
out:
	spec_stack_free(st);
	free(files);
	free(profiles);
	return rc;
}
