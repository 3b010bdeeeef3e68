/*
 * fuzz_tlsa_text.c - libFuzzer target for the TLSA presentation-text parser.
 *
 * The whole input is parsed with dg_tlsa_parse_text(); a parsed record is formatted in every
 * style and parsed back (the round trip must give the same record, else abort()), then
 * classified and given advice. The input (NUL-terminated copy, at most 256 bytes) also goes
 * through dg_tlsa_strength_parse().
 */
#include <daneguard/tlsa.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct dg_tlsa_rr *rr, unsigned flags);

static void round_trip(const struct dg_tlsa_rr *rr, unsigned flags)
{
	char *text = dg_tlsa_rr_format(rr, flags);
	struct dg_tlsa_rr back;

	if (dg_tlsa_parse_text(NULL, text, strlen(text), &back, NULL) != DG_OK ||
	    !dg_tlsa_rr_is_equal(rr, &back)) {
		fprintf(stderr, "round trip failed for \"%.80s\"\n", text);
		abort();
	}
	dg_tlsa_rr_cleanup(&back);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_tlsa_strength order;
	struct dg_tlsa_rr rr;
	struct dg_err err;
	char small[257];

	if (dg_tlsa_parse_text("fuzz", (const char *)data, size, &rr, &err) == DG_OK) {
		struct dg_tlsa_set *set = dg_tlsa_set_new();
		struct dg_tlsa_advice adv;
		char descr[DG_TLSA_DESCR_MAX];

		round_trip(&rr, DG_TLSA_FMT_DEFAULT);
		round_trip(&rr, DG_TLSA_FMT_ACRONYMS);
		round_trip(&rr, DG_TLSA_FMT_UPPER);
		free(dg_tlsa_rr_policy_string(&rr));
		dg_tlsa_rr_describe(&rr, 1, descr, sizeof(descr));
		dg_tlsa_advice_init(&adv);
		if (dg_tlsa_set_take_rr(set, &rr, &err) == DG_OK)
			dg_tlsa_set_advise(set, &adv);
		dg_tlsa_advice_cleanup(&adv);
		dg_tlsa_rr_cleanup(&rr);
		dg_tlsa_set_free(set);
	} else if (err.offset > size) {
		abort(); /* an error offset must point into the input */
	}
	if (size < sizeof(small)) {
		memcpy(small, data, size);
		small[size] = '\0';
		(void)dg_tlsa_strength_parse(small, &order, NULL);
	}
	return 0;
}
