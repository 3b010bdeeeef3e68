/*
 * publish_serve.c - what one authoritative server serves: pure analysis of its SOA, DNSKEY
 * and TLSA answers.
 *
 * Public: dg_publish_serve_analyse, dg_publish_tlsa_set_equal, dg_publish_srv_state_str.
 *
 * Pure (STYLE.md section 7): answers are read with ldns_wire2pkt; nothing is sent or logged.
 * The server's DNSKEY RRset must equal the validated one (compared RDATA by RDATA); the
 * TLSA RRSIGs are then checked with ldns_verify_rrsig_keylist_time against that DNSKEY set
 * at the given time. At most DG_TLSA_SET_MAX TLSA records are kept (the rest makes the set
 * "different"); records with malformed RDATA are skipped one at a time. The served set in
 * struct dg_publish_server is owned by the report (dg_publish_report_free()).
 *
 * SPEC: section 12 PUB-6 (every server serves the new RRset before the key change), PUB-7
 * (TTL and signatures reported per server), PUB-8 (the TLSA RRset must validate).
 */
#include "publish/publish_int.h"

#include <stdio.h>
#include <string.h>

#include <ldns/ldns.h>

static ldns_pkt *pkt_read(const uint8_t *p, size_t len);
static ldns_rdf *dname_of(const char *name);
static void read_soa(const uint8_t *p, size_t len, const char *zone, struct dg_publish_server *out);
static bool rr_rdata(const ldns_rr *rr, uint8_t **data, size_t *len);
static ldns_rr_list *read_keys(const uint8_t *p, size_t len, const char *zone,
                               const struct dg_dns_rr *validated, size_t n_keys, bool *match);
static bool read_tlsa(ldns_pkt *pkt, const ldns_rdf *owner, struct dg_publish_server *out,
                      ldns_rr_list **rrset, ldns_rr_list **sigs);
static bool sigs_verify(ldns_rr_list *rrset, ldns_rr_list *sigs, const ldns_rr_list *keys,
                        time_t now);
static void judge(struct dg_publish_server *out, const struct dg_tlsa_set *want);

const char *dg_publish_srv_state_str(enum dg_publish_srv_state s)
{
	switch (s) {
	case DG_PUBLISH_SRV_OK: return "ok";
	case DG_PUBLISH_SRV_DIFFERENT: return "different";
	case DG_PUBLISH_SRV_UNSIGNED: return "unsigned";
	case DG_PUBLISH_SRV_BAD_SIGNATURE: return "bad-signature";
	case DG_PUBLISH_SRV_DNSKEY_MISMATCH: return "dnskey-mismatch";
	case DG_PUBLISH_SRV_NOT_AUTH: return "not-authoritative";
	case DG_PUBLISH_SRV_ERROR: return "error";
	case DG_PUBLISH_SRV_TIMEOUT: return "timeout";
	}
	return "unknown";
}

bool dg_publish_tlsa_set_equal(const struct dg_tlsa_set *a, const struct dg_tlsa_set *b)
{
	size_t na = a != NULL ? a->count : 0, nb = b != NULL ? b->count : 0;

	for (size_t i = 0; i < na; i++) {
		bool found = false;
		for (size_t j = 0; j < nb && !found; j++)
			found = dg_tlsa_rr_is_equal(&a->rr[i], &b->rr[j]);
		if (!found)
			return false;
	}
	for (size_t j = 0; j < nb; j++) {
		bool found = false;
		for (size_t i = 0; i < na && !found; i++)
			found = dg_tlsa_rr_is_equal(&a->rr[i], &b->rr[j]);
		if (!found)
			return false;
	}
	return true;
}

static ldns_pkt *pkt_read(const uint8_t *p, size_t len)
{
	ldns_pkt *pkt = NULL;

	if (p == NULL || len < 12 || ldns_wire2pkt(&pkt, p, len) != LDNS_STATUS_OK)
		return NULL;
	return pkt;
}

static ldns_rdf *dname_of(const char *name)
{
	char fq[DG_NAME_BUF_SIZE + 1];

	snprintf(fq, sizeof(fq), "%s.", name);
	return ldns_dname_new_frm_str(fq);
}

static void read_soa(const uint8_t *p, size_t len, const char *zone, struct dg_publish_server *out)
{
	ldns_pkt *pkt = pkt_read(p, len);
	ldns_rdf *z = dname_of(zone);
	ldns_rr_list *soa = NULL;

	if (pkt != NULL && z != NULL && ldns_pkt_aa(pkt))
		soa = ldns_pkt_rr_list_by_name_and_type(pkt, z, LDNS_RR_TYPE_SOA,
		                                        LDNS_SECTION_ANSWER);
	if (soa != NULL && ldns_rr_list_rr_count(soa) > 0 &&
	    ldns_rr_rd_count(ldns_rr_list_rr(soa, 0)) >= 3) {
		out->soa_serial = ldns_rdf2native_int32(ldns_rr_rdf(ldns_rr_list_rr(soa, 0), 2));
		out->has_soa = true;
	}
	ldns_rr_list_deep_free(soa);
	ldns_rdf_deep_free(z);
	ldns_pkt_free(pkt);
}

/* RDATA of an RR in wire form (uncompressed). */
static bool rr_rdata(const ldns_rr *rr, uint8_t **data, size_t *len)
{
	ldns_buffer *b = ldns_buffer_new(512);
	bool ok = b != NULL && ldns_rr_rdata2buffer_wire(b, rr) == LDNS_STATUS_OK;

	if (ok) {
		*len = ldns_buffer_position(b);
		*data = dg_xmalloc(*len);
		memcpy(*data, ldns_buffer_begin(b), *len);
	}
	ldns_buffer_free(b);
	return ok;
}

/* The server's DNSKEY RRset; *match tells whether it equals the validated set. */
static ldns_rr_list *read_keys(const uint8_t *p, size_t len, const char *zone,
                               const struct dg_dns_rr *validated, size_t n_keys, bool *match)
{
	ldns_pkt *pkt = pkt_read(p, len);
	ldns_rdf *z = dname_of(zone);
	ldns_rr_list *keys = NULL;
	size_t found = 0, n = 0;

	*match = false;
	if (pkt != NULL && z != NULL && ldns_pkt_aa(pkt))
		keys = ldns_pkt_rr_list_by_name_and_type(pkt, z, LDNS_RR_TYPE_DNSKEY,
		                                         LDNS_SECTION_ANSWER);
	n = keys != NULL ? ldns_rr_list_rr_count(keys) : 0;
	for (size_t i = 0; i < n && n <= DG_DNS_MAX_RRS; i++) {
		uint8_t *rd = NULL;
		size_t rlen = 0;
		bool hit = false;
		if (!rr_rdata(ldns_rr_list_rr(keys, i), &rd, &rlen))
			continue;
		for (size_t j = 0; j < n_keys && !hit; j++)
			hit = validated[j].u.raw.len == rlen &&
			      memcmp(validated[j].u.raw.data, rd, rlen) == 0;
		found += hit;
		free(rd);
	}
	*match = n > 0 && found == n && n == n_keys;
	ldns_rdf_deep_free(z);
	ldns_pkt_free(pkt);
	return keys;
}

static bool read_tlsa(ldns_pkt *pkt, const ldns_rdf *owner, struct dg_publish_server *out,
                      ldns_rr_list **rrset, ldns_rr_list **sigs)
{
	ldns_rr_list *all =
	    ldns_pkt_rr_list_by_name_and_type(pkt, owner, LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER);
	size_t n;

	*rrset =
	    ldns_pkt_rr_list_by_name_and_type(pkt, owner, LDNS_RR_TYPE_TLSA, LDNS_SECTION_ANSWER);
	*sigs = ldns_rr_list_new();
	for (size_t i = 0; all != NULL && i < ldns_rr_list_rr_count(all); i++) {
		ldns_rr *s = ldns_rr_list_rr(all, i);
		ldns_rdf *tc = ldns_rr_rrsig_typecovered(s);
		if (tc != NULL && ldns_rdf2rr_type(tc) == LDNS_RR_TYPE_TLSA)
			ldns_rr_list_push_rr(*sigs, ldns_rr_clone(s));
	}
	ldns_rr_list_deep_free(all);
	out->has_rrsig = ldns_rr_list_rr_count(*sigs) > 0;
	n = *rrset != NULL ? ldns_rr_list_rr_count(*rrset) : 0;
	for (size_t i = 0; i < n; i++) {
		ldns_rr *rr = ldns_rr_list_rr(*rrset, i);
		uint8_t *rd = NULL;
		size_t rlen = 0;
		struct dg_tlsa_rr t;
		if (i == 0 || ldns_rr_ttl(rr) < out->ttl_s)
			out->ttl_s = ldns_rr_ttl(rr);
		if (!rr_rdata(rr, &rd, &rlen))
			continue;
		if (dg_tlsa_parse_rdata(NULL, rd, rlen, &t, NULL) == DG_OK &&
		    dg_tlsa_set_take_rr(out->served, &t, NULL) != DG_OK)
			dg_tlsa_rr_cleanup(&t);
		free(rd);
	}
	return n == out->served->count;
}

static bool sigs_verify(ldns_rr_list *rrset, ldns_rr_list *sigs, const ldns_rr_list *keys,
                        time_t now)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(sigs); i++)
		if (ldns_verify_rrsig_keylist_time(rrset, ldns_rr_list_rr(sigs, i), keys, now,
		                                   NULL) == LDNS_STATUS_OK)
			return true;
	return false;
}

static void judge(struct dg_publish_server *out, const struct dg_tlsa_set *want)
{
	char serial[32] = "";

	if (out->has_soa)
		snprintf(serial, sizeof(serial), " at SOA serial %u", out->soa_serial);
	if (!out->matches) {
		out->state = DG_PUBLISH_SRV_DIFFERENT;
		snprintf(out->reason, sizeof(out->reason),
		         "serves %zu TLSA record(s)%s, not the "
		         "desired %zu: it has not caught up (or holds other records)",
		         out->served->count, serial, want != NULL ? want->count : 0);
	} else if (!out->dnskey_match) {
		out->state = DG_PUBLISH_SRV_DNSKEY_MISMATCH;
		snprintf(out->reason, sizeof(out->reason),
		         "its DNSKEY RRset differs from the "
		         "validated one%s",
		         serial);
	} else if (out->served->count > 0 && !out->has_rrsig) {
		out->state = DG_PUBLISH_SRV_UNSIGNED;
		snprintf(out->reason, sizeof(out->reason), "serves the TLSA RRset without RRSIG%s",
		         serial);
	} else if (out->served->count > 0 && !out->rrsig_valid) {
		out->state = DG_PUBLISH_SRV_BAD_SIGNATURE;
		snprintf(out->reason, sizeof(out->reason),
		         "no RRSIG over the TLSA RRset verifies "
		         "with the zone's DNSKEY set%s",
		         serial);
	} else {
		out->state = DG_PUBLISH_SRV_OK;
		out->reason[0] = '\0';
	}
}

void dg_publish_serve_analyse(const uint8_t *soa, size_t soa_len, const uint8_t *key,
                              size_t key_len, const uint8_t *tlsa, size_t tlsa_len,
                              const char *zone, const char *owner,
                              const struct dg_dns_rr *validated_keys, size_t n_keys,
                              const struct dg_tlsa_set *want, time_t now,
                              struct dg_publish_server *out)
{
	ldns_pkt *pkt = pkt_read(tlsa, tlsa_len);
	ldns_rdf *own = dname_of(owner);
	ldns_rr_list *keys = NULL, *rrset = NULL, *sigs = NULL;
	bool complete;
	int rc;

	if (out->served == NULL)
		out->served = dg_tlsa_set_new();
	read_soa(soa, soa_len, zone, out);
	if (pkt == NULL || own == NULL) {
		out->state = DG_PUBLISH_SRV_ERROR;
		snprintf(out->reason, sizeof(out->reason), "TLSA answer is not a DNS message");
		goto out;
	}
	rc = ldns_pkt_get_rcode(pkt);
	if (rc != LDNS_RCODE_NOERROR && rc != LDNS_RCODE_NXDOMAIN) {
		out->state = rc == LDNS_RCODE_REFUSED || rc == LDNS_RCODE_NOTAUTH
		                 ? DG_PUBLISH_SRV_NOT_AUTH
		                 : DG_PUBLISH_SRV_ERROR;
		snprintf(out->reason, sizeof(out->reason), "TLSA query answered %s",
		         dg_publish_rcode_str(rc));
		goto out;
	}
	if (!ldns_pkt_aa(pkt)) {
		out->state = DG_PUBLISH_SRV_NOT_AUTH;
		snprintf(out->reason, sizeof(out->reason),
		         "answer without the AA bit: not "
		         "authoritative for %s",
		         zone);
		goto out;
	}
	keys = read_keys(key, key_len, zone, validated_keys, n_keys, &out->dnskey_match);
	complete = read_tlsa(pkt, own, out, &rrset, &sigs);
	out->matches = complete && dg_publish_tlsa_set_equal(out->served, want);
	if (out->dnskey_match && out->has_rrsig && rrset != NULL)
		out->rrsig_valid = sigs_verify(rrset, sigs, keys, now);
	judge(out, want);
out:
	ldns_rr_list_deep_free(keys);
	ldns_rr_list_deep_free(rrset);
	ldns_rr_list_deep_free(sigs);
	ldns_rdf_deep_free(own);
	ldns_pkt_free(pkt);
}
