/* The table of subcommands, help, version and usage errors. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef BERTH_VERSION
#define BERTH_VERSION "dev"
#endif

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct cli_cmd cli_cmds[] = {
	{"lb", "run the load balancer from a config file", cli_lb},
	{"dns", "serve DNS from a catalog file: berth dns --catalog FILE", cli_dns},
	{"config", "validate compose files and print the normalized stack", cli_config},
	{"shim", "supervise one instance: berth shim DIR (docs/shim.md)", cli_shim},
	{"docker-exec", "run a program in a container: berth docker-exec NAME -- PROG (health checks)", cli_docker_exec},
	{"agent", "run the node agent (store, scheduler, runner, API)", cli_agent},
	{"up", "deploy a compose project as a stack and follow it", cli_up},
	{"down", "remove a stack and stop its instances", cli_down},
	{"ps", "list a stack's instances", cli_ps},
	{"logs", "show a stack's merged logs", cli_logs},
	{"scale", "set the replicas of services: berth scale web=3", cli_scale},
	{"stop", "stop services' instances (berth start resumes them)", cli_stop},
	{"start", "start stopped services", cli_start},
	{"restart", "restart services' instances", cli_restart},
	{"version", "print the version", cmd_version},
	{"help", "show this help, or a command's (berth help CMD)", cmd_help},
};

#define NCMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: berth <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(f, "  %-10s %s\n", cli_cmds[i].name, cli_cmds[i].summary);
	fprintf(f, "\nberth help <command> shows a command's options.\n");
}

static int cmd_version(int argc, char **argv)
{
	printf("berth %s\n", BERTH_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < NCMDS; i++) {
		if (strcmp(argv[1], cli_cmds[i].name) == 0 && cli_cmds[i].run != cmd_help) {
			char *hargv[] = {argv[1], "--help", NULL};
			return cli_cmds[i].run(2, hargv);
		}
	}
	fprintf(stderr, "berth: unknown command '%s'\n", argv[1]);
	return 2;
}

int cli_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(0, NULL);
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(argv[1], cli_cmds[i].name) == 0)
			return cli_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "berth: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
