/*
 * fuzz_policy_map.c - libFuzzer target for the relay's TLS policy table parser
 * (dg_relay_policy_map_parse: Postfix smtp_tls_policy_maps source syntax, a file an
 * operator edits or `report fail-list` writes; STYLE section 9).
 *
 * Whatever the input, the parse must not crash or leak. A table that parses must have
 * unique keys and real levels, and lookups must agree with the entries: an exact entry is
 * found under its own name, and a ".domain" entry (or a more specific one) answers for a
 * child of the domain. Else abort().
 */
#include <daneguard/relay.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const struct dg_relay_policy_map *m, const struct dg_relay_policy_entry *e)
{
	char child[DG_NAME_BUF_SIZE + 8];
	const struct dg_relay_policy_entry *got;

	if (e->level == DG_RELAY_LEVEL_DEFAULT || e->line == 0 || e->domain[0] == '\0')
		abort();
	if (!e->subdomains) {
		if (dg_relay_policy_lookup(m, e->domain) != e)
			abort();
		return;
	}
	snprintf(child, sizeof(child), "x.%s", e->domain);
	if (!dg_name_is_valid(child, NULL))
		return; /* the domain is too long for a child */
	got = dg_relay_policy_lookup(m, child);
	if (got == NULL)
		abort();
	if (got != e && !(strcmp(got->domain, child) == 0 && !got->subdomains))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_relay_policy_map *m = NULL;
	struct dg_err err = {0};
	size_t warnings = 0, n;

	if (size > (1u << 20))
		return 0;
	if (dg_relay_policy_map_parse((const char *)data, size, "fuzz", &m, &warnings, &err) !=
	    DG_OK) {
		if (m != NULL || strncmp(err.msg, "fuzz", 4) != 0)
			abort();
		return 0;
	}
	n = dg_relay_policy_map_count(m);
	for (size_t i = 0; i < n; i++) {
		const struct dg_relay_policy_entry *e = dg_relay_policy_map_get(m, i);

		check_entry(m, e);
		if (i > 0) {
			const struct dg_relay_policy_entry *p = dg_relay_policy_map_get(m, i - 1);

			if (strcmp(p->domain, e->domain) == 0 && p->subdomains == e->subdomains)
				abort(); /* duplicates are refused */
		}
	}
	dg_relay_policy_map_free(m);
	return 0;
}
