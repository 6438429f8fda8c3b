/* Restart policy decisions (see restart.h). */
#include "runner/restart.h"

#include "spec/spec.h"

void restart_policy_of(const struct spec_service *svc, struct restart_policy *out)
{
	const struct spec_restart_policy *rp = &svc->deploy.restart_policy;

	*out = (struct restart_policy){.delay_ms = RESTART_DEFAULT_DELAY_MS, .window_ms = RESTART_DEFAULT_WINDOW_MS};
	if (rp->set) {
		out->when = rp->condition == SPEC_RP_NONE ? RESTART_NEVER
			    : rp->condition == SPEC_RP_ON_FAILURE ? RESTART_ON_FAILURE : RESTART_ALWAYS;
		out->max_attempts = rp->max_attempts;
		if (rp->delay)
			out->delay_ms = rp->delay;
		if (rp->window)
			out->window_ms = rp->window;
		return;
	}
	switch (svc->restart) {
	case SPEC_RESTART_NO:
		out->when = RESTART_NEVER;
		break;
	case SPEC_RESTART_ALWAYS:
	case SPEC_RESTART_UNLESS_STOPPED:
		out->when = RESTART_ALWAYS;
		break;
	case SPEC_RESTART_ON_FAILURE:
		out->when = RESTART_ON_FAILURE;
		out->max_attempts = svc->restart_max;
		break;
	}
}

bool restart_decide(const struct restart_policy *p, struct restart_history *h, int exit_code, int signal,
		    uint64_t ran_ms, uint64_t *delay_ms)
{
	bool failed = exit_code != 0 || signal != 0;

	if (p->when == RESTART_NEVER || (p->when == RESTART_ON_FAILURE && !failed))
		return false;
	if (p->max_attempts && h->restarts >= p->max_attempts)
		return false;
	/* A long enough run was a success, whatever its exit: start over. */
	if (ran_ms >= p->window_ms)
		h->consecutive = 0;
	uint64_t d = p->delay_ms ? p->delay_ms : RESTART_DEFAULT_DELAY_MS;
	for (int i = 0; i < h->consecutive && d < RESTART_MAX_DELAY_MS; i++)
		d *= 2;
	if (d > RESTART_MAX_DELAY_MS)
		d = RESTART_MAX_DELAY_MS;
	h->consecutive++;
	h->restarts++;
	*delay_ms = d;
	return true;
}
