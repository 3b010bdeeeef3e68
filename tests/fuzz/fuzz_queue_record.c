/*
 * fuzz_queue_record.c - libFuzzer target for the queue record parser and writer
 * (lib/queue/queue_record.c, docs/internals/queue.md "Record format").
 *
 * Input: one record. Invariants (violations abort): an error carries a message; a parsed
 * record has a valid id, 1..DG_QUEUE_RCPT_MAX recipients and a body inside the input;
 * formatting a parsed record gives the input back byte for byte (the format is canonical).
 */
#include <daneguard/queue.h>
#include <daneguard/util.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_ok(const uint8_t *data, size_t size, const struct dg_queue_msg *msg);

static void fuzz_check_ok(const uint8_t *data, size_t size, const struct dg_queue_msg *msg)
{
	struct dg_err err;
	uint8_t *out = NULL;
	size_t len = 0;

	if (!dg_queue_id_ok(msg->id) || msg->n_rcpt == 0 || msg->n_rcpt > DG_QUEUE_RCPT_MAX)
		abort();
	if (msg->body_len > size || (msg->body_len > 0 && msg->body + msg->body_len != data + size))
		abort();
	if (dg_queue_record_format(msg, &out, &len, &err) != DG_OK)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	free(out);
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
