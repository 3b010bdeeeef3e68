/*
 * fuzz_tlsa_rdata.c - libFuzzer target for the TLSA wire parser and what consumes its output.
 *
 * Input: a sequence of chunks, each a 2-byte big-endian length then that many RDATA bytes
 * (a short last chunk takes what is left). The first chunk also goes through
 * dg_tlsa_parse_rdata() whole. Each parsed record is classified, described, formatted and
 * parsed back (the round trip must give the same record, else abort()); the records form a set
 * that goes through classification, agility and publishing advice.
 */
#include <daneguard/tlsa.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const struct dg_tlsa_rr *rr, size_t num);

static void check_record(const struct dg_tlsa_rr *rr, size_t num)
{
	char descr[DG_TLSA_DESCR_MAX];
	struct dg_tlsa_rr back;
	char *text;

	dg_tlsa_rr_describe(rr, num, descr, sizeof(descr));
	text = dg_tlsa_rr_format(rr, DG_TLSA_FMT_ACRONYMS | DG_TLSA_FMT_UPPER);
	if (dg_tlsa_parse_text(NULL, text, strlen(text), &back, NULL) != DG_OK ||
	    !dg_tlsa_rr_is_equal(rr, &back)) {
		fprintf(stderr, "round trip failed for \"%.80s\"\n", text);
		abort();
	}
	dg_tlsa_rr_cleanup(&back);
	free(text);
	free(dg_tlsa_rr_policy_string(rr));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_tlsa_set *set = dg_tlsa_set_new();
	struct dg_tlsa_summary sum;
	struct dg_tlsa_agility ag;
	struct dg_tlsa_advice adv;
	struct dg_tlsa_rr rr;
	struct dg_err err;
	size_t off = 0;

	if (dg_tlsa_parse_rdata("fuzz", data, size, &rr, &err) == DG_OK) {
		check_record(&rr, 1);
		dg_tlsa_rr_cleanup(&rr);
	}
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];

		off += 2;
		if (len > size - off)
			len = size - off;
		if (dg_tlsa_parse_rdata(NULL, data + off, len, &rr, &err) == DG_OK) {
			check_record(&rr, set->count + 1);
			if (dg_tlsa_set_take_rr(set, &rr, &err) != DG_OK)
				dg_tlsa_rr_cleanup(&rr);
		}
		off += len;
	}
	dg_tlsa_set_classify(set, &sum);
	dg_tlsa_set_agility(set, NULL, &ag);
	if (ag.kept > sum.usable)
		abort(); /* agility only ever removes usable records */
	dg_tlsa_advice_init(&adv);
	dg_tlsa_set_advise(set, &adv);
	dg_tlsa_advice_cleanup(&adv);
	dg_tlsa_set_free(set);
	return 0;
}
