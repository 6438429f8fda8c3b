/* What the stack commands (up, down, ps, logs, scale, ...) share: their
 * common options, finding the project and its stack name, reaching the
 * agent (and starting one for `up`), and printing. */
#ifndef BERTH_CLI_COMMON_H
#define BERTH_CLI_COMMON_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "api/client.h"

struct spec_stack;

#define CLI_MAX_FILES 16
#define CLI_MAX_PROFILES 16

struct cli_opts {
	const char *data_dir;        /* --data-dir, BERTH_DATA_DIR, or the default */
	const char *api_addr;        /* --api-addr: a remote agent over TCP */
	const char *token_file;      /* --token-file for it */
	const char *files[CLI_MAX_FILES]; /* -f */
	int nfiles;
	const char *project;         /* -p */
	const char *project_dir;     /* --project-directory */
	const char *profiles[CLI_MAX_PROFILES];
	int nprofiles;
	bool strict;
	bool no_color;
	char *data_dir_owned;
};

/* Long options every stack command takes, for getopt_long tables. Their
 * values start at CLI_OPT_BASE. */
enum {
	CLI_OPT_BASE = 1000,
	CLI_OPT_DATA_DIR = CLI_OPT_BASE,
	CLI_OPT_API_ADDR,
	CLI_OPT_TOKEN_FILE,
	CLI_OPT_PROJECT_DIR,
	CLI_OPT_PROFILE,
	CLI_OPT_STRICT,
	CLI_OPT_NO_COLOR,
};

#define CLI_COMMON_LONGOPTS                                                        \
	{"data-dir", required_argument, NULL, CLI_OPT_DATA_DIR},                    \
	{"api-addr", required_argument, NULL, CLI_OPT_API_ADDR},                    \
	{"token-file", required_argument, NULL, CLI_OPT_TOKEN_FILE},                \
	{"file", required_argument, NULL, 'f'},                                     \
	{"project-name", required_argument, NULL, 'p'},                             \
	{"project-directory", required_argument, NULL, CLI_OPT_PROJECT_DIR},        \
	{"profile", required_argument, NULL, CLI_OPT_PROFILE},                      \
	{"strict", no_argument, NULL, CLI_OPT_STRICT},                              \
	{"no-color", no_argument, NULL, CLI_OPT_NO_COLOR},                          \
	{"help", no_argument, NULL, 'h'}

#define CLI_COMMON_HELP                                                                         \
	"  -f, --file FILE              compose file (repeatable; default compose.yaml ...)\n"    \
	"  -p, --project-name NAME      stack name (default: the project directory's name)\n"     \
	"      --project-directory DIR  where relative paths and .env are (default: the file's)\n" \
	"      --profile NAME           enable a compose profile (repeatable)\n"                  \
	"      --data-dir DIR           the agent's data dir (default $BERTH_DATA_DIR, /var/lib/berth\n" \
	"                               as root, else ~/.local/state/berth)\n"                    \
	"      --api-addr HOST:PORT     talk to an agent over TCP (with --token-file)\n"          \
	"      --token-file FILE        bearer token for --api-addr\n"                            \
	"      --no-color               plain output\n"                                           \
	"  -h, --help                   this help\n"

/* Handles one of the common options (getopt's return <c>, <arg>); returns
 * true if it was one. */
bool cli_common_opt(struct cli_opts *o, int c, const char *arg);
void cli_opts_init(struct cli_opts *o);
void cli_opts_free(struct cli_opts *o);

/* Loads the compose project (warnings to stderr). Returns 0 and *out, or
 * prints the error and returns -1. */
int cli_load_project(struct cli_opts *o, struct spec_stack **out);
/* The stack name: -p, else the project's (loading the compose file); NULL
 * after printing why not. Heap string. */
char *cli_stack_name(struct cli_opts *o);

/* Connects to the agent. With <start>, an agent is started in the
 * background when none answers (and the user is told). Returns 0, or
 * prints why not and returns -1. */
int cli_connect(struct cli_opts *o, struct api_client *c, bool start);

/* Calls the API; on a transport failure or a status >= 300 prints the
 * error (prefixed by <cmd>) and returns -1. *resp may be NULL. */
int cli_call(struct api_client *c, const char *cmd, const char *method, const char *path, json_t *body,
	     json_t **resp);

/* Colour for an instance prefix ("web.1"); "" when colours are off. */
const char *cli_color(const struct cli_opts *o, const char *name);
const char *cli_reset(const struct cli_opts *o);
bool cli_colors_on(const struct cli_opts *o);

/* Waits until every instance of <stack> satisfies <done> (or the stack has
 * none and <empty_ok>), polling, for at most <timeout_ms>. Returns 0, 1 on
 * timeout, -1 on error. */
int cli_wait_instances(struct api_client *c, const char *stack, bool (*done)(json_t *inst), bool empty_ok,
		       int timeout_ms);

/* Prints one line of a logs stream: "web.1  | text" (coloured by instance),
 * or an instance event. */
void cli_print_log(const struct cli_opts *o, json_t *j, bool timestamps);

#endif
