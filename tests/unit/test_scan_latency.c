/*
 * test_scan_latency.c - the engine's latency histograms (dg_latency_observe in
 * lib/scan/scan_engine.c): which bucket an observation lands in at and around every bound,
 * counts and sums, and that the bounds ascend.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/scan.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct lat_case {
	uint64_t ms;
	size_t bucket; /* index into dg_latency_hist.bucket */
};

static void test_buckets(void **state);
static void test_bounds_ascend(void **state);

static void test_buckets(void **state)
{
	static const struct lat_case cases[] = {
	    {0, 0},
	    {5, 0},
	    {6, 1},
	    {10, 1},
	    {11, 2},
	    {100, 4},
	    {101, 5},
	    {999, 7},
	    {1000, 7},
	    {1001, 8},
	    {10000, 9},
	    {10001, 10},
	    {UINT64_MAX / 4, 10},
	};
	uint64_t sum = 0;
	struct dg_latency_hist total;

	(void)state;
	memset(&total, 0, sizeof(total));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_latency_hist h;

		memset(&h, 0, sizeof(h));
		dg_latency_observe(&h, cases[i].ms);
		dg_latency_observe(&total, cases[i].ms);
		sum += cases[i].ms;
		for (size_t b = 0; b <= DG_LATENCY_BUCKETS; b++)
			if (h.bucket[b] != (b == cases[i].bucket ? 1u : 0u))
				fail_msg("%" PRIu64 " ms: bucket %zu got %" PRIu64
				         ", want bucket %zu",
				         cases[i].ms, b, h.bucket[b], cases[i].bucket);
	}
	assert_int_equal(total.count, sizeof(cases) / sizeof(cases[0]));
	assert_true(total.sum_ms == sum);
}

static void test_bounds_ascend(void **state)
{
	(void)state;
	for (size_t i = 1; i < DG_LATENCY_BUCKETS; i++)
		if (dg_latency_bounds_ms[i] <= dg_latency_bounds_ms[i - 1])
			fail_msg("bound %zu: got %u after %u, want ascending", i,
			         dg_latency_bounds_ms[i], dg_latency_bounds_ms[i - 1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buckets),
	    cmocka_unit_test(test_bounds_ascend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
