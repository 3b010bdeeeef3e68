/*
 * cmd_rollover.c - "daneguard rollover publish" and "daneguard rollover status": publish a
 * TLSA RRset with a TSIG-signed DNS UPDATE and check that every authoritative server of the
 * zone serves it, signed.
 *
 * Public: cmd_rollover_main, cmd_rollover_usage (cmd.h).
 *
 *   rollover publish  builds one UPDATE that replaces the RRset (lib/publish), sends it to
 *                     the primary, prints one line; with --wait, then runs the authoritative
 *                     check every second until every server serves the new RRset or the
 *                     wait is over.
 *   rollover status   runs the authoritative check once and prints one line per server.
 *
 * Exit codes (docs/daneguard.1): 0 published / applied, 1 rejected or not (yet) served
 * everywhere, 3 temporary failure (timeout, SERVFAIL, DNS), 64 usage, 66 unreadable key.
 * The TSIG secret is never printed. cmd/ parses and prints; lib/publish does the work
 * (STYLE.md section 1). With --state DIR, and for init/advance/run, the stateful rollover
 * manager in cmd_rollover_state.c takes over (docs/rollover.md).
 *
 * SPEC: section 12 PUB-6 (publish the next association everywhere before the key change),
 * PUB-7 (TTL).
 */
#include "cmd.h"

#include <daneguard/publish.h>
#include <daneguard/tlsa.h>
#include <daneguard/util.h>

#include <event2/event.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RO_MAX_RESOLVERS 4

enum ro_opt {
	RO_ZONE = 256,
	RO_HOST,
	RO_PORT,
	RO_SERVER,
	RO_KEYFILE,
	RO_KEYNAME,
	RO_TSIG,
	RO_TTL,
	RO_WAIT,
	RO_TIMEOUT,
	RO_TA,
	RO_RESOLVER,
	RO_DNS_PORT,
	RO_IF_ABSENT
};

struct ro_cli {
	const char *sub;
	const char *zone, *host, *server, *keyfile, *keyname, *tsig;
	uint16_t port, server_port, dns_port;
	uint32_t ttl_s, wait_s, timeout_s;
	bool if_absent;
	struct dg_dns_opts dns;
	const char *resolvers[RO_MAX_RESOLVERS];
	size_t n_resolvers;
	struct dg_tlsa_set *set;
};

struct ro_run {
	struct ro_cli *cli;
	struct cmd_net net;
	struct dg_tsig_key key;
	int rc;
	uint64_t deadline_ms;
	struct event *retry;
	bool quiet_check; /* publish --wait: print only the last report */
	bool precheck;    /* publish: the check that runs before the UPDATE */
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int parse_option(int c, struct ro_cli *cli);
static int parse_args(int argc, char **argv, struct ro_cli *cli);
static int parse_records(char **recs, size_t n, struct ro_cli *cli);
static int parse_server(struct ro_cli *cli, const char *arg);
static int load_key(const struct ro_cli *cli, struct dg_tsig_key *key);
static int status_exit(enum dg_status st);
static void print_report(const struct dg_publish_report *rep);
static int start_check(struct ro_run *run);
static void on_check(void *arg, struct dg_publish_report *rep);
static void on_retry(evutil_socket_t fd, short what, void *arg);
static void on_update(void *arg, enum dg_status st, const struct dg_publish_result *res,
                      const struct dg_err *err);
static int run_publish(struct ro_run *run);
static int send_update(struct ro_run *run);
static void on_precheck(struct ro_run *run, struct dg_publish_report *rep);
static bool wants_state(int argc, char **argv);

void cmd_rollover_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: daneguard rollover publish --zone ZONE --host HOST --server ADDR[@PORT]\n"
	    "                 (--tsig-key FILE [--tsig-name NAME] | --tsig NAME:ALG:SECRET)\n"
	    "                 [--port 25] [--ttl SECONDS] [--if-absent] [--wait SECONDS]\n"
	    "                 [--trust-anchor FILE] [--resolver ADDR] RECORD...\n"
	    "       daneguard rollover status --zone ZONE --host HOST [--port 25]\n"
	    "                 [--trust-anchor FILE] [--resolver ADDR] [--dns-port 53] RECORD...\n"
	    "\n"
	    "publish  replace the TLSA RRset at _PORT._tcp.HOST with RECORDs (\"3 1 1 <hex>\")\n"
	    "         in one RFC 2136 UPDATE signed with TSIG, sent over TCP to the primary;\n"
	    "         with --wait, then check every authoritative server until all serve it.\n"
	    "status   ask every address of every name server of ZONE for the TLSA RRset and\n"
	    "         report, per server, the records, TTL, SOA serial and whether the RRSIGs\n"
	    "         verify with the zone's validated DNSKEY set.\n"
	    "\n"
	    "options:\n"
	    "  --tsig-key FILE     BIND/Knot key file: key \"name\" { algorithm ...; secret ...; "
	    "};\n"
	    "  --tsig NAME:ALG:SECRET  the key on the command line (visible in ps: prefer a file)\n"
	    "  --ttl SECONDS       TTL of the published records (default 3600; SPEC PUB-7)\n"
	    "  --if-absent         prerequisite: only if no TLSA RRset exists yet\n"
	    "  --timeout SECONDS   per exchange with a server (default 10)\n"
	    "exit: 0 applied/published, 1 rejected/not served everywhere, 3 temporary failure,\n"
	    "      64 usage, 66 key file unreadable\n\n");
	cmd_rollover_state_usage(out);
}

static bool wants_state(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "init") == 0 || strcmp(argv[1], "advance") == 0 ||
	                  strcmp(argv[1], "run") == 0))
		return true;
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--state") == 0 || strncmp(argv[i], "--state=", 8) == 0)
			return true;
	return false;
}

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("daneguard: rollover: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see 'daneguard help rollover')\n", stderr);
	return CMD_EXIT_USAGE;
}

/* ---- arguments --------------------------------------------------------------------------- */

static int parse_server(struct ro_cli *cli, const char *arg)
{
	static char addr[64];
	const char *at = strrchr(arg, '@');
	uint32_t v = 53;

	if (at != NULL &&
	    cmd_parse_num("rollover", "--server port", at + 1, 1, 65535, &v) != CMD_CONTINUE)
		return CMD_EXIT_USAGE;
	snprintf(addr, sizeof(addr), "%.*s", at != NULL ? (int)(at - arg) : (int)strlen(arg), arg);
	cli->server = addr;
	cli->server_port = (uint16_t)v;
	return CMD_CONTINUE;
}

static int parse_option(int c, struct ro_cli *cli)
{
	uint32_t v = 0;
	int rc = CMD_CONTINUE;

	switch (c) {
	case RO_ZONE: cli->zone = optarg; break;
	case RO_HOST: cli->host = optarg; break;
	case RO_SERVER: return parse_server(cli, optarg);
	case RO_KEYFILE: cli->keyfile = optarg; return cmd_check_readable("TSIG key", optarg);
	case RO_KEYNAME: cli->keyname = optarg; break;
	case RO_TSIG: cli->tsig = optarg; break;
	case RO_IF_ABSENT: cli->if_absent = true; break;
	case RO_TA: cli->dns.ta_file = optarg; return cmd_check_readable("trust anchor", optarg);
	case RO_RESOLVER:
		if (cli->n_resolvers == RO_MAX_RESOLVERS)
			return usage_error("--resolver: more than %d resolvers", RO_MAX_RESOLVERS);
		cli->resolvers[cli->n_resolvers++] = optarg;
		break;
	case RO_PORT:
	case RO_DNS_PORT:
		if ((rc = cmd_parse_num("rollover", c == RO_PORT ? "--port" : "--dns-port", optarg,
		                        1, 65535, &v)) == CMD_CONTINUE)
			*(c == RO_PORT ? &cli->port : &cli->dns_port) = (uint16_t)v;
		break;
	case RO_TTL: rc = cmd_parse_num("rollover", "--ttl", optarg, 1, 604800, &cli->ttl_s); break;
	case RO_WAIT:
		rc = cmd_parse_num("rollover", "--wait", optarg, 0, 86400, &cli->wait_s);
		break;
	case RO_TIMEOUT:
		rc = cmd_parse_num("rollover", "--timeout", optarg, 1, 600, &cli->timeout_s);
		break;
	case 'h': cmd_rollover_usage(stdout); return CMD_EXIT_OK;
	case ':': return usage_error("option '%s' needs a value", optarg ? optarg : "");
	default: return usage_error("unknown option");
	}
	return rc;
}

static int parse_records(char **recs, size_t n, struct ro_cli *cli)
{
	struct dg_err err = {0};

	if (n == 0)
		return usage_error("%s needs at least one TLSA RECORD (\"3 1 1 <hex>\")", cli->sub);
	cli->set = dg_tlsa_set_new();
	for (size_t i = 0; i < n; i++) {
		struct dg_tlsa_rr rr;
		if (dg_tlsa_parse_text("RECORD", recs[i], strlen(recs[i]), &rr, &err) != DG_OK)
			return usage_error("%s", err.msg);
		if (dg_tlsa_set_take_rr(cli->set, &rr, &err) != DG_OK) {
			dg_tlsa_rr_cleanup(&rr);
			return usage_error("%s", err.msg);
		}
	}
	return CMD_CONTINUE;
}

static int parse_args(int argc, char **argv, struct ro_cli *cli)
{
	static const struct option longopts[] = {
	    {"zone", required_argument, NULL, RO_ZONE},
	    {"host", required_argument, NULL, RO_HOST},
	    {"port", required_argument, NULL, RO_PORT},
	    {"server", required_argument, NULL, RO_SERVER},
	    {"tsig-key", required_argument, NULL, RO_KEYFILE},
	    {"tsig-name", required_argument, NULL, RO_KEYNAME},
	    {"tsig", required_argument, NULL, RO_TSIG},
	    {"ttl", required_argument, NULL, RO_TTL},
	    {"wait", required_argument, NULL, RO_WAIT},
	    {"timeout", required_argument, NULL, RO_TIMEOUT},
	    {"trust-anchor", required_argument, NULL, RO_TA},
	    {"resolver", required_argument, NULL, RO_RESOLVER},
	    {"dns-port", required_argument, NULL, RO_DNS_PORT},
	    {"if-absent", no_argument, NULL, RO_IF_ABSENT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
		if ((rc = parse_option(c, cli)) != CMD_CONTINUE)
			return rc;
	if (cli->zone == NULL || cli->host == NULL)
		return usage_error("%s needs --zone and --host", cli->sub);
	if (strcmp(cli->sub, "publish") == 0 &&
	    (cli->server == NULL || (cli->keyfile == NULL) == (cli->tsig == NULL)))
		return usage_error("publish needs --server and one of --tsig-key, --tsig");
	cli->dns.forwarders = cli->resolvers;
	cli->dns.n_forwarders = cli->n_resolvers;
	return parse_records(argv + optind, (size_t)(argc - optind), cli);
}

static int load_key(const struct ro_cli *cli, struct dg_tsig_key *key)
{
	struct dg_err err = {0};
	enum dg_status st = cli->keyfile != NULL
	                        ? dg_tsig_key_load(cli->keyfile, cli->keyname, key, &err)
	                        : dg_tsig_key_parse_arg(cli->tsig, key, &err);

	if (st == DG_OK)
		return CMD_CONTINUE;
	fprintf(stderr, "daneguard: %s\n", err.msg);
	return st == DG_E_IO ? CMD_EXIT_NOINPUT : CMD_EXIT_USAGE;
}

/* ---- running ----------------------------------------------------------------------------- */

static int status_exit(enum dg_status st)
{
	switch (st) {
	case DG_OK: return CMD_EXIT_OK;
	case DG_E_TIMEOUT:
	case DG_E_DNS_TEMP:
	case DG_E_IO: return CMD_EXIT_TEMP;
	case DG_E_INTERNAL: return CMD_EXIT_INTERNAL;
	default: return CMD_EXIT_FAIL;
	}
}

static void print_report(const struct dg_publish_report *rep)
{
	if (rep->status != DG_OK) {
		printf("%s in zone %s: check failed: %s\n", rep->owner, rep->zone, rep->reason);
		return;
	}
	printf("%s in zone %s: %s (%zu of %zu server addresses serve the desired RRset)\n",
	       rep->owner, rep->zone, rep->published ? "published" : "not published", rep->n_ok,
	       rep->n_srv);
	for (size_t i = 0; i < rep->n_srv; i++) {
		const struct dg_publish_server *s = &rep->srv[i];
		printf("server %s %s: %s serial=%u records=%zu ttl=%u rrsig=%s dnskey=%s%s%s%s\n",
		       s->ns, s->addr, dg_publish_srv_state_str(s->state), s->soa_serial,
		       s->served != NULL ? s->served->count : 0, s->ttl_s,
		       !s->has_rrsig    ? "none"
		       : s->rrsig_valid ? "valid"
		                        : "invalid",
		       s->dnskey_match ? "match" : "mismatch", s->reason[0] ? " reason=\"" : "",
		       s->reason, s->reason[0] ? "\"" : "");
	}
}

static int start_check(struct ro_run *run)
{
	struct ro_cli *cli = run->cli;
	struct dg_publish_check_opts o = {.zone = cli->zone,
	                                  .host = cli->host,
	                                  .port = cli->port,
	                                  .want = cli->set,
	                                  .dns_port = cli->dns_port,
	                                  .timeout_ms = cli->timeout_s * 1000u};
	struct dg_err err = {0};

	if (dg_publish_check_start(run->net.base, run->net.dns, &o, on_check, run, NULL, &err) !=
	    DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		return CMD_EXIT_USAGE;
	}
	return CMD_CONTINUE;
}

static void on_check(void *arg, struct dg_publish_report *rep)
{
	struct ro_run *run = arg;
	struct timeval tv = {1, 0};
	bool again;

	if (run->precheck) {
		run->precheck = false;
		on_precheck(run, rep);
		return;
	}
	again =
	    run->quiet_check && !rep->published && dg_clock_mono_ms() + 1000 < run->deadline_ms;

	if (!again)
		print_report(rep);
	run->rc = rep->status != DG_OK ? status_exit(rep->status)
	          : rep->published     ? CMD_EXIT_OK
	                               : CMD_EXIT_FAIL;
	dg_publish_report_free(rep);
	if (again) {
		run->retry = evtimer_new(run->net.base, on_retry, run);
		evtimer_add(run->retry, &tv);
	}
}

/* Before any UPDATE: a zone that is not signed, or does not validate, would take the
 * records but no DANE sender would ever use them (SPEC TLSA-1): refuse, change nothing. */
static void on_precheck(struct ro_run *run, struct dg_publish_report *rep)
{
	enum dg_status st = rep->status;

	if (st == DG_E_NOTFOUND)
		fprintf(stderr, "daneguard: %s; nothing changed\n", rep->reason);
	dg_publish_report_free(rep);
	if (st == DG_E_NOTFOUND) {
		run->rc = CMD_EXIT_FAIL;
		return;
	}
	if ((run->rc = send_update(run)) == CMD_CONTINUE)
		run->rc = CMD_EXIT_OK;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct ro_run *run = arg;

	(void)fd;
	(void)what;
	event_free(run->retry);
	run->retry = NULL;
	if (start_check(run) != CMD_CONTINUE)
		run->rc = CMD_EXIT_INTERNAL;
}

static void on_update(void *arg, enum dg_status st, const struct dg_publish_result *res,
                      const struct dg_err *err)
{
	struct ro_run *run = arg;
	struct ro_cli *cli = run->cli;

	if (st != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err->msg);
		run->rc = status_exit(st);
		return;
	}
	printf("updated: %zu TLSA record(s) at _%u._tcp.%s in zone %s via %s (ttl %u)\n",
	       cli->set->count, (unsigned)cli->port, cli->host, cli->zone, res->server, cli->ttl_s);
	fflush(stdout);
	run->rc = CMD_EXIT_OK;
	if (cli->wait_s > 0) {
		run->quiet_check = true;
		run->deadline_ms = dg_clock_mono_ms() + (uint64_t)cli->wait_s * 1000u;
		if (start_check(run) != CMD_CONTINUE)
			run->rc = CMD_EXIT_INTERNAL;
	}
}

static int run_publish(struct ro_run *run)
{
	int rc = load_key(run->cli, &run->key);

	if (rc != CMD_CONTINUE)
		return rc;
	run->precheck = true;
	return start_check(run);
}

static int send_update(struct ro_run *run)
{
	struct ro_cli *cli = run->cli;
	struct dg_publish_change ch = {.zone = cli->zone,
	                               .host = cli->host,
	                               .port = cli->port,
	                               .ttl_s = cli->ttl_s,
	                               .set = cli->set,
	                               .prereq_absent = cli->if_absent};
	struct dg_err err = {0};

	if (dg_publish_update_start(run->net.base, cli->server, cli->server_port, &ch, &run->key,
	                            cli->timeout_s * 1000u, on_update, run, NULL, &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		return err.code == DG_E_CONFIG ? CMD_EXIT_USAGE : status_exit(err.code);
	}
	return CMD_CONTINUE;
}

int cmd_rollover_main(int argc, char **argv)
{
	struct ro_cli cli = {.port = 25, .dns_port = 53, .ttl_s = 3600, .timeout_s = 10};
	struct ro_run run = {.cli = &cli, .rc = CMD_EXIT_INTERNAL};
	int rc;

	if (wants_state(argc, argv))
		return cmd_rollover_state_main(argc, argv);
	if (argc < 2 || (strcmp(argv[1], "publish") != 0 && strcmp(argv[1], "status") != 0)) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			cmd_rollover_usage(stdout);
			return CMD_EXIT_OK;
		}
		return usage_error("want init, status, publish, advance or run");
	}
	cli.sub = argv[1];
	dg_dns_opts_init(&cli.dns);
	cli.dns.cache_max = 0; /* every check must see fresh answers */
	rc = parse_args(argc - 1, argv + 1, &cli);
	if (rc == CMD_CONTINUE)
		rc = cmd_net_open(&run.net, &cli.dns);
	if (rc == CMD_CONTINUE) {
		rc = strcmp(cli.sub, "publish") == 0 ? run_publish(&run) : start_check(&run);
		if (rc == CMD_CONTINUE) {
			event_base_dispatch(run.net.base);
			rc = run.rc;
		}
		cmd_net_close(&run.net);
	}
	dg_tsig_key_cleanup(&run.key);
	dg_tlsa_set_free(cli.set);
	return rc;
}
