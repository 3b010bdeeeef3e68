/*
 * cmd_report.c - "daneguard report changes|fail-list --db FILE": what the scan history
 * (lib/history) says.
 *
 * Public (cmd.h): cmd_report_main, cmd_report_usage, cmd_print_changes, cmd_run_on_change.
 *
 * changes: the changes between a run (default: the newest complete one) and the complete run
 * before it, as JSON (schema daneguard/changes/1) or text. fail-list: the domains whose DANE
 * has been broken (dane-fail, dnssec-bogus) in each of the newest N complete runs, as a
 * Postfix smtp_tls_policy_maps table downgrading them to "may" (one comment per entry: why
 * and since when), as text or as JSON. Entries leave by themselves when a domain recovers.
 * html: one self-contained page (-o FILE) with charts, the fail list and a domain table
 * (cmd_report_html.c).
 * The database is opened without creating it: a missing file is an error naming it.
 *
 * Ownership: everything read is freed before returning; option strings borrow argv.
 */
#include "cmd.h"

#include <daneguard/history.h>
#include <daneguard/report.h>
#include <daneguard/util.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { OPT_DB = 256, OPT_RUN, OPT_RUNS, OPT_FORMAT, OPT_OUTPUT = 'o' };
enum report_format { FMT_DEFAULT = 0, FMT_JSON, FMT_TEXT, FMT_POSTFIX };
enum { ON_CHANGE_WAIT_MS = 60000 };

struct report_cli {
	const char *what;
	const char *db;
	uint32_t run; /* 0: newest complete */
	uint32_t runs;
	enum report_format format;
	const char *output; /* html: -o FILE */
};

static int parse_args(int argc, char **argv, struct report_cli *cli);
static int parse_format(const char *v, struct report_cli *cli);
static int open_db(const struct report_cli *cli, struct dg_history **h);
static int report_changes(const struct report_cli *cli);
static int report_fail_list(const struct report_cli *cli);
static void print_fail_postfix(const struct report_cli *cli, const struct dg_fail_list *l);
static void print_fail_json(const struct report_cli *cli, const struct dg_fail_list *l);
static int finish_output(void);
static void write_all_fd(int fd, const char *p, size_t len);
static int wait_bounded(pid_t pid, int timeout_ms);

void cmd_report_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: daneguard report changes --db FILE [--run N] [--format json|text]\n"
	    "       daneguard report fail-list --db FILE [--runs N] [--format postfix|text|json]\n"
	    "       daneguard report html --db FILE -o OUT.html\n"
	    "\n"
	    "Read the history written by 'daneguard scan --db FILE'.\n"
	    "\n"
	    "changes    what changed between run N (default: the newest complete run) and the\n"
	    "           complete run before it: new failures, recoveries, MX or TLSA changes,\n"
	    "           added and removed domains. Default format json (daneguard/changes/1).\n"
	    "fail-list  the domains whose DANE has been broken (dane-fail, dnssec-bogus) in each\n"
	    "           of the newest N complete runs (--runs, 1-100, default 2). Default format\n"
	    "           postfix: an smtp_tls_policy_maps table that downgrades them to 'may',\n"
	    "           with a comment per entry saying why and since when. A domain leaves the\n"
	    "           list as soon as a complete run finds it working again.\n"
	    "html       one self-contained page (no network access when opened): verdicts per\n"
	    "           run (chart), DANE coverage, top MX operators, the fail list and a\n"
	    "           sortable, filterable table of the newest complete run's domains with\n"
	    "           their reasons. Written to OUT.html.tmp, then renamed.\n"
	    "\n"
	    "exit status: 0 done; 64 usage error; 74 the database cannot be read\n"
	    "\n"
	    "example (cron, after the nightly scan):\n"
	    "  daneguard report fail-list --db /var/lib/daneguard/scan.db > /etc/postfix/dane-fail "
	    "\\\n"
	    "    && postmap /etc/postfix/dane-fail\n");
}

static int parse_format(const char *v, struct report_cli *cli)
{
	static const struct {
		const char *name;
		enum report_format f;
	} fmts[] = {{"json", FMT_JSON}, {"text", FMT_TEXT}, {"postfix", FMT_POSTFIX}};

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
		if (strcmp(v, fmts[i].name) == 0) {
			cli->format = fmts[i].f;
			return CMD_CONTINUE;
		}
	return cmd_usage_error("report", "--format: '%s' is not json, text or postfix", v);
}

static int parse_args(int argc, char **argv, struct report_cli *cli)
{
	static const struct option longopts[] = {
	    {"db", required_argument, NULL, OPT_DB},
	    {"run", required_argument, NULL, OPT_RUN},
	    {"runs", required_argument, NULL, OPT_RUNS},
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"output", required_argument, NULL, OPT_OUTPUT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, rc = CMD_CONTINUE;

	if (argc < 2)
		return cmd_usage_error("report", "report needs 'changes', 'fail-list' or 'html'");
	cli->what = argv[1];
	if (strcmp(cli->what, "-h") == 0 || strcmp(cli->what, "--help") == 0) {
		cmd_report_usage(stdout);
		return CMD_EXIT_OK;
	}
	if (strcmp(cli->what, "changes") != 0 && strcmp(cli->what, "fail-list") != 0 &&
	    strcmp(cli->what, "html") != 0)
		return cmd_usage_error("report", "unknown report '%s'", cli->what);
	opterr = 0;
	optind = 2;
	while (rc == CMD_CONTINUE && (c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DB: cli->db = optarg; break;
		case OPT_RUN:
			rc = cmd_parse_num("report", "--run", optarg, 1, INT32_MAX, &cli->run);
			break;
		case OPT_RUNS:
			rc = cmd_parse_num("report", "--runs", optarg, 1, DG_HISTORY_LOOKBACK,
			                   &cli->runs);
			break;
		case OPT_FORMAT: rc = parse_format(optarg, cli); break;
		case OPT_OUTPUT: cli->output = optarg; break;
		case 'h': cmd_report_usage(stdout); return CMD_EXIT_OK;
		case ':':
			return cmd_usage_error("report", "option '%s' needs a value",
			                       argv[optind - 1]);
		default: return cmd_usage_error("report", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (rc != CMD_CONTINUE)
		return rc;
	if (optind != argc)
		return cmd_usage_error("report", "unexpected argument '%s'", argv[optind]);
	if (cli->db == NULL)
		return cmd_usage_error("report", "%s needs --db FILE", cli->what);
	if ((strcmp(cli->what, "html") == 0) != (cli->output != NULL))
		return cmd_usage_error("report", "-o FILE goes with html, and html needs it");
	return CMD_CONTINUE;
}

static int open_db(const struct report_cli *cli, struct dg_history **h)
{
	struct dg_err err = {0};

	if (!dg_history_target_is_pg(cli->db) && access(cli->db, F_OK) != 0) {
		fprintf(stderr, "daneguard: database %s: %s\n", cli->db, strerror(errno));
		return CMD_EXIT_IOERR;
	}
	if (dg_history_open(cli->db, false, h, &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		return CMD_EXIT_IOERR;
	}
	return CMD_CONTINUE;
}

static int finish_output(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "daneguard: writing the report failed: %s\n", strerror(errno));
		return CMD_EXIT_IOERR;
	}
	return CMD_EXIT_OK;
}

/* ---- changes -------------------------------------------------------------------------------- */

static int report_changes(const struct report_cli *cli)
{
	struct dg_history *h = NULL;
	struct dg_changes ch = {0};
	struct dg_err err = {0};
	int64_t run = cli->run, prev = 0;
	int rc = open_db(cli, &h);
	enum dg_status st = DG_OK;

	if (rc != CMD_CONTINUE)
		return rc;
	if (run == 0)
		st = dg_history_complete_before(h, INT64_MAX, &run, &err);
	if (st == DG_OK && (st = dg_history_complete_before(h, run, &prev, &err)) == DG_E_NOTFOUND)
		st = DG_OK;
	if (st == DG_OK)
		st = dg_history_changes(h, prev, run, &ch, &err);
	if (st != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		rc = CMD_EXIT_IOERR;
	} else if (cli->format == FMT_TEXT) {
		cmd_print_changes(stdout, &ch);
		rc = finish_output();
	} else {
		json_t *doc = dg_changes_json(&ch);

		(void)json_dumpf(doc, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(doc);
		rc = finish_output();
	}
	dg_changes_cleanup(&ch);
	dg_history_free(h);
	return rc;
}

void cmd_print_changes(FILE *out, const struct dg_changes *ch)
{
	if (ch->prev_run <= 0) {
		fprintf(out,
		        "daneguard: run %" PRId64 ": no previous complete run to compare with\n",
		        ch->run);
		return;
	}
	fprintf(out,
	        "daneguard: run %" PRId64 " vs run %" PRId64 ": %zu new failures, %zu recovered,"
	        " %zu MX changed, %zu TLSA changed, %zu added, %zu removed\n",
	        ch->run, ch->prev_run, ch->count[DG_CHANGE_NEW_FAILURE],
	        ch->count[DG_CHANGE_RECOVERED], ch->count[DG_CHANGE_MX], ch->count[DG_CHANGE_TLSA],
	        ch->count[DG_CHANGE_ADDED], ch->count[DG_CHANGE_REMOVED]);
	for (size_t i = 0; i < ch->n; i++)
		fprintf(out, "  %-12s %s: %s -> %s\n", dg_change_kind_str(ch->v[i].kind),
		        ch->v[i].domain, ch->v[i].before != NULL ? ch->v[i].before : "-",
		        ch->v[i].after != NULL ? ch->v[i].after : "-");
}

/* ---- fail list ------------------------------------------------------------------------------ */

static int report_fail_list(const struct report_cli *cli)
{
	struct dg_history *h = NULL;
	struct dg_fail_list l = {0};
	struct dg_err err = {0};
	int rc = open_db(cli, &h);

	if (rc != CMD_CONTINUE)
		return rc;
	if (dg_history_fail_list(h, cli->runs, &l, &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		rc = CMD_EXIT_IOERR;
	} else {
		if (cli->format == FMT_JSON)
			print_fail_json(cli, &l);
		else
			print_fail_postfix(cli, &l);
		rc = finish_output();
	}
	dg_fail_list_cleanup(&l);
	dg_history_free(h);
	return rc;
}

static void print_fail_postfix(const struct report_cli *cli, const struct dg_fail_list *l)
{
	char now[32], since[32];
	bool postfix = cli->format != FMT_TEXT;

	if (postfix)
		fprintf(
		    stdout,
		    "# daneguard fail-list (database %s, %s): DANE broken in each of the last %u\n"
		    "# complete scans; these destinations are downgraded to TLS security level "
		    "may.\n"
		    "# Use: postmap this file; smtp_tls_policy_maps = "
		    "hash:/etc/postfix/THIS_FILE\n",
		    cli->db, dg_report_time(dg_clock_wall(), now, sizeof(now)), cli->runs);
	for (size_t i = 0; i < l->n; i++) {
		const struct dg_fail_entry *e = &l->v[i];

		dg_report_time(e->since, since, sizeof(since));
		if (postfix)
			fprintf(stdout,
			        "# %s: %s (%s) in %zu consecutive complete scans since %s\n"
			        "%s\tmay\n",
			        e->domain, e->verdict, e->codes, e->runs, since, e->domain);
		else
			fprintf(stdout, "%s\t%s\t%zu runs since %s\t%s\n", e->domain, e->verdict,
			        e->runs, since, e->codes);
	}
}

static void print_fail_json(const struct report_cli *cli, const struct dg_fail_list *l)
{
	json_t *o = json_object(), *arr = json_array();
	char since[32];

	json_object_set_new(o, "schema", json_string("daneguard/fail-list/1"));
	json_object_set_new(o, "runs", json_integer(cli->runs));
	json_object_set_new(o, "complete_runs", json_integer((json_int_t)l->n_complete_runs));
	for (size_t i = 0; i < l->n; i++) {
		json_t *e = json_object();

		json_object_set_new(e, "domain", json_string(l->v[i].domain));
		json_object_set_new(e, "verdict", json_string(l->v[i].verdict));
		json_object_set_new(e, "codes", json_string(l->v[i].codes));
		json_object_set_new(e, "consecutive_runs", json_integer((json_int_t)l->v[i].runs));
		json_object_set_new(
		    e, "since", json_string(dg_report_time(l->v[i].since, since, sizeof(since))));
		json_array_append_new(arr, e);
	}
	json_object_set_new(o, "domains", arr);
	(void)json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(o);
}

/* ---- --on-change ---------------------------------------------------------------------------- */

static void write_all_fd(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the command stopped reading: its exit status tells */
		p += n;
		len -= (size_t)n;
	}
}

/* waitpid() with a deadline; kills the child when it passes. @return wait status or -1 */
static int wait_bounded(pid_t pid, int timeout_ms)
{
	int status = 0;
	uint64_t deadline = dg_clock_mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		struct timespec ts = {0, 20 * 1000 * 1000};

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (dg_clock_mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
}

void cmd_run_on_change(const char *cmd, const struct dg_changes *ch)
{
	json_t *doc = dg_changes_json(ch);
	char *text = json_dumps(doc, JSON_INDENT(2));
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	int fds[2], status;
	pid_t pid;

	json_decref(doc);
	if (text == NULL || pipe(fds) != 0 || (pid = fork()) < 0) {
		fprintf(stderr, "daneguard: warning: --on-change '%s' could not start: %s\n", cmd,
		        strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(fds[1]);
		if (dup2(fds[0], STDIN_FILENO) < 0)
			_exit(127);
		close(fds[0]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	write_all_fd(fds[1], text, strlen(text));
	close(fds[1]);
	status = wait_bounded(pid, ON_CHANGE_WAIT_MS);
	if (status < 0)
		fprintf(stderr, "daneguard: warning: --on-change '%s' killed after %d s\n", cmd,
		        ON_CHANGE_WAIT_MS / 1000);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "daneguard: warning: --on-change '%s' failed (status %d)\n", cmd,
		        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
out:
	signal(SIGPIPE, old);
	free(text);
}

int cmd_report_main(int argc, char **argv)
{
	struct report_cli cli = {0};
	int rc;

	cli.runs = DG_HISTORY_FAIL_RUNS;
	if ((rc = parse_args(argc, argv, &cli)) != CMD_CONTINUE)
		return rc;
	if (strcmp(cli.what, "changes") == 0) {
		if (cli.format == FMT_POSTFIX)
			return cmd_usage_error("report", "changes: --format is json or text");
		return report_changes(&cli);
	}
	if (strcmp(cli.what, "html") == 0)
		return cmd_report_html(cli.db, cli.output);
	if (cli.run != 0)
		return cmd_usage_error("report", "fail-list: --run is for changes (use --runs)");
	return report_fail_list(&cli);
}
