/*
 * cmd_check.c - "daneguard check [options] DOMAIN...": check mail domains as a DANE-validating
 * sender sees them (RFC 7672) and print a report per domain.
 *
 * Public (cmd.h): cmd_check_main, cmd_check_usage.
 *
 * Arguments are parsed and every DOMAIN validated before anything starts; then one event_base
 * and one engine (lib/scan) check all domains at once, results are collected per domain and
 * printed in the order given: text (lib/report) by default, JSON with --json (one object for one
 * domain, an array for several). Progress lines go to stderr only when it is a terminal and
 * there are several domains. The verdicts map to the exit code in check_exit_code() alone
 * (STYLE.md section 4); the table is in docs/daneguard.1 and docs/json.md.
 *
 * Ownership: results handed to the callback are owned here until dg_domain_result_free();
 * option strings borrow argv.
 */
#include "cmd.h"

#include <daneguard/report.h>
#include <daneguard/scan.h>
#include <daneguard/util.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#define CHECK_MAX_RESOLVERS 16
#define CHECK_CONTINUE CMD_CONTINUE /* parse_args: go on and check */

/* Long-only options. */
enum {
	OPT_JSON = 256,
	OPT_RESOLVER,
	OPT_TA,
	OPT_PORT,
	OPT_TIMEOUT,
	OPT_HELO,
	OPT_DAYS,
	OPT_CA_FILE,
	OPT_NO_STS
};

struct check_cli {
	bool json;
	bool only4, only6;
	struct dg_report_opts ropts;
	struct dg_engine_opts eo;
	const char *resolvers[CHECK_MAX_RESOLVERS];
	size_t n_resolvers;
	char **domains; /* borrowed from argv */
	size_t n_domains;
};

struct check_run;

/* Callback argument: which domain a result belongs to. */
struct check_slot {
	struct check_run *run;
	size_t index;
};

struct check_run {
	struct dg_domain_result **results; /* [n], owned */
	struct check_slot *slots;          /* [n] */
	size_t n, done;
	bool progress;
};

static int parse_option(int c, struct check_cli *cli, char **argv);
static int parse_args(int argc, char **argv, struct check_cli *cli);
static int check_readable(const char *what, const char *file);
static const char *name_why(const struct dg_err *err);
static int validate_domains(const struct check_cli *cli);
static void on_result(void *arg, struct dg_domain_result *res);
static int run_checks(struct check_cli *cli, struct check_run *run);
static int print_json(const struct check_cli *cli, const struct check_run *run);
static int print_results(const struct check_cli *cli, const struct check_run *run);
static int verdict_exit_code(enum dg_verdict v);
static int check_exit_code(const enum dg_verdict *verdicts, size_t n);

void cmd_check_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: daneguard check [options] DOMAIN...\n"
	    "\n"
	    "Check each mail DOMAIN as a DANE-validating SMTP sender sees it (RFC 7672): the MX\n"
	    "RRset and its DNSSEC status, every MX host's addresses and TLSA records, and a\n"
	    "STARTTLS probe of every address whose certificate chain is verified against them.\n"
	    "Also the domain's MTA-STS policy (RFC 8461) and TLS-RPT record (RFC 8460), and what a\n"
	    "DANE sender, an MTA-STS sender and one doing both do with its mail. MTA-STS does not\n"
	    "change the verdict or the exit status.\n"
	    "\n"
	    "options:\n"
	    "  --json                 print JSON (schema daneguard/check/1): one object for one\n"
	    "                         domain, an array of objects for several\n"
	    "  --resolver ADDR[@PORT] forward queries to this resolver (repeatable, at most %d);\n"
	    "                         DNSSEC is still validated locally. Default: full recursion\n"
	    "  --trust-anchor FILE    DS/DNSKEY zone file replacing the built-in root anchors\n"
	    "  --port N               SMTP port to probe, 1-65535 (default 25)\n"
	    "  --timeout SECONDS      limit of each wait (DNS query, connect, reply, handshake,\n"
	    "                         policy fetch), 1-600 (default 10)\n"
	    "  -4                     use IPv4 addresses only\n"
	    "  -6                     use IPv6 addresses only\n"
	    "  --helo NAME            name sent with EHLO\n"
	    "  --days N               also verify each chain as of N days from now, 0-3650\n"
	    "  --ca-file FILE         PEM CA certificates for MTA-STS (the policy's HTTPS server\n"
	    "                         and the MX hosts' certificates). Default: the system store\n"
	    "  --no-mta-sts           do not look up or fetch MTA-STS policies (TLS-RPT is still\n"
	    "                         looked up; senders are judged as without MTA-STS)\n"
	    "  -v                     include the SMTP/TLS transcripts in the report\n"
	    "  -h, --help             print this help and exit\n"
	    "\n"
	    "exit status (with several domains, the most severe: 1, then 3, then 2, then 0):\n"
	    "  0   dane-ok: every MX host is DANE-verified\n"
	    "  1   dane-fail or dnssec-bogus\n"
	    "  2   no-dane, dane-partial or null-mx\n"
	    "  3   temp-fail: the check could not complete\n"
	    "  64  usage error: bad option, invalid domain, bad trust anchor, CA file or resolver\n"
	    "  70  internal error\n"
	    "\n"
	    "example:\n"
	    "  daneguard check --json --resolver 127.0.0.1@5353 example.org example.net\n",
	    CHECK_MAX_RESOLVERS);
}

/* ---- arguments ------------------------------------------------------------------------------ */

/* One option of getopt_long(); returns CHECK_CONTINUE or an exit code. */
static int parse_option(int c, struct check_cli *cli, char **argv)
{
	uint32_t v;
	int rc = CHECK_CONTINUE;

	switch (c) {
	case OPT_JSON: cli->json = true; break;
	case OPT_RESOLVER:
		if (cli->n_resolvers == CHECK_MAX_RESOLVERS)
			return cmd_usage_error("check", "--resolver: more than %d resolvers",
			                   CHECK_MAX_RESOLVERS);
		cli->resolvers[cli->n_resolvers++] = optarg;
		break;
	case OPT_TA: cli->eo.dns.ta_file = optarg; return check_readable("trust anchor", optarg);
	case OPT_CA_FILE: cli->eo.ca_file = optarg; return check_readable("CA file", optarg);
	case OPT_NO_STS: cli->eo.mta_sts = false; break;
	case OPT_PORT:
		if ((rc = cmd_parse_num("check", "--port", optarg, 1, 65535, &v)) == CHECK_CONTINUE)
			cli->eo.port = (uint16_t)v;
		break;
	case OPT_TIMEOUT:
		if ((rc = cmd_parse_num("check", "--timeout", optarg, 1, 600, &v)) == CHECK_CONTINUE)
			cli->eo.timeout_ms = v * 1000u;
		break;
	case OPT_DAYS:
		if ((rc = cmd_parse_num("check", "--days", optarg, 0, 3650, &v)) == CHECK_CONTINUE)
			cli->eo.days = cli->ropts.days = (int)v;
		break;
	case OPT_HELO:
		if (!dg_name_is_valid(optarg, NULL))
			return cmd_usage_error("check", "--helo: '%s' is not a valid host name", optarg);
		cli->eo.helo = optarg;
		break;
	case '4': cli->only4 = true; break;
	case '6': cli->only6 = true; break;
	case 'v': cli->eo.transcript = cli->ropts.verbose = true; break;
	case 'h': cmd_check_usage(stdout); return CMD_EXIT_OK;
	case ':': return cmd_usage_error("check", "option '%s' needs a value", argv[optind - 1]);
	default:
		if (optopt != 0)
			return cmd_usage_error("check", "unknown option '-%c'", optopt);
		return cmd_usage_error("check", "unknown option '%s'", argv[optind - 1]);
	}
	return rc;
}

static int parse_args(int argc, char **argv, struct check_cli *cli)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {"resolver", required_argument, NULL, OPT_RESOLVER},
	    {"trust-anchor", required_argument, NULL, OPT_TA},
	    {"port", required_argument, NULL, OPT_PORT},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"helo", required_argument, NULL, OPT_HELO},
	    {"days", required_argument, NULL, OPT_DAYS},
	    {"ca-file", required_argument, NULL, OPT_CA_FILE},
	    {"no-mta-sts", no_argument, NULL, OPT_NO_STS},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":46vh", longopts, NULL)) != -1)
		if ((rc = parse_option(c, cli, argv)) != CHECK_CONTINUE)
			return rc;
	if (cli->only4 && cli->only6)
		return cmd_usage_error("check", "options -4 and -6 exclude each other");
	cli->eo.ipv4 = !cli->only6;
	cli->eo.ipv6 = !cli->only4;
	cli->eo.dns.forwarders = cli->resolvers;
	cli->eo.dns.n_forwarders = cli->n_resolvers;
	if (optind >= argc)
		return cmd_usage_error("check", "check needs at least one DOMAIN");
	cli->domains = argv + optind;
	cli->n_domains = (size_t)(argc - optind);
	return validate_domains(cli);
}

/* Trust anchor and CA file must be readable before anything starts: a usage error. */
static int check_readable(const char *what, const char *file)
{
	return cmd_check_readable(what, file) == CMD_CONTINUE ? CHECK_CONTINUE : CMD_EXIT_USAGE;
}

/* dg_name_is_valid() writes 'DNS name "x": why'; keep the why. */
static const char *name_why(const struct dg_err *err)
{
	static const char prefix[] = "DNS name \"";
	const char *p;

	if (strncmp(err->msg, prefix, sizeof(prefix) - 1) != 0)
		return err->msg;
	for (p = err->msg + sizeof(prefix) - 1; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (p[0] == '"' && p[1] == ':' && p[2] == ' ')
			return p + 3;
	}
	return err->msg;
}

static int validate_domains(const struct check_cli *cli)
{
	struct dg_err err;

	for (size_t i = 0; i < cli->n_domains; i++) {
		dg_err_clear(&err);
		if (!dg_name_is_valid(cli->domains[i], &err)) {
			char shown[DG_NAME_BUF_SIZE + 16];

			dg_str_escape(shown, sizeof(shown), cli->domains[i],
			              strlen(cli->domains[i]));
			fprintf(stderr, "daneguard: invalid domain '%s': %s\n", shown,
			        name_why(&err));
			return CMD_EXIT_USAGE;
		}
	}
	return CHECK_CONTINUE;
}

/* ---- running -------------------------------------------------------------------------------- */

static void on_result(void *arg, struct dg_domain_result *res)
{
	struct check_slot *slot = arg;
	struct check_run *run = slot->run;

	if (run->results[slot->index] != NULL)
		DG_PANIC("two results for domain #%zu", slot->index);
	run->results[slot->index] = res;
	run->done++;
	if (run->progress)
		fprintf(stderr, "\rdaneguard: %zu of %zu domains checked%s", run->done, run->n,
		        run->done == run->n ? "\n" : "");
}

/* Check every domain on one event loop; results land in run->results. */
static int run_checks(struct check_cli *cli, struct check_run *run)
{
	struct event_base *base = event_base_new();
	struct dg_engine *eng = NULL;
	struct dg_err err;
	int rc = CHECK_CONTINUE;

	if (base == NULL) {
		fprintf(stderr, "daneguard: cannot create the event loop\n");
		return CMD_EXIT_INTERNAL;
	}
	dg_err_clear(&err);
	if (dg_engine_new(base, &cli->eo, NULL, &eng, &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n",
		        err.msg[0] != '\0' ? err.msg : dg_status_str(err.code));
		rc = err.code == DG_E_CONFIG ? CMD_EXIT_USAGE : CMD_EXIT_INTERNAL;
		goto out;
	}
	for (size_t i = 0; i < run->n; i++) {
		run->slots[i] = (struct check_slot){run, i};
		if (dg_engine_check(eng, cli->domains[i], on_result, &run->slots[i], &err) !=
		    DG_OK) {
			fprintf(stderr, "daneguard: %s: %s\n", cli->domains[i], err.msg);
			rc = CMD_EXIT_INTERNAL;
			goto out;
		}
	}
	if (event_base_dispatch(base) < 0) {
		fprintf(stderr, "daneguard: the event loop failed\n");
		rc = CMD_EXIT_INTERNAL;
	}
out:
	dg_engine_free(eng);
	event_base_free(base);
	return rc;
}

/* ---- output --------------------------------------------------------------------------------- */

static int print_json(const struct check_cli *cli, const struct check_run *run)
{
	json_t *doc = NULL;

	if (run->n == 1) {
		doc = dg_report_json(run->results[0], &cli->ropts);
	} else {
		doc = json_array();
		if (doc == NULL)
			DG_PANIC("json_array failed");
		for (size_t i = 0; i < run->n; i++)
			if (json_array_append_new(
			        doc, dg_report_json(run->results[i], &cli->ropts)) != 0)
				DG_PANIC("json_array_append_new failed");
	}
	/* a failed write shows in ferror(stdout), checked by print_results() */
	(void)json_dumpf(doc, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(doc);
	return CHECK_CONTINUE;
}

static int print_results(const struct check_cli *cli, const struct check_run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		if (run->results[i] == NULL) {
			fprintf(stderr, "daneguard: %s: the check ended without a result\n",
			        cli->domains[i]);
			return CMD_EXIT_INTERNAL;
		}
	}
	if (cli->json) {
		print_json(cli, run);
	} else {
		for (size_t i = 0; i < run->n; i++) {
			if (i > 0)
				fputc('\n', stdout);
			dg_report_text(run->results[i], &cli->ropts, stdout);
		}
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "daneguard: writing the report failed: %s\n", strerror(errno));
		return CMD_EXIT_INTERNAL;
	}
	return CHECK_CONTINUE;
}

/* ---- exit code ------------------------------------------------------------------------------ */

static int verdict_exit_code(enum dg_verdict v)
{
	switch (v) {
	case DG_VERDICT_DANE_OK: return CMD_EXIT_OK;
	case DG_VERDICT_DANE_FAIL:
	case DG_VERDICT_DNSSEC_BOGUS: return CMD_EXIT_FAIL;
	case DG_VERDICT_NO_DANE:
	case DG_VERDICT_DANE_PARTIAL:
	case DG_VERDICT_NULL_MX: return CMD_EXIT_WEAK;
	case DG_VERDICT_TEMP_FAIL: return CMD_EXIT_TEMP;
	}
	return CMD_EXIT_INTERNAL;
}

/*
 * The one place verdicts become the exit status: 0 dane-ok; 1 dane-fail, dnssec-bogus;
 * 2 no-dane, dane-partial, null-mx; 3 temp-fail. Several domains: the most severe in the
 * order 1 > 3 > 2 > 0.
 */
static int check_exit_code(const enum dg_verdict *verdicts, size_t n)
{
	static const int severity_order[] = {CMD_EXIT_OK, CMD_EXIT_WEAK, CMD_EXIT_TEMP,
	                                     CMD_EXIT_FAIL};
	size_t worst = 0;

	for (size_t i = 0; i < n; i++) {
		int code = verdict_exit_code(verdicts[i]);
		size_t rank = 0;

		if (code == CMD_EXIT_INTERNAL)
			return CMD_EXIT_INTERNAL;
		while (severity_order[rank] != code)
			rank++;
		if (rank > worst)
			worst = rank;
	}
	return severity_order[worst];
}

int cmd_check_main(int argc, char **argv)
{
	struct check_cli cli = {0};
	struct check_run run = {0};
	enum dg_verdict *verdicts = NULL;
	int rc;

	dg_engine_opts_init(&cli.eo);
	dg_report_opts_init(&cli.ropts);
	if ((rc = parse_args(argc, argv, &cli)) != CHECK_CONTINUE)
		return rc;
	run.n = cli.n_domains;
	run.results = dg_xcalloc(run.n, sizeof(*run.results));
	run.slots = dg_xcalloc(run.n, sizeof(*run.slots));
	run.progress = run.n > 1 && isatty(STDERR_FILENO);
	if ((rc = run_checks(&cli, &run)) == CHECK_CONTINUE &&
	    (rc = print_results(&cli, &run)) == CHECK_CONTINUE) {
		verdicts = dg_xcalloc(run.n, sizeof(*verdicts));
		for (size_t i = 0; i < run.n; i++)
			verdicts[i] = run.results[i]->verdict;
		rc = check_exit_code(verdicts, run.n);
	}
	for (size_t i = 0; i < run.n; i++)
		dg_domain_result_free(run.results[i]);
	free(verdicts);
	free(run.results);
	free(run.slots);
	return rc;
}
