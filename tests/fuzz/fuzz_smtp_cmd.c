/*
 * fuzz_smtp_cmd.c - libFuzzer target for the server-side SMTP command
 * parser (lib/smtp/smtp_cmd.c). Byte 0 picks the options (SMTPUTF8, size
 * cap); the rest is cut into lines with dg_smtp_cmd_line_end() and each is
 * parsed. Every result must be NUL-terminated within its fields, and every
 * rejection must carry a 5xx reply; anything else aborts.
 */
#include <daneguard/smtp.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(const struct dg_smtp_cmd *cmd, enum dg_status st);

static void fuzz_check(const struct dg_smtp_cmd *cmd, enum dg_status st)
{
	if ((st == DG_OK) != (cmd->reply.code == 0))
		abort();
	if (st != DG_OK && (cmd->reply.code < 500 || cmd->reply.code > 555))
		abort();
	if (strlen(cmd->mailbox) > DG_SMTP_PATH_MAX || cmd->nparams > DG_SMTP_CMD_PARAMS_MAX ||
	    strlen(cmd->domain) > DG_SMTP_DOMAIN_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_smtp_cmd_opts opts;
	struct dg_smtp_cmd *cmd;
	size_t off = 1, n;

	if (size < 1)
		return 0;
	dg_smtp_cmd_opts_init(&opts);
	opts.smtputf8 = data[0] & 1;
	opts.utf8_txn = data[0] & 2;
	opts.size_max = (data[0] & 4) ? 1000 : 0;
	cmd = malloc(sizeof(*cmd));
	if (cmd == NULL)
		return 0;
	while (off < size) {
		enum dg_status st = dg_smtp_cmd_line_end(data + off, size - off, 4096, &n);

		if (st != DG_OK)
			n = size - off; /* parse the tail as is: no LF is an error too */
		fuzz_check(cmd, dg_smtp_cmd_parse(data + off, n, &opts, cmd, NULL));
		off += n;
	}
	free(cmd);
	return 0;
}
