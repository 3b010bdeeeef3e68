/*
 * cmd_common.c - argument helpers shared by the subcommands: numbers in a
 * range, readable input files, resolver options, and the event loop + DNS +
 * DANE contexts a one-shot command needs.
 *
 * Every error is one line on stderr that names the option or file and what is
 * wrong; the return value is the exit code to use (CMD_CONTINUE when all is well).
 */
#include "cmd.h"

#include <daneguard/util.h>

#include <event2/event.h>

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("daneguard: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'daneguard help %s')\n", cmd);
	return CMD_EXIT_USAGE;
}

int cmd_parse_num(const char *cmd, const char *opt, const char *val, uint32_t min, uint32_t max,
		  uint32_t *out)
{
	enum dg_status st = dg_parse_u32(val, min, max, out);

	if (st == DG_OK)
		return CMD_CONTINUE;
	if (st == DG_E_LIMIT)
		return cmd_usage_error(cmd, "%s: '%s' is not in %lu..%lu", opt, val,
				       (unsigned long)min, (unsigned long)max);
	return cmd_usage_error(cmd, "%s: '%s' is not a number", opt, val);
}

int cmd_check_readable(const char *what, const char *file)
{
	struct stat st;
	FILE *f = fopen(file, "r");

	if (f == NULL) {
		fprintf(stderr, "daneguard: cannot read %s '%s': %s\n", what, file,
			strerror(errno));
		return CMD_EXIT_NOINPUT;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		fprintf(stderr, "daneguard: cannot read %s '%s': not a regular file\n", what,
			file);
		return CMD_EXIT_NOINPUT;
	}
	fclose(f);
	return CMD_CONTINUE;
}

int cmd_net_open(struct cmd_net *net, const struct dg_dns_opts *dns_opts)
{
	struct dg_err err = {0};
	enum dg_status st;

	memset(net, 0, sizeof(*net));
	net->base = event_base_new();
	if (net->base == NULL) {
		fprintf(stderr, "daneguard: cannot create the event loop\n");
		return CMD_EXIT_INTERNAL;
	}
	st = dg_dns_new(net->base, dns_opts, &net->dns, &err);
	if (st == DG_OK)
		st = dg_dane_ctx_new(NULL, &net->dane, &err);
	if (st != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		cmd_net_close(net);
		return st == DG_E_CONFIG ? CMD_EXIT_USAGE : CMD_EXIT_INTERNAL;
	}
	return CMD_CONTINUE;
}

void cmd_net_close(struct cmd_net *net)
{
	dg_dane_ctx_free(net->dane);
	dg_dns_free(net->dns);
	if (net->base != NULL)
		event_base_free(net->base);
	memset(net, 0, sizeof(*net));
}
