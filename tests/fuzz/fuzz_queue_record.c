/*
 * fuzz_queue_record.c - libFuzzer target for the queue record parser and writer
 * (lib/queue/queue_record.c, docs/internals/queue.md "Record format").
 *
 * Input: one record. Invariants (violations abort): an error carries a message; a parsed
 * record has a valid id, 1..DG_QUEUE_RCPT_MAX recipients and a body inside the input; its
 * sender is "" or an address dg_queue_addr_ok() accepts (ASCII or well-formed UTF-8, no
 * controls, space or <>), and so is every recipient; the smtputf8 flag is set exactly when
 * the record holds the "smtputf8: yes" line; formatting a parsed record gives the input
 * back byte for byte (the format is canonical); and the record with the flag flipped
 * formats and parses back with the flag flipped and everything else equal.
 */
#include <daneguard/queue.h>
#include <daneguard/util.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_fields(const uint8_t *data, size_t size, const struct dg_queue_msg *msg);
static void fuzz_check_flip(struct dg_queue_msg *msg);
static void fuzz_check_ok(const uint8_t *data, size_t size, struct dg_queue_msg *msg);

static void fuzz_check_fields(const uint8_t *data, size_t size, const struct dg_queue_msg *msg)
{
	size_t head = size - msg->body_len;

	if (msg->sender[0] != '\0' && !dg_queue_addr_ok(msg->sender))
		abort();
	for (size_t i = 0; i < msg->n_rcpt; i++)
		if (!dg_queue_addr_ok(msg->rcpt[i].addr))
			abort();
	if (msg->smtputf8 != (memmem(data, head, "\nsmtputf8: yes\n", 15) != NULL))
		abort();
}

/* Flip the flag: the writer must accept it and the parser give it back. */
static void fuzz_check_flip(struct dg_queue_msg *msg)
{
	struct dg_queue_msg back;
	struct dg_err err;
	uint8_t *out = NULL;
	size_t len = 0;

	msg->smtputf8 = !msg->smtputf8;
	if (dg_queue_record_format(msg, &out, &len, &err) != DG_OK)
		abort();
	if (dg_queue_record_parse(out, len, &back, &err) != DG_OK)
		abort();
	if (back.smtputf8 != msg->smtputf8 || back.n_rcpt != msg->n_rcpt ||
	    strcmp(back.sender, msg->sender) != 0 || back.body_len != msg->body_len)
		abort();
	for (size_t i = 0; i < back.n_rcpt; i++)
		if (strcmp(back.rcpt[i].addr, msg->rcpt[i].addr) != 0)
			abort();
	dg_queue_msg_cleanup(&back);
	free(out);
	msg->smtputf8 = !msg->smtputf8;
}

static void fuzz_check_ok(const uint8_t *data, size_t size, struct dg_queue_msg *msg)
{
	struct dg_err err;
	uint8_t *out = NULL;
	size_t len = 0;

	if (!dg_queue_id_ok(msg->id) || msg->n_rcpt == 0 || msg->n_rcpt > DG_QUEUE_RCPT_MAX)
		abort();
	if (msg->body_len > size || (msg->body_len > 0 && msg->body + msg->body_len != data + size))
		abort();
	fuzz_check_fields(data, size, msg);
	if (dg_queue_record_format(msg, &out, &len, &err) != DG_OK)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
	fuzz_check_flip(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_queue_msg msg;
	struct dg_err err;

	dg_err_clear(&err);
	if (dg_queue_record_parse(data, size, &msg, &err) == DG_OK)
		fuzz_check_ok(data, size, &msg);
	else if (err.msg[0] == '\0')
		abort();
	dg_queue_msg_cleanup(&msg);
	return 0;
}
