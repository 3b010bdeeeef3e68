/*
 * cmd_rollover_state.c - the stateful `daneguard rollover` commands: init, status, publish,
 * advance and run with --state DIR (docs/rollover.md).
 *
 * Public (cmd.h): cmd_rollover_state_main, cmd_rollover_state_usage.
 *
 * This file parses arguments, takes the state directory's lock, loads the state and prints;
 * the steps are in cmd_rollover_steps.c and the work in lib/rollover, lib/publish,
 * lib/deploy. `init` turns its options into rollover.conf lines and checks them with the
 * library's parser, so the file and the options accept the same values.
 *
 * Exit codes (docs/daneguard.1): 0 done, 1 failed (old certificate in place), 3 temporary
 * DNS failure, 64 usage, 65 bad state or key, 66 unreadable input, 70 internal,
 * 75 (EX_TEMPFAIL) too early / not yet published everywhere / another run holds the lock.
 *
 * SPEC section 12 PUB-6, PUB-7.
 */
#include "cmd_rollover_int.h"

#include <daneguard/util.h>

#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define RS_MAX_RESOLVERS 4

enum rs_opt { RS_STATE = 300, RS_JSON, RS_WAIT, RS_TIMEOUT, RS_TA, RS_RESOLVER, RS_DNS_PORT,
	      RS_CONF /* init: a rollover.conf key, the option name without "--" */ };

struct rs_cli {
	const char *sub;
	struct dg_buf conf_text; /* init */
	struct dg_dns_opts dns;
	const char *resolvers[RS_MAX_RESOLVERS];
	size_t n_resolvers;
};

static int rs_option(int c, const char *name, struct rs_ctx *x, struct rs_cli *cli);
static int rs_args(int argc, char **argv, struct rs_ctx *x, struct rs_cli *cli);
static int rs_lock(struct rs_ctx *x);
static int rs_init(struct rs_ctx *x, struct rs_cli *cli);
static int rs_init_keys(struct rs_ctx *x);
static int rs_load(struct rs_ctx *x);
static void rs_status_text(struct rs_ctx *x, enum dg_rollover_recovery r);
static void rs_status_json(struct rs_ctx *x, enum dg_rollover_recovery r);
static json_t *rs_host_json(struct rs_ctx *x, size_t i);
static const char *rs_key_role(const struct rs_ctx *x, const char *id);
static int rs_status(struct rs_ctx *x);
static int rs_dispatch(struct rs_ctx *x, struct rs_cli *cli);

void cmd_rollover_state_usage(FILE *out)
{
	fprintf(out,
	        "stateful rollover (docs/rollover.md):\n"
	        "       daneguard rollover init --state DIR --zone ZONE --host HOST [--host ...]\n"
	        "                 --cert-file FILE --key-file FILE --cert-command CMD\n"
	        "                 (--primary ADDR[@PORT] --tsig-key FILE | --publish-command CMD)\n"
	        "                 [--reload-command CMD] [--ttl S] [--scheme ee-ee|ee-ta]\n"
	        "                 [--key-type ec|rsa] [--rsa-bits N] [--port 25]\n"
	        "       daneguard rollover status --state DIR [--json]\n"
	        "       daneguard rollover publish --state DIR [--wait S]\n"
	        "       daneguard rollover advance --state DIR\n"
	        "       daneguard rollover run --state DIR     (status + publish + advance if safe)\n"
	        "  common: [--trust-anchor FILE] [--resolver ADDR] [--dns-port 53] [--timeout S]\n"
	        "  advance refuses until the next key's record was served by every authoritative\n"
	        "  server and the validated lookup for 2 x TTL; the certificate command gets\n"
	        "  DANEGUARD_CSR and writes DANEGUARD_CERT.\n"
	        "exit: 0 done, 1 failed (old certificate in place), 3 temporary, 64 usage,\n"
	        "      65 bad state, 66 unreadable, 70 internal, 75 too early / not yet published\n");
}

static int rs_option(int c, const char *name, struct rs_ctx *x, struct rs_cli *cli)
{
	uint32_t v = 0;
	int rc = CMD_CONTINUE;

	switch (c) {
	case RS_STATE: x->dir = optarg; break;
	case RS_JSON: x->json = true; break;
	case RS_WAIT: rc = cmd_parse_num("rollover", "--wait", optarg, 0, 86400, &x->wait_s); break;
	case RS_TIMEOUT:
		rc = cmd_parse_num("rollover", "--timeout", optarg, 1, 600, &x->timeout_s);
		break;
	case RS_DNS_PORT:
		rc = cmd_parse_num("rollover", "--dns-port", optarg, 1, 65535, &v);
		x->dns_port = (uint16_t)v;
		break;
	case RS_TA: cli->dns.ta_file = optarg; return cmd_check_readable("trust anchor", optarg);
	case RS_RESOLVER:
		if (cli->n_resolvers == RS_MAX_RESOLVERS)
			return cmd_usage_error("rollover", "--resolver: more than %d",
			                       RS_MAX_RESOLVERS);
		cli->resolvers[cli->n_resolvers++] = optarg;
		break;
	case RS_CONF:
		if (strcmp(cli->sub, "init") != 0)
			return cmd_usage_error("rollover", "--%s is an init option", name);
		dg_buf_printf(&cli->conf_text, "%s %s\n", name, optarg);
		break;
	case 'h': cmd_rollover_state_usage(stdout); return CMD_EXIT_OK;
	default: return cmd_usage_error("rollover", "unknown option or missing value");
	}
	return rc;
}

static int rs_args(int argc, char **argv, struct rs_ctx *x, struct rs_cli *cli)
{
	static const struct option longopts[] = {
	    {"state", required_argument, NULL, RS_STATE},
	    {"json", no_argument, NULL, RS_JSON},
	    {"wait", required_argument, NULL, RS_WAIT},
	    {"timeout", required_argument, NULL, RS_TIMEOUT},
	    {"trust-anchor", required_argument, NULL, RS_TA},
	    {"resolver", required_argument, NULL, RS_RESOLVER},
	    {"dns-port", required_argument, NULL, RS_DNS_PORT},
	    {"zone", required_argument, NULL, RS_CONF},
	    {"host", required_argument, NULL, RS_CONF},
	    {"port", required_argument, NULL, RS_CONF},
	    {"primary", required_argument, NULL, RS_CONF},
	    {"tsig-key", required_argument, NULL, RS_CONF},
	    {"ttl", required_argument, NULL, RS_CONF},
	    {"scheme", required_argument, NULL, RS_CONF},
	    {"key-type", required_argument, NULL, RS_CONF},
	    {"rsa-bits", required_argument, NULL, RS_CONF},
	    {"cert-file", required_argument, NULL, RS_CONF},
	    {"key-file", required_argument, NULL, RS_CONF},
	    {"cert-command", required_argument, NULL, RS_CONF},
	    {"reload-command", required_argument, NULL, RS_CONF},
	    {"publish-command", required_argument, NULL, RS_CONF},
	    {"command-timeout", required_argument, NULL, RS_CONF},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, rc, idx = 0;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, &idx)) != -1)
		if ((rc = rs_option(c, c == RS_CONF ? longopts[idx].name : "", x, cli)) !=
		    CMD_CONTINUE)
			return rc;
	if (optind != argc)
		return cmd_usage_error("rollover", "unexpected argument '%s'", argv[optind]);
	if (x->dir == NULL)
		return cmd_usage_error("rollover", "%s needs --state DIR", cli->sub);
	cli->dns.forwarders = cli->resolvers;
	cli->dns.n_forwarders = cli->n_resolvers;
	return CMD_CONTINUE;
}

static int rs_lock(struct rs_ctx *x)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/lock", x->dir);
	x->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (x->lock_fd < 0) {
		rs_say("cannot open %s: %s", path, strerror(errno));
		return errno == ENOENT ? CMD_EXIT_NOINPUT : CMD_EXIT_INTERNAL;
	}
	if (flock(x->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		rs_say("another rollover run holds %s; try again later", path);
		return DG_ROLLOVER_EXIT_TOO_EARLY;
	}
	return CMD_CONTINUE;
}

/* ---- init ------------------------------------------------------------------------------ */

static int rs_init_keys(struct rs_ctx *x)
{
	struct dg_err err = {0};
	char cert_id[DG_ROLLOVER_ID_LEN + 1];
	bool key_ok = false;
	EVP_PKEY *next;

	dg_rollover_installed_id(x->conf.cert_file, x->conf.key_file, cert_id, &key_ok);
	if (!key_ok) {
		rs_say("init: %s and %s are not a certificate and its key", x->conf.cert_file,
		       x->conf.key_file);
		return CMD_EXIT_DATAERR;
	}
	if (dg_rollover_pkey_read(x->conf.key_file, &x->cur, &err) != DG_OK ||
	    dg_rollover_key_store(x->dir, x->cur, x->st.current, &err) != DG_OK) {
		rs_say("init: %s", err.msg);
		return CMD_EXIT_DATAERR;
	}
	next = dg_rollover_key_generate(x->conf.key_type, x->conf.rsa_bits, &err);
	if (next == NULL || dg_rollover_key_store(x->dir, next, x->st.next, &err) != DG_OK) {
		EVP_PKEY_free(next);
		rs_say("init: %s", err.msg);
		return CMD_EXIT_INTERNAL;
	}
	EVP_PKEY_free(next);
	EVP_PKEY_free(x->cur);
	x->cur = NULL;
	return CMD_CONTINUE;
}

static int rs_init(struct rs_ctx *x, struct rs_cli *cli)
{
	struct dg_err err = {0};
	char path[PATH_MAX], *text;
	int rc;

	if (dg_rollover_conf_parse(dg_buf_str(&cli->conf_text), dg_buf_len(&cli->conf_text),
	                           &x->conf, &err) != DG_OK)
		return cmd_usage_error("rollover", "init: %s", err.msg);
	snprintf(path, sizeof(path), "%s/state.json", x->dir);
	if (access(path, F_OK) == 0) {
		rs_say("init: %s exists already; this directory holds a rollover", path);
		return CMD_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "%s/work", x->dir);
	if ((mkdir(x->dir, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(path, 0700) != 0 && errno != EEXIST)) {
		rs_say("init: mkdir %s: %s", path, strerror(errno));
		return CMD_EXIT_NOINPUT;
	}
	if ((rc = rs_lock(x)) != CMD_CONTINUE || (rc = rs_init_keys(x)) != CMD_CONTINUE)
		return rc;
	text = dg_rollover_conf_format(&x->conf);
	snprintf(path, sizeof(path), "%s/rollover.conf", x->dir);
	rc = dg_rollover_write_atomic(path, text, strlen(text), 0600, &err) == DG_OK ? CMD_CONTINUE
	                                                                           : CMD_EXIT_INTERNAL;
	free(text);
	x->st.step_at = dg_clock_wall();
	if (rc == CMD_CONTINUE)
		rc = rs_save(x);
	if (rc != CMD_CONTINUE)
		return rc;
	printf("initialised %s: current key %.16s (from %s), next key %.16s\n", x->dir,
	       x->st.current, x->conf.key_file, x->st.next);
	return CMD_EXIT_OK;
}

/* ---- status ---------------------------------------------------------------------------- */

static const char *rs_key_role(const struct rs_ctx *x, const char *id)
{
	return id[0] == '\0'                      ? "unknown"
	       : strcmp(id, x->st.current) == 0 ? "current"
	       : strcmp(id, x->st.next) == 0    ? "next"
	                                          : "other";
}

static void rs_status_text(struct rs_ctx *x, enum dg_rollover_recovery r)
{
	time_t safe = dg_rollover_safe_at(x->st.seen, x->st.n_seen, x->st.ttl_seen_s);
	time_t now = dg_clock_wall();

	printf("state %s: step %s, current key %.16s, next key %.16s, %u rollover(s)\n", x->dir,
	       dg_rollover_step_str(x->st.step), x->st.current, x->st.next, x->st.rollovers);
	if (r != DG_ROLLOVER_RECOVER_NONE)
		printf("interrupted advance: the next run will %s\n", dg_rollover_recovery_str(r));
	for (size_t k = 0; k < x->desired->count; k++) {
		char *t = dg_tlsa_rr_format(&x->desired->rr[k], DG_TLSA_FMT_DEFAULT);
		printf("desired %s\n", t);
		free(t);
	}
	for (size_t i = 0; i < x->conf.n_hosts; i++) {
		const struct rs_host *h = &x->host[i];
		const struct dg_publish_report *rep = h->rep;
		struct dg_rollover_warning w[8];
		size_t nw = dg_rollover_renewal_warnings(h->resolved, x->cur, x->next, true, w, 8);
		printf("host %s: authoritative %s (%zu of %zu), validated lookup %s (ttl %u), "
		       "live key %s%s%s\n",
		       x->conf.hosts[i], rep != NULL && rep->published ? "published" : "not published",
		       rep != NULL ? rep->n_ok : 0, rep != NULL ? rep->n_srv : 0,
		       h->resolved_ok ? "sees it" : "does not see it", h->resolved_ttl_s,
		       rs_key_role(x, h->live_id), h->live_why[0] ? ": " : "", h->live_why);
		for (size_t k = 0; rep != NULL && k < rep->n_srv; k++)
			printf("server %s %s: %s ttl=%u\n", rep->srv[k].ns, rep->srv[k].addr,
			       dg_publish_srv_state_str(rep->srv[k].state), rep->srv[k].ttl_s);
		for (size_t k = 0; k < nw; k++)
			printf("warning %s: %s\n", x->conf.hosts[i], w[k].text);
	}
	if (safe == 0)
		printf("next step: not safe yet: not seen everywhere (run publish)\n");
	else
		printf("next step: %s at %lld (ttl seen %u s, wait 2 x ttl)%s\n",
		       now >= safe ? "safe since" : "safe", (long long)safe, x->st.ttl_seen_s,
		       now >= safe ? "" : " - too early now");
}

static json_t *rs_host_json(struct rs_ctx *x, size_t i)
{
	const struct rs_host *h = &x->host[i];
	json_t *srv = json_array(), *warn = json_array();
	struct dg_rollover_warning w[8];
	size_t nw = dg_rollover_renewal_warnings(h->resolved, x->cur, x->next, true, w, 8);

	for (size_t k = 0; h->rep != NULL && k < h->rep->n_srv; k++)
		json_array_append_new(
		    srv, json_pack("{s:s,s:s,s:s,s:i}", "ns", h->rep->srv[k].ns, "addr",
		                   h->rep->srv[k].addr, "state",
		                   dg_publish_srv_state_str(h->rep->srv[k].state), "ttl",
		                   (int)h->rep->srv[k].ttl_s));
	for (size_t k = 0; k < nw; k++)
		json_array_append_new(warn, json_string(w[k].text));
	return json_pack("{s:s,s:b,s:o,s:{s:b,s:b,s:i},s:{s:s,s:s,s:s},s:o}", "host",
	                 x->conf.hosts[i], "published", h->rep != NULL && h->rep->published,
	                 "servers", srv, "resolver", "secure", h->resolved_secure, "sees_desired",
	                 h->resolved_ok, "ttl", (int)h->resolved_ttl_s, "live", "key", h->live_id,
	                 "role", rs_key_role(x, h->live_id), "error", h->live_why, "warnings",
	                 warn);
}

static void rs_status_json(struct rs_ctx *x, enum dg_rollover_recovery r)
{
	time_t safe = dg_rollover_safe_at(x->st.seen, x->st.n_seen, x->st.ttl_seen_s);
	json_t *hosts = json_array(), *desired = json_array(), *o;
	char *text;

	for (size_t i = 0; i < x->conf.n_hosts; i++)
		json_array_append_new(hosts, rs_host_json(x, i));
	for (size_t k = 0; k < x->desired->count; k++) {
		text = dg_tlsa_rr_format(&x->desired->rr[k], DG_TLSA_FMT_DEFAULT);
		json_array_append_new(desired, json_string(text));
		free(text);
	}
	o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:i,s:o,s:o,s:i,s:I,s:b,s:I}", "version", 1, "step",
	              dg_rollover_step_str(x->st.step), "recovery", dg_rollover_recovery_str(r),
	              "current", x->st.current, "next", x->st.next, "rollovers",
	              (int)x->st.rollovers, "desired", desired, "hosts", hosts, "ttl_seen",
	              (int)x->st.ttl_seen_s, "safe_at", (json_int_t)safe, "safe_now",
	              safe != 0 && dg_clock_wall() >= safe, "now", (json_int_t)dg_clock_wall());
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", text != NULL ? text : "{}");
	free(text);
	json_decref(o);
}

static int rs_status(struct rs_ctx *x)
{
	enum dg_rollover_recovery r = rs_recovery_needed(x);
	bool all = rs_observe(x, true);

	if (x->json)
		rs_status_json(x, r);
	else
		rs_status_text(x, r);
	return all ? CMD_EXIT_OK : CMD_EXIT_FAIL;
}

/* ---- dispatch -------------------------------------------------------------------------- */

static int rs_load(struct rs_ctx *x)
{
	struct dg_err err = {0};
	enum dg_status st = dg_rollover_load(x->dir, &x->conf, &x->st, &err);

	if (st != DG_OK) {
		rs_say("%s", err.msg);
		return st == DG_E_NOTFOUND || st == DG_E_IO ? CMD_EXIT_NOINPUT : CMD_EXIT_DATAERR;
	}
	if (x->conf.tsig_key_file[0] != '\0' &&
	    dg_tsig_key_load(x->conf.tsig_key_file, NULL, &x->key, &err) != DG_OK) {
		rs_say("%s", err.msg);
		return CMD_EXIT_NOINPUT;
	}
	return rs_prepare(x);
}

static int rs_dispatch(struct rs_ctx *x, struct rs_cli *cli)
{
	int rc;

	if (strcmp(cli->sub, "status") != 0 && (rc = rs_lock(x)) != CMD_CONTINUE)
		return rc;
	if ((rc = rs_load(x)) != CMD_CONTINUE || (rc = cmd_net_open(&x->net, &cli->dns)) !=
	                                             CMD_CONTINUE)
		return rc;
	if (strcmp(cli->sub, "status") == 0)
		return rs_status(x);
	if ((rc = rs_recover(x)) != CMD_CONTINUE)
		return rc;
	if (strcmp(cli->sub, "advance") == 0)
		return rs_advance(x);
	rc = rs_publish(x);
	if (strcmp(cli->sub, "run") != 0 || rc != CMD_EXIT_OK)
		return rc;
	rc = rs_advance(x);
	if (rc == DG_ROLLOVER_EXIT_TOO_EARLY)
		rc = CMD_EXIT_OK; /* cron: waiting is the normal case */
	return rc;
}

int cmd_rollover_state_main(int argc, char **argv)
{
	struct rs_ctx x = {.wait_s = 60, .timeout_s = 10, .dns_port = 53, .lock_fd = -1};
	struct rs_cli cli = {.sub = argv[1]};
	int rc;

	dg_buf_init(&cli.conf_text, DG_ROLLOVER_FILE_MAX);
	dg_dns_opts_init(&cli.dns);
	cli.dns.cache_max = 0; /* every observation must see fresh answers */
	rc = rs_args(argc - 1, argv + 1, &x, &cli);
	if (rc == CMD_CONTINUE)
		rc = strcmp(cli.sub, "init") == 0 ? rs_init(&x, &cli) : rs_dispatch(&x, &cli);
	rs_release(&x);
	cmd_net_close(&x.net);
	dg_tsig_key_cleanup(&x.key);
	dg_buf_cleanup(&cli.conf_text);
	if (x.lock_fd >= 0)
		close(x.lock_fd);
	return rc;
}
