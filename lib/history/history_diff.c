/*
 * history_diff.c - the pure decisions of the scan history: what changed between two runs,
 * and which domains belong in the fail list.
 *
 * Public: dg_history_verdict_fails, dg_change_kind_str, dg_history_diff,
 * dg_history_diff_pair, dg_changes_cleanup, dg_changes_json, dg_history_fail_select.
 *
 * No I/O: history_query.c feeds these from the database; tests/unit/test_history.c feeds
 * them tables. Ownership: struct dg_changes owns copies of its strings; fail entries
 * borrow the observations they were selected from.
 */
#include <daneguard/history.h>
#include <daneguard/util.h>

#include <stdlib.h>
#include <string.h>

static void change_add(struct dg_changes *c, enum dg_change_kind kind, const char *domain,
                       const char *before, const char *after);
static bool str_differs(const char *a, const char *b);
static json_t *j_opt_str(const char *s);

bool dg_history_verdict_fails(const char *verdict)
{
	return verdict != NULL &&
	       (strcmp(verdict, "dane-fail") == 0 || strcmp(verdict, "dnssec-bogus") == 0);
}

const char *dg_change_kind_str(enum dg_change_kind k)
{
	switch (k) {
	case DG_CHANGE_NEW_FAILURE: return "new-failure";
	case DG_CHANGE_RECOVERED: return "recovered";
	case DG_CHANGE_MX: return "mx-changed";
	case DG_CHANGE_TLSA: return "tlsa-changed";
	case DG_CHANGE_ADDED: return "added";
	case DG_CHANGE_REMOVED: return "removed";
	}
	return "unknown";
}

static void change_add(struct dg_changes *c, enum dg_change_kind kind, const char *domain,
                       const char *before, const char *after)
{
	struct dg_change *ch;

	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 16 : c->cap * 2;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		if (c->v == NULL)
			DG_PANIC("out of memory (%zu changes)", c->cap);
	}
	ch = &c->v[c->n++];
	ch->kind = kind;
	ch->domain = dg_xstrdup(domain);
	ch->before = before != NULL ? dg_xstrdup(before) : NULL;
	ch->after = after != NULL ? dg_xstrdup(after) : NULL;
	c->count[kind]++;
}

static bool str_differs(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") != 0;
}

void dg_history_diff_pair(const struct dg_history_row *prev, const struct dg_history_row *cur,
                          struct dg_changes *out)
{
	bool was_failing, failing, temp;

	if (prev == NULL && cur == NULL)
		return;
	if (prev == NULL) {
		change_add(out, DG_CHANGE_ADDED, cur->domain, NULL, cur->verdict);
		if (dg_history_verdict_fails(cur->verdict))
			change_add(out, DG_CHANGE_NEW_FAILURE, cur->domain, NULL, cur->verdict);
		return;
	}
	if (cur == NULL) {
		change_add(out, DG_CHANGE_REMOVED, prev->domain, prev->verdict, NULL);
		return;
	}
	was_failing = dg_history_verdict_fails(prev->verdict);
	failing = dg_history_verdict_fails(cur->verdict);
	temp = strcmp(prev->verdict, "temp-fail") == 0 || strcmp(cur->verdict, "temp-fail") == 0;
	if (failing && !was_failing)
		change_add(out, DG_CHANGE_NEW_FAILURE, cur->domain, prev->verdict, cur->verdict);
	else if (was_failing && !failing && strcmp(cur->verdict, "temp-fail") != 0)
		change_add(out, DG_CHANGE_RECOVERED, cur->domain, prev->verdict, cur->verdict);
	if (temp)
		return;
	if (str_differs(prev->mx_set, cur->mx_set))
		change_add(out, DG_CHANGE_MX, cur->domain, prev->mx_set, cur->mx_set);
	if (str_differs(prev->tlsa_digests, cur->tlsa_digests))
		change_add(out, DG_CHANGE_TLSA, cur->domain, prev->tlsa_digests, cur->tlsa_digests);
}

void dg_history_diff(const struct dg_history_row *prev, size_t n_prev,
                     const struct dg_history_row *cur, size_t n_cur, struct dg_changes *out)
{
	size_t i = 0, j = 0;

	while (i < n_prev || j < n_cur) {
		int c = i == n_prev ? 1 : j == n_cur ? -1 : strcmp(prev[i].domain, cur[j].domain);

		if (c < 0)
			dg_history_diff_pair(&prev[i++], NULL, out);
		else if (c > 0)
			dg_history_diff_pair(NULL, &cur[j++], out);
		else
			dg_history_diff_pair(&prev[i++], &cur[j++], out);
	}
}

void dg_changes_cleanup(struct dg_changes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].domain);
		free(c->v[i].before);
		free(c->v[i].after);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static json_t *j_opt_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *dg_changes_json(const struct dg_changes *c)
{
	json_t *o = json_object(), *counts = json_object(), *arr = json_array();

	if (o == NULL || counts == NULL || arr == NULL)
		DG_PANIC("jansson: out of memory");
	json_object_set_new(o, "schema", json_string("daneguard/changes/1"));
	json_object_set_new(o, "run", json_integer(c->run));
	json_object_set_new(o, "previous_run",
	                    c->prev_run > 0 ? json_integer(c->prev_run) : json_null());
	for (int k = DG_CHANGE_NEW_FAILURE; k <= DG_CHANGE_REMOVED; k++)
		json_object_set_new(counts, dg_change_kind_str((enum dg_change_kind)k),
		                    json_integer((json_int_t)c->count[k]));
	json_object_set_new(o, "counts", counts);
	for (size_t i = 0; i < c->n; i++) {
		json_t *e = json_object();

		json_object_set_new(e, "kind", json_string(dg_change_kind_str(c->v[i].kind)));
		json_object_set_new(e, "domain", json_string(c->v[i].domain));
		json_object_set_new(e, "before", j_opt_str(c->v[i].before));
		json_object_set_new(e, "after", j_opt_str(c->v[i].after));
		json_array_append_new(arr, e);
	}
	json_object_set_new(o, "changes", arr);
	return o;
}

size_t dg_history_fail_select(const struct dg_history_run *runs, size_t n_runs,
                              const struct dg_history_obs *obs, size_t n_obs, unsigned min_runs,
                              struct dg_fail_entry *out)
{
	size_t n_out = 0, i = 0;

	if (min_runs == 0)
		min_runs = 1;
	while (i < n_obs) {
		size_t g = i, k = 0;

		/* one domain: its rows, newest run first; count the streak from runs[0] */
		while (i < n_obs && strcmp(obs[i].domain, obs[g].domain) == 0) {
			if (k < n_runs && k == i - g && obs[i].run_id == runs[k].id)
				k++;
			i++;
		}
		if (k >= min_runs) {
			out[n_out].domain = obs[g].domain;
			out[n_out].verdict = obs[g].verdict;
			out[n_out].codes = obs[g].codes;
			out[n_out].since = runs[k - 1].started;
			out[n_out].runs = k;
			n_out++;
		}
	}
	return n_out;
}
