/*
 * test_tlsa_expiry.c - dg_tlsa_chain_expiry_advise: certificate lifetimes
 * matter under DANE-TA (SPEC AUTH-4) and never under DANE-EE only (AUTH-2).
 * Uses tests/data/dane/leaf-mx1.crt (valid 2025-01-01 .. 2026-01-01) + inter.crt.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/tlsa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static STACK_OF(X509) *load_chain(void)
{
	const char *dir = getenv("DG_TEST_DATA");
	const char *files[] = {"dane/leaf-mx1.crt", "dane/inter.crt"};
	STACK_OF(X509) *chain = sk_X509_new_null();
	char path[1024];

	assert_non_null(dir);
	for (size_t i = 0; i < 2; i++) {
		STACK_OF(X509) *sk = NULL;
		struct dg_err err = {0};

		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (dg_tlsa_load_certs(path, &sk, &err) != DG_OK)
			fail_msg("load %s: %s", path, err.msg);
		sk_X509_push(chain, sk_X509_shift(sk));
		sk_X509_pop_free(sk, X509_free);
	}
	return chain;
}

static time_t utc(int y, int m, int d)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};

	return timegm(&tm);
}

static void test_expiry_advice(void **state)
{
	static const uint8_t digest[32] = {1, 2, 3};
	static const struct {
		const char *name;
		uint8_t usage;
		int y, m, d;
		const char *want; /* NULL: no advice */
	} t[] = {
		{"DANE-TA, mid-life", 2, 2025, 6, 1, NULL},
		{"DANE-TA, 12 days left", 2, 2025, 12, 20, "certificate-expiring"},
		{"DANE-TA, expired", 2, 2026, 2, 1, "certificate-expired"},
		{"DANE-EE only, expired: dates do not matter", 3, 2026, 2, 1, NULL},
	};
	STACK_OF(X509) *chain = load_chain();

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct dg_tlsa_set *set = dg_tlsa_set_new();
		struct dg_tlsa_advice adv;
		const char *got;

		dg_tlsa_advice_init(&adv);
		assert_int_equal(dg_tlsa_set_add(set, t[i].usage, 0, 1, digest, 32, NULL), DG_OK);
		dg_tlsa_chain_expiry_advise(set, chain, utc(t[i].y, t[i].m, t[i].d), 21, &adv);
		got = adv.count > 0 ? adv.item[0].code : NULL;
		if ((got == NULL) != (t[i].want == NULL) ||
		    (got != NULL && strcmp(got, t[i].want) != 0))
			fail_msg("%s: got %s, want %s", t[i].name, got ? got : "no advice",
				 t[i].want ? t[i].want : "no advice");
		if (got != NULL)
			assert_non_null(strstr(adv.item[0].text, "depth 0"));
		dg_tlsa_advice_cleanup(&adv);
		dg_tlsa_set_free(set);
	}
	sk_X509_pop_free(chain, X509_free);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expiry_advice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
