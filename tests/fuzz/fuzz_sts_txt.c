/*
 * fuzz_sts_txt.c - libFuzzer target for the _mta-sts TXT record parser and its RRset selection
 * (lib/mtasts/mtasts_txt.c, SPEC STS-1).
 *
 * Input: TXT record texts separated by NUL bytes. Each is parsed alone, then the whole set is
 * selected. Invariants (violations abort): a valid record has an id of 1..32 letters or digits
 * and starts with "v=STSv1"; a record not starting with "v=STSv1" is never valid; errors carry
 * a message; PRESENT needs exactly one MTA-STS record and it must parse.
 */
#include <daneguard/mtasts.h>
#include <daneguard/util.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FUZZ_RECORDS_MAX = 16 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *txt[FUZZ_RECORDS_MAX];
	size_t lens[FUZZ_RECORDS_MAX], n = 0, start = 0, candidates = 0, valid = 0;
	struct dg_sts_txt t;
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
		st = dg_sts_txt_parse(txt[i], lens[i], &t, &err);
		if (st != DG_E_NOTFOUND)
			candidates++;
		if (st == DG_OK) {
			size_t idl = strlen(t.id);

			valid++;
			if (idl == 0 || idl > DG_STS_ID_MAX || lens[i] < 7 ||
			    memcmp(txt[i], "v=STSv1", 7) != 0)
				abort();
			for (size_t k = 0; k < idl; k++)
				if (!dg_ascii_isalnum((unsigned char)t.id[k]))
					abort();
		} else if (err.msg[0] == '\0') {
			abort();
		}
	}
	switch (dg_sts_txt_select(txt, lens, n, &t, &err)) {
	case DG_STS_TXT_PRESENT:
		if (candidates != 1 || valid != 1)
			abort();
		break;
	case DG_STS_TXT_ABSENT:
		if (candidates != 0)
			abort();
		break;
	case DG_STS_TXT_INVALID:
		if (candidates == 0 || (candidates == 1 && valid == 1))
			abort();
		break;
	}
	return 0;
}
