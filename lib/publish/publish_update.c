/*
 * publish_update.c - the RFC 2136 UPDATE that replaces a TLSA RRset, signed with TSIG, and
 * the check of its reply.
 *
 * Public: dg_publish_build_update, dg_publish_msg_cleanup, dg_publish_check_reply,
 * dg_publish_rcode_str. Private (publish_int.h): pub_owner_name, pub_name_in_zone,
 * pub_query_build.
 *
 * Messages are built with libldns (ldns_update_pkt_new, ldns_pkt_tsig_sign, ldns_pkt2wire);
 * replies are read with ldns_wire2pkt and verified with ldns_pkt_tsig_verify against the
 * request MAC kept in struct dg_publish_msg. dg_publish_check_reply() is pure (no I/O, no
 * logging) and maps every failure to one line naming the key, the server or the zone.
 * Ownership: struct dg_publish_msg owns its wire and MAC (dg_publish_msg_cleanup()); every
 * ldns object is released before returning.
 *
 * SPEC: section 12 PUB-6 (the new RRset is published in one atomic change: delete + add in
 * one UPDATE, so no server ever serves an empty set), PUB-7 (TTL given by the caller);
 * RFC 2136 §2.4 (prerequisites), §2.5.2 (delete RRset), §2.5.1 (add); RFC 8945 (TSIG).
 */
#include "publish/publish_int.h"

#include <stdio.h>
#include <string.h>

#include <ldns/ldns.h>
#include <openssl/crypto.h>

enum {
	TSIG_FUDGE_S = 300,
	TSIG_RDF_MAC = 3,   /* RFC 8945 §4.2 field order in ldns: algorithm, time, fudge, MAC, */
	TSIG_RDF_ERROR = 5, /* original id, error, other data */
	LDNS_B64_MAX = ((DG_TSIG_SECRET_MAX + 2) / 3) * 4 + 1
};

static ldns_rr *rr_tlsa_new(const ldns_rdf *owner, ldns_rr_class cls, uint32_t ttl,
                            const struct dg_tlsa_rr *rr);
static ldns_rr *rr_empty_new(const ldns_rdf *owner, ldns_rr_class cls);
static enum dg_status change_check(const struct dg_publish_change *ch, struct dg_publish_msg *out,
                                   struct dg_err *err);
static enum dg_status lists_build(const struct dg_publish_change *ch, const ldns_rdf *owner,
                                  ldns_rr_list *pr, ldns_rr_list *up, struct dg_err *err);
static enum dg_status msg_sign(ldns_pkt *pkt, const struct dg_tsig_key *key,
                               struct dg_publish_msg *out, struct dg_err *err);
static const char *tsig_hint(int tsig_error, const char *zone)
{
	static _Thread_local char hint[DG_NAME_BUF_SIZE + 96];

	switch (tsig_error) {
	case DG_PUBLISH_TSIG_BADKEY:
		snprintf(hint, sizeof(hint),
		         " (the server does not know this key, or the key may "
		         "not update zone %s)",
		         zone);
		return hint;
	case DG_PUBLISH_TSIG_BADSIG: return " (wrong secret or algorithm)";
	case DG_PUBLISH_TSIG_BADTIME: return " (clocks differ by more than the 300 s fudge)";
	default: return "";
	}
}

static const char *tsig_hint(int tsig_error, const char *zone);
static enum dg_status rcode_error(int rcode, const struct dg_publish_msg *req, const char *server,
                                  struct dg_err *err);
static enum dg_status reply_tsig(ldns_pkt *pkt, const uint8_t *p, size_t len,
                                 const struct dg_publish_msg *req, const struct dg_tsig_key *key,
                                 const char *server, struct dg_publish_result *res,
                                 struct dg_err *err);

/* ---- names ------------------------------------------------------------------------------- */

enum dg_status pub_owner_name(const char *host, uint16_t port, char *out, size_t size,
                              struct dg_err *err)
{
	char norm[DG_NAME_BUF_SIZE];
	struct dg_err e;
	int n;

	if (dg_name_normalize(host, norm, sizeof(norm), &e) != DG_OK)
		return dg_err_set(err, DG_E_CONFIG, "host: %s", e.msg);
	n = snprintf(out, size, "_%u._tcp.%s", (unsigned)port, norm);
	if (n < 0 || (size_t)n >= size || (size_t)n > DG_NAME_MAX)
		return dg_err_set(err, DG_E_LIMIT, "TLSA owner name for %s is too long", norm);
	return DG_OK;
}

bool pub_name_in_zone(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);

	if (n == z)
		return strcmp(name, zone) == 0;
	return n > z && name[n - z - 1] == '.' && strcmp(name + n - z, zone) == 0;
}

/* ---- building ---------------------------------------------------------------------------- */

static ldns_rr *rr_empty_new(const ldns_rdf *owner, ldns_rr_class cls)
{
	ldns_rr *rr = ldns_rr_new();

	if (rr == NULL)
		DG_PANIC("ldns_rr_new: out of memory");
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TLSA);
	ldns_rr_set_class(rr, cls);
	ldns_rr_set_ttl(rr, 0);
	return rr;
}

static ldns_rr *rr_tlsa_new(const ldns_rdf *owner, ldns_rr_class cls, uint32_t ttl,
                            const struct dg_tlsa_rr *rr)
{
	ldns_rr *out = rr_empty_new(owner, cls);
	ldns_rdf *f[4] = {ldns_native2rdf_int8(LDNS_RDF_TYPE_INT8, rr->usage),
	                  ldns_native2rdf_int8(LDNS_RDF_TYPE_INT8, rr->selector),
	                  ldns_native2rdf_int8(LDNS_RDF_TYPE_INT8, rr->mtype),
	                  ldns_rdf_new_frm_data(LDNS_RDF_TYPE_HEX, rr->len, rr->data)};

	ldns_rr_set_ttl(out, ttl);
	for (size_t i = 0; i < 4; i++) {
		if (f[i] == NULL)
			DG_PANIC("ldns rdf: out of memory");
		ldns_rr_push_rdf(out, f[i]);
	}
	return out;
}

static enum dg_status change_check(const struct dg_publish_change *ch, struct dg_publish_msg *out,
                                   struct dg_err *err)
{
	struct dg_err e;
	enum dg_status st;

	if (ch->zone == NULL ||
	    dg_name_normalize(ch->zone, out->zone, sizeof(out->zone), &e) != DG_OK)
		return dg_err_set(err, DG_E_CONFIG, "zone: %s", ch->zone ? e.msg : "missing");
	if ((st = pub_owner_name(ch->host, ch->port, out->owner, sizeof(out->owner), err)) != DG_OK)
		return st;
	if (!pub_name_in_zone(out->owner, out->zone))
		return dg_err_set(err, DG_E_CONFIG, "%s is not inside zone %s", out->owner,
		                  out->zone);
	if (ch->set == NULL || ch->set->count == 0)
		return dg_err_set(err, DG_E_CONFIG,
		                  "no TLSA records to publish at %s (an empty "
		                  "RRset would break delivery from DANE senders)",
		                  out->owner);
	if (ch->set->count > DG_PUBLISH_MAX_RRS ||
	    (ch->prereq_current != NULL && ch->prereq_current->count > DG_PUBLISH_MAX_RRS))
		return dg_err_set(err, DG_E_LIMIT, "more than %d TLSA records", DG_PUBLISH_MAX_RRS);
	for (size_t i = 0; i < ch->set->count; i++)
		if (ch->set->rr[i].len == 0)
			return dg_err_set(err, DG_E_CONFIG,
			                  "TLSA record #%zu for %s has no "
			                  "association data",
			                  i + 1, out->owner);
	return DG_OK;
}

static enum dg_status lists_build(const struct dg_publish_change *ch, const ldns_rdf *owner,
                                  ldns_rr_list *pr, ldns_rr_list *up, struct dg_err *err)
{
	const struct dg_tlsa_set *cur = ch->prereq_current;

	(void)err;
	if (ch->prereq_absent) /* RFC 2136 §2.4.3: RRset does not exist */
		ldns_rr_list_push_rr(pr, rr_empty_new(owner, LDNS_RR_CLASS_NONE));
	for (size_t i = 0; cur != NULL && i < cur->count; i++) /* §2.4.2: exists, value */
		ldns_rr_list_push_rr(pr, rr_tlsa_new(owner, LDNS_RR_CLASS_IN, 0, &cur->rr[i]));
	ldns_rr_list_push_rr(up, rr_empty_new(owner, LDNS_RR_CLASS_ANY)); /* §2.5.2 */
	for (size_t i = 0; i < ch->set->count; i++)                       /* §2.5.1 */
		ldns_rr_list_push_rr(
		    up, rr_tlsa_new(owner, LDNS_RR_CLASS_IN, ch->ttl_s, &ch->set->rr[i]));
	return DG_OK;
}

static enum dg_status msg_sign(ldns_pkt *pkt, const struct dg_tsig_key *key,
                               struct dg_publish_msg *out, struct dg_err *err)
{
	const char *alg = pub_tsig_ldns_alg(key->algorithm);
	char b64[LDNS_B64_MAX], kname[DG_NAME_BUF_SIZE + 1];
	ldns_status ls;
	const ldns_rdf *mac;
	uint8_t *wire = NULL;
	size_t len = 0;

	if (alg == NULL || key->secret_len == 0 ||
	    !pub_b64_encode(key->secret, key->secret_len, b64, sizeof(b64)))
		return dg_err_set(err, DG_E_CONFIG, "TSIG key %s: unusable", key->name);
	snprintf(kname, sizeof(kname), "%s.", key->name);
	ls = ldns_pkt_tsig_sign(pkt, kname, b64, TSIG_FUDGE_S, alg, NULL);
	OPENSSL_cleanse(b64, sizeof(b64));
	if (ls != LDNS_STATUS_OK)
		return dg_err_set(err, DG_E_INTERNAL, "TSIG signing with key %s failed: %s",
		                  key->name, ldns_get_errorstr_by_id(ls));
	if (ldns_pkt2wire(&wire, pkt, &len) != LDNS_STATUS_OK || len > PUB_MSG_MAX) {
		free(wire);
		return dg_err_set(err, DG_E_LIMIT, "UPDATE for %s does not fit a DNS message",
		                  out->owner);
	}
	mac = ldns_rr_rdf(ldns_pkt_tsig(pkt), TSIG_RDF_MAC);
	out->wire = dg_xmalloc(len);
	memcpy(out->wire, wire, len);
	out->len = len;
	free(wire);
	out->mac_len = mac != NULL ? ldns_rdf_size(mac) : 0;
	out->mac = dg_xmalloc(out->mac_len);
	if (out->mac_len > 0)
		memcpy(out->mac, ldns_rdf_data(mac), out->mac_len);
	return DG_OK;
}

enum dg_status dg_publish_build_update(const struct dg_publish_change *ch,
                                       const struct dg_tsig_key *key, uint16_t id,
                                       struct dg_publish_msg *out, struct dg_err *err)
{
	char fq[DG_NAME_BUF_SIZE + 1];
	ldns_rr_list *pr = NULL, *up = NULL;
	ldns_rdf *owner = NULL, *zone;
	ldns_pkt *pkt = NULL;
	enum dg_status st;

	memset(out, 0, sizeof(*out));
	out->id = id;
	if ((st = change_check(ch, out, err)) != DG_OK)
		return st;
	snprintf(fq, sizeof(fq), "%s.", out->owner);
	owner = ldns_dname_new_frm_str(fq);
	snprintf(fq, sizeof(fq), "%s.", out->zone);
	zone = ldns_dname_new_frm_str(fq);
	pr = ldns_rr_list_new();
	up = ldns_rr_list_new();
	if (owner == NULL || zone == NULL || pr == NULL || up == NULL) {
		ldns_rdf_deep_free(zone);
		st = dg_err_set(err, DG_E_INTERNAL, "ldns: cannot build names for %s", out->owner);
		goto out;
	}
	if ((st = lists_build(ch, owner, pr, up, err)) != DG_OK) {
		ldns_rdf_deep_free(zone);
		goto out;
	}
	pkt = ldns_update_pkt_new(zone, LDNS_RR_CLASS_IN, ldns_rr_list_rr_count(pr) ? pr : NULL, up,
	                          NULL); /* takes zone */
	if (pkt == NULL) {
		st = dg_err_set(err, DG_E_INTERNAL, "ldns_update_pkt_new failed for %s", out->zone);
		goto out;
	}
	ldns_pkt_set_id(pkt, id);
	ldns_pkt_set_rd(pkt, false);
	st = msg_sign(pkt, key, out, err);
out:
	ldns_pkt_free(pkt);
	ldns_rr_list_deep_free(pr);
	ldns_rr_list_deep_free(up);
	ldns_rdf_deep_free(owner);
	return st;
}

void dg_publish_msg_cleanup(struct dg_publish_msg *msg)
{
	if (msg == NULL)
		return;
	free(msg->wire);
	free(msg->mac);
	memset(msg, 0, sizeof(*msg));
}

/* ---- replies ----------------------------------------------------------------------------- */

const char *dg_publish_rcode_str(int code)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
	                                    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
	                                    "NXRRSET", "NOTAUTH", "NOTZONE"};
	static _Thread_local char other[16];

	if (code >= 0 && (size_t)code < sizeof(names) / sizeof(names[0]))
		return names[code];
	switch (code) {
	case DG_PUBLISH_TSIG_BADSIG: return "BADSIG";
	case DG_PUBLISH_TSIG_BADKEY: return "BADKEY";
	case DG_PUBLISH_TSIG_BADTIME: return "BADTIME";
	case DG_PUBLISH_TSIG_BADTRUNC: return "BADTRUNC";
	default: snprintf(other, sizeof(other), "RCODE%d", code); return other;
	}
}

static enum dg_status rcode_error(int rcode, const struct dg_publish_msg *req, const char *server,
                                  struct dg_err *err)
{
	switch (rcode) {
	case DG_PUBLISH_RC_NOERROR: return DG_OK;
	case DG_PUBLISH_RC_REFUSED:
		return dg_err_set(err, DG_E_CONFIG,
		                  "update of zone %s refused by %s (REFUSED): the "
		                  "key may not update this zone",
		                  req->zone, server);
	case DG_PUBLISH_RC_NOTAUTH:
		return dg_err_set(err, DG_E_PROTO,
		                  "%s is not authoritative for zone %s or rejected "
		                  "the TSIG key (NOTAUTH)",
		                  server, req->zone);
	case DG_PUBLISH_RC_NOTZONE:
		return dg_err_set(err, DG_E_PROTO, "%s: %s is not in zone %s (NOTZONE)", server,
		                  req->owner, req->zone);
	case DG_PUBLISH_RC_SERVFAIL:
		return dg_err_set(err, DG_E_DNS_TEMP,
		                  "%s failed to apply the update of %s "
		                  "(SERVFAIL)",
		                  server, req->zone);
	case DG_PUBLISH_RC_NOTIMP:
		return dg_err_set(err, DG_E_CONFIG, "%s does not implement DNS UPDATE (NOTIMP)",
		                  server);
	case DG_PUBLISH_RC_YXDOMAIN:
	case DG_PUBLISH_RC_YXRRSET:
	case DG_PUBLISH_RC_NXRRSET:
		return dg_err_set(err, DG_E_PROTO,
		                  "prerequisite failed at %s: the TLSA RRset is not "
		                  "what was expected (%s), nothing changed",
		                  server, dg_publish_rcode_str(rcode));
	default:
		return dg_err_set(err, DG_E_PROTO, "%s answered the update of %s with %s", server,
		                  req->zone, dg_publish_rcode_str(rcode));
	}
}

static enum dg_status reply_tsig(ldns_pkt *pkt, const uint8_t *p, size_t len,
                                 const struct dg_publish_msg *req, const struct dg_tsig_key *key,
                                 const char *server, struct dg_publish_result *res,
                                 struct dg_err *err)
{
	char b64[LDNS_B64_MAX], kname[DG_NAME_BUF_SIZE + 1];
	ldns_rr *tsig = ldns_pkt_tsig(pkt);
	ldns_rdf *mac;

	if (tsig == NULL)
		return DG_OK; /* decided by the caller */
	if (ldns_rr_rd_count(tsig) > TSIG_RDF_ERROR)
		res->tsig_error = ldns_rdf2native_int16(ldns_rr_rdf(tsig, TSIG_RDF_ERROR));
	if (res->tsig_error != 0)
		return dg_err_set(err, DG_E_PROTO, "TSIG key %s rejected by %s: %s%s", key->name,
		                  server, dg_publish_rcode_str(res->tsig_error),
		                  tsig_hint(res->tsig_error, req->zone));
	if (!pub_b64_encode(key->secret, key->secret_len, b64, sizeof(b64)))
		return dg_err_set(err, DG_E_CONFIG, "TSIG key %s: unusable", key->name);
	snprintf(kname, sizeof(kname), "%s.", key->name);
	mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, req->mac_len, req->mac);
	res->signed_ok = mac != NULL && ldns_pkt_tsig_verify(pkt, p, len, kname, b64, mac);
	ldns_rdf_deep_free(mac);
	OPENSSL_cleanse(b64, sizeof(b64));
	return DG_OK;
}

enum dg_status dg_publish_check_reply(const uint8_t *p, size_t len,
                                      const struct dg_publish_msg *req,
                                      const struct dg_tsig_key *key, const char *server,
                                      struct dg_publish_result *res, struct dg_err *err)
{
	struct dg_publish_result local;
	ldns_pkt *pkt = NULL;
	enum dg_status st;

	res = res != NULL ? res : &local;
	memset(res, 0, sizeof(*res));
	res->rcode = -1;
	snprintf(res->server, sizeof(res->server), "%s", server);
	if (len < 12 || ldns_wire2pkt(&pkt, p, len) != LDNS_STATUS_OK)
		return dg_err_set(err, DG_E_PARSE,
		                  "reply from %s is not a DNS message (%zu octets)", server, len);
	res->rcode = ldns_pkt_get_rcode(pkt);
	if (ldns_pkt_id(pkt) != req->id || !ldns_pkt_qr(pkt) ||
	    ldns_pkt_get_opcode(pkt) != LDNS_PACKET_UPDATE)
		st = dg_err_set(err, DG_E_PROTO,
		                "reply from %s does not answer the UPDATE (id %u, "
		                "want %u)",
		                server, ldns_pkt_id(pkt), req->id);
	else if ((st = reply_tsig(pkt, p, len, req, key, server, res, err)) != DG_OK)
		;
	else if ((st = rcode_error(res->rcode, req, server, err)) != DG_OK)
		;
	else if (ldns_pkt_tsig(pkt) == NULL)
		st = dg_err_set(err, DG_E_PROTO,
		                "reply from %s is not signed (no TSIG): cannot "
		                "trust that the update of %s was applied",
		                server, req->zone);
	else if (!res->signed_ok)
		st = dg_err_set(err, DG_E_PROTO,
		                "reply from %s has a TSIG that does not verify "
		                "with key %s",
		                server, key->name);
	ldns_pkt_free(pkt);
	return st;
}

/* ---- queries for the authoritative check ------------------------------------------------- */

enum dg_status pub_query_build(const char *name, uint16_t type, uint16_t id, uint8_t **out,
                               size_t *len, struct dg_err *err)
{
	char fq[DG_NAME_BUF_SIZE + 1];
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;

	snprintf(fq, sizeof(fq), "%s.", name);
	if (ldns_pkt_query_new_frm_str(&pkt, fq, (ldns_rr_type)type, LDNS_RR_CLASS_IN, 0) !=
	    LDNS_STATUS_OK)
		return dg_err_set(err, DG_E_INTERNAL, "ldns: cannot build a query for %s", name);
	ldns_pkt_set_id(pkt, id);
	ldns_pkt_set_rd(pkt, false);
	ldns_pkt_set_edns_udp_size(pkt, 1232);
	ldns_pkt_set_edns_do(pkt, true);
	if (ldns_pkt2wire(&wire, pkt, len) != LDNS_STATUS_OK) {
		ldns_pkt_free(pkt);
		return dg_err_set(err, DG_E_INTERNAL, "ldns: cannot encode a query for %s", name);
	}
	ldns_pkt_free(pkt);
	*out = dg_xmalloc(*len);
	memcpy(*out, wire, *len);
	free(wire);
	return DG_OK;
}
