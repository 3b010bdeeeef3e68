/*
 * main.c - the daneguard command: dispatch "daneguard <command> [options]".
 *
 * Commands: check (cmd_check.c), scan (cmd_scan.c), report (cmd_report.c), tlsa, rollover,
 * relay (cmd_relay.c);
 * plus --version, --help and "help <command>".
 * An unknown command is a usage error (exit 64) with one line naming it. Output of help and
 * version goes to stdout; errors go to stderr (STYLE.md section 8).
 */
#include "cmd.h"

#include <string.h>

struct command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *out);
};

static const struct command commands[] = {
    {"check", "check the DANE (RFC 7672) set-up of mail domains", cmd_check_main, cmd_check_usage},
    {"tlsa", "generate TLSA records; guard a certificate deploy", cmd_tlsa_main, cmd_tlsa_usage},
    {"scan", "check a list of mail domains; JSON Lines, history", cmd_scan_main, cmd_scan_usage},
    {"report", "changes between scans; fail list for Postfix", cmd_report_main,
     cmd_report_usage},
    {"rollover", "roll keys over without outage: publish, check every server, advance",
     cmd_rollover_main,
     cmd_rollover_usage},
    {"relay", "outbound SMTP relay that delivers only as DANE and MTA-STS allow",
     cmd_relay_main, cmd_relay_usage},
};

static void usage(FILE *out);
static const struct command *find_command(const char *name);
static int help_command(int argc, char **argv);

static void usage(FILE *out)
{
	fprintf(out, "usage: daneguard <command> [options] [arguments]\n"
	             "       daneguard help <command>\n"
	             "       daneguard --version | --help\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'daneguard help <command>' for the options of a command.\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* "daneguard help [command]" */
static int help_command(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		usage(stdout);
		return CMD_EXIT_OK;
	}
	if (argc > 2) {
		fprintf(stderr, "daneguard: help takes one command, got %d arguments\n", argc - 1);
		return CMD_EXIT_USAGE;
	}
	cmd = find_command(argv[1]);
	if (cmd == NULL) {
		fprintf(stderr, "daneguard: unknown command '%s' (see 'daneguard --help')\n",
		        argv[1]);
		return CMD_EXIT_USAGE;
	}
	cmd->usage(stdout);
	return CMD_EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		usage(stderr);
		return CMD_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("daneguard %s\n", DG_CLI_VERSION);
		return CMD_EXIT_OK;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return CMD_EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0)
		return help_command(argc - 1, argv + 1);
	cmd = find_command(argv[1]);
	if (cmd == NULL) {
		if (argv[1][0] == '-')
			fprintf(stderr, "daneguard: unknown option '%s' (see 'daneguard --help')\n",
			        argv[1]);
		else
			fprintf(stderr,
			        "daneguard: unknown command '%s' (see 'daneguard --help')\n",
			        argv[1]);
		return CMD_EXIT_USAGE;
	}
	return cmd->run(argc - 1, argv + 1);
}
