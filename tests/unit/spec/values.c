/* Tests for src/spec/values.c: duration formatting, byte sizes, signals, command lines, ports, expose, volumes, paths. */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "spec/spec-int.h"

TestSuite(spec_values, .timeout = 10);

Test(spec_values, durations_format_round_trip)
{
	static const uint64_t v[] = {0, 1, 999, 1000, 1500, 60000, 90000, 3600000, 3723004, 86400000};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char buf[64];
		uint64_t back;
		spec__duration_format(v[i], buf, sizeof(buf));
		cr_expect_eq(duration_parse_go(buf, &back), 0, "%s", buf);
		cr_expect_eq(back, v[i], "%s", buf);
	}
	{
		char buf[64];
		spec__duration_format(90000, buf, sizeof(buf));
		cr_expect_str_eq(buf, "1m30s");
		spec__duration_format(0, buf, sizeof(buf));
		cr_expect_str_eq(buf, "0s");
	}
}

Test(spec_values, byte_units)
{
	static const struct {
		const char *in;
		uint64_t v;
	} ok[] = {
		{"0", 0},
		{"512", 512},
		{"512b", 512},
		{"64k", 65536},
		{"64kb", 65536},
		{"64KiB", 65536},
		{"512M", 536870912},
		{"512m", 536870912},
		{"1.5g", 1610612736},
		{"2GB", 2147483648ULL},
		{"1 g", 1073741824},
		{"1t", 1099511627776ULL},
	};
	static const char *const bad[] = {"", "M", "1x", "1.g", "-1", "1gg", "1bb", "1ib", "99999999999p"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t v = 7;
		cr_expect_eq(spec__bytes_parse(ok[i].in, &v), 0, "%s", ok[i].in);
		cr_expect_eq(v, ok[i].v, "%s: %llu", ok[i].in, (unsigned long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v;
		cr_expect_eq(spec__bytes_parse(bad[i], &v), -1, "accepted \"%s\"", bad[i]);
	}
}

Test(spec_values, signals)
{
	int s = 0;

	cr_expect(spec__signal_parse("SIGTERM", &s) == 0 && s == SIGTERM);
	cr_expect(spec__signal_parse("TERM", &s) == 0 && s == SIGTERM);
	cr_expect(spec__signal_parse("sigint", &s) == 0 && s == SIGINT);
	cr_expect(spec__signal_parse("9", &s) == 0 && s == 9);
	cr_expect(spec__signal_parse("SIGQUIT", &s) == 0 && s == SIGQUIT);
	cr_expect(spec__signal_parse("SIGUSR1", &s) == 0 && s == SIGUSR1);
	cr_expect_eq(spec__signal_parse("SIGFOO", &s), -1);
	cr_expect_eq(spec__signal_parse("0", &s), -1);
	cr_expect_eq(spec__signal_parse("65", &s), -1);
	cr_expect_eq(spec__signal_parse("15x", &s), -1);
	cr_expect_str_eq(spec_signal_name(SIGTERM), "SIGTERM");
	cr_expect_str_eq(spec_signal_name(SIGCHLD), "SIGCHLD");
	cr_expect_null(spec_signal_name(40));
}

static void split_is(const char *in, int n, ...)
{
	char **argv = NULL;
	const char *why = NULL;
	int argc = -1;
	va_list ap;

	cr_assert_eq(spec__shell_split(in, &argv, &argc, &why), 0, "%s: %s", in, why ? why : "");
	cr_expect_eq(argc, n, "%s: %d words", in, argc);
	va_start(ap, n);
	for (int i = 0; i < n && i < argc; i++)
		cr_expect_str_eq(argv[i], va_arg(ap, const char *), "%s: word %d", in, i);
	va_end(ap);
	cr_expect_null(argv[argc]);
	spec__argv_free(argv, argc);
}

Test(spec_values, shell_split)
{
	split_is("node server.js", 2, "node", "server.js");
	split_is("  a   b\tc\n", 3, "a", "b", "c");
	split_is("sh -c 'echo $HOME; exit 1'", 3, "sh", "-c", "echo $HOME; exit 1");
	split_is("echo \"a \\\"b\\\" \\$c \\d\"", 2, "echo", "a \"b\" $c \\d");
	split_is("a\\ b c", 2, "a b", "c");
	split_is("x''y \"\"", 2, "xy", "");
	split_is("--port ${PORT}", 2, "--port", "${PORT}");
	split_is("a;b|c", 1, "a;b|c");
	split_is("", 0);
	split_is("line\\\nnext", 1, "linenext");

	char **argv;
	int argc;
	const char *why;
	cr_expect_eq(spec__shell_split("echo 'open", &argv, &argc, &why), -1);
	cr_expect_eq(spec__shell_split("echo \"open", &argv, &argc, &why), -1);
	cr_expect_eq(spec__shell_split("trailing\\", &argv, &argc, &why), -1);
}

struct pexp {
	int target, published, published_end;
	const char *ip;
	enum spec_proto proto;
};

static void ports_are(const char *in, int n, const struct pexp *e)
{
	struct spec_port *p = NULL;
	char *why = NULL;
	int cnt = -1;

	cr_assert_eq(spec__port_parse(in, &p, &cnt, &why), 0, "%s: %s", in, why ? why : "(syntax)");
	cr_assert_eq(cnt, n, "%s: %d ports", in, cnt);
	for (int i = 0; i < n; i++) {
		cr_expect_eq(p[i].target, e[i].target, "%s[%d] target %d", in, i, p[i].target);
		cr_expect_eq(p[i].published, e[i].published, "%s[%d] published %d", in, i, p[i].published);
		cr_expect_eq(p[i].published_end, e[i].published_end, "%s[%d]", in, i);
		cr_expect_eq(p[i].protocol, e[i].proto, "%s[%d]", in, i);
		if (e[i].ip)
			cr_expect(p[i].host_ip && strcmp(p[i].host_ip, e[i].ip) == 0, "%s[%d] ip", in, i);
		else
			cr_expect_null(p[i].host_ip, "%s[%d] ip", in, i);
		spec__port_clear(&p[i]);
	}
	free(p);
}

Test(spec_values, ports_short_syntax)
{
	ports_are("3000", 1, (struct pexp[]){{3000, 0, 0, NULL, SPEC_PROTO_TCP}});
	ports_are("8080:3000", 1, (struct pexp[]){{3000, 8080, 0, NULL, SPEC_PROTO_TCP}});
	ports_are("127.0.0.1:8080:3000/udp", 1, (struct pexp[]){{3000, 8080, 0, "127.0.0.1", SPEC_PROTO_UDP}});
	ports_are("127.0.0.1::3000", 1, (struct pexp[]){{3000, 0, 0, "127.0.0.1", SPEC_PROTO_TCP}});
	ports_are("[::1]:8080:80", 1, (struct pexp[]){{80, 8080, 0, "::1", SPEC_PROTO_TCP}});
	ports_are("3000/tcp", 1, (struct pexp[]){{3000, 0, 0, NULL, SPEC_PROTO_TCP}});
	ports_are("3000-3002", 3,
		  (struct pexp[]){{3000, 0, 0, NULL, 0}, {3001, 0, 0, NULL, 0}, {3002, 0, 0, NULL, 0}});
	ports_are("9000-9001:3000-3001", 2, (struct pexp[]){{3000, 9000, 0, NULL, 0}, {3001, 9001, 0, NULL, 0}});
	ports_are("8000-8010:80", 1, (struct pexp[]){{80, 8000, 8010, NULL, 0}});
	ports_are("8000-8000:80", 1, (struct pexp[]){{80, 8000, 0, NULL, 0}});
}

Test(spec_values, ports_short_syntax_errors)
{
	static const struct {
		const char *in;
		const char *why; /* substring of the reason; NULL: plain syntax error */
	} bad[] = {
		{"80:abc", NULL},
		{"abc", NULL},
		{"", NULL},
		{":3000", NULL},
		{"1:2:3:4", NULL},
		{"::1:80:80", NULL},
		{"70000:80", "out of 1..65535"},
		{"0:80", "out of 1..65535"},
		{"80/sctp", "tcp and udp"},
		{"80/", NULL},
		{"8000-8001:3000-3005", "host range has 2 ports"},
		{"8000:3000-3001", "host range has 1 ports"},
		{"3005-3000", "ends before it starts"},
		{"1-2000", "at most 1024"},
		{"999.1.1.1:80:80", "not an IP address"},
		{"[::1]8080:80", NULL},
		{"80-", NULL},
		{"8080:3000 ", NULL},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct spec_port *p = NULL;
		char *why = NULL;
		int cnt;
		cr_expect_eq(spec__port_parse(bad[i].in, &p, &cnt, &why), -1, "accepted \"%s\"", bad[i].in);
		if (bad[i].why)
			cr_expect(why && strstr(why, bad[i].why), "\"%s\": reason \"%s\"", bad[i].in, why ? why : "");
		else
			cr_expect_null(why, "\"%s\": %s", bad[i].in, why);
		free(why);
		free(p);
	}
}

Test(spec_values, expose)
{
	struct spec_expose *e;
	char *why;
	int n;

	cr_assert_eq(spec__expose_parse("3000-3002/udp", &e, &n, &why), 0);
	cr_expect_eq(n, 3);
	cr_expect(e[0].port == 3000 && e[2].port == 3002 && e[1].protocol == SPEC_PROTO_UDP);
	free(e);
	cr_expect_eq(spec__expose_parse("8080:80", &e, &n, &why), -1);
	free(why);
}

Test(spec_values, volumes_short_syntax)
{
	struct spec_volume v = {0};
	char *why = NULL;

	cr_assert_eq(spec__volume_parse("./data:/data:ro", &v, &why), 0);
	cr_expect_eq(v.type, SPEC_VOL_BIND);
	cr_expect_str_eq(v.source, "./data");
	cr_expect_str_eq(v.target, "/data");
	cr_expect(v.read_only && v.create_host_path);
	spec__volume_clear(&v);

	cr_assert_eq(spec__volume_parse("cache:/var/cache:rw,nocopy", &v, &why), 0);
	cr_expect_eq(v.type, SPEC_VOL_VOLUME);
	cr_expect(!v.read_only && v.nocopy);
	spec__volume_clear(&v);

	cr_assert_eq(spec__volume_parse("/tmp/x", &v, &why), 0);
	cr_expect(v.type == SPEC_VOL_VOLUME && !v.source);
	spec__volume_clear(&v);

	cr_assert_eq(spec__volume_parse("/srv:/srv:ro,z,rshared", &v, &why), 0);
	cr_expect_str_eq(v.selinux, "z");
	cr_expect_str_eq(v.propagation, "rshared");
	spec__volume_clear(&v);

	static const char *const bad[] = {"data", "a:b", ":/x", "./a:/b:xx", "./a:/b:", "a:/b:c:d",
					  "vol:/x:z", "./a:/b:nocopy"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(spec__volume_parse(bad[i], &v, &why), -1, "accepted \"%s\"", bad[i]);
		cr_expect_not_null(why, "%s", bad[i]);
		free(why);
		why = NULL;
		spec__volume_clear(&v);
	}
}

Test(spec_values, paths)
{
	static const struct {
		const char *dir, *p, *want;
	} v[] = {
		{"/proj", "./data", "/proj/data"},
		{"/proj", "data/../logs/", "/proj/logs"},
		{"/proj", "/abs//x/./y", "/abs/x/y"},
		{"/proj/a", "../../../..", "/"},
		{"/", ".", "/"},
		{"/proj", "../other", "/other"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *r = spec__path_resolve(v[i].dir, v[i].p);
		cr_expect_str_eq(r, v[i].want, "%s + %s", v[i].dir, v[i].p);
		free(r);
	}
}
