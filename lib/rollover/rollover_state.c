/*
 * rollover_state.c - the rollover journal (state.json) and the pure decisions made on it.
 *
 * Public: dg_rollover_step_str, dg_rollover_state_parse, dg_rollover_state_format,
 * dg_rollover_recovery, dg_rollover_recovery_str, dg_rollover_safe_at, dg_rollover_note_seen,
 * dg_rollover_retarget, dg_rollover_set_digest.
 *
 * state.json (version 1) is parsed and written with jansson; nothing here does I/O. The
 * recovery decision and the timing rule are pure functions of the journal so that they are
 * table-tested (tests/unit/test_rollover.c) and a crash is always resolved the same way.
 *
 * Ownership: states are embedded, no heap memory; formatted text belongs to the caller.
 * SPEC section 12 PUB-6: the next key goes into service only max(first seen) + 2 x TTL after
 * its record was served by every authoritative server and seen through a validating lookup.
 */
#include <daneguard/rollover.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <stdlib.h>
#include <string.h>

static const char *const step_names[] = {"idle", "obtaining", "installing", "installed"};

static enum dg_status state_id(json_t *o, const char *key, char *out, bool required,
                               struct dg_err *err);
static enum dg_status state_time(json_t *o, const char *key, time_t *out, struct dg_err *err);
static enum dg_status state_seen(json_t *arr, struct dg_rollover_state *s, struct dg_err *err);
static enum dg_status state_fields(json_t *o, struct dg_rollover_state *s, struct dg_err *err);
static int rr_cmp(const void *a, const void *b);

const char *dg_rollover_step_str(enum dg_rollover_step s)
{
	return (unsigned)s < 4 ? step_names[s] : "?";
}

static enum dg_status state_id(json_t *o, const char *key, char *out, bool required,
                               struct dg_err *err)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);

	out[0] = '\0';
	if (v == NULL && !required)
		return DG_OK;
	if (s == NULL || strlen(s) != DG_ROLLOVER_ID_LEN)
		return dg_err_set(err, DG_E_PARSE, "state.json: '%s' is not a 64-digit key id", key);
	for (size_t i = 0; i < DG_ROLLOVER_ID_LEN; i++)
		if (!(s[i] >= '0' && s[i] <= '9') && !(s[i] >= 'a' && s[i] <= 'f'))
			return dg_err_set(err, DG_E_PARSE, "state.json: '%s' is not lowercase hex",
			                  key);
	memcpy(out, s, DG_ROLLOVER_ID_LEN + 1);
	return DG_OK;
}

static enum dg_status state_time(json_t *o, const char *key, time_t *out, struct dg_err *err)
{
	json_t *v = json_object_get(o, key);

	*out = 0;
	if (v == NULL)
		return DG_OK;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return dg_err_set(err, DG_E_PARSE, "state.json: '%s' is not a time", key);
	*out = (time_t)json_integer_value(v);
	return DG_OK;
}

static enum dg_status state_seen(json_t *arr, struct dg_rollover_state *s, struct dg_err *err)
{
	size_t i;
	json_t *e;

	if (arr == NULL)
		return DG_OK;
	if (!json_is_array(arr))
		return dg_err_set(err, DG_E_PARSE, "state.json: 'seen' is not an array");
	if (json_array_size(arr) > DG_ROLLOVER_MAX_SEEN)
		return dg_err_set(err, DG_E_LIMIT, "state.json: more than %d observers",
		                  DG_ROLLOVER_MAX_SEEN);
	json_array_foreach(arr, i, e) {
		const char *who = json_string_value(json_object_get(e, "who"));
		struct dg_rollover_seen *x = &s->seen[s->n_seen];
		if (who == NULL || strlen(who) >= sizeof(x->who))
			return dg_err_set(err, DG_E_PARSE, "state.json: seen[%zu] has no valid 'who'",
			                  i);
		snprintf(x->who, sizeof(x->who), "%s", who);
		if (state_time(e, "first_seen", &x->first_seen, err) != DG_OK)
			return DG_E_PARSE;
		s->n_seen++;
	}
	return DG_OK;
}

static enum dg_status state_fields(json_t *o, struct dg_rollover_state *s, struct dg_err *err)
{
	const char *step = json_string_value(json_object_get(o, "step"));
	json_t *n;

	if (json_integer_value(json_object_get(o, "version")) != 1)
		return dg_err_set(err, DG_E_PARSE, "state.json: want version 1");
	for (s->step = DG_ROLLOVER_IDLE; step != NULL && s->step <= DG_ROLLOVER_INSTALLED; s->step++)
		if (strcmp(step, step_names[s->step]) == 0)
			break;
	if (step == NULL || s->step > DG_ROLLOVER_INSTALLED)
		return dg_err_set(err, DG_E_PARSE, "state.json: unknown step '%s'",
		                  step != NULL ? step : "(none)");
	if (state_id(o, "current", s->current, true, err) != DG_OK ||
	    state_id(o, "next", s->next, true, err) != DG_OK ||
	    state_id(o, "desired_digest", s->desired_digest, false, err) != DG_OK ||
	    state_time(o, "step_at", &s->step_at, err) != DG_OK ||
	    state_time(o, "published_at", &s->published_at, err) != DG_OK ||
	    state_time(o, "last_advance", &s->last_advance, err) != DG_OK)
		return DG_E_PARSE;
	n = json_object_get(o, "ttl_seen");
	s->ttl_seen_s = json_is_integer(n) ? (uint32_t)json_integer_value(n) : 0;
	n = json_object_get(o, "rollovers");
	s->rollovers = json_is_integer(n) ? (uint32_t)json_integer_value(n) : 0;
	return state_seen(json_object_get(o, "seen"), s, err);
}

enum dg_status dg_rollover_state_parse(const char *p, size_t len, struct dg_rollover_state *out,
                                       struct dg_err *err)
{
	json_error_t je;
	json_t *o;
	enum dg_status st;

	memset(out, 0, sizeof(*out));
	if (len > DG_ROLLOVER_FILE_MAX)
		return dg_err_set(err, DG_E_LIMIT, "state.json: larger than %d octets",
		                  DG_ROLLOVER_FILE_MAX);
	o = json_loadb(p, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return dg_err_set(err, DG_E_PARSE, "state.json: line %d: %s", je.line,
		                  o == NULL ? je.text : "not an object");
	}
	st = state_fields(o, out, err);
	json_decref(o);
	if (st != DG_OK)
		memset(out, 0, sizeof(*out));
	return st;
}

char *dg_rollover_state_format(const struct dg_rollover_state *s)
{
	json_t *o = json_object(), *seen = json_array();
	char *text, *copy;

	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(o, "step", json_string(dg_rollover_step_str(s->step)));
	json_object_set_new(o, "step_at", json_integer((json_int_t)s->step_at));
	json_object_set_new(o, "current", json_string(s->current));
	json_object_set_new(o, "next", json_string(s->next));
	if (s->desired_digest[0] != '\0')
		json_object_set_new(o, "desired_digest", json_string(s->desired_digest));
	json_object_set_new(o, "published_at", json_integer((json_int_t)s->published_at));
	json_object_set_new(o, "ttl_seen", json_integer(s->ttl_seen_s));
	for (size_t i = 0; i < s->n_seen; i++)
		json_array_append_new(seen, json_pack("{s:s,s:I}", "who", s->seen[i].who,
		                                      "first_seen",
		                                      (json_int_t)s->seen[i].first_seen));
	json_object_set_new(o, "seen", seen);
	json_object_set_new(o, "rollovers", json_integer(s->rollovers));
	json_object_set_new(o, "last_advance", json_integer((json_int_t)s->last_advance));
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text == NULL)
		DG_PANIC("json_dumps failed");
	copy = dg_xmalloc(strlen(text) + 2);
	snprintf(copy, strlen(text) + 2, "%s\n", text);
	free(text);
	return copy;
}

enum dg_rollover_recovery dg_rollover_recovery(enum dg_rollover_step step,
                                               const struct dg_rollover_disk *disk)
{
	switch (step) {
	case DG_ROLLOVER_IDLE: return DG_ROLLOVER_RECOVER_NONE;
	case DG_ROLLOVER_OBTAINING: return DG_ROLLOVER_RECOVER_DISCARD;
	case DG_ROLLOVER_INSTALLED:
		if (disk->installed_is_next)
			return DG_ROLLOVER_RECOVER_RELOAD;
		/* the files are not (all) the next key's: as for installing */
		__attribute__((fallthrough));
	case DG_ROLLOVER_INSTALLING:
		if (disk->has_next_cert)
			return DG_ROLLOVER_RECOVER_REINSTALL;
		if (disk->installed_is_current)
			return DG_ROLLOVER_RECOVER_DISCARD;
		return DG_ROLLOVER_RECOVER_RESTORE;
	}
	return DG_ROLLOVER_RECOVER_NONE;
}

const char *dg_rollover_recovery_str(enum dg_rollover_recovery r)
{
	static const char *const names[] = {"none", "discard", "reinstall", "reload", "restore"};

	return (unsigned)r < 5 ? names[r] : "?";
}

time_t dg_rollover_safe_at(const struct dg_rollover_seen *seen, size_t n, uint32_t ttl_s)
{
	time_t last = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (seen[i].first_seen == 0)
			return 0;
		if (seen[i].first_seen > last)
			last = seen[i].first_seen;
	}
	return last + 2 * (time_t)ttl_s;
}

void dg_rollover_note_seen(struct dg_rollover_state *s, const char *who, bool ok, time_t now)
{
	struct dg_rollover_seen *x = NULL;

	for (size_t i = 0; i < s->n_seen && x == NULL; i++)
		if (strcmp(s->seen[i].who, who) == 0)
			x = &s->seen[i];
	if (x == NULL) {
		if (s->n_seen == DG_ROLLOVER_MAX_SEEN)
			return;
		x = &s->seen[s->n_seen++];
		snprintf(x->who, sizeof(x->who), "%s", who);
		x->first_seen = 0;
	}
	if (!ok)
		x->first_seen = 0;
	else if (x->first_seen == 0)
		x->first_seen = now;
}

bool dg_rollover_retarget(struct dg_rollover_state *s, const char *digest)
{
	if (strcmp(s->desired_digest, digest) == 0)
		return false;
	snprintf(s->desired_digest, sizeof(s->desired_digest), "%s", digest);
	s->n_seen = 0;
	s->ttl_seen_s = 0;
	s->published_at = 0;
	return true;
}

static int rr_cmp(const void *a, const void *b)
{
	const struct dg_tlsa_rr *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = (x->usage - y->usage) * 65536 + (x->selector - y->selector) * 256 +
	        (x->mtype - y->mtype);

	if (c == 0 && n > 0)
		c = memcmp(x->data, y->data, n);
	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

void dg_rollover_set_digest(const struct dg_tlsa_set *set, char *out)
{
	struct dg_tlsa_rr *rr = dg_xcalloc(set->count + 1, sizeof(*rr));
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL)
		DG_PANIC("EVP_MD_CTX_new failed");
	memcpy(rr, set->rr, set->count * sizeof(*rr));
	qsort(rr, set->count, sizeof(*rr), rr_cmp);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; i < set->count; i++) {
		uint8_t hdr[7] = {rr[i].usage, rr[i].selector, rr[i].mtype,
		                  (uint8_t)(rr[i].len >> 24), (uint8_t)(rr[i].len >> 16),
		                  (uint8_t)(rr[i].len >> 8), (uint8_t)rr[i].len};
		if (i > 0 && rr_cmp(&rr[i - 1], &rr[i]) == 0)
			continue; /* duplicates count once, as in dg_publish_tlsa_set_equal */
		EVP_DigestUpdate(ctx, hdr, sizeof(hdr));
		EVP_DigestUpdate(ctx, rr[i].data, rr[i].len);
	}
	EVP_DigestFinal_ex(ctx, md, &md_len);
	EVP_MD_CTX_free(ctx);
	free(rr);
	for (unsigned i = 0; i < 32 && i < md_len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}
