/* berth dns: a standalone DNS server answering from a catalog file. */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "catalog/catalog.h"
#include "cli/cli.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "dns/dns.h"

struct dnscli {
	const char *path;            /* the catalog file */
	struct catalog *cat;         /* the one being served */
	struct dns_server *srv;
	uv_signal_t sighup, sigterm, sigint;
};

static void dns_usage(FILE *f)
{
	fprintf(f,
		"usage: berth dns --catalog FILE [options]\n"
		"\n"
		"Serves DNS for the endpoints listed in FILE (docs/dns.md): a JSON array of\n"
		"endpoint objects {\"stack\", \"service\", \"index\", \"addr\", \"port\", \"ports\",\n"
		"\"tags\", \"healthy\"} (healthy defaults to true here), and optional\n"
		"{\"declare\": {\"STACK\": [\"SVC\", ...]}} elements naming services that exist\n"
		"without endpoints. SIGHUP re-reads FILE (a bad file is refused and the\n"
		"running catalog kept); SIGTERM or SIGINT exits.\n"
		"\n"
		"options:\n"
		"  -c, --catalog FILE    the catalog file (required)\n"
		"  -a, --addr HOST:PORT  UDP and TCP address (default 127.0.0.1:8600)\n"
		"  -d, --domain NAME     the zone served (default berth.)\n"
		"      --ttl DURATION    TTL of answers, whole seconds (default 5s)\n"
		"      --neg-ttl DUR     TTL of negative answers (default: the --ttl)\n"
		"      --log-level LVL   error | warn | info (default) | debug\n"
		"      --log-format FMT  text (default) | json\n"
		"  -h, --help            this help\n");
}

/* Collects the services of a {"declare": {...}} element into <decl>
 * (stack -> array of names), so that several elements naming one stack
 * add up. Returns 0 or -1 with *err. */
static int add_declare(json_t *decl, json_t *v, size_t i, char **err)
{
	const char *stack;
	json_t *svcs;

	if (!json_is_object(v)) {
		*err = xasprintf("element %zu: declare: expected {\"STACK\": [\"SVC\", ...]}", i);
		return -1;
	}
	json_object_foreach(v, stack, svcs) {
		size_t k;
		json_t *name;
		if (!json_is_array(svcs)) {
			*err = xasprintf("element %zu: declare: %s: expected an array of service names", i, stack);
			return -1;
		}
		json_t *acc = json_object_get(decl, stack);
		if (!acc) {
			acc = json_array();
			json_object_set_new(decl, stack, acc);
		}
		json_array_foreach(svcs, k, name) {
			if (!json_is_string(name)) {
				*err = xasprintf("element %zu: declare: %s: expected service names (strings)", i, stack);
				return -1;
			}
			json_array_append(acc, name);
		}
	}
	return 0;
}

static bool numeric_ip(const char *s)
{
	unsigned char buf[16];

	return s && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

/* Reads <path> into a fresh catalog: the whole file, or nothing. Returns
 * it, or NULL with *err (heap). */
static struct catalog *load_catalog(const char *path, int *nendpoints, char **err)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *v, *decl = json_object();
	struct catalog *c = catalog_new();
	size_t i;
	int n = 0;

	if (!root) {
		*err = xasprintf("%s:%d:%d: %s", path, je.line, je.column, je.text);
		goto fail;
	}
	if (!json_is_array(root)) {
		*err = xasprintf("%s: expected a JSON array of endpoints", path);
		goto fail;
	}
	json_array_foreach(root, i, v) {
		struct catalog_endpoint ep;
		json_t *d = json_object_get(v, "declare");
		if (d) {
			char *e = NULL;
			if (add_declare(decl, d, i, &e) < 0) {
				*err = xasprintf("%s: %s", path, e);
				free(e);
				goto fail;
			}
			continue;
		}
		if (!json_is_object(v) || catalog_endpoint_from_json(v, &ep) < 0) {
			*err = xasprintf("%s: element %zu: expected an endpoint with \"stack\", \"service\" and "
					 "\"index\" >= 1, or {\"declare\": ...}",
					 path, i);
			goto fail;
		}
		if (!numeric_ip(ep.addr)) {
			*err = xasprintf("%s: element %zu: \"addr\": expected a numeric IPv4 or IPv6 address, got %s%s%s",
					 path, i, ep.addr ? "'" : "", ep.addr ? ep.addr : "nothing", ep.addr ? "'" : "");
			catalog_endpoint_clear(&ep);
			goto fail;
		}
		/* A static file lists what should answer: healthy unless it
		 * says otherwise (the agent's catalog always says). */
		if (!json_object_get(v, "healthy"))
			ep.healthy = true;
		catalog_put(c, &ep);
		catalog_endpoint_clear(&ep);
		n++;
	}
	const char *stack;
	json_object_foreach(decl, stack, v) {
		size_t ns = json_array_size(v);
		const char **names = XNEWV(const char *, ns + 1);
		for (size_t k = 0; k < ns; k++)
			names[k] = json_string_value(json_array_get(v, k));
		catalog_declare(c, stack, names, (int)ns);
		free(names);
	}
	json_decref(root);
	json_decref(decl);
	*nendpoints = n;
	return c;
fail:
	json_decref(root);
	json_decref(decl);
	catalog_free(c);
	return NULL;
}

/* SIGHUP: a complete new catalog, then the swap; the old one stays on
 * any error. */
static void reload(struct dnscli *d)
{
	char *err = NULL;
	int n = 0;
	struct catalog *c = load_catalog(d->path, &n, &err);

	if (!c) {
		log_error("dns", "reload refused, keeping the running catalog: %s", err);
		free(err);
		return;
	}
	dns_server_set_catalog(d->srv, c);
	catalog_free(d->cat);
	d->cat = c;
	log_info("dns", "reloaded %s: %d endpoint%s", d->path, n, n == 1 ? "" : "s");
}

static void on_signal(uv_signal_t *h, int sig)
{
	struct dnscli *d = h->data;

	if (sig == SIGHUP) {
		reload(d);
		return;
	}
	log_info("dns", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	dns_server_close(d->srv, NULL, NULL);
	d->srv = NULL;
}

/* Parses a TTL: a duration in whole seconds. */
static int parse_ttl(const char *opt, const char *s, uint32_t *out)
{
	uint64_t ms;

	if (duration_parse(s, &ms) < 0 || ms % 1000 || ms / 1000 > INT32_MAX) {
		fprintf(stderr, "berth dns: %s: expected whole seconds such as 5s or 1m, got '%s'\n", opt, s);
		return -1;
	}
	*out = (uint32_t)(ms / 1000);
	return 0;
}

int cli_dns(int argc, char **argv)
{
	static const struct option opts[] = {
		{"catalog", required_argument, NULL, 'c'},
		{"addr", required_argument, NULL, 'a'},
		{"domain", required_argument, NULL, 'd'},
		{"ttl", required_argument, NULL, 'T'},
		{"neg-ttl", required_argument, NULL, 'N'},
		{"log-level", required_argument, NULL, 'L'},
		{"log-format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct dnscli d = {0};
	struct dns_opts o;
	const char *addr = "127.0.0.1:8600";
	enum log_level lvl = LOG_LVL_INFO;
	enum log_format fmt = LOG_FMT_TEXT;
	bool neg_set = false;
	char *err = NULL;
	int c, n = 0;

	dns_opts_init(&o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:a:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.path = optarg;
			break;
		case 'a':
			addr = optarg;
			break;
		case 'd':
			o.domain = optarg;
			break;
		case 'T':
			if (parse_ttl("--ttl", optarg, &o.ttl) < 0)
				return 2;
			break;
		case 'N':
			if (parse_ttl("--neg-ttl", optarg, &o.neg_ttl) < 0)
				return 2;
			neg_set = true;
			break;
		case 'L':
			if (log_level_parse(optarg, &lvl) < 0) {
				fprintf(stderr, "berth dns: --log-level: expected error|warn|info|debug\n");
				return 2;
			}
			break;
		case 'F':
			if (log_format_parse(optarg, &fmt) < 0) {
				fprintf(stderr, "berth dns: --log-format: expected text|json\n");
				return 2;
			}
			break;
		case 'h':
			dns_usage(stdout);
			return 0;
		default:
			dns_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "berth dns: unexpected argument '%s'\n", argv[optind]);
		dns_usage(stderr);
		return 2;
	}
	if (!d.path) {
		fprintf(stderr, "berth dns: --catalog FILE is required\n");
		dns_usage(stderr);
		return 2;
	}
	if (!neg_set)
		o.neg_ttl = o.ttl;
	log_setup(lvl, fmt);

	d.cat = load_catalog(d.path, &n, &err);
	if (!d.cat) {
		fprintf(stderr, "berth dns: %s\n", err);
		free(err);
		return 1;
	}
	/* A client that closes mid-answer must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	uv_loop_t loop;
	uv_loop_init(&loop);
	d.srv = dns_server_new(&loop, &o, d.cat, &err);
	if (!d.srv) {
		fprintf(stderr, "berth dns: %s\n", err);
		free(err);
		catalog_free(d.cat);
		uv_loop_close(&loop);
		return 2;
	}
	/* Handlers first: a supervisor may signal as soon as the port opens. */
	uv_signal_init(&loop, &d.sighup);
	uv_signal_init(&loop, &d.sigterm);
	uv_signal_init(&loop, &d.sigint);
	d.sighup.data = d.sigterm.data = d.sigint.data = &d;
	uv_signal_start(&d.sighup, on_signal, SIGHUP);
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	int rc = dns_server_listen(d.srv, addr, &err);
	if (rc < 0) {
		fprintf(stderr, "berth dns: %s\n", err);
		free(err);
		uv_close((uv_handle_t *)&d.sighup, NULL);
		uv_close((uv_handle_t *)&d.sigterm, NULL);
		uv_close((uv_handle_t *)&d.sigint, NULL);
		dns_server_close(d.srv, NULL, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		catalog_free(d.cat);
		return 1;
	}
	log_info("dns", "ready: %d endpoint%s from %s, domain %s, ttl %us", n, n == 1 ? "" : "s", d.path, o.domain,
		 o.ttl);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	catalog_free(d.cat);
	log_info("dns", "stopped");
	return 0;
}
