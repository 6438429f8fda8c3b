/* Subcommands of the berth binary, one file each, registered in cli.c. */
#ifndef BERTH_CLI_CLI_H
#define BERTH_CLI_CLI_H

struct cli_cmd {
	const char *name;
	const char *summary;   /* one line for `berth help` */
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

/* Runs the command named by argv[1]; returns the exit status. */
int cli_main(int argc, char **argv);

int cli_lb(int argc, char **argv);
int cli_dns(int argc, char **argv);
int cli_config(int argc, char **argv);
int cli_agent(int argc, char **argv);
int cli_up(int argc, char **argv);
int cli_down(int argc, char **argv);
int cli_ps(int argc, char **argv);
int cli_logs(int argc, char **argv);
int cli_scale(int argc, char **argv);
int cli_stop(int argc, char **argv);
int cli_start(int argc, char **argv);
int cli_restart(int argc, char **argv);
int cli_shim(int argc, char **argv);
int cli_docker_exec(int argc, char **argv);

#endif
