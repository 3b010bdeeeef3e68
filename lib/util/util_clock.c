/*
 * util_clock.c - monotonic and wall clocks.
 *
 * Public: dg_clock_mono_ms, dg_clock_wall, dg_clock_set_wall,
 * dg_clock_reset_wall.
 * Deadlines use CLOCK_MONOTONIC; wall-clock time (certificate validity, log
 * stamps) goes through dg_clock_wall(), which tests can fix (STYLE.md
 * section 6). The override is process-global and not thread-safe.
 */
#include <daneguard/util.h>

#include <time.h>

static bool clock_wall_fixed;
static time_t clock_wall_value;

uint64_t dg_clock_mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		DG_PANIC("clock_gettime(CLOCK_MONOTONIC) failed");
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

time_t dg_clock_wall(void)
{
	if (clock_wall_fixed)
		return clock_wall_value;
	return time(NULL);
}

void dg_clock_set_wall(time_t t)
{
	clock_wall_value = t;
	clock_wall_fixed = true;
}

void dg_clock_reset_wall(void)
{
	clock_wall_fixed = false;
}
