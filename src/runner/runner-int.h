/* Private to src/runner/: the runner's structures and the helpers its
 * files share (runner.c: the reconcile loop; runner_env.c: an instance's
 * ports, variables and environment; runner_util.c: files and strings). */
#ifndef BERTH_RUNNER_RUNNER_INT_H
#define BERTH_RUNNER_RUNNER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "runner/driver.h"
#include "runner/ports.h"
#include "runner/restart.h"
#include "runner/runner.h"
#include "spec/spec.h"
#include "store/store.h"

struct mirror;
struct health_check;
struct hooks_pre;
struct pre_token;

struct strv {
	char **v;
	int n, cap;
};

enum rhealth {
	RH_NONE = 0,     /* no check: routable while running. Please keep at zero. */
	RH_STARTING,     /* a check runs but has not passed yet */
	RH_HEALTHY,
	RH_UNHEALTHY,
};

enum rstate {
	RS_NEW = 0,      /* allocated, never started. Please keep at zero. */
	RS_WAITING,      /* held back by depends_on */
	RS_STARTING,     /* the driver is starting it */
	RS_RUNNING,
	RS_STOPPING,     /* berth asked it to stop */
	RS_RESTARTING,   /* it ended; a restart is due at due_ms */
	RS_EXITED,       /* it ended and the policy keeps it down */
	RS_FAILED,       /* it could not be started, and the policy keeps it down */
	RS_STOPPED,      /* stopped by berth stop; berth start resumes it */
};


/* What a stopping instance does once its run has ended. */
enum after_stop {
	AFTER_STOP_IDLE = 0, /* become STOPPED */
	AFTER_STOP_RESTART,  /* start again at once (definition changed, berth restart) */
	AFTER_STOP_REMOVE,   /* no longer allocated: remove it */
};

struct rport {
	int target;                  /* container port (0 for the bare PORT) */
	int host;                    /* the host port */
	bool fixed;                  /* published in the compose file */
	enum spec_proto proto;
};

struct rinst {
	struct rinst *next;
	struct runner *r;
	char *stack, *service;
	int index;
	char *dir;                   /* DATA/instances/<stack>/<svc>/<idx> */
	enum rstate state;
	enum after_stop after;
	struct driver_run *run;      /* current run, or NULL */
	const struct driver_ops *drv; /* the driver of the current (or last) run */
	bool container;              /* that driver runs images: ports and variables are the container's */
	pid_t pid;
	int exit_code, signal;       /* of the last run (-1/0: unknown) */
	char message[256];           /* why it is in its state, for ps */
	struct restart_history hist;
	uint64_t started_ms;         /* loop time the current run started */
	uint64_t due_ms;             /* RS_RESTARTING: when to start again */
	bool wanted;                 /* an allocation exists (this pass) */
	uint64_t run_hash;           /* definition hash the run was started for */
	int64_t run_restart_gen;     /* restart generation it was started for */
	int64_t generation;          /* stack generation it was last reconciled with (status) */
	struct rport *ports;
	int nports;
	int run_seq;                 /* number of the last run directory */
	char since[40];              /* RFC 3339 time of the last state change */
	bool away_exit;              /* its run ended while no agent watched */
	bool status_dirty;           /* the status record must be written */
	bool status_written;         /* a record exists in the store */
	/* discovery */
	enum rhealth health;         /* what its check says */
	char **tags;                 /* from checks (primary, replica) and x-berth.tags */
	int ntags;
	char *cat_value;             /* the catalog record as last written, NULL: none */
	uint64_t drain_until;        /* STOPPING: loop ms at which the stop signal goes; 0: sent */
	struct health_check *check;  /* running check, or NULL */
	char health_msg[256];        /* the check's last output */
	json_t *urls;                /* a berth/lb instance: the URLs it serves, or NULL */
	bool check_started;          /* its check runs for the current run */
	bool restart_unhealthy;      /* its check turned unhealthy: the pass restarts it */
	bool unhealthy_restart;      /* the stop under way is such a restart */
	struct hooks_pre *pre;       /* its pre_start (and first render) runs */
	struct pre_token *pre_tok;   /* that request's callback argument */
	bool pre_done;               /* passed: the next inst_start goes on to exec */
	uint64_t logs_hash;          /* what the log pipeline was last told of it; 0: nothing */
	int64_t health_since_ms;     /* loop ms the health last changed */
};

/* A parsed stack, cached by the mod_rev of its store record. */
struct rstack {
	struct rstack *next;
	char *name;
	int64_t mod_rev;
	struct spec_stack *spec;     /* NULL if the record could not be parsed */
	json_t *state;               /* the record's "state" object (borrowed from the mirror's copy) */
	json_t *record;              /* own reference to the whole record */
	uint64_t *hashes;            /* [spec->nservices] definition hashes */
	bool hooks_synced;           /* its services' hooks were given to the engine */
};

struct runner {
	struct runner_opts o;
	char *node;
	char *addr;
	char *data_dir;
	char *shim;
	char *berth;                 /* the berth binary (berth/lb services) */
	int64_t lease;
	struct mirror *allocs, *stacks, *status;
	struct rinst *insts;
	struct rstack *rstacks;
	struct strv hooked;          /* "stack/svc" whose hooks the engine runs here */
	struct ports ports;
	uv_timer_t kick;             /* the next reconcile pass */
	uv_timer_t due;              /* the next backoff that ends */
	int handles;
	bool started;
	bool closing;
	bool in_pass;
	void (*done)(void *arg);
	void *done_arg;
	int writes;                  /* status writes in flight */
};


/* ---- runner_util.c ---- */
void runner__rm_rf(const char *path);
json_t *runner__read_json_file(const char *path);
int runner__write_json_file(const char *path, json_t *j);
void runner__strv_add(struct strv *s, char *str);
void runner__strv_free(struct strv *s);

/* The callback of every store write the runner makes (counts them, for a
 * clean free). */
void runner__on_write(const struct store_result *res, void *arg);

/* ---- runner_publish.c: the catalog records ---- */
/* Writes, replaces or deletes the instance's /berth/catalog record so it
 * matches what the instance is now (listed while running and not
 * draining). */
void runner__publish(struct runner *r, struct rinst *in, const struct spec_service *svc);
/* Deletes the record (the instance goes). */
void runner__unpublish(struct runner *r, struct rinst *in);
/* How long a stopping instance stays out of the catalog before it is
 * signalled: x-berth.drain, else its stop_grace_period when a load
 * balancer of the stack routes to it, else 0. */
uint64_t runner__drain_ms(const struct spec_stack *st, const struct spec_service *svc);
const char *runner__health_name(enum rhealth h);

bool runner__routed_to(const struct spec_stack *st, const char *svc);

/* ---- runner_health.c ---- */
/* Starts the instance's check (its own, or the implicit TCP check of a
 * service a load balancer routes to); <env> and <cwd> are the run's. */
void runner__health_start(struct rinst *in, const struct spec_stack *st, const struct spec_service *svc,
			  char *const *env, const char *cwd);
void runner__health_stop(struct rinst *in);

/* ---- runner.c, for the other files ---- */
void runner__emit(struct rinst *in, const char *type, json_t *extra);
void runner__schedule(struct runner *r);

/* ---- runner_env.c ---- */
void runner__release_ports(struct rinst *in);
bool runner__save_ports(struct rinst *in);
void runner__load_ports(struct rinst *in);
/* Gives the instance its host ports; NULL, or why not (in <why>). */
const char *runner__assign_ports(struct rinst *in, const struct spec_service *svc, char *why, size_t cap);
/* Fills in berth's runtime variables (${PORT}, ${PORT_<n>}, ${endpoints:...}). */
char *runner__expand(const struct rinst *in, const char *s);

/* runner_logs.c: tells the log pipeline of the instance's inputs (when its
 * definition or its stack's outputs changed), or that it is gone. */
void runner__logs_sync(struct rinst *in, const struct rstack *rs, const struct spec_service *svc, int svc_idx);
void runner__logs_forget(struct rinst *in);
/* The instance's environment: its service's, berth's variables and, for a
 * process (not a container, whose image has its own), the host's PATH and
 * the like. */
void runner__build_env(const struct rinst *in, const struct spec_service *svc, struct strv *env);
void runner__ensure_bind_paths(const struct spec_service *svc);
/* The service's own environment (for its hooks): its environment plus the
 * host variables instances inherit. */
void runner__service_env(const struct spec_service *svc, struct strv *env);

#endif
