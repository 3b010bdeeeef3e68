/*
 * cmd_relay_tlsrpt.c - "daneguard relay tlsrpt show": the TLS-RPT (RFC 8460) reports the
 * relay will send, or has sent, for one UTC day.
 *
 *   daneguard relay tlsrpt show [--config FILE|--queue DIR] [--day YYYY-MM-DD] [--json]
 *
 * Reads the relay's TLS-RPT store (tlsrpt-dir, else QUEUE/tlsrpt; lib/tlsrpt) without
 * changing it, builds each report domain's JSON report as the relay would (SPEC RPT-3) and
 * prints it with the delivery state of each rua from the record of sent reports. The default
 * day is today (UTC) so far. --json prints one versioned JSON object on stdout.
 * The reporter identity and the store directory are the relay's own (dg_relay_tlsrpt_meta,
 * dg_relay_tlsrpt_dir), so what is shown is what the relay sends.
 */
#include "cmd.h"

#include <daneguard/relay.h>
#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLSRPT_CMD "relay tlsrpt"

static int tlsrpt_args(int argc, char **argv, struct dg_relay_conf *conf, const char **day,
                       bool *json);
static void tlsrpt_usage(FILE *out);
static const char *rua_state(const struct dg_tlsrpt_sent *s, const char *domain, const char *rua,
                             unsigned *failures, uint64_t now);
static void text_report(const char *domain, json_t *rep);

static void tlsrpt_usage(FILE *out)
{
	fprintf(out,
	        "usage: daneguard relay tlsrpt show|send [--config FILE | --queue DIR] [--day "
	        "YYYY-MM-DD] [--json]\n"
	        "\n"
	        "show: print the TLS-RPT (RFC 8460) aggregate reports of one UTC day (default: today\n"
	        "so far) as the relay builds them from its record of delivery attempts, and whether\n"
	        "each was delivered to each rua (sent, pending, failed N times, given-up).\n"
	        "send: ask the running relay to send that day's reports now (each report goes to\n"
	        "each rua once; the relay sends the previous day's by itself at tlsrpt-hour UTC).\n"
	        "Exit 0; 64 usage; 66 unreadable store; 69 (send) no relay running.\n");
}

/* The relay's option loop (cmd_relay_args_parse) with --day and --json. */
static int tlsrpt_args(int argc, char **argv, struct dg_relay_conf *conf, const char **day,
                       bool *json)
{
	struct cmd_relay_args a = {.want_json = true, .want_day = true, .no_finish = true,
	                           .usage = tlsrpt_usage};
	struct dg_err err = {0};
	uint64_t start;
	int rc;

	if (argc < 3 || (strcmp(argv[2], "show") != 0 && strcmp(argv[2], "send") != 0)) {
		if (argc >= 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
			tlsrpt_usage(stdout);
			return CMD_EXIT_OK;
		}
		return cmd_usage_error(TLSRPT_CMD, "say show or send");
	}
	rc = cmd_relay_args_parse(TLSRPT_CMD, argc, argv, 3, conf, &a);
	if (rc != CMD_CONTINUE)
		return rc;
	*json = a.json;
	if (a.day != NULL) {
		if (dg_tlsrpt_day_parse(a.day, &start) != DG_OK)
			return cmd_usage_error(TLSRPT_CMD, "--day %s: want YYYY-MM-DD", a.day);
		*day = a.day;
	}
	if (conf->queue_dir == NULL && conf->tlsrpt_dir == NULL)
		return cmd_usage_error(TLSRPT_CMD, "no queue: give --queue DIR or --config FILE");
	if (conf->queue_dir != NULL && dg_relay_conf_finish(conf, &err) != DG_OK)
		return cmd_usage_error(TLSRPT_CMD, "%s", err.msg);
	return CMD_CONTINUE;
}

static const char *rua_state(const struct dg_tlsrpt_sent *s, const char *domain, const char *rua,
                             unsigned *failures, uint64_t now)
{
	uint64_t first = 0;

	if (dg_tlsrpt_sent_state(s, domain, rua, failures, &first, NULL))
		return "sent";
	if (*failures == 0)
		return "pending";
	return now > first + DG_RELAY_TLSRPT_RETRY_WINDOW_S ? "given-up" : "failed";
}

static void text_report(const char *domain, json_t *rep)
{
	size_t i, k;
	json_t *p, *row;

	printf("report-domain %s report-id %s\n", domain,
	       json_string_value(json_object_get(rep, "report-id")));
	json_array_foreach(json_object_get(rep, "policies"), i, p)
	{
		json_t *pol = json_object_get(p, "policy"), *sum = json_object_get(p, "summary"),
		       *s;

		printf("  policy %s domain=%s successful=%lld failed=%lld\n",
		       json_string_value(json_object_get(pol, "policy-type")),
		       json_string_value(json_object_get(pol, "policy-domain")),
		       (long long)json_integer_value(
		           json_object_get(sum, "total-successful-session-count")),
		       (long long)json_integer_value(
		           json_object_get(sum, "total-failure-session-count")));
		json_array_foreach(json_object_get(pol, "policy-string"), k, s)
		    printf("    policy-string \"%s\"\n", json_string_value(s));
		json_array_foreach(json_object_get(p, "failure-details"), k, row)
		{
			const char *mx =
			    json_string_value(json_object_get(row, "receiving-mx-hostname"));
			const char *ip = json_string_value(json_object_get(row, "receiving-ip"));
			const char *code =
			    json_string_value(json_object_get(row, "failure-reason-code"));

			printf("    %s mx=%s ip=%s%s%s sessions=%lld\n",
			       json_string_value(json_object_get(row, "result-type")),
			       mx != NULL ? mx : "-", ip != NULL ? ip : "-",
			       code != NULL ? " code=" : "", code != NULL ? code : "",
			       (long long)json_integer_value(
			           json_object_get(row, "failed-session-count")));
		}
	}
}

int cmd_relay_tlsrpt(int argc, char **argv)
{
	struct dg_relay_conf conf;
	const char *day_arg = NULL;
	char today[DG_TLSRPT_DAY_SIZE], dir[4096], contact[DG_RELAY_ADDR_MAX + 1];
	bool json = false;
	int rc;
	struct dg_tlsrpt_meta meta;
	struct dg_tlsrpt_day *d = NULL;
	struct dg_tlsrpt_sent *sent = NULL;
	struct dg_err err = {0};
	size_t skipped = 0;
	uint64_t now = (uint64_t)dg_clock_wall();
	json_t *out = NULL, *reps = NULL;

	dg_relay_conf_init(&conf);
	rc = tlsrpt_args(argc, argv, &conf, &day_arg, &json);
	if (rc != CMD_CONTINUE)
		goto done;
	dg_tlsrpt_day_name(now, today);
	if (day_arg == NULL)
		day_arg = today;
	if (strcmp(argv[2], "send") == 0) {
		char cmdline[64], reply[256];

		if (conf.queue_dir == NULL) {
			rc = cmd_usage_error(TLSRPT_CMD, "send needs --queue DIR or --config FILE");
			goto done;
		}
		snprintf(cmdline, sizeof(cmdline), "tlsrpt-send %s", day_arg);
		if (dg_relay_ctl(conf.queue_dir, cmdline, reply, sizeof(reply), &err) != DG_OK) {
			fprintf(stderr, "daneguard %s send: %s\n", TLSRPT_CMD,
			        err.msg[0] ? err.msg : reply);
			rc = err.code == DG_E_NOTFOUND ? 69 : CMD_EXIT_IOERR;
			goto done;
		}
		printf("%s\n", reply);
		rc = CMD_EXIT_OK;
		goto done;
	}
	if (dg_relay_tlsrpt_dir(&conf, dir, sizeof(dir)) != DG_OK) {
		rc = cmd_usage_error(TLSRPT_CMD, "tlsrpt-dir: path too long");
		goto done;
	}
	dg_relay_tlsrpt_meta(&conf, contact, &meta);
	if (dg_tlsrpt_day_load(dir, day_arg, &d, &skipped, &err) != DG_OK ||
	    dg_tlsrpt_sent_load(dir, day_arg, &sent, &err) != DG_OK) {
		fprintf(stderr, "daneguard %s: %s\n", TLSRPT_CMD, err.msg);
		rc = err.code == DG_E_LIMIT ? CMD_EXIT_DATAERR : CMD_EXIT_NOINPUT;
		goto done;
	}
	if (skipped > 0)
		fprintf(stderr, "daneguard %s: %s: %zu unreadable journal lines skipped\n",
		        TLSRPT_CMD, day_arg, skipped);
	out = json_object();
	reps = json_array();
	json_object_set_new(out, "version", json_integer(1));
	json_object_set_new(out, "day", json_string(day_arg));
	json_object_set_new(out, "skipped_lines", json_integer((json_int_t)skipped));
	json_object_set_new(out, "dropped_events",
	                    json_integer((json_int_t)dg_tlsrpt_day_dropped(d)));
	if (!json && dg_tlsrpt_day_count(d) == 0)
		printf("no TLS-RPT results recorded for %s\n", day_arg);
	for (size_t i = 0; i < dg_tlsrpt_day_count(d); i++) {
		const char *domain = dg_tlsrpt_day_domain(d, i);
		size_t n_rua = 0;
		char *const *rua = dg_tlsrpt_day_rua(d, i, &n_rua);
		char *text = NULL;
		json_t *rep, *e, *ra;

		if (dg_tlsrpt_report_build(d, i, &meta, &text, &err) != DG_OK ||
		    (rep = json_loads(text, 0, NULL)) == NULL) {
			fprintf(stderr, "daneguard %s: %s: %s\n", TLSRPT_CMD, domain, err.msg);
			free(text);
			rc = CMD_EXIT_INTERNAL;
			goto done;
		}
		free(text);
		e = json_object();
		ra = json_array();
		json_object_set_new(e, "report-domain", json_string(domain));
		if (!json)
			text_report(domain, rep);
		for (size_t r = 0; r < n_rua; r++) {
			unsigned fails = 0;
			const char *st = rua_state(sent, domain, rua[r], &fails, now);
			json_t *o = json_object();

			json_object_set_new(o, "uri", json_string(rua[r]));
			json_object_set_new(o, "state", json_string(st));
			json_object_set_new(o, "failures", json_integer(fails));
			json_array_append_new(ra, o);
			if (!json)
				printf("  rua %s %s failures=%u\n", rua[r], st, fails);
		}
		json_object_set_new(e, "rua", ra);
		json_object_set_new(e, "report", rep);
		json_array_append_new(reps, e);
	}
	json_object_set_new(out, "reports", reps);
	if (json) {
		char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s != NULL)
			printf("%s\n", s);
		free(s);
	}
	rc = CMD_EXIT_OK;
done:
	json_decref(out);
	dg_tlsrpt_day_free(d);
	dg_tlsrpt_sent_free(sent);
	dg_relay_conf_cleanup(&conf);
	return rc;
}
