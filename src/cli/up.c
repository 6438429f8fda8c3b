/* berth up: deploy a compose project as a stack, like `docker compose up`:
 * in the foreground it shows the instances coming up, then follows their
 * merged logs, and Ctrl-C stops the stack; with -d it returns once every
 * instance has settled. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "core/mem.h"
#include "lb/config.h"
#include "lb/stackcfg.h"
#include "runner/driver.h"
#include "spec/spec.h"

static void up_usage(FILE *f)
{
	fprintf(f, "usage: berth up [options] [SERVICE...]\n"
		   "\n"
		   "Deploys the compose project as a stack on the agent (starting an agent\n"
		   "when none answers). In the foreground it shows the instances starting,\n"
		   "then follows their logs; Ctrl-C stops the stack (berth down removes it).\n"
		   "\n"
		   "options:\n"
		   "  -d, --detach                 return once every instance has settled\n"
		   "      --wait-timeout SECONDS   how long -d waits (default 60)\n"
		   "      --strict                 unsupported compose keys are errors\n"
		   "  -t, --timestamps             show log timestamps\n" CLI_COMMON_HELP);
}

static void on_sigint(int sig)
{
	api_interrupted = 1;
}

/* Settled: not on its way somewhere (a restart backoff counts as settled
 * when it is a crash loop, so -d does not wait for ever). */
static bool settled(json_t *inst)
{
	const char *st = json_string_value(json_object_get(inst, "state")) ?: "";

	return strcmp(st, "running") == 0 || strcmp(st, "exited") == 0 || strcmp(st, "failed") == 0 ||
	       strcmp(st, "stopped") == 0 || strcmp(st, "crashloop") == 0;
}

static bool not_running(json_t *inst)
{
	const char *st = json_string_value(json_object_get(inst, "state")) ?: "";

	return strcmp(st, "running") != 0 && strcmp(st, "starting") != 0 && strcmp(st, "stopping") != 0;
}

struct follow_ctx {
	struct cli_opts *o;
	bool timestamps;
};

static int on_line(const char *line, size_t len, void *arg)
{
	struct follow_ctx *f = arg;
	json_t *j = json_loadb(line, len, 0, NULL);

	if (j)
		cli_print_log(f->o, j, f->timestamps);
	fflush(stdout);
	json_decref(j);
	return 0;
}

static int expected_instances(const struct spec_stack *s)
{
	int n = 0;

	for (int i = 0; i < s->nservices; i++)
		n += s->services[i].deploy.mode == SPEC_MODE_GLOBAL ? 1 : s->services[i].deploy.replicas;
	return n;
}

/* Prints where each instance runs, like a short `berth ps`. Returns the
 * number of instances that did not come up. */
static int summary(struct api_client *c, const char *stack, const struct cli_opts *o)
{
	char path[256];
	json_t *arr = NULL;
	int bad = 0;
	size_t i;
	json_t *v;

	snprintf(path, sizeof(path), "/v1/stacks/%s/instances", stack);
	if (cli_call(c, "up", "GET", path, NULL, &arr) < 0)
		return -1;
	json_array_foreach(arr, i, v) {
		const char *st = json_string_value(json_object_get(v, "state")) ?: "?";
		const char *inst = json_string_value(json_object_get(v, "instance")) ?: "?";
		const char *msg = json_string_value(json_object_get(v, "message"));
		printf("  %s%-20s%s %-10s", cli_color(o, inst), inst, cli_reset(o), st);
		if (json_is_integer(json_object_get(v, "pid")))
			printf(" pid %-7lld", (long long)json_integer_value(json_object_get(v, "pid")));
		if (json_integer_value(json_object_get(v, "port")))
			printf(" %s:%lld", json_string_value(json_object_get(v, "addr")) ?: "",
			       (long long)json_integer_value(json_object_get(v, "port")));
		if (msg && *msg)
			printf("  (%s)", msg);
		size_t u;
		json_t *url;
		json_array_foreach(json_object_get(v, "urls"), u, url)
			printf("  %s", json_string_value(url));
		printf("\n");
		bad += strcmp(st, "failed") == 0 || strcmp(st, "crashloop") == 0;
	}
	json_decref(arr);
	return bad;
}

/* Keys berth reads but does not act on yet, named at every deploy so that
 * nothing is silently ignored (docs/compose.md, "What acts on it today"). */
static void note_unenforced(const struct spec_stack *s)
{
	for (int i = 0; i < s->nservices; i++) {
		const struct spec_service *v = &s->services[i];
		const struct spec_resources *l = &v->deploy.limits;
		bool docker = strcmp(driver_for_service(v), "docker") == 0;
		/* The docker driver gives them to the engine. */
		if ((l->cpus || l->memory || l->pids) && !docker)
			fprintf(stderr, "note: services.%s.deploy.resources.limits: not enforced by the process "
					"driver yet\n", v->name);
		if (v->deploy.placement.npreferences)
			fprintf(stderr, "note: services.%s.deploy.placement.preferences: not applied yet "
					"(instances are spread evenly)\n", v->name);
		/* An image: berth/lb service runs it (lb/stackcfg.c); elsewhere
		 * nothing reads it. */
		if (v->lb_config && !lb_stack_is_lb(v))
			fprintf(stderr, "note: services.%s (rancher-compose lb_config): only an image: berth/lb "
					"service applies it\n", v->name);
	}
}

/* A berth/lb service's configuration is checked here, before anything is
 * deployed, the way berth lb --check would: an error names the service
 * and the key path. Returns 0 or -1 (printed). */
static int check_lbs(const struct spec_stack *s)
{
	for (int i = 0; i < s->nservices; i++) {
		const struct spec_service *v = &s->services[i];
		char *err = NULL;
		if (!lb_stack_is_lb(v))
			continue;
		json_t *cfg = lb_stack_config(v, s->name, "/nonexistent/berth.sock", &err);
		if (!cfg) {
			fprintf(stderr, "berth: %s\n", err);
			free(err);
			return -1;
		}
		char path[] = "/tmp/berth-lbcheck-XXXXXX";
		int fd = mkstemp(path);
		if (fd < 0) {
			json_decref(cfg);
			continue;
		}
		close(fd);
		json_dump_file(cfg, path, JSON_INDENT(1));
		json_decref(cfg);
		struct lb_config *lc = NULL;
		int rc = lb_config_load(path, &lc, &err);
		unlink(path);
		if (rc < 0) {
			/* Drop the temporary file's position: the key path says it. */
			const char *m = err;
			for (int colons = 0; *m && colons < 3; m++)
				colons += *m == ':';
			fprintf(stderr, "berth: services.%s (%s):%s\n", v->name,
				json_object_get(v->x_berth, "lb") ? "x-berth.lb" : "lb_config", m);
			free(err);
			return -1;
		}
		lb_config_free(lc);
	}
	return 0;
}

int cli_up(int argc, char **argv)
{
	static const struct option opts[] = {
		{"detach", no_argument, NULL, 'd'},
		{"wait-timeout", required_argument, NULL, 'W'},
		{"timestamps", no_argument, NULL, 't'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_opts o;
	struct spec_stack *s = NULL;
	struct api_client c = {.fd = -1};
	bool detach = false, timestamps = false;
	long wait_s = 60;
	int ch, rc = 1;

	cli_opts_init(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "df:p:th", opts, NULL)) != -1) {
		if (cli_common_opt(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'd':
			detach = true;
			break;
		case 'W':
			wait_s = strtol(optarg, NULL, 10);
			if (wait_s < 1)
				wait_s = 1;
			break;
		case 't':
			timestamps = true;
			break;
		case 'h':
			up_usage(stdout);
			cli_opts_free(&o);
			return 0;
		default:
			up_usage(stderr);
			cli_opts_free(&o);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "berth up: starting only some services is not supported yet; use profiles "
				"(--profile) or berth stop/start\n");
		cli_opts_free(&o);
		return 2;
	}
	/* Everything is checked before anything is sent: an invalid project
	 * deploys nothing. */
	if (cli_load_project(&o, &s) < 0)
		goto out;
	note_unenforced(s);
	if (check_lbs(s) < 0)
		goto out;
	if (cli_connect(&o, &c, true) < 0)
		goto out;

	json_t *info = NULL;
	if (cli_call(&c, "up", "GET", "/v1/info", NULL, &info) < 0)
		goto out;
	json_int_t seq = json_integer_value(json_object_get(info, "events_seq"));
	json_decref(info);

	json_t *body = json_pack("{s:o}", "spec", spec_to_json(s));
	char path[512];
	json_t *resp = NULL;
	snprintf(path, sizeof(path), "/v1/stacks/%s", s->name);
	int crc = cli_call(&c, "up", "PUT", path, body, &resp);
	json_decref(body);
	if (crc < 0)
		goto out;
	json_int_t generation = json_integer_value(json_object_get(resp, "generation"));
	printf("Stack %s: %s, generation %lld, %d service%s.\n", s->name,
	       json_is_true(json_object_get(resp, "created")) ? "created" : "updated",
	       (long long)json_integer_value(json_object_get(resp, "generation")), s->nservices,
	       s->nservices == 1 ? "" : "s");
	fflush(stdout);
	json_decref(resp);
	int want = expected_instances(s);

	if (detach) {
		signal(SIGINT, on_sigint);
		/* Wait for the allocations to show up, then for them to settle. */
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		snprintf(path, sizeof(path), "/v1/stacks/%s/instances", s->name);
		for (;;) {
			json_t *arr = NULL;
			if (cli_call(&c, "up", "GET", path, NULL, &arr) < 0)
				goto out;
			size_t i, ok = 0;
			json_t *v;
			/* Settled in this deploy: states from before it do not count. */
			json_array_foreach(arr, i, v)
				ok += settled(v) && json_integer_value(json_object_get(v, "generation")) >= generation;
			size_t n = json_array_size(arr);
			json_decref(arr);
			if ((int)n >= want && ok == n)
				break;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (t1.tv_sec - t0.tv_sec > wait_s || api_interrupted) {
				fprintf(stderr, "berth up: not every instance settled within %lds:\n", wait_s);
				summary(&c, s->name, &o);
				rc = 1;
				goto out;
			}
			struct timespec ts = {0, 20 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		int bad = summary(&c, s->name, &o);
		rc = bad == 0 ? 0 : 1;
		goto out;
	}

	/* Foreground: events and logs until Ctrl-C. */
	struct sigaction sa = {.sa_handler = on_sigint};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct follow_ctx fc = {&o, timestamps};
	char q[300], *err = NULL;
	snprintf(q, sizeof(q), "/v1/logs?stack=%s&follow=1&events=1&after=%lld&tail=0", s->name, (long long)seq);
	int sr = api_stream(&c, "GET", q, NULL, on_line, &fc, &err);
	if (sr < 0) {
		fprintf(stderr, "berth up: %s\n", err);
		free(err);
		goto out;
	}
	api_client_close(&c);
	api_interrupted = 0;
	printf("Stopping stack %s (Ctrl-C again to leave it stopping)...\n", s->name);
	fflush(stdout);
	signal(SIGINT, SIG_DFL);
	if (cli_connect(&o, &c, false) < 0)
		goto out;
	snprintf(path, sizeof(path), "/v1/stacks/%s/stop", s->name);
	if (cli_call(&c, "up", "POST", path, NULL, NULL) < 0)
		goto out;
	uint64_t grace = 0;
	for (int i = 0; i < s->nservices; i++)
		if (s->services[i].stop_grace_period > grace)
			grace = s->services[i].stop_grace_period;
	int w = cli_wait_instances(&c, s->name, not_running, true, (int)(grace + 10000));
	summary(&c, s->name, &o);
	rc = w == 0 ? 0 : 1;
out:
	api_client_close(&c);
	spec_stack_free(s);
	cli_opts_free(&o);
	return rc;
}
