/* Unit tests for state.json, /proc and the handshake (src/runner/shim_state.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/shim-int.h"

static char dir[64];
static int dirfd_;

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/berth-unit-state-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dirfd_, 0);
}

static void rm_tmp(void)
{
	unlinkat(dirfd_, "state.json", 0);
	close(dirfd_);
	rmdir(dir);
}

static void put(const char *text)
{
	char *err = NULL;
	cr_assert_eq(shim__write_file_at(dirfd_, "state.json", text, strlen(text), 0644, &err), 0, "%s", err);
}

TestSuite(shim_state, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 10);

Test(shim_state, round_trip_running_then_exited)
{
	struct shim_state st = {
		.status = SHIM_ST_RUNNING, .shim_pid = 10, .shim_start_time = 99, .pid = 11, .pgid = 11,
		.start_time = 100, .started_at = "2026-12-01T08:30:00.123456789Z", .exit_code = -1,
	};
	struct shim_state got;
	char *err = NULL;

	cr_assert_eq(shim_state_write(dirfd_, &st, &err), 0, "%s", err);
	cr_assert_eq(shim_state_read(dir, &got, &err), 0, "%s", err);
	cr_assert_null(err);
	cr_assert_eq(got.status, SHIM_ST_RUNNING);
	cr_assert_eq(got.shim_pid, 10);
	cr_assert_eq(got.shim_start_time, 99);
	cr_assert_eq(got.pid, 11);
	cr_assert_eq(got.pgid, 11);
	cr_assert_eq(got.start_time, 100);
	cr_assert_str_eq(got.started_at, st.started_at);
	cr_assert_str_eq(got.stop_requested_at, "");
	cr_assert_str_eq(got.finished_at, "");
	cr_assert_eq(got.exit_code, -1);
	cr_assert_eq(got.signal, 0);

	st.status = SHIM_ST_EXITED;
	st.exit_code = 3;
	memcpy(st.stop_requested_at, "2026-12-01T08:30:01.000000000Z", SHIM_TIME_LEN + 1);
	memcpy(st.finished_at, "2026-12-01T08:30:02.000000000Z", SHIM_TIME_LEN + 1);
	cr_assert_eq(shim_state_write(dirfd_, &st, &err), 0, "%s", err);
	cr_assert_eq(shim_state_read(dir, &got, &err), 0, "%s", err);
	cr_assert_eq(got.status, SHIM_ST_EXITED);
	cr_assert_eq(got.exit_code, 3);
	cr_assert_eq(got.signal, 0);
	cr_assert_str_eq(got.stop_requested_at, st.stop_requested_at);
	cr_assert_str_eq(got.finished_at, st.finished_at);

	st.exit_code = -1;
	st.signal = 9;
	cr_assert_eq(shim_state_write(dirfd_, &st, &err), 0, "%s", err);
	cr_assert_eq(shim_state_read(dir, &got, &err), 0, "%s", err);
	cr_assert_eq(got.exit_code, -1);
	cr_assert_eq(got.signal, 9);
	/* No temp file is left behind. */
	cr_assert_eq(faccessat(dirfd_, "state.json.tmp", F_OK, 0), -1);
}

Test(shim_state, round_trip_failed)
{
	struct shim_state st = {.status = SHIM_ST_FAILED, .shim_pid = 5, .exit_code = -1,
				.finished_at = "2026-12-01T08:30:00.000000000Z"};
	struct shim_state got;
	char *err = NULL;

	snprintf(st.error, sizeof(st.error), "exec \"/x\\y\"\n: No such file \xc3\xa9");
	cr_assert_eq(shim_state_write(dirfd_, &st, &err), 0, "%s", err);
	cr_assert_eq(shim_state_read(dir, &got, &err), 0, "%s", err);
	cr_assert_eq(got.status, SHIM_ST_FAILED);
	cr_assert_str_eq(got.error, st.error);
	cr_assert_eq(got.pid, 0);
	cr_assert_eq(got.exit_code, -1);

	/* Not UTF-8: written anyway, the odd bytes replaced. */
	snprintf(st.error, sizeof(st.error), "bad \xff byte");
	cr_assert_eq(shim_state_write(dirfd_, &st, &err), 0, "%s", err);
	cr_assert_eq(shim_state_read(dir, &got, &err), 0, "%s", err);
	cr_assert_str_eq(got.error, "bad ? byte");

	st.status = SHIM_ST_UNKNOWN;
	cr_assert_eq(shim_state_write(dirfd_, &st, &err), -1);
	free(err);
}

Test(shim_state, missing_and_corrupt)
{
	struct shim_state got;
	char *err = (char *)"x";

	cr_assert_eq(shim_state_read(dir, &got, &err), -ENOENT);
	cr_assert_null(err);
	cr_assert_eq(shim_state_read("/nonexistent-dir", &got, &err), -ENOENT);

	const char *bad[][2] = {
		{"", "expected '{'"},
		{"{\"status\": \"running\"", "end of input"},
		{"{\"shim_pid\": 1}", "missing \"status\""},
		{"{\"status\": \"paused\"}", "status: unknown \"paused\""},
		{"{\"status\": \"running\", \"pid\": -1}", "pid: expected an integer from 0"},
		{"{\"status\": \"running\", \"pid\": \"1\"}", "pid: expected an integer"},
		{"{\"status\": \"exited\", \"exit_code\": 256}", "exit_code: expected an integer from 0 to 255"},
		{"{\"status\": \"exited\", \"signal\": 0}", "signal: expected an integer from 1 to 64"},
		{"{\"status\": \"running\", \"started_at\": \"2026-12-01T08:30:00.123456789Z+\"}", "started_at: longer than 30"},
		{"{\"status\": \"running\", \"x\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		 "nested deeper than 32"},
		{"{\"status\": \"running\", \"x\": tru}", "expected a value"},
		{"{\"status\": \"running\", \"x\": 1.}", "bad number"},
		{"{\"status\": \"running\"} {}", "after the document"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(bad[i][0]);
		cr_assert_eq(shim_state_read(dir, &got, &err), -EINVAL, "#%zu accepted", i);
		cr_assert(strstr(err, bad[i][1]), "#%zu: got %s, want %s", i, err, bad[i][1]);
		cr_assert(strncmp(err, "state.json:", 11) == 0, "%s", err);
		cr_assert_eq(got.status, SHIM_ST_UNKNOWN);
		free(err);
	}
	/* Too large to be ours. */
	char *big = malloc(SHIM_STATE_MAX_BYTES + 2);
	memset(big, ' ', SHIM_STATE_MAX_BYTES + 1);
	big[SHIM_STATE_MAX_BYTES + 1] = '\0';
	put(big);
	free(big);
	cr_assert_eq(shim_state_read(dir, &got, &err), -EFBIG);
	free(err);
}

Test(shim_state, skips_unknown_keys)
{
	struct shim_state got;
	char *err = NULL;

	put("{\"future\": {\"a\": [1, -2.5e+3, true, false, null, \"s\\u00e9\"], \"b\": {}},"
	    " \"status\": \"exited\", \"exit_code\": null, \"signal\": 15, \"oom\": false,"
	    " \"error\": null, \"pid\": 7, \"started_at\": null}");
	cr_assert_eq(shim_state_read(dir, &got, &err), 0, "%s", err);
	cr_assert_eq(got.status, SHIM_ST_EXITED);
	cr_assert_eq(got.exit_code, -1);
	cr_assert_eq(got.signal, 15);
	cr_assert_eq(got.pid, 7);
	cr_assert_str_eq(got.error, "");

	/* A long error is cut, at a character boundary. */
	char text[1024];
	int k = snprintf(text, sizeof(text), "{\"status\": \"failed\", \"error\": \"");
	for (int i = 0; i < 200; i++)
		k += snprintf(text + k, sizeof(text) - (size_t)k, "\xc3\xa9");
	snprintf(text + k, sizeof(text) - (size_t)k, "\"}");
	put(text);
	cr_assert_eq(shim_state_read(dir, &got, &err), 0, "%s", err);
	cr_assert_eq(strlen(got.error), 254);
	cr_assert(shim__utf8_valid(got.error, strlen(got.error)));
}

Test(shim_proc, self_and_children, .timeout = 10)
{
	struct shim_proc p;

	cr_assert_eq(shim_proc_read(getpid(), &p), 0);
	cr_assert_eq(p.ppid, getppid());
	cr_assert_eq(p.pgid, getpgrp());
	cr_assert_gt(p.start_time, 0);
	cr_assert(shim_pid_alive(getpid(), p.start_time));
	cr_assert_not(shim_pid_alive(getpid(), p.start_time + 1), "another start time: a reused pid");
	cr_assert_eq(shim_proc_read(0, &p), -EINVAL);
	cr_assert_not(shim_pid_alive(-1, 0));

	/* A child whose name has ") (" in it, then as a zombie, then gone. */
	int go[2], ready[2];
	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(ready), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char c;
		prctl(PR_SET_NAME, "a) b (c) 1 2");
		close(go[1]);
		ssize_t r = write(ready[1], "x", 1);
		r = read(go[0], &c, 1); /* wait for EOF */
		(void)r;
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	char byte;
	cr_assert_eq(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	struct shim_proc c;
	cr_assert_eq(shim_proc_read(pid, &c), 0);
	cr_assert_eq(c.ppid, getpid());
	cr_assert_eq(c.pgid, getpgrp());
	cr_assert_geq(c.start_time, p.start_time);
	cr_assert(shim_pid_alive(pid, c.start_time));
	close(go[1]);
	siginfo_t si;
	cr_assert_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	cr_assert_eq(shim_proc_read(pid, &c), 0);
	cr_assert_eq(c.state, 'Z');
	cr_assert_not(shim_pid_alive(pid, c.start_time), "a zombie is not alive");
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(shim_proc_read(pid, &c), -ENOENT);
	cr_assert_not(shim_pid_alive(pid, c.start_time));
}

Test(shim_handshake, parse, .timeout = 10)
{
	pid_t pid = 0;
	const char *reason = NULL;

	cr_assert_eq(shim_handshake_parse("started 123\n", &pid, &reason), 0);
	cr_assert_eq(pid, 123);
	cr_assert_eq(shim_handshake_parse("started 2147483647", &pid, &reason), 0);
	cr_assert_eq(pid, 2147483647);
	cr_assert_eq(shim_handshake_parse("failed: exec x: No such file\n", &pid, &reason), 1);
	cr_assert_str_eq(reason, "exec x: No such file\n");
	const char *bad[] = {"", "started", "started ", "started 0", "started 012", "started 12x",
			     "started -1", "started 2147483648", "started 1\n\n", "failed", "failed:x", "ok 1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(shim_handshake_parse(bad[i], &pid, &reason), -1, "accepted \"%s\"", bad[i]);
}
