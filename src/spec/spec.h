/* The compose loader: compose file(s) -> one validated, normalized stack spec (DESIGN.md 1, 4, 12). */
#ifndef BERTH_SPEC_SPEC_H
#define BERTH_SPEC_SPEC_H

/*
 * spec_load() reads one or more compose files (plus .env, env_file files and
 * rancher-compose.yml), interpolates ${VAR}s, merges the files by the compose
 * spec's override rules, validates everything, and returns a struct
 * spec_stack in which every short syntax has been expanded, every default
 * filled in and every relative path made absolute. The scheduler, the runner
 * and the agent see only this struct (or its JSON form, spec_to_json(), which
 * is what the store keeps); none of them ever reads compose YAML.
 *
 * Conventions of the structs below: arrays are a pointer plus an int count;
 * NULL strings, NULL pointers and zero counts mean "not given"; durations are
 * milliseconds; sizes are bytes. Everything is owned by the stack and freed by
 * spec_stack_free(). A stack is never modified once built: a new compose file
 * is a new stack (STYLE.md 3: build a new world, then swap it in).
 *
 * docs/compose.md is the user's reference for every key.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPEC_MAX_REPLICAS 10000 /* per service; deploy.replicas, scale */

enum spec_proto {
	SPEC_PROTO_TCP = 0, /* the default */
	SPEC_PROTO_UDP,
};

enum spec_port_mode {
	SPEC_PORT_INGRESS = 0, /* compose's default; berth publishes on the instance's node either way */
	SPEC_PORT_HOST,
};

/* One container port. A short-syntax range ("8000-8001:3000-3001") is
 * expanded into one spec_port per port. */
struct spec_port {
	int target;                /* port the instance listens on, 1..65535 */
	int published;             /* fixed host port; 0: berth picks one per instance from the
				    * node's range and passes it as PORT / PORT_<target> */
	int published_end;         /* 0, or > published: any free host port of
				    * published..published_end will do ("8000-8010:3000") */
	char *host_ip;             /* address to bind; NULL: all addresses */
	enum spec_proto protocol;
	enum spec_port_mode mode;
	char *name;                /* long syntax: names the port (DNS SRV _<name>._tcp); NULL */
	char *app_protocol;        /* long syntax: "http", "grpc", ...; NULL */
};

/* expose: a container port reachable by other services, not published. */
struct spec_expose {
	int port;                  /* 1..65535; ranges are expanded */
	enum spec_proto protocol;
};

/* A label. Lists of them are sorted by key, keys unique. */
struct spec_kv {
	char *key;
	char *value;               /* never NULL; "" for a bare key */
};

enum spec_dep_condition {
	SPEC_DEP_STARTED = 0,      /* service_started (the default) */
	SPEC_DEP_HEALTHY,          /* service_healthy: its health check passes */
	SPEC_DEP_COMPLETED,        /* service_completed_successfully: it exited 0 */
};

struct spec_dep {
	char *service;             /* an enabled service of the same stack */
	enum spec_dep_condition condition;
	bool restart;              /* restart this service when the dependency restarts; default false */
	bool required;             /* default true; false: start anyway if it is missing or fails */
};

enum spec_hc_type {
	SPEC_HC_INHERIT = 0,       /* no test given: the image's own (docker driver), none (process) */
	SPEC_HC_CMD,               /* test is an argv, run without a shell */
	SPEC_HC_SHELL,             /* test[0] is a command line for /bin/sh -c */
	SPEC_HC_NONE,              /* disabled: test NONE, or disable: true */
};

/* compose healthcheck, defaults filled in. */
struct spec_healthcheck {
	enum spec_hc_type type;
	char **test;               /* CMD: argv (>= 1); SHELL: exactly one string; otherwise none */
	int ntest;
	uint64_t interval;         /* ms between checks; default 30s */
	uint64_t timeout;          /* ms one check may take; default 30s */
	int retries;               /* consecutive failures to turn unhealthy; default 3 */
	uint64_t start_period;     /* ms after start during which failures do not count; default 0 */
	uint64_t start_interval;   /* ms between checks during start_period; default 5s */
};

enum spec_restart {
	SPEC_RESTART_NO = 0,       /* "no", the default */
	SPEC_RESTART_ALWAYS,
	SPEC_RESTART_ON_FAILURE,   /* with restart_max */
	SPEC_RESTART_UNLESS_STOPPED,
};

enum spec_vol_type {
	SPEC_VOL_BIND = 0,         /* a host path */
	SPEC_VOL_VOLUME,           /* a named volume of the stack (or anonymous) */
	SPEC_VOL_TMPFS,
};

/* One mount; merged files replace entries by target. */
struct spec_volume {
	enum spec_vol_type type;
	char *source;              /* BIND: absolute, normalized host path; VOLUME: a key of the
				    * stack's volumes, NULL for an anonymous volume; TMPFS: NULL */
	char *target;              /* absolute path inside the instance */
	bool read_only;
	bool create_host_path;     /* BIND: create a missing source directory; default true */
	char *propagation;         /* BIND: "rprivate", "shared", ...; NULL */
	char *selinux;             /* BIND: "z" or "Z"; NULL */
	bool nocopy;               /* VOLUME: do not copy the image's content in */
	char *subpath;             /* VOLUME: mount this path of the volume; NULL */
	uint64_t tmpfs_size;       /* TMPFS: bytes, 0 = no limit */
	int tmpfs_mode;            /* TMPFS: permission bits, 0 = the default (01777) */
};

/* A top-level named volume. */
struct spec_volume_decl {
	char *key;                 /* as services refer to it */
	char *name;                /* actual name: name:, else "<project>_<key>" (external: the key) */
	bool external;             /* created outside berth; never created or removed by it */
};

struct spec_build {
	char *context;             /* absolute directory, or a URL kept as written */
	char *dockerfile;          /* relative to the context; default "Dockerfile" */
	char *target;              /* build stage; NULL */
	struct spec_kv *args;      /* sorted by key */
	int nargs;
};

enum spec_deploy_mode {
	SPEC_MODE_REPLICATED = 0,  /* deploy.replicas instances (the default) */
	SPEC_MODE_GLOBAL,          /* one instance on every eligible node */
};

enum spec_endpoint_mode {
	SPEC_ENDPOINT_VIP = 0,     /* the default */
	SPEC_ENDPOINT_DNSRR,
};

enum spec_rp_condition {
	SPEC_RP_ANY = 0,           /* restart whatever the exit (the default) */
	SPEC_RP_ON_FAILURE,        /* only after a non-zero exit */
	SPEC_RP_NONE,
};

/* deploy.restart_policy. When set it takes precedence over restart:, as in
 * docker compose. */
struct spec_restart_policy {
	bool set;                  /* given in the file; otherwise restart: applies */
	enum spec_rp_condition condition;
	uint64_t delay;            /* ms between attempts; default 0 (the runner's backoff applies) */
	int max_attempts;          /* 0: no limit */
	uint64_t window;           /* ms a restart must stay up to count as a success; default 0 */
};

/* deploy.resources.limits / reservations; 0 = not set. */
struct spec_resources {
	double cpus;               /* cores, e.g. 0.5 */
	uint64_t memory;           /* bytes */
	int pids;                  /* max processes */
};

enum spec_failure_action {
	SPEC_FAIL_PAUSE = 0,       /* the default */
	SPEC_FAIL_CONTINUE,
	SPEC_FAIL_ROLLBACK,        /* update_config only */
};

enum spec_update_order {
	SPEC_ORDER_STOP_FIRST = 0, /* the default */
	SPEC_ORDER_START_FIRST,
};

/* deploy.update_config / rollback_config, defaults filled in. */
struct spec_update {
	int parallelism;           /* instances at a time; 0 = all at once; default 1 */
	uint64_t delay;            /* ms between groups; default 0 */
	enum spec_failure_action failure_action;
	uint64_t monitor;          /* ms to watch an updated instance for failure; default 5s */
	double max_failure_ratio;  /* 0..1 failures tolerated; default 0 */
	enum spec_update_order order;
};

struct spec_placement {
	char **constraints;        /* "node.labels.zone == a", as written */
	int nconstraints;
	char **preferences;        /* spread: label names, e.g. "node.labels.zone" */
	int npreferences;
	int max_replicas_per_node; /* 0 = no limit */
};

struct spec_deploy {
	enum spec_deploy_mode mode;
	int replicas;              /* REPLICATED: resolved from deploy.replicas, scale and
				    * rancher-compose scale (default 1, may be 0); GLOBAL: 0 */
	enum spec_endpoint_mode endpoint_mode;
	struct spec_kv *labels;    /* deploy.labels, sorted by key */
	int nlabels;
	struct spec_restart_policy restart_policy;
	struct spec_resources limits;
	struct spec_resources reservations;
	struct spec_update update_config;
	struct spec_update rollback_config;
	struct spec_placement placement;
};

enum spec_rancher_strategy {
	SPEC_RANCHER_RECREATE = 0, /* replace an unhealthy instance (rancher's default) */
	SPEC_RANCHER_NONE,         /* only mark it unhealthy */
	SPEC_RANCHER_RECREATE_ON_QUORUM, /* replace only while recreate_on_quorum_size are healthy */
};

/* rancher-compose.yml health_check (a network check from outside the
 * instance), kept apart from the compose healthcheck; defaults filled in. */
struct spec_rancher_check {
	int port;                  /* container port to check, 1..65535 */
	char *request_line;        /* "GET /healthz HTTP/1.0"; NULL: a TCP connect check */
	uint64_t interval;         /* ms; default 2000 */
	uint64_t response_timeout; /* ms; default 2000 */
	int healthy_threshold;     /* successes to turn healthy; default 2 */
	int unhealthy_threshold;   /* failures to turn unhealthy; default 3 */
	uint64_t initializing_timeout;   /* ms a new instance gets to turn healthy; default 60000 */
	uint64_t reinitializing_timeout; /* ms a restarted one gets; default 60000 */
	enum spec_rancher_strategy strategy;
	int recreate_on_quorum_size;     /* RECREATE_ON_QUORUM; default 1 */
};

struct spec_service {
	char *name;                /* the compose key: [A-Za-z0-9][A-Za-z0-9_-]*, a DNS label */
	char *image;               /* NULL: none (process driver) */
	struct spec_build *build;  /* NULL: no build */
	char **entrypoint;         /* argv; a compose string is split like a shell does */
	int nentrypoint;
	char **command;            /* argv; may hold ${PORT}, ${endpoints:...} for the runner */
	int ncommand;
	char **environment;        /* "KEY=VALUE": env_file files, then environment over them;
				    * sorted by key, keys unique */
	int nenvironment;
	char *working_dir;         /* as written; NULL */
	char *user;                /* "name", "uid", "uid:gid"; NULL */
	struct spec_port *ports;   /* file order after merging */
	int nports;
	struct spec_expose *expose;
	int nexpose;
	struct spec_dep *depends_on; /* sorted by service */
	int ndepends_on;
	struct spec_healthcheck *healthcheck; /* NULL: no healthcheck key */
	enum spec_restart restart;
	int restart_max;           /* ON_FAILURE: at most this many restarts, 0 = no limit */
	int stop_signal;           /* signal number; default SIGTERM */
	uint64_t stop_grace_period; /* ms between stop_signal and SIGKILL; default 10s */
	bool init;                 /* docker driver: run an init as PID 1 (Docker's Init); default false */
	struct spec_kv *labels;    /* sorted by key */
	int nlabels;
	struct spec_volume *volumes; /* file order after merging */
	int nvolumes;
	struct spec_deploy deploy;
	char **profiles;           /* as written; the service is in the stack, so one is enabled */
	int nprofiles;
	json_t *x_berth;           /* x-berth: an object (owned reference) or NULL; its keys
				    * (driver: "process" or "docker",
				    * check, lb, logs, on_change, pre_start) are read by
				    * the components that need them */
	struct spec_rancher_check *health_check; /* rancher-compose health_check; NULL */
	json_t *lb_config;         /* rancher-compose lb_config: an object (owned) or NULL */
};

struct spec_stack {
	char *name;                /* project name: [a-z0-9][a-z0-9_-]* */
	char *project_dir;         /* absolute; relative paths were resolved against it */
	char **files;              /* absolute paths: the compose files in merge order, then
				    * rancher-compose.yml if one was read */
	int nfiles;
	struct spec_service *services; /* sorted by name; only the enabled profiles' */
	int nservices;
	struct spec_volume_decl *volumes; /* top-level volumes, sorted by key */
	int nvolumes;
	json_t *x_berth;           /* the top-level x-berth: an object (owned) or NULL; its key
				    * logs.outputs is the stack's own log outputs (docs/logs.md) */
	char **warnings;           /* "FILE:LINE:COL: PATH: message", in the order found; not
				    * part of the JSON form */
	int nwarnings;
};

struct spec_load_opts {
	const char *const *files;  /* -f FILE..., merged in order; none: compose.yaml (or
				    * compose.yml, docker-compose.yaml, docker-compose.yml) and
				    * its override file in project_dir */
	int nfiles;
	const char *project_name;  /* -p; NULL: COMPOSE_PROJECT_NAME, name:, the directory's name */
	const char *project_dir;   /* --project-directory; NULL: the first file's directory, or
				    * the working directory when no file is given */
	const char *const *env;    /* "KEY=VALUE" entries over the process environment */
	int nenv;
	bool no_process_env;       /* ignore the process environment: only <env> and .env
				    * (tests, fuzzing, the agent re-loading a stack) */
	const char *const *profiles; /* --profile; added to COMPOSE_PROFILES; "*" enables all */
	int nprofiles;
	bool strict;               /* unsupported keys are errors instead of warnings */
};

/* Loads, merges and validates a stack as <o> says. Returns 0 and a new stack
 * in *out (free with spec_stack_free()), or -1 with *out NULL and *err a
 * heap string "FILE:LINE:COL: PATH: message" (the caller frees it); nothing
 * of an invalid stack is returned. */
int spec_load(const struct spec_load_opts *o, struct spec_stack **out, char **err);

/* Same for one compose file held in memory; <name> stands for it in
 * messages. The project directory (for .env, env_file and relative paths)
 * is o->project_dir, else <name>'s directory. o->files is ignored and no
 * rancher-compose.yml is read. <buf> is borrowed for the call. For the
 * fuzzer, tests, and compose text that arrives over the API. */
int spec_load_buffer(const char *name, const char *buf, size_t len,
		     const struct spec_load_opts *o, struct spec_stack **out, char **err);

void spec_stack_free(struct spec_stack *s);

/* The canonical JSON form: a new object (the caller owns the reference)
 * with keys in a fixed order, empty lists and unset values left out;
 * docs/compose.md describes it. Byte-identical for equal stacks. */
json_t *spec_to_json(const struct spec_stack *s);


/* Builds a stack from spec_to_json()'s form (as the agent reads it back
 * from the store); spec_to_json(spec_from_json(j)) equals j for every j
 * that spec_to_json() produced. Returns 0, or -1 with *err = "PATH: message". */
int spec_from_json(const json_t *j, struct spec_stack **out, char **err);

/* The normalized stack as YAML (what `berth config` prints), the same data
 * as spec_to_json(). A heap string, the caller frees it. */
char *spec_to_yaml(const struct spec_stack *s);

/* The service called <name>, or NULL. */
const struct spec_service *spec_service_find(const struct spec_stack *s, const char *name);

/* How many instances to run: deploy.replicas, or for a global service one
 * per node of the <nnodes> eligible ones. */
int spec_service_instances(const struct spec_service *svc, int nnodes);

/* Writes into <order> (s->nservices entries) the indexes of s->services in
 * a start order: every service after those it depends on, ties broken by
 * name. Loaded stacks have no dependency cycle, so this always succeeds for
 * them; returns -1 for a stack from elsewhere that has one. */
int spec_start_order(const struct spec_stack *s, int *order);

/* "SIGTERM" for 15; NULL for a number without a name. */
const char *spec_signal_name(int signo);

#endif
