/* Unit tests of health_config_from_service(): compose healthcheck, rancher health_check, x-berth.check, their precedence, and the JSON validator. */
#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "health/health-int.h"
#include "spec/spec.h"

static struct spec_stack *stack;
static char dir[64];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void teardown(void)
{
	spec_stack_free(stack);
	stack = NULL;
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(health_config, .fini = teardown, .timeout = 10);

/* Loads <yaml> (one compose file in memory) and returns service <name>. */
static const struct spec_service *load(const char *yaml, const char *name)
{
	struct spec_load_opts o = {.project_dir = "/tmp", .no_process_env = true};
	char *err = NULL;

	spec_stack_free(stack);
	stack = NULL;
	cr_assert_eq(spec_load_buffer("compose.yml", yaml, strlen(yaml), &o, &stack, &err), 0, "%s", err);
	const struct spec_service *s = spec_service_find(stack, name);
	cr_assert_not_null(s);
	return s;
}

static void put(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f, "%s", p);
	fputs(text, f);
	fclose(f);
	free(p);
}

/* Loads compose.yml and rancher-compose.yml from a fresh directory. */
static const struct spec_service *load_rancher(const char *compose, const char *rancher, const char *name)
{
	char *path, *err = NULL;

	strcpy(dir, "/tmp/berth-health-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	put("compose.yml", compose);
	put("rancher-compose.yml", rancher);
	path = xasprintf("%s/compose.yml", dir);
	const char *files[] = {path};
	struct spec_load_opts o = {.files = files, .nfiles = 1, .no_process_env = true};
	cr_assert_eq(spec_load(&o, &stack, &err), 0, "%s", err);
	free(path);
	const struct spec_service *s = spec_service_find(stack, name);
	cr_assert_not_null(s);
	return s;
}

static void config_of(const struct spec_service *s, struct health_config *c)
{
	char *err = NULL;

	cr_assert_eq(health_config_from_service(s, c, &err), 0, "%s", err);
}

Test(health_config, no_check_is_none)
{
	struct health_config c;

	config_of(load("services:\n  web: {command: x}\n", "web"), &c);
	cr_expect_eq(c.kind, HEALTH_KIND_NONE);
	cr_expect_eq(c.source, HEALTH_SRC_NONE);
	cr_expect_null(c.argv);
	cr_expect_str_eq(health_kind_name(c.kind), "none");
}

Test(health_config, compose_cmd)
{
	struct health_config c;

	config_of(load("services:\n"
		       "  web:\n"
		       "    command: x\n"
		       "    healthcheck:\n"
		       "      test: [CMD, curl, -f, http://localhost/]\n"
		       "      interval: 10s\n"
		       "      timeout: 3s\n"
		       "      retries: 5\n"
		       "      start_period: 1m\n"
		       "      start_interval: 1s\n",
		       "web"),
		  &c);
	cr_expect_eq(c.kind, HEALTH_KIND_EXEC);
	cr_expect_eq(c.source, HEALTH_SRC_COMPOSE);
	cr_assert_eq(c.argc, 3);
	cr_expect_str_eq(c.argv[0], "curl");
	cr_expect_str_eq(c.argv[2], "http://localhost/");
	cr_expect_null(c.argv[3]);
	cr_expect_not(c.shell);
	cr_expect_eq(c.interval, 10000);
	cr_expect_eq(c.timeout, 3000);
	cr_expect_eq(c.fall, 5);
	cr_expect_eq(c.rise, 1);
	cr_expect_eq(c.start_period, 60000);
	cr_expect_eq(c.start_interval, 1000);
	cr_expect_eq(c.initializing_timeout, 0);
	cr_expect(c.restart_on_unhealthy);
	health_config_free(&c);
	cr_expect_null(c.argv);
}

Test(health_config, compose_shell_and_defaults)
{
	struct health_config c;

	config_of(load("services:\n  web:\n    command: x\n    healthcheck: {test: 'test -f /tmp/ok', retries: 0}\n",
		       "web"),
		  &c);
	cr_expect_eq(c.kind, HEALTH_KIND_EXEC);
	cr_assert_eq(c.argc, 3);
	cr_expect(c.shell);
	cr_expect_str_eq(c.argv[0], "/bin/sh");
	cr_expect_str_eq(c.argv[1], "-c");
	cr_expect_str_eq(c.argv[2], "test -f /tmp/ok");
	cr_expect_eq(c.interval, 30000);
	cr_expect_eq(c.timeout, 30000);
	cr_expect_eq(c.fall, 3, "retries 0 means docker's default");
	cr_expect_eq(c.start_interval, 5000);
	health_config_free(&c);

	config_of(load("services:\n  web:\n    command: x\n    healthcheck: {test: [CMD-SHELL, 'exit 0']}\n", "web"),
		  &c);
	cr_expect(c.shell);
	cr_expect_str_eq(c.argv[2], "exit 0");
	health_config_free(&c);
}

Test(health_config, compose_none_and_disable)
{
	struct health_config c;

	config_of(load("services:\n  web:\n    command: x\n    healthcheck: {test: [NONE]}\n", "web"), &c);
	cr_expect_eq(c.kind, HEALTH_KIND_NONE);
	config_of(load("services:\n  web:\n    command: x\n    healthcheck: {test: [CMD, 'true'], disable: true}\n",
		       "web"),
		  &c);
	cr_expect_eq(c.kind, HEALTH_KIND_NONE);
	/* no test: the image's own check (docker), none for a process */
	config_of(load("services:\n  web:\n    command: x\n    healthcheck: {interval: 5s}\n", "web"), &c);
	cr_expect_eq(c.kind, HEALTH_KIND_NONE);
}

Test(health_config, xberth_http)
{
	struct health_config c;

	config_of(load("services:\n"
		       "  web:\n"
		       "    command: x\n"
		       "    ports: ['3000', '9000']\n"
		       "    x-berth:\n"
		       "      check:\n"
		       "        http: /healthz?full=1\n"
		       "        expect: [200, 204, 3xx]\n"
		       "        host: app.example.com\n"
		       "        port: 9000\n",
		       "web"),
		  &c);
	cr_expect_eq(c.kind, HEALTH_KIND_HTTP);
	cr_expect_eq(c.source, HEALTH_SRC_XBERTH);
	cr_expect_str_eq(c.path, "/healthz?full=1");
	cr_expect_str_eq(c.method, "GET");
	cr_expect_eq(c.http_minor, 1);
	cr_expect_str_eq(c.host, "app.example.com");
	cr_expect_eq(c.port, 9000);
	cr_assert_eq(c.nexpect, 3);
	cr_expect(c.expect[0].lo == 200 && c.expect[0].hi == 200);
	cr_expect(c.expect[1].lo == 204 && c.expect[1].hi == 204);
	cr_expect(c.expect[2].lo == 300 && c.expect[2].hi == 399);
	/* the lb's defaults */
	cr_expect_eq(c.interval, 2000);
	cr_expect_eq(c.timeout, 2000);
	cr_expect_eq(c.rise, 2);
	cr_expect_eq(c.fall, 3);
	cr_expect(c.restart_on_unhealthy);
	health_config_free(&c);
}

Test(health_config, xberth_expect_forms_and_timing)
{
	struct health_config c;

	config_of(load("services:\n  web:\n    command: x\n    x-berth:\n      check: {http: /, expect: 2xx, "
		       "interval: 1m30s, rise: 1, fall: 1, start_period: 1.5s, initializing_timeout: 20000, "
		       "restart_on_unhealthy: false}\n",
		       "web"),
		  &c);
	cr_assert_eq(c.nexpect, 1);
	cr_expect(c.expect[0].lo == 200 && c.expect[0].hi == 299);
	cr_expect_eq(c.interval, 90000);
	cr_expect_eq(c.timeout, 90000, "the timeout defaults to the interval");
	cr_expect_eq(c.start_interval, 90000);
	cr_expect_eq(c.start_period, 1500);
	cr_expect_eq(c.initializing_timeout, 20000);
	cr_expect_eq(c.rise, 1);
	cr_expect_not(c.restart_on_unhealthy);
	health_config_free(&c);

	config_of(load("services:\n  web:\n    command: x\n    x-berth: {check: {http: /, expect: 204, timeout: 500ms}}\n",
		       "web"),
		  &c);
	cr_expect(c.nexpect == 1 && c.expect[0].lo == 204 && c.expect[0].hi == 204);
	cr_expect_eq(c.timeout, 500);
	health_config_free(&c);
}

Test(health_config, xberth_tcp_ttl_redis_exec)
{
	struct health_config c;

	config_of(load("services:\n  db:\n    command: x\n    x-berth: {check: {tcp: true, port: 5432}}\n", "db"), &c);
	cr_expect_eq(c.kind, HEALTH_KIND_TCP);
	cr_expect_eq(c.port, 5432);
	health_config_free(&c);

	config_of(load("services:\n  w:\n    command: x\n    x-berth: {check: {ttl: 30s}}\n", "w"), &c);
	cr_expect_eq(c.kind, HEALTH_KIND_TTL);
	cr_expect_eq(c.ttl, 30000);
	cr_expect_eq(c.interval, 30000);
	cr_expect_eq(c.rise, 1);
	cr_expect_eq(c.fall, 1);
	health_config_free(&c);

	config_of(load("services:\n  r:\n    command: x\n    x-berth: {check: {redis: role, password_env: REDIS_PASSWORD}}\n",
		       "r"),
		  &c);
	cr_expect_eq(c.kind, HEALTH_KIND_REDIS);
	cr_expect_str_eq(c.password_env, "REDIS_PASSWORD");
	cr_expect_null(c.password);
	health_config_free(&c);

	config_of(load("services:\n  w:\n    command: x\n    x-berth: {check: {exec: [CMD, test, -e, 1, true]}}\n", "w"),
		  &c);
	cr_expect_eq(c.kind, HEALTH_KIND_EXEC);
	cr_assert_eq(c.argc, 4);
	cr_expect_str_eq(c.argv[0], "test");
	cr_expect_str_eq(c.argv[2], "1");
	cr_expect_str_eq(c.argv[3], "true");
	health_config_free(&c);

	config_of(load("services:\n  w:\n    command: x\n    x-berth: {check: {exec: 'pg_isready -q'}}\n", "w"), &c);
	cr_expect(c.shell);
	cr_expect_str_eq(c.argv[2], "pg_isready -q");
	health_config_free(&c);
}

Test(health_config, xberth_wins_over_compose)
{
	struct health_config c;

	config_of(load("services:\n  web:\n    command: x\n    healthcheck: {test: [CMD, 'true']}\n"
		       "    x-berth: {check: {tcp: true}}\n",
		       "web"),
		  &c);
	cr_expect_eq(c.kind, HEALTH_KIND_TCP);
	cr_expect_eq(c.source, HEALTH_SRC_XBERTH);
	health_config_free(&c);
}

Test(health_config, xberth_tuning_over_compose)
{
	struct health_config c;

	config_of(load("services:\n  web:\n    command: x\n    healthcheck: {test: [CMD, 'true'], retries: 4}\n"
		       "    x-berth: {check: {restart_on_unhealthy: false, interval: 5s, rise: 2}}\n",
		       "web"),
		  &c);
	cr_expect_eq(c.kind, HEALTH_KIND_EXEC);
	cr_expect_eq(c.source, HEALTH_SRC_COMPOSE);
	cr_expect_not(c.restart_on_unhealthy);
	cr_expect_eq(c.interval, 5000);
	cr_expect_eq(c.start_interval, 5000);
	cr_expect_eq(c.fall, 4);
	cr_expect_eq(c.rise, 2);
	health_config_free(&c);

	/* tuning over nothing is nothing */
	config_of(load("services:\n  web:\n    command: x\n    x-berth: {check: {interval: 5s}}\n", "web"), &c);
	cr_expect_eq(c.kind, HEALTH_KIND_NONE);
}

Test(health_config, xberth_false_turns_off)
{
	struct health_config c;
	bool off = false;

	const struct spec_service *s =
		load("services:\n  web:\n    command: x\n    healthcheck: {test: [CMD, 'true']}\n"
		     "    x-berth: {check: false}\n",
		     "web");
	config_of(s, &c);
	cr_expect_eq(c.kind, HEALTH_KIND_NONE);
	cr_expect_eq(health_xcheck_kind(json_object_get(s->x_berth, "check"), &off), HEALTH_KIND_NONE);
	cr_expect(off);
}

Test(health_config, rancher_http_and_precedence)
{
	struct health_config c;
	const struct spec_service *s = load_rancher(
		"services:\n  web:\n    command: x\n    ports: ['3000']\n    healthcheck: {test: [CMD, 'true']}\n",
		"services:\n"
		"  web:\n"
		"    health_check:\n"
		"      port: 3000\n"
		"      request_line: GET \"/healthz\" \"HTTP/1.0\"\n"
		"      interval: 1000\n"
		"      response_timeout: 500\n"
		"      healthy_threshold: 1\n"
		"      unhealthy_threshold: 4\n"
		"      initializing_timeout: 7000\n"
		"      reinitializing_timeout: 8000\n"
		"      strategy: none\n",
		"web");

	config_of(s, &c);
	cr_expect_eq(c.kind, HEALTH_KIND_HTTP);
	cr_expect_eq(c.source, HEALTH_SRC_RANCHER);
	cr_expect_str_eq(c.method, "GET");
	cr_expect_str_eq(c.path, "/healthz");
	cr_expect_eq(c.http_minor, 0);
	cr_expect_eq(c.port, 3000);
	cr_expect_eq(c.interval, 1000);
	cr_expect_eq(c.timeout, 500);
	cr_expect_eq(c.rise, 1);
	cr_expect_eq(c.fall, 4);
	cr_expect_eq(c.initializing_timeout, 7000);
	cr_expect_eq(c.reinitializing_timeout, 8000);
	cr_expect_not(c.restart_on_unhealthy, "strategy none only marks unhealthy");
	health_config_free(&c);
}

Test(health_config, rancher_tcp_defaults_and_xberth_over_it)
{
	struct health_config c;
	const struct spec_service *s = load_rancher(
		"services:\n  web:\n    command: x\n    ports: ['3000']\n    x-berth: {check: {fall: 9}}\n",
		"services:\n  web:\n    health_check: {port: 3000}\n", "web");

	config_of(s, &c);
	cr_expect_eq(c.kind, HEALTH_KIND_TCP);
	cr_expect_eq(c.port, 3000);
	cr_expect_eq(c.interval, 2000);
	cr_expect_eq(c.timeout, 2000);
	cr_expect_eq(c.rise, 2);
	cr_expect_eq(c.fall, 9);
	cr_expect_eq(c.initializing_timeout, 60000);
	cr_expect(c.restart_on_unhealthy);
	health_config_free(&c);
}

Test(health_config, request_lines)
{
	char m[16], p[64];
	int minor = -1;

	cr_expect_eq(health__request_line_parse("GET /healthz HTTP/1.0", m, sizeof(m), p, sizeof(p), &minor), 0);
	cr_expect(strcmp(m, "GET") == 0 && strcmp(p, "/healthz") == 0 && minor == 0);
	cr_expect_eq(health__request_line_parse("HEAD \"/a b\" \"HTTP/1.1\"", m, sizeof(m), p, sizeof(p), &minor),
		     -1, "a space in the target");
	cr_expect_eq(health__request_line_parse("OPTIONS \"/\" \"HTTP/1.1\"", m, sizeof(m), p, sizeof(p), &minor), 0);
	cr_expect(strcmp(m, "OPTIONS") == 0 && strcmp(p, "/") == 0 && minor == 1);
	cr_expect_eq(health__request_line_parse("GET /", m, sizeof(m), p, sizeof(p), &minor), 0);
	cr_expect_eq(minor, 0);
	cr_expect_eq(health__request_line_parse("get /", m, sizeof(m), p, sizeof(p), &minor), -1);
	cr_expect_eq(health__request_line_parse("GET healthz", m, sizeof(m), p, sizeof(p), &minor), -1);
	cr_expect_eq(health__request_line_parse("GET / HTTP/2", m, sizeof(m), p, sizeof(p), &minor), -1);
	cr_expect_eq(health__request_line_parse("GET / HTTP/1.0 x", m, sizeof(m), p, sizeof(p), &minor), -1);
	cr_expect_eq(health__request_line_parse("GET \"/", m, sizeof(m), p, sizeof(p), &minor), -1);
	cr_expect_eq(health__request_line_parse("", m, sizeof(m), p, sizeof(p), &minor), -1);
}

/* The store's JSON is not validated by the loader: errors name the key. */
Test(health_config, bad_json_from_the_store)
{
	struct spec_service s = {.name = "web"};
	struct health_config c;
	char *err = NULL;

	s.x_berth = json_loads("{\"check\": {\"http\": \"/\", \"interval\": \"soon\"}}", 0, NULL);
	cr_expect_eq(health_config_from_service(&s, &c, &err), -1);
	cr_expect_str_eq(err, "x-berth.check.interval: expected a duration like \"10s\", \"1m30s\" or a number of "
			      "milliseconds");
	free(err);
	cr_expect_eq(c.kind, HEALTH_KIND_NONE);
	json_decref(s.x_berth);

	s.x_berth = json_loads("{\"check\": {\"http\": \"/\", \"expect\": [200, 99]}}", 0, NULL);
	cr_expect_eq(health_config_from_service(&s, &c, &err), -1);
	cr_expect_str_eq(err, "x-berth.check.expect[1]: expected a status (200), a class (\"2xx\") or a list of them");
	free(err);
	json_decref(s.x_berth);

	s.x_berth = json_loads("{\"check\": 3}", 0, NULL);
	cr_expect_eq(health_config_from_service(&s, &c, &err), -1);
	cr_expect_str_eq(err, "x-berth.check: expected a mapping, or false to turn the checks off");
	free(err);
	json_decref(s.x_berth);

	/* null is absent */
	s.x_berth = json_loads("{\"check\": null}", 0, NULL);
	cr_expect_eq(health_config_from_service(&s, &c, &err), 0);
	cr_expect_eq(c.kind, HEALTH_KIND_NONE);
	json_decref(s.x_berth);
}

Test(health_config, validator_reports_key_and_index)
{
	const char *key = NULL;
	int index = 0;
	bool at_key = false;
	char *why = NULL;
	json_t *j;

	j = json_loads("{\"http\": \"/\", \"tcp\": true}", 0, NULL);
	cr_expect_eq(health_xcheck_validate(j, &key, &index, &at_key, &why), -1);
	cr_expect_str_eq(key, "tcp");
	cr_expect(at_key);
	cr_expect_str_eq(why, "one check kind only; http is given too");
	free(why);
	json_decref(j);

	j = json_loads("{\"exec\": [\"a\", 1.5]}", 0, NULL);
	cr_expect_eq(health_xcheck_validate(j, &key, &index, &at_key, &why), -1);
	cr_expect_str_eq(key, "exec");
	cr_expect_eq(index, 1);
	cr_expect_not(at_key);
	free(why);
	json_decref(j);

	j = json_loads("{\"redis\": \"role\", \"password\": \"s\", \"port\": \"6379\", \"fall\": 2}", 0, NULL);
	cr_expect_eq(health_xcheck_validate(j, &key, &index, &at_key, &why), 0);
	json_decref(j);
	cr_expect_eq(health_xcheck_validate(NULL, &key, &index, &at_key, &why), 0);
}

Test(health_config, copy_is_deep)
{
	struct health_config c, d;

	config_of(load("services:\n  web:\n    command: x\n    x-berth: {check: {http: /x, host: h}}\n", "web"), &c);
	health_config_copy(&d, &c);
	cr_expect_neq(d.path, c.path);
	cr_expect_str_eq(d.path, "/x");
	health_config_free(&c);
	cr_expect_str_eq(d.host, "h");
	health_config_free(&d);
}

Test(health_config, names)
{
	cr_expect_str_eq(health_state_name(HEALTH_NONE), "none");
	cr_expect_str_eq(health_state_name(HEALTH_STARTING), "starting");
	cr_expect_str_eq(health_state_name(HEALTH_HEALTHY), "healthy");
	cr_expect_str_eq(health_state_name(HEALTH_UNHEALTHY), "unhealthy");
	cr_expect_str_eq(health_kind_name(HEALTH_KIND_EXEC), "exec");
	cr_expect_str_eq(health_kind_name(HEALTH_KIND_REDIS), "redis");
}

Test(health_config, tags_parse)
{
	char buf[128];
	const char *tags[HEALTH_MAX_TAGS];
	const char *s = " primary, zone-a ,,bad tag,primary,x_y\r";
	int n = health__tags_parse(s, strlen(s), buf, sizeof(buf), tags);

	cr_assert_eq(n, 3);
	cr_expect_str_eq(tags[0], "primary");
	cr_expect_str_eq(tags[1], "zone-a");
	cr_expect_str_eq(tags[2], "x_y");
	cr_expect_eq(health__tags_parse("", 0, buf, sizeof(buf), tags), 0);
}

Test(health_config, text_is_utf8)
{
	char *t = health__text("ok \xc3\xa9\xff\x01\tend\n\n", 13);

	cr_expect_str_eq(t, "ok \xc3\xa9??\tend");
	free(t);
}
