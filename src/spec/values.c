/* Compose's string forms: durations, byte sizes, signals, command lines, ports, volumes, paths. */
#include "spec/spec-int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

/* ---- durations ---- */

void spec__duration_format(uint64_t ms, char *dst, size_t cap)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} parts[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	size_t o = 0;

	if (ms == 0) {
		snprintf(dst, cap, "0s");
		return;
	}
	dst[0] = '\0';
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && o < cap; i++) {
		uint64_t v = ms / parts[i].ms;
		if (!v)
			continue;
		ms -= v * parts[i].ms;
		o += (size_t)snprintf(dst + o, cap - o, "%llu%s", (unsigned long long)v, parts[i].unit);
	}
}

/* ---- byte sizes ---- */

int spec__bytes_parse(const char *s, uint64_t *out)
{
	static const char units[] = "bkmgtp";
	uint64_t whole = 0, frac = 0, den = 1, mult = 1;
	const char *p = s;
	unsigned __int128 v;
	const char *u;

	if (!(*p >= '0' && *p <= '9'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > UINT64_MAX / 10 - 10)
			return -1;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		if (!(p[1] >= '0' && p[1] <= '9'))
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (den < 1000000000000000000ULL) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				den *= 10;
			}
		}
	}
	if (*p == ' ')
		p++;
	if (*p) {
		u = strchr(units, tolower((unsigned char)*p));
		if (!u)
			return -1;
		for (int i = 0; i < u - units; i++)
			mult *= 1024;
		p++;
		/* "k", "kb", "kib"; a bare "b" takes no more letters */
		if (u != units && (*p == 'i' || *p == 'I'))
			p++;
		if (u != units && (*p == 'b' || *p == 'B'))
			p++;
		if (*p)
			return -1;
	}
	v = (unsigned __int128)whole * mult + (unsigned __int128)frac * mult / den;
	if (v > (unsigned __int128)INT64_MAX)
		return -1; /* JSON integers are signed */
	*out = (uint64_t)v;
	return 0;
}

/* ---- signals ---- */

static const struct {
	const char *name;
	int signo;
} signals[] = {
	{"SIGHUP", SIGHUP}, {"SIGINT", SIGINT}, {"SIGQUIT", SIGQUIT}, {"SIGILL", SIGILL},
	{"SIGTRAP", SIGTRAP}, {"SIGABRT", SIGABRT}, {"SIGBUS", SIGBUS}, {"SIGFPE", SIGFPE},
	{"SIGKILL", SIGKILL}, {"SIGUSR1", SIGUSR1}, {"SIGSEGV", SIGSEGV}, {"SIGUSR2", SIGUSR2},
	{"SIGPIPE", SIGPIPE}, {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM}, {"SIGSTKFLT", SIGSTKFLT},
	{"SIGCHLD", SIGCHLD}, {"SIGCONT", SIGCONT}, {"SIGSTOP", SIGSTOP}, {"SIGTSTP", SIGTSTP},
	{"SIGTTIN", SIGTTIN}, {"SIGTTOU", SIGTTOU}, {"SIGURG", SIGURG}, {"SIGXCPU", SIGXCPU},
	{"SIGXFSZ", SIGXFSZ}, {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF}, {"SIGWINCH", SIGWINCH},
	{"SIGIO", SIGIO}, {"SIGPWR", SIGPWR}, {"SIGSYS", SIGSYS},
	/* aliases after the names they alias, so spec_signal_name() finds the usual one */
	{"SIGIOT", SIGIOT}, {"SIGPOLL", SIGPOLL}, {"SIGCLD", SIGCHLD},
};

int spec__signal_parse(const char *s, int *signo)
{
	if (*s >= '0' && *s <= '9') {
		char *end;
		long v = strtol(s, &end, 10);
		if (*end || v < 1 || v > 64)
			return -1;
		*signo = (int)v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (strcasecmp(s, signals[i].name) == 0 || strcasecmp(s, signals[i].name + 3) == 0) {
			*signo = signals[i].signo;
			return 0;
		}
	}
	return -1;
}

const char *spec_signal_name(int signo)
{
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signals[i].signo == signo)
			return signals[i].name;
	return NULL;
}

/* ---- command lines ---- */

void spec__argv_free(char **argv, int argc)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

int spec__shell_split(const char *s, char ***argvp, int *argcp, const char **why)
{
	size_t len = strlen(s);
	char *word = xmalloc(len + 1);
	char **argv = NULL;
	int argc = 0, cap = 0;

	for (const char *p = s;;) {
		size_t o = 0;
		bool have = false;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		while (*p && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
			have = true;
			if (*p == '\'') {
				const char *q = strchr(p + 1, '\'');
				if (!q) {
					*why = "a ' is not closed";
					goto fail;
				}
				memcpy(word + o, p + 1, (size_t)(q - p - 1));
				o += (size_t)(q - p - 1);
				p = q + 1;
			} else if (*p == '"') {
				for (p++; *p && *p != '"'; p++) {
					/* POSIX: inside "...", \ escapes only these */
					if (*p == '\\' && p[1] && strchr("\"\\$`\n", p[1]))
						p++;
					word[o++] = *p;
				}
				if (!*p) {
					*why = "a \" is not closed";
					goto fail;
				}
				p++;
			} else if (*p == '\\') {
				if (!p[1]) {
					*why = "it ends with a lone \\";
					goto fail;
				}
				if (p[1] != '\n')
					word[o++] = p[1];
				p += 2;
			} else {
				word[o++] = *p++;
			}
		}
		if (!have)
			continue;
		if (argc + 1 >= cap) {
			cap = cap ? 2 * cap : 8;
			argv = xrealloc(argv, (size_t)cap * sizeof(*argv));
		}
		argv[argc++] = xstrndup(word, o);
		argv[argc] = NULL;
	}
	free(word);
	if (!argv)
		argv = XNEWV(char *, 1);
	*argvp = argv;
	*argcp = argc;
	return 0;
fail:
	free(word);
	spec__argv_free(argv, argc);
	return -1;
}

/* ---- ports ---- */

bool spec__is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

void spec__port_clear(struct spec_port *p)
{
	free(p->host_ip);
	free(p->name);
	free(p->app_protocol);
	memset(p, 0, sizeof(*p));
}

/* "80" or "80-90" within 1..65535, [s, e) of the text. 0, -1 (not a
 * number or range at all) or -2 (out of range, message in *why). */
static int parse_range(const char *s, const char *e, int *lo, int *hi, char **why)
{
	long v[2] = {0, 0};
	int n = 0;

	for (const char *p = s;; n++) {
		const char *q = p;
		long x = 0;
		if (n == 2)
			return -1;
		for (; q < e && *q >= '0' && *q <= '9'; q++)
			if ((x = x * 10 + (*q - '0')) > 100000)
				x = 100000; /* saturate; reported below */
		if (q == p)
			return -1;
		v[n] = x;
		if (q == e)
			break;
		if (*q != '-')
			return -1;
		p = q + 1;
	}
	if (n == 0)
		v[1] = v[0];
	for (int i = 0; i < 2; i++) {
		if (v[i] < 1 || v[i] > 65535) {
			*why = xasprintf("port %ld is out of 1..65535", v[i]);
			return -2;
		}
	}
	if (v[1] < v[0]) {
		*why = xasprintf("range %ld-%ld ends before it starts", v[0], v[1]);
		return -2;
	}
	if (v[1] - v[0] >= SPEC_MAX_RANGE) {
		*why = xasprintf("berth takes ranges of at most %d ports", SPEC_MAX_RANGE);
		return -2;
	}
	*lo = (int)v[0];
	*hi = (int)v[1];
	return 0;
}

/* Splits off "/tcp" or "/udp". 0, -1 (no such form) or -2 (*why). */
static int split_proto(const char *s, const char **end, enum spec_proto *proto, char **why)
{
	const char *slash = strrchr(s, '/');

	*proto = SPEC_PROTO_TCP;
	*end = s + strlen(s);
	if (!slash)
		return 0;
	*end = slash;
	if (strcmp(slash + 1, "tcp") == 0)
		return 0;
	if (strcmp(slash + 1, "udp") == 0) {
		*proto = SPEC_PROTO_UDP;
		return 0;
	}
	if (!slash[1])
		return -1;
	*why = xasprintf("protocol \"%s\": berth supports tcp and udp", slash + 1);
	return -2;
}

int spec__port_parse(const char *s, struct spec_port **ports, int *n, char **why)
{
	const char *end, *hs, *he, *cs;
	char *ip = NULL;
	enum spec_proto proto;
	int rc, clo, chi, hlo = 0, hhi = 0;
	bool host = false;

	*why = NULL;
	*ports = NULL;
	*n = 0;
	if ((rc = split_proto(s, &end, &proto, why)) < 0)
		return -1;
	if (*s == '[') {
		/* [IPv6]:HOST:CONTAINER, the only way to write a v6 address here */
		const char *rb = memchr(s, ']', (size_t)(end - s));
		if (!rb || rb[1] != ':')
			return -1;
		ip = xstrndup(s + 1, (size_t)(rb - s - 1));
		hs = rb + 2;
		cs = memchr(hs, ':', (size_t)(end - hs));
		if (!cs)
			goto bad;
		he = cs++;
		host = true;
	} else {
		const char *c1 = memchr(s, ':', (size_t)(end - s));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		if (c2 && memchr(c2 + 1, ':', (size_t)(end - c2 - 1)))
			goto bad; /* an IPv6 address without brackets, or junk */
		if (c2) {
			ip = xstrndup(s, (size_t)(c1 - s));
			hs = c1 + 1;
			he = c2;
			cs = c2 + 1;
			host = true;
		} else if (c1) {
			hs = s;
			he = c1;
			cs = c1 + 1;
			host = true;
			if (hs == he)
				goto bad; /* ":3000": say the host port, or leave the colon out */
		} else {
			hs = he = NULL;
			cs = s;
		}
	}
	if (ip && !spec__is_ip(ip)) {
		*why = xasprintf("\"%s\" is not an IP address", ip);
		goto bad;
	}
	if ((rc = parse_range(cs, end, &clo, &chi, why)) < 0)
		goto bad;
	/* An empty host part ("127.0.0.1::3000") lets berth choose. */
	if (host && hs != he && (rc = parse_range(hs, he, &hlo, &hhi, why)) < 0)
		goto bad;
	if (hlo && chi > clo && hhi - hlo != chi - clo) {
		*why = xasprintf("the host range has %d ports and the container range %d", hhi - hlo + 1,
				 chi - clo + 1);
		goto bad;
	}
	*n = chi - clo + 1;
	*ports = XNEWV(struct spec_port, (size_t)*n);
	for (int i = 0; i < *n; i++) {
		struct spec_port *p = &(*ports)[i];
		p->target = clo + i;
		p->protocol = proto;
		p->host_ip = ip ? xstrdup(ip) : NULL;
		if (hlo && chi > clo) {
			p->published = hlo + i;
		} else if (hlo) {
			p->published = hlo;
			p->published_end = hhi > hlo ? hhi : 0;
		}
	}
	free(ip);
	return 0;
bad:
	free(ip);
	return -1;
}

int spec__expose_parse(const char *s, struct spec_expose **out, int *n, char **why)
{
	const char *end;
	enum spec_proto proto;
	int lo, hi;

	*why = NULL;
	*out = NULL;
	*n = 0;
	if (split_proto(s, &end, &proto, why) < 0 || parse_range(s, end, &lo, &hi, why) < 0)
		return -1;
	*n = hi - lo + 1;
	*out = XNEWV(struct spec_expose, (size_t)*n);
	for (int i = 0; i < *n; i++)
		(*out)[i] = (struct spec_expose){lo + i, proto};
	return 0;
}

/* ---- volumes ---- */

void spec__volume_clear(struct spec_volume *v)
{
	free(v->source);
	free(v->target);
	free(v->propagation);
	free(v->selinux);
	free(v->subpath);
	memset(v, 0, sizeof(*v));
}

static bool is_host_path(const char *s)
{
	return *s == '/' || *s == '.' || *s == '~';
}

int spec__volume_parse(const char *s, struct spec_volume *v, char **why)
{
	static const char *const propagations[] = {"shared", "rshared", "slave", "rslave",
						   "private", "rprivate", NULL};
	const char *c1 = strchr(s, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char *mode = NULL;
	int rc = -1;

	*why = NULL;
	v->create_host_path = true;
	if (c2 && strchr(c2 + 1, ':')) {
		*why = xasprintf("too many ':'");
		return -1;
	}
	if (!c1) {
		/* "/data": an anonymous volume */
		v->type = SPEC_VOL_VOLUME;
		v->target = xstrdup(s);
	} else {
		if (c1 == s) {
			*why = xasprintf("the source before ':' is empty");
			return -1;
		}
		v->source = xstrndup(s, (size_t)(c1 - s));
		v->target = c2 ? xstrndup(c1 + 1, (size_t)(c2 - c1 - 1)) : xstrdup(c1 + 1);
		v->type = is_host_path(v->source) ? SPEC_VOL_BIND : SPEC_VOL_VOLUME;
		if (c2)
			mode = xstrdup(c2 + 1);
	}
	if (v->target[0] != '/') {
		*why = xasprintf("the target \"%s\" is not an absolute path", v->target);
		goto out;
	}
	for (char *save = NULL, *opt = mode ? strtok_r(mode, ",", &save) : NULL; opt;
	     opt = strtok_r(NULL, ",", &save)) {
		bool known = false;
		if (strcmp(opt, "ro") == 0 || strcmp(opt, "rw") == 0) {
			v->read_only = opt[1] == 'o';
			continue;
		}
		if (strcmp(opt, "z") == 0 || strcmp(opt, "Z") == 0) {
			free(v->selinux);
			v->selinux = xstrdup(opt);
			continue;
		}
		if (strcmp(opt, "nocopy") == 0) {
			v->nocopy = true;
			continue;
		}
		/* Docker Desktop's consistency hints: accepted, meaningless on Linux. */
		if (strcmp(opt, "cached") == 0 || strcmp(opt, "delegated") == 0 ||
		    strcmp(opt, "consistent") == 0)
			continue;
		for (int i = 0; propagations[i]; i++) {
			if (strcmp(opt, propagations[i]) == 0) {
				free(v->propagation);
				v->propagation = xstrdup(opt);
				known = true;
			}
		}
		if (!known) {
			*why = xasprintf("unknown mode \"%s\" (ro, rw, z, Z, nocopy, shared, rshared, "
					 "slave, rslave, private, rprivate)", opt);
			goto out;
		}
	}
	if (mode && !*mode) {
		*why = xasprintf("the mode after the last ':' is empty");
		goto out;
	}
	if (v->type != SPEC_VOL_BIND && (v->propagation || v->selinux)) {
		*why = xasprintf("propagation and SELinux modes apply to host paths only");
		goto out;
	}
	if (v->type != SPEC_VOL_VOLUME && v->nocopy) {
		*why = xasprintf("nocopy applies to named volumes only");
		goto out;
	}
	rc = 0;
out:
	free(mode);
	return rc;
}

/* ---- paths ---- */

char *spec__path_resolve(const char *dir, const char *p)
{
	char *joined = *p == '/' ? xstrdup(p) : xasprintf("%s/%s", dir, p);
	char *out = xmalloc(strlen(joined) + 2);
	size_t o = 0;

	/* Segment by segment: "." vanishes, ".." drops the last kept one (never
	 * above the root, as the kernel does), empty ones from "//" vanish. */
	for (char *save = NULL, *seg = strtok_r(joined, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		if (strcmp(seg, ".") == 0)
			continue;
		if (strcmp(seg, "..") == 0) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		out[o++] = '/';
		memcpy(out + o, seg, strlen(seg));
		o += strlen(seg);
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	free(joined);
	return out;
}
