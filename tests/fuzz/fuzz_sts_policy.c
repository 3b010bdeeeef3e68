/*
 * fuzz_sts_policy.c - libFuzzer target for the MTA-STS policy parser and MX pattern matching
 * (lib/mtasts/mtasts_policy.c, SPEC STS-3, STS-6).
 *
 * Input: a policy body as an HTTPS server would send it. Invariants checked on the result
 * (violations abort): success means version/mode/max_age were present, max_age is in range,
 * mode none or at least one mx, every pattern is a lowercase name that matches itself (or, for
 * "*.suffix", "x.suffix"); failure comes with a message and a line no later than the last
 * line; the same input parses the same way twice.
 */
#include <daneguard/mtasts.h>
#include <daneguard/util.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_ok(const struct dg_sts_policy *pol);

static void fuzz_check_ok(const struct dg_sts_policy *pol)
{
	char probe[DG_NAME_BUF_SIZE + 8];

	if (pol->max_age_s > DG_STS_MAX_AGE_MAX || pol->n_mx > DG_STS_MX_MAX ||
	    (pol->mode != DG_STS_MODE_NONE && pol->n_mx == 0) || pol->err_line != 0)
		abort();
	for (size_t i = 0; i < pol->n_mx; i++) {
		const char *p = pol->mx[i];

		for (const char *c = p; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				abort();
		if (strncmp(p, "*.", 2) == 0) {
			snprintf(probe, sizeof(probe), "x.%s", p + 2);
			if (!dg_sts_mx_match(p, probe) || dg_sts_mx_match(p, p + 2))
				abort();
		} else if (!dg_sts_mx_match(p, p)) {
			abort();
		}
		if (!dg_sts_policy_matches(pol, p[0] == '*' ? probe : p))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_sts_policy a, b;
	struct dg_err err;
	enum dg_status st, st2;
	size_t lines = 1;

	dg_err_clear(&err);
	st = dg_sts_policy_parse(data, size, &a, &err);
	st2 = dg_sts_policy_parse(data, size, &b, NULL);
	if (st != st2 || a.n_mx != b.n_mx || a.err_line != b.err_line)
		abort();
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (st == DG_OK)
		fuzz_check_ok(&a);
	else if (err.msg[0] == '\0' || a.err_line > lines || err.code != st)
		abort();
	dg_sts_policy_cleanup(&a);
	dg_sts_policy_cleanup(&b);
	return 0;
}
