/*
 * cmd_tlsa.c - "daneguard tlsa generate" and "daneguard tlsa verify".
 *
 * generate: TLSA records from a certificate or chain file (PEM or DER), a public
 * or private key, or a live server (STARTTLS), for any usage/selector/matching
 * type (default 3 1 1; --issuer adds 2 1 1 for the issuer), printed as zone-file
 * lines, JSON, or an nsupdate script.
 * verify: the deploy guard: would a DANE sender accept the certificate about to
 * be installed on an MX host, given the TLSA records that host publishes now?
 * Exit 0 only if it would; otherwise name what is missing and print the records
 * to publish (lib/deploy).
 *
 * Arguments are parsed here; the library does the work (STYLE section 1).
 */
#include "cmd.h"

#include <daneguard/deploy.h>
#include <daneguard/tlsa.h>
#include <daneguard/util.h>

#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum tlsa_format { FMT_ZONE, FMT_JSON, FMT_NSUPDATE };

struct tlsa_cli {
	const char *sub;           /* "generate" or "verify" */
	const char *cert, *key, *server, *host, *domain;
	uint16_t port;
	bool port_set;
	uint32_t ttl_s;
	int usage, selector, mtype; /* -1: default */
	bool issuer, json;
	enum tlsa_format fmt;
	unsigned timeout_ms;
	struct dg_dns_opts dns;
	const char *resolvers[8];
	size_t n_resolvers;
};

enum {
	OPT_CERT = 256, OPT_KEY, OPT_SERVER, OPT_HOST, OPT_PORT, OPT_TTL, OPT_USAGE, OPT_SELECTOR,
	OPT_MTYPE, OPT_ISSUER, OPT_FORMAT, OPT_JSON, OPT_RESOLVER, OPT_TA, OPT_TIMEOUT, OPT_DOMAIN
};

static int parse_args(int argc, char **argv, struct tlsa_cli *cli);
static int parse_option(int c, struct tlsa_cli *cli, char **argv);
static int parse_field(const char *opt, const char *val, uint32_t max, int *out);
static int load_chain(const struct tlsa_cli *cli, STACK_OF(X509) **out);
static int generate(struct tlsa_cli *cli);
static int generate_records(const struct tlsa_cli *cli, STACK_OF(X509) *chain, EVP_PKEY *key,
			    struct dg_tlsa_set *set);
static int fetch_server_chain(struct tlsa_cli *cli, STACK_OF(X509) **out);
static void fetch_done(void *arg, struct dg_deploy_fetch *f);
static void print_records(const struct tlsa_cli *cli, const struct dg_tlsa_set *set);
static void print_record_line(FILE *out, const char *prefix, const struct tlsa_cli *cli,
			      const struct dg_tlsa_rr *rr);
static int verify(struct tlsa_cli *cli);
static void verify_done(void *arg, struct dg_deploy_verdict *v);
static int verify_report(const struct tlsa_cli *cli, const struct dg_deploy_verdict *v);
static json_t *records_json(const struct dg_tlsa_set *set);

void cmd_tlsa_usage(FILE *out)
{
	fprintf(out,
		"usage: daneguard tlsa generate (--cert FILE | --key FILE | --from-server HOST[:PORT])\n"
		"                               [--host NAME] [--port N] [--ttl SECONDS] [--issuer]\n"
		"                               [--usage U] [--selector S] [--mtype M]\n"
		"                               [--format zone|json|nsupdate]\n"
		"       daneguard tlsa verify --host NAME --cert FILE [--port N] [--domain NAME]\n"
		"                             [--json]\n"
		"\n"
		"generate  TLSA records for _PORT._tcp.HOST from a certificate or chain file (PEM or\n"
		"          DER; the leaf first), a public or private key file (selector 1 only), or\n"
		"          the chain a live server presents after STARTTLS. Default record: 3 1 1\n"
		"          (DANE-EE, SPKI, SHA2-256) for the leaf; --issuer adds 2 1 1 for the\n"
		"          certificate after the leaf (the issuing CA).\n"
		"verify    The deploy guard: looks up the TLSA records HOST publishes (DNSSEC-\n"
		"          validated) and says whether a DANE sender would accept the certificate\n"
		"          chain in FILE. Meant as a certbot pre-deploy hook. When it would not,\n"
		"          names the reason and prints the records to publish first.\n"
		"\n"
		"options:\n"
		"  --cert FILE            certificate or chain file (PEM or DER)\n"
		"  --key FILE             public or private key file (PEM or DER; generate only)\n"
		"  --from-server HOST[:PORT]  fetch the chain over SMTP STARTTLS (generate only)\n"
		"  --host NAME            the MX host: owner _PORT._tcp.NAME (and SNI for verify)\n"
		"  --port N               TCP port of the service, default 25\n"
		"  --ttl SECONDS          TTL in zone and nsupdate output, default 3600\n"
		"  --usage U --selector S --mtype M   record parameters (0-3, 0-1, 0-2)\n"
		"  --issuer               also a 2 1 1 record for the issuer certificate\n"
		"  --format zone|json|nsupdate        output of generate, default zone\n"
		"  --domain NAME          verify: the next-hop mail domain, an extra DANE-TA\n"
		"                         reference identifier (RFC 7672 3.2.2)\n"
		"  --json                 verify: JSON output\n"
		"  --resolver ADDR[@PORT] validating resolver to forward to (repeatable)\n"
		"  --trust-anchor FILE    DS/DNSKEY trust anchor replacing the IANA root\n"
		"  --timeout SECONDS      each network wait, default 10\n"
		"  -h, --help             this text\n"
		"\n"
		"exit codes: 0 done / the new chain would be accepted (also when the host publishes\n"
		"no usable DANE records: nothing to break); 1 verify: a DANE sender would reject\n"
		"it; 3 DNS or connection failure; 64 usage error; 65 malformed certificate or key;\n"
		"66 unreadable file.\n"
		"\n"
		"example: daneguard tlsa verify --host mx1.example.org --cert /etc/letsencrypt/live/"
		"mx1/fullchain.pem\n");
}

int cmd_tlsa_main(int argc, char **argv)
{
	struct tlsa_cli cli;
	int rc;

	memset(&cli, 0, sizeof(cli));
	cli.port = 25;
	cli.ttl_s = 3600;
	cli.usage = cli.selector = cli.mtype = -1;
	cli.timeout_ms = 10000;
	dg_dns_opts_init(&cli.dns);
	if ((rc = parse_args(argc, argv, &cli)) != CMD_CONTINUE)
		return rc;
	return strcmp(cli.sub, "generate") == 0 ? generate(&cli) : verify(&cli);
}

/* ---- arguments ------------------------------------------------------------------------ */

static int parse_args(int argc, char **argv, struct tlsa_cli *cli)
{
	static const struct option longopts[] = {
		{"cert", required_argument, NULL, OPT_CERT},
		{"key", required_argument, NULL, OPT_KEY},
		{"from-server", required_argument, NULL, OPT_SERVER},
		{"host", required_argument, NULL, OPT_HOST},
		{"port", required_argument, NULL, OPT_PORT},
		{"ttl", required_argument, NULL, OPT_TTL},
		{"usage", required_argument, NULL, OPT_USAGE},
		{"selector", required_argument, NULL, OPT_SELECTOR},
		{"mtype", required_argument, NULL, OPT_MTYPE},
		{"issuer", no_argument, NULL, OPT_ISSUER},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"json", no_argument, NULL, OPT_JSON},
		{"resolver", required_argument, NULL, OPT_RESOLVER},
		{"trust-anchor", required_argument, NULL, OPT_TA},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"domain", required_argument, NULL, OPT_DOMAIN},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, rc, sources;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		cmd_tlsa_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CMD_EXIT_USAGE : CMD_EXIT_OK;
	}
	cli->sub = argv[1];
	if (strcmp(cli->sub, "generate") != 0 && strcmp(cli->sub, "verify") != 0)
		return cmd_usage_error("tlsa", "unknown tlsa command '%s' (want generate or "
				       "verify)", cli->sub);
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
		if ((rc = parse_option(c, cli, argv)) != CMD_CONTINUE)
			return rc;
	if (optind < argc)
		return cmd_usage_error("tlsa", "unexpected argument '%s'", argv[optind]);
	cli->dns.forwarders = cli->resolvers;
	cli->dns.n_forwarders = cli->n_resolvers;
	cli->dns.timeout_ms = cli->timeout_ms;
	sources = (cli->cert != NULL) + (cli->key != NULL) + (cli->server != NULL);
	if (strcmp(cli->sub, "verify") == 0) {
		if (cli->cert == NULL || cli->host == NULL)
			return cmd_usage_error("tlsa", "verify needs --host and --cert");
		if (cli->key != NULL || cli->server != NULL)
			return cmd_usage_error("tlsa", "verify takes --cert, not --key or "
					       "--from-server");
		return CMD_CONTINUE;
	}
	if (sources != 1)
		return cmd_usage_error("tlsa", "generate needs exactly one of --cert, --key, "
				       "--from-server");
	if (cli->key != NULL && (cli->selector == 0 || cli->issuer))
		return cmd_usage_error("tlsa", "a key gives selector 1 records of that key only");
	if (cli->host == NULL && cli->server == NULL && cli->fmt != FMT_JSON)
		return cmd_usage_error("tlsa", "--host NAME is needed for zone and nsupdate "
				       "output");
	return CMD_CONTINUE;
}

static int parse_option(int c, struct tlsa_cli *cli, char **argv)
{
	uint32_t v;
	int rc = CMD_CONTINUE;

	switch (c) {
	case OPT_CERT: cli->cert = optarg; return cmd_check_readable("certificate", optarg);
	case OPT_KEY: cli->key = optarg; return cmd_check_readable("key", optarg);
	case OPT_SERVER: cli->server = optarg; break;
	case OPT_HOST:
	case OPT_DOMAIN:
		if (!dg_name_is_valid(optarg, NULL))
			return cmd_usage_error("tlsa", "%s: '%s' is not a valid host name",
					       c == OPT_HOST ? "--host" : "--domain", optarg);
		*(c == OPT_HOST ? &cli->host : &cli->domain) = optarg;
		break;
	case OPT_PORT:
		if ((rc = cmd_parse_num("tlsa", "--port", optarg, 1, 65535, &v)) == CMD_CONTINUE) {
			cli->port = (uint16_t)v;
			cli->port_set = true;
		}
		break;
	case OPT_TTL: return cmd_parse_num("tlsa", "--ttl", optarg, 0, 2147483647, &cli->ttl_s);
	case OPT_TIMEOUT:
		if ((rc = cmd_parse_num("tlsa", "--timeout", optarg, 1, 600, &v)) == CMD_CONTINUE)
			cli->timeout_ms = v * 1000u;
		break;
	case OPT_USAGE: return parse_field("--usage", optarg, 3, &cli->usage);
	case OPT_SELECTOR: return parse_field("--selector", optarg, 1, &cli->selector);
	case OPT_MTYPE: return parse_field("--mtype", optarg, 2, &cli->mtype);
	case OPT_ISSUER: cli->issuer = true; break;
	case OPT_JSON: cli->json = true; break;
	case OPT_FORMAT:
		if (strcmp(optarg, "zone") == 0)
			cli->fmt = FMT_ZONE;
		else if (strcmp(optarg, "json") == 0)
			cli->fmt = FMT_JSON;
		else if (strcmp(optarg, "nsupdate") == 0)
			cli->fmt = FMT_NSUPDATE;
		else
			return cmd_usage_error("tlsa", "--format: '%s' is not zone, json or "
					       "nsupdate", optarg);
		break;
	case OPT_RESOLVER:
		if (cli->n_resolvers == sizeof(cli->resolvers) / sizeof(cli->resolvers[0]))
			return cmd_usage_error("tlsa", "--resolver: too many resolvers");
		cli->resolvers[cli->n_resolvers++] = optarg;
		break;
	case OPT_TA: cli->dns.ta_file = optarg; return cmd_check_readable("trust anchor", optarg);
	case 'h': cmd_tlsa_usage(stdout); return CMD_EXIT_OK;
	case ':': return cmd_usage_error("tlsa", "option '%s' needs a value", argv[optind - 1]);
	default: return cmd_usage_error("tlsa", "unknown option '%s'", argv[optind - 1]);
	}
	return rc;
}

static int parse_field(const char *opt, const char *val, uint32_t max, int *out)
{
	uint32_t v;
	int rc = cmd_parse_num("tlsa", opt, val, 0, max, &v);

	if (rc == CMD_CONTINUE)
		*out = (int)v;
	return rc;
}

static int load_chain(const struct tlsa_cli *cli, STACK_OF(X509) **out)
{
	struct dg_err err = {0};

	if (dg_tlsa_load_certs(cli->cert, out, &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		return err.code == DG_E_IO ? CMD_EXIT_NOINPUT : CMD_EXIT_DATAERR;
	}
	return CMD_CONTINUE;
}

/* ---- generate ------------------------------------------------------------------------- */

static int generate(struct tlsa_cli *cli)
{
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	struct dg_tlsa_set *set = dg_tlsa_set_new();
	struct dg_err err = {0};
	int rc = CMD_CONTINUE;

	if (cli->cert != NULL)
		rc = load_chain(cli, &chain);
	else if (cli->key != NULL && dg_tlsa_load_pkey(cli->key, &key, &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		rc = err.code == DG_E_IO ? CMD_EXIT_NOINPUT : CMD_EXIT_DATAERR;
	} else if (cli->server != NULL)
		rc = fetch_server_chain(cli, &chain);
	if (rc == CMD_CONTINUE)
		rc = generate_records(cli, chain, key, set);
	if (rc == CMD_CONTINUE) {
		print_records(cli, set);
		rc = CMD_EXIT_OK;
	}
	if (chain != NULL)
		sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	dg_tlsa_set_free(set);
	return rc;
}

static int generate_records(const struct tlsa_cli *cli, STACK_OF(X509) *chain, EVP_PKEY *key,
			    struct dg_tlsa_set *set)
{
	uint8_t u = cli->usage >= 0 ? (uint8_t)cli->usage : 3;
	uint8_t s = cli->selector >= 0 ? (uint8_t)cli->selector : 1;
	uint8_t m = cli->mtype >= 0 ? (uint8_t)cli->mtype : 1;
	struct dg_tlsa_rr rr;
	struct dg_err err = {0};
	enum dg_status st;

	memset(&rr, 0, sizeof(rr));
	st = key != NULL ? dg_tlsa_rr_from_pkey(key, u, m, &rr, &err)
			 : dg_tlsa_rr_from_cert(sk_X509_value(chain, 0), u, s, m, &rr, &err);
	if (st == DG_OK && (st = dg_tlsa_set_take_rr(set, &rr, &err)) == DG_OK && cli->issuer) {
		if (sk_X509_num(chain) < 2) {
			fprintf(stderr, "daneguard: --issuer: %s holds no certificate after the "
				"leaf\n", cli->cert != NULL ? cli->cert : cli->server);
			return CMD_EXIT_DATAERR;
		}
		st = dg_tlsa_rr_from_cert(sk_X509_value(chain, 1), 2, 1, 1, &rr, &err);
		if (st == DG_OK)
			st = dg_tlsa_set_take_rr(set, &rr, &err);
	}
	dg_tlsa_rr_cleanup(&rr);
	if (st != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		return CMD_EXIT_DATAERR;
	}
	return CMD_CONTINUE;
}

struct fetch_wait {
	struct dg_deploy_fetch *f;
};

static int fetch_server_chain(struct tlsa_cli *cli, STACK_OF(X509) **out)
{
	char host[DG_NAME_BUF_SIZE + 8];
	struct cmd_net net;
	struct fetch_wait w = {NULL};
	struct dg_err err = {0};
	char *colon;
	uint32_t port = 25;
	int rc;

	snprintf(host, sizeof(host), "%s", cli->server);
	colon = strrchr(host, ':');
	if (colon != NULL && strchr(host, ':') == colon) { /* HOST:PORT, not an IPv6 literal */
		*colon = '\0';
		if ((rc = cmd_parse_num("tlsa", "--from-server", colon + 1, 1, 65535, &port)) !=
		    CMD_CONTINUE)
			return rc;
	}
	if (cli->host == NULL)
		cli->host = cli->server; /* owner: the server's name (":PORT" is not printed) */
	if (!cli->port_set)
		cli->port = (uint16_t)port; /* the service probed is the one described */
	if ((rc = cmd_net_open(&net, &cli->dns)) != CMD_CONTINUE)
		return rc;
	if (dg_deploy_fetch_start(net.base, net.dns, host, (uint16_t)port, cli->timeout_ms,
				  fetch_done, &w, &err) != DG_OK) {
		fprintf(stderr, "daneguard: --from-server '%s': %s\n", cli->server, err.msg);
		cmd_net_close(&net);
		return CMD_EXIT_USAGE;
	}
	event_base_dispatch(net.base);
	cmd_net_close(&net);
	if (w.f == NULL || w.f->status != DG_OK) {
		fprintf(stderr, "daneguard: %s: %s\n", cli->server,
			w.f != NULL ? w.f->reason : "no result");
		dg_deploy_fetch_free(w.f);
		return CMD_EXIT_TEMP;
	}
	*out = w.f->chain;
	w.f->chain = NULL;
	dg_deploy_fetch_free(w.f);
	return CMD_CONTINUE;
}

static void fetch_done(void *arg, struct dg_deploy_fetch *f)
{
	struct fetch_wait *w = arg;

	w->f = f;
}

static void print_records(const struct tlsa_cli *cli, const struct dg_tlsa_set *set)
{
	json_t *o;

	if (cli->fmt == FMT_JSON) {
		o = json_pack("{s:s, s:o, s:i, s:o}", "schema", "daneguard/tlsa/1", "owner",
			      cli->host ? json_sprintf("_%u._tcp.%s", (unsigned)cli->port,
						       cli->host)
					: json_null(),
			      "ttl", (json_int_t)cli->ttl_s, "records", records_json(set));
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		json_decref(o);
		return;
	}
	for (size_t i = 0; i < set->count; i++)
		print_record_line(stdout, cli->fmt == FMT_NSUPDATE ? "update add " : "", cli,
				  &set->rr[i]);
	if (cli->fmt == FMT_NSUPDATE)
		printf("send\n");
}

static void print_record_line(FILE *out, const char *prefix, const struct tlsa_cli *cli,
			      const struct dg_tlsa_rr *rr)
{
	char *text = dg_tlsa_rr_format(rr, 0);
	char host[DG_NAME_BUF_SIZE + 8];
	char *colon;

	snprintf(host, sizeof(host), "%s", cli->host);
	colon = strrchr(host, ':');
	if (colon != NULL && strchr(host, ':') == colon)
		*colon = '\0'; /* --from-server HOST:PORT */
	fprintf(out, "%s_%u._tcp.%s%s %lu IN TLSA %s\n", prefix, (unsigned)cli->port, host,
		host[0] != '\0' && host[strlen(host) - 1] == '.' ? "" : ".",
		(unsigned long)cli->ttl_s, text);
	free(text);
}

static json_t *records_json(const struct dg_tlsa_set *set)
{
	json_t *a = json_array();

	for (size_t i = 0; set != NULL && i < set->count; i++) {
		char *text = dg_tlsa_rr_format(&set->rr[i], 0);
		const char *hex = strrchr(text, ' ');

		json_array_append_new(a, json_pack("{s:i, s:i, s:i, s:s}", "usage",
						   set->rr[i].usage, "selector", set->rr[i].selector,
						   "mtype", set->rr[i].mtype, "data",
						   hex != NULL ? hex + 1 : ""));
		free(text);
	}
	return a;
}

/* ---- verify --------------------------------------------------------------------------- */

struct verify_wait {
	struct dg_deploy_verdict *v;
};

static int verify(struct tlsa_cli *cli)
{
	STACK_OF(X509) *chain = NULL;
	struct cmd_net net;
	struct verify_wait w = {NULL};
	struct dg_deploy_verify_opts o = {.host = cli->host, .port = cli->port};
	struct dg_err err = {0};
	int rc;

	if ((rc = load_chain(cli, &chain)) != CMD_CONTINUE)
		return rc;
	if (cli->domain != NULL) {
		o.ref_ids = &cli->domain;
		o.n_ref_ids = 1;
	}
	if ((rc = cmd_net_open(&net, &cli->dns)) != CMD_CONTINUE) {
		sk_X509_pop_free(chain, X509_free);
		return rc;
	}
	if (dg_deploy_verify_start(net.base, net.dns, net.dane, &o, chain, verify_done, &w,
				   &err) != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		rc = CMD_EXIT_USAGE;
	} else {
		event_base_dispatch(net.base);
		rc = verify_report(cli, w.v);
	}
	dg_deploy_verdict_free(w.v);
	cmd_net_close(&net);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

static void verify_done(void *arg, struct dg_deploy_verdict *v)
{
	struct verify_wait *w = arg;

	w->v = v;
}

static int verify_report(const struct tlsa_cli *cli, const struct dg_deploy_verdict *v)
{
	int rc = v->outcome == DG_DEPLOY_REJECT	     ? CMD_EXIT_FAIL
		 : v->outcome == DG_DEPLOY_DNS_ERROR ? CMD_EXIT_TEMP
						     : CMD_EXIT_OK;

	if (cli->json) {
		json_t *o = json_pack(
		    "{s:s, s:s, s:s, s:s, s:o, s:s, s:o}", "schema", "daneguard/tlsa-verify/1",
		    "host", cli->host, "tlsa_name", v->tlsa_name, "outcome",
		    dg_deploy_outcome_str(v->outcome), "published", records_json(v->published),
		    "reason", v->reason, "publish", records_json(v->suggest));

		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		json_decref(o);
		return rc;
	}
	printf("%s: %s\n  %s\n", v->tlsa_name, dg_deploy_outcome_str(v->outcome), v->reason);
	if (v->outcome == DG_DEPLOY_REJECT) {
		printf("  a DANE sender would refuse this certificate; publish first, and wait at "
		       "least two TTLs before installing it (RFC 7671 8.1):\n");
		for (size_t i = 0; i < v->suggest->count; i++)
			print_record_line(stdout, "    ", cli, &v->suggest->rr[i]);
	}
	return rc;
}
