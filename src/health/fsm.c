/* The health state machine: starting -> healthy <-> unhealthy, by consecutive results and time. No I/O. */
#include "health/health-int.h"

void health__fsm_init(struct health_fsm *f, int rise, int fall, uint64_t start_period,
		      uint64_t init_timeout, uint64_t now)
{
	*f = (struct health_fsm){
		.state = HEALTH_STARTING,
		.rise = rise > 0 ? rise : 1,
		.fall = fall > 0 ? fall : 1,
		.start_period = start_period,
		.init_timeout = init_timeout,
		.started = now,
	};
}

static bool set_state(struct health_fsm *f, enum health_state to)
{
	if (f->state == to)
		return false;
	f->state = to;
	f->successes = 0;
	f->failures = 0;
	return true;
}

bool health__fsm_in_grace(const struct health_fsm *f, uint64_t now)
{
	return f->state == HEALTH_STARTING && !f->graced && now - f->started < f->start_period;
}

bool health__fsm_result(struct health_fsm *f, bool ok, uint64_t now)
{
	/* Time first: a result that arrives after the initializing timeout
	 * is counted against the state the timeout has already made. */
	bool changed = health__fsm_tick(f, now);

	if (ok) {
		f->graced = true;
		f->failures = 0;
		if (f->state == HEALTH_HEALTHY)
			return changed;
		if (++f->successes >= f->rise)
			changed |= set_state(f, HEALTH_HEALTHY);
		return changed;
	}
	/* Compose: "probe failure during that period will not be counted
	 * towards the maximum number of retries". It breaks a run of
	 * successes all the same: rise counts successes in a row. */
	f->successes = 0;
	if (health__fsm_in_grace(f, now))
		return changed;
	if (f->state == HEALTH_UNHEALTHY)
		return changed;
	if (++f->failures >= f->fall)
		changed |= set_state(f, HEALTH_UNHEALTHY);
	return changed;
}

bool health__fsm_tick(struct health_fsm *f, uint64_t now)
{
	if (f->state == HEALTH_STARTING && f->init_timeout && now - f->started >= f->init_timeout)
		return set_state(f, HEALTH_UNHEALTHY);
	return false;
}

uint64_t health__fsm_deadline(const struct health_fsm *f)
{
	if (f->state != HEALTH_STARTING || !f->init_timeout)
		return UINT64_MAX;
	return f->started + f->init_timeout;
}
