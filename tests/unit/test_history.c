/*
 * test_history.c - the scan history (lib/history): the change computation and the fail-list
 * selection as tables of input and expected output (pure functions), then a database round
 * trip: runs, results, an incomplete run ignored, changes streamed from SQLite equal to the
 * pure diff, the fail list, and errors that name the database file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/history.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define R(d, v, mx, t)                                                                             \
	{                                                                                          \
		d, v, "-", mx, t                                                                   \
	}

struct diff_case {
	const char *name;
	struct dg_history_row prev[4], cur[4];
	size_t n_prev, n_cur;
	const char *want; /* "kind:domain kind:domain ..." in emission order */
};

static const struct diff_case diff_cases[] = {
    {"identical",
     {R("a.t", "dane-ok", "mx.a.t", "x")},
     {R("a.t", "dane-ok", "mx.a.t", "x")},
     1,
     1,
     ""},
    {"new failure",
     {R("a.t", "dane-ok", "m", "x")},
     {R("a.t", "dane-fail", "m", "x")},
     1,
     1,
     "new-failure:a.t"},
    {"bogus is a failure",
     {R("a.t", "no-dane", "m", "")},
     {R("a.t", "dnssec-bogus", "m", "")},
     1,
     1,
     "new-failure:a.t"},
    {"still failing",
     {R("a.t", "dane-fail", "m", "x")},
     {R("a.t", "dnssec-bogus", "m", "x")},
     1,
     1,
     ""},
    {"recovered",
     {R("a.t", "dane-fail", "m", "x")},
     {R("a.t", "dane-ok", "m", "x")},
     1,
     1,
     "recovered:a.t"},
    {"temp-fail is no recovery",
     {R("a.t", "dane-fail", "m", "x")},
     {R("a.t", "temp-fail", "", "")},
     1,
     1,
     ""},
    {"mx changed",
     {R("a.t", "dane-ok", "m1", "x")},
     {R("a.t", "dane-ok", "m2", "x")},
     1,
     1,
     "mx-changed:a.t"},
    {"tlsa changed",
     {R("a.t", "dane-ok", "m", "x")},
     {R("a.t", "dane-ok", "m", "y")},
     1,
     1,
     "tlsa-changed:a.t"},
    {"failure and tlsa",
     {R("a.t", "dane-ok", "m", "x")},
     {R("a.t", "dane-fail", "m", "y")},
     1,
     1,
     "new-failure:a.t tlsa-changed:a.t"},
    {"added and removed",
     {R("a.t", "dane-ok", "m", ""), R("c.t", "no-dane", "m", "")},
     {R("b.t", "dane-ok", "m", ""), R("c.t", "no-dane", "m", "")},
     2,
     2,
     "removed:a.t added:b.t"},
    {"added failing",
     {R("a.t", "dane-ok", "m", "")},
     {R("a.t", "dane-ok", "m", ""), R("z.t", "dane-fail", "m", "")},
     1,
     2,
     "added:z.t new-failure:z.t"},
    {"everything gone",
     {R("a.t", "dane-ok", "m", ""), R("b.t", "dane-ok", "m", "")},
     {{0}},
     2,
     0,
     "removed:a.t removed:b.t"},
};

static void diff_string(const struct dg_changes *c, char *out, size_t size)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n && off < size; i++)
		off += (size_t)snprintf(out + off, size - off, "%s%s:%s", i ? " " : "",
		                        dg_change_kind_str(c->v[i].kind), c->v[i].domain);
}

static void test_diff_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(diff_cases) / sizeof(diff_cases[0]); i++) {
		const struct diff_case *tc = &diff_cases[i];
		struct dg_changes c;
		char got[512];

		memset(&c, 0, sizeof(c));
		dg_history_diff(tc->prev, tc->n_prev, tc->cur, tc->n_cur, &c);
		diff_string(&c, got, sizeof(got));
		if (strcmp(got, tc->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", tc->name, got, tc->want);
		dg_changes_cleanup(&c);
	}
}

static void test_fail_select(void **state)
{
	static const struct dg_history_run runs[] = {{30, 3000}, {20, 2000}, {10, 1000}};
	/* failing results, by domain then run descending */
	static const struct dg_history_obs obs[] = {
	    {"always.t", 30, "dane-fail", "D-X"},    {"always.t", 20, "dane-fail", "D-X"},
	    {"always.t", 10, "dnssec-bogus", "D-B"}, {"gap.t", 30, "dane-fail", "D-X"},
	    {"gap.t", 10, "dane-fail", "D-X"},       {"old.t", 20, "dane-fail", "D-X"},
	    {"old.t", 10, "dane-fail", "D-X"},       {"two.t", 30, "dnssec-bogus", "D-B"},
	    {"two.t", 20, "dane-fail", "D-X"},
	};
	static const struct {
		unsigned min;
		const char *want;
	} cases[] = {
	    {1, "always.t/3/1000 gap.t/1/3000 two.t/2/2000"},
	    {2, "always.t/3/1000 two.t/2/2000"},
	    {3, "always.t/3/1000"},
	    {4, ""},
	};
	struct dg_fail_entry out[16];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = dg_history_fail_select(runs, 3, obs, sizeof(obs) / sizeof(obs[0]),
		                                  cases[i].min, out);
		char got[256];
		size_t off = 0;

		got[0] = '\0';
		for (size_t k = 0; k < n; k++)
			off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s/%zu/%ld",
			                        k ? " " : "", out[k].domain, out[k].runs,
			                        (long)out[k].since);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("min %u: got \"%s\", want \"%s\"", cases[i].min, got,
			         cases[i].want);
	}
	assert_int_equal(dg_history_fail_select(runs, 0, obs, 9, 1, out), 0);
}

static void add_rows(struct dg_history *h, int64_t run, const struct dg_history_row *rows, size_t n)
{
	struct dg_err err = {0};

	for (size_t i = 0; i < n; i++)
		if (dg_history_add(h, run, &rows[i], "{}", &err) != DG_OK)
			fail_msg("add: %s", err.msg);
}

static void test_db_round_trip(void **state)
{
	char path[] = "/tmp/dg-test-history-XXXXXX";
	int fd = mkstemp(path);
	static const struct dg_history_row r1[] = {R("a.t", "dane-ok", "m", "x"),
	                                           R("b.t", "dane-fail", "m", "x"),
	                                           R("c.t", "dane-ok", "m", "x")};
	static const struct dg_history_row r2[] = {R("a.t", "dane-fail", "m", "y"),
	                                           R("b.t", "dane-fail", "m", "x"),
	                                           R("d.t", "dane-ok", "m", "x")};
	struct dg_history *h;
	struct dg_changes c, pure;
	struct dg_fail_list fl;
	int64_t run1, run2, run3, prev = 0;
	char got[512], want[512];

	(void)state;
	close(fd);
	assert_int_equal(dg_history_open(path, true, &h, NULL), DG_OK);
	assert_int_equal(dg_history_run_begin(h, 1000, &run1, NULL), DG_OK);
	add_rows(h, run1, r1, 3);
	assert_int_equal(dg_history_run_finish(h, run1, 1100, NULL), DG_OK);
	assert_int_equal(dg_history_run_begin(h, 2000, &run2, NULL), DG_OK);
	add_rows(h, run2, r2, 3);
	assert_int_equal(dg_history_run_finish(h, run2, 2100, NULL), DG_OK);
	/* an interrupted run: never complete, never compared */
	assert_int_equal(dg_history_run_begin(h, 3000, &run3, NULL), DG_OK);
	add_rows(h, run3, r1, 1);
	assert_int_equal(dg_history_commit(h, NULL), DG_OK);
	assert_int_equal(dg_history_complete_before(h, INT64_MAX, &prev, NULL), DG_OK);
	assert_int_equal(prev, run2);
	assert_int_equal(dg_history_complete_before(h, run2, &prev, NULL), DG_OK);
	assert_int_equal(prev, run1);
	assert_int_equal(dg_history_complete_before(h, run1, &prev, NULL), DG_E_NOTFOUND);
	assert_int_equal(dg_history_changes(h, run1, run2, &c, NULL), DG_OK);
	memset(&pure, 0, sizeof(pure));
	dg_history_diff(r1, 3, r2, 3, &pure);
	diff_string(&c, got, sizeof(got));
	diff_string(&pure, want, sizeof(want));
	if (strcmp(got, want) != 0 || c.count[DG_CHANGE_NEW_FAILURE] != 1)
		fail_msg("db changes \"%s\", pure \"%s\"", got, want);
	dg_changes_cleanup(&c);
	dg_changes_cleanup(&pure);
	assert_int_equal(dg_history_fail_list(h, 2, &fl, NULL), DG_OK);
	assert_int_equal(fl.n, 1);
	assert_string_equal(fl.v[0].domain, "b.t");
	assert_int_equal(fl.v[0].since, 1000);
	dg_fail_list_cleanup(&fl);
	assert_int_equal(dg_history_run_reopen(h, run2, NULL), DG_E_NOTFOUND); /* complete */
	assert_int_equal(dg_history_run_reopen(h, run3, NULL), DG_OK);
	dg_history_free(h);
	unlink(path);
}

static void test_db_errors_name_the_file(void **state)
{
	struct dg_history *h = NULL;
	struct dg_err err = {0};
	char path[] = "/tmp/dg-test-notdb-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_int_equal(dg_history_open("/nonexistent/dir/x.db", true, &h, &err), DG_E_IO);
	assert_null(h);
	assert_non_null(strstr(err.msg, "database /nonexistent/dir/x.db: "));
	assert_true(write(fd,
	                  "this is not an SQLite database, not at all, no no no no no no\n"
	                  "and it goes on for a while so that the header is wrong\n",
	                  118) == 118);
	close(fd);
	dg_err_clear(&err);
	assert_int_equal(dg_history_open(path, false, &h, &err), DG_E_IO);
	assert_non_null(strstr(err.msg, path));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_diff_table),
	    cmocka_unit_test(test_fail_select),
	    cmocka_unit_test(test_db_round_trip),
	    cmocka_unit_test(test_db_errors_name_the_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
