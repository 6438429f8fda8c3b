/* Loop tests of the checks against real peers: a TCP listener and an HTTP server on the test's loop, real exec'd processes, ttl updates. */
#include "harness.h"

#include <fcntl.h>
#include <sys/stat.h>

/* ---- peers on the test loop ---- */

#define SRV_SCRIPT 16

struct sconn {
	uv_tcp_t tcp;
	struct srv *s;
	struct sconn *next, **pprev;
	char buf[2048];
	size_t len;
	bool answered;
	uv_write_t w;
};

/* A TCP listener; with <answers>, a tiny HTTP server: request i (1-based)
 * gets script[i-1] (past the script, <answer>); a NULL answer hangs. */
struct srv {
	uv_loop_t *loop;
	uv_tcp_t listen;
	int port;
	bool http;
	const char *answer;
	const char *script[SRV_SCRIPT];
	int nscript;
	int nconn;               /* connections accepted */
	int nreq;                /* HTTP requests read */
	char last_req[2048];
	struct sconn *conns;
};

static const char A200[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
static const char A500[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops";

static void sconn_closed(uv_handle_t *h)
{
	free(h->data);
}

static void sconn_close(struct sconn *k)
{
	if (uv_is_closing((uv_handle_t *)&k->tcp))
		return;
	*k->pprev = k->next;
	if (k->next)
		k->next->pprev = k->pprev;
	uv_close((uv_handle_t *)&k->tcp, sconn_closed);
}

static void sconn_written(uv_write_t *w, int status)
{
	sconn_close(w->data);
}

static void sconn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct sconn *k = h->data;

	*b = uv_buf_init(k->buf + k->len, (unsigned)(sizeof(k->buf) - 1 - k->len));
}

static void sconn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct sconn *k = st->data;
	struct srv *s = k->s;

	if (n < 0) {
		sconn_close(k);
		return;
	}
	k->len += (size_t)n;
	k->buf[k->len] = '\0';
	if (k->answered || !strstr(k->buf, "\r\n\r\n"))
		return;
	k->answered = true;
	int i = ++s->nreq;
	snprintf(s->last_req, sizeof(s->last_req), "%s", k->buf);
	const char *a = i <= s->nscript ? s->script[i - 1] : s->answer;
	if (!a)
		return;
	uv_buf_t out = uv_buf_init((char *)a, (unsigned)strlen(a));
	k->w.data = k;
	cr_assert_eq(uv_write(&k->w, (uv_stream_t *)&k->tcp, &out, 1, sconn_written), 0);
}

static void srv_accept(uv_stream_t *l, int status)
{
	struct srv *s = l->data;
	struct sconn *k = calloc(1, sizeof(*k));

	cr_assert_eq(status, 0);
	k->s = s;
	uv_tcp_init(s->loop, &k->tcp);
	k->tcp.data = k;
	cr_assert_eq(uv_accept(l, (uv_stream_t *)&k->tcp), 0);
	k->next = s->conns;
	if (k->next)
		k->next->pprev = &k->next;
	k->pprev = &s->conns;
	s->conns = k;
	s->nconn++;
	if (s->http)
		uv_read_start((uv_stream_t *)&k->tcp, sconn_alloc, sconn_read);
	else
		sconn_close(k);
}

static void srv_start(struct srv *s, uv_loop_t *loop, bool http, const char *answer)
{
	struct sockaddr_in a;
	struct sockaddr_storage got;
	int len = sizeof(got);

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->http = http;
	s->answer = answer;
	uv_ip4_addr("127.0.0.1", 0, &a);
	uv_tcp_init(loop, &s->listen);
	s->listen.data = s;
	cr_assert_eq(uv_tcp_bind(&s->listen, (struct sockaddr *)&a, 0), 0);
	cr_assert_eq(uv_listen((uv_stream_t *)&s->listen, 64, srv_accept), 0);
	uv_tcp_getsockname(&s->listen, (struct sockaddr *)&got, &len);
	s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void srv_stop(struct srv *s)
{
	while (s->conns)
		sconn_close(s->conns);
	uv_close((uv_handle_t *)&s->listen, NULL);
}

/* A target with one port: target 3000 on host <port>. */
struct tgt {
	struct health_port ports[2];
	struct health_target t;
};

static void tgt_init(struct tgt *g, int port)
{
	memset(g, 0, sizeof(*g));
	g->ports[0] = (struct health_port){3000, port};
	g->ports[1] = (struct health_port){9000, port};
	g->t = (struct health_target){.name = "web.1", .addr = "127.0.0.1", .ports = g->ports, .nports = 2};
}

static uv_loop_t loop_;
static uv_loop_t *loop = &loop_;
static char tmp[64];

static void setup(void)
{
	cr_assert_eq(uv_loop_init(loop), 0);
	strcpy(tmp, "/tmp/berth-hc-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
}

static void teardown(void)
{
	char *cmd = xasprintf("rm -rf %s", tmp);
	cr_expect_eq(system(cmd), 0);
	free(cmd);
}

TestSuite(health_check, .init = setup, .fini = teardown, .timeout = 30);

static struct health_check *start(const struct health_config *cfg, const struct health_target *t, struct rec *r)
{
	struct health_check *c = health_check_start(loop, cfg, t, rec_cb, r);

	cr_assert_not_null(c);
	return c;
}

/* ---- tcp ---- */

Test(health_check, tcp_connects)
{
	struct srv s;
	struct tgt g;
	struct rec r = {0};
	struct health_config cfg = cfg_base(HEALTH_KIND_TCP);

	srv_start(&s, loop, false, NULL);
	tgt_init(&g, s.port);
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_expect_eq(health_check_state(c), HEALTH_STARTING);
	cr_expect(WAIT_FOR(loop, 5000, r.state == HEALTH_HEALTHY));
	cr_expect_eq(r.n, 1);
	char want[64];
	snprintf(want, sizeof(want), "connected to 127.0.0.1:%d", s.port);
	cr_expect_str_eq(rec_last_msg(&r), want);
	cr_expect_geq(s.nconn, 1);
	health_check_stop(c);
	srv_stop(&s);
	finish_loop(loop);
}

Test(health_check, tcp_refused_then_up)
{
	struct tgt g;
	struct rec r = {0};
	struct health_config cfg = cfg_base(HEALTH_KIND_TCP);
	int port = free_port();

	cfg.fall = 2;
	tgt_init(&g, port);
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_expect(WAIT_FOR(loop, 5000, r.state == HEALTH_UNHEALTHY));
	cr_expect(strstr(rec_last_msg(&r), "connection refused"), "%s", rec_last_msg(&r));
	health_check_stop(c);
	finish_loop(loop);
}

Test(health_check, port_by_target)
{
	struct srv s;
	struct tgt g;
	struct rec r = {0}, r2 = {0};
	struct health_config cfg = cfg_base(HEALTH_KIND_TCP);

	srv_start(&s, loop, false, NULL);
	tgt_init(&g, 1);
	g.ports[1].host = s.port; /* target 9000 is the listener; the first port is not */
	cfg.port = 9000;
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_expect(WAIT_FOR(loop, 5000, r.state == HEALTH_HEALTHY));
	cfg.port = 4000;
	struct health_check *c2 = start(&cfg, &g.t, &r2);
	cr_expect(WAIT_FOR(loop, 5000, r2.state == HEALTH_UNHEALTHY));
	cr_expect_str_eq(rec_last_msg(&r2), "port 4000 is not a port of the instance");
	health_check_stop(c);
	health_check_stop(c2);
	srv_stop(&s);
	finish_loop(loop);
}

/* ---- http ---- */

static void http_case(const char *answer, struct health_config *cfg, enum health_state want, const char *msg_has,
		      struct srv *s_out)
{
	struct srv s;
	struct tgt g;
	struct rec r = {0};

	srv_start(&s, loop, true, answer);
	tgt_init(&g, s.port);
	struct health_check *c = start(cfg, &g.t, &r);
	cr_expect(WAIT_FOR(loop, 5000, r.n > 0), "no callback");
	cr_expect_eq(r.state, want, "%s: state %s, message %s", answer ? answer : "(hang)",
		     health_state_name(r.state), rec_last_msg(&r));
	if (msg_has)
		cr_expect(strstr(rec_last_msg(&r), msg_has), "message \"%s\" lacks \"%s\"", rec_last_msg(&r), msg_has);
	health_check_stop(c);
	if (s_out)
		*s_out = s;
	srv_stop(&s);
	finish_loop(loop);
}

Test(health_check, http_200)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_HTTP);
	struct srv s;
	char host[64];

	cfg.path = "/healthz";
	cfg.method = "GET";
	cfg.http_minor = 1;
	http_case(A200, &cfg, HEALTH_HEALTHY, "HTTP 200 OK: ok", &s);
	cr_expect(strncmp(s.last_req, "GET /healthz HTTP/1.1\r\n", 23) == 0, "%s", s.last_req);
	snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", s.port);
	cr_expect(strstr(s.last_req, host), "%s", s.last_req);
	cr_expect(strstr(s.last_req, "\r\nConnection: close\r\n"));
}

Test(health_check, http_500_unhealthy)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_HTTP);

	cfg.path = "/";
	http_case(A500, &cfg, HEALTH_UNHEALTHY, "HTTP 500 Internal Server Error: oops", NULL);
}

Test(health_check, http_expect)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_HTTP);

	cfg.path = "/";
	/* default 200..399: a redirect is fine */
	http_case("HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", &cfg, HEALTH_HEALTHY, "302", NULL);
	cfg.nexpect = 1;
	cfg.expect[0] = (struct health_expect){200, 200};
	cr_assert_eq(uv_loop_init(loop), 0);
	http_case("HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", &cfg, HEALTH_UNHEALTHY, "302", NULL);
	cfg.nexpect = 2;
	cfg.expect[1] = (struct health_expect){500, 599};
	cr_assert_eq(uv_loop_init(loop), 0);
	http_case(A500, &cfg, HEALTH_HEALTHY, "500", NULL);
}

Test(health_check, http_host_method_version)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_HTTP);
	struct srv s;

	cfg.path = "/ping";
	cfg.method = "HEAD";
	cfg.http_minor = 0;
	cfg.host = "app.example.com";
	/* a HEAD response has no body, whatever its Content-Length says */
	http_case("HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n", &cfg, HEALTH_HEALTHY, "HTTP 200 OK", &s);
	cr_expect(strncmp(s.last_req, "HEAD /ping HTTP/1.0\r\nHost: app.example.com\r\n", 44) == 0, "%s", s.last_req);
}

Test(health_check, http_timeout)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_HTTP);

	cfg.path = "/";
	cfg.timeout = 200;
	http_case(NULL, &cfg, HEALTH_UNHEALTHY, "timed out after 200ms", NULL);
}

Test(health_check, http_malformed_and_closed)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_HTTP);

	cfg.path = "/";
	http_case("hello there\r\n\r\n", &cfg, HEALTH_UNHEALTHY, "malformed response", NULL);
	cr_assert_eq(uv_loop_init(loop), 0);
	/* obs-fold: the strict codec refuses it */
	http_case("HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", &cfg, HEALTH_UNHEALTHY,
		  "malformed", NULL);
	cr_assert_eq(uv_loop_init(loop), 0);
	http_case("", &cfg, HEALTH_UNHEALTHY, "connection closed before the response", NULL);
}

Test(health_check, http_interim_and_chunked)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_HTTP);

	cfg.path = "/";
	http_case("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nall\r\n5\r\n good\r\n0\r\n\r\n",
		  &cfg, HEALTH_HEALTHY, "HTTP 200 OK: all good", NULL);
	cr_assert_eq(uv_loop_init(loop), 0);
	/* until close */
	http_case("HTTP/1.0 503 Service Unavailable\r\n\r\ndraining", &cfg, HEALTH_UNHEALTHY, "503 Service Unavailable: draining",
		  NULL);
}

Test(health_check, http_rise_fall)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_HTTP);
	struct srv s;
	struct tgt g;
	struct rec r = {0};

	cfg.path = "/";
	cfg.rise = 2;
	cfg.fall = 2;
	cfg.interval = 10;
	srv_start(&s, loop, true, A200);
	const char *script[] = {A200, A500, A200, A200, A500, A500, A200, A500};
	memcpy(s.script, script, sizeof(script));
	s.nscript = 8;
	tgt_init(&g, s.port);
	struct health_check *c = start(&cfg, &g.t, &r);
	/* 200 500 200 200 -> healthy at request 4; 500 500 -> unhealthy at 6;
	 * 200 500 (no change), then 200 200 from the default -> healthy */
	cr_expect(WAIT_FOR(loop, 10000, r.n >= 3));
	cr_assert_eq(r.n, 3);
	cr_expect_eq(r.states[0], HEALTH_HEALTHY);
	cr_expect_eq(r.states[1], HEALTH_UNHEALTHY);
	cr_expect_eq(r.states[2], HEALTH_HEALTHY);
	cr_expect_eq(s.nreq, 10, "requests: %d", s.nreq);
	health_check_stop(c);
	srv_stop(&s);
	finish_loop(loop);
}

/* ---- exec ---- */

static struct health_check *exec_start(const char *line, struct health_config *cfg, struct rec *r)
{
	static struct tgt g;

	*cfg = cfg_shell(line);
	tgt_init(&g, 1);
	return start(cfg, &g.t, r);
}

Test(health_check, exec_exit_status)
{
	struct health_config cfg, cfg2;
	struct rec r = {0}, r2 = {0};
	struct health_check *ok = exec_start("exit 0", &cfg, &r);
	struct health_check *ko = exec_start("exit 3", &cfg2, &r2);

	cr_expect(WAIT_FOR(loop, 5000, r.n > 0 && r2.n > 0));
	cr_expect_eq(r.state, HEALTH_HEALTHY);
	cr_expect_str_eq(rec_last_msg(&r), "");
	cr_expect_eq(r2.state, HEALTH_UNHEALTHY);
	cr_expect_str_eq(rec_last_msg(&r2), "exit status 3");
	health_check_stop(ok);
	health_check_stop(ko);
	health_config_free(&cfg);
	health_config_free(&cfg2);
	finish_loop(loop);
}

Test(health_check, exec_output_and_tags)
{
	struct health_config cfg;
	struct rec r = {0};
	struct health_check *c =
		exec_start("echo checking; echo 'berth-tags: primary, zone-a' ; echo warn >&2; exit 0", &cfg, &r);

	cr_expect(WAIT_FOR(loop, 5000, r.n > 0));
	cr_expect_eq(r.state, HEALTH_HEALTHY);
	cr_expect_str_eq(rec_last_tags(&r), "primary,zone-a");
	cr_expect(strstr(rec_last_msg(&r), "checking\n"));
	cr_expect(strstr(rec_last_msg(&r), "warn"));
	const char *const *tags;
	cr_expect_eq(health_check_tags(c, &tags), 2);
	cr_expect_str_eq(tags[1], "zone-a");
	health_check_stop(c);
	health_config_free(&cfg);
	finish_loop(loop);
}

Test(health_check, exec_tags_change_calls_back)
{
	struct health_config cfg;
	struct rec r = {0};
	char *file = xasprintf("%s/tags", tmp), *line = xasprintf("cat %s", file);
	FILE *f = fopen(file, "w");

	fputs("berth-tags: a\n", f);
	fclose(f);
	struct health_check *c = exec_start(line, &cfg, &r);
	cr_expect(WAIT_FOR(loop, 5000, r.n == 1));
	cr_expect_str_eq(rec_last_tags(&r), "a");
	f = fopen(file, "w");
	fputs("berth-tags: b,c\n", f);
	fclose(f);
	cr_expect(WAIT_FOR(loop, 5000, r.n == 2));
	cr_expect_eq(r.states[1], HEALTH_HEALTHY, "the state did not change, the tags did");
	cr_expect_str_eq(rec_last_tags(&r), "b,c");
	/* a run without the line keeps them */
	f = fopen(file, "w");
	fputs("no tags here\n", f);
	fclose(f);
	cr_expect_not(WAIT_FOR(loop, 300, r.n > 2));
	/* an empty line clears them */
	f = fopen(file, "w");
	fputs("berth-tags:\n", f);
	fclose(f);
	cr_expect(WAIT_FOR(loop, 5000, r.n == 3));
	cr_expect_str_eq(rec_last_tags(&r), "");
	health_check_stop(c);
	health_config_free(&cfg);
	free(file);
	free(line);
	finish_loop(loop);
}

Test(health_check, exec_timeout_kills_the_group)
{
	struct health_config cfg;
	struct rec r = {0};
	char *pidf = xasprintf("%s/pid", tmp), *kidf = xasprintf("%s/kid", tmp);
	char *line = xasprintf("sleep 10 & echo $! > %s; echo $$ > %s; wait", kidf, pidf);
	pid_t pid, kid;

	cfg = cfg_shell(line);
	cfg.timeout = 300;
	cfg.interval = 10000;
	struct tgt g;
	tgt_init(&g, 1);
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_assert(WAIT_FOR(loop, 5000, read_pid(pidf) && read_pid(kidf)));
	pid = read_pid(pidf);
	kid = read_pid(kidf);
	cr_expect(pid_alive(pid) && pid_alive(kid));
	cr_expect(WAIT_FOR(loop, 5000, r.n > 0));
	cr_expect_eq(r.state, HEALTH_UNHEALTHY);
	cr_expect_str_eq(rec_last_msg(&r), "timed out after 300ms");
	/* the shell and its sleep: both gone (the sleep is reaped by init) */
	cr_expect(WAIT_FOR(loop, 5000, !pid_alive(pid) && !pid_alive(kid)), "left behind: %d %d", pid, kid);
	health_check_stop(c);
	health_config_free(&cfg);
	free(pidf);
	free(kidf);
	free(line);
	finish_loop(loop);
}

Test(health_check, exec_leftovers_killed_at_exit)
{
	struct health_config cfg;
	struct rec r = {0};
	char *kidf = xasprintf("%s/kid", tmp), *line = xasprintf("sleep 10 & echo $! > %s; exit 0", kidf);
	struct health_check *c = exec_start(line, &cfg, &r);

	cr_expect(WAIT_FOR(loop, 5000, r.n > 0));
	cr_expect_eq(r.state, HEALTH_HEALTHY);
	pid_t kid = read_pid(kidf);
	cr_expect_gt(kid, 0);
	cr_expect(WAIT_FOR(loop, 5000, !pid_alive(kid)));
	health_check_stop(c);
	health_config_free(&cfg);
	free(kidf);
	free(line);
	finish_loop(loop);
}

Test(health_check, exec_env_cwd)
{
	struct health_config cfg = cfg_shell("test \"$FOO\" = bar && test \"$(pwd)\" = /tmp && test -z \"$HOME\"");
	char *env[] = {"FOO=bar", "PATH=/usr/bin:/bin", NULL};
	struct tgt g;
	struct rec r = {0};

	tgt_init(&g, 1);
	g.t.env = env;
	g.t.cwd = "/tmp";
	g.t.user = "root";
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_expect(WAIT_FOR(loop, 5000, r.n > 0));
	cr_expect_eq(r.state, HEALTH_HEALTHY, "%s", rec_last_msg(&r));
	health_check_stop(c);
	health_config_free(&cfg);
	finish_loop(loop);
}

Test(health_check, exec_cannot_run)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_EXEC);
	char *argv[] = {"/nonexistent/check", "x", NULL};
	struct tgt g;
	struct rec r = {0};

	cfg.argv = argv;
	cfg.argc = 2;
	tgt_init(&g, 1);
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_expect(WAIT_FOR(loop, 5000, r.n > 0));
	cr_expect_eq(r.state, HEALTH_UNHEALTHY);
	cr_expect_str_eq(rec_last_msg(&r), "cannot run /nonexistent/check: no such file or directory");
	health_check_stop(c);
	finish_loop(loop);
}

Test(health_check, exec_output_bounded)
{
	struct health_config cfg;
	struct rec r = {0};
	struct health_check *c = exec_start("head -c 200000 /dev/zero | tr '\\0' a; exit 1", &cfg, &r);

	cr_expect(WAIT_FOR(loop, 5000, r.n > 0));
	cr_expect_eq(strlen(rec_last_msg(&r)), sizeof(r.msgs[0]) - 1, "the recorder's cap");
	cr_expect_eq(strlen(health_check_message(c)), HEALTH_MAX_OUTPUT);
	health_check_stop(c);
	health_config_free(&cfg);
	finish_loop(loop);
}

static int count_lines(const char *path, char *first, size_t cap)
{
	FILE *f = fopen(path, "r");
	int n = 0, ch;
	size_t o = 0;

	if (!f)
		return 0;
	while ((ch = fgetc(f)) != EOF) {
		if (o + 1 < cap)
			first[o++] = (char)ch;
		n += ch == '\n';
	}
	first[o] = '\0';
	fclose(f);
	return n;
}

Test(health_check, runs_never_overlap)
{
	struct health_config cfg;
	struct rec r = {0};
	char *log = xasprintf("%s/log", tmp), *line = xasprintf("echo s >> %s; sleep 0.1; echo e >> %s", log, log);
	char text[256];

	cfg = cfg_shell(line);
	cfg.interval = 1;
	struct tgt g;
	tgt_init(&g, 1);
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_expect(WAIT_FOR(loop, 10000, count_lines(log, text, sizeof(text)) >= 8));
	health_check_stop(c);
	finish_loop(loop);
	count_lines(log, text, sizeof(text));
	for (size_t i = 0; text[i] && text[i + 1]; i += 2)
		cr_expect_eq(text[i], (i / 2) % 2 ? 'e' : 's', "runs overlapped: %s", text);
	health_config_free(&cfg);
	free(log);
	free(line);
}

Test(health_check, stop_kills_a_running_exec)
{
	struct health_config cfg;
	struct rec r = {0};
	char *pidf = xasprintf("%s/pid", tmp), *line = xasprintf("echo $$ > %s; exec sleep 10", pidf);

	cfg = cfg_shell(line);
	cfg.timeout = 20000;
	struct tgt g;
	tgt_init(&g, 1);
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_assert(WAIT_FOR(loop, 5000, read_pid(pidf) > 0));
	pid_t pid = read_pid(pidf);
	cr_expect(pid_alive(pid));
	health_check_stop(c);
	/* the loop lives until the process is reaped */
	finish_loop(loop);
	cr_expect_not(pid_alive(pid));
	cr_expect_eq(r.n, 0);
	health_config_free(&cfg);
	free(pidf);
	free(line);
}

Test(health_check, stop_from_the_callback)
{
	struct health_config cfg;
	struct rec r = {.stop_in_cb = true};

	exec_start("exit 0", &cfg, &r);
	cr_expect(WAIT_FOR(loop, 5000, r.n > 0));
	finish_loop(loop);
	cr_expect_eq(r.n, 1);
	health_config_free(&cfg);
}

Test(health_check, start_period_and_start_interval)
{
	struct health_config cfg;
	struct rec r = {0};
	char *log = xasprintf("%s/log", tmp), *line = xasprintf("echo x >> %s; exit 1", log);
	char text[64];

	cfg = cfg_shell(line);
	cfg.interval = 60000;
	cfg.start_interval = 10;
	cfg.start_period = 60000;
	struct tgt g;
	tgt_init(&g, 1);
	struct health_check *c = start(&cfg, &g.t, &r);
	/* runs every start_interval, and the failures do not count */
	cr_expect(WAIT_FOR(loop, 10000, count_lines(log, text, sizeof(text)) >= 4));
	cr_expect_eq(r.n, 0);
	cr_expect_eq(health_check_state(c), HEALTH_STARTING);
	cr_expect_str_eq(health_check_message(c), "exit status 1");
	health_check_stop(c);
	health_config_free(&cfg);
	free(log);
	free(line);
	finish_loop(loop);
}

Test(health_check, initializing_timeout)
{
	struct health_config cfg;
	struct rec r = {0};
	struct tgt g;

	cfg = cfg_shell("exit 1");
	cfg.fall = 1000;
	cfg.interval = 20;
	cfg.initializing_timeout = 200;
	cfg.reinitializing_timeout = 60000;
	tgt_init(&g, 1);
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_expect(WAIT_FOR(loop, 5000, r.n > 0));
	cr_expect_eq(r.state, HEALTH_UNHEALTHY);
	cr_expect_str_eq(rec_last_msg(&r), "not healthy within the initializing timeout of 200ms");
	health_check_stop(c);

	/* a restarted instance gets reinitializing_timeout */
	struct rec r2 = {0};
	cfg.initializing_timeout = 60000;
	cfg.reinitializing_timeout = 100;
	g.t.restarted = true;
	c = start(&cfg, &g.t, &r2);
	cr_expect(WAIT_FOR(loop, 5000, r2.n > 0));
	cr_expect_str_eq(rec_last_msg(&r2), "not healthy within the initializing timeout of 100ms");
	health_check_stop(c);
	health_config_free(&cfg);
	finish_loop(loop);
}

/* ---- ttl ---- */

Test(health_check, ttl_lapses)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_TTL);
	struct tgt g;
	struct rec r = {0};

	cfg.ttl = cfg.interval = 100;
	tgt_init(&g, 1);
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_expect_eq(health_check_state(c), HEALTH_STARTING);
	cr_expect(WAIT_FOR(loop, 5000, r.n > 0));
	cr_expect_eq(r.state, HEALTH_UNHEALTHY);
	cr_expect_str_eq(rec_last_msg(&r), "TTL of 100ms passed without an update");
	cr_expect_eq(health_ttl_pass(c, "all good"), 0);
	cr_expect_eq(r.n, 2, "called back from inside health_ttl_pass");
	cr_expect_eq(r.state, HEALTH_HEALTHY);
	cr_expect_str_eq(rec_last_msg(&r), "all good");
	cr_expect_eq(health_ttl_fail(c, "disk full"), 0);
	cr_expect_eq(r.state, HEALTH_UNHEALTHY);
	cr_expect_str_eq(rec_last_msg(&r), "disk full");
	health_check_stop(c);
	finish_loop(loop);
}

struct refresher {
	uv_timer_t t;
	struct health_check *c;
	int n;
};

static void refresh(uv_timer_t *t)
{
	struct refresher *f = t->data;

	cr_expect_eq(health_ttl_pass(f->c, NULL), 0);
	f->n++;
}

Test(health_check, ttl_refreshed_stays_healthy)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_TTL);
	struct tgt g;
	struct rec r = {0};
	struct refresher f = {0};

	cfg.ttl = cfg.interval = 200;
	tgt_init(&g, 1);
	f.c = start(&cfg, &g.t, &r);
	uv_timer_init(loop, &f.t);
	f.t.data = &f;
	uv_timer_start(&f.t, refresh, 0, 50);
	cr_expect(WAIT_FOR(loop, 5000, f.n >= 15));
	cr_expect_eq(r.n, 1);
	cr_expect_eq(r.state, HEALTH_HEALTHY);
	uv_timer_stop(&f.t);
	cr_expect(WAIT_FOR(loop, 5000, r.state == HEALTH_UNHEALTHY));
	uv_close((uv_handle_t *)&f.t, NULL);
	health_check_stop(f.c);
	finish_loop(loop);
}

Test(health_check, ttl_api_on_other_kinds)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_TCP);
	struct tgt g;
	struct rec r = {0};

	tgt_init(&g, free_port());
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_expect_eq(health_ttl_pass(c, "x"), UV_EINVAL);
	cr_expect_eq(health_ttl_fail(c, "x"), UV_EINVAL);
	health_check_stop(c);
	finish_loop(loop);
}

/* ---- none, bad starts ---- */

Test(health_check, none_never_calls_back)
{
	struct health_config cfg = {0};
	struct tgt g;
	struct rec r = {0};

	tgt_init(&g, 1);
	struct health_check *c = start(&cfg, &g.t, &r);
	cr_expect_eq(health_check_state(c), HEALTH_NONE);
	cr_expect_not(WAIT_FOR(loop, 100, r.n > 0));
	health_check_stop(c);
	health_check_stop(NULL);
	finish_loop(loop);
}

Test(health_check, failed_starts)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_TCP);
	struct tgt g;
	struct rec r = {0};

	tgt_init(&g, 1);
	g.t.addr = "localhost";
	cr_expect_null(health_check_start(loop, &cfg, &g.t, rec_cb, &r), "names are not resolved");
	cfg.kind = (enum health_kind)42;
	g.t.addr = NULL;
	cr_expect_null(health_check_start(loop, &cfg, &g.t, rec_cb, &r));
	if (geteuid() == 0) {
		struct health_config e = cfg_shell("exit 0");
		g.t.user = "no-such-user-berth";
		cr_expect_null(health_check_start(loop, &e, &g.t, rec_cb, &r));
		health_config_free(&e);
	}
	finish_loop(loop);
	cr_expect_eq(r.n, 0);
}
