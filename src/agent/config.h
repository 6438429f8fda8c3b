/* The agent's configuration, layered lowest to highest (DESIGN.md 11):
 * built-in defaults < agent.yml < agent.<BERTH_ENV>.yml < BERTH_* environment
 * variables < command-line flags. Every value remembers where it came from,
 * for `berth agent --print-config`. */
#ifndef BERTH_AGENT_CONFIG_H
#define BERTH_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct agent_config {
	char *data_dir;              /* state: store, instances, logs, the API socket */
	char *config_file;           /* agent.yml path (may not exist) */
	char *node;                  /* this node's name (default: the host name) */
	char *addr;                  /* the address other nodes and clients reach instances at */
	char *store;                 /* store URL; default sqlite:DATA_DIR/store.db */
	char *api_addr;              /* optional TCP listener "HOST:PORT" ("" = none) */
	char *token_file;            /* token required on the TCP listener */
	char *dns_addr;              /* DNS server "HOST:PORT" ("" = none; port 0: any) */
	char *dns_domain;            /* its zone, e.g. "berth." */
	int port_min, port_max;      /* instance port range */
	char *log_level;
	char *log_format;
	uint64_t lease_ttl_ms;       /* node lease: how long a dead agent's instances stay listed */
	char **labels;               /* "key=value", node labels for placement constraints */
	int nlabels;
	char *shim;                  /* path of berth-shim (default: beside the berth binary) */
	char **source;               /* [AGENT_CONFIG_NOPTS] where each value came from */
	struct json_t *logs;         /* agent.yml logs: {outputs: [...]}, checked (docs/logs.md); NULL */
	char *logs_source;           /* the file:line:col it came from */
};

/* A flag given on the command line: <name> is the option's name without
 * dashes ("data-dir"), <value> its argument. */
struct agent_flag {
	const char *name;
	const char *value;
};

/* Resolves the configuration from the layers. <environ_> is the environment
 * to read BERTH_* from (NULL: the process's). Returns 0, or -1 with *err set
 * (heap): a bad value names its source (flag, variable, or file:line:col). */
int agent_config_resolve(const struct agent_flag *flags, int nflags, char **environ_, struct agent_config *out,
			 char **err);
void agent_config_free(struct agent_config *c);
/* One line per option: name, value, source. */
void agent_config_print(const struct agent_config *c, FILE *f);
/* Whether <name> (without dashes) is an agent option taking a value. */
bool agent_config_is_flag(const char *name);
/* The options' help lines for `berth agent --help`. */
void agent_config_usage(FILE *f);

/* The default data dir: /var/lib/berth as root, else $XDG_STATE_HOME/berth
 * (~/.local/state/berth); BERTH_DATA_DIR wins. Heap string. */
char *agent_default_data_dir(void);

#endif
