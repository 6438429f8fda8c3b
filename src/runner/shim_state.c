/* state.json and /proc: what the shim records about its instance and how
 * an agent, restarted, tells whether that instance still runs. Compiled
 * into both berth-shim and libberth. */
#include "runner/shim-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const status_names[] = {
	[SHIM_ST_UNKNOWN] = "unknown",
	[SHIM_ST_RUNNING] = "running",
	[SHIM_ST_EXITED] = "exited",
	[SHIM_ST_FAILED] = "failed",
};

static void add_time(struct shim__sb *b, const char *key, const char *t)
{
	if (!t[0])
		return;
	shim__sb_addf(b, ",\n  \"%s\": ", key);
	shim__sb_add_jstr(b, t);
}

int shim_state_write(int dirfd, const struct shim_state *st, char **err)
{
	struct shim__sb b = {0};
	int rc;

	if ((unsigned)st->status > SHIM_ST_FAILED || st->status == SHIM_ST_UNKNOWN) {
		*err = shim__asprintf("%s: no status to write", SHIM_STATE_FILE);
		return -1;
	}
	shim__sb_addf(&b, "{\n  \"shim_pid\": %d,\n  \"shim_start_time\": %llu", (int)st->shim_pid,
		      st->shim_start_time);
	if (st->pid > 0)
		shim__sb_addf(&b, ",\n  \"pid\": %d,\n  \"pgid\": %d,\n  \"start_time\": %llu", (int)st->pid,
			      (int)st->pgid, st->start_time);
	add_time(&b, "started_at", st->started_at);
	shim__sb_addf(&b, ",\n  \"status\": \"%s\"", status_names[st->status]);
	add_time(&b, "stop_requested_at", st->stop_requested_at);
	if (st->status != SHIM_ST_RUNNING) {
		if (st->exit_code >= 0)
			shim__sb_addf(&b, ",\n  \"exit_code\": %d", st->exit_code);
		else
			shim__sb_addf(&b, ",\n  \"exit_code\": null");
		if (st->signal > 0)
			shim__sb_addf(&b, ",\n  \"signal\": %d", st->signal);
		else
			shim__sb_addf(&b, ",\n  \"signal\": null");
	}
	add_time(&b, "finished_at", st->finished_at);
	if (st->status == SHIM_ST_FAILED) {
		/* The reason may quote user input (a path): keep it UTF-8. */
		char e[sizeof(st->error)];
		size_t n = strnlen(st->error, sizeof(e) - 1);
		memcpy(e, st->error, n);
		e[n] = '\0';
		if (!shim__utf8_valid(e, n))
			for (size_t i = 0; i < n; i++)
				if ((unsigned char)e[i] >= 0x80)
					e[i] = '?';
		shim__sb_adds(&b, ",\n  \"error\": ");
		shim__sb_add_jstr(&b, e);
	}
	shim__sb_adds(&b, "\n}\n");
	rc = shim__write_file_at(dirfd, SHIM_STATE_FILE, b.p, b.len, 0644, err);
	free(b.p);
	return rc;
}

/* Copies a string value into a fixed field; times must fit exactly, an
 * error message is cut at a UTF-8 boundary. */
static int string_field(struct shim__json *j, const char *name, char *dst, size_t cap, bool truncate)
{
	char *s;
	size_t n;

	if (shim__json_null(j)) {
		dst[0] = '\0';
		return 0;
	}
	if (shim__json_string(j, name, SHIM_STATE_MAX_BYTES, &s, &n) < 0)
		return -1;
	if (n >= cap && !truncate) {
		free(s);
		return shim__json_fail(j, "%s: longer than %zu bytes", name, cap - 1);
	}
	if (n >= cap) {
		n = cap - 1;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	free(s);
	return 0;
}

static int parse_state(struct shim__json *j, struct shim_state *out)
{
	bool first = true;
	char key[32];
	long long v;
	int r;

	if (shim__json_expect(j, '{') < 0)
		return -1;
	while ((r = shim__json_member(j, &first, key, sizeof(key))) > 0) {
		if (strcmp(key, "shim_pid") == 0 || strcmp(key, "pid") == 0 || strcmp(key, "pgid") == 0) {
			if (shim__json_int(j, key, 0, INT_MAX, &v) < 0)
				return -1;
			if (strcmp(key, "shim_pid") == 0)
				out->shim_pid = (pid_t)v;
			else if (strcmp(key, "pid") == 0)
				out->pid = (pid_t)v;
			else
				out->pgid = (pid_t)v;
		} else if (strcmp(key, "shim_start_time") == 0 || strcmp(key, "start_time") == 0) {
			if (shim__json_int(j, key, 0, LLONG_MAX, &v) < 0)
				return -1;
			if (strcmp(key, "start_time") == 0)
				out->start_time = (unsigned long long)v;
			else
				out->shim_start_time = (unsigned long long)v;
		} else if (strcmp(key, "exit_code") == 0) {
			out->exit_code = -1;
			if (!shim__json_null(j)) {
				if (shim__json_int(j, key, 0, 255, &v) < 0)
					return -1;
				out->exit_code = (int)v;
			}
		} else if (strcmp(key, "signal") == 0) {
			out->signal = 0;
			if (!shim__json_null(j)) {
				if (shim__json_int(j, key, 1, 64, &v) < 0)
					return -1;
				out->signal = (int)v;
			}
		} else if (strcmp(key, "status") == 0) {
			char s[16];
			if (string_field(j, key, s, sizeof(s), true) < 0)
				return -1;
			out->status = SHIM_ST_UNKNOWN;
			for (int i = SHIM_ST_RUNNING; i <= SHIM_ST_FAILED; i++)
				if (strcmp(s, status_names[i]) == 0)
					out->status = i;
			if (out->status == SHIM_ST_UNKNOWN)
				return shim__json_fail(j, "status: unknown \"%s\"", shim__printable(s));
		} else if (strcmp(key, "started_at") == 0) {
			if (string_field(j, key, out->started_at, sizeof(out->started_at), false) < 0)
				return -1;
		} else if (strcmp(key, "stop_requested_at") == 0) {
			if (string_field(j, key, out->stop_requested_at, sizeof(out->stop_requested_at), false) < 0)
				return -1;
		} else if (strcmp(key, "finished_at") == 0) {
			if (string_field(j, key, out->finished_at, sizeof(out->finished_at), false) < 0)
				return -1;
		} else if (strcmp(key, "error") == 0) {
			if (string_field(j, key, out->error, sizeof(out->error), true) < 0)
				return -1;
		} else if (shim__json_skip(j) < 0) {
			/* Keys from a newer shim are skipped, not refused. */
			return -1;
		}
	}
	if (r < 0 || shim__json_end(j) < 0)
		return -1;
	if (out->status == SHIM_ST_UNKNOWN)
		return shim__json_fail(j, "missing \"status\"");
	return 0;
}

int shim_state_read(const char *dir, struct shim_state *out, char **err)
{
	char *buf, *path;
	size_t len;
	struct shim__json j;
	int rc;

	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	*err = NULL;
	path = shim__asprintf("%s/%s", dir, SHIM_STATE_FILE);
	rc = shim__read_file_at(AT_FDCWD, path, SHIM_STATE_MAX_BYTES, &buf, &len, err);
	free(path);
	if (rc < 0) {
		if (rc == -ENOENT) {
			free(*err);
			*err = NULL;
		}
		return rc;
	}
	shim__json_init(&j, SHIM_STATE_FILE, buf, len);
	if (parse_state(&j, out) < 0) {
		*err = j.err;
		free(buf);
		memset(out, 0, sizeof(*out));
		out->exit_code = -1;
		return -EINVAL;
	}
	free(buf);
	return 0;
}

/* ---- /proc ---- */

int shim_proc_read(pid_t pid, struct shim_proc *out)
{
	char path[32], buf[1024];
	ssize_t n;
	int fd;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	if (n == 0)
		return -ENOENT; /* the process went away between open and read */
	buf[n] = '\0';
	/* "PID (COMM) S PPID PGRP ...": COMM may hold spaces and ')', so
	 * the fields start after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -EINVAL;
	p += 2;
	out->state = *p++;
	unsigned long long f[20]; /* fields 4..22 land in f[4..22 - 3] */
	int field = 4;
	while (field <= 22) {
		if (*p != ' ')
			return -EINVAL;
		p++;
		bool neg = *p == '-'; /* tty_nr, tpgid, priority and nice may be negative */
		if (neg)
			p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned long long v = 0;
		while (*p >= '0' && *p <= '9')
			v = v * 10 + (unsigned)(*p++ - '0');
		f[field - 3] = neg ? 0 : v;
		field++;
	}
	out->ppid = (pid_t)f[4 - 3];
	out->pgid = (pid_t)f[5 - 3];
	out->start_time = f[22 - 3];
	return 0;
}

bool shim_pid_alive(pid_t pid, unsigned long long start_time)
{
	struct shim_proc p;

	if (shim_proc_read(pid, &p) < 0)
		return false;
	return p.start_time == start_time && p.state != 'Z' && p.state != 'X' && p.state != 'x';
}

int shim_handshake_parse(const char *line, pid_t *pid, const char **reason)
{
	if (strncmp(line, "started ", 8) == 0) {
		const char *p = line + 8;
		long long v = 0;
		if (*p < '1' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9' && v <= INT_MAX)
			v = v * 10 + (*p++ - '0');
		if (v > INT_MAX || (*p && strcmp(p, "\n") != 0))
			return -1;
		*pid = (pid_t)v;
		return 0;
	}
	if (strncmp(line, "failed: ", 8) == 0) {
		*reason = line + 8;
		return 1;
	}
	return -1;
}
