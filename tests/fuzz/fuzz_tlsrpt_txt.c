/*
 * fuzz_tlsrpt_txt.c - libFuzzer target for the TLS-RPT TXT record parser and its RRset
 * selection (lib/tlsrpt/tlsrpt_txt.c, SPEC RPT-1).
 *
 * Input: TXT record texts separated by NUL bytes. Invariants (violations abort): a valid
 * record starts with "v=TLSRPTv1" and has 1..DG_TLSRPT_RUA_MAX URIs, each starting with
 * mailto: or https: (any case) and free of ',' '!' ';' and spaces; errors carry a message;
 * VALID needs exactly one TLS-RPT record and it must parse.
 */
#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FUZZ_RECORDS_MAX = 16 };

static void fuzz_check_rua(const struct dg_tlsrpt *r);

static void fuzz_check_rua(const struct dg_tlsrpt *r)
{
	if (r->n_rua == 0 || r->n_rua > DG_TLSRPT_RUA_MAX)
		abort();
	for (size_t i = 0; i < r->n_rua; i++) {
		const char *u = r->rua[i];

		if (dg_ascii_strncasecmp(u, "mailto:", 7) != 0 &&
		    dg_ascii_strncasecmp(u, "https://", 8) != 0)
			abort();
		if (strpbrk(u, ",!; \t") != NULL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dg_tlsrpt r;
	const char *txt[FUZZ_RECORDS_MAX];
	size_t lens[FUZZ_RECORDS_MAX], n = 0, start = 0, candidates = 0, valid = 0;
	struct dg_err err;

	for (size_t i = 0; i <= size && n < FUZZ_RECORDS_MAX; i++) {
		if (i < size && data[i] != '\0')
			continue;
		txt[n] = (const char *)data + start;
		lens[n++] = i - start;
		start = i + 1;
	}
	for (size_t i = 0; i < n; i++) {
		enum dg_status st;

		dg_err_clear(&err);
		st = dg_tlsrpt_parse(txt[i], lens[i], &r, &err);
		if (st != DG_E_NOTFOUND)
			candidates++;
		if (st == DG_OK) {
			valid++;
			if (lens[i] < 10 || memcmp(txt[i], "v=TLSRPTv1", 10) != 0)
				abort();
			fuzz_check_rua(&r);
		} else if (err.msg[0] == '\0') {
			abort();
		}
	}
	switch (dg_tlsrpt_select(txt, lens, n, &r, &err)) {
	case DG_TLSRPT_VALID:
		if (candidates != 1 || valid != 1)
			abort();
		fuzz_check_rua(&r);
		break;
	case DG_TLSRPT_ABSENT:
		if (candidates != 0)
			abort();
		break;
	case DG_TLSRPT_INVALID:
		if (candidates == 0 || (candidates == 1 && valid == 1))
			abort();
		break;
	}
	return 0;
}
