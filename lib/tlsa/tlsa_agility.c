/*
 * tlsa_agility.c - digest algorithm agility (RFC 7671 §9, made mandatory by RFC 7672 §5).
 *
 * Public: dg_tlsa_strength_default, dg_tlsa_strength_parse, dg_tlsa_set_agility,
 *         dg_tlsa_auth_str.
 *
 * Pure functions over borrowed input; results go into caller-owned structs. The strength order
 * lists digest matching types strongest first, like Postfix's tls_dane_digests; it maps onto
 * OpenSSL's SSL_CTX_dane_mtype_set() ordinals (first item = highest ordinal, absent = 0 =
 * disabled), so dg_tlsa_set_agility() reports what OpenSSL will use.
 *
 * SPEC: AUTH-7 (drop unusable records; per (usage, selector) keep Full(0) and the strongest
 * digest present; configurable order), TLSA-2 (weak algorithms by local policy).
 */
#include "tlsa/tlsa_int.h"

#include <string.h>

enum { STRENGTH_TOKEN_MAX = 16, RANK_NONE = DG_TLSA_STRENGTH_MAX };

static size_t strength_rank(const struct dg_tlsa_strength *order, uint8_t mtype);
static int strength_item(const char *tok, size_t len);
static size_t pair_best_rank(const struct dg_tlsa_set *set, const struct dg_tlsa_strength *order,
                             const struct dg_tlsa_agility *out, size_t idx);

void dg_tlsa_strength_default(struct dg_tlsa_strength *out)
{
	/* SPEC AUTH-7: OpenSSL ordinals SHA2-512 = 2 > SHA2-256 = 1. */
	memset(out, 0, sizeof(*out));
	out->mtype[0] = DG_TLSA_MTYPE_SHA512;
	out->mtype[1] = DG_TLSA_MTYPE_SHA256;
	out->count = 2;
}

/* Position of @p mtype in the order (0 = strongest), RANK_NONE when absent. */
static size_t strength_rank(const struct dg_tlsa_strength *order, uint8_t mtype)
{
	for (size_t i = 0; i < order->count && i < DG_TLSA_STRENGTH_MAX; i++)
		if (order->mtype[i] == mtype)
			return i;
	return RANK_NONE;
}

/* One order item as a matching type 1..254, or -1. */
static int strength_item(const char *tok, size_t len)
{
	static const struct {
		const char *name;
		int mtype;
	} names[] = {{"sha512", 2}, {"sha2-512", 2}, {"sha256", 1}, {"sha2-256", 1}};
	char low[STRENGTH_TOKEN_MAX + 1];
	int value = 0;

	if (len == 0 || len > STRENGTH_TOKEN_MAX)
		return -1;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)(tok[i] >= 'A' && tok[i] <= 'Z' ? tok[i] - 'A' + 'a' : tok[i]);
	low[len] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(low, names[i].name) == 0)
			return names[i].mtype;
	for (size_t i = 0; i < len; i++) {
		if (low[i] < '0' || low[i] > '9' || value > 255)
			return -1;
		value = value * 10 + (low[i] - '0');
	}
	return value >= 1 && value <= 254 ? value : -1;
}

enum dg_status dg_tlsa_strength_parse(const char *s, struct dg_tlsa_strength *out,
                                      struct dg_err *err)
{
	struct dg_tlsa_strength tmp;
	size_t i = 0;

	memset(&tmp, 0, sizeof(tmp));
	while (s[i] != '\0') {
		size_t start;
		int m;

		while (s[i] == ' ' || s[i] == '\t' || s[i] == ',')
			i++;
		if (s[i] == '\0')
			break;
		start = i;
		while (s[i] != '\0' && s[i] != ' ' && s[i] != '\t' && s[i] != ',')
			i++;
		m = strength_item(s + start, i - start);
		if (m < 0)
			return dg_err_set(err, DG_E_CONFIG,
			                  "digest order \"%s\": item \"%.*s\" at char %zu is not "
			                  "sha256, sha512 or a matching type 1..254",
			                  s, (int)(i - start > 32 ? 32 : i - start), s + start,
			                  start);
		if (strength_rank(&tmp, (uint8_t)m) != RANK_NONE)
			return dg_err_set(err, DG_E_CONFIG,
			                  "digest order \"%s\": matching type %d listed twice", s,
			                  m);
		if (tmp.count == DG_TLSA_STRENGTH_MAX)
			return dg_err_set(err, DG_E_CONFIG,
			                  "digest order \"%s\": more than %d items", s,
			                  DG_TLSA_STRENGTH_MAX);
		tmp.mtype[tmp.count++] = (uint8_t)m;
	}
	if (tmp.count == 0)
		return dg_err_set(err, DG_E_CONFIG, "digest order \"%s\": no digest listed", s);
	*out = tmp;
	return DG_OK;
}

/* Strongest rank among the kept digest records with the same (usage, selector) as @p idx. */
static size_t pair_best_rank(const struct dg_tlsa_set *set, const struct dg_tlsa_strength *order,
                             const struct dg_tlsa_agility *out, size_t idx)
{
	const struct dg_tlsa_rr *a = &set->rr[idx];
	size_t best = RANK_NONE;

	for (size_t j = 0; j < set->count; j++) {
		const struct dg_tlsa_rr *b = &set->rr[j];
		size_t r;

		if (out->state[j] != DG_TLSA_AUTH_KEEP || b->usage != a->usage ||
		    b->selector != a->selector || b->mtype == DG_TLSA_MTYPE_FULL)
			continue;
		r = strength_rank(order, b->mtype);
		if (r < best)
			best = r;
	}
	return best;
}

void dg_tlsa_set_agility(const struct dg_tlsa_set *set, const struct dg_tlsa_strength *order,
                         struct dg_tlsa_agility *out)
{
	struct dg_tlsa_strength def;
	size_t count = set != NULL ? set->count : 0;

	if (count > DG_TLSA_SET_MAX)
		DG_PANIC("TLSA set holds %zu records, more than %d", count, DG_TLSA_SET_MAX);
	if (order == NULL) {
		dg_tlsa_strength_default(&def);
		order = &def;
	}
	/* SPEC AUTH-7 step 1: drop unusable records and disabled digests. */
	for (size_t i = 0; i < count; i++) {
		const struct dg_tlsa_rr *rr = &set->rr[i];

		if (dg_tlsa_rr_classify(rr) != DG_TLSA_USABLE)
			out->state[i] = DG_TLSA_AUTH_UNUSABLE;
		else if (rr->mtype != DG_TLSA_MTYPE_FULL &&
		         strength_rank(order, rr->mtype) == RANK_NONE)
			out->state[i] = DG_TLSA_AUTH_DISABLED;
		else
			out->state[i] = DG_TLSA_AUTH_KEEP;
	}
	/* SPEC AUTH-7 step 2: per (usage, selector), Full(0) plus the strongest digest only.
	 * Demotions are decided on the step-1 states, then applied. */
	bool weaker[DG_TLSA_SET_MAX] = {false};

	for (size_t i = 0; i < count; i++) {
		if (out->state[i] != DG_TLSA_AUTH_KEEP || set->rr[i].mtype == DG_TLSA_MTYPE_FULL)
			continue;
		weaker[i] =
		    strength_rank(order, set->rr[i].mtype) > pair_best_rank(set, order, out, i);
	}
	out->kept = 0;
	for (size_t i = 0; i < count; i++) {
		if (weaker[i])
			out->state[i] = DG_TLSA_AUTH_WEAKER;
		if (out->state[i] == DG_TLSA_AUTH_KEEP)
			out->kept++;
	}
}

const char *dg_tlsa_auth_str(enum dg_tlsa_auth a)
{
	switch (a) {
	case DG_TLSA_AUTH_KEEP: return "keep";
	case DG_TLSA_AUTH_UNUSABLE: return "unusable";
	case DG_TLSA_AUTH_DISABLED: return "disabled-digest";
	case DG_TLSA_AUTH_WEAKER: return "weaker-digest";
	}
	return "unknown";
}
