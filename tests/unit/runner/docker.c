/* Unit tests for the docker driver's pure parts (src/runner/drivers/docker_wire.c):
 * the frame demuxer, CRI records from frames, progress streams, the tar
 * writer, names, DOCKER_HOST and the create body. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "runner/drivers/docker.h"

/* ---- frames ---- */

struct frames {
	char text[2][4096];          /* per stream, everything delivered */
	int firsts;                  /* frames started */
};

static void on_frame(void *ctx, int stream, bool first, const char *p, size_t n)
{
	struct frames *f = ctx;

	cr_assert(stream == 1 || stream == 2);
	f->firsts += first;
	strncat(f->text[stream - 1], p, n);
}

static size_t frame(char *out, int stream, const char *text)
{
	size_t n = strlen(text);

	out[0] = (char)stream;
	out[1] = out[2] = out[3] = 0;
	out[4] = (char)(n >> 24);
	out[5] = (char)(n >> 16);
	out[6] = (char)(n >> 8);
	out[7] = (char)n;
	memcpy(out + 8, text, n);
	return n + 8;
}

Test(docker_demux, frames_split_at_every_byte)
{
	char stream[256];
	size_t n = frame(stream, 1, "hello\n");
	n += frame(stream + n, 2, "oops\n");
	n += frame(stream + n, 1, "");
	n += frame(stream + n, 1, "world");

	for (size_t cut = 0; cut <= n; cut++) {
		struct docker__demux d;
		struct frames f = {0};
		docker__demux_init(&d);
		cr_assert_eq(docker__demux_feed(&d, stream, cut, on_frame, &f), 0);
		cr_assert_eq(docker__demux_feed(&d, stream + cut, n - cut, on_frame, &f), 0);
		cr_assert_str_eq(f.text[0], "hello\nworld", "cut at %zu", cut);
		cr_assert_str_eq(f.text[1], "oops\n");
		cr_assert_eq(f.firsts, 3, "an empty frame is not delivered");
		docker__demux_free(&d);
	}
}

Test(docker_demux, bad_header_stops_reading)
{
	struct docker__demux d;
	struct frames f = {0};
	const char tty[] = "plain text from a TTY\n";

	docker__demux_init(&d);
	cr_assert_eq(docker__demux_feed(&d, tty, sizeof(tty) - 1, on_frame, &f), -1);
	cr_assert_eq(docker__demux_feed(&d, tty, sizeof(tty) - 1, on_frame, &f), -1);
	cr_assert_eq(f.firsts, 0);
	docker__demux_free(&d);
}

static size_t got;
static int firsts;

static void count(void *ctx, int s, bool first, const char *p, size_t n)
{
	got += n;
	firsts += first;
	cr_assert_leq(n, DOCKER_FRAME_MAX);
}

Test(docker_demux, big_frame_in_pieces)
{
	size_t big = DOCKER_FRAME_MAX * 2 + 10;
	char *stream = xmalloc(big + 8);
	struct docker__demux d;

	stream[0] = 1;
	stream[1] = stream[2] = stream[3] = 0;
	stream[4] = (char)(big >> 24);
	stream[5] = (char)(big >> 16);
	stream[6] = (char)(big >> 8);
	stream[7] = (char)big;
	memset(stream + 8, 'x', big);
	docker__demux_init(&d);
	for (size_t off = 0; off < big + 8; off += 1000) {
		size_t k = big + 8 - off < 1000 ? big + 8 - off : 1000;
		cr_assert_eq(docker__demux_feed(&d, stream + off, k, count, NULL), 0);
	}
	cr_assert_eq(got, big);
	cr_assert_eq(firsts, 1);
	docker__demux_free(&d);
	free(stream);
}

/* ---- time ---- */

Test(docker_time, rfc3339_forms)
{
	struct timespec ts;

	cr_assert_eq(docker__parse_time("1970-01-01T00:00:00Z", 20, &ts), 0);
	cr_assert_eq(ts.tv_sec, 0);
	cr_assert_eq(docker__parse_time("2026-12-01T11:37:19.832325427Z", 30, &ts), 0);
	cr_assert_eq(ts.tv_sec, 1796125039);
	cr_assert_eq(ts.tv_nsec, 832325427);
	/* Go's RFC3339Nano drops trailing zeros. */
	cr_assert_eq(docker__parse_time("2026-12-01T11:37:19.8Z", 22, &ts), 0);
	cr_assert_eq(ts.tv_nsec, 800000000);
	cr_assert_eq(docker__parse_time("2026-12-01T12:37:19+01:00", 25, &ts), 0);
	cr_assert_eq(ts.tv_sec, 1796125039);
	cr_assert_eq(docker__parse_time("2026-13-01T11:37:19Z", 20, &ts), -1);
	cr_assert_eq(docker__parse_time("2026-12-01T11:37:19", 19, &ts), -1);
	cr_assert_eq(docker__parse_time("2026-12-01T11:37:19.Z", 21, &ts), -1);
	cr_assert_eq(docker__parse_time("garbage", 7, &ts), -1);
}

/* ---- CRI records ---- */

static char *logw_run(const char *const *frames, int n, const struct timespec *since)
{
	char path[] = "/tmp/berth-unit-dk-XXXXXX";
	int fd = mkstemp(path);
	struct docker__logw w;

	docker__logw_init(&w, fd, since);
	for (int i = 0; i < n; i++) {
		int stream = frames[i][0] == 'E' ? 2 : 1;
		const char *p = frames[i] + 1;
		docker__logw_frame(&w, stream, true, p, strlen(p));
	}
	docker__logw_finish(&w);
	close(fd);
	FILE *f = fopen(path, "r");
	char *text = xcalloc(1, 65536);
	size_t k = fread(text, 1, 65535, f);
	text[k] = 0;
	fclose(f);
	unlink(path);
	return text;
}

Test(docker_logw, frames_become_cri_records)
{
	const char *const frames[] = {
		"O2026-12-01T11:37:19.8Z hello\n",
		"E2026-12-01T11:37:20.000000001Z oops\n",
		"O2026-12-01T11:37:21Z part one ",
		"O2026-12-01T11:37:22Z and two\n",
		"O2026-12-01T11:37:23Z no newline",
	};
	char *text = logw_run(frames, 5, NULL);
	const char *want = "2026-12-01T11:37:19.800000000Z stdout F hello\n"
			   "2026-12-01T11:37:20.000000001Z stderr F oops\n"
			   "2026-12-01T11:37:22.000000000Z stdout F part one and two\n";

	cr_assert(strncmp(text, want, strlen(want)) == 0, "got:\n%s", text);
	/* The unfinished line ends the stream as an F record, stamped then. */
	const char *last = text + strlen(want);
	cr_assert_eq(strlen(last), SHIM_TIME_LEN + strlen(" stdout F no newline\n"), "got:\n%s", text);
	cr_assert_str_eq(last + SHIM_TIME_LEN, " stdout F no newline\n");
	free(text);
}

Test(docker_logw, since_skips_what_was_written)
{
	const char *const frames[] = {
		"O2026-12-01T11:37:19Z old\n",
		"O2026-12-01T11:37:20Z same time\n",
		"O2026-12-01T11:37:20.5Z new\n",
	};
	struct timespec since = {.tv_sec = 1796125040, .tv_nsec = 0};
	char *text = logw_run(frames, 3, &since);

	cr_assert_str_eq(text, "2026-12-01T11:37:20.500000000Z stdout F new\n", "got:\n%s", text);
	free(text);
}

Test(docker_logw, last_time_of_a_log_file)
{
	char path[] = "/tmp/berth-unit-dk-XXXXXX";
	int fd = mkstemp(path);
	const char text[] = "2026-12-01T11:37:19.800000000Z stdout F a\n2026-12-01T11:37:20.000000001Z stderr F b\n";
	struct timespec ts;

	cr_assert_eq(docker__log_last_time(path, &ts), -1, "an empty file has no record");
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	cr_assert_eq(docker__log_last_time(path, &ts), 0);
	cr_assert_eq(ts.tv_sec, 1796125040);
	cr_assert_eq(ts.tv_nsec, 1);
	unlink(path);
}

/* ---- progress ---- */

static char seen[4096];

static void on_text(void *ctx, const char *t)
{
	strcat(seen, t);
	strcat(seen, "|");
}

Test(docker_progress, pull_and_build_streams)
{
	struct docker__progress p;
	const char s[] = "{\"status\":\"Pulling from library/x\",\"id\":\"latest\"}\r\n"
			 "{\"status\":\"Downloading\",\"progress\":\"[==> ] 1MB/2MB\"}\n"
			 "not json\n"
			 "{\"stream\":\"Step 1/2 : FROM x\\n\"}\n"
			 "{\"aux\":{\"ID\":\"sha256:abc\"}}\n"
			 "{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"short\"}\n"
			 "{\"error\":\"second\"}";

	seen[0] = 0;
	docker__progress_init(&p);
	for (size_t i = 0; i < sizeof(s) - 1; i += 7)
		docker__progress_feed(&p, s + i, sizeof(s) - 1 - i < 7 ? sizeof(s) - 1 - i : 7, on_text, NULL);
	docker__progress_finish(&p, on_text, NULL);
	cr_assert_str_eq(seen, "Pulling from library/x|Downloading [==> ] 1MB/2MB|Step 1/2 : FROM x|");
	cr_assert_str_eq(p.error, "manifest unknown");
	cr_assert_str_eq(p.id, "sha256:abc");
	cr_assert_eq(p.lines, 6, "every JSON object, the first error kept");
	docker__progress_free(&p);
}

/* ---- tar ---- */

static unsigned long oct(const char *f, size_t n)
{
	char b[16] = {0};
	memcpy(b, f, n);
	return strtoul(b, NULL, 8);
}

Test(docker_tar, ustar_headers_and_checksums)
{
	struct buf b = {0};
	char longname[200];

	memset(longname, 'd', 120);
	strcpy(longname + 120, "/file.txt");
	cr_assert_eq(docker__tar_entry(&b, "dir", '5', 0755, 0, 1000, NULL, NULL), 0);
	cr_assert_eq(docker__tar_entry(&b, "dir/a.txt", '0', 0644, 5, 1000, NULL, "hello"), 0);
	cr_assert_eq(docker__tar_entry(&b, longname, '0', 0600, 1, 1000, NULL, "x"), 0);
	cr_assert_eq(docker__tar_entry(&b, "ln", '2', 0777, 0, 1000, "dir/a.txt", NULL), 0);
	memset(longname, 'e', 199);
	longname[199] = 0;
	cr_assert_eq(docker__tar_entry(&b, longname, '0', 0600, 0, 0, NULL, ""), -1, "no '/' to split at");
	docker__tar_end(&b);
	cr_assert_eq(b.data, 512 * (1 + 2 + 2 + 1) + 1024);
	const char *h = buf_ptr(&b);
	for (size_t off = 0; off < b.data - 1024;) {
		unsigned sum = 0;
		for (int i = 0; i < 512; i++)
			sum += (i >= 148 && i < 156) ? ' ' : (unsigned char)h[off + i];
		cr_assert_eq(oct(h + off + 148, 7), sum, "checksum at %zu", off);
		cr_assert_str_eq(h + off + 257, "ustar");
		size_t size = oct(h + off + 124, 11);
		off += 512 + (size + 511) / 512 * 512;
	}
	cr_assert_str_eq(h + 512 + 512, "hello");
	cr_assert_str_eq(h + 1536 + 345, "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
					 "dddddddddddddddddddddddddddddddddddddddddddd");
	cr_assert_str_eq(h + 1536, "file.txt");
	cr_assert_eq(h[2560 + 156], '2');
	cr_assert_str_eq(h + 2560 + 157, "dir/a.txt");
	buf_free(&b);
}

Test(docker_tar, a_directory_sorted)
{
	char dir[] = "/tmp/berth-unit-tar-XXXXXX";
	struct buf b = {0};
	char *err = NULL;

	cr_assert(mkdtemp(dir));
	char *p = xasprintf("%s/b.txt", dir);
	FILE *f = fopen(p, "w");
	fputs("bee", f);
	fclose(f);
	free(p);
	p = xasprintf("%s/a", dir);
	mkdir(p, 0755);
	free(p);
	p = xasprintf("%s/a/c.txt", dir);
	f = fopen(p, "w");
	fclose(f);
	cr_assert_eq(docker__tar_dir(dir, &b, &err), 0, "%s", err);
	const char *h = buf_ptr(&b);
	cr_assert_str_eq(h, "a");
	cr_assert_str_eq(h + 512, "a/c.txt");
	cr_assert_str_eq(h + 1024, "b.txt");
	cr_assert_str_eq(h + 1536, "bee");
	unlink(p);
	free(p);
	p = xasprintf("%s/a", dir);
	rmdir(p);
	free(p);
	p = xasprintf("%s/b.txt", dir);
	unlink(p);
	free(p);
	rmdir(dir);
	cr_assert_eq(docker__tar_dir(dir, &b, &err), -1);
	cr_assert(strstr(err, "cannot read"), "%s", err);
	free(err);
	buf_free(&b);
}

/* ---- names, hosts, statuses ---- */

Test(docker_names, container_and_image_names)
{
	char *a = docker__container_name("shop", "web", 2, "n1", "/var/lib/berth");
	char *b = docker__container_name("shop", "web", 2, "n1", "/tmp/other");
	struct spec_service s = {.name = "web"};

	cr_assert(strncmp(a, "berth-shop-web-2-", 17) == 0, "%s", a);
	cr_assert_eq(strlen(a), 17 + 8);
	cr_assert_str_neq(a, b, "two agents on one engine never share a name");
	char *i = docker__image_name("shop", &s);
	cr_assert_str_eq(i, "shop_web");
	free(i);
	s.image = "redis:7";
	i = docker__image_name("shop", &s);
	cr_assert_str_eq(i, "redis:7");
	free(i);
	free(a);
	free(b);
}

Test(docker_names, image_references)
{
	char *r, *t;

	docker__split_ref("busybox", &r, &t);
	cr_assert_str_eq(r, "busybox");
	cr_assert_str_eq(t, "latest");
	free(r), free(t);
	docker__split_ref("reg.local:5000/team/app:1.2", &r, &t);
	cr_assert_str_eq(r, "reg.local:5000/team/app");
	cr_assert_str_eq(t, "1.2");
	free(r), free(t);
	docker__split_ref("reg.local:5000/app", &r, &t);
	cr_assert_str_eq(r, "reg.local:5000/app");
	cr_assert_str_eq(t, "latest");
	free(r), free(t);
	docker__split_ref("app@sha256:abcd", &r, &t);
	cr_assert_str_eq(r, "app@sha256:abcd");
	cr_assert_null(t);
	free(r);
}

Test(docker_names, docker_host)
{
	char *base, *sock, *err = NULL;

	cr_assert_eq(docker__parse_host(NULL, &base, &sock, &err), 0);
	cr_assert_str_eq(base, "http://docker");
	cr_assert_str_eq(sock, "/var/run/docker.sock");
	free(base), free(sock);
	cr_assert_eq(docker__parse_host("tcp://10.0.0.1:2375", &base, &sock, &err), 0);
	cr_assert_str_eq(base, "http://10.0.0.1:2375");
	cr_assert_null(sock);
	free(base);
	cr_assert_eq(docker__parse_host("unix://relative.sock", &base, &sock, &err), -1);
	cr_assert(strstr(err, "absolute"), "%s", err);
	free(err);
	cr_assert_eq(docker__parse_host("ssh://host", &base, &sock, &err), -1);
	cr_assert(strstr(err, "ssh://host"), "%s", err);
	free(err);
}

Test(docker_names, exit_statuses)
{
	int code, sig;

	docker__exit_status(0, false, &code, &sig);
	cr_assert(code == 0 && sig == 0);
	docker__exit_status(3, true, &code, &sig);
	cr_assert(code == 3 && sig == 0);
	docker__exit_status(137, false, &code, &sig);
	cr_assert(code == -1 && sig == SIGKILL);
	docker__exit_status(143, true, &code, &sig);
	cr_assert(code == -1 && sig == SIGTERM);
	/* 143 from a program nobody signalled is its own exit code. */
	docker__exit_status(143, false, &code, &sig);
	cr_assert(code == 143 && sig == 0);
	char *e = docker__urlenc("{\"a\":\"b c/d\"}");
	cr_assert_str_eq(e, "%7B%22a%22%3A%22b%20c%2Fd%22%7D");
	free(e);
}

/* ---- the create body ---- */

Test(docker_create, service_mapping)
{
	struct spec_volume vols[] = {
		{.type = SPEC_VOL_BIND, .source = "/srv/data", .target = "/data", .read_only = true},
		{.type = SPEC_VOL_VOLUME, .source = "cache", .target = "/cache"},
		{.type = SPEC_VOL_VOLUME, .target = "/anon"},
		{.type = SPEC_VOL_TMPFS, .target = "/scratch", .tmpfs_size = 1048576},
	};
	struct spec_kv labels[] = {{.key = "team", .value = "blue"}, {.key = "berth.stack", .value = "forged"}};
	struct spec_volume_decl decls[] = {{.key = "cache", .name = "shop_cache"}};
	struct spec_service s = {
		.name = "web", .working_dir = "/app", .user = "1000:1000", .stop_signal = SIGQUIT,
		.stop_grace_period = 2500, .init = true, .volumes = vols, .nvolumes = 4, .labels = labels, .nlabels = 2,
	};
	s.deploy.limits = (struct spec_resources){.cpus = 0.5, .memory = 64 << 20, .pids = 50};
	struct driver_port ports[] = {{.target = 3000, .host = 31000}, {.target = 53, .host = 31001, .udp = true,
									   .host_ip = "127.0.0.1"}};
	char *env[] = {"A=1", NULL}, *cmd[] = {"node", "app.js", NULL};
	struct docker__create c = {
		.image = "app:1", .command = cmd, .env = env, .ports = ports, .nports = 2, .svc = &s,
		.volumes = decls, .nvolumes = 1, .stack = "shop", .service = "web", .index = 3, .node = "n1",
		.data_dir = "/var/lib/berth", .run = 7,
	};
	json_t *j = docker__create_body(&c);
	char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);

	cr_assert_str_eq(json_string_value(json_object_get(j, "Image")), "app:1");
	cr_assert_null(json_object_get(j, "Entrypoint"), "the image's entrypoint stays");
	cr_assert_eq(json_array_size(json_object_get(j, "Cmd")), 2);
	cr_assert_str_eq(json_string_value(json_object_get(j, "WorkingDir")), "/app");
	cr_assert_str_eq(json_string_value(json_object_get(j, "User")), "1000:1000");
	cr_assert_str_eq(json_string_value(json_object_get(j, "StopSignal")), "SIGQUIT");
	cr_assert_eq(json_integer_value(json_object_get(j, "StopTimeout")), 3);
	json_t *l = json_object_get(j, "Labels");
	cr_assert_str_eq(json_string_value(json_object_get(l, "team")), "blue");
	cr_assert_str_eq(json_string_value(json_object_get(l, "berth.stack")), "shop", "berth's labels win");
	cr_assert_str_eq(json_string_value(json_object_get(l, "berth.index")), "3");
	cr_assert_str_eq(json_string_value(json_object_get(l, "berth.run")), "7");
	cr_assert_str_eq(json_string_value(json_object_get(l, "berth.data-dir")), "/var/lib/berth");
	cr_assert(json_object_get(json_object_get(j, "ExposedPorts"), "3000/tcp"));
	json_t *hc = json_object_get(j, "HostConfig");
	json_t *pb = json_object_get(json_object_get(hc, "PortBindings"), "53/udp");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(pb, 0), "HostPort")), "31001");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(pb, 0), "HostIp")), "127.0.0.1");
	json_t *binds = json_object_get(hc, "Binds");
	cr_assert_str_eq(json_string_value(json_array_get(binds, 0)), "/srv/data:/data:ro");
	cr_assert_str_eq(json_string_value(json_array_get(binds, 1)), "shop_cache:/cache");
	cr_assert_eq(json_array_size(binds), 2);
	cr_assert(json_object_get(json_object_get(j, "Volumes"), "/anon"));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(hc, "Tmpfs"), "/scratch")), "size=1048576");
	cr_assert_eq(json_integer_value(json_object_get(hc, "Memory")), 64 << 20);
	cr_assert_eq(json_integer_value(json_object_get(hc, "NanoCpus")), 500000000);
	cr_assert_eq(json_integer_value(json_object_get(hc, "PidsLimit")), 50);
	cr_assert(json_is_true(json_object_get(hc, "Init")));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(hc, "RestartPolicy"), "Name")), "no");
	free(text);
	json_decref(j);
}
