/* Shared plumbing of the stack commands (see common.h). */
#include "cli/common.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/config.h"
#include "core/mem.h"
#include "core/str.h"
#include "spec/spec.h"

void cli_opts_init(struct cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->data_dir_owned = agent_default_data_dir();
	o->data_dir = o->data_dir_owned;
	if (getenv("NO_COLOR") || !isatty(STDOUT_FILENO))
		o->no_color = true;
}

void cli_opts_free(struct cli_opts *o)
{
	free(o->data_dir_owned);
	o->data_dir_owned = NULL;
}

bool cli_common_opt(struct cli_opts *o, int c, const char *arg)
{
	switch (c) {
	case CLI_OPT_DATA_DIR:
		o->data_dir = arg;
		return true;
	case CLI_OPT_API_ADDR:
		o->api_addr = arg;
		return true;
	case CLI_OPT_TOKEN_FILE:
		o->token_file = arg;
		return true;
	case 'f':
		if (o->nfiles == CLI_MAX_FILES) {
			fprintf(stderr, "berth: at most %d -f files\n", CLI_MAX_FILES);
			exit(2);
		}
		o->files[o->nfiles++] = arg;
		return true;
	case 'p':
		o->project = arg;
		return true;
	case CLI_OPT_PROJECT_DIR:
		o->project_dir = arg;
		return true;
	case CLI_OPT_PROFILE:
		if (o->nprofiles < CLI_MAX_PROFILES)
			o->profiles[o->nprofiles++] = arg;
		return true;
	case CLI_OPT_STRICT:
		o->strict = true;
		return true;
	case CLI_OPT_NO_COLOR:
		o->no_color = true;
		return true;
	}
	return false;
}

int cli_load_project(struct cli_opts *o, struct spec_stack **out)
{
	struct spec_load_opts lo = {
		.files = o->files,
		.nfiles = o->nfiles,
		.project_name = o->project,
		.project_dir = o->project_dir,
		.profiles = o->profiles,
		.nprofiles = o->nprofiles,
		.strict = o->strict,
	};
	char *err = NULL;

	if (spec_load(&lo, out, &err) < 0) {
		fprintf(stderr, "berth: %s\n", err);
		free(err);
		return -1;
	}
	for (int i = 0; i < (*out)->nwarnings; i++)
		fprintf(stderr, "warning: %s\n", (*out)->warnings[i]);
	return 0;
}

char *cli_stack_name(struct cli_opts *o)
{
	struct spec_stack *s = NULL;

	if (o->project)
		return xstrdup(o->project);
	const char *env = getenv("COMPOSE_PROJECT_NAME");
	if (env && *env && !o->nfiles)
		return xstrdup(env);
	if (cli_load_project(o, &s) < 0) {
		fprintf(stderr, "berth: give the stack name with -p NAME, or run this where its compose file is\n");
		return NULL;
	}
	char *name = xstrdup(s->name);
	spec_stack_free(s);
	return name;
}

static char *read_token(const char *path)
{
	const char *why;
	char *tok = api_read_token(path, &why);

	if (!tok)
		fprintf(stderr, "berth: --token-file %s: %s\n", path, why);
	return tok;
}

/* Starts `berth agent --data-dir DIR` in the background, detached, its
 * output in DIR/agent.log. */
static int start_agent(const char *data_dir)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		fprintf(stderr, "berth: cannot find my own binary to start an agent\n");
		return -1;
	}
	exe[n] = 0;
	char *log = xasprintf("%s/agent.log", data_dir);
	char *cmd_dir = xstrdup(data_dir);
	mkdir(cmd_dir, 0700);
	free(cmd_dir);
	pid_t pid = fork();
	if (pid < 0) {
		free(log);
		return -1;
	}
	if (pid == 0) {
		/* A grandchild in its own session: the agent outlives this
		 * command and its terminal. */
		setsid();
		if (fork() != 0)
			_exit(0);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execl(exe, exe, "agent", "--data-dir", data_dir, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("No agent was answering on %s: started one in the background (log: %s).\n", data_dir, log);
	fflush(stdout);
	free(log);
	return 0;
}

int cli_connect(struct cli_opts *o, struct api_client *c, bool start)
{
	char *err = NULL, *token = NULL;
	bool refused;

	if (o->api_addr) {
		if (!o->token_file) {
			fprintf(stderr, "berth: --api-addr needs --token-file\n");
			return -1;
		}
		token = read_token(o->token_file);
		if (!token)
			return -1;
	}
	int rc = api_client_open(c, o->data_dir, o->api_addr, token, &refused, &err);
	if (rc < 0 && refused && start && !o->api_addr) {
		free(err);
		err = NULL;
		if (start_agent(o->data_dir) < 0)
			goto fail;
		/* Bounded wait for its socket to answer. */
		for (int i = 0; i < 200; i++) {
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
			free(err);
			err = NULL;
			rc = api_client_open(c, o->data_dir, NULL, NULL, &refused, &err);
			if (rc == 0)
				break;
		}
		if (rc < 0) {
			fprintf(stderr, "berth: the agent did not come up: %s (see %s/agent.log)\n", err, o->data_dir);
			goto fail;
		}
	} else if (rc < 0) {
		fprintf(stderr, "berth: %s%s\n", err,
			refused ? " (is `berth agent` running? `berth up` starts one)" : "");
		goto fail;
	}
	free(token);
	return 0;
fail:
	free(err);
	free(token);
	return -1;
}

int cli_call(struct api_client *c, const char *cmd, const char *method, const char *path, json_t *body,
	     json_t **resp)
{
	int status = 0;
	json_t *r = NULL;
	char *err = NULL;
	char buf[1024];

	if (resp)
		*resp = NULL;
	if (api_call(c, method, path, body, &status, &r, &err) < 0) {
		fprintf(stderr, "berth %s: %s\n", cmd, err);
		free(err);
		return -1;
	}
	if (status >= 300) {
		fprintf(stderr, "berth %s: %s\n", cmd, api_error_text(r, status, buf, sizeof(buf)));
		json_decref(r);
		return -1;
	}
	if (resp)
		*resp = r;
	else
		json_decref(r);
	return 0;
}

bool cli_colors_on(const struct cli_opts *o)
{
	return !o->no_color;
}

const char *cli_color(const struct cli_opts *o, const char *name)
{
	/* The palette docker compose cycles through. */
	static const char *const pal[] = {"\033[36m", "\033[33m", "\033[32m", "\033[35m", "\033[34m",
					  "\033[96m", "\033[93m", "\033[92m", "\033[95m", "\033[94m"};

	if (o->no_color)
		return "";
	return pal[hash64(name, strlen(name)) % (sizeof(pal) / sizeof(pal[0]))];
}

const char *cli_reset(const struct cli_opts *o)
{
	return o->no_color ? "" : "\033[0m";
}

int cli_wait_instances(struct api_client *c, const char *stack, bool (*done)(json_t *inst), bool empty_ok,
		       int timeout_ms)
{
	char path[256];
	struct timespec t0, t1;

	snprintf(path, sizeof(path), "/v1/stacks/%s/instances", stack);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		json_t *arr = NULL;
		if (cli_call(c, "wait", "GET", path, NULL, &arr) < 0)
			return -1;
		size_t i;
		json_t *v;
		bool all = empty_ok || json_array_size(arr) > 0;
		json_array_foreach(arr, i, v)
			all = all && done(v);
		json_decref(arr);
		if (all)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms > timeout_ms || api_interrupted)
			return 1;
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* Width of the "web.1  | " prefixes: the longest instance name seen. */
static int prefix_width = 0;

void cli_print_log(const struct cli_opts *o, json_t *j, bool timestamps)
{
	const char *t = json_string_value(json_object_get(j, "t"));
	const char *inst = json_string_value(json_object_get(j, "instance"));
	char name[256];

	if (!t)
		return;
	if (strcmp(t, "event") == 0) {
		const char *type = json_string_value(json_object_get(j, "type")) ?: "";
		const char *svc = json_string_value(json_object_get(j, "service")) ?: "";
		const char *msg = json_string_value(json_object_get(j, "message"));
		json_int_t idx = json_integer_value(json_object_get(j, "index"));
		snprintf(name, sizeof(name), "%s.%lld", svc, (long long)idx);
		if (strncmp(type, "instance.", 9) != 0)
			return;
		type += 9;
		if ((int)strlen(name) > prefix_width)
			prefix_width = (int)strlen(name);
		printf("%s%-*s |%s ", cli_color(o, name), prefix_width, name, cli_reset(o));
		if (strcmp(type, "started") == 0)
			printf("started (pid %lld, port %lld)\n", (long long)json_integer_value(json_object_get(j, "pid")),
			       (long long)json_integer_value(json_object_get(j, "port")));
		else if (strcmp(type, "exited") == 0 || strcmp(type, "stopped") == 0) {
			json_int_t sig = json_integer_value(json_object_get(j, "signal"));
			if (sig)
				printf("%s (signal %lld)\n", type, (long long)sig);
			else
				printf("%s with code %lld\n", type, (long long)json_integer_value(json_object_get(j, "exit_code")));
		} else
			printf("%s%s%s\n", type, msg ? ": " : "", msg ? msg : "");
		fflush(stdout);
		return;
	}
	if (strcmp(t, "log") != 0 || !inst)
		return;
	if ((int)strlen(inst) > prefix_width)
		prefix_width = (int)strlen(inst);
	const char *line = json_string_value(json_object_get(j, "line")) ?: "";
	printf("%s%-*s |%s ", cli_color(o, inst), prefix_width, inst, cli_reset(o));
	if (timestamps)
		printf("%s ", json_string_value(json_object_get(j, "time")) ?: "");
	printf("%s\n", line);
}
