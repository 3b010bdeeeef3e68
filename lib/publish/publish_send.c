/*
 * publish_send.c - send one signed UPDATE to the zone's primary and judge the reply.
 *
 * Public: dg_publish_update_start, dg_publish_op_cancel.
 *
 * The operation builds the message (publish_update.c) with a random id, sends it over TCP
 * (publish_xfer.c) and checks the reply with dg_publish_check_reply(). It owns the message,
 * a copy of the key and the exchange; it is freed after its callback returns or by
 * dg_publish_op_cancel(). Nothing blocks; the exchange has one deadline.
 *
 * SPEC: section 12 PUB-6 (publishing the new association before the key change).
 */
#include "publish/publish_int.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

struct dg_publish_op {
	struct dg_publish_msg msg;
	struct dg_tsig_key key;
	struct pub_xfer *xfer;
	char server[64];
	dg_publish_update_cb *cb;
	void *arg;
};

static void op_free(struct dg_publish_op *op);
static void on_reply(void *arg, enum dg_status st, const uint8_t *reply, size_t len,
                     const struct dg_err *xerr);

static void op_free(struct dg_publish_op *op)
{
	if (op == NULL)
		return;
	pub_xfer_cancel(op->xfer);
	dg_publish_msg_cleanup(&op->msg);
	dg_tsig_key_cleanup(&op->key);
	free(op);
}

void dg_publish_op_cancel(struct dg_publish_op *op)
{
	op_free(op);
}

static void on_reply(void *arg, enum dg_status st, const uint8_t *reply, size_t len,
                     const struct dg_err *xerr)
{
	struct dg_publish_op *op = arg;
	struct dg_publish_result res;
	struct dg_err err;

	op->xfer = NULL; /* freed by the exchange after this returns */
	dg_err_clear(&err);
	memset(&res, 0, sizeof(res));
	res.rcode = -1;
	snprintf(res.server, sizeof(res.server), "%s", op->server);
	if (st != DG_OK) {
		err = *xerr;
		if (st == DG_E_TIMEOUT)
			dg_err_set(&err, st, "no reply to the UPDATE of %s from %s in time",
			           op->msg.zone, op->server);
	} else {
		st = dg_publish_check_reply(reply, len, &op->msg, &op->key, op->server, &res, &err);
	}
	op->cb(op->arg, st, &res, &err);
	op_free(op);
}

enum dg_status dg_publish_update_start(struct event_base *base, const char *addr, uint16_t port,
                                       const struct dg_publish_change *ch,
                                       const struct dg_tsig_key *key, unsigned timeout_ms,
                                       dg_publish_update_cb *cb, void *arg,
                                       struct dg_publish_op **out, struct dg_err *err)
{
	struct dg_publish_op *op = dg_xcalloc(1, sizeof(*op));
	uint16_t id = 0;
	enum dg_status st;

	if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1) {
		free(op);
		return dg_err_set(err, DG_E_INTERNAL, "RAND_bytes failed");
	}
	op->key = *key;
	op->cb = cb;
	op->arg = arg;
	snprintf(op->server, sizeof(op->server), "%s@%u", addr, (unsigned)port);
	st = dg_publish_build_update(ch, key, id, &op->msg, err);
	if (st == DG_OK)
		st = pub_xfer_start(base, PUB_XFER_TCP, addr, port, op->msg.wire, op->msg.len,
		                    timeout_ms, on_reply, op, &op->xfer, err);
	if (st != DG_OK) {
		op_free(op);
		return st;
	}
	if (out != NULL)
		*out = op;
	return DG_OK;
}
