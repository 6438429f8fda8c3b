/* Agent configuration layering (see config.h). */
#include "agent/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "core/yaml.h"
#include "logs/logs.h"

enum opt_type {
	OPT_STR = 0,     /* any non-empty string */
	OPT_STR_EMPTY,   /* a string that may be empty (disables the feature) */
	OPT_PORTS,       /* "MIN-MAX" into port_min/port_max */
	OPT_DURATION,    /* ms */
	OPT_LEVEL,       /* error|warn|info|debug */
	OPT_FORMAT,      /* text|json */
	OPT_LABELS,      /* "k=v,k=v" (flag: repeatable), YAML: a mapping */
};

struct opt {
	const char *name;            /* --flag name, and YAML key unless <yaml> says otherwise */
	const char *env;             /* BERTH_* variable */
	enum opt_type type;
	size_t offset;
	const char *doc;
	const char *yaml;            /* YAML key when it differs from the flag */
};

/* Options are data: parsing, --help and --print-config come from here. */
static const struct opt opts[] = {
	{"data-dir", "BERTH_DATA_DIR", OPT_STR, offsetof(struct agent_config, data_dir),
	 "state directory (default /var/lib/berth as root, else ~/.local/state/berth)"},
	{"config", "BERTH_CONFIG", OPT_STR, offsetof(struct agent_config, config_file),
	 "agent.yml to read (default DATA_DIR/agent.yml; agent.$BERTH_ENV.yml beside it too)"},
	{"node", "BERTH_NODE", OPT_STR, offsetof(struct agent_config, node), "this node's name (default: host name)"},
	{"addr", "BERTH_ADDR", OPT_STR, offsetof(struct agent_config, addr),
	 "address instances are reached at (default 127.0.0.1)"},
	{"store", "BERTH_STORE", OPT_STR, offsetof(struct agent_config, store),
	 "store URL (default sqlite:DATA_DIR/store.db)"},
	{"api-addr", "BERTH_API_ADDR", OPT_STR_EMPTY, offsetof(struct agent_config, api_addr),
	 "also serve the API on TCP HOST:PORT (needs --token-file)"},
	{"token-file", "BERTH_TOKEN_FILE", OPT_STR_EMPTY, offsetof(struct agent_config, token_file),
	 "file holding the bearer token the TCP API requires"},
	{"dns-addr", "BERTH_DNS_ADDR", OPT_STR_EMPTY, offsetof(struct agent_config, dns_addr),
	 "DNS server HOST:PORT (default 127.0.0.1:8600; \"\" turns it off)"},
	{"dns-domain", "BERTH_DNS_DOMAIN", OPT_STR, offsetof(struct agent_config, dns_domain),
	 "the DNS zone (default berth.)"},
	{"port-range", "BERTH_PORT_RANGE", OPT_PORTS, 0, "instance ports (default 31000-32767)"},
	{"log-level", "BERTH_LOG_LEVEL", OPT_LEVEL, offsetof(struct agent_config, log_level),
	 "error | warn | info (default) | debug"},
	{"log-format", "BERTH_LOG_FORMAT", OPT_FORMAT, offsetof(struct agent_config, log_format),
	 "text (default) | json"},
	{"lease-ttl", "BERTH_LEASE_TTL", OPT_DURATION, offsetof(struct agent_config, lease_ttl_ms),
	 "node lease time to live (default 10s)"},
	{"label", "BERTH_LABELS", OPT_LABELS, 0, "node label KEY=VALUE (repeatable; variable: comma-separated)",
	 "labels"},
	{"shim", "BERTH_SHIM", OPT_STR, offsetof(struct agent_config, shim),
	 "path of berth-shim (default: beside the berth binary)"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static char **str_at(struct agent_config *c, const struct opt *o)
{
	return (char **)((char *)c + o->offset);
}

static bool valid_label(const char *s)
{
	const char *eq = strchr(s, '=');

	return eq && eq > s && eq[1] && !strchr(eq + 1, ',');
}

static void labels_clear(struct agent_config *c)
{
	for (int i = 0; i < c->nlabels; i++)
		free(c->labels[i]);
	free(c->labels);
	c->labels = NULL;
	c->nlabels = 0;
}

static void labels_add(struct agent_config *c, const char *kv)
{
	c->labels = xrealloc(c->labels, sizeof(char *) * (size_t)(c->nlabels + 1));
	c->labels[c->nlabels++] = xstrdup(kv);
}

/* Sets option <o> from text <v>. <append> (repeated flags) adds labels
 * instead of replacing them. Returns NULL, or why the value is bad. */
static const char *set_value(struct agent_config *c, const struct opt *o, const char *v, bool append)
{
	switch (o->type) {
	case OPT_STR:
		if (!*v)
			return "expected a non-empty value";
		/* fall through */
	case OPT_STR_EMPTY:
		free(*str_at(c, o));
		*str_at(c, o) = xstrdup(v);
		return NULL;
	case OPT_PORTS: {
		char *end;
		long a = strtol(v, &end, 10), b;
		if (*end != '-')
			return "expected MIN-MAX, e.g. 31000-32767";
		b = strtol(end + 1, &end, 10);
		if (*end || a < 1 || b > 65535 || a > b)
			return "expected MIN-MAX within 1-65535, MIN <= MAX";
		c->port_min = (int)a;
		c->port_max = (int)b;
		return NULL;
	}
	case OPT_DURATION: {
		uint64_t ms;
		if (duration_parse(v, &ms) < 0 || ms < 1000 || ms > 3600 * 1000)
			return "expected a duration between 1s and 1h (e.g. 10s)";
		*(uint64_t *)((char *)c + o->offset) = ms;
		return NULL;
	}
	case OPT_LEVEL: {
		enum log_level l;
		if (log_level_parse(v, &l) < 0)
			return "expected error, warn, info or debug";
		free(*str_at(c, o));
		*str_at(c, o) = xstrdup(v);
		return NULL;
	}
	case OPT_FORMAT: {
		enum log_format f;
		if (log_format_parse(v, &f) < 0)
			return "expected text or json";
		free(*str_at(c, o));
		*str_at(c, o) = xstrdup(v);
		return NULL;
	}
	case OPT_LABELS: {
		if (!append)
			labels_clear(c);
		if (!*v)
			return NULL;
		char *dup = xstrdup(v), *save = NULL;
		for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (!valid_label(t)) {
				free(dup);
				return "expected KEY=VALUE[,KEY=VALUE...]";
			}
			labels_add(c, t);
		}
		free(dup);
		return NULL;
	}
	}
	return "unknown option type";
}

static void set_source(struct agent_config *c, int i, char *src)
{
	free(c->source[i]);
	c->source[i] = src;
}

static const struct opt *find_opt_as(const char *name, int *idx, bool yaml)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strcmp(yaml && opts[i].yaml ? opts[i].yaml : opts[i].name, name) == 0) {
			if (idx)
				*idx = (int)i;
			return &opts[i];
		}
	return NULL;
}

static const struct opt *find_opt(const char *name, int *idx)
{
	return find_opt_as(name, idx, false);
}

bool agent_config_is_flag(const char *name)
{
	return find_opt(name, NULL) != NULL;
}

static bool node_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (!len || len > 63 || n[0] == '-' || n[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9') ||
		      n[i] == '-'))
			return false;
	return true;
}

char *agent_default_data_dir(void)
{
	const char *e = getenv("BERTH_DATA_DIR");

	if (e && *e)
		return xstrdup(e);
	if (geteuid() == 0)
		return xstrdup("/var/lib/berth");
	e = getenv("XDG_STATE_HOME");
	if (e && *e)
		return xasprintf("%s/berth", e);
	e = getenv("HOME");
	return xasprintf("%s/.local/state/berth", e && *e ? e : "/tmp");
}

static const char *env_get(char **env, const char *name)
{
	size_t n = strlen(name);

	if (!env)
		return getenv(name);
	for (; *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* A node of agent.yml as JSON: plain true/false and integers typed, the
 * rest strings, as the compose loader gives x-berth values. (The loader's
 * own converter reads its private node type; this is a plain tree.) */
static json_t *node_json(const struct yaml_node *n)
{
	json_t *j;

	switch (n->kind) {
	case YAML_SEQ:
		j = json_array();
		for (int i = 0; i < n->nitems; i++)
			json_array_append_new(j, node_json(n->items[i]));
		return j;
	case YAML_MAP:
		j = json_object();
		for (int i = 0; i < n->npairs; i++)
			json_object_set_new(j, n->pairs[i].key->text, node_json(n->pairs[i].value));
		return j;
	case YAML_SCALAR:
		break;
	}
	if (n->plain && yaml_is_null(n))
		return json_null();
	if (n->plain && (!strcmp(n->text, "true") || !strcmp(n->text, "false")))
		return json_boolean(n->text[0] == 't');
	if (n->plain) {
		char *end;
		errno = 0;
		long long v = strtoll(n->text, &end, 10);
		if (*n->text && !*end && errno == 0 && (isdigit((unsigned char)n->text[0]) || n->text[0] == '-'))
			return json_integer(v);
	}
	return json_stringn(n->text, n->len);
}

/* agent.yml's logs: the agent-wide log outputs, checked by the pipeline
 * and blamed at their line and column. A later file replaces it whole. */
static int apply_logs(struct agent_config *c, struct yaml_ctx *y, const struct yaml_pair *p)
{
	size_t mark = yaml_path_push_key(y, "logs");
	json_t *j = node_json(p->value);
	char *why = NULL, *at = NULL;
	bool at_key = false;
	int rc = 0;

	if (logs_check_stack(j, &why, &at, &at_key) < 0) {
		const struct yaml_node *n = yaml_walk_path(y, p->value, at, at_key);
		rc = yaml_error(y, n, "%s", why);
		json_decref(j);
	} else {
		json_decref(c->logs);
		c->logs = j;
		free(c->logs_source);
		c->logs_source = xasprintf("%s:%d:%d", y->file, p->key->line, p->key->col);
	}
	free(why);
	free(at);
	yaml_path_pop(y, mark);
	return rc;
}

/* Applies one agent.yml. A missing file is fine (returns 0); anything
 * wrong in it is an error naming file:line:col. */
static int apply_file(struct agent_config *c, const char *path, char **err)
{
	struct yaml_doc *doc = NULL;
	struct yaml_ctx y;
	struct stat st;
	int rc = -1;

	if (stat(path, &st) < 0 && errno == ENOENT)
		return 0;
	if (yaml_load_file(path, &doc, err) < 0)
		return -1;
	yaml_ctx_init(&y, path, NULL);
	if (!doc->root) {
		rc = 0;
		goto out;
	}
	if (yaml_expect_map(&y, doc->root, "a mapping of agent options") < 0)
		goto fail;
	for (int i = 0; i < doc->root->npairs; i++) {
		const struct yaml_pair *p = &doc->root->pairs[i];
		int idx;
		if (strcmp(p->key->text, "logs") == 0) {
			if (apply_logs(c, &y, p) < 0)
				goto fail;
			continue;
		}
		const struct opt *o = find_opt_as(p->key->text, &idx, true);
		size_t mark = yaml_path_push_key(&y, p->key->text);
		if (!o || strcmp(o->name, "config") == 0) {
			yaml_error(&y, p->key, "unknown agent option (see berth agent --help)");
			goto fail;
		}
		if (o->type == OPT_LABELS && p->value->kind == YAML_MAP) {
			labels_clear(c);
			for (int j = 0; j < p->value->npairs; j++) {
				const struct yaml_pair *lp = &p->value->pairs[j];
				if (lp->value->kind != YAML_SCALAR || !lp->key->len) {
					yaml_error(&y, lp->value, "expected a scalar label value");
					goto fail;
				}
				char *kv = xasprintf("%s=%s", lp->key->text, lp->value->text);
				labels_add(c, kv);
				free(kv);
			}
		} else {
			if (p->value->kind != YAML_SCALAR) {
				yaml_error(&y, p->value, "expected a single value");
				goto fail;
			}
			const char *why = set_value(c, o, yaml_is_null(p->value) ? "" : p->value->text, false);
			if (why) {
				yaml_error(&y, p->value, "%s", why);
				goto fail;
			}
		}
		set_source(c, idx, xasprintf("%s:%d:%d", path, p->key->line, p->key->col));
		yaml_path_pop(&y, mark);
	}
	rc = 0;
	goto out;
fail:
	*err = y.err;
	y.err = NULL;
out:
	free(y.err);
	yaml_doc_free(doc);
	return rc;
}

int agent_config_resolve(const struct agent_flag *flags, int nflags, char **env, struct agent_config *c,
			 char **err)
{
	char host[256];
	int idx;

	memset(c, 0, sizeof(*c));
	c->source = XNEWV(char *, NOPTS);
	/* Built-in defaults. The data dir and config file come first: the
	 * files live in the data dir unless told otherwise. */
	c->data_dir = agent_default_data_dir();
	if (gethostname(host, sizeof(host)) < 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = 0;
	host[strcspn(host, ".")] = 0; /* the first label of an FQDN */
	c->node = xstrdup(host[0] ? host : "localhost");
	c->addr = xstrdup("127.0.0.1");
	c->api_addr = xstrdup("");
	c->token_file = xstrdup("");
	c->dns_addr = xstrdup("127.0.0.1:8600");
	c->dns_domain = xstrdup("berth.");
	c->port_min = 31000;
	c->port_max = 32767;
	c->log_level = xstrdup("info");
	c->log_format = xstrdup("text");
	c->lease_ttl_ms = 10000;
	for (size_t i = 0; i < NOPTS; i++)
		c->source[i] = xstrdup("default");
	if (env_get(env, "BERTH_DATA_DIR")) {
		find_opt("data-dir", &idx);
		set_source(c, idx, xstrdup("BERTH_DATA_DIR"));
	}

	/* Where the files are: flags and environment decide that much first. */
	const char *dd = NULL, *cf = NULL;
	if (env_get(env, "BERTH_DATA_DIR") && *env_get(env, "BERTH_DATA_DIR"))
		dd = env_get(env, "BERTH_DATA_DIR");
	if (env_get(env, "BERTH_CONFIG") && *env_get(env, "BERTH_CONFIG"))
		cf = env_get(env, "BERTH_CONFIG");
	for (int i = 0; i < nflags; i++) {
		if (strcmp(flags[i].name, "data-dir") == 0)
			dd = flags[i].value;
		if (strcmp(flags[i].name, "config") == 0)
			cf = flags[i].value;
	}
	if (dd) {
		free(c->data_dir);
		c->data_dir = xstrdup(dd);
	}
	c->config_file = cf ? xstrdup(cf) : xasprintf("%s/agent.yml", c->data_dir);

	/* agent.yml, then agent.<BERTH_ENV>.yml beside it. */
	if (apply_file(c, c->config_file, err) < 0)
		return -1;
	const char *envname = env_get(env, "BERTH_ENV");
	if (envname && *envname) {
		if (strchr(envname, '/')) {
			*err = xasprintf("BERTH_ENV=%s: expected a name, not a path", envname);
			return -1;
		}
		char *dir = xstrdup(c->config_file);
		char *slash = strrchr(dir, '/');
		char *envfile = slash ? (*slash = 0, xasprintf("%s/agent.%s.yml", dir, envname))
				      : xasprintf("agent.%s.yml", envname);
		int rc = apply_file(c, envfile, err);
		free(envfile);
		free(dir);
		if (rc < 0)
			return -1;
	}
	/* BERTH_* variables. */
	for (size_t i = 0; i < NOPTS; i++) {
		const char *v = env_get(env, opts[i].env);
		if (!v || strcmp(opts[i].name, "config") == 0)
			continue;
		const char *why = set_value(c, &opts[i], v, false);
		if (why) {
			*err = xasprintf("%s=%s: %s", opts[i].env, v, why);
			return -1;
		}
		set_source(c, (int)i, xstrdup(opts[i].env));
	}
	/* Flags, in order; repeated --label flags add up. */
	bool label_flag_seen = false;
	for (int i = 0; i < nflags; i++) {
		const struct opt *o = find_opt(flags[i].name, &idx);
		if (!o) {
			*err = xasprintf("--%s: unknown option", flags[i].name);
			return -1;
		}
		if (o->type == OPT_LABELS && !valid_label(flags[i].value)) {
			*err = xasprintf("--label %s: expected KEY=VALUE", flags[i].value);
			return -1;
		}
		const char *why = set_value(c, o, flags[i].value, o->type == OPT_LABELS && label_flag_seen);
		if (why) {
			*err = xasprintf("--%s %s: %s", o->name, flags[i].value, why);
			return -1;
		}
		if (o->type == OPT_LABELS)
			label_flag_seen = true;
		set_source(c, idx, xasprintf("--%s", o->name));
	}
	if (!c->store) {
		c->store = xasprintf("sqlite:%s/store.db", c->data_dir);
	}
	/* The node name is a store key part and a DNS label. */
	if (!node_name_ok(c->node)) {
		find_opt("node", &idx);
		*err = xasprintf("node name \"%s\" (%s): expected a DNS label: letters, digits and '-', "
				 "at most 63 characters, not starting or ending with '-'",
				 c->node, c->source[idx]);
		return -1;
	}
	if (c->api_addr[0] && !c->token_file[0]) {
		*err = xstrdup("--api-addr needs --token-file: the TCP API requires a token");
		return -1;
	}
	if (!c->shim) {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = 0;
			char *slash = strrchr(exe, '/');
			if (slash)
				*slash = 0;
			c->shim = xasprintf("%s/berth-shim", exe);
		} else {
			c->shim = xstrdup("berth-shim");
		}
	}
	return 0;
}

void agent_config_free(struct agent_config *c)
{
	for (size_t i = 0; i < NOPTS; i++) {
		if (opts[i].type == OPT_STR || opts[i].type == OPT_STR_EMPTY || opts[i].type == OPT_LEVEL ||
		    opts[i].type == OPT_FORMAT)
			free(*str_at(c, &opts[i]));
		if (c->source)
			free(c->source[i]);
	}
	free(c->source);
	labels_clear(c);
	json_decref(c->logs);
	free(c->logs_source);
	memset(c, 0, sizeof(*c));
}

void agent_config_print(const struct agent_config *c, FILE *f)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		char val[512];
		switch (o->type) {
		case OPT_PORTS:
			snprintf(val, sizeof(val), "%d-%d", c->port_min, c->port_max);
			break;
		case OPT_DURATION:
			yaml_format_duration(*(const uint64_t *)((const char *)c + o->offset), val, sizeof(val));
			break;
		case OPT_LABELS: {
			size_t n = 0;
			val[0] = 0;
			for (int j = 0; j < c->nlabels && n < sizeof(val); j++)
				n += (size_t)snprintf(val + n, sizeof(val) - n, "%s%s", j ? "," : "", c->labels[j]);
			break;
		}
		default: {
			const char *s = *(char *const *)((const char *)c + o->offset);
			snprintf(val, sizeof(val), "%s", s ? s : "");
		}
		}
		fprintf(f, "%-11s %-40s (%s)\n", o->name, val[0] ? val : "\"\"", c->source[i]);
	}
	const json_t *outs = json_object_get(c->logs, "outputs");
	if (json_array_size(outs)) {
		char val[256] = "";
		size_t n = 0, i;
		const json_t *o;
		json_array_foreach(outs, i, o) {
			const char *nm = json_string_value(json_object_get(o, "name"));
			n += (size_t)snprintf(val + n, n < sizeof(val) ? sizeof(val) - n : 0, "%s%s", i ? "," : "",
					      nm ? nm : json_string_value(json_object_get(o, "type")));
			if (n >= sizeof(val))
				break;
		}
		fprintf(f, "%-11s %-40s (%s)\n", "logs", val, c->logs_source);
	}
}

void agent_config_usage(FILE *f)
{
	for (size_t i = 0; i < NOPTS; i++) {
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s %s", opts[i].name,
			 opts[i].type == OPT_LABELS ? "K=V" : opts[i].type == OPT_PORTS ? "MIN-MAX" : "VALUE");
		fprintf(f, "  %-24s %s [%s]\n", flag, opts[i].doc, opts[i].env);
	}
}
