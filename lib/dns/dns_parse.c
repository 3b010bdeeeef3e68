/*
 * dns_parse.c - pure parser of DNS responses into struct dg_dns_answer.
 *
 * Public: dg_dns_parse_answer, dg_dns_answer_init, dg_dns_answer_cleanup,
 * dg_dns_answer_copy, dg_dns_answer_is_error, dg_dns_security_str, dg_dns_outcome_str,
 * dg_dns_type_str. Private: dns_name_fold.
 *
 * The parser reads (const uint8_t *, size_t) with a struct dg_cursor (STYLE.md section 7):
 * no I/O, no logging. Names are decompressed with every pointer required to go strictly
 * backwards from the previous label sequence (so loops cannot happen) and the 255-octet
 * limit. Structural damage (header, question, RR framing, CNAME records) fails the whole
 * packet with an offset; malformed RDATA of one record of the asked type skips that record
 * with a reason and keeps the rest. The answer owns every string and array it points to
 * (heap, dg_xmalloc); dg_dns_answer_cleanup() frees them.
 *
 * SPEC: DNS-5 (CNAME chain with a recursion limit, DNAME via the synthesised CNAME),
 * DNS-6 (qtype CNAME returns the CNAME itself), MX-7 (null MX exchange "."), MX-8 (NODATA
 * vs NXDOMAIN kept apart), HOST-9 (chain at the TLSA name reported to the caller),
 * TLSA-2 (TLSA RDATA of 3 octets is kept, shorter is skipped: the RRset stays non-empty).
 */
#include "dns/dns_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	DNS_HDR_LEN = 12,
	DNS_CLASS_IN = 1,
	DNS_WIRE_NAME_MAX = 255,
	DNS_MAX_CNAMES = 2 * DG_DNS_MAX_CHAIN, /* CNAME records looked at in one answer */
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3
};

/** Header fields of one resource record; rdata stays in the packet. */
struct dns_rrhdr {
	char owner[DG_DNS_NAME_TEXT_MAX];
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl_s;
	size_t rdoff;
	uint16_t rdlen;
};

/** Parser state for one packet. */
struct dns_parser {
	struct dg_cursor c;
	const char *qname; /* normalized expected name */
	uint16_t qtype;
	uint16_t counts[4]; /* qd, an, ns, ar */
	size_t an_off;      /* offset of the answer section */
	struct dg_dns_answer *ans;
	char cname_owner[DNS_MAX_CNAMES][DG_DNS_NAME_TEXT_MAX];
	char cname_target[DNS_MAX_CNAMES][DG_DNS_NAME_TEXT_MAX];
	uint32_t cname_ttl[DNS_MAX_CNAMES];
	size_t n_cnames;
	char canon[DG_DNS_NAME_TEXT_MAX];
};

static bool name_read(struct dg_cursor *c, char *out, size_t out_size);
static void name_put_label(const uint8_t *lab, size_t n, char *out, size_t out_size, size_t *o);
static void rr_read_header(struct dg_cursor *c, struct dns_rrhdr *rr);
static void parse_header(struct dns_parser *ps);
static void parse_question(struct dns_parser *ps);
static void parse_cnames(struct dns_parser *ps);
static void follow_chain(struct dns_parser *ps);
static void collect_rrs(struct dns_parser *ps);
static void read_negative_ttl(struct dns_parser *ps);
static const char *rdata_parse(const struct dg_cursor *pc, const struct dns_rrhdr *rr,
                               struct dg_dns_rr *out);
static const char *rdata_name(const struct dg_cursor *pc, size_t off, size_t end, char *out,
                              size_t out_size);
static void rr_free(struct dg_dns_rr *rr);
static void answer_drop_data(struct dg_dns_answer *ans);
static void rr_copy(struct dg_dns_rr *dst, const struct dg_dns_rr *src);
static void skip_record(struct dg_dns_answer *ans, const char *why);
static uint32_t ttl_clamp(uint32_t ttl);
static char *xstrdup_opt(const char *s);
static void *xmemdup_opt(const void *p, size_t n);

/* ---- names ---------------------------------------------------------------------------- */

void dns_name_fold(const char *name, char *out, size_t out_size)
{
	size_t n = strlen(name), i;

	if (out_size == 0)
		return;
	if (n > 1 && name[n - 1] == '.')
		n--;
	if (n >= out_size)
		n = out_size - 1;
	for (i = 0; i < n; i++)
		out[i] = (char)dg_ascii_tolower((unsigned char)name[i]);
	out[n] = '\0';
	if (n == 0 && out_size > 1) {
		out[0] = '.';
		out[1] = '\0';
	}
}

/** Append one label, lowercase, escaping bytes outside [a-z0-9-_*] as \DDD. */
static void name_put_label(const uint8_t *lab, size_t n, char *out, size_t out_size, size_t *o)
{
	for (size_t i = 0; i < n && *o + 5 < out_size; i++) {
		int ch = dg_ascii_tolower(lab[i]);

		if (dg_ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '*')
			out[(*o)++] = (char)ch;
		else
			*o += (size_t)snprintf(out + *o, out_size - *o, "\\%03u", (unsigned)ch);
	}
	out[*o] = '\0';
}

/**
 * Read a possibly compressed name at the cursor into presentation form. The cursor advances
 * past the in-place part. Each pointer must point before the start of the label sequence
 * that contains it, so the walk always terminates.
 */
static bool name_read(struct dg_cursor *c, char *out, size_t out_size)
{
	size_t pos = c->off, seq_start = c->off, o = 0, wire = 1;
	bool jumped = false;

	out[0] = '\0';
	if (!dg_cursor_ok(c))
		return false;
	for (;;) {
		uint8_t b;

		if (pos >= c->len) {
			dg_cursor_fail(c, "name runs past the end of the packet");
			return false;
		}
		b = c->p[pos];
		if ((b & 0xC0) == 0xC0) {
			size_t ptr;

			if (pos + 1 >= c->len) {
				dg_cursor_fail(c, "truncated compression pointer");
				return false;
			}
			ptr = ((size_t)(b & 0x3F) << 8) | c->p[pos + 1];
			if (ptr >= seq_start) {
				dg_cursor_fail(c, "compression pointer does not point backwards");
				return false;
			}
			if (!jumped)
				dg_cursor_skip(c, pos + 2 - c->off);
			jumped = true;
			pos = seq_start = ptr;
			continue;
		}
		if ((b & 0xC0) != 0) {
			dg_cursor_fail(c, "unsupported label type");
			return false;
		}
		if (b == 0)
			break;
		if (pos + 1 + b > c->len) {
			dg_cursor_fail(c, "label runs past the end of the packet");
			return false;
		}
		wire += 1 + (size_t)b;
		if (wire > DNS_WIRE_NAME_MAX) {
			dg_cursor_fail(c, "name longer than 255 octets");
			return false;
		}
		if (o > 0 && o + 1 < out_size)
			out[o++] = '.';
		name_put_label(c->p + pos + 1, b, out, out_size, &o);
		pos += 1 + (size_t)b;
	}
	if (!jumped)
		dg_cursor_skip(c, pos + 1 - c->off);
	if (o == 0 && out_size > 1) {
		out[0] = '.';
		out[1] = '\0';
	}
	return dg_cursor_ok(c);
}

/* ---- sections ------------------------------------------------------------------------- */

static uint32_t ttl_clamp(uint32_t ttl)
{
	return ttl > 0x7FFFFFFFu ? 0 : ttl; /* RFC 2181 §8 */
}

static void rr_read_header(struct dg_cursor *c, struct dns_rrhdr *rr)
{
	name_read(c, rr->owner, sizeof(rr->owner));
	rr->type = dg_cursor_u16(c);
	rr->rclass = dg_cursor_u16(c);
	rr->ttl_s = ttl_clamp(dg_cursor_u32(c));
	rr->rdlen = dg_cursor_u16(c);
	rr->rdoff = dg_cursor_offset(c);
	if (dg_cursor_remaining(c) < rr->rdlen && dg_cursor_ok(c))
		dg_cursor_fail(c, "RDATA runs past the end of the packet");
	dg_cursor_skip(c, rr->rdlen);
}

static void parse_header(struct dns_parser *ps)
{
	uint16_t flags;

	(void)dg_cursor_u16(&ps->c); /* id */
	flags = dg_cursor_u16(&ps->c);
	for (int i = 0; i < 4; i++)
		ps->counts[i] = dg_cursor_u16(&ps->c);
	if (!dg_cursor_ok(&ps->c))
		return;
	if ((flags & 0x8000) == 0)
		dg_cursor_fail(&ps->c, "not a response (QR bit clear)");
	else if (((flags >> 11) & 0xF) != 0)
		dg_cursor_fail(&ps->c, "opcode is not QUERY");
	else if ((flags & 0x0200) != 0)
		dg_cursor_fail(&ps->c, "truncated response (TC bit set)");
	else if (ps->counts[0] != 1)
		dg_cursor_fail(&ps->c, "question count is not 1");
	ps->ans->rcode = flags & 0xF;
}

static void parse_question(struct dns_parser *ps)
{
	char name[DG_DNS_NAME_TEXT_MAX];
	uint16_t type, qclass;

	name_read(&ps->c, name, sizeof(name));
	type = dg_cursor_u16(&ps->c);
	qclass = dg_cursor_u16(&ps->c);
	if (!dg_cursor_ok(&ps->c))
		return;
	if (ps->qname == NULL) {
		ps->ans->qname = dg_xstrdup(name);
		ps->qname = ps->ans->qname;
	} else if (strcmp(name, ps->qname) != 0) {
		dg_cursor_fail(&ps->c, "question name does not match the query");
		return;
	}
	if (ps->qtype == 0)
		ps->qtype = type;
	else if (type != ps->qtype)
		dg_cursor_fail(&ps->c, "question type does not match the query");
	if (qclass != DNS_CLASS_IN)
		dg_cursor_fail(&ps->c, "question class is not IN");
	ps->ans->qtype = ps->qtype;
	ps->an_off = dg_cursor_offset(&ps->c);
}

/** Walk the answer section once: check framing, remember the CNAME records. */
static void parse_cnames(struct dns_parser *ps)
{
	struct dns_rrhdr rr;

	for (unsigned i = 0; i < ps->counts[1] && dg_cursor_ok(&ps->c); i++) {
		rr_read_header(&ps->c, &rr);
		if (!dg_cursor_ok(&ps->c) || rr.type != DG_DNS_T_CNAME || rr.rclass != DNS_CLASS_IN)
			continue;
		if (ps->qtype == DG_DNS_T_CNAME)
			continue; /* SPEC DNS-6: the CNAME is the data */
		if (ps->n_cnames == DNS_MAX_CNAMES) {
			dg_cursor_fail(&ps->c, "too many CNAME records in the answer section");
			return;
		}
		size_t k = ps->n_cnames;
		const char *bad = rdata_name(&ps->c, rr.rdoff, rr.rdoff + rr.rdlen,
		                             ps->cname_target[k], DG_DNS_NAME_TEXT_MAX);
		if (bad != NULL) {
			dg_cursor_fail(&ps->c, bad); /* a broken chain breaks the answer */
			return;
		}
		memcpy(ps->cname_owner[k], rr.owner, sizeof(rr.owner));
		ps->cname_ttl[k] = rr.ttl_s;
		ps->n_cnames++;
	}
}

/** Follow CNAMEs from the query name (SPEC DNS-5); DNAMEs are seen through their CNAMEs. */
static void follow_chain(struct dns_parser *ps)
{
	struct dg_dns_answer *ans = ps->ans;
	const char *cur = ps->qname;

	for (;;) {
		size_t k;

		for (k = 0; k < ps->n_cnames; k++)
			if (strcmp(ps->cname_owner[k], cur) == 0)
				break;
		if (k == ps->n_cnames)
			break;
		if (ans->n_chain == DG_DNS_MAX_CHAIN) {
			dg_cursor_fail(&ps->c, "CNAME chain longer than 16 links or a loop");
			return;
		}
		if (ans->chain == NULL)
			ans->chain = dg_xcalloc(DG_DNS_MAX_CHAIN, sizeof(*ans->chain));
		ans->chain[ans->n_chain].owner = dg_xstrdup(ps->cname_owner[k]);
		ans->chain[ans->n_chain].target = dg_xstrdup(ps->cname_target[k]);
		ans->chain[ans->n_chain].ttl_s = ps->cname_ttl[k];
		cur = ans->chain[ans->n_chain].target;
		ans->n_chain++;
	}
	snprintf(ps->canon, sizeof(ps->canon), "%s", cur);
}

static void skip_record(struct dg_dns_answer *ans, const char *why)
{
	if (ans->n_skipped++ == 0)
		ans->skip_reason = dg_xstrdup(why);
}

/** RRSIG RDATA: type covered (2), algorithm (1), labels (1), original TTL (4): the
 *  signed, undecremented TTL of the RRset (RFC 4034 3.1.4), whatever caches did since. */
static void rrsig_orig_ttl(struct dg_dns_answer *ans, const uint8_t *rd, uint16_t qtype)
{
	uint16_t covered = (uint16_t)(rd[0] << 8 | rd[1]);
	uint32_t ttl = (uint32_t)rd[4] << 24 | (uint32_t)rd[5] << 16 | (uint32_t)rd[6] << 8 | rd[7];

	if (covered == qtype && (ans->orig_ttl_s == 0 || ttl < ans->orig_ttl_s))
		ans->orig_ttl_s = ttl_clamp(ttl);
}

/** Walk the answer section again and keep the records of qtype owned by the canonical name. */
static void collect_rrs(struct dns_parser *ps)
{
	struct dg_dns_answer *ans = ps->ans;
	struct dg_cursor c = ps->c;
	struct dns_rrhdr rr;
	bool seen = false;
	char why[160];

	c.off = ps->an_off;
	for (unsigned i = 0; i < ps->counts[1] && dg_cursor_ok(&c); i++) {
		rr_read_header(&c, &rr);
		if (rr.type == DG_DNS_T_RRSIG && rr.rdlen >= 8 && dg_cursor_ok(&c) &&
		    strcmp(rr.owner, ps->canon) == 0)
			rrsig_orig_ttl(ans, c.p + rr.rdoff, ps->qtype);
		if (rr.type != ps->qtype || rr.rclass != DNS_CLASS_IN ||
		    strcmp(rr.owner, ps->canon) != 0)
			continue;
		ans->ttl_s = seen ? (rr.ttl_s < ans->ttl_s ? rr.ttl_s : ans->ttl_s) : rr.ttl_s;
		seen = true;
		if (ans->n_rrs == DG_DNS_MAX_RRS) {
			snprintf(why, sizeof(why), "more than %d records, the rest skipped",
			         DG_DNS_MAX_RRS);
			skip_record(ans, why);
			continue;
		}
		if (ans->rrs == NULL)
			ans->rrs = dg_xcalloc(DG_DNS_MAX_RRS, sizeof(*ans->rrs));
		const char *bad = rdata_parse(&c, &rr, &ans->rrs[ans->n_rrs]);
		if (bad != NULL) {
			snprintf(why, sizeof(why), "record %u at offset %zu: %s", i, rr.rdoff, bad);
			skip_record(ans, why);
			continue;
		}
		ans->n_rrs++;
	}
	ans->outcome = seen ? DG_DNS_ANSWER : DG_DNS_NODATA;
}

/** Negative TTL from an authority SOA: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5). */
static void read_negative_ttl(struct dns_parser *ps)
{
	struct dns_rrhdr rr;
	char scratch[DG_DNS_NAME_TEXT_MAX];

	ps->ans->ttl_s = 0;
	for (unsigned i = 0; i < ps->counts[2] && dg_cursor_ok(&ps->c); i++) {
		rr_read_header(&ps->c, &rr);
		if (!dg_cursor_ok(&ps->c) || rr.type != DG_DNS_T_SOA)
			continue;
		struct dg_cursor s = ps->c;
		s.off = rr.rdoff;
		s.len = rr.rdoff + rr.rdlen; /* names may point back, never forward */
		name_read(&s, scratch, sizeof(scratch));
		name_read(&s, scratch, sizeof(scratch));
		dg_cursor_skip(&s, 16); /* serial, refresh, retry, expire */
		uint32_t min = ttl_clamp(dg_cursor_u32(&s));
		if (dg_cursor_ok(&s)) {
			ps->ans->ttl_s = min < rr.ttl_s ? min : rr.ttl_s;
			return;
		}
	}
}

/* ---- RDATA ---------------------------------------------------------------------------- */

/** Read a name that starts at @p off and whose in-place part ends exactly at @p end. */
static const char *rdata_name(const struct dg_cursor *pc, size_t off, size_t end, char *out,
                              size_t out_size)
{
	struct dg_cursor c = *pc;

	c.off = off;
	c.len = end; /* pointers go backwards, so this bounds only the in-place part */
	c.err = NULL;
	if (!name_read(&c, out, out_size))
		return c.err;
	if (c.off != end)
		return "name does not fill the RDATA";
	return NULL;
}

static const char *rdata_parse(const struct dg_cursor *pc, const struct dns_rrhdr *rr,
                               struct dg_dns_rr *out)
{
	const uint8_t *rd = pc->p + rr->rdoff;
	char name[DG_DNS_NAME_TEXT_MAX];
	const char *bad;

	memset(out, 0, sizeof(*out));
	out->type = rr->type;
	out->ttl_s = rr->ttl_s;
	switch (rr->type) {
	case DG_DNS_T_A:
	case DG_DNS_T_AAAA: {
		size_t want = rr->type == DG_DNS_T_A ? 4 : 16;
		if (rr->rdlen != want)
			return rr->type == DG_DNS_T_A ? "A RDATA is not 4 octets"
			                              : "AAAA RDATA is not 16 octets";
		memcpy(out->u.addr.bin, rd, want);
		out->u.addr.len = (uint8_t)want;
		inet_ntop(want == 4 ? AF_INET : AF_INET6, rd, out->u.addr.text,
		          sizeof(out->u.addr.text));
		return NULL;
	}
	case DG_DNS_T_MX:
		if (rr->rdlen < 3)
			return "MX RDATA shorter than 3 octets";
		bad = rdata_name(pc, rr->rdoff + 2, rr->rdoff + rr->rdlen, name, sizeof(name));
		if (bad != NULL)
			return bad;
		out->u.mx.preference = (uint16_t)((rd[0] << 8) | rd[1]);
		out->u.mx.exchange = dg_xstrdup(name);
		return NULL;
	case DG_DNS_T_CNAME:
	case DG_DNS_T_NS: /* NS targets share u.cname (names may be compressed) */
		bad = rdata_name(pc, rr->rdoff, rr->rdoff + rr->rdlen, name, sizeof(name));
		if (bad != NULL)
			return bad;
		out->u.cname.target = dg_xstrdup(name);
		return NULL;
	case DG_DNS_T_TLSA:
		if (rr->rdlen < 3) /* SPEC TLSA-2: 3 octets is kept (unusable, decided later) */
			return "TLSA RDATA shorter than 3 octets";
		out->u.tlsa.usage = rd[0];
		out->u.tlsa.selector = rd[1];
		out->u.tlsa.mtype = rd[2];
		out->u.tlsa.len = (size_t)rr->rdlen - 3;
		out->u.tlsa.data = xmemdup_opt(rd + 3, out->u.tlsa.len);
		return NULL;
	case DG_DNS_T_TXT: {
		size_t i = 0, o = 0;
		if (rr->rdlen == 0)
			return "TXT RDATA is empty";
		for (i = 0; i < rr->rdlen; i += 1 + (size_t)rd[i])
			if (i + 1 + rd[i] > rr->rdlen)
				return "TXT character-string runs past the RDATA";
		out->u.txt.text = dg_xmalloc((size_t)rr->rdlen + 1);
		for (i = 0; i < rr->rdlen; i += 1 + (size_t)rd[i]) {
			memcpy(out->u.txt.text + o, rd + i + 1, rd[i]);
			o += rd[i];
		}
		out->u.txt.text[o] = '\0';
		out->u.txt.len = o;
		return NULL;
	}
	default:
		out->u.raw.len = rr->rdlen;
		out->u.raw.data = xmemdup_opt(rd, rr->rdlen);
		return NULL;
	}
}

/* ---- public --------------------------------------------------------------------------- */

enum dg_status dg_dns_parse_answer(const uint8_t *pkt, size_t len, const char *qname,
                                   uint16_t qtype, struct dg_dns_answer *ans, struct dg_err *err)
{
	struct dns_parser *ps = dg_xcalloc(1, sizeof(*ps));
	char folded[DG_DNS_NAME_TEXT_MAX];
	enum dg_status st = DG_OK;

	dg_dns_answer_init(ans);
	ps->ans = ans;
	ps->qtype = qtype;
	if (qname != NULL) {
		dns_name_fold(qname, folded, sizeof(folded));
		ans->qname = dg_xstrdup(folded);
		ps->qname = ans->qname;
	}
	ans->qtype = qtype;
	dg_cursor_init(&ps->c, pkt, len);
	parse_header(ps);
	parse_question(ps);
	parse_cnames(ps);
	if (dg_cursor_ok(&ps->c))
		follow_chain(ps);
	if (dg_cursor_ok(&ps->c)) {
		ans->canonical = dg_xstrdup(ps->canon);
		switch (ans->rcode) {
		case DNS_RCODE_NOERROR:
			collect_rrs(ps);
			if (ans->outcome == DG_DNS_NODATA)
				read_negative_ttl(ps);
			break;
		case DNS_RCODE_NXDOMAIN:
			ans->outcome = DG_DNS_NXDOMAIN;
			read_negative_ttl(ps);
			break;
		case DNS_RCODE_SERVFAIL:
			ans->outcome = DG_DNS_SERVFAIL;
			ans->reason = dg_xstrdup("server answered SERVFAIL");
			break;
		default: {
			char why[48];
			snprintf(why, sizeof(why), "server answered rcode %d", ans->rcode);
			ans->outcome = DG_DNS_ERROR;
			ans->reason = dg_xstrdup(why);
			break;
		}
		}
	}
	if (!dg_cursor_ok(&ps->c)) {
		struct dg_err tmp;
		char what[DG_DNS_NAME_TEXT_MAX + 32];

		snprintf(what, sizeof(what), "DNS response for %s/%s",
		         ans->qname != NULL ? ans->qname : "?", dg_dns_type_str(ps->qtype));
		dg_err_clear(&tmp);
		st = dg_cursor_err(&ps->c, what, &tmp);
		answer_drop_data(ans); /* no partial chain or records on a broken packet */
		ans->outcome = DG_DNS_ERROR;
		free(ans->reason);
		ans->reason = dg_xstrdup(tmp.msg);
		if (err != NULL)
			*err = tmp;
	}
	free(ps);
	return st;
}

void dg_dns_answer_init(struct dg_dns_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	ans->security = DG_DNS_INDETERMINATE;
	ans->outcome = DG_DNS_ERROR;
	ans->rcode = -1;
}

static void rr_free(struct dg_dns_rr *rr)
{
	switch (rr->type) {
	case DG_DNS_T_A:
	case DG_DNS_T_AAAA: break;
	case DG_DNS_T_MX: free(rr->u.mx.exchange); break;
	case DG_DNS_T_CNAME:
	case DG_DNS_T_NS: free(rr->u.cname.target); break;
	case DG_DNS_T_TLSA: free(rr->u.tlsa.data); break;
	case DG_DNS_T_TXT: free(rr->u.txt.text); break;
	default: free(rr->u.raw.data); break;
	}
}

/** Free the records, the chain and the canonical name; keep qname and reasons. */
static void answer_drop_data(struct dg_dns_answer *ans)
{
	for (size_t i = 0; i < ans->n_rrs; i++)
		rr_free(&ans->rrs[i]);
	free(ans->rrs);
	ans->rrs = NULL;
	ans->n_rrs = 0;
	for (size_t i = 0; i < ans->n_chain; i++) {
		free(ans->chain[i].owner);
		free(ans->chain[i].target);
	}
	free(ans->chain);
	ans->chain = NULL;
	ans->n_chain = 0;
	free(ans->canonical);
	ans->canonical = NULL;
	ans->ttl_s = 0;
}

void dg_dns_answer_cleanup(struct dg_dns_answer *ans)
{
	if (ans == NULL)
		return;
	answer_drop_data(ans);
	free(ans->qname);
	free(ans->why_bogus);
	free(ans->reason);
	free(ans->skip_reason);
	dg_dns_answer_init(ans);
}

static char *xstrdup_opt(const char *s)
{
	return s == NULL ? NULL : dg_xstrdup(s);
}

static void *xmemdup_opt(const void *p, size_t n)
{
	void *q;

	if (n == 0)
		return NULL;
	q = dg_xmalloc(n);
	memcpy(q, p, n);
	return q;
}

static void rr_copy(struct dg_dns_rr *dst, const struct dg_dns_rr *src)
{
	*dst = *src;
	switch (src->type) {
	case DG_DNS_T_A:
	case DG_DNS_T_AAAA: break;
	case DG_DNS_T_MX: dst->u.mx.exchange = xstrdup_opt(src->u.mx.exchange); break;
	case DG_DNS_T_CNAME:
	case DG_DNS_T_NS: dst->u.cname.target = xstrdup_opt(src->u.cname.target); break;
	case DG_DNS_T_TLSA:
		dst->u.tlsa.data = xmemdup_opt(src->u.tlsa.data, src->u.tlsa.len);
		break;
	case DG_DNS_T_TXT:
		dst->u.txt.text = dg_xmalloc(src->u.txt.len + 1);
		memcpy(dst->u.txt.text, src->u.txt.text, src->u.txt.len + 1);
		break;
	default: dst->u.raw.data = xmemdup_opt(src->u.raw.data, src->u.raw.len); break;
	}
}

void dg_dns_answer_copy(struct dg_dns_answer *dst, const struct dg_dns_answer *src)
{
	*dst = *src;
	dst->qname = xstrdup_opt(src->qname);
	dst->why_bogus = xstrdup_opt(src->why_bogus);
	dst->reason = xstrdup_opt(src->reason);
	dst->canonical = xstrdup_opt(src->canonical);
	dst->skip_reason = xstrdup_opt(src->skip_reason);
	dst->chain = NULL;
	dst->rrs = NULL;
	if (src->n_chain > 0) {
		dst->chain = dg_xcalloc(src->n_chain, sizeof(*dst->chain));
		for (size_t i = 0; i < src->n_chain; i++) {
			dst->chain[i].owner = dg_xstrdup(src->chain[i].owner);
			dst->chain[i].target = dg_xstrdup(src->chain[i].target);
			dst->chain[i].ttl_s = src->chain[i].ttl_s;
		}
	}
	if (src->n_rrs > 0) {
		dst->rrs = dg_xcalloc(src->n_rrs, sizeof(*dst->rrs));
		for (size_t i = 0; i < src->n_rrs; i++)
			rr_copy(&dst->rrs[i], &src->rrs[i]);
	}
}

bool dg_dns_answer_is_error(const struct dg_dns_answer *ans)
{
	/* SPEC DNS-3: bogus and indeterminate are errors; DNS-4: insecure is not. */
	if (ans->security == DG_DNS_BOGUS || ans->security == DG_DNS_INDETERMINATE)
		return true;
	return ans->outcome != DG_DNS_ANSWER && ans->outcome != DG_DNS_NODATA &&
	       ans->outcome != DG_DNS_NXDOMAIN;
}

const char *dg_dns_security_str(enum dg_dns_security sec)
{
	switch (sec) {
	case DG_DNS_INDETERMINATE: return "indeterminate";
	case DG_DNS_INSECURE: return "insecure";
	case DG_DNS_SECURE: return "secure";
	case DG_DNS_BOGUS: return "bogus";
	}
	return "unknown";
}

const char *dg_dns_outcome_str(enum dg_dns_outcome outcome)
{
	switch (outcome) {
	case DG_DNS_ANSWER: return "answer";
	case DG_DNS_NODATA: return "nodata";
	case DG_DNS_NXDOMAIN: return "nxdomain";
	case DG_DNS_SERVFAIL: return "servfail";
	case DG_DNS_TIMEOUT: return "timeout";
	case DG_DNS_ERROR: return "error";
	}
	return "unknown";
}

const char *dg_dns_type_str(uint16_t rrtype)
{
	switch (rrtype) {
	case DG_DNS_T_A: return "A";
	case DG_DNS_T_NS: return "NS";
	case DG_DNS_T_CNAME: return "CNAME";
	case DG_DNS_T_SOA: return "SOA";
	case DG_DNS_T_MX: return "MX";
	case DG_DNS_T_TXT: return "TXT";
	case DG_DNS_T_AAAA: return "AAAA";
	case DG_DNS_T_DNAME: return "DNAME";
	case DG_DNS_T_DS: return "DS";
	case DG_DNS_T_RRSIG: return "RRSIG";
	case DG_DNS_T_DNSKEY: return "DNSKEY";
	case DG_DNS_T_TLSA: return "TLSA";
	}
	return "unknown";
}
