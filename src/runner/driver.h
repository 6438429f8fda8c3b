/* Runtime drivers: how an instance's program is started, stopped, watched
 * and re-adopted. One file per driver under runner/drivers/, one row in
 * the table in driver.c (STYLE.md 2). The runner never calls ops directly:
 * it goes through the driver_*() wrappers below.
 *
 * A run is one start of an instance. The driver reports, on the runner's
 * loop, exactly one of:
 *   - started(pid), then later exited(code, signal), or
 *   - failed(reason) when nothing could be started.
 * A stop request makes a running run end (the driver escalates to SIGKILL
 * after the grace period); its end is still reported as exited. */
#ifndef BERTH_RUNNER_DRIVER_H
#define BERTH_RUNNER_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct driver_run;
struct spec_service;
struct spec_volume_decl;

/* One host port of an instance, for drivers that publish ports (docker). */
struct driver_port {
	int target;                  /* the port inside the container */
	int host;                    /* the host port berth gave it */
	bool udp;
	const char *host_ip;         /* address to bind; NULL: all */
};

/* What to run: everything resolved (ports and variables filled in). */
struct driver_spec {
	char **argv;                 /* NULL-terminated (process) */
	char **env;                  /* NULL-terminated "K=V" */
	const char *cwd;             /* NULL: the instance's state dir */
	const char *user;            /* NULL: the agent's user */
	int stop_signal;
	uint64_t stop_grace_ms;
	const char *log_path;        /* where stdout/stderr go (CRI lines) */
	const char *run_dir;         /* a fresh directory for this run's files */
	/* Drivers that run images (docker) also read these; the process
	 * driver ignores them. */
	const struct spec_service *svc; /* borrowed for the call */
	const char *image;           /* the image to run (built from svc->build when missing) */
	const char *project_dir;     /* where a relative build context was resolved */
	char **entrypoint;           /* NULL-terminated, expanded; NULL: the image's */
	char **command;              /* NULL-terminated, expanded; NULL: the image's */
	const struct driver_port *ports;
	int nports;
	const struct spec_volume_decl *volumes; /* the stack's named volumes */
	int nvolumes;
	const char *stack, *service;
	int index;
	const char *node;
	const char *data_dir;
	int run;                     /* the run's number (runs/<n>) */
};

struct driver_events {
	void (*started)(struct driver_run *run, pid_t pid, void *arg);
	void (*exited)(struct driver_run *run, int exit_code, int signal, void *arg);
	void (*failed)(struct driver_run *run, const char *reason, void *arg);
};

struct driver_run {
	const struct driver_ops *ops;
	uv_loop_t *loop;
	const struct driver_events *ev;
	void *arg;                   /* given to the events */
	pid_t pid;                   /* the program, once started */
	char *run_dir;
	bool adopted;                /* found running at agent start, not started by us */
	void *priv;                  /* driver state */
};

struct driver_ops {
	const char *name;            /* "process" */
	/* Starts <spec>; events follow on <loop>. Returns 0 and *out, or a
	 * negative error with *err (heap) and no event. */
	int (*start)(uv_loop_t *loop, const struct driver_spec *spec, const struct driver_events *ev, void *arg,
		     const char *shim, struct driver_run **out, char **err);
	/* Asks a run to stop (idempotent). */
	void (*stop)(struct driver_run *run);
	/* Looks at <run_dir> left by an earlier agent: returns 1 and *out (the
	 * run is alive and now watched: events follow), 0 if it has ended
	 * (*code and *sig tell how, -1/0 when unknown), -1 if there is nothing
	 * usable there. */
	int (*adopt)(uv_loop_t *loop, const char *run_dir, const struct driver_events *ev, void *arg,
		     struct driver_run **out, int *code, int *sig);
	/* Forgets a run that has ended (after exited/failed). */
	void (*release)(struct driver_run *run);
};

extern const struct driver_ops driver_process_ops;
extern const struct driver_ops driver_docker_ops;

/* The driver called <name> (driver.c's table), or NULL. */
const struct driver_ops *driver_find(const char *name);

/* Which driver runs <svc>: x-berth.driver when given, else "docker" for a
 * service with an image or a build (but never `image: berth/lb`, berth's
 * own load balancer), else "process". */
const char *driver_for_service(const struct spec_service *svc);

/* Whether a Docker engine answers (DOCKER_HOST, else the default socket):
 * <done> gets NULL, or why not, on <loop>, once. */
typedef void driver_probe_fn(const char *error, void *arg);
void driver_docker_probe(uv_loop_t *loop, driver_probe_fn *done, void *arg);
/* The engine address probes and runs use, for messages. */
const char *driver_docker_host(void);
/* Runs <argv> in <container> (DOCKER_HOST's engine), blocking, its output
 * on our stdout and stderr; returns its exit code, or 126 when it could
 * not run. For `berth docker-exec`, the program of an exec health check of
 * a docker instance. */
int driver_docker_exec(const char *container, char *const *argv);
/* The name the docker driver gives an instance's container (heap). */
char *driver_docker_container_name(const char *stack, const char *svc, int index, const char *node,
				   const char *data_dir);
/* The agent stops: the docker driver's client closes its connections. */
void driver_docker_shutdown(void);

static inline int driver_start(const struct driver_ops *d, uv_loop_t *loop, const struct driver_spec *spec,
			       const struct driver_events *ev, void *arg, const char *shim, struct driver_run **out,
			       char **err)
{
	return d->start(loop, spec, ev, arg, shim, out, err);
}

static inline void driver_stop(struct driver_run *run)
{
	run->ops->stop(run);
}

static inline int driver_adopt(const struct driver_ops *d, uv_loop_t *loop, const char *run_dir,
			       const struct driver_events *ev, void *arg, struct driver_run **out, int *code,
			       int *sig)
{
	return d->adopt(loop, run_dir, ev, arg, out, code, sig);
}

static inline void driver_release(struct driver_run *run)
{
	run->ops->release(run);
}

#endif
