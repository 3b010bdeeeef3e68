/*
 * cmd.h - the daneguard command's subcommands and shared exit codes (STYLE.md section 1:
 * cmd/ parses arguments, calls the library and prints).
 *
 * Exit codes are documented in docs/daneguard.1 and docs/json.md; the mapping from verdicts
 * lives in one function, check_exit_code() in cmd_check.c (STYLE.md section 4).
 */
#ifndef DG_CMD_H
#define DG_CMD_H

#include <stdio.h>

/** Version printed by --version; the build may define it from the project version. */
#ifndef DG_CLI_VERSION
#define DG_CLI_VERSION "0.1.0"
#endif

/** Exit codes shared by every subcommand (sysexits.h values for usage and internal). */
enum cmd_exit {
	CMD_EXIT_OK = 0,       /**< dane-ok (or a help/version request) */
	CMD_EXIT_FAIL = 1,     /**< dane-fail or dnssec-bogus */
	CMD_EXIT_WEAK = 2,     /**< no-dane, dane-partial or null-mx */
	CMD_EXIT_TEMP = 3,     /**< temp-fail */
	CMD_EXIT_USAGE = 64,   /**< bad command line, bad trust anchor or resolver */
	CMD_EXIT_DATAERR = 65, /**< an input file is malformed (certificate, key) */
	CMD_EXIT_NOINPUT = 66, /**< an input file cannot be read */
	CMD_EXIT_INTERNAL = 70, /**< internal error */
	CMD_EXIT_IOERR = 74    /**< a database, state or output file cannot be written (scan) */
};

/** Returned by the argument helpers when parsing goes on. */
#define CMD_CONTINUE (-1)

#include <daneguard/dane.h>
#include <daneguard/dns.h>

#include <stdbool.h>
#include <stdint.h>

/** What a one-shot networked command needs: a loop, a DNS and a DANE context. */
struct cmd_net {
	struct event_base *base;
	struct dg_dns *dns;
	struct dg_dane_ctx *dane;
};

/**
 * Print "daneguard: <message> (see 'daneguard help CMD')" to stderr.
 * @return CMD_EXIT_USAGE
 */
int cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Parse option @p opt's value @p val as a number in [min, max].
 * @return CMD_CONTINUE, or CMD_EXIT_USAGE after a one-line error
 */
int cmd_parse_num(const char *cmd, const char *opt, const char *val, uint32_t min, uint32_t max,
		  uint32_t *out);

/**
 * Check that @p file (described as @p what, e.g. "certificate") is a readable file.
 * @return CMD_CONTINUE, or CMD_EXIT_NOINPUT after a one-line error
 */
int cmd_check_readable(const char *what, const char *file);

/**
 * Create the loop, DNS (@p dns_opts) and DANE contexts.
 * @return CMD_CONTINUE, CMD_EXIT_USAGE (bad trust anchor or resolver) or
 *         CMD_EXIT_INTERNAL, after a one-line error; free with cmd_net_close()
 */
int cmd_net_open(struct cmd_net *net, const struct dg_dns_opts *dns_opts);

/** Free what cmd_net_open() made. */
void cmd_net_close(struct cmd_net *net);

/** Run "daneguard scan" (cmd_scan.c). @return exit code */
int cmd_scan_main(int argc, char **argv);

/** Print the complete help of "daneguard scan". */
void cmd_scan_usage(FILE *out);

/** Run "daneguard report" (changes, fail-list; cmd_report.c). @return exit code */
int cmd_report_main(int argc, char **argv);

/** Print the complete help of "daneguard report". */
void cmd_report_usage(FILE *out);

/**
 * "daneguard report html": write the HTML overview of the history @p db to @p out_path
 * (cmd_report_html.c). @param db, out_path borrowed. @return exit code
 */
int cmd_report_html(const char *db, const char *out_path);

struct dg_changes;

/**
 * Print a summary of @p ch (counts, then one line per change) to @p out.
 * @param ch changes (borrowed)
 */
void cmd_print_changes(FILE *out, const struct dg_changes *ch);

/**
 * Run "sh -c CMD" with the changes as JSON on its stdin; wait at most 60 s, then kill it.
 * A failure is a warning on stderr. @param ch changes (borrowed)
 */
void cmd_run_on_change(const char *cmd, const struct dg_changes *ch);

/** Run "daneguard tlsa" (generate, verify). @return exit code */
int cmd_tlsa_main(int argc, char **argv);

/** Print the complete help of "daneguard tlsa". */
void cmd_tlsa_usage(FILE *out);

/** Run "daneguard rollover" (publish, status). @return exit code */
int cmd_rollover_main(int argc, char **argv);

/** Print the complete help of "daneguard rollover". */
void cmd_rollover_usage(FILE *out);

/** Run "daneguard relay" and its queue/report commands (cmd_relay.c). @return exit code */
int cmd_relay_main(int argc, char **argv);

struct dg_relay_conf;

/** What the relay subcommands take besides configuration keys (cmd_relay_args_parse()). */
struct cmd_relay_args {
	const char *conf_path; /**< out: --config FILE, or NULL */
	bool want_json;        /**< accept --json */
	bool json;             /**< out: --json given */
	char **rest;           /**< positional words go here (max_rest), NULL: none allowed */
	int n_rest, max_rest;
	uint32_t *days;        /**< accept --days N into it, or NULL */
	bool want_day;         /**< accept --day VALUE (the caller checks it) */
	const char *day;       /**< out: --day value or NULL */
	bool no_finish;        /**< the caller runs dg_relay_conf_finish() itself */
	void (*usage)(FILE *out); /**< --help prints this, NULL: the relay's */
};

/**
 * Read --config FILE, then every --KEY VALUE over it (one key table with the config file),
 * then finish the configuration.
 * @return CMD_CONTINUE, or the exit code (help printed, usage error reported)
 */
int cmd_relay_args_parse(const char *cmd, int argc, char **argv, int first,
			 struct dg_relay_conf *conf, struct cmd_relay_args *a);

/** Run "daneguard relay tlsrpt ..." (cmd_relay_tlsrpt.c). @return exit code */
int cmd_relay_tlsrpt(int argc, char **argv);

/** Print the complete help of "daneguard relay". */
void cmd_relay_usage(FILE *out);

/**
 * Run the stateful "daneguard rollover init|status|publish|advance|run --state DIR"
 * (cmd_rollover_state.c). @param argc count, argv[0] "rollover" @param argv (borrowed)
 * @return exit code (75 when too early)
 */
int cmd_rollover_state_main(int argc, char **argv);

/** Print the help of the stateful rollover commands. @param out stream (borrowed) */
void cmd_rollover_state_usage(FILE *out);

/**
 * Run "daneguard check".
 * @param argc argument count, argv[0] being "check"
 * @param argv arguments (borrowed)
 * @return process exit code (enum cmd_exit)
 */
int cmd_check_main(int argc, char **argv);

/**
 * Print the complete help of "daneguard check".
 * @param out stream (borrowed)
 */
void cmd_check_usage(FILE *out);

#endif /* DG_CMD_H */
