/*
 * fuzz_sts_cache.c - libFuzzer target for the MTA-STS cache file parser and writer
 * (lib/mtasts/mtasts_cache.c, docs/internals/mtasts.md "Policy cache").
 *
 * Input: one cache file. Invariants (violations abort): an error carries a message; a
 * parsed entry has a normalized domain, a policy text exactly when it has an id and a fetch
 * time, and a fail-id exactly when it has a failure time; formatting it gives the input back
 * byte for byte (the format is canonical); the caching decision on it never crashes and
 * never uses a policy it could not apply (DG_STS_USE_CACHED only with a policy text).
 */
#include <daneguard/mtasts.h>
#include <daneguard/util.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_ok(const uint8_t *data, size_t size, const struct dg_sts_cache_entry *e);

static void fuzz_check_ok(const uint8_t *data, size_t size, const struct dg_sts_cache_entry *e)
{
	static const uint64_t nows[] = {0, 1, 1700000000, UINT64_MAX / 2};
	struct dg_err err;
	char name[DG_NAME_BUF_SIZE], why[320];
	uint8_t *out = NULL;
	size_t len = 0;

	if (dg_name_normalize(e->domain, name, sizeof(name), NULL) != DG_OK ||
	    strcmp(name, e->domain) != 0)
		abort();
	if ((e->policy_text != NULL) != (e->id[0] != '\0') ||
	    (e->fetched_s != 0) != (e->id[0] != '\0'))
		abort();
	if ((e->fail_id[0] != '\0') != (e->last_fail_s != 0))
		abort();
	if (dg_sts_cache_entry_format(e, &out, &len, &err) != DG_OK)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	for (size_t i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
		if (dg_sts_cache_decide(e, false, NULL, nows[i], why, sizeof(why)) ==
		        DG_STS_USE_CACHED &&
		    e->policy_text == NULL)
			abort();
		if (dg_sts_cache_decide(e, true, "abc123", nows[i], why, sizeof(why)) ==
		        DG_STS_USE_CACHED &&
		    e->policy_text == NULL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_sts_cache_entry e;
	struct dg_err err;

	dg_err_clear(&err);
	if (dg_sts_cache_entry_parse(data, size, &e, &err) == DG_OK)
		fuzz_check_ok(data, size, &e);
	else if (err.msg[0] == '\0')
		abort();
	dg_sts_cache_entry_cleanup(&e);
	return 0;
}
