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
	CMD_EXIT_INTERNAL = 70 /**< internal error */
};

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
