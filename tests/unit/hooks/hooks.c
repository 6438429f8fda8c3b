/* Loop tests for the hook engine (src/hooks/hooks.c, cmd.c, config.c) with real processes. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "agent/logs.h"
#include "catalog/catalog.h"
#include "core/buf.h"
#include "core/mem.h"
#include "hooks/hooks-int.h"
#include "hooks/hooks.h"
#include "spec/spec.h"

#define NKINDS 6

static struct {
	uv_loop_t loop;
	struct catalog *cat;
	struct hooks *h;
	char dir[64];              /* project dir and data dir */
	int n[NKINDS];             /* events by kind */
	char seq[512];             /* one letter per event: R U F S X P */
	int nseq;
	int last_status;
	int last_pid;
	int pids[64];
	int npids;
	uint64_t started_at[64];   /* uv_now() of each RUN_STARTED */
	void (*on_event)(const struct hooks_event *ev);
	bool freed;
} W;

static void on_event(const struct hooks_event *ev, void *arg)
{
	static const char letters[] = "RUFSXP";

	(void)arg;
	cr_assert(ev->kind < NKINDS);
	W.n[ev->kind]++;
	if (W.nseq < (int)sizeof(W.seq) - 1)
		W.seq[W.nseq++] = letters[ev->kind];
	if (ev->kind == HOOKS_EV_RUN_EXITED || ev->kind == HOOKS_EV_PRE_START_EXITED)
		W.last_status = ev->status;
	if (ev->kind == HOOKS_EV_RUN_STARTED) {
		W.last_pid = ev->pid;
		if (W.npids < 64) {
			W.started_at[W.npids] = uv_now(&W.loop);
			W.pids[W.npids++] = ev->pid;
		}
	}
	if (ev->kind == HOOKS_EV_RENDER_FAILED)
		cr_log_info("render failed: %s", ev->msg);
	if (W.on_event)
		W.on_event(ev);
}

static void setup(void)
{
	strcpy(W.dir, "/tmp/berth-hooks-XXXXXX");
	cr_assert_not_null(mkdtemp(W.dir));
	cr_assert_eq(uv_loop_init(&W.loop), 0);
	W.cat = catalog_new();
	struct hooks_opts o = {.catalog = W.cat, .data_dir = W.dir, .event = on_event};
	W.h = hooks_new(&W.loop, &o);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(p);
	return 0;
}

static void teardown(void)
{
	catalog_free(W.cat);
	nftw(W.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(hooks, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ---- */

static void tick(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until cond() or <ms> have passed; returns cond(). */
static bool run_until(bool (*cond)(void), uint64_t ms)
{
	uv_timer_t t;
	uint64_t end;

	uv_update_time(&W.loop);
	end = uv_now(&W.loop) + ms;
	uv_timer_init(&W.loop, &t);
	uv_timer_start(&t, tick, 5, 5);
	while (!cond() && uv_now(&W.loop) < end)
		uv_run(&W.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&W.loop, UV_RUN_NOWAIT);
	return cond();
}

/* Runs the loop until nothing is left to do: no debounce pending, no
 * command running (the test's .timeout bounds it). */
static void run_idle(void)
{
	uv_run(&W.loop, UV_RUN_DEFAULT);
}

static void freed(void *arg)
{
	(void)arg;
	W.freed = true;
}

/* Frees the engine, runs the loop until it is gone, and checks that the
 * loop has nothing left. */
static void finish(void)
{
	hooks_free(W.h, freed, NULL);
	cr_assert_not(W.freed, "hooks_free called back synchronously");
	run_idle();
	cr_assert(W.freed);
	cr_assert_eq(uv_loop_close(&W.loop), 0);
}

static char *path_of(const char *name)
{
	return xasprintf("%s/%s", W.dir, name);
}

static void write_file(const char *name, const char *text)
{
	char *p = path_of(name);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f, "%s", p);
	fputs(text, f);
	fclose(f);
	free(p);
}

/* The file's content (heap), or NULL if it does not exist. */
static char *read_file(const char *name)
{
	char *p = path_of(name);
	FILE *f = fopen(p, "r");
	free(p);
	if (!f)
		return NULL;
	char *s = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&s, &n);
	char b[4096];
	size_t r;
	while ((r = fread(b, 1, sizeof(b), f)) > 0)
		fwrite(b, 1, r, m);
	fclose(m);
	fclose(f);
	return s;
}

static int count_lines(const char *name)
{
	char *s = read_file(name);
	int n = 0;
	for (char *p = s; p && *p; p++)
		n += *p == '\n';
	free(s);
	return n;
}

static void ep(const char *svc, int idx, bool healthy)
{
	char addr[32];
	snprintf(addr, sizeof(addr), "10.0.0.%d", idx);
	struct catalog_endpoint e = {
		.stack = "shop",
		.service = (char *)svc,
		.index = idx,
		.node = "n1",
		.addr = addr,
		.port = 30000 + idx,
		.healthy = healthy,
		.health = healthy ? "healthy" : "unhealthy",
	};
	catalog_put(W.cat, &e);
}

/* Sets <name>'s x-berth from JSON text; asserts success. */
static void set_svc(const char *name, const char *xberth, char *const *env)
{
	json_error_t je;
	struct spec_service s = {.name = (char *)name, .x_berth = json_loads(xberth, 0, &je)};
	char *err = NULL;

	cr_assert_not_null(s.x_berth, "bad JSON in the test: %s", je.text);
	int rc = hooks_set_service(W.h, "shop", &s, W.dir, env, &err);
	cr_assert_eq(rc, 0, "hooks_set_service: %s", err);
	json_decref(s.x_berth);
}

static char *set_svc_err(const char *name, const char *xberth)
{
	struct spec_service s = {.name = (char *)name, .x_berth = json_loads(xberth, 0, NULL)};
	char *err = NULL;

	cr_assert_not_null(s.x_berth);
	cr_assert_eq(hooks_set_service(W.h, "shop", &s, W.dir, NULL, &err), -1);
	json_decref(s.x_berth);
	return err;
}

static const char upstream_tmpl[] = "upstream app {\n"
				    "    {{#endpoints \"app\"}}\n"
				    "    server {{addr}}:{{port}};\n"
				    "    {{/endpoints}}\n"
				    "    {{^endpoints \"app\"}}\n"
				    "    server 127.0.0.1:9 down;\n"
				    "    {{/endpoints}}\n"
				    "}\n";

/* ---- a burst of changes, driven from a timer ---- */

static struct {
	uv_timer_t t;
	int left;
	int next_idx;
	uint64_t last_change;
	int runs_started_before_last;
} B;

static void burst_tick(uv_timer_t *t)
{
	ep("app", B.next_idx++, true);
	hooks_catalog_changed(W.h, "shop", "app");
	B.last_change = uv_now(&W.loop);
	if (--B.left == 0) {
		B.runs_started_before_last = W.n[HOOKS_EV_RUN_STARTED];
		uv_close((uv_handle_t *)t, NULL);
	}
}

static void burst_start(int changes, uint64_t every_ms)
{
	B.left = changes;
	B.next_idx = 10;
	uv_timer_init(&W.loop, &B.t);
	uv_timer_start(&B.t, burst_tick, every_ms, every_ms);
}

/* ---- tests ---- */

Test(hooks, first_run_renders_then_runs)
{
	write_file("upstream.tmpl", upstream_tmpl);
	ep("app", 1, true);
	ep("app", 2, false);
	set_svc("proxy",
		"{\"on_change\": {\"template\": {\"src\": \"upstream.tmpl\", \"dest\": \"upstream.conf\"},"
		" \"run\": \"echo \\\"$BERTH_STACK/$BERTH_SERVICE $X $(pwd)\\\" >> runs\"}}",
		(char *const[]){"X=42", "PATH=/usr/bin:/bin", NULL});
	/* Nothing happens inside the call. */
	cr_assert_eq(W.nseq, 0);
	run_idle();
	cr_assert_str_eq(W.seq, "RSX");
	cr_assert_eq(W.last_status, 0);
	char *s = read_file("upstream.conf");
	cr_assert_str_eq(s, "upstream app {\n    server 10.0.0.1:30001;\n}\n");
	free(s);
	s = read_file("runs");
	char *want = xasprintf("shop/proxy 42 %s\n", W.dir);
	cr_assert_str_eq(s, want);
	free(want);
	free(s);
	finish();
}

Test(hooks, debounce_burst_gives_one_run)
{
	write_file("upstream.tmpl", upstream_tmpl);
	set_svc("proxy",
		"{\"on_change\": {\"template\": {\"src\": \"upstream.tmpl\", \"dest\": \"upstream.conf\"},"
		" \"run\": \"echo run >> runs\", \"wait\": \"100ms:2s\"}}",
		NULL);
	run_idle();
	cr_assert_str_eq(W.seq, "RSX");
	burst_start(10, 10);
	run_idle();
	/* One render and one run for the ten changes. */
	cr_assert_str_eq(W.seq, "RSXRSX");
	cr_assert_eq(count_lines("runs"), 2);
	/* And not before MIN after the last change (a lower bound: timers never fire early). */
	cr_assert_geq(W.started_at[1], B.last_change + 100);
	char *s = read_file("upstream.conf");
	cr_assert(strstr(s, "server 10.0.0.19:30019;") && !strstr(s, "down"), "%s", s);
	free(s);
	finish();
}

Test(hooks, max_bounds_a_continuous_burst)
{
	write_file("upstream.tmpl", upstream_tmpl);
	set_svc("proxy",
		"{\"on_change\": {\"template\": {\"src\": \"upstream.tmpl\", \"dest\": \"upstream.conf\"},"
		" \"run\": \"true\", \"wait\": \"100ms:300ms\"}}",
		NULL);
	run_idle();
	int initial = W.n[HOOKS_EV_RUN_STARTED];
	cr_assert_eq(initial, 1);
	/* A change every 20 ms for a second: MIN never elapses, MAX does. */
	burst_start(50, 20);
	run_idle();
	int during = B.runs_started_before_last - initial;
	int after = W.n[HOOKS_EV_RUN_STARTED] - B.runs_started_before_last;
	cr_assert_geq(during, 2, "only %d runs during the burst", during);
	cr_assert_eq(after, 1);
	cr_assert_eq(W.n[HOOKS_EV_RENDERED], W.n[HOOKS_EV_RUN_STARTED]);
	finish();
}

static void changes_while_running(const struct hooks_event *ev)
{
	/* Changes keep coming while the first command runs. */
	if (ev->kind == HOOKS_EV_RUN_STARTED && W.n[HOOKS_EV_RUN_STARTED] == 1)
		burst_start(6, 40);
}

Test(hooks, never_concurrent_with_itself)
{
	write_file("upstream.tmpl", upstream_tmpl);
	W.on_event = changes_while_running;
	set_svc("proxy",
		"{\"on_change\": {\"template\": {\"src\": \"upstream.tmpl\", \"dest\": \"upstream.conf\"},"
		" \"run\": \"mkdir lock || echo overlap >> errors; sleep 0.5; rmdir lock; echo run >> runs\","
		" \"wait\": \"10ms:50ms\"}}",
		NULL);
	run_idle();
	/* Exactly one more run, after the first ended, over the latest catalog. */
	cr_assert_str_eq(W.seq, "RSXRSX");
	cr_assert_eq(count_lines("runs"), 2);
	char *e = read_file("errors");
	cr_assert_null(e, "runs overlapped");
	char *s = read_file("upstream.conf");
	cr_assert(strstr(s, "10.0.0.15:30015"), "%s", s);
	free(s);
	finish();
}

Test(hooks, atomic_write_and_skip_when_unchanged)
{
	struct stat st0, st1, st2;

	write_file("upstream.tmpl", upstream_tmpl);
	write_file("upstream.conf", "old\n");
	char *dest = path_of("upstream.conf");
	cr_assert_eq(chmod(dest, 0600), 0);
	cr_assert_eq(stat(dest, &st0), 0);
	ep("app", 1, true);
	set_svc("proxy",
		"{\"on_change\": {\"template\": {\"src\": \"upstream.tmpl\", \"dest\": \"upstream.conf\"},"
		" \"run\": \"echo run >> runs\", \"wait\": \"10ms:50ms\"}}",
		NULL);
	run_idle();
	cr_assert_str_eq(W.seq, "RSX");
	cr_assert_eq(stat(dest, &st1), 0);
	/* Renamed into place (a new inode), with the old file's mode. */
	cr_assert_neq(st1.st_ino, st0.st_ino);
	cr_assert_eq(st1.st_mode & 07777, 0600);
	/* No temp file is left beside it. */
	DIR *d = opendir(W.dir);
	struct dirent *de;
	while ((de = readdir(d)))
		cr_assert(!strstr(de->d_name, ".berth-"), "left behind: %s", de->d_name);
	closedir(d);

	/* A change the template does not show: nothing written, nothing run. */
	ep("app", 2, false);
	hooks_catalog_changed(W.h, "shop", "app");
	run_idle();
	cr_assert_str_eq(W.seq, "RSXU");
	cr_assert_eq(stat(dest, &st2), 0);
	cr_assert_eq(st2.st_ino, st1.st_ino);
	cr_assert_eq(count_lines("runs"), 1);
	/* A change of another service is not watched. */
	ep("db", 1, true);
	hooks_catalog_changed(W.h, "shop", "db");
	hooks_catalog_changed(W.h, "other", "app");
	run_idle();
	cr_assert_str_eq(W.seq, "RSXU");
	free(dest);
	finish();
}

Test(hooks, restart_with_identical_dest_runs_nothing)
{
	write_file("upstream.tmpl", upstream_tmpl);
	write_file("upstream.conf", "upstream app {\n    server 127.0.0.1:9 down;\n}\n");
	set_svc("proxy",
		"{\"on_change\": {\"template\": {\"src\": \"upstream.tmpl\", \"dest\": \"upstream.conf\"},"
		" \"run\": \"echo run >> runs\"}}",
		NULL);
	run_idle();
	cr_assert_str_eq(W.seq, "U");
	cr_assert_null(read_file("runs"));
	finish();
}

static bool has_hooks_log(void)
{
	char *p = xasprintf("%s/instances/shop/proxy/hooks.log", W.dir);
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

Test(hooks, output_in_the_cri_log)
{
	set_svc("proxy",
		"{\"on_change\": {\"watch\": [\"app\"], \"run\": \"echo out1; echo err1 >&2; "
		"head -c 20000 /dev/zero | tr '\\\\0' a; echo; printf tail\"}}",
		NULL);
	run_idle();
	cr_assert_str_eq(W.seq, "SX");
	cr_assert(has_hooks_log());
	char *s = read_file("instances/shop/proxy/hooks.log");
	cr_assert_not_null(s);
	/* Records: stdout F out1, stderr F err1, stdout P (16384 a), stdout F (the rest), stdout F tail. */
	const char *want_text[] = {"out1", "err1", NULL, NULL, "tail"};
	const bool want_err[] = {false, true, false, false, false};
	const bool want_partial[] = {false, false, true, false, false};
	const size_t want_len[] = {4, 4, 16384, 20000 - 16384, 4};
	int n = 0, nout = 0;
	char *save = NULL;
	struct {
		bool err, partial;
		size_t len;
		char *text;
	} recs[8];
	for (char *line = strtok_r(s, "\n", &save); line && n < 8; line = strtok_r(NULL, "\n", &save), n++) {
		char t[40];
		const char *text;
		cr_assert_eq(logs_parse_record(line, strlen(line), t, sizeof(t), &recs[n].err, &recs[n].partial, &text,
					       &recs[n].len),
			     0, "not a CRI record: %.60s", line);
		cr_assert_eq(strlen(t), 30, "%s", t);
		recs[n].text = (char *)text;
	}
	cr_assert_eq(n, 5);
	/* stderr and stdout are separate pipes: only each stream's order is fixed. */
	for (int i = 0; i < n; i++) {
		if (recs[i].err) {
			cr_assert_eq(recs[i].len, 4);
			cr_assert(memcmp(recs[i].text, "err1", 4) == 0);
			continue;
		}
		int k = nout == 0 ? 0 : nout + 1;
		nout++;
		cr_assert_eq(recs[i].partial, want_partial[k], "record %d", i);
		cr_assert_eq(recs[i].len, want_len[k], "record %d", i);
		cr_assert_not(want_err[k]);
		if (want_text[k])
			cr_assert(memcmp(recs[i].text, want_text[k], want_len[k]) == 0);
	}
	cr_assert_eq(nout, 4);
	free(s);
	finish();
}

Test(hooks, timeout_kills_the_group)
{
	set_svc("proxy",
		"{\"on_change\": {\"watch\": \"app\", \"run\": \"sleep 30 & sleep 30\", \"timeout\": \"200ms\"}}", NULL);
	run_idle();
	cr_assert_str_eq(W.seq, "SX");
	cr_assert_eq(W.last_status, UV_ETIMEDOUT);
	finish();
}

Test(hooks, exit_status_and_spawn_failure)
{
	set_svc("proxy", "{\"on_change\": {\"watch\": [\"app\"], \"run\": \"exit 3\"}}", NULL);
	run_idle();
	cr_assert_eq(W.last_status, 3);
	set_svc("proxy", "{\"on_change\": {\"watch\": [\"app\"], \"run\": \"kill -TERM $$\"}}", NULL);
	run_idle();
	cr_assert_eq(W.last_status, 128 + SIGTERM);
	cr_assert_str_eq(W.seq, "SXSX");
	/* A project directory that does not exist: the spawn fails, reported as a status. */
	struct spec_service s = {.name = "proxy",
				 .x_berth = json_pack("{s:{s:s, s:s}}", "on_change", "watch", "app", "run", "true")};
	char *err = NULL;
	cr_assert_eq(hooks_set_service(W.h, "shop", &s, "/nonexistent/dir", NULL, &err), 0);
	json_decref(s.x_berth);
	run_idle();
	cr_assert_str_eq(W.seq, "SXSXX");
	cr_assert_eq(W.last_status, UV_ENOENT);
	finish();
}

Test(hooks, set_service_keeps_updates_and_removes)
{
	const char *conf = "{\"on_change\": {\"watch\": [\"app\"], \"run\": \"echo a >> runs\"}}";

	set_svc("proxy", conf, NULL);
	run_idle();
	cr_assert_eq(count_lines("runs"), 1);
	/* The same config: the running hooks stay, nothing fires. */
	set_svc("proxy", conf, NULL);
	run_idle();
	cr_assert_eq(count_lines("runs"), 1);
	/* A different environment: new hooks, which fire once. */
	set_svc("proxy", conf, (char *const[]){"PATH=/usr/bin:/bin", NULL});
	run_idle();
	cr_assert_eq(count_lines("runs"), 2);
	/* An invalid config is refused and the old hooks stay. */
	char *err = set_svc_err("proxy", "{\"on_change\": {\"watch\": [\"app\"], \"run\": \"x\", \"wiat\": \"1s\"}}");
	cr_assert_str_eq(err, "shop/proxy: x-berth.on_change.wiat: unknown key \"wiat\": expected watch, template, run, "
			      "wait or timeout");
	free(err);
	hooks_catalog_changed(W.h, "shop", "app");
	run_idle();
	cr_assert_eq(count_lines("runs"), 3);
	/* No x-berth: removed; changes do nothing any more. */
	set_svc("proxy", "{}", NULL);
	hooks_catalog_changed(W.h, "shop", "app");
	run_idle();
	cr_assert_eq(count_lines("runs"), 3);
	/* Removing a stack stops its hooks. */
	set_svc("proxy", conf, NULL);
	run_idle();
	cr_assert_eq(count_lines("runs"), 4);
	hooks_remove_stack(W.h, "shop");
	hooks_catalog_changed(W.h, "shop", "app");
	run_idle();
	cr_assert_eq(count_lines("runs"), 4);
	finish();
}

Test(hooks, template_edits_are_picked_up)
{
	write_file("t.tmpl", "v1 {{#endpoints \"app\"}}{{port}}{{/endpoints}}\n");
	ep("app", 1, true);
	set_svc("proxy", "{\"on_change\": {\"template\": {\"src\": \"t.tmpl\", \"dest\": \"out\"}, \"wait\": \"1ms:5ms\"}}",
		NULL);
	run_idle();
	char *s = read_file("out");
	cr_assert_str_eq(s, "v1 30001\n");
	free(s);
	/* A new version of the file is compiled at the next fire... */
	write_file("t.tmpl", "v2 {{#endpoints \"app\"}}{{addr}}{{/endpoints}}\n");
	hooks_catalog_changed(W.h, "shop", "app");
	run_idle();
	s = read_file("out");
	cr_assert_str_eq(s, "v2 10.0.0.1\n");
	free(s);
	/* ...and one that does not compile keeps the last good one. */
	write_file("t.tmpl", "v3 {{#endpoints \"app\"}}{{nope}}{{/endpoints}} and more\n");
	ep("app", 2, true);
	hooks_catalog_changed(W.h, "shop", "app");
	run_idle();
	s = read_file("out");
	cr_assert_str_eq(s, "v2 10.0.0.110.0.0.2\n");
	free(s);
	cr_assert_str_eq(W.seq, "RRR");
	finish();
}

static int pre_status[8];
static int pre_calls;

static void pre_done(int status, void *arg)
{
	int i = (int)(intptr_t)arg;
	pre_status[i] = status;
	pre_calls++;
}

static int want_pre;

static bool pre_reached(void)
{
	return pre_calls >= want_pre;
}

Test(hooks, pre_start_pass_and_fail)
{
	set_svc("db", "{\"pre_start\": \"test \\\"$BERTH_INSTANCE $BERTH_INDEX $ROLE\\\" = \\\"db.2 2 primary\\\"\"}",
		(char *const[]){"ROLE=none", NULL});
	for (int i = 0; i < 8; i++)
		pre_status[i] = 99;
	cr_assert_eq(hooks_pre_start(W.h, "shop", "db", 2, (char *const[]){"ROLE=primary", NULL}, pre_done,
				     (void *)(intptr_t)0, NULL),
		     0);
	cr_assert_eq(hooks_pre_start(W.h, "shop", "db", 2, NULL, pre_done, (void *)(intptr_t)1, NULL), 0);
	cr_assert_eq(hooks_pre_start(W.h, "shop", "db", 3, (char *const[]){"ROLE=primary", NULL}, pre_done,
				     (void *)(intptr_t)2, NULL),
		     0);
	/* A service without hooks passes, but not from inside the call. */
	cr_assert_eq(hooks_pre_start(W.h, "shop", "web", 1, NULL, pre_done, (void *)(intptr_t)3, NULL), 0);
	cr_assert_eq(pre_calls, 0);
	run_idle();
	cr_assert_eq(pre_calls, 4);
	cr_assert_eq(pre_status[0], 0);
	cr_assert_eq(pre_status[1], 1);
	cr_assert_eq(pre_status[2], 1);
	cr_assert_eq(pre_status[3], 0);
	cr_assert_eq(W.n[HOOKS_EV_PRE_START_EXITED], 3);
	/* Its output goes to the service's hooks log too. */
	set_svc("db", "{\"pre_start\": {\"run\": \"echo bootstrapping $BERTH_INSTANCE\", \"timeout\": \"5s\"}}", NULL);
	hooks_pre_start(W.h, "shop", "db", 1, NULL, pre_done, (void *)(intptr_t)4, NULL);
	run_idle();
	cr_assert_eq(pre_status[4], 0);
	char *s = read_file("instances/shop/db/hooks.log");
	cr_assert(s && strstr(s, " stdout F bootstrapping db.1\n"), "%s", s);
	free(s);
	finish();
}

Test(hooks, pre_start_waits_for_the_first_render)
{
	write_file("upstream.tmpl", upstream_tmpl);
	set_svc("proxy",
		"{\"on_change\": {\"template\": {\"src\": \"upstream.tmpl\", \"dest\": \"upstream.conf\"}, \"run\": "
		"\"sleep 0.2\"}, \"pre_start\": \"test -f upstream.conf\"}",
		NULL);
	hooks_pre_start(W.h, "shop", "proxy", 1, NULL, pre_done, (void *)(intptr_t)0, NULL);
	want_pre = 1;
	cr_assert(run_until(pre_reached, 5000));
	cr_assert_eq(pre_status[0], 0);
	finish();
}

static bool started_written(void)
{
	char *p = path_of("started");
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

Test(hooks, pre_start_timeout_and_cancel)
{
	set_svc("db", "{\"pre_start\": {\"run\": \"sleep 30\", \"timeout\": \"100ms\"}}", NULL);
	hooks_pre_start(W.h, "shop", "db", 1, NULL, pre_done, (void *)(intptr_t)0, NULL);
	run_idle();
	cr_assert_eq(pre_status[0], UV_ETIMEDOUT);
	set_svc("db", "{\"pre_start\": \"touch started; sleep 30\"}", NULL);
	struct hooks_pre *p;
	hooks_pre_start(W.h, "shop", "db", 1, NULL, pre_done, (void *)(intptr_t)1, &p);
	/* Started and running: cancel kills it. */
	cr_assert(run_until(started_written, 5000));
	hooks_pre_cancel(p);
	cr_assert_eq(pre_calls, 1);
	run_idle();
	cr_assert_eq(pre_calls, 2);
	cr_assert_eq(pre_status[1], UV_ECANCELED);
	/* Cancelled before it starts. */
	hooks_pre_start(W.h, "shop", "db", 1, NULL, pre_done, (void *)(intptr_t)2, &p);
	hooks_pre_cancel(p);
	run_idle();
	cr_assert_eq(pre_status[2], UV_ECANCELED);
	finish();
}

static bool alive(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static bool bgpid_written(void)
{
	return count_lines("bgpid") == 1;
}

static int bg_pid;

static bool bg_gone(void)
{
	return !alive(bg_pid);
}

Test(hooks, nothing_left_running_after_free)
{
	set_svc("proxy", "{\"on_change\": {\"watch\": \"app\", \"run\": \"sleep 30 & echo $! > bgpid; sleep 30\"}}", NULL);
	set_svc("db", "{\"pre_start\": \"sleep 30\"}", NULL);
	hooks_pre_start(W.h, "shop", "db", 1, NULL, pre_done, (void *)(intptr_t)0, NULL);
	cr_assert(run_until(bgpid_written, 5000));
	char *s = read_file("bgpid");
	int bg = atoi(s);
	free(s);
	int sh = W.last_pid;
	cr_assert(alive(sh) && alive(bg));
	hooks_free(W.h, freed, NULL);
	run_idle();
	cr_assert(W.freed);
	cr_assert_eq(pre_calls, 1);
	cr_assert_eq(pre_status[0], UV_ECANCELED);
	cr_assert_eq(W.last_status, UV_ECANCELED);
	cr_assert_not(alive(sh));
	/* The background child was in the command's process group: it got
	 * SIGKILL too (it is not our child: its death is only waited for). */
	bg_pid = bg;
	cr_assert(run_until(bg_gone, 5000));
	cr_assert_eq(uv_loop_close(&W.loop), 0);
}

Test(hooks, template_deps_and_cross_stack_watch)
{
	write_file("t.tmpl", "{{#endpoints \"app\"}}{{port}} {{/endpoints}}{{#endpoints \"web\" stack=\"edge\"}}e{{/endpoints}}");
	set_svc("proxy",
		"{\"on_change\": [{\"template\": {\"src\": \"t.tmpl\", \"dest\": \"out\"}, \"wait\": \"1ms:5ms\"},"
		" {\"watch\": [\"other/db\"], \"run\": \"echo db >> runs\", \"wait\": \"1ms\"}]}",
		NULL);
	run_idle();
	cr_assert_str_eq(W.seq, "RSX");
	/* The template's services are watched without watch:. */
	ep("app", 1, true);
	hooks_catalog_changed(W.h, "shop", "app");
	run_idle();
	cr_assert_str_eq(W.seq, "RSXR");
	hooks_catalog_changed(W.h, "edge", "web");
	run_idle();
	cr_assert_str_eq(W.seq, "RSXRU");
	hooks_catalog_changed(W.h, "other", "db");
	run_idle();
	cr_assert_str_eq(W.seq, "RSXRUSX");
	cr_assert_eq(count_lines("runs"), 2);
	finish();
}

Test(hooks, config_errors)
{
	static const struct {
		const char *json, *at, *msg;
		bool key;
	} cases[] = {
		{"{\"on_change\": 3}", "on_change", "expected a mapping (watch, template, run, wait, timeout) or a list", false},
		{"{\"on_change\": []}", "on_change", "got an empty list", false},
		{"{\"on_change\": [{\"run\": \"x\", \"watch\": \"a\"}, 5]}", "on_change[1]", "expected a mapping", false},
		{"{\"on_change\": {\"run\": \"x\"}}", "on_change", "on_change without a template needs watch", false},
		{"{\"on_change\": {\"watch\": \"a\"}}", "on_change", "on_change needs run", false},
		{"{\"on_change\": {\"watch\": [], \"run\": \"x\"}}", "on_change.watch", "at least one service", false},
		{"{\"on_change\": {\"watch\": [\"a\", \"b c\"], \"run\": \"x\"}}", "on_change.watch[1]",
		 "expected a service name, or STACK/SERVICE", false},
		{"{\"on_change\": {\"watch\": \"a/b/c\", \"run\": \"x\"}}", "on_change.watch", "STACK/SERVICE", false},
		{"{\"on_change\": {\"watch\": \"a\", \"run\": \"\"}}", "on_change.run", "expected a command line", false},
		{"{\"on_change\": {\"watch\": \"a\", \"run\": true}}", "on_change.run", "got a boolean", false},
		{"{\"on_change\": {\"watch\": \"a\", \"run\": \"x\", \"wait\": \"fast\"}}", "on_change.wait",
		 "expected MIN:MAX durations like \"100ms:2s\", got \"fast\"", false},
		{"{\"on_change\": {\"watch\": \"a\", \"run\": \"x\", \"wait\": \"2s:1s\"}}", "on_change.wait",
		 "MIN is longer than MAX", false},
		{"{\"on_change\": {\"watch\": \"a\", \"run\": \"x\", \"timeout\": 5}}", "on_change.timeout",
		 "expected a duration like", false},
		{"{\"on_change\": {\"watch\": \"a\", \"run\": \"x\", \"timeout\": \"0\"}}", "on_change.timeout",
		 "longer than 0", false},
		{"{\"on_change\": {\"watch\": \"a\", \"run\": \"x\", \"timeout\": \"25h\"}}", "on_change.timeout",
		 "at most 24h", false},
		{"{\"on_change\": {\"template\": {\"src\": \"t\"}}}", "on_change.template", "template needs src", false},
		{"{\"on_change\": {\"template\": \"t\"}}", "on_change.template", "expected a mapping {src: FILE, dest: FILE}",
		 false},
		{"{\"on_change\": {\"template\": {\"src\": \"t\", \"dest\": \"d\", \"mode\": 1}}}", "on_change.template.mode",
		 "unknown key \"mode\": expected src or dest", true},
		{"{\"on_change\": {\"template\": {\"src\": \"missing.tmpl\", \"dest\": \"d\"}}}", "on_change.template.src",
		 "missing.tmpl: No such file or directory", false},
		{"{\"on_change\": {\"template\": {\"src\": \"bad.tmpl\", \"dest\": \"d\"}}}", "on_change.template.src",
		 "bad.tmpl:2:5: unknown name \"adr\"", false},
		{"{\"pre_start\": 1}", "pre_start", "expected a command line, or a mapping", false},
		{"{\"pre_start\": {\"timeout\": \"1s\"}}", "pre_start", "pre_start needs run", false},
		{"{\"pre_start\": {\"run\": \"x\", \"tmeout\": \"1s\"}}", "pre_start.tmeout", "unknown key \"tmeout\"", true},
	};

	write_file("bad.tmpl", "ok\n  {{adr}}\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = json_loads(cases[i].json, 0, NULL);
		char *err = NULL, *at = NULL;
		bool key = !cases[i].key;
		cr_assert_not_null(j, "%s", cases[i].json);
		cr_assert_eq(hooks_check_x_berth(j, W.dir, &err, &at, &key), -1, "%s", cases[i].json);
		cr_expect_str_eq(at, cases[i].at, "%s", cases[i].json);
		cr_expect(strstr(err, cases[i].msg) != NULL, "%s: %s", cases[i].json, err);
		cr_expect_eq(key, cases[i].key, "%s", cases[i].json);
		free(err);
		free(at);
		json_decref(j);
	}
	/* Good ones, with every key. */
	write_file("good.tmpl", "{{#endpoints \"a\"}}{{addr}}{{/endpoints}}");
	const char *good[] = {
		"{}",
		"{\"driver\": \"process\", \"on_change\": null}",
		"{\"on_change\": {\"watch\": [\"a\", \"other/b\"], \"run\": \"x\", \"wait\": \"1s\", \"timeout\": \"1m30s\"}}",
		"{\"on_change\": [{\"template\": {\"src\": \"good.tmpl\", \"dest\": \"/tmp/x\"}, \"wait\": \"0:100ms\"}]}",
		"{\"on_change\": {\"watch\": \"a\", \"run\": \"x\", \"wait\": \"100ms..2s\"}, \"pre_start\": \"y\"}",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *j = json_loads(good[i], 0, NULL);
		char *err = NULL, *at = NULL;
		bool key;
		cr_expect_eq(hooks_check_x_berth(j, W.dir, &err, &at, &key), 0, "%s: %s", good[i], err);
		json_decref(j);
	}
	finish();
}

/* The nginx upstream of docs/templates.md, checked by the real nginx. */
static int nginx_t(const char *conf)
{
	char *cmd = xasprintf("nginx -t -q -c %s/%s -p %s/ -e %s/error.log 2>%s/nginx-t.err", W.dir, conf, W.dir, W.dir,
			      W.dir);
	int rc = system(cmd);
	free(cmd);
	return rc;
}

Test(hooks, nginx_accepts_the_rendered_upstream)
{
	if (access("/usr/sbin/nginx", X_OK) != 0)
		cr_skip_test("no nginx (make deps installs it)");
	write_file("upstream.tmpl", "upstream app {\n"
				    "    least_conn;\n"
				    "    {{#endpoints \"app\"}}\n"
				    "    server {{hostport}} max_fails=2;\n"
				    "    {{/endpoints}}\n"
				    "    {{^endpoints \"app\"}}\n"
				    "    server 127.0.0.1:9 down; # no healthy app instance\n"
				    "    {{/endpoints}}\n"
				    "}\n");
	char *conf = xasprintf("pid %s/nginx.pid;\n"
			       "events {}\n"
			       "http {\n"
			       "    access_log off;\n"
			       "    client_body_temp_path %s/tmp;\n"
			       "    proxy_temp_path %s/tmp;\n"
			       "    fastcgi_temp_path %s/tmp;\n"
			       "    uwsgi_temp_path %s/tmp;\n"
			       "    scgi_temp_path %s/tmp;\n"
			       "    include %s/upstream.conf;\n"
			       "    server { listen 127.0.0.1:18080; location / { proxy_pass http://app; } }\n"
			       "}\n",
			       W.dir, W.dir, W.dir, W.dir, W.dir, W.dir, W.dir);
	write_file("nginx.conf", conf);
	free(conf);
	char *tmp = path_of("tmp");
	mkdir(tmp, 0755);
	free(tmp);
	set_svc("proxy",
		"{\"on_change\": {\"template\": {\"src\": \"upstream.tmpl\", \"dest\": \"upstream.conf\"}, \"wait\": "
		"\"1ms:5ms\"}}",
		NULL);
	run_idle();
	/* No instance: nginx refuses an empty upstream, the template has a fallback. */
	char *s = read_file("upstream.conf");
	cr_assert(strstr(s, "down;"), "%s", s);
	free(s);
	cr_assert_eq(nginx_t("nginx.conf"), 0, "nginx -t refused: %s", read_file("nginx-t.err"));
	ep("app", 1, true);
	ep("app", 2, true);
	struct catalog_endpoint v6 = {.stack = "shop", .service = "app", .index = 3, .addr = "::1", .port = 30003,
				      .healthy = true};
	catalog_put(W.cat, &v6);
	hooks_catalog_changed(W.h, "shop", "app");
	run_idle();
	s = read_file("upstream.conf");
	cr_assert_str_eq(s, "upstream app {\n"
			    "    least_conn;\n"
			    "    server 10.0.0.1:30001 max_fails=2;\n"
			    "    server 10.0.0.2:30002 max_fails=2;\n"
			    "    server [::1]:30003 max_fails=2;\n"
			    "}\n");
	free(s);
	cr_assert_eq(nginx_t("nginx.conf"), 0, "nginx -t refused: %s", read_file("nginx-t.err"));
	/* And the check does notice a broken file. */
	write_file("upstream.conf", "upstream app {\n}\n");
	cr_assert_neq(nginx_t("nginx.conf"), 0);
	finish();
}

/* The compose loader runs the same checks (src/spec/parse.c), and what it
 * loads is what the engine takes. */
Test(hooks, compose_loader_checks_and_feeds_the_engine)
{
	const char *ok = "services:\n"
			 "  app: {command: app}\n"
			 "  proxy:\n"
			 "    command: nginx\n"
			 "    x-berth:\n"
			 "      on_change:\n"
			 "        template: {src: up.tmpl, dest: up.conf}\n"
			 "        run: echo reloaded >> runs\n"
			 "        wait: 10ms:1s\n"
			 "      pre_start: test -f up.conf\n";
	const char *bad = "services:\n"
			  "  proxy:\n"
			  "    command: nginx\n"
			  "    x-berth:\n"
			  "      on_change:\n"
			  "        template: {src: up.tmpl, dest: up.conf}\n"
			  "        timeout: 1x\n";
	const char *env[] = {"HOME=/nonexistent"};
	struct spec_load_opts o = {.project_dir = W.dir, .env = env, .nenv = 1, .no_process_env = true};
	struct spec_stack *st = NULL;
	char *err = NULL;

	write_file("up.tmpl", "{{#endpoints \"app\"}}{{hostport}}\n{{/endpoints}}");
	cr_assert_eq(spec_load_buffer("compose.yml", ok, strlen(ok), &o, &st, &err), 0, "%s", err);
	const struct spec_service *proxy = spec_service_find(st, "proxy");
	cr_assert_eq(hooks_set_service(W.h, "shop", proxy, st->project_dir, NULL, &err), 0, "%s", err);
	hooks_pre_start(W.h, "shop", "proxy", 1, NULL, pre_done, (void *)(intptr_t)0, NULL);
	run_idle();
	cr_assert_eq(pre_status[0], 0);
	cr_assert_eq(count_lines("runs"), 1);
	spec_stack_free(st);
	st = NULL;

	cr_assert_eq(spec_load_buffer("compose.yml", bad, strlen(bad), &o, &st, &err), -1);
	cr_assert_str_eq(err, "compose.yml:7:18: services.proxy.x-berth.on_change.timeout: expected a duration like "
			      "\"500ms\", \"2s\" or \"1m30s\" (at most 24h), got \"1x\"");
	free(err);
	write_file("up.tmpl", "{{#endpoints \"app\"}}\n{{/services}}\n");
	cr_assert_eq(spec_load_buffer("compose.yml", ok, strlen(ok), &o, &st, &err), -1);
	char *want = xasprintf("compose.yml:7:25: services.proxy.x-berth.on_change.template.src: %s/up.tmpl:2:1: "
			       "{{/services}} does not close {{#endpoints}} opened at 1:1: expected {{/endpoints}}",
			       W.dir);
	cr_assert_str_eq(err, want);
	free(want);
	free(err);
	finish();
}

/* The record boundaries are the shim's: a line of exactly SHIM_CRI_MAX_TEXT
 * bytes is one F record, one byte more makes a P and an F. */
static char *cri_of(const char *data, size_t n, size_t chunk)
{
	char path[] = "/tmp/berth-cri-XXXXXX";
	int fd = mkstemp(path);
	struct hooks__cri_line l = {0};
	struct buf b = {0};

	cr_assert(fd >= 0);
	for (size_t off = 0; off < n; off += chunk)
		hooks__cri_feed(&l, fd, 1, data + off, n - off < chunk ? n - off : chunk);
	hooks__cri_finish(&l, fd, 1);
	close(fd);
	FILE *f = fopen(path, "r");
	char line[SHIM_CRI_MAX_TEXT + 100];
	while (fgets(line, sizeof(line), f)) {
		char t[40];
		bool is_err, partial;
		const char *text;
		size_t len;
		cr_assert_eq(logs_parse_record(line, strcspn(line, "\n"), t, sizeof(t), &is_err, &partial, &text, &len), 0);
		cr_assert(is_err);
		buf_appendf(&b, "%c%zu ", partial ? 'P' : 'F', len);
	}
	fclose(f);
	unlink(path);
	buf_append(&b, "", 1);
	return b.area;
}

Test(hooks, cri_record_boundaries)
{
	size_t max = SHIM_CRI_MAX_TEXT;
	char *d = xmalloc(3 * max + 10);
	size_t n = 0;

	memcpy(d + n, "a\n\n", 3);
	n += 3;
	memset(d + n, 'x', max);
	n += max;
	d[n++] = '\n';
	memset(d + n, 'y', max + 1);
	n += max + 1;
	static const size_t chunks[] = {1, 7, 4096, 100000};
	char *want = xasprintf("F1 F0 F%zu P%zu F1 ", max, max);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		char *got = cri_of(d, n, chunks[i]);
		cr_expect_str_eq(got, want, "chunks of %zu", chunks[i]);
		free(got);
	}
	free(want);
	free(d);
	finish();
}
