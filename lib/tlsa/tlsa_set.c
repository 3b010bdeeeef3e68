/*
 * tlsa_set.c - the TLSA record model: records, RRsets, and the module's private helpers.
 *
 * Public: dg_tlsa_set_new, dg_tlsa_set_free, dg_tlsa_set_add, dg_tlsa_set_add_rr,
 *         dg_tlsa_set_take_rr, dg_tlsa_set_copy, dg_tlsa_rr_copy, dg_tlsa_rr_cleanup,
 *         dg_tlsa_rr_is_equal.
 * Private (tlsa_int.h): tlsa_xmemdup, tlsa_hex_encode,
 *         tlsa_rr_label, tlsa_digest_len.
 *
 * Ownership: a set owns its record array and each record's data. dg_tlsa_set_add() and
 * dg_tlsa_set_add_rr() copy the data; dg_tlsa_set_take_rr() takes it. A set holds at most
 * DG_TLSA_SET_MAX records (STYLE.md section 7 input caps); the cap returns DG_E_LIMIT.
 *
 * SPEC: section 1 (TLSA fields, wire RDATA of at most 65535 octets).
 */
#include "tlsa/tlsa_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum dg_status set_reserve(struct dg_tlsa_set *set, size_t len, struct dg_err *err);

uint8_t *tlsa_xmemdup(const uint8_t *p, size_t len)
{
	uint8_t *q;

	if (len == 0)
		return NULL;
	q = dg_xmalloc(len);
	memcpy(q, p, len);
	return q;
}

void tlsa_hex_encode(const uint8_t *p, size_t len, int upper, char *out)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
}

size_t tlsa_rr_label(const struct dg_tlsa_rr *rr, size_t num, char *buf, size_t size)
{
	int n;

	if (size == 0)
		return 0;
	if (num > 0)
		n = snprintf(buf, size, "TLSA %u %u %u record #%zu", rr->usage, rr->selector,
		             rr->mtype, num);
	else
		n = snprintf(buf, size, "TLSA %u %u %u", rr->usage, rr->selector, rr->mtype);
	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

size_t tlsa_digest_len(uint8_t mtype)
{
	switch (mtype) {
	case DG_TLSA_MTYPE_SHA256: return 32;
	case DG_TLSA_MTYPE_SHA512: return 64;
	default: return 0;
	}
}

struct dg_tlsa_set *dg_tlsa_set_new(void)
{
	return dg_xcalloc(1, sizeof(struct dg_tlsa_set));
}

void dg_tlsa_set_free(struct dg_tlsa_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->count; i++)
		dg_tlsa_rr_cleanup(&set->rr[i]);
	free(set->rr);
	free(set);
}

/* Make room for one more record of @p len data octets, or say why not. */
static enum dg_status set_reserve(struct dg_tlsa_set *set, size_t len, struct dg_err *err)
{
	struct dg_tlsa_rr *grown;
	size_t cap;

	if (set->count >= DG_TLSA_SET_MAX)
		return dg_err_set(err, DG_E_LIMIT, "TLSA set: more than %d records in one RRset",
		                  DG_TLSA_SET_MAX);
	if (len > DG_TLSA_DATA_MAX)
		return dg_err_set(err, DG_E_LIMIT,
		                  "TLSA record #%zu: %zu data octets, at most %d fit in RDATA",
		                  set->count + 1, len, DG_TLSA_DATA_MAX);
	if (set->count < set->cap)
		return DG_OK;
	cap = set->cap == 0 ? 4 : set->cap * 2;
	if (cap > DG_TLSA_SET_MAX)
		cap = DG_TLSA_SET_MAX;
	grown = dg_xrealloc(set->rr, cap * sizeof(*grown));
	set->rr = grown;
	set->cap = cap;
	return DG_OK;
}

enum dg_status dg_tlsa_set_add(struct dg_tlsa_set *set, uint8_t usage, uint8_t selector,
                               uint8_t mtype, const uint8_t *data, size_t len, struct dg_err *err)
{
	struct dg_tlsa_rr *rr;
	enum dg_status st = set_reserve(set, len, err);

	if (st != DG_OK)
		return st;
	rr = &set->rr[set->count++];
	rr->usage = usage;
	rr->selector = selector;
	rr->mtype = mtype;
	rr->data = tlsa_xmemdup(data, len);
	rr->len = len;
	return DG_OK;
}

enum dg_status dg_tlsa_set_add_rr(struct dg_tlsa_set *set, const struct dg_tlsa_rr *rr,
                                  struct dg_err *err)
{
	return dg_tlsa_set_add(set, rr->usage, rr->selector, rr->mtype, rr->data, rr->len, err);
}

enum dg_status dg_tlsa_set_take_rr(struct dg_tlsa_set *set, struct dg_tlsa_rr *rr,
                                   struct dg_err *err)
{
	enum dg_status st = set_reserve(set, rr->len, err);

	if (st != DG_OK)
		return st;
	set->rr[set->count++] = *rr;
	rr->data = NULL;
	rr->len = 0;
	return DG_OK;
}

struct dg_tlsa_set *dg_tlsa_set_copy(const struct dg_tlsa_set *set)
{
	struct dg_tlsa_set *copy = dg_tlsa_set_new();

	if (set == NULL || set->count == 0)
		return copy;
	copy->rr = dg_xcalloc(set->count, sizeof(*copy->rr));
	copy->cap = set->count;
	for (size_t i = 0; i < set->count; i++)
		dg_tlsa_rr_copy(&copy->rr[i], &set->rr[i]);
	copy->count = set->count;
	return copy;
}

void dg_tlsa_rr_copy(struct dg_tlsa_rr *dst, const struct dg_tlsa_rr *src)
{
	dst->usage = src->usage;
	dst->selector = src->selector;
	dst->mtype = src->mtype;
	dst->data = tlsa_xmemdup(src->data, src->len);
	dst->len = src->len;
}

void dg_tlsa_rr_cleanup(struct dg_tlsa_rr *rr)
{
	if (rr == NULL)
		return;
	free(rr->data);
	memset(rr, 0, sizeof(*rr));
}

bool dg_tlsa_rr_is_equal(const struct dg_tlsa_rr *a, const struct dg_tlsa_rr *b)
{
	if (a->usage != b->usage || a->selector != b->selector || a->mtype != b->mtype ||
	    a->len != b->len)
		return false;
	return a->len == 0 || memcmp(a->data, b->data, a->len) == 0;
}
