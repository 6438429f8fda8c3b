/* Loop tests of the redis check against real redis-server and redis-sentinel processes started by the test. */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>

static uv_loop_t loop_;
static uv_loop_t *loop = &loop_;
static char tmp[64];

#define MAX_PROCS 8
static pid_t procs[MAX_PROCS]; /* started by the test, stopped by pid */
static int nprocs;

/* Starts <argv> with its output in tmp/<name>.log; it dies with us
 * (PR_SET_PDEATHSIG) should the test crash. */
static pid_t spawn(const char *name, char *const argv[])
{
	char *log = xasprintf("%s/%s.log", tmp, name);
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	free(log);
	cr_assert_lt(nprocs, MAX_PROCS);
	procs[nprocs++] = pid;
	return pid;
}

/* Stops <pid>: SIGTERM, then SIGKILL if it has not gone within 5 s. */
static void stop_pid(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			goto gone;
		struct pollfd none;
		poll(&none, 0, 10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
gone:
	for (int i = 0; i < nprocs; i++)
		if (procs[i] == pid)
			procs[i] = procs[--nprocs];
}

/* Sends one command (inline form) to 127.0.0.1:<port>; returns the first
 * line of the reply in <out>, or -1 if it cannot connect or times out. */
static int redis_cmd(int port, const char *cmd, char *out, size_t cap)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {1, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	char *line = xasprintf("%s\r\n", cmd);
	n = write(fd, line, strlen(line));
	free(line);
	n = n > 0 ? read(fd, out, cap - 1) : -1;
	close(fd);
	if (n <= 0)
		return -1;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* Waits (bounded) until the server on <port> answers PING. */
static bool wait_ready(int port)
{
	char reply[64];

	return WAIT_FOR(loop, 10000, redis_cmd(port, "PING", reply, sizeof(reply)) == 0 &&
					     (strcmp(reply, "+PONG") == 0 || reply[0] == '-'));
}

static pid_t start_redis(int port, const char *extra1, const char *extra2, const char *extra3)
{
	char p[16], name[32];
	char *argv[12] = {"redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			  "--daemonize", "no", NULL};
	char *full[16];
	int n = 0;

	snprintf(p, sizeof(p), "%d", port);
	snprintf(name, sizeof(name), "redis-%d", port);
	while (argv[n]) {
		full[n] = argv[n];
		n++;
	}
	if (extra1)
		full[n++] = (char *)extra1;
	if (extra2)
		full[n++] = (char *)extra2;
	if (extra3)
		full[n++] = (char *)extra3;
	full[n] = NULL;
	pid_t pid = spawn(name, full);
	cr_assert(wait_ready(port), "redis-server on port %d did not start", port);
	return pid;
}

static void setup(void)
{
	cr_assert_eq(uv_loop_init(loop), 0);
	strcpy(tmp, "/tmp/berth-hr-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
}

static void teardown(void)
{
	while (nprocs > 0)
		stop_pid(procs[nprocs - 1]);
	char *cmd = xasprintf("rm -rf %s", tmp);
	cr_expect_eq(system(cmd), 0);
	free(cmd);
}

TestSuite(health_redis, .init = setup, .fini = teardown, .timeout = 60);

static bool have(const char *prog)
{
	char *cmd = xasprintf("command -v %s >/dev/null 2>&1", prog);
	bool ok = system(cmd) == 0;

	free(cmd);
	return ok;
}

struct tgt {
	struct health_port port;
	struct health_target t;
};

static struct health_check *redis_check(struct tgt *g, int port, const char *password, const char *password_env,
					char **env, struct rec *r)
{
	struct health_config cfg = cfg_base(HEALTH_KIND_REDIS);

	cfg.password = (char *)password;
	cfg.password_env = (char *)password_env;
	g->port = (struct health_port){6379, port};
	g->t = (struct health_target){.name = "redis.1", .ports = &g->port, .nports = 1, .env = env};
	struct health_check *c = health_check_start(loop, &cfg, &g->t, rec_cb, r);
	cr_assert_not_null(c);
	return c;
}

Test(health_redis, primary_replica_promotion)
{
	struct tgt gp, gr;
	struct rec rp = {0}, rr = {0};
	char reply[128], of[32];

	if (!have("redis-server"))
		cr_skip_test("redis-server is not installed (make deps)");
	int pport = free_port(), rport = free_port();
	snprintf(of, sizeof(of), "%d", pport);
	start_redis(pport, NULL, NULL, NULL);
	start_redis(rport, "--replicaof", "127.0.0.1", of);

	struct health_check *cp = redis_check(&gp, pport, NULL, NULL, NULL, &rp);
	struct health_check *cr = redis_check(&gr, rport, NULL, NULL, NULL, &rr);
	cr_expect(WAIT_FOR(loop, 10000, rp.state == HEALTH_HEALTHY && rr.state == HEALTH_HEALTHY));
	cr_expect_str_eq(rec_last_tags(&rp), "primary");
	cr_expect_str_eq(rec_last_tags(&rr), "replica");
	cr_expect(strncmp(rec_last_msg(&rp), "role master", 11) == 0, "%s", rec_last_msg(&rp));
	char want[64];
	snprintf(want, sizeof(want), "role replica of 127.0.0.1:%d, link ", pport);
	cr_expect(strncmp(rec_last_msg(&rr), want, strlen(want)) == 0, "%s", rec_last_msg(&rr));

	/* promotion: the tag follows, the state stays healthy */
	int before = rr.n;
	cr_assert_eq(redis_cmd(rport, "REPLICAOF NO ONE", reply, sizeof(reply)), 0);
	cr_expect_str_eq(reply, "+OK");
	cr_expect(WAIT_FOR(loop, 10000, strcmp(rec_last_tags(&rr), "primary") == 0));
	cr_expect_eq(rr.n, before + 1);
	cr_expect_eq(rr.state, HEALTH_HEALTHY);

	/* the primary dies: unhealthy, last known role kept */
	stop_pid(procs[0]);
	cr_expect(WAIT_FOR(loop, 10000, rp.state == HEALTH_UNHEALTHY));
	cr_expect(strstr(rec_last_msg(&rp), "connection refused"), "%s", rec_last_msg(&rp));
	cr_expect_str_eq(rec_last_tags(&rp), "primary");

	health_check_stop(cp);
	health_check_stop(cr);
	finish_loop(loop);
}

Test(health_redis, auth)
{
	struct tgt g1, g2, g3, g4;
	struct rec r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
	char *env[] = {"REDIS_PASSWORD=s3cret", NULL};

	if (!have("redis-server"))
		cr_skip_test("redis-server is not installed (make deps)");
	int port = free_port();
	start_redis(port, "--requirepass", "s3cret", NULL);

	struct health_check *c1 = redis_check(&g1, port, NULL, NULL, NULL, &r1);
	struct health_check *c2 = redis_check(&g2, port, "s3cret", NULL, NULL, &r2);
	struct health_check *c3 = redis_check(&g3, port, NULL, "REDIS_PASSWORD", env, &r3);
	struct health_check *c4 = redis_check(&g4, port, "wrong", NULL, NULL, &r4);
	cr_expect(WAIT_FOR(loop, 10000, r1.n && r2.n && r3.n && r4.n));
	cr_expect_eq(r1.state, HEALTH_UNHEALTHY);
	cr_expect(strncmp(rec_last_msg(&r1), "ROLE: NOAUTH", 12) == 0, "%s", rec_last_msg(&r1));
	cr_expect_eq(r2.state, HEALTH_HEALTHY);
	cr_expect_str_eq(rec_last_tags(&r2), "primary");
	cr_expect_eq(r3.state, HEALTH_HEALTHY);
	cr_expect_str_eq(rec_last_tags(&r3), "primary");
	cr_expect_eq(r4.state, HEALTH_UNHEALTHY);
	cr_expect(strncmp(rec_last_msg(&r4), "AUTH: WRONGPASS", 15) == 0, "%s", rec_last_msg(&r4));
	health_check_stop(c1);
	health_check_stop(c2);
	health_check_stop(c3);
	health_check_stop(c4);

	/* password_env naming a variable the instance does not have */
	struct rec r5 = {0};
	struct health_check *c5 = redis_check(&g1, port, NULL, "NOPE", env, &r5);
	cr_expect(WAIT_FOR(loop, 10000, r5.n > 0));
	cr_expect_str_eq(rec_last_msg(&r5), "password_env: NOPE is not set in the instance's environment");
	health_check_stop(c5);
	finish_loop(loop);
}

Test(health_redis, sentinel)
{
	struct tgt g;
	struct rec r = {0};

	if (!have("redis-server") || !have("redis-sentinel"))
		cr_skip_test("redis-sentinel is not installed (make deps)");
	int pport = free_port(), sport = free_port();
	start_redis(pport, NULL, NULL, NULL);
	char *conf = xasprintf("%s/sentinel.conf", tmp);
	FILE *f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor m 127.0.0.1 %d 1\n", sport, tmp, pport);
	fclose(f);
	char *argv[] = {"redis-sentinel", conf, NULL};
	spawn("sentinel", argv);
	cr_assert(wait_ready(sport), "redis-sentinel did not start");

	struct health_check *c = redis_check(&g, sport, NULL, NULL, NULL, &r);
	cr_expect(WAIT_FOR(loop, 10000, r.state == HEALTH_HEALTHY));
	cr_expect_str_eq(rec_last_tags(&r), "sentinel");
	cr_expect_str_eq(rec_last_msg(&r), "role sentinel");
	health_check_stop(c);
	free(conf);
	finish_loop(loop);
}

/* Something that is not redis on the port: a strict parser says so. */
Test(health_redis, not_redis)
{
	struct tgt g;
	struct rec r = {0};

	if (!have("python3"))
		cr_skip_test("python3 is needed for the fake peer");
	int port = free_port();
	char *script = xasprintf("import socket\n"
				 "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
				 "s.bind(('127.0.0.1', %d)); s.listen(8)\n"
				 "while True:\n"
				 "    c, _ = s.accept(); c.recv(100); c.sendall(b'HTTP/1.1 400 Bad Request\\r\\n\\r\\n'); c.close()\n",
				 port);
	char *argv[] = {"python3", "-c", script, NULL};
	spawn("fake", argv);
	char reply[64];
	cr_assert(WAIT_FOR(loop, 10000, redis_cmd(port, "PING", reply, sizeof(reply)) == 0));
	struct health_check *c = redis_check(&g, port, NULL, NULL, NULL, &r);
	cr_expect(WAIT_FOR(loop, 10000, r.n > 0));
	cr_expect_eq(r.state, HEALTH_UNHEALTHY);
	cr_expect_str_eq(rec_last_msg(&r), "malformed reply (not RESP2)");
	health_check_stop(c);
	free(script);
	finish_loop(loop);
}
