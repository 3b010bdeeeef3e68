/*
 * fuzz_dns_answer.c - libFuzzer target for dg_dns_parse_answer() (STYLE.md section 9).
 *
 * The input is a DNS response. It is parsed twice: once taking the query name and type
 * from its own question (so mutations get past the question check), and once against a
 * fixed query (example.com/MX), which exercises the mismatch paths. Every successful parse
 * is deep-copied and both copies are released, so ASan sees every owned pointer.
 * Seeds: tests/fuzz/corpus/dns_answer/ (written by test_dns with DG_DNS_CORPUS_DIR set).
 */
#include <daneguard/dns.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_dns_answer ans, copy;
	struct dg_err err;

	if (dg_dns_parse_answer(data, size, NULL, 0, &ans, &err) == DG_OK) {
		dg_dns_answer_copy(&copy, &ans);
		for (size_t i = 0; i < copy.n_rrs; i++)
			if (copy.rrs[i].type == DG_DNS_T_TXT && copy.rrs[i].u.txt.text == NULL)
				__builtin_trap();
		dg_dns_answer_cleanup(&copy);
	} else if (ans.outcome != DG_DNS_ERROR || ans.reason == NULL) {
		__builtin_trap(); /* a parse error must be reported as an error with a reason */
	}
	dg_dns_answer_cleanup(&ans);
	(void)dg_dns_parse_answer(data, size, "example.com", DG_DNS_T_MX, &ans, NULL);
	dg_dns_answer_cleanup(&ans);
	return 0;
}
