/* Tests for spec_load() end to end: merge rules, positions across files, environment, profiles, replicas, names, discovery, JSON and YAML. */
#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/yaml.h"
#include "spec/spec.h"

static char dir[64];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void setup(void)
{
	strcpy(dir, "/tmp/berth-spec-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(spec_load, .init = setup, .fini = teardown, .timeout = 10);

static void put(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f, "%s", p);
	fputs(text, f);
	fclose(f);
	free(p);
}

/* Options with no process environment, so the tests see only <env>. */
static struct spec_load_opts opts(void)
{
	static const char *const env[] = {"HOME=/home/tester", "SET=value"};
	struct spec_load_opts o = {.project_dir = dir, .env = env, .nenv = 2, .no_process_env = true};

	return o;
}

static struct spec_stack *load_with(struct spec_load_opts *o, int nfiles, const char *const *files)
{
	char *paths[8];
	struct spec_stack *st = NULL;
	char *err = NULL;
	int rc;

	for (int i = 0; i < nfiles; i++)
		paths[i] = xasprintf("%s/%s", dir, files[i]);
	o->files = (const char *const *)paths;
	o->nfiles = nfiles;
	rc = spec_load(o, &st, &err);
	for (int i = 0; i < nfiles; i++)
		free(paths[i]);
	cr_assert_eq(rc, 0, "unexpected error: %s", err ? err : "(none)");
	cr_assert_null(err);
	return st;
}

static struct spec_stack *load1(const char *text)
{
	struct spec_load_opts o = opts();

	put("compose.yml", text);
	return load_with(&o, 1, (const char *[]){"compose.yml"});
}

/* Loads and expects an error whose text holds <needle> after the file's
 * directory ("compose.yml:3:5: services.web..."). Returns nothing. */
static void load_fails(struct spec_load_opts *o, int nfiles, const char *const *files, const char *needle)
{
	char *paths[8];
	struct spec_stack *st = NULL;
	char *err = NULL;
	int rc;

	for (int i = 0; i < nfiles; i++)
		paths[i] = xasprintf("%s/%s", dir, files[i]);
	o->files = (const char *const *)paths;
	o->nfiles = nfiles;
	rc = spec_load(o, &st, &err);
	for (int i = 0; i < nfiles; i++)
		free(paths[i]);
	cr_assert_eq(rc, -1, "loaded, expected: %s", needle);
	cr_assert_null(st);
	cr_assert_not_null(err);
	cr_expect(strstr(err, needle), "error \"%s\" lacks \"%s\"", err, needle);
	free(err);
}

static void fails1(const char *text, const char *needle)
{
	struct spec_load_opts o = opts();

	put("compose.yml", text);
	load_fails(&o, 1, (const char *[]){"compose.yml"}, needle);
}

static const struct spec_service *svc(const struct spec_stack *st, const char *name)
{
	const struct spec_service *s = spec_service_find(st, name);

	cr_assert_not_null(s, "no service %s", name);
	return s;
}

static bool has_warning(const struct spec_stack *st, const char *needle)
{
	for (int i = 0; i < st->nwarnings; i++)
		if (strstr(st->warnings[i], needle))
			return true;
	return false;
}

static void env_is(const struct spec_service *s, int n, ...)
{
	va_list ap;

	cr_expect_eq(s->nenvironment, n, "%d variables", s->nenvironment);
	va_start(ap, n);
	for (int i = 0; i < n && i < s->nenvironment; i++)
		cr_expect_str_eq(s->environment[i], va_arg(ap, const char *), "environment[%d]", i);
	va_end(ap);
}

/* ---- defaults and single keys ---- */

Test(spec_load, defaults_are_filled_in)
{
	struct spec_stack *st = load1("services:\n  web:\n    command: node server.js\n");
	const struct spec_service *s = svc(st, "web");

	cr_expect_eq(st->nservices, 1);
	cr_expect_eq(s->deploy.mode, SPEC_MODE_REPLICATED);
	cr_expect_eq(s->deploy.replicas, 1);
	cr_expect_eq(s->stop_signal, 15);
	cr_expect_eq(s->stop_grace_period, 10000);
	cr_expect_eq(s->restart, SPEC_RESTART_NO);
	cr_expect_eq(s->deploy.update_config.parallelism, 1);
	cr_expect_eq(s->deploy.update_config.monitor, 5000);
	cr_expect_eq(s->deploy.update_config.failure_action, SPEC_FAIL_PAUSE);
	cr_expect_eq(s->deploy.update_config.order, SPEC_ORDER_STOP_FIRST);
	cr_expect(!s->deploy.restart_policy.set);
	cr_expect_null(s->healthcheck);
	cr_expect_eq(s->ncommand, 2);
	cr_expect_eq(st->nwarnings, 0);
	spec_stack_free(st);
}

Test(spec_load, commands_restart_signal_and_healthchecks)
{
	struct spec_stack *st = load1("services:\n"
				      "  a:\n"
				      "    entrypoint: [\"/bin/sh\", \"-c\"]\n"
				      "    command: 'echo \"hi there\" $$HOME'\n"
				      "    restart: on-failure:5\n"
				      "    stop_signal: QUIT\n"
				      "    stop_grace_period: 1m30s\n"
				      "    healthcheck: {test: curl -f localhost, interval: 2s, retries: 5}\n"
				      "  b:\n"
				      "    image: redis\n"
				      "    restart: unless-stopped\n"
				      "    healthcheck: {test: [CMD, redis-cli, ping], start_period: 1s}\n"
				      "  c:\n"
				      "    image: x\n"
				      "    healthcheck: {disable: true, test: [CMD, x]}\n");
	const struct spec_service *a = svc(st, "a"), *b = svc(st, "b"), *c = svc(st, "c");

	cr_expect_eq(a->nentrypoint, 2);
	cr_assert_eq(a->ncommand, 3);
	cr_expect_str_eq(a->command[1], "hi there");
	cr_expect_str_eq(a->command[2], "$HOME");
	cr_expect_eq(a->restart, SPEC_RESTART_ON_FAILURE);
	cr_expect_eq(a->restart_max, 5);
	cr_expect_eq(a->stop_signal, 3);
	cr_expect_eq(a->stop_grace_period, 90000);
	cr_assert_not_null(a->healthcheck);
	cr_expect_eq(a->healthcheck->type, SPEC_HC_SHELL);
	cr_expect_str_eq(a->healthcheck->test[0], "curl -f localhost");
	cr_expect_eq(a->healthcheck->interval, 2000);
	cr_expect_eq(a->healthcheck->timeout, 30000);
	cr_expect_eq(a->healthcheck->retries, 5);
	cr_expect_eq(b->restart, SPEC_RESTART_UNLESS_STOPPED);
	cr_expect_eq(b->healthcheck->type, SPEC_HC_CMD);
	cr_expect_eq(b->healthcheck->ntest, 2);
	cr_expect_eq(b->healthcheck->start_period, 1000);
	cr_expect_eq(c->healthcheck->type, SPEC_HC_NONE);
	cr_expect_eq(c->healthcheck->ntest, 0);
	spec_stack_free(st);
}

Test(spec_load, environment_env_file_and_labels)
{
	static const char *const env[] = {"HOME=/h", "FROM_SHELL=shell", "OVER=shell"};
	struct spec_load_opts o = opts();
	struct spec_stack *st;
	const struct spec_service *s;

	o.env = env;
	o.nenv = 3;
	put("a.env", "OVER=file\nONLY_FILE=1\nBARE_UNSET=from-file\n");
	put("b.env", "ONLY_FILE=2\n");
	put("compose.yml", "services:\n"
			   "  web:\n"
			   "    image: x\n"
			   "    env_file: [a.env, {path: b.env}, {path: missing.env, required: false}]\n"
			   "    environment:\n"
			   "      - OVER=compose\n"
			   "      - FROM_SHELL\n"
			   "      - BARE_UNSET\n"
			   "      - EMPTY=\n"
			   "      - WITH_EQ=a=b\n"
			   "    labels: [com.example.a=1, flag]\n"
			   "  db:\n"
			   "    image: y\n"
			   "    environment: {NUM: 3, BOOL: true, NIL: null}\n"
			   "    labels: {b: \"2\", a: x}\n");
	st = load_with(&o, 1, (const char *[]){"compose.yml"});
	s = svc(st, "web");
	env_is(s, 6, "BARE_UNSET=from-file", "EMPTY=", "FROM_SHELL=shell", "ONLY_FILE=2", "OVER=compose",
	       "WITH_EQ=a=b");
	cr_assert_eq(s->nlabels, 2);
	cr_expect_str_eq(s->labels[0].key, "com.example.a");
	cr_expect_str_eq(s->labels[1].key, "flag");
	cr_expect_str_eq(s->labels[1].value, "");
	s = svc(st, "db");
	env_is(s, 2, "BOOL=true", "NUM=3");
	cr_expect_str_eq(s->labels[0].key, "a");
	spec_stack_free(st);

	put("compose.yml", "services:\n  web:\n    image: x\n    env_file: nope.env\n");
	load_fails(&o, 1, (const char *[]){"compose.yml"}, "compose.yml:4:15: services.web.env_file[0]: ");
	put("bad.env", "A=1\nthis is wrong\n");
	put("compose.yml", "services:\n  web:\n    image: x\n    env_file: bad.env\n");
	load_fails(&o, 1, (const char *[]){"compose.yml"}, "bad.env:2:1: expected KEY=VALUE");
}

Test(spec_load, volumes_and_build_paths)
{
	struct spec_stack *st = load1("services:\n"
				      "  web:\n"
				      "    build: ./app\n"
				      "    volumes:\n"
				      "      - ./data:/data\n"
				      "      - ~/cfg:/cfg:ro\n"
				      "      - /abs/../etc:/etc2\n"
				      "      - cache:/cache\n"
				      "      - /anon\n"
				      "      - {type: tmpfs, target: /tmp, tmpfs: {size: 64M, mode: 1777}}\n"
				      "      - {type: bind, source: ../up, target: /up, bind: {create_host_path: false}}\n"
				      "  api:\n"
				      "    build: {context: api, dockerfile: Dockerfile.dev, args: [A=1, SET]}\n"
				      "volumes:\n"
				      "  cache:\n");
	const struct spec_service *s = svc(st, "web"), *api = svc(st, "api");
	char *want;

	cr_assert_eq(s->nvolumes, 7);
	want = xasprintf("%s/data", dir);
	cr_expect_str_eq(s->volumes[0].source, want);
	free(want);
	cr_expect_str_eq(s->volumes[1].source, "/home/tester/cfg");
	cr_expect(s->volumes[1].read_only);
	cr_expect_str_eq(s->volumes[2].source, "/etc");
	cr_expect_eq(s->volumes[3].type, SPEC_VOL_VOLUME);
	cr_expect_str_eq(s->volumes[3].source, "cache");
	cr_expect(s->volumes[4].type == SPEC_VOL_VOLUME && !s->volumes[4].source);
	cr_expect_eq(s->volumes[5].type, SPEC_VOL_TMPFS);
	cr_expect_eq(s->volumes[5].tmpfs_size, 64u << 20);
	cr_expect_eq(s->volumes[5].tmpfs_mode, 01777);
	cr_expect(!s->volumes[6].create_host_path);
	cr_expect_str_eq(s->volumes[6].source, "/tmp/up");
	want = xasprintf("%s/app", dir);
	cr_expect_str_eq(s->build->context, want);
	free(want);
	cr_expect_str_eq(s->build->dockerfile, "Dockerfile");
	cr_expect_str_eq(api->build->dockerfile, "Dockerfile.dev");
	cr_assert_eq(api->build->nargs, 2);
	cr_expect_str_eq(api->build->args[1].value, "value");
	cr_assert_eq(st->nvolumes, 1);
	/* <project>_<key>; the project is the directory's name, lowercased */
	cr_expect(strncmp(st->volumes[0].name, "berth-spec-", 11) == 0, "%s", st->volumes[0].name);
	cr_expect(strstr(st->volumes[0].name, "_cache"), "%s", st->volumes[0].name);
	spec_stack_free(st);
}

/* ---- merging ---- */

Test(spec_load, merge_rules)
{
	struct spec_load_opts o = opts();
	struct spec_stack *st;
	const struct spec_service *s;

	put("a.yml", "services:\n"
		     "  web:\n"
		     "    image: web:1\n"
		     "    command: [node, a.js]\n"
		     "    environment: [A=1, B=1]\n"
		     "    labels: {x: \"1\"}\n"
		     "    ports: [\"8080:3000\", \"9000:9000\"]\n"
		     "    expose: [\"1000\"]\n"
		     "    volumes: [\"./a:/data\", \"./logs:/logs\"]\n"
		     "    depends_on: {db: {condition: service_healthy}}\n"
		     "    healthcheck: {test: [CMD, a], interval: 5s}\n"
		     "    deploy: {replicas: 1, resources: {limits: {cpus: 1, memory: 1G}}}\n"
		     "    x-berth: {lb: {port: 80}, logs: {files: [a]}}\n"
		     "  db:\n"
		     "    image: redis\n"
		     "    healthcheck: {test: [CMD, redis-cli, ping]}\n");
	put("b.yml", "services:\n"
		     "  web:\n"
		     "    image: web:2\n"
		     "    command: [node, b.js]\n"
		     "    environment: {B: 2, C: 3}\n"
		     "    labels: [y=2]\n"
		     "    ports: [\"127.0.0.1:8081:3000\", {target: 9000, published: 9000, app_protocol: http}]\n"
		     "    expose: [\"1000\", \"2000\"]\n"
		     "    volumes: [\"./b:/data:ro\"]\n"
		     "    depends_on: [db, cache]\n"
		     "    healthcheck: {test: [CMD, b]}\n"
		     "    deploy: {resources: {limits: {memory: 2G}}}\n"
		     "    x-berth: {lb: {port: 81}}\n"
		     "  cache:\n"
		     "    image: memcached\n");
	st = load_with(&o, 2, (const char *[]){"a.yml", "b.yml"});
	s = svc(st, "web");
	cr_expect_str_eq(s->image, "web:2");
	cr_assert_eq(s->ncommand, 2, "command is replaced, not appended");
	cr_expect_str_eq(s->command[1], "b.js");
	env_is(s, 3, "A=1", "B=2", "C=3");
	cr_expect_eq(s->nlabels, 2);
	/* ports: unique by {ip, target, published, protocol}: a new ip is a new port, the same key merges */
	cr_assert_eq(s->nports, 3);
	cr_expect_null(s->ports[0].host_ip);
	cr_expect_str_eq(s->ports[1].app_protocol, "http");
	cr_expect_str_eq(s->ports[2].host_ip, "127.0.0.1");
	cr_expect_eq(s->nexpose, 2);
	/* volumes: unique by target */
	cr_assert_eq(s->nvolumes, 2);
	cr_expect_str_eq(s->volumes[0].target, "/data");
	cr_expect(s->volumes[0].read_only);
	cr_expect_str_eq(s->volumes[1].target, "/logs");
	/* depends_on: the list form keeps the condition of the long form */
	cr_assert_eq(s->ndepends_on, 2);
	cr_expect_str_eq(s->depends_on[0].service, "cache");
	cr_expect_str_eq(s->depends_on[1].service, "db");
	cr_expect_eq(s->depends_on[1].condition, SPEC_DEP_HEALTHY);
	/* healthcheck: merged, test replaced */
	cr_expect_eq(s->healthcheck->ntest, 1);
	cr_expect_str_eq(s->healthcheck->test[0], "b");
	cr_expect_eq(s->healthcheck->interval, 5000);
	/* deploy: recursive */
	cr_expect_eq(s->deploy.limits.cpus, 1.0);
	cr_expect_eq(s->deploy.limits.memory, 2ULL << 30);
	/* x-* keys are replaced whole, as compose does */
	cr_expect_null(json_object_get(s->x_berth, "logs"));
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(s->x_berth, "lb"), "port")), 81);
	cr_expect_eq(st->nfiles, 2);
	spec_stack_free(st);
}

Test(spec_load, errors_name_the_file_the_value_came_from)
{
	struct spec_load_opts o = opts();

	put("a.yml", "services:\n  web:\n    image: x\n    ports: [\"8080:3000\"]\n");
	put("b.yml", "services:\n  web:\n    deploy:\n      replicas: many\n");
	load_fails(&o, 2, (const char *[]){"a.yml", "b.yml"},
		   "b.yml:4:17: services.web.deploy.replicas: expected an integer 0..10000, got \"many\"");
	/* a cross-file conflict: the override's port, pointing back at the base's */
	put("b.yml", "services:\n  api:\n    image: y\n    ports:\n      - 8080:80\n");
	load_fails(&o, 2, (const char *[]){"a.yml", "b.yml"},
		   "b.yml:5:9: services.api.ports[0]: host port 8080/tcp is already published by "
		   "services.web.ports[0] (");
	/* an interpolated value keeps its position */
	put("b.yml", "services:\n  web:\n    stop_grace_period: ${SET}\n");
	load_fails(&o, 2, (const char *[]){"a.yml", "b.yml"},
		   "b.yml:3:24: services.web.stop_grace_period: expected a duration like \"1m30s\", \"10s\" or "
		   "\"500ms\", got \"value\"");
	put("b.yml", "services:\n  web:\n    image: ${NOPE:?set NOPE first}\n");
	load_fails(&o, 2, (const char *[]){"a.yml", "b.yml"},
		   "b.yml:3:12: services.web.image: required variable NOPE is missing a value: set NOPE first");
	/* scale in one file, replicas in the other */
	put("b.yml", "services:\n  web:\n    scale: 3\n");
	put("c.yml", "services:\n  web:\n    deploy: {replicas: 2}\n");
	load_fails(&o, 3, (const char *[]){"a.yml", "b.yml", "c.yml"},
		   "b.yml:3:12: services.web.scale: scale: 3 conflicts with deploy.replicas: 2 (");
}

/* ---- interpolation, .env, warnings ---- */

Test(spec_load, interpolation_and_dotenv)
{
	static const char *const env[] = {"TAG=from-env"};
	struct spec_load_opts o = opts();
	struct spec_stack *st;
	const struct spec_service *s;

	o.env = env;
	o.nenv = 1;
	put(".env", "TAG=from-dotenv\nPORT_BASE=8000\nNAME=demo\n");
	put("compose.yml", "services:\n"
			   "  web:\n"
			   "    image: app:${TAG}\n"
			   "    command: serve --port ${PORT} --peer ${endpoint:db:primary} $$LIT ${MISSING}\n"
			   "    environment:\n"
			   "      BASE: ${PORT_BASE:-1}\n"
			   "      EMPTY: ${MISSING}\n"
			   "      MISSING_AGAIN: $MISSING\n"
			   "    ports: [\"${PORT_BASE}:3000\"]\n");
	st = load_with(&o, 1, (const char *[]){"compose.yml"});
	s = svc(st, "web");
	cr_expect_str_eq(s->image, "app:from-env", "the process environment wins over .env");
	cr_assert_eq(s->ncommand, 6, "an empty word from ${MISSING} disappears, as in compose");
	cr_expect_str_eq(s->command[2], "${PORT}");
	cr_expect_str_eq(s->command[4], "${endpoint:db:primary}");
	cr_expect_str_eq(s->command[5], "$LIT");
	env_is(s, 3, "BASE=8000", "EMPTY=", "MISSING_AGAIN=");
	cr_expect_eq(s->ports[0].published, 8000);
	cr_expect_eq(st->nwarnings, 1, "one warning per variable");
	cr_expect(has_warning(st, "compose.yml:4:14: services.web.command: variable \"MISSING\" is not set, using "
				  "an empty string"));
	spec_stack_free(st);
}

Test(spec_load, unsupported_keys_warn_or_fail)
{
	struct spec_load_opts o = opts();
	struct spec_stack *st;
	static const char text[] = "version: '3'\n"
				   "services:\n"
				   "  web:\n"
				   "    image: x\n"
				   "    cap_add: [NET_ADMIN]\n"
				   "    network_mode: host\n"
				   "    deploy:\n"
				   "      resources: {reservations: {devices: []}}\n"
				   "networks:\n"
				   "  front: {}\n";

	put("compose.yml", text);
	st = load_with(&o, 1, (const char *[]){"compose.yml"});
	cr_expect_eq(st->nwarnings, 5);
	cr_expect(has_warning(st, "compose.yml:1:1: version: obsolete, ignored"));
	cr_expect(has_warning(st, "compose.yml:5:5: services.web.cap_add: not supported by berth, ignored"));
	cr_expect(has_warning(st, "compose.yml:6:5: services.web.network_mode: not supported by berth, ignored: "
				  "berth runs instances on the host's network"));
	cr_expect(has_warning(st, "compose.yml:8:34: services.web.deploy.resources.reservations.devices: not "
				  "supported by berth, ignored"));
	cr_expect(has_warning(st, "compose.yml:9:1: networks: not supported by berth, ignored"));
	spec_stack_free(st);

	o.strict = true;
	load_fails(&o, 1, (const char *[]){"compose.yml"},
		   "compose.yml:5:5: services.web.cap_add: not supported by berth (--strict)");
	/* a typo is an error either way, with a suggestion */
	o.strict = false;
	put("compose.yml", "services:\n  web:\n    imgae: x\n");
	load_fails(&o, 1, (const char *[]){"compose.yml"},
		   "compose.yml:3:5: services.web: unknown key \"imgae\", did you mean \"image\"?");
	put("compose.yml", "services:\n  web:\n    extends: base\n");
	load_fails(&o, 1, (const char *[]){"compose.yml"},
		   "compose.yml:3:5: services.web.extends: not supported by berth");
}

/* ---- profiles and replicas ---- */

Test(spec_load, profiles)
{
	static const char text[] = "services:\n"
				   "  web: {image: x}\n"
				   "  debug: {image: y, profiles: [dev]}\n"
				   "  admin: {image: z, profiles: [ops, dev], depends_on: [web]}\n";
	struct spec_load_opts o = opts();
	struct spec_stack *st;

	put("compose.yml", text);
	st = load_with(&o, 1, (const char *[]){"compose.yml"});
	cr_expect_eq(st->nservices, 1);
	spec_stack_free(st);

	o.profiles = (const char *[]){"ops"};
	o.nprofiles = 1;
	st = load_with(&o, 1, (const char *[]){"compose.yml"});
	cr_expect_eq(st->nservices, 2);
	cr_expect_not_null(spec_service_find(st, "admin"));
	spec_stack_free(st);

	o.nprofiles = 0;
	o.env = (const char *[]){"COMPOSE_PROFILES=ops, dev"};
	o.nenv = 1;
	st = load_with(&o, 1, (const char *[]){"compose.yml"});
	cr_expect_eq(st->nservices, 3);
	spec_stack_free(st);

	o.nenv = 0;
	o.profiles = (const char *[]){"*"};
	o.nprofiles = 1;
	st = load_with(&o, 1, (const char *[]){"compose.yml"});
	cr_expect_eq(st->nservices, 3);
	spec_stack_free(st);

	o.nprofiles = 0;
	put("compose.yml",
	    "services:\n  web: {image: x, depends_on: [debug]}\n  debug: {image: y, profiles: [dev]}\n");
	load_fails(&o, 1, (const char *[]){"compose.yml"},
		   "compose.yml:2:32: services.web.depends_on.debug: service \"debug\" is not in the stack: none of "
		   "its profiles (dev) is enabled");
	put("compose.yml", "services:\n  web:\n    image: x\n    depends_on: {debug: {required: false}}\n"
			   "  debug: {image: y, profiles: [dev]}\n");
	st = load_with(&o, 1, (const char *[]){"compose.yml"});
	cr_expect_eq(svc(st, "web")->ndepends_on, 0);
	cr_expect(has_warning(st, "services.web.depends_on.debug: service \"debug\": its profiles are not enabled; "
				  "ignored (required: false)"));
	spec_stack_free(st);
}

Test(spec_load, replicas_resolution)
{
	struct spec_load_opts o = opts();
	struct spec_stack *st;

	st = load1("services:\n"
		   "  a: {image: x, scale: 3}\n"
		   "  b: {image: x, deploy: {replicas: 2}}\n"
		   "  c: {image: x, scale: 4, deploy: {replicas: 4}}\n"
		   "  d: {image: x, deploy: {mode: global}}\n"
		   "  e: {image: x, deploy: {replicas: 0}}\n"
		   "  f: {image: x, scale: 2}\n");
	cr_expect_eq(svc(st, "a")->deploy.replicas, 3);
	cr_expect_eq(svc(st, "b")->deploy.replicas, 2);
	cr_expect_eq(svc(st, "c")->deploy.replicas, 4);
	cr_expect_eq(svc(st, "d")->deploy.replicas, 0);
	cr_expect_eq(spec_service_instances(svc(st, "d"), 5), 5);
	cr_expect_eq(spec_service_instances(svc(st, "b"), 5), 2);
	cr_expect_eq(svc(st, "e")->deploy.replicas, 0);
	spec_stack_free(st);

	/* rancher-compose.yml beside the compose file overrides scale */
	put("rancher-compose.yml", "version: '2'\nservices:\n  f: {scale: 5}\n  ghost: {scale: 1}\n");
	st = load_with(&o, 1, (const char *[]){"compose.yml"});
	cr_expect_eq(svc(st, "f")->deploy.replicas, 5);
	cr_expect(has_warning(st, "rancher-compose.yml:4:3: services.ghost: no such service in the compose files"));
	cr_expect_eq(st->nfiles, 2);
	spec_stack_free(st);
	{
		char *p = xasprintf("%s/rancher-compose.yml", dir);
		unlink(p);
		free(p);
	}

	fails1("services:\n  a: {image: x, deploy: {mode: global, replicas: 2}}\n",
	       "compose.yml:2:50: services.a.deploy.replicas: a global service runs one instance per node");
	fails1("services:\n  a: {image: x, scale: -1}\n",
	       "services.a.scale: expected an integer 0..10000, got \"-1\"");
}

/* ---- names and discovery ---- */

Test(spec_load, project_names)
{
	struct spec_load_opts o = opts();
	struct spec_stack *st;
	char *sub = xasprintf("%s/My_Project.v2", dir), *err = NULL;

	cr_assert_eq(mkdir(sub, 0755), 0);
	put("My_Project.v2/compose.yml", "services:\n  web: {image: x}\n");
	o.project_dir = sub;
	cr_assert_eq(spec_load(&o, &st, &err), 0, "%s", err);
	cr_expect_str_eq(st->name, "my_projectv2");
	spec_stack_free(st);

	o.project_name = "demo";
	cr_assert_eq(spec_load(&o, &st, &err), 0, "%s", err);
	cr_expect_str_eq(st->name, "demo");
	spec_stack_free(st);

	o.project_name = "Bad Name";
	cr_assert_eq(spec_load(&o, &st, &err), -1);
	cr_expect(strstr(err, "-p: invalid project name \"Bad Name\""), "%s", err);
	free(err);

	o.project_name = NULL;
	o.env = (const char *[]){"COMPOSE_PROJECT_NAME=fromenv"};
	o.nenv = 1;
	cr_assert_eq(spec_load(&o, &st, &err), 0, "%s", err);
	cr_expect_str_eq(st->name, "fromenv");
	spec_stack_free(st);

	o.nenv = 0;
	put("My_Project.v2/compose.yml", "name: infile\nservices:\n  web: {image: x}\n");
	cr_assert_eq(spec_load(&o, &st, &err), 0, "%s", err);
	cr_expect_str_eq(st->name, "infile");
	spec_stack_free(st);

	put("My_Project.v2/compose.yml", "name: In File\nservices:\n  web: {image: x}\n");
	cr_assert_eq(spec_load(&o, &st, &err), -1);
	cr_expect(strstr(err, "compose.yml:1:7: name: invalid project name \"In File\""), "%s", err);
	free(err);
	free(sub);
}

Test(spec_load, default_files)
{
	struct spec_load_opts o = opts();
	struct spec_stack *st;
	char *err = NULL;

	cr_assert_eq(spec_load(&o, &st, &err), -1);
	cr_expect(strstr(err, "no compose file here"), "%s", err);
	free(err);

	put("docker-compose.yml", "services:\n  old: {image: x}\n");
	put("compose.yaml", "services:\n  web: {image: x, environment: [A=1]}\n");
	put("compose.override.yml", "services:\n  web: {environment: [A=2]}\n");
	put("docker-compose.override.yml", "services:\n  never: {image: x}\n");
	cr_assert_eq(spec_load(&o, &st, &err), 0, "%s", err);
	cr_expect_eq(st->nservices, 1);
	env_is(svc(st, "web"), 1, "A=2");
	cr_expect_eq(st->nfiles, 2);
	cr_expect(strstr(st->files[1], "/compose.override.yml"));
	cr_expect(has_warning(st, "found compose.yaml and also docker-compose.yml; using compose.yaml"));
	spec_stack_free(st);
}

/* ---- cross-service checks ---- */

Test(spec_load, dependencies)
{
	struct spec_stack *st = load1("services:\n"
				      "  web: {image: x, depends_on: [api, db]}\n"
				      "  api: {image: x, depends_on: {db: {condition: service_healthy, restart: true}}}\n"
				      "  db: {image: x, healthcheck: {test: [CMD, true]}}\n"
				      "  zzz: {image: x}\n");
	int order[4];

	cr_assert_eq(spec_start_order(st, order), 0);
	/* sorted: api db web zzz; db first, then api, then web */
	cr_expect_str_eq(st->services[order[0]].name, "db");
	cr_expect_str_eq(st->services[order[1]].name, "api");
	cr_expect_str_eq(st->services[order[2]].name, "web");
	cr_expect_str_eq(st->services[order[3]].name, "zzz");
	cr_expect(svc(st, "api")->depends_on[0].restart);
	spec_stack_free(st);

	fails1("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n"
	       "  c: {image: x, depends_on: [a]}\n",
	       "compose.yml:4:30: services.c.depends_on.a: dependency cycle: a -> b -> c -> a");
	fails1("services:\n  a: {image: x, depends_on: [nope]}\n",
	       "compose.yml:2:30: services.a.depends_on.nope: service \"nope\": no such service in the stack");
	fails1("services:\n  a: {command: x, depends_on: {b: {condition: service_healthy}}}\n  b: {command: y}\n",
	       "services.a.depends_on.b: condition service_healthy, but \"b\" has no health check");
}

Test(spec_load, host_ports)
{
	struct spec_stack *st = load1("services:\n"
				      "  a: {image: x, ports: [\"8080:80\", \"53:53/udp\"], scale: 1}\n"
				      "  b: {image: x, ports: [\"127.0.0.1:8081:80\", \"53:53/tcp\"]}\n"
				      "  b2: {image: x, ports: [\"3000\", \"9100-9200:3001\"], scale: 3}\n"
				      "  c: {image: x, ports: [\"127.0.0.2:8081:80\"], deploy: {mode: global}}\n"
				      "  d: {image: x, ports: [\"9000-9010:80\"], scale: 2}\n");
	spec_stack_free(st);
	st = NULL;
	fails1("services:\n  a: {image: x, ports: [\"8080:80\"]}\n  b: {image: x, ports: [\"127.0.0.1:8080:81\"]}\n",
	       "compose.yml:3:25: services.b.ports[0]: host port 8080/tcp is already published by "
	       "services.a.ports[0] (");
	fails1("services:\n  a:\n    image: x\n    deploy: {replicas: 2}\n    ports: [\"3000\", \"8080:3001\"]\n",
	       "compose.yml:5:21: services.a.ports[1]: host port 8080 is fixed, but the service has 2 replicas");
}

/* ---- the JSON and YAML forms ---- */

static const char rich[] = "name: rich\n"
			   "services:\n"
			   "  web:\n"
			   "    image: app\n"
			   "    build: {context: ., target: prod, args: {V: \"1\"}}\n"
			   "    entrypoint: [tini, --]\n"
			   "    command: [\"node\", \"s.js\", \"--port=${PORT}\"]\n"
			   "    working_dir: /app\n"
			   "    user: \"1000:1000\"\n"
			   "    environment: {A: 1, B: \"two words\", C: \"\\u00e9t\\u00e9\"}\n"
			   "    labels: {l: v}\n"
			   "    ports: [\"8080:3000\", {target: 9000, name: admin, protocol: udp, mode: host},\n"
			   "            \"7000-7005:7000\"]\n"
			   "    expose: [\"5000/udp\"]\n"
			   "    depends_on: {db: {condition: service_completed_successfully, required: false}}\n"
			   "    healthcheck: {test: [NONE]}\n"
			   "    restart: on-failure:2\n"
			   "    stop_signal: 40\n"
			   "    stop_grace_period: 1500ms\n"
			   "    volumes: [\"./d:/d:ro,rshared,z\", \"data:/data:nocopy\",\n"
			   "              {type: volume, target: /v, volume: {subpath: sub}},\n"
			   "              {type: tmpfs, target: /t, tmpfs: {size: 1k}}]\n"
			   "    deploy:\n"
			   "      labels: [a=b]\n"
			   "      endpoint_mode: dnsrr\n"
			   "      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 1m}\n"
			   "      resources: {limits: {cpus: '0.25', memory: 1.5g, pids: 100}, reservations: {cpus: 0.1}}\n"
			   "      update_config: {parallelism: 2, delay: 10s, failure_action: rollback, monitor: 1m,\n"
			   "                      max_failure_ratio: 0.3, order: start-first}\n"
			   "      rollback_config: {parallelism: 0, failure_action: continue}\n"
			   "      placement: {constraints: [node.labels.zone==a], preferences: [{spread: node.labels.rack}],\n"
			   "                  max_replicas_per_node: 1}\n"
			   "    profiles: [p]\n"
			   "    x-berth: {lb: {balance: leastconn, weights: [1, 2.5, true, null, \"x\"]}}\n"
			   "  db:\n"
			   "    image: db\n"
			   "    deploy: {mode: global}\n"
			   "volumes:\n"
			   "  data: {external: true}\n";

Test(spec_load, json_round_trip_is_exact)
{
	struct spec_load_opts o = opts();
	struct spec_stack *st, *back;
	json_t *j1, *j2;
	char *err = NULL, *t1, *t2;

	o.profiles = (const char *[]){"p"};
	o.nprofiles = 1;
	put("compose.yml", rich);
	put("rancher-compose.yml", "web:\n  health_check: {port: 3000, request_line: GET / HTTP/1.0}\n"
				   "  lb_config: {port_rules: [{source_port: 80, target_port: 3000}]}\n");
	st = load_with(&o, 1, (const char *[]){"compose.yml"});
	j1 = spec_to_json(st);
	cr_assert_eq(spec_from_json(j1, &back, &err), 0, "%s", err);
	j2 = spec_to_json(back);
	t1 = json_dumps(j1, JSON_INDENT(1));
	t2 = json_dumps(j2, JSON_INDENT(1));
	cr_expect_str_eq(t1, t2);
	cr_expect(json_equal(j1, j2));
	/* and the stack itself survived, not only its text */
	cr_expect_eq(spec_service_find(back, "web")->stop_signal, 40);
	cr_expect_eq(spec_service_find(back, "web")->health_check->interval, 2000);
	cr_expect_eq(spec_service_find(back, "db")->deploy.mode, SPEC_MODE_GLOBAL);
	cr_expect_not_null(strstr(t1, "\"published_end\": 7005"));
	cr_expect_not_null(strstr(t1, "\"stop_signal\": 40"));
	cr_expect_not_null(strstr(t1, "\"restart\": \"on-failure:2\""));

	/* the YAML form is valid YAML holding the same data */
	{
		char *yaml = spec_to_yaml(st);
		struct yaml_doc *d = NULL;
		cr_assert_eq(yaml_load_buffer("out.yml", yaml, strlen(yaml), &d, &err), 0, "%s\n%s", err, yaml);
		cr_expect_not_null(strstr(yaml, "      - \"--port=${PORT}\"\n"), "%s", yaml);
		cr_expect_not_null(strstr(yaml, "    stop_grace_period: \"1s500ms\"\n"), "%s", yaml);
		cr_expect_not_null(strstr(yaml, "          cpus: 0.25\n"), "%s", yaml);
		yaml_doc_free(d);
		free(yaml);
	}
	free(t1);
	free(t2);
	json_decref(j1);
	json_decref(j2);
	spec_stack_free(st);
	spec_stack_free(back);
}

Test(spec_load, from_json_errors)
{
	static const struct {
		const char *json, *msg;
	} bad[] = {
		{"[]", "expected an object"},
		{"{\"name\": \"a\"}", "project_dir: missing"},
		{"{\"name\": \"a\", \"project_dir\": \"/\", \"services\": {\"w\": {\"bogus\": 1}}}",
		 "services.w.bogus: unknown key"},
		{"{\"name\": \"a\", \"project_dir\": \"/\", \"services\": {\"w\": {\"ports\": [{\"target\": 0}]}}}",
		 "services.w.ports[0]"},
		{"{\"name\": \"a\", \"project_dir\": \"/\", \"services\": {\"w\": {\"restart\": \"sometimes\"}}}",
		 "restart: expected"},
		{"{\"name\": \"a\", \"project_dir\": \"/\", \"services\": {\"w\": {\"stop_grace_period\": 10}}}",
		 "services.w.stop_grace_period: expected a duration"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i].json, 0, NULL);
		struct spec_stack *st = NULL;
		char *err = NULL;
		cr_assert_not_null(j, "%s", bad[i].json);
		cr_expect_eq(spec_from_json(j, &st, &err), -1, "%s", bad[i].json);
		cr_expect(err && strstr(err, bad[i].msg), "%s: %s", bad[i].json, err ? err : "");
		free(err);
		json_decref(j);
	}
}

Test(spec_load, buffer_entry_point)
{
	struct spec_load_opts o = opts();
	static const char text[] = "services:\n  web: {image: x, cap_add: [A]}\n";
	struct spec_stack *st = NULL;
	char *err = NULL;

	cr_assert_eq(spec_load_buffer("mem.yml", text, sizeof(text) - 1, &o, &st, &err), 0, "%s", err);
	cr_expect_eq(st->nservices, 1);
	cr_expect(has_warning(st, "mem.yml:2:19: services.web.cap_add"));
	spec_stack_free(st);
	cr_assert_eq(spec_load_buffer("mem.yml", "services: [", 11, &o, &st, &err), -1);
	cr_expect(strncmp(err, "mem.yml:1:", 10) == 0, "%s", err);
	free(err);
}
