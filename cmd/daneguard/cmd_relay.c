/*
 * cmd_relay.c - "daneguard relay": the outbound smarthost that delivers only as DANE and
 * MTA-STS allow, and its queue and log-only report commands.
 *
 *   daneguard relay [--config FILE] [--KEY VALUE]...      run in the foreground
 *   daneguard relay queue list|show ID|flush|delete ID [--config FILE|--queue DIR] [--json]
 *   daneguard relay report [--config FILE|--queue DIR] [--days N] [--json]
 *
 * Every configuration key (lib/relay/relay_conf.c, docs/internals/relay-conf.md) is also a
 * long option; options given on the command line override the file. The library runs the
 * processes (lib/relay/relay_proc.c); this file parses, calls and prints.
 */
#include "cmd.h"

#include <daneguard/queue.h>
#include <daneguard/relay.h>
#include <daneguard/util.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RELAY_REPORT_MAX_DOMAINS 10000
#define RELAY_JOURNAL_MAX (256u * 1024u * 1024u)

static int relay_serve(int argc, char **argv);
static int relay_queue(int argc, char **argv);
static int relay_report(int argc, char **argv);
static int relay_load_conf(const char *cmd, int argc, char **argv, int first,
			   struct dg_relay_conf *conf, const char **conf_path, bool *json,
			   char ***rest, int *n_rest, uint32_t *days);
static int relay_args(const char *cmd, int argc, char **argv, int first,
		      struct dg_relay_conf *conf, struct cmd_relay_args *a);

void cmd_relay_usage(FILE *out)
{
	size_t n = 0;
	const char *const *keys = dg_relay_conf_keys(&n);

	fprintf(out,
		"usage: daneguard relay [--config FILE] [--KEY VALUE]...\n"
		"       daneguard relay queue list|show ID|flush|delete ID [--config FILE | --queue DIR] [--json]\n"
		"       daneguard relay report [--config FILE | --queue DIR] [--days N] [--json]\n"
		"       daneguard relay tlsrpt show|send [--config FILE | --queue DIR] [--day YYYY-MM-DD] [--json]\n"
		"\n"
		"Run an outbound SMTP relay (smarthost) in the foreground. Each destination gets its\n"
		"mail only as its policy allows: MX hosts with usable TLSA records over DANE-verified\n"
		"TLS (RFC 7672), else an MTA-STS 'enforce' policy over PKIX-verified TLS (RFC 8461),\n"
		"else opportunistic TLS; a policy table (Postfix smtp_tls_policy_maps syntax) overrides\n"
		"per domain. --mode log-only decides the same way but delivers with the best TLS\n"
		"available and logs 'would defer'. SIGTERM stops, SIGHUP re-reads the config file.\n"
		"Queued messages survive restarts and crashes.\n"
		"\n"
		"Configuration keys (in FILE as 'key = value', on the command line as --key value):\n");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  --%-20s %s\n", keys[i], dg_relay_conf_key_help(keys[i]));
	fprintf(out,
		"\n"
		"queue: list (id, age, sender, recipients and their state), show ID (envelope and\n"
		"       each recipient's last reason), flush (retry deferred mail now; needs the\n"
		"       running relay), delete ID (through the running relay when there is one).\n"
		"report: what log-only mode would have deferred, per domain, over the last N days\n"
		"       (default 7), from QUEUE/log-only.jsonl.\n"
		"tlsrpt: show prints the RFC 8460 reports of a UTC day (default today so far) as\n"
		"       they are or will be sent; send asks the running relay to send that day's\n"
		"       reports now (they go out once a day by themselves at tlsrpt-hour UTC).\n"
		"\n"
		"exit status: 0 ok; 64 usage or configuration error; 66 a file cannot be read;\n"
		"  69 (queue flush) no relay running; 74 queue or socket I/O error; 70 internal.\n"
		"\n"
		"example:\n"
		"  daneguard relay --listen 127.0.0.1:10025 --queue /var/spool/daneguard --mode log-only\n"
		"  (Postfix: relayhost = [127.0.0.1]:10025)\n");
}

int cmd_relay_main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "queue") == 0)
		return relay_queue(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "report") == 0)
		return relay_report(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "tlsrpt") == 0)
		return cmd_relay_tlsrpt(argc, argv);
	return relay_serve(argc, argv);
}

/*
 * Parse "--config FILE" first (wherever it is), then every other "--key value" over it.
 * Positional words go to a->rest when the caller takes them; --json, --days N and --day D
 * only when the caller asked for them. Returns CMD_CONTINUE or an exit code.
 */
static int relay_args(const char *cmd, int argc, char **argv, int first,
		      struct dg_relay_conf *conf, struct cmd_relay_args *a)
{
	struct dg_err err = {0};

	a->conf_path = NULL;
	for (int i = first; i < argc; i++)
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			a->conf_path = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			a->conf_path = argv[i] + 9;
	if (a->conf_path != NULL && dg_relay_conf_load(conf, a->conf_path, &err) != DG_OK) {
		fprintf(stderr, "daneguard %s: %s\n", cmd, err.msg);
		return err.code == DG_E_NOTFOUND || err.code == DG_E_IO ? CMD_EXIT_NOINPUT
									  : CMD_EXIT_USAGE;
	}
	dg_relay_conf_begin_source(conf);
	for (int i = first; i < argc; i++) {
		const char *arg = argv[i], *val;
		char key[64];
		const char *eq;

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			if (a->usage != NULL)
				a->usage(stdout);
			else
				cmd_relay_usage(stdout);
			return CMD_EXIT_OK;
		}
		if (strncmp(arg, "--", 2) != 0) {
			if (a->rest == NULL || a->n_rest >= a->max_rest)
				return cmd_usage_error(cmd, "unexpected argument '%s'", arg);
			a->rest[a->n_rest++] = argv[i];
			continue;
		}
		if (a->want_json && strcmp(arg, "--json") == 0) {
			a->json = true;
			continue;
		}
		eq = strchr(arg, '=');
		if (eq != NULL) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - arg - 2), arg + 2);
			val = eq + 1;
		} else {
			snprintf(key, sizeof(key), "%s", arg + 2);
			if (i + 1 >= argc)
				return cmd_usage_error(cmd, "option '%s' needs a value", arg);
			val = argv[++i];
		}
		if (strcmp(key, "config") == 0)
			continue;
		if (a->days != NULL && strcmp(key, "days") == 0) {
			int rc = cmd_parse_num(cmd, "--days", val, 1, 3650, a->days);

			if (rc != CMD_CONTINUE)
				return rc;
			continue;
		}
		if (a->want_day && strcmp(key, "day") == 0) {
			a->day = val; /* the caller checks its form */
			continue;
		}
		if (dg_relay_conf_set(conf, key, val, &err) != DG_OK)
			return cmd_usage_error(cmd, "%s", err.msg);
	}
	if (!a->no_finish && dg_relay_conf_finish(conf, &err) != DG_OK)
		return cmd_usage_error(cmd, "%s", err.msg);
	return CMD_CONTINUE;
}

int cmd_relay_args_parse(const char *cmd, int argc, char **argv, int first,
			 struct dg_relay_conf *conf, struct cmd_relay_args *a)
{
	return relay_args(cmd, argc, argv, first, conf, a);
}

/* The common case of relay_args(), with the pieces as separate outputs. */
static int relay_load_conf(const char *cmd, int argc, char **argv, int first,
			   struct dg_relay_conf *conf, const char **conf_path, bool *json,
			   char ***rest, int *n_rest, uint32_t *days)
{
	struct cmd_relay_args a = {0};
	int rc;

	a.want_json = json != NULL;
	a.rest = rest != NULL ? *rest : NULL;
	a.max_rest = rest != NULL ? 8 : 0;
	a.days = days;
	rc = relay_args(cmd, argc, argv, first, conf, &a);
	*conf_path = a.conf_path;
	if (json != NULL)
		*json = a.json;
	if (n_rest != NULL)
		*n_rest = a.n_rest;
	return rc;
}

static int relay_serve(int argc, char **argv)
{
	struct dg_relay_conf conf;
	const char *conf_path = NULL;
	struct dg_err err = {0};
	int rc;

	dg_relay_conf_init(&conf);
	rc = relay_load_conf("relay", argc, argv, 1, &conf, &conf_path, NULL, NULL, NULL, NULL);
	if (rc != CMD_CONTINUE)
		goto out;
	if (dg_relay_conf_check(&conf, &err) != DG_OK) {
		rc = cmd_usage_error("relay", "%s", err.msg);
		goto out;
	}
	if (dg_relay_run(conf_path, &conf, &err) != DG_OK) {
		fprintf(stderr, "daneguard relay: %s\n", err.msg);
		rc = err.code == DG_E_CONFIG ? CMD_EXIT_USAGE : CMD_EXIT_IOERR;
		goto out;
	}
	rc = CMD_EXIT_OK;
out:
	dg_relay_conf_cleanup(&conf);
	return rc;
}

/* ---- queue ------------------------------------------------------------------------------ */

static json_t *queue_msg_json(const struct dg_queue_msg *m, bool full)
{
	json_t *o = json_object(), *rc = json_array();

	json_object_set_new(o, "id", json_string(m->id));
	json_object_set_new(o, "arrival", json_integer((json_int_t)m->arrival_s));
	json_object_set_new(o, "sender", json_string(m->sender));
	json_object_set_new(o, "size", json_integer((json_int_t)m->body_len));
	for (size_t i = 0; i < m->n_rcpt; i++) {
		json_t *r = json_object();

		json_object_set_new(r, "address", json_string(m->rcpt[i].addr));
		json_object_set_new(r, "state", json_string(dg_queue_rcpt_state_str(m->rcpt[i].state)));
		json_object_set_new(r, "attempts", json_integer(m->rcpt[i].attempts));
		if (full || m->rcpt[i].reason[0] != '\0')
			json_object_set_new(r, "reason", json_string(m->rcpt[i].reason));
		if (m->rcpt[i].next_try_s)
			json_object_set_new(r, "next_try", json_integer((json_int_t)m->rcpt[i].next_try_s));
		json_array_append_new(rc, r);
	}
	json_object_set_new(o, "recipients", rc);
	return o;
}

static void queue_msg_text(const struct dg_queue_msg *m, bool full)
{
	time_t now = time(NULL);

	printf("%s  %6llus  %8zu  <%s>\n", m->id,
	       (unsigned long long)(now > (time_t)m->arrival_s ? now - (time_t)m->arrival_s : 0),
	       m->body_len, m->sender);
	for (size_t i = 0; i < m->n_rcpt; i++) {
		const struct dg_queue_rcpt *r = &m->rcpt[i];

		printf("    %-9s <%s>%s%s\n", dg_queue_rcpt_state_str(r->state), r->addr,
		       r->reason[0] && (full || r->state != DG_QUEUE_RCPT_DELIVERED) ? "  " : "",
		       r->reason[0] && (full || r->state != DG_QUEUE_RCPT_DELIVERED) ? r->reason : "");
	}
}

static int queue_list(struct dg_queue *q, bool json, const char *only)
{
	char (*ids)[DG_QUEUE_ID_SIZE] = NULL;
	size_t n = 0;
	struct dg_err err = {0};
	json_t *arr = json_array();
	int rc = CMD_EXIT_OK;

	if (only != NULL) {
		ids = calloc(1, sizeof(*ids));
		snprintf(ids[0], sizeof(ids[0]), "%s", only);
		n = 1;
	} else if (dg_queue_list(q, &ids, &n, &err) != DG_OK) {
		fprintf(stderr, "daneguard relay queue: %s\n", err.msg);
		json_decref(arr);
		return CMD_EXIT_IOERR;
	}
	for (size_t i = 0; i < n; i++) {
		struct dg_queue_msg m;

		memset(&m, 0, sizeof(m));
		if (dg_queue_get(q, ids[i], &m, &err) != DG_OK) {
			if (only != NULL) {
				fprintf(stderr, "daneguard relay queue show: %s\n", err.msg);
				rc = err.code == DG_E_NOTFOUND ? CMD_EXIT_NOINPUT : CMD_EXIT_IOERR;
			}
			dg_queue_msg_cleanup(&m);
			continue; /* delivered while we listed */
		}
		if (json)
			json_array_append_new(arr, queue_msg_json(&m, only != NULL));
		else
			queue_msg_text(&m, only != NULL);
		dg_queue_msg_cleanup(&m);
	}
	if (json && rc == CMD_EXIT_OK) {
		json_t *top = only != NULL && json_array_size(arr) == 1
				  ? json_incref(json_array_get(arr, 0))
				  : json_pack("{s:s,s:O}", "schema", "daneguard/relay-queue/1",
					      "messages", arr);
		json_dumpf(top, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("\n");
		json_decref(top);
	} else if (!json && only == NULL) {
		printf("%zu message(s) queued\n", n);
	}
	json_decref(arr);
	free(ids);
	return rc;
}

static int relay_queue(int argc, char **argv)
{
	struct dg_relay_conf conf;
	const char *conf_path = NULL, *verb, *id = NULL;
	char *restv[8], **rest = restv;
	int n_rest = 0, rc;
	bool json = false;
	struct dg_queue *q = NULL;
	struct dg_err err = {0};
	char reply[256], cmdline[64];
	struct dg_queue_opts qo = {.no_recover = true};

	dg_relay_conf_init(&conf);
	if (argc > 10) {
		rc = cmd_usage_error("relay queue", "too many arguments");
		goto out;
	}
	rc = relay_load_conf("relay queue", argc, argv, 2, &conf, &conf_path, &json, &rest,
			     &n_rest, NULL);
	if (rc != CMD_CONTINUE)
		goto out;
	if (n_rest < 1) {
		rc = cmd_usage_error("relay queue", "say list, show ID, flush or delete ID");
		goto out;
	}
	verb = rest[0];
	if (conf.queue_dir == NULL) {
		rc = cmd_usage_error("relay queue", "no queue: give --queue DIR or --config FILE");
		goto out;
	}
	if ((strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0)) {
		if (n_rest != 2 || !dg_queue_id_ok(rest[1])) {
			rc = cmd_usage_error("relay queue", "%s needs one queue id (20 lowercase hex "
					     "digits)%s%s", verb, n_rest == 2 ? ", got " : "",
					     n_rest == 2 ? rest[1] : "");
			goto out;
		}
		id = rest[1];
	} else if ((strcmp(verb, "list") == 0 || strcmp(verb, "flush") == 0) && n_rest != 1) {
		rc = cmd_usage_error("relay queue", "%s takes no argument", verb);
		goto out;
	} else if (strcmp(verb, "list") != 0 && strcmp(verb, "flush") != 0) {
		rc = cmd_usage_error("relay queue", "unknown queue command '%s'", verb);
		goto out;
	}
	if (strcmp(verb, "flush") == 0) {
		if (dg_relay_ctl(conf.queue_dir, "flush", reply, sizeof(reply), &err) != DG_OK) {
			fprintf(stderr, "daneguard relay queue flush: %s\n",
				err.msg[0] ? err.msg : reply);
			rc = err.code == DG_E_NOTFOUND ? 69 : CMD_EXIT_IOERR;
			goto out;
		}
		printf("%s\n", reply);
		rc = CMD_EXIT_OK;
		goto out;
	}
	if (strcmp(verb, "delete") == 0) {
		snprintf(cmdline, sizeof(cmdline), "delete %s", id);
		if (dg_relay_ctl(conf.queue_dir, cmdline, reply, sizeof(reply), &err) == DG_OK) {
			printf("%s\n", reply);
			rc = CMD_EXIT_OK;
			goto out;
		}
		if (err.code != DG_E_NOTFOUND) { /* the relay answered: it said why */
			fprintf(stderr, "daneguard relay queue delete: %s\n",
				err.msg[0] ? err.msg : reply);
			rc = CMD_EXIT_NOINPUT;
			goto out;
		}
	}
	/* never recover here: a running relay may be writing (docs/internals/relay.md) */
	if (dg_queue_open(conf.queue_dir, &qo, &q, &err) != DG_OK) {
		fprintf(stderr, "daneguard relay queue: %s\n", err.msg);
		rc = CMD_EXIT_IOERR;
		goto out;
	}
	if (strcmp(verb, "delete") == 0) { /* no relay running: remove the file itself */
		if (dg_queue_remove(q, id, &err) != DG_OK) {
			fprintf(stderr, "daneguard relay queue delete: %s\n", err.msg);
			rc = err.code == DG_E_NOTFOUND ? CMD_EXIT_NOINPUT : CMD_EXIT_IOERR;
		} else {
			printf("ok deleted %s\n", id);
			rc = CMD_EXIT_OK;
		}
		goto out;
	}
	rc = queue_list(q, json, id);
out:
	dg_queue_free(q);
	dg_relay_conf_cleanup(&conf);
	return rc;
}

/* ---- report: what log-only mode would have deferred ------------------------------------- */

struct rep_dom {
	char *domain;
	unsigned count;
	long long first, last;
	char *reason;
};

static int rep_cmp(const void *a, const void *b)
{
	const struct rep_dom *x = a, *y = b;

	return x->count != y->count ? (x->count < y->count ? 1 : -1) : strcmp(x->domain, y->domain);
}

static int relay_report(int argc, char **argv)
{
	struct dg_relay_conf conf;
	const char *conf_path = NULL;
	bool json = false;
	uint32_t days = 7;
	char path[4096], *text = NULL;
	size_t len = 0, n = 0, bad = 0;
	struct rep_dom *d = NULL;
	struct dg_err err = {0};
	long long since;
	int rc;

	dg_relay_conf_init(&conf);
	rc = relay_load_conf("relay report", argc, argv, 2, &conf, &conf_path, &json, NULL, NULL,
			     &days);
	if (rc != CMD_CONTINUE)
		goto out;
	if (conf.queue_dir == NULL) {
		rc = cmd_usage_error("relay report", "no queue: give --queue DIR or --config FILE");
		goto out;
	}
	since = (long long)time(NULL) - (long long)days * 86400;
	snprintf(path, sizeof(path), "%s/log-only.jsonl", conf.queue_dir);
	if (dg_relay_read_file(path, RELAY_JOURNAL_MAX, &text, &len, &err) != DG_OK &&
	    err.code != DG_E_NOTFOUND) {
		fprintf(stderr, "daneguard relay report: %s\n", err.msg);
		rc = CMD_EXIT_NOINPUT;
		goto out;
	}
	d = calloc(RELAY_REPORT_MAX_DOMAINS, sizeof(*d));
	for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
		json_t *o;
		const char *dom, *why;
		json_int_t t;
		size_t i;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		o = json_loads(line, 0, NULL);
		if (o == NULL || json_unpack(o, "{s:I,s:s,s:s}", "time", &t, "domain", &dom,
					    "reason", &why) != 0) {
			bad++;
			json_decref(o);
			continue;
		}
		if (t < since) {
			json_decref(o);
			continue;
		}
		for (i = 0; i < n && strcmp(d[i].domain, dom) != 0; i++)
			;
		if (i == n && n < RELAY_REPORT_MAX_DOMAINS) {
			d[n].domain = strdup(dom);
			d[n].first = t;
			n++;
		}
		if (i < n) {
			d[i].count++;
			d[i].last = t;
			free(d[i].reason);
			d[i].reason = strdup(why);
		}
		json_decref(o);
	}
	qsort(d, n, sizeof(*d), rep_cmp);
	if (json) {
		json_t *arr = json_array(), *top;

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s,s:i,s:I,s:I,s:s}", "domain",
							     d[i].domain, "would_defer", d[i].count,
							     "first", (json_int_t)d[i].first, "last",
							     (json_int_t)d[i].last, "last_reason",
							     d[i].reason));
		top = json_pack("{s:s,s:i,s:o,s:i}", "schema", "daneguard/relay-report/1", "days",
				(int)days, "domains", arr, "unreadable_lines", (int)bad);
		json_dumpf(top, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("\n");
		json_decref(top);
	} else {
		printf("log-only: %zu domain(s) whose mail enforce mode would have deferred in the "
		       "last %u day(s)\n", n, days);
		for (size_t i = 0; i < n; i++)
			printf("%6u  %s  last: %s\n", d[i].count, d[i].domain, d[i].reason);
		if (n == 0)
			printf("enforce mode would have deferred nothing: switching is safe for the "
			       "traffic seen\n");
	}
	if (bad > 0)
		fprintf(stderr, "daneguard relay report: %zu unreadable line(s) in %s skipped\n", bad,
			path);
	rc = CMD_EXIT_OK;
out:
	for (size_t i = 0; d != NULL && i < n; i++) {
		free(d[i].domain);
		free(d[i].reason);
	}
	free(d);
	free(text);
	dg_relay_conf_cleanup(&conf);
	return rc;
}
