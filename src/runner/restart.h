/* Restart policy decisions, as pure functions of the policy, the history
 * and the clock, so they are tested without processes.
 *
 * Policy, from the service: deploy.restart_policy when given (condition
 * any | on-failure | none, delay, max_attempts, window), else restart:
 * (no | always | unless-stopped | on-failure[:N]). An instance stopped by
 * berth (stop, scale down, down) is never restarted.
 *
 * Backoff: the first restart waits <delay> (default 100 ms), each further
 * consecutive one twice as long, capped at 30 s. A run that stayed up for
 * the window (default 10 s) resets the count: the next crash restarts after
 * the first delay again. Three or more consecutive quick crashes make the
 * instance "crash-looping", which berth ps shows. */
#ifndef BERTH_RUNNER_RESTART_H
#define BERTH_RUNNER_RESTART_H

#include <stdbool.h>
#include <stdint.h>

#define RESTART_DEFAULT_DELAY_MS 100
#define RESTART_MAX_DELAY_MS 30000
#define RESTART_DEFAULT_WINDOW_MS 10000
#define RESTART_CRASHLOOP_AFTER 3

enum restart_when {
	RESTART_NEVER = 0,     /* restart: no, or condition: none */
	RESTART_ALWAYS,        /* always, unless-stopped, condition: any */
	RESTART_ON_FAILURE,    /* on-failure[:N], condition: on-failure */
};

struct restart_policy {
	enum restart_when when;
	int max_attempts;      /* 0 = unlimited */
	uint64_t delay_ms;     /* first backoff step */
	uint64_t window_ms;    /* a run this long resets the backoff */
};

struct restart_history {
	int restarts;          /* restarts since the instance was (re)deployed */
	int consecutive;       /* quick crashes in a row */
};

struct spec_service;
void restart_policy_of(const struct spec_service *svc, struct restart_policy *out);

/* After a run that ended with <exit_code> (-1 if killed) / <signal>,
 * having lasted <ran_ms>: returns true and the delay before the next start
 * in *delay_ms, updating <h>; or false when the instance stays down. */
bool restart_decide(const struct restart_policy *p, struct restart_history *h, int exit_code, int signal,
		    uint64_t ran_ms, uint64_t *delay_ms);

static inline bool restart_crashlooping(const struct restart_history *h)
{
	return h->consecutive >= RESTART_CRASHLOOP_AFTER;
}

#endif
