/*
 * fuzz_tsig_key.c - libFuzzer target for the TSIG key parsers (lib/publish/publish_tsig.c).
 *
 * The whole input goes through dg_tsig_key_parse() (first key, then the key named "b"); a
 * parsed key must have a valid name, a known algorithm and a secret of 1..DG_TSIG_SECRET_MAX
 * octets, and an error offset must point into the input, else abort(). A NUL-terminated copy
 * of at most 512 bytes also goes through dg_tsig_key_parse_arg().
 */
#include <daneguard/publish.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_key(const struct dg_tsig_key *key);

static void check_key(const struct dg_tsig_key *key)
{
	if (!dg_name_is_valid(key->name, NULL) || key->secret_len == 0 ||
	    key->secret_len > DG_TSIG_SECRET_MAX || strncmp(key->algorithm, "hmac-", 5) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_tsig_key key;
	struct dg_err err = {0};
	char small[513];

	if (dg_tsig_key_parse(data, size, NULL, &key, &err) == DG_OK)
		check_key(&key);
	else if (err.offset > size)
		abort();
	dg_tsig_key_cleanup(&key);
	if (dg_tsig_key_parse(data, size, "b", &key, NULL) == DG_OK)
		check_key(&key);
	dg_tsig_key_cleanup(&key);
	if (size < sizeof(small)) {
		memcpy(small, data, size);
		small[size] = '\0';
		if (dg_tsig_key_parse_arg(small, &key, NULL) == DG_OK)
			check_key(&key);
		dg_tsig_key_cleanup(&key);
	}
	return 0;
}
